//! The test bed's devfs(8) and the kernel's devfs rulesets behind it: Linux has no
//! devfs rules, so the rulesets are recorded per test bed in `<state dir>/devfs.json`,
//! and a jail's `/dev` (a tmpfs the test bed fills) gets exactly the devices the
//! ruleset jail(8) mounts it with leaves visible ([`visible_devices`]).
//!
//! Written after (not copied from) `sbin/devfs/rule.c`, `sys/fs/devfs/devfs_rule.c`,
//! `usr.sbin/jail/command.c` and `sbin/devfs/devfs.rules`:
//!
//! - at "boot" (a test bed with no record yet) the kernel has FreeBSD's rulesets 1
//!   to 5 as rc.d/devfs loads them from `/etc/defaults/devfs.rules` (their rules
//!   for the devices the test bed makes, [`BOOT_RULESETS`]);
//! - `devfs rule -s N add [NUM] [path PATTERN] hide|unhide|include M`: appended,
//!   numbered 100 past the last rule (or NUM; a taken NUM fails `File exists`);
//!   `include` of a ruleset the kernel lacks fails `No such process` (ESRCH), as
//!   does any rule on ruleset 0 (`Invalid argument`); an unknown word fails
//!   `devfs rule: unknown argument: W`; each failure exits 1, on standard error, as
//!   `err(1, "ioctl DEVFSIO_RADD")` does;
//! - `devfs rule -s N delset` deletes every rule of N (none is no error), and a
//!   ruleset without rules is gone; `showsets` prints the numbers, `-s N show` the
//!   rules (`100 include 4`, `200 path bpf* unhide`);
//! - jail(8)'s `mount -t devfs -oruleset=N` (N the jail's `devfs_ruleset`, else 4):
//!   each device starts visible and goes through N's rules in order, `include`
//!   running the included ruleset's rules there; a ruleset the kernel lacks is made
//!   empty, so every device shows (the kernel's behaviour, not a kindness).
//!
//! **Not reproduced**: `type`, `user`, `group` and `mode` in rules, `apply`,
//! `applyset`, `del`, `ruleset` and `-m` other than `/dev` (each exits 1 saying the
//! test bed cannot, never succeeds); patterns know `*` and `?` only (thinjail's and
//! FreeBSD's default rules use no more); rules added after a devfs is mounted do not
//! change it (devfs applies a ruleset to nodes as they appear; the test bed's are
//! made at mount). The devices are `null`, `zero`, `random`, `urandom`, `tty` and a
//! `bpf` that is the test bed's stand-in (a node with `/dev/null`'s numbers: Linux
//! has no bpf; the test bed's dhclient only looks for it).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::freebsd_update::Outcome;
use crate::json_state;

/// The devices the test bed puts in a jail's `/dev`, with the Linux device
/// numbers of their nodes (`bpf`: `/dev/null`'s, a stand-in).
pub const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
    ("bpf", 1, 3),
];

/// FreeBSD's rulesets as rc.d/devfs loads them at boot, with the rules that
/// matter for [`DEVICES`] (the pty, fd and std* lines of ruleset 3 concern devices
/// the test bed does not make).
pub const BOOT_RULESETS: &[(u32, &[&str])] = &[
    (1, &["hide"]),
    (
        2,
        &[
            "path null unhide",
            "path zero unhide",
            "path crypto unhide",
            "path random unhide",
            "path urandom unhide",
        ],
    ),
    (
        3,
        &["path ptmx unhide", "path pts unhide", "path pts/* unhide"],
    ),
    (
        4,
        &[
            "include 1",
            "include 2",
            "include 3",
            "path fuse unhide",
            "path zfs unhide",
        ],
    ),
    (
        5,
        &[
            "include 1",
            "include 2",
            "include 3",
            "include 4",
            "path pf unhide",
        ],
    ),
];

/// One rule as the kernel keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Its number in the ruleset.
    pub number: u32,
    /// `path PATTERN`, if the rule has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What it does.
    pub action: RuleAction,
}

