//! The pipeline: recipe → ordered stages → a plan grouped by stage.
//!
//! [`Pipeline::observation`] gathers what every stage needs observed (never a path
//! in a jail's own files by path: [`crate::confine::check_probes`]);
//! [`Pipeline::plan`] runs the stages in order against a copy of the world, applying
//! each action's effect before the next stage plans, and checks every action against
//! the recipe's confinement ([`crate::confine`]: paths under its directories and
//! never in a jail's own files, datasets thinjail made under its jails dataset,
//! allowed properties, jails it defines and that are not someone else's).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::layout::Layout;
use crate::probes::ObservationRequest;
use crate::recipe::validate::RecipeError;
use crate::recipe::Recipe;
use crate::stage::{BuiltinStage, Planned, StageContext, StageError};
use crate::world::World;

/// Version of the plan's JSON schema.
pub const PLAN_FORMAT_VERSION: u32 = 1;

pub use crate::stage::{PipelineStage, StageSource};

/// The ordered stages of one recipe.
#[derive(Default)]
pub struct Pipeline {
    stages: Vec<PipelineStage>,
}

/// Where a program's stages come from: its built-in stages, and a way to load the
/// others (from plugins). The `thinjail-stages` crate provides one with every
/// built-in and no plugins; the cli's loads plugin libraries too.
pub trait StageLoader {
    /// The built-in stages this program has, in their default order.
    fn builtins(&self) -> &[BuiltinStage];

    /// The stage `entry.name` from `entry.plugin` (or, when the entry names no plugin,
    /// from a library given outside the recipe that [`offers`](StageLoader::offers)
    /// it), configured with `entry.config`.
    fn load(
        &mut self,
        entry: &crate::recipe::StageEntry,
        recipe: &Recipe,
    ) -> Result<PipelineStage, crate::plugin::PluginError>;

    /// Loads the libraries given outside the recipe (`--plugin`); their problems are
    /// reported with the recipe's, before anything is planned.
    fn preload(&mut self) -> Vec<RecipeError> {
        Vec::new()
    }

    /// Whether a library given outside the recipe provides a stage called `name`
    /// (asked for recipe entries that name no plugin and no built-in stage).
    fn offers(&mut self, _name: &str) -> bool {
        false
    }
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A stage refused.
    #[error("stage {stage}: {error}")]
    Stage {
        /// Stage name.
        stage: String,
        /// Its error.
        error: StageError,
    },
    /// A stage planned an action outside the recipe's confinement.
    #[error("stage {stage} planned `{action}`, which {reason}; refused")]
    Confinement {
        /// Stage name.
        stage: String,
        /// The offending action (described).
        action: String,
        /// What it would do that it may not (follows "which").
        reason: String,
    },
    /// A stage asked to observe what the host may not look at by path (a jail's own
    /// files); it was not observed.
    #[error("stage {stage} {reason}; refused")]
    ProbeConfinement {
        /// Stage name.
        stage: String,
        /// What it asked (follows the stage's name).
        reason: String,
    },
}

impl Pipeline {
    /// A pipeline of already-built stages.
    pub fn new(stages: Vec<PipelineStage>) -> Self {
        Pipeline { stages }
    }

