//! nullfs mounts of a single host file (issue 15: "host directories (or files)"),
//! on the Linux test bed: a host file read-only in one jail and writable in another,
//! kept by a restart and an upgrade, unmounted by `stop`, held against `destroy`,
//! shown by `list`; refused with exit 78 below the host release whose nullfs
//! mounts files, and file/directory mismatches refused (65 when the recipe shows it, 78 when only the
//! host or the jail's data does), nothing changed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use thinjail_core::recipe::Jail;
use thinjail_core::resources::Mount;
use thinjail_testbed::harness::{is_mounted, mounts_under, Bed};
use thinjail_testbed::testbed::file_mounts::set_kernel_release;

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

const APP_CONF: &str = "/usr/local/etc/app.conf";

fn host_file(contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("thinjail-file-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let file = dir.path().join("app.conf");
    fs::write(&file, contents).unwrap();
    (dir, file)
}

fn file_mount(host: &Path, path: &str, writable: bool) -> Mount {
    Mount::NullfsFile {
        host: host.to_path_buf(),
        path: path.into(),
        writable,
    }
}

#[test]
fn a_host_file_is_read_only_in_one_jail_and_writable_in_another() {
    let (_dir, host) = host_file("setting = 1\n");
    let mut bed = Bed::article(BIN, |_| {});
    set_kernel_release(&bed.state_dir(), "15.0-RELEASE").unwrap();
    bed.recipe.jails.push(Jail {
        name: "thinjail1".into(),
        ip4: vec!["192.168.1.71".into()],
        ..bed.recipe.jails[0].clone()
    });
    bed.recipe.jails[0].mounts = vec![file_mount(&host, APP_CONF, false)];
    bed.recipe.jails[1].mounts = vec![file_mount(&host, APP_CONF, true)];
    bed.write_recipe();
    bed.apply().expect_code(0);

    let root0 = bed.jails_path(".mountpoints/thinjail0");
    let point0 = root0.join("skeleton/usr/local/etc/app.conf");
    let fstab = fs::read_to_string(bed.jails_path("thinjail0/fstab")).unwrap();
    assert!(
        fstab.ends_with(&format!(
            "{}  {}  nullfs  ro  0   0\n",
            host.display(),
            point0.display()
        )),
        "{fstab}"
    );
    assert!(is_mounted(&point0));

    // Read-only in thinjail0, enforced: the write fails there, reading works.
    let write0 = bed.in_jail("thinjail0", &["sh", "-c", &format!("echo x > {APP_CONF}")]);
    assert_eq!(
        write0.code,
        Some(1),
        "the in-jail sh's status for a failed redirection: {write0:?}"
    );
    assert!(
        write0.stderr.contains("Read-only file system"),
        "{write0:?}"
    );
    assert_eq!(fs::read_to_string(&host).unwrap(), "setting = 1\n");
    let read0 = bed.in_jail("thinjail0", &["cat", APP_CONF]);
    assert_eq!(read0.stdout, "setting = 1\n", "{read0:?}");
    // Writable in thinjail1: the write lands in the host file, and thinjail0 sees it.
    bed.in_jail(
        "thinjail1",
        &["sh", "-c", &format!("echo 'setting = 2' > {APP_CONF}")],
    )
    .expect_code(0);
    assert_eq!(fs::read_to_string(&host).unwrap(), "setting = 2\n");
    let read0 = bed.in_jail("thinjail0", &["cat", APP_CONF]);
    assert_eq!(read0.stdout, "setting = 2\n", "{read0:?}");

    // `list --json` shows the mount as a file mount.
    let row = bed.jail_row("thinjail0");
    assert_eq!(row["mounts"][0]["NullfsFile"]["path"], APP_CONF, "{row}");
    assert_eq!(row["mounts"][0]["NullfsFile"]["writable"], false, "{row}");

    // A second apply has nothing to do.
    bed.apply().expect_nothing_to_do();

    // A restart mounts it again.
    bed.command(&["restart", "thinjail0"]).expect_code(0);
    assert!(is_mounted(&point0));
    let read0 = bed.in_jail("thinjail0", &["cat", APP_CONF]);
    assert_eq!(read0.stdout, "setting = 2\n", "{read0:?}");

    // stop unmounts it; the file it covered in the jail's data is the empty one
    // thinjail made, and the host file is intact.
    bed.command(&["stop", "thinjail0"]).expect_code(0);
    assert_eq!(mounts_under(&root0), Vec::<PathBuf>::new());
    assert_eq!(
        fs::read_to_string(bed.jails_path("thinjail0/data/usr/local/etc/app.conf")).unwrap(),
        ""
    );
    assert_eq!(fs::read_to_string(&host).unwrap(), "setting = 2\n");

    // destroy refuses while the file mount stays busy (a process holds it open).
    let point1 = bed.jails_path(".mountpoints/thinjail1/skeleton/usr/local/etc/app.conf");
    assert!(is_mounted(&point1));
    let mut holder = Command::new("sleep");
    holder.arg("60").stdin(fs::File::open(&point1).unwrap());
    let refused = bed.destroy_while_held("thinjail1", holder);
    assert_ne!(refused.code, Some(0), "{refused:?}");
    assert!(
        refused.stderr.contains(&point1.display().to_string()),
        "names the mount: {}",
        refused.stderr
    );
    assert!(bed.jails_path("thinjail1/data").exists());
    bed.command(&["destroy", "thinjail1", "--data", "--yes"])
        .expect_code(0);
    assert!(mounts_under(&bed.jails_path(".mountpoints/thinjail1")).is_empty());
    assert_eq!(fs::read_to_string(&host).unwrap(), "setting = 2\n");
}

#[test]
fn below_the_host_release_that_mounts_files_apply_exits_78_and_changes_nothing() {
    let (_dir, host) = host_file("x\n");
    let mut bed = Bed::article(BIN, |_| {});
    set_kernel_release(&bed.state_dir(), "14.3-RELEASE").unwrap();
    bed.apply().expect_code(0);
    let before = bed.state();

    bed.recipe.jails[0].mounts = vec![file_mount(&host, APP_CONF, false)];
    bed.write_recipe();
    let refused = bed.apply();
    assert_eq!(refused.code, Some(78), "{refused:?}");
    assert!(
        refused.stderr.contains("14.3-RELEASE") && refused.stderr.contains("FreeBSD 15.0"),
        "names the host's release and the one needed: {}",
        refused.stderr
    );
    assert_eq!(bed.state(), before, "nothing changed");

    // The same recipe on a host kernel that mounts files goes through; like any
    // change of a running jail's mounts, it is mounted at the jail's next start.
    set_kernel_release(&bed.state_dir(), "15.0-RELEASE-p1").unwrap();
    bed.apply().expect_code(0);
    bed.command(&["restart", "thinjail0"]).expect_code(0);
    let point = bed.jails_path(".mountpoints/thinjail0/skeleton/usr/local/etc/app.conf");
    assert!(is_mounted(&point));

    // Back on an older kernel, the test bed's nullfs refuses the file mount point as
    // FreeBSD's does, and the jail does not start.
    set_kernel_release(&bed.state_dir(), "14.3-RELEASE").unwrap();
    let restart = bed.command(&["restart", "thinjail0"]);
    assert_ne!(restart.code, Some(0), "{restart:?}");
    assert!(
        restart.stderr.contains("mount_nullfs: Not a directory"),
        "{}",
        restart.stderr
    );
    assert!(!is_mounted(&point));
}

#[test]
fn file_and_directory_mismatches_are_refused() {
    let (dir, host) = host_file("x\n");
    let mut bed = Bed::article(BIN, |_| {});
    set_kernel_release(&bed.state_dir(), "15.0-RELEASE").unwrap();
    bed.apply().expect_code(0);
    let before = bed.state();
    let mut refused_with = |mounts: Vec<Mount>, code: i32, says: &str| {
        bed.recipe.jails[0].mounts = mounts;
        bed.write_recipe();
        let run = bed.apply();
        assert_eq!(run.code, Some(code), "{run:?}");
        assert!(run.stderr.contains(says), "{says:?} in {}", run.stderr);
        assert_eq!(bed.state(), before, "nothing changed");
    };
    // The recipe shows it: a file onto one of the jail's own directories.
    refused_with(
        vec![file_mount(&host, "/tmp", false)],
        65,
        "jails[0].mounts[0].path",
    );
    // Only the host shows it: a directory as a file mount, a file as a directory.
    refused_with(
        vec![file_mount(dir.path(), APP_CONF, false)],
        78,
        "is a directory",
    );
    refused_with(
        vec![Mount::Nullfs {
            host: host.clone(),
            path: "/usr/local/etc/app".into(),
            writable: false,
        }],
        78,
        "NullfsFile",
    );
    // Only the jail's data shows it: a directory, or a link its root planted, where
    // the file goes.
    bed.in_jail("thinjail0", &["mkdir", "-p", "/usr/local/etc/app.conf"])
        .expect_code(0);
    let before = bed.state();
    bed.recipe.jails[0].mounts = vec![file_mount(&host, APP_CONF, false)];
    bed.write_recipe();
    let run = bed.apply();
    assert_eq!(run.code, Some(78), "{run:?}");
    assert!(run.stderr.contains("not a file"), "{}", run.stderr);
    assert_eq!(bed.state(), before, "nothing changed");

    let victim = tempfile::Builder::new()
        .prefix("thinjail-victim-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let target = victim.path().join("target");
    bed.in_jail(
        "thinjail0",
        &[
            "sh",
            "-c",
            &format!(
                "rmdir /usr/local/etc/app.conf && ln -s {} /usr/local/etc/app.conf",
                target.display()
            ),
        ],
    )
    .expect_code(0);
    let before = bed.state();
    let run = bed.apply();
    assert_eq!(run.code, Some(78), "{run:?}");
    assert!(run.stderr.contains("not a file"), "{}", run.stderr);
    assert_eq!(bed.state(), before, "nothing changed");
    assert!(!target.exists(), "nothing was made through the jail's link");
}

#[test]
fn a_file_mount_survives_an_upgrade() {
    let (_dir, host) = host_file("kept\n");
    let mut bed = Bed::two_releases(BIN);
    set_kernel_release(&bed.state_dir(), "15.0-RELEASE").unwrap();
    bed.recipe.jails[0].mounts = vec![file_mount(&host, APP_CONF, true)];
    bed.write_recipe();
    bed.apply().expect_code(0);
    bed.command(&["restart", "thinjail0"]).expect_code(0);
    bed.command(&["upgrade", "thinjail0", "--to", "14.0-RELEASE", "--yes"])
        .expect_code(0);
    let fstab = fs::read_to_string(bed.jails_path("thinjail0/fstab")).unwrap();
    let point = bed.jails_path(".mountpoints/thinjail0/skeleton/usr/local/etc/app.conf");
    assert!(
        fstab.ends_with(&format!(
            "{}  {}  nullfs  rw  0   0\n",
            host.display(),
            point.display()
        )),
        "{fstab}"
    );
    assert!(is_mounted(&point));
    bed.in_jail(
        "thinjail0",
        &["sh", "-c", &format!("echo upgraded >> {APP_CONF}")],
    )
    .expect_code(0);
    assert_eq!(fs::read_to_string(&host).unwrap(), "kept\nupgraded\n");
}
