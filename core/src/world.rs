//! The world model: what thinjail knows about a host — ZFS datasets and snapshots, the
//! kinds and contents of the paths stages asked about, mounts and running jails.
//!
//! A world is observed once (see [`crate::host::Host::observe`]); planning then works on
//! a copy to which each planned action's effect is applied
//! ([`crate::action::Action::apply_to`]), so every stage plans against the state the
//! earlier stages will leave.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::snapshot::Snapshot;

/// Everything known about a host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct World {
    /// Datasets and snapshots (`pool/a` and `pool/a@snap`) by full name.
    pub datasets: BTreeMap<String, Dataset>,
    /// Kinds (and, for files read, contents) of observed paths.
    pub paths: BTreeMap<PathBuf, PathState>,
    /// Mounted filesystems.
    pub mounts: Vec<Mount>,
    /// Running jails by name.
    pub jails: BTreeMap<String, RunningJail>,
    /// Whether this world was observed on a host (false: assumed empty).
    pub observed: bool,
    /// Directories whose every entry is in `paths` (observed with a listing, or
    /// created by the plan): globs over them are complete.
    #[serde(default)]
    pub listed: BTreeSet<PathBuf>,
    /// The kernel's limits, when observed ([`crate::probes::Probes::limits`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<crate::resources::ObservedLimits>,
    /// The host's CPUs and jails' CPU sets, when observed
    /// ([`crate::probes::Probes::cpusets`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<crate::resources::ObservedCpus>,
    /// The host's network interfaces (`ifconfig -l`), observed only for a recipe
    /// with VNET jails or bridges, or a host whose rc.conf holds a bridge block of
    /// thinjail's ([`crate::observe::widen_for_marks`]).
    #[serde(default)]
    pub interfaces: Option<BTreeSet<String>>,
    /// The descriptions of the interfaces named like the host's half of a thinjail
    /// epair ([`crate::leftover_epairs::described_candidates`]), observed with
    /// `interfaces` (`ifconfig NAME`'s `description:` line); one without a
    /// description is absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub interface_descriptions: BTreeMap<String, String>,
    /// pf and thinjail's anchor in it, observed only for a recipe with VNET jails
    /// or NAT and forwards, or while thinjail's anchor file exists
    /// ([`crate::probes::ObservationRequest::pf`], [`crate::observe::widen_for_marks`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pf: Option<crate::network::pf::ObservedPf>,
    /// The kernel's devfs rulesets (`devfs rule showsets`), each with its rules as
    /// `devfs rule -s N show` prints them (`100 include 4`), observed only for a
    /// recipe with DHCP jails ([`crate::probes::ObservationRequest::devfs_rulesets`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devfs_rulesets: Option<BTreeMap<u32, Vec<String>>>,
    /// Each dataset asked about with [`crate::probes::Probes::delegated`]: its state,
    /// `None` when it does not exist.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub delegated: BTreeMap<String, Option<crate::resources::datasets::DelegatedState>>,
    /// The host's bridges, their members, the uplinks' addresses and
    /// `net.link.bridge.member_ifaddrs`, observed with `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridges: Option<crate::observed_bridges::ObservedBridges>,
    /// The running kernel's release (`kern.osrelease`: `15.0-RELEASE-p1`), when
    /// observed ([`crate::probes::Probes::kernel_release`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_release: Option<String>,
}

/// A ZFS dataset or snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dataset {
    /// Filesystem, volume or snapshot.
    pub kind: DatasetKind,
    /// Space used, in bytes (0 for planned datasets).
    pub used: u64,
    /// Space referenced, in bytes.
    pub referenced: u64,
    /// Mountpoint of a filesystem.
    pub mountpoint: Option<PathBuf>,
    /// The snapshot a clone was made from.
    pub origin: Option<String>,
    /// Creation transaction group: orders snapshots by age. A planned dataset or
    /// snapshot gets one newer than what it is made from (parent, origin; for a
    /// snapshot, its dataset and the dataset's other snapshots).
    pub createtxg: u64,
    /// Creation time, seconds since the epoch (0 for planned datasets).
    #[serde(default)]
    pub creation: u64,
    /// The value of `thinjail:managed` when the dataset has it as its own (set or
    /// received, not inherited): the jails dataset of the thinjail that made it.
    /// `None` on datasets thinjail did not make (see [`crate::layout::MANAGED_PROPERTY`]).
    #[serde(default)]
    pub managed: Option<String>,
}

