//! Declarative jail networking: VNET jails on bridges, with static IPv4/IPv6
//! addresses, DHCP or SLAAC, a stable MAC address, and NAT and port forwards kept in
//! a pf anchor thinjail owns.
//!
//! This module is pure: the jail.conf(5) parameters and `exec.*` hooks of a VNET
//! jail, the rc.conf(5) settings of the jail's own rc.conf, the devfs ruleset a DHCP
//! jail needs, the text of the pf anchor, and FreeBSD 15's bridge-member check.
//! Nothing here looks at a host. The recipe's types, the epair names and the MAC
//! are in [`crate::recipe::network`] (re-exported here); their validation in
//! [`crate::recipe::validate`].
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
//!   address, so addresses here always carry one. For SLAAC that one setting is
//!   enough: `ifconfig_up` clears `IFDISABLED` for it, sets `accept_rtadv` (without
//!   which `nd6_ra_input` in `sys/netinet6/nd6_rtr.c` drops every advertisement)
//!   and runs rtsol(8) to solicit one; no `rtsold_enable` or
//!   `ipv6_activate_all_interfaces` (docs/network.md, "The jail's rc.conf").
//! - devfs.rules(5) and `etc/defaults/devfs.rules`: ruleset 4 is
//!   `devfsrules_jail`; dhclient(8) needs `/dev/bpf*`, which ruleset 4 hides.
//! - pf.conf(5) and `sbin/pfctl/parse.y` (`natrule : nataction interface af proto
//!   fromto tag tagged rtable redirpool pool_opts`; `nat-anchor`, `rdr-anchor`):
//!   see [`pf_anchor_rules`].

pub mod pf;

use std::collections::{BTreeMap, BTreeSet};

use crate::jailconf::ParamValue;
use crate::quote;

pub use crate::recipe::network::*;

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
///
/// Every start writes all of them, so that what an earlier recipe wrote into the
/// jail's rc.conf (which keeps its data) does not outlive it: no IPv6 is an empty
/// `ifconfig_IF_ipv6` (`network.subr` configures nothing for it, and a stale
/// `inet6 accept_rtadv` would keep the jail taking router advertisements), the
/// first unused `_aliasN` is empty (`ifalias_af_common` stops at an empty alias),
/// and no gateway is `NO`, rc.conf's default (rc.d/routing adds no route).
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
        None => out.push((ifconfig_var(iface, "_ipv6"), String::new())),
    }
    out.push((
        ifconfig_var(iface, &format!("_alias{aliases}")),
        String::new(),
    ));
    let router = |gateway: &Option<String>| gateway.clone().unwrap_or_else(|| "NO".into());
    out.push(("defaultrouter".into(), router(&vnet.gateway4)));
    out.push(("ipv6_defaultrouter".into(), router(&vnet.gateway6)));
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
/// each a plain command (its words shell-quoted, which leaves the validated names
/// bare, so jail(8) runs it as its words without a shell); in
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
    // Validated names stay bare words, so jail(8) runs each line as its words
    // without a shell; anything else would be quoted and go to sh -c intact.
    let ifconfig = |args: &[&str]| {
        let mut argv = vec!["/sbin/ifconfig"];
        argv.extend_from_slice(args);
        quote::sh_command(&argv)
    };
    let epair = format!("epair{}", names.unit);
    let mac = vnet.mac_of(jail);
    let description = crate::recipe::network::epair_description(jail);
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

