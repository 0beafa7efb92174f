//! rctl(8) rules for a jail, as the kernel reads and prints them, and the exact
//! changes that bring a running jail's rules to the recipe's.
//!
//! Written from FreeBSD's sources (reference only): the rule grammar
//! `subject:subject-id:resource:action=amount/per` and the tables of subjects,
//! resources and actions are `rctl_string_to_rule`, `resourcenames` and
//! `actionnames` in `sys/kern/kern_rctl.c`; which resource may be denied, throttled
//! or limited per process is `racct_types` in `sys/kern/kern_racct.c` and the checks
//! of `rctl_rule_add` (a `deny` of a resource the kernel cannot deny, a `throttle` of
//! one that does not decay or of `pcpu`, a `/process` limit of a "sloppy" resource
//! are refused with `EOPNOTSUPP`); the printed form is `rctl_rule_to_sbuf` (`/per`
//! only when it differs from the subject, amounts of `cputime`, `wallclock` and
//! `pcpu` divided back from millions); `usr.bin/rctl/rctl.c` expands amounts with
//! expand_number(3) before the kernel sees them, which is why a recipe may write
//! `1g` and the kernel prints `1073741824`.
//!
//! A recipe limit is the rule without its subject: `memoryuse:deny=1g`,
//! `maxproc:deny=100`, `openfiles:log=1000/process`. thinjail writes each rule
//! expanded (`jail:www:memoryuse:deny=1073741824`), exactly as the kernel prints it
//! back, so what `rctl` shows compares equal to what the recipe wants.

use std::collections::BTreeSet;
use std::fmt;

/// A resource rctl(8) limits (`resourcenames` in `kern_rctl.c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// `cputime`: CPU time, in seconds.
    Cputime,
    /// `datasize`: data size, in bytes.
    Datasize,
    /// `stacksize`: stack size, in bytes.
    Stacksize,
    /// `coredumpsize`: core dump size, in bytes.
    Coredumpsize,
    /// `memoryuse`: resident set size, in bytes.
    Memoryuse,
    /// `memorylocked`: locked memory, in bytes.
    Memorylocked,
    /// `maxproc`: number of processes.
    Maxproc,
    /// `openfiles`: file descriptor table size.
    Openfiles,
    /// `vmemoryuse`: address space limit, in bytes.
    Vmemoryuse,
    /// `pseudoterminals`: number of PTYs.
    Pseudoterminals,
    /// `swapuse`: swap space that may be reserved or used, in bytes.
    Swapuse,
    /// `nthr`: number of threads.
    Nthr,
    /// `msgqqueued`: number of queued SysV messages.
    Msgqqueued,
    /// `msgqsize`: SysV message queue size, in bytes.
    Msgqsize,
    /// `nmsgq`: number of SysV message queues.
    Nmsgq,
    /// `nsem`: number of SysV semaphores.
    Nsem,
    /// `nsemop`: number of SysV semaphores modified in a single semop(2) call.
    Nsemop,
    /// `nshm`: number of SysV shared memory segments.
    Nshm,
    /// `shmsize`: SysV shared memory size, in bytes.
    Shmsize,
    /// `wallclock`: wallclock time, in seconds.
    Wallclock,
    /// `pcpu`: %CPU, in percents of a single CPU core.
    Pcpu,
    /// `readbps`: filesystem reads, in bytes per second.
    Readbps,
    /// `writebps`: filesystem writes, in bytes per second.
    Writebps,
    /// `readiops`: filesystem reads, in operations per second.
    Readiops,
    /// `writeiops`: filesystem writes, in operations per second.
    Writeiops,
}

/// Every resource, in the kernel's table order.
pub const RESOURCES: [Resource; 25] = [
    Resource::Cputime,
    Resource::Datasize,
    Resource::Stacksize,
    Resource::Coredumpsize,
    Resource::Memoryuse,
    Resource::Memorylocked,
    Resource::Maxproc,
    Resource::Openfiles,
    Resource::Vmemoryuse,
    Resource::Pseudoterminals,
    Resource::Swapuse,
    Resource::Nthr,
    Resource::Msgqqueued,
    Resource::Msgqsize,
    Resource::Nmsgq,
    Resource::Nsem,
    Resource::Nsemop,
    Resource::Nshm,
    Resource::Shmsize,
    Resource::Wallclock,
    Resource::Pcpu,
    Resource::Readbps,
    Resource::Writebps,
    Resource::Readiops,
    Resource::Writeiops,
];

