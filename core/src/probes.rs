//! What a stage asks to have observed before it plans ([`Probes`]), and the one
//! request a host's [`observe`](crate::host::Host::observe) answers
//! ([`ObservationRequest`]). Plain data: stages, the pipeline and hosts all name it,
//! and it names none of them.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What to observe: the jails dataset's datasets, mounts, running jails, and the
/// paths stages asked about.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ObservationRequest {
    /// The pool (observed alone only when the jails dataset does not exist yet).
    pub pool: String,
    /// The dataset whose tree (datasets and snapshots) is listed, one `zfs get -r`.
    pub jails_dataset: String,
    /// Paths and files to look at.
    pub probes: Probes,
    /// Whether to list the host's network interfaces and bridges (a recipe with
    /// VNET jails or bridges, or a bridge thinjail made on the host:
    /// [`crate::observe::widen_for_marks`]).
    pub interfaces: bool,
    /// Whether to observe pf (`pfctl -s info`, `pfctl -P -a thinjail/jails -s nat`):
    /// a recipe with VNET jails or NAT and forwards, or thinjail's anchor file on
    /// the host ([`crate::observe::widen_for_marks`]).
    pub pf: bool,
    /// Whether to read the kernel's devfs rulesets (a recipe with DHCP jails).
    pub devfs_rulesets: bool,
    /// Interfaces whose addresses are needed (the members of bridges thinjail
    /// makes: [`crate::bridges::uplinks`]).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub uplinks: BTreeSet<String>,
}

/// Paths a stage needs observed before it plans.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probes {
    /// Paths whose kind (directory, file, symlink and target) is needed.
    pub paths: BTreeSet<PathBuf>,
    /// Files whose contents are needed (their kind is observed too).
    pub files: BTreeSet<PathBuf>,
    /// Directories whose entries are all needed, each file read (world's
    /// [`World::listed`](crate::world::World::listed)).
    #[serde(default)]
    pub dirs: BTreeSet<PathBuf>,
    /// jail.conf files to read as jail(8) of FreeBSD 14+ does: the file and every file
    /// its `.include`s reach, the directories their patterns search listed.
    #[serde(default)]
    pub jail_confs: BTreeSet<JailConfProbe>,
    /// Paths in a tree whose owner is not trusted (a jail's data: the jail's root
    /// controls every component below it), looked at without following any symbolic
    /// link on the way ([`crate::host::observe_beneath`]). The only way to look below
    /// a jail's data or root: the other kinds of probe are refused there
    /// ([`crate::confine::check_probes`]).
    #[serde(default)]
    pub beneath: BTreeSet<BeneathProbe>,
    /// The kernel's resource limits: `kern.racct.enable` and every rctl(8) rule on
    /// a jail (World's `limits`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub limits: bool,
    /// Running jails whose CPU set is needed, and with them the host's CPUs
    /// (World's `cpus`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub cpusets: BTreeSet<String>,
    /// Datasets outside the jails dataset whose `type`, `jailed`, `mountpoint` and
    /// own `thinjail:jail` are needed: the recipe's delegated datasets and their
    /// parents (World's `delegated`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub delegated: BTreeSet<String>,
    /// The running kernel's release (`sysctl -n kern.osrelease`, World's
    /// `kernel_release`): asked by a recipe with a file mount, which only a
    /// kernel whose nullfs mounts files takes ([`crate::resources::file_mounts`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kernel_release: bool,
}

/// A path below a root the host trusts, in a tree it does not
/// ([`Probes::beneath`]). The world records the path itself when every component on
/// the way is a real directory; otherwise it records the first component that is not
/// (a symbolic link, a file) with what it is, and the path itself as missing: it cannot
/// be reached without following that component.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BeneathProbe {
    /// Where the walk starts, opened as the host sees it (say `<jails_dir>/www/data`,
    /// the mount point of the jail's data).
    pub root: PathBuf,
    /// The path below it, relative, plain names only.
    pub relative: PathBuf,
}

impl BeneathProbe {
    /// The path as the world records it: `root/relative`.
    pub fn path(&self) -> PathBuf {
        self.root.join(&self.relative)
    }
}

/// A jail.conf(5) file to observe with its includes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JailConfProbe {
    /// Where the system whose file it is lies on the host (`/` for the running one):
    /// include patterns are that system's paths.
    pub root: PathBuf,
    /// The file, as a path of that system.
    pub file: PathBuf,
}

impl Probes {
    /// Adds everything from `other`.
    pub fn merge(&mut self, other: Probes) {
        self.paths.extend(other.paths);
        self.files.extend(other.files);
        self.dirs.extend(other.dirs);
        self.jail_confs.extend(other.jail_confs);
        self.beneath.extend(other.beneath);
        self.limits |= other.limits;
        self.cpusets.extend(other.cpusets);
        self.delegated.extend(other.delegated);
        self.kernel_release |= other.kernel_release;
    }

    /// Asks for the kind of `path`.
    pub fn path(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.paths.insert(path.into());
        self
    }

    /// Asks for the contents of `path`.
    pub fn file(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.files.insert(path.into());
        self
    }

    /// Asks for the kind of `root/relative`, found without following any symbolic
    /// link below `root` (see [`Probes::beneath`]).
    pub fn beneath(&mut self, root: impl Into<PathBuf>, relative: impl Into<PathBuf>) -> &mut Self {
        self.beneath.insert(BeneathProbe {
            root: root.into(),
            relative: relative.into(),
        });
        self
    }
}
