//! Extra mounts of a jail: a host directory or file with nullfs(5), read-only or
//! writable, or a tmpfs(5) of a given size, at a path inside the jail.
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
//! [`crate::validate::check_jail_visible_path`] allows); never inside `jails_dir`
//! (every jail's data, every base and thinjail's own files are there) nor a directory
//! that contains it; never a directory holding the host's password database or `/`;
//! and, writable, never a system directory (a jail's root writing the host's `/etc`
//! or `/usr` owns the host).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::layout::SKELETON_DIR;
use crate::validate::{
    check_absolute_path, check_jail_visible_path, RecipeError, CRITICAL_DIRS, SYSTEM_DIRS,
    SYSTEM_FILES,
};

/// One extra mount of a jail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Mount {
    /// A host directory (or file) mounted with nullfs(5).
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
            Mount::Nullfs { path, .. } | Mount::Tmpfs { path, .. } => path,
        }
    }

    /// The mount point relative to the jail's data (and to `<root>/skeleton`): the
    /// jail path without its leading `/` (`/var/db/x` → `var/db/x`).
    pub fn data_relative(&self) -> &str {
        self.path().trim_start_matches('/')
    }

    /// The fstab(5) line that mounts it on the jail assembled at `root`, written
    /// literally as jail(8) reads it (the values come from a validated recipe).
    /// tmpfs gets its size in bytes, which FreeBSD's and Linux's tmpfs both read.
    pub fn fstab_line(&self, root: &Path) -> String {
        let target = mount_target(root, self.data_relative());
        let target = target.display();
        match self {
            Mount::Nullfs { host, writable, .. } => format!(
                "{}  {target}  nullfs  {}  0   0\n",
                host.display(),
                if *writable { "rw" } else { "ro" }
            ),
            Mount::Tmpfs { size, .. } => {
                let bytes = parse_size(size).unwrap_or(0);
                format!("tmpfs  {target}  tmpfs  rw,size={bytes}  0   0\n")
            }
        }
    }
}

/// Where the mount point at `relative` (in the jail's data) is on the assembled
/// root: `<root>/skeleton/<relative>`, a path without symbolic links, as jail(8)
/// requires.
pub fn mount_target(root: &Path, relative: &str) -> PathBuf {
    root.join(SKELETON_DIR).join(relative)
}

/// The fstab lines of `mounts`, in recipe order, for the jail assembled at `root`:
/// they follow the article's two lines, so the data is mounted before anything is
/// mounted into it.
pub fn fstab_lines(root: &Path, mounts: &[Mount]) -> String {
    mounts.iter().map(|m| m.fstab_line(root)).collect()
}

/// A tmpfs size in bytes: decimal digits with an optional `k`, `m`, `g` or `t`
/// (either case, powers of 1024), more than zero and within 2^63.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!(
            "{text:?} is not a size: write a number of bytes, optionally with k, m, g or t"
        ));
    }
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => {
            return Err(format!(
                "{text:?} is not a size: the unit must be one of k, m, g or t"
            ))
        }
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is too large"))?;
    let bytes = number
        .checked_mul(1u64 << shift)
        .filter(|b| *b <= i64::MAX as u64)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes == 0 {
        return Err("a tmpfs of size 0 has no limit; give it a size".into());
    }
    Ok(bytes)
}

/// What the mount rules need from the rest of the recipe.
#[derive(Clone, Copy, Debug)]
pub struct MountRules<'a> {
    /// `host.jails_dir`.
    pub jails_dir: &'a Path,
    /// `template.jail_specific`.
    pub jail_specific: &'a [String],
}

