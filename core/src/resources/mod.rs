//! What a real jail needs besides a base (issue 15): host directories and tmpfs
//! mounted into it, resource limits (rctl(8)), a CPU set (cpuset(1)) and the jails it
//! depends on (jail(8)'s `depend`).
//!
//! Everything here is pure: the recipe's types, their validation as functions over
//! those types, the rctl rule model and the reconciliation of observed rules with
//! wanted ones, cpuset(1)'s CPU list grammar, jail(8)'s dependency order with cycle
//! detection, and the fstab lines of extra mounts. Nothing here looks at a host.
//!
//! - [`mounts`]: [`Mount`] (nullfs of a host directory or file, read-only or
//!   writable; tmpfs with a size), where its mount point is, its fstab line;
//! - [`rctl`]: rctl(8) rules as the kernel parses and prints them, and the exact adds
//!   and removes that bring a jail's observed rules to the wanted ones;
//! - [`cpuset`]: a CPU list as cpuset(1) reads `-l`, and the host's CPUs;
//! - [`depend`]: the order jail(8) starts jails that depend on each other in, and
//!   the cycles it refuses.

pub mod cpuset;
pub mod depend;
pub mod mounts;
pub mod rctl;

pub use mounts::Mount;
