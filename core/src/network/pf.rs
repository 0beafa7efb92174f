//! pf(4) as thinjail uses it: what pf.conf(5) must say so that thinjail's anchor
//! counts and comes back at boot, and reading what the kernel has loaded.
//!
//! Read in `freebsd/freebsd-src`:
//! - `sbin/pfctl/pfctl.c`: `pfctl -a ANCHOR -f FILE` parses FILE and replaces the
//!   anchor's rules in one transaction (a syntax error loads nothing, exit 1, the
//!   messages on stderr); `-a ANCHOR -F nat` flushes it ([`FLUSH_FLAG`]; pf then
//!   removes the empty ruleset). `pfctl -a ANCHOR -s nat` prints the anchor's nat
//!   rules, then rdr, then binat (`pfctl_show_nat`), one a line as `print_rule`
//!   writes them, ports as numbers with `-P` ([`SHOW_ANCHOR_RULES`]); for an anchor that
//!   does not exist `DIOCGETRULES` fails (`EINVAL`): pfctl warns on stderr
//!   ("pfctl: DIOCGETRULES: Invalid argument") and prints nothing, and `main`
//!   ignores `pfctl_show_nat`'s result, so the exit status stays 0 (an older
//!   pfctl's failure with that message is read the same way). `pfctl -s info` starts with `Status: Enabled` or `Status:
//!   Disabled`; without pf in the kernel `/dev/pf` cannot be opened and every pfctl
//!   fails.
//! - `pfctl.c`'s `pfctl_rules`: `load anchor NAME from FILE` lines in pf.conf are
//!   loaded with the main ruleset, in the same transaction (a missing FILE fails the
//!   whole pf.conf). `libexec/rc/rc.d/pf` loads `pf_rules` (`/etc/pf.conf`) at boot
//!   and nothing else: an anchor loaded with `pfctl -a` alone is gone after a
//!   reboot. Hence the third line of [`required_pf_conf_lines`].
//! - pf.conf(5): the rules of an anchor are evaluated only where the main ruleset
//!   calls it, `nat-anchor "thinjail/*"` for `nat`, `rdr-anchor "thinjail/*"` for
//!   `rdr`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{missing_pf_conf_lines, pf_conf_statement, PF_ANCHOR, PF_CONF_LINES};

/// pfctl(8).
pub const PFCTL: &str = "/sbin/pfctl";

/// How observation reads the anchor's rules: `pfctl -P -a thinjail/jails -s nat`.
/// `-P` prints ports as numbers. Without it `print_port` (`pfctl_parser.c`) names
/// a port the host's `/etc/services` knows (`port = domain` for 53, `port = http`
/// for 80), which never reads as the rule thinjail wrote: every apply would reload
/// the anchor.
pub const SHOW_ANCHOR_RULES: [&str; 6] = [PFCTL, "-P", "-a", PF_ANCHOR, "-s", "nat"];

/// What `pfctl -a ANCHOR -F` flushes to empty thinjail's anchor: `nat`, the nat,
/// binat and rdr rules (`pfctl_clear_nat`), all thinjail loads into it. Not `all`:
/// that also clears the anchor's tables, and `pfr_clr_tables` fails (`ENOENT`,
/// "Anchor does not exist", exit 1) for an anchor that does not exist — which an
/// anchor of translation rules only is once they are flushed, or before it was
/// ever loaded.
pub const FLUSH_FLAG: &str = "nat";

/// The pf.conf(5) rc.d/pf loads at boot (rc.conf's `pf_rules` default), below the
/// system's root.
pub fn pf_conf_path(system_root: &Path) -> PathBuf {
    system_root.join("etc/pf.conf")
}

/// The pf.conf line that loads thinjail's anchor file with the main ruleset (at
/// boot and at every `service pf reload`).
pub fn load_anchor_line(anchor_file: &Path) -> String {
    format!(
        "load anchor \"{PF_ANCHOR}\" from \"{}\"",
        anchor_file.display()
    )
}

/// Every line pf.conf must have for thinjail's NAT and forwards to work now and
/// after a reboot: [`PF_CONF_LINES`] and [`load_anchor_line`].
pub fn required_pf_conf_lines(anchor_file: &Path) -> Vec<String> {
    let mut lines: Vec<String> = PF_CONF_LINES.iter().map(|l| l.to_string()).collect();
    lines.push(load_anchor_line(anchor_file));
    lines
}

/// The lines of [`required_pf_conf_lines`] a pf.conf text lacks (comments cut,
/// blanks collapsed).
pub fn missing_lines(pf_conf: &str, anchor_file: &Path) -> Vec<String> {
    let mut missing: Vec<String> = missing_pf_conf_lines(pf_conf)
        .into_iter()
        .map(String::from)
        .collect();
    if !names_anchor_file(pf_conf, anchor_file) {
        missing.push(load_anchor_line(anchor_file));
    }
    missing
}

