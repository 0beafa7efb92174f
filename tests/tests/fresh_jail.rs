//! A fresh jail as FreeBSD's base.txz leaves it, on the test bed: what it lacks and
//! thinjail supplies (`/etc/resolv.conf` and `/etc/localtime` in the template, a
//! `/home` that `pw useradd -m` can use on a 14+ layout), the `schg` files it carries
//! into the template and every jail, and `Bsdinstall` installs that run only on sets
//! verified first.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use thinjail_core::recipe::{Install, TemplateFile};
use thinjail_testbed::fixtures::base::{write_corrupted_copy, SCHG_PATHS};
use thinjail_testbed::fixtures::http::release_dir;
use thinjail_testbed::harness::{Bed, Run};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");
const NAMESERVER: &str = "nameserver 192.0.2.53\n";

fn exec(bed: &Bed, argv: &[&str]) -> Run {
    let recipe = bed.recipe_arg();
    let mut args = vec!["exec", "-r", recipe.as_str(), "thinjail0", "--"];
    args.extend(argv);
    bed.thinjail(&args)
}

fn install_hello(bed: &Bed) -> Run {
    exec(
        bed,
        &[
            "env",
            "ASSUME_ALWAYS_YES=yes",
            "pkg",
            "install",
            "-y",
            "hello",
        ],
    )
}

/// pkg in a fresh jail resolves names with the resolv.conf the recipe gives, which
/// the plan shows before `@gold`.
#[test]
fn pkg_in_a_fresh_jail_finds_the_configured_resolv_conf() {
    let bed = Bed::article(BIN, |recipe| {
        recipe.template.files = BTreeMap::from([(
            "etc/resolv.conf".to_string(),
            TemplateFile::Contents(NAMESERVER.into()),
        )]);
    });
    let plan = bed.thinjail(&["plan", &bed.recipe_arg(), "--format", "text"]);
    plan.expect_code(0);
    let shown = plan
        .stdout
        .find("+ nameserver 192.0.2.53")
        .expect("the plan shows the file");
    let gold = plan.stdout.find("-template@gold").expect("template @gold");
    assert!(shown < gold, "{}", plan.stdout);
    assert!(
        plan.stdout.contains("bsdinstall's jail script"),
        "{}",
        plan.stdout
    );

    bed.apply().expect_code(0);
    for resolv in [
        "base/13.1-RELEASE-template/etc/resolv.conf",
        "thinjail0/data/etc/resolv.conf",
    ] {
        assert_eq!(
            fs::read_to_string(bed.jails_path(resolv)).unwrap(),
            NAMESERVER
        );
    }
    let pkg = install_hello(&bed);
    pkg.expect_code(0);
    assert!(
        pkg.stdout
            .contains("resolving pkg.FreeBSD.org with nameserver 192.0.2.53"),
        "{pkg:?}"
    );
}

/// By default the template gets the host's `/etc/resolv.conf` and `/etc/localtime`,
/// as bsdinstall's jail script copies them (a link is followed, as its `cp` does).
#[test]
fn the_template_copies_the_hosts_resolv_conf_and_localtime_by_default() {
    let host_resolv = fs::read("/etc/resolv.conf").expect("the test host has /etc/resolv.conf");
    let host_localtime = fs::read("/etc/localtime").expect("the test host has /etc/localtime");
    let bed = Bed::article(BIN, |_| {});
    bed.apply().expect_code(0);
    let data = bed.jails_path("thinjail0/data");
    assert_eq!(fs::read(data.join("etc/resolv.conf")).unwrap(), host_resolv);
    let localtime = data.join("etc/localtime");
    assert!(
        fs::symlink_metadata(&localtime).unwrap().is_file(),
        "copied as a file, not as the host's link"
    );
    assert_eq!(fs::read(&localtime).unwrap(), host_localtime);
    install_hello(&bed).expect_code(0);
}

/// `files: {}` writes nothing: the jail is as base.txz leaves it, and pkg cannot
/// resolve names — what FreeBSD does, and what every jail got before.
#[test]
fn without_resolv_conf_pkg_cannot_resolve_names() {
    let bed = Bed::article(BIN, |recipe| recipe.template.files.clear());
    bed.apply().expect_code(0);
    assert!(!bed.jails_path("thinjail0/data/etc/resolv.conf").exists());
    let pkg = install_hello(&bed);
    assert_eq!(pkg.code, Some(1), "{pkg:?}");
    assert!(pkg.stderr.contains("No address record"), "{pkg:?}");
}

