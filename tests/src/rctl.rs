//! The test bed's rctl(8) and the kernel's rule table behind it: Linux has no
//! RACCT/RCTL, so the rules are recorded per test bed in `<state dir>/rctl.json`,
//! and every command line is read and judged as FreeBSD's would be.
//!
//! Written after (not copied from) `usr.bin/rctl/rctl.c`, `sys/kern/kern_rctl.c`
//! and `racct_types` in `sys/kern/kern_racct.c`:
//!
//! - options as `getopt("ahlnru")` reads them; more than one of `-a -l -r -u` exits 1
//!   with `rctl: at most one of -a, -l, -r, or -u may be specified`; an unknown
//!   option prints getopt's `rctl: illegal option -- X` and the usage (exit 1);
//!   no argument shows every rule;
//! - each rule or filter expanded as `expand_rule` does: subject aliases (`u`, `g`,
//!   `p`, `l`, `c`, `class`, `j`, any case), user and group names resolved to ids
//!   (from this host's `/etc/passwd` and `/etc/group`; not with `-a -n`), `missing
//!   subject` when there is no second field, and the amount expanded with
//!   expand_number(3) as libutil has it since 13.0 — `strtoumax` in base 0 (so hex,
//!   octal, a sign and leading blanks are taken), then only the first character
//!   after the number is looked at (`b`, `k` … `e`, any case; `1kxyz` is 1024) —
//!   `malformed rule 'R': invalid numeric value 'A'` otherwise; each failure counted;
//! - the kernel's reading (`rctl_string_to_rule`): subject, resource, action and per
//!   names without case, ids with `strtoul` in base 10 over the whole text, amounts
//!   past `INT64_MAX` (or past `INT64_MAX / 1000000` for `cputime`, `wallclock`,
//!   `pcpu`) refused with `ERANGE`, a jail or login class name of 256 bytes or more
//!   with `ENAMETOOLONG`; a rule on a jail that does not exist is accepted (the kernel
//!   keeps rules by name); `-a` needs a fully specified rule (`/per` defaults to the
//!   subject) and refuses what `rctl_rule_add` refuses (`EOPNOTSUPP`); an added rule
//!   first removes the same rule, or for `deny` the same rule with any amount; `-r`
//!   removes every matching rule and fails with `ESRCH` when none matched; failures
//!   print `rctl: failed to add rule 'R': Invalid argument` (and the like) on
//!   standard error; the exit status is the number of arguments that failed;
//! - `kern.racct.enable` (FreeBSD's default, 0, unless [`set_racct`] says otherwise):
//!   with RACCT disabled, every operation exits 1 with `rctl: RACCT/RCTL present, but
//!   disabled; enable using kern.racct.enable=1 tunable` — at once, as `enosys()`
//!   does;
//! - rules print as `rctl_rule_to_sbuf` prints them (`/per` only when it differs from
//!   the subject), user ids as names unless `-n`.
//!
//! **Not reproduced**: enforcement (nothing is counted or limited on Linux);
//! process subjects (a rule on `process:PID` fails with `ESRCH`, as for a process
//! that does not exist); `-h` (humanized amounts), `-l` and `-u` exit 1 with a
//! message saying the test bed cannot show them — refusing is never kinder; the
//! order of rules of different subjects in a listing (the kernel walks hash
//! tables; here: login classes, users, jails, each newest first).

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thinjail_core::resources::rctl::{Per, Resource, RuleAction};

use crate::freebsd_update::Outcome;
use crate::json_state;

/// The kernel's side: whether RACCT is on, and the rules, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RctlState {
    /// `kern.racct.enable` (a loader tunable on FreeBSD, off by default).
    #[serde(default)]
    pub racct_enable: bool,
    /// Every rule, as the kernel prints it, oldest first.
    #[serde(default)]
    pub rules: Vec<String>,
}

impl RctlState {
    /// The state kept in `state_dir` (RACCT off and no rules when there is none).
    pub fn load(state_dir: &Path) -> RctlState {
        json_state::load(state_dir, "rctl.json")
    }

    fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        json_state::save(self, state_dir, "rctl.json")
    }

    /// The rules on `jail:NAME`, as the kernel prints them.
    pub fn jail_rules(&self, jail: &str) -> Vec<String> {
        let prefix = format!("jail:{jail}:");
        self.rules
            .iter()
            .filter(|r| r.starts_with(&prefix))
            .cloned()
            .collect()
    }
}

/// Sets `kern.racct.enable` for the test bed in `state_dir` (on FreeBSD a loader
/// tunable: it takes a reboot).
pub fn set_racct(state_dir: &Path, enabled: bool) -> std::io::Result<()> {
    let mut state = RctlState::load(state_dir);
    state.racct_enable = enabled;
    state.save(state_dir)
}

const USAGE: &str = "usage: rctl [ -h ] [-a rule | -l filter | -r filter | -u filter | filter]\n";

/// A parsed rule or filter, as the kernel holds it (`None`: undefined).
#[derive(Clone, Debug, PartialEq, Eq)]
struct KernelRule {
    subject: Option<Per>,
    id: Option<String>,
    resource: Option<Resource>,
    action: Option<RuleAction>,
    /// The amount as given (the kernel multiplies some by a million and divides
    /// them back when printing; kept as given).
    amount: Option<u64>,
    per: Option<Per>,
}

impl KernelRule {
    fn print(&self) -> String {
        let subject = self.subject.unwrap_or(Per::Jail);
        let per = self.per.unwrap_or(subject);
        let mut out = format!(
            "{}:{}:{}:{}={}",
            subject.name(),
            self.id.as_deref().unwrap_or(""),
            self.resource.map(Resource::name).unwrap_or(""),
            self.action.as_ref().map(RuleAction::name).unwrap_or(""),
            self.amount.map(|a| a as i64).unwrap_or(-1)
        );
        if per != subject {
            out.push('/');
            out.push_str(per.name());
        }
        out
    }

    /// `rctl_rule_matches`: every field the filter defines must be equal.
    fn matches(&self, filter: &KernelRule) -> bool {
        (filter.subject.is_none() || filter.subject == self.subject)
            && (filter.id.is_none() || filter.id == self.id)
            && (filter.resource.is_none() || filter.resource == self.resource)
            && (filter.action.is_none() || filter.action == self.action)
            && (filter.amount.is_none() || filter.amount == self.amount)
            && (filter.per.is_none() || filter.per == self.per)
    }
}

/// What the kernel says to a call (an errno, by its FreeBSD strerror text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Errno {
    Inval,
    Range,
    NotSup,
    Srch,
    NameTooLong,
    TooBig,
}

impl Errno {
    fn text(self) -> &'static str {
        match self {
            Errno::Inval => "Invalid argument",
            Errno::Range => "Result too large",
            Errno::NotSup => "Operation not supported",
            Errno::Srch => "No such process",
            Errno::NameTooLong => "File name too long",
            Errno::TooBig => "Argument list too long",
        }
    }
}

/// `strsep(&s, delims)`: the text before the first delimiter, and what follows it
/// (`None` once the string is used up).
fn strsep<'a>(s: &mut Option<&'a str>, delims: &[char]) -> Option<&'a str> {
    let text = (*s)?;
    match text.find(delims) {
        Some(i) => {
            *s = Some(&text[i + 1..]);
            Some(&text[..i])
        }
        None => {
            *s = None;
            Some(text)
        }
    }
}

