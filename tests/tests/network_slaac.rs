//! SLAAC jails (issue 13), end to end on the test bed: a VNET jail with `ip6:
//! Slaac` forms its address from the prefix radvd advertises on the bridge (the
//! modified EUI-64 of its stable MAC), gets a default route from it and reaches the
//! router over IPv6; a VNET jail on the same bridge without SLAAC receives the same
//! advertisements and forms nothing, as FreeBSD's kernel ignores them without
//! `accept_rtadv`; nothing is left once the jails are destroyed. A jail that leaves
//! SLAAC, or drops an address or its gateway, keeps none of what its earlier rc.conf
//! settings gave it after its restart. All inside network
//! namespaces the test makes (`THINJAIL_TESTBED_NETNS`): radvd runs on the test's
//! bridge, in the namespace standing for the host.

use std::net::Ipv6Addr;
use std::process::Command;
use std::time::Duration;

use thinjail_core::network::{Ip4, Ip6, Vnet};
use thinjail_core::recipe::network::derived_mac;
use thinjail_testbed::netbed::{TestNetns, NETNS_DIR};
use thinjail_testbed::radvd::{process_exists, wait_for, Radvd};
use thinjail_testbed::vnet_bed::{add_bridge, admin_bridge, ip, vnet_jail, vnet_on, VnetBed};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

const BRIDGE: &str = "tjbr7";
/// The router's address on the bridge, in the advertised prefix.
const ROUTER: &str = "2001:db8:7a::1";
const PREFIX: &str = "2001:db8:7a::/64";
/// The SLAAC jail and the jail without IPv6, both on the bridge.
const SLAAC_JAIL: &str = "vs";
const PLAIN_JAIL: &str = "vn";

/// The article's bed with VNET jails `vs` (10.79.0.2, `ip6: Slaac`) and `vn`
/// (10.79.0.3, no IPv6) on the administrator's bridge `tjbr7` (10.79.0.1/24 and
/// 2001:db8:7a::1/64, with a veth pair `rtr0`/`rtr1` as a member so that it has
/// a carrier, and a link-local address for radvd, before any jail starts).
fn slaac_bed(prefix: &str) -> VnetBed {
    let links = |ns: &TestNetns| {
        add_bridge(ns.name(), BRIDGE, Some("10.79.0.1/24"));
        ip(
            ns.name(),
            &[
                "addr",
                "add",
                &format!("{ROUTER}/64"),
                "dev",
                BRIDGE,
                "nodad",
            ],
        );
        ip(
            ns.name(),
            &[
                "link", "add", "rtr0", "type", "veth", "peer", "name", "rtr1",
            ],
        );
        ip(ns.name(), &["link", "set", "dev", "rtr0", "master", BRIDGE]);
        ip(ns.name(), &["link", "set", "dev", "rtr0", "up"]);
        ip(ns.name(), &["link", "set", "dev", "rtr1", "up"]);
    };
    VnetBed::new(BIN, prefix, links, |recipe| {
        recipe.host.interface = None;
        recipe.host.network.bridges = vec![admin_bridge(BRIDGE, &["10.79.0.1/24"])];
        let slaac = Vnet {
            ip6: Some(Ip6::Slaac),
            ..vnet_on(BRIDGE, Ip4::Static(vec!["10.79.0.2/24".into()]), None)
        };
        let plain = vnet_on(BRIDGE, Ip4::Static(vec!["10.79.0.3/24".into()]), None);
        recipe.jails = vec![
            vnet_jail(recipe, SLAAC_JAIL, slaac),
            vnet_jail(recipe, PLAIN_JAIL, plain),
        ];
    })
}

/// The address SLAAC forms in `prefix` (a /64) for MAC `mac`: the modified EUI-64
/// (RFC 4291 appendix A; FreeBSD's `in6_get_hw_ifid`, Linux's `addr_gen_mode` 0,
/// which the test bed sets in each VNET jail's namespace).
fn eui64_address(prefix: &str, mac: &str) -> Ipv6Addr {
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).expect("a MAC's octet"))
        .collect();
    let network: Ipv6Addr = prefix
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("the prefix");
    let mut octets = network.octets();
    octets[8..].copy_from_slice(&[
        bytes[0] ^ 0x02,
        bytes[1],
        bytes[2],
        0xff,
        0xfe,
        bytes[3],
        bytes[4],
        bytes[5],
    ]);
    Ipv6Addr::from(octets)
}

/// `ip -6 -o addr show dev IFACE scope global` in the jail: each address with its
/// prefix length and whether it is still tentative (duplicate address detection).
fn global_addresses(bed: &VnetBed, jail: &str, iface: &str) -> Vec<(String, bool)> {
    let shown = bed.in_jail(
        jail,
        &[
            "/usr/libexec/testbed/ip",
            "-6",
            "-o",
            "addr",
            "show",
            "dev",
            iface,
            "scope",
            "global",
        ],
    );
    shown.expect_code(0);
    shown
        .stdout
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "inet6")?;
            Some((words.get(at + 1)?.to_string(), line.contains("tentative")))
        })
        .collect()
}

