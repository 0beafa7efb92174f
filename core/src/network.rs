//! Declarative jail networking: VNET jails on bridges, with static IPv4/IPv6
//! addresses, DHCP or SLAAC, a stable MAC address, and NAT and port forwards kept in
//! a pf anchor thinjail owns.
//!
//! This module is pure: the recipe's network types, their validation (functions over
//! those types, each problem with its field), the names of the interfaces thinjail
//! makes, the MAC derived from a jail's name, the jail.conf(5) parameters and
//! `exec.*` hooks of a VNET jail, the rc.conf(5) settings of the jail's own rc.conf,
//! the devfs ruleset a DHCP jail needs, and the text of the pf anchor. Nothing here
//! looks at a host.
//!
//! What FreeBSD does, and where it was read (`freebsd/freebsd-src`):
//! - `sys/net/if_epair.c`: `ifconfig epairN create` makes `epairNa` and `epairNb`
//!   (`epair_clone_match` accepts `epair` and `epair<digits>` only, so an epair
//!   cannot be created under another name); it fails with `EEXIST` when either
//!   half or the unit exists (`epair_handle_unit`); destroying one half destroys
//!   both (`epair_clone_destroy`). A unit stays taken while its interfaces exist,
//!   renamed or not. Hence: a fixed unit per jail ([`EpairNames::unit`]), both
//!   halves renamed at once to thinjail's own names, which start with
//!   [`IFACE_PREFIX`] or [`HASHED_IFACE_PREFIX`] and fit IFNAMSIZ (15 characters
//!   and a NUL) for every jail name a recipe accepts.
//! - jail(8): `vnet` gives the jail its own network stack and `vnet.interface`
//!   moves an interface into it when the jail is created; when the jail is
//!   removed, the interface returns to the host, where `exec.poststop` destroys it.
//! - rc.conf(5) and `libexec/rc/network.subr`: `ifconfig_IF`, `ifconfig_IF_aliasN`,
//!   `ifconfig_IF_ipv6`, `defaultrouter`, `ipv6_defaultrouter`, `SYNCDHCP`,
//!   `inet6 accept_rtadv`; FreeBSD 15's ifconfig wants a prefix length with every
//!   address, so addresses here always carry one.
//! - devfs.rules(5) and `etc/defaults/devfs.rules`: ruleset 4 is
//!   `devfsrules_jail`; dhclient(8) needs `/dev/bpf*`, which ruleset 4 hides.
//! - pf.conf(5) and `sbin/pfctl/parse.y` (`natrule : nataction interface af proto
//!   fromto tag tagged rtable redirpool pool_opts`; `nat-anchor`, `rdr-anchor`):
//!   see [`pf_anchor_rules`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::quote;
use crate::recipe::ParamValue;
use crate::validate::{check_interface, check_ip4, check_ip6};

/// Prefix of the epair halves thinjail names after a jail that fits in them.
pub const IFACE_PREFIX: &str = "tj";
/// Prefix of the epair halves whose jail name is too long (or has a `-`): part of
/// the name and a hash of all of it.
pub const HASHED_IFACE_PREFIX: &str = "tk";
/// IFNAMSIZ less its NUL: the longest interface name FreeBSD (and Linux) accept.
pub const MAX_IFACE_NAME: usize = 15;
/// The pf anchor thinjail loads its rules into (below the administrator's
/// `thinjail/*` anchors): `pfctl -a thinjail/jails -f FILE`.
pub const PF_ANCHOR: &str = "thinjail/jails";
/// The lines pf.conf must have so that pf evaluates thinjail's anchor.
pub const PF_CONF_LINES: [&str; 2] = ["nat-anchor \"thinjail/*\"", "rdr-anchor \"thinjail/*\""];
/// The name of the devfs ruleset thinjail defines for DHCP jails.
pub const DEVFS_RULESET_NAME: &str = "thinjail_vnet_bpf";
/// The lowest devfs ruleset number thinjail picks for itself: FreeBSD's defaults
/// use 1 to 5 (`devfsrules_hide_all` … `devfsrules_jail_vnet`).
pub const DEVFS_RULESET_FLOOR: u32 = 100;
/// The first epair unit thinjail uses; units below are left to `ifconfig epair
/// create`, which takes the lowest free one.
pub const EPAIR_UNIT_FLOOR: u32 = 4096;
/// The highest unit an interface cloner hands out (`IF_MAXUNIT` in `sys/net/if.h`).
pub const EPAIR_UNIT_MAX: u32 = 0x7fff;

/// The host's side of jail networking: bridges, NAT and port forwards.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostNetwork {
    /// The bridges VNET jails are attached to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bridges: Vec<Bridge>,
    /// Jail subnets translated to an interface's address on the way out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nat: Vec<Nat>,
    /// Ports of the host forwarded to a port of a jail.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<Forward>,
}

impl HostNetwork {
    /// Whether the recipe asks for nothing of the host's network.
    pub fn is_empty(&self) -> bool {
        self.bridges.is_empty() && self.nat.is_empty() && self.forwards.is_empty()
    }

    /// The bridge called `name`.
    pub fn bridge(&self, name: &str) -> Option<&Bridge> {
        self.bridges.iter().find(|b| b.name == name)
    }
}

/// A bridge (if_bridge(4)) VNET jails are attached to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    /// Its name, e.g. `bridge0` or `tjbr0`.
    pub name: String,
    /// Whether thinjail creates it (and removes it with its last jail); `false` for
    /// a bridge the administrator has, which thinjail only adds members to.
    #[serde(default = "yes")]
    pub create: bool,
    /// Interfaces thinjail adds to it (an uplink such as `em0`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// The bridge's own IPv4 addresses, with their prefix length (the jails'
    /// gateway, usually).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip4: Vec<String>,
    /// The bridge's own IPv6 addresses, with their prefix length.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip6: Vec<String>,
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

/// A port of the host redirected to a port of a VNET jail's static IPv4 address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    /// `Tcp` or `Udp`.
    pub proto: Proto,
    /// The interface packets arrive on (`em0`).
    pub interface: String,
    /// The host's address they are sent to; any address of `interface` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The host's port.
    pub port: u16,
    /// The jail they go to (a VNET jail with a static IPv4 address).
    pub jail: String,
    /// The jail's port; the same as `port` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jail_port: Option<u16>,
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

