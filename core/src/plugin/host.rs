//! The host's side of the plugin interface: a checked copy of a plugin's descriptor
//! ([`Plugin`]) and an adapter that makes each of its stages an ordinary
//! [`Stage`] ([`LoadedStage`]).
//!
//! Everything a plugin says is checked before it is believed: the descriptor's
//! version, sizes, strings and functions when it is read; each reply's status and JSON
//! when it comes back. A plugin that breaks the interface gets a
//! [`StageError::Plugin`] naming the plugin, its library and the stage.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::{
    borrow_bytes, read_descriptor, BadSlice, ConfigureFn, EntryFn, FreeReplyFn, Malformation,
    PlanFn, PluginError, ProbesFn, RawReply, RawSlice, TextProblem, JSON_SCHEMA_VERSION,
    MAX_STAGES, REPLY_FAILURE, REPLY_OK, REPLY_STAGE_ERROR,
};
use crate::recipe::validate::check_stage_name;
use crate::recipe::Recipe;
use crate::stage::{PipelineStage, StageSource};
use crate::stage::{Planned, Probes, Stage, StageContext, StageError};
use crate::world::World;

/// A stage as a plugin describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageInfo {
    /// Name used in recipes.
    pub name: String,
    /// One line saying what it does.
    pub summary: String,
    /// The article step(s) it stands in for.
    pub article_step: Option<String>,
}

/// A loaded plugin whose descriptor passed every check.
pub struct Plugin {
    path: PathBuf,
    name: String,
    version: String,
    core_version: String,
    stages: Vec<StageInfo>,
    configure: ConfigureFn,
    probes: ProbesFn,
    plan: PlanFn,
    free_reply: FreeReplyFn,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .field("name", &self.name)
            .field("version", &self.version)
            .field("stages", &self.stages)
            .finish_non_exhaustive()
    }
}

/// Longest name, version or summary a descriptor may hold.
const MAX_TEXT: usize = 4096;

fn descriptor_text(raw: RawSlice, what: &str) -> Result<Option<String>, Malformation> {
    let problem = |problem| Malformation::Text {
        what: what.to_string(),
        problem,
    };
    // SAFETY: descriptor strings live as long as the library, which is never unloaded
    // (contract of `Plugin::from_entry`); they are copied right away.
    let bytes = unsafe { borrow_bytes(raw) }.map_err(|e| problem(TextProblem::Unreadable(e)))?;
    match bytes {
        None => Ok(None),
        Some(b) if b.len() > MAX_TEXT => Err(problem(TextProblem::TooLong(MAX_TEXT))),
        Some(b) => String::from_utf8(b.to_vec())
            .map(Some)
            .map_err(|_| problem(TextProblem::NotUtf8)),
    }
}

fn required_text(raw: RawSlice, what: &str) -> Result<String, Malformation> {
    match descriptor_text(raw, what)? {
        Some(text) if !text.trim().is_empty() => Ok(text),
        _ => Err(Malformation::Text {
            what: what.to_string(),
            problem: TextProblem::Missing,
        }),
    }
}

