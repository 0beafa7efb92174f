//! The test bed's pf: `pfctl -a ANCHOR -f FILE` and `pfctl -a ANCHOR -F nat` for
//! thinjail's anchor, carried out with nftables in the test's network namespace
//! ([`crate::netbed`]).
//!
//! **What it reads.** The anchor text thinjail renders
//! ([`thinjail_core::network::pf_anchor_rules`]): `#` comments, blank lines, and
//! rules of two forms only — `nat on IF inet from NET to any -> (IF)` and `rdr on IF
//! inet proto tcp|udp from any to (IF)|ADDR port P -> ADDR port P` (or `inet6`, to
//! and from IPv6 addresses, [`thinjail_core::pf_inet6`]; an address of the other
//! family is refused, as parse.y refuses it). Anything else is
//! refused as a syntax error, as pfctl refuses a file it cannot parse (exit 1,
//! nothing loaded): the stand-in is never more lenient than `parse.y`, only narrower.
//!
//! **What it does.** Each load replaces the anchor's rules as a whole (one nftables
//! transaction: the table `inet thinjail_<anchor>` made anew), as `pfctl -a -f` replaces
//! an anchor's ruleset; `-F nat` removes them (`-F all`, which FreeBSD's pfctl
//! fails for an anchor that holds no table, is refused). `nat … -> (IF)` becomes `masquerade`
//! on `oifname IF` for the source network (pf translates to the interface's address,
//! following it when it changes); `rdr … to (IF) port P` becomes `dnat` for packets
//! that arrive on IF for one of the host's own addresses (`fib daddr type local`),
//! `to ADDR` for that address only; an `inet6` rdr becomes an `ip6` `dnat`.
//!
//! **As pf evaluates it.** An anchor's rules count only when the main ruleset
//! reaches the anchor: `nat-anchor "thinjail/*"` for `nat`, `rdr-anchor
//! "thinjail/*"` for `rdr`. The stand-in reads the main ruleset from the file
//! rc.d/pf loads, `pf_rules` (`/etc/pf.conf` unless rc.conf says otherwise,
//! [`thinjail_core::pf_rules`]; below `host.system_root`) and installs only the
//! kinds it reaches, so a pf.conf without the lines translates nothing here either.
//!
//! **Reading back.** `pfctl [-P] -a ANCHOR -s nat` ([`show_nat`]) lists the rules
//! as pfctl prints them (each nftables rule carries that text as its comment, so
//! what is listed is what the kernel holds: a table deleted behind thinjail's back
//! lists nothing), nat before rdr; a port as a number with `-P`, otherwise by the
//! name the machine's `/etc/services` gives it, as `print_port` asks
//! `getservbyport` (Linux's file names more ports than FreeBSD's, 8080 among them:
//! harsher, never kinder); a missing anchor lists nothing (pfctl warns and exits 0).
//! Observation runs what [`thinjail_core::network::pf::SHOW_ANCHOR_RULES`] says.
//! `pfctl -s info` says `Status: Enabled`.
//!
//! **Not reproduced**: pf being disabled or absent (`pfctl -e`; the stand-in always
//! translates what is reached), the main ruleset as loaded rather than as written
//! in pf.conf, pf's filter rules (a `block` of the administrator's does not stop a
//! redirected packet here), state tables, `rdr pass`, IPv6 NAT, `inet6` to `(IF)`, and everything of
//! pf.conf(5) thinjail does not write. IP forwarding is not turned on by the
//! stand-in: as on FreeBSD (`gateway_enable`), the host must forward.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use thinjail_core::host::HostError;
use thinjail_core::network::pf::{parse_status, ObservedPf, PfStatus, SHOW_ANCHOR_RULES};
use thinjail_core::network::{missing_pf_conf_lines, PF_ANCHOR, PF_CONF_LINES};

use crate::netbed::{NetBed, NETNS_DIR};

fn syntax_error(file: &str, line: usize) -> HostError {
    HostError::CommandFailed {
        command: format!("pfctl -f {file}"),
        status: "exit status: 1".into(),
        stdout: String::new(),
        stderr: format!("{file}:{line}: syntax error\npfctl: Syntax error in config file: pf rules not loaded\n"),
    }
}

