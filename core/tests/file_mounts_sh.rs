//! The sh plan's `thinjail_mount_file`, run by /bin/sh: it makes the empty file a
//! single-file mount covers, with its directories, keeps a file already there, and
//! refuses a symbolic link or a directory in its place.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use thinjail_core::action::Action;
use thinjail_core::render::sh_helper_definition;

fn run(data: &Path, path: &str) -> std::process::Output {
    let action = Action::MakeMountFile {
        data: data.to_path_buf(),
        path: path.into(),
    };
    let helper = action.sh_helper().expect("a helper");
    let script = format!(
        "set -eu\n{}\n{}\n",
        sh_helper_definition(helper),
        action.sh_lines().join("\n")
    );
    Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap()
}

#[test]
fn the_sh_plan_makes_the_mount_file_and_refuses_links() {
    let data = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let made = run(data.path(), "usr/local/etc/app.conf");
    assert!(made.status.success(), "{made:?}");
    let file = data.path().join("usr/local/etc/app.conf");
    assert_eq!(fs::read(&file).unwrap(), b"");
    fs::write(&file, "kept").unwrap();
    assert!(run(data.path(), "usr/local/etc/app.conf").status.success());
    assert_eq!(fs::read_to_string(&file).unwrap(), "kept");

    let victim = outside.path().join("victim");
    symlink(&victim, data.path().join("usr/local/etc/link.conf")).unwrap();
    let refused = run(data.path(), "usr/local/etc/link.conf");
    assert!(!refused.status.success(), "{refused:?}");
    assert!(!victim.exists(), "the link was not followed");
    symlink(outside.path(), data.path().join("usr/home")).unwrap();
    let refused = run(data.path(), "usr/home/app.conf");
    assert!(!refused.status.success(), "{refused:?}");
    assert!(!outside.path().join("app.conf").exists());
    fs::create_dir(data.path().join("usr/local/etc/dir.conf")).unwrap();
    assert!(!run(data.path(), "usr/local/etc/dir.conf").status.success());
}
