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
//!
//! It also says what belongs to whom: which datasets thinjail made (they carry
//! [`MANAGED_PROPERTY`]), which paths a jail's root controls (its data and everything
//! below its assembled root), and which running jail is not ours.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::recipe::{Install, Recipe, TemplateFile};
use crate::world::{DatasetKind, RunningJail, World};

/// Snapshot of a freshly installed base.
pub const INSTALL_SNAPSHOT: &str = "install";
/// Snapshot of a finished base or template (the article's "gold master").
pub const GOLD_SNAPSHOT: &str = "gold";
/// Directory in the base where a jail's data is mounted.
pub const SKELETON_DIR: &str = "skeleton";
/// The ZFS user property thinjail sets on every dataset it creates (`zfs create -o`,
/// `zfs clone -o`, and carried by `zfs send -p` from the template): its value is the
/// recipe's jails dataset. A dataset without it as its own value (set or received,
/// not inherited) is not thinjail's, whatever its name.
pub const MANAGED_PROPERTY: &str = "thinjail:managed";
/// Directories right below a jail's root that are real directories of the read-only
/// base (not links into the jail's data) and that jail(8) mounts on: `mount.devfs`,
/// `mount.procfs`, and the data's `skeleton`. Only unmounting them is allowed below a
/// root (see [`Layout::jail_controlled`]).
pub const ROOT_MOUNT_DIRS: [&str; 3] = ["dev", "proc", SKELETON_DIR];

/// Where, in the paths a jail's root controls, a path lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JailArea {
    /// `<jails_dir>/<jail>/data` or below: the jail's own files.
    Data {
        /// The jail.
        jail: String,
    },
    /// Below `<jails_dir>/.mountpoints/<jail>`: the jail's assembled root while it
    /// runs (the base, its data on `skeleton`, its devfs).
    Root {
        /// The jail.
        jail: String,
        /// The path relative to the root (`dev`, `etc/rc.conf`).
        relative: PathBuf,
    },
}

impl JailArea {
    /// The jail.
    pub fn jail(&self) -> &str {
        match self {
            JailArea::Data { jail } | JailArea::Root { jail, .. } => jail,
        }
    }
}

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

    /// `/etc/jail.conf.d/<jail>.conf`: the jail's own jail.conf(5), thinjail's.
    pub fn jail_conf_file(&self, jail: &str) -> PathBuf {
        self.recipe.host.jail_conf_dir.join(format!("{jail}.conf"))
    }

    /// Where the system whose boot configuration this is lies on the host.
    pub fn system_root(&self) -> crate::boot::SystemRoot {
        crate::boot::SystemRoot::new(&self.recipe.host.system_root)
    }

    /// The rc.conf(5) files thinjail may edit (host paths): `host.rc_conf`, and the
    /// files rc(8) reads for `service jail` in a default layout — `/etc/rc.conf`,
    /// `/etc/rc.conf.local`, `/etc/rc.conf.d/jail` and
    /// `/usr/local/etc/rc.conf.d/jail` (a file, or the files of such a directory).
    pub fn rc_files(&self) -> Vec<PathBuf> {
        let root = self.system_root();
        let mut files = vec![self.recipe.host.rc_conf.clone()];
        for path in [
            "/etc/rc.conf",
            "/etc/rc.conf.local",
            "/etc/rc.conf.d/jail",
            "/usr/local/etc/rc.conf.d/jail",
        ] {
            files.push(root.host(Path::new(path)));
        }
        files
    }

    /// Whether thinjail may edit the rc.conf-style file `path`: one of
    /// [`Layout::rc_files`], or a file directly in an `rc.conf.d/jail` directory.
    pub fn is_rc_file(&self, path: &Path) -> bool {
        let files = self.rc_files();
        files.iter().any(|f| f == path)
            || files[3..]
                .iter()
                .any(|dir| path.parent() == Some(dir.as_path()))
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

    /// `zroot/jails/base`: holds the bases and templates.
    pub fn bases_dataset(&self) -> String {
        format!("{}/base", self.jails_dataset())
    }

    /// `{"thinjail:managed": "<jails_dataset>"}`: the properties every dataset
    /// thinjail creates carries.
    pub fn managed_properties(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(
            MANAGED_PROPERTY.to_string(),
            self.jails_dataset().to_string(),
        )])
    }

    /// Whether `dataset` (a filesystem; for a snapshot, its filesystem) exists in
    /// `world` with this recipe's [`MANAGED_PROPERTY`] as its own.
    pub fn is_ours(&self, world: &World, dataset: &str) -> bool {
        let name = dataset.split('@').next().unwrap_or(dataset);
        world
            .dataset(name)
            .is_some_and(|d| d.managed.as_deref() == Some(self.jails_dataset()))
    }

    /// Every dataset this recipe's layout uses: the jails dataset, the bases
    /// dataset, each release's base and template, the mountpoints dataset (when
    /// there are jails) and each jail's dataset and data.
    pub fn recipe_datasets(&self) -> Vec<String> {
        let recipe = self.recipe;
        let mut names = vec![self.jails_dataset().to_string()];
        if !recipe.releases.is_empty() {
            names.push(self.bases_dataset());
        }
        for release in &recipe.releases {
            names.push(self.base_dataset(&release.name));
            names.push(self.template_dataset(&release.name));
        }
        if !recipe.jails.is_empty() {
            names.push(self.mountpoints_dataset());
        }
        for jail in &recipe.jails {
            names.push(self.jail_dataset(&jail.name));
            names.push(self.data_dataset(&jail.name));
        }
        names
    }

    /// Those of `datasets` that exist in `world` but are not ours.
    pub fn not_ours<'n>(&self, world: &World, datasets: &'n [String]) -> Vec<&'n String> {
        datasets
            .iter()
            .filter(|d| world.has_dataset(d) && !self.is_ours(world, d))
            .collect()
    }

    /// Why thinjail will not use `datasets` (existing, not marked as its own), and
    /// the commands that hand them over to it.
    pub fn not_ours_message(&self, datasets: &[&String]) -> String {
        let list: Vec<&str> = datasets.iter().map(|d| d.as_str()).collect();
        let commands: Vec<String> = list
            .iter()
            .map(|d| format!("  zfs set {MANAGED_PROPERTY}={} {d}", self.jails_dataset()))
            .collect();
        let (has, is, them) = if list.len() == 1 {
            ("it has", "it is", "it")
        } else {
            ("they have", "they are", "them")
        };
        format!(
            "thinjail did not create {} ({has} no {MANAGED_PROPERTY}={} of {} own) and never takes over \
             a dataset silently; if {is} thinjail's (made before thinjail marked its datasets) or thinjail \
             should manage {them}, mark {them} and run again:\n{}\nor give the recipe other names \
             (host.jails_dataset, the jail's name)",
            list.join(", "),
            self.jails_dataset(),
            if list.len() == 1 { "its" } else { "their" },
            commands.join("\n")
        )
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
            || self.is_rc_file(path)
            || self.rc_files().iter().any(|f| is_companion_of(path, f))
            || self.is_jail_conf_file(path)
            || path == self.recipe.host.jail_conf_dir
            || path == self.recipe.host.network.pf.anchor_file
            || is_companion_of(path, &self.recipe.host.network.pf.anchor_file)
    }
}