impl Resource {
    /// Its name in rules.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Cputime => "cputime",
            Resource::Datasize => "datasize",
            Resource::Stacksize => "stacksize",
            Resource::Coredumpsize => "coredumpsize",
            Resource::Memoryuse => "memoryuse",
            Resource::Memorylocked => "memorylocked",
            Resource::Maxproc => "maxproc",
            Resource::Openfiles => "openfiles",
            Resource::Vmemoryuse => "vmemoryuse",
            Resource::Pseudoterminals => "pseudoterminals",
            Resource::Swapuse => "swapuse",
            Resource::Nthr => "nthr",
            Resource::Msgqqueued => "msgqqueued",
            Resource::Msgqsize => "msgqsize",
            Resource::Nmsgq => "nmsgq",
            Resource::Nsem => "nsem",
            Resource::Nsemop => "nsemop",
            Resource::Nshm => "nshm",
            Resource::Shmsize => "shmsize",
            Resource::Wallclock => "wallclock",
            Resource::Pcpu => "pcpu",
            Resource::Readbps => "readbps",
            Resource::Writebps => "writebps",
            Resource::Readiops => "readiops",
            Resource::Writeiops => "writeiops",
        }
    }

    /// The resource called `name`, compared without case as the kernel's
    /// `str2value` does.
    pub fn from_name(name: &str) -> Option<Resource> {
        RESOURCES
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(name))
    }

    /// `RACCT_DENIABLE` in `racct_types`.
    pub fn deniable(self) -> bool {
        !matches!(
            self,
            Resource::Cputime
                | Resource::Memoryuse
                | Resource::Wallclock
                | Resource::Readbps
                | Resource::Writebps
                | Resource::Readiops
                | Resource::Writeiops
        )
    }

    /// `RACCT_DECAYING`: the resources a `throttle` rule can limit.
    pub fn decaying(self) -> bool {
        matches!(
            self,
            Resource::Pcpu
                | Resource::Readbps
                | Resource::Writebps
                | Resource::Readiops
                | Resource::Writeiops
        )
    }

    /// `RACCT_SLOPPY`: accounted per credential only, so never `/process`.
    pub fn sloppy(self) -> bool {
        matches!(
            self,
            Resource::Pseudoterminals
                | Resource::Swapuse
                | Resource::Msgqqueued
                | Resource::Msgqsize
                | Resource::Nmsgq
                | Resource::Nsem
                | Resource::Nshm
                | Resource::Shmsize
        )
    }

    /// `RACCT_IN_MILLIONS`: the kernel keeps the amount multiplied by a million.
    pub fn in_millions(self) -> bool {
        matches!(
            self,
            Resource::Cputime | Resource::Wallclock | Resource::Pcpu
        )
    }
}

/// The signals an action may name (`actionnames` in `kern_rctl.c`).
pub const SIGNALS: [&str; 31] = [
    "sighup",
    "sigint",
    "sigquit",
    "sigill",
    "sigtrap",
    "sigabrt",
    "sigemt",
    "sigfpe",
    "sigkill",
    "sigbus",
    "sigsegv",
    "sigsys",
    "sigpipe",
    "sigalrm",
    "sigterm",
    "sigurg",
    "sigstop",
    "sigtstp",
    "sigchld",
    "sigttin",
    "sigttou",
    "sigio",
    "sigxcpu",
    "sigxfsz",
    "sigvtalrm",
    "sigprof",
    "sigwinch",
    "siginfo",
    "sigusr1",
    "sigusr2",
    "sigthr",
];

/// What the kernel does when a rule's amount is exceeded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleAction {
    /// `deny`: refuse the allocation.
    Deny,
    /// `log`: a message to the console.
    Log,
    /// `devctl`: a notification to devd(8).
    Devctl,
    /// `throttle`: slow the process down (decaying resources only).
    Throttle,
    /// `sig…`: send the process a signal; the name as the kernel spells it.
    Signal(&'static str),
}