/// `strtoul(s, &end, 10)` with the whole text consumed, as `str2id`/`str2int64` want.
fn whole_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        // strtoul also takes blanks and a sign; rctl(8) never sends them (it
        // prints amounts with %ju), and ids with them are refused here.
        return None;
    }
    Some(text.parse::<u64>().unwrap_or(u64::MAX))
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// The kernel's `rctl_string_to_rule`.
fn kernel_parse(text: &str) -> Result<KernelRule, Errno> {
    if text.len() + 1 > 4096 {
        return Err(Errno::TooBig);
    }
    let mut rest = Some(text);
    let subject = strsep(&mut rest, &[':']);
    let id = strsep(&mut rest, &[':']);
    let resource = strsep(&mut rest, &[':']);
    let action = strsep(&mut rest, &['=', '/']);
    let amount = strsep(&mut rest, &['/']);
    let per = rest;
    let subject = match nonempty(subject) {
        None => None,
        Some(s) => Some(Per::from_name(s).ok_or(Errno::Inval)?),
    };
    let id = match nonempty(id) {
        None => None,
        Some(id) => {
            match subject {
                None => return Err(Errno::Inval),
                Some(Per::Process) => {
                    whole_decimal(id).ok_or(Errno::Inval)?;
                    // No process of the test bed is a FreeBSD process.
                    return Err(Errno::Srch);
                }
                Some(Per::User) => {
                    whole_decimal(id).ok_or(Errno::Inval)?;
                }
                Some(Per::Loginclass) | Some(Per::Jail) => {
                    if id.len() >= 256 {
                        return Err(Errno::NameTooLong);
                    }
                }
            }
            Some(id.to_string())
        }
    };
    let resource = match nonempty(resource) {
        None => None,
        Some(r) => Some(Resource::from_name(r).ok_or(Errno::Inval)?),
    };
    let action = match nonempty(action) {
        None => None,
        Some(a) => Some(RuleAction::from_name(a).ok_or(Errno::Inval)?),
    };
    let amount = match nonempty(amount) {
        None => None,
        Some(a) => {
            let value = whole_decimal(a).ok_or(Errno::Inval)?;
            if value > i64::MAX as u64 {
                return Err(Errno::Range);
            }
            if resource.is_some_and(Resource::in_millions) && value > i64::MAX as u64 / 1_000_000 {
                return Err(Errno::Range);
            }
            Some(value)
        }
    };
    let per = match nonempty(per) {
        None => None,
        Some(p) => Some(Per::from_name(p).ok_or(Errno::Inval)?),
    };
    Ok(KernelRule {
        subject,
        id,
        resource,
        action,
        amount,
        per,
    })
}

/// A rule of the table (printed without `/per` when per is the subject).
fn stored(printed: &str) -> Result<KernelRule, Errno> {
    let mut rule = kernel_parse(printed)?;
    if rule.per.is_none() {
        rule.per = rule.subject;
    }
    Ok(rule)
}

/// `rctl_rule_add`'s refusals of a fully specified rule.
fn kernel_refuses(rule: &KernelRule) -> Option<Errno> {
    let resource = rule.resource?;
    let action = rule.action.as_ref()?;
    if *action == RuleAction::Deny
        && !resource.deniable()
        && !matches!(resource, Resource::Memoryuse | Resource::Pcpu)
    {
        return Some(Errno::NotSup);
    }
    if *action == RuleAction::Throttle && (!resource.decaying() || resource == Resource::Pcpu) {
        return Some(Errno::NotSup);
    }
    if rule.per == Some(Per::Process) && resource.sloppy() {
        return Some(Errno::NotSup);
    }
    None
}

/// `strtoumax(text, &end, 0)`: leading blanks, a sign, `0x`/`0` prefixes; the value
/// (wrapped for a minus sign, saturated on overflow) and the unparsed rest, or `None`
/// when no digit was read.
fn strtoumax(text: &str) -> Option<(u64, &str)> {
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, unsigned) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let (radix, body) = if (unsigned.starts_with("0x") || unsigned.starts_with("0X"))
        && unsigned[2..].starts_with(|c: char| c.is_ascii_hexdigit())
    {
        (16, &unsigned[2..])
    } else if unsigned.starts_with('0') {
        (8, unsigned)
    } else {
        (10, unsigned)
    };
    let end = body
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(body.len());
    if end == 0 {
        return None;
    }
    let value = u64::from_str_radix(&body[..end], radix).unwrap_or(u64::MAX);
    let value = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    Some((value, &body[end..]))
}

/// expand_number(3): `Err(())` where it sets `EINVAL` or `ERANGE`.
fn expand_number(text: &str) -> Result<u64, ()> {
    let (number, rest) = strtoumax(text).ok_or(())?;
    let shift = match rest.chars().next().map(|c| c.to_ascii_lowercase()) {
        None | Some('b') => return Ok(number),
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        Some('e') => 60,
        Some(_) => return Err(()),
    };
    if (number << shift) >> shift != number {
        return Err(());
    }
    Ok(number << shift)
}

fn lookup_id(file: &str, name: &str) -> Option<u64> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name)
            .then(|| fields.nth(1)?.parse().ok())
            .flatten()
    })
}

