//! What a real jail needs besides a base (issue 15), on the Linux test bed: host
//! directories mounted read-only in one jail and writable in another, tmpfs with a
//! size, `stop` unmounting them and `destroy` refusing while one stays mounted;
//! rctl limits applied on start, reconciled rule by rule on `apply` and removed on
//! `stop`; `depend` honoured in jail(8)'s order; CPU sets.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use thinjail_core::recipe::Jail;
use thinjail_core::resources::Mount;
use thinjail_testbed::harness::{is_mounted, Bed};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

fn mounts_under(path: &Path) -> Vec<(PathBuf, String)> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    thinjail_core::host::parse_proc_mountinfo(&text)
        .into_iter()
        .filter(|m| m.target.starts_with(path))
        .map(|m| (m.target, m.fstype))
        .collect()
}

/// The article's bed with a second jail, `thinjail1`.
fn two_jails(customize: impl FnOnce(&mut Bed)) -> Bed {
    let mut bed = Bed::article(BIN, |_| {});
    bed.recipe.jails.push(Jail {
        name: "thinjail1".into(),
        ip4: vec!["192.168.1.71".into()],
        ..bed.recipe.jails[0].clone()
    });
    customize(&mut bed);
    bed.write_recipe();
    bed
}

#[test]
fn a_host_directory_is_read_only_in_one_jail_and_writable_in_another() {
    let shared = tempfile::Builder::new()
        .prefix("thinjail-shared-")
        .tempdir_in("/var/tmp")
        .unwrap();
    fs::write(shared.path().join("hello"), "from the host\n").unwrap();
    let host = shared.path().to_path_buf();
    let bed = two_jails(|bed| {
        bed.recipe.jails[0].mounts = vec![
            Mount::Nullfs {
                host: host.clone(),
                path: "/usr/home/shared".into(),
                writable: false,
            },
            Mount::Tmpfs {
                path: "/var/cache/scratch".into(),
                size: "8m".into(),
            },
        ];
        bed.recipe.jails[1].mounts = vec![Mount::Nullfs {
            host: host.clone(),
            path: "/usr/home/shared".into(),
            writable: true,
        }];
    });
    let first = bed.apply();
    first.expect_code(0);
    let fstab = fs::read_to_string(bed.jails_path("thinjail0/fstab")).unwrap();
    let root0 = bed.jails_path(".mountpoints/thinjail0");
    assert!(
        fstab.ends_with(&format!(
            "{}  {}/skeleton/usr/home/shared  nullfs  ro  0   0\n\
             tmpfs  {}/skeleton/var/cache/scratch  tmpfs  rw,size=8388608  0   0\n",
            host.display(),
            root0.display(),
            root0.display()
        )),
        "{fstab}"
    );

    // Read-only in thinjail0, enforced: writing fails there, reading works.
    let write0 = bed.in_jail(
        "thinjail0",
        &["sh", "-c", "echo x > /usr/home/shared/from0"],
    );
    assert_ne!(write0.code, Some(0), "{write0:?}");
    assert!(
        write0.stderr.contains("Read-only file system"),
        "{write0:?}"
    );
    assert!(!host.join("from0").exists());
    let read0 = bed.in_jail("thinjail0", &["cat", "/usr/home/shared/hello"]);
    assert_eq!(read0.stdout, "from the host\n", "{read0:?}");
    // Writable in thinjail1: the write lands in the host directory.
    bed.in_jail(
        "thinjail1",
        &["sh", "-c", "echo from1 > /usr/home/shared/from1"],
    )
    .expect_code(0);
    assert_eq!(fs::read_to_string(host.join("from1")).unwrap(), "from1\n");
    // The tmpfs is a tmpfs of its own, in thinjail0 only.
    let scratch = root0.join("skeleton/var/cache/scratch");
    assert!(
        mounts_under(&root0).contains(&(scratch.clone(), "tmpfs".into())),
        "{:?}",
        mounts_under(&root0)
    );
    bed.in_jail("thinjail0", &["sh", "-c", "echo t > /var/cache/scratch/t"])
        .expect_code(0);
    assert!(!bed
        .jails_path("thinjail0/data/var/cache/scratch/t")
        .exists());

    // A second apply has nothing to do.
    let again = bed.apply();
    again.expect_code(0);
    assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);

    // stop unmounts every mount, the extra ones included.
    bed.command(&["stop", "thinjail0"]).expect_code(0);
    assert_eq!(mounts_under(&root0), vec![], "stop leaves no mount behind");
    assert!(host.join("hello").exists(), "the host directory is intact");

    // destroy refuses while an extra mount stays mounted (a process works in it).
    let root1 = bed.jails_path(".mountpoints/thinjail1");
    let mount1 = root1.join("skeleton/usr/home/shared");
    assert!(is_mounted(&mount1));
    let mut holder = Command::new("sleep");
    holder.arg("60").current_dir(&mount1);
    let refused = bed.destroy_while_held("thinjail1", holder);
    assert_ne!(refused.code, Some(0), "{refused:?}");
    assert!(
        refused.stderr.contains(&mount1.display().to_string()),
        "names the mount: {}",
        refused.stderr
    );
    assert_eq!(
        fs::read_to_string(host.join("from1")).unwrap(),
        "from1\n",
        "nothing was removed through the mount"
    );
    assert!(bed.jails_path("thinjail1/data").exists());
    // Once nothing holds it, destroy goes through.
    bed.command(&["destroy", "thinjail1", "--data", "--yes"])
        .expect_code(0);
    assert!(mounts_under(&root1).is_empty());
    assert!(host.join("hello").exists() && host.join("from1").exists());
}