fn yes() -> bool {
    true
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

/// The rc.conf(5) variable rc(8) reads for interface `iface`'s `suffix`
/// (`network.subr` maps every character but letters, digits and `_` to `_`).
pub fn ifconfig_var(iface: &str, suffix: &str) -> String {
    let name: String = iface
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("ifconfig_{name}{suffix}")
}

/// The settings of the jail's own rc.conf(5) for its interface `iface`: addresses
/// (`inet A/P`, further ones as `_aliasN`), `SYNCDHCP`, `inet6 accept_rtadv`, and the
/// default routers. In the order written.
pub fn jail_rc_conf(vnet: &Vnet, iface: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut aliases = 0;
    let mut alias = |out: &mut Vec<(String, String)>, value: String| {
        out.push((ifconfig_var(iface, &format!("_alias{aliases}")), value));
        aliases += 1;
    };
    match &vnet.ip4 {
        Some(Ip4::Static(list)) => {
            for (i, addr) in list.iter().enumerate() {
                if i == 0 {
                    out.push((ifconfig_var(iface, ""), format!("inet {addr}")));
                } else {
                    alias(&mut out, format!("inet {addr}"));
                }
            }
        }
        Some(Ip4::Dhcp) => out.push((ifconfig_var(iface, ""), "SYNCDHCP".into())),
        None => out.push((ifconfig_var(iface, ""), "up".into())),
    }
    match &vnet.ip6 {
        Some(Ip6::Static(list)) => {
            for (i, addr) in list.iter().enumerate() {
                if i == 0 {
                    out.push((ifconfig_var(iface, "_ipv6"), format!("inet6 {addr}")));
                } else {
                    alias(&mut out, format!("inet6 {addr}"));
                }
            }
        }
        Some(Ip6::Slaac) => out.push((ifconfig_var(iface, "_ipv6"), "inet6 accept_rtadv".into())),
        None => {}
    }
    if let Some(gateway) = &vnet.gateway4 {
        out.push(("defaultrouter".into(), gateway.clone()));
    }
    if let Some(gateway) = &vnet.gateway6 {
        out.push(("ipv6_defaultrouter".into(), gateway.clone()));
    }
    out
}

/// The command, run inside the jail as its first `exec.start`, that writes
/// [`jail_rc_conf`] into the jail's own `/etc/rc.conf` with sysrc(8) — in the jail,
/// so the host never writes a file the jail controls — before `/etc/rc` reads it.
pub fn sysrc_command(settings: &[(String, String)]) -> String {
    let mut argv = vec!["/usr/sbin/sysrc".to_string(), "-q".to_string()];
    argv.extend(
        settings
            .iter()
            .map(|(name, value)| format!("{name}={value}")),
    );
    quote::sh_command(&argv)
}

/// What a VNET jail's jail.conf(5) block gets beyond the shared-IP one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VnetParams {
    /// `vnet`, `vnet.interface`, `exec.prestart`, `exec.poststop`, `exec.start`
    /// (the sysrc line first) and, for DHCP, `devfs_ruleset`.
    pub params: BTreeMap<String, ParamValue>,
}

/// The jail.conf(5) parameters of a VNET jail, merged into `params` (the jail's
/// parameters as the recipe gives them): `vnet;` and `vnet.interface`; in
/// `exec.prestart`, the epair created with its fixed unit, both halves renamed, the
/// jail's MAC set, the host half described, added to the bridge and brought up,
/// each a plain command (no shell: jail(8) runs it as its words); in
/// `exec.poststop`, the host half destroyed (the jail's half came back to the host
/// when the jail was removed, and goes with it); `exec.start` begins with the
/// jail's rc.conf settings ([`sysrc_command`]); a DHCP jail gets
/// `devfs_ruleset = RULESET`. The recipe's own hooks come after ours at start
/// and before ours at stop.
pub fn vnet_params(
    jail: &str,
    vnet: &Vnet,
    names: &EpairNames,
    dhcp_ruleset: u32,
    params: &mut BTreeMap<String, ParamValue>,
) {
    let ifconfig = |args: &[&str]| {
        let mut line = String::from("/sbin/ifconfig");
        for arg in args {
            line.push(' ');
            line.push_str(arg);
        }
        line
    };
    let epair = format!("epair{}", names.unit);
    let mac = vnet.mac_of(jail);
    let description = format!("jail:{jail}");
    let prestart = vec![
        ifconfig(&[&epair, "create"]),
        ifconfig(&[&format!("{epair}a"), "name", &names.host]),
        ifconfig(&[&format!("{epair}b"), "name", &names.jail]),
        ifconfig(&[&names.jail, "ether", &mac]),
        ifconfig(&[&names.host, "description", &description]),
        ifconfig(&[&vnet.bridge, "addm", &names.host]),
        ifconfig(&[&names.host, "up"]),
    ];
    let poststop = vec![ifconfig(&[&names.host, "destroy"])];
    let sysrc = sysrc_command(&jail_rc_conf(vnet, &names.jail));

    let existing = |params: &mut BTreeMap<String, ParamValue>, name: &str| -> Vec<String> {
        match params.remove(name) {
            Some(ParamValue::Text(text)) => vec![text],
            Some(ParamValue::List(items)) => items,
            Some(other) => vec![other.to_string()],
            None => vec![],
        }
    };
    let mut start_hooks = prestart;
    start_hooks.extend(existing(params, "exec.prestart"));
    params.insert("exec.prestart".into(), ParamValue::List(start_hooks));
    let mut stop_hooks = existing(params, "exec.poststop");
    stop_hooks.extend(poststop);
    params.insert("exec.poststop".into(), ParamValue::List(stop_hooks));
    let mut start = vec![sysrc];
    start.extend(existing(params, "exec.start"));
    params.insert("exec.start".into(), ParamValue::List(start));
    params.insert("vnet".into(), ParamValue::Flag(true));
    params.insert(
        "vnet.interface".into(),
        ParamValue::Text(names.jail.clone()),
    );
    if vnet.dhcp() {
        params.insert(
            "devfs_ruleset".into(),
            ParamValue::Number(i64::from(dhcp_ruleset)),
        );
    }
}

/// The devfs ruleset a DHCP jail gets, in devfs.rules(5) form: ruleset 4
/// (`devfsrules_jail`) and `bpf*` unhidden, for dhclient(8).
pub fn devfs_rules(number: u32) -> String {
    format!(
        "# Written by thinjail: the devfs ruleset of its DHCP jails (ruleset 4 and bpf).\n\
         [{DEVFS_RULESET_NAME}={number}]\n\
         add include $devfsrules_jail\n\
         add path 'bpf*' unhide\n"
    )
}

/// The rulesets a devfs.rules(5) text defines: `[name=number]` headers, as
/// rc.subr's `devfs_rulesets_from_file` reads them (anything after `#` ignored).
pub fn devfs_rulesets(text: &str) -> Vec<(String, u32)> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("").trim();
            let inner = line.strip_prefix('[')?.strip_suffix(']')?;
            let (name, number) = inner.split_once('=')?;
            Some((name.trim().to_string(), number.trim().parse().ok()?))
        })
        .collect()
}

/// The ruleset number for thinjail's DHCP ruleset, given the rulesets of every
/// devfs.rules file rc(8) reads: the number thinjail's ruleset already has, or the
/// lowest one from [`DEVFS_RULESET_FLOOR`] that no ruleset uses.
pub fn choose_devfs_ruleset(defined: &[(String, u32)]) -> u32 {
    if let Some((_, number)) = defined.iter().find(|(name, _)| name == DEVFS_RULESET_NAME) {
        return *number;
    }
    let used: BTreeSet<u32> = defined.iter().map(|(_, n)| *n).collect();
    (DEVFS_RULESET_FLOOR..)
        .find(|n| !used.contains(n))
        .unwrap_or(DEVFS_RULESET_FLOOR)
}