impl Plugin {
    /// Calls a plugin's entry function and checks the descriptor it returns.
    ///
    /// # Safety
    ///
    /// `entry` must be the [`ENTRY_SYMBOL`](super::ENTRY_SYMBOL) of a library that is
    /// never unloaded afterwards, and the library must be trusted to honour the
    /// interface: pointers it hands out designate what the interface says they do.
    /// (What it *says* — versions, names, JSON — is checked, not trusted.)
    pub unsafe fn from_entry(path: &Path, entry: EntryFn) -> Result<Plugin, Malformation> {
        // SAFETY: the caller guarantees `entry` is the plugin's entry function.
        let raw = unsafe { entry() };
        // SAFETY: the caller guarantees the pointer is the plugin's descriptor.
        let descriptor = unsafe { read_descriptor(raw) }.map_err(Malformation::Descriptor)?;
        if descriptor.json_schema != JSON_SCHEMA_VERSION {
            return Err(Malformation::JsonSchema(descriptor.json_schema));
        }
        let name = required_text(descriptor.plugin_name, "plugin name")?;
        check_stage_name(&name).map_err(|_| Malformation::PluginName(name.clone()))?;
        let version = required_text(descriptor.plugin_version, "plugin version")?;
        let core_version = descriptor_text(descriptor.core_version, "core version")?
            .unwrap_or_else(|| "unknown".to_string());
        let (Some(configure), Some(probes), Some(plan), Some(free_reply)) = (
            descriptor.configure,
            descriptor.probes,
            descriptor.plan,
            descriptor.free_reply,
        ) else {
            return Err(Malformation::MissingFunction);
        };
        if descriptor.stage_count == 0 {
            return Err(Malformation::NoStage);
        }
        if descriptor.stage_count > MAX_STAGES {
            return Err(Malformation::TooManyStages(descriptor.stage_count));
        }
        if descriptor.stages.is_null() {
            return Err(Malformation::NullStageList);
        }
        // SAFETY: non-null, and the plugin's contract says `stage_count` entries live
        // there for the library's lifetime; the count is bounded above.
        let raw_stages =
            unsafe { std::slice::from_raw_parts(descriptor.stages, descriptor.stage_count) };
        let mut stages = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, raw_stage) in raw_stages.iter().enumerate() {
            let stage_name = required_text(raw_stage.name, &format!("stage {i} name"))?;
            check_stage_name(&stage_name).map_err(|e| Malformation::StageName {
                index: i,
                problem: e.to_string(),
            })?;
            if !seen.insert(stage_name.clone()) {
                return Err(Malformation::DuplicateStage(stage_name));
            }
            stages.push(StageInfo {
                summary: required_text(raw_stage.summary, &format!("stage {stage_name} summary"))?,
                article_step: descriptor_text(
                    raw_stage.article_step,
                    &format!("stage {stage_name} article step"),
                )?,
                name: stage_name,
            });
        }
        Ok(Plugin {
            path: path.to_path_buf(),
            name,
            version,
            core_version,
            stages,
            configure,
            probes,
            plan,
            free_reply,
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The thinjail-core version it was built with.
    pub fn core_version(&self) -> &str {
        &self.core_version
    }

    /// The library it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its stages.
    pub fn stages(&self) -> &[StageInfo] {
        &self.stages
    }

    /// The stage called `name`.
    pub fn stage_info(&self, name: &str) -> Option<&StageInfo> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// Where its stages come from, for plans and `thinjail stages`.
    pub fn source(&self) -> StageSource {
        StageSource::Plugin {
            path: self.path.clone(),
            plugin: self.name.clone(),
            version: self.version.clone(),
        }
    }

    fn describe_call(&self, stage: &str) -> String {
        format!(
            "plugin {} {} ({}), stage {stage}",
            self.name,
            self.version,
            self.path.display()
        )
    }

    /// Copies a reply and hands it back to the plugin to free.
    fn take_reply(&self, reply: RawReply) -> Result<(u32, Vec<u8>), BadSlice> {
        let status = reply.status;
        // SAFETY: a reply stays valid until it is freed, which happens just below,
        // after the copy.
        let bytes = unsafe { borrow_bytes(reply.data) }.map(|b| b.unwrap_or_default().to_vec());
        (self.free_reply)(reply);
        bytes.map(|b| (status, b))
    }

    /// Makes one call and interprets the reply: a JSON payload, the stage's own
    /// refusal, or a failure of the plugin.
    fn call<T: DeserializeOwned>(
        &self,
        stage: &str,
        what: &str,
        invoke: impl FnOnce() -> RawReply,
    ) -> Result<T, StageError> {
        let broken = |problem: String| {
            StageError::Plugin(format!("{}: {problem}", self.describe_call(stage)))
        };
        let (status, bytes) = self
            .take_reply(invoke())
            .map_err(|e| broken(format!("it replied with {e}")))?;
        match status {
            REPLY_OK => serde_json::from_slice(&bytes).map_err(|e| {
                broken(format!(
                    "its {what} are not what thinjail understands ({e}); nothing was planned from them"
                ))
            }),
            REPLY_STAGE_ERROR => Err(serde_json::from_slice::<StageError>(&bytes)
                .unwrap_or_else(|_| StageError::Failed(String::from_utf8_lossy(&bytes).into_owned()))),
            REPLY_FAILURE => Err(broken(String::from_utf8_lossy(&bytes).into_owned())),
            other => Err(broken(format!("it replied with unknown status {other}"))),
        }
    }

    /// Checks `config` for stage `stage`.
    pub fn configure(&self, stage: &str, config: Option<&str>) -> Result<(), StageError> {
        let (name, config) = (
            RawSlice::of(stage.as_bytes()),
            RawSlice::of_optional(config),
        );
        self.call::<serde_json::Value>(stage, "configuration reply", || {
            (self.configure)(name, config)
        })
        .map(|_| ())
    }

    /// The paths stage `stage` needs observed for `recipe`.
    pub fn probes(
        &self,
        stage: &str,
        config: Option<&str>,
        recipe: &Recipe,
    ) -> Result<Probes, StageError> {
        let recipe_json = serde_json::to_vec(recipe)
            .map_err(|e| StageError::Failed(format!("cannot encode the recipe: {e}")))?;
        let (name, config) = (
            RawSlice::of(stage.as_bytes()),
            RawSlice::of_optional(config),
        );
        self.call(stage, "probes", || {
            (self.probes)(name, config, RawSlice::of(&recipe_json))
        })
    }

    /// The actions stage `stage` plans for `recipe` on `world`.
    pub fn plan(
        &self,
        stage: &str,
        config: Option<&str>,
        recipe: &Recipe,
        world: &World,
    ) -> Result<Vec<Planned>, StageError> {
        let recipe_json = serde_json::to_vec(recipe)
            .map_err(|e| StageError::Failed(format!("cannot encode the recipe: {e}")))?;
        let world_json = serde_json::to_vec(world)
            .map_err(|e| StageError::Failed(format!("cannot encode the world: {e}")))?;
        let (name, config) = (
            RawSlice::of(stage.as_bytes()),
            RawSlice::of_optional(config),
        );
        self.call(stage, "actions", || {
            (self.plan)(
                name,
                config,
                RawSlice::of(&recipe_json),
                RawSlice::of(&world_json),
            )
        })
    }
}

/// Builds the pipeline stage `name` of `plugin`, configured with `config`, for
/// `recipe`: checks that the plugin has it, that the configuration is valid and that
/// the plugin answers its probes for this recipe — all before anything is planned.
pub fn load_stage(
    plugin: &Arc<Plugin>,
    name: &str,
    config: Option<&str>,
    recipe: &Recipe,
) -> Result<PipelineStage, PluginError> {
    let Some(info) = plugin.stage_info(name) else {
        return Err(PluginError::NoSuchStage {
            plugin: plugin.name.clone(),
            path: plugin.path.clone(),
            stage: name.to_string(),
            provides: plugin.stages.iter().map(|s| s.name.clone()).collect(),
        });
    };
    let stage = name.to_string();
    let explain = |error: StageError| match error {
        StageError::Config(problem) => {
            let prefix = format!("stage {name}: ");
            let problem = problem
                .strip_prefix(&prefix)
                .unwrap_or(&problem)
                .to_string();
            PluginError::Config {
                stage: stage.clone(),
                problem,
            }
        }
        // Already names the plugin and the stage.
        StageError::Plugin(message) => PluginError::BrokenReply {
            stage: stage.clone(),
            message,
        },
        error => PluginError::Refused {
            stage: stage.clone(),
            error,
        },
    };
    plugin.configure(name, config).map_err(explain)?;
    let probes = plugin.probes(name, config, recipe).map_err(explain)?;
    Ok(PipelineStage {
        stage: Box::new(LoadedStage {
            plugin: Arc::clone(plugin),
            info: info.clone(),
            config: config.map(String::from),
            probes_for: RefCell::new((recipe.clone(), probes)),
            probe_error: RefCell::new(None),
        }),
        source: plugin.source(),
    })
}

/// A plugin's stage, usable wherever a [`Stage`] is.
pub struct LoadedStage {
    plugin: Arc<Plugin>,
    info: StageInfo,
    config: Option<String>,
    /// The probes of the last recipe asked about.
    probes_for: RefCell<(Recipe, Probes)>,
    /// A failure of the plugin while probing, reported by the next `plan`.
    probe_error: RefCell<Option<StageError>>,
}

impl Stage for LoadedStage {
    fn name(&self) -> &str {
        &self.info.name
    }

    fn summary(&self) -> &str {
        &self.info.summary
    }

    fn article_step(&self) -> Option<&str> {
        self.info.article_step.as_deref()
    }

    fn probes(&self, ctx: &StageContext<'_>) -> Probes {
        let cached = self.probes_for.borrow();
        if &cached.0 == ctx.recipe {
            return cached.1.clone();
        }
        drop(cached);
        match self
            .plugin
            .probes(&self.info.name, self.config.as_deref(), ctx.recipe)
        {
            Ok(probes) => {
                *self.probes_for.borrow_mut() = (ctx.recipe.clone(), probes.clone());
                probes
            }
            Err(error) => {
                *self.probe_error.borrow_mut() = Some(error);
                Probes::default()
            }
        }
    }

    fn plan(&self, ctx: &StageContext<'_>, world: &World) -> Result<Vec<Planned>, StageError> {
        if let Some(error) = self.probe_error.borrow_mut().take() {
            return Err(error);
        }
        self.plugin
            .plan(&self.info.name, self.config.as_deref(), ctx.recipe, world)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Action;
    use crate::pipeline::{Pipeline, PlanError};
    use crate::plugin::guest::{entry, tests::exports};
    use crate::plugin::RawDescriptor;

    unsafe extern "C" fn moody_entry() -> *const RawDescriptor {
        entry(exports)
    }

    fn moody() -> Arc<Plugin> {
        // SAFETY: the entry function of the in-process test plugin, which never goes away.
        Arc::new(
            unsafe { Plugin::from_entry(Path::new("/test/libmoody.so"), moody_entry) }.unwrap(),
        )
    }

    fn recipe() -> Recipe {
        Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")], jails: [(name: "www", release: "14.3-RELEASE")])"#,
            "test",
        )
        .unwrap()
    }

    #[test]
    fn a_plugin_stage_plans_through_the_pipeline() {
        let plugin = moody();
        assert_eq!((plugin.name(), plugin.version()), ("moody", "1.2.3"));
        assert_eq!(plugin.stages()[0].name, "moody");
        let recipe = recipe();
        let stage = load_stage(&plugin, "moody", Some("act"), &recipe).unwrap();
        assert_eq!(
            stage.source,
            StageSource::Plugin {
                path: "/test/libmoody.so".into(),
                plugin: "moody".into(),
                version: "1.2.3".into()
            }
        );
        let pipeline = Pipeline::new(vec![stage]);
        let observation = pipeline.observation(&recipe);
        assert!(observation
            .probes
            .paths
            .contains(Path::new("/usr/local/jails")));
        let plan = pipeline.plan(&recipe, &World::empty()).unwrap();
        let actions: Vec<&Planned> = plan.actions().map(|(_, a)| a).collect();
        assert_eq!(
            actions,
            [&Planned::noted(
                Action::MakeDir {
                    path: "/usr/local/jails/moody".into()
                },
                "because I can"
            )]
        );
    }

    #[test]
    fn refusals_and_failures_name_the_plugin_and_the_stage() {
        let plugin = moody();
        let recipe = recipe();
        let error = |result: Result<PipelineStage, PluginError>| result.err().unwrap();
        let unknown = error(load_stage(&plugin, "sunny", None, &recipe));
        assert_eq!(
            unknown,
            PluginError::NoSuchStage {
                plugin: "moody".into(),
                path: "/test/libmoody.so".into(),
                stage: "sunny".into(),
                provides: vec!["moody".into()],
            }
        );
        assert_eq!(
            unknown.to_string(),
            "plugin moody (/test/libmoody.so) has no stage \"sunny\"; it provides: moody"
        );
        let config = error(load_stage(&plugin, "moody", Some("grumpy"), &recipe));
        assert_eq!(
            config,
            PluginError::Config {
                stage: "moody".into(),
                problem: "unknown mood grumpy".into()
            }
        );
        assert_eq!(
            config.to_string(),
            "stage moody: configuration: unknown mood grumpy"
        );

        let panicking = Pipeline::new(vec![
            load_stage(&plugin, "moody", Some("panic"), &recipe).unwrap()
        ]);
        match panicking.plan(&recipe, &World::empty()).unwrap_err() {
            PlanError::Stage {
                stage,
                error: StageError::Plugin(message),
            } => {
                assert_eq!(stage, "moody");
                assert!(
                    message.starts_with(
                        "plugin moody 1.2.3 (/test/libmoody.so), stage moody: panicked at "
                    ),
                    "{message}"
                );
                assert!(message.ends_with("moody stage had a bad day"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }

        let refusing = Pipeline::new(vec![load_stage(&plugin, "moody", None, &recipe).unwrap()]);
        let observed = World {
            observed: true,
            ..World::empty()
        };
        match refusing.plan(&recipe, &observed).unwrap_err() {
            PlanError::Stage { error, .. } => {
                assert_eq!(
                    error,
                    StageError::Conflict("observed worlds upset me".into())
                )
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
