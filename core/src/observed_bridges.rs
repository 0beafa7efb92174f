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

/// `ifconfig -a` cut into what `ifconfig NAME` prints for each interface, by
/// name: a block opens with `NAME: flags=…` in the first column and holds the
/// indented lines below it. `ifconfig NAME` is the same listing filtered to one
/// interface (`list_interfaces_nl` in sbin/ifconfig/ifconfig_netlink.c prints
/// each with `status_nl`, which starts `"%s: "` and the flags), so one command
/// serves every bridge, uplink and epair observation reads.
pub fn split_interfaces(all: &str) -> BTreeMap<String, String> {
    let mut blocks = BTreeMap::new();
    let mut current: Option<(&str, String)> = None;
    for line in all.lines() {
        let opens = if line.starts_with(char::is_whitespace) {
            None
        } else {
            line.split_once(": flags=").map(|(name, _)| name)
        };
        if let Some(name) = opens {
            blocks.extend(current.take().map(|(n, b)| (n.to_string(), b)));
            current = Some((name, String::new()));
        }
        if let Some((_, block)) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks.extend(current.map(|(n, b)| (n.to_string(), b)));
    blocks
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

#[cfg(test)]
mod tests {
    use super::*;

    /// FreeBSD 15's `ifconfig -a` on a host with a bridge, its uplink and a jail's
    /// epair: each block reads as `ifconfig NAME` would print it.
    #[test]
    fn ifconfig_a_is_cut_into_each_interfaces_own_listing() {
        let all = "\
em0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500
\toptions=4e524bb<RXCSUM,TXCSUM,VLAN_MTU,VLAN_HWTAGGING,JUMBO_MTU>
\tether 58:9c:fc:10:ff:c4
\tinet 192.0.2.10 netmask 0xffffff00 broadcast 192.0.2.255
\tmedia: Ethernet autoselect (1000baseT <full-duplex>)
\tstatus: active
\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>
bridge0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500
\toptions=0
\tether 58:9c:fc:10:d9:a6
\tinet 10.0.0.1 netmask 0xffffff00 broadcast 10.0.0.255
\tid 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15
\tmember: tjwwwa flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>
\t        port 4 priority 128 path cost 2000
\tgroups: bridge
tjwwwa: flags=1008943<UP,BROADCAST,RUNNING,PROMISC,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500
\tdescription: jail:www
\tether 02:95:7d:1e:5d:0a
\tgroups: epair
";
        let blocks = split_interfaces(all);
        assert_eq!(
            blocks.keys().map(String::as_str).collect::<Vec<_>>(),
            ["bridge0", "em0", "tjwwwa"]
        );
        assert!(blocks["bridge0"].starts_with("bridge0: flags="));
        assert!(blocks["bridge0"].ends_with("\tgroups: bridge\n"));
        assert_eq!(
            parse_members(&blocks["bridge0"]),
            BTreeSet::from(["tjwwwa".to_string()])
        );
        assert_eq!(
            crate::bridge_addresses::parse_addresses(&blocks["bridge0"]),
            BTreeSet::from(["10.0.0.1/24".to_string()])
        );
        assert!(has_address(&blocks["em0"]));
        assert!(!has_address(&blocks["tjwwwa"]));
        assert_eq!(
            crate::leftover_epairs::parse_description(&blocks["tjwwwa"]).as_deref(),
            Some("jail:www")
        );
        assert_eq!(
            crate::leftover_epairs::parse_description(&blocks["bridge0"]),
            None
        );
    }
}
