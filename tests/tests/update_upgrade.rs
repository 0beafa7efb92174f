//! `update` and `upgrade` as FreeBSD's own tools behave, on the test bed with its
//! stand-ins: the etcupdate of the synthetic base (run inside the jail, with a real
//! three-way merge) and the freebsd-update with its update server.
//!
//! - update: fetch and install run apart; a release past its end of life updates,
//!   with the warning reported; nothing to install is said; the template and its
//!   etcupdate tree follow the base; jails rehash their certificates inside; a caller's
//!   odd environment (a fake freebsd-update first in PATH, UNAME_m) changes nothing;
//!   a fresh base is patched before the template is made.
//! - upgrade: the administrator's edits survive a three-way merge; a conflicting edit
//!   is reported (exit 3), blocks the next merge until resolved inside the jail; a
//!   jail's planted links never reach the host; a jail without a baseline is refused,
//!   bootstrapped, then upgraded.

use std::fs;
use std::path::Path;

use thinjail_testbed::fixtures::base::{release_rc_conf, CERTCTL_LOG};
use thinjail_testbed::harness::{patched_motd, Bed, UPDATE_CERT};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

fn applied() -> Bed {
    let bed = Bed::article(BIN, |_| {});
    bed.apply().expect_code(0);
    bed
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A file inside an xz tarball.
fn in_tarball(tarball: &Path, entry: &str) -> String {
    let output = std::process::Command::new("bsdtar")
        .arg("-xOf")
        .arg(tarball)
        .arg(entry)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn version(bed: &Bed, release: &str) -> String {
    read(&bed.jails_path(&format!("base/{release}-base/bin/freebsd-version")))
}

#[test]
fn update_patches_the_base_the_template_and_its_tree_and_rehashes_inside_the_jails() {
    let bed = applied();
    bed.publish_update("13.1-RELEASE", 4, false);
    let run = bed.command(&["update", "13.1-RELEASE"]);
    run.expect_code(0);
    // fetch and install, each its own command, with thinjail's configuration.
    let fetch = run.stdout.find("--not-running-from-cron fetch").unwrap();
    let install = run.stdout.find("--not-running-from-cron install").unwrap();
    assert!(fetch < install, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("-thin-base.conf --currently-running 13.1-RELEASE"),
        "{}",
        run.stdout
    );
    let config = read(
        &bed.recipe
            .host
            .cache_dir
            .join("freebsd-update/13.1-RELEASE-thin-base.conf"),
    );
    assert!(
        config.contains("\nIgnorePaths /etc /usr/home /usr/local /root /tmp /var\n"),
        "{config}"
    );
    assert!(config.contains("\nComponents world\n") && config.contains("\nBackupKernel no\n"));
    assert!(version(&bed, "13.1-RELEASE").contains("13.1-RELEASE-p4"));
    // Nothing written through the base's links into its (empty) skeleton.
    let skeleton = bed.jails_path("base/13.1-RELEASE-base/skeleton");
    assert_eq!(fs::read_dir(&skeleton).unwrap().count(), 0);

    // The template, its baseline and the release's tarball follow.
    let template = bed.jails_path("base/13.1-RELEASE-template");
    assert_eq!(
        read(&template.join("etc/motd.template")),
        patched_motd("13.1-RELEASE", 4)
    );
    assert_eq!(
        read(&template.join("var/db/etcupdate/current/etc/motd.template")),
        patched_motd("13.1-RELEASE", 4)
    );
    let tarball = bed.jails_path("base/13.1-RELEASE-base/usr/share/thinjail/etcupdate.txz");
    assert_eq!(
        in_tarball(&tarball, "./etc/motd.template"),
        patched_motd("13.1-RELEASE", 4)
    );
    let datasets = bed.datasets();
    assert!(datasets
        .iter()
        .any(|d| d.ends_with("13.1-RELEASE-template@gold")));
    assert!(
        datasets
            .iter()
            .any(|d| d.contains("13.1-RELEASE-template@pre-update-")),
        "{datasets:?}"
    );
    // An existing jail keeps its own /etc, and rehashed its trust store inside.
    let data = bed.jails_path("thinjail0/data");
    assert_eq!(
        read(&data.join("etc/motd.template")),
        "FreeBSD 13.1-RELEASE\n"
    );
    assert_eq!(read(&data.join(CERTCTL_LOG)), "certctl rehash\n");
    let cert = bed.in_jail("thinjail0", &["cat", "/etc/ssl/certs/ca-update.pem"]);
    cert.expect_code(0);
    assert_eq!(
        cert.stdout,
        read(&bed.jails_path(&format!("base/13.1-RELEASE-base/{UPDATE_CERT}")))
    );

    // A jail made now starts patched.
    let mut bed = bed;
    let mut second = bed.recipe.jails[0].clone();
    second.name = "thinjail1".into();
    second.ip4 = vec!["192.168.1.71".into()];
    bed.recipe.jails.push(second);
    bed.write_recipe();
    bed.apply().expect_code(0);
    assert_eq!(
        read(&bed.jails_path("thinjail1/data/etc/motd.template")),
        patched_motd("13.1-RELEASE", 4)
    );
    assert!(bed
        .jails_path("thinjail1/data/var/db/etcupdate/current/etc/motd.template")
        .is_file());

    // Rolled back, base and template are as before the update.
    bed.command(&["update", "13.1-RELEASE", "--rollback", "--yes"])
        .expect_code(0);
    assert!(version(&bed, "13.1-RELEASE").contains("\"13.1-RELEASE\""));
    assert_eq!(
        read(&template.join("etc/motd.template")),
        "FreeBSD 13.1-RELEASE\n"
    );
    let datasets = bed.datasets();
    assert!(datasets
        .iter()
        .any(|d| d.ends_with("13.1-RELEASE-template@gold")));
    assert!(
        !datasets.iter().any(|d| d.contains("pre-update-")),
        "{datasets:?}"
    );
}

#[test]
fn a_release_past_its_end_of_life_updates_and_says_so() {
    let bed = applied();
    bed.publish_update("13.1-RELEASE", 9, true);
    let run = bed.command(&["update", "13.1-RELEASE"]);
    run.expect_code(0);
    assert!(
        version(&bed, "13.1-RELEASE").contains("13.1-RELEASE-p9"),
        "installed after the EOL exit"
    );
    assert!(
        run.stderr
            .contains("thinjail: warning: 13.1-RELEASE has passed its end-of-life date"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("installed next"), "{}", run.stderr);

    // Nothing more to fetch: said, not failed. (Snapshot names carry the second.)
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again = bed.command(&["update", "13.1-RELEASE", "--no-restart"]);
    again.expect_code(0);
    assert!(
        again.stderr.contains("needs no updates"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("nothing to install"),
        "{}",
        again.stderr
    );
}

#[test]
fn update_ignores_the_callers_path_and_platform() {
    let bed = applied();
    bed.publish_update("13.1-RELEASE", 2, false);
    let fake = bed.dir.path().join("fake-bin");
    fs::create_dir_all(&fake).unwrap();
    let marker = bed.dir.path().join("fake-ran");
    fs::write(
        fake.join("freebsd-update"),
        format!("#!/bin/sh\necho \"$@\" > {}\nexit 0\n", marker.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(
        fake.join("freebsd-update"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        fake.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let recipe = bed.recipe_arg();
    let run = bed.thinjail_env(
        &["update", "13.1-RELEASE", "-r", &recipe],
        &[
            ("PATH", &path),
            ("UNAME_m", "i386"),
            ("UNAME_p", "i386"),
            ("UNAME_r", "9.3-RELEASE"),
            ("PAGER", "/nonexistent"),
        ],
    );
    run.expect_code(0);
    assert!(!marker.exists(), "the caller's freebsd-update ran");
    assert!(version(&bed, "13.1-RELEASE").contains("13.1-RELEASE-p2"));
}

#[test]
fn a_fresh_base_is_patched_before_the_template_is_made() {
    let bed = Bed::article(BIN, |recipe| recipe.releases[0].update_after_install = true);
    bed.publish_update("13.1-RELEASE", 3, true);
    let plan = bed.thinjail(&["plan", &bed.recipe_arg(), "--format", "text"]);
    plan.expect_code(0);
    let fetch = plan.stdout.find("freebsd-update fetch").unwrap();
    let snapshot = plan.stdout.find("-base@install").unwrap();
    let template = plan
        .stdout
        .find("13.1-RELEASE-template/.etc.thinjail-partial")
        .unwrap();
    assert!(fetch < snapshot && snapshot < template, "{}", plan.stdout);
    let run = bed.apply();
    run.expect_code(0);
    assert!(run.stderr.contains("end-of-life"), "{}", run.stderr);
    assert!(version(&bed, "13.1-RELEASE").contains("13.1-RELEASE-p3"));
    assert_eq!(
        read(&bed.jails_path("thinjail0/data/etc/motd.template")),
        patched_motd("13.1-RELEASE", 3),
        "the jail's own /etc starts patched"
    );
    assert_eq!(
        read(&bed.jails_path("thinjail0/data/var/db/etcupdate/current/etc/motd.template")),
        patched_motd("13.1-RELEASE", 3),
        "and so does its baseline"
    );
    let again = bed.apply();
    again.expect_code(0);
    assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);
}

/// The article's jail with `line` appended to its /etc/rc.conf (as its administrator
/// would), on a bed with 14.0-RELEASE installed too.
fn edited(first_line: Option<&str>, appended: &str) -> Bed {
    let bed = Bed::two_releases(BIN);
    let rc = bed.jails_path("thinjail0/data/etc/rc.conf");
    let mut text = read(&rc);
    if let Some(first) = first_line {
        text = text.replacen("# FreeBSD 13.1-RELEASE", first, 1);
    }
    text.push_str(appended);
    bed.in_jail(
        "thinjail0",
        &["sh", "-c", &format!("printf '%s' '{text}' > /etc/rc.conf")],
    )
    .expect_code(0);
    assert_eq!(read(&rc), text);
    bed
}

#[test]
fn upgrade_keeps_the_administrators_edits_through_a_three_way_merge() {
    let bed = edited(None, "sshd_enable=\"YES\"\n");
    let run = bed.command(&["upgrade", "thinjail0", "--to", "14.0-RELEASE", "--yes"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("Jail thinjail0 now runs 14.0-RELEASE"),
        "{}",
        run.stdout
    );
    let etc = bed.jails_path("thinjail0/data/etc");
    assert_eq!(
        read(&etc.join("rc.conf")),
        format!(
            "{}default_router=\"192.168.1.1\"\nsshd_enable=\"YES\"\n",
            release_rc_conf("14.0-RELEASE")
        ),
        "the release's change and both of the jail's own"
    );
    assert_eq!(read(&etc.join("motd.template")), "FreeBSD 14.0-RELEASE\n");
    assert!(!etc.join("release.d/13").exists(), "removed with 13.x");
    assert!(etc.join("release.d/14").is_file(), "added with 14.0");
    let data = bed.jails_path("thinjail0/data/var/db/etcupdate");
    assert!(
        data.join("current/etc/release.d/14").is_file(),
        "the new baseline"
    );
    assert!(
        data.join("old/etc/release.d/13").is_file(),
        "the old one kept"
    );
    assert_eq!(bed.jail_row("thinjail0")["state"], "running");
    assert_eq!(bed.jail_row("thinjail0")["release"], "14.0-RELEASE");
}

#[test]
fn a_conflicting_edit_is_reported_and_blocks_the_next_merge_until_resolved() {
    let bed = edited(Some("# my own header"), "");
    let run = bed.command(&["upgrade", "thinjail0", "--to", "14.0-RELEASE", "--yes"]);
    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(
        run.stdout.contains("\n  C /etc/rc.conf\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("jexec thinjail0 etcupdate resolve"),
        "{}",
        run.stdout
    );
    // Upgraded and running on the new base, its own rc.conf kept, the merge waiting.
    assert_eq!(bed.jail_row("thinjail0")["release"], "14.0-RELEASE");
    assert_eq!(bed.jail_row("thinjail0")["state"], "running");
    let data = bed.jails_path("thinjail0/data");
    assert!(read(&data.join("etc/rc.conf")).starts_with("# my own header\n"));
    let pending = read(&data.join("var/db/etcupdate/conflicts/etc/rc.conf"));
    assert!(
        pending.contains("<<<<<<< yours") && pending.contains("# FreeBSD 14.0-RELEASE"),
        "{pending}"
    );
    assert!(bed
        .datasets()
        .iter()
        .any(|d| d.contains("@upgraded-from-13.1-RELEASE-to-14.0-RELEASE-")));

    // etcupdate refuses to merge again ("Conflicts remain"): moving the jail back
    // fails and is undone.
    let back = bed.command(&["upgrade", "thinjail0", "--to", "13.1-RELEASE", "--yes"]);
    assert_eq!(back.code, Some(1), "{back:?}");
    assert!(
        back.stderr
            .contains("Conflicts remain from previous update"),
        "{}",
        back.stderr
    );
    assert_eq!(bed.jail_row("thinjail0")["release"], "14.0-RELEASE");

    // Resolved inside the jail ("tf": the release's version), the jail can move again
    // (--json reports it).
    bed.in_jail(
        "thinjail0",
        &["sh", "-c", "echo tf | /usr/sbin/etcupdate resolve"],
    )
    .expect_code(0);
    assert_eq!(
        read(&data.join("etc/rc.conf")),
        release_rc_conf("14.0-RELEASE")
    );
    let json = bed.command(&[
        "upgrade",
        "thinjail0",
        "--to",
        "13.1-RELEASE",
        "--yes",
        "--json",
    ]);
    json.expect_code(0);
    let report: serde_json::Value =
        serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("{e}: {}", json.stdout));
    assert_eq!(report["result"], "upgraded", "{report:#}");
    assert_eq!(report["from"], "14.0-RELEASE");
    assert_eq!(report["conflicts"], serde_json::json!([]));
}

#[test]
fn conflicts_in_json() {
    let bed = edited(Some("# mine"), "");
    let run = bed.command(&[
        "upgrade",
        "thinjail0",
        "--to",
        "14.0-RELEASE",
        "--yes",
        "--json",
    ]);
    assert_eq!(run.code, Some(3), "{run:?}");
    let report: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["result"], "conflicts");
    assert_eq!(report["conflicts"], serde_json::json!(["/etc/rc.conf"]));
    assert_eq!(report["resolve"], "jexec thinjail0 etcupdate resolve");
    assert!(report["snapshot"]
        .as_str()
        .unwrap()
        .contains("@upgraded-from-13.1-RELEASE-to-14.0-RELEASE-"));
}

#[test]
fn links_planted_by_the_jails_root_resolve_inside_the_jail() {
    let bed = Bed::two_releases(BIN);
    // Host files the jail's root would like thinjail to overwrite.
    let canaries: Vec<tempfile::NamedTempFile> = (0..3)
        .map(|_| {
            tempfile::Builder::new()
                .prefix("thinjail-canary-")
                .tempfile_in("/var/tmp")
                .unwrap()
        })
        .collect();
    for canary in &canaries {
        fs::write(canary.path(), "host file, not the jail's\n").unwrap();
    }
    let name = |i: usize| canaries[i].path().display().to_string();
    let plant = format!(
        "ln -sf {} /var/db/etcupdate/log && ln -sf {} /var/db/etcupdate/warnings && rm /etc/motd.template && ln -s {} /etc/motd.template",
        name(0),
        name(1),
        name(2)
    );
    bed.in_jail("thinjail0", &["sh", "-c", &plant])
        .expect_code(0);
    let run = bed.command(&["upgrade", "thinjail0", "--to", "14.0-RELEASE", "--yes"]);
    run.expect_code(0);
    for canary in &canaries {
        assert_eq!(
            read(canary.path()),
            "host file, not the jail's\n",
            "{}",
            canary.path().display()
        );
    }
    // The links were followed where they lead inside the jail: its own /var/tmp.
    let inside = bed.jails_path(&format!("thinjail0/data{}", name(0)));
    assert!(
        read(&inside).contains(">>> update command"),
        "{}",
        inside.display()
    );
    assert!(
        run.stderr.contains("Modified mismatch: /etc/motd.template"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_jail_without_a_baseline_is_refused_bootstrapped_then_upgraded() {
    let bed = Bed::two_releases(BIN);
    // Made the old way: no baseline in the jail, none in the template, no tarball in
    // the base of its release.
    fs::remove_dir_all(bed.jails_path("thinjail0/data/var/db/etcupdate")).unwrap();
    fs::remove_dir_all(bed.jails_path("base/13.1-RELEASE-template/var/db/etcupdate")).unwrap();
    fs::remove_file(bed.jails_path("base/13.1-RELEASE-base/usr/share/thinjail/etcupdate.txz"))
        .unwrap();
    let fstab = read(&bed.jails_path("thinjail0/fstab"));
    let datasets = bed.datasets();

    let refused = bed.command(&["upgrade", "thinjail0", "--to", "14.0-RELEASE", "--yes"]);
    assert_eq!(refused.code, Some(78), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("thinjail upgrade thinjail0 --bootstrap-baseline"),
        "{}",
        refused.stderr
    );
    assert_eq!(read(&bed.jails_path("thinjail0/fstab")), fstab);
    assert_eq!(bed.datasets(), datasets, "nothing changed");

    let early = bed.command(&["upgrade", "thinjail0", "--bootstrap-baseline", "--yes"]);
    assert_eq!(early.code, Some(78), "{early:?}");
    assert!(early.stderr.contains("thinjail apply"), "{}", early.stderr);

    // apply builds 13.1's tree from its @install snapshot, then the jail records it.
    let apply = bed.apply();
    apply.expect_code(0);
    assert!(apply.stdout.contains("@install"), "{}", apply.stdout);
    assert!(bed
        .jails_path("base/13.1-RELEASE-base/usr/share/thinjail/etcupdate.txz")
        .is_file());
    assert!(
        !bed.datasets().iter().any(|d| d.contains("etcupdate")),
        "the clone is gone"
    );
    let boot = bed.command(&["upgrade", "thinjail0", "--bootstrap-baseline", "--yes"]);
    boot.expect_code(0);
    assert!(
        boot.stdout
            .contains("jexec -l thinjail0 /usr/sbin/etcupdate extract"),
        "{}",
        boot.stdout
    );
    assert!(bed
        .jails_path("thinjail0/data/var/db/etcupdate/current/etc/rc.conf")
        .is_file());
    let again = bed.command(&["upgrade", "thinjail0", "--bootstrap-baseline", "--yes"]);
    again.expect_code(0);
    assert!(
        again.stdout.contains("already has its etcupdate baseline"),
        "{}",
        again.stdout
    );

    bed.command(&["upgrade", "thinjail0", "--to", "14.0-RELEASE", "--yes"])
        .expect_code(0);
    assert_eq!(
        read(&bed.jails_path("thinjail0/data/etc/motd.template")),
        "FreeBSD 14.0-RELEASE\n"
    );
}
