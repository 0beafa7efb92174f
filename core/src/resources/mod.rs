//! What a real jail needs besides a base (issue 15): host directories and tmpfs
//! mounted into it, ZFS datasets delegated to it, resource limits (rctl(8)), a CPU
//! set (cpuset(1)) and the jails it depends on (jail(8)'s `depend`).
//!
//! Everything here is pure: the recipe's types, their validation as functions over
//! those types, the rctl rule model and the reconciliation of observed rules with
//! wanted ones, cpuset(1)'s CPU list grammar, jail(8)'s dependency order with cycle
//! detection, and the fstab lines of extra mounts. Nothing here looks at a host.
//!
//! - [`mounts`]: [`Mount`] (nullfs of a host directory or file, read-only or
//!   writable; tmpfs with a size), where its mount point is, its fstab line;
//! - [`file_mounts`]: the host release whose nullfs mounts a single file;
//! - [`rctl`]: rctl(8) rules as the kernel parses and prints them, and the exact adds
//!   and removes that bring a jail's observed rules to the wanted ones;
//! - [`cpuset`]: a CPU list as cpuset(1) reads `-l`, and the host's CPUs;
//! - [`datasets`]: ZFS datasets delegated to a jail, the jail.conf parameters that
//!   hand them over and the reading of what the host has;
//! - [`depend`]: the order jail(8) starts jails that depend on each other in, and
//!   the cycles it refuses;
//! - [`order`]: starting several jails at once, bounded, dependencies first (the
//!   one part hosts run: the pure scheduling of a parallel start).

pub mod cpuset;
pub mod datasets;
pub mod depend;
pub mod file_mounts;
pub mod mounts;
pub mod order;
pub mod rctl;

pub use mounts::Mount;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Whether the kernel accounts resources (`kern.racct.enable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Racct {
    /// `kern.racct.enable=1`: rctl(8) rules apply.
    Enabled,
    /// `kern.racct.enable=0` (GENERIC's default): rctl(8) refuses every rule.
    Disabled,
    /// No such sysctl: a kernel built without `RACCT`/`RCTL`.
    Absent,
}

/// What the host's kernel holds for limits, when a stage asked
/// ([`crate::probes::Probes::limits`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedLimits {
    /// `kern.racct.enable`.
    pub racct: Racct,
    /// Every rule on a jail subject, as `rctl jail:` prints it (empty unless
    /// enabled).
    pub rules: Vec<String>,
}

impl ObservedLimits {
    /// The exact rule changes for `jail` ([`rctl::reconcile`]): the kernel's rules
    /// against thinjail's record of what it set (the rules in the jail's jail.conf
    /// file `file`, when there is one) and the recipe's `wanted`.
    pub fn reconcile(
        &self,
        jail: &str,
        file: Option<&str>,
        wanted: &[rctl::Rule],
    ) -> rctl::Reconciliation {
        let observed: Vec<rctl::Rule> = self
            .rules
            .iter()
            .filter_map(|line| rctl::Rule::from_kernel(line))
            .collect();
        let ours = file
            .map(|text| rctl::rules_in_file(text, jail))
            .unwrap_or_default();
        rctl::reconcile(jail, &observed, &ours, wanted)
    }
}

/// The host's CPUs and running jails' CPU sets, when a stage asked
/// ([`crate::probes::Probes::cpusets`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedCpus {
    /// The CPUs of the host's default set (`cpuset -g -s 1`), canonical.
    pub host: String,
    /// Each running jail asked about: its CPUs (`cpuset -g -j NAME`), canonical.
    pub jails: BTreeMap<String, String>,
}