/// Kind of a ZFS dataset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// A filesystem.
    #[default]
    Filesystem,
    /// A snapshot.
    Snapshot,
    /// A volume.
    Volume,
}

/// What is at a path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PathState {
    /// Nothing (or never observed).
    #[default]
    Missing,
    /// A directory.
    Directory,
    /// A regular file, with its contents when they were read (UTF-8 only).
    File {
        /// Contents, if read.
        contents: Option<String>,
    },
    /// A symbolic link.
    Symlink {
        /// Where it points.
        target: PathBuf,
    },
}

impl PathState {
    /// Whether something is there.
    pub fn exists(&self) -> bool {
        !matches!(self, PathState::Missing)
    }
}

impl std::fmt::Display for PathState {
    /// What is there, in words: "a symbolic link to /", "a file", ….
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathState::Missing => write!(f, "nothing"),
            PathState::Directory => write!(f, "a directory"),
            PathState::File { .. } => write!(f, "a file"),
            PathState::Symlink { target } => {
                write!(f, "a symbolic link to {}", target.display())
            }
        }
    }
}

/// A mounted filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// What is mounted (device, dataset or directory).
    pub source: String,
    /// Where.
    pub target: PathBuf,
    /// Filesystem type (`nullfs`, `zfs`, `devfs`…).
    pub fstype: String,
    /// Whether it is read-only.
    pub read_only: bool,
}

/// A running jail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningJail {
    /// Jail ID (0 for a jail this plan will start).
    pub jid: u32,
    /// Its name.
    pub name: String,
    /// Its root.
    pub path: PathBuf,
    /// IPv4 addresses.
    pub ip4: Vec<String>,
    /// IPv6 addresses.
    pub ip6: Vec<String>,
    /// Removed but still holding resources (`jls -d` shows it): not running, and its
    /// name is free for a new jail.
    #[serde(default)]
    pub dying: bool,
}

/// Directories a FreeBSD base release has once installed; planned installs mark them
/// present so later stages plan against a populated base. Not `usr/home` (nor
/// `home`): base.txz has neither; pw(8) made them at the first `pw useradd -m`
/// before 14.0.
pub const FREEBSD_BASE_DIRS: [&str; 19] = [
    "bin",
    "boot",
    "dev",
    "etc",
    "lib",
    "libexec",
    "media",
    "mnt",
    "net",
    "proc",
    "rescue",
    "root",
    "sbin",
    "tmp",
    "usr",
    "usr/bin",
    "usr/local",
    "usr/share",
    "var",
];

impl World {
    /// An empty world: nothing exists. Used when the host cannot be observed.
    pub fn empty() -> Self {
        World::default()
    }

    /// The dataset or snapshot called `name`.
    pub fn dataset(&self, name: &str) -> Option<&Dataset> {
        self.datasets.get(name)
    }

    /// Whether the dataset or snapshot `name` exists.
    pub fn has_dataset(&self, name: &str) -> bool {
        self.datasets.contains_key(name)
    }

    /// Whether `dataset@snapshot` exists.
    pub fn has_snapshot(&self, dataset: &str, snapshot: &str) -> bool {
        self.datasets
            .contains_key(&Snapshot::new(dataset, snapshot).to_string())
    }

    /// Snapshot names of `dataset`, oldest first.
    pub fn snapshots_of(&self, dataset: &str) -> Vec<(&str, &Dataset)> {
        let prefix = format!("{dataset}@");
        let mut snapshots: Vec<(&str, &Dataset)> = self
            .datasets
            .range(prefix.clone()..)
            .take_while(|(name, _)| name.starts_with(&prefix))
            .map(|(name, ds)| (&name[prefix.len()..], ds))
            .collect();
        snapshots.sort_by_key(|(name, ds)| (ds.createtxg, name.to_string()));
        snapshots
    }