/// Whether pf.conf loads `anchor_file` (a `load anchor` line for thinjail's
/// anchor): if so, the file must exist, or pf.conf fails to load as a whole.
pub fn names_anchor_file(pf_conf: &str, anchor_file: &Path) -> bool {
    let wanted = load_anchor_line(anchor_file);
    pf_conf
        .lines()
        .any(|line| pf_conf_statement(line) == wanted)
}

/// Whether pf runs (`pfctl -s info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PfStatus {
    /// `Status: Enabled`.
    Enabled,
    /// `Status: Disabled` (`pfctl -e` or `service pf start` enables it).
    Disabled,
    /// pfctl could not talk to pf (`/dev/pf` missing: pf.ko not loaded).
    Absent,
}

/// What the kernel's pf holds for thinjail: whether it runs, and the rules of
/// [`PF_ANCHOR`] as `pfctl -P -a thinjail/jails -s nat` prints them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedPf {
    /// Whether pf runs.
    pub status: PfStatus,
    /// The anchor's translation rules, one a line (empty when the anchor does not
    /// exist).
    pub loaded: Vec<String>,
}

/// The status `pfctl -s info` prints on its first lines.
pub fn parse_status(info: &str) -> PfStatus {
    for line in info.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"Status:") {
            return match words.get(1) {
                Some(&"Enabled") => PfStatus::Enabled,
                _ => PfStatus::Disabled,
            };
        }
    }
    PfStatus::Disabled
}

/// Whether a failed `pfctl -a ANCHOR -s nat` only says the anchor does not exist
/// (today's pfctl warns so and exits 0; this reads a failure with it the same).
pub fn anchor_absent(stderr: &str) -> bool {
    stderr.contains("DIOCGETRULES: Invalid argument")
}

/// A rule as pfctl prints it, brought to the form thinjail writes: `port = N`
/// (pfctl's print of a single port) as `port N`, the `round-robin` pool option pf
/// gives a translation to `(IF)` dropped, blanks collapsed.
pub fn normalize_rule(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if words[i] == "port" && words.get(i + 1) == Some(&"=") {
            out.push("port");
            i += 2;
            continue;
        }
        if words[i] == "round-robin" {
            i += 1;
            continue;
        }
        out.push(words[i]);
        i += 1;
    }
    out.join(" ")
}

/// Whether the rules the kernel holds are exactly those of the anchor text
/// `rendered` (as [`super::pf_anchor_rules`] writes it), in order.
pub fn loaded_matches(loaded: &[String], rendered: &str) -> bool {
    let want: Vec<String> = rules_of(rendered);
    let have: Vec<String> = loaded
        .iter()
        .map(|l| normalize_rule(l))
        .filter(|l| !l.is_empty())
        .collect();
    want == have
}

/// The rules of an anchor text (comments and blank lines left out), normalized.
pub fn rules_of(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| normalize_rule(l.split('#').next().unwrap_or("")))
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pf_conf_needs_both_anchors_and_the_load_line() {
        let file = Path::new("/etc/pf.thinjail.conf");
        assert_eq!(
            missing_lines("pass all\n", file),
            [
                "nat-anchor \"thinjail/*\"",
                "rdr-anchor \"thinjail/*\"",
                "load anchor \"thinjail/jails\" from \"/etc/pf.thinjail.conf\"",
            ]
        );
        let good = "nat-anchor \"thinjail/*\"\nrdr-anchor \"thinjail/*\"\n\
                    load  anchor \"thinjail/jails\" from \"/etc/pf.thinjail.conf\" # ours\n";
        assert!(missing_lines(good, file).is_empty());
        assert!(!names_anchor_file(good, Path::new("/etc/other")));
        assert!(!names_anchor_file(
            "# load anchor \"thinjail/jails\" from \"/etc/pf.thinjail.conf\"\n",
            file
        ));
    }

    #[test]
    fn status_and_loaded_rules_read_as_pfctl_prints_them() {
        assert_eq!(
            parse_status("Status: Enabled for 0 days 00:01:02           Debug: Urgent\n"),
            PfStatus::Enabled
        );
        assert_eq!(
            parse_status("Status: Disabled for 0 days\n"),
            PfStatus::Disabled
        );
        let rendered = "# comment\nnat on em0 inet from 10.0.0.0/24 to any -> (em0)\n\
                        rdr on em0 inet proto tcp from any to (em0) port 8080 -> 10.0.0.2 port 80\n";
        let printed = [
            "nat on em0 inet from 10.0.0.0/24 to any -> (em0) round-robin".to_string(),
            "rdr on em0 inet proto tcp from any to (em0) port = 8080 -> 10.0.0.2 port 80"
                .to_string(),
        ];
        assert!(loaded_matches(&printed, rendered));
        assert!(!loaded_matches(&printed[..1], rendered), "a rule missing");
        assert!(!loaded_matches(&[], rendered));
        assert!(loaded_matches(&[], "# nothing\n"));
        let other = [printed[0].clone(), printed[1].replace("8080", "8081")];
        assert!(!loaded_matches(&other, rendered));
        assert!(anchor_absent("pfctl: DIOCGETRULES: Invalid argument\n"));
    }
}
