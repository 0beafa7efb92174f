//! What a host checks while applying, beyond what planning checked: the recipe's
//! private directories (the download cache) belong to root and nobody else can write
//! to them, and no native write lands in a jail's own files.
//!
//! Why the cache must be private: `Fetch` verifies every set against `MANIFEST`, then
//! extracts it as root into the base every jail runs. Between the two, the file is
//! read twice by name. If nobody but root can write the cache directory (or any
//! directory above it), nobody can swap the file in between: the file that was
//! verified is the file that is extracted. The host also records each verified file's
//! identity (device, inode, size, modification and change times) and refuses to feed
//! anything else to the command that reads it later ([`FileIdentity`]).

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::action::Action;
use crate::recipe::Recipe;

use super::safe_fs::{self, SafeFsError};
use super::HostError;

/// Paths a host protects while applying, taken from the recipe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostGuards {
    /// `host.jails_dir`: the host never writes natively under a jail's data or root.
    pub jails_dir: Option<PathBuf>,
    /// Directories that must belong to root (or the user running thinjail) and be
    /// writable by nobody else (`host.cache_dir`); made with mode 0700 when missing.
    pub private_dirs: Vec<PathBuf>,
}

impl HostGuards {
    /// The guards of `recipe`'s host section.
    pub fn for_recipe(recipe: &Recipe) -> Self {
        HostGuards {
            jails_dir: Some(recipe.host.jails_dir.clone()),
            private_dirs: vec![recipe.host.cache_dir.clone()],
        }
    }

    /// The private directory `action` uses, if any.
    pub fn private_dir_used_by(&self, action: &Action) -> Option<&Path> {
        let paths = paths_of(action);
        self.private_dirs
            .iter()
            .find(|dir| paths.iter().any(|p| p.starts_with(dir)))
            .map(PathBuf::as_path)
    }

    /// Refuses a native write of `action` into a jail's own files.
    pub fn check_native_write(&self, action: &Action) -> Result<(), HostError> {
        let Some(jails_dir) = &self.jails_dir else {
            return Ok(());
        };
        let written = match action {
            Action::WriteFile { path, .. } | Action::EditFile { path, .. } => path,
            Action::RelinkSymlinks { tree, .. } => tree,
            _ => return Ok(()),
        };
        match jail_owning(jails_dir, written) {
            Some(jail) => Err(HostError::Conflict(format!(
                "{} is in jail {jail}'s own files, which the jail's root controls; \
                 thinjail does not write there from the host (run it inside the jail)",
                written.display()
            ))),
            None => Ok(()),
        }
    }
}

/// The jail whose own files `path` is in: `<jails_dir>/<jail>/data/…` (its data
/// dataset, the jail's `/etc`, `/var`, … as it writes them) or
/// `<jails_dir>/.mountpoints/<jail>/…` below the mountpoint (its assembled root).
pub fn jail_owning(jails_dir: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(jails_dir).ok()?;
    let parts: Vec<&str> = relative
        .components()
        .map(|c| match c {
            Component::Normal(n) => n.to_str().unwrap_or("\u{fffd}"),
            _ => "..",
        })
        .collect();
    match parts.as_slice() {
        [".mountpoints", jail, _, ..] => Some(jail.to_string()),
        [jail, "data", ..] if *jail != "base" && *jail != ".mountpoints" => Some(jail.to_string()),
        _ => None,
    }
}

/// Every host path an action names, read or written.
fn paths_of(action: &Action) -> Vec<PathBuf> {
    let mut paths = action.touches().paths;
    match action {
        Action::CopyTree { from, .. } => paths.push(from.clone()),
        Action::Extract { archive, .. } => paths.push(archive.clone()),
        Action::VerifyChecksum { file, manifest, .. } => {
            paths.push(file.clone());
            paths.push(manifest.clone());
        }
        Action::VerifySha256 { file, .. } => paths.push(file.clone()),
        Action::FreebsdUpdate { config, .. } => paths.push(config.clone()),
        Action::ArchiveTree { tree, .. } => paths.push(tree.clone()),
        _ => {}
    }
    paths
}