fn plan(bed: &Bed) -> thinjail_testbed::harness::Run {
    bed.thinjail(&["plan", &bed.recipe_arg()])
}

fn rctl_log(bed: &Bed) -> Vec<String> {
    thinjail_testbed::rctl::RctlState::load(&bed.state_dir()).rules
}

fn jail_rules(bed: &Bed, jail: &str) -> Vec<String> {
    let mut rules = thinjail_testbed::rctl::RctlState::load(&bed.state_dir()).jail_rules(jail);
    rules.sort();
    rules
}

#[test]
fn limits_are_applied_on_start_reconciled_rule_by_rule_and_removed_on_stop() {
    let mut bed = Bed::article(BIN, |_| {});
    thinjail_testbed::rctl::set_racct(&bed.state_dir(), true).unwrap();
    bed.recipe.jails[0].limits = vec![
        "memoryuse:deny=1g".into(),
        "maxproc:deny=100".into(),
        "openfiles:log=1000/process".into(),
    ];
    bed.write_recipe();
    bed.apply().expect_code(0);
    let conf = fs::read_to_string(bed.dir.path().join("etc/jail.conf.d/thinjail0.conf")).unwrap();
    assert!(
        conf.contains("/usr/bin/rctl -a jail:thinjail0:memoryuse:deny=1073741824 jail:thinjail0:maxproc:deny=100 jail:thinjail0:openfiles:log=1000/process"),
        "{conf}"
    );
    assert_eq!(
        jail_rules(&bed, "thinjail0"),
        [
            "jail:thinjail0:maxproc:deny=100",
            "jail:thinjail0:memoryuse:deny=1073741824",
            "jail:thinjail0:openfiles:log=1000/process",
        ]
    );
    // The administrator's own rules: one on this jail, one on another subject.
    for rule in ["jail:thinjail0:nthr:log=5000", "user:0:maxproc:log=9000"] {
        let out = thinjail_testbed::rctl::run(
            &bed.state_dir(),
            &["rctl".into(), "-a".into(), rule.into()],
        );
        assert_eq!(out.code, 0, "{out:?}");
    }
    let jid = bed.list()["jails"][0]["jid"].clone();

    // One limit changes: exactly that rule is replaced, the jail keeps running.
    bed.recipe.jails[0].limits[0] = "memoryuse:deny=2g".into();
    bed.write_recipe();
    let plan = plan(&bed);
    plan.expect_code(0);
    assert!(
        plan.stdout
            .contains("rctl -r jail:thinjail0:memoryuse:deny=1073741824\n")
            && plan
                .stdout
                .contains("rctl -a jail:thinjail0:memoryuse:deny=2147483648\n"),
        "{}",
        plan.stdout
    );
    assert_eq!(
        plan.stdout
            .lines()
            .filter(|l| l.starts_with("rctl "))
            .count(),
        2,
        "exactly one removal and one addition: {}",
        plan.stdout
    );
    bed.apply().expect_code(0);
    assert_eq!(bed.list()["jails"][0]["jid"], jid, "not restarted");
    assert_eq!(
        jail_rules(&bed, "thinjail0"),
        [
            "jail:thinjail0:maxproc:deny=100",
            "jail:thinjail0:memoryuse:deny=2147483648",
            "jail:thinjail0:nthr:log=5000",
            "jail:thinjail0:openfiles:log=1000/process",
        ]
    );
    assert!(rctl_log(&bed).contains(&"user:0:maxproc:log=9000".to_string()));
    let again = bed.apply();
    again.expect_code(0);
    assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);

    // stop removes thinjail's rules, and only those.
    bed.command(&["stop", "thinjail0"]).expect_code(0);
    assert_eq!(
        jail_rules(&bed, "thinjail0"),
        ["jail:thinjail0:nthr:log=5000"]
    );
    assert!(rctl_log(&bed).contains(&"user:0:maxproc:log=9000".to_string()));
    // start applies them again (the jail's exec.created hook).
    bed.command(&["start", "thinjail0"]).expect_code(0);
    assert_eq!(jail_rules(&bed, "thinjail0").len(), 4);
}