/// One rule of thinjail's anchor, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnchorRule {
    /// `nat on IF inet from NET to any -> (IF)`.
    Nat {
        /// The interface.
        interface: String,
        /// The source network.
        from: String,
    },
    /// `rdr on IF inet proto P from any to DEST port P -> ADDR port P` (or
    /// `inet6`, to an address).
    Rdr {
        /// `inet6` rather than `inet`.
        inet6: bool,
        /// The interface.
        interface: String,
        /// `tcp` or `udp`.
        proto: String,
        /// An address, or `None` for `(IF)`.
        to: Option<String>,
        /// The host's port.
        port: u16,
        /// Where to.
        target: String,
        /// Its port.
        target_port: u16,
    },
}

/// Reads the anchor text `text` (from `file`, for messages).
pub fn parse_anchor(text: &str, file: &str) -> Result<Vec<AnchorRule>, HostError> {
    let mut rules = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        let iface_ref = |word: &str| {
            word.strip_prefix('(')
                .and_then(|w| w.strip_suffix(')'))
                .map(String::from)
        };
        let port = |word: &str| word.parse::<u16>().ok().filter(|p| *p > 0);
        let rule = match t.as_slice() {
            ["nat", "on", iface, "inet", "from", from, "to", "any", "->", to]
                if iface_ref(to).as_deref() == Some(*iface) =>
            {
                Some(AnchorRule::Nat {
                    interface: iface.to_string(),
                    from: from.to_string(),
                })
            }
            ["rdr", "on", iface, af @ ("inet" | "inet6"), "proto", proto @ ("tcp" | "udp"), "from", "any", "to", to, "port", p, "->", target, "port", tp] =>
            {
                let inet6 = *af == "inet6";
                // pfctl refuses an address of the other family (parse.y: "address
                // family mismatch"); `(IF)` only for inet here. An address is kept
                // as pfctl prints it back (inet_ntop(3) in `print_addr`).
                let address = |a: &str| {
                    if inet6 {
                        a.parse::<std::net::Ipv6Addr>().ok().map(|a| a.to_string())
                    } else {
                        a.parse::<std::net::Ipv4Addr>().ok().map(|a| a.to_string())
                    }
                };
                let to = match iface_ref(to) {
                    Some(name) if name == *iface && !inet6 => Some(None),
                    Some(_) => None,
                    None => address(to).map(Some),
                };
                match (to, port(p), port(tp), address(target)) {
                    (Some(to), Some(port), Some(target_port), Some(target)) => {
                        Some(AnchorRule::Rdr {
                            inet6,
                            interface: iface.to_string(),
                            proto: proto.to_string(),
                            to,
                            port,
                            target,
                            target_port,
                        })
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        rules.push(rule.ok_or_else(|| syntax_error(file, n + 1))?);
    }
    Ok(rules)
}

fn nft_table(anchor: &str) -> String {
    format!(
        "thinjail_{}",
        anchor
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>()
    )
}

impl AnchorRule {
    /// The rule as `pfctl -s nat` prints it (`print_rule` in
    /// `sbin/pfctl/pfctl_parser.c`): a single port as `port = N`, and the
    /// `round-robin` pool pf gives a translation to an interface's addresses.
    pub fn printed(&self) -> String {
        match self {
            AnchorRule::Nat { interface, from } => {
                format!("nat on {interface} inet from {from} to any -> ({interface}) round-robin")
            }
            AnchorRule::Rdr {
                inet6,
                interface,
                proto,
                to,
                port,
                target,
                target_port,
            } => format!(
                "rdr on {interface} {} proto {proto} from any to {} port = {port} -> {target} port {target_port}",
                if *inet6 { "inet6" } else { "inet" },
                to.clone().unwrap_or_else(|| format!("({interface})"))
            ),
        }
    }
}

/// The nftables script that replaces the anchor's table with `rules`. Each rule
/// carries, as its comment, the rule as pfctl prints it (what `-s nat` reads
/// back); the kinds pf.conf does not reach are kept in a chain no hook calls (pf
/// holds them in the anchor, but never evaluates them).
pub fn nft_script(anchor: &str, rules: &[AnchorRule], pf_conf: &str) -> String {
    let missing = missing_pf_conf_lines(pf_conf);
    let nat_reached = !missing.contains(&PF_CONF_LINES[0]);
    let rdr_reached = !missing.contains(&PF_CONF_LINES[1]);
    let table = nft_table(anchor);
    let mut pre = String::new();
    let mut post = String::new();
    let mut unreached = String::new();
    for rule in rules {
        let comment = format!("comment \"{}\"", rule.printed());
        match rule {
            AnchorRule::Nat { interface, from } if nat_reached => {
                post.push_str(&format!(
                    "    oifname \"{interface}\" ip saddr {from} masquerade {comment}\n"
                ));
            }
            AnchorRule::Rdr {
                inet6,
                interface,
                proto,
                to,
                port,
                target,
                target_port,
            } if rdr_reached => {
                let (family, dest) = match (inet6, to) {
                    (true, Some(addr)) => ("ip6", format!("ip6 daddr {addr}")),
                    (false, Some(addr)) => ("ip", format!("ip daddr {addr}")),
                    (_, None) => ("ip", "meta nfproto ipv4 fib daddr type local".to_string()),
                };
                let target = if *inet6 {
                    format!("[{target}]")
                } else {
                    target.clone()
                };
                pre.push_str(&format!(
                    "    iifname \"{interface}\" {dest} {proto} dport {port} dnat {family} to {target}:{target_port} {comment}\n"
                ));
            }
            _ => unreached.push_str(&format!("    counter {comment}\n")),
        }
    }
    format!(
        "table inet {table} {{}}\ndelete table inet {table}\ntable inet {table} {{\n  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n{pre}  }}\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n{post}  }}\n  chain unreached {{\n{unreached}  }}\n}}\n"
    )
}

fn nft(bed: &NetBed, script: &str) -> Result<(), HostError> {
    let mut child = Command::new("nsenter")
        .arg(format!("--net={NETNS_DIR}/{}", bed.host_ns()))
        .args(["nft", "-f", "-"])
        .env_clear()
        .env("PATH", "/sbin:/bin:/usr/sbin:/usr/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HostError::Spawn {
            command: "nft -f -".into(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| HostError::io("write to nft", e))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| HostError::io("wait for nft", e))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(HostError::CommandFailed {
            command: "nft -f -".into(),
            status: output.status.to_string(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// `pfctl -a ANCHOR -s nat` (with `-P` when `numeric`): the anchor's rules as
/// pfctl prints them, nat rules first, then rdr (`pfctl_show_nat` asks for
/// `PF_NAT`, then `PF_RDR`), ports named as [`name_ports`] says unless `numeric`.
/// An anchor that does not exist prints nothing: pfctl warns on stderr ("pfctl:
/// DIOCGETRULES: Invalid argument") and still exits 0, since `main` ignores
/// `pfctl_show_nat`'s result (`sbin/pfctl/pfctl.c`); the stand-in, called in
/// process, returns no rule.
pub fn show_nat(bed: &NetBed, anchor: &str, numeric: bool) -> Result<Vec<String>, HostError> {
    let table = nft_table(anchor);
    let output = Command::new("nsenter")
        .arg(format!("--net={NETNS_DIR}/{}", bed.host_ns()))
        .args(["nft", "list", "table", "inet", &table])
        .env_clear()
        .env("PATH", "/sbin:/bin:/usr/sbin:/usr/bin")
        .output()
        .map_err(|source| HostError::Spawn {
            command: "nft list table".into(),
            source,
        })?;
    if !output.status.success() {
        // No such table: no such anchor.
        return Ok(Vec::new());
    }
    let listing = String::from_utf8_lossy(&output.stdout);
    let printed: Vec<String> = listing
        .lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once("comment \"")?;
            Some(rest.strip_suffix('"').unwrap_or(rest).to_string())
        })
        .collect();
    let (mut nat, rdr): (Vec<String>, Vec<String>) =
        printed.into_iter().partition(|l| l.starts_with("nat "));
    nat.extend(rdr);
    if numeric {
        return Ok(nat);
    }
    let services = std::fs::read_to_string("/etc/services").unwrap_or_default();
    Ok(nat.iter().map(|rule| name_ports(rule, &services)).collect())
}

/// A printed rule as pfctl prints it without `-P`: the port after `port =` by its
/// name for the rule's protocol in `services` (an `/etc/services` text), as
/// `print_port` does with `getservbyport`; a port it does not name stays a number.
/// The redirection's own `port N` is always a number (`print_pool`).
pub fn name_ports(rule: &str, services: &str) -> String {
    let words: Vec<&str> = rule.split(' ').collect();
    let proto = words
        .windows(2)
        .find(|w| w[0] == "proto")
        .map(|w| w[1])
        .unwrap_or("");
    let mut out: Vec<String> = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let after_equals = i >= 2 && words[i - 1] == "=" && words[i - 2] == "port";
        let name = after_equals
            .then(|| service_name(services, word, proto))
            .flatten();
        out.push(name.unwrap_or_else(|| word.to_string()));
    }
    out.join(" ")
}

/// The first name `services` gives `port`/`proto`.
fn service_name(services: &str, port: &str, proto: &str) -> Option<String> {
    let wanted = format!("{port}/{proto}");
    services.lines().find_map(|line| {
        let mut fields = line.split('#').next()?.split_whitespace();
        let name = fields.next()?;
        (fields.next()? == wanted).then(|| name.to_string())
    })
}

/// What observing pf finds (`pfctl -s info`, `pfctl -a thinjail/jails -s nat`):
/// pf absent (as when `/dev/pf` cannot be opened) outside a test's namespace,
/// else enabled, with the anchor's rules as [`show_nat`] lists them.
pub fn observe() -> Result<ObservedPf, HostError> {
    let Ok(bed) = NetBed::from_env() else {
        return Ok(ObservedPf {
            status: PfStatus::Absent,
            loaded: Vec::new(),
        });
    };
    let status = parse_status(STATUS_LINE);
    // What observation runs: `pfctl [-P] -a ANCHOR -s nat`.
    let argv = SHOW_ANCHOR_RULES;
    let numeric = argv.contains(&"-P");
    let anchor = argv
        .windows(2)
        .find(|w| w[0] == "-a")
        .map_or(PF_ANCHOR, |w| w[1]);
    let loaded = show_nat(&bed, anchor, numeric)?;
    Ok(ObservedPf { status, loaded })
}

/// `pfctl -s info`'s first line: pf runs in every test namespace (the stand-in
/// cannot disable it).
pub const STATUS_LINE: &str = "Status: Enabled for 0 days 00:00:00           Debug: Urgent";

/// `pfctl ARGS` (the words after the program) for thinjail's anchor: `-a ANCHOR
/// -f FILE` or `-a ANCHOR -F nat`; `pf_conf` is the system's `/etc/pf.conf` on this
/// host.
pub fn pfctl(bed: &NetBed, args: &[String], pf_conf: &Path) -> Result<(), HostError> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["-a", anchor, "-f", file] => {
            let text = std::fs::read_to_string(file).map_err(|e| HostError::CommandFailed {
                command: format!("pfctl -a {anchor} -f {file}"),
                status: "exit status: 1".into(),
                stdout: String::new(),
                stderr: format!("pfctl: {file}: {e}\n"),
            })?;
            let rules = parse_anchor(&text, file)?;
            let main = std::fs::read_to_string(pf_conf).unwrap_or_default();
            nft(bed, &nft_script(anchor, &rules, &main))
        }
        ["-a", anchor, "-F", "nat"] => {
            let table = nft_table(anchor);
            nft(
                bed,
                &format!("table inet {table} {{}}\ndelete table inet {table}\n"),
            )
        }
        _ => Err(HostError::Unsupported(format!(
            "the test bed's pfctl cannot do `pfctl {}`",
            words.join(" ")
        ))),
    }
}

/// The nftables tables thinjail's anchors have in the namespace (to check that
/// nothing is left).
pub fn tables(bed: &NetBed) -> Result<Vec<String>, HostError> {
    let output = Command::new("nsenter")
        .arg(format!("--net={NETNS_DIR}/{}", bed.host_ns()))
        .args(["nft", "list", "tables"])
        .output()
        .map_err(|source| HostError::Spawn {
            command: "nft list tables".into(),
            source,
        })?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("table inet "))
        .filter(|t| t.starts_with("thinjail_"))
        .map(String::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use thinjail_core::network::{pf_anchor_rules, Forward, Nat, Pf, Proto};

    #[test]
    fn without_p_a_matched_port_is_printed_by_its_service_name() {
        let services =
            "# comment\nhttp\t\t80/tcp\t\twww\ndomain\t\t53/udp\nhttp-alt 8080/tcp webcache\n";
        assert_eq!(
            name_ports(
                "rdr on em0 inet proto tcp from any to (em0) port = 80 -> 10.0.0.2 port 80",
                services
            ),
            "rdr on em0 inet proto tcp from any to (em0) port = http -> 10.0.0.2 port 80"
        );
        assert_eq!(
            name_ports(
                "rdr on em0 inet proto udp from any to 192.0.2.1 port = 53 -> 10.0.0.3 port 5353",
                services
            ),
            "rdr on em0 inet proto udp from any to 192.0.2.1 port = domain -> 10.0.0.3 port 5353"
        );
        // Named for its protocol only; an unnamed port stays a number.
        let udp = "rdr on em0 inet proto udp from any to (em0) port = 80 -> 10.0.0.2 port 80";
        assert_eq!(name_ports(udp, services), udp);
        // What thinjail compares after normalising is then not the rule it wrote:
        // hence `-P` in what observation runs.
        assert!(SHOW_ANCHOR_RULES.contains(&"-P"));
        assert!(!thinjail_core::network::pf::loaded_matches(
            &[name_ports(
                "rdr on em0 inet proto tcp from any to (em0) port = 8080 -> 10.0.0.2 port 80",
                services
            )],
            "rdr on em0 inet proto tcp from any to (em0) port 8080 -> 10.0.0.2 port 80\n"
        ));
    }

    fn network() -> Pf {
        Pf {
            nat: vec![Nat {
                from: "10.0.0.0/24".into(),
                interface: "up0".into(),
            }],
            forwards: vec![Forward {
                proto: Proto::Tcp,
                interface: "up0".into(),
                address: None,
                port: 8080,
                jail: "www".into(),
                jail_port: Some(80),
            }],
            ..Pf::default()
        }
    }

    #[test]
    fn the_rendered_anchor_is_read_and_anything_else_refused() {
        let text = pf_anchor_rules(&network(), &|_| Some("10.0.0.2".into()));
        let rules = parse_anchor(&text, "anchor").unwrap();
        assert_eq!(rules.len(), 2);
        for bad in [
            "rdr pass on up0 inet proto tcp from any to (up0) port 80 -> 10.0.0.2 port 80",
            "nat on up0 inet from 10.0.0.0/24 to any -> (up1)",
            "pass in all",
        ] {
            let e = parse_anchor(bad, "anchor").unwrap_err();
            assert!(e.to_string().contains("syntax error"), "{e}");
        }
    }

    #[test]
    fn only_what_pf_conf_reaches_is_translated() {
        let rules = parse_anchor(
            &pf_anchor_rules(&network(), &|_| Some("10.0.0.2".into())),
            "a",
        )
        .unwrap();
        let both = nft_script(
            "thinjail/jails",
            &rules,
            "nat-anchor \"thinjail/*\"\nrdr-anchor \"thinjail/*\"\n",
        );
        assert!(
            both.contains("oifname \"up0\" ip saddr 10.0.0.0/24 masquerade"),
            "{both}"
        );
        assert!(
            both.contains(
                "iifname \"up0\" meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 10.0.0.2:80"
            ),
            "{both}"
        );
        let none = nft_script("thinjail/jails", &rules, "pass all\n");
        assert!(
            !none.contains("masquerade") && !none.contains("dnat"),
            "{none}"
        );
    }

    #[test]
    fn an_inet6_rdr_is_an_ip6_dnat_and_a_mixed_family_is_refused() {
        let rules = parse_anchor(
            "rdr on up0 inet6 proto tcp from any to fd81::1 port 8080 -> fd80::2 port 80\n",
            "a",
        )
        .unwrap();
        assert_eq!(
            rules[0].printed(),
            "rdr on up0 inet6 proto tcp from any to fd81::1 port = 8080 -> fd80::2 port 80"
        );
        let script = nft_script("thinjail/jails", &rules, "rdr-anchor \"thinjail/*\"\n");
        assert!(
            script.contains(
                "iifname \"up0\" ip6 daddr fd81::1 tcp dport 8080 dnat ip6 to [fd80::2]:80"
            ),
            "{script}"
        );
        for bad in [
            "rdr on up0 inet6 proto tcp from any to 192.0.2.1 port 8080 -> fd80::2 port 80\n",
            "rdr on up0 inet6 proto tcp from any to fd81::1 port 8080 -> 10.0.0.2 port 80\n",
            "rdr on up0 inet proto tcp from any to fd81::1 port 8080 -> 10.0.0.2 port 80\n",
            "rdr on up0 inet6 proto tcp from any to (up0) port 8080 -> fd80::2 port 80\n",
        ] {
            assert!(parse_anchor(bad, "a").is_err(), "{bad}");
        }
    }

    /// pfctl prints the addresses it holds with inet_ntop(3) (`print_addr`), not as
    /// the file spelled them: an anchor written otherwise never reads back equal.
    #[test]
    fn addresses_read_back_as_pfctl_prints_them() {
        let rules = parse_anchor(
            "rdr on up0 inet6 proto tcp from any to FD81:0:0::1 port 8080 -> fd80:0::0:2 port 80\n",
            "a",
        )
        .unwrap();
        assert_eq!(
            rules[0].printed(),
            "rdr on up0 inet6 proto tcp from any to fd81::1 port = 8080 -> fd80::2 port 80"
        );
    }

    #[test]
    fn rules_load_into_the_test_namespace_and_flush() {
        let ns = crate::netbed::TestNetns::new("p1").expect("needs root and iproute2");
        let bed = NetBed::new(ns.name()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("anchor");
        std::fs::write(
            &file,
            pf_anchor_rules(&network(), &|_| Some("10.0.0.2".into())),
        )
        .unwrap();
        let pf_conf = dir.path().join("pf.conf");
        std::fs::write(
            &pf_conf,
            "nat-anchor \"thinjail/*\"\nrdr-anchor \"thinjail/*\"\n",
        )
        .unwrap();
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let file_arg = file.display().to_string();
        pfctl(
            &bed,
            &args(&["-a", "thinjail/jails", "-f", &file_arg]),
            &pf_conf,
        )
        .expect("nft (scripts/test installs nftables)");
        // Loading again replaces, not adds.
        pfctl(
            &bed,
            &args(&["-a", "thinjail/jails", "-f", &file_arg]),
            &pf_conf,
        )
        .unwrap();
        assert_eq!(tables(&bed).unwrap(), ["thinjail_thinjail_jails"]);
        pfctl(
            &bed,
            &args(&["-a", "thinjail/jails", "-F", "nat"]),
            &pf_conf,
        )
        .unwrap();
        assert!(tables(&bed).unwrap().is_empty());
        // A flushed anchor is gone: nothing listed.
        assert!(show_nat(&bed, "thinjail/jails", true).unwrap().is_empty());
        // What pf.conf does not reach is still held in the anchor (and listed).
        std::fs::write(&pf_conf, "rdr-anchor \"thinjail/*\"\n").unwrap();
        pfctl(
            &bed,
            &args(&["-a", "thinjail/jails", "-f", &file_arg]),
            &pf_conf,
        )
        .unwrap();
        assert_eq!(
            show_nat(&bed, "thinjail/jails", true).unwrap(),
            [
                "nat on up0 inet from 10.0.0.0/24 to any -> (up0) round-robin",
                "rdr on up0 inet proto tcp from any to (up0) port = 8080 -> 10.0.0.2 port 80",
            ]
        );
        pfctl(
            &bed,
            &args(&["-a", "thinjail/jails", "-F", "nat"]),
            &pf_conf,
        )
        .unwrap();
        std::fs::write(&file, "pass in all\n").unwrap();
        assert!(pfctl(
            &bed,
            &args(&["-a", "thinjail/jails", "-f", &file_arg]),
            &pf_conf
        )
        .is_err());
        assert!(
            tables(&bed).unwrap().is_empty(),
            "nothing loaded on a syntax error"
        );
    }
}
