//! Delegated ZFS datasets (issue 15, item "datasets") on the Linux test bed, whose
//! stand-in ([`thinjail_testbed::testbed::datasets`]) keeps `jailed` and `zfs jail`
//! as FreeBSD's ZFS and kernel would and mounts the dataset inside the jail's root
//! with zfs-fuse: the dataset is created `jailed=on` and writable inside the jail,
//! survives a restart and an upgrade, is kept by `destroy` and `destroy --data`, and
//! destroyed by `destroy --data --dataset` naming it; a second apply does nothing;
//! bad inputs are refused with their codes, nothing changed.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use thinjail_core::resources::datasets::Delegated;
use thinjail_testbed::fixtures::zfs_lock::run_zfs_command;
use thinjail_testbed::harness::Bed;
use thinjail_testbed::testbed::datasets::{mark_jailed, JailedRecord};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

fn zfs(args: &[&str]) -> Result<String, String> {
    run_zfs_command(Command::new("zfs").args(args)).map_err(|e| e.to_string())
}

fn zfs_value(property: &str, dataset: &str) -> String {
    zfs(&["get", "-H", "-o", "value", property, dataset])
        .unwrap_or_else(|e| panic!("zfs get {property} {dataset}: {e}"))
        .trim()
        .to_string()
}

fn exists(dataset: &str) -> bool {
    zfs(&["list", "-H", "-o", "name", dataset]).is_ok()
}

/// The pool's `delegated` parent, made on the host, and the bed's jail `thinjail0`
/// given `<pool>/delegated/www` at `/var/db/www`.
fn bed_with_dataset(two_releases: bool) -> (Bed, String) {
    let mut bed = if two_releases {
        Bed::two_releases(BIN)
    } else {
        Bed::article(BIN, |_| {})
    };
    let parent = format!("{}/delegated", bed.pool.name());
    zfs(&["create", &parent]).unwrap();
    let dataset = format!("{parent}/www");
    bed.recipe.jails[0].datasets = vec![Delegated {
        dataset: dataset.clone(),
        path: "/var/db/www".into(),
    }];
    bed.write_recipe();
    (bed, dataset)
}

/// Where zfs-fuse has `dataset` mounted, from /proc/self/mountinfo (`None`: not).
fn mounted_at(dataset: &str) -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    thinjail_core::host::parse_proc_mountinfo(&text)
        .into_iter()
        .find(|m| m.source == dataset)
        .map(|m| m.target)
}

