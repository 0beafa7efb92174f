//! ifconfig(8)'s addresses on the test bed: the `inet`/`inet6` lines `ifconfig IF`
//! prints ([`show`]), read back by thinjail's own parser
//! ([`thinjail_core::bridge_addresses::parse_addresses`]), and the address
//! changes the netbed's `ifconfig` hands here ([`set`]): `inet A/P`,
//! `inet A/P alias`, `inet A -alias` (and `inet6`). Done with `ip addr` in the
//! test's host namespace only: every function takes the netbed's `ip -n NS`
//! ([`Ip`]).
//!
//! Written after `freebsd/freebsd-src`:
//! - `sbin/ifconfig/af_inet.c` (`in_status_nl`): `\tinet A netmask 0xHHHHHHHH
//!   broadcast B` (broadcast only with a non-zero prefix on a broadcast
//!   interface; `sys/netinet/in.c` gives an address added without one its
//!   subnet's, so [`set`] adds with `brd +`).
//! - `sbin/ifconfig/af_inet6.c`: `\tinet6 A prefixlen P`, a link-local address as
//!   `A%IF` with `scopeid 0xINDEX`, `tentative` while duplicate address detection
//!   runs.
//! - `sbin/ifconfig/ifconfig.c`: `inet A/P` without `alias` first deletes the
//!   interface's first IPv4 address (`clearaddr`; "no previous address" is not an
//!   error), then adds; `-alias` deletes exactly `A` and fails with "ifconfig: ioctl
//!   (SIOCDIFADDR): Can't assign requested address", exit 1, when the interface
//!   does not hold it.
//!
//! **Not reproduced**: Linux's primary and secondary IPv4 addresses — deleting a
//! subnet's primary address deletes its secondaries too (unless the namespace sets
//! `promote_secondaries`), which FreeBSD does not; `inet6 A/P` without `alias`
//! (thinjail always writes `alias` for IPv6) only adds; the netmask and broadcast
//! words with `-f inet:cidr` or `inet:dotted`; vhid, lifetimes and the flags other
//! than `tentative`.

use thinjail_core::host::HostError;

/// `ip ARGS` in the test's host namespace (`NetBed::ip`), its output.
pub type Ip<'a> = &'a dyn Fn(&[&str]) -> Result<String, HostError>;

/// One address of `ip -o addr show`: its family word, `A/P`, and the rest of the
/// line (for `brd`, `scope link`, `tentative`).
struct Held {
    family: String,
    cidr: String,
    rest: Vec<String>,
    index: String,
}

fn held(ip: Ip, name: &str) -> Result<Vec<Held>, HostError> {
    let out = ip(&["-o", "addr", "show", "dev", name])?;
    Ok(out
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let index = words.first()?.trim_end_matches(':').to_string();
            let family = *words.get(2)?;
            let cidr = *words.get(3)?;
            Some(Held {
                family: family.to_string(),
                cidr: cidr.to_string(),
                rest: words[4..].iter().map(|w| w.to_string()).collect(),
                index,
            })
        })
        .filter(|h| h.family == "inet" || h.family == "inet6")
        .collect())
}

/// The `inet` and `inet6` lines `ifconfig NAME` prints for the interface's
/// addresses, in the order the kernel holds them.
pub fn show(ip: Ip, name: &str) -> Result<String, HostError> {
    let mut out = String::new();
    for h in held(ip, name)? {
        let Some((addr, prefix)) = h.cidr.split_once('/') else {
            continue;
        };
        let Ok(prefix) = prefix.parse::<u32>() else {
            continue;
        };
        if h.family == "inet" {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix.min(32))
            };
            out.push_str(&format!("\tinet {addr} netmask 0x{mask:08x}"));
            let brd = h.rest.windows(2).find(|w| w[0] == "brd");
            if let Some(brd) = brd.filter(|_| prefix != 0) {
                out.push_str(&format!(" broadcast {}", brd[1]));
            }
        } else {
            let link = h.rest.windows(2).any(|w| w[0] == "scope" && w[1] == "link");
            if link {
                out.push_str(&format!("\tinet6 {addr}%{name} prefixlen {prefix}"));
            } else {
                out.push_str(&format!("\tinet6 {addr} prefixlen {prefix}"));
            }
            if h.rest.iter().any(|w| w == "tentative") {
                out.push_str(" tentative");
            }
            if link {
                let index: u32 = h.index.parse().unwrap_or(0);
                out.push_str(&format!(" scopeid 0x{index:x}"));
            }
        }
        out.push('\n');
    }
    Ok(out)
}

