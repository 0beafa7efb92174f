//! The network part of a recipe: the host's bridges, NAT and port forwards
//! ([`HostNetwork`]) and a VNET jail's settings ([`Vnet`]), with what is derived
//! from them alone — the names of a jail's epair (IFNAMSIZ-safe for every jail
//! name a recipe accepts) and its stable MAC address. Validation is in
//! [`crate::recipe::validate`]; what is written to jail.conf, rc.conf, devfs.rules
//! and pf is in [`crate::network`].
//!
//! `sys/net/if_epair.c`: `ifconfig epairN create` makes `epairNa` and `epairNb`
//! (`epair_clone_match` accepts `epair` and `epair<digits>` only, so an epair cannot
//! be created under another name); it fails with `EEXIST` when either half or the
//! unit exists (`epair_handle_unit`); destroying one half destroys both
//! (`epair_clone_destroy`). A unit stays taken while its interfaces exist, renamed
//! or not. Hence a fixed unit per jail ([`EpairNames::unit`]), both halves renamed
//! at once to thinjail's own names, which start with [`IFACE_PREFIX`] or
//! [`HASHED_IFACE_PREFIX`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Prefix of the epair halves thinjail names after a jail that fits in them.
pub const IFACE_PREFIX: &str = "tj";
/// Prefix of the epair halves whose jail name is too long (or has a `-`): part of
/// the name and a hash of all of it.
pub const HASHED_IFACE_PREFIX: &str = "tk";
/// IFNAMSIZ less its NUL: the longest interface name FreeBSD (and Linux) accept.
pub const MAX_IFACE_NAME: usize = 15;
/// The first epair unit thinjail uses; units below are left to `ifconfig epair
/// create`, which takes the lowest free one.
pub const EPAIR_UNIT_FLOOR: u32 = 4096;
/// The highest unit an interface cloner hands out (`IF_MAXUNIT` in `sys/net/if.h`).
pub const EPAIR_UNIT_MAX: u32 = 0x7fff;

/// The host's side of jail networking: the bridges VNET jails attach to, and NAT
/// and port forwards ([`Pf`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostNetwork {
    /// The bridges VNET jails are attached to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bridges: Vec<Bridge>,
    /// NAT and port forwards, kept in thinjail's pf anchor.
    #[serde(skip_serializing_if = "Pf::is_default")]
    pub pf: Pf,
}

/// The default [`Pf::anchor_file`].
pub const DEFAULT_PF_ANCHOR_FILE: &str = "/etc/pf.thinjail.conf";

/// NAT and port forwards, kept in thinjail's pf anchor (`thinjail/jails`): the
/// rules ([`crate::network::pf_anchor_rules`]) are written to `anchor_file` and
/// loaded with `pfctl -a thinjail/jails -f FILE`; pf.conf loads the same file at
/// boot (`load anchor`). Planned by [`crate::network::pf`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pf {
    /// Jail subnets translated to an interface's address on the way out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nat: Vec<Nat>,
    /// Ports of the host forwarded to a port of a jail.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<Forward>,
    /// The file thinjail writes the anchor's rules to (and pf.conf's `load anchor`
    /// line names): a host file thinjail owns.
    pub anchor_file: std::path::PathBuf,
}

impl Default for Pf {
    fn default() -> Self {
        Pf {
            nat: Vec::new(),
            forwards: Vec::new(),
            anchor_file: DEFAULT_PF_ANCHOR_FILE.into(),
        }
    }
}

impl Pf {
    /// Whether nothing is set (so a recipe does not show the section).
    pub fn is_default(&self) -> bool {
        *self == Pf::default()
    }

    /// Whether there is no rule to load.
    pub fn has_no_rules(&self) -> bool {
        self.nat.is_empty() && self.forwards.is_empty()
    }
}

impl HostNetwork {
    /// Whether the recipe asks for nothing of the host's network.
    pub fn is_empty(&self) -> bool {
        self.bridges.is_empty() && self.pf.is_default()
    }

