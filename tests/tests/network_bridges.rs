//! Bridges thinjail makes (`create: true`, issue 13), end to end on the test bed:
//! made with their uplink and address before the jails start, real traffic over
//! them, kept while a jail uses them, removed with their rc.conf lines when the
//! last jail leaves the recipe; the administrator's bridge never touched; an
//! addressed uplink refused while `net.link.bridge.member_ifaddrs` is 0; an epair
//! left by a killed start destroyed when it is provably thinjail's. All inside
//! network namespaces the test makes (`THINJAIL_TESTBED_NETNS`).

use std::process::Command;

use thinjail_core::bridges::clone_name;
use thinjail_core::network::{Bridge, Ip4, Vnet};
use thinjail_testbed::harness::Run;
use thinjail_testbed::netbed::{TestNetns, MEMBER_IFADDRS_ENV};
use thinjail_testbed::vnet_bed::{admin_bridge, ip, vnet_jail, vnet_on, VnetBed};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

/// The bridge thinjail makes.
const BRIDGE: &str = "jails";
/// The administrator's bridge (made by the test, declared without `create`).
const ADMIN_BRIDGE: &str = "adminbr";
/// The uplink: one half of a veth pair in the test's host namespace.
const UPLINK: &str = "up0";

fn vnet(ip4: &str) -> Vnet {
    vnet_on(BRIDGE, Ip4::Static(vec![ip4.into()]), None)
}

/// Two VNET jails `va` (10.78.0.2) and `vb` (10.78.0.3) on bridge `jails`, which
/// thinjail makes with uplink `up0` and address 10.78.0.1/24; the
/// administrator's `adminbr` exists and is declared, without `create`.
fn bridge_bed(prefix: &str) -> VnetBed {
    let links = |ns: &TestNetns| {
        ip(ns.name(), &["link", "add", ADMIN_BRIDGE, "type", "bridge"]);
        ip(
            ns.name(),
            &[
                "link", "add", UPLINK, "type", "veth", "peer", "name", "up0peer",
            ],
        );
    };
    VnetBed::new(BIN, prefix, links, |recipe| {
        recipe.host.interface = None;
        recipe.host.network.bridges = vec![
            Bridge {
                name: BRIDGE.into(),
                ip4: vec!["10.78.0.1/24".into()],
                ip6: vec![],
                create: true,
                members: vec![UPLINK.into()],
            },
            admin_bridge(ADMIN_BRIDGE, &[]),
        ];
        let va = vnet_jail(recipe, "va", vnet("10.78.0.2/24"));
        let vb = vnet_jail(recipe, "vb", vnet("10.78.0.3/24"));
        recipe.jails = vec![va, vb];
    })
}

/// The host's rc.conf as thinjail left it.
fn rc_conf(bed: &VnetBed) -> String {
    std::fs::read_to_string(&bed.bed.recipe.host.rc_conf).unwrap_or_default()
}

fn ping(bed: &VnetBed, from: &str, to: &str) -> Run {
    bed.in_jail(from, &["/sbin/ping", "-c", "1", "-W", "2", to])
}

#[test]
fn a_bridge_thinjail_makes_carries_its_jails_and_goes_with_the_last_one() {
    let mut bed = bridge_bed("b1");
    assert!(!bed.net.exists(BRIDGE));
    bed.apply().expect_code(0);

    // Made, with its uplink, its address and both jails' epairs.
    assert!(bed.net.is_bridge(BRIDGE), "{:?}", bed.net.interfaces());
    assert_eq!(bed.members(BRIDGE), ["tjvaa", "tjvba", UPLINK]);
    let addr = Command::new("ip")
        .args(["-n", bed.ns.name(), "-o", "addr", "show", "dev", BRIDGE])
        .output()
        .expect("ip addr");
    assert!(
        String::from_utf8_lossy(&addr.stdout).contains("10.78.0.1/24"),
        "{addr:?}"
    );
    // And written for the next boot, the FreeBSD way.
    let rc = rc_conf(&bed);
    let clone = clone_name(BRIDGE);
    for line in [
        format!("cloned_interfaces=\"${{cloned_interfaces}} {clone}\""),
        format!("ifconfig_{clone}_name=\"{BRIDGE}\""),
        format!("ifconfig_{BRIDGE}=\"inet 10.78.0.1/24 addm {UPLINK} up\""),
    ] {
        assert!(rc.contains(&line), "{line} in {rc}");
    }

    // Real traffic: jail to jail, and jail to the bridge's own address (the host).
    ping(&bed, "va", "10.78.0.3").expect_code(0);
    ping(&bed, "vb", "10.78.0.1").expect_code(0);

    // A second apply: nothing to do.
    bed.apply().expect_nothing_to_do();

    // Stopping one jail leaves the bridge to the other.
    bed.command(&["stop", "va"]).expect_code(0);
    assert_eq!(bed.members(BRIDGE), ["tjvba", UPLINK]);
    ping(&bed, "vb", "10.78.0.1").expect_code(0);

    // Both jails destroyed and out of the recipe: the bridge goes, with its lines;
    // the uplink and the administrator's bridge stay.
    bed.command(&["destroy", "vb", "--yes"]).expect_code(0);
    bed.command(&["destroy", "va", "--yes"]).expect_code(0);
    assert!(bed.net.exists(BRIDGE), "destroy leaves bridges to apply");
    bed.bed.recipe.jails.clear();
    bed.bed.write_recipe();
    bed.apply().expect_code(0);
    assert!(!bed.net.exists(BRIDGE), "{:?}", bed.net.interfaces());
    assert!(bed.net.exists(UPLINK));
    assert!(bed.net.is_bridge(ADMIN_BRIDGE));
    let rc = rc_conf(&bed);
    assert!(
        !rc.contains("cloned_interfaces") && !rc.contains(BRIDGE),
        "{rc}"
    );
    bed.apply().expect_nothing_to_do();
    let mut left = bed.net.interfaces().unwrap();
    left.sort();
    assert_eq!(left, [ADMIN_BRIDGE, UPLINK, "up0peer"]);
}

