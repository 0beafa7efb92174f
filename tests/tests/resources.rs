//! What a real jail needs besides a base (issue 15), on the Linux test bed: host
//! directories mounted read-only in one jail and writable in another, tmpfs with a
//! size, `stop` unmounting them and `destroy` refusing while one stays mounted;
//! rctl limits applied on start, reconciled rule by rule on `apply` and removed on
//! `stop`; `depend` honoured in jail(8)'s order; CPU sets.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use thinjail_core::recipe::Jail;
use thinjail_core::resources::Mount;
use thinjail_tests::harness::{is_mounted, Bed};

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
    let mut busy = Command::new("sleep")
        .arg("60")
        .current_dir(&mount1)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let refused = bed.command(&["destroy", "thinjail1", "--data", "--yes"]);
    let _ = busy.kill();
    let _ = busy.wait();
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
