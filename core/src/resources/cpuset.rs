//! A jail's CPU list, as cpuset(1) reads `-l` (`parselist` in
//! `usr.bin/cpuset/cpuset.c`, `cpuset_parselist` in libutil on later releases):
//! numbers and ranges `a-b` separated by commas, nothing else. thinjail is stricter
//! where cpuset(1) is loose — no empty list, no empty element, no descending range,
//! no `all` (leave `cpuset` out for every CPU) — and writes the list back in one
//! canonical form (`0-3,6`), so the plan and `list --json` show what the recipe
//! means.
//!
//! cpuset(1)'s own failures, which the test bed's stand-in reproduces: a malformed
//! list exits 1 with `cpuset: Malformed list LIST`; an entry above the kernel's
//! `CPU_SETSIZE` with `cpuset: List entry N exceeds maximum of SIZE`; a CPU the host
//! does not have makes `cpuset_setaffinity(2)` fail (`cpuset: setaffinity: Invalid
//! argument`) — which is why thinjail compares the list with the host's CPUs when it
//! observes the host, and refuses there (exit 78) before anything runs.

use std::collections::BTreeSet;
use std::fmt;

/// The largest CPU id any FreeBSD release accepts (`CPU_MAXSIZE` is 1024 on 14.0
/// and later; cpuset(1) refuses an entry above it).
pub const MAX_CPU_ID: u32 = 1023;

/// A set of CPU ids.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CpuList(pub BTreeSet<u32>);

impl CpuList {
    /// Reads a recipe's CPU list: `0`, `0-3`, `0,2,4-7`.
    pub fn parse(text: &str) -> Result<CpuList, String> {
        if text.is_empty() {
            return Err("the CPU list is empty; leave cpuset out to use every CPU".into());
        }
        if text.eq_ignore_ascii_case("all") {
            return Err("leave cpuset out to use every CPU (`all`)".into());
        }
        let mut cpus = BTreeSet::new();
        for element in text.split(',') {
            let (low, high) = match element.split_once('-') {
                Some((low, high)) => (low, Some(high)),
                None => (element, None),
            };
            let low = cpu_id(text, low)?;
            let high = match high {
                Some(high) => cpu_id(text, high)?,
                None => low,
            };
            if high < low {
                return Err(format!(
                    "{text:?}: the range {low}-{high} runs backwards (cpuset(1) would select \
                     nothing for it)"
                ));
            }
            cpus.extend(low..=high);
        }
        Ok(CpuList(cpus))
    }

    /// The CPUs of `self` that `host` does not have.
    pub fn missing_from(&self, host: &CpuList) -> CpuList {
        CpuList(self.0.difference(&host.0).copied().collect())
    }

    /// Whether it names no CPU.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads the mask cpuset(1) prints with `-g` (`printaffinity`): the first line
    /// `WHICH ID [LEVEL ]mask: 0, 1, 2`; the domain line that follows is not the CPU
    /// mask.
    pub fn from_cpuset_output(text: &str) -> Option<CpuList> {
        let line = text
            .lines()
            .find(|l| l.contains(" mask: ") && !l.contains("domain policy"))?;
        let (_, list) = line.split_once(" mask: ")?;
        let mut cpus = BTreeSet::new();
        for item in list.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            cpus.insert(item.parse().ok()?);
        }
        Some(CpuList(cpus))
    }
}

/// cpuset(1)'s path on FreeBSD.
pub const CPUSET: &str = "/usr/bin/cpuset";

/// The command that restricts the running jail `jail` to `cpus`
/// (`/usr/bin/cpuset -l LIST -j JAIL`): jail(8) runs it on the host once the jail
/// exists (`exec.created`), so every start — a restart, the boot — applies it
/// again. `-j` takes the jail's name (cpuset(1) looks it up with jail_getid(3)).
pub fn hook(jail: &str, cpus: &CpuList) -> String {
    format!("{CPUSET} -l {cpus} -j {jail}")
}

fn cpu_id(list: &str, text: &str) -> Result<u32, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{list:?} is not a CPU list: write CPU numbers and ranges separated by commas, \
             e.g. 0-3,6"
        ));
    }
    match text.parse::<u32>() {
        Ok(id) if id <= MAX_CPU_ID => Ok(id),
        _ => Err(format!(
            "{list:?}: CPU {text} is beyond the largest CPU id FreeBSD has ({MAX_CPU_ID})"
        )),
    }
}

impl fmt::Display for CpuList {
    /// Canonical form: ascending, runs of three or more as ranges (`0-3,6,8,9`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let mut iter = self.0.iter().copied().peekable();
        while let Some(start) = iter.next() {
            let mut end = start;
            while iter.peek() == Some(&(end + 1)) {
                end += 1;
                iter.next();
            }
            match end - start {
                0 => parts.push(start.to_string()),
                1 => {
                    parts.push(start.to_string());
                    parts.push(end.to_string());
                }
                _ => parts.push(format!("{start}-{end}")),
            }
        }
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> CpuList {
        CpuList::parse(text).unwrap()
    }

    #[test]
    fn lists_read_as_cpuset_reads_them_and_print_canonically() {
        assert_eq!(list("0").to_string(), "0");
        assert_eq!(list("0-3").to_string(), "0-3");
        assert_eq!(list("3,1,0,2").to_string(), "0-3");
        assert_eq!(list("0,1,4-6,9").to_string(), "0,1,4-6,9");
        assert_eq!(list("5-5").to_string(), "5");
        assert_eq!(list("0-1023").0.len(), 1024);
    }

    #[test]
    fn malformed_lists_are_refused() {
        for bad in [
            "",
            "all",
            "ALL",
            "1,",
            ",1",
            "1,,2",
            "1-",
            "-1",
            "1-2-3",
            "a",
            "1 2",
            " 1",
            "1+3",
            "3-1",
            "0x1",
            "1024",
            "99999999999",
        ] {
            assert!(CpuList::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_hook_names_the_jail_and_the_canonical_list() {
        assert_eq!(hook("www", &list("3,0-2")), "/usr/bin/cpuset -l 0-3 -j www");
    }

    #[test]
    fn cpus_the_host_lacks_are_named() {
        let host = CpuList::from_cpuset_output(
            "cpuset 1 mask: 0, 1\ncpuset 1 domain policy: first-touch mask: 0\n",
        )
        .unwrap();
        assert_eq!(host, list("0-1"));
        assert!(list("0,1").missing_from(&host).is_empty());
        assert_eq!(list("1-3").missing_from(&host).to_string(), "2,3");
        assert_eq!(
            CpuList::from_cpuset_output("jail 3 mask: 0, 2, 3, 4\n"),
            Some(list("0,2-4"))
        );
        assert_eq!(CpuList::from_cpuset_output("garbage"), None);
    }
}