    /// Datasets (not snapshots) strictly inside `dataset`.
    pub fn children_of<'a>(
        &'a self,
        dataset: &str,
    ) -> impl Iterator<Item = (&'a String, &'a Dataset)> + 'a {
        let prefix = format!("{dataset}/");
        self.datasets
            .range(prefix.clone()..)
            .take_while(move |(name, _)| name.starts_with(&prefix))
            .filter(|(name, _)| !name.contains('@'))
    }

    /// What is at `path` (Missing when never observed).
    pub fn path(&self, path: &Path) -> &PathState {
        static MISSING: PathState = PathState::Missing;
        self.paths.get(path).unwrap_or(&MISSING)
    }

    /// What stopped a look below `root` ([`crate::probes::Probes::beneath`]) from
    /// reaching `path`: the first component between them (`root` and `path`
    /// excluded) that the world records as neither a directory nor missing — a
    /// symbolic link, a file — with its state.
    pub fn blocked_beneath<'a>(
        &'a self,
        root: &Path,
        path: &Path,
    ) -> Option<(PathBuf, &'a PathState)> {
        let relative = path.strip_prefix(root).ok()?;
        let mut walked = root.to_path_buf();
        let mut components = relative.components().peekable();
        while let Some(component) = components.next() {
            if components.peek().is_none() {
                break;
            }
            walked.push(component);
            match self.paths.get(&walked) {
                None | Some(PathState::Directory | PathState::Missing) => {}
                Some(state) => return Some((walked, state)),
            }
        }
        None
    }

    /// The contents of the file at `path`, if it is a file that was read.
    pub fn file_contents(&self, path: &Path) -> Option<&str> {
        match self.paths.get(path) {
            Some(PathState::File { contents }) => contents.as_deref(),
            _ => None,
        }
    }

    /// Whether a jail called `name` is running (dying jails are not).
    pub fn is_running(&self, name: &str) -> bool {
        self.running_jail(name).is_some()
    }

    /// What destroying interface `name` does besides removing it: for the host's
    /// half of a thinjail epair (`tjNAMEa`), its description and the other half
    /// (`tjNAMEb`) go too, as `epair_clone_destroy` takes both halves.
    pub fn forget_destroyed_epair(&mut self, name: &str) {
        self.interface_descriptions.remove(name);
        if let Some(stem) = name
            .strip_suffix('a')
            .filter(|_| crate::recipe::network::is_host_half(name))
        {
            if let Some(interfaces) = self.interfaces.as_mut() {
                interfaces.remove(&format!("{stem}b"));
            }
        }
    }

    /// The running (not dying) jail called `name`.
    pub fn running_jail(&self, name: &str) -> Option<&RunningJail> {
        self.jails.get(name).filter(|j| !j.dying)
    }

    /// Mounts at or below `path`, deepest first (the order to unmount them in).
    pub fn mounts_under(&self, path: &Path) -> Vec<&Mount> {
        let mut mounts: Vec<&Mount> = self
            .mounts
            .iter()
            .filter(|m| m.target.starts_with(path))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.target.components().count()));
        mounts
    }

    // ----- effects, used by `Action::apply_to` -----

    /// Records a directory and its missing ancestors.
    pub fn add_dir(&mut self, path: &Path) {
        for ancestor in path.ancestors() {
            if ancestor.as_os_str().is_empty() || ancestor == Path::new("/") {
                break;
            }
            match self.paths.get(ancestor) {
                Some(PathState::Directory) => break,
                Some(PathState::Missing) | None => {
                    self.paths
                        .insert(ancestor.to_path_buf(), PathState::Directory);
                    // Made now, so empty: every entry it will have is planned.
                    self.listed.insert(ancestor.to_path_buf());
                }
                // Something else is there: leave it, the host will report the conflict.
                Some(_) => break,
            }
        }
    }

    /// Sets what is at `path`.
    pub fn set_path(&mut self, path: &Path, state: PathState) {
        self.paths.insert(path.to_path_buf(), state);
    }

    /// Recorded paths at and below `path`. Paths order component by component, so
    /// they are one range of the map: no scan of the whole world.
    fn entries_under<'a>(
        &'a self,
        path: &'a Path,
    ) -> impl Iterator<Item = (&'a PathBuf, &'a PathState)> + 'a {
        use std::ops::Bound;
        self.paths
            .range::<Path, _>((Bound::Included(path), Bound::Unbounded))
            .take_while(move |(p, _)| p.starts_with(path))
    }

    /// Removes `path` and everything recorded below it.
    pub fn remove_tree(&mut self, path: &Path) {
        let below: Vec<PathBuf> = self
            .entries_under(path)
            .map(|(p, _)| p)
            .filter(|p| p.as_path() != path)
            .cloned()
            .collect();
        for p in below {
            self.paths.remove(&p);
        }
        self.paths.insert(path.to_path_buf(), PathState::Missing);
    }

    /// Copies what is recorded at and below `from` to `to`.
    pub fn copy_tree(&mut self, from: &Path, to: &Path) {
        let entries: Vec<(PathBuf, PathState)> = self
            .entries_under(from)
            .filter_map(|(p, s)| Some((to.join(p.strip_prefix(from).ok()?), s.clone())))
            .collect();
        let source_known = self.path(from).exists();
        if let Some(parent) = to.parent() {
            self.add_dir(parent);
        }
        for (p, s) in entries {
            if s.exists() {
                self.paths.insert(p, s);
            }
        }
        if !source_known {
            // The source is planned content we know nothing about (e.g. an extracted
            // set): the copy is at least a directory.
            self.paths.insert(to.to_path_buf(), PathState::Directory);
        }
    }

    /// Adds a filesystem (and, with `parents`, its missing ancestors), inheriting
    /// mountpoints as ZFS does.
    pub fn add_filesystem(&mut self, name: &str, mountpoint: Option<&Path>, origin: Option<&str>) {
        if self.has_dataset(name) {
            return;
        }
        let mountpoint = mountpoint
            .map(Path::to_path_buf)
            .or_else(|| self.inherited_mountpoint(name));
        if let Some(mp) = &mountpoint {
            self.add_dir(mp);
        }
        let parent = name.rsplit_once('/').map(|(parent, _)| parent);
        let createtxg = self.next_txg(parent.into_iter().chain(origin));
        self.datasets.insert(
            name.to_string(),
            Dataset {
                kind: DatasetKind::Filesystem,
                mountpoint,
                origin: origin.map(String::from),
                createtxg,
                ..Dataset::default()
            },
        );
    }

    /// Records `dataset`'s own [`crate::layout::MANAGED_PROPERTY`] value.
    pub fn set_managed(&mut self, dataset: &str, managed: Option<String>) {
        if let Some(d) = self.datasets.get_mut(dataset) {
            d.managed = managed;
        }
    }

    /// Adds `dataset@snapshot`.
    pub fn add_snapshot(&mut self, dataset: &str, snapshot: &str) {
        let newest = self
            .snapshots_of(dataset)
            .last()
            .map_or(0, |(_, d)| d.createtxg);
        let createtxg = self.next_txg([dataset]).max(newest + 1);
        self.datasets
            .entry(Snapshot::new(dataset, snapshot).to_string())
            .or_insert(Dataset {
                kind: DatasetKind::Snapshot,
                createtxg,
                ..Dataset::default()
            });
    }

    /// Removes a dataset, its snapshots and (with `recursive`) its children.
    pub fn remove_dataset(&mut self, name: &str, recursive: bool) {
        let (snapshots, children) = (format!("{name}@"), format!("{name}/"));
        let doomed: Vec<String> = self
            .datasets
            .keys()
            .filter(|d| {
                d.as_str() == name
                    || d.starts_with(&snapshots)
                    || (recursive && d.starts_with(&children))
            })
            .cloned()
            .collect();
        for d in doomed {
            if let Some(Dataset {
                mountpoint: Some(mp),
                kind: DatasetKind::Filesystem,
                ..
            }) = self.datasets.remove(&d)
            {
                self.remove_tree(&mp);
            }
        }
    }

    /// Removes snapshots of `dataset` newer than `snapshot` (what `zfs rollback -r` does).
    pub fn remove_snapshots_after(&mut self, dataset: &str, snapshot: &str) {
        let Some(txg) = self
            .dataset(&Snapshot::new(dataset, snapshot).to_string())
            .map(|d| d.createtxg)
        else {
            return;
        };
        let newer: Vec<String> = self
            .snapshots_of(dataset)
            .into_iter()
            .filter(|(_, ds)| ds.createtxg > txg)
            .map(|(name, _)| Snapshot::new(dataset, name).to_string())
            .collect();
        for name in newer {
            self.datasets.remove(&name);
        }
    }

    fn inherited_mountpoint(&self, name: &str) -> Option<PathBuf> {
        let (parent, leaf) = name.rsplit_once('/')?;
        let parent_mp = self.dataset(parent)?.mountpoint.clone()?;
        Some(parent_mp.join(leaf))
    }

    /// A transaction group newer than those of `sources` (what a planned dataset
    /// derives from: its parent and origin, or, for a snapshot, its dataset).
    /// Planned groups order what needs ordering — a dataset's snapshots by age —
    /// without a scan of every dataset for each one planned.
    fn next_txg<'a>(&self, sources: impl IntoIterator<Item = &'a str>) -> u64 {
        sources
            .into_iter()
            .filter_map(|name| self.dataset(name))
            .map(|d| d.createtxg)
            .max()
            .unwrap_or(0)
            + 1
    }

    /// Names of all datasets and snapshots at or below `root`.
    pub fn names_under(&self, root: &str) -> BTreeSet<String> {
        let (children, snapshots) = (format!("{root}/"), format!("{root}@"));
        self.datasets
            .keys()
            .filter(|n| n.as_str() == root || n.starts_with(&children) || n.starts_with(&snapshots))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filesystems_inherit_mountpoints() {
        let mut w = World::empty();
        w.add_filesystem("zroot/jails", Some(Path::new("/usr/local/jails")), None);
        w.add_filesystem("zroot/jails/base", None, None);
        w.add_filesystem("zroot/jails/base/13.1-RELEASE-base", None, None);
        assert_eq!(
            w.dataset("zroot/jails/base/13.1-RELEASE-base")
                .unwrap()
                .mountpoint
                .as_deref(),
            Some(Path::new("/usr/local/jails/base/13.1-RELEASE-base"))
        );
        assert_eq!(
            w.path(Path::new("/usr/local/jails/base")),
            &PathState::Directory
        );
    }

    #[test]
    fn snapshots_are_ordered_and_rolled_back() {
        let mut w = World::empty();
        w.add_filesystem("p/a", Some(Path::new("/a")), None);
        w.add_snapshot("p/a", "one");
        w.add_snapshot("p/a", "two");
        w.add_snapshot("p/a", "three");
        let names: Vec<&str> = w.snapshots_of("p/a").into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["one", "two", "three"]);
        w.remove_snapshots_after("p/a", "one");
        assert!(w.has_snapshot("p/a", "one"));
        assert!(!w.has_snapshot("p/a", "two"));
    }

    #[test]
    fn trees_are_one_range_of_paths_and_leave_their_siblings() {
        let mut w = World::empty();
        for dir in [
            "/b/etc/ssl",
            "/b/etc/a/b",
            "/b/etc-old",
            "/b/etc.d",
            "/b/et",
            "/b/etcx/y",
        ] {
            w.add_dir(Path::new(dir));
        }
        w.copy_tree(Path::new("/b/etc"), Path::new("/t/etc"));
        let copied: Vec<&Path> = w
            .paths
            .keys()
            .map(PathBuf::as_path)
            .filter(|p| p.starts_with("/t"))
            .collect();
        assert_eq!(
            copied,
            ["/t", "/t/etc", "/t/etc/a", "/t/etc/a/b", "/t/etc/ssl"].map(Path::new)
        );
        w.remove_tree(Path::new("/b/etc"));
        for gone in ["/b/etc", "/b/etc/ssl", "/b/etc/a/b"] {
            assert!(!w.path(Path::new(gone)).exists(), "{gone}");
        }
        for kept in ["/b/etc-old", "/b/etc.d", "/b/et", "/b/etcx/y"] {
            assert!(w.path(Path::new(kept)).exists(), "{kept}");
        }
    }

    #[test]
    fn trees_move() {
        let mut w = World::empty();
        w.add_dir(Path::new("/b/etc/ssl"));
        w.copy_tree(Path::new("/b/etc"), Path::new("/t/etc"));
        assert_eq!(w.path(Path::new("/t/etc/ssl")), &PathState::Directory);
        w.remove_tree(Path::new("/b/etc"));
        assert!(!w.path(Path::new("/b/etc/ssl")).exists());
        assert!(!w.path(Path::new("/b/etc")).exists());
    }
}
