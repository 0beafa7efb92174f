//! The test bed's cpuset(1) for jails: Linux has no per-jail CPU sets, so each
//! jail's mask is recorded in `<state dir>/cpuset.json`, judged as FreeBSD's
//! `usr.bin/cpuset/cpuset.c` (14.0 and later, reference only) and the kernel's
//! `cpuset_setaffinity(2)` would judge it.
//!
//! What it reproduces:
//! - `cpuset -l LIST -j JAIL` and `cpuset -g -j JAIL`; `-j` takes a jail id or a
//!   name (`jail_getid(3)`: a number is taken as an id without a look, a name that
//!   runs nowhere exits 1 with `cpuset: jail "NAME" not found`); a jail id that does
//!   not run makes `setaffinity` fail (`cpuset: setaffinity: No such process`);
//! - the list read as `cpuset_parselist` reads it **and as cpuset(1) then uses it**:
//!   cpuset(1) ignores the parser's result, so a malformed list (`0-1x`, `1,,a`)
//!   sets whatever the parser had set before it stopped, silently — this is why
//!   thinjail validates CPU lists itself; `all` is the host's set;
//! - the kernel: an empty mask fails with `cpuset: setaffinity: Resource deadlock
//!   avoided`, a CPU the host (its root set, [`CpusetState::host_cpus`]) does not
//!   have with `cpuset: setaffinity: Invalid argument`;
//! - `cpuset -g -s 1` prints the host's set (`cpuset 1 mask: 0, 1`) and a domain
//!   line, `-g -j` the jail's (`jail 3 mask: 0, 1`, then its domain line);
//! - usage errors exit 1 with the usage text on standard error.
//!
//! **Not reproduced**: processes are not pinned (the chroot's processes run on every
//! CPU); NUMA domains (`-n`, `-d`) and process, thread, irq and set operations other
//! than `-g -s 1` are refused with a message (exit 1) — refusing is never kinder;
//! a jail's set is forgotten when the test bed's jail(8) removes the jail (FreeBSD
//! destroys the set with the prison), and is all of the host's CPUs until `-l`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::freebsd_update::Outcome;
use crate::json_state;

/// The CPUs of the test bed's "host" and each jail's mask, by jail id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpusetState {
    /// The host's root set (default: the CPUs Linux has online).
    #[serde(default)]
    pub host_cpus: Option<Vec<u32>>,
    /// Masks set with `-l`, by jail id.
    #[serde(default)]
    pub jails: BTreeMap<u32, Vec<u32>>,
}

impl CpusetState {
    /// The state kept in `state_dir`.
    pub fn load(state_dir: &Path) -> CpusetState {
        json_state::load(state_dir, "cpuset.json")
    }

    fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        json_state::save(self, state_dir, "cpuset.json")
    }

    /// The host's CPUs: as set by [`set_host_cpus`], else Linux's online CPUs.
    pub fn host(&self) -> Vec<u32> {
        if let Some(cpus) = &self.host_cpus {
            return cpus.clone();
        }
        let online = fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
        let mut cpus = Vec::new();
        for part in online.trim().split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                        cpus.extend(a..=b);
                    }
                }
                None => cpus.extend(part.parse::<u32>().ok()),
            }
        }
        if cpus.is_empty() {
            cpus.push(0);
        }
        cpus
    }
}

/// Says which CPUs the test bed's host has.
pub fn set_host_cpus(state_dir: &Path, cpus: &[u32]) -> std::io::Result<()> {
    let mut state = CpusetState::load(state_dir);
    state.host_cpus = Some(cpus.to_vec());
    state.save(state_dir)
}

/// Forgets the mask of jail `jid` (the test bed's jail(8) removed it).
pub fn forget_jail(state_dir: &Path, jid: u32) -> std::io::Result<()> {
    let mut state = CpusetState::load(state_dir);
    if state.jails.remove(&jid).is_some() {
        state.save(state_dir)?;
    }
    Ok(())
}

const USAGE: &str = "usage: cpuset [-l cpu-list] [-n policy:domain-list] [-s setid] cmd ...
       cpuset [-l cpu-list] [-n policy:domain-list] [-s setid] -p pid
       cpuset [-c] [-l cpu-list] [-n policy:domain-list] -C -p pid
       cpuset [-c] [-l cpu-list] [-n policy:domain-list]
              [-j jailid | -p pid | -t tid | -s setid | -x irq]
       cpuset -g [-cir]
              [-d domain | -j jailid | -p pid | -t tid | -s setid | -x irq]
