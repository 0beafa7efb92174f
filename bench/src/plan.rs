//! Planning in memory: time and peak memory of [`Pipeline::plan`] for N jails, on a
//! fresh host and on a host where everything is already applied (what cron or
//! configuration management runs).

use std::time::Instant;

use serde::{Deserialize, Serialize};
use thinjail_core::pipeline::Pipeline;
use thinjail_core::world::World;
use thinjail_core::{Plan, Recipe};
use thinjail_stages::NoPlugins;

use thinjail_testbed::samples::{fresh_world, recipe_with_jails};

use crate::alloc;
use crate::stats::median;

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
        let recipe = recipe_with_jails(n).map_err(anyhow::Error::msg)?;
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
