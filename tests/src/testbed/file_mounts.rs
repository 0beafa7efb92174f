//! The test bed's host kernel release, and what FreeBSD's nullfs refuses before the
//! test bed's `mount --bind` stands in for it.
//!
//! **The release.** `sysctl -n kern.osrelease` → the release set with
//! [`set_kernel_release`] for the test bed in a state directory (a file
//! `kernel_release` there), [`DEFAULT_KERNEL_RELEASE`] until one is set. Linux
//! has no FreeBSD release; only the file-mount gate reads it.
//!
//! **The refusals** (each read in FreeBSD's sources; [`nullfs_refusal`]), checked on
//! the paths as they are when jail(8) mounts the line, following links as `namei`
//! with `FOLLOW` does:
//!
//! - the mount point is neither a directory nor a regular file, or is a regular
//!   file and the kernel is older than
//!   [`thinjail_core::resources::file_mounts::FILE_MOUNT_RELEASE`]: `ENOTDIR`
//!   (`vfs_domount_first` in `sys/kern/vfs_mount.c` without `VFCF_FILEMOUNT`,
//!   which nullfs carries only from that release as thinjail gates it);
//! - the mount point is a regular file with more than one link: `EINVAL` (the same
//!   function: "ensure that there is only one hardlink to the file");
//! - the source is neither a directory nor a regular file, or its type differs
//!   from the mount point's: `EINVAL` (`nullfs_mount` in
//!   `sys/fs/nullfs/null_vfsops.c`).
//!
//! A refusal fails as jail(8) fails a `mount.fstab` line: mount_nullfs's
//! `err(1, NULL)` (the revision at hand, `sbin/mount_nullfs/mount_nullfs.c`), then
//! jail(8)'s "NAME: COMMAND: failed" (`usr.sbin/jail/command.c`), exit 1, both on
//! standard error. What it cannot reproduce: a newer mount_nullfs may word its
//! message differently (naming the path); Linux's bind mount itself is not
//! checked for the kernel's other refusals (a mount point already covered, the
//! paths not distinct), which the test bed leaves to Linux's `mount`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use thinjail_core::host::HostError;
use thinjail_core::resources::file_mounts::{release_numbers, FILE_MOUNT_RELEASE};

/// The release the test bed's kernel reports until a test sets one: below the
/// file-mount gate, so only a test that asks for a newer host gets file mounts.
pub const DEFAULT_KERNEL_RELEASE: &str = "14.3-RELEASE";

const FILE: &str = "kernel_release";

/// Sets the release the test bed's kernel reports (`kern.osrelease`).
pub fn set_kernel_release(state_dir: &Path, release: &str) -> std::io::Result<()> {
    fs::create_dir_all(state_dir)?;
    fs::write(state_dir.join(FILE), format!("{release}\n"))
}

/// The release the test bed's kernel reports.
pub fn kernel_release(state_dir: &Path) -> String {
    fs::read_to_string(state_dir.join(FILE))
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|_| DEFAULT_KERNEL_RELEASE.to_string())
}

/// What FreeBSD's kernel refuses for a nullfs mount of `source` on `target` under
/// the kernel `release`: the errno's text (`strerror`), or `None` when it mounts.
pub fn nullfs_refusal(source: &Path, target: &Path, release: &str) -> Option<&'static str> {
    const ENOTDIR: &str = "Not a directory";
    const EINVAL: &str = "Invalid argument";
    // Missing paths are left to Linux's mount, which fails on them as well.
    let covered = fs::metadata(target).ok()?;
    let lower = fs::metadata(source).ok()?;
    let files = release_numbers(release).is_some_and(|numbers| numbers >= FILE_MOUNT_RELEASE);
    if covered.is_file() {
        if !files {
            return Some(ENOTDIR);
        }
        if covered.nlink() != 1 {
            return Some(EINVAL);
        }
    } else if !covered.is_dir() {
        return Some(if files { EINVAL } else { ENOTDIR });
    }
    let same = (lower.is_dir() && covered.is_dir()) || (lower.is_file() && covered.is_file());
    if !same {
        return Some(EINVAL);
    }
    None
}

/// The failure of jail(8)'s `mount -t nullfs` of one fstab line that FreeBSD's
/// nullfs refuses (`argv` is the `jail -f … -c` command), or `None`.
pub fn refuse_like_nullfs(
    state_dir: &Path,
    argv: &str,
    jail: &str,
    line: (&str, &str, Option<&str>),
) -> Option<HostError> {
    let (source, target, options) = line;
    let errno = nullfs_refusal(
        Path::new(source),
        Path::new(target),
        &kernel_release(state_dir),
    )?;
    let options = options.map(|o| format!(" -o {o}")).unwrap_or_default();
    Some(HostError::CommandFailed {
        command: argv.to_string(),
        status: "exit status: 1".into(),
        stdout: String::new(),
        stderr: format!(
            "mount_nullfs: {errno}\njail: {jail}: /sbin/mount -t nullfs{options} {source} {target}: failed\n"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullfs_refuses_what_freebsd_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        let other = dir.path().join("other");
        let sub = dir.path().join("sub");
        let linked = dir.path().join("linked");
        fs::write(&file, "x").unwrap();
        fs::write(&other, "y").unwrap();
        fs::create_dir(&sub).unwrap();
        fs::hard_link(&other, &linked).unwrap();
        let new = "15.0-RELEASE";
        let old = "14.3-RELEASE";
        assert_eq!(nullfs_refusal(&sub, &sub, old), None);
        assert_eq!(nullfs_refusal(&file, &sub, new), Some("Invalid argument"));
        assert_eq!(nullfs_refusal(&sub, &file, new), Some("Invalid argument"));
        assert_eq!(nullfs_refusal(&sub, &file, old), Some("Not a directory"));
        assert_eq!(nullfs_refusal(&other, &file, old), Some("Not a directory"));
        assert_eq!(nullfs_refusal(&other, &file, new), None);
        // The covered file must have one link; the lower one may have several.
        assert_eq!(nullfs_refusal(&file, &other, new), Some("Invalid argument"));
        assert_eq!(nullfs_refusal(&linked, &file, new), None);
        assert_eq!(nullfs_refusal(&file, &dir.path().join("gone"), new), None);
    }

    #[test]
    fn the_release_is_settable_and_defaults_below_the_gate() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(kernel_release(dir.path()), DEFAULT_KERNEL_RELEASE);
        set_kernel_release(dir.path(), "15.0-RELEASE-p1").unwrap();
        assert_eq!(kernel_release(dir.path()), "15.0-RELEASE-p1");
        let refused = refuse_like_nullfs(
            dir.path(),
            "jail -f c -c www",
            "www",
            ("/srv", "/nonexistent/x", Some("ro")),
        );
        assert!(refused.is_none());
    }
}
