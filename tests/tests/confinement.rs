//! Confinement checked on the host itself, on the Linux test bed: a symbolic link
//! planted below the jails directory, where a planned action would go through it,
//! is refused just before that action runs, and what the link points at is left
//! exactly as it was.

use std::fs;

use thinjail_testbed::harness::Bed;
use thinjail_testbed::testbed::Faults;

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

/// 1-based position, in the plan `apply` would run now, of the first action for
/// which `matches` holds.
fn position_in_plan(bed: &Bed, matches: impl Fn(&serde_json::Value) -> bool) -> usize {
    let run = bed.thinjail(&["plan", &bed.recipe_arg(), "--json"]);
    run.expect_code(0);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let actions: Vec<&serde_json::Value> = plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|stage| stage["actions"].as_array().unwrap().iter())
        .collect();
    actions
        .iter()
        .position(|a| matches(a))
        .unwrap_or_else(|| panic!("no such action in {}", run.stdout))
        + 1
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_link_planted_below_the_jails_directory_is_never_followed() {
    let bed = Bed::article(BIN, |_| {});
    // Stop the first apply right before the template's usr/home is made (base.txz
    // has none, so the template gets an empty one).
    let copy = position_in_plan(&bed, |a| {
        a["action"] == "make_dir"
            && a["path"]
                .as_str()
                .is_some_and(|f| f.ends_with("-template/usr/home"))
    });
    let stopped = bed.thinjail_with(
        &["apply", &bed.recipe_arg(), "--yes"],
        Faults::fail_at(copy),
    );
    assert_eq!(stopped.code, Some(1), "{stopped:?}");

    // The template's usr (empty so far) becomes a link to a host directory.
    let usr = bed.jails_path("base/13.1-RELEASE-template/usr");
    assert_eq!(names_in(&usr), Vec::<String>::new());
    fs::remove_dir(&usr).unwrap();
    let canary = bed.dir.path().join("canary");
    fs::create_dir(&canary).unwrap();
    fs::write(canary.join("keep"), "a host file\n").unwrap();
    std::os::unix::fs::symlink(&canary, &usr).unwrap();

    let refused = bed.apply();
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused.stderr.contains(&format!(
            "refused before running: {} is a symbolic link (to {})",
            usr.display(),
            canary.display()
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(names_in(&canary), ["keep"], "nothing went through the link");
    assert_eq!(
        fs::read_to_string(canary.join("keep")).unwrap(),
        "a host file\n"
    );

    // Once the link is gone, apply finishes the work.
    fs::remove_file(&usr).unwrap();
    bed.apply().expect_code(0);
    assert!(bed
        .jails_path("base/13.1-RELEASE-template/usr/home")
        .is_dir());
}
