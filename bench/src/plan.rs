//! Planning in memory: time and peak memory of [`Pipeline::plan`] for N jails, on a
//! fresh host and on a host where everything is already applied (what cron or
//! configuration management runs).

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thinjail_core::pipeline::Pipeline;
use thinjail_core::recipe::Jail;
use thinjail_core::world::{Dataset, World};
use thinjail_core::{Plan, Recipe};
use thinjail_stages::NoPlugins;

use crate::alloc;
use crate::stats::median;

/// The built-in `article` recipe with `n` jails `j0001`… on its release, each with
/// its own address.
pub fn recipe_with_jails(n: usize) -> anyhow::Result<Recipe> {
    let builtin = thinjail_cli::recipes::builtin("article")
        .ok_or_else(|| anyhow::anyhow!("no built-in article recipe"))?;
    let mut recipe = Recipe::from_ron(builtin.text, "article")
        .map_err(|e| anyhow::anyhow!("article recipe: {e}"))?;
    let template = recipe
        .jails
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the article recipe has no jail"))?;
    recipe.jails = (1..=n).map(|i| numbered_jail(&template, i)).collect();
    Ok(recipe)
}

/// Jail number `i` (1-based), like `template` but with its own name and address.
pub fn numbered_jail(template: &Jail, i: usize) -> Jail {
    Jail {
        name: format!("j{i:04}"),
        ip4: vec![format!(
            "10.{}.{}.{}",
            i / 62500,
            (i / 250) % 250,
            i % 250 + 2
        )],
        ..template.clone()
    }
}

/// A host that has only its pool.
pub fn fresh_world(recipe: &Recipe) -> World {
    let pool = recipe.host.pool().to_string();
    let mut world = World {
        observed: true,
        ..World::default()
    };
    world.datasets.insert(
        pool.clone(),
        Dataset {
            mountpoint: Some(PathBuf::from("/").join(&pool)),
            ..Dataset::default()
        },
    );
    world
}

/// One row of the planning table.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanRow {
    /// Number of jails in the recipe.
    pub jails: usize,
    /// `fresh` or `applied`.
    pub host: String,
    /// Actions planned.
    pub actions: usize,
    /// Median wall time of one plan, milliseconds.
    pub median_ms: f64,
    /// Median CPU time of one plan (this thread), milliseconds.
    pub median_cpu_ms: f64,
    /// Repetitions.
    pub runs: usize,
    /// Peak heap growth during one plan, bytes.
    pub peak_bytes: usize,
    /// Allocations during one plan.
    pub allocations: usize,
    /// Bytes allocated during one plan (all allocations, freed or not).
    pub allocated_bytes: usize,
}

/// Plans `recipe` against `world` `runs` times.
struct Measured {
    plan: Plan,
    wall_ms: f64,
    cpu_ms: f64,
    peak: usize,
    allocations: usize,
    allocated: usize,
}

/// CPU time of this thread, milliseconds.
fn thread_cpu_ms() -> f64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map_or(0.0, |t| t.tv_sec() as f64 * 1e3 + t.tv_nsec() as f64 / 1e6)
}

fn measure(
    pipeline: &Pipeline,
    recipe: &Recipe,
    world: &World,
    runs: usize,
) -> anyhow::Result<Measured> {
    let mut times = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    let mut peak = 0;
    let mut allocations = 0;
    let mut allocated = 0;
    let mut plan = Plan::default();
    for _ in 0..runs {
        drop(std::mem::take(&mut plan));
        alloc::reset_peak();
        let before = alloc::counts();
        let cpu_started = thread_cpu_ms();
        let started = Instant::now();
        plan = pipeline.plan(recipe, world)?;
        let elapsed = started.elapsed();
        cpu.push(thread_cpu_ms() - cpu_started);
        let after = alloc::counts();
        times.push(elapsed.as_secs_f64() * 1e3);
        peak = peak.max(after.peak - before.live);
        allocations = after.allocations - before.allocations;
        allocated = after.allocated - before.allocated;
    }
    Ok(Measured {
        plan,
        wall_ms: median(&times),
        cpu_ms: median(&cpu),
        peak,
        allocations,
        allocated,
    })
}

/// Plans 1, 10, 100, 1000 jails (or `sizes`) on a fresh and an applied host.
pub fn run(sizes: &[usize]) -> anyhow::Result<Vec<PlanRow>> {
    let mut rows = Vec::new();
    for &n in sizes {
        let recipe = recipe_with_jails(n)?;
        let pipeline = Pipeline::from_recipe(&recipe, &mut NoPlugins)
            .map_err(|e| anyhow::anyhow!("pipeline: {e:?}"))?;
        let runs = if n >= 1000 { 11 } else { 31 };
        let fresh = fresh_world(&recipe);
        let first = measure(&pipeline, &recipe, &fresh, runs)?;
        let applied = fresh.after(&first.plan);
        let again = measure(&pipeline, &recipe, &applied, runs)?;
        anyhow::ensure!(
            again.plan.is_empty(),
            "planning {n} jails again after applying is not empty: {} actions",
            again.plan.len()
        );
        for (host, m) in [("fresh", first), ("applied", again)] {
            rows.push(PlanRow {
                jails: n,
                host: host.into(),
                actions: m.plan.len(),
                median_ms: m.wall_ms,
                median_cpu_ms: m.cpu_ms,
                runs,
                peak_bytes: m.peak,
                allocations: m.allocations,
                allocated_bytes: m.allocated,
            });
        }
    }
    Ok(rows)
}