    /// The bridge called `name`.
    pub fn bridge(&self, name: &str) -> Option<&Bridge> {
        self.bridges.iter().find(|b| b.name == name)
    }
}

/// A bridge (if_bridge(4)) of the host that VNET jails are attached to. Without
/// `create` the administrator makes it (and keeps it across reboots, e.g.
/// `cloned_interfaces` in rc.conf); thinjail attaches and detaches its jails'
/// epairs, and checks that it exists before it plans a start. With `create: true`
/// thinjail makes it while a VNET jail of the recipe uses it (with its `members`
/// and addresses, and in rc.conf for the next boot) and removes it when none does
/// ([`crate::bridges`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    /// Its name, e.g. `bridge0`.
    pub name: String,
    /// The bridge's own IPv4 addresses, with their prefix length, as the
    /// administrator gave them (the jails' gateway, usually): the networks its
    /// jails' addresses are checked against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip4: Vec<String>,
    /// The bridge's own IPv6 addresses, with their prefix length.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip6: Vec<String>,
    /// Whether thinjail makes the bridge (and removes it when no VNET jail of the
    /// recipe uses it). `false`: the administrator's, which thinjail never makes,
    /// changes or destroys.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create: bool,
    /// The host's interfaces thinjail adds to a bridge it makes (its uplinks,
    /// `em0`); only with `create`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

/// Source NAT: packets from `from` leave through `interface` with its address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nat {
    /// The translated subnet, with its prefix length (`10.0.0.0/24`).
    pub from: String,
    /// The interface whose address they get (`em0`).
    pub interface: String,
}

/// A transport protocol of a port forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// pf.conf's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A port of the host redirected to a port of a VNET jail's static IPv4 address
/// (or IPv6 address, when `address` is an IPv6 one: [`Forward::is_inet6`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    /// `Tcp` or `Udp`.
    pub proto: Proto,
    /// The interface packets arrive on (`em0`).
    pub interface: String,
    /// The host's address they are sent to; any IPv4 address of `interface` when
    /// absent. An IPv6 address makes the forward an IPv6 one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The host's port.
    pub port: u16,
    /// The jail they go to (a VNET jail with a static address of the forward's
    /// family).
    pub jail: String,
    /// The jail's port; the same as `port` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jail_port: Option<u16>,
}

impl Forward {
    /// Whether it is an IPv6 forward: its `address` is an IPv6 address
    /// (`rdr … inet6`, rendered by `pf_inet6`).
    pub fn is_inet6(&self) -> bool {
        self.address
            .as_deref()
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
    }

    /// Its pf rule, one line: `rdr on IF FAMILY proto P from any to TO port N ->
    /// TARGET port M` (`FAMILY` `inet` or `inet6`; `TO` the host's side, `TARGET`
    /// the jail's address).
    pub fn rdr_rule(&self, family: &str, to: &str, target: &str) -> String {
        format!(
            "rdr on {iface} {family} proto {proto} from any to {to} port {port} -> {target} port {jail_port}\n",
            iface = self.interface,
            proto = self.proto.as_str(),
            port = self.port,
            jail_port = self.jail_port.unwrap_or(self.port),
        )
    }
}

/// How a VNET jail gets its IPv4 addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ip4 {
    /// These addresses, each with its prefix length (`10.0.0.2/24`).
    Static(Vec<String>),
    /// From a DHCP server on its bridge (dhclient(8), which needs `/dev/bpf`).
    Dhcp,
}

/// How a VNET jail gets its IPv6 addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ip6 {
    /// These addresses, each with its prefix length (`fd00::2/64`).
    Static(Vec<String>),
    /// From router advertisements (`inet6 accept_rtadv`).
    Slaac,
}

