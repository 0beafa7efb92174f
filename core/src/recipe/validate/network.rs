//! The network part of a recipe: bridges, NAT, port forwards and each jail's mode
//! (shared-IP or VNET), checked as a whole — names that fit IFNAMSIZ and are not
//! thinjail's epair names, addresses with their prefix length (FreeBSD 15's
//! ifconfig wants one), no address or MAC used twice, no overlapping subnets, each
//! VNET jail on a declared bridge and on its network, gateways on the jail's own
//! network, no shared-IP setting on a VNET jail nor the reverse, no port forwarded
//! twice.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::bridges::member_problem;
use super::{check_interface, check_ip4, check_ip6};
use crate::jailconf::ParamValue;
use crate::recipe::network::{
    epair_names, is_thinjail_iface, HostNetwork, Ip4, Ip6, Pf, Proto, Vnet, HASHED_IFACE_PREFIX,
    IFACE_PREFIX,
};

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

/// How `params` spells `param`, in any of jail(8)'s equivalent spellings.
fn spelling_of<'p>(params: &'p BTreeMap<String, ParamValue>, param: &str) -> Option<&'p String> {
    params
        .keys()
        .find(|k| crate::jailconf::same_param(k, param))
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
        for (k, member) in bridge.members.iter().enumerate() {
            let mfield = format!("{field}.members[{k}]");
            if let Some(text) = member_problem(network, bridge, member) {
                problem(mfield, member, text);
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
                if let Some(name) = spelling_of(jail.params, param) {
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
        if vnet.dhcp() {
            // thinjail's ruleset (which shows bpf to dhclient) is the jail's.
            if let Some(name) = spelling_of(jail.params, "devfs_ruleset") {
                problem(
                    format!("{field}.params[{name:?}]"),
                    name,
                    "a DHCP jail gets thinjail's devfs ruleset (ruleset 4 and bpf, for dhclient): \
                     leave `devfs_ruleset` out"
                        .into(),
                );
            }
        }
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
            if let Some(name) = spelling_of(jail.params, param) {
                problem(
                    format!("{field}.params[{name:?}]"),
                    name,
                    format!("`{name}` cannot be set for a VNET jail: thinjail derives its network from `vnet`"),
                );
            }
        }
        if network.bridge(&vnet.bridge).is_none() {
            problem(
                format!("{vfield}.bridge"),
                &vnet.bridge,
                format!(
                    "bridge {:?} is not declared in host.network.bridges",
                    vnet.bridge
                ),
            );
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
            if network
                .bridges
                .iter()
                .any(|b| b.name == names.host || b.name == names.jail)
            {
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

    problems
}

/// The recipe's network settings ([`validate`]), each problem in `c`.
pub(super) fn check_network(recipe: &crate::recipe::Recipe, c: &mut super::Collector) {
    let fields: Vec<String> = (0..recipe.jails.len())
        .map(|i| format!("jails[{i}]"))
        .collect();
    let views: Vec<JailView<'_>> = recipe
        .jails
        .iter()
        .zip(&fields)
        .map(|(jail, field)| JailView {
            field,
            name: &jail.name,
            vnet: jail.vnet.as_ref(),
            ip4: &jail.ip4,
            ip6: &jail.ip6,
            params: &jail.params,
        })
        .collect();
    for problem in validate(
        &recipe.host.network,
        recipe.host.interface.as_deref(),
        &views,
    ) {
        c.check(problem.field, &problem.value, Err(problem.problem));
    }
    for problem in validate_pf(&recipe.host.network.pf, &recipe.host.network, &views) {
        c.check(problem.field, &problem.value, Err(problem.problem));
    }
}

/// Validates NAT and port forwards ([`crate::recipe::network::Pf`]): IPv4
/// networks with their prefix, each holding a static address of a VNET jail,
/// interfaces that are not the jails' bridges, no overlapping NAT networks, ports
/// 1 to 65535, forwards to a VNET jail's static IPv4 address, no port forwarded
/// twice, an absolute anchor file.
pub fn validate_pf(pf: &Pf, network: &HostNetwork, jails: &[JailView<'_>]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |field: String, value: &str, text: String| {
        problems.push(Problem {
            field,
            value: value.to_string(),
            problem: text,
        })
    };
    let bridge_names: BTreeSet<&str> = network.bridges.iter().map(|b| b.name.as_str()).collect();
    if let Err(e) = super::check_absolute_path(&pf.anchor_file) {
        problem(
            "host.network.pf.anchor_file".into(),
            &pf.anchor_file.display().to_string(),
            e,
        );
    } else if pf.anchor_file.file_name().is_some_and(|n| n == "pf.conf") {
        problem(
            "host.network.pf.anchor_file".into(),
            &pf.anchor_file.display().to_string(),
            "pf.conf is the administrator's: thinjail writes its anchor to a file of its own \
             (like /etc/pf.thinjail.conf) and never edits pf.conf"
                .into(),
        );
    }
    // The VNET jails' static IPv4 addresses: what NAT may translate.
    let jail_ip4: Vec<IpAddr> = jails
        .iter()
        .filter_map(|j| j.vnet)
        .flat_map(|v| v.static_ip4())
        .filter_map(|a| a.split('/').next()?.parse().ok())
        .collect();
    // NAT.
    for (i, nat) in pf.nat.iter().enumerate() {
        let field = format!("host.network.pf.nat[{i}]");
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
        if let Some(net) = Net::parse(&nat.from).filter(|n| n.addr.is_ipv4()) {
            if !jail_ip4.iter().any(|a| net.contains(*a)) {
                problem(
                    format!("{field}.from"),
                    &nat.from,
                    format!(
                        "no VNET jail of the recipe has a static address in {}: NAT of a network \
                         no jail uses would translate someone else's packets",
                        nat.from
                    ),
                );
            }
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
    for (i, nat) in pf.nat.iter().enumerate() {
        if let Some(net) = Net::parse(&nat.from) {
            if let Some((_, first)) = nat_nets.iter().find(|(n, _)| n.overlaps(net)) {
                problem(
                    format!("host.network.pf.nat[{i}].from"),
                    &nat.from,
                    format!("{} overlaps {first}", nat.from),
                );
            }
            nat_nets.push((net, format!("host.network.pf.nat[{i}].from")));
        }
    }

    // Port forwards.
    let mut forwarded: BTreeMap<(Proto, String, String, u16), String> = BTreeMap::new();
    for (i, forward) in pf.forwards.iter().enumerate() {
        let field = format!("host.network.pf.forwards[{i}]");
        if let Err(e) = check_interface(&forward.interface) {
            problem(format!("{field}.interface"), &forward.interface, e);
        }
        let inet6 = forward.is_inet6();
        if let Some(address) = &forward.address {
            if address.parse::<Ipv4Addr>().is_err() && !inet6 {
                problem(
                    format!("{field}.address"),
                    address,
                    format!("{address:?} is not an IPv4 or IPv6 address (no prefix length)"),
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
            Some(jail) if inet6 && jail.vnet.is_none_or(|v| v.static_ip6().is_empty()) => problem(
                format!("{field}.jail"),
                &forward.jail,
                format!(
                    "{} has no static IPv6 address of its own (a VNET jail with vnet.ip6: \
                         Static([...])) for this IPv6 forward (its address is IPv6)",
                    forward.jail
                ),
            ),
            Some(jail) if !inet6 && jail.vnet.is_none_or(|v| v.static_ip4().is_empty()) => problem(
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
            forward
                .address
                .as_deref()
                .map(|a| {
                    // One spelling of an IPv6 address (inet_ntop's).
                    a.parse::<std::net::Ipv6Addr>()
                        .map(|v6| v6.to_string())
                        .unwrap_or_else(|_| a.to_string())
                })
                .unwrap_or_default(),
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
    use crate::recipe::network::{derived_mac, Bridge, Forward, Nat};

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
            ip4: ip4.iter().map(|s| s.to_string()).collect(),
            ip6: vec![],
            create: false,
            members: vec![],
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
    fn a_good_network_passes() {
        let network = HostNetwork {
            pf: Pf::default(),
            bridges: vec![
                bridge("br0", &["10.0.0.1/24"]),
                bridge("br1", &["10.1.0.1/24"]),
            ],
        };
        let pf = Pf {
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
            ..Pf::default()
        };
        let mut www = vnet("br0", &["10.0.0.2/24"]);
        www.gateway4 = Some("10.0.0.1".into());
        let db = vnet("br1", &["10.1.0.2/24"]);
        let mut slaac = vnet("br0", &[]);
        slaac.ip4 = None;
        slaac.ip6 = Some(Ip6::Slaac);
        let jails = [
            view("jails[0]", "www", Some(&www)),
            view("jails[1]", "db", Some(&db)),
            view("jails[2]", "dyn", Some(&slaac)),
            view("jails[3]", "shared", None),
        ];
        assert_eq!(validate(&network, Some("em0"), &jails), []);
        assert_eq!(validate_pf(&pf, &network, &jails), []);
    }

    #[test]
    fn bad_networks_are_refused_naming_the_field() {
        let network = HostNetwork {
            pf: Pf::default(),
            bridges: vec![
                bridge("br0", &["10.0.0.1/24"]),
                bridge("br1", &["10.0.0.129/25"]),
                bridge("br0", &[]),
                bridge("averyveryverylongbridge", &[]),
                bridge("tjwwwa", &[]),
            ],
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
            pf: Pf::default(),
            bridges: vec![
                bridge("br0", &["10.0.0.1/24"]),
                bridge("br1", &["10.1.0.1/24"]),
            ],
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
        let mut dhcp_own_ruleset = dhcp_gateway.clone();
        dhcp_own_ruleset.gateway4 = None;
        let ruleset_params = BTreeMap::from([("devfs_ruleset".to_string(), ParamValue::Number(4))]);
        let mut dhcp_with_ruleset = view("jails[11]", "r", Some(&dhcp_own_ruleset));
        dhcp_with_ruleset.params = &ruleset_params;
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
            dhcp_with_ruleset,
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
            "jails[11].params[\"devfs_ruleset\"]",
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
            pf: Pf::default(),
            bridges: vec![bridge("br0", &["10.0.0.1/24"])],
        };
        let pf = Pf {
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
            ..Pf::default()
        };
        let www = vnet("br0", &["10.0.0.2/24"]);
        let mut dynamic = vnet("br0", &[]);
        dynamic.ip4 = Some(Ip4::Dhcp);
        let jails = [
            view("jails[0]", "www", Some(&www)),
            view("jails[1]", "dyn", Some(&dynamic)),
        ];
        let problems = validate_pf(&pf, &network, &jails);
        assert_eq!(
            fields(&problems),
            [
                "host.network.pf.nat[2].from",
                "host.network.pf.nat[2].interface",
                "host.network.pf.nat[1].from",
                "host.network.pf.forwards[1].port",
                "host.network.pf.forwards[2].jail",
            ],
            "{problems:#?}"
        );
    }

    #[test]
    fn nat_of_a_network_no_jail_uses_and_a_relative_anchor_file_are_refused() {
        let network = HostNetwork {
            pf: Pf::default(),
            bridges: vec![bridge("br0", &["10.0.0.1/24"])],
        };
        let pf = Pf {
            nat: vec![
                Nat {
                    from: "10.0.0.0/24".into(),
                    interface: "em0".into(),
                },
                Nat {
                    from: "172.16.0.0/24".into(),
                    interface: "em0".into(),
                },
            ],
            anchor_file: "pf.thinjail.conf".into(),
            ..Pf::default()
        };
        let www = vnet("br0", &["10.0.0.2/24"]);
        let jails = [view("jails[0]", "www", Some(&www))];
        let problems = validate_pf(&pf, &network, &jails);
        assert_eq!(
            fields(&problems),
            ["host.network.pf.anchor_file", "host.network.pf.nat[1].from"],
            "{problems:#?}"
        );
        assert!(
            problems[1].problem.contains("no VNET jail"),
            "{problems:#?}"
        );
    }
}
