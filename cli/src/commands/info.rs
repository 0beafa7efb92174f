//! `thinjail check`, `recipes`, `stages`, `init`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thinjail_core::pipeline::StageSource;

use super::prepare;
use crate::environment::Environment;
use crate::exit::{CliError, WithCode, CANTCREAT, OK, USAGE};
use crate::recipes::{self, BUILTIN};

/// Validates a recipe and builds its stages.
pub fn check(env: &Environment, plugins: &[PathBuf], spec: &str) -> Result<u8, CliError> {
    let prepared = prepare(env, plugins, spec)?;
    let recipe = &prepared.loaded.recipe;
    let stages: Vec<&str> = prepared
        .pipeline
        .stages()
        .iter()
        .map(|s| s.stage.name())
        .collect();
    println!(
        "{}: valid — {} release{}, {} jail{}, stages: {}",
        prepared.loaded.origin,
        recipe.releases.len(),
        if recipe.releases.len() == 1 { "" } else { "s" },
        recipe.jails.len(),
        if recipe.jails.len() == 1 { "" } else { "s" },
        stages.join(" → ")
    );
    Ok(OK)
}

#[derive(Serialize)]
struct RecipeView {
    name: &'static str,
    summary: &'static str,
}

/// Lists the built-in recipes.
pub fn recipes(json: bool) -> Result<u8, CliError> {
    if json {
        let view: Vec<RecipeView> = BUILTIN
            .iter()
            .map(|r| RecipeView {
                name: r.name,
                summary: r.summary,
            })
            .collect();
        super::print_json(&serde_json::json!({"format_version": 1, "recipes": view}))?;
    } else {
        for recipe in &BUILTIN {
            println!("{:<10} {}", recipe.name, recipe.summary);
        }
        println!("\nUse one with `thinjail plan NAME`, or start your own with `thinjail init --from NAME`.");
    }
    Ok(OK)
}

#[derive(Serialize)]
struct StageView {
    name: String,
    summary: String,
    article_step: Option<String>,
    source: StageSource,
    in_recipe: bool,
}

/// Lists built-in stages, and the stages of `spec` (with plugins) when given.
pub fn stages(
    env: &Environment,
    plugins: &[PathBuf],
    spec: Option<&str>,
    json: bool,
) -> Result<u8, CliError> {
    let mut views: Vec<StageView> = Vec::new();
    // No library under the jails directory of the recipe at hand (or, without one, of
    // the recipe commands use by default) is ever opened.
    let mut jails_dir = recipes::load(&recipes::resolve(None))
        .map(|loaded| loaded.recipe.host.jails_dir)
        .unwrap_or_else(|_| thinjail_core::recipe::HostConfig::default().jails_dir);
    if let Some(spec) = spec {
        let prepared = prepare(env, plugins, spec)?;
        jails_dir = prepared.loaded.recipe.host.jails_dir.clone();
        for entry in prepared.pipeline.stages() {
            views.push(StageView {
                name: entry.stage.name().to_string(),
                summary: entry.stage.summary().to_string(),
                article_step: entry.stage.article_step().map(String::from),
                source: entry.source.clone(),
                in_recipe: true,
            });
        }
    }
    for builtin in thinjail_stages::BUILTIN_STAGES {
        if views.iter().any(|v| v.name == builtin.name()) {
            continue;
        }
        let Ok(stage) = (builtin.declaration.build)(None) else {
            continue;
        };
        views.push(StageView {
            name: builtin.name().to_string(),
            summary: builtin.declaration.summary.to_string(),
            article_step: stage.article_step().map(String::from),
            source: StageSource::Builtin {
                provider: builtin.provider.to_string(),
            },
            in_recipe: false,
        });
    }
    for extra in crate::plugins::describe(plugins, &jails_dir)? {
        if views
            .iter()
            .any(|v| v.name == extra.0 && v.source == extra.2)
        {
            continue;
        }
        views.push(StageView {
            name: extra.0,
            summary: extra.1,
            article_step: None,
            source: extra.2,
            in_recipe: false,
        });
    }
    if json {
        super::print_json(&serde_json::json!({"format_version": 1, "stages": views}))?;
        return Ok(OK);
    }
    if spec.is_some() {
        println!("In the recipe, in order:");
    }
    let mut header_done = spec.is_none();
    for view in &views {
        if !view.in_recipe && !header_done {
            println!("\nAlso available:");
            header_done = true;
        }
        let step = view
            .article_step
            .as_deref()
            .map(|s| format!(" [article {s}]"))
            .unwrap_or_default();
        // A plugin's names and summaries are shown escaped, like all it says.
        let line = format!(
            "  {:<14} {}{step}\n  {:<14} from {}",
            view.name, view.summary, "", view.source
        );
        println!("{}", thinjail_core::quote::terminal(&line));
    }
    Ok(OK)
}

/// Writes a commented recipe to `path`.
pub fn init(path: &Path, from: &str, force: bool) -> Result<u8, CliError> {
    let builtin = recipes::builtin(from).ok_or_else(|| {
        CliError::msg(
            USAGE,
            format!("no built-in recipe {from:?} (see `thinjail recipes`)"),
        )
    })?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AlreadyExists {
            " (use --force to overwrite)"
        } else {
            ""
        };
        CliError::msg(
            CANTCREAT,
            format!("cannot write {}: {e}{hint}", path.display()),
        )
    })?;
    file.write_all(builtin.text.as_bytes())
        .map_err(anyhow::Error::from)
        .code(CANTCREAT)?;
    println!(
        "Wrote {} (from the built-in recipe {from}). Edit it, then: thinjail plan {}",
        path.display(),
        path.display()
    );
    Ok(OK)
}
