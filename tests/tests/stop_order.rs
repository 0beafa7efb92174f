//! Stopping jails side by side (issue 15, "order"), on the Linux test bed: `stop
//! --all` stops independent jails at once, at most `host.start_parallel` (or
//! `--parallel N`) at a time, a jail only after the jails that depend on it (jail(8)
//! follows `depend` backwards with `-r`); a jail whose `exec.stop` fails stays
//! running, as with jail(8), and so do the jails it depends on, while the others
//! stop with their mounts unmounted and their rctl rules removed. VNET jails stop
//! side by side too, each destroying its own epair; `apply` restarting changed
//! jails stops dependents first.
//!
//! No timing is asserted: the test bed records each jail's `exec.stop` window
//! (`thinjail_testbed::testbed::parallel`), and each jail's `/etc/rc.shutdown`
//! sleeps long enough that windows that can overlap do.

use std::fs;
use std::path::PathBuf;

use thinjail_core::recipe::Jail;
use thinjail_core::resources::Mount;
use thinjail_testbed::harness::{mounts_under, Bed};
use thinjail_testbed::testbed::parallel::{exec_stops, window_of};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

const JAILS: [&str; 3] = ["thinjail0", "thinjail1", "thinjail2"];

/// The article's bed with `thinjail0`, `thinjail1` and `thinjail2` (which depends
/// on `thinjail0`), each with a tmpfs mount and an rctl limit, all running.
fn three_running_jails(start_parallel: Option<u32>) -> Bed {
    let mut bed = Bed::article(BIN, |_| {});
    thinjail_testbed::rctl::set_racct(&bed.state_dir(), true).unwrap();
    for (i, name) in ["thinjail1", "thinjail2"].iter().enumerate() {
        bed.recipe.jails.push(Jail {
            name: name.to_string(),
            ip4: vec![format!("192.168.1.{}", 71 + i)],
            ..bed.recipe.jails[0].clone()
        });
    }
    bed.recipe.jails[2].depend = vec!["thinjail0".into()];
    for jail in &mut bed.recipe.jails {
        jail.mounts = vec![Mount::Tmpfs {
            path: "/var/cache/scratch".into(),
            size: "4m".into(),
        }];
        jail.limits = vec!["maxproc:deny=100".into()];
    }
    bed.recipe.host.start_parallel = start_parallel.and_then(std::num::NonZeroU32::new);
    bed.write_recipe();
    bed.apply().expect_code(0);
    assert_eq!(bed.running_jails(), JAILS);
    bed
}

fn jail_rules(bed: &Bed, jail: &str) -> Vec<String> {
    thinjail_testbed::rctl::RctlState::load(&bed.state_dir()).jail_rules(jail)
}

fn forget_windows(bed: &Bed) {
    let _ = fs::remove_file(bed.state_dir().join("exec-stop.log"));
}

