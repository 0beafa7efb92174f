//! Which jails stop together and in which order: planning only (pure functions of
//! the recipe and the jails to stop). The running of a parallel stop, and its
//! report, are `resources::order`'s; the FreeBSD host and the test bed carry it out.
//!
//! jail(8) stops jails in the reverse of their start order: with `-r`, a jail's
//! `depend` edges are followed backwards (`dep_check` and `dep_done` in
//! `usr.sbin/jail/state.c` swap `DEP_FROM` and `DEP_TO` when `JF_DO_STOP`), so a
//! jail is removed only after every jail of the file that depends on it, and when
//! one of those fails to stop, the jail it depends on is skipped (left running).
//! thinjail gives each jail a file of its own holding the jails it depends on but
//! not those depending on it, so `jail -f FILE -r NAME` alone would remove NAME
//! while its dependents still run: thinjail orders the stops itself.
//! rc.d/jail stops one jail at a time (`jail_stop`, in `jail_list` order, reversed
//! with `jail_reverse_stop`); thinjail stops independent jails side by side, at
//! most `host.start_parallel` at once (the bound of parallel starts), on the same
//! scheduling as a start ([`crate::resources::order::stop_bounded`], where the
//! report of a parallel stop is too).
//!
//! - [`stop_sequence`]: the jails to stop, dependents first (the reverse of
//!   [`crate::start::start_sequence`]);
//! - [`stop_actions`]: each running jail's stop and the removal of the rctl(8)
//!   rules thinjail set for it, one jail after the other for one jail or a bound
//!   of 1, otherwise one `stop_jails`.
//!
//! A VNET jail stops side by side with the others: its `exec.poststop` destroys its
//! own epair, and a stop has no cleanup on failure to carry (a parallel start
//! keeps VNET jails alone for theirs, [`crate::start::parallel_start`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::action::Action;
use crate::recipe::Recipe;
use crate::resources::depend;
use crate::resources::order::JailStop;
use crate::stage::Planned;

/// `jails` in the order they stop one at a time: every jail after the jails that
/// depend on it (the reverse of [`crate::start::start_sequence`]); jails the
/// recipe does not name (orphans) first, as given.
pub fn stop_sequence(recipe: &Recipe, jails: &[String]) -> Vec<String> {
    let place: BTreeMap<&str, usize> = crate::start::start_sequence(recipe)
        .into_iter()
        .enumerate()
        .map(|(i, j)| (j.name.as_str(), i))
        .collect();
    let mut ordered: Vec<String> = jails.to_vec();
    // Stable: orphans (no place, `None`) keep their order, before every recipe jail.
    ordered.sort_by_key(|j| place.get(j.as_str()).map(|&i| usize::MAX - i));
    ordered
}

/// The actions that stop `stops` (given in [`stop_sequence`] order, `after` left
/// empty): for one jail, or when `host.start_parallel` is 1, each jail's
/// `stop_jail` then its `remove_limits` in that order; otherwise one `stop_jails`,
/// each jail after the others of `stops` that depend on it, directly or not.
pub fn stop_actions(recipe: &Recipe, mut stops: Vec<JailStop>) -> Vec<Planned> {
    let limit = recipe.host.start_parallel.map(|n| n.get());
    if stops.len() < 2 || limit == Some(1) {
        let mut actions = Vec::new();
        for stop in stops {
            actions.push(Planned::new(Action::StopJail {
                conf: stop.conf,
                jail: stop.jail.clone(),
            }));
            actions.extend(remove_limits(&stop.jail, stop.remove_limits));
        }
        return actions;
    }
    let edges: BTreeMap<&str, &[String]> = recipe
        .jails
        .iter()
        .map(|j| (j.name.as_str(), j.depend.as_slice()))
        .collect();
    let in_stop: Vec<String> = stops.iter().map(|s| s.jail.clone()).collect();
    // Each jail of the stop and what it depends on, directly or not: a jail waits
    // for every jail of the stop whose dependencies include it.
    let needs: BTreeMap<&str, BTreeSet<&str>> = in_stop
        .iter()
        .map(|jail| (jail.as_str(), depend::dependencies(jail, &edges)))
        .collect();
    for stop in &mut stops {
        stop.after = in_stop
            .iter()
            .filter(|other| {
                needs
                    .get(other.as_str())
                    .is_some_and(|deps| deps.contains(stop.jail.as_str()))
            })
            .cloned()
            .collect();
    }
    let note = if stops.iter().any(|s| !s.remove_limits.is_empty()) {
        format!("side by side, each after the jails that depend on it; then {LIMITS_NOTE}")
    } else {
        "side by side, each after the jails that depend on it (as a script, one after the other)"
            .to_string()
    };
    vec![Planned::noted(
        Action::StopJails {
            jails: stops,
            limit,
        },
        note,
    )]
}

