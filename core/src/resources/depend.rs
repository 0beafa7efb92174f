//! jail(8)'s `depend`: a jail lists the jails that must run before it starts.
//!
//! jail(8) (`dep_setup`, `dep_check`, `dep_done` and `start_state` in
//! `usr.sbin/jail/state.c`, the start loop of `jail.c`) reads `depend` from the
//! configuration file it was given: every name must be a jail defined in that file
//! (else the jail fails: `depends on undefined jail "NAME"`), loops fail every jail
//! in them (`dependency loop`), and `jail -c NAME` first starts each dependency that
//! is not running (one already running is passed over silently, where naming it
//! with `-c` would fail with `already exists`). Jails become ready in file order once
//! their dependencies are done.
//!
//! thinjail gives each jail a jail.conf file of its own, so a jail's file carries
//! the blocks of every jail it depends on, directly or not ([`closure`]), and
//! `depend` names them: `jail -f www.conf -c www` — at boot through rc.d/jail too —
//! starts them first. Here: the
//! order jail(8) starts a set of jails in ([`start_order`]), loops ([`find_cycle`]),
//! and the closure; the recipe's rules are checked in `recipe::validate`.

use std::collections::{BTreeMap, BTreeSet};

/// Why a set of dependencies cannot be ordered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DependError {
    /// `jail` depends on `missing`, which is not one of the jails.
    Undefined {
        /// The dependent jail.
        jail: String,
        /// The name it gives.
        missing: String,
    },
    /// These jails depend on each other in a loop (in the order found).
    Cycle(Vec<String>),
}

impl std::fmt::Display for DependError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DependError::Undefined { jail, missing } => {
                write!(f, "jail {jail} depends on undefined jail \"{missing}\"")
            }
            DependError::Cycle(jails) => {
                write!(f, "dependency loop: {} -> {}", jails.join(" -> "), jails[0])
            }
        }
    }
}

/// The order jail(8) starts `jails` in (each with its `depend` list, in file
/// order): a jail is ready once everything it depends on is, and ready jails go in
/// file order. Stopping goes the other way round.
pub fn start_order<'a>(jails: &[(&'a str, &'a [String])]) -> Result<Vec<&'a str>, DependError> {
    let names: BTreeSet<&str> = jails.iter().map(|(n, _)| *n).collect();
    for (jail, depends) in jails {
        if let Some(missing) = depends.iter().find(|d| !names.contains(d.as_str())) {
            return Err(DependError::Undefined {
                jail: jail.to_string(),
                missing: missing.clone(),
            });
        }
    }
    if let Some(cycle) = find_cycle(jails) {
        return Err(DependError::Cycle(cycle));
    }
    // Kahn's algorithm, ready jails taken in file order.
    let position: BTreeMap<&str, usize> = jails
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (*n, i))
        .collect();
    let mut waiting: Vec<usize> = jails.iter().map(|(_, d)| d.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); jails.len()];
    for (i, (_, depends)) in jails.iter().enumerate() {
        for d in depends.iter() {
            dependents[position[d.as_str()]].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..jails.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(jails.len());
    while let Some(i) = ready.pop_first() {
        order.push(jails[i].0);
        for &j in &dependents[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.insert(j);
            }
        }
    }
    if order.len() < jails.len() {
        // Unreachable: a set without loops always has a ready jail.
        return Err(DependError::Cycle(Vec::new()));
    }
    Ok(order)
}

/// A loop in the dependencies, if there is one: the jails in it, starting from the
/// first one (in file order) that is in a loop.
pub fn find_cycle(jails: &[(&str, &[String])]) -> Option<Vec<String>> {
    let edges: BTreeMap<&str, &[String]> = jails.iter().copied().collect();
    // Depth-first search with colours: 1 on the path, 2 finished.
    fn visit<'a>(
        node: &'a str,
        edges: &BTreeMap<&'a str, &'a [String]>,
        colour: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        colour.insert(node, 1);
        path.push(node);
        for next in edges.get(node).copied().unwrap_or_default() {
            let next = next.as_str();
            match colour.get(next).copied() {
                Some(1) => {
                    let start = path.iter().position(|n| *n == next).unwrap_or(0);
                    return Some(path[start..].iter().map(|s| s.to_string()).collect());
                }
                Some(_) => {}
                None => {
                    if edges.contains_key(next) {
                        if let Some(cycle) = visit(next, edges, colour, path) {
                            return Some(cycle);
                        }
                    }
                }
            }
        }
        path.pop();
        colour.insert(node, 2);
        None
    }
    let mut colour = BTreeMap::new();
    for (name, _) in jails {
        if !colour.contains_key(name) {
            let mut path = Vec::new();
            if let Some(cycle) = visit(name, &edges, &mut colour, &mut path) {
                return Some(cycle);
            }
        }
    }
    None
}

