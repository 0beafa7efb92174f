//! `thinjail plan`

use std::io::IsTerminal;
use std::path::PathBuf;

use thinjail_core::render::{self, Format};
use thinjail_core::world::World;

use super::{make_plan, observe, prepare};
use crate::args::PlanFormat;
use crate::environment::Environment;
use crate::exit::{CliError, OK};
use crate::progress;

/// Prints the plan for `spec` in `format`; with `fresh`, against an empty host; with
/// `prune`, with the `prune` stage `apply --prune` would add.
pub fn plan(
    env: &Environment,
    plugins: &[PathBuf],
    spec: &str,
    format: PlanFormat,
    fresh: bool,
    prune: bool,
) -> Result<u8, CliError> {
    let prepared = prepare(env, plugins, spec)?;
    let recipe = &prepared.loaded.recipe;
    let world = if fresh {
        World::empty()
    } else {
        let observed = env
            .hosts
            .host(recipe, progress::silent())
            .map_err(|e| thinjail_core::host::HostError::Unsupported(e.to_string()))
            .and_then(|mut host| observe(host.as_mut(), &prepared));
        match observed {
            Ok(world) => world,
            Err(error) => {
                let reason = error.to_string();
                let reason = thinjail_core::quote::terminal_line(
                    reason.lines().next().unwrap_or("unknown error"),
                );
                eprintln!(
                    "thinjail: cannot observe {} ({reason}); planning as if it were empty",
                    env.hosts.describe()
                );
                World::empty()
            }
        }
    };
    let mut plan = make_plan(&prepared, &world)?;
    if prune {
        if let Some(stage) = thinjail_lifecycle::plan_prune(recipe, &world, &plan)? {
            plan.stages.push(stage);
        }
    }
    let format = match format {
        PlanFormat::Sh => Format::Sh,
        PlanFormat::Text => Format::Text,
        PlanFormat::Json => Format::Json,
    };
    let rendered = render::render(&plan, format, &prepared.loaded.origin);
    // Text is for people, and a script shown on a terminal is read by one: escape what
    // could act on the terminal. A script written to a file or a pipe stays exact.
    let for_people =
        format == Format::Text || (format == Format::Sh && std::io::stdout().is_terminal());
    if for_people {
        print!("{}", thinjail_core::quote::terminal(&rendered));
    } else {
        print!("{rendered}");
    }
    if format == Format::Json {
        println!();
    }
    Ok(OK)
}