#[test]
fn limits_without_racct_and_bad_limits_are_refused_before_anything_changes() {
    let mut bed = Bed::article(BIN, |_| {});
    bed.recipe.jails[0].limits = vec!["memoryuse:deny=1g".into()];
    bed.write_recipe();
    // FreeBSD's default: kern.racct.enable=0.
    let refused = bed.apply();
    assert_eq!(refused.code, Some(78), "{refused:?}");
    assert!(
        refused.stderr.contains("kern.racct.enable=1") && refused.stderr.contains("reboot"),
        "{}",
        refused.stderr
    );
    assert!(
        bed.datasets().is_empty() || !bed.datasets().contains("jails"),
        "nothing made"
    );

    for (limit, field) in [
        ("memory:deny=1g", "jails[0].limits[0]"),
        ("memoryuse:kill=1g", "jails[0].limits[0]"),
        ("memoryuse:deny=1q", "jails[0].limits[0]"),
        ("cputime:deny=10", "jails[0].limits[0]"),
    ] {
        bed.recipe.jails[0].limits = vec![limit.into()];
        bed.write_recipe();
        let run = plan(&bed);
        assert_eq!(run.code, Some(65), "{limit}: {run:?}");
        assert!(run.stderr.contains(field), "{limit}: {}", run.stderr);
    }
}