fn lookup_name(file: &str, id: &str) -> Option<String> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 2 && fields[2] == id).then(|| fields[0].to_string())
    })
}

/// rctl(8)'s `expand_rule`: `Err` with the warning it prints.
fn expand_rule(rule: &str, resolve_ids: bool) -> Result<String, String> {
    let mut rest = Some(rule);
    let subject = strsep(&mut rest, &[':']).unwrap_or_default();
    let Some(textid) = strsep(&mut rest, &[':']) else {
        return Err(format!("malformed rule '{rule}': missing subject"));
    };
    let rest = rest.unwrap_or("");
    let lower = subject.to_ascii_lowercase();
    let subject = match lower.as_str() {
        "u" => "user",
        "g" => "group",
        "p" => "process",
        "l" | "c" | "class" => "loginclass",
        "j" => "jail",
        _ => subject,
    };
    let mut textid = textid.to_string();
    for (kind, file, what) in [
        ("user", "/etc/passwd", "user"),
        ("group", "/etc/group", "group"),
    ] {
        if resolve_ids && subject.eq_ignore_ascii_case(kind) && !textid.is_empty() {
            if let Some(id) = lookup_id(file, &textid) {
                textid = id.to_string();
            } else if !textid.starts_with(|c: char| c.is_ascii_digit()) {
                // rctl.c spells it "uknown".
                return Err(format!("malformed rule '{rule}': uknown {what} '{textid}'"));
            } else if !textid.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                return Err(format!(
                    "malformed rule '{rule}': trailing characters after numerical id"
                ));
            }
        }
    }
    let resolved = format!("{subject}:{textid}:{rest}");
    // expand_amount
    let mut parts = Some(resolved.as_str());
    let subject = strsep(&mut parts, &[':']).unwrap_or_default();
    let subject_id = strsep(&mut parts, &[':']).unwrap_or_default();
    let resource = strsep(&mut parts, &[':']).unwrap_or_default();
    let action = strsep(&mut parts, &['=', '/']).unwrap_or_default();
    let amount = strsep(&mut parts, &['/']);
    let per = parts;
    let Some(amount) = amount.filter(|a| !a.is_empty()) else {
        return Ok(resolved);
    };
    let number = expand_number(amount)
        .map_err(|()| format!("malformed rule '{rule}': invalid numeric value '{amount}'"))?;
    Ok(match per {
        None => format!("{subject}:{subject_id}:{resource}:{action}={number}"),
        Some(per) => format!("{subject}:{subject_id}:{resource}:{action}={number}/{per}"),
    })
}

fn humanize_ids(printed: &str) -> String {
    let mut parts = printed.splitn(3, ':');
    let (Some(subject), Some(id), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return printed.to_string();
    };
    let name = match subject {
        "user" => lookup_name("/etc/passwd", id),
        _ => None,
    };
    format!("{subject}:{}:{rest}", name.as_deref().unwrap_or(id))
}