/// What a rule does to the devices it matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleAction {
    /// `hide`.
    Hide,
    /// `unhide`.
    Unhide,
    /// `include N`: ruleset N's rules, run here.
    Include(u32),
}

impl Rule {
    /// As `devfs rule show` prints it (`rulespec_outfp`: number, path, then the action).
    pub fn shown(&self) -> String {
        let mut line = self.number.to_string();
        if let Some(path) = &self.path {
            line.push_str(&format!(" path {path}"));
        }
        match self.action {
            RuleAction::Hide => line.push_str(" hide"),
            RuleAction::Unhide => line.push_str(" unhide"),
            RuleAction::Include(n) => line.push_str(&format!(" include {n}")),
        }
        line
    }
}

/// The kernel's rulesets, each with its rules in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevfsState {
    /// Ruleset number → rules (a ruleset with no rules is not kept).
    pub sets: BTreeMap<u32, Vec<Rule>>,
}

impl Default for DevfsState {
    /// As after boot: FreeBSD's rulesets 1 to 5.
    fn default() -> Self {
        let mut state = DevfsState {
            sets: BTreeMap::new(),
        };
        for (number, rules) in BOOT_RULESETS {
            for rule in *rules {
                let words: Vec<String> = rule.split_whitespace().map(String::from).collect();
                // The boot rules parse: a failure here is the test bed's own bug.
                if let Err(e) = state.add(*number, &words) {
                    panic!("the test bed's boot ruleset {number} ({rule}): {e}");
                }
            }
        }
        state
    }
}

const STATE_FILE: &str = "devfs.json";

impl DevfsState {
    /// The state kept in `state_dir` (the boot rulesets when there is none).
    pub fn load(state_dir: &Path) -> DevfsState {
        json_state::load(state_dir, STATE_FILE)
    }

    fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        json_state::save(self, state_dir, STATE_FILE)
    }

    /// Every ruleset with its rules as `devfs rule -s N show` prints them.
    pub fn listing(&self) -> BTreeMap<u32, Vec<String>> {
        self.sets
            .iter()
            .map(|(n, rules)| (*n, rules.iter().map(Rule::shown).collect()))
            .collect()
    }

    /// `devfs rule -s SET add WORDS…`, or the message devfs(8) fails with.
    fn add(&mut self, set: u32, words: &[String]) -> Result<(), String> {
        let mut rest = words;
        let mut number = None;
        if let Some(first) = rest.first() {
            if let Ok(n) = first.parse::<u32>() {
                number = Some(n);
                rest = &rest[1..];
            }
        }
        let mut path = None;
        let mut action = None;
        while let Some(word) = rest.first() {
            let argument = || {
                rest.get(1)
                    .cloned()
                    .ok_or(format!("devfs rule: expecting argument for {word}"))
            };
            match word.as_str() {
                "path" => {
                    path = Some(argument()?);
                    rest = &rest[2..];
                }
                "hide" | "unhide" => {
                    action = Some(if word == "hide" {
                        RuleAction::Hide
                    } else {
                        RuleAction::Unhide
                    });
                    rest = &rest[1..];
                }
                "include" => {
                    let n = argument()?;
                    let n = n
                        .parse::<u32>()
                        .map_err(|_| format!("devfs rule: error converting to integer: {n}"))?;
                    action = Some(RuleAction::Include(n));
                    rest = &rest[2..];
                }
                "type" | "user" | "group" | "mode" => {
                    return Err(format!(
                        "devfs rule: {word}: not reproduced by the test bed"
                    ))
                }
                other => return Err(format!("devfs rule: unknown argument: {other}")),
            }
        }
        let Some(action) = action else {
            return Err("devfs rule: ioctl DEVFSIO_RADD: Invalid argument".into());
        };
        if set == 0 {
            return Err("devfs rule: ioctl DEVFSIO_RADD: Invalid argument".into());
        }
        if let RuleAction::Include(n) = action {
            if !self.sets.contains_key(&n) || n == set {
                return Err("devfs rule: ioctl DEVFSIO_RADD: No such process".into());
            }
        }
        let rules = self.sets.entry(set).or_default();
        let number = match number {
            Some(n) if rules.iter().any(|r| r.number == n) => {
                return Err("devfs rule: ioctl DEVFSIO_RADD: File exists".into())
            }
            Some(n) => n,
            None => rules.iter().map(|r| r.number).max().unwrap_or(0) + 100,
        };
        rules.push(Rule {
            number,
            path,
            action,
        });
        rules.sort_by_key(|r| r.number);
        Ok(())
    }

    /// Whether `device` is visible after ruleset `set`'s rules (`visible` before).
    fn run_rules(&self, set: u32, device: &str, mut visible: bool, depth: u32) -> bool {
        let Some(rules) = self.sets.get(&set) else {
            return visible;
        };
        for rule in rules {
            if let Some(pattern) = &rule.path {
                if !glob(pattern, device) {
                    continue;
                }
            }
            match rule.action {
                RuleAction::Hide => visible = false,
                RuleAction::Unhide => visible = true,
                // The kernel refuses include cycles when rules are added.
                RuleAction::Include(n) if depth < 16 => {
                    visible = self.run_rules(n, device, visible, depth + 1)
                }
                RuleAction::Include(_) => {}
            }
        }
        visible
    }
}

