//! nullfs mounts of a single host file ([`Mount::NullfsFile`]): which host kernel
//! takes them, and what the host and the jail's data must hold for one.
//!
//! **The release gate.** nullfs runs in the host's kernel, so the host's running
//! release decides (`kern.osrelease`), not the jail's. In FreeBSD's sources a file
//! mount needs two things, both absent from the older sources at hand:
//! `vfs_domount_first` (`sys/kern/vfs_mount.c`) lets a file system whose
//! `vfc_flags` carry `VFCF_FILEMOUNT` cover a regular file (`EINVAL` unless the
//! covered file has exactly one link; `ENOTDIR` for any other file system), and
//! `nullfs_mount` (`sys/fs/nullfs/null_vfsops.c`) registers with `VFCF_FILEMOUNT`
//! and refuses (`EINVAL`) a lower vnode that is neither a directory nor a regular
//! file or whose type differs from the covered one. mount_nullfs(8) documents it
//! from its `.Dd March 24, 2024` revision ("supports mounting both directories and
//! single files ... Mounting directories to files or files to directories is not
//! supported"); the 2012 revision and 14.0's RELNOTES say nothing of it. Whether
//! the change reached a 14.x release could not be established from the sources at
//! hand, so thinjail gates conservatively on [`FILE_MOUNT_RELEASE`], 15.0: the
//! first release branched from `main` after that revision.

use super::mounts::Mount;
use crate::world::PathState;

/// The first FreeBSD release (major, minor) whose nullfs thinjail lets mount a
/// single file.
pub const FILE_MOUNT_RELEASE: (u32, u32) = (15, 0);

