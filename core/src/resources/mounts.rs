//! Extra mounts of a jail: a host directory (or, on a host kernel that mounts
//! files, a single host file) with nullfs(5), read-only or writable, or a tmpfs(5)
//! of a given size, at a path inside the jail.
//!
//! **Where a mount point may be.** A jail's root is the release's base, mounted
//! read-only and shared by every jail on that release; only the jail-specific paths
//! (`template.jail_specific`: `etc`, `usr/home`, `usr/local`, `root`, `tmp`, `var`)
//! are the jail's own, links in the base into its data mounted on `skeleton`. jail(8)
//! refuses a mount point whose path goes through a symbolic link, so a mount at
//! `/var/db/shared` is written to fstab as `<root>/skeleton/var/db/shared` — the real
//! directory in the jail's data. A mount point in the base (`/mnt`, `/srv`) is
//! refused: it would have to be made in the base every jail shares. A missing mount
//! point is created in the jail's data by thinjail, never through a link the jail
//! planted (each component opened without following links).
//!
//! **What a host path may be.** Absolute and clean, written literally into fstab
//! (jail(8) splits lines on blanks without decoding escapes, so only the characters
//! `check_jail_visible_path` allows); never inside `jails_dir`
//! (every jail's data, every base and thinjail's own files are there) nor a directory
//! that contains it; never a directory holding the host's password database or `/`;
//! and, writable, never a system directory (a jail's root writing the host's `/etc`
//! or `/usr` owns the host). Those rules are checked with the recipe's others
//! (`recipe::validate`, `check_jail_path` and `check_host_source`); this module is
//! the model and the fstab lines.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::rctl::parse_amount;

/// One extra mount of a jail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Mount {
    /// A host directory mounted with nullfs(5) on a directory in the jail (a host
    /// file given here is refused when the host is observed: it is a `NullfsFile`).
    Nullfs {
        /// The host path, absolute.
        host: PathBuf,
        /// Where the jail sees it: an absolute path inside the jail, within one of
        /// its jail-specific paths (e.g. `/usr/local/www/data`).
        path: String,
        /// Mounted `rw` instead of `ro`.
        #[serde(default)]
        writable: bool,
    },
    /// A single host file mounted with nullfs(5) on a file in the jail, which
    /// thinjail creates empty in the jail's data when missing. Only a host kernel
    /// whose nullfs mounts files takes it ([`super::file_mounts`]: 15.0 and later).
    NullfsFile {
        /// The host file, absolute.
        host: PathBuf,
        /// Where the jail sees it (as for `Nullfs`), a file.
        path: String,
        /// Mounted `rw` instead of `ro`.
        #[serde(default)]
        writable: bool,
    },
    /// A tmpfs(5) file system.
    Tmpfs {
        /// Where the jail sees it (as for `Nullfs`).
        path: String,
        /// Its size: a number of bytes, optionally with a `k`, `m`, `g` or `t` suffix
        /// (powers of 1024), more than zero (tmpfs takes 0 as "no limit").
        size: String,
    },
}

impl Mount {
    /// The path inside the jail.
    pub fn path(&self) -> &str {
        match self {
            Mount::Nullfs { path, .. }
            | Mount::NullfsFile { path, .. }
            | Mount::Tmpfs { path, .. } => path,
        }
    }

    /// The host path a nullfs mount shows (`None` for tmpfs).
    pub fn host(&self) -> Option<&Path> {
        match self {
            Mount::Nullfs { host, .. } | Mount::NullfsFile { host, .. } => Some(host),
            Mount::Tmpfs { .. } => None,
        }
    }

    /// Whether the mount point is a file (a [`Mount::NullfsFile`]), not a directory.
    pub fn is_file(&self) -> bool {
        matches!(self, Mount::NullfsFile { .. })
    }

    /// The mount point relative to the jail's data (and to `<root>/skeleton`): the
    /// jail path without its leading `/` (`/var/db/x` → `var/db/x`).
    pub fn data_relative(&self) -> &str {
        self.path().trim_start_matches('/')
    }

    /// The fstab(5) line that mounts it in the jail whose data is mounted at
    /// `skeleton` (`<root>/skeleton`), written literally as jail(8) reads it (the
    /// values come from a validated recipe). tmpfs gets its size in bytes, which
    /// FreeBSD's and Linux's tmpfs both read.
    pub fn fstab_line(&self, skeleton: &Path) -> String {
        let target = skeleton.join(self.data_relative());
        let target = target.display();
        match self {
            Mount::Nullfs { host, writable, .. } | Mount::NullfsFile { host, writable, .. } => {
                format!(
                    "{}  {target}  nullfs  {}  0   0\n",
                    host.display(),
                    if *writable { "rw" } else { "ro" }
                )
            }
            Mount::Tmpfs { size, .. } => {
                let bytes = parse_size(size).unwrap_or(0);
                format!("tmpfs  {target}  tmpfs  rw,size={bytes}  0   0\n")
            }
        }
    }
}

/// The fstab lines of `mounts`, in recipe order, for the jail whose data is mounted
/// at `skeleton` (`<root>/skeleton`: a path without symbolic links, as jail(8)
/// requires of mount points). They follow the article's two lines, so the data is
/// mounted before anything is mounted into it.
pub fn fstab_lines(skeleton: &Path, mounts: &[Mount]) -> String {
    mounts.iter().map(|m| m.fstab_line(skeleton)).collect()
}

/// A tmpfs size in bytes: an amount as [`parse_amount`] reads it, more than zero
/// and within 2^63 (the kernel keeps it in an `off_t`). The fstab line carries the
/// bytes, so the kernel's own reading (`vfs_getopt_size` in `kern/vfs_mount.c`,
/// units k to t only) never sees the unit.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bytes = parse_amount(text)?;
    if bytes > i64::MAX as u64 {
        return Err(format!("{text:?} is too large"));
    }
    if bytes == 0 {
        return Err("a tmpfs of size 0 has no limit; give it a size".into());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstab_lines_go_to_the_real_directory_in_the_data() {
        let skeleton = Path::new("/j/.mountpoints/www/skeleton");
        let mounts = [
            Mount::Nullfs {
                host: "/srv/www".into(),
                path: "/usr/local/www/data".into(),
                writable: false,
            },
            Mount::Nullfs {
                host: "/srv/spool".into(),
                path: "/var/spool/shared".into(),
                writable: true,
            },
            Mount::Tmpfs {
                path: "/tmp".into(),
                size: "64m".into(),
            },
            Mount::NullfsFile {
                host: "/srv/app.conf".into(),
                path: "/usr/local/etc/app.conf".into(),
                writable: false,
            },
        ];
        assert_eq!(
            fstab_lines(skeleton, &mounts),
            "/srv/www  /j/.mountpoints/www/skeleton/usr/local/www/data  nullfs  ro  0   0\n\
             /srv/spool  /j/.mountpoints/www/skeleton/var/spool/shared  nullfs  rw  0   0\n\
             tmpfs  /j/.mountpoints/www/skeleton/tmp  tmpfs  rw,size=67108864  0   0\n\
             /srv/app.conf  /j/.mountpoints/www/skeleton/usr/local/etc/app.conf  nullfs  ro  0   0\n"
        );
    }
    #[test]
    fn sizes_read_like_tmpfs() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("2M"), Ok(2 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert_eq!(parse_size("1p"), Ok(1 << 50));
        for bad in [
            "",
            "m",
            "1.5g",
            "-1",
            "1gb",
            " 1",
            "0",
            "0k",
            "99999999999999999999",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_size("8388608t").is_err(), "beyond 2^63");
    }
}