/// Makes `dir` when missing (mode 0700, missing parents 0755) and checks that it and
/// every directory above it can be changed by nobody but root and the user running
/// thinjail, without following a link anywhere on the way.
pub fn ensure_private_dir(dir: &Path) -> Result<(), HostError> {
    let refuse = |reason: String| {
        HostError::Conflict(format!(
            "refusing to use {} as thinjail's cache: {reason}; downloads are verified and then \
             extracted as root, so nobody else may be able to write there \
             (make it belong to root, mode 0700, or set host.cache_dir elsewhere)",
            dir.display()
        ))
    };
    let me = safe_fs::effective_uid();
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let opened = safe_fs::create_dir_all(parent, 0o755)
        .and_then(|_| match safe_fs::open_dir(dir) {
            Err(e) if e.is_not_found() => safe_fs::create_dir_all(dir, 0o700),
            other => other,
        })
        .map_err(|e| match e {
            SafeFsError::Symlink { .. } => refuse(e.to_string()),
            SafeFsError::Io { .. } | SafeFsError::BadPath(_) => {
                HostError::io(format!("open {}", dir.display()), e.into())
            }
            other => refuse(other.to_string()),
        })?;
    let stat = opened
        .stat_self()
        .map_err(|e| HostError::io(format!("look at {}", dir.display()), e.into()))?;
    safe_fs::check_private_dir(dir, &stat, me).map_err(refuse)?;
    // The directories above must not let others rename the cache away either.
    safe_fs::check_trusted(
        dir,
        safe_fs::Expect::Directory,
        &safe_fs::Owners::only(me),
        "cache directory",
    )
    .map_err(|problem| refuse(problem.to_string()))?;
    Ok(())
}

/// What identifies a file's contents without reading them again: the same inode,
/// not written since (size, modification and change times; the change time cannot be
/// set back by anyone but root).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileIdentity {
    /// The identity of an open file.
    pub fn of(metadata: &std::fs::Metadata) -> Self {
        FileIdentity {
            dev: metadata.dev(),
            ino: metadata.ino(),
            size: metadata.size(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_jails_data_and_root_are_its_own() {
        let jails = Path::new("/usr/local/jails");
        let owner = |p: &str| jail_owning(jails, Path::new(p));
        assert_eq!(
            owner("/usr/local/jails/www/data/etc/rc.conf").as_deref(),
            Some("www")
        );
        assert_eq!(owner("/usr/local/jails/www/data").as_deref(), Some("www"));
        assert_eq!(
            owner("/usr/local/jails/.mountpoints/www/etc").as_deref(),
            Some("www")
        );
        assert_eq!(owner("/usr/local/jails/.mountpoints/www"), None);
        assert_eq!(owner("/usr/local/jails/www/fstab"), None);
        assert_eq!(
            owner("/usr/local/jails/base/14.3-RELEASE-template/etc/rc.conf"),
            None
        );
        assert_eq!(owner("/etc/jail.conf"), None);
        let guards = HostGuards {
            jails_dir: Some(jails.into()),
            private_dirs: vec![],
        };
        let write = |path: &str| Action::WriteFile {
            path: path.into(),
            contents: String::new(),
            mode: 0o644,
        };
        assert!(guards
            .check_native_write(&write("/usr/local/jails/www/fstab"))
            .is_ok());
        let refused = guards
            .check_native_write(&write("/usr/local/jails/www/data/etc/rc.conf"))
            .unwrap_err();
        assert!(
            refused.to_string().contains("jail www's own files"),
            "{refused}"
        );
    }

    #[test]
    fn the_cache_is_made_private_and_a_shared_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let cache = dir.path().join("var/cache/thinjail");
        ensure_private_dir(&cache).unwrap();
        assert_eq!(std::fs::metadata(&cache).unwrap().mode() & 0o7777, 0o700);
        assert_eq!(
            std::fs::metadata(cache.parent().unwrap()).unwrap().mode() & 0o7777,
            0o755
        );
        ensure_private_dir(&cache).unwrap();
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        let refused = ensure_private_dir(&cache).unwrap_err().to_string();
        assert!(
            refused.contains("writable by group or others (mode 0777)"),
            "{refused}"
        );
        let link = dir.path().join("linked");
        std::os::unix::fs::symlink(&cache, &link).unwrap();
        let refused = ensure_private_dir(&link).unwrap_err().to_string();
        assert!(refused.contains("is a symbolic link"), "{refused}");
    }
}