#[test]
fn an_addressed_uplink_is_refused_while_member_ifaddrs_is_0() {
    let bed = bridge_bed("b2");
    ip(
        bed.ns.name(),
        &["addr", "add", "192.0.2.5/24", "dev", UPLINK],
    );
    let recipe = bed.bed.recipe_arg();
    let refused = bed.thinjail_env(&["apply", &recipe, "--yes"], &[(MEMBER_IFADDRS_ENV, "0")]);
    refused.expect_code(78);
    assert!(
        refused.stderr.contains(&format!(
            "{UPLINK} has addresses of its own and net.link.bridge.member_ifaddrs is 0"
        )) && refused
            .stderr
            .contains("set net.link.bridge.member_ifaddrs=1 in /etc/sysctl.conf"),
        "{}",
        refused.stderr
    );
    // Nothing changed: no dataset, no bridge, no rc.conf line.
    assert!(bed.bed.datasets().is_empty());
    assert!(!bed.net.exists(BRIDGE));
    assert!(!rc_conf(&bed).contains("cloned_interfaces"));
    // With the sysctl at 1 (or absent, FreeBSD 14) the same recipe applies.
    bed.thinjail_env(&["apply", &recipe, "--yes"], &[(MEMBER_IFADDRS_ENV, "1")])
        .expect_code(0);
    assert_eq!(bed.members(BRIDGE), ["tjvaa", "tjvba", UPLINK]);
}

#[test]
fn a_start_that_fails_after_prestart_leaves_no_epair() {
    let mut bed = bridge_bed("b3");
    // va's start fails after exec.prestart made its epair: its last host hook fails.
    bed.bed.recipe.jails[0].params.insert(
        "exec.poststart".into(),
        thinjail_core::recipe::ParamValue::Text("/bin/false".into()),
    );
    bed.bed.write_recipe();
    let failed = bed.apply();
    assert_ne!(failed.code, Some(0), "{failed:?}");
    assert!(failed.stderr.contains("/bin/false"), "{}", failed.stderr);
    let left = bed.net.interfaces().unwrap();
    assert!(
        !left
            .iter()
            .any(|i| i.starts_with("tjva") || i.starts_with("epair")),
        "no half of va's epair is left: {left:?}"
    );
    assert!(!bed.members(BRIDGE).iter().any(|m| m.starts_with("tjva")));
    // Fixed, the next apply starts it (nothing stands in its way).
    bed.bed.recipe.jails[0].params.remove("exec.poststart");
    bed.bed.write_recipe();
    bed.apply().expect_code(0);
    assert_eq!(bed.members(BRIDGE), ["tjvaa", "tjvba", UPLINK]);
}

#[test]
fn thinjail_start_refuses_a_leftover_epair() {
    let bed = bridge_bed("b4");
    bed.apply().expect_code(0);
    bed.command(&["stop", "va"]).expect_code(0);
    // An interface with va's epair name, which thinjail cannot tell is its own.
    ip(
        bed.ns.name(),
        &[
            "link", "add", "tjvaa", "type", "veth", "peer", "name", "left0",
        ],
    );
    let refused = bed.command(&["start", "va"]);
    refused.expect_code(78);
    assert!(
        refused.stderr.contains("interface tjvaa exists")
            && refused.stderr.contains("ifconfig tjvaa destroy"),
        "{}",
        refused.stderr
    );
    assert!(bed.net.exists("tjvaa"), "left alone");
    let restart = bed.command(&["restart", "va"]);
    restart.expect_code(78);
    // Once it is gone, va starts.
    ip(bed.ns.name(), &["link", "del", "tjvaa"]);
    bed.command(&["start", "va"]).expect_code(0);
    assert_eq!(bed.members(BRIDGE), ["tjvaa", "tjvba", UPLINK]);
}