/// Checks the mounts of one jail (`field` is e.g. `jails[0].mounts`); every problem
/// names its field (`jails[0].mounts[1].path`).
pub fn check_mounts(field: &str, mounts: &[Mount], rules: MountRules<'_>) -> Vec<RecipeError> {
    let mut problems = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for (i, mount) in mounts.iter().enumerate() {
        let here = format!("{field}[{i}]");
        if let Err(problem) = check_jail_path(mount.path(), rules.jail_specific) {
            problems.push(RecipeError::new(format!("{here}.path"), problem));
        } else {
            let relative = mount.data_relative();
            for other in &seen {
                let nested = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
                if nested(relative, other) || nested(other, relative) {
                    problems.push(RecipeError::new(
                        format!("{here}.path"),
                        format!(
                            "{} overlaps the mount at /{other}: a mount point would have to \
                             be made inside another mount",
                            mount.path()
                        ),
                    ));
                }
            }
            seen.insert(relative);
        }
        match mount {
            Mount::Nullfs { host, writable, .. } => {
                if let Err(problem) = check_host_source(host, *writable, rules.jails_dir) {
                    problems.push(RecipeError::new(format!("{here}.host"), problem));
                }
            }
            Mount::Tmpfs { size, .. } => {
                if let Err(problem) = parse_size(size) {
                    problems.push(RecipeError::new(format!("{here}.size"), problem));
                }
            }
        }
    }
    problems
}