/// On a 14+ layout (base.txz without /home, a pw without the /usr/home fallback),
/// `pw useradd -m` inside a jail works and the home lands in the jail's own dataset.
#[test]
fn pw_useradd_puts_the_home_in_the_jails_own_dataset_on_a_14_layout() {
    let mut bed = Bed::article(BIN, |_| {});
    let release = "14.3-RELEASE";
    bed.publish_release(release);
    bed.recipe.releases[0].name = release.into();
    bed.recipe.jails[0].release = release.into();
    bed.write_recipe();
    bed.apply().expect_code(0);

    // Without a usable /home this fails as FreeBSD's pw does: "pw: 'home' (root
    // home parent) is not a directory: Read-only file system", exit 72.
    let useradd = exec(&bed, &["pw", "useradd", "alice", "-m"]);
    useradd.expect_code(0);
    assert!(useradd.stderr.is_empty(), "{useradd:?}");
    let base = bed.jails_path(&format!("base/{release}-base"));
    assert_eq!(
        fs::read_link(base.join("home")).unwrap(),
        Path::new("usr/home")
    );
    let home = bed.jails_path("thinjail0/data/usr/home/alice");
    let metadata = fs::metadata(&home).expect("the home is in the jail's data");
    assert!(metadata.is_dir());
    assert_eq!((metadata.uid(), metadata.gid()), (1000, 1000));
    let passwd = fs::read_to_string(bed.jails_path("thinjail0/data/etc/passwd")).unwrap();
    assert!(
        passwd.contains("alice:*:1000:1000:User &:/home/alice:/bin/sh"),
        "{passwd}"
    );
    exec(&bed, &["test", "-d", "/home/alice"]).expect_code(0);
    // The base itself is untouched.
    assert!(
        !base.join("usr/home").exists()
            || fs::symlink_metadata(base.join("usr/home"))
                .unwrap()
                .is_symlink()
    );
    assert!(!bed
        .jails_path("base/14.3-RELEASE-template/usr/home/alice")
        .exists());
}

/// `schg` comes with base.txz and stays where FreeBSD keeps it: on the base's
/// programs, on `var/empty` in the template (cp -p) and in every jail (send |
/// receive); the base's own `var` is gone (flags cleared first).
#[test]
fn var_empty_is_schg_in_the_template_and_in_every_jail() {
    let mut bed = Bed::article(BIN, |_| {});
    let mut second = bed.recipe.jails[0].clone();
    second.name = "thinjail1".into();
    second.ip4 = vec!["192.168.1.71".into()];
    bed.recipe.jails.push(second);
    bed.write_recipe();
    bed.apply().expect_code(0);
    let base = bed.jails_path("base/13.1-RELEASE-base");
    for (path, _) in SCHG_PATHS.iter().filter(|(p, _)| !p.starts_with("var/")) {
        assert!(bed.flags(&base.join(path)).is_schg(), "{path}");
    }
    assert!(
        fs::read_link(base.join("var")).is_ok(),
        "the base's var is a link now"
    );
    for root in [
        "base/13.1-RELEASE-template",
        "thinjail0/data",
        "thinjail1/data",
    ] {
        let empty = bed.jails_path(root).join("var/empty");
        assert_eq!(bed.flags(&empty).to_string(), "schg", "{}", empty.display());
        assert_eq!(
            bed.flags(&bed.jails_path(root).join("var/log")).to_string(),
            ""
        );
    }
}

fn bsdinstall_bed() -> Bed {
    Bed::article(BIN, |recipe| {
        let Install::Fetch {
            mirror,
            sets,
            insecure,
            ..
        } = recipe.releases[0].install.clone()
        else {
            panic!("the bed fetches");
        };
        recipe.releases[0].install = Install::Bsdinstall {
            mirror,
            sets,
            insecure,
            manifest_sha256: None,
        };
    })
}

/// bsdinstall gets only sets verified against MANIFEST, in its DISTDIR, and no
/// mirror; the test bed then refuses to run bsdinstall itself.
#[test]
fn bsdinstall_runs_only_on_sets_verified_first() {
    let bed = bsdinstall_bed();
    let plan = bed.thinjail(&["plan", &bed.recipe_arg(), "--format", "sh"]);
    plan.expect_code(0);
    let line = plan
        .stdout
        .lines()
        .find(|l| l.contains("bsdinstall jail"))
        .expect("bsdinstall in the plan");
    assert!(!line.contains("BSDINSTALL_DISTSITE"), "{line}");
    let verify = plan.stdout.find("\nthinjail_verify ").expect("verified");
    assert!(verify < plan.stdout.find(line).unwrap());

    let run = bed.apply();
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("cannot run bsdinstall jail"),
        "{}",
        run.stderr
    );
    let cache = bed.recipe.host.cache_dir.join("13.1-RELEASE-amd64");
    assert_eq!(
        thinjail_core::host::sha256_file(&cache.join("base.txz")).unwrap(),
        bed.base_set.sha256
    );
    assert!(cache.join("MANIFEST").is_file());
    assert!(!bed.jails_path("base/13.1-RELEASE-base/bin").exists());
}

/// A set that does not match MANIFEST stops the install before bsdinstall runs, and
/// the bad download is gone.
#[test]
fn a_corrupted_set_stops_bsdinstall_before_it_runs() {
    let bed = bsdinstall_bed();
    let sets = release_dir(&bed.dir.path().join("mirror"), "13.1-RELEASE");
    write_corrupted_copy(&bed.base_set, &sets).expect("corrupt base.txz on the mirror");
    let run = bed.apply();
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("checksum mismatch"), "{}", run.stderr);
    assert!(
        run.stderr.contains("install: verify SHA-256")
            || run.stderr.contains("stage install: verify SHA-256"),
        "{}",
        run.stderr
    );
    // bsdinstall is listed as not run, and never reached.
    assert!(
        !run.stderr.contains("cannot run bsdinstall"),
        "{}",
        run.stderr
    );
    let cache = bed.recipe.host.cache_dir.join("13.1-RELEASE-amd64");
    assert!(!cache.join("base.txz").exists());
    assert!(!bed.jails_path("base/13.1-RELEASE-base/bin").exists());
}