/// The rules of thinjail's pf anchor ([`PF_ANCHOR`]): one `nat` per NAT entry, one
/// `rdr` per forward — without `pass`, so the administrator's filter rules still
/// decide whether the redirected packets get in (`rdr pass` would bypass them).
/// `jail_ip4` gives a jail's first static IPv4 address (without prefix).
pub fn pf_anchor_rules(network: &HostNetwork, jail_ip4: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out =
        String::from("# thinjail's NAT and port forwards; loaded with pfctl -a thinjail/jails\n");
    for nat in &network.nat {
        out.push_str(&format!(
            "nat on {iface} inet from {from} to any -> ({iface})\n",
            iface = nat.interface,
            from = nat.from
        ));
    }
    for forward in &network.forwards {
        let Some(target) = jail_ip4(&forward.jail) else {
            continue;
        };
        let to = forward.address.as_deref().unwrap_or("any");
        let to = if to == "any" {
            format!("({})", forward.interface)
        } else {
            to.to_string()
        };
        out.push_str(&format!(
            "rdr on {iface} inet proto {proto} from any to {to} port {port} -> {target} port {jail_port}\n",
            iface = forward.interface,
            proto = forward.proto.as_str(),
            port = forward.port,
            jail_port = forward.jail_port.unwrap_or(forward.port),
        ));
    }
    out
}

/// The lines of [`PF_CONF_LINES`] a pf.conf(5) text lacks (compared with comments
/// cut and blanks collapsed): what the plan tells the administrator to add.
pub fn missing_pf_conf_lines(pf_conf: &str) -> Vec<&'static str> {
    let present: BTreeSet<String> = pf_conf
        .lines()
        .map(|line| {
            line.split('#')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    PF_CONF_LINES
        .iter()
        .copied()
        .filter(|line| !present.contains(*line))
        .collect()
}

/// FreeBSD 15's `net.link.bridge.member_ifaddrs`: with it 0, if_bridge refuses a
/// member that has addresses of its own. `sysctl` is the observed value (absent
/// before 15, where members may hold addresses); `member_has_addresses` whether
/// the member holds any. The error says what to do.
pub fn check_member_ifaddrs(
    bridge: &str,
    member: &str,
    sysctl: Option<u32>,
    member_has_addresses: bool,
) -> Result<(), String> {
    if sysctl == Some(0) && member_has_addresses {
        return Err(format!(
            "{member} has addresses of its own and net.link.bridge.member_ifaddrs is 0 \
             (FreeBSD 15's default), so it cannot join {bridge}: move its addresses to \
             {bridge} (list them in the bridge's ip4/ip6), or set \
             net.link.bridge.member_ifaddrs=1 in /etc/sysctl.conf"
        ));
    }
    Ok(())
}

/// One problem found in the recipe's network settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The field, e.g. `jails[1].vnet.ip4`.
    pub field: String,
    /// The offending value (to find its place in the recipe text).
    pub value: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// What validation needs to know of one jail.
#[derive(Clone, Copy, Debug)]
pub struct JailView<'a> {
    /// Its field, e.g. `jails[0]`.
    pub field: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its VNET settings; `None` for a shared-IP jail.
    pub vnet: Option<&'a Vnet>,
    /// Its shared-IP addresses.
    pub ip4: &'a [String],
    /// Its shared-IP IPv6 addresses.
    pub ip6: &'a [String],
    /// Its own jail.conf parameters.
    pub params: &'a BTreeMap<String, ParamValue>,
}

/// jail.conf parameters thinjail derives for a VNET jail and a recipe may not set.
pub const VNET_DERIVED_PARAMS: [&str; 2] = ["vnet", "vnet.interface"];
/// jail.conf parameters of a shared-IP jail, which a VNET jail may not set.
pub const SHARED_IP_PARAMS: [&str; 3] = ["ip4.addr", "ip6.addr", "interface"];

/// A network: address and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn parse(text: &str) -> Option<Net> {
        let (addr, prefix) = text.split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Net { addr, prefix })
    }

    fn bits(addr: IpAddr) -> (u128, u8) {
        match addr {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
            IpAddr::V6(a) => (u128::from(a), 128),
        }
    }

    fn network(self) -> (u128, u8) {
        let (bits, width) = Net::bits(self.addr);
        let host_bits = u32::from(width - self.prefix);
        let mask = if host_bits >= 128 {
            0
        } else {
            !0u128 << host_bits
        };
        (bits & mask, width)
    }

    fn contains(self, addr: IpAddr) -> bool {
        if self.addr.is_ipv4() != addr.is_ipv4() {
            return false;
        }
        let (bits, width) = Net::bits(addr);
        let host_bits = u32::from(width - self.prefix);
        let mask = if host_bits >= 128 {
            0
        } else {
            !0u128 << host_bits
        };
        bits & mask == self.network().0
    }

    fn overlaps(self, other: Net) -> bool {
        if self.addr.is_ipv4() != other.addr.is_ipv4() {
            return false;
        }
        let wider = if self.prefix <= other.prefix {
            self
        } else {
            other
        };
        let narrower = if self.prefix <= other.prefix {
            other
        } else {
            self
        };
        wider.contains(narrower.addr)
    }
}

fn check_cidr(addr: &str, v6: bool) -> Result<(), String> {
    if v6 {
        check_ip6(addr)?;
    } else {
        check_ip4(addr)?;
    }
    if !addr.contains('/') {
        return Err(format!(
            "{addr:?} needs its prefix length (like {}): FreeBSD 15's ifconfig wants a netmask \
             with every address",
            if v6 { "fd00::2/64" } else { "10.0.0.2/24" }
        ));
    }
    Ok(())
}

/// Checks a MAC address: six pairs of hex digits separated by `:`, unicast, not all
/// zeros.
pub fn check_mac(mac: &str) -> Result<(), String> {
    let parts: Vec<&str> = mac.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(format!(
            "{mac:?} is not a MAC address (six pairs of hex digits, like 02:00:00:00:00:01)"
        ));
    }
    let first = u8::from_str_radix(parts[0], 16).unwrap_or(1);
    if first & 1 == 1 {
        return Err(format!("{mac} is a multicast address, not an interface's"));
    }
    if parts.iter().all(|p| *p == "00") {
        return Err("00:00:00:00:00:00 is not an interface's address".into());
    }
    Ok(())
}

fn canonical(addr: &str) -> String {
    let ip = addr.split('/').next().unwrap_or(addr);
    ip.parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .unwrap_or_else(|_| ip.to_string())
}

