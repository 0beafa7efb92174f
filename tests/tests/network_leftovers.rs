//! Issue 13's networking leftovers, end to end on the test bed: a thinjail bridge
//! whose addresses change in the recipe gets them on the running bridge (not only in
//! rc.conf), restarting only the jail whose own settings changed; the pf.conf lines
//! thinjail's anchor needs are looked for in the file rc.d/pf loads (`pf_rules`);
//! a recipe left without jails cannot keep NAT; an IPv6 port forward (`rdr …
//! inet6`) carries real traffic to a jail's IPv6 address. All inside network
//! namespaces the test makes (`THINJAIL_TESTBED_NETNS`).

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use thinjail_core::network::{Bridge, Forward, Ip4, Ip6, Nat, Proto, PF_ANCHOR};
use thinjail_testbed::harness::{run_with_timeout, Run};
use thinjail_testbed::netbed::TestNetns;
use thinjail_testbed::pfbed;
use thinjail_testbed::vnet_bed::{
    add_bridge, add_netns_after, admin_bridge, in_ns, ip, vnet_jail, vnet_on, Server, VnetBed,
};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

/// The bridge thinjail makes.
const BRIDGE: &str = "jails";

fn ping(bed: &VnetBed, from: &str, to: &str) -> Run {
    bed.in_jail(from, &["/sbin/ping", "-c", "1", "-W", "2", to])
}

/// The addresses of `name` in the test's host namespace (`ip -o addr`), without
/// the kernel's IPv6 link-local one.
fn addresses(bed: &VnetBed, name: &str) -> BTreeSet<String> {
    let out = Command::new("ip")
        .args(["-n", bed.ns.name(), "-o", "addr", "show", "dev", name])
        .output()
        .expect("ip addr");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().nth(3).map(String::from))
        .filter(|a| !a.starts_with("fe80:"))
        .collect()
}

/// The jails `apply --json` stopped (each restart is a stop, then a start).
fn stopped(run: &Run) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("apply --json");
    json["applied"]
        .as_array()
        .expect("applied")
        .iter()
        .filter(|a| a["action"] == "stop_jail")
        .filter_map(|a| a["jail"].as_str().map(String::from))
        .collect()
}

fn jid(bed: &VnetBed, jail: &str) -> serde_json::Value {
    let run = bed.command(&["list", "--json"]);
    run.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("list --json");
    json["jails"]
        .as_array()
        .and_then(|jails| jails.iter().find(|j| j["name"] == jail))
        .map(|j| j["jid"].clone())
        .unwrap_or_else(|| panic!("{jail} in {json}"))
}

