//! The [`Stage`] trait and how a stage declares itself ([`DeclaredStage`]).
//!
//! A stage looks at the recipe and the world and returns the actions still needed
//! for its part of the work. It never touches the host: it can only ask for paths to
//! be observed ([`Stage::probes`]) and return actions ([`Stage::plan`]).
//!
//! Every stage, built-in or from a plugin, is declared the same way
//! ([`DeclaredStage`]):
//!
//! ```text
//! impl DeclaredStage for ZfsStage {
//!     const NAME: &'static str = "zfs";
//!     const SUMMARY: &'static str = "ZFS datasets";
//!     fn from_config(config: Option<&str>) -> Result<Self, StageError> {
//!         no_config(Self::NAME, config)?;
//!         Ok(ZfsStage)
//!     }
//! }
//! ```
//!
//! then listed: a built-in in the `thinjail-stages` crate's list
//! (`BuiltinStage::of::<ZfsStage>("thinjail-stage-zfs")`), a plugin's in
//! [`export_plugin!`](crate::export_plugin).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::layout::Layout;
pub use crate::probes::{BeneathProbe, JailConfProbe, Probes};
use crate::recipe::Recipe;
use crate::world::World;

/// An action with an optional note for people (why it is there, or where thinjail
/// departs from the article and why).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    /// The action.
    #[serde(flatten)]
    pub action: Action,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Planned {
    /// An action without a note.
    pub fn new(action: Action) -> Self {
        Planned { action, note: None }
    }

    /// An action with a note.
    pub fn noted(action: Action, note: impl Into<String>) -> Self {
        Planned {
            action,
            note: Some(note.into()),
        }
    }
}

impl From<Action> for Planned {
    fn from(action: Action) -> Self {
        Planned::new(action)
    }
}

/// What a stage reads while planning.
#[derive(Clone, Copy, Debug)]
pub struct StageContext<'a> {
    /// The validated recipe.
    pub recipe: &'a Recipe,
    /// Names and paths derived from it.
    pub layout: Layout<'a>,
}

impl<'a> StageContext<'a> {
    /// The context for `recipe`.
    pub fn new(recipe: &'a Recipe) -> Self {
        StageContext {
            recipe,
            layout: Layout::new(recipe),
        }
    }
}

/// Why a stage could not plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum StageError {
    /// The host is in a state the stage cannot safely plan from.
    #[error("{0}")]
    Conflict(String),
    /// Something the stage depends on is neither on the host nor planned earlier.
    #[error("{0}")]
    Missing(String),
    /// The stage's configuration is wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// Any other failure (e.g. reported by a plugin).
    #[error("{0}")]
    Failed(String),
    /// The plugin providing the stage broke the plugin interface: it panicked, or
    /// replied with something thinjail cannot read. Nothing was planned from it.
    #[error("{0}")]
    Plugin(String),
}

/// One step of the pipeline.
pub trait Stage {
    /// Short name used in recipes (`zfs`, `mount`…).
    fn name(&self) -> &str;

    /// One line saying what it does.
    fn summary(&self) -> &str;

    /// The article step(s) it implements, e.g. `"1, 2"`.
    fn article_step(&self) -> Option<&str> {
        None
    }

    /// Paths to observe before planning.
    fn probes(&self, _ctx: &StageContext<'_>) -> Probes {
        Probes::default()
    }

    /// The actions still needed, given `world` (which already includes the effects of
    /// the stages before this one).
    fn plan(&self, ctx: &StageContext<'_>, world: &World) -> Result<Vec<Planned>, StageError>;
}

/// A stage type that declares itself: its name and summary, and how to build it
/// from the configuration a recipe gives it. Built-in stages and plugin stages
/// are declared the same way; a built-in is then listed in the program's built-in
/// list ([`BuiltinStage::of`], the `thinjail-stages` crate), a plugin's in
/// [`export_plugin!`](crate::export_plugin).
pub trait DeclaredStage: Stage + Sized + 'static {
    /// The name recipes use (letters, digits, `-`, `_`); what [`Stage::name`] returns.
    const NAME: &'static str;
    /// One line saying what it does; what [`Stage::summary`] returns.
    const SUMMARY: &'static str;
    /// The article step(s) it implements or stands in for, if any.
    const ARTICLE_STEP: Option<&'static str> = None;