#[test]
fn independent_jails_stop_side_by_side_and_a_jail_after_those_that_depend_on_it() {
    let bed = three_running_jails(Some(2));
    for jail in JAILS {
        bed.slow_script(jail, "etc/rc.shutdown", false);
    }
    let dry = bed.command(&["stop", "--all", "--dry-run"]);
    dry.expect_code(0);
    assert!(
        dry.stdout.contains(
            "stop jails thinjail2, thinjail1, thinjail0 side by side (at most 2 at once)"
        ),
        "{}",
        dry.stdout
    );
    bed.command(&["stop", "--all"]).expect_code(0);
    let windows = exec_stops(&bed.state_dir());
    assert_eq!(windows.len(), 3, "{windows:?}");
    let (first, second, dependent) = (
        window_of(&windows, "thinjail0"),
        window_of(&windows, "thinjail1"),
        window_of(&windows, "thinjail2"),
    );
    assert!(
        dependent.overlaps(second),
        "independent jails overlap: {windows:?}"
    );
    assert!(
        first.start >= dependent.end,
        "thinjail0 stops only once thinjail2, which depends on it, has: {windows:?}"
    );
    assert!(bed.running_jails().is_empty());
    for jail in JAILS {
        assert_eq!(
            mounts_under(&bed.jails_path(&format!(".mountpoints/{jail}"))),
            Vec::<PathBuf>::new(),
            "{jail} left nothing mounted"
        );
        assert_eq!(jail_rules(&bed, jail), Vec::<String>::new(), "{jail}");
    }

    // One at a time (`--parallel 1` over the recipe's 2): nothing overlaps, and the
    // order is the reverse of the start order.
    bed.command(&["start", "--all"]).expect_code(0);
    forget_windows(&bed);
    bed.command(&["stop", "--all", "--parallel", "1"])
        .expect_code(0);
    let windows = exec_stops(&bed.state_dir());
    let order: Vec<&str> = windows.iter().map(|w| w.jail.as_str()).collect();
    assert_eq!(order, ["thinjail2", "thinjail1", "thinjail0"]);
    for (i, a) in windows.iter().enumerate() {
        for b in &windows[i + 1..] {
            assert!(!a.overlaps(b), "one at a time: {windows:?}");
        }
    }
    for jail in JAILS {
        assert_eq!(jail_rules(&bed, jail), Vec::<String>::new(), "{jail}");
    }
}

#[test]
fn a_jail_that_fails_to_stop_keeps_what_it_depends_on_and_the_others_stop_clean() {
    let bed = three_running_jails(None);
    bed.slow_script("thinjail0", "etc/rc.shutdown", false);
    bed.slow_script("thinjail1", "etc/rc.shutdown", false);
    bed.slow_script("thinjail2", "etc/rc.shutdown", true);
    let failed = bed.command(&["stop", "--all"]);
    assert_eq!(failed.code, Some(1), "{failed:?}");
    for said in [
        "2 of 3 jails did not stop; stopped: thinjail1",
        "thinjail2: failed: ",
        "rc.shutdown: failed",
        "thinjail0: skipped (still running): thinjail2, which depends on it, did not stop",
    ] {
        assert!(failed.stderr.contains(said), "{said}: {}", failed.stderr);
    }
    // As jail(8): the jail whose exec.stop failed still runs, with its mounts and
    // rules, and so does the one it depends on; the other stopped clean.
    assert_eq!(bed.running_jails(), ["thinjail0", "thinjail2"]);
    assert_eq!(
        mounts_under(&bed.jails_path(".mountpoints/thinjail1")),
        Vec::<PathBuf>::new()
    );
    assert_eq!(jail_rules(&bed, "thinjail1"), Vec::<String>::new());
    for jail in ["thinjail0", "thinjail2"] {
        assert_eq!(
            jail_rules(&bed, jail),
            [format!("jail:{jail}:maxproc:deny=100")]
        );
        assert!(
            !mounts_under(&bed.jails_path(&format!(".mountpoints/{jail}"))).is_empty(),
            "{jail} runs with its mounts"
        );
    }

    // Again with --json: each jail's state, and how each of the stop's jails ended.
    let again = bed.command(&["stop", "--all", "--json"]);
    assert_eq!(again.code, Some(1), "{again:?}");
    let report: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    let states: Vec<(&str, &str)> = report["jails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["jail"].as_str().unwrap(), j["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("thinjail0", "running"),
            ("thinjail1", "stopped"),
            ("thinjail2", "running")
        ]
    );
    let jails = &report["failed"]["jails"];
    assert_eq!(jails.as_array().map(Vec::len), Some(2), "{report:#}");
    assert_eq!(jails[0]["jail"], "thinjail2");
    assert_eq!(jails[0]["result"], "failed");
    assert!(
        jails[0]["why"]
            .as_str()
            .unwrap()
            .contains("rc.shutdown: failed"),
        "{report:#}"
    );
    assert_eq!(jails[1]["jail"], "thinjail0");
    assert_eq!(jails[1]["result"], "skipped");
    assert_eq!(jails[1]["why"], "thinjail2");

    // Fixed, the next stop stops both and leaves nothing behind.
    bed.slow_script("thinjail2", "etc/rc.shutdown", false);
    bed.command(&["stop", "--all"]).expect_code(0);
    assert!(bed.running_jails().is_empty());
    for jail in JAILS {
        assert_eq!(
            mounts_under(&bed.jails_path(&format!(".mountpoints/{jail}"))),
            Vec::<PathBuf>::new(),
            "{jail}"
        );
        assert_eq!(jail_rules(&bed, jail), Vec::<String>::new(), "{jail}");
    }
    let again = bed.command(&["stop", "--all"]);
    again.expect_code(0);
    assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);
}