/// Runs `argv` (`rctl …` or `/usr/bin/rctl …`) against the test bed's rule table in
/// `state_dir`.
pub fn run(state_dir: &Path, argv: &[String]) -> Outcome {
    let mut out = Outcome::default();
    let (mut a, mut h, mut l, mut n, mut r, mut u) = (false, false, false, false, false, false);
    let mut args = argv.iter().skip(1).peekable();
    while let Some(arg) = args.peek() {
        if arg.as_str() == "--" {
            args.next();
            break;
        }
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            break;
        };
        for flag in flags.chars() {
            match flag {
                'a' => a = true,
                'h' => h = true,
                'l' => l = true,
                'n' => n = true,
                'r' => r = true,
                'u' => u = true,
                other => {
                    out.stderr = format!("rctl: illegal option -- {other}\n{USAGE}");
                    out.code = 1;
                    return out;
                }
            }
        }
        args.next();
    }
    let operands: Vec<&String> = args.collect();
    if [a, l, r, u].iter().filter(|f| **f).count() > 1 {
        out.stderr = "rctl: at most one of -a, -l, -r, or -u may be specified\n".into();
        out.code = 1;
        return out;
    }
    if h || l || u {
        out.stderr =
            "rctl: the thinjail test bed does not reproduce -h, -l or -u (no accounting on Linux)\n"
                .into();
        out.code = 1;
        return out;
    }
    let mut state = RctlState::load(state_dir);
    let disabled =
        "rctl: RACCT/RCTL present, but disabled; enable using kern.racct.enable=1 tunable\n";
    if operands.is_empty() {
        if a || r {
            out.stderr = USAGE.into();
            out.code = 1;
            return out;
        }
        if !state.racct_enable {
            out.stderr = disabled.into();
            out.code = 1;
            return out;
        }
        show(&state, &KernelRule::default_filter(), n, &mut out);
        return out;
    }
    let mut failures = 0;
    for operand in operands {
        let expanded = match expand_rule(operand, !(a && n)) {
            Ok(expanded) => expanded,
            Err(warning) => {
                out.stderr.push_str(&format!("rctl: {warning}\n"));
                failures += 1;
                continue;
            }
        };
        if !state.racct_enable {
            out.stderr.push_str(disabled);
            out.code = 1;
            return out;
        }
        let result = kernel_parse(&expanded).and_then(|mut rule| {
            if a {
                if rule.per.is_none() && rule.subject.is_some() {
                    rule.per = rule.subject;
                }
                let complete = rule.subject.is_some()
                    && rule.id.is_some()
                    && rule.resource.is_some()
                    && rule.action.is_some()
                    && rule.amount.is_some()
                    && rule.per.is_some();
                if !complete {
                    return Err(Errno::Inval);
                }
                if let Some(errno) = kernel_refuses(&rule) {
                    return Err(errno);
                }
                let mut duplicate = rule.clone();
                if rule.action == Some(RuleAction::Deny) {
                    duplicate.amount = None;
                }
                state
                    .rules
                    .retain(|existing| stored(existing).map_or(true, |e| !e.matches(&duplicate)));
                state.rules.push(rule.print());
                Ok(())
            } else if r {
                let before = state.rules.len();
                state
                    .rules
                    .retain(|existing| stored(existing).map_or(true, |e| !e.matches(&rule)));
                if state.rules.len() == before {
                    return Err(Errno::Srch);
                }
                Ok(())
            } else {
                show(&state, &rule, n, &mut out);
                Ok(())
            }
        });
        if let Err(errno) = result {
            let what = if a {
                "failed to add rule"
            } else if r {
                "failed to remove rule"
            } else {
                "failed to show rules for"
            };
            out.stderr
                .push_str(&format!("rctl: {what} '{operand}': {}\n", errno.text()));
            failures += 1;
        }
    }
    if (a || r) && state.save(state_dir).is_err() {
        out.stderr
            .push_str("rctl: the test bed could not record its rules\n");
        failures += 1;
    }
    out.code = failures;
    out
}

impl KernelRule {
    fn default_filter() -> KernelRule {
        KernelRule {
            subject: None,
            id: None,
            resource: None,
            action: None,
            amount: None,
            per: None,
        }
    }
}

