//! NAT and port forwards (issue 13), end to end on the test bed: thinjail's pf
//! anchor (`tests/src/pfbed.rs` carries it out with nftables) translating real
//! traffic between a VNET jail and an "upstream" namespace — all inside network
//! namespaces the test makes (`THINJAIL_TESTBED_NETNS` and namespaces named after
//! it): no packet leaves them.
//!
//! The host's namespace has the jails' bridge `tjbr0` (10.78.0.1/24, the jail's
//! gateway) and the uplink `up0` (192.0.2.1/24), a veth whose other end `up1`
//! (192.0.2.2/24) is in the upstream namespace, which has no route to the jails'
//! network: a jail's packet gets an answer from there only when it leaves with the
//! host's address.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use thinjail_core::network::{Forward, Ip4, Nat, Proto};
use thinjail_testbed::harness::{run_with_timeout, Run};
use thinjail_testbed::netbed::TestNetns;
use thinjail_testbed::pfbed;
use thinjail_testbed::vnet_bed::{
    add_bridge, add_netns_after, admin_bridge, in_ns, ip, vnet_jail, vnet_on, Server, VnetBed,
};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

const BRIDGE: &str = "tjbr0";
const UPLINK: &str = "up0";
const HOST_ADDRESS: &str = "192.0.2.1";
const UPSTREAM_ADDRESS: &str = "192.0.2.2";
const JAIL_ADDRESS: &str = "10.78.0.2";

