//! The addresses of a bridge thinjail makes, on the running bridge: read from
//! `ifconfig NAME` ([`parse_addresses`]), compared with the recipe's `ip4`/`ip6`
//! ([`wanted`]) and brought to them with `ifconfig NAME inet A -alias` / `inet
//! A/P alias` (and `inet6`), so a changed address does not wait for the next boot
//! ([`changes`]). Plain data and pure functions: [`crate::bridges::plan`] turns the
//! changes into actions, [`crate::observed_bridges`] keeps the observed sets.
//!
//! What FreeBSD prints and does, read in `freebsd/freebsd-src`:
//! - `sbin/ifconfig/af_inet.c` (`in_status_nl`, `in_status`): one line an IPv4
//!   address, `\tinet A netmask 0xHHHHHHHH broadcast B` (`-f inet:cidr` prints
//!   `inet A/P`, read too).
//! - `sbin/ifconfig/af_inet6.c`: `\tinet6 A[%SCOPE] prefixlen P` then flags and
//!   `scopeid 0xN`. Link-local addresses (`fe80::/10`) are the kernel's, not the
//!   recipe's: left out of the comparison, never removed.
//! - `sbin/ifconfig/ifconfig.c`: `inet A/P` without `alias` first deletes the
//!   interface's first IPv4 address (`clearaddr`), so changes use `alias`, which
//!   adds, and `-alias`, which deletes exactly `A` (an address the interface lacks
//!   fails, "ioctl (SIOCDIFADDR): Can't assign requested address", exit 1).
//!
//! Removals come before additions: an address whose prefix length changed is
//! deleted, then added with the new one (adding it with `alias` over the old one
//! would only change its mask on FreeBSD and fail on Linux).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::recipe::network::Bridge;

/// An address with its prefix length in one canonical spelling (`10.9.0.1/24`,
/// `2001:db8::1/64`: lowercase, zeros compressed), so the recipe's and ifconfig's
/// spellings compare; `None` for text that is not `ADDRESS/PREFIX`.
pub fn canonical(cidr: &str) -> Option<String> {
    let (addr, prefix) = cidr.trim().split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then(|| format!("{addr}/{prefix}"))
}

/// The recipe's addresses of `bridge`, canonical ([`canonical`]).
pub fn wanted(bridge: &Bridge) -> BTreeSet<String> {
    bridge
        .ip4
        .iter()
        .chain(&bridge.ip6)
        .filter_map(|a| canonical(a))
        .collect()
}

fn is_link_local(addr: &Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// The addresses `ifconfig NAME` shows, canonical, without IPv6 link-local ones:
/// `inet A netmask 0xHEX` (or `inet A/P`) and `inet6 A prefixlen P` lines.
pub fn parse_addresses(shown: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in shown.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["inet", addr, rest @ ..] => {
                let cidr = if addr.contains('/') {
                    canonical(addr)
                } else {
                    let mask = rest
                        .windows(2)
                        .find(|w| w[0] == "netmask")
                        .and_then(|w| parse_netmask(w[1]));
                    addr.parse::<Ipv4Addr>()
                        .ok()
                        .zip(mask)
                        .map(|(a, p)| format!("{a}/{p}"))
                };
                found.extend(cidr);
            }
            ["inet6", addr, rest @ ..] => {
                let addr = addr.split('%').next().unwrap_or(addr);
                let Ok(addr) = addr.parse::<Ipv6Addr>() else {
                    continue;
                };
                if is_link_local(&addr) {
                    continue;
                }
                let prefix = rest
                    .windows(2)
                    .find(|w| w[0] == "prefixlen")
                    .and_then(|w| w[1].parse::<u8>().ok())
                    .filter(|p| *p <= 128);
                if let Some(prefix) = prefix {
                    found.insert(format!("{addr}/{prefix}"));
                }
            }
            _ => {}
        }
    }
    found
}

/// A netmask as ifconfig prints it (`0xffffff00`, or dotted with `-f
/// inet:dotted`) as a prefix length; `None` for a mask that is not contiguous.
fn parse_netmask(mask: &str) -> Option<u32> {
    let bits = match mask.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => u32::from(mask.parse::<Ipv4Addr>().ok()?),
    };
    (bits.leading_ones() + bits.trailing_zeros() == 32).then(|| bits.leading_ones())
}

/// The `ifconfig NAME …` arguments (after the bridge's name) that bring the
/// `observed` addresses of a bridge to `wanted`: `inet A -alias` / `inet6 A
/// -alias` for each address the recipe no longer has, then `inet A/P alias` /
/// `inet6 A/P alias` for each one the bridge lacks. Both sets canonical.
pub fn changes(wanted: &BTreeSet<String>, observed: &BTreeSet<String>) -> Vec<Vec<String>> {
    let family = |cidr: &str| if cidr.contains(':') { "inet6" } else { "inet" };
    let mut out = Vec::new();
    for gone in observed.difference(wanted) {
        let addr = gone.split('/').next().unwrap_or(gone);
        out.push(vec![family(gone).into(), addr.into(), "-alias".into()]);
    }
    for new in wanted.difference(observed) {
        out.push(vec![family(new).into(), new.clone(), "alias".into()]);
    }
    out
}

