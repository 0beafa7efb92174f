//! A fresh jail as FreeBSD's base.txz leaves it, on the test bed: `Bsdinstall`
//! installs that run only on sets verified first.

use thinjail_core::recipe::Install;
use thinjail_tests::fixtures::base::write_corrupted_copy;
use thinjail_tests::fixtures::http::release_dir;
use thinjail_tests::harness::Bed;

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

fn bsdinstall_bed() -> Bed {
    Bed::article(BIN, |recipe| {
        let Install::Fetch { mirror, sets } = recipe.releases[0].install.clone() else {
            panic!("the bed fetches");
        };
        recipe.releases[0].install = Install::Bsdinstall { mirror, sets };
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