    /// Builds the recipe's stage list: built-ins and others through `loader`. Problems name the recipe field (`stages[2].name`).
    pub fn from_recipe(
        recipe: &Recipe,
        loader: &mut dyn StageLoader,
    ) -> Result<Self, Vec<RecipeError>> {
        let mut stages = Vec::new();
        let mut errors = loader.preload();
        for (i, entry) in recipe.stages.iter().enumerate() {
            let field = format!("stages[{i}]");
            let builtin = loader
                .builtins()
                .iter()
                .find(|s| s.name() == entry.name)
                .copied();
            let from_plugin =
                entry.plugin.is_some() || (builtin.is_none() && loader.offers(&entry.name));
            if from_plugin {
                match loader.load(entry, recipe) {
                    Ok(stage) => stages.push(stage),
                    Err(problem) => errors.push(RecipeError::new(
                        format!("{field}.plugin"),
                        problem.to_string(),
                    )),
                }
                continue;
            }
            let Some(builtin) = builtin else {
                let known: Vec<&str> = loader.builtins().iter().map(BuiltinStage::name).collect();
                errors.push(RecipeError::new(
                    format!("{field}.name"),
                    format!(
                        "unknown stage {:?} (built-in stages: {}; a plugin stage needs `plugin:` or `--plugin`)",
                        entry.name,
                        known.join(", ")
                    ),
                ));
                continue;
            };
            match (builtin.declaration.build)(entry.config.as_deref()) {
                Ok(stage) => stages.push(PipelineStage {
                    stage,
                    source: StageSource::Builtin {
                        provider: builtin.provider.to_string(),
                    },
                }),
                Err(e) => errors.push(RecipeError::new(format!("{field}.config"), e.to_string())),
            }
        }
        if errors.is_empty() {
            Ok(Pipeline { stages })
        } else {
            Err(errors)
        }
    }

    /// The stages, in order.
    pub fn stages(&self) -> &[PipelineStage] {
        &self.stages
    }

    /// Everything to observe on the host before planning `recipe`.
    pub fn observation(&self, recipe: &Recipe) -> ObservationRequest {
        let ctx = StageContext::new(recipe);
        let mut request = ObservationRequest {
            pool: recipe.host.pool().to_string(),
            ..ObservationRequest::default()
        };
        request.jails_dataset = recipe.host.jails_dataset.clone();
        request.interfaces = recipe.jails.iter().any(|j| j.vnet.is_some())
            || !recipe.host.network.bridges.is_empty();
        request.uplinks = crate::bridges::uplinks(&recipe.host.network);
        request.pf = crate::pfplan::wanted(recipe);
        request.devfs_rulesets = crate::devfs_rules::needed(recipe);
        request.probes.merge(crate::boot::probes(recipe));
        for stage in &self.stages {
            let probes = stage.stage.probes(&ctx);
            // Never observed: planning refuses the stage (see `plan`).
            if crate::confine::check_probes(&ctx.layout, &probes).is_ok() {
                request.probes.merge(probes);
            }
        }
        request
    }

    /// Plans `recipe` against `world`.
    pub fn plan(&self, recipe: &Recipe, world: &World) -> Result<Plan, PlanError> {
        let ctx = StageContext::new(recipe);
        let observed = world;
        // Copied at the first effect to apply: an up-to-date host is never copied.
        let mut world = std::borrow::Cow::Borrowed(world);
        let mut plan = Plan::default();
        let ours: BTreeSet<&str> = recipe.jails.iter().map(|j| j.name.as_str()).collect();
        let may_touch_jail =
            |jail: &str| ours.contains(jail) && ctx.layout.foreign_jail(observed, jail).is_none();
        for (index, entry) in self.stages.iter().enumerate() {
            let stage = &entry.stage;
            crate::confine::check_probes(&ctx.layout, &stage.probes(&ctx)).map_err(|reason| {
                PlanError::ProbeConfinement {
                    stage: stage.name().to_string(),
                    reason,
                }
            })?;
            let actions = stage.plan(&ctx, &world).map_err(|error| PlanError::Stage {
                stage: stage.name().to_string(),
                error,
            })?;
            // The last stage's effects would only update a world nobody plans against.
            let later_stages_plan = index + 1 < self.stages.len();
            for planned in &actions {
                check_confinement_with(
                    &ctx.layout,
                    &world,
                    stage.name(),
                    &planned.action,
                    &may_touch_jail,
                )?;
                if later_stages_plan {
                    planned.action.apply_to(world.to_mut());
                }
            }
            plan.stages.push(StagePlan {
                stage: stage.name().to_string(),
                summary: stage.summary().to_string(),
                article_step: stage.article_step().map(String::from),
                source: entry.source.clone(),
                actions,
            });
        }
        Ok(plan)
    }
}