/// A jail with its own network stack (jail(8)'s `vnet`), attached to a bridge by an
/// epair(4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vnet {
    /// The bridge of `host.network.bridges` it is attached to.
    pub bridge: String,
    /// Its IPv4 addresses, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip4: Option<Ip4>,
    /// Its IPv6 addresses, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ip6>,
    /// Its IPv4 default router (with static addresses; DHCP gives one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway4: Option<String>,
    /// Its IPv6 default router (with static addresses; SLAAC gives one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<String>,
    /// The MAC address of its interface; derived from the jail's name when absent
    /// ([`derived_mac`]), so it is the same at every start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

impl Vnet {
    /// The static IPv4 addresses (none for DHCP).
    pub fn static_ip4(&self) -> &[String] {
        match &self.ip4 {
            Some(Ip4::Static(list)) => list,
            _ => &[],
        }
    }

    /// The static IPv6 addresses (none for SLAAC).
    pub fn static_ip6(&self) -> &[String] {
        match &self.ip6 {
            Some(Ip6::Static(list)) => list,
            _ => &[],
        }
    }

    /// Whether the jail runs dhclient(8).
    pub fn dhcp(&self) -> bool {
        matches!(self.ip4, Some(Ip4::Dhcp))
    }

    /// The MAC address of the jail's interface: the recipe's, or [`derived_mac`].
    pub fn mac_of(&self, jail: &str) -> String {
        self.mac
            .as_deref()
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| derived_mac(jail))
    }
}

fn digest(text: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    hasher.finalize().into()
}

/// A MAC address derived from the jail's name alone: locally administered
/// (`0x02` set in the first octet), unicast (`0x01` clear), the rest from SHA-256
/// of the name, so a jail keeps it across restarts, hosts and thinjail versions.
pub fn derived_mac(jail: &str) -> String {
    let hash = digest(&format!("thinjail mac {jail}"));
    let first = (hash[0] & 0xfc) | 0x02;
    format!(
        "{first:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        hash[1], hash[2], hash[3], hash[4], hash[5]
    )
}

/// The interfaces of a VNET jail's epair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EpairNames {
    /// The unit `ifconfig epairUNIT create` asks for (both halves are renamed at once).
    pub unit: u32,
    /// The half that stays on the host, a member of the bridge.
    pub host: String,
    /// The half moved into the jail (`vnet.interface`).
    pub jail: String,
}

/// The description a VNET jail's `exec.prestart` gives the host's half of its
/// epair: `jail:NAME`, which tells a leftover of thinjail's
/// ([`crate::leftover_epairs`]).
pub fn epair_description(jail: &str) -> String {
    format!("jail:{jail}")
}

/// Whether `name` is named like the host's half of a thinjail epair (`tj…a`, `tk…a`).
pub fn is_host_half(name: &str) -> bool {
    is_thinjail_iface(name) && name.ends_with('a')
}

/// The stem both halves of a jail's epair share: `tj` and the jail's name when it
/// fits and is made of letters, digits and `_`; otherwise `tk`, its first six
/// characters (`-` as `_`) and six hex digits of a hash of the whole name. The two
/// prefixes keep the forms apart; two long names with the same stem are refused by
/// validation. At most 14 characters, so a half (`a`/`b` added) fits IFNAMSIZ.
pub fn iface_stem(jail: &str) -> String {
    let plain = jail.len() + IFACE_PREFIX.len() < MAX_IFACE_NAME
        && jail.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain {
        return format!("{IFACE_PREFIX}{jail}");
    }
    let hash = digest(&format!("thinjail iface {jail}"));
    let short: String = jail
        .chars()
        .take(6)
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!(
        "{HASHED_IFACE_PREFIX}{short}{:02x}{:02x}{:02x}",
        hash[0], hash[1], hash[2]
    )
}