#[test]
fn apply_restarting_changed_jails_stops_dependents_first_side_by_side() {
    let mut bed = three_running_jails(None);
    for jail in JAILS {
        bed.slow_script(jail, "etc/rc.shutdown", false);
    }
    // thinjail0 and thinjail2 (which depends on it) change address: both restart.
    bed.recipe.jails[0].ip4 = vec!["192.168.1.80".into()];
    bed.recipe.jails[2].ip4 = vec!["192.168.1.82".into()];
    bed.write_recipe();
    let plan = bed.thinjail(&["plan", &bed.recipe_arg(), "--format", "text"]);
    plan.expect_code(0);
    assert!(
        plan.stdout
            .contains("stop jails thinjail2, thinjail0 side by side"),
        "{}",
        plan.stdout
    );
    bed.apply().expect_code(0);
    let windows = exec_stops(&bed.state_dir());
    assert_eq!(windows.len(), 2, "thinjail1 did not restart: {windows:?}");
    assert!(
        window_of(&windows, "thinjail0").start >= window_of(&windows, "thinjail2").end,
        "thinjail0 stops only once thinjail2 has: {windows:?}"
    );
    assert_eq!(bed.running_jails(), JAILS);
    bed.apply().expect_nothing_to_do();
}

#[test]
fn vnet_jails_stop_side_by_side_and_leave_no_interface() {
    use thinjail_core::network::Ip4;
    use thinjail_testbed::vnet_bed::{admin_bridge, ip, vnet_jail, vnet_on, VnetBed};
    const BRIDGE: &str = "stopbr";
    let bed = VnetBed::new(
        BIN,
        "so",
        |ns| ip(ns.name(), &["link", "add", BRIDGE, "type", "bridge"]),
        |recipe| {
            recipe.host.interface = None;
            recipe.host.network.bridges = vec![admin_bridge(BRIDGE, &[])];
            let vnet = |ip4: &str| vnet_on(BRIDGE, Ip4::Static(vec![ip4.into()]), None);
            let va = vnet_jail(recipe, "va", vnet("10.79.0.2/24"));
            let vb = vnet_jail(recipe, "vb", vnet("10.79.0.3/24"));
            recipe.jails = vec![va, vb];
            recipe.host.start_parallel = std::num::NonZeroU32::new(2);
        },
    );
    bed.apply().expect_code(0);
    assert_eq!(bed.members(BRIDGE).len(), 2, "{:?}", bed.members(BRIDGE));
    for jail in ["va", "vb"] {
        bed.bed.slow_script(jail, "etc/rc.shutdown", false);
    }
    let stop = bed.command(&["stop", "--all"]);
    stop.expect_code(0);
    assert!(
        stop.stdout
            .contains("stop jails vb, va side by side (at most 2 at once)"),
        "{}",
        stop.stdout
    );
    let windows = exec_stops(&bed.bed.state_dir());
    assert!(
        window_of(&windows, "va").overlaps(window_of(&windows, "vb")),
        "{windows:?}"
    );
    let list = bed.command(&["list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&list.expect_code(0).stdout).unwrap();
    for row in list["jails"].as_array().unwrap() {
        assert_eq!(row["state"], "stopped", "{row:#}");
    }
    // Each jail's exec.poststop destroyed its own epair.
    assert_eq!(bed.members(BRIDGE), Vec::<String>::new());
    let left: Vec<String> = bed
        .host_interfaces()
        .into_iter()
        .filter(|i| i.starts_with("tjv"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}