#[test]
fn a_delegated_dataset_is_the_jails_to_write_and_outlives_restart_and_destroy() {
    let (bed, dataset) = bed_with_dataset(false);
    let first = bed.apply();
    first.expect_code(0);
    assert!(
        first.stdout.contains(&format!(
            "create dataset {dataset} for jail thinjail0 (jailed, mounted by the jail at /var/db/www)"
        )),
        "{}",
        first.stdout
    );
    // Created as the jail's: jailed (the test bed's record), thinjail's owner mark,
    // and the jail's own file hands it over with the mount permissions.
    let pool = bed.pool.name().to_string();
    assert_eq!(
        zfs_value("thinjail:jail", &dataset),
        format!("{pool}/jails/thinjail0")
    );
    let record = JailedRecord::load(&bed.state_dir());
    assert_eq!(
        record.jailed.get(&dataset).map(String::as_str),
        Some("/var/db/www")
    );
    let conf = fs::read_to_string(bed.dir.path().join("etc/jail.conf.d/thinjail0.conf")).unwrap();
    for line in [
        format!("exec.created = \"/sbin/zfs jail thinjail0 {dataset}\";"),
        "allow.mount.zfs;".to_string(),
        "enforce_statfs = 1;".to_string(),
        "exec.start = \"/sbin/zfs mount -a\", \"/bin/sh /etc/rc\";".to_string(),
        "exec.stop = \"/bin/sh /etc/rc.shutdown\", \"/sbin/zfs unmount -a\";".to_string(),
    ] {
        assert!(conf.contains(&line), "{line} in:\n{conf}");
    }

    // Mounted inside the jail's root (its data, where /var leads), writable from
    // inside; the file is on the dataset, not in the jail's data.
    let root = bed.jails_path(".mountpoints/thinjail0");
    assert_eq!(mounted_at(&dataset), Some(root.join("skeleton/var/db/www")));
    bed.in_jail("thinjail0", &["sh", "-c", "echo kept > /var/db/www/file"])
        .expect_code(0);
    let on_dataset = PathBuf::from(zfs_value("mountpoint", &dataset)).join("file");
    assert_eq!(fs::read_to_string(&on_dataset).unwrap(), "kept\n");
    assert!(!bed.jails_path("thinjail0/data/var/db/www/file").exists());

    // A second apply has nothing to do; list --json shows the dataset.
    let again = bed.apply();
    again.expect_code(0);
    assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);
    let row = bed.jail_row("thinjail0");
    assert_eq!(
        row["datasets"],
        serde_json::json!([{"dataset": dataset, "path": "/var/db/www", "exists": true, "jailed": true}])
    );

    // Taken out of the recipe: unmounted inside the jail before its new file (whose
    // stop would not unmount it), the jail restarted without it, the dataset kept.
    let mut bed = bed;
    let delegated = std::mem::take(&mut bed.recipe.jails[0].datasets);
    bed.write_recipe();
    let without = bed.apply();
    without.expect_code(0);
    assert!(
        without.stdout.contains("/sbin/zfs unmount -a"),
        "{}",
        without.stdout
    );
    assert_eq!(mounted_at(&dataset), None);
    assert!(exists(&dataset));
    bed.recipe.jails[0].datasets = delegated;
    bed.write_recipe();
    bed.apply().expect_code(0);
    assert_eq!(mounted_at(&dataset), Some(root.join("skeleton/var/db/www")));

    // A restart unmounts it (in the jail), the jail's removal detaches it, the new
    // jail attaches and mounts it again: the file is there.
    bed.command(&["restart", "thinjail0"]).expect_code(0);
    let read = bed.in_jail("thinjail0", &["cat", "/var/db/www/file"]);
    assert_eq!(read.stdout, "kept\n", "{read:?}");
    assert_eq!(
        JailedRecord::load(&bed.state_dir()).attached["thinjail0"],
        std::slice::from_ref(&dataset)
    );

    // stop: unmounted, detached, still there.
    bed.command(&["stop", "thinjail0"]).expect_code(0);
    assert_eq!(mounted_at(&dataset), None);
    assert!(!JailedRecord::load(&bed.state_dir())
        .attached
        .contains_key("thinjail0"));

    // destroy keeps it (and the jail's data).
    bed.command(&["destroy", "thinjail0", "--yes"])
        .expect_code(0);
    assert!(exists(&dataset), "destroy keeps delegated datasets");

    // --dataset needs --data (usage), and names only the jail's datasets.
    let alone = bed.command(&["destroy", "thinjail0", "--dataset", &dataset, "--yes"]);
    assert_eq!(alone.code, Some(64), "{alone:?}");
    let other = format!("{pool}/delegated");
    let wrong = bed.command(&[
        "destroy",
        "thinjail0",
        "--data",
        "--dataset",
        &other,
        "--yes",
    ]);
    assert_eq!(wrong.code, Some(64), "{wrong:?}");
    assert!(exists(&other) && exists(&dataset));

    // Named: destroyed with the jail's data, the rest of the pool untouched.
    bed.command(&[
        "destroy",
        "thinjail0",
        "--data",
        "--dataset",
        &dataset,
        "--yes",
    ])
    .expect_code(0);
    assert!(!exists(&dataset));
    assert!(!exists(&format!("{pool}/jails/thinjail0/data")));
    assert!(exists(&other));
    assert!(!JailedRecord::load(&bed.state_dir())
        .jailed
        .contains_key(&dataset));
}

#[test]
fn a_delegated_dataset_survives_an_upgrade() {
    let (bed, dataset) = bed_with_dataset(true);
    bed.apply().expect_code(0);
    bed.in_jail("thinjail0", &["sh", "-c", "echo v13 > /var/db/www/file"])
        .expect_code(0);
    let run = bed.command(&["upgrade", "thinjail0", "--to", "14.0-RELEASE", "--yes"]);
    run.expect_code(0);
    let conf = fs::read_to_string(bed.dir.path().join("etc/jail.conf.d/thinjail0.conf")).unwrap();
    assert!(
        conf.contains(&format!("/sbin/zfs jail thinjail0 {dataset}")),
        "{conf}"
    );
    let read = bed.in_jail("thinjail0", &["cat", "/var/db/www/file"]);
    assert_eq!(read.stdout, "v13\n", "{read:?}");
    assert!(mounted_at(&dataset).is_some());

    // destroy --data takes the jail's own data only.
    bed.command(&["destroy", "thinjail0", "--data", "--yes"])
        .expect_code(0);
    assert!(exists(&dataset), "destroy --data keeps delegated datasets");
    assert!(!exists(&format!(
        "{}/jails/thinjail0/data",
        bed.pool.name()
    )));
}

