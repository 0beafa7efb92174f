//! The lifecycle commands on the Linux test bed, checked against real state:
//! list, start/stop/restart, exec, destroy (and its refusals), destroy-release,
//! snapshots and rollback, base update, release swap, orphans and --prune, the lock.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use thinjail_core::lock::HostLock;
use thinjail_testbed::harness::{is_mounted, Bed};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

fn applied() -> Bed {
    let bed = Bed::article(BIN, |_| {});
    bed.apply().expect_code(0);
    bed
}

fn mounts_under(path: &Path) -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    thinjail_core::host::parse_proc_mountinfo(&text)
        .into_iter()
        .filter(|m| m.target.starts_with(path))
        .map(|m| m.target.display().to_string())
        .collect()
}

#[test]
fn list_start_stop_restart_and_exec() {
    let bed = applied();
    let row = bed.jail_row("thinjail0");
    assert_eq!(row["state"], "running");
    assert_eq!(row["release"], "13.1-RELEASE");
    assert_eq!(row["ip4"][0], "192.168.1.70");
    assert!(
        row["jid"].as_u64().is_some() && row["used"].as_u64().unwrap() > 0,
        "{row}"
    );
    let table = bed.command(&["list"]);
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.starts_with("thinjail0") && l.contains("running")),
        "{}",
        table.stdout
    );

    let root = bed.jails_path(".mountpoints/thinjail0");
    bed.command(&["stop", "thinjail0"]).expect_code(0);
    assert_eq!(
        mounts_under(&root),
        Vec::<String>::new(),
        "stop leaves no mount behind"
    );
    assert_eq!(bed.jail_row("thinjail0")["state"], "stopped");
    assert!(bed
        .command(&["stop", "thinjail0"])
        .expect_code(0)
        .stdout
        .contains("Nothing to do"));

    bed.command(&["start", "--all"]).expect_code(0);
    let first_jid = bed.jail_row("thinjail0")["jid"].clone();
    assert!(is_mounted(&root.join("skeleton")));
    bed.command(&["restart", "thinjail0"]).expect_code(0);
    let second_jid = bed.jail_row("thinjail0")["jid"].clone();
    assert_ne!(first_jid, second_jid, "restart made a new jail");

    let dry = bed.command(&["stop", "thinjail0", "--dry-run"]);
    dry.expect_code(0);
    assert!(dry.stdout.contains("$ jail -f "), "{}", dry.stdout);
    assert!(is_mounted(&root), "--dry-run changes nothing");

    let recipe = bed.recipe_arg();
    let status = bed.thinjail(&[
        "exec",
        "-r",
        &recipe,
        "thinjail0",
        "--",
        "sh",
        "-c",
        "cat /etc/rc.conf; exit 7",
    ]);
    assert_eq!(status.code, Some(7));
    assert!(status.stdout.contains("default_router"), "{status:?}");
    let dry = bed.thinjail(&["exec", "-r", &recipe, "thinjail0", "--dry-run", "--", "id"]);
    assert_eq!(dry.stdout.trim(), "jexec -l thinjail0 id");
    assert_eq!(
        bed.thinjail(&["exec", "-r", &recipe, "nosuch", "--", "id"])
            .code,
        Some(64)
    );
    let console = bed.command(&["console", "thinjail0", "--dry-run"]);
    assert_eq!(console.stdout.trim(), "jexec -l thinjail0 login -f root");
}