/// Every jail `jail` depends on, directly or through others, in start order (its
/// own file carries their blocks). Empty when it depends on nothing; names that are
/// not in `jails` are left out (validation refuses them).
pub fn closure<'a>(jail: &str, jails: &[(&'a str, &'a [String])]) -> Vec<&'a str> {
    let edges: BTreeMap<&str, &[String]> = jails.iter().copied().collect();
    let wanted = dependencies(jail, &edges);
    let subset: Vec<(&str, &[String])> = jails
        .iter()
        .filter(|(n, _)| wanted.contains(n))
        .copied()
        .collect();
    start_order(&subset).unwrap_or_else(|_| subset.iter().map(|(n, _)| *n).collect())
}

/// Every jail `jail` depends on, directly or through others, by `edges` (each
/// jail's `depend`), unordered; names that are not keys of `edges` are left out.
pub fn dependencies<'a>(jail: &str, edges: &BTreeMap<&'a str, &'a [String]>) -> BTreeSet<&'a str> {
    let mut wanted: BTreeSet<&str> = BTreeSet::new();
    let mut stack: Vec<&str> = edges
        .get(jail)
        .map(|d| d.iter().map(String::as_str).collect())
        .unwrap_or_default();
    while let Some(next) = stack.pop() {
        let Some((&name, deps)) = edges.get_key_value(next) else {
            continue;
        };
        if name == jail || !wanted.insert(name) {
            continue;
        }
        stack.extend(deps.iter().map(String::as_str));
    }
    wanted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dependencies_start_first_and_the_rest_in_file_order() {
        let (www, db, cache, other) = (
            deps(&["db", "cache"]),
            deps(&["cache"]),
            deps(&[]),
            deps(&[]),
        );
        let jails = [
            ("www", www.as_slice()),
            ("other", other.as_slice()),
            ("db", db.as_slice()),
            ("cache", cache.as_slice()),
        ];
        assert_eq!(
            start_order(&jails).unwrap(),
            ["other", "cache", "db", "www"]
        );
        assert_eq!(closure("www", &jails), ["cache", "db"]);
        assert_eq!(closure("db", &jails), ["cache"]);
        assert!(closure("cache", &jails).is_empty());
    }

    #[test]
    fn loops_and_undefined_names_are_refused() {
        let (a, b, c) = (deps(&["b"]), deps(&["c"]), deps(&["a"]));
        let jails = [
            ("a", a.as_slice()),
            ("b", b.as_slice()),
            ("c", c.as_slice()),
        ];
        assert_eq!(
            start_order(&jails),
            Err(DependError::Cycle(deps(&["a", "b", "c"])))
        );
        assert_eq!(
            DependError::Cycle(deps(&["a", "b", "c"])).to_string(),
            "dependency loop: a -> b -> c -> a"
        );

        let (x, y) = (deps(&["nowhere"]), deps(&["y"]));
        let jails = [("x", x.as_slice()), ("y", y.as_slice())];
        assert!(matches!(
            start_order(&jails),
            Err(DependError::Undefined { .. })
        ));
        assert_eq!(
            find_cycle(&jails),
            Some(deps(&["y"])),
            "a jail on itself is a loop"
        );
    }

    #[test]
    fn a_loop_beside_a_chain_is_found() {
        let (a, b, c, d) = (deps(&[]), deps(&["a", "d"]), deps(&["b"]), deps(&["c"]));
        let jails = [
            ("a", a.as_slice()),
            ("b", b.as_slice()),
            ("c", c.as_slice()),
            ("d", d.as_slice()),
        ];
        assert_eq!(find_cycle(&jails), Some(deps(&["b", "d", "c"])));
    }
}