/// What the host's interfaces (`ifconfig -l`) say against starting the VNET jails
/// of a recipe, each with a way out: a declared bridge that does not exist; for a
/// jail that is not running, an interface with one of its epair names (a leftover
/// of a start that failed or was killed, or someone else's: thinjail does not
/// destroy what it cannot tell is its own), or a half of the epair unit it
/// creates (`ifconfig epairU create` would fail with `EEXIST`). `vnet_jails` gives
/// each VNET jail's name, whether it runs, and its bridge. The jails of `leftovers`
/// ([`crate::leftover_epairs::find`]) are not checked: their epairs are thinjail's
/// own and go before they start.
pub fn host_conflicts(
    network: &HostNetwork,
    vnet_jails: &[(&str, bool, &str)],
    interfaces: &BTreeSet<String>,
    leftovers: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut found = Vec::new();
    let used: BTreeSet<&str> = vnet_jails.iter().map(|(_, _, bridge)| *bridge).collect();
    for bridge in &network.bridges {
        // A bridge thinjail makes is made before the jails start (crate::bridges).
        if used.contains(bridge.name.as_str())
            && !bridge.create
            && !interfaces.contains(&bridge.name)
        {
            found.push(format!(
                "bridge {name} does not exist on this host: create it (ifconfig bridge create \
                 name {name}, and cloned_interfaces/ifconfig_{name}_name in rc.conf so that it \
                 is there at boot)",
                name = bridge.name
            ));
        }
    }
    let names = epair_names(vnet_jails.iter().map(|(name, _, _)| *name));
    for (jail, running, _) in vnet_jails {
        if *running || leftovers.contains_key(*jail) {
            continue;
        }
        let Some(names) = names.get(*jail) else {
            continue;
        };
        let epair = format!("epair{}", names.unit);
        for iface in [
            names.host.clone(),
            names.jail.clone(),
            format!("{epair}a"),
            format!("{epair}b"),
        ] {
            if interfaces.contains(&iface) {
                found.push(format!(
                    "interface {iface} exists, but jail {jail} (which makes it when it starts) \
                     is not running: if it is left from a start that failed, remove it with \
                     `ifconfig {iface} destroy`; otherwise rename it"
                ));
            }
        }
    }
    found
}

/// What `list` and `list --json` say of a jail's network.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetworkSummary {
    /// `shared` (the host's stack, `ip4.addr`/`ip6.addr` aliases) or `vnet`.
    pub mode: String,
    /// The bridge of a VNET jail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// Its IPv4 addresses as the recipe gives them, or `["dhcp"]`.
    pub ip4: Vec<String>,
    /// Its IPv6 addresses as the recipe gives them, or `["slaac"]`.
    pub ip6: Vec<String>,
    /// The MAC address of a VNET jail's interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// A VNET jail's interface (its half of the epair).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// The host's half of its epair, a member of the bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_interface: Option<String>,
}

impl NetworkSummary {
    /// A shared-IP jail with these aliases.
    pub fn shared(ip4: &[String], ip6: &[String]) -> Self {
        NetworkSummary {
            mode: "shared".into(),
            bridge: None,
            ip4: ip4.to_vec(),
            ip6: ip6.to_vec(),
            mac: None,
            interface: None,
            host_interface: None,
        }
    }

