//! nullfs mounts of a single host file ([`Mount::NullfsFile`]): which host kernel
//! takes them (what the host and the jail's data must hold for one is checked by
//! the mount stage, which sees the world).
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

/// The host path of `mount`, for messages.
pub fn host_display(mount: &Mount) -> String {
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
}