    /// Builds the stage from its recipe configuration (RON text; `None` when the recipe
    /// gives none). [`parse_config`] and [`no_config`] help.
    fn from_config(config: Option<&str>) -> Result<Self, StageError>;
}

/// Builds a stage from its recipe configuration (RON text).
pub type StageFactory = fn(config: Option<&str>) -> Result<Box<dyn Stage>, StageError>;

/// What a [`DeclaredStage`] declares, as data: what a plugin exports and what a
/// built-in list holds.
#[derive(Clone, Copy)]
pub struct StageDeclaration {
    /// Name used in recipes.
    pub name: &'static str,
    /// One line saying what it does.
    pub summary: &'static str,
    /// The article step(s) it implements or stands in for.
    pub article_step: Option<&'static str>,
    /// Constructor.
    pub build: StageFactory,
}

fn build_boxed<S: DeclaredStage>(config: Option<&str>) -> Result<Box<dyn Stage>, StageError> {
    Ok(Box::new(S::from_config(config)?))
}

impl StageDeclaration {
    /// The declaration of stage type `S`.
    pub const fn of<S: DeclaredStage>() -> Self {
        StageDeclaration {
            name: S::NAME,
            summary: S::SUMMARY,
            article_step: S::ARTICLE_STEP,
            build: build_boxed::<S>,
        }
    }
}

/// A stage built into the program, with the crate that provides it.
#[derive(Clone, Copy)]
pub struct BuiltinStage {
    /// The stage.
    pub declaration: StageDeclaration,
    /// The crate providing it.
    pub provider: &'static str,
}

impl BuiltinStage {
    /// Built-in stage type `S`, provided by crate `provider`.
    pub const fn of<S: DeclaredStage>(provider: &'static str) -> Self {
        BuiltinStage {
            declaration: StageDeclaration::of::<S>(),
            provider,
        }
    }

    /// Its name in recipes.
    pub fn name(&self) -> &'static str {
        self.declaration.name
    }
}

/// Parses a stage's RON configuration into `T` (absent config gives `T::default()`).
pub fn parse_config<T>(stage: &str, config: Option<&str>) -> Result<T, StageError>
where
    T: serde::de::DeserializeOwned + Default,
{
    match config {
        None => Ok(T::default()),
        Some(text) => {
            let options = ron::Options::default()
                .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
            options
                .from_str(text)
                .map_err(|e| StageError::Config(format!("stage {stage}: {e}")))
        }
    }
}

/// Refuses any configuration for a stage that takes none.
pub fn no_config(stage: &str, config: Option<&str>) -> Result<(), StageError> {
    match config {
        None => Ok(()),
        Some(_) => Err(StageError::Config(format!(
            "stage {stage} takes no configuration"
        ))),
    }
}

/// Where a stage comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StageSource {
    /// Linked into thinjail.
    Builtin {
        /// The crate providing it.
        provider: String,
    },
    /// Loaded from a plugin library.
    Plugin {
        /// Library path.
        path: PathBuf,
        /// Plugin name.
        plugin: String,
        /// Plugin version.
        version: String,
    },
}

impl std::fmt::Display for StageSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StageSource::Builtin { provider } => write!(f, "built-in ({provider})"),
            StageSource::Plugin {
                path,
                plugin,
                version,
            } => {
                write!(f, "plugin {plugin} {version} ({})", path.display())
            }
        }
    }
}

/// A stage ready to plan, with where it came from.
pub struct PipelineStage {
    /// The stage.
    pub stage: Box<dyn Stage>,
    /// Its origin.
    pub source: StageSource,
}