    /// VNET jail `jail` with its epair `names`.
    pub fn vnet(jail: &str, vnet: &Vnet, names: &EpairNames) -> Self {
        let ip4 = match &vnet.ip4 {
            Some(Ip4::Static(list)) => list.clone(),
            Some(Ip4::Dhcp) => vec!["dhcp".into()],
            None => vec![],
        };
        let ip6 = match &vnet.ip6 {
            Some(Ip6::Static(list)) => list.clone(),
            Some(Ip6::Slaac) => vec!["slaac".into()],
            None => vec![],
        };
        NetworkSummary {
            mode: "vnet".into(),
            bridge: Some(vnet.bridge.clone()),
            ip4,
            ip6,
            mac: Some(vnet.mac_of(jail)),
            interface: Some(names.jail.clone()),
            host_interface: Some(names.host.clone()),
        }
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

/// `rules` numbered as the kernel numbers rules appended to an empty ruleset and
/// `devfs rule show` prints them: `100 include 4`, `200 path bpf* unhide`.
pub fn numbered_devfs_rules(rules: &[String]) -> Vec<String> {
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| format!("{} {rule}", (i + 1) * 100))
        .collect()
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
/// `jail_ip4` gives a jail's first static IPv4 address (without prefix). IPv6
/// forwards are [`crate::pf_inet6`]'s.
pub fn pf_anchor_rules(pf: &Pf, jail_ip4: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out =
        String::from("# thinjail's NAT and port forwards; loaded with pfctl -a thinjail/jails\n");
    for nat in &pf.nat {
        out.push_str(&format!(
            "nat on {iface} inet from {from} to any -> ({iface})\n",
            iface = nat.interface,
            from = nat.from
        ));
    }
    for forward in pf.forwards.iter().filter(|f| !f.is_inet6()) {
        let Some(target) = jail_ip4(&forward.jail) else {
            continue;
        };
        let to = forward.address.as_deref().unwrap_or("any");
        let to = if to == "any" {
            format!("({})", forward.interface)
        } else {
            to.to_string()
        };
        out.push_str(&forward.rdr_rule("inet", &to, &target));
    }
    out
}

/// A pf.conf(5) line as compared with thinjail's: its comment cut, its blanks
/// collapsed to single spaces.
pub(crate) fn pf_conf_statement(line: &str) -> String {
    line.split('#')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The lines of [`PF_CONF_LINES`] a pf.conf(5) text lacks (compared with comments
/// cut and blanks collapsed): what the plan tells the administrator to add.
pub fn missing_pf_conf_lines(pf_conf: &str) -> Vec<&'static str> {
    let present: BTreeSet<String> = pf_conf.lines().map(pf_conf_statement).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::validate::check_interface;

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
                ("ifconfig_tjwwwb_alias1", ""),
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
                ("ifconfig_tjwwwb_alias0", ""),
                ("defaultrouter", "NO"),
                ("ipv6_defaultrouter", "NO"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        // Leaving SLAAC (or IPv6) empties what an earlier start wrote.
        v.ip6 = None;
        assert!(jail_rc_conf(&v, "tjwwwb")
            .contains(&("ifconfig_tjwwwb_ipv6".to_string(), String::new())));
        assert_eq!(
            sysrc_command(&jail_rc_conf(&vnet("br0", &["10.0.0.2/24"]), "tjwwwb")),
            "/usr/sbin/sysrc -q 'ifconfig_tjwwwb=inet 10.0.0.2/24' ifconfig_tjwwwb_ipv6= \
             ifconfig_tjwwwb_alias0= defaultrouter=NO ipv6_defaultrouter=NO"
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
                "/usr/sbin/sysrc -q 'ifconfig_tjwwwb=inet 10.0.0.2/24' ifconfig_tjwwwb_ipv6= \
                 ifconfig_tjwwwb_alias0= defaultrouter=NO ipv6_defaultrouter=NO",
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
    fn host_conflicts_name_missing_bridges_and_leftover_epairs() {
        let network = HostNetwork {
            pf: Pf::default(),
            bridges: vec![
                Bridge {
                    name: "br0".into(),
                    ip4: vec![],
                    ip6: vec![],
                    create: false,
                    members: vec![],
                },
                Bridge {
                    name: "unused0".into(),
                    ip4: vec![],
                    ip6: vec![],
                    create: false,
                    members: vec![],
                },
            ],
        };
        let unit = epair_names(["www", "db"])["db"].unit;
        let host: BTreeSet<String> = ["em0", "tjwwwa", "tjwwwb", "br9"]
            .into_iter()
            .map(String::from)
            .chain([format!("epair{unit}b")])
            .collect();
        let jails = [("www", true, "br0"), ("db", false, "br0")];
        let found = host_conflicts(&network, &jails, &host, &BTreeMap::new());
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found[0].starts_with("bridge br0 does not exist"),
            "{}",
            found[0]
        );
        assert!(
            found[1].contains(&format!("epair{unit}b exists")),
            "{}",
            found[1]
        );
        // www runs: its interfaces are its own. An unused bridge may be missing.
        let mut host = host;
        host.insert("br0".into());
        host.remove(&format!("epair{unit}b"));
        assert!(host_conflicts(&network, &jails, &host, &BTreeMap::new()).is_empty());
        host.insert("tjdba".into());
        assert_eq!(
            host_conflicts(&network, &jails, &host, &BTreeMap::new()).len(),
            1
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
    fn pf_anchor_rules_are_nat_and_rdr_without_pass() {
        let network = Pf {
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
            ..Pf::default()
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
        // And an IPv6 forward (crate::pf_inet6).
        let mut v6 = network.clone();
        v6.forwards[1].address = Some("2001:db8::10".into());
        let rule = crate::pf_inet6::forward_rules(&v6, &|_| Some("fd00::2/64".into()));
        pf_grammar::natrule(rule.trim()).unwrap_or_else(|e| panic!("{rule}: {e}"));
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
