//! # thinjail-testbed
//!
//! The Linux test bed, and the workspace-level tests of thinjail that run on it
//! (`tests/tests/`):
//! - [`testbed`]: a host that applies actions exactly like the FreeBSD host except for
//!   a short, explicit list of Linux substitutions (bind mounts for nullfs, chroot for
//!   jails, …), and the `thinjail-testbed` binary that drives the real `thinjail`
//!   command through it; [`jail8`], its jail(8), which reads the whole configuration
//!   with thinjail's model of jail(8)'s reader and runs its hooks;
//! - [`fixtures`]: throwaway zfs-fuse pools, a synthetic FreeBSD `base.txz` with its
//!   `MANIFEST` (and stand-ins for etcupdate and certctl inside), and a loopback
//!   mirror serving them;
//! - [`freebsd_update`]: the test bed's freebsd-update and update server;
//! - [`rctl`], [`cpuset`], [`depend8`]: the test bed's rctl(8) and cpuset(1), and
//!   jail(8)'s `depend` order;
//! - [`netbed`] and [`pfbed`]: VNET jails, epairs, bridges and pf's anchor as network
//!   namespaces, veth pairs, Linux bridges and nftables, only inside a namespace the
//!   test made (`THINJAIL_TESTBED_NETNS`), and [`ifconfig_addresses`], ifconfig's
//!   address lines and changes there; [`vnet_bed`], the bed the end-to-end
//!   network tests share (the article's bed run inside such a namespace); [`radvd`],
//!   the router the SLAAC test advertises from;
//! - [`plugins`]: the example and deliberately bad plugin libraries, built for the run;
//! - [`samples`]: inputs the tests and the benchmark share (the article's recipe with N
//!   jails, a host with only its pool, `zfs get` as a map).
//!
//! The end-to-end tests under `tests/` need root and zfs-fuse; when those are missing
//! they fail (never skip) and say how to get them (`scripts/test`).

#![forbid(unsafe_code)]

pub mod cpuset;
pub mod depend8;
pub mod devfs;
pub mod fixtures;
pub mod freebsd_update;
pub mod harness;
pub mod ifconfig_addresses;
pub mod jail8;
mod json_state;
pub mod netbed;
pub mod pfbed;
pub mod plugins;
pub mod radvd;
pub mod rctl;
pub mod samples;
pub mod testbed;
pub mod vnet_bed;
