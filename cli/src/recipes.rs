//! Built-in recipes and loading a recipe by name or path.

use std::path::Path;

use thinjail_core::validate::RecipeErrors;
use thinjail_core::Recipe;

use crate::exit::{CliError, DATAERR, NOINPUT};

/// A recipe shipped inside thinjail.
pub struct BuiltinRecipe {
    /// Name used on the command line.
    pub name: &'static str,
    /// One line about it.
    pub summary: &'static str,
    /// Its RON text (commented, editable).
    pub text: &'static str,
}

/// The built-in recipes.
pub const BUILTIN: [BuiltinRecipe; 2] = [
    BuiltinRecipe {
        name: "default",
        summary: "two thin jails (www, db) on 15.1-RELEASE, installed from the official mirror",
        text: include_str!("../recipes/default.ron"),
    },
    BuiltinRecipe {
        name: "article",
        summary: "the article's exact setup: 13.1-RELEASE with bsdinstall, thinjail0 at 192.168.1.70 on em0",
        text: include_str!("../recipes/article.ron"),
    },
];

/// The built-in recipe called `name`.
pub fn builtin(name: &str) -> Option<&'static BuiltinRecipe> {
    BUILTIN.iter().find(|r| r.name == name)
}

/// Where a recipe is read from when none is named: `$THINJAIL_RECIPE`, else this
/// file if it exists, else the built-in `default`.
pub const SYSTEM_RECIPE: &str = "/usr/local/etc/thinjail.ron";

/// The recipe to use: `given`, else `$THINJAIL_RECIPE`, else [`SYSTEM_RECIPE`] if it
/// exists, else the built-in `default`.
pub fn resolve(given: Option<&str>) -> String {
    if let Some(spec) = given {
        return spec.to_string();
    }
    if let Some(spec) = std::env::var("THINJAIL_RECIPE")
        .ok()
        .filter(|s| !s.is_empty())
    {
        return spec;
    }
    if Path::new(SYSTEM_RECIPE).is_file() {
        return SYSTEM_RECIPE.to_string();
    }
    "default".to_string()
}

/// A loaded recipe and where it came from.
pub struct Loaded {
    /// The validated recipe.
    pub recipe: Recipe,
    /// `builtin:NAME` or the file path.
    pub origin: String,
    /// Its text.
    pub text: String,
}

/// Loads `spec`: a file path if it names an existing file or contains `/` or ends in
/// `.ron`, otherwise a built-in recipe name.
pub fn load(spec: &str) -> Result<Loaded, CliError> {
    let looks_like_path = spec.contains('/') || spec.ends_with(".ron") || Path::new(spec).is_file();
    if !looks_like_path {
        if let Some(builtin) = builtin(spec) {
            return parse(
                builtin.text.to_string(),
                format!("builtin:{}", builtin.name),
            );
        }
        let names: Vec<&str> = BUILTIN.iter().map(|r| r.name).collect();
        return Err(CliError::msg(
            NOINPUT,
            format!(
                "no recipe file {spec:?} and no built-in recipe of that name (built-ins: {})",
                names.join(", ")
            ),
        ));
    }
    let text = std::fs::read_to_string(spec)
        .map_err(|e| CliError::msg(NOINPUT, format!("cannot read recipe {spec}: {e}")))?;
    parse(text, spec.to_string())
}

fn parse(text: String, origin: String) -> Result<Loaded, CliError> {
    match Recipe::from_ron(&text, &origin) {
        Ok(recipe) => Ok(Loaded {
            recipe,
            origin,
            text,
        }),
        Err(errors) => Err(recipe_errors(errors)),
    }
}

/// A recipe's problems as a CLI error (exit 65).
pub fn recipe_errors(errors: RecipeErrors) -> CliError {
    CliError::msg(DATAERR, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_recipes_are_valid() {
        for builtin in &BUILTIN {
            let loaded = load(builtin.name).unwrap_or_else(|e| panic!("{}: {e}", builtin.name));
            assert!(!loaded.recipe.jails.is_empty());
        }
    }
}