/// What va's `exec.prestart` leaves when its start is killed after the epair was
/// made, renamed, described and added to the bridge: the same commands, through
/// the test bed's ifconfig.
fn leave_a_killed_start_of_va(bed: &VnetBed) {
    let names = thinjail_core::network::epair_names(["va", "vb"]);
    let epair = format!("epair{}", names["va"].unit);
    for args in [
        vec![epair.clone(), "create".into()],
        vec![format!("{epair}a"), "name".into(), "tjvaa".into()],
        vec![format!("{epair}b"), "name".into(), "tjvab".into()],
        vec!["tjvaa".into(), "description".into(), "jail:va".into()],
        vec![BRIDGE.into(), "addm".into(), "tjvaa".into()],
    ] {
        bed.net.ifconfig(&args).unwrap();
    }
}

#[test]
fn an_epair_left_by_a_killed_start_is_destroyed_and_the_jail_starts() {
    let bed = bridge_bed("b6");
    bed.apply().expect_code(0);
    for command in ["start", "apply"] {
        bed.command(&["stop", "va"]).expect_code(0);
        leave_a_killed_start_of_va(&bed);
        assert_eq!(bed.members(BRIDGE), ["tjvaa", "tjvba", UPLINK]);
        // Named and described as va's own prestart does: thinjail's leftover,
        // destroyed before va starts (not refused, as someone else's would be).
        let started = match command {
            "start" => bed.command(&["start", "va"]),
            _ => bed.apply(),
        };
        started.expect_code(0);
        assert!(
            started.stdout.contains("ifconfig tjvaa destroy")
                || started.stderr.contains("ifconfig tjvaa destroy"),
            "{command:?}: {started:?}"
        );
        assert_eq!(bed.members(BRIDGE), ["tjvaa", "tjvba", UPLINK]);
        ping(&bed, "va", "10.78.0.3").expect_code(0);
    }
    bed.apply().expect_nothing_to_do();
}

#[test]
fn a_described_leftover_beside_an_unrenamed_half_is_still_refused() {
    let bed = bridge_bed("b7");
    bed.apply().expect_code(0);
    bed.command(&["stop", "va"]).expect_code(0);
    leave_a_killed_start_of_va(&bed);
    // A pair with va's unit but unrenamed: no mark tells whose it is.
    let names = thinjail_core::network::epair_names(["va", "vb"]);
    let unit = names["va"].unit;
    ip(
        bed.ns.name(),
        &[
            "link",
            "add",
            &format!("epair{unit}a"),
            "type",
            "veth",
            "peer",
            "name",
            &format!("epair{unit}b"),
        ],
    );
    let refused = bed.command(&["start", "va"]);
    refused.expect_code(78);
    assert!(
        refused
            .stderr
            .contains(&format!("ifconfig epair{unit}a destroy")),
        "{}",
        refused.stderr
    );
    assert!(bed.net.exists("tjvaa"), "nothing destroyed");
    assert!(bed.net.exists(&format!("epair{unit}a")));
}

#[test]
fn a_bridge_dropped_with_the_last_vnet_jail_and_every_bridge_is_removed() {
    let mut bed = bridge_bed("b5");
    bed.apply().expect_code(0);
    assert!(bed.net.is_bridge(BRIDGE), "{:?}", bed.net.interfaces());
    assert!(rc_conf(&bed).contains(&format!("# BEGIN thinjail bridge {BRIDGE}")));

    // The jails and every bridge leave the recipe in one change: no network is
    // left in it, yet the bridge thinjail made goes, with its rc.conf block (its
    // block is what makes apply look at the interfaces).
    bed.command(&["destroy", "vb", "--yes"]).expect_code(0);
    bed.command(&["destroy", "va", "--yes"]).expect_code(0);
    bed.bed.recipe.jails.clear();
    bed.bed.recipe.host.network.bridges.clear();
    bed.bed.write_recipe();
    bed.apply().expect_code(0);
    assert!(!bed.net.exists(BRIDGE), "{:?}", bed.net.interfaces());
    assert!(bed.net.exists(UPLINK));
    assert!(bed.net.is_bridge(ADMIN_BRIDGE), "never the administrator's");
    let rc = rc_conf(&bed);
    assert!(
        !rc.contains("cloned_interfaces") && !rc.contains(BRIDGE),
        "{rc}"
    );
    bed.apply().expect_nothing_to_do();
}