/// The host's side (`host`): the jails' bridge with their gateway address, and the
/// uplink `up0` to the `upstream` namespace; the host routes.
fn uplinks(host: &str, upstream: &str) {
    add_bridge(host, BRIDGE, Some("10.78.0.1/24"));
    ip(
        host,
        &[
            "link", "add", UPLINK, "type", "veth", "peer", "name", "up1", "netns", upstream,
        ],
    );
    ip(host, &["addr", "add", "192.0.2.1/24", "dev", UPLINK]);
    ip(host, &["link", "set", "dev", UPLINK, "up"]);
    ip(upstream, &["addr", "add", "192.0.2.2/24", "dev", "up1"]);
    ip(upstream, &["link", "set", "dev", "up1", "up"]);
    ip(upstream, &["link", "set", "dev", "lo", "up"]);
    // The host routes (gateway_enable on FreeBSD); pf does not do that for it.
    let forwarding = in_ns(host, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        .status()
        .expect("sysctl");
    assert!(forwarding.success());
}

/// The article's bed with one VNET jail `nj` (10.78.0.2/24, gateway 10.78.0.1) on
/// the administrator's bridge, NAT of its network out of `up0`, and TCP port 8080
/// of the host forwarded to its port 80.
struct NatBed {
    vnet: VnetBed,
    upstream: String,
}

impl Deref for NatBed {
    type Target = VnetBed;
    fn deref(&self) -> &VnetBed {
        &self.vnet
    }
}

impl DerefMut for NatBed {
    fn deref_mut(&mut self) -> &mut VnetBed {
        &mut self.vnet
    }
}

impl NatBed {
    fn new(prefix: &str) -> NatBed {
        let mut upstream = String::new();
        let links = |ns: &TestNetns| {
            upstream = add_netns_after(ns, "upstream");
            uplinks(ns.name(), &upstream);
        };
        let vnet = VnetBed::new(BIN, prefix, links, |recipe| {
            recipe.host.interface = None;
            recipe.host.network.bridges = vec![admin_bridge(BRIDGE, &["10.78.0.1/24"])];
            recipe.host.network.pf.anchor_file =
                recipe.host.system_root.join("etc/pf.thinjail.conf");
            recipe.host.network.pf.nat = vec![Nat {
                from: "10.78.0.0/24".into(),
                interface: UPLINK.into(),
            }];
            recipe.host.network.pf.forwards = vec![Forward {
                proto: Proto::Tcp,
                interface: UPLINK.into(),
                address: None,
                port: 8080,
                jail: "nj".into(),
                jail_port: Some(80),
            }];
            let jail_vnet = vnet_on(
                BRIDGE,
                Ip4::Static(vec![format!("{JAIL_ADDRESS}/24")]),
                Some("10.78.0.1"),
            );
            recipe.jails = vec![vnet_jail(recipe, "nj", jail_vnet)];
        });
        NatBed { vnet, upstream }
    }

    fn pf_conf(&self) -> PathBuf {
        self.bed.dir.path().join("etc/pf.conf")
    }

    fn anchor_file(&self) -> PathBuf {
        self.bed.recipe.host.network.pf.anchor_file.clone()
    }

    /// pf.conf with the administrator's own rules and, with `ours`, the lines
    /// thinjail asks for.
    fn write_pf_conf(&self, ours: bool) -> String {
        let mut text = String::from("set skip on lo0\n");
        if ours {
            text.push_str(&format!(
                "nat-anchor \"thinjail/*\"\nrdr-anchor \"thinjail/*\"\nload anchor \"thinjail/jails\" from \"{}\"\n",
                self.anchor_file().display()
            ));
        }
        text.push_str("pass all\n");
        std::fs::write(self.pf_conf(), &text).expect("write pf.conf");
        text
    }

    /// The rules of thinjail's anchor as `pfctl -a thinjail/jails -s nat` prints them.
    fn loaded(&self) -> Vec<String> {
        pfbed::show_nat(&self.net, thinjail_core::network::PF_ANCHOR, true).unwrap_or_default()
    }

    /// Counts the packets the upstream namespace gets from the host's address and
    /// from the jails' network (an nftables counter in the upstream namespace).
    fn watch_upstream(&self) {
        let script = "table ip watch {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ip saddr 192.0.2.1 counter comment \"from-host\"\n    ip saddr 10.78.0.0/24 counter comment \"from-jails\"\n  }\n}\n";
        let mut child = in_ns(&self.upstream, &["nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("nft script");
        assert!(child.wait().expect("nft").success());
    }

    /// Packets counted by [`NatBed::watch_upstream`]'s rule `name`.
    fn upstream_count(&self, name: &str) -> u64 {
        let out = in_ns(&self.upstream, &["nft", "list", "table", "ip", "watch"])
            .output()
            .expect("nft list");
        let listing = String::from_utf8_lossy(&out.stdout);
        listing
            .lines()
            .find(|l| l.contains(&format!("comment \"{name}\"")))
            .and_then(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                let at = words.iter().position(|w| *w == "packets")?;
                words.get(at + 1)?.parse().ok()
            })
            .unwrap_or_else(|| panic!("counter {name} in {listing}"))
    }

    fn ping_upstream(&self) -> Run {
        run_with_timeout(self.in_jail_command(
            "nj",
            &["/sbin/ping", "-c", "1", "-W", "2", UPSTREAM_ADDRESS],
        ))
    }

    /// From the upstream namespace: a line sent to the host's port 8080, what comes back.
    fn through_forward(&self) -> Run {
        run_with_timeout(in_ns(
            &self.upstream,
            &[
                "busybox",
                "sh",
                "-c",
                &format!("echo thinjail-forward | busybox nc -w 2 {HOST_ADDRESS} 8080"),
            ],
        ))
    }
}

#[test]
fn without_the_anchor_lines_in_pf_conf_apply_refuses_and_changes_nothing() {
    let bed = NatBed::new("n1");
    let before = bed.write_pf_conf(false);
    let refused = bed.apply();
    refused.expect_code(78);
    let anchor_file = bed.anchor_file().display().to_string();
    for line in [
        "nat-anchor \"thinjail/*\"".to_string(),
        "rdr-anchor \"thinjail/*\"".to_string(),
        format!("load anchor \"thinjail/jails\" from \"{anchor_file}\""),
    ] {
        assert!(
            refused.stderr.contains(&line),
            "{line} in {}",
            refused.stderr
        );
    }
    assert!(bed.bed.datasets().is_empty(), "nothing was created");
    assert!(!bed.anchor_file().exists(), "no anchor file");
    assert!(
        pfbed::tables(&bed.net).unwrap().is_empty(),
        "nothing loaded"
    );
    assert_eq!(
        std::fs::read_to_string(bed.pf_conf()).unwrap(),
        before,
        "pf.conf is never edited"
    );
    // `plan` says the same, with the same status.
    let recipe = bed.bed.recipe_arg();
    let plan = bed.thinjail(&["plan", &recipe]);
    plan.expect_code(78);
    assert!(plan.stderr.contains("rdr-anchor"), "{}", plan.stderr);
}

#[test]
fn nat_and_a_port_forward_carry_real_traffic_and_leave_nothing_behind() {
    let mut bed = NatBed::new("n2");
    bed.write_pf_conf(true);
    bed.watch_upstream();

    // The plan shows the rules.
    let recipe = bed.bed.recipe_arg();
    let plan = bed.thinjail(&["plan", &recipe, "--format", "text"]);
    plan.expect_code(0);
    for rule in [
        "nat on up0 inet from 10.78.0.0/24 to any -> (up0)",
        "rdr on up0 inet proto tcp from any to (up0) port 8080 -> 10.78.0.2 port 80",
    ] {
        assert!(plan.stdout.contains(rule), "{rule} in {}", plan.stdout);
    }
    bed.apply().expect_code(0);
    assert_eq!(
        bed.loaded(),
        [
            "nat on up0 inet from 10.78.0.0/24 to any -> (up0) round-robin",
            "rdr on up0 inet proto tcp from any to (up0) port = 8080 -> 10.78.0.2 port 80",
        ]
    );
    let file = std::fs::read_to_string(bed.anchor_file()).expect("the anchor file");
    assert!(file.contains("-> 10.78.0.2 port 80"), "{file}");

    // NAT: the jail reaches upstream, which sees the host's address, not the jail's.
    bed.ping_upstream().expect_code(0);
    assert!(bed.upstream_count("from-host") > 0);
    assert_eq!(bed.upstream_count("from-jails"), 0);

    // The forward: upstream reaches a service in the jail through the host's port.
    let server = Server(
        bed.in_jail_command("nj", &["/usr/bin/nc", "-ll", "-p", "80", "-e", "/bin/cat"])
            .spawn()
            .expect("nc in the jail"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let echo = bed.through_forward();
    assert!(echo.stdout.contains("thinjail-forward"), "{echo:?}");

    // A second apply changes nothing; so does one after the kernel lost the rules
    // (a reboot without pf.conf loading them): it loads them again.
    bed.apply().expect_nothing_to_do();
    let flushed = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", bed.ns.name()))
        .args(["nft", "delete", "table", "inet", "thinjail_thinjail_jails"])
        .status()
        .expect("nft");
    assert!(flushed.success());
    let reload = bed.apply();
    reload.expect_code(0);
    assert!(
        reload.stdout.contains("load pf anchor thinjail/jails"),
        "{}",
        reload.stdout
    );
    assert_eq!(bed.loaded().len(), 2);

    // Removing the forward removes its rule, and the port no longer answers.
    bed.bed.recipe.host.network.pf.forwards.clear();
    bed.bed.write_recipe();
    bed.apply().expect_code(0);
    assert_eq!(
        bed.loaded(),
        ["nat on up0 inet from 10.78.0.0/24 to any -> (up0) round-robin"]
    );
    let table = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", bed.ns.name()))
        .args(["nft", "list", "table", "inet", "thinjail_thinjail_jails"])
        .output()
        .expect("nft");
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        !table.contains("dnat") && table.contains("masquerade"),
        "{table}"
    );
    let closed = bed.through_forward();
    assert!(!closed.stdout.contains("thinjail-forward"), "{closed:?}");
    drop(server);
    bed.ping_upstream().expect_code(0);

    // Destroying the last jail empties the anchor: no nft table is left. pf.conf
    // still loads the file, so it stays, without a rule.
    bed.command(&["stop", "nj"]).expect_code(0);
    bed.command(&["destroy", "nj", "--yes"]).expect_code(0);
    assert!(pfbed::tables(&bed.net).unwrap().is_empty());
    let left = std::fs::read_to_string(bed.anchor_file()).expect("the anchor file stays");
    assert!(
        thinjail_core::network::pf::rules_of(&left).is_empty(),
        "{left}"
    );
}

#[test]
fn check_refuses_bad_nat_and_forwards_naming_the_field() {
    let bed = NatBed::new("n3");
    let mut bad = bed.bed.recipe.clone();
    let forward = bad.host.network.pf.forwards[0].clone();
    bad.host.network.pf.forwards.push(forward.clone());
    bad.host.network.pf.forwards.push(Forward {
        jail: "ghost".into(),
        port: 8081,
        ..forward
    });
    bad.host.network.pf.nat.push(Nat {
        from: "172.16.9.0/24".into(),
        interface: UPLINK.into(),
    });
    let path = bed.bed.dir.path().join("bad.ron");
    std::fs::write(&path, bad.to_ron()).unwrap();
    let check = bed.thinjail(&["check", path.to_str().unwrap()]);
    check.expect_code(65);
    for (field, says) in [
        ("host.network.pf.forwards[1].port", "already forwarded"),
        ("host.network.pf.forwards[2].jail", "not in the recipe"),
        ("host.network.pf.nat[1].from", "no VNET jail"),
    ] {
        assert!(
            check.stderr.contains(field) && check.stderr.contains(says),
            "{field}: {says} in {}",
            check.stderr
        );
    }
}

#[test]
fn the_anchor_goes_when_the_last_vnet_jail_and_the_last_rule_leave_together() {
    let mut bed = NatBed::new("n4");
    bed.write_pf_conf(true);
    bed.apply().expect_code(0);
    assert_eq!(bed.loaded().len(), 2);

    // The jail, NAT, forwards and bridges leave the recipe in one change (no
    // network is left in it); the jail is destroyed as one the recipe no longer
    // names, which leaves the anchor to apply.
    bed.bed.recipe.jails.clear();
    bed.bed.recipe.host.network.pf.nat.clear();
    bed.bed.recipe.host.network.pf.forwards.clear();
    bed.bed.recipe.host.network.bridges.clear();
    bed.bed.write_recipe();
    bed.command(&["stop", "nj"]).expect_code(0);
    bed.command(&["destroy", "nj", "--yes"]).expect_code(0);

    // apply empties the anchor; pf.conf still loads the file, so it stays, empty.
    bed.apply().expect_code(0);
    assert!(bed.loaded().is_empty(), "{:?}", bed.loaded());
    assert!(pfbed::tables(&bed.net).unwrap().is_empty());
    let left = std::fs::read_to_string(bed.anchor_file()).expect("the anchor file stays");
    assert!(
        thinjail_core::network::pf::rules_of(&left).is_empty(),
        "{left}"
    );
    // thinjail's lines out of pf.conf: the next apply removes the file, and the
    // one after has nothing to do.
    bed.write_pf_conf(false);
    bed.apply().expect_code(0);
    assert!(!bed.anchor_file().exists());
    bed.apply().expect_nothing_to_do();
}