fn show(state: &RctlState, filter: &KernelRule, numeric: bool, out: &mut Outcome) {
    for subject in [Per::Loginclass, Per::User, Per::Jail, Per::Process] {
        for printed in state.rules.iter().rev() {
            let Ok(rule) = stored(printed) else {
                continue;
            };
            if rule.subject == Some(subject) && rule.matches(filter) {
                let line = if numeric {
                    printed.clone()
                } else {
                    humanize_ids(printed)
                };
                out.stdout.push_str(&line);
                out.stdout.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rctl(dir: &Path, args: &[&str]) -> Outcome {
        let mut argv = vec!["rctl".to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        run(dir, &argv)
    }

    #[test]
    fn racct_off_is_freebsds_default_and_refuses_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let out = rctl(dir.path(), &["-a", "jail:www:memoryuse:deny=1g"]);
        assert_eq!(out.code, 1);
        assert_eq!(
            out.stderr,
            "rctl: RACCT/RCTL present, but disabled; enable using kern.racct.enable=1 tunable\n"
        );
        assert!(RctlState::load(dir.path()).rules.is_empty());
    }

    #[test]
    fn rules_are_added_expanded_and_replaced_as_the_kernel_does() {
        let dir = tempfile::tempdir().unwrap();
        set_racct(dir.path(), true).unwrap();
        let out = rctl(
            dir.path(),
            &[
                "-a",
                "jail:www:memoryuse:deny=1g",
                "j:www:openfiles:log=0x10/process",
            ],
        );
        assert_eq!((out.code, out.stderr.as_str()), (0, ""));
        assert_eq!(
            RctlState::load(dir.path()).jail_rules("www"),
            [
                "jail:www:memoryuse:deny=1073741824",
                "jail:www:openfiles:log=16/process"
            ]
        );
        // A deny with another amount replaces the first; a log rule does not.
        assert_eq!(
            rctl(dir.path(), &["-a", "jail:www:memoryuse:deny=2g"]).code,
            0
        );
        assert_eq!(
            rctl(dir.path(), &["-a", "jail:www:openfiles:log=32/process"]).code,
            0
        );
        let out = rctl(dir.path(), &["jail:www"]);
        assert_eq!(
            out.stdout,
            "jail:www:openfiles:log=32/process\njail:www:memoryuse:deny=2147483648\n\
             jail:www:openfiles:log=16/process\n",
            "newest first"
        );
        // Exact removal; a filter that matches nothing is ESRCH.
        let out = rctl(dir.path(), &["-r", "jail:www:openfiles:log=16/process"]);
        assert_eq!(out.code, 0);
        let out = rctl(dir.path(), &["-r", "jail:www:openfiles:log=16/process"]);
        assert_eq!(out.code, 1);
        assert_eq!(
            out.stderr,
            "rctl: failed to remove rule 'jail:www:openfiles:log=16/process': No such process\n"
        );
        assert_eq!(RctlState::load(dir.path()).jail_rules("www").len(), 2);
    }

    #[test]
    fn malformed_rules_fail_like_rctl_and_count() {
        let dir = tempfile::tempdir().unwrap();
        set_racct(dir.path(), true).unwrap();
        let out = rctl(
            dir.path(),
            &[
                "-a",
                "jail",
                "jail:www:memoryuse:deny=1q",
                "jail:www:memory:deny=1",
                "jail:www:memoryuse:kill=1",
                "jail:www:cputime:deny=10",
                "jail:www:swapuse:deny=1/process",
                "jail:www:memoryuse:deny",
                "jail:www:pcpu:deny=9223372036855",
                "jail:www:maxproc:deny=10",
            ],
        );
        assert_eq!(out.code, 8, "{}", out.stderr);
        assert_eq!(
            out.stderr,
            "rctl: malformed rule 'jail': missing subject\n\
             rctl: malformed rule 'jail:www:memoryuse:deny=1q': invalid numeric value '1q'\n\
             rctl: failed to add rule 'jail:www:memory:deny=1': Invalid argument\n\
             rctl: failed to add rule 'jail:www:memoryuse:kill=1': Invalid argument\n\
             rctl: failed to add rule 'jail:www:cputime:deny=10': Operation not supported\n\
             rctl: failed to add rule 'jail:www:swapuse:deny=1/process': Operation not supported\n\
             rctl: failed to add rule 'jail:www:memoryuse:deny': Invalid argument\n\
             rctl: failed to add rule 'jail:www:pcpu:deny=9223372036855': Result too large\n"
        );
        assert_eq!(
            RctlState::load(dir.path()).rules,
            ["jail:www:maxproc:deny=10"],
            "the good rule of the batch went in"
        );
        // expand_number looks only at the first character after the number.
        assert_eq!(
            rctl(dir.path(), &["-a", "jail:db:maxproc:deny=1kxyz"]).code,
            0
        );
        assert_eq!(
            RctlState::load(dir.path()).jail_rules("db"),
            ["jail:db:maxproc:deny=1024"]
        );
        let out = rctl(dir.path(), &["-a", "-r", "jail:db"]);
        assert_eq!(out.code, 1);
        assert_eq!(
            out.stderr,
            "rctl: at most one of -a, -l, -r, or -u may be specified\n"
        );
        let out = rctl(dir.path(), &["-x"]);
        assert_eq!(out.code, 1);
        assert!(out
            .stderr
            .starts_with("rctl: illegal option -- x\nusage: rctl"));
    }
}