/// What `ifconfig NAME ARGS` (the words after the name) does to the bridge's
/// observed addresses: `inet`/`inet6 A/P [alias]` adds, `inet`/`inet6 A -alias`
/// deletes every address `A` holds whatever its prefix. `inet A/P` without `alias`
/// also deletes the first IPv4 address on FreeBSD; the model keeps no order, so
/// it only adds — thinjail uses that form only on a bridge it has just made,
/// which has none.
pub fn apply_to(addresses: &mut BTreeSet<String>, args: &[&str]) {
    match args {
        ["inet" | "inet6", addr] | ["inet" | "inet6", addr, "alias"] => {
            addresses.extend(canonical(addr));
        }
        ["inet" | "inet6", addr, "-alias"] => {
            let Ok(addr) = addr.parse::<IpAddr>() else {
                return;
            };
            addresses.retain(|held| {
                held.split('/')
                    .next()
                    .and_then(|a| a.parse::<IpAddr>().ok())
                    != Some(addr)
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ifconfig_output_gives_the_addresses_as_the_recipe_spells_them() {
        let shown = "jails: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500\n\
            \toptions=0\n\
            \tether 58:9c:fc:10:ff:a0\n\
            \tinet 10.9.0.1 netmask 0xffffff00 broadcast 10.9.0.255\n\
            \tinet 192.0.2.1 netmask 0xfffffffc broadcast 192.0.2.3\n\
            \tinet6 fe80::5a9c:fcff:fe10:ffa0%jails prefixlen 64 scopeid 0x5\n\
            \tinet6 2001:DB8:0:0::1 prefixlen 64 tentative\n\
            \tid 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15\n\
            \tmember: em0 flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>\n";
        assert_eq!(
            parse_addresses(shown),
            set(&["10.9.0.1/24", "192.0.2.1/30", "2001:db8::1/64"])
        );
        // `ifconfig -f inet:cidr` and `inet:dotted`.
        assert_eq!(
            parse_addresses("\tinet 10.9.0.1/16 broadcast 10.9.255.255\n"),
            set(&["10.9.0.1/16"])
        );
        assert_eq!(
            parse_addresses("\tinet 10.9.0.1 netmask 255.255.255.0 broadcast 10.9.0.255\n"),
            set(&["10.9.0.1/24"])
        );
        // A mask with holes, or no mask at all, is not an address the recipe has.
        assert!(parse_addresses("\tinet 10.9.0.1 netmask 0xff00ff00\n").is_empty());
        assert!(parse_addresses("\tinet 10.9.0.1\n").is_empty());
    }

    #[test]
    fn canonical_spellings_compare() {
        assert_eq!(
            canonical("2001:DB8::0:1/64").as_deref(),
            Some("2001:db8::1/64")
        );
        assert_eq!(canonical("10.9.0.1/24").as_deref(), Some("10.9.0.1/24"));
        assert_eq!(canonical("10.9.0.1/33"), None);
        assert_eq!(canonical("10.9.0.1"), None);
    }

    #[test]
    fn changes_remove_first_then_add_and_touch_nothing_when_equal() {
        let wanted = set(&["10.9.0.254/24", "2001:db8::1/64"]);
        let observed = set(&["10.9.0.1/24", "2001:db8::1/64", "10.8.0.1/16"]);
        let args = changes(&wanted, &observed);
        let lines: Vec<String> = args.iter().map(|a| a.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "inet 10.8.0.1 -alias",
                "inet 10.9.0.1 -alias",
                "inet 10.9.0.254/24 alias"
            ]
        );
        let mut after = observed.clone();
        for a in &args {
            let words: Vec<&str> = a.iter().map(String::as_str).collect();
            apply_to(&mut after, &words);
        }
        assert_eq!(after, wanted);
        assert!(changes(&wanted, &after).is_empty());
        // A prefix length changed: the address goes and comes back with it.
        let lines: Vec<String> = changes(&set(&["10.9.0.1/16"]), &set(&["10.9.0.1/24"]))
            .iter()
            .map(|a| a.join(" "))
            .collect();
        assert_eq!(lines, ["inet 10.9.0.1 -alias", "inet 10.9.0.1/16 alias"]);
        let lines: Vec<String> = changes(&set(&[]), &set(&["2001:db8::1/64"]))
            .iter()
            .map(|a| a.join(" "))
            .collect();
        assert_eq!(lines, ["inet6 2001:db8::1 -alias"]);
    }
}
