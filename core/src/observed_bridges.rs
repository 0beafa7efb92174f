//! What observation says of the host's bridges ([`ObservedBridges`]: members, the
//! uplinks' addresses, FreeBSD 15's `net.link.bridge.member_ifaddrs`), how
//! `ifconfig` output is read for it, and what an `ifconfig` action changes in it.
//! Plain data for [`crate::world::World`] and [`crate::action`]; the planning is
//! in [`crate::bridges`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// What the host says of its bridges, observed with its interfaces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedBridges {
    /// Every bridge (`ifconfig -g bridge`) and its members (`member:` lines).
    pub members: BTreeMap<String, BTreeSet<String>>,
    /// Of the recipe's uplinks, those holding an IPv4 or IPv6 address.
    #[serde(default)]
    pub addressed: BTreeSet<String>,
    /// `net.link.bridge.member_ifaddrs`; `None` when the kernel has no such
    /// sysctl (before FreeBSD 15).
    #[serde(default)]
    pub member_ifaddrs: Option<u32>,
    /// Every bridge's addresses (`inet`/`inet6` lines of `ifconfig NAME`,
    /// [`crate::bridge_addresses::parse_addresses`]: canonical `A/P`, no IPv6
    /// link-local); a bridge missing here has none.
    #[serde(default)]
    pub addresses: BTreeMap<String, BTreeSet<String>>,
}

/// The members `ifconfig BRIDGE` lists (`member: IF flags=…` lines).
pub fn parse_members(shown: &str) -> BTreeSet<String> {
    shown
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("member: "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(String::from)
        .collect()
}

/// Whether `ifconfig IF` shows an `inet` or `inet6` address (a link-local one
/// counts: if_bridge(4) speaks of any IP address on a member).
pub fn has_address(shown: &str) -> bool {
    shown.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with("inet ") || line.starts_with("inet6 ")
    })
}

/// What `ifconfig ARGS` does to the observed interfaces and bridges (the world
/// model): a bridge created, renamed, destroyed, a member added or removed, an
/// address added or removed ([`crate::bridge_addresses::apply_to`]). Anything
/// else changes nothing observed.
pub fn apply_ifconfig(
    interfaces: &mut BTreeSet<String>,
    bridges: &mut ObservedBridges,
    args: &[String],
) {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        [name, "create"] => {
            interfaces.insert(name.to_string());
            bridges.members.insert(name.to_string(), BTreeSet::new());
        }
        [name, "name", new] => {
            if interfaces.remove(*name) {
                interfaces.insert(new.to_string());
            }
            if let Some(members) = bridges.members.remove(*name) {
                bridges.members.insert(new.to_string(), members);
            }
            if let Some(addresses) = bridges.addresses.remove(*name) {
                bridges.addresses.insert(new.to_string(), addresses);
            }
        }
        [name, "destroy"] => {
            interfaces.remove(*name);
            bridges.members.remove(*name);
            bridges.addresses.remove(*name);
        }
        [name, "addm", member] => {
            if let Some(members) = bridges.members.get_mut(*name) {
                members.insert(member.to_string());
            }
        }
        [name, "deletem", member] => {
            if let Some(members) = bridges.members.get_mut(*name) {
                members.remove(*member);
            }
        }
        [name, family @ ("inet" | "inet6"), rest @ ..] if bridges.members.contains_key(*name) => {
            let mut words = vec![*family];
            words.extend_from_slice(rest);
            crate::bridge_addresses::apply_to(
                bridges.addresses.entry(name.to_string()).or_default(),
                &words,
            );
        }
        _ => {}
    }
}
