//! The host side of delegated datasets ([`thinjail_core::resources::datasets`]):
//! what to observe (each dataset and its parent), the refusals of a host whose
//! dataset is not the jail's to take (exit 78, naming the field, before anything
//! runs), and the creation of the missing ones before any jail starts. The
//! jail.conf parameters that hand them over are added with the jail's others
//! ([`thinjail_core::resources::datasets::add_params`]).

use std::collections::BTreeSet;

use thinjail_core::action::Action;
use thinjail_core::recipe::Recipe;
use thinjail_core::resources::datasets::{
    check_observed, owner_mark, Disposition, UNMOUNT_IN_JAIL, ZFS,
};
use thinjail_core::stage::{Planned, StageError};
use thinjail_core::world::World;

/// The recipe's delegated datasets and their parents: what
/// [`thinjail_core::probes::Probes::delegated`] asks about.
pub fn probed(recipe: &Recipe) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for delegated in recipe.jails.iter().flat_map(|j| &j.datasets) {
        names.insert(delegated.dataset.clone());
        if let Some((parent, _)) = delegated.dataset.rsplit_once('/') {
            names.insert(parent.to_string());
        }
    }
    names
}

/// Refuses a host that has a delegated dataset the jail may not take; plans the
/// creation of those missing. A world that was not observed (nothing known of the
/// host) gets every dataset created.
pub fn plan(recipe: &Recipe, world: &World) -> Result<Vec<Planned>, StageError> {
    let jails_dataset = recipe.host.jails_dataset.as_str();
    let mut actions = Vec::new();
    for (i, jail) in recipe.jails.iter().enumerate() {
        for (k, delegated) in jail.datasets.iter().enumerate() {
            let field = format!("jails[{i}].datasets[{k}]");
            let state = world
                .delegated
                .get(&delegated.dataset)
                .and_then(Option::as_ref);
            let parent_exists = !world.observed
                || delegated
                    .dataset
                    .rsplit_once('/')
                    .is_some_and(|(parent, _)| {
                        matches!(world.delegated.get(parent), Some(Some(_)))
                            || world.has_dataset(parent)
                    });
            let disposition = check_observed(
                &field,
                jails_dataset,
                &jail.name,
                delegated,
                state,
                parent_exists,
            )
            .map_err(StageError::Conflict)?;
            if disposition == Disposition::Create {
                actions.push(Planned::noted(
                    Action::CreateJailedDataset {
                        dataset: delegated.dataset.clone(),
                        jail: jail.name.clone(),
                        path: delegated.path.clone(),
                        owner: owner_mark(jails_dataset, &jail.name),
                    },
                    format!(
                        "{field}: jailed=on, so only jail {} mounts it (at {}) and manages it",
                        jail.name, delegated.path
                    ),
                ));
            }
        }
    }
    Ok(actions)
}

/// A running jail whose file unmounts delegated datasets on stop (`current`, as it
/// is on the host) and whose new file (`new`) does not: jail(8) stops a jail with
/// its file as it is then, so the restart that follows would leave them mounted
/// under the jail's data. They are unmounted inside the jail first.
pub fn unmount_before_losing(
    jail: &str,
    world: &World,
    current: Option<&str>,
    new: &str,
) -> Option<Planned> {
    let hands_over = |text: &str| text.contains(UNMOUNT_IN_JAIL);
    let losing = world.is_running(jail) && current.is_some_and(hands_over) && !hands_over(new);
    losing.then(|| {
        Planned::noted(
            Action::ExecInJail {
                jail: jail.to_string(),
                argv: vec![ZFS.into(), "unmount".into(), "-a".into()],
            },
            "the jail's datasets left the recipe: unmounted before its new file, whose stop no longer does it",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use thinjail_core::resources::datasets::DelegatedState;

    fn recipe() -> Recipe {
        Recipe::from_ron(
            r#"(host: (jails_dataset: "tank/jails"), releases: [(name: "14.3-RELEASE")],
                jails: [(name: "www", release: "14.3-RELEASE",
                         datasets: [(dataset: "tank/db/www", path: "/var/db/www")])])"#,
            "test",
        )
        .unwrap()
    }

    #[test]
    fn missing_datasets_are_created_and_a_second_plan_is_empty() {
        let r = recipe();
        assert_eq!(
            probed(&r).into_iter().collect::<Vec<_>>(),
            ["tank/db", "tank/db/www"]
        );
        let mut world = World::empty();
        world.observed = true;
        world.delegated.insert("tank/db/www".into(), None);
        world.delegated.insert(
            "tank/db".into(),
            Some(DelegatedState {
                filesystem: true,
                jailed: false,
                owner: None,
                mountpoint: Some("/tank/db".into()),
            }),
        );
        let first = plan(&r, &world).unwrap();
        let actions: Vec<Action> = first.iter().map(|p| p.action.clone()).collect();
        assert_eq!(
            actions,
            [Action::CreateJailedDataset {
                dataset: "tank/db/www".into(),
                jail: "www".into(),
                path: "/var/db/www".into(),
                owner: "tank/jails/www".into(),
            }]
        );
        let after = world.after_planned(&first);
        assert!(plan(&r, &after).unwrap().is_empty());
        world.delegated.insert("tank/db".into(), None);
        let refused = plan(&r, &world).unwrap_err().to_string();
        assert!(refused.contains("jails[0].datasets[0]"), "{refused}");
    }
}