/// The router advertisements the jail's namespace has received
/// (`Icmp6InRouterAdvertisements` of its `/proc/net/snmp6`), taken or not.
fn advertisements_received(bed: &VnetBed, jail: &str) -> u64 {
    let out = Command::new("nsenter")
        .arg(format!("--net={NETNS_DIR}/{}", bed.net.jail_ns(jail)))
        .args(["cat", "/proc/net/snmp6"])
        .output()
        .expect("nsenter");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| {
            line.strip_prefix("Icmp6InRouterAdvertisements")
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The jail's `accept_ra` for `iface`, read through the test bed's view of its
/// namespace.
fn accept_ra(bed: &VnetBed, jail: &str, iface: &str) -> String {
    let path = bed.bed.jails_path(&format!(
        ".mountpoints/{jail}/usr/libexec/testbed/ipv6conf/{iface}/accept_ra"
    ));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// Mounts below the bed's directory still showing a jail's IPv6 settings.
fn views_mounted(bed: &VnetBed) -> Vec<String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let dir = bed.bed.dir.path().display().to_string();
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|target| target.starts_with(&dir) && target.ends_with("ipv6conf"))
        .map(String::from)
        .collect()
}

/// The SLAAC jail's address once it is formed (not tentative any more).
fn formed_address(bed: &VnetBed) -> String {
    wait_for(Duration::from_secs(20), || {
        global_addresses(bed, SLAAC_JAIL, "tjvsb")
            .into_iter()
            .find(|(_, tentative)| !tentative)
            .map(|(address, _)| address)
    })
    .unwrap_or_else(|| {
        panic!(
            "no address from the router's advertisements: {:?}",
            global_addresses(bed, SLAAC_JAIL, "tjvsb")
        )
    })
}

/// Waits until `jail`'s namespace received a router advertisement more.
fn next_advertisement(bed: &VnetBed, jail: &str) {
    let before = advertisements_received(bed, jail);
    wait_for(Duration::from_secs(10), || {
        (advertisements_received(bed, jail) > before).then_some(())
    })
    .unwrap_or_else(|| panic!("an advertisement reached {jail}"));
}

/// `jail`'s row of `thinjail list --json`.
fn list_row(bed: &VnetBed, jail: &str) -> serde_json::Value {
    let run = bed.command(&["list", "--json"]);
    run.expect_code(0);
    let list: serde_json::Value = serde_json::from_str(&run.stdout).expect("list --json");
    list["jails"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == jail).cloned())
        .unwrap_or_else(|| panic!("{jail} in {}", run.stdout))
}

#[test]
fn a_slaac_jail_forms_its_address_from_the_advertised_prefix_and_a_jail_without_it_does_not() {
    let bed = slaac_bed("s1");
    let radvd = Radvd::start(bed.ns.name(), BRIDGE, PREFIX);
    let radvd_pid = radvd.pid();

    // The jail's own rc.conf says accept_rtadv.
    bed.apply().expect_code(0);
    let rc_conf = bed.in_jail(SLAAC_JAIL, &["/bin/cat", "/etc/rc.conf"]);
    rc_conf.expect_code(0);
    assert!(
        rc_conf
            .stdout
            .contains("ifconfig_tjvsb_ipv6=\"inet6 accept_rtadv\""),
        "{}",
        rc_conf.stdout
    );

    // The address: the advertised prefix and the modified EUI-64 of vs's MAC,
    // once duplicate address detection is over.
    let expected = eui64_address(PREFIX, &derived_mac(SLAAC_JAIL));
    assert_eq!(formed_address(&bed), format!("{expected}/64"));
    assert_eq!(
        list_row(&bed, SLAAC_JAIL)["network"]["ip6"],
        serde_json::json!(["slaac"])
    );
    assert_eq!(accept_ra(&bed, SLAAC_JAIL, "tjvsb"), "1");
    // The router's default route, and the router reached over IPv6.
    let routes = bed.in_jail(
        SLAAC_JAIL,
        &["/usr/libexec/testbed/ip", "-6", "route", "show", "default"],
    );
    routes.expect_code(0);
    assert!(routes.stdout.contains("via fe80::"), "{}", routes.stdout);
    bed.in_jail(
        SLAAC_JAIL,
        &["/sbin/ping", "-6", "-c", "1", "-W", "2", ROUTER],
    )
    .expect_code(0);

    // The jail without SLAAC receives the same advertisements and takes none.
    next_advertisement(&bed, PLAIN_JAIL);
    assert_eq!(global_addresses(&bed, PLAIN_JAIL, "tjvnb"), []);
    assert_eq!(accept_ra(&bed, PLAIN_JAIL, "tjvnb"), "0");
    let routes = bed.in_jail(
        PLAIN_JAIL,
        &["/usr/libexec/testbed/ip", "-6", "route", "show", "default"],
    );
    assert_eq!(routes.stdout.trim(), "", "no default route from an RA");

    // A second apply changes nothing.
    bed.apply().expect_nothing_to_do();

    // Stopped and destroyed: no epair, namespace or view left; radvd goes with the test.
    for jail in [SLAAC_JAIL, PLAIN_JAIL] {
        bed.command(&["stop", jail]).expect_code(0);
        bed.command(&["destroy", jail, "--yes"]).expect_code(0);
    }
    assert_eq!(bed.host_interfaces(), ["rtr0", "rtr1", BRIDGE]);
    assert_eq!(bed.ns.namespaces(), [bed.ns.name().to_string()]);
    assert_eq!(views_mounted(&bed), Vec::<String>::new());
    drop(radvd);
    assert!(!process_exists(radvd_pid), "radvd {radvd_pid} is gone");
}