/// `*` (any run of characters but `/`) and `?` (one character but `/`), the rest
/// literal: fnmatch(3) with `FNM_PATHNAME` for the patterns devfs rules use.
fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != '/')
                .any(|i| go(&p[1..], &n[i..])),
            Some('?') => n.first().is_some_and(|c| *c != '/') && go(&p[1..], &n[1..]),
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// The devices of [`DEVICES`] a devfs mounted with ruleset `set` shows, as recorded
/// in `state_dir`.
pub fn visible_devices(state_dir: &Path, set: u32) -> Vec<(&'static str, u64, u64)> {
    let state = DevfsState::load(state_dir);
    DEVICES
        .iter()
        .copied()
        .filter(|(name, _, _)| state.run_rules(set, name, true, 0))
        .collect()
}

fn fail(message: String) -> Outcome {
    Outcome {
        code: 1,
        stdout: String::new(),
        stderr: format!("{message}\n"),
    }
}

/// `devfs [-m /dev] rule [-s N] add|delset|show|showsets …` against the rulesets in
/// `state_dir`.
pub fn run(state_dir: &Path, words: &[String]) -> Outcome {
    let mut rest = words.get(1..).unwrap_or_default();
    if rest.first().map(String::as_str) == Some("-m") {
        if rest.get(1).map(String::as_str) != Some("/dev") {
            return fail("devfs: -m other than /dev is not reproduced by the test bed".into());
        }
        rest = &rest[2..];
    }
    if rest.first().map(String::as_str) != Some("rule") {
        return fail(format!(
            "devfs: {}: not reproduced by the test bed",
            rest.first().map_or("", String::as_str)
        ));
    }
    rest = &rest[1..];
    let mut set = 0;
    if rest.first().map(String::as_str) == Some("-s") {
        let Some(number) = rest.get(1) else {
            return fail("usage: devfs rule [-s ruleset] command".into());
        };
        match number.parse::<u32>() {
            Ok(n) if n <= u32::from(u16::MAX) => set = n,
            _ => return fail(format!("devfs rule: error converting to integer: {number}")),
        }
        rest = &rest[2..];
    }
    let mut state = DevfsState::load(state_dir);
    let outcome = match rest.first().map(String::as_str) {
        Some("add") if rest.len() >= 2 => match state.add(set, &rest[1..]) {
            Ok(()) => String::new(),
            Err(e) => return fail(e),
        },
        Some("delset") if rest.len() == 1 => {
            state.sets.remove(&set);
            String::new()
        }
        Some("show") if rest.len() == 1 => state
            .sets
            .get(&set)
            .map(|rules| rules.iter().map(|r| format!("{}\n", r.shown())).collect())
            .unwrap_or_default(),
        Some("showsets") if rest.len() == 1 => {
            state.sets.keys().map(|n| format!("{n}\n")).collect()
        }
        Some(command @ ("apply" | "applyset" | "del")) => {
            return fail(format!(
                "devfs rule: {command}: not reproduced by the test bed"
            ))
        }
        Some(command) if !["add", "delset", "show", "showsets"].contains(&command) => {
            return fail(format!("devfs rule: unknown command: {command}"))
        }
        _ => return fail("usage: devfs rule [-s ruleset] command".into()),
    };
    if let Err(e) = state.save(state_dir) {
        return fail(format!("devfs rule: the test bed's record: {e}"));
    }
    Outcome {
        code: 0,
        stdout: outcome,
        stderr: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devfs(dir: &Path, line: &str) -> Outcome {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        run(dir, &words)
    }

    #[test]
    fn ruleset_4_hides_bpf_and_tty_and_thinjails_ruleset_shows_bpf() {
        let dir = tempfile::tempdir().unwrap();
        let names = |set| -> Vec<&str> {
            visible_devices(dir.path(), set)
                .into_iter()
                .map(|(n, _, _)| n)
                .collect()
        };
        assert_eq!(names(4), ["null", "zero", "random", "urandom"]);
        assert_eq!(
            devfs(dir.path(), "devfs rule showsets").stdout,
            "1\n2\n3\n4\n5\n"
        );
        // A ruleset the kernel lacks is made empty: everything shows.
        assert_eq!(names(100).len(), DEVICES.len());
        for line in [
            "devfs rule -s 100 delset",
            "devfs rule -s 100 add include 4",
            "devfs rule -s 100 add path bpf* unhide",
        ] {
            let out = devfs(dir.path(), line);
            assert_eq!(out.code, 0, "{line}: {}", out.stderr);
        }
        assert_eq!(names(100), ["null", "zero", "random", "urandom", "bpf"]);
        assert_eq!(
            devfs(dir.path(), "devfs rule -s 100 show").stdout,
            "100 include 4\n200 path bpf* unhide\n"
        );
        assert_eq!(devfs(dir.path(), "devfs rule -s 100 delset").code, 0);
        assert_eq!(devfs(dir.path(), "devfs rule -s 100 delset").code, 0);
        assert_eq!(
            devfs(dir.path(), "devfs rule showsets").stdout,
            "1\n2\n3\n4\n5\n"
        );
    }

    #[test]
    fn bad_rules_fail_like_devfs_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for (line, message) in [
            (
                "devfs rule -s 100 add include 99",
                "devfs rule: ioctl DEVFSIO_RADD: No such process\n",
            ),
            (
                "devfs rule -s 100 add path bpf* show",
                "devfs rule: unknown argument: show\n",
            ),
            (
                "devfs rule add path bpf* unhide",
                "devfs rule: ioctl DEVFSIO_RADD: Invalid argument\n",
            ),
            (
                "devfs rule -s 100 frob",
                "devfs rule: unknown command: frob\n",
            ),
        ] {
            let out = devfs(dir.path(), line);
            assert_eq!((out.code, out.stderr.as_str()), (1, message), "{line}");
        }
        assert_eq!(devfs(dir.path(), "devfs rule -s 100 show").stdout, "");
        assert_eq!(devfs(dir.path(), "devfs rule -s 4 add 100 hide").code, 1);
    }

    #[test]
    fn globs_stop_at_slashes() {
        assert!(glob("bpf*", "bpf"));
        assert!(glob("bpf*", "bpf0"));
        assert!(!glob("bpf*", "bp"));
        assert!(!glob("pts*", "pts/1"));
        assert!(glob("pts/*", "pts/1"));
        assert!(glob("tty?", "ttyp"));
    }
}