#[test]
fn a_15_jail_gets_its_dataset_from_jail_8s_zfs_dataset() {
    let (mut bed, dataset) = bed_with_dataset(false);
    bed.publish_release("15.0-RELEASE");
    let mut release = bed.recipe.releases[0].clone();
    release.name = "15.0-RELEASE".into();
    bed.recipe.releases.push(release);
    bed.recipe.jails[0].release = "15.0-RELEASE".into();
    bed.write_recipe();
    bed.apply().expect_code(0);
    let conf = fs::read_to_string(bed.dir.path().join("etc/jail.conf.d/thinjail0.conf")).unwrap();
    assert!(
        conf.contains(&format!("zfs.dataset = \"{dataset}\";")),
        "{conf}"
    );
    assert!(!conf.contains("/sbin/zfs jail"), "{conf}");
    bed.in_jail("thinjail0", &["sh", "-c", "echo 15 > /var/db/www/file"])
        .expect_code(0);
    let on_dataset = PathBuf::from(zfs_value("mountpoint", &dataset)).join("file");
    assert_eq!(fs::read_to_string(on_dataset).unwrap(), "15\n");
    assert_eq!(
        JailedRecord::load(&bed.state_dir()).attached["thinjail0"],
        std::slice::from_ref(&dataset)
    );
}

#[test]
fn bad_datasets_are_refused_with_their_codes_and_nothing_changes() {
    let (mut bed, dataset) = bed_with_dataset(false);
    let pool = bed.pool.name().to_string();

    // Recipe problems: 65, naming the field.
    for (bad, path) in [
        ("otherpool/x".to_string(), "/var/db/www"),
        (format!("{pool}/jails/x"), "/var/db/www"),
        (dataset.clone(), "/mnt/www"),
    ] {
        bed.recipe.jails[0].datasets = vec![Delegated {
            dataset: bad.clone(),
            path: path.into(),
        }];
        bed.write_recipe();
        let run = bed.apply();
        assert_eq!(run.code, Some(65), "{bad} at {path}: {run:?}");
        assert!(run.stderr.contains("jails[0].datasets[0]."), "{run:?}");
    }
    assert!(bed.datasets().is_empty(), "nothing was made");

    // The host's own dataset (jailed=off): 78, nothing changed.
    zfs(&["create", &dataset]).unwrap();
    fs::write(
        PathBuf::from(zfs_value("mountpoint", &dataset)).join("hosts"),
        "the host's\n",
    )
    .unwrap();
    bed.recipe.jails[0].datasets = vec![Delegated {
        dataset: dataset.clone(),
        path: "/var/db/www".into(),
    }];
    bed.write_recipe();
    let hosts = bed.apply();
    assert_eq!(hosts.code, Some(78), "{hosts:?}");
    assert!(
        hosts.stderr.contains("jails[0].datasets[0]") && hosts.stderr.contains("jailed=off"),
        "{hosts:?}"
    );
    assert!(bed.datasets().is_empty(), "nothing was made");

    // Jailed for another jail: 78.
    zfs(&["umount", &dataset]).unwrap();
    zfs(&[
        "set",
        &format!("thinjail:jail={pool}/jails/other"),
        &dataset,
    ])
    .unwrap();
    mark_jailed(&bed.state_dir(), &dataset, "/var/db/www").unwrap();
    let others = bed.apply();
    assert_eq!(others.code, Some(78), "{others:?}");
    assert!(
        others.stderr.contains("already delegated to another jail"),
        "{others:?}"
    );
    // Jailed by hand without a mark: 78 as well.
    zfs(&["inherit", "thinjail:jail", &dataset]).unwrap();
    let unmarked = bed.apply();
    assert_eq!(unmarked.code, Some(78), "{unmarked:?}");
    assert!(bed.datasets().is_empty(), "nothing was made");
    assert_eq!(zfs_value("thinjail:jail", &dataset), "-");

    // Handed over as the refusal says: the jail gets it.
    zfs(&[
        "set",
        &format!("thinjail:jail={pool}/jails/thinjail0"),
        &dataset,
    ])
    .unwrap();
    bed.apply().expect_code(0);
    let read = bed.in_jail("thinjail0", &["cat", "/var/db/www/hosts"]);
    assert_eq!(read.stdout, "the host's\n", "{read:?}");
}
