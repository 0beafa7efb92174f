//! `thinjail apply` of the article's recipe on the Linux test bed: real ZFS
//! (zfs-fuse), real bind mounts, a real chroot — and the article's own checks.

use std::collections::BTreeSet;
use std::fs;

use thinjail_testbed::fixtures::base::{write_corrupted_copy, CERT_TARGET, RC_BOOT_LINE, RC_LOG};
use thinjail_testbed::fixtures::http::release_dir;
use thinjail_testbed::harness::{is_mounted, Bed};
use thinjail_testbed::testbed::Faults;

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn apply_builds_the_articles_layout_and_the_jail_works() {
    let bed = Bed::article(BIN, |_| {});
    let run = bed.apply();
    run.expect_code(0);
    assert!(run.stdout.contains("Applied "), "{}", run.stdout);

    // zfs list -t all: exactly the article's datasets and snapshots.
    assert_eq!(
        bed.datasets(),
        names(&[
            "jails",
            "jails/.mountpoints",
            "jails/base",
            "jails/base/13.1-RELEASE-base",
            "jails/base/13.1-RELEASE-base@gold",
            "jails/base/13.1-RELEASE-base@install",
            "jails/base/13.1-RELEASE-template",
            "jails/base/13.1-RELEASE-template@gold",
            "jails/thinjail0",
            "jails/thinjail0/data",
            "jails/thinjail0/data@gold",
        ])
    );

    // The template holds the jail-specific paths; the base links them into the skeleton.
    let base = bed.jails_path("base/13.1-RELEASE-base");
    let template = bed.jails_path("base/13.1-RELEASE-template");
    for (specific, target) in [
        ("etc", "./skeleton/etc"),
        ("usr/home", "../skeleton/usr/home"),
        ("usr/local", "../skeleton/usr/local"),
        ("root", "./skeleton/root"),
        ("tmp", "./skeleton/tmp"),
        ("var", "./skeleton/var"),
    ] {
        assert!(template.join(specific).is_dir(), "template/{specific}");
        let link =
            fs::read_link(base.join(specific)).unwrap_or_else(|e| panic!("base/{specific}: {e}"));
        assert_eq!(link.to_str(), Some(target));
    }
    assert!(base.join("skeleton").is_dir());
    assert!(base.join("bin/sh").exists() && !template.join("bin").exists());
    assert_eq!(
        fs::read_dir(base.join("skeleton")).unwrap().count(),
        0,
        "the base's skeleton is empty"
    );
    let template_rc = fs::read_to_string(template.join("etc/rc.conf")).unwrap();
    assert!(
        template_rc.contains("default_router=\"192.168.1.1\"\n"),
        "{template_rc}"
    );
    assert!(!template.read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("partial")));

    // Inside the running jail, the skeleton links resolve (the data is mounted on them).
    let root = bed.jails_path(".mountpoints/thinjail0");
    assert!(
        is_mounted(&root) && is_mounted(&root.join("skeleton")) && is_mounted(&root.join("dev"))
    );
    for specific in ["etc", "usr/home", "usr/local", "root", "tmp", "var"] {
        assert!(
            root.join(specific).is_dir(),
            "{specific} does not resolve in the jail"
        );
    }
    // The relinked certificate resolves from the jail's root (the article's defect, fixed).
    let cert = bed.in_jail("thinjail0", &["cat", "/etc/ssl/certs/ca-test.pem"]);
    cert.expect_code(0);
    assert!(cert.stdout.contains("thinjail test CA"), "{cert:?}");
    assert!(bed
        .jails_path(&format!("base/13.1-RELEASE-base/{CERT_TARGET}"))
        .exists());
    // exec.start ran /etc/rc in the jail, writing into the jail's own var.
    let rc_log = fs::read_to_string(
        bed.jails_path("thinjail0/data/var")
            .join(RC_LOG.trim_start_matches("var/")),
    )
    .unwrap();
    assert!(rc_log.contains(RC_BOOT_LINE));

    // fstab: the article's two lines.
    let fstab = fs::read_to_string(bed.jails_path("thinjail0/fstab")).unwrap();
    let jails = bed.recipe.host.jails_dir.display().to_string();
    assert_eq!(
        fstab,
        format!(
            "{jails}/base/13.1-RELEASE-base  {jails}/.mountpoints/thinjail0  nullfs  ro  0   0\n\
             {jails}/thinjail0/data  {jails}/.mountpoints/thinjail0/skeleton  nullfs  rw  0   0\n"
        )
    );
    // The jail's own jail.conf file: the article's settings in its block, under a
    // header saying whose it is; rc.conf: jail_list and jail_enable, with what they
    // were recorded. The administrator's jail.conf is not created.
    assert!(!bed.recipe.host.jail_conf.exists());
    let jail_conf =
        fs::read_to_string(bed.recipe.host.jail_conf_dir.join("thinjail0.conf")).unwrap();
    assert!(
        jail_conf.contains(&format!(
            "\n# thinjail:managed={}\nthinjail0 {{\n",
            bed.recipe.host.jails_dataset
        )),
        "{jail_conf}"
    );
    for setting in [
        "thinjail0 {",
        "host.hostname = \"thinjail0\";",
        &format!("path = \"{jails}/.mountpoints/thinjail0\";"),
        &format!("mount.fstab = \"{jails}/thinjail0/fstab\";"),
        "exec.start = \"/bin/sh /etc/rc\";",
        "exec.stop = \"/bin/sh /etc/rc.shutdown\";",
        "exec.clean;",
        "mount.devfs;",
        "interface = \"em0\";",
        "allow.raw_sockets;",
        "ip4.addr = \"192.168.1.70\";",
    ] {
        assert!(
            jail_conf.contains(setting),
            "{setting:?} missing from:\n{jail_conf}"
        );
    }
    assert_eq!(
        fs::read_to_string(&bed.recipe.host.rc_conf).unwrap(),
        "jail_list=\"thinjail0\" # thinjail: was unset\njail_enable=\"YES\" # thinjail: was unset\n"
    );

    // The article's "Review the final jail".
    let read_only = bed.in_jail("thinjail0", &["touch", "/usr/bin/my_new_file"]);
    assert_ne!(read_only.code, Some(0));
    assert!(
        read_only.stderr.contains("Read-only file system"),
        "{read_only:?}"
    );
    bed.in_jail("thinjail0", &["touch", "/etc/my_new_file"])
        .expect_code(0);
    assert!(
        bed.jails_path("thinjail0/data/etc/my_new_file").is_file(),
        "the file lands in the jail's own dataset"
    );
    assert!(!template.join("etc/my_new_file").exists() && !base.join("skeleton/etc").exists());

    // A second apply runs no command and plan has nothing to do.
    bed.apply().expect_nothing_to_do();
    let plan = bed.thinjail(&[
        "plan",
        bed.recipe_path().to_str().unwrap(),
        "--format",
        "text",
    ]);
    plan.expect_code(0);
    assert!(plan.stdout.starts_with("Nothing to do"), "{}", plan.stdout);
    let json = bed.thinjail(&[
        "apply",
        bed.recipe_path().to_str().unwrap(),
        "--yes",
        "--json",
    ]);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["changed"], false);
    assert_eq!(value["applied"].as_array().map(Vec::len), Some(0));
    // Observation only: one zfs get (the mount table and jails are read, not run).
    assert_eq!(value["commands"], 1, "{}", json.stdout);
    // The cached set was downloaded once.
    assert_eq!(
        bed.server
            .downloads_of("/releases/amd64/amd64/13.1-RELEASE/base.txz"),
        1
    );
}