";

/// `cpuset_parselist`'s state machine; the CPUs it had set when it stopped, and
/// whether it stopped on an error (cpuset(1) ignores that).
fn parselist(list: &str, size: u32) -> (Vec<u32>, bool) {
    #[derive(PartialEq)]
    enum State {
        None,
        Num,
        Dash,
    }
    let mut set = Vec::new();
    let mut state = State::None;
    let (mut last, mut current) = (0u32, 0u32);
    let bytes = list.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            current = list[start..i].parse().unwrap_or(u32::MAX);
            if current >= size {
                return (set, true);
            }
            match state {
                State::None => {
                    last = current;
                    state = State::Num;
                }
                State::Dash => {
                    set.extend(last..=current);
                    state = State::None;
                }
                State::Num => return (set, true),
            }
            continue;
        }
        match bytes[i] {
            b',' => match state {
                State::None => {}
                State::Num => {
                    set.push(current);
                    state = State::None;
                }
                State::Dash => return (set, true),
            },
            b'-' if state == State::Num => state = State::Dash,
            _ => return (set, true),
        }
        i += 1;
    }
    match state {
        State::Num => set.push(current),
        State::Dash => return (set, true),
        State::None => {}
    }
    (set, false)
}

fn print_mask(cpus: &[u32]) -> String {
    cpus.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `argv` (`cpuset …`) for the test bed whose state is in `state_dir`, where
/// `jails` run (name → jail id).
pub fn run(state_dir: &Path, argv: &[String], jails: &BTreeMap<String, u32>) -> Outcome {
    let mut out = Outcome::default();
    let fail = |out: &mut Outcome, message: String| {
        out.stderr = message;
        out.code = 1;
    };
    let mut state = CpusetState::load(state_dir);
    let host = state.host();
    let (mut get, mut list, mut jail, mut setid): (
        bool,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = (false, None, None, None);
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-g" => get = true,
            "-l" | "-j" | "-s" => {
                let Some(value) = args.next() else {
                    fail(
                        &mut out,
                        format!(
                            "cpuset: option requires an argument -- {}\n{USAGE}",
                            &arg[1..]
                        ),
                    );
                    return out;
                };
                match arg.as_str() {
                    "-l" => list = Some(value.clone()),
                    "-j" => jail = Some(value.clone()),
                    _ => setid = Some(value.clone()),
                }
            }
            other if other.starts_with('-') => {
                fail(
                    &mut out,
                    format!(
                        "cpuset: the thinjail test bed reproduces only -l LIST -j JAIL, -g -j JAIL \
                         and -g -s 1, not {other}\n"
                    ),
                );
                return out;
            }
            _ => {
                fail(&mut out, USAGE.to_string());
                return out;
            }
        }
    }
    let jid = match &jail {
        None => None,
        Some(name) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) => {
            Some(name.parse::<u32>().unwrap_or(u32::MAX))
        }
        Some(name) => match jails.get(name) {
            Some(jid) => Some(*jid),
            None => {
                fail(&mut out, format!("cpuset: jail \"{name}\" not found\n"));
                return out;
            }
        },
    };
    let running = |jid: u32| jails.values().any(|j| *j == jid);
    if get {
        if list.is_some() || (jid.is_some() && setid.is_some()) {
            fail(&mut out, USAGE.to_string());
            return out;
        }
        match (jid, setid.as_deref()) {
            (Some(jid), None) => {
                if !running(jid) {
                    fail(&mut out, "cpuset: getaffinity: No such process\n".into());
                    return out;
                }
                let mask = state
                    .jails
                    .get(&jid)
                    .cloned()
                    .unwrap_or_else(|| host.clone());
                out.stdout = format!(
                    "jail {jid} mask: {}\njail {jid} domain policy: first-touch mask: 0\n",
                    print_mask(&mask)
                );
            }
            (None, Some("1")) => {
                out.stdout = format!(
                    "cpuset 1 mask: {}\ncpuset 1 domain policy: first-touch mask: 0\n",
                    print_mask(&host)
                );
            }
            _ => fail(
                &mut out,
                "cpuset: the thinjail test bed reproduces only -g -j JAIL and -g -s 1\n".into(),
            ),
        }
        return out;
    }
    let (Some(list), Some(jid), None) = (list, jid, setid) else {
        fail(&mut out, USAGE.to_string());
        return out;
    };
    let mask = if list.eq_ignore_ascii_case("all") {
        host.clone()
    } else {
        let (mut set, _stopped) = parselist(&list, 1024);
        set.sort_unstable();
        set.dedup();
        set
    };
    if !running(jid) {
        fail(&mut out, "cpuset: setaffinity: No such process\n".into());
        return out;
    }
    if mask.is_empty() {
        fail(
            &mut out,
            "cpuset: setaffinity: Resource deadlock avoided\n".into(),
        );
        return out;
    }
    if mask.iter().any(|cpu| !host.contains(cpu)) {
        fail(&mut out, "cpuset: setaffinity: Invalid argument\n".into());
        return out;
    }
    state.jails.insert(jid, mask);
    if state.save(state_dir).is_err() {
        fail(
            &mut out,
            "cpuset: the test bed could not record the set\n".into(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpuset(dir: &Path, args: &[&str]) -> Outcome {
        let mut argv = vec!["cpuset".to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        run(dir, &argv, &BTreeMap::from([("www".to_string(), 7)]))
    }

    fn with_jail(dir: &Path) {
        set_host_cpus(dir, &[0, 1, 2, 3]).unwrap();
    }

    #[test]
    fn a_jails_mask_is_set_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        with_jail(dir.path());
        assert_eq!(cpuset(dir.path(), &["-l", "1-2", "-j", "www"]).code, 0);
        let out = cpuset(dir.path(), &["-g", "-j", "7"]);
        assert_eq!(out.code, 0);
        assert!(
            out.stdout.starts_with("jail 7 mask: 1, 2\n"),
            "{}",
            out.stdout
        );
        let out = cpuset(dir.path(), &["-g", "-s", "1"]);
        assert!(out.stdout.starts_with("cpuset 1 mask: 0, 1, 2, 3\n"));
    }

    #[test]
    fn failures_are_freebsds() {
        let dir = tempfile::tempdir().unwrap();
        with_jail(dir.path());
        let out = cpuset(dir.path(), &["-l", "0-7", "-j", "www"]);
        assert_eq!(
            (out.code, out.stderr.as_str()),
            (1, "cpuset: setaffinity: Invalid argument\n")
        );
        let out = cpuset(dir.path(), &["-l", "0", "-j", "db"]);
        assert_eq!(
            (out.code, out.stderr.as_str()),
            (1, "cpuset: jail \"db\" not found\n")
        );
        let out = cpuset(dir.path(), &["-l", "0", "-j", "99"]);
        assert_eq!(out.stderr, "cpuset: setaffinity: No such process\n");
        let out = cpuset(dir.path(), &["-l", "x", "-j", "www"]);
        assert_eq!(
            out.stderr,
            "cpuset: setaffinity: Resource deadlock avoided\n"
        );
        // cpuset(1) ignores cpuset_parselist's error: what was parsed is set.
        let out = cpuset(dir.path(), &["-l", "0-1x", "-j", "www"]);
        assert_eq!(out.code, 0);
        assert_eq!(CpusetState::load(dir.path()).jails[&7], [0, 1]);
        let out = cpuset(dir.path(), &["-j", "www"]);
        assert_eq!(out.code, 1);
        assert!(out.stderr.starts_with("usage: cpuset"));
    }

    #[test]
    fn the_list_grammar_is_cpuset_parselists() {
        assert_eq!(parselist("0-3,6", 1024), (vec![0, 1, 2, 3, 6], false));
        assert_eq!(parselist("1,,2", 1024), (vec![1, 2], false));
        assert_eq!(parselist("1-", 1024), (vec![], true));
        assert_eq!(
            parselist("3-1", 1024),
            (vec![], false),
            "a backwards range sets nothing"
        );
        assert_eq!(parselist("1024", 1024), (vec![], true));
        assert_eq!(parselist("1 2", 1024), (vec![], true));
    }
}