impl Layout<'_> {
    /// Whether `path` is `jail_conf_dir/NAME.conf` for a valid jail name (or a
    /// temporary file written next to one).
    pub fn is_jail_conf_file(&self, path: &Path) -> bool {
        path.parent() == Some(self.recipe.host.jail_conf_dir.as_path())
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split_once(".conf"))
                .is_some_and(|(jail, rest)| {
                    crate::recipe::validate::check_jail_name(jail).is_ok()
                        && (rest.is_empty() || rest.starts_with(".thinjail-"))
                })
    }

    /// Files outside [`Layout::confinement_roots`] that the recipe names as inputs
    /// (a local `Archive` set and its `MANIFEST`, etcupdate tarballs, the host files
    /// `template.files` copies): actions may read these, never write them.
    pub fn recipe_inputs(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for release in &self.recipe.releases {
            if let Install::Archive { path, manifest } = &release.install {
                files.push(path.clone());
                files.extend(manifest.iter().cloned());
            }
            files.extend(release.etcupdate.iter().cloned());
        }
        // The host files template.files copies (validation keeps them outside jails_dir).
        for source in self.recipe.template.files.values() {
            if let TemplateFile::Host(path) = source {
                files.push(path.clone());
            }
        }
        files
    }

    /// Whether an action may read `path`: anything it may write, and the recipe's
    /// own input files (exactly those files).
    pub fn may_read(&self, path: &Path) -> bool {
        self.owns_path(path) || self.recipe_inputs().iter().any(|f| f == path)
    }

    /// The directories whose insides thinjail controls, so that every component
    /// below them is checked before an action runs: `jails_dir` and `cache_dir`.
    pub fn controlled_dirs(&self) -> Vec<PathBuf> {
        let host = &self.recipe.host;
        vec![host.jails_dir.clone(), host.cache_dir.clone()]
    }

    /// If `path` is one a jail's root controls, which jail and where:
    /// `<jails_dir>/<jail>/data` and below, and anything below
    /// `<jails_dir>/.mountpoints/<jail>` (the root directory itself is not: it is a
    /// directory of the mountpoints dataset). Lexical: `path` is taken as written.
    pub fn jail_controlled(&self, path: &Path) -> Option<JailArea> {
        let relative = path.strip_prefix(self.jails_dir()).ok()?;
        let mut parts = relative.components();
        let first = parts.next()?.as_os_str().to_str()?.to_string();
        let second = parts.next()?;
        if first == ".mountpoints" {
            let jail = second.as_os_str().to_str()?.to_string();
            let below: PathBuf = parts.collect();
            return (!below.as_os_str().is_empty()).then_some(JailArea::Root {
                jail,
                relative: below,
            });
        }
        (first != "base" && second.as_os_str() == "data").then_some(JailArea::Data { jail: first })
    }

    /// A running jail called `name` that is not this recipe's jail of that name: its
    /// root is not [`Layout::root`]. thinjail never stops, replaces or enters it.
    pub fn foreign_jail<'w>(&self, world: &'w World, name: &str) -> Option<&'w RunningJail> {
        let root = self.root(name);
        world
            .running_jail(name)
            .filter(|jail| crate::edit::normalize(&jail.path) != root)
    }

    /// Filesystems (not snapshots) strictly below `dataset` in `world` that are not ours.
    pub fn foreign_children(&self, world: &World, dataset: &str) -> Vec<String> {
        world
            .children_of(dataset)
            .filter(|(name, d)| d.kind != DatasetKind::Snapshot && !self.is_ours(world, name))
            .map(|(name, _)| name.clone())
            .collect()
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