#[test]
fn a_jail_that_depends_on_another_starts_after_it_and_a_loop_is_refused() {
    let mut bed = two_jails(|bed| {
        bed.recipe.jails[0].depend = vec!["thinjail1".into()];
    });
    // thinjail0 (first in the recipe) depends on thinjail1.
    bed.apply().expect_code(0);
    let conf = fs::read_to_string(bed.dir.path().join("etc/jail.conf.d/thinjail0.conf")).unwrap();
    assert!(conf.contains("depend = \"thinjail1\";"), "{conf}");
    assert!(
        conf.contains("thinjail1 {"),
        "the dependency's block is in the file: {conf}"
    );
    let jid = |bed: &Bed, name: &str| {
        bed.list()["jails"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["jid"]
            .as_u64()
            .unwrap()
    };
    assert!(
        jid(&bed, "thinjail1") < jid(&bed, "thinjail0"),
        "dependency first"
    );
    // jail(8) itself starts the dependency: stop both, start only thinjail0.
    bed.command(&["stop", "thinjail0", "thinjail1"])
        .expect_code(0);
    bed.command(&["start", "thinjail0"]).expect_code(0);
    assert!(jid(&bed, "thinjail1") < jid(&bed, "thinjail0"));
    let rc = fs::read_to_string(bed.dir.path().join("etc/rc.conf")).unwrap();
    assert!(rc.contains("thinjail1 thinjail0"), "boot order: {rc}");

    bed.recipe.jails[1].depend = vec!["thinjail0".into()];
    bed.write_recipe();
    let refused = plan(&bed);
    assert_eq!(refused.code, Some(65), "{refused:?}");
    assert!(
        refused.stderr.contains("jails[0].depend") && refused.stderr.contains("dependency loop"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_cpu_set_is_applied_on_every_start_and_unknown_cpus_are_refused() {
    let mut bed = Bed::article(BIN, |_| {});
    thinjail_testbed::cpuset::set_host_cpus(&bed.state_dir(), &[0, 1]).unwrap();
    bed.recipe.jails[0].cpuset = Some("1".into());
    bed.write_recipe();
    bed.apply().expect_code(0);
    let mask = |bed: &Bed| {
        let jid = bed.list()["jails"][0]["jid"].as_u64().unwrap() as u32;
        thinjail_testbed::cpuset::CpusetState::load(&bed.state_dir())
            .jails
            .get(&jid)
            .cloned()
    };
    assert_eq!(mask(&bed), Some(vec![1]));
    bed.command(&["restart", "thinjail0"]).expect_code(0);
    assert_eq!(mask(&bed), Some(vec![1]), "reapplied to the new jail");
    // Changed in the recipe: set on the running jail, no restart.
    bed.recipe.jails[0].cpuset = Some("0-1".into());
    bed.write_recipe();
    bed.apply().expect_code(0);
    assert_eq!(mask(&bed), Some(vec![0, 1]));
    // A CPU the host does not have.
    bed.recipe.jails[0].cpuset = Some("0-3".into());
    bed.write_recipe();
    let refused = bed.apply();
    assert_eq!(refused.code, Some(78), "{refused:?}");
    assert!(
        refused.stderr.contains("jails[0].cpuset"),
        "{}",
        refused.stderr
    );
    assert_eq!(mask(&bed), Some(vec![0, 1]), "nothing changed");
}

#[test]
fn a_mount_point_behind_a_link_the_jail_planted_is_refused_and_nothing_is_made_through_it() {
    let mut bed = Bed::article(BIN, |_| {});
    bed.apply().expect_code(0);
    // The jail's root replaces its usr/home with a link to /etc: inside the jail
    // that is its own /etc, from the host it would be the host's.
    let victim = tempfile::Builder::new()
        .prefix("thinjail-victim-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let target = victim.path().display().to_string();
    bed.in_jail(
        "thinjail0",
        &[
            "sh",
            "-c",
            &format!("rm -rf /skeleton/usr/home && ln -s {target} /skeleton/usr/home"),
        ],
    )
    .expect_code(0);
    let shared = tempfile::Builder::new()
        .prefix("thinjail-shared-")
        .tempdir_in("/var/tmp")
        .unwrap();
    bed.recipe.jails[0].mounts = vec![Mount::Nullfs {
        host: shared.path().to_path_buf(),
        path: "/usr/home/shared".into(),
        writable: true,
    }];
    bed.write_recipe();
    let refused = bed.apply();
    assert_eq!(refused.code, Some(78), "{refused:?}");
    assert!(refused.stderr.contains("usr/home"), "{}", refused.stderr);
    assert!(
        fs::read_dir(victim.path()).unwrap().next().is_none(),
        "nothing was made through the jail's link"
    );
}
