//! # thinjail-stage-zfs
//!
//! Plans the ZFS datasets of the article's layout (steps 1, 2 and 5): the jails
//! dataset with its mountpoint, a base and a template dataset for each release, one
//! dataset per jail, and the dataset holding the jails' mountpoints.
//!
//! It creates only what is missing, each dataset with thinjail's mark
//! (`-o thinjail:managed=<jails dataset>`), and refuses to plan over a jails dataset
//! mounted somewhere other than the recipe says, or over any dataset of the layout
//! that exists without the mark: another tool's (the FreeBSD Handbook makes
//! `zroot/jails/containers`, `media`, `templates`) is never taken over silently; the
//! refusal says how to mark it once it is meant to be thinjail's.
//!
//! ```
//! use thinjail_core::{Recipe, Stage, StageContext, World};
//! use thinjail_stage_zfs::ZfsStage;
//! let recipe = Recipe::from_ron(r#"(releases: [(name: "14.3-RELEASE")])"#, "example").unwrap();
//! let actions = ZfsStage.plan(&StageContext::new(&recipe), &World::empty()).unwrap();
//! assert_eq!(
//!     actions[0].action.sh_lines(),
//!     ["zfs create -o mountpoint=/usr/local/jails -o thinjail:managed=zroot/jails zroot/jails"]
//! );
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use thinjail_core::action::Action;
use thinjail_core::layout::MANAGED_PROPERTY;
use thinjail_core::stage::{no_config, DeclaredStage, Planned, Stage, StageContext, StageError};
use thinjail_core::world::World;

/// The dataset stage.
#[derive(Clone, Copy, Debug, Default)]
pub struct ZfsStage;

impl DeclaredStage for ZfsStage {
    const NAME: &'static str = "zfs";
    const SUMMARY: &'static str = "ZFS datasets for the bases, templates, jails and mountpoints";
    const ARTICLE_STEP: Option<&'static str> = Some("1, 2, 5");

    fn from_config(config: Option<&str>) -> Result<Self, StageError> {
        no_config(Self::NAME, config)?;
        Ok(ZfsStage)
    }
}

impl Stage for ZfsStage {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn summary(&self) -> &str {
        Self::SUMMARY
    }

    fn article_step(&self) -> Option<&str> {
        Self::ARTICLE_STEP
    }

    fn plan(&self, ctx: &StageContext<'_>, world: &World) -> Result<Vec<Planned>, StageError> {
        let layout = ctx.layout;
        let recipe = ctx.recipe;
        let mut actions = Vec::new();
        let used = layout.recipe_datasets();
        let not_ours = layout.not_ours(world, &used);
        if !not_ours.is_empty() {
            return Err(StageError::Conflict(layout.not_ours_message(&not_ours)));
        }
        let jails = layout.jails_dataset();
        match world.dataset(jails) {
            Some(existing) => {
                if existing.mountpoint.as_deref() != Some(layout.jails_dir()) {
                    return Err(StageError::Conflict(format!(
                        "{jails} is mounted at {}, but the recipe says {}; fix host.jails_dir or the dataset's mountpoint",
                        existing.mountpoint.as_ref().map_or("nowhere".to_string(), |m| m.display().to_string()),
                        layout.jails_dir().display()
                    )));
                }
            }
            None => {
                let pool = recipe.host.pool();
                if world.observed && !world.has_dataset(pool) {
                    return Err(StageError::Missing(format!(
                        "ZFS pool {pool} does not exist on this host"
                    )));
                }
                let parent = jails.rsplit_once('/').map_or(pool, |(p, _)| p);
                actions.push(Planned::noted(
                    Action::CreateDataset {
                        dataset: jails.to_string(),
                        mountpoint: Some(layout.jails_dir().to_path_buf()),
                        parents: !world.has_dataset(parent) && parent != pool,
                        properties: layout.managed_properties(),
                    },
                    format!(
                        "every dataset thinjail creates carries {MANAGED_PROPERTY}={jails}: \
                         a dataset without it is never taken for thinjail's"
                    ),
                ));
            }
        }
        let mut create = |dataset: String, note: Option<&str>| {
            if !world.has_dataset(&dataset) {
                let action = Action::CreateDataset {
                    dataset,
                    mountpoint: None,
                    parents: false,
                    properties: layout.managed_properties(),
                };
                actions.push(match note {
                    Some(note) => Planned::noted(action, note),
                    None => Planned::new(action),
                });
            }
        };
        if !recipe.releases.is_empty() {
            create(
                layout.bases_dataset(),
                Some("article: zfs create -p — the parent is created on its own, so that it carries thinjail's mark too"),
            );
        }
        for release in &recipe.releases {
            create(layout.base_dataset(&release.name), None);
            create(
                layout.template_dataset(&release.name),
                Some("article step 2: the template is created up front with the other datasets"),
            );
        }
        for jail in &recipe.jails {
            create(layout.jail_dataset(&jail.name), None);
        }
        if !recipe.jails.is_empty() {
            create(layout.mountpoints_dataset(), None);
        }
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thinjail_core::Recipe;

    fn recipe() -> Recipe {
        Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")], jails: [(name: "containers", release: "14.3-RELEASE")])"#,
            "test",
        )
        .unwrap()
    }

    #[test]
    fn every_dataset_is_created_with_thinjails_mark() {
        let recipe = recipe();
        let plan = ZfsStage
            .plan(&StageContext::new(&recipe), &World::empty())
            .unwrap();
        assert!(!plan.is_empty());
        for planned in &plan {
            let Action::CreateDataset {
                dataset,
                parents,
                properties,
                ..
            } = &planned.action
            else {
                panic!("{:?}", planned.action)
            };
            assert_eq!(
                properties.get(MANAGED_PROPERTY).map(String::as_str),
                Some("zroot/jails"),
                "{dataset}"
            );
            assert!(!parents, "{dataset}: -p would make unmarked parents");
        }
    }

    /// The FreeBSD Handbook's own jail datasets: made by hand, so without the mark.
    #[test]
    fn a_dataset_thinjail_did_not_make_is_never_taken_over() {
        let recipe = recipe();
        let mut world = World::empty();
        world.observed = true;
        world.add_filesystem("zroot", None, None);
        world.add_filesystem("zroot/jails", Some("/usr/local/jails".as_ref()), None);
        world.add_filesystem("zroot/jails/containers", None, None);
        let error = ZfsStage
            .plan(&StageContext::new(&recipe), &world)
            .unwrap_err();
        assert!(matches!(error, StageError::Conflict(_)));
        let message = error.to_string();
        assert!(
            message.contains("thinjail did not create zroot/jails, zroot/jails/containers"),
            "{message}"
        );
        assert!(
            message.contains("  zfs set thinjail:managed=zroot/jails zroot/jails\n")
                && message
                    .contains("  zfs set thinjail:managed=zroot/jails zroot/jails/containers\n"),
            "{message}"
        );
        // Marked by the administrator, as the message says: now it is thinjail's.
        world.set_managed("zroot/jails", Some("zroot/jails".into()));
        world.set_managed("zroot/jails/containers", Some("zroot/jails".into()));
        let plan = ZfsStage.plan(&StageContext::new(&recipe), &world).unwrap();
        assert!(plan
            .iter()
            .all(|p| !p.action.describe().contains("zroot/jails/containers ")));
    }
}
