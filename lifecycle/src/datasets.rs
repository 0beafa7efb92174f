//! Delegated datasets in the lifecycle ([`thinjail_core::resources::datasets`]):
//! what `list` shows of them, and `destroy --data --dataset DATASET`, the only way
//! thinjail destroys one (plain `destroy` and `destroy --data` keep them: they hold
//! what the jail's root made, which the jail's own data does not).

use serde::Serialize;
use thinjail_core::action::Action;
use thinjail_core::recipe::Jail;
use thinjail_core::resources::datasets::{owner_mark, OWNER_PROPERTY};
use thinjail_core::stage::Planned;
use thinjail_core::world::World;
use thinjail_core::Recipe;

use crate::LifecycleError;

/// One delegated dataset of a jail, as `list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatasetStatus {
    /// The dataset.
    pub dataset: String,
    /// Where the jail mounts it (the recipe's `path`).
    pub path: String,
    /// Whether it exists on the host (`None`: not observed).
    pub exists: Option<bool>,
    /// Whether it is `jailed=on` (`None`: not observed or missing).
    pub jailed: Option<bool>,
}

/// The delegated datasets of `jail` (from the recipe), with what the host has.
pub fn statuses(jail: Option<&Jail>, world: &World) -> Vec<DatasetStatus> {
    jail.map(|j| j.datasets.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|d| {
            let observed = world.delegated.get(&d.dataset);
            DatasetStatus {
                dataset: d.dataset.clone(),
                path: d.path.clone(),
                exists: observed.map(Option::is_some),
                jailed: observed.and_then(|s| s.as_ref()).map(|s| s.jailed),
            }
        })
        .collect()
}

/// `destroy JAIL --data --dataset DATASET…`: each named dataset must be one the
/// recipe delegates to `jail` (else a usage error) and, on the host, one thinjail
/// made for it (`jailed=on` and its own `thinjail:jail` naming the jail; else
/// refused, exit 78). A named dataset that no longer exists has nothing to destroy.
pub fn plan_destroy_delegated(
    recipe: &Recipe,
    world: &World,
    jail: &str,
    names: &[String],
) -> Result<Vec<Planned>, LifecycleError> {
    let mark = owner_mark(&recipe.host.jails_dataset, jail);
    let delegated: Vec<&str> = recipe
        .jail(jail)
        .map(|j| j.datasets.iter().map(|d| d.dataset.as_str()).collect())
        .unwrap_or_default();
    let mut actions = Vec::new();
    for name in names {
        if !delegated.contains(&name.as_str()) {
            return Err(LifecycleError::InvalidName {
                name: name.clone(),
                reason: format!(
                    "--dataset names a dataset the recipe delegates to jail {jail} (it has: {})",
                    if delegated.is_empty() {
                        "none".to_string()
                    } else {
                        delegated.join(", ")
                    }
                ),
            });
        }
        match world.delegated.get(name) {
            Some(None) => continue,
            Some(Some(state)) if state.jailed && state.owner.as_deref() == Some(mark.as_str()) => {
                actions.push(Planned::noted(
                    Action::DestroyJailedDataset {
                        dataset: name.clone(),
                        jail: jail.to_string(),
                    },
                    "--dataset: what the jail kept there, with its snapshots and children, gone for good",
                ));
            }
            _ => {
                return Err(LifecycleError::Refused(format!(
                    "refusing to destroy {name}: it is not a dataset thinjail made for jail {jail} \
                     (jailed=on with {OWNER_PROPERTY}={mark} of its own); nothing was changed"
                )))
            }
        }
    }
    Ok(actions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use thinjail_core::resources::datasets::DelegatedState;

    fn recipe() -> Recipe {
        Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")],
                jails: [(name: "www", release: "14.3-RELEASE",
                         datasets: [(dataset: "zroot/www-db", path: "/var/db/www")])])"#,
            "test",
        )
        .unwrap()
    }

    fn world(owner: Option<&str>, jailed: bool) -> World {
        let mut world = World::empty();
        world.observed = true;
        world.delegated.insert(
            "zroot/www-db".into(),
            Some(DelegatedState {
                filesystem: true,
                jailed,
                owner: owner.map(String::from),
                mountpoint: None,
            }),
        );
        world
    }

    #[test]
    fn only_a_named_dataset_thinjail_made_for_the_jail_is_destroyed() {
        let r = recipe();
        let names = ["zroot/www-db".to_string()];
        let ours = plan_destroy_delegated(&r, &world(Some("zroot/jails/www"), true), "www", &names)
            .unwrap();
        assert_eq!(
            ours.iter().map(|p| p.action.clone()).collect::<Vec<_>>(),
            [Action::DestroyJailedDataset {
                dataset: "zroot/www-db".into(),
                jail: "www".into()
            }]
        );
        assert!(plan_destroy_delegated(&r, &world(None, true), "www", &[])
            .unwrap()
            .is_empty());
        let other = ["zroot/other".to_string()];
        assert!(
            plan_destroy_delegated(&r, &world(None, true), "www", &other)
                .unwrap_err()
                .is_usage()
        );
        for refused in [
            world(None, true),
            world(Some("zroot/jails/db"), true),
            world(Some("zroot/jails/www"), false),
        ] {
            assert!(matches!(
                plan_destroy_delegated(&r, &refused, "www", &names),
                Err(LifecycleError::Refused(_))
            ));
        }
        let mut gone = World::empty();
        gone.delegated.insert("zroot/www-db".into(), None);
        assert!(plan_destroy_delegated(&r, &gone, "www", &names)
            .unwrap()
            .is_empty());
        let rows = statuses(r.jail("www"), &world(Some("zroot/jails/www"), true));
        assert_eq!(rows[0].exists, Some(true));
        assert_eq!(rows[0].jailed, Some(true));
    }
}
