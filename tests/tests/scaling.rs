//! thinjail's cost does not grow faster than the number of jails — checked by counting
//! work, never by timing it (timings live in the benchmark, `bench/run`):
//! - observing a host runs the same number of commands with one jail or several
//!   (the test bed: real zfs-fuse datasets, mounts and running jails);
//! - planning 1000 jails allocates about ten times what planning 100 does, on a
//!   fresh host and on one where everything is applied (an O(n²) step — a whole-file
//!   copy per jail, a scan of the world per jail that collects — shows up here).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use thinjail_core::host::{Host, NoProgress};
use thinjail_core::pipeline::Pipeline;
use thinjail_core::recipe::Jail;
use thinjail_core::world::World;
use thinjail_core::{Plan, Recipe};
use thinjail_stages::NoPlugins;
use thinjail_testbed::harness::Bed;
use thinjail_testbed::samples::{fresh_world, recipe_with_jails};
use thinjail_testbed::testbed::{Faults, TestBed};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

/// Counts the allocations of the current thread only, so tests running in parallel
/// do not count each other's.
struct PerThread;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    let _ = ALLOCATED.try_with(|c| c.set(c.get() + bytes));
}

// SAFETY: every call is forwarded unchanged to `System`; only thread-local counters
// (const-initialized, so touching them never allocates) are added.
unsafe impl GlobalAlloc for PerThread {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: PerThread = PerThread;

/// (allocations, bytes allocated) by this thread so far.
fn counters() -> (usize, usize) {
    (ALLOCATIONS.with(Cell::get), ALLOCATED.with(Cell::get))
}

/// Plans `recipe` on `world`, counting what the planning allocated.
fn counted_plan(recipe: &Recipe, world: &World) -> (Plan, (usize, usize)) {
    let pipeline = Pipeline::from_recipe(recipe, &mut NoPlugins).unwrap();
    let before = counters();
    let plan = pipeline.plan(recipe, world).unwrap();
    let after = counters();
    (plan, (after.0 - before.0, after.1 - before.1))
}

#[test]
fn planning_work_grows_linearly_with_the_number_of_jails() {
    let mut per_jail = Vec::new();
    for n in [100, 1000] {
        let recipe = recipe_with_jails(n).unwrap();
        let fresh = fresh_world(&recipe);
        let (plan, fresh_work) = counted_plan(&recipe, &fresh);
        let applied = fresh.after(&plan);
        let (again, applied_work) = counted_plan(&recipe, &applied);
        assert!(again.is_empty(), "{n} jails: the second plan is not empty");
        per_jail.push((n, plan.len(), fresh_work, applied_work));
    }
    let [(n0, actions0, fresh0, applied0), (n1, actions1, fresh1, applied1)] = per_jail[..] else {
        unreachable!()
    };
    let scale = n1 / n0;
    // The plan itself is linear: the same actions for each jail, plus the base's.
    assert!(
        actions1 < actions0 * scale,
        "{actions0} → {actions1} actions"
    );
    // Work may grow a little faster than the jails (maps get deeper), never by the
    // square: ten times the jails stays well under twenty times the work.
    for (what, small, large) in [
        ("allocations, fresh host", fresh0.0, fresh1.0),
        ("bytes allocated, fresh host", fresh0.1, fresh1.1),
        ("allocations, applied host", applied0.0, applied1.0),
        ("bytes allocated, applied host", applied0.1, applied1.1),
    ] {
        assert!(
            large < small * scale * 2,
            "{what}: {small} for {n0} jails but {large} for {n1} ({:.1}×)",
            large as f64 / small as f64
        );
    }
}

/// Host commands one observation of `recipe`'s host runs, the way `thinjail` observes
/// (the host, then the jails it manages that the recipe does not name).
fn observation_commands(bed: &Bed, recipe: &Recipe) -> usize {
    let pipeline = Pipeline::from_recipe(recipe, &mut NoPlugins).unwrap();
    let mut host = TestBed::new(bed.state_dir(), Faults::default(), Box::new(NoProgress));
    let world = thinjail_core::observe::observe(&mut host, &pipeline, recipe).unwrap();
    assert!(
        pipeline.plan(recipe, &world).unwrap().is_empty(),
        "the host should be up to date"
    );
    host.commands_run()
}

/// `commands` of `thinjail apply --json` on an up-to-date host.
fn apply_commands(bed: &Bed) -> u64 {
    let recipe = bed.recipe_arg();
    let run = bed.thinjail(&["apply", &recipe, "--yes", "--json"]);
    run.expect_code(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["changed"], false, "{}", run.stdout);
    report["commands"].as_u64().unwrap()
}

#[test]
fn observing_a_host_runs_as_many_commands_with_one_jail_as_with_four() {
    let mut bed = Bed::article(BIN, |recipe| {
        let first = recipe.jails[0].clone();
        recipe.jails = vec![Jail {
            name: "j1".into(),
            ..first
        }];
    });
    bed.apply().expect_code(0);
    let one = (
        observation_commands(&bed, &bed.recipe),
        apply_commands(&bed),
    );

    let first = bed.recipe.jails[0].clone();
    bed.recipe.jails = (1..=4)
        .map(|i| Jail {
            name: format!("j{i}"),
            ip4: vec![format!("192.168.1.{}", 70 + i)],
            ..first.clone()
        })
        .collect();
    bed.write_recipe();
    bed.apply().expect_code(0);
    assert_eq!(
        bed.list()["jails"].as_array().map(Vec::len),
        Some(4),
        "four jails"
    );
    let four = (
        observation_commands(&bed, &bed.recipe),
        apply_commands(&bed),
    );

    assert_eq!(
        one, four,
        "(in-process observation, thinjail apply) commands with 1 and 4 jails"
    );
    // On the test bed mounts and jails are read, not run: one `zfs get` is all.
    assert_eq!(one, (1, 1));
}