/// Refuses an action that touches anything the recipe does not manage (see
/// [`crate::confine`]), given the world it was planned against; `may_touch_jail`
/// says which jails it may act on (the pipeline: the recipe's own; lifecycle
/// commands also act on jails that left the recipe).
pub fn check_confinement_with(
    layout: &Layout<'_>,
    world: &World,
    stage: &str,
    action: &Action,
    may_touch_jail: &dyn Fn(&str) -> bool,
) -> Result<(), PlanError> {
    crate::confine::check_planned(layout, world, action, may_touch_jail).map_err(|reason| {
        PlanError::Confinement {
            stage: stage.to_string(),
            action: action.describe(),
            reason,
        }
    })
}

/// The actions of one stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagePlan {
    /// Stage name.
    pub stage: String,
    /// What the stage does.
    pub summary: String,
    /// The article step(s) it implements.
    pub article_step: Option<String>,
    /// Where the stage comes from.
    pub source: StageSource,
    /// Its actions, in order.
    pub actions: Vec<Planned>,
}

/// A whole plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Stage by stage.
    pub stages: Vec<StagePlan>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.stages.iter().all(|s| s.actions.is_empty())
    }

    /// Number of actions.
    pub fn len(&self) -> usize {
        self.stages.iter().map(|s| s.actions.len()).sum()
    }

    /// Every action with its stage name, in order.
    pub fn actions(&self) -> impl Iterator<Item = (&str, &Planned)> {
        self.stages
            .iter()
            .flat_map(|s| s.actions.iter().map(move |a| (s.stage.as_str(), a)))
    }

    /// Names of the stages that have something to do.
    pub fn busy_stages(&self) -> BTreeSet<&str> {
        self.stages
            .iter()
            .filter(|s| !s.actions.is_empty())
            .map(|s| s.stage.as_str())
            .collect()
    }
}

impl World {
    /// This world as `plan` leaves it, as planning assumes (each action's
    /// [`Action::apply_to`], in order): what the next plan is made against.
    pub fn after(&self, plan: &Plan) -> World {
        self.after_planned(plan.actions().map(|(_, planned)| planned))
    }

    /// This world after `actions` (one stage's, or a lifecycle command's), as
    /// [`World::after`] does for a whole plan.
    pub fn after_planned<'a>(&self, actions: impl IntoIterator<Item = &'a Planned>) -> World {
        let mut world = self.clone();
        for planned in actions {
            planned.action.apply_to(&mut world);
        }
        world
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::Stage;
    use crate::world::RunningJail;

    /// Plans one fixed action, as a plugin might.
    struct Fixed(Action);

    impl Stage for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn summary(&self) -> &str {
            "plans one action"
        }
        fn plan(
            &self,
            _ctx: &StageContext<'_>,
            _world: &World,
        ) -> Result<Vec<Planned>, StageError> {
            Ok(vec![Planned::new(self.0.clone())])
        }
    }

    fn pipeline(action: Action) -> Pipeline {
        Pipeline::new(vec![PipelineStage {
            stage: Box::new(Fixed(action)),
            source: StageSource::Builtin {
                provider: "test".into(),
            },
        }])
    }

    #[test]
    fn a_stage_cannot_enter_a_jail_of_the_recipes_name_running_elsewhere() {
        let recipe = Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")], jails: [(name: "www", release: "14.3-RELEASE")], stages: [])"#,
            "test",
        )
        .unwrap();
        let enter = pipeline(Action::ExecInJail {
            jail: "www".into(),
            argv: vec!["pkg".into(), "install".into(), "-y".into(), "nginx".into()],
        });
        let mut world = World::empty();
        world.jails.insert(
            "www".into(),
            RunningJail {
                jid: 4,
                name: "www".into(),
                path: "/usr/local/jails/.mountpoints/www".into(),
                ip4: vec![],
                ip6: vec![],
                dying: false,
            },
        );
        assert!(enter.plan(&recipe, &world).is_ok(), "ours");
        world.jails.get_mut("www").unwrap().path = "/usr/jails/www".into();
        match enter.plan(&recipe, &world) {
            Err(PlanError::Confinement { reason, .. }) => {
                assert!(reason.contains("jail www"), "{reason}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
