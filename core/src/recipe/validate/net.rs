//! Network values: IPv4 and IPv6 addresses with their prefix, URLs and digests.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::is_digits;

/// Checks an IPv4 address, optionally with a `/prefix`: a jail's own address, so
/// neither the unspecified address `0.0.0.0` (a jail bound to it shares every
/// address of the host) nor a `/0` prefix (an alias that claims every network).
pub fn check_ip4(addr: &str) -> Result<(), String> {
    let (ip, prefix) = split_prefix(addr);
    let ip = ip
        .parse::<Ipv4Addr>()
        .map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
    check_prefix(addr, prefix, 32)?;
    if ip.is_unspecified() {
        return Err(
            "0.0.0.0 is not an address of its own: a jail with it would use every address of the host"
                .into(),
        );
    }
    Ok(())
}

/// Checks an IPv6 address, optionally with a `/prefix`; as [`check_ip4`], `::` and
/// `/0` are refused.
pub fn check_ip6(addr: &str) -> Result<(), String> {
    let (ip, prefix) = split_prefix(addr);
    let ip = ip
        .parse::<Ipv6Addr>()
        .map_err(|_| format!("{addr:?} is not an IPv6 address"))?;
    check_prefix(addr, prefix, 128)?;
    if ip.is_unspecified() {
        return Err(
            ":: is not an address of its own: a jail with it would use every address of the host"
                .into(),
        );
    }
    Ok(())
}

/// Whether `addr` (with or without a prefix) is a loopback address (127.0.0.0/8, ::1).
pub fn is_loopback(addr: &str) -> bool {
    let ip = address_without_prefix(addr);
    ip.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        || ip.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback())
}

pub(super) fn split_prefix(addr: &str) -> (&str, Option<&str>) {
    match addr.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (addr, None),
    }
}

pub(super) fn check_prefix(addr: &str, prefix: Option<&str>, max: u8) -> Result<(), String> {
    match prefix {
        None => Ok(()),
        Some(p) if p.parse::<u8>().is_ok_and(|n| (1..=max).contains(&n)) && is_digits(p) => Ok(()),
        Some(_) => Err(format!(
            "{addr:?} has a bad prefix length (1 to {max}; /0 would claim every network)"
        )),
    }
}

/// The address without its `/prefix`, for uniqueness checks.
pub fn address_without_prefix(addr: &str) -> &str {
    split_prefix(addr).0
}

/// Whether a mirror URL authenticates what it serves by itself: `https://`, or a
/// `file://` tree on the host. Anything else needs the recipe's `insecure: true` or a
/// pinned `manifest_sha256`.
pub fn is_authenticated_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("file://")
}

/// Checks a SHA-256 given in the recipe: 64 hexadecimal digits.
pub fn check_sha256(digest: &str) -> Result<(), String> {
    if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err("expected a SHA-256: 64 hexadecimal digits, as in the MANIFEST's own checksum".into())
    }
}

/// Checks a mirror URL (`http`, `https`, `ftp` or `file`; no whitespace or quotes).
pub fn check_url(url: &str) -> Result<(), String> {
    let scheme_ok = ["http://", "https://", "ftp://", "file://"]
        .iter()
        .any(|s| url.starts_with(s) && url.len() > s.len());
    if !scheme_ok {
        return Err(format!("{url:?} is not an http, https, ftp or file URL"));
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"'`\\".contains(c))
    {
        return Err("the URL contains whitespace, quotes or backslashes".into());
    }
    Ok(())
}
