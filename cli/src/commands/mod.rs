//! The subcommands. Each returns its exit status or a [`CliError`].

mod apply;
mod info;
mod lifecycle;
mod plan;

pub use apply::{apply, ApplyOptions};
pub use info::{check, init, recipes, stages};
pub use lifecycle::{
    bootstrap_baseline, destroy, destroy_release, exec, list, restart, rollback, snapshot,
    snapshots, start, stop, update, upgrade,
};
pub use plan::plan;

use std::io::IsTerminal;
use std::path::PathBuf;

use thinjail_core::host::{Host, HostError};
use thinjail_core::lock::HostLock;
use thinjail_core::pipeline::Pipeline;
use thinjail_core::validate::RecipeErrors;
use thinjail_core::world::World;
use thinjail_core::{Plan, Recipe};

use crate::environment::Environment;
use crate::exit::{CliError, NOPERM, UNAVAILABLE, USAGE};
use crate::recipes::{self, Loaded};

/// A recipe with its stage pipeline.
pub struct Prepared {
    /// The recipe as loaded.
    pub loaded: Loaded,
    /// Its stages.
    pub pipeline: Pipeline,
}

impl Prepared {
    /// `--parallel N`: the recipe's `host.start_parallel` (which bounds stops too)
    /// for this run; `None` keeps the recipe's.
    pub fn override_start_parallel(&mut self, parallel: Option<std::num::NonZeroU32>) {
        if parallel.is_some() {
            self.loaded.recipe.host.start_parallel = parallel;
        }
    }
}

/// Loads `spec` and builds its pipeline (built-ins and plugins).
pub fn prepare(env: &Environment, plugins: &[PathBuf], spec: &str) -> Result<Prepared, CliError> {
    prepare_loaded(env, plugins, recipes::load(spec)?)
}

/// [`prepare`] for a command that changes the host: a recipe file must be one nobody
/// else can change ([`recipes::require_trusted`]), checked before any plugin it names
/// is opened.
pub fn prepare_to_change(
    env: &Environment,
    plugins: &[PathBuf],
    spec: &str,
) -> Result<Prepared, CliError> {
    let loaded = recipes::load(spec)?;
    recipes::require_trusted(&loaded)?;
    prepare_loaded(env, plugins, loaded)
}

fn prepare_loaded(
    env: &Environment,
    plugins: &[PathBuf],
    loaded: Loaded,
) -> Result<Prepared, CliError> {
    let mut loader = (env.loader)(plugins, &loaded.recipe.host.jails_dir);
    let pipeline = Pipeline::from_recipe(&loaded.recipe, loader.as_mut()).map_err(|errors| {
        recipes::recipe_errors(RecipeErrors::new(&loaded.origin, errors).locate_in(&loaded.text))
    })?;
    Ok(Prepared { loaded, pipeline })
}

/// Refuses to change the host without root, before anything runs.
pub fn require_root(env: &Environment, what: &str) -> Result<(), CliError> {
    if env.hosts.needs_root() && !nix::unistd::geteuid().is_root() {
        return Err(CliError::msg(NOPERM, format!("{what} changes the host and must run as root (try: doas thinjail ... or sudo thinjail ...)")));
    }
    Ok(())
}

/// Takes the host lock for `purpose`.
pub fn lock(recipe: &Recipe, purpose: &str, wait: bool) -> Result<HostLock, CliError> {
    HostLock::acquire(&recipe.host.lock_file, purpose, wait, &mut |holder| {
        eprintln!(
            "thinjail: waiting for the other thinjail to finish ({})",
            thinjail_core::quote::terminal_line(holder)
        );
    })
    .map_err(CliError::from)
}

/// Observes the host for `prepared` ([`thinjail_core::observe::observe`]).
pub fn observe(host: &mut dyn Host, prepared: &Prepared) -> Result<World, HostError> {
    thinjail_core::observe::observe(host, &prepared.pipeline, &prepared.loaded.recipe)
}

/// Maps a host observation failure to exit 69.
pub fn unobservable(error: HostError) -> CliError {
    CliError::msg(UNAVAILABLE, format!("cannot observe this host: {error}"))
}

/// Plans (a refusal's exit status: `From<PlanError> for CliError`).
pub fn make_plan(prepared: &Prepared, world: &World) -> Result<Plan, CliError> {
    Ok(prepared.pipeline.plan(&prepared.loaded.recipe, world)?)
}

/// Asks on the terminal; without one, `--yes` is required.
pub fn confirm(question: &str, yes: bool) -> Result<bool, CliError> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::msg(
            USAGE,
            "not on a terminal, so there is nobody to confirm: pass --yes to go ahead",
        ));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::msg(USAGE, format!("cannot read the answer: {e}")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Prints `value` as pretty JSON on standard output (every `--json` goes through here).
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::msg(crate::exit::SOFTWARE, format!("cannot render JSON: {e}")))?;
    println!("{text}");
    Ok(())
}