/// `ifconfig NAME FAMILY ADDR [alias|-alias]` (`words` from the family on) on an
/// interface that exists; `None` for words that are not an address change.
pub fn set(ip: Ip, name: &str, words: &[&str]) -> Option<Result<String, HostError>> {
    let command = format!("ifconfig {name} {}", words.join(" "));
    let (family, addr, mode) = match words {
        [family @ ("inet" | "inet6"), addr] => (*family, *addr, None),
        [family @ ("inet" | "inet6"), addr, mode @ ("alias" | "-alias")] => {
            (*family, *addr, Some(*mode))
        }
        _ => return None,
    };
    Some((|| {
        let held = held(ip, name)?;
        if mode == Some("-alias") {
            let bare = addr.split('/').next().unwrap_or(addr);
            let found = held
                .iter()
                .find(|h| h.family == family && h.cidr.split('/').next().unwrap_or("") == bare);
            let Some(found) = found else {
                return Err(HostError::CommandFailed {
                    command,
                    status: "exit status: 1".into(),
                    stdout: String::new(),
                    stderr: "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n"
                        .into(),
                });
            };
            return ip(&["addr", "del", &found.cidr, "dev", name]);
        }
        if !addr.contains('/') {
            return Err(HostError::Unsupported(format!(
                "the test bed's ifconfig cannot do `{command}` (an address without its prefix length)"
            )));
        }
        if family == "inet" && mode.is_none() {
            if let Some(first) = held.iter().find(|h| h.family == "inet") {
                ip(&["addr", "del", &first.cidr, "dev", name])?;
            }
        }
        if family == "inet" {
            // sys/netinet/in.c (in_aifaddr_ioctl): a broadcast interface's address
            // given without one gets its subnet's broadcast address.
            ip(&["addr", "add", addr, "brd", "+", "dev", name])
        } else {
            ip(&["addr", "add", addr, "dev", name])
        }
    })())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netbed::{NetBed, TestNetns};
    use std::collections::BTreeSet;
    use thinjail_core::bridge_addresses::parse_addresses;

    fn ifconfig(bed: &NetBed, line: &str) -> Result<String, HostError> {
        bed.ifconfig(
            &line
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>(),
        )
    }

    fn shown(bed: &NetBed, name: &str) -> BTreeSet<String> {
        parse_addresses(&show(&|args| bed.ip(args), name).unwrap())
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn addresses_are_added_replaced_removed_and_shown_as_on_freebsd() {
        let ns = TestNetns::new("u9").expect(
            "the network test bed needs root and iproute2 (`ip netns`): run as root (scripts/test)",
        );
        let bed = NetBed::new(ns.name()).unwrap();
        ifconfig(&bed, "bridge4100 create").unwrap();
        ifconfig(&bed, "bridge4100 up").unwrap();
        ifconfig(&bed, "bridge4100 inet 10.5.0.1/24").unwrap();
        ifconfig(&bed, "bridge4100 inet 10.6.0.1/16 alias").unwrap();
        ifconfig(&bed, "bridge4100 inet6 fd05::1/64 alias").unwrap();
        let text = show(&|args| bed.ip(args), "bridge4100").unwrap();
        assert!(
            text.contains("\tinet 10.5.0.1 netmask 0xffffff00 broadcast 10.5.0.255\n"),
            "{text}"
        );
        assert!(text.contains("\tinet6 fd05::1 prefixlen 64"), "{text}");
        assert_eq!(
            shown(&bed, "bridge4100"),
            set(&["10.5.0.1/24", "10.6.0.1/16", "fd05::1/64"])
        );
        // Without `alias`, the first IPv4 address is replaced (ifconfig.c's clearaddr).
        ifconfig(&bed, "bridge4100 inet 10.7.0.1/24").unwrap();
        assert_eq!(
            shown(&bed, "bridge4100"),
            set(&["10.6.0.1/16", "10.7.0.1/24", "fd05::1/64"])
        );
        // `-alias` takes exactly that address, whatever its prefix length.
        ifconfig(&bed, "bridge4100 inet 10.6.0.1 -alias").unwrap();
        ifconfig(&bed, "bridge4100 inet6 fd05::1 -alias").unwrap();
        assert_eq!(shown(&bed, "bridge4100"), set(&["10.7.0.1/24"]));
        // An address the interface does not hold: SIOCDIFADDR's EADDRNOTAVAIL.
        match ifconfig(&bed, "bridge4100 inet 10.6.0.1 -alias").unwrap_err() {
            HostError::CommandFailed { status, stderr, .. } => {
                assert_eq!(status, "exit status: 1");
                assert_eq!(
                    stderr,
                    "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n"
                );
            }
            other => panic!("{other}"),
        }
        // A missing interface fails before anything (netbed's check).
        let missing = ifconfig(&bed, "nosuch0 inet 10.6.0.1 -alias").unwrap_err();
        assert!(missing.to_string().contains("does not exist"), "{missing}");
    }
}