/// The major and minor numbers of a release as the kernel names it
/// (`kern.osrelease`: `15.0-RELEASE-p2`, `14.3-STABLE`, `16.0-CURRENT`).
pub fn release_numbers(release: &str) -> Option<(u32, u32)> {
    let numbers = release.trim().split('-').next()?;
    let (major, minor) = numbers.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Whether the host kernel `release` mounts files with nullfs; the refusal (for
/// exit 78) names the release needed. `jail` and `mount` say which mount asked.
pub fn check_host_release(release: &str, jail: &str, mount: &Mount) -> Result<(), String> {
    let (major, minor) = FILE_MOUNT_RELEASE;
    match release_numbers(release) {
        Some(numbers) if numbers >= FILE_MOUNT_RELEASE => Ok(()),
        Some(_) => Err(format!(
            "jail {jail} mounts the file {} at {}, but this host runs FreeBSD {}: nullfs \
             mounts a single file from FreeBSD {major}.{minor} on (mount_nullfs(8)); upgrade \
             the host, or mount the file's directory instead",
            host_display(mount),
            mount.path(),
            release.trim()
        )),
        None => Err(format!(
            "jail {jail} mounts the file {} at {}, but the host's release {release:?} \
             (kern.osrelease) does not read as FreeBSD's: a file mount needs {major}.{minor} \
             or later",
            host_display(mount),
            mount.path()
        )),
    }
}

/// What the host path of `mount` must be: a regular file for a file mount, a
/// directory for a directory mount (nullfs refuses either on the other: `EINVAL`).
/// `Ok` when it is; otherwise the refusal (exit 78: only the host shows it).
pub fn check_host_kind(state: &PathState, jail: &str, mount: &Mount) -> Result<(), String> {
    let host = host_display(mount);
    let at = mount.path();
    match (state, mount.is_file()) {
        (PathState::Directory, false) | (PathState::File { .. }, true) => Ok(()),
        (PathState::Missing, _) => Err(format!(
            "{host} (mounted at {at} in jail {jail}) does not exist on this host"
        )),
        (PathState::File { .. }, false) => Err(format!(
            "{host} (mounted at {at} in jail {jail}) is a file, not a directory: nullfs mounts \
             a file only onto a file; declare it as NullfsFile(host: ..., path: ...)"
        )),
        (PathState::Directory, true) => Err(format!(
            "{host} (mounted as a file at {at} in jail {jail}) is a directory: nullfs mounts a \
             directory only onto a directory; declare it as Nullfs(host: ..., path: ...)"
        )),
        (other, _) => Err(format!(
            "{host} (mounted at {at} in jail {jail}) must be a {}, not {other:?}",
            if mount.is_file() {
                "regular file"
            } else {
                "directory"
            }
        )),
    }
}

/// What the jail-side mount point of a file mount may be when it exists: a file
/// (nullfs covers it); a directory or a symbolic link is refused (exit 78: the
/// jail's root put it there, and thinjail neither removes it nor follows it).
pub fn check_file_point(state: &PathState, jail: &str, mount: &Mount) -> Result<(), String> {
    match state {
        PathState::Missing | PathState::File { .. } => Ok(()),
        other => Err(format!(
            "jail {jail}'s file mount point {} is {other:?} in the jail's data, not a file \
             (nullfs mounts a file only onto a file; fix it inside the jail)",
            mount.path()
        )),
    }
}

fn host_display(mount: &Mount) -> String {
    mount
        .host()
        .map(|h| h.display().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_mount() -> Mount {
        Mount::NullfsFile {
            host: "/srv/app.conf".into(),
            path: "/usr/local/etc/app.conf".into(),
            writable: false,
        }
    }

    #[test]
    fn releases_read_as_the_kernel_names_them() {
        assert_eq!(release_numbers("15.0-RELEASE-p2"), Some((15, 0)));
        assert_eq!(release_numbers("14.3-STABLE"), Some((14, 3)));
        assert_eq!(release_numbers("16.0-CURRENT\n"), Some((16, 0)));
        assert_eq!(release_numbers("6.1.0-13-amd64"), None);
        assert_eq!(release_numbers("RELEASE"), None);
        assert_eq!(release_numbers(""), None);
    }

    #[test]
    fn the_gate_is_the_host_kernel_release() {
        let mount = file_mount();
        assert!(check_host_release("15.0-RELEASE", "www", &mount).is_ok());
        assert!(check_host_release("15.1-RELEASE-p1", "www", &mount).is_ok());
        assert!(check_host_release("16.0-CURRENT", "www", &mount).is_ok());
        let below = check_host_release("14.3-RELEASE", "www", &mount).unwrap_err();
        assert!(below.contains("FreeBSD 15.0"), "{below}");
        assert!(below.contains("14.3-RELEASE"), "{below}");
        assert!(check_host_release("13.5-RELEASE", "www", &mount).is_err());
        let odd = check_host_release("6.1.0-13-amd64", "www", &mount).unwrap_err();
        assert!(odd.contains("15.0"), "{odd}");
    }

    #[test]
    fn file_and_directory_do_not_mix() {
        let file = file_mount();
        let dir = Mount::Nullfs {
            host: "/srv/www".into(),
            path: "/usr/local/www".into(),
            writable: false,
        };
        let a_file = PathState::File { contents: None };
        assert!(check_host_kind(&a_file, "www", &file).is_ok());
        assert!(check_host_kind(&PathState::Directory, "www", &dir).is_ok());
        let told = check_host_kind(&a_file, "www", &dir).unwrap_err();
        assert!(told.contains("NullfsFile"), "{told}");
        let told = check_host_kind(&PathState::Directory, "www", &file).unwrap_err();
        assert!(told.contains("Nullfs("), "{told}");
        assert!(check_host_kind(&PathState::Missing, "www", &file).is_err());
        let link = PathState::Symlink {
            target: "/etc/passwd".into(),
        };
        assert!(check_host_kind(&link, "www", &file).is_err());
        assert!(check_file_point(&PathState::Missing, "www", &file).is_ok());
        assert!(check_file_point(&a_file, "www", &file).is_ok());
        assert!(check_file_point(&PathState::Directory, "www", &file).is_err());
        assert!(check_file_point(&link, "www", &file).is_err());
    }
}