/// The `stop_jail` actions of `planned` (anything else is dropped), dependents
/// first, as [`stop_actions`] groups them: `apply`'s restarts of jails whose
/// configuration changed. A stop that stays a `stop_jail` keeps its note; a
/// `stop_jails` gets the first one's.
pub fn regroup_stops(recipe: &Recipe, planned: Vec<Planned>) -> Vec<Planned> {
    let mut notes: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut confs: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut names = Vec::new();
    for p in planned {
        if let Action::StopJail { conf, jail } = p.action {
            notes.insert(jail.clone(), p.note);
            confs.insert(jail.clone(), conf);
            names.push(jail);
        }
    }
    let stops: Vec<JailStop> = stop_sequence(recipe, &names)
        .into_iter()
        .filter_map(|jail| {
            Some(JailStop {
                conf: confs.remove(&jail)?,
                jail,
                after: Vec::new(),
                remove_limits: Vec::new(),
            })
        })
        .collect();
    let first_note = names.first().and_then(|j| notes.get(j).cloned().flatten());
    let mut actions = stop_actions(recipe, stops);
    for action in &mut actions {
        match &action.action {
            Action::StopJail { jail, .. } => {
                action.note = notes.get(jail).cloned().flatten();
            }
            Action::StopJails { .. } => {
                if let Some(note) = &first_note {
                    action.note = Some(format!(
                        "{note}; side by side, each after the jails that depend on it (as a script, one after the other)"
                    ));
                }
            }
            _ => {}
        }
    }
    actions
}

/// The removal (`rctl -r`) of the rctl(8) `rules` thinjail set for `jail`, with
/// why; `None` when there are none.
pub fn remove_limits(jail: &str, rules: Vec<String>) -> Option<Planned> {
    (!rules.is_empty()).then(|| {
        Planned::noted(
            Action::RemoveLimits {
                jail: jail.to_string(),
                rules,
            },
            LIMITS_NOTE,
        )
    })
}