#[test]
fn a_stray_marker_in_jail_conf_stops_apply_before_anything_changes() {
    let bed = Bed::article(BIN, |_| {});
    // Without its END, the next apply used to replace everything from this line to
    // our real end marker, the administrator's jails in between.
    let admin =
        "# BEGIN thinjail jail thinjail0\nwww {\n    path = \"/usr/jails/www\";\n    persist;\n}\n";
    fs::write(&bed.recipe.host.jail_conf, admin).unwrap();
    let rc_before = fs::read(&bed.recipe.host.rc_conf).ok();
    let run = bed.apply();
    run.expect_code(78);
    let conf = bed.recipe.host.jail_conf.display().to_string();
    assert!(
        run.stderr.contains(&format!("{conf}: line 1: ")),
        "{}",
        run.stderr
    );
    assert_eq!(
        fs::read_to_string(&bed.recipe.host.jail_conf).unwrap(),
        admin
    );
    assert_eq!(
        fs::read(&bed.recipe.host.rc_conf).ok(),
        rc_before,
        "nothing else ran either"
    );
}

#[test]
fn the_administrators_own_files_are_kept_byte_for_byte() {
    let bed = Bed::article(BIN, |_| {});
    let admin_jails =
        "# my jails\nexec.clean;\n\nwww {\n    path = \"/usr/jails/www\";\n    persist;\n}\n";
    let admin_rc = "hostname=\"host.example.org\"\nsshd_enable=\"YES\" # keep this comment\njail_enable=\"NO\" # and this one\nzfs_enable=\"YES\"";
    fs::write(&bed.recipe.host.jail_conf, admin_jails).unwrap();
    fs::write(&bed.recipe.host.rc_conf, admin_rc).unwrap();
    bed.apply().expect_code(0);
    // The administrator's jail.conf is not written at all: the jail has a file of
    // its own.
    let jail_conf = fs::read_to_string(&bed.recipe.host.jail_conf).unwrap();
    assert_eq!(jail_conf, admin_jails);
    assert!(bed
        .recipe
        .host
        .jail_conf_dir
        .join("thinjail0.conf")
        .is_file());
    // rc.conf: the administrator's lines and comments kept; jail_enable was off (www
    // did not boot), so jail_list names thinjail's jail only, and both lines record
    // what they replace.
    let rc_conf = fs::read_to_string(&bed.recipe.host.rc_conf).unwrap();
    assert_eq!(
        rc_conf,
        "hostname=\"host.example.org\"\nsshd_enable=\"YES\" # keep this comment\njail_enable=\"YES\" # and this one # thinjail: was=\"NO\"\nzfs_enable=\"YES\"\njail_list=\"thinjail0\" # thinjail: was unset\n"
    );
    // Running again changes neither file.
    bed.apply().expect_code(0);
    assert_eq!(
        fs::read_to_string(&bed.recipe.host.jail_conf).unwrap(),
        jail_conf
    );
    assert_eq!(
        fs::read_to_string(&bed.recipe.host.rc_conf).unwrap(),
        rc_conf
    );
}

