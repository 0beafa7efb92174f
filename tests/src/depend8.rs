//! `depend` in the test bed's jail(8): which jails `jail -f FILE -c NAME` creates,
//! and in which order, as `usr.sbin/jail` decides it (reference: `dep_setup`,
//! `dep_check`, `dep_done`, `start_state` in `state.c`, the start loop of `jail.c`).
//!
//! - Every jail of the file is looked at, not only the one named: a `depend` naming
//!   a jail the file does not define fails that jail (`jail: NAME: depends on
//!   undefined jail "OTHER"`), and when the file has more than one dependency, a
//!   loop fails every jail in it (`jail: NAME: dependency loop`).
//! - The named jail is started after everything it depends on, directly or not; a
//!   dependency that runs already is passed over silently (`JF_DEPEND`), while the
//!   named jail running already fails (`already exists`); a dependency that failed
//!   makes the named jail fail too (`jail: NAME: skipped`).
//! - Dependencies become ready in file order once their own dependencies are done.
//!
//! Not reproduced: hierarchical jails' implied dependency on their parent (`a.b`
//! on `a`: the test bed has no nested jails), `-r` stopping dependents first (the
//! jails thinjail writes are stopped one by one), and wildcards.

use std::collections::{BTreeMap, BTreeSet};

use thinjail_core::host::HostError;
use thinjail_core::jailconf::JailConf;
use thinjail_core::resources::depend::find_cycle;

use crate::jail8::{jail_failed, values};

/// The jails `jail -f FILE -c target` creates, dependencies first, leaving out those
/// `running` says run already; the failure jail(8) reports otherwise (`argv` names
/// the command in it).
pub fn start_sequence(
    config: &JailConf,
    target: &str,
    running: &dyn Fn(&str) -> bool,
    argv: &str,
) -> Result<Vec<String>, HostError> {
    if let Err(e) = config.effective(target) {
        return Err(jail_failed(argv, format!("jail: {e}")));
    }
    let jails = config.jails();
    let mut depends: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    for jail in &jails {
        let deps = match config.effective(jail) {
            Ok(params) => values(&params, "depend"),
            // A jail whose parameters fail is failed by jail(8) too.
            Err(_) => {
                failed.insert(jail.clone());
                Vec::new()
            }
        };
        for dep in &deps {
            if !jails.contains(dep) {
                warnings.push(format!("jail: {jail}: depends on undefined jail \"{dep}\""));
                failed.insert(jail.clone());
            }
        }
        depends.insert(jail.clone(), deps);
    }
    let edges: Vec<(&str, &[String])> = jails
        .iter()
        .filter(|j| !failed.contains(*j))
        .map(|j| (j.as_str(), depends[j].as_slice()))
        .collect();
    let dependency_count: usize = edges.iter().map(|(_, d)| d.len()).sum();
    if dependency_count > 1 || edges.iter().any(|(j, d)| d.iter().any(|x| x == j)) {
        let mut remaining = edges.clone();
        while let Some(cycle) = find_cycle(&remaining) {
            for jail in &cycle {
                warnings.push(format!("jail: {jail}: dependency loop"));
                failed.insert(jail.clone());
            }
            remaining.retain(|(j, _)| !failed.contains(*j));
        }
    }
    let fail = |mut warnings: Vec<String>, last: String| {
        warnings.push(last);
        Err(jail_failed(argv, warnings.join("\n")))
    };
    if running(target) {
        return fail(warnings, format!("jail: {target}: already exists"));
    }
    if failed.contains(target) {
        return Err(jail_failed(argv, warnings.join("\n")));
    }
    // Everything the target needs, directly or not.
    let mut needed: BTreeSet<&str> = BTreeSet::new();
    let mut stack: Vec<&str> = depends[target].iter().map(String::as_str).collect();
    while let Some(next) = stack.pop() {
        if needed.insert(next) {
            stack.extend(depends.get(next).into_iter().flatten().map(String::as_str));
        }
    }
    if needed
        .iter()
        .any(|j| failed.contains(*j) || !depends.contains_key(*j))
    {
        return fail(warnings, format!("jail: {target}: skipped"));
    }
    // Ready in file order once their dependencies are done; running ones are done.
    let mut done: BTreeSet<&str> = needed.iter().copied().filter(|j| running(j)).collect();
    let mut order = Vec::new();
    loop {
        let ready = jails.iter().map(String::as_str).find(|j| {
            (needed.contains(j) || *j == target)
                && !done.contains(j)
                && depends[*j].iter().all(|d| done.contains(d.as_str()))
        });
        match ready {
            Some(jail) => {
                done.insert(jail);
                order.push(jail.to_string());
                if jail == target {
                    break;
                }
            }
            None => return fail(warnings, format!("jail: {target}: dependency loop")),
        }
    }
    if !warnings.is_empty() {
        // jail(8) warns about the file's other jails and goes on.
        tracing::warn!("{}", warnings.join("; "));
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use thinjail_core::jailconf::Semantics;

    fn conf(text: &str) -> JailConf {
        JailConf::parse(
            text,
            Path::new("/etc/jail.conf.d/www.conf"),
            Semantics::Freebsd14,
        )
        .unwrap()
    }

    fn stderr(e: HostError) -> String {
        match e {
            HostError::CommandFailed { stderr, .. } => stderr,
            other => panic!("{other}"),
        }
    }

    const FILE: &str = "cache { persist; }\ndb { persist; depend = cache; }\n\
                        www { persist; depend = db, cache; }\n";

    #[test]
    fn dependencies_not_running_start_first() {
        let c = conf(FILE);
        let none = |_: &str| false;
        assert_eq!(
            start_sequence(&c, "www", &none, "jail").unwrap(),
            ["cache", "db", "www"]
        );
        let cache_runs = |j: &str| j == "cache";
        assert_eq!(
            start_sequence(&c, "www", &cache_runs, "jail").unwrap(),
            ["db", "www"]
        );
        assert_eq!(
            start_sequence(&c, "cache", &none, "jail").unwrap(),
            ["cache"]
        );
        let www_runs = |j: &str| j == "www";
        assert!(
            stderr(start_sequence(&c, "www", &www_runs, "jail").unwrap_err())
                .contains("jail: www: already exists")
        );
    }

    #[test]
    fn undefined_dependencies_and_loops_fail_like_jail_8() {
        let c = conf("www { persist; depend = db; }\n");
        let none = |_: &str| false;
        assert_eq!(
            stderr(start_sequence(&c, "www", &none, "jail").unwrap_err()),
            "jail: www: depends on undefined jail \"db\""
        );
        let c = conf("a { persist; depend = b; }\nb { persist; depend = a; }\n");
        let err = stderr(start_sequence(&c, "a", &none, "jail").unwrap_err());
        assert_eq!(err, "jail: a: dependency loop\njail: b: dependency loop");
        let c = conf("a { persist; depend = b; }\nb { persist; depend = x; }\n");
        let err = stderr(start_sequence(&c, "a", &none, "jail").unwrap_err());
        assert!(err.ends_with("jail: a: skipped"), "{err}");
    }
}
