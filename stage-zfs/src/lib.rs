//! # thinjail-stage-zfs
//!
//! Plans the ZFS datasets of the article's layout (steps 1, 2 and 5): the jails
//! dataset with its mountpoint, a base and a template dataset for each release, one
//! dataset per jail, and the dataset holding the jails' mountpoints.
//!
//! It creates only what is missing, and refuses to plan over a jails dataset mounted
//! somewhere other than the recipe says.
//!
//! ```
//! use thinjail_core::{Recipe, Stage, StageContext, World};
//! use thinjail_stage_zfs::ZfsStage;
//! let recipe = Recipe::from_ron(r#"(releases: [(name: "14.3-RELEASE")])"#, "example").unwrap();
//! let actions = ZfsStage.plan(&StageContext::new(&recipe), &World::empty()).unwrap();
//! assert_eq!(actions[0].action.sh_lines(), ["zfs create -o mountpoint=/usr/local/jails zroot/jails"]);
//! ```

use thinjail_core::action::Action;
use thinjail_core::stage::{no_config, BuiltinStage, Planned, Stage, StageContext, StageError};
use thinjail_core::world::World;

/// The dataset stage.
#[derive(Clone, Copy, Debug, Default)]
pub struct ZfsStage;

thinjail_core::inventory::submit! {
    BuiltinStage::new("zfs", SUMMARY, "thinjail-stage-zfs", |config| {
        no_config("zfs", config)?;
        Ok(Box::new(ZfsStage))
    })
}

const SUMMARY: &str = "ZFS datasets for the bases, templates, jails and mountpoints";

impl Stage for ZfsStage {
    fn name(&self) -> &str {
        "zfs"
    }

    fn summary(&self) -> &str {
        SUMMARY
    }

    fn article_step(&self) -> Option<&str> {
        Some("1, 2, 5")
    }

    fn plan(&self, ctx: &StageContext<'_>, world: &World) -> Result<Vec<Planned>, StageError> {
        let layout = ctx.layout;
        let recipe = ctx.recipe;
        let mut actions = Vec::new();
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
                actions.push(Planned::new(Action::CreateDataset {
                    dataset: jails.to_string(),
                    mountpoint: Some(layout.jails_dir().to_path_buf()),
                    parents: !world.has_dataset(parent) && parent != pool,
                }));
            }
        }
        let mut create = |dataset: String, parents: bool, note: Option<&str>| {
            if !world.has_dataset(&dataset) {
                let action = Action::CreateDataset {
                    dataset,
                    mountpoint: None,
                    parents,
                };
                actions.push(match note {
                    Some(note) => Planned::noted(action, note),
                    None => Planned::new(action),
                });
            }
        };
        for release in &recipe.releases {
            create(layout.base_dataset(&release.name), true, None);
            create(
                layout.template_dataset(&release.name),
                true,
                Some("article step 2: the template is created up front with the other datasets"),
            );
        }
        for jail in &recipe.jails {
            create(layout.jail_dataset(&jail.name), false, None);
        }
        if !recipe.jails.is_empty() {
            create(layout.mountpoints_dataset(), false, None);
        }
        Ok(actions)
    }
}