#[test]
fn two_jails_share_one_base_and_each_holds_only_the_templates_size() {
    let bed = Bed::article(BIN, |recipe| {
        let mut second = recipe.jails[0].clone();
        second.name = "thinjail1".into();
        second.ip4 = vec!["192.168.1.71".into()];
        recipe.jails.push(second);
    });
    bed.apply().expect_code(0);
    let datasets = bed.datasets();
    assert_eq!(
        datasets.iter().filter(|d| d.ends_with("-base")).count(),
        1,
        "{datasets:?}"
    );
    let jails = bed.recipe.host.jails_dir.display().to_string();
    for jail in ["thinjail0", "thinjail1"] {
        let fstab = fs::read_to_string(bed.jails_path(&format!("{jail}/fstab"))).unwrap();
        assert!(
            fstab.starts_with(&format!("{jails}/base/13.1-RELEASE-base  ")),
            "{fstab}"
        );
    }
    // Observing the host costs one command (zfs get) whatever the number of jails.
    let again = bed.thinjail(&[
        "apply",
        bed.recipe_path().to_str().unwrap(),
        "--yes",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(
        (report["changed"].clone(), report["commands"].clone()),
        (false.into(), 1.into()),
        "{}",
        again.stdout
    );
    let base = bed.used("jails/base/13.1-RELEASE-base");
    let template = bed.used("jails/base/13.1-RELEASE-template");
    for jail in ["thinjail0", "thinjail1"] {
        let data = bed.used(&format!("jails/{jail}/data"));
        eprintln!("{jail}: data {data} bytes; template {template}; base {base}");
        assert!(
            data <= template + template / 2 + 256 * 1024,
            "{jail}: {data} vs template {template}"
        );
        assert!(
            data < base,
            "{jail}: the data ({data}) is smaller than the base ({base})"
        );
    }
}

#[test]
fn a_corrupted_download_fails_before_extraction_and_leaves_the_base_empty() {
    let bed = Bed::article(BIN, |_| {});
    let sets = release_dir(&bed.dir.path().join("mirror"), "13.1-RELEASE");
    write_corrupted_copy(&bed.base_set, &sets).unwrap();
    let run = bed.apply();
    run.expect_code(1);
    assert!(run.stderr.contains("checksum mismatch"), "{}", run.stderr);
    assert!(
        run.stderr.contains("nothing was extracted"),
        "{}",
        run.stderr
    );
    let base = bed.jails_path("base/13.1-RELEASE-base");
    assert_eq!(
        fs::read_dir(&base).unwrap().count(),
        0,
        "the base must stay empty"
    );
    assert!(
        !bed.dir
            .path()
            .join("cache/13.1-RELEASE-amd64/base.txz")
            .exists(),
        "the bad set was deleted"
    );
    assert!(!bed
        .datasets()
        .contains("jails/base/13.1-RELEASE-base@install"));
}

/// The bed's recipe with its loopback (plain http) mirror and `insecure`/`pin` set.
fn with_mirror_trust(bed: &Bed, insecure: bool, pin: Option<String>) -> thinjail_core::Recipe {
    let mut recipe = bed.recipe.clone();
    recipe.releases[0].install = thinjail_core::recipe::Install::Fetch {
        mirror: Some(format!("{}/releases", bed.server.url())),
        sets: vec!["base.txz".into()],
        insecure,
        manifest_sha256: pin,
    };
    recipe
}

#[test]
fn a_plain_http_mirror_is_refused_unless_the_recipe_accepts_it_or_pins_the_manifest() {
    let bed = Bed::article(BIN, |_| {});
    // The harness's recipe says `insecure: true`; the same recipe without it is refused
    // before anything runs.
    fs::write(
        bed.recipe_path(),
        with_mirror_trust(&bed, false, None).to_ron(),
    )
    .unwrap();
    let recipe = bed.recipe_arg();
    for args in [
        vec!["check", recipe.as_str()],
        vec!["plan", recipe.as_str()],
        vec!["apply", recipe.as_str(), "--yes"],
    ] {
        let command = args[0];
        let run = bed.thinjail(&args);
        run.expect_code(65);
        assert!(
            run.stderr.contains("releases[0].install.mirror")
                && run.stderr.contains("insecure: true"),
            "{command}: {}",
            run.stderr
        );
    }
    assert!(bed.server.requests().is_empty(), "nothing was downloaded");
    assert!(bed.datasets().is_empty(), "nothing was created");
}

#[test]
fn a_wrong_manifest_pin_stops_the_install_before_any_set_is_downloaded() {
    let bed = Bed::article(BIN, |_| {});
    let manifest = release_dir(&bed.dir.path().join("mirror"), "13.1-RELEASE").join("MANIFEST");
    let good = thinjail_core::host::sha256_file(&manifest).unwrap();
    let wrong = "0".repeat(64);
    fs::write(
        bed.recipe_path(),
        with_mirror_trust(&bed, false, Some(wrong.clone())).to_ron(),
    )
    .unwrap();
    bed.thinjail(&["check", &bed.recipe_arg()]).expect_code(0);
    let run = bed.apply();
    run.expect_code(1);
    assert!(
        run.stderr.contains("SHA-256 mismatch") && run.stderr.contains(&wrong),
        "{}",
        run.stderr
    );
    assert!(
        !bed.dir
            .path()
            .join("cache/13.1-RELEASE-amd64/MANIFEST")
            .exists(),
        "the MANIFEST that failed its pin was deleted"
    );
    assert_eq!(
        bed.server
            .downloads_of("/releases/amd64/amd64/13.1-RELEASE/base.txz"),
        0,
        "no set is downloaded on the word of an unverified MANIFEST"
    );
    let base = bed.jails_path("base/13.1-RELEASE-base");
    assert_eq!(fs::read_dir(&base).unwrap().count(), 0, "nothing extracted");

    // With the right pin (in capitals, as some tools print it) the install goes through.
    fs::write(
        bed.recipe_path(),
        with_mirror_trust(&bed, false, Some(good.to_ascii_uppercase())).to_ron(),
    )
    .unwrap();
    bed.apply().expect_code(0);
    assert!(bed
        .datasets()
        .contains("jails/base/13.1-RELEASE-base@install"));
}

#[test]
fn a_failing_command_stops_apply_and_the_next_apply_finishes() {
    let bed = Bed::article(BIN, |_| {});
    let recipe = bed.recipe_path();
    let run = bed.thinjail_with(
        &["apply", recipe.to_str().unwrap(), "--yes"],
        Faults::fail_at(12),
    );
    run.expect_code(1);
    assert!(run.stderr.contains("command: sh -c"), "{}", run.stderr);
    assert!(
        run.stderr.contains("status:  exit status 3"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("injected failure"), "{}", run.stderr);
    assert!(
        run.stderr.contains("11 actions completed before it"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Not run ("), "{}", run.stderr);
    bed.apply().expect_code(0);
    assert!(bed.datasets().contains("jails/thinjail0/data@gold"));
    bed.apply()
        .expect_code(0)
        .stdout
        .starts_with("Nothing to do")
        .then_some(())
        .expect("idempotent after recovery");
}

#[test]
fn extra_sets_are_all_verified_before_any_is_extracted() {
    let bed = Bed::article(BIN, |_| {});
    // The mirror also serves lib32.txz, and the recipe asks for it.
    let sets = release_dir(&bed.dir.path().join("mirror"), "13.1-RELEASE");
    let lib32 = thinjail_testbed::fixtures::base::build_extra_set(&sets, "lib32").unwrap();
    thinjail_testbed::fixtures::base::write_manifest(&sets, &[bed.base_set.clone(), lib32.clone()])
        .unwrap();
    let mut recipe = bed.recipe.clone();
    recipe.releases[0].install = thinjail_core::recipe::Install::Fetch {
        mirror: Some(format!("{}/releases", bed.server.url())),
        sets: vec!["base.txz".into(), "lib32.txz".into()],
        insecure: true,
        manifest_sha256: None,
    };
    fs::write(bed.recipe_path(), recipe.to_ron()).unwrap();

    // A corrupted lib32 stops the install before base.txz is extracted.
    write_corrupted_copy(&lib32, &sets).unwrap();
    let run = bed.apply();
    run.expect_code(1);
    assert!(run.stderr.contains("lib32.txz"), "{}", run.stderr);
    let base = bed.jails_path("base/13.1-RELEASE-base");
    assert_eq!(fs::read_dir(&base).unwrap().count(), 0, "nothing extracted");
    assert!(
        bed.dir
            .path()
            .join("cache/13.1-RELEASE-amd64/base.txz")
            .exists(),
        "the good set stays cached"
    );

    // With a good lib32 the next apply downloads only lib32 and installs both.
    let good = thinjail_testbed::fixtures::base::build_extra_set(&sets, "lib32").unwrap();
    thinjail_testbed::fixtures::base::write_manifest(&sets, &[bed.base_set.clone(), good]).unwrap();
    bed.apply().expect_code(0);
    assert!(base.join("usr/lib32/README").exists());
    assert_eq!(
        bed.server
            .downloads_of("/releases/amd64/amd64/13.1-RELEASE/base.txz"),
        1,
        "the cached base.txz is reused"
    );
}

#[test]
fn a_local_archive_is_verified_and_never_deleted() {
    let bed = Bed::article(BIN, |_| {});
    let sets = release_dir(&bed.dir.path().join("mirror"), "13.1-RELEASE");
    let archive = sets.join("base.txz");
    let manifest = sets.join("MANIFEST");
    let mut recipe = bed.recipe.clone();
    recipe.releases[0].install = thinjail_core::recipe::Install::Archive {
        path: archive.clone(),
        manifest: Some(manifest),
    };
    fs::write(bed.recipe_path(), recipe.to_ron()).unwrap();
    let original = fs::read(&archive).unwrap();
    write_corrupted_copy(&bed.base_set, &sets).unwrap();
    let run = bed.apply();
    run.expect_code(1);
    assert!(run.stderr.contains("checksum mismatch"), "{}", run.stderr);
    assert!(archive.exists(), "the administrator's archive is kept");
    fs::write(&archive, original).unwrap();
    bed.apply().expect_code(0);
    assert!(bed
        .jails_path("base/13.1-RELEASE-template/etc/rc.conf")
        .exists());
    assert!(bed.server.requests().is_empty(), "nothing was downloaded");
}

#[test]
fn apply_refuses_to_run_without_root_before_anything_runs() {
    let bed = Bed::article(BIN, |_| {});
    let output = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "apply",
            &bed.recipe_arg(),
            "--yes",
        ])
        .env("THINJAIL_TESTBED_STATE", bed.state_dir())
        .output()
        .expect("setpriv runs");
    assert_eq!(
        output.status.code(),
        Some(77),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("must run as root"));
    assert!(bed.datasets().is_empty(), "nothing was created");
}