/// Validates the network settings of a recipe: the host's bridges, NAT and forwards
/// and every jail's mode. `shared_interface` is `host.interface`. Every problem
/// names its field; the shared-IP addresses themselves are checked by
/// [`crate::validate`] (here only against the bridges' networks and VNET
/// addresses).
pub fn validate(
    network: &HostNetwork,
    shared_interface: Option<&str>,
    jails: &[JailView<'_>],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |field: String, value: &str, text: String| {
        problems.push(Problem {
            field,
            value: value.to_string(),
            problem: text,
        })
    };
    // Addresses in use, by canonical spelling: where first seen.
    let mut addresses: BTreeMap<String, String> = BTreeMap::new();
    for jail in jails {
        if jail.vnet.is_none() {
            for (family, list) in [("ip4", jail.ip4), ("ip6", jail.ip6)] {
                for (k, addr) in list.iter().enumerate() {
                    addresses
                        .entry(canonical(addr))
                        .or_insert(format!("{}.{family}[{k}]", jail.field));
                }
            }
        }
    }
    let mut claim = |field: &str, addr: &str, problem: &mut dyn FnMut(String, &str, String)| {
        let key = canonical(addr);
        match addresses.get(&key) {
            Some(first) if first != field => problem(
                field.to_string(),
                addr,
                format!("address {key} is already used by {first}"),
            ),
            _ => {
                addresses.insert(key, field.to_string());
            }
        }
    };

    // Bridges.
    let mut bridge_names = BTreeSet::new();
    let mut members_seen: BTreeMap<&str, String> = BTreeMap::new();
    let mut subnets: Vec<(Net, String, &str)> = Vec::new();
    for (i, bridge) in network.bridges.iter().enumerate() {
        let field = format!("host.network.bridges[{i}]");
        if let Err(e) = check_interface(&bridge.name) {
            problem(format!("{field}.name"), &bridge.name, e);
        } else if is_thinjail_iface(&bridge.name) {
            problem(
                format!("{field}.name"),
                &bridge.name,
                format!(
                    "{} has the form of thinjail's epair names ({IFACE_PREFIX}…a/b, \
                     {HASHED_IFACE_PREFIX}…a/b); name the bridge otherwise",
                    bridge.name
                ),
            );
        }
        if !bridge_names.insert(bridge.name.as_str()) {
            problem(
                format!("{field}.name"),
                &bridge.name,
                format!("bridge {} is declared twice", bridge.name),
            );
        }
        if !bridge.create && (!bridge.ip4.is_empty() || !bridge.ip6.is_empty()) {
            problem(
                format!("{field}.ip4"),
                &bridge.name,
                "a bridge thinjail does not create (create: false) keeps the addresses the \
                 administrator gave it; list none"
                    .into(),
            );
        }
        for (k, member) in bridge.members.iter().enumerate() {
            let mfield = format!("{field}.members[{k}]");
            if let Err(e) = check_interface(member) {
                problem(mfield.clone(), member, e);
            }
            if is_thinjail_iface(member) {
                problem(
                    mfield.clone(),
                    member,
                    format!("{member} is a name thinjail gives jails' epairs"),
                );
            }
            if network.bridges.iter().any(|b| &b.name == member) {
                problem(
                    mfield.clone(),
                    member,
                    format!("{member} is a bridge; a bridge cannot be a member of another"),
                );
            }
            if let Some(first) = members_seen.insert(member.as_str(), mfield.clone()) {
                problem(
                    mfield,
                    member,
                    format!(
                        "{member} is already a member in {first}: an interface joins one bridge"
                    ),
                );
            }
        }
        for (family, list, v6) in [("ip4", &bridge.ip4, false), ("ip6", &bridge.ip6, true)] {
            for (k, addr) in list.iter().enumerate() {
                let afield = format!("{field}.{family}[{k}]");
                if let Err(e) = check_cidr(addr, v6) {
                    problem(afield, addr, e);
                    continue;
                }
                claim(&afield, addr, &mut problem);
                if let Some(net) = Net::parse(addr) {
                    if let Some((_, other, _)) = subnets
                        .iter()
                        .find(|(n, _, b)| *b != bridge.name && n.overlaps(net))
                    {
                        problem(
                            afield.clone(),
                            addr,
                            format!("{addr} overlaps the network of {other}"),
                        );
                    }
                    subnets.push((net, afield, &bridge.name));
                }
            }
        }
    }
    if let Some(interface) = shared_interface {
        if bridge_names.contains(interface) {
            problem(
                "host.interface".into(),
                interface,
                format!("{interface} is a bridge of host.network; shared-IP jails need another interface"),
            );
        }
    }

    // Jails.
    let vnet_jails: Vec<&str> = jails
        .iter()
        .filter(|j| j.vnet.is_some())
        .map(|j| j.name)
        .collect();
    let names = epair_names(vnet_jails.iter().copied());
    let mut stems: BTreeMap<String, &str> = BTreeMap::new();
    let mut macs: BTreeMap<String, String> = BTreeMap::new();
    for jail in jails {
        let field = jail.field;
        let Some(vnet) = jail.vnet else {
            for param in VNET_DERIVED_PARAMS {
                if let Some(name) = jail
                    .params
                    .keys()
                    .find(|k| crate::jailconf::same_param(k, param))
                {
                    problem(
                        format!("{field}.params[{name:?}]"),
                        name,
                        format!(
                            "`{name}` makes a VNET jail; give the jail `vnet: (bridge: …)` instead, \
                             and thinjail sets it up"
                        ),
                    );
                }
            }
            continue;
        };
        let vfield = format!("{field}.vnet");
        if !jail.ip4.is_empty() || !jail.ip6.is_empty() {
            let which = if jail.ip4.is_empty() { "ip6" } else { "ip4" };
            problem(
                format!("{field}.{which}"),
                jail.name,
                "a VNET jail has no shared-IP addresses: put its addresses in vnet.ip4/vnet.ip6"
                    .into(),
            );
        }
        for param in SHARED_IP_PARAMS.iter().chain(VNET_DERIVED_PARAMS.iter()) {
            if let Some(name) = jail
                .params
                .keys()
                .find(|k| crate::jailconf::same_param(k, param))
            {
                problem(
                    format!("{field}.params[{name:?}]"),
                    name,
                    format!("`{name}` cannot be set for a VNET jail: thinjail derives its network from `vnet`"),
                );
            }
        }
        match network.bridge(&vnet.bridge) {
            None => problem(
                format!("{vfield}.bridge"),
                &vnet.bridge,
                format!(
                    "bridge {:?} is not declared in host.network.bridges (declare it; `create: false` \
                     for one the administrator made)",
                    vnet.bridge
                ),
            ),
            Some(_) => {}
        }
        if let Some(names) = names.get(jail.name) {
            let stem = names.host.trim_end_matches('a').to_string();
            if let Some(other) = stems.insert(stem.clone(), jail.name) {
                problem(
                    format!("{field}.name"),
                    jail.name,
                    format!(
                        "jails {other} and {} would get the same interface names ({stem}a/b); \
                         rename one",
                        jail.name
                    ),
                );
            }
            if network.bridges.iter().any(|b| {
                b.name == names.host || b.name == names.jail || b.members.contains(&names.host)
            }) {
                problem(
                    format!("{field}.name"),
                    jail.name,
                    format!(
                        "the jail's interface {} is named in host.network",
                        names.host
                    ),
                );
            }
        }
        let bridge_nets: Vec<Net> = network
            .bridge(&vnet.bridge)
            .map(|b| {
                b.ip4
                    .iter()
                    .chain(&b.ip6)
                    .filter_map(|a| Net::parse(a))
                    .collect()
            })
            .unwrap_or_default();
        let mut own_nets = Vec::new();
        for (family, list, v6) in [
            ("ip4", vnet.static_ip4(), false),
            ("ip6", vnet.static_ip6(), true),
        ] {
            if matches!((v6, &vnet.ip4, &vnet.ip6), (false, Some(Ip4::Static(l)), _) if l.is_empty())
                || matches!((v6, &vnet.ip4, &vnet.ip6), (true, _, Some(Ip6::Static(l))) if l.is_empty())
            {
                problem(
                    format!("{vfield}.{family}"),
                    jail.name,
                    "Static([]) lists no address; leave it out instead".into(),
                );
            }
            for (k, addr) in list.iter().enumerate() {
                let afield = format!("{vfield}.{family}[{k}]");
                if let Err(e) = check_cidr(addr, v6) {
                    problem(afield, addr, e);
                    continue;
                }
                claim(&afield, addr, &mut problem);
                let Some(net) = Net::parse(addr) else {
                    continue;
                };
                let ip = net.addr;
                own_nets.push(net);
                // On another bridge's network: it could never be reached there.
                if let Some((_, other, _)) = subnets
                    .iter()
                    .find(|(n, _, b)| *b != vnet.bridge && n.contains(ip))
                {
                    problem(
                        afield.clone(),
                        addr,
                        format!(
                            "{addr} lies in the network of {other}, not of bridge {}",
                            vnet.bridge
                        ),
                    );
                }
                // Its own prefix must match the bridge's network it lies in.
                if let Some(bridge_net) = bridge_nets.iter().find(|n| n.contains(ip)) {
                    if bridge_net.prefix != net.prefix {
                        problem(
                            afield.clone(),
                            addr,
                            format!(
                                "{addr} has another prefix length than its bridge's network (/{})",
                                bridge_net.prefix
                            ),
                        );
                    }
                }
            }
        }
        for (family, gateway, v6, dynamic) in [
            ("gateway4", &vnet.gateway4, false, vnet.dhcp()),
            (
                "gateway6",
                &vnet.gateway6,
                true,
                matches!(vnet.ip6, Some(Ip6::Slaac)),
            ),
        ] {
            let Some(gateway) = gateway else { continue };
            let gfield = format!("{vfield}.{family}");
            let parsed = if v6 {
                gateway.parse::<Ipv6Addr>().map(IpAddr::V6).ok()
            } else {
                gateway.parse::<Ipv4Addr>().map(IpAddr::V4).ok()
            };
            let Some(ip) = parsed else {
                problem(
                    gfield,
                    gateway,
                    format!(
                        "{gateway:?} is not an {} address (a gateway has no prefix length)",
                        if v6 { "IPv6" } else { "IPv4" }
                    ),
                );
                continue;
            };
            if dynamic {
                problem(
                    gfield,
                    gateway,
                    format!(
                        "{} gives the jail its default router; leave {family} out",
                        if v6 { "SLAAC" } else { "DHCP" }
                    ),
                );
                continue;
            }
            if !own_nets.iter().any(|n| n.contains(ip)) {
                problem(
                    gfield,
                    gateway,
                    format!("{gateway} is on none of the jail's own networks"),
                );
            }
        }
        let mac = vnet.mac_of(jail.name);
        if let Some(given) = &vnet.mac {
            if let Err(e) = check_mac(given) {
                problem(format!("{vfield}.mac"), given, e);
            }
        }
        if let Some(first) = macs.insert(mac.clone(), format!("{vfield}.mac")) {
            problem(
                format!("{vfield}.mac"),
                &mac,
                format!("MAC address {mac} is already {first}'s"),
            );
        }
    }

    // NAT.
    for (i, nat) in network.nat.iter().enumerate() {
        let field = format!("host.network.nat[{i}]");
        let v6 = nat.from.contains(':');
        if let Err(e) = check_cidr(&nat.from, v6) {
            problem(format!("{field}.from"), &nat.from, e);
        } else if v6 {
            problem(
                format!("{field}.from"),
                &nat.from,
                "NAT is for IPv4 networks; IPv6 jails get addresses of their own".into(),
            );
        }
        if let Err(e) = check_interface(&nat.interface) {
            problem(format!("{field}.interface"), &nat.interface, e);
        }
        if bridge_names.contains(nat.interface.as_str()) {
            problem(
                format!("{field}.interface"),
                &nat.interface,
                "NAT translates on the way out: name the uplink, not a jails' bridge".into(),
            );
        }
    }
    let mut nat_nets: Vec<(Net, String)> = Vec::new();
    for (i, nat) in network.nat.iter().enumerate() {
        if let Some(net) = Net::parse(&nat.from) {
            if let Some((_, first)) = nat_nets.iter().find(|(n, _)| n.overlaps(net)) {
                problem(
                    format!("host.network.nat[{i}].from"),
                    &nat.from,
                    format!("{} overlaps {first}", nat.from),
                );
            }
            nat_nets.push((net, format!("host.network.nat[{i}].from")));
        }
    }

    // Port forwards.
    let mut forwarded: BTreeMap<(Proto, String, String, u16), String> = BTreeMap::new();
    for (i, forward) in network.forwards.iter().enumerate() {
        let field = format!("host.network.forwards[{i}]");
        if let Err(e) = check_interface(&forward.interface) {
            problem(format!("{field}.interface"), &forward.interface, e);
        }
        if let Some(address) = &forward.address {
            if address.parse::<Ipv4Addr>().is_err() {
                problem(
                    format!("{field}.address"),
                    address,
                    format!("{address:?} is not an IPv4 address (no prefix length)"),
                );
            }
        }
        for (name, port) in [
            ("port", Some(forward.port)),
            ("jail_port", forward.jail_port),
        ] {
            if port == Some(0) {
                problem(
                    format!("{field}.{name}"),
                    &forward.jail,
                    "port 0 cannot be forwarded (1 to 65535)".into(),
                );
            }
        }
        match jails.iter().find(|j| j.name == forward.jail) {
            None => problem(
                format!("{field}.jail"),
                &forward.jail,
                format!("jail {:?} is not in the recipe", forward.jail),
            ),
            Some(jail) if jail.vnet.is_none_or(|v| v.static_ip4().is_empty()) => problem(
                format!("{field}.jail"),
                &forward.jail,
                format!(
                    "{} has no static IPv4 address of its own (a VNET jail with vnet.ip4: \
                     Static([...])) to forward to",
                    forward.jail
                ),
            ),
            Some(_) => {}
        }
        let key = (
            forward.proto,
            forward.interface.clone(),
            forward.address.clone().unwrap_or_default(),
            forward.port,
        );
        if let Some(first) = forwarded.insert(key, field.clone()) {
            problem(
                format!("{field}.port"),
                &forward.jail,
                format!(
                    "{} port {} on {} is already forwarded by {first}",
                    forward.proto.as_str(),
                    forward.port,
                    forward.interface
                ),
            );
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vnet(bridge: &str, ip4: &[&str]) -> Vnet {
        Vnet {
            bridge: bridge.into(),
            ip4: Some(Ip4::Static(ip4.iter().map(|s| s.to_string()).collect())),
            ip6: None,
            gateway4: None,
            gateway6: None,
            mac: None,
        }
    }

    fn bridge(name: &str, ip4: &[&str]) -> Bridge {
        Bridge {
            name: name.into(),
            create: true,
            members: vec![],
            ip4: ip4.iter().map(|s| s.to_string()).collect(),
            ip6: vec![],
        }
    }

    const NO_PARAMS: &BTreeMap<String, ParamValue> = &BTreeMap::new();

    fn view<'a>(field: &'a str, name: &'a str, vnet: Option<&'a Vnet>) -> JailView<'a> {
        JailView {
            field,
            name,
            vnet,
            ip4: &[],
            ip6: &[],
            params: NO_PARAMS,
        }
    }

    fn fields(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(|p| p.field.clone()).collect()
    }

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

    #[test]
    fn jail_rc_conf_has_addresses_with_prefix_routers_dhcp_and_slaac() {
        let mut v = vnet("br0", &["10.0.0.2/24", "10.0.0.3/24"]);
        v.ip6 = Some(Ip6::Static(vec!["fd00::2/64".into()]));
        v.gateway4 = Some("10.0.0.1".into());
        v.gateway6 = Some("fd00::1".into());
        let rc = jail_rc_conf(&v, "tjwwwb");
        assert_eq!(
            rc,
            [
                ("ifconfig_tjwwwb", "inet 10.0.0.2/24"),
                ("ifconfig_tjwwwb_alias0", "inet 10.0.0.3/24"),
                ("ifconfig_tjwwwb_ipv6", "inet6 fd00::2/64"),
                ("defaultrouter", "10.0.0.1"),
                ("ipv6_defaultrouter", "fd00::1"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        v.ip4 = Some(Ip4::Dhcp);
        v.ip6 = Some(Ip6::Slaac);
        v.gateway4 = None;
        v.gateway6 = None;
        assert_eq!(
            jail_rc_conf(&v, "tjwwwb"),
            [
                ("ifconfig_tjwwwb", "SYNCDHCP"),
                ("ifconfig_tjwwwb_ipv6", "inet6 accept_rtadv"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(
            sysrc_command(&jail_rc_conf(&vnet("br0", &["10.0.0.2/24"]), "tjwwwb")),
            "/usr/sbin/sysrc -q 'ifconfig_tjwwwb=inet 10.0.0.2/24'"
        );
    }

    #[test]
    fn vnet_params_create_rename_attach_and_destroy_the_epair_around_the_recipes_hooks() {
        let v = vnet("br0", &["10.0.0.2/24"]);
        let names = &epair_names(["www"])["www"];
        let unit = names.unit;
        let mut params = BTreeMap::from([
            (
                "exec.start".to_string(),
                ParamValue::Text("/bin/sh /etc/rc".into()),
            ),
            (
                "exec.poststop".to_string(),
                ParamValue::Text("/usr/bin/true".into()),
            ),
        ]);
        vnet_params("www", &v, names, 100, &mut params);
        let list = |name: &str| match &params[name] {
            ParamValue::List(items) => items.clone(),
            other => panic!("{name}: {other:?}"),
        };
        let mac = derived_mac("www");
        assert_eq!(
            list("exec.prestart"),
            [
                format!("/sbin/ifconfig epair{unit} create"),
                format!("/sbin/ifconfig epair{unit}a name tjwwwa"),
                format!("/sbin/ifconfig epair{unit}b name tjwwwb"),
                format!("/sbin/ifconfig tjwwwb ether {mac}"),
                "/sbin/ifconfig tjwwwa description jail:www".to_string(),
                "/sbin/ifconfig br0 addm tjwwwa".to_string(),
                "/sbin/ifconfig tjwwwa up".to_string(),
            ]
        );
        assert_eq!(
            list("exec.poststop"),
            ["/usr/bin/true", "/sbin/ifconfig tjwwwa destroy"]
        );
        assert_eq!(
            list("exec.start"),
            [
                "/usr/sbin/sysrc -q 'ifconfig_tjwwwb=inet 10.0.0.2/24'",
                "/bin/sh /etc/rc"
            ]
        );
        assert_eq!(params["vnet"], ParamValue::Flag(true));
        assert_eq!(params["vnet.interface"], ParamValue::Text("tjwwwb".into()));
        assert!(!params.contains_key("devfs_ruleset"), "only DHCP jails");
        let mut dhcp = v.clone();
        dhcp.ip4 = Some(Ip4::Dhcp);
        let mut params = BTreeMap::new();
        vnet_params("www", &dhcp, names, 101, &mut params);
        assert_eq!(params["devfs_ruleset"], ParamValue::Number(101));
        // Without shell metacharacters, jail(8) runs each hook as its words.
        for hook in ["exec.prestart", "exec.poststop"] {
            let ParamValue::List(items) = &params[hook] else {
                panic!()
            };
            for item in items {
                assert!(
                    !item.contains(['$', ';', '\'', '"', '|', '&', '`']),
                    "{item}"
                );
            }
        }
    }

    #[test]
    fn devfs_ruleset_extends_ruleset_4_under_a_free_number() {
        let text = devfs_rules(100);
        assert!(text.contains(
            "[thinjail_vnet_bpf=100]\nadd include $devfsrules_jail\nadd path 'bpf*' unhide\n"
        ));
        assert_eq!(
            devfs_rulesets(&text),
            [("thinjail_vnet_bpf".to_string(), 100)]
        );
        let defaults = "[devfsrules_hide_all=1]\nadd hide\n[devfsrules_jail=4] # c\n[devfsrules_jail_vnet=5]\n";
        let admin = "[mine=100]\n[other=101]\n";
        let mut defined = devfs_rulesets(defaults);
        defined.extend(devfs_rulesets(admin));
        assert_eq!(defined.len(), 5);
        assert_eq!(choose_devfs_ruleset(&defined), 102);
        defined.push(("thinjail_vnet_bpf".into(), 250));
        assert_eq!(choose_devfs_ruleset(&defined), 250, "ours keeps its number");
    }

    #[test]
    fn pf_conf_lines_missing_are_named() {
        assert_eq!(missing_pf_conf_lines("pass all\n"), PF_CONF_LINES.to_vec());
        assert!(missing_pf_conf_lines(
            "nat-anchor \"thinjail/*\"   # ours\n  rdr-anchor   \"thinjail/*\"\npass\n"
        )
        .is_empty());
        assert_eq!(
            missing_pf_conf_lines("# nat-anchor \"thinjail/*\"\nrdr-anchor \"thinjail/*\"\n"),
            ["nat-anchor \"thinjail/*\""]
        );
    }

    #[test]
    fn member_ifaddrs_is_checked_like_freebsd_15() {
        assert!(check_member_ifaddrs("br0", "em0", Some(0), true).is_err());
        assert!(check_member_ifaddrs("br0", "em0", Some(0), false).is_ok());
        assert!(check_member_ifaddrs("br0", "em0", Some(1), true).is_ok());
        assert!(check_member_ifaddrs("br0", "em0", None, true).is_ok());
    }

    #[test]
    fn a_good_network_passes() {
        let network = HostNetwork {
            bridges: vec![
                bridge("br0", &["10.0.0.1/24"]),
                bridge("br1", &["10.1.0.1/24"]),
            ],
            nat: vec![Nat {
                from: "10.0.0.0/24".into(),
                interface: "em0".into(),
            }],
            forwards: vec![Forward {
                proto: Proto::Tcp,
                interface: "em0".into(),
                address: None,
                port: 8080,
                jail: "www".into(),
                jail_port: Some(80),
            }],
        };
        let mut www = vnet("br0", &["10.0.0.2/24"]);
        www.gateway4 = Some("10.0.0.1".into());
        let db = vnet("br1", &["10.1.0.2/24"]);
        let mut dhcp = vnet("br0", &[]);
        dhcp.ip4 = Some(Ip4::Dhcp);
        dhcp.ip6 = Some(Ip6::Slaac);
        let jails = [
            view("jails[0]", "www", Some(&www)),
            view("jails[1]", "db", Some(&db)),
            view("jails[2]", "dyn", Some(&dhcp)),
            view("jails[3]", "shared", None),
        ];
        assert_eq!(validate(&network, Some("em0"), &jails), []);
    }

    #[test]
    fn bad_networks_are_refused_naming_the_field() {
        let network = HostNetwork {
            bridges: vec![
                bridge("br0", &["10.0.0.1/24"]),
                bridge("br1", &["10.0.0.129/25"]),
                bridge("br0", &[]),
                bridge("averyveryverylongbridge", &[]),
                bridge("tjwwwa", &[]),
            ],
            nat: vec![],
            forwards: vec![],
        };
        let problems = validate(&network, None, &[]);
        assert_eq!(
            fields(&problems),
            [
                "host.network.bridges[1].ip4[0]",
                "host.network.bridges[2].name",
                "host.network.bridges[3].name",
                "host.network.bridges[4].name",
            ],
            "{problems:#?}"
        );
        assert!(problems[0].problem.contains("overlaps"), "{}", problems[0]);
    }

    #[test]
    fn jails_with_bad_network_settings_are_refused_naming_the_field() {
        let network = HostNetwork {
            bridges: vec![
                bridge("br0", &["10.0.0.1/24"]),
                bridge("br1", &["10.1.0.1/24"]),
            ],
            nat: vec![],
            forwards: vec![],
        };
        let undeclared = vnet("nobridge", &["10.9.0.2/24"]);
        let no_prefix = vnet("br0", &["10.0.0.2"]);
        let twice = vnet("br0", &["10.0.0.1/24"]);
        let wrong_bridge = vnet("br0", &["10.1.0.7/24"]);
        let mut gateway_off = vnet("br0", &["10.0.0.5/24"]);
        gateway_off.gateway4 = Some("10.7.0.1".into());
        let mut dhcp_gateway = vnet("br0", &[]);
        dhcp_gateway.ip4 = Some(Ip4::Dhcp);
        dhcp_gateway.gateway4 = Some("10.0.0.1".into());
        let mut same_mac = vnet("br0", &["10.0.0.8/24"]);
        same_mac.mac = Some(derived_mac("a"));
        let mut bad_mac = vnet("br0", &["10.0.0.9/24"]);
        bad_mac.mac = Some("01:00:5e:00:00:01".into());
        let a = vnet("br0", &["10.0.0.10/24"]);
        let shared_ip4 = ["192.168.1.5".to_string()];
        let vnet_params =
            BTreeMap::from([("interface".to_string(), ParamValue::Text("em0".into()))]);
        let shared_params = BTreeMap::from([("vnet".to_string(), ParamValue::Flag(true))]);
        let mut with_shared_settings = view("jails[9]", "mixed", Some(&a));
        with_shared_settings.ip4 = &shared_ip4;
        with_shared_settings.params = &vnet_params;
        let mut shared_with_vnet = view("jails[10]", "shared", None);
        shared_with_vnet.params = &shared_params;
        let jails = [
            view("jails[0]", "u", Some(&undeclared)),
            view("jails[1]", "p", Some(&no_prefix)),
            view("jails[2]", "t", Some(&twice)),
            view("jails[3]", "w", Some(&wrong_bridge)),
            view("jails[4]", "g", Some(&gateway_off)),
            view("jails[5]", "d", Some(&dhcp_gateway)),
            view("jails[6]", "m", Some(&same_mac)),
            view("jails[7]", "b", Some(&bad_mac)),
            view("jails[8]", "a", Some(&a)),
            with_shared_settings,
            shared_with_vnet,
        ];
        let problems = validate(&network, None, &jails);
        let found = fields(&problems);
        for expected in [
            "jails[0].vnet.bridge",
            "jails[1].vnet.ip4[0]",
            "jails[2].vnet.ip4[0]",
            "jails[3].vnet.ip4[0]",
            "jails[4].vnet.gateway4",
            "jails[5].vnet.gateway4",
            "jails[7].vnet.mac",
            "jails[8].vnet.mac",
            "jails[9].ip4",
            "jails[9].params[\"interface\"]",
            "jails[10].params[\"vnet\"]",
        ] {
            assert!(
                found.contains(&expected.to_string()),
                "{expected} not in {problems:#?}"
            );
        }
        let twice = problems
            .iter()
            .find(|p| p.field == "jails[2].vnet.ip4[0]")
            .unwrap();
        assert!(
            twice.problem.contains("host.network.bridges[0].ip4[0]"),
            "{twice}"
        );
        let mac = problems
            .iter()
            .find(|p| p.field == "jails[8].vnet.mac")
            .unwrap();
        assert!(mac.problem.contains("jails[6].vnet.mac"), "{mac}");
    }

    #[test]
    fn nat_and_forwards_are_checked() {
        let network = HostNetwork {
            bridges: vec![bridge("br0", &["10.0.0.1/24"])],
            nat: vec![
                Nat {
                    from: "10.0.0.0/24".into(),
                    interface: "em0".into(),
                },
                Nat {
                    from: "10.0.0.0/16".into(),
                    interface: "em1".into(),
                },
                Nat {
                    from: "10.0.0.0".into(),
                    interface: "br0".into(),
                },
            ],
            forwards: vec![
                Forward {
                    proto: Proto::Tcp,
                    interface: "em0".into(),
                    address: None,
                    port: 80,
                    jail: "www".into(),
                    jail_port: None,
                },
                Forward {
                    proto: Proto::Tcp,
                    interface: "em0".into(),
                    address: None,
                    port: 80,
                    jail: "www".into(),
                    jail_port: Some(8080),
                },
                Forward {
                    proto: Proto::Udp,
                    interface: "em0".into(),
                    address: None,
                    port: 53,
                    jail: "dyn".into(),
                    jail_port: None,
                },
            ],
        };
        let www = vnet("br0", &["10.0.0.2/24"]);
        let mut dynamic = vnet("br0", &[]);
        dynamic.ip4 = Some(Ip4::Dhcp);
        let jails = [
            view("jails[0]", "www", Some(&www)),
            view("jails[1]", "dyn", Some(&dynamic)),
        ];
        let problems = validate(&network, None, &jails);
        assert_eq!(
            fields(&problems),
            [
                "host.network.nat[2].from",
                "host.network.nat[2].interface",
                "host.network.nat[1].from",
                "host.network.forwards[1].port",
                "host.network.forwards[2].jail",
            ],
            "{problems:#?}"
        );
    }

    #[test]
    fn pf_anchor_rules_are_nat_and_rdr_without_pass() {
        let network = HostNetwork {
            bridges: vec![],
            nat: vec![Nat {
                from: "10.0.0.0/24".into(),
                interface: "em0".into(),
            }],
            forwards: vec![
                Forward {
                    proto: Proto::Tcp,
                    interface: "em0".into(),
                    address: None,
                    port: 8080,
                    jail: "www".into(),
                    jail_port: Some(80),
                },
                Forward {
                    proto: Proto::Udp,
                    interface: "em0".into(),
                    address: Some("192.0.2.10".into()),
                    port: 53,
                    jail: "www".into(),
                    jail_port: None,
                },
            ],
        };
        let text = pf_anchor_rules(&network, &|jail| (jail == "www").then(|| "10.0.0.2".into()));
        let rules: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            rules,
            [
                "nat on em0 inet from 10.0.0.0/24 to any -> (em0)",
                "rdr on em0 inet proto tcp from any to (em0) port 8080 -> 10.0.0.2 port 80",
                "rdr on em0 inet proto udp from any to 192.0.2.10 port 53 -> 10.0.0.2 port 53",
            ]
        );
        for rule in rules {
            pf_grammar::natrule(rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
        }
        for line in PF_CONF_LINES {
            pf_grammar::anchor_rule(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        // The checker is not a rubber stamp.
        for bad in [
            "nat on em0 inet from 10.0.0.0/24 to any",
            "rdr on em0 proto tcp from any to any port 80 10.0.0.2",
            "nat on em0 inet from 10.0.0.0/24 -> (em0)",
            "rdr pass on em0 inet proto tcp from any to any port 80 -> 10.0.0.2 port",
            "nat on em0 inet proto tcp from 10.0.0.0/33 to any -> (em0)",
        ] {
            assert!(pf_grammar::natrule(bad).is_err(), "{bad} accepted");
        }
        assert!(pf_grammar::anchor_rule("nat-anchor thinjail/*").is_err());
    }

    /// A checker for the part of pf.conf(5)'s grammar thinjail writes, after
    /// `sbin/pfctl/parse.y`: `natrule : nataction interface af proto fromto tag
    /// tagged rtable redirpool pool_opts`, `nataction : no NAT natpasslog | no RDR
    /// natpasslog`, `interface : ON if_item`, `af : INET | INET6`, `proto : PROTO
    /// proto_item`, `fromto : FROM ipspec TO ipspec`, `ipspec : ANY | host [port]`,
    /// `host : address | '(' interface ')'`, `port : PORT portspec`, `redirpool :
    /// ARROW host [PORT portspec]` (required for `nat`/`rdr`: "translation rule
    /// requires '-> address'"), and `anchorrule : NATANCHOR string | RDRANCHOR
    /// string` with the anchor name quoted (an unquoted `/*` would not lex as one
    /// string).
    mod pf_grammar {
        use std::net::IpAddr;

        fn host(tokens: &[&str], i: &mut usize) -> Result<(), String> {
            match tokens.get(*i) {
                Some(&"(") => {
                    let iface = tokens.get(*i + 1).ok_or("interface expected")?;
                    super::check_interface(iface)?;
                    if tokens.get(*i + 2) != Some(&")") {
                        return Err("`)` expected".into());
                    }
                    *i += 3;
                    Ok(())
                }
                Some(addr) => {
                    let (ip, prefix) = match addr.split_once('/') {
                        Some((ip, p)) => (ip, Some(p)),
                        None => (*addr, None),
                    };
                    let ip: IpAddr = ip.parse().map_err(|_| format!("{addr}: not an address"))?;
                    if let Some(p) = prefix {
                        let max = if ip.is_ipv4() { 32 } else { 128 };
                        if !p.parse::<u8>().is_ok_and(|p| p <= max) {
                            return Err(format!("{addr}: bad prefix"));
                        }
                    }
                    *i += 1;
                    Ok(())
                }
                None => Err("host expected".into()),
            }
        }

        fn port(tokens: &[&str], i: &mut usize) -> Result<(), String> {
            if tokens.get(*i) == Some(&"port") {
                let p = tokens.get(*i + 1).ok_or("port number expected")?;
                if !p.parse::<u16>().is_ok_and(|p| p > 0) {
                    return Err(format!("{p}: not a port"));
                }
                *i += 2;
            }
            Ok(())
        }

        fn ipspec(tokens: &[&str], i: &mut usize) -> Result<(), String> {
            if tokens.get(*i) == Some(&"any") {
                *i += 1;
            } else {
                host(tokens, i)?;
            }
            port(tokens, i)
        }

        fn tokenize(line: &str) -> Vec<String> {
            line.replace('(', " ( ")
                .replace(')', " ) ")
                .split_whitespace()
                .map(String::from)
                .collect()
        }

        pub fn natrule(line: &str) -> Result<(), String> {
            let owned = tokenize(line);
            let t: Vec<&str> = owned.iter().map(String::as_str).collect();
            let mut i = 0;
            if !matches!(t.first(), Some(&"nat") | Some(&"rdr")) {
                return Err("nat or rdr expected".into());
            }
            i += 1;
            if t.get(i) == Some(&"pass") {
                i += 1;
            }
            if t.get(i) == Some(&"on") {
                super::check_interface(t.get(i + 1).ok_or("interface expected")?)?;
                i += 2;
            }
            if matches!(t.get(i), Some(&"inet") | Some(&"inet6")) {
                i += 1;
            }
            if t.get(i) == Some(&"proto") {
                if !matches!(t.get(i + 1), Some(&"tcp") | Some(&"udp")) {
                    return Err("tcp or udp expected".into());
                }
                i += 2;
            }
            if t.get(i) != Some(&"from") {
                return Err("`from` expected".into());
            }
            i += 1;
            ipspec(&t, &mut i)?;
            if t.get(i) != Some(&"to") {
                return Err("`to` expected".into());
            }
            i += 1;
            ipspec(&t, &mut i)?;
            if t.get(i) != Some(&"->") {
                return Err("translation rule requires '-> address'".into());
            }
            i += 1;
            host(&t, &mut i)?;
            let before = i;
            port(&t, &mut i)?;
            if t.get(before) == Some(&"port") && t.first() == Some(&"nat") {
                return Err("nat translates addresses, not ports, here".into());
            }
            if i != t.len() {
                return Err(format!("unexpected {:?}", t[i..].join(" ")));
            }
            Ok(())
        }

        pub fn anchor_rule(line: &str) -> Result<(), String> {
            let (keyword, rest) = line.split_once(' ').ok_or("anchor name expected")?;
            if !matches!(keyword, "nat-anchor" | "rdr-anchor" | "anchor") {
                return Err(format!("{keyword}: not an anchor rule"));
            }
            let name = rest.trim();
            if !(name.len() >= 2 && name.starts_with('"') && name.ends_with('"')) {
                return Err("the anchor name must be quoted".into());
            }
            Ok(())
        }
    }
}