#[test]
fn a_changed_bridge_address_is_applied_to_the_running_bridge() {
    // va routes through the bridge's address; vb only talks on the link.
    let mut bed = VnetBed::new(
        BIN,
        "l1",
        |_| {},
        |recipe| {
            recipe.host.interface = None;
            recipe.host.network.bridges = vec![Bridge {
                name: BRIDGE.into(),
                ip4: vec!["10.79.0.1/24".into()],
                ip6: vec![],
                create: true,
                members: vec![],
            }];
            let va = vnet_jail(
                recipe,
                "va",
                vnet_on(
                    BRIDGE,
                    Ip4::Static(vec!["10.79.0.2/24".into()]),
                    Some("10.79.0.1"),
                ),
            );
            let vb = vnet_jail(
                recipe,
                "vb",
                vnet_on(BRIDGE, Ip4::Static(vec!["10.79.0.3/24".into()]), None),
            );
            recipe.jails = vec![va, vb];
        },
    );
    bed.apply().expect_code(0);
    assert_eq!(
        addresses(&bed, BRIDGE),
        BTreeSet::from(["10.79.0.1/24".into()])
    );
    ping(&bed, "va", "10.79.0.1").expect_code(0);
    let (va_before, vb_before) = (jid(&bed, "va"), jid(&bed, "vb"));

    // The gateway moves to .254 and the bridge gets an IPv6 address too; va's
    // gateway follows, vb's settings do not change.
    bed.bed.recipe.host.network.bridges[0].ip4 = vec!["10.79.0.254/24".into()];
    bed.bed.recipe.host.network.bridges[0].ip6 = vec!["fd79::1/64".into()];
    if let Some(vnet) = bed.bed.recipe.jails[0].vnet.as_mut() {
        vnet.gateway4 = Some("10.79.0.254".into());
    }
    bed.bed.write_recipe();
    let recipe = bed.bed.recipe_arg();
    let run = bed.thinjail(&["apply", &recipe, "--yes", "--json"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains(&format!("ifconfig {BRIDGE} inet 10.79.0.1 -alias"))
            && run
                .stdout
                .contains(&format!("ifconfig {BRIDGE} inet 10.79.0.254/24 alias")),
        "{}",
        run.stdout
    );
    assert_eq!(stopped(&run), ["va"], "only va restarted: {}", run.stdout);
    assert_ne!(jid(&bed, "va"), va_before, "va restarted");
    assert_eq!(jid(&bed, "vb"), vb_before, "vb kept running");

    // The running bridge has the new addresses, and only them.
    assert_eq!(
        addresses(&bed, BRIDGE),
        BTreeSet::from(["10.79.0.254/24".into(), "fd79::1/64".into()])
    );
    ping(&bed, "va", "10.79.0.254").expect_code(0);
    ping(&bed, "vb", "10.79.0.254").expect_code(0);
    assert_ne!(
        ping(&bed, "va", "10.79.0.1").code,
        Some(0),
        "the old address is gone"
    );
    // rc.conf says the same for the next boot.
    let rc = std::fs::read_to_string(&bed.bed.recipe.host.rc_conf).unwrap_or_default();
    for line in [
        format!("ifconfig_{BRIDGE}=\"inet 10.79.0.254/24 up\""),
        format!("ifconfig_{BRIDGE}_ipv6=\"inet6 fd79::1/64\""),
    ] {
        assert!(rc.contains(&line), "{line} in {rc}");
    }
    assert!(!rc.contains("10.79.0.1/"), "{rc}");

    // A second apply: nothing to do.
    bed.apply().expect_nothing_to_do();

    // An address the administrator added by hand to thinjail's bridge goes with
    // the next apply; no jail restarts for it.
    ip(
        bed.ns.name(),
        &["addr", "add", "192.0.2.9/24", "dev", BRIDGE],
    );
    let run = bed.thinjail(&["apply", &recipe, "--yes", "--json"]);
    run.expect_code(0);
    assert!(stopped(&run).is_empty(), "{}", run.stdout);
    assert_eq!(
        addresses(&bed, BRIDGE),
        BTreeSet::from(["10.79.0.254/24".into(), "fd79::1/64".into()])
    );
    bed.apply().expect_nothing_to_do();
}

/// One VNET jail `pj` (10.80.0.2/24) on the administrator's bridge `tjbr1`, NAT of
/// its network out of the uplink `up0` (192.0.2.1/24), the anchor file below the
/// system root, and the host's rc.conf saying `pf_rules="/etc/pf.other"`.
fn pf_rules_bed(prefix: &str) -> VnetBed {
    let links = |ns: &TestNetns| {
        add_bridge(ns.name(), "tjbr1", Some("10.80.0.1/24"));
        ip(
            ns.name(),
            &[
                "link", "add", "up0", "type", "veth", "peer", "name", "up0peer",
            ],
        );
        ip(ns.name(), &["addr", "add", "192.0.2.1/24", "dev", "up0"]);
        ip(ns.name(), &["link", "set", "dev", "up0", "up"]);
    };
    let bed = VnetBed::new(BIN, prefix, links, |recipe| {
        recipe.host.interface = None;
        recipe.host.network.bridges = vec![admin_bridge("tjbr1", &["10.80.0.1/24"])];
        recipe.host.network.pf.anchor_file = recipe.host.system_root.join("etc/pf.thinjail.conf");
        recipe.host.network.pf.nat = vec![Nat {
            from: "10.80.0.0/24".into(),
            interface: "up0".into(),
        }];
        let vnet = vnet_on(
            "tjbr1",
            Ip4::Static(vec!["10.80.0.2/24".into()]),
            Some("10.80.0.1"),
        );
        recipe.jails = vec![vnet_jail(recipe, "pj", vnet)];
    });
    std::fs::write(
        &bed.bed.recipe.host.rc_conf,
        "pf_enable=\"YES\"\npf_rules=\"/etc/pf.other\"\n",
    )
    .expect("rc.conf");
    bed
}

/// pf.conf text with the administrator's rules and, with `ours`, thinjail's lines.
fn pf_conf_text(bed: &VnetBed, ours: bool) -> String {
    let mut text = String::from("set skip on lo0\n");
    if ours {
        text.push_str(&format!(
            "nat-anchor \"thinjail/*\"\nrdr-anchor \"thinjail/*\"\nload anchor \"thinjail/jails\" from \"{}\"\n",
            bed.bed.recipe.host.network.pf.anchor_file.display()
        ));
    }
    text.push_str("pass all\n");
    text
}

#[test]
fn the_pf_conf_lines_are_looked_for_in_the_file_pf_rules_names() {
    let mut bed = pf_rules_bed("l2");
    let etc = bed.bed.recipe.host.system_root.join("etc");
    let (pf_conf, pf_other) = (etc.join("pf.conf"), etc.join("pf.other"));
    let anchor_file = bed.bed.recipe.host.network.pf.anchor_file.clone();

    // The lines only in /etc/pf.conf, which rc.d/pf does not load: refused, naming
    // /etc/pf.other; nothing changed.
    std::fs::write(&pf_conf, pf_conf_text(&bed, true)).expect("pf.conf");
    std::fs::write(&pf_other, pf_conf_text(&bed, false)).expect("pf.other");
    let refused = bed.apply();
    refused.expect_code(78);
    assert!(
        refused.stderr.contains(&format!(
            "{} (the file rc.d/pf loads: pf_rules in rc.conf) lacks these lines",
            pf_other.display()
        )),
        "{}",
        refused.stderr
    );
    assert!(!anchor_file.exists());
    assert!(pfbed::tables(&bed.net).unwrap().is_empty());
    assert_eq!(
        std::fs::read_to_string(&pf_other).unwrap(),
        pf_conf_text(&bed, false)
    );

    // The lines in /etc/pf.other (and not in /etc/pf.conf): the anchor is written
    // and loaded — and the stand-in's pf reaches it through /etc/pf.other.
    std::fs::write(&pf_conf, pf_conf_text(&bed, false)).expect("pf.conf");
    std::fs::write(&pf_other, pf_conf_text(&bed, true)).expect("pf.other");
    bed.apply().expect_code(0);
    assert_eq!(
        pfbed::show_nat(&bed.net, PF_ANCHOR, true).unwrap(),
        ["nat on up0 inet from 10.80.0.0/24 to any -> (up0) round-robin"]
    );
    let file = std::fs::read_to_string(&anchor_file).expect("the anchor file");
    assert!(file.contains("nat on up0 inet from 10.80.0.0/24"), "{file}");
    bed.apply().expect_nothing_to_do();

    // A recipe left without jails cannot keep NAT (check refuses it, 65, naming
    // the field), so apply changes nothing: the anchor's rules and file stay.
    bed.bed.recipe.jails.clear();
    bed.bed.recipe.host.network.bridges.clear();
    bed.bed.write_recipe();
    let refused = bed.apply();
    refused.expect_code(65);
    assert!(
        refused.stderr.contains("host.network.pf.nat[0].from"),
        "{}",
        refused.stderr
    );
    assert_eq!(pfbed::show_nat(&bed.net, PF_ANCHOR, true).unwrap().len(), 1);
    assert_eq!(std::fs::read_to_string(&anchor_file).unwrap(), file);

    // NAT dropped too: the anchor is emptied; /etc/pf.other still loads the file, so
    // it stays, with no rule; without the lines there, the next apply removes it.
    bed.bed.recipe.host.network.pf.nat.clear();
    bed.bed.write_recipe();
    bed.command(&["stop", "pj"]).expect_code(0);
    bed.command(&["destroy", "pj", "--yes"]).expect_code(0);
    bed.apply().expect_code(0);
    assert!(pfbed::show_nat(&bed.net, PF_ANCHOR, true)
        .unwrap()
        .is_empty());
    let left = std::fs::read_to_string(&anchor_file).expect("the anchor file stays");
    assert!(
        thinjail_core::network::pf::rules_of(&left).is_empty(),
        "{left}"
    );
    std::fs::write(&pf_other, pf_conf_text(&bed, false)).expect("pf.other");
    bed.apply().expect_code(0);
    assert!(!anchor_file.exists());
    bed.apply().expect_nothing_to_do();
}

#[test]
fn an_ipv6_port_forward_reaches_a_service_in_the_jail() {
    // The host: the jails' bridge tjbr6 (fd80::1/64, the jail's IPv6 gateway) and
    // the uplink up0 (fd81::1/64) to an upstream namespace (fd81::2/64), which has
    // no route to fd80::/64: it reaches the jail only through the host's port.
    let mut upstream = String::new();
    let links = |ns: &TestNetns| {
        upstream = add_netns_after(ns, "upstream");
        add_bridge(ns.name(), "tjbr6", Some("10.81.0.1/24"));
        ip(
            ns.name(),
            &["addr", "add", "fd80::1/64", "dev", "tjbr6", "nodad"],
        );
        ip(
            ns.name(),
            &[
                "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", &upstream,
            ],
        );
        ip(
            ns.name(),
            &["addr", "add", "fd81::1/64", "dev", "up0", "nodad"],
        );
        ip(ns.name(), &["link", "set", "dev", "up0", "up"]);
        ip(
            &upstream,
            &["addr", "add", "fd81::2/64", "dev", "up1", "nodad"],
        );
        ip(&upstream, &["link", "set", "dev", "up1", "up"]);
        ip(&upstream, &["link", "set", "dev", "lo", "up"]);
        // The host routes IPv6 (ipv6_gateway_enable on FreeBSD).
        let forwarding = in_ns(
            ns.name(),
            &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"],
        )
        .status()
        .expect("sysctl");
        assert!(forwarding.success());
    };
    let bed = VnetBed::new(BIN, "l3", links, |recipe| {
        recipe.host.interface = None;
        let mut bridge = admin_bridge("tjbr6", &["10.81.0.1/24"]);
        bridge.ip6 = vec!["fd80::1/64".into()];
        recipe.host.network.bridges = vec![bridge];
        recipe.host.network.pf.anchor_file = recipe.host.system_root.join("etc/pf.thinjail.conf");
        recipe.host.network.pf.forwards = vec![Forward {
            proto: Proto::Tcp,
            interface: "up0".into(),
            address: Some("fd81::1".into()),
            port: 8080,
            jail: "sj".into(),
            jail_port: Some(80),
        }];
        let mut vnet = vnet_on("tjbr6", Ip4::Static(vec!["10.81.0.2/24".into()]), None);
        vnet.ip6 = Some(Ip6::Static(vec!["fd80::2/64".into()]));
        vnet.gateway6 = Some("fd80::1".into());
        recipe.jails = vec![vnet_jail(recipe, "sj", vnet)];
    });
    std::fs::write(
        bed.bed.recipe.host.system_root.join("etc/pf.conf"),
        pf_conf_text(&bed, true),
    )
    .expect("pf.conf");

    // The plan shows the rule; apply loads it as pfctl would print it.
    let recipe = bed.bed.recipe_arg();
    let plan = bed.thinjail(&["plan", &recipe, "--format", "text"]);
    plan.expect_code(0);
    let rule = "rdr on up0 inet6 proto tcp from any to fd81::1 port 8080 -> fd80::2 port 80";
    assert!(plan.stdout.contains(rule), "{rule} in {}", plan.stdout);
    bed.apply().expect_code(0);
    assert_eq!(
        pfbed::show_nat(&bed.net, PF_ANCHOR, true).unwrap(),
        ["rdr on up0 inet6 proto tcp from any to fd81::1 port = 8080 -> fd80::2 port 80"]
    );
    bed.apply().expect_nothing_to_do();

    // Real traffic: from upstream, the host's IPv6 port 8080 reaches busybox nc on
    // the jail's port 80 (retried while the jail's address passes duplicate
    // address detection).
    let _server = Server(
        bed.in_jail_command("sj", &["/usr/bin/nc", "-ll", "-p", "80", "-e", "/bin/cat"])
            .spawn()
            .expect("nc in the jail"),
    );
    let mut echo = None;
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(500));
        let run = run_with_timeout(in_ns(
            &upstream,
            &[
                "busybox",
                "sh",
                "-c",
                "echo thinjail-forward6 | busybox nc -w 2 fd81::1 8080",
            ],
        ));
        if run.stdout.contains("thinjail-forward6") {
            echo = Some(run);
            break;
        }
        echo = Some(run);
    }
    let echo = echo.expect("tried");
    assert!(echo.stdout.contains("thinjail-forward6"), "{echo:?}");
    // Only through the forward: upstream has no route to the jail's network.
    let direct = run_with_timeout(in_ns(
        &upstream,
        &["busybox", "sh", "-c", "echo x | busybox nc -w 1 fd80::2 80"],
    ));
    assert!(
        !direct.stdout.contains('x'),
        "upstream has no route to the jail: {direct:?}"
    );

    // A forward to a jail without an IPv6 address: check refuses it (65).
    let mut bad = bed.bed.recipe.clone();
    if let Some(vnet) = bad.jails[0].vnet.as_mut() {
        vnet.ip6 = None;
        vnet.gateway6 = None;
    }
    let bad_path = bed.bed.dir.path().join("bad.ron");
    std::fs::write(&bad_path, bad.to_ron()).expect("bad recipe");
    let refused = bed.thinjail(&["check", bad_path.to_str().expect("utf-8")]);
    refused.expect_code(65);
    assert!(
        refused.stderr.contains("host.network.pf.forwards[0].jail")
            && refused.stderr.contains("no static IPv6 address"),
        "{}",
        refused.stderr
    );
}