#[test]
fn stop_names_a_mount_it_cannot_remove() {
    let bed = applied();
    let root = bed.jails_path(".mountpoints/thinjail0");
    // A process working inside the jail's base keeps that mount busy.
    let mut busy = Command::new("sleep")
        .arg("60")
        .current_dir(root.join("usr/bin"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let run = bed.command(&["stop", "thinjail0"]);
    let _ = busy.kill();
    let _ = busy.wait();
    assert_ne!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr.contains(&format!("umount {}", root.display())),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("busy"), "{}", run.stderr);
    // Once the process is gone, stopping again finishes the job.
    bed.command(&["stop", "thinjail0"]).expect_code(0);
    assert_eq!(mounts_under(&root), Vec::<String>::new());
}

#[test]
fn destroy_keeps_data_unless_asked_and_refuses_while_mounted() {
    let bed = applied();
    let admin = "# admin\nwww {\n    path = \"/usr/jails/www\";\n    persist;\n}\n";
    fs::write(&bed.recipe.host.jail_conf, admin).unwrap();
    bed.in_jail("thinjail0", &["touch", "/root/precious"])
        .expect_code(0);
    let names: Vec<String> = bed.list()["jails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["thinjail0"],
        "the administrator's own jail is not thinjail's"
    );
    assert_eq!(
        bed.command(&["stop", "www"]).code,
        Some(64),
        "and it is never touched"
    );

    // A busy mount makes the stop fail, and then nothing is removed.
    let root = bed.jails_path(".mountpoints/thinjail0");
    let mut busy = Command::new("sleep")
        .arg("60")
        .current_dir(root.join("usr/bin"))
        .spawn()
        .unwrap();
    let refused = bed.command(&["destroy", "thinjail0", "--yes"]);
    let _ = busy.kill();
    let _ = busy.wait();
    assert_ne!(refused.code, Some(0));
    assert!(
        bed.jails_path("thinjail0/fstab").exists(),
        "nothing removed after a failed stop"
    );
    assert!(bed.jails_path("thinjail0/data/root/precious").exists());
    assert!(bed.jails_path("base/13.1-RELEASE-base/bin/sh").exists());

    // Without a terminal, destroy wants --yes.
    assert_eq!(bed.command(&["destroy", "thinjail0"]).code, Some(64));
    let run = bed.command(&["destroy", "thinjail0", "--yes"]);
    run.expect_code(0);
    assert!(run.stderr.contains("still in the recipe"), "{}", run.stderr);
    assert_eq!(mounts_under(&root), Vec::<String>::new());
    assert!(!root.exists() && !bed.jails_path("thinjail0/fstab").exists());
    assert_eq!(
        fs::read_to_string(&bed.recipe.host.jail_conf).unwrap(),
        admin,
        "the administrator's jail.conf is untouched"
    );
    assert!(
        !bed.recipe
            .host
            .jail_conf_dir
            .join("thinjail0.conf")
            .exists(),
        "the jail's own file is gone"
    );
    // thinjail's last jail is gone: rc.conf is what it was before thinjail (no
    // file then, an empty one now), so www keeps not booting.
    assert_eq!(fs::read_to_string(&bed.recipe.host.rc_conf).unwrap(), "");
    assert!(
        bed.datasets().contains("jails/thinjail0/data"),
        "data kept without --data"
    );
    assert!(bed.jails_path("thinjail0/data/root/precious").exists());

    // destroy-release is refused while the jail's data still belongs to it.
    let refused = bed.command(&["destroy-release", "13.1-RELEASE", "--yes"]);
    assert_eq!(refused.code, Some(78), "{refused:?}");
    assert!(refused.stderr.contains("thinjail0"));

    bed.command(&["destroy", "thinjail0", "--data", "--yes"])
        .expect_code(0);
    assert!(
        !bed.datasets().iter().any(|d| d.contains("thinjail0")),
        "{:?}",
        bed.datasets()
    );
    let mut recipe = bed.recipe.clone();
    recipe.jails.clear();
    fs::write(bed.recipe_path(), recipe.to_ron()).unwrap();
    bed.command(&["destroy-release", "13.1-RELEASE", "--yes"])
        .expect_code(0);
    assert!(
        !bed.datasets().iter().any(|d| d.contains("13.1-RELEASE")),
        "{:?}",
        bed.datasets()
    );
}

#[test]
fn snapshots_and_rollback() {
    let bed = applied();
    bed.in_jail("thinjail0", &["sh", "-c", "echo one > /root/note"])
        .expect_code(0);
    bed.command(&["snapshot", "thinjail0", "first"])
        .expect_code(0);
    bed.in_jail(
        "thinjail0",
        &["sh", "-c", "echo two > /root/note; rm /etc/rc.conf"],
    )
    .expect_code(0);
    bed.command(&["snapshot", "thinjail0"]).expect_code(0);
    let listed: serde_json::Value =
        serde_json::from_str(&bed.command(&["snapshots", "thinjail0", "--json"]).stdout).unwrap();
    let names: Vec<&str> = listed["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(&names[..2], ["gold", "first"]);
    assert!(names[2].starts_with("thinjail-20"), "{names:?}");
    assert_eq!(
        bed.command(&["snapshot", "thinjail0", "first"]).code,
        Some(78),
        "no duplicate snapshot"
    );

    let dry = bed.command(&["rollback", "thinjail0", "first", "--dry-run"]);
    assert!(
        dry.stdout.contains(names[2]),
        "the plan names the newer snapshot it destroys: {}",
        dry.stdout
    );
    bed.command(&["rollback", "thinjail0", "first", "--yes"])
        .expect_code(0);
    let note = bed.in_jail("thinjail0", &["cat", "/root/note"]);
    assert_eq!(note.stdout, "one\n");
    assert!(bed.jails_path("thinjail0/data/etc/rc.conf").exists());
    assert_eq!(bed.jail_row("thinjail0")["state"], "running");
    assert!(!bed.datasets().iter().any(|d| d.contains("thinjail-20")));
}

#[test]
fn update_snapshots_the_base_restarts_its_jails_and_rolls_back() {
    let bed = applied();
    bed.publish_update("13.1-RELEASE", 4, false);
    let version = bed.jails_path("base/13.1-RELEASE-base/bin/freebsd-version");
    let jid = bed.jail_row("thinjail0")["jid"].clone();
    let run = bed.command(&["update", "13.1-RELEASE"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("--currently-running 13.1-RELEASE"),
        "{}",
        run.stdout
    );
    assert!(fs::read_to_string(&version)
        .unwrap()
        .contains("USERLAND_VERSION=\"13.1-RELEASE-p4\""));
    assert!(bed
        .datasets()
        .iter()
        .any(|d| d.contains("13.1-RELEASE-base@pre-update-")));
    assert_ne!(
        bed.jail_row("thinjail0")["jid"],
        jid,
        "the jail was restarted"
    );

    let quiet = bed.command(&[
        "update",
        "13.1-RELEASE",
        "--no-restart",
        "--rollback",
        "--yes",
    ]);
    quiet.expect_code(0);
    assert!(
        fs::read_to_string(&version)
            .unwrap()
            .contains("USERLAND_VERSION=\"13.1-RELEASE\""),
        "the base is back as before the update"
    );
    assert!(!bed.datasets().iter().any(|d| d.contains("pre-update-")));
}

fn two_release_bed() -> Bed {
    Bed::two_releases(BIN)
}

#[test]
fn upgrade_moves_a_jail_and_undoes_itself_on_failure() {
    let bed = two_release_bed();
    let fstab = bed.jails_path("thinjail0/fstab");
    let before = fs::read_to_string(&fstab).unwrap();
    bed.in_jail("thinjail0", &["touch", "/root/mine"])
        .expect_code(0);

    let dry = bed.command(&["upgrade", "thinjail0", "--to", "14.0-RELEASE", "--dry-run"]);
    dry.expect_code(0);
    assert!(dry.stdout.contains("note: fstab change:"), "{}", dry.stdout);
    assert!(
        dry.stdout.contains("- ") && dry.stdout.contains("+ "),
        "the fstab change is a diff: {}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains(
            "jexec -l thinjail0 /usr/sbin/etcupdate -t /usr/share/thinjail/etcupdate.txz"
        ),
        "the merge runs inside the jail: {}",
        dry.stdout
    );

    // A failing merge (the 5th step) puts back the fstab, the data and the state.
    let run = bed.thinjail_with(
        &[
            "upgrade",
            "thinjail0",
            "--to",
            "14.0-RELEASE",
            "--yes",
            "-r",
            &bed.recipe_arg(),
        ],
        thinjail_testbed::testbed::Faults::fail_at(5),
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("back as it was"), "{}", run.stderr);
    assert_eq!(fs::read_to_string(&fstab).unwrap(), before);
    assert_eq!(bed.jail_row("thinjail0")["state"], "running");
    assert!(
        !bed.datasets().iter().any(|d| d.contains("upgrade")),
        "{:?}",
        bed.datasets()
    );

    // The retry works: no "snapshot already exists".
    bed.command(&["upgrade", "thinjail0", "--to", "14.0-RELEASE", "--yes"])
        .expect_code(0);
    let after = fs::read_to_string(&fstab).unwrap();
    assert!(after.contains("14.0-RELEASE-base"), "{after}");
    assert_eq!(bed.jail_row("thinjail0")["release"], "14.0-RELEASE");
    assert_eq!(bed.jail_row("thinjail0")["state"], "running");
    let etc = bed.jails_path("thinjail0/data/etc");
    assert_eq!(
        fs::read_to_string(etc.join("motd.template")).unwrap(),
        "FreeBSD 14.0-RELEASE\n",
        "the new release's files arrive"
    );
    assert!(
        fs::read_to_string(etc.join("rc.conf"))
            .unwrap()
            .contains("default_router"),
        "the jail's own are kept"
    );
    assert!(bed.jails_path("thinjail0/data/root/mine").exists());
    assert!(bed
        .datasets()
        .iter()
        .any(|d| d.contains("@upgraded-from-13.1-RELEASE-to-14.0-RELEASE-")));

    // Until the recipe says 14.0, apply refuses to silently move it back.
    let conflict = bed.apply();
    assert_eq!(conflict.code, Some(78), "{conflict:?}");
    assert!(
        conflict.stderr.contains("thinjail upgrade"),
        "{}",
        conflict.stderr
    );
}

#[test]
fn upgrade_to_a_base_without_an_etcupdate_tree_says_so_and_changes_nothing() {
    let mut bed = two_release_bed();
    let tarball = bed.jails_path("base/14.0-RELEASE-base/usr/share/thinjail/etcupdate.txz");
    // A base made before thinjail recorded etcupdate trees.
    fs::remove_file(&tarball).unwrap();
    let run = bed.command(&["upgrade", "thinjail0", "--to", "14.0-RELEASE", "--yes"]);
    assert_eq!(run.code, Some(78), "{run:?}");
    assert!(run.stderr.contains("etcupdate build"), "{}", run.stderr);
    assert!(run.stderr.contains("thinjail apply"), "{}", run.stderr);
    assert!(fs::read_to_string(bed.jails_path("thinjail0/fstab"))
        .unwrap()
        .contains("13.1-RELEASE-base"));
    assert!(!bed.datasets().iter().any(|d| d.contains("upgrade")));

    // releases[].etcupdate stands in for it: copied into the base, then merged.
    let given = thinjail_testbed::harness::etcupdate_tarball(bed.dir.path(), "14.0-RELEASE");
    bed.recipe.releases[1].etcupdate = Some(given);
    bed.write_recipe();
    let run = bed.command(&["upgrade", "thinjail0", "--to", "14.0-RELEASE", "--yes"]);
    run.expect_code(0);
    assert!(tarball.is_file());
    assert_eq!(
        fs::read_to_string(bed.jails_path("thinjail0/data/etc/motd.template")).unwrap(),
        "FreeBSD 14.0-RELEASE\n"
    );
}

#[test]
fn a_jail_not_created_yet_is_listed_as_missing() {
    let bed = Bed::article(BIN, |_| {});
    let row = bed.jail_row("thinjail0");
    assert_eq!(row["state"], "missing");
    assert!(row["jid"].is_null() && row["used"].is_null());
    assert_eq!(
        bed.command(&["start", "thinjail0"]).code,
        Some(78),
        "not created yet: apply first"
    );
}

#[test]
fn orphans_are_reported_and_pruned_only_when_asked() {
    let mut bed = Bed::article(BIN, |recipe| {
        let mut second = recipe.jails[0].clone();
        second.name = "thinjail1".into();
        second.ip4 = vec!["192.168.1.71".into()];
        recipe.jails.push(second);
    });
    bed.apply().expect_code(0);
    bed.recipe.jails.truncate(1);
    bed.write_recipe();
    let run = bed.apply();
    run.expect_code(0);
    assert!(
        run.stderr.contains("jail thinjail1 is orphaned"),
        "{}",
        run.stderr
    );
    assert_eq!(bed.jail_row("thinjail1")["state"], "orphaned");
    assert!(
        bed.jails_path(".mountpoints/thinjail1/skeleton").exists(),
        "left alone"
    );

    let pruned = bed.thinjail(&["apply", &bed.recipe_arg(), "--yes", "--prune"]);
    pruned.expect_code(0);
    assert!(!bed.jails_path(".mountpoints/thinjail1").exists());
    assert!(!bed
        .recipe
        .host
        .jail_conf_dir
        .join("thinjail1.conf")
        .exists());
    let rc = fs::read_to_string(&bed.recipe.host.rc_conf).unwrap();
    assert!(rc.contains("jail_list=\"thinjail0\""), "{rc}");
    assert!(
        bed.datasets().contains("jails/thinjail1/data"),
        "prune keeps the data"
    );
    assert_eq!(bed.jail_row("thinjail0")["state"], "running");
}

#[test]
fn plan_prune_previews_exactly_what_apply_prune_does() {
    let mut bed = Bed::article(BIN, |recipe| {
        let mut second = recipe.jails[0].clone();
        second.name = "thinjail1".into();
        second.ip4 = vec!["192.168.1.71".into()];
        recipe.jails.push(second);
    });
    bed.apply().expect_code(0);
    bed.recipe.jails.truncate(1);
    bed.write_recipe();
    let descriptions = |stage: &serde_json::Value| -> Vec<String> {
        stage["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["description"].as_str().unwrap().to_string())
            .collect()
    };
    let stages = |args: &[&str]| -> Vec<serde_json::Value> {
        let run = bed.thinjail(args);
        run.expect_code(0);
        let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        plan["stages"].as_array().unwrap().clone()
    };
    let recipe = bed.recipe_arg();
    let plain = stages(&["plan", &recipe, "--json"]);
    assert!(
        plain.iter().all(|s| s["stage"] != "prune"),
        "without --prune nothing is pruned: {plain:?}"
    );
    let planned = stages(&["plan", &recipe, "--json", "--prune"]);
    let prune = planned
        .iter()
        .find(|s| s["stage"] == "prune")
        .expect("a prune stage");
    let previewed = descriptions(prune);
    assert!(
        previewed.iter().any(|d| d.contains("thinjail1")),
        "{previewed:?}"
    );
    // Planning changed nothing.
    assert_eq!(bed.jail_row("thinjail1")["state"], "orphaned");
    assert!(bed.jails_path(".mountpoints/thinjail1/skeleton").exists());
    assert!(bed
        .recipe
        .host
        .jail_conf_dir
        .join("thinjail1.conf")
        .exists());

    let pruned = bed.thinjail(&["apply", &recipe, "--yes", "--prune", "--json"]);
    pruned.expect_code(0);
    let report: serde_json::Value = serde_json::from_str(&pruned.stdout).unwrap();
    let applied: Vec<String> = report["applied"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["stage"] == "prune")
        .map(|a| a["description"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        applied, previewed,
        "apply --prune did what plan --prune showed"
    );
    assert!(!bed.jails_path(".mountpoints/thinjail1").exists());
    assert!(bed.datasets().contains("jails/thinjail1/data"));
}

#[test]
fn a_second_run_is_refused_or_waits_naming_the_first() {
    let bed = applied();
    let holder = HostLock::acquire(
        &bed.recipe.host.lock_file,
        "thinjail apply from another terminal",
        false,
        &mut |_| {},
    )
    .unwrap();
    let refused = bed.command(&["stop", "thinjail0"]);
    assert_eq!(refused.code, Some(75));
    assert!(
        refused
            .stderr
            .contains("thinjail apply from another terminal"),
        "{}",
        refused.stderr
    );
    assert_eq!(bed.apply().code, Some(75));
    assert!(
        is_mounted(&bed.jails_path(".mountpoints/thinjail0")),
        "nothing ran"
    );

    let mut waiting = Command::new(BIN)
        .args(["stop", "thinjail0", "--wait", "-r", &bed.recipe_arg()])
        .env("THINJAIL_TESTBED_STATE", bed.state_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "it waits while the lock is held"
    );
    drop(holder);
    let output = waiting.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "waiting for the other thinjail to finish (thinjail apply from another terminal"
        ),
        "{stderr}"
    );
    assert!(!is_mounted(&bed.jails_path(".mountpoints/thinjail0")));
}
