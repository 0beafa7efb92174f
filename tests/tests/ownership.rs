//! What is thinjail's, on the Linux test bed: a jail of a recipe's name running from
//! another root is refused by every command that would act on it; two recipes sharing
//! one jail.conf never take each other's jails for orphans; a dataset thinjail did not
//! make is never taken over, nor destroyed by `destroy --data`; observation reads the
//! jails dataset only.

use std::fs;
use std::process::Command;

use thinjail_core::host::{Host, NoProgress};
use thinjail_core::pipeline::Pipeline;
use thinjail_core::recipe::Jail;
use thinjail_stages::NoPlugins;
use thinjail_testbed::fixtures::zfs_lock::run_zfs_command;
use thinjail_testbed::harness::{is_mounted, Bed};
use thinjail_testbed::testbed::{Faults, TestBed};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

fn zfs(args: &[&str]) -> String {
    run_zfs_command(Command::new("zfs").args(args)).unwrap_or_else(|e| panic!("zfs {args:?}: {e}"))
}

/// `zfs destroy`, retried while zfs-fuse answers "busy" (it unmounts first and
/// reports busy once; see docs/design.md).
fn zfs_destroy(args: &[&str]) {
    let mut all = vec!["destroy"];
    all.extend(args);
    for _ in 0..10 {
        match run_zfs_command(Command::new("zfs").args(&all)) {
            Ok(_) => return,
            Err(e) if e.to_string().contains("busy") => {
                std::thread::sleep(std::time::Duration::from_millis(200))
            }
            Err(e) => panic!("zfs {all:?}: {e}"),
        }
    }
    panic!("zfs {all:?}: still busy");
}

/// Records in the test bed's state a running jail that thinjail did not start: what
/// `jail -c name=… path=…` by hand (or another jail manager) leaves on FreeBSD.
fn start_foreign_jail(bed: &Bed, name: &str, jid: u32, path: &str) {
    let file = bed.state_dir().join("jails.json");
    let mut state: serde_json::Value = fs::read_to_string(&file)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| serde_json::json!({"jails": {}, "next_jid": 100}));
    state["jails"][name] =
        serde_json::json!({"jid": jid, "path": path, "mounts": [], "exec_stop": null});
    fs::create_dir_all(bed.state_dir()).unwrap();
    fs::write(&file, serde_json::to_string_pretty(&state).unwrap()).unwrap();
}