/// The epair names of every VNET jail, by jail name: each its stem with `a` (host)
/// and `b` (jail), and a unit in `EPAIR_UNIT_FLOOR..=EPAIR_UNIT_MAX` from a hash of
/// its name, moved to the next free one (in name order) when another jail of the
/// recipe has it: units are held while the jails run, so two jails may not share
/// one.
pub fn epair_names<'a>(
    vnet_jails: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, EpairNames> {
    let names: BTreeSet<&str> = vnet_jails.into_iter().collect();
    let span = EPAIR_UNIT_MAX - EPAIR_UNIT_FLOOR + 1;
    let mut taken = BTreeSet::new();
    let mut out = BTreeMap::new();
    for jail in names {
        let hash = digest(&format!("thinjail epair {jail}"));
        let start = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]) % span;
        let mut unit = EPAIR_UNIT_FLOOR + start;
        while taken.contains(&unit) {
            unit = if unit == EPAIR_UNIT_MAX {
                EPAIR_UNIT_FLOOR
            } else {
                unit + 1
            };
        }
        taken.insert(unit);
        let stem = iface_stem(jail);
        out.insert(
            jail.to_string(),
            EpairNames {
                unit,
                host: format!("{stem}a"),
                jail: format!("{stem}b"),
            },
        );
    }
    out
}

/// Whether an interface name has the form of one thinjail makes for a jail's
/// epair (so that observing the host can tell its leftovers from the
/// administrator's interfaces).
pub fn is_thinjail_iface(name: &str) -> bool {
    (name.starts_with(IFACE_PREFIX) || name.starts_with(HASHED_IFACE_PREFIX))
        && (name.ends_with('a') || name.ends_with('b'))
        && name.len() <= MAX_IFACE_NAME
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::validate::network::check_mac;

    #[test]
    fn interface_names_fit_ifnamsiz_for_every_jail_name_and_keep_forms_apart() {
        for name in [
            "a",
            "www",
            "abcdefghijkl",
            "abcdefghijklm",
            "with-dash",
            &"x".repeat(63),
            "Z9_",
        ] {
            let names = &epair_names([name])[name];
            assert!(names.host.len() <= MAX_IFACE_NAME, "{names:?}");
            assert!(names.jail.len() <= MAX_IFACE_NAME, "{names:?}");
            assert!(is_thinjail_iface(&names.host) && is_thinjail_iface(&names.jail));
            assert!(names
                .host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            assert!((EPAIR_UNIT_FLOOR..=EPAIR_UNIT_MAX).contains(&names.unit));
        }
        assert_eq!(epair_names(["www"])["www"].host, "tjwwwa");
        assert_eq!(epair_names(["www"])["www"].jail, "tjwwwb");
        // `a-b` and `a_b` do not share names: the first is hashed.
        let both = epair_names(["a-b", "a_b"]);
        assert_ne!(both["a-b"].host, both["a_b"].host);
        assert!(both["a-b"].host.starts_with(HASHED_IFACE_PREFIX));
        // Stable: the same for the same name, whatever else is in the recipe.
        assert_eq!(
            epair_names(["www"])["www"].host,
            epair_names(["db", "www"])["www"].host
        );
    }

    #[test]
    fn epair_units_are_distinct_within_a_recipe() {
        let names: Vec<String> = (0..2000).map(|i| format!("j{i}")).collect();
        let all = epair_names(names.iter().map(String::as_str));
        let units: BTreeSet<u32> = all.values().map(|n| n.unit).collect();
        assert_eq!(units.len(), 2000);
    }

    #[test]
    fn derived_macs_are_stable_unicast_and_locally_administered() {
        let mac = derived_mac("www");
        assert_eq!(mac, derived_mac("www"));
        assert_ne!(mac, derived_mac("db"));
        check_mac(&mac).unwrap();
        let first = u8::from_str_radix(&mac[..2], 16).unwrap();
        assert_eq!(first & 0x03, 0x02, "{mac}");
        assert!(check_mac("03:00:00:00:00:01").is_err(), "multicast");
        assert!(check_mac("00:00:00:00:00:00").is_err());
        assert!(check_mac("02:00:00:00:00").is_err());
        assert!(check_mac("02:00:00:00:00:0g").is_err());
    }
}