/// Why `stop` removes rctl(8) rules.
const LIMITS_NOTE: &str =
    "the limits thinjail set for the jail (rules outlive a jail in the kernel)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::order::stop_bounded;
    use std::sync::Mutex;

    fn recipe(host: &str) -> Recipe {
        Recipe::from_ron(
            &format!(
                r#"(releases: [(name: "14.3-RELEASE")], {host} jails: [
                (name: "db", release: "14.3-RELEASE"),
                (name: "www", release: "14.3-RELEASE", depend: ["app"]),
                (name: "app", release: "14.3-RELEASE", depend: ["db"]),
                (name: "cache", release: "14.3-RELEASE")])"#
            ),
            "test",
        )
        .unwrap()
    }

    fn stop(name: &str, rules: &[&str]) -> JailStop {
        JailStop {
            conf: format!("/etc/jail.conf.d/{name}.conf").into(),
            jail: name.into(),
            after: vec![],
            remove_limits: rules.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn dependents_stop_first_and_orphans_before_the_recipe_jails() {
        let recipe = recipe("");
        let all: Vec<String> = ["db", "www", "app", "cache", "old"]
            .map(String::from)
            .to_vec();
        // Start order: db, app, www, cache (depend, then recipe order).
        assert_eq!(
            stop_sequence(&recipe, &all),
            ["old", "cache", "www", "app", "db"]
        );
    }

    #[test]
    fn two_or_more_stops_become_one_parallel_stop_each_after_its_dependents() {
        let mut recipe = recipe("");
        // app is not being stopped: db still waits for www, which depends on it
        // through app.
        let stops = vec![
            stop("cache", &[]),
            stop("www", &["jail:www:maxproc:deny=10"]),
            stop("db", &[]),
        ];
        let planned = stop_actions(&recipe, stops.clone());
        let [Planned {
            action: Action::StopJails { jails, limit },
            ..
        }] = planned.as_slice()
        else {
            panic!("one parallel stop expected: {planned:?}");
        };
        assert_eq!(*limit, None);
        let after: Vec<(&str, Vec<String>)> = jails
            .iter()
            .map(|j| (j.jail.as_str(), j.after.clone()))
            .collect();
        assert_eq!(
            after,
            [
                ("cache", vec![]),
                ("www", vec![]),
                ("db", vec!["www".to_string()])
            ]
        );
        assert_eq!(jails[1].remove_limits, ["jail:www:maxproc:deny=10"]);

        // One at a time: each stop, then its rules.
        recipe.host.start_parallel = std::num::NonZeroU32::new(1);
        let kinds: Vec<String> = stop_actions(&recipe, stops)
            .iter()
            .map(|p| p.action.describe())
            .collect();
        assert_eq!(
            kinds,
            [
                "stop jail cache",
                "stop jail www",
                "remove limits of jail www: jail:www:maxproc:deny=10",
                "stop jail db"
            ]
        );
        assert_eq!(
            stop_actions(&recipe, vec![stop("db", &[])]).len(),
            1,
            "a single stop stays a stop_jail"
        );
    }

    #[test]
    fn restarts_stop_dependents_first_and_keep_their_note() {
        let mut recipe = recipe("");
        let planned = |names: &[&str]| -> Vec<Planned> {
            names
                .iter()
                .map(|n| {
                    Planned::noted(
                        Action::StopJail {
                            conf: format!("/etc/jail.conf.d/{n}.conf").into(),
                            jail: n.to_string(),
                        },
                        "changed",
                    )
                })
                .collect()
        };
        // In start order, as apply plans restarts: db before www.
        let regrouped = regroup_stops(&recipe, planned(&["db", "www"]));
        let [Planned {
            action: Action::StopJails { jails, .. },
            note: Some(note),
        }] = regrouped.as_slice()
        else {
            panic!("one parallel stop expected: {regrouped:?}");
        };
        let order: Vec<(&str, &[String])> = jails
            .iter()
            .map(|j| (j.jail.as_str(), j.after.as_slice()))
            .collect();
        assert_eq!(order, [("www", &[][..]), ("db", &["www".to_string()][..])]);
        assert!(note.starts_with("changed; side by side"), "{note}");
        recipe.host.start_parallel = std::num::NonZeroU32::new(1);
        let one_by_one = regroup_stops(&recipe, planned(&["db", "www"]));
        let described: Vec<(String, Option<&str>)> = one_by_one
            .iter()
            .map(|p| (p.action.describe(), p.note.as_deref()))
            .collect();
        assert_eq!(
            described,
            [
                ("stop jail www".to_string(), Some("changed")),
                ("stop jail db".to_string(), Some("changed"))
            ]
        );
    }

    #[test]
    fn a_failed_stop_leaves_the_jails_it_depends_on_running_and_the_others_stop() {
        let mut jails = vec![
            stop("www", &[]),
            stop("app", &[]),
            stop("cache", &[]),
            stop("db", &[]),
        ];
        jails[1].after = vec!["www".into()];
        jails[3].after = vec!["www".into(), "app".into()];
        let order = Mutex::new(Vec::new());
        let report = stop_bounded(&jails, 4, |j| {
            order.lock().unwrap().push(j.jail.clone());
            if j.jail == "app" {
                Err("jail: app: /bin/sh /etc/rc.shutdown: failed")
            } else {
                Ok(())
            }
        });
        assert_eq!(report.stopped(), ["www", "cache"]);
        assert!(!report.all_stopped());
        let order = order.into_inner().unwrap();
        assert!(!order.contains(&"db".to_string()), "{order:?}");
        assert_eq!(
            report.to_string(),
            "2 of 4 jails did not stop; stopped: www, cache\n  \
             app: failed: jail: app: /bin/sh /etc/rc.shutdown: failed\n  \
             db: skipped (still running): app, which depends on it, did not stop"
        );
    }
}