fn running_jails(bed: &Bed) -> serde_json::Value {
    let text = fs::read_to_string(bed.state_dir().join("jails.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["jails"].clone()
}

#[test]
fn a_jail_of_the_same_name_from_another_root_is_never_touched() {
    let bed = Bed::article(BIN, |_| {});
    bed.apply().expect_code(0);
    bed.command(&["stop", "thinjail0"]).expect_code(0);
    let elsewhere = bed.dir.path().join("not-thinjails");
    fs::create_dir_all(&elsewhere).unwrap();
    let elsewhere = elsewhere.display().to_string();
    start_foreign_jail(&bed, "thinjail0", 77, &elsewhere);
    let fstab = bed.jails_path("thinjail0/fstab");
    let root = bed.jails_path(".mountpoints/thinjail0");
    let own_file = bed.recipe.host.jail_conf_dir.join("thinjail0.conf");
    let conf_before = fs::read_to_string(&own_file).unwrap();
    let rc_before = fs::read_to_string(&bed.recipe.host.rc_conf).unwrap();

    let recipe = bed.recipe_arg();
    let runs = [
        ("apply", bed.apply()),
        ("stop", bed.command(&["stop", "thinjail0"])),
        ("restart", bed.command(&["restart", "thinjail0"])),
        ("start", bed.command(&["start", "thinjail0"])),
        (
            "exec",
            bed.thinjail(&["exec", "-r", &recipe, "thinjail0", "--", "id"]),
        ),
        ("console", bed.command(&["console", "thinjail0"])),
        ("destroy", bed.command(&["destroy", "thinjail0", "--yes"])),
        (
            "destroy --data",
            bed.command(&["destroy", "thinjail0", "--data", "--yes"]),
        ),
    ];
    for (command, run) in &runs {
        assert_eq!(run.code, Some(78), "{command}: {run:?}");
        assert!(
            run.stderr.contains("thinjail0")
                && run.stderr.contains("JID 77")
                && run.stderr.contains(&elsewhere),
            "{command} names the jail, its JID and its path: {}",
            run.stderr
        );
    }

    // Nothing changed: the other jail runs on, ours was neither started nor removed.
    assert_eq!(running_jails(&bed)["thinjail0"]["path"], elsewhere.as_str());
    assert!(!is_mounted(&root), "ours was not started");
    assert!(fstab.exists() && root.exists(), "nothing was destroyed");
    assert!(bed.datasets().contains("jails/thinjail0/data"));
    assert_eq!(fs::read_to_string(&own_file).unwrap(), conf_before);
    assert_eq!(
        fs::read_to_string(&bed.recipe.host.rc_conf).unwrap(),
        rc_before
    );
    let row = bed.jail_row("thinjail0");
    assert_eq!(row["state"], "foreign", "{row}");
    assert_eq!(row["running"], false);
    assert_eq!(row["foreign"]["jid"], 77);
    assert_eq!(row["foreign"]["path"], elsewhere.as_str());
}

#[test]
fn two_recipes_sharing_a_jail_conf_never_prune_each_others_jails() {
    let bed = Bed::article(BIN, |_| {});
    bed.apply().expect_code(0);
    // A second recipe, with its own jails dataset and directory, writing to the
    // same jail.conf and rc.conf.
    let mut other = bed.recipe.clone();
    other.host.jails_dataset = format!("{}/jails2", bed.pool.name());
    other.host.jails_dir = bed.pool.mountpoint().join("jails2");
    other.host.lock_file = bed.dir.path().join("other.lock");
    other.jails = vec![Jail {
        name: "other".into(),
        ip4: vec!["192.168.1.80".into()],
        ..bed.recipe.jails[0].clone()
    }];
    let other_path = bed.dir.path().join("other.ron");
    fs::write(&other_path, other.to_ron()).unwrap();
    let other_arg = other_path.display().to_string();
    bed.thinjail(&["apply", &other_arg, "--yes"]).expect_code(0);
    assert!(running_jails(&bed).get("other").is_some());

    let listed = bed.list();
    let names: Vec<&str> = listed["jails"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["thinjail0"], "the other recipe's jail is not ours");

    let pruned = bed.thinjail(&["apply", &bed.recipe_arg(), "--yes", "--prune"]);
    pruned.expect_code(0);
    assert!(
        !pruned.stderr.contains("orphaned") && !pruned.stdout.contains("other"),
        "{pruned:?}"
    );
    assert!(
        running_jails(&bed).get("other").is_some(),
        "the other recipe's jail keeps running"
    );
    assert!(is_mounted(
        &other.host.jails_dir.join(".mountpoints/other/skeleton")
    ));
    assert!(
        fs::read_to_string(bed.recipe.host.jail_conf_dir.join("other.conf"))
            .unwrap()
            .contains(&format!(
                "\n# thinjail:managed={}\n",
                other.host.jails_dataset
            )),
        "the other recipe's jail file, marked with its jails dataset, is kept"
    );
    // Both boot: one jail_list names the two recipes' jails.
    let rc = fs::read_to_string(&bed.recipe.host.rc_conf).unwrap();
    assert!(rc.contains("jail_list=\"thinjail0 other\""), "{rc}");
    // And the other way round.
    let pruned = bed.thinjail(&["apply", &other_arg, "--yes", "--prune"]);
    pruned.expect_code(0);
    assert!(running_jails(&bed).get("thinjail0").is_some());
}

#[test]
fn a_dataset_thinjail_did_not_make_is_not_taken_over_until_marked() {
    let mut bed = Bed::article(BIN, |_| {});
    bed.apply().expect_code(0);
    // The FreeBSD Handbook's layout, made by hand under the same jails dataset.
    let containers = format!("{}/jails/containers", bed.pool.name());
    zfs(&["create", &containers]);
    bed.recipe.jails.push(Jail {
        name: "containers".into(),
        ip4: vec!["192.168.1.90".into()],
        ..bed.recipe.jails[0].clone()
    });
    bed.write_recipe();
    let refused = bed.apply();
    assert_eq!(refused.code, Some(78), "{refused:?}");
    let adopt = format!(
        "zfs set thinjail:managed={}/jails {containers}",
        bed.pool.name()
    );
    assert!(
        refused
            .stderr
            .contains(&format!("thinjail did not create {containers}"))
            && refused.stderr.contains(&adopt),
        "{}",
        refused.stderr
    );
    assert!(
        !bed.datasets().contains("jails/containers/data"),
        "nothing was created in it"
    );
    assert!(!bed.jails_path("containers/fstab").exists());
    assert_eq!(
        bed.jail_row("containers")["state"],
        "missing",
        "listed from the recipe only"
    );

    // Marked as the message says, it is thinjail's.
    let words: Vec<&str> = adopt.split_whitespace().skip(1).collect();
    zfs(&words);
    bed.apply().expect_code(0);
    assert_eq!(bed.jail_row("containers")["state"], "running");
}

#[test]
fn destroy_data_keeps_datasets_thinjail_did_not_make() {
    let bed = Bed::article(BIN, |_| {});
    bed.apply().expect_code(0);
    bed.command(&["snapshot", "thinjail0", "mine"])
        .expect_code(0);
    let foreign = format!("{}/jails/thinjail0/backup", bed.pool.name());
    zfs(&["create", &foreign]);
    zfs(&["snapshot", &format!("{foreign}@kept")]);

    let dry = bed.command(&["destroy", "thinjail0", "--data", "--dry-run"]);
    dry.expect_code(0);
    assert!(!dry.stdout.contains("zfs destroy -r"), "{}", dry.stdout);
    assert!(
        dry.stdout.contains("jails/thinjail0 stays"),
        "{}",
        dry.stdout
    );

    bed.command(&["destroy", "thinjail0", "--data", "--yes"])
        .expect_code(0);
    let datasets = bed.datasets();
    assert!(
        !datasets
            .iter()
            .any(|d| d.starts_with("jails/thinjail0/data")),
        "the data and its snapshots are gone: {datasets:?}"
    );
    for kept in [
        "jails/thinjail0",
        "jails/thinjail0/backup",
        "jails/thinjail0/backup@kept",
    ] {
        assert!(datasets.contains(kept), "{kept} kept: {datasets:?}");
    }

    // With nothing else left below it, the jail's dataset goes too.
    zfs_destroy(&["-r", &foreign]);
    bed.command(&["destroy", "thinjail0", "--data", "--yes"])
        .expect_code(0);
    assert!(
        !bed.datasets().iter().any(|d| d.contains("thinjail0")),
        "{:?}",
        bed.datasets()
    );
}

#[test]
fn observation_reads_the_jails_dataset_only() {
    let bed = Bed::article(BIN, |_| {});
    bed.apply().expect_code(0);
    let elsewhere = format!("{}/elsewhere", bed.pool.name());
    zfs(&["create", &elsewhere]);
    zfs(&["snapshot", &format!("{elsewhere}@old")]);

    let pipeline = Pipeline::from_recipe(&bed.recipe, &mut NoPlugins).unwrap();
    let mut host = TestBed::new(bed.state_dir(), Faults::default(), Box::new(NoProgress));
    let world = host.observe(&pipeline.observation(&bed.recipe)).unwrap();
    let jails = &bed.recipe.host.jails_dataset;
    let outside: Vec<&String> = world
        .datasets
        .keys()
        .filter(|name| {
            *name != jails
                && !name.starts_with(&format!("{jails}/"))
                && !name.starts_with(&format!("{jails}@"))
        })
        .collect();
    assert_eq!(
        outside,
        Vec::<&String>::new(),
        "only the jails dataset is read"
    );
    assert_eq!(host.commands_run(), 1, "one zfs get");
    assert_eq!(
        world
            .dataset(&format!("{jails}/thinjail0/data"))
            .and_then(|d| d.managed.as_deref()),
        Some(jails.as_str()),
        "the data carries the mark send -p brought from the template"
    );

    // Before thinjail made its jails dataset: the pool alone, to know it is there.
    let mut fresh = bed.recipe.clone();
    fresh.host.jails_dataset = format!("{}/notyet", bed.pool.name());
    let world = host.observe(&pipeline.observation(&fresh)).unwrap();
    let names: Vec<&String> = world.datasets.keys().collect();
    assert_eq!(names, [bed.pool.name()]);
    fresh.host.jails_dataset = "nosuchpool/jails".into();
    let world = host.observe(&pipeline.observation(&fresh)).unwrap();
    assert!(world.datasets.is_empty());
    // A missing pool is the host not matching the recipe: said, exit 78.
    let missing = bed.dir.path().join("missing-pool.ron");
    fs::write(&missing, fresh.to_ron()).unwrap();
    let run = bed.thinjail(&["apply", missing.to_str().unwrap(), "--yes"]);
    assert_eq!(run.code, Some(78), "{run:?}");
    assert!(
        run.stderr
            .contains("ZFS pool nosuchpool does not exist on this host"),
        "{}",
        run.stderr
    );
}