#[test]
fn a_jail_leaving_slaac_is_restarted_alone_takes_no_more_advertisements_and_comes_back_to_its_address(
) {
    let mut bed = slaac_bed("s2");
    let _radvd = Radvd::start(bed.ns.name(), BRIDGE, PREFIX);
    bed.apply().expect_code(0);
    let formed = formed_address(&bed);
    let plain_jid = list_row(&bed, PLAIN_JAIL)["jid"].clone();
    assert!(plain_jid.is_number(), "{plain_jid}");

    // No IPv6 any more: vs restarts (vn does not), and its interface takes none of
    // the router's advertisements, although its rc.conf said accept_rtadv before.
    bed.bed.recipe.jails[0]
        .vnet
        .as_mut()
        .expect("vs is a VNET jail")
        .ip6 = None;
    bed.bed.write_recipe();
    bed.apply().expect_code(0);
    assert_eq!(
        list_row(&bed, PLAIN_JAIL)["jid"],
        plain_jid,
        "vn kept running"
    );
    next_advertisement(&bed, SLAAC_JAIL);
    assert_eq!(global_addresses(&bed, SLAAC_JAIL, "tjvsb"), []);
    assert_eq!(accept_ra(&bed, SLAAC_JAIL, "tjvsb"), "0");
    bed.apply().expect_nothing_to_do();

    // SLAAC again: the same address, from the same MAC.
    bed.bed.recipe.jails[0]
        .vnet
        .as_mut()
        .expect("vs is a VNET jail")
        .ip6 = Some(Ip6::Slaac);
    bed.bed.write_recipe();
    bed.apply().expect_code(0);
    assert_eq!(formed_address(&bed), formed);
    assert_eq!(
        list_row(&bed, PLAIN_JAIL)["jid"],
        plain_jid,
        "vn kept running"
    );

    for jail in [SLAAC_JAIL, PLAIN_JAIL] {
        bed.command(&["stop", jail]).expect_code(0);
        bed.command(&["destroy", jail, "--yes"]).expect_code(0);
    }
    assert_eq!(bed.ns.namespaces(), [bed.ns.name().to_string()]);
    assert_eq!(views_mounted(&bed), Vec::<String>::new());
}

#[test]
fn a_jail_whose_recipe_drops_an_address_and_its_gateway_keeps_neither_after_its_restart() {
    let mut bed = slaac_bed("s3");
    let two = vnet_on(
        BRIDGE,
        Ip4::Static(vec!["10.79.0.3/24".into(), "10.79.0.4/24".into()]),
        Some("10.79.0.1"),
    );
    bed.bed.recipe.jails[1].vnet = Some(two);
    bed.bed.write_recipe();
    bed.apply().expect_code(0);
    assert_eq!(
        bed.jail_ipv4_addresses(PLAIN_JAIL, "tjvnb"),
        ["10.79.0.3/24", "10.79.0.4/24"]
    );
    let route = |bed: &VnetBed| {
        let shown = bed.in_jail(
            PLAIN_JAIL,
            &["/usr/libexec/testbed/ip", "-4", "route", "show", "default"],
        );
        shown.expect_code(0);
        shown.stdout.trim().to_string()
    };
    assert!(route(&bed).contains("via 10.79.0.1"), "{}", route(&bed));

    // One address and no gateway: what the earlier start wrote into the jail's
    // rc.conf (its alias, its defaultrouter) does not come back with the restart.
    bed.bed.recipe.jails[1].vnet = Some(vnet_on(
        BRIDGE,
        Ip4::Static(vec!["10.79.0.3/24".into()]),
        None,
    ));
    bed.bed.write_recipe();
    bed.apply().expect_code(0);
    assert_eq!(
        bed.jail_ipv4_addresses(PLAIN_JAIL, "tjvnb"),
        ["10.79.0.3/24"]
    );
    assert_eq!(route(&bed), "");
    bed.apply().expect_nothing_to_do();

    for jail in [SLAAC_JAIL, PLAIN_JAIL] {
        bed.command(&["stop", jail]).expect_code(0);
        bed.command(&["destroy", jail, "--yes"]).expect_code(0);
    }
    assert_eq!(bed.ns.namespaces(), [bed.ns.name().to_string()]);
}