impl RuleAction {
    /// Its name in rules.
    pub fn name(&self) -> &'static str {
        match self {
            RuleAction::Deny => "deny",
            RuleAction::Log => "log",
            RuleAction::Devctl => "devctl",
            RuleAction::Throttle => "throttle",
            RuleAction::Signal(name) => name,
        }
    }

    /// The action called `name`, without case.
    pub fn from_name(name: &str) -> Option<RuleAction> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "deny" => Some(RuleAction::Deny),
            "log" => Some(RuleAction::Log),
            "devctl" => Some(RuleAction::Devctl),
            "throttle" => Some(RuleAction::Throttle),
            other => SIGNALS
                .iter()
                .find(|s| **s == other)
                .map(|s| RuleAction::Signal(s)),
        }
    }
}

/// Whose consumption a rule counts (`/per`; the subject's own type by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Per {
    /// Each process of the jail.
    Process,
    /// Each user, over all their processes.
    User,
    /// Each login class.
    Loginclass,
    /// The jail as a whole (the default for a jail rule).
    Jail,
}

impl Per {
    /// Its name in rules.
    pub fn name(self) -> &'static str {
        match self {
            Per::Process => "process",
            Per::User => "user",
            Per::Loginclass => "loginclass",
            Per::Jail => "jail",
        }
    }

    /// The subject type called `name`, without case (`subjectnames`).
    pub fn from_name(name: &str) -> Option<Per> {
        [Per::Process, Per::User, Per::Loginclass, Per::Jail]
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }
}

/// One rule on `jail:NAME`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rule {
    /// The jail's name (the rule's subject id).
    pub jail: String,
    /// What it limits.
    pub resource: Resource,
    /// What happens past the amount.
    pub action: RuleAction,
    /// The amount, expanded (bytes, a count, seconds or percents; never in millions).
    pub amount: u64,
    /// Whose consumption counts.
    pub per: Per,
}

impl fmt::Display for Rule {
    /// The rule as the kernel prints it and `rctl -a` takes it:
    /// `jail:www:memoryuse:deny=1073741824`, `/per` only when it is not `jail`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "jail:{}:{}:{}={}",
            self.jail,
            self.resource.name(),
            self.action.name(),
            self.amount
        )?;
        if self.per != Per::Jail {
            write!(f, "/{}", self.per.name())?;
        }
        Ok(())
    }
}

/// A recipe limit that rctl(8) or the kernel would refuse, or that is not one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitError(pub String);

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount as thinjail takes it: decimal digits with an optional `k`, `m`, `g`,
/// `t`, `p` or `e` (either case; powers of 1024, as expand_number(3) reads them).
/// Stricter than expand_number, which also takes hexadecimal, octal, a sign, blanks
/// and anything after the unit.
pub fn parse_amount(text: &str) -> Result<u64, String> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(end);
    if digits.is_empty() {
        return Err(format!(
            "amount {text:?} is not a number (digits, optionally followed by k, m, g, t, p or e)"
        ));
    }
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        "e" => 60,
        _ => {
            return Err(format!(
                "amount {text:?} has an unknown unit (use k, m, g, t, p or e)"
            ))
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("amount {text:?} is too large"))
}

impl Rule {
    /// Reads a recipe limit for `jail`: `resource:action=amount[/per]`.
    pub fn from_limit(jail: &str, limit: &str) -> Result<Rule, LimitError> {
        let err = |m: String| LimitError(m);
        let (resource, rest) = limit.split_once(':').ok_or_else(|| {
            err(format!(
                "{limit:?} is not a limit: write resource:action=amount, e.g. memoryuse:deny=1g"
            ))
        })?;
        let (action, rest) = rest.split_once('=').ok_or_else(|| {
            err(format!(
                "{limit:?} has no amount: write resource:action=amount, e.g. memoryuse:deny=1g"
            ))
        })?;
        let (amount, per) = match rest.split_once('/') {
            Some((amount, per)) => (amount, Some(per)),
            None => (rest, None),
        };
        let resource = Resource::from_name(resource).ok_or_else(|| {
            err(format!(
                "unknown resource {resource:?}; rctl(8) knows {}",
                RESOURCES.map(Resource::name).join(", ")
            ))
        })?;
        let action = RuleAction::from_name(action).ok_or_else(|| {
            err(format!(
                "unknown action {action:?}; rctl(8) knows deny, log, devctl, throttle and the \
                 signals sighup … sigthr"
            ))
        })?;
        let amount = parse_amount(amount).map_err(err)?;
        let per = match per {
            None => Per::Jail,
            Some(p) => Per::from_name(p).ok_or_else(|| {
                err(format!(
                    "unknown per {p:?}; it is one of process, user, loginclass or jail"
                ))
            })?,
        };
        let rule = Rule {
            jail: jail.to_string(),
            resource,
            action,
            amount,
            per,
        };
        rule.check_kernel().map_err(err)?;
        Ok(rule)
    }

