//! Which jails start together and in which order: planning only (pure functions of
//! the recipe and the actions a plan holds). The running of a parallel start is
//! `resources::order`'s; the FreeBSD host and the test bed carry it out.
//!
//! - [`start_sequence`]: the recipe's jails in start order — dependencies first
//!   (jail(8)'s `depend`), then lower `priority`, then recipe order. It is the
//!   order of `jail_list` (boot) and of thinjail's own starts.
//! - [`parallel_start`]: two or more `start_jail` actions become one
//!   `start_jails`, each jail waiting for the jails of the same start it depends
//!   on, unless the recipe says one at a time.

use std::collections::BTreeMap;

use crate::action::Action;
use crate::recipe::{Jail, Recipe};
use crate::resources::depend;
use crate::resources::order::JailStart;

/// The recipe's jails in the order they start, one at a time or as ready jails are
/// taken in a parallel start: every jail after the jails it depends on, and among
/// jails ready together, lower `priority` first, equal ones in recipe order (jail(8)
/// takes ready jails in file order, `dep_check` in `usr.sbin/jail/state.c`). The
/// recipe's order by priority when `depend` has a loop (validation refuses it).
pub fn start_sequence(recipe: &Recipe) -> Vec<&Jail> {
    let mut jails: Vec<&Jail> = recipe.jails.iter().collect();
    jails.sort_by_key(|j| j.priority);
    if jails.iter().all(|j| j.depend.is_empty()) {
        return jails;
    }
    let pairs: Vec<(&str, &[String])> = jails
        .iter()
        .map(|j| (j.name.as_str(), j.depend.as_slice()))
        .collect();
    let by_name: BTreeMap<&str, &Jail> = jails.iter().map(|j| (j.name.as_str(), *j)).collect();
    match depend::start_order(&pairs) {
        Ok(order) => order
            .into_iter()
            .filter_map(|n| by_name.get(n).copied())
            .collect(),
        Err(_) => jails,
    }
}

/// One action for starting `starts` (`StartJail`s in start order, dependencies
/// first) as `recipe` asks: a [`Action::StartJails`] when there are two or more
/// and `host.start_parallel` is not 1, each jail after the others it depends on,
/// directly or not; `starts` unchanged otherwise.
pub fn parallel_start(recipe: &Recipe, starts: Vec<Action>) -> Vec<Action> {
    let limit = recipe.host.start_parallel.map(|n| n.get());
    let mut jails = Vec::new();
    for action in &starts {
        let Action::StartJail {
            conf,
            jail,
            root,
            destroy_on_failure,
        } = action
        else {
            return starts;
        };
        // A start that must destroy interfaces when it fails (a VNET jail's epairs)
        // stays a start of its own.
        if !destroy_on_failure.is_empty() {
            return starts;
        }
        jails.push(JailStart {
            conf: conf.clone(),
            jail: jail.clone(),
            root: root.clone(),
            after: Vec::new(),
        });
    }
    if jails.len() < 2 || limit == Some(1) {
        return starts;
    }
    // Each jail's dependencies, directly or not, among those of this start (one map
    // of the recipe's `depend` for all of them).
    let edges: BTreeMap<&str, &[String]> = recipe
        .jails
        .iter()
        .map(|j| (j.name.as_str(), j.depend.as_slice()))
        .collect();
    let in_start: Vec<String> = jails.iter().map(|j| j.jail.clone()).collect();
    for start in &mut jails {
        let needed = depend::dependencies(&start.jail, &edges);
        start.after = in_start
            .iter()
            .filter(|j| needed.contains(j.as_str()))
            .cloned()
            .collect();
    }
    vec![Action::StartJails { jails, limit }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_or_more_starts_become_one_parallel_start_unless_one_at_a_time() {
        let mut recipe = Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")], jails: [
                (name: "db", release: "14.3-RELEASE"),
                (name: "www", release: "14.3-RELEASE", depend: ["app"]),
                (name: "app", release: "14.3-RELEASE", depend: ["db"]),
                (name: "cache", release: "14.3-RELEASE")])"#,
            "test",
        )
        .unwrap();
        let start = |name: &str| Action::StartJail {
            conf: format!("/etc/jail.conf.d/{name}.conf").into(),
            jail: name.into(),
            root: format!("/j/{name}").into(),
            destroy_on_failure: vec![],
        };
        // app runs already: www still waits for db, through app.
        let starts = vec![start("db"), start("www"), start("cache")];
        let planned = parallel_start(&recipe, starts.clone());
        let [Action::StartJails { jails, limit }] = planned.as_slice() else {
            panic!("one parallel start expected");
        };
        assert_eq!(*limit, None);
        let after: Vec<(&str, Vec<String>)> = jails
            .iter()
            .map(|j| (j.jail.as_str(), j.after.clone()))
            .collect();
        assert_eq!(
            after,
            [
                ("db", vec![]),
                ("www", vec!["db".to_string()]),
                ("cache", vec![])
            ]
        );
        assert_eq!(
            parallel_start(&recipe, vec![start("db")]),
            vec![start("db")]
        );
        recipe.host.start_parallel = std::num::NonZeroU32::new(1);
        assert_eq!(parallel_start(&recipe, starts.clone()), starts);
        recipe.host.start_parallel = std::num::NonZeroU32::new(3);
        assert!(matches!(
            parallel_start(&recipe, starts).as_slice(),
            [Action::StartJails { limit: Some(3), .. }]
        ));
    }

    #[test]
    fn dependencies_come_first_then_lower_priority_then_recipe_order() {
        let recipe = Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")], jails: [
                (name: "www", release: "14.3-RELEASE", depend: ["db"], priority: -5),
                (name: "cache", release: "14.3-RELEASE", priority: 10),
                (name: "db", release: "14.3-RELEASE", priority: 3),
                (name: "mail", release: "14.3-RELEASE"),
                (name: "log", release: "14.3-RELEASE", priority: -1)])"#,
            "test",
        )
        .unwrap();
        let order: Vec<&str> = start_sequence(&recipe)
            .into_iter()
            .map(|j| j.name.as_str())
            .collect();
        // www (-5) waits for db (3): a priority never overtakes a dependency.
        assert_eq!(order, ["log", "mail", "db", "www", "cache"]);
    }
}
