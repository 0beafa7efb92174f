//! The [`Stage`] trait and the registry of built-in stages.
//!
//! A stage looks at the recipe and the world and returns the actions still needed
//! for its part of the work. It never touches the host: it can only ask for paths to
//! be observed ([`Stage::probes`]) and return actions ([`Stage::plan`]).
//!
//! Built-in stages register themselves with [`inventory`]:
//!
//! ```text
//! inventory::submit! {
//!     thinjail_core::stage::BuiltinStage::new("zfs", "ZFS datasets", |config| {
//!         thinjail_core::stage::no_config("zfs", config)?;
//!         Ok(Box::new(ZfsStage))
//!     })
//! }
//! ```

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

/// Builds a stage from its recipe configuration (RON text).
pub type StageFactory = fn(config: Option<&str>) -> Result<Box<dyn Stage>, StageError>;

/// A built-in stage, registered with `inventory::submit!`.
pub struct BuiltinStage {
    /// Name used in recipes.
    pub name: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// The crate providing it.
    pub provider: &'static str,
    /// Constructor.
    pub factory: StageFactory,
}

impl BuiltinStage {
    /// Describes a built-in stage.
    pub const fn new(
        name: &'static str,
        summary: &'static str,
        provider: &'static str,
        factory: StageFactory,
    ) -> Self {
        BuiltinStage {
            name,
            summary,
            provider,
            factory,
        }
    }
}

inventory::collect!(BuiltinStage);

/// All built-in stages linked into this program: the article's in its order, then
/// any others by name.
pub fn builtin_stages() -> Vec<&'static BuiltinStage> {
    let mut stages: Vec<&'static BuiltinStage> =
        inventory::iter::<BuiltinStage>.into_iter().collect();
    let rank = |name: &str| {
        crate::recipe::DEFAULT_STAGES
            .iter()
            .position(|s| *s == name)
            .unwrap_or(crate::recipe::DEFAULT_STAGES.len())
    };
    stages.sort_by_key(|s| (rank(s.name), s.name));
    stages
}

/// The built-in stage called `name`.
pub fn builtin_stage(name: &str) -> Option<&'static BuiltinStage> {
    inventory::iter::<BuiltinStage>
        .into_iter()
        .find(|s| s.name == name)
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
