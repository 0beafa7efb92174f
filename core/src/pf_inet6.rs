//! IPv6 port forwards in thinjail's pf anchor: a forward whose host `address` is
//! an IPv6 address ([`crate::recipe::network::Forward::is_inet6`]) goes to the
//! jail's first static IPv6 address, as `rdr on IF inet6 proto P from any to
//! ADDRESS port N -> JAIL6 port M` (pf.conf(5): `rdr`
//! takes an address family; no NAT66 — IPv6 jails have addresses of their own, so
//! only the host's port is redirected). Written after the IPv4 rules of
//! `network::pf_anchor_rules`, so the kernel lists them in that order
//! (`pfctl -s nat`). Addresses are written as `inet_ntop(3)` prints them (pfctl's
//! `print_rule`), so the rules read back compare.
//!
//! An IPv6 forward names the host's address: pf's `(IF)` would also take the
//! interface's link-local addresses.

use std::net::Ipv6Addr;

use crate::recipe::network::Pf;

/// `address` (with or without a prefix length) as inet_ntop(3) writes it.
pub fn canonical(address: &str) -> Option<String> {
    let bare = address.split('/').next().unwrap_or(address);
    bare.parse::<Ipv6Addr>().ok().map(|a| a.to_string())
}

/// The `rdr … inet6` rules of `pf`'s IPv6 forwards, one a line; `jail_ip6` gives
/// a jail's first static IPv6 address (a forward to a jail without one is left
/// out, as validation refuses it).
pub fn forward_rules(pf: &Pf, jail_ip6: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    for forward in pf.forwards.iter().filter(|f| f.is_inet6()) {
        let (Some(to), Some(target)) = (
            forward.address.as_deref().and_then(canonical),
            jail_ip6(&forward.jail).as_deref().and_then(canonical),
        ) else {
            continue;
        };
        out.push_str(&forward.rdr_rule("inet6", &to, &target));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::network::{Forward, Nat, Proto};

    fn forward(address: Option<&str>, jail: &str) -> Forward {
        Forward {
            proto: Proto::Tcp,
            interface: "em0".into(),
            address: address.map(String::from),
            port: 8080,
            jail: jail.into(),
            jail_port: Some(80),
        }
    }

    #[test]
    fn ipv6_forwards_are_rdr_inet6_to_the_jails_ipv6_address() {
        let pf = Pf {
            nat: vec![Nat {
                from: "10.0.0.0/24".into(),
                interface: "em0".into(),
            }],
            forwards: vec![
                forward(Some("2001:DB8::0:1"), "www"),
                forward(None, "www"),
                forward(Some("192.0.2.1"), "www"),
                forward(Some("2001:db8::1"), "nov6"),
            ],
            ..Pf::default()
        };
        let jail_ip6 = |jail: &str| (jail == "www").then(|| "FD00:0::2/64".to_string());
        assert_eq!(
            forward_rules(&pf, &jail_ip6),
            "rdr on em0 inet6 proto tcp from any to 2001:db8::1 port 8080 -> fd00::2 port 80\n"
        );
        // The IPv4 rules leave the IPv6 forward to this module.
        let ip4 = crate::network::pf_anchor_rules(&pf, &|_| Some("10.0.0.2".into()));
        assert!(!ip4.contains("2001:"), "{ip4}");
        assert_eq!(ip4.matches("rdr on em0 inet proto tcp").count(), 2, "{ip4}");
        assert!(pf.forwards[0].is_inet6() && !pf.forwards[1].is_inet6());
    }

    fn validated(ip6: &str, address: &str) -> Vec<String> {
        let recipe = crate::recipe::Recipe::from_ron(
            &format!(
                r#"(host: (network: (bridges: [(name: "br0", ip4: ["10.0.0.1/24"], ip6: ["fd00::1/64"])])),
                    releases: [(name: "14.3-RELEASE")],
                    jails: [(name: "www", release: "14.3-RELEASE",
                             vnet: (bridge: "br0", ip4: Static(["10.0.0.2/24"]){ip6}))])"#
            ),
            "test",
        )
        .unwrap();
        let mut recipe = recipe;
        recipe.host.network.pf.forwards = vec![forward(Some(address), "www")];
        crate::recipe::validate::validate(&recipe)
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn an_ipv6_forward_needs_a_jail_with_a_static_ipv6_address() {
        assert!(
            validated(r#", ip6: Static(["fd00::2/64"])"#, "2001:db8::1").is_empty(),
            "{:?}",
            validated(r#", ip6: Static(["fd00::2/64"])"#, "2001:db8::1")
        );
        let errors = validated("", "2001:db8::1");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("host.network.pf.forwards[0].jail")
                    && e.contains("no static IPv6 address")),
            "{errors:?}"
        );
        let errors = validated(r#", ip6: Static(["fd00::2/64"])"#, "2001:db8::1/64");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("host.network.pf.forwards[0].address")),
            "{errors:?}"
        );
    }
}
