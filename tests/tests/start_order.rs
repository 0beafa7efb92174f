//! Starting jails side by side (issue 15, "order"), on the Linux test bed: `apply`
//! and `start --all` start independent jails at once, at most
//! `host.start_parallel` at a time, a jail only after the jails it depends on;
//! one that fails skips those that depend on it, the others start and stay
//! running, and the next `apply` starts only what is missing; `priority` orders
//! jails that do not depend on each other, at start and in `jail_list`.
//!
//! No timing is asserted: the test bed records each jail's `exec.start` window
//! (`thinjail_testbed::testbed::parallel`), and each jail's `/etc/rc` sleeps long
//! enough that windows that can overlap do.

use std::fs;

use thinjail_core::recipe::Jail;
use thinjail_testbed::harness::Bed;
use thinjail_testbed::testbed::parallel::{exec_starts, window_of};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

/// The article's bed with `thinjail0`, `thinjail1` and `thinjail2` (which depends
/// on `thinjail0`), made but not started.
fn three_jails(start_parallel: Option<u32>) -> Bed {
    let mut bed = Bed::article(BIN, |_| {});
    for (i, name) in ["thinjail1", "thinjail2"].iter().enumerate() {
        bed.recipe.jails.push(Jail {
            name: name.to_string(),
            ip4: vec![format!("192.168.1.{}", 71 + i)],
            ..bed.recipe.jails[0].clone()
        });
    }
    bed.recipe.jails[2].depend = vec!["thinjail0".into()];
    for jail in &mut bed.recipe.jails {
        jail.start = false;
    }
    bed.recipe.host.start_parallel = start_parallel.and_then(std::num::NonZeroU32::new);
    bed.write_recipe();
    bed.apply().expect_code(0);
    bed
}

fn start_all_in_the_recipe(bed: &mut Bed) {
    for jail in &mut bed.recipe.jails {
        jail.start = true;
    }
    bed.write_recipe();
}

#[test]
fn independent_jails_start_side_by_side_and_a_dependent_one_after_its_dependency() {
    let mut bed = three_jails(Some(2));
    for jail in ["thinjail0", "thinjail1", "thinjail2"] {
        bed.slow_script(jail, "etc/rc", false);
    }
    start_all_in_the_recipe(&mut bed);
    let plan = bed.thinjail(&["plan", &bed.recipe_arg(), "--format", "text"]);
    plan.expect_code(0);
    assert!(
        plan.stdout.contains(
            "start jails thinjail0, thinjail1, thinjail2 side by side (at most 2 at once)"
        ),
        "{}",
        plan.stdout
    );
    bed.apply().expect_code(0);
    let windows = exec_starts(&bed.state_dir());
    assert_eq!(windows.len(), 3, "{windows:?}");
    let (first, second, dependent) = (
        window_of(&windows, "thinjail0"),
        window_of(&windows, "thinjail1"),
        window_of(&windows, "thinjail2"),
    );
    assert!(
        first.overlaps(second),
        "independent jails overlap: {windows:?}"
    );
    assert!(
        dependent.start >= first.end,
        "thinjail2 starts after thinjail0 has: {windows:?}"
    );
    assert_eq!(bed.running_jails(), ["thinjail0", "thinjail1", "thinjail2"]);

    // One at a time (`--parallel 1` over the recipe's 2): nothing overlaps.
    bed.command(&["stop", "--all"]).expect_code(0);
    fs::remove_file(bed.state_dir().join("exec-start.log")).unwrap();
    bed.command(&["start", "--all", "--parallel", "1"])
        .expect_code(0);
    let windows = exec_starts(&bed.state_dir());
    assert_eq!(windows.len(), 3, "{windows:?}");
    for (i, a) in windows.iter().enumerate() {
        for b in &windows[i + 1..] {
            assert!(!a.overlaps(b), "one at a time: {windows:?}");
        }
    }

    // Without a limit (as many as the host has CPUs), `start --all` overlaps again.
    bed.command(&["stop", "--all"]).expect_code(0);
    bed.recipe.host.start_parallel = None;
    bed.write_recipe();
    fs::remove_file(bed.state_dir().join("exec-start.log")).unwrap();
    bed.command(&["start", "--all"]).expect_code(0);
    let windows = exec_starts(&bed.state_dir());
    assert!(
        window_of(&windows, "thinjail2").start >= window_of(&windows, "thinjail0").end,
        "{windows:?}"
    );
    if std::thread::available_parallelism().map_or(1, usize::from) > 1 {
        assert!(
            window_of(&windows, "thinjail0").overlaps(window_of(&windows, "thinjail1")),
            "{windows:?}"
        );
    }
}

