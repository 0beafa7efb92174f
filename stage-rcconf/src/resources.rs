//! The jail.conf side of what a jail needs besides a base (issue 15), and bringing
//! running jails to the recipe without restarting them:
//!
//! - limits and CPU sets are commands jail(8) runs on the host once the jail exists
//!   (`exec.created`, after any of the recipe's own): `rctl -a RULE …` and `cpuset
//!   -l LIST -j NAME`, so every start — thinjail's, a restart, the boot through
//!   rc.d/jail — applies them before the jail's first process;
//! - `depend` is jail(8)'s own parameter, and the jail's file carries the blocks of
//!   every jail it depends on, directly or not, so `jail -f FILE -c NAME` finds them
//!   (jail(8) refuses a dependency its file does not define) and starts those not
//!   running first;
//! - a change of limits or CPU set alone does not restart a running jail: the rules
//!   that differ are removed and added (`rctl -r`/`rctl -a`, exactly those), the set
//!   changed with `cpuset -l`. thinjail's record of the rules it set is the hook in
//!   the jail's file as it is on the host; a rule it did not set is never removed.

use std::collections::BTreeMap;

use thinjail_core::action::Action;
use thinjail_core::jailconf::{Param, Params};
use thinjail_core::recipe::{Jail, ParamValue, Recipe};
use thinjail_core::resources::cpuset::{self, CpuList};
use thinjail_core::resources::depend;
use thinjail_core::resources::rctl::{self, Rule};
use thinjail_core::resources::Racct;
use thinjail_core::stage::{Planned, StageError};
use thinjail_core::world::World;

/// Adds the jail's `exec.created` hooks and `depend` to its parameters.
pub fn add_resource_params(params: &mut BTreeMap<String, ParamValue>, jail: &Jail) {
    let mut hooks: Vec<String> = match params.remove("exec.created") {
        None => Vec::new(),
        Some(ParamValue::List(values)) => values,
        Some(other) => vec![other.to_string()],
    };
    hooks.extend(created_hooks(jail));
    match hooks.len() {
        0 => {}
        1 => {
            params.insert("exec.created".into(), ParamValue::Text(hooks.remove(0)));
        }
        _ => {
            params.insert("exec.created".into(), ParamValue::List(hooks));
        }
    }
    if !jail.depend.is_empty() {
        params.insert("depend".into(), ParamValue::List(jail.depend.clone()));
    }
}

/// thinjail's own `exec.created` commands for `jail`: its limits, its CPU set.
pub fn created_hooks(jail: &Jail) -> Vec<String> {
    let mut hooks = Vec::new();
    hooks.extend(rctl::hook(&rctl::rules_of(&jail.name, &jail.limits)));
    if let Some(list) = jail.cpu_list() {
        hooks.push(cpuset::hook(&jail.name, &list));
    }
    hooks
}

/// Whether an `exec.created` command is one of thinjail's hooks.
fn is_resource_hook(command: &str) -> bool {
    command.starts_with(&format!("{} -a ", rctl::RCTL))
        || command.starts_with(&format!("{} -l ", cpuset::CPUSET))
}

/// A jail's parameters without what thinjail changes on a running jail (its hooks,
/// `depend`): two blocks that differ only there need no restart.
pub fn without_live_params(params: Params) -> Params {
    Params(
        params
            .0
            .into_iter()
            .filter(|p| p.name != "depend")
            .map(|p| {
                if p.name == "exec.created" {
                    Param {
                        values: p
                            .values
                            .into_iter()
                            .filter(|v| !is_resource_hook(v))
                            .collect(),
                        ..p
                    }
                } else {
                    p
                }
            })
            .filter(|p| !(p.name == "exec.created" && p.values.is_empty()))
            .collect(),
    )
}

/// The jails `jail` depends on, directly or not, in start order: their blocks go in
/// its file. Nothing to look up for a jail without `depend` (planning stays linear
/// in the number of jails).
pub fn dependencies<'a>(recipe: &'a Recipe, jail: &Jail) -> Vec<&'a Jail> {
    if jail.depend.is_empty() {
        return Vec::new();
    }
    let pairs: Vec<(&str, &[String])> = recipe
        .jails
        .iter()
        .map(|j| (j.name.as_str(), j.depend.as_slice()))
        .collect();
    depend::closure(&jail.name, &pairs)
        .into_iter()
        .filter_map(|name| recipe.jail(name))
        .collect()
}

/// The recipe's jails in the order they start (dependencies first, then lower
/// `priority`, then recipe order): `jail_list` and thinjail's own starts.
pub fn start_order(recipe: &Recipe) -> Vec<&Jail> {
    thinjail_core::start::start_sequence(recipe)
}

