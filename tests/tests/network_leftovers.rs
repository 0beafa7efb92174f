//! Issue 13's networking leftovers, end to end on the test bed: a thinjail bridge
//! whose addresses change in the recipe gets them on the running bridge (not only in
//! rc.conf), restarting only the jail whose own settings changed. All inside
//! network namespaces the test makes (`THINJAIL_TESTBED_NETNS`).

use std::collections::BTreeSet;
use std::process::Command;

use thinjail_core::network::{Bridge, Ip4};
use thinjail_testbed::harness::Run;
use thinjail_testbed::vnet_bed::{vnet_jail, vnet_on, VnetBed};

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
    thinjail_testbed::vnet_bed::ip(
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