#[test]
fn a_failing_jail_skips_its_dependents_and_the_others_keep_running() {
    let mut bed = three_jails(None);
    bed.slow_script("thinjail0", "etc/rc", true);
    bed.slow_script("thinjail1", "etc/rc", false);
    bed.slow_script("thinjail2", "etc/rc", false);
    start_all_in_the_recipe(&mut bed);
    let failed = bed.apply();
    assert_eq!(failed.code, Some(1), "{failed:?}");
    for said in [
        "2 of 3 jails did not start; started (and left running): thinjail1",
        "thinjail0: failed: ",
        "rc: failed",
        "thinjail2: skipped: it depends on thinjail0, which did not start",
    ] {
        assert!(failed.stderr.contains(said), "{said}: {}", failed.stderr);
    }
    assert_eq!(bed.running_jails(), ["thinjail1"]);

    // Again, with --json: only the two missing jails are tried, and the report says
    // how each ended.
    let again = bed.thinjail(&["apply", &bed.recipe_arg(), "--yes", "--json"]);
    assert_eq!(again.code, Some(1), "{again:?}");
    let report: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    let jails = &report["failed"]["jails"];
    assert_eq!(jails.as_array().map(Vec::len), Some(2), "{report:#}");
    assert_eq!(jails[0]["jail"], "thinjail0");
    assert_eq!(jails[0]["result"], "failed");
    assert!(
        jails[0]["why"].as_str().unwrap().contains("rc: failed"),
        "{report:#}"
    );
    assert_eq!(jails[1]["jail"], "thinjail2");
    assert_eq!(jails[1]["result"], "skipped");
    assert_eq!(jails[1]["why"], "thinjail0");
    assert_eq!(bed.running_jails(), ["thinjail1"]);

    // Fixed, the next apply starts the two missing ones and leaves thinjail1 be.
    bed.slow_script("thinjail0", "etc/rc", false);
    let jid = |bed: &Bed| bed.jail_row("thinjail1")["jid"].as_u64().unwrap();
    let before = jid(&bed);
    let plan = bed.thinjail(&["plan", &bed.recipe_arg(), "--format", "text"]);
    assert!(
        plan.stdout.contains("start jails thinjail0, thinjail2"),
        "{}",
        plan.stdout
    );
    bed.apply().expect_code(0);
    assert_eq!(bed.running_jails(), ["thinjail0", "thinjail1", "thinjail2"]);
    assert_eq!(jid(&bed), before, "thinjail1 was not restarted");
}

#[test]
fn priority_orders_jails_that_do_not_depend_on_each_other_at_start_and_at_boot() {
    let mut bed = three_jails(None);
    // thinjail2 depends on thinjail0; thinjail1 goes first, thinjail2 (lowest)
    // still waits for thinjail0.
    bed.recipe.jails[1].priority = -1;
    bed.recipe.jails[2].priority = -2;
    for jail in ["thinjail0", "thinjail1", "thinjail2"] {
        bed.slow_script(jail, "etc/rc", false);
    }
    start_all_in_the_recipe(&mut bed);
    // One at a time for this apply (`--parallel 1`), so the order shows whole.
    bed.thinjail(&["apply", &bed.recipe_arg(), "--yes", "--parallel", "1"])
        .expect_code(0);
    let windows = exec_starts(&bed.state_dir());
    let order: Vec<&str> = windows.iter().map(|w| w.jail.as_str()).collect();
    assert_eq!(order, ["thinjail1", "thinjail0", "thinjail2"]);
    for (i, a) in windows.iter().enumerate() {
        for b in &windows[i + 1..] {
            assert!(!a.overlaps(b), "one at a time: {windows:?}");
        }
    }
    let rc = fs::read_to_string(bed.dir.path().join("etc/rc.conf")).unwrap();
    assert!(
        rc.contains("jail_list=\"thinjail1 thinjail0 thinjail2\""),
        "boot order: {rc}"
    );
}