/// Refuses a host that cannot give the recipe's jails what they need: limits
/// without RACCT (a loader tunable: it takes a reboot), CPUs the host does not have.
pub fn check_host(recipe: &Recipe, world: &World) -> Result<(), StageError> {
    if recipe.jails.iter().any(|j| !j.limits.is_empty()) {
        let racct = world.limits.as_ref().map(|l| l.racct);
        match racct {
            Some(Racct::Enabled) | None => {}
            Some(Racct::Disabled) => {
                return Err(StageError::Conflict(
                    "the recipe gives jails limits, but this host's kernel does not account \
                     resources (kern.racct.enable is 0): add kern.racct.enable=1 to \
                     /boot/loader.conf and reboot; nothing was changed"
                        .into(),
                ))
            }
            Some(Racct::Absent) => {
                return Err(StageError::Conflict(
                    "the recipe gives jails limits, but this host's kernel has no RACCT/RCTL \
                     (no kern.racct.enable): use a kernel with options RACCT and RCTL (GENERIC \
                     has them); nothing was changed"
                        .into(),
                ))
            }
        }
    }
    if let Some(cpus) = &world.cpus {
        let host = CpuList::parse(&cpus.host).unwrap_or_default();
        for (i, jail) in recipe.jails.iter().enumerate() {
            let Some(list) = jail.cpu_list() else {
                continue;
            };
            let missing = list.missing_from(&host);
            if !missing.is_empty() {
                return Err(StageError::Conflict(format!(
                    "jails[{i}].cpuset: jail {} is to run on CPUs {list}, but this host has no CPU \
                     {missing} (it has {}); nothing was changed",
                    jail.name, cpus.host
                )));
            }
        }
    }
    Ok(())
}

/// The changes that bring a jail's limits and CPU set to the recipe's: `current` is
/// its file as it is on the host (thinjail's record of the rules it set), `running`
/// whether it runs and keeps running (a jail about to start gets everything from its
/// hooks; only rules to remove matter for it).
pub fn reconcile(jail: &Jail, world: &World, current: Option<&str>, running: bool) -> Vec<Planned> {
    let mut actions = Vec::new();
    if let Some(limits) = &world.limits {
        let wanted = rctl::rules_of(&jail.name, &jail.limits);
        let change = limits.reconcile(&jail.name, current, &wanted);
        if !change.remove.is_empty() {
            actions.push(Planned::noted(
                Action::RemoveLimits {
                    jail: jail.name.clone(),
                    rules: change.remove.iter().map(Rule::to_string).collect(),
                },
                "rules thinjail set that the recipe no longer has; no other rule is touched",
            ));
        }
        if running && !change.add.is_empty() {
            let note = if change.displaced.is_empty() {
                "rules of the recipe the jail does not have yet".to_string()
            } else {
                format!(
                    "rules of the recipe the jail does not have yet; the kernel keeps one deny rule \
                     per resource, so it drops {} (not thinjail's)",
                    change
                        .displaced
                        .iter()
                        .map(Rule::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            actions.push(Planned::noted(
                Action::AddLimits {
                    jail: jail.name.clone(),
                    rules: change.add.iter().map(Rule::to_string).collect(),
                },
                note,
            ));
        }
    }
    if running {
        if let (Some(cpus), Some(list)) = (&world.cpus, jail.cpu_list()) {
            let wanted = list.to_string();
            if cpus.jails.get(&jail.name) != Some(&wanted) {
                actions.push(Planned::noted(
                    Action::SetCpuset {
                        jail: jail.name.clone(),
                        cpus: wanted,
                    },
                    "the running jail's CPU set differs from the recipe's",
                ));
            }
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use thinjail_core::resources::ObservedLimits;

    fn recipe(jails: &str) -> Recipe {
        Recipe::from_ron(
            &format!(r#"(releases: [(name: "14.3-RELEASE")], jails: [{jails}])"#),
            "test",
        )
        .unwrap()
    }

    #[test]
    fn hooks_follow_the_recipes_own_and_depend_is_jail_8s() {
        let r = recipe(
            r#"(name: "db", release: "14.3-RELEASE"),
               (name: "www", release: "14.3-RELEASE", limits: ["maxproc:deny=10"], cpuset: "1,0",
                depend: ["db"], params: {"exec.created": "/bin/echo hi"})"#,
        );
        let mut params = r.params_of(&r.jails[1]);
        add_resource_params(&mut params, &r.jails[1]);
        assert_eq!(
            params["exec.created"],
            ParamValue::List(vec![
                "/bin/echo hi".into(),
                "/usr/bin/rctl -a jail:www:maxproc:deny=10".into(),
                "/usr/bin/cpuset -l 0,1 -j www".into(),
            ])
        );
        assert_eq!(params["depend"], ParamValue::List(vec!["db".into()]));
        assert_eq!(
            dependencies(&r, &r.jails[1])
                .iter()
                .map(|j| j.name.as_str())
                .collect::<Vec<_>>(),
            ["db"]
        );
    }

    #[test]
    fn a_running_jail_gets_exactly_the_rules_that_differ() {
        let r = recipe(
            r#"(name: "www", release: "14.3-RELEASE", limits: ["maxproc:deny=20", "nthr:log=5"])"#,
        );
        let mut world = World::empty();
        world.limits = Some(ObservedLimits {
            racct: Racct::Enabled,
            rules: vec![
                "jail:www:maxproc:deny=10".into(),
                "jail:www:nthr:log=5".into(),
                "jail:www:openfiles:log=7".into(),
            ],
        });
        let file =
            "exec.created = \"/usr/bin/rctl -a jail:www:maxproc:deny=10 jail:www:nthr:log=5\";";
        let actions = reconcile(&r.jails[0], &world, Some(file), true);
        let got: Vec<&Action> = actions.iter().map(|p| &p.action).collect();
        assert_eq!(
            got,
            [
                &Action::RemoveLimits {
                    jail: "www".into(),
                    rules: vec!["jail:www:maxproc:deny=10".into()]
                },
                &Action::AddLimits {
                    jail: "www".into(),
                    rules: vec!["jail:www:maxproc:deny=20".into()]
                },
            ]
        );
        world.limits.as_mut().unwrap().racct = Racct::Disabled;
        assert!(check_host(&r, &world)
            .unwrap_err()
            .to_string()
            .contains("kern.racct.enable=1"));
    }
}
