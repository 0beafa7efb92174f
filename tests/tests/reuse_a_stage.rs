//! Reusing a single stage from another program: `stage-zfs`'s `datasets_only` example
//! depends on thinjail-core and that one stage crate. It is built and run here, as a
//! user would (`cargo run --example`), and its output checked.

use std::path::Path;
use std::process::Command;

fn run_example(args: &[&str]) -> std::process::Output {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .current_dir(workspace)
        .args([
            "run",
            "--quiet",
            "-p",
            "thinjail-stage-zfs",
            "--example",
            "datasets_only",
            "--",
        ])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_program_plans_the_zfs_stage_alone() {
    let output = run_example(&["www", "db"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let commands: Vec<&str> = stdout.lines().filter(|l| l.starts_with("zfs ")).collect();
    assert_eq!(
        commands,
        [
            "zfs create -o thinjail:managed=tank/jails tank/jails/base",
            "zfs create -o thinjail:managed=tank/jails tank/jails/base/14.3-RELEASE-base",
            "zfs create -o thinjail:managed=tank/jails tank/jails/base/14.3-RELEASE-template",
            "zfs create -o thinjail:managed=tank/jails tank/jails/www",
            "zfs create -o thinjail:managed=tank/jails tank/jails/db",
            "zfs create -o thinjail:managed=tank/jails tank/jails/.mountpoints",
        ],
        "{stdout}"
    );
    assert!(stdout.contains("# --- stage zfs: ZFS datasets"), "{stdout}");
    // The jails dataset exists in the program's world, so it is not planned again.
    assert!(!stdout.contains("mountpoint=/jails"), "{stdout}");
}

#[test]
fn the_program_gets_the_recipe_errors_thinjail_gives() {
    let output = run_example(&["bad.name"]);
    assert_eq!(output.status.code(), Some(65));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("jails[0].name"), "{stderr}");
}