    /// What the kernel refuses of an otherwise well-formed rule: an amount past
    /// `INT64_MAX` (or, for resources kept in millions, past `INT64_MAX / 1000000`:
    /// `ERANGE`), and the combinations `rctl_rule_add` refuses with `EOPNOTSUPP`.
    pub fn check_kernel(&self) -> Result<(), String> {
        let max = if self.resource.in_millions() {
            i64::MAX as u64 / 1_000_000
        } else {
            i64::MAX as u64
        };
        if self.amount > max {
            return Err(format!(
                "amount {} of {} is too large (the kernel keeps at most {max})",
                self.amount,
                self.resource.name()
            ));
        }
        let r = self.resource;
        if self.action == RuleAction::Deny
            && !r.deniable()
            && !matches!(r, Resource::Memoryuse | Resource::Pcpu)
        {
            return Err(format!(
                "the kernel cannot deny {}: use log, devctl, throttle or a signal",
                r.name()
            ));
        }
        if self.action == RuleAction::Throttle && (!r.decaying() || r == Resource::Pcpu) {
            return Err(format!(
                "the kernel can throttle only readbps, writebps, readiops and writeiops, not {}",
                r.name()
            ));
        }
        if self.per == Per::Process && r.sloppy() {
            return Err(format!(
                "the kernel accounts {} per user, login class or jail only, not /process",
                r.name()
            ));
        }
        Ok(())
    }

    /// Reads one line of `rctl` output (`jail:www:memoryuse:deny=1073741824`,
    /// `jail:www:openfiles:log=100/process`); `None` for a rule on another subject,
    /// or one this thinjail cannot read (a resource or action a newer kernel has),
    /// which is then never touched.
    pub fn from_kernel(line: &str) -> Option<Rule> {
        let rest = line.trim().strip_prefix("jail:")?;
        let (jail, rest) = rest.split_once(':')?;
        let (resource, rest) = rest.split_once(':')?;
        let (action, rest) = rest.split_once('=')?;
        let (amount, per) = match rest.split_once('/') {
            Some((a, p)) => (a, Per::from_name(p)?),
            None => (rest, Per::Jail),
        };
        if amount.is_empty() || !amount.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Rule {
            jail: jail.to_string(),
            resource: Resource::from_name(resource)?,
            action: RuleAction::from_name(action)?,
            amount: amount.parse().ok()?,
            per,
        })
    }

    /// Whether `other` is the same rule but for its amount: adding a `deny` rule
    /// makes the kernel remove those first (`rctl_rule_add`).
    pub fn same_but_amount(&self, other: &Rule) -> bool {
        self.jail == other.jail
            && self.resource == other.resource
            && self.action == other.action
            && self.per == other.per
    }
}

/// The rules of `jail` a recipe's limits give (limits already validated: one that
/// does not read is left out).
pub fn rules_of(jail: &str, limits: &[String]) -> Vec<Rule> {
    limits
        .iter()
        .filter_map(|l| Rule::from_limit(jail, l).ok())
        .collect()
}

/// The rules of `jail` a jail.conf file of thinjail's adds (its `exec.created`
/// `rctl -a` hook, [`hook`]): the record of what thinjail set, read back from the
/// file as it is on the host. Every word `jail:JAIL:…` that reads as a rule counts.
pub fn rules_in_file(text: &str, jail: &str) -> Vec<Rule> {
    let prefix = format!("jail:{jail}:");
    text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',' || c == ';')
        .filter(|word| word.starts_with(&prefix))
        .filter_map(Rule::from_kernel)
        .collect()
}

/// rctl(8)'s path on FreeBSD.
pub const RCTL: &str = "/usr/bin/rctl";

/// The command that adds `rules` (`/usr/bin/rctl -a RULE …`): jail(8) runs it on
/// the host once the jail exists (`exec.created`), before `exec.start`, so the
/// limits hold from the jail's first process on — at boot too. No word of it is a
/// shell metacharacter, so jail(8) runs it without a shell.
pub fn hook(rules: &[Rule]) -> Option<String> {
    if rules.is_empty() {
        return None;
    }
    let words: Vec<String> = rules.iter().map(Rule::to_string).collect();
    Some(format!("{RCTL} -a {}", words.join(" ")))
}

