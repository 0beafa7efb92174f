//! The on-disk layout of the article, derived from a recipe: dataset names and paths
//! of bases, templates, per-jail data, fstabs and mountpoints. Every stage asks this
//! module, so they all agree on where things are.
//!
//! ```text
//! <jails_dir>/                      <jails_dataset>
//!   base/<REL>-base                 .../base/<REL>-base        read-only base, @install, @gold
//!   base/<REL>-template             .../base/<REL>-template    template, @gold
//!   <jail>/data                     .../<jail>/data            the jail's writable files
//!   <jail>/fstab
//!   .mountpoints/<jail>             .../.mountpoints           where base and data meet
//! ```

use std::path::{Path, PathBuf};

use crate::recipe::Recipe;

/// Snapshot of a freshly installed base.
pub const INSTALL_SNAPSHOT: &str = "install";
/// Snapshot of a finished base or template (the article's "gold master").
pub const GOLD_SNAPSHOT: &str = "gold";
/// Directory in the base where a jail's data is mounted.
pub const SKELETON_DIR: &str = "skeleton";

/// Names and paths derived from a recipe's host section.
#[derive(Clone, Copy, Debug)]
pub struct Layout<'a> {
    recipe: &'a Recipe,
}

impl<'a> Layout<'a> {
    /// The layout of `recipe`.
    pub fn new(recipe: &'a Recipe) -> Self {
        Layout { recipe }
    }

    /// The recipe this layout is derived from.
    pub fn recipe(&self) -> &'a Recipe {
        self.recipe
    }

    /// `zroot/jails`.
    pub fn jails_dataset(&self) -> &'a str {
        &self.recipe.host.jails_dataset
    }

    /// `/usr/local/jails`.
    pub fn jails_dir(&self) -> &'a Path {
        &self.recipe.host.jails_dir
    }

    /// `zroot/jails/base/<REL>-base`.
    pub fn base_dataset(&self, release: &str) -> String {
        format!("{}/base/{release}-base", self.jails_dataset())
    }

    /// `/usr/local/jails/base/<REL>-base`.
    pub fn base_dir(&self, release: &str) -> PathBuf {
        self.jails_dir()
            .join("base")
            .join(format!("{release}-base"))
    }

    /// `zroot/jails/base/<REL>-template`.
    pub fn template_dataset(&self, release: &str) -> String {
        format!("{}/base/{release}-template", self.jails_dataset())
    }

    /// `/usr/local/jails/base/<REL>-template`.
    pub fn template_dir(&self, release: &str) -> PathBuf {
        self.jails_dir()
            .join("base")
            .join(format!("{release}-template"))
    }

    /// `zroot/jails/.mountpoints`.
    pub fn mountpoints_dataset(&self) -> String {
        format!("{}/.mountpoints", self.jails_dataset())
    }

    /// `/usr/local/jails/.mountpoints`.
    pub fn mountpoints_dir(&self) -> PathBuf {
        self.jails_dir().join(".mountpoints")
    }

    /// `zroot/jails/<jail>`.
    pub fn jail_dataset(&self, jail: &str) -> String {
        format!("{}/{jail}", self.jails_dataset())
    }

    /// `/usr/local/jails/<jail>`.
    pub fn jail_dir(&self, jail: &str) -> PathBuf {
        self.jails_dir().join(jail)
    }

    /// `zroot/jails/<jail>/data`: the jail's own, writable files.
    pub fn data_dataset(&self, jail: &str) -> String {
        format!("{}/data", self.jail_dataset(jail))
    }

    /// `/usr/local/jails/<jail>/data`.
    pub fn data_dir(&self, jail: &str) -> PathBuf {
        self.jail_dir(jail).join("data")
    }

    /// `/usr/local/jails/<jail>/fstab`.
    pub fn fstab(&self, jail: &str) -> PathBuf {
        self.jail_dir(jail).join("fstab")
    }

    /// `/usr/local/jails/.mountpoints/<jail>`: the jail's root while it runs.
    pub fn root(&self, jail: &str) -> PathBuf {
        self.mountpoints_dir().join(jail)
    }

    /// The directories the host may change on this recipe's behalf.
    pub fn confinement_roots(&self) -> Vec<PathBuf> {
        let host = &self.recipe.host;
        vec![
            host.jails_dir.clone(),
            host.jail_conf.clone(),
            host.rc_conf.clone(),
            host.cache_dir.clone(),
        ]
    }

    /// Whether `dataset` is the jails dataset or inside it.
    pub fn owns_dataset(&self, dataset: &str) -> bool {
        let root = self.jails_dataset();
        let name = dataset.split('@').next().unwrap_or(dataset);
        name == root || name.starts_with(&format!("{root}/"))
    }

    /// Whether `path` is inside one of [`Layout::confinement_roots`].
    pub fn owns_path(&self, path: &Path) -> bool {
        self.confinement_roots()
            .iter()
            .any(|root| path == root || path.starts_with(root))
            || is_companion_of(path, &self.recipe.host.jail_conf)
            || is_companion_of(path, &self.recipe.host.rc_conf)
    }
}

/// Temporary files written next to a shared file (`/etc/jail.conf.thinjail-new`) belong to it.
fn is_companion_of(path: &Path, file: &Path) -> bool {
    match (
        path.parent(),
        path.file_name(),
        file.parent(),
        file.file_name(),
    ) {
        (Some(dir), Some(name), Some(file_dir), Some(file_name)) => {
            dir == file_dir
                && name
                    .to_str()
                    .zip(file_name.to_str())
                    .is_some_and(|(n, f)| n.starts_with(&format!("{f}.thinjail-")))
        }
        _ => false,
    }
}

/// The symlink target that makes `<base>/<path>` point into the skeleton, relative to
/// the link's own directory, as the article's note explains: `etc` → `./skeleton/etc`,
/// `usr/home` → `../skeleton/usr/home`.
pub fn skeleton_link_target(path: &str) -> String {
    let depth = path.matches('/').count();
    let up = if depth == 0 {
        "./".to_string()
    } else {
        "../".repeat(depth)
    };
    format!("{up}{SKELETON_DIR}/{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_follow_the_articles_note() {
        assert_eq!(skeleton_link_target("etc"), "./skeleton/etc");
        assert_eq!(skeleton_link_target("usr/home"), "../skeleton/usr/home");
        assert_eq!(
            skeleton_link_target("usr/local/etc"),
            "../../skeleton/usr/local/etc"
        );
    }
}
