//! # thinjail-plugin-clone-mount
//!
//! A thinjail plugin stage that swaps the built-in `mount` stage (article step 5): it
//! creates each jail's data with `zfs clone` of the template's `@gold` snapshot instead
//! of the article's `zfs send | zfs receive`, and otherwise plans exactly what `mount`
//! plans — the jail's mountpoint directory and its fstab — by reusing
//! [`thinjail_stage_mount::plan_jail`]. Select it in a recipe in place of `mount`:
//!
//! ```ron
//! stages: [
//!     (name: "zfs"), (name: "install"), (name: "skeleton"),
//!     (name: "clone-mount", plugin: "clone-mount"),
//!     (name: "rcconf"),
//! ],
//! ```
//!
//! The trade-off, said in every plan: a clone takes no space and no time until the jail
//! writes, but it depends on the template's `@gold` for as long as it exists — the
//! snapshot cannot be destroyed (nor the template rebuilt from scratch) while a jail
//! cloned from it is there. The article copies, so that jails stand alone.

#![deny(unsafe_code)]

use thinjail_core::action::Action;
use thinjail_core::layout::GOLD_SNAPSHOT;
use thinjail_core::stage::DeclaredStage;
use thinjail_core::stage::{no_config, Planned, Probes, Stage, StageContext, StageError};
use thinjail_core::world::World;

/// Creates each jail's data as a clone of the template's gold snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CloneMountStage;

/// Why the plan clones, said next to each clone.
pub const CLONE_NOTE: &str =
    "a clone instead of the article's copy: no space used until the jail writes, \
but the template's @gold cannot be destroyed while this jail exists";

impl DeclaredStage for CloneMountStage {
    const NAME: &'static str = "clone-mount";
    const SUMMARY: &'static str =
        "each jail's data as a zfs clone of the template's @gold, its mountpoint and its fstab";
    const ARTICLE_STEP: Option<&'static str> = Some("5");

    fn from_config(config: Option<&str>) -> Result<Self, StageError> {
        no_config(Self::NAME, config)?;
        Ok(CloneMountStage)
    }
}

impl Stage for CloneMountStage {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn summary(&self) -> &str {
        Self::SUMMARY
    }

    fn article_step(&self) -> Option<&str> {
        Self::ARTICLE_STEP
    }

    fn probes(&self, ctx: &StageContext<'_>) -> Probes {
        thinjail_stage_mount::probes(ctx)
    }

    fn plan(&self, ctx: &StageContext<'_>, world: &World) -> Result<Vec<Planned>, StageError> {
        let mut actions = Vec::new();
        for jail in &ctx.recipe.jails {
            actions.extend(thinjail_stage_mount::plan_jail(
                ctx,
                world,
                jail,
                |template, data| {
                    Planned::noted(
                        Action::Clone {
                            dataset: template,
                            snapshot: GOLD_SNAPSHOT.to_string(),
                            target: data,
                            properties: ctx.layout.managed_properties(),
                        },
                        CLONE_NOTE,
                    )
                },
            )?);
        }
        Ok(actions)
    }
}

thinjail_core::export_plugin!("clone-mount", env!("CARGO_PKG_VERSION"), [CloneMountStage]);

#[cfg(test)]
mod tests {
    use super::*;
    use thinjail_core::recipe::Recipe;

    #[test]
    fn clones_instead_of_copying_and_is_idempotent() {
        let recipe = Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")], jails: [(name: "www", release: "14.3-RELEASE")])"#,
            "test",
        )
        .unwrap();
        let ctx = StageContext::new(&recipe);
        let mut world = World::empty();
        world.add_filesystem("zroot/jails", Some("/usr/local/jails".as_ref()), None);
        world.add_filesystem("zroot/jails/base", None, None);
        world.add_filesystem("zroot/jails/base/14.3-RELEASE-template", None, None);
        world.add_snapshot("zroot/jails/base/14.3-RELEASE-template", "gold");
        world.add_filesystem("zroot/jails/www", None, None);
        let actions = CloneMountStage.plan(&ctx, &world).unwrap();
        assert_eq!(
            actions[0].action.sh_lines(),
            ["zfs clone -o thinjail:managed=zroot/jails zroot/jails/base/14.3-RELEASE-template@gold zroot/jails/www/data"]
        );
        assert_eq!(actions[0].note.as_deref(), Some(CLONE_NOTE));
        assert!(actions.iter().any(
            |a| matches!(&a.action, Action::WriteFile { path, .. } if path.ends_with("www/fstab"))
        ));
        let world = world.after_planned(&actions);
        assert_eq!(
            world
                .dataset("zroot/jails/www/data")
                .and_then(|d| d.origin.as_deref()),
            Some("zroot/jails/base/14.3-RELEASE-template@gold")
        );
        assert_eq!(
            world
                .dataset("zroot/jails/www/data")
                .and_then(|d| d.managed.as_deref()),
            Some("zroot/jails"),
            "the clone carries thinjail's mark"
        );
        assert_eq!(CloneMountStage.plan(&ctx, &world).unwrap(), []);
        assert!(CloneMountStage::from_config(Some("()")).is_err());
    }
}