/// Checks a path inside the jail: absolute, clean, written literally into fstab, and
/// within one of the jail-specific paths (so its mount point is in the jail's data,
/// never in the shared read-only base).
pub fn check_jail_path(path: &str, jail_specific: &[String]) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!(
            "{path:?} must be an absolute path as the jail sees it (e.g. /var/db/shared)"
        ));
    }
    check_absolute_path(Path::new(path))?;
    check_jail_visible_path(Path::new(path))?;
    let relative = path.trim_start_matches('/');
    let first = relative.split('/').next().unwrap_or_default();
    if [SKELETON_DIR, "dev", "proc"].contains(&first) {
        return Err(format!(
            "{path} is where thinjail and jail(8) mount the jail's own data and devices"
        ));
    }
    let inside = jail_specific
        .iter()
        .any(|own| relative == own || relative.starts_with(&format!("{own}/")));
    if !inside {
        return Err(format!(
            "{path} is in the read-only base that every jail on the release shares; a mount \
             point must be inside one of the jail's own paths ({}), where thinjail makes it in \
             the jail's data",
            jail_specific
                .iter()
                .map(|p| format!("/{p}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}

/// Checks a host path mounted into a jail: absolute, clean, literal in fstab, outside
/// `jails_dir` and not containing it, not holding the host's password database, and
/// not a system directory when writable.
pub fn check_host_source(host: &Path, writable: bool, jails_dir: &Path) -> Result<(), String> {
    check_absolute_path(host)?;
    check_jail_visible_path(host)?;
    if host.starts_with(jails_dir) {
        return Err(format!(
            "{} is inside jails_dir ({}), where every jail's data, every base and thinjail's \
             own files are: a jail must never see another jail's files",
            host.display(),
            jails_dir.display()
        ));
    }
    if jails_dir.starts_with(host) {
        return Err(format!(
            "{} contains jails_dir ({}): the jail would see every other jail's files",
            host.display(),
            jails_dir.display()
        ));
    }
    if let Some(file) = SYSTEM_FILES.iter().find(|f| Path::new(f).starts_with(host)) {
        return Err(format!(
            "{} is or holds the host's {file}; mount a directory of its own",
            host.display()
        ));
    }
    if writable {
        let system = CRITICAL_DIRS
            .iter()
            .find(|d| host == Path::new(d))
            .or_else(|| SYSTEM_DIRS.iter().find(|d| host.starts_with(d)));
        if let Some(dir) = system {
            return Err(format!(
                "{} is the system directory {dir} or inside it: writable, the jail's root could \
                 change the host's own programs or configuration (mount it read-only, or a \
                 directory of its own)",
                host.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specific() -> Vec<String> {
        ["etc", "usr/home", "usr/local", "root", "tmp", "var"]
            .map(String::from)
            .to_vec()
    }

    fn rules(specific: &[String]) -> MountRules<'_> {
        MountRules {
            jails_dir: Path::new("/usr/local/jails"),
            jail_specific: specific,
        }
    }

    fn fields(problems: &[RecipeError]) -> Vec<&str> {
        problems.iter().map(|p| p.field.as_str()).collect()
    }

    #[test]
    fn fstab_lines_go_to_the_real_directory_in_the_data() {
        let root = Path::new("/j/.mountpoints/www");
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
        ];
        assert_eq!(
            fstab_lines(root, &mounts),
            "/srv/www  /j/.mountpoints/www/skeleton/usr/local/www/data  nullfs  ro  0   0\n\
             /srv/spool  /j/.mountpoints/www/skeleton/var/spool/shared  nullfs  rw  0   0\n\
             tmpfs  /j/.mountpoints/www/skeleton/tmp  tmpfs  rw,size=67108864  0   0\n"
        );
        assert!(check_mounts("m", &mounts, rules(&specific())).is_empty());
    }

    #[test]
    fn mount_points_must_be_in_the_jails_own_paths() {
        let s = specific();
        assert!(check_jail_path("/var/db/x", &s).is_ok());
        assert!(check_jail_path("/tmp", &s).is_ok());
        let base = check_jail_path("/mnt", &s).unwrap_err();
        assert!(base.contains("read-only base"), "{base}");
        assert!(base.contains("/usr/local"), "{base}");
        // /usr/localx is not inside /usr/local.
        assert!(check_jail_path("/usr/localx", &s).is_err());
        for bad in [
            "var/db",
            "/var/../etc",
            "/var/./db",
            "/var//db",
            "/var/db/",
            "/",
        ] {
            assert!(check_jail_path(bad, &s).is_err(), "{bad} accepted");
        }
        assert!(
            check_jail_path("/var/my db", &s).is_err(),
            "a blank splits fstab"
        );
        assert!(
            check_jail_path("/var/a#b", &s).is_err(),
            "# starts an fstab comment"
        );
        assert!(check_jail_path("/skeleton/etc", &s).is_err());
        assert!(check_jail_path("/dev/x", &s).is_err());
    }

    #[test]
    fn host_paths_never_reach_jails_or_the_hosts_secrets() {
        let jails = Path::new("/usr/local/jails");
        assert!(check_host_source(Path::new("/srv/www"), true, jails).is_ok());
        assert!(check_host_source(Path::new("/usr/local/jails/db/data"), false, jails).is_err());
        assert!(check_host_source(Path::new("/usr/local/jails"), false, jails).is_err());
        assert!(check_host_source(Path::new("/usr/local"), false, jails).is_err());
        assert!(check_host_source(Path::new("/"), false, jails).is_err());
        assert!(check_host_source(Path::new("srv/www"), false, jails).is_err());
        assert!(check_host_source(Path::new("/srv/../etc"), false, jails).is_err());
        assert!(check_host_source(Path::new("/etc"), false, jails).is_err());
        assert!(check_host_source(Path::new("/etc/master.passwd"), false, jails).is_err());
        // Read-only, a system directory may be shown; writable, never.
        assert!(check_host_source(Path::new("/usr/share/doc"), false, jails).is_ok());
        assert!(check_host_source(Path::new("/usr/share/doc"), true, jails).is_err());
        assert!(check_host_source(Path::new("/boot"), true, jails).is_err());
        assert!(check_host_source(Path::new("/var/log"), true, jails).is_err());
    }

    #[test]
    fn every_problem_names_its_field() {
        let s = specific();
        let mounts = [
            Mount::Nullfs {
                host: "relative/dir".into(),
                path: "/mnt".into(),
                writable: false,
            },
            Mount::Tmpfs {
                path: "/var/cache".into(),
                size: "0".into(),
            },
            Mount::Tmpfs {
                path: "/var/cache/sub".into(),
                size: "1x".into(),
            },
        ];
        let problems = check_mounts("jails[2].mounts", &mounts, rules(&s));
        assert_eq!(
            fields(&problems),
            [
                "jails[2].mounts[0].path",
                "jails[2].mounts[0].host",
                "jails[2].mounts[1].size",
                "jails[2].mounts[2].path",
                "jails[2].mounts[2].size",
            ]
        );
    }

    #[test]
    fn sizes_read_like_tmpfs() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("2M"), Ok(2 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
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
