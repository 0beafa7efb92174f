//! Recipe validation: every name, path and address is checked against what FreeBSD,
//! jail(8) and ZFS accept *before* anything is planned, and every problem is reported
//! with the field it is in.
//!
//! The `check_*` functions are public so other front ends (and the CLI's own
//! arguments, such as a jail name given to `thinjail start`) apply the same rules.
//!
//! [`validate`] walks the recipe section by section (`host`, `releases`, `template`,
//! `jails`, `stages`, then every string); the field rules it applies live by kind
//! (names, paths, network values, terminal-safe text).

mod bridges;
mod datasets;
mod host;
mod jails;
mod names;
mod net;
pub mod network;
mod paths;
mod releases;
mod resources;
mod stages;
mod strings;
mod template;
mod text;

use std::fmt;

use serde::Serialize;

use crate::recipe::Recipe;

pub use bridges::member_problem;
pub use names::*;
pub use net::*;
pub use paths::*;
pub use resources::{check_host_source, check_jail_path};
pub use text::*;

use host::check_host;
use jails::{check_jails, check_params};
use releases::check_releases;
use stages::check_stages;
use strings::check_every_string;
use template::check_template;

/// One problem in a recipe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecipeError {
    /// Where it is, e.g. `jails[0].name`.
    pub field: String,
    /// What is wrong.
    pub problem: String,
    /// Line and column (1-based) in the recipe text, when known.
    pub position: Option<(usize, usize)>,
    /// The offending value, used to find its position.
    #[serde(skip)]
    value: Option<String>,
}

impl RecipeError {
    /// A problem in `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        RecipeError {
            field: field.into(),
            problem: problem.into(),
            position: None,
            value: None,
        }
    }

    fn with_value(mut self, value: &str) -> Self {
        self.value = Some(value.to_string());
        self
    }

    /// Converts a RON parse error, keeping its position and naming the field when RON does.
    pub fn from_ron(error: &ron::error::SpannedError) -> Self {
        use ron::Error as E;
        let field = match &error.code {
            E::NoSuchStructField { found, outer, .. } => match outer {
                Some(outer) => format!("{outer}.{found}"),
                None => found.clone(),
            },
            E::MissingStructField { field, outer } => match outer {
                Some(outer) => format!("{outer}.{field}"),
                None => field.to_string(),
            },
            E::DuplicateStructField { field, outer } => match outer {
                Some(outer) => format!("{outer}.{field}"),
                None => field.to_string(),
            },
            _ => "(syntax)".to_string(),
        };
        RecipeError {
            field,
            problem: error.code.to_string(),
            position: Some((error.span.start.line, error.span.start.col)),
            value: None,
        }
    }
}

impl fmt::Display for RecipeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, col)) = self.position {
            write!(f, "{line}:{col}: ")?;
        }
        // A message may quote the recipe (or RON's own error text may): whatever it
        // quotes reaches the terminal escaped, never as a live control sequence.
        write!(
            f,
            "{}: {}",
            escape_for_terminal(&self.field),
            escape_for_terminal(&self.problem)
        )
    }
}

/// All problems found in one recipe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct RecipeErrors {
    /// The recipe's path or built-in name.
    pub origin: String,
    /// The problems, in recipe order.
    pub errors: Vec<RecipeError>,
}

impl RecipeErrors {
    /// Problems found in the recipe from `origin`.
    pub fn new(origin: &str, errors: Vec<RecipeError>) -> Self {
        RecipeErrors {
            origin: origin.to_string(),
            errors,
        }
    }

    /// Fills in positions for problems whose offending value appears in `text`.
    pub fn locate_in(mut self, text: &str) -> Self {
        for error in &mut self.errors {
            if error.position.is_some() {
                continue;
            }
            let Some(value) = &error.value else { continue };
            let needle = format!("\"{value}\"");
            if let Some(offset) = text.find(&needle).or_else(|| text.find(value.as_str())) {
                let before = &text[..offset];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                error.position = Some((line, col));
            }
        }
        self
    }
}

impl fmt::Display for RecipeErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        let origin = escape_for_terminal(&self.origin);
        write!(
            f,
            "recipe {origin} has {count} problem{}:",
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.errors {
            write!(f, "\n  {origin}:{error}")?;
        }
        Ok(())
    }
}

struct Collector(Vec<RecipeError>);

impl Collector {
    fn check(&mut self, field: impl Into<String>, value: &str, result: Result<(), String>) {
        if let Err(problem) = result {
            self.0
                .push(RecipeError::new(field, problem).with_value(value));
        }
    }
}

/// Validates a parsed recipe; an empty result means it is safe to plan.
pub fn validate(recipe: &Recipe) -> Vec<RecipeError> {
    let mut c = Collector(Vec::new());
    check_host(recipe, &mut c);
    let release_names = check_releases(recipe, &mut c);

    check_template(recipe, &mut c);
    check_params(&mut c, "jail_params", &recipe.jail_params);
    check_jails(recipe, &release_names, &mut c);
    network::check_network(recipe, &mut c);
    datasets::check_datasets(recipe, &mut c);
    check_stages(recipe, &mut c);
    check_every_string(recipe, &mut c);
    c.0
}

#[cfg(test)]
mod tests;