/// What bringing one jail's rules to the wanted ones takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// Rules thinjail set earlier that the recipe no longer wants: `rctl -r RULE`,
    /// each an exact filter (amount included), so nothing else matches.
    pub remove: Vec<Rule>,
    /// Wanted rules the kernel does not have: `rctl -a RULE`.
    pub add: Vec<Rule>,
    /// Rules thinjail did not set (the administrator's) that an added `deny` rule
    /// replaces: the kernel keeps one deny rule per resource and per, whoever set
    /// it. The plan says so.
    pub displaced: Vec<Rule>,
}

impl Reconciliation {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty()
    }
}

/// The exact changes for `jail`: `observed` is what the kernel has (any subject;
/// only this jail's rules count), `ours` what thinjail set earlier (its record),
/// `wanted` the recipe's. Removed: ours that are observed and not wanted. Added:
/// wanted that are not observed. Rules of other subjects, and this jail's rules
/// thinjail did not set, are left alone — except that the kernel itself drops a
/// `deny` rule differing only by amount when one is added (`displaced`).
pub fn reconcile(jail: &str, observed: &[Rule], ours: &[Rule], wanted: &[Rule]) -> Reconciliation {
    let mine = |r: &&Rule| r.jail == jail;
    let observed: Vec<&Rule> = observed.iter().filter(mine).collect();
    let ours: BTreeSet<&Rule> = ours.iter().filter(mine).collect();
    let wanted: Vec<&Rule> = wanted.iter().filter(mine).collect();
    let remove: Vec<Rule> = observed
        .iter()
        .filter(|r| ours.contains(*r) && !wanted.contains(r))
        .map(|r| (*r).clone())
        .collect();
    let add: Vec<Rule> = wanted
        .iter()
        .filter(|r| !observed.contains(r))
        .map(|r| (*r).clone())
        .collect();
    let displaced = observed
        .iter()
        .filter(|r| !ours.contains(*r) && !wanted.contains(r))
        .filter(|r| {
            add.iter()
                .any(|a| a.action == RuleAction::Deny && a.same_but_amount(r))
        })
        .map(|r| (*r).clone())
        .collect();
    Reconciliation {
        remove,
        add,
        displaced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Rule {
        Rule::from_kernel(text).unwrap_or_else(|| panic!("{text} does not read"))
    }

    #[test]
    fn limits_expand_as_rctl_does_and_print_as_the_kernel_does() {
        let r = Rule::from_limit("www", "memoryuse:deny=1g").unwrap();
        assert_eq!(r.to_string(), "jail:www:memoryuse:deny=1073741824");
        assert_eq!(Rule::from_kernel(&r.to_string()), Some(r));
        let r = Rule::from_limit("www", "OpenFiles:Log=1000/process").unwrap();
        assert_eq!(r.to_string(), "jail:www:openfiles:log=1000/process");
        let r = Rule::from_limit("www", "maxproc:sigterm=100/jail").unwrap();
        assert_eq!(
            r.to_string(),
            "jail:www:maxproc:sigterm=100",
            "/jail is the default"
        );
        let r = Rule::from_limit("www", "readbps:throttle=1m").unwrap();
        assert_eq!(r.amount, 1 << 20);
        assert_eq!(Rule::from_limit("www", "pcpu:deny=50").unwrap().amount, 50);
    }

    #[test]
    fn what_rctl_or_the_kernel_refuses_is_refused() {
        for (limit, why) in [
            ("memory:deny=1g", "unknown resource"),
            ("memoryuse:kill=1g", "unknown action"),
            ("memoryuse:deny=1q", "unknown unit"),
            ("memoryuse:deny=", "not a number"),
            ("memoryuse:deny=0x10", "unknown unit"),
            ("memoryuse:deny=-1", "not a number"),
            ("memoryuse:deny", "no amount"),
            ("memoryuse", "not a limit"),
            ("memoryuse:deny=1g/everyone", "unknown per"),
            ("memoryuse:deny=16e", "too large"),
            ("cputime:deny=10", "cannot deny"),
            ("wallclock:deny=10", "cannot deny"),
            ("readbps:deny=1m", "cannot deny"),
            ("maxproc:throttle=10", "can throttle only"),
            ("pcpu:throttle=10", "can throttle only"),
            ("swapuse:deny=1g/process", "not /process"),
            ("pcpu:deny=9223372036855", "too large"),
        ] {
            let e = Rule::from_limit("www", limit).unwrap_err();
            assert!(e.0.contains(why), "{limit}: {e}");
        }
        // The exceptions rctl_rule_add makes: memoryuse and pcpu can be denied.
        assert!(Rule::from_limit("www", "memoryuse:deny=1").is_ok());
        assert!(Rule::from_limit("www", "pcpu:deny=9223372036854").is_ok());
        assert!(Rule::from_limit("www", "swapuse:deny=1g/user").is_ok());
    }

    #[test]
    fn kernel_lines_of_other_subjects_or_newer_kernels_are_not_ours() {
        assert_eq!(Rule::from_kernel("user:1001:maxproc:deny=10"), None);
        assert_eq!(Rule::from_kernel("jail:www:newthing:deny=10"), None);
        assert_eq!(Rule::from_kernel("jail:www:maxproc:deny=1k"), None);
        assert_eq!(
            rule("jail:www:maxproc:deny=10/user").per,
            Per::User,
            "per is printed when it differs from the subject"
        );
    }

    #[test]
    fn reconciliation_adds_and_removes_exactly_the_differing_rules() {
        let observed = [
            rule("jail:www:memoryuse:deny=1073741824"),
            rule("jail:www:maxproc:deny=100"),
            rule("jail:www:openfiles:log=500"), // the administrator's
            rule("jail:db:memoryuse:deny=1024"), // another jail
            rule("jail:www:pcpu:deny=50"),      // ours, still wanted
        ];
        let ours = [
            rule("jail:www:memoryuse:deny=1073741824"),
            rule("jail:www:maxproc:deny=100"),
            rule("jail:www:pcpu:deny=50"),
        ];
        let wanted = [
            rule("jail:www:memoryuse:deny=2147483648"),
            rule("jail:www:pcpu:deny=50"),
            rule("jail:www:nthr:log=1000"),
        ];
        let change = reconcile("www", &observed, &ours, &wanted);
        assert_eq!(
            change.remove,
            [
                rule("jail:www:memoryuse:deny=1073741824"),
                rule("jail:www:maxproc:deny=100"),
            ]
        );
        assert_eq!(
            change.add,
            [
                rule("jail:www:memoryuse:deny=2147483648"),
                rule("jail:www:nthr:log=1000"),
            ]
        );
        assert!(change.displaced.is_empty());
        // Once applied, nothing is left to do.
        let after = [
            rule("jail:www:openfiles:log=500"),
            rule("jail:db:memoryuse:deny=1024"),
            rule("jail:www:memoryuse:deny=2147483648"),
            rule("jail:www:pcpu:deny=50"),
            rule("jail:www:nthr:log=1000"),
        ];
        assert!(reconcile("www", &after, &wanted, &wanted).is_empty());
    }

    #[test]
    fn the_hook_is_read_back_as_the_record_of_what_thinjail_set() {
        let rules = [
            rule("jail:www:memoryuse:deny=1073741824"),
            rule("jail:www:openfiles:log=10/process"),
        ];
        let hook = hook(&rules).unwrap();
        assert_eq!(
            hook,
            "/usr/bin/rctl -a jail:www:memoryuse:deny=1073741824 jail:www:openfiles:log=10/process"
        );
        let file = format!("www {{\n  exec.created = \"/bin/true\", \"{hook}\";\n}}\n");
        assert_eq!(rules_in_file(&file, "www"), rules);
        assert!(rules_in_file(&file, "db").is_empty());
        assert_eq!(super::hook(&[]), None);
    }

    #[test]
    fn an_added_deny_displaces_the_administrators_rule_and_says_so() {
        let observed = [rule("jail:www:memoryuse:deny=999")];
        let wanted = [rule("jail:www:memoryuse:deny=1024")];
        let change = reconcile("www", &observed, &[], &wanted);
        assert!(change.remove.is_empty(), "never removed by thinjail");
        assert_eq!(change.add, wanted);
        assert_eq!(change.displaced, observed);
        // A log rule is not replaced by the kernel.
        let observed = [rule("jail:www:memoryuse:log=999")];
        let wanted = [rule("jail:www:memoryuse:log=1024")];
        let change = reconcile("www", &observed, &[], &wanted);
        assert!(change.displaced.is_empty());
    }
}
