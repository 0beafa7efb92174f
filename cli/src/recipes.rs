//! Built-in recipes and loading a recipe by name or path.
//!
//! A bare name (no `/`, no `.ron`) is always a built-in recipe, never a file in the
//! current directory: `thinjail apply default` run from a directory where someone
//! left a file called `default` applies the built-in. A recipe file used by a command
//! that changes the host must be one nobody else can change ([`require_trusted`]).

use std::path::{Path, PathBuf};

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
pub const BUILTIN: [BuiltinRecipe; 3] = [
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
    BuiltinRecipe {
        name: "vnet",
        summary: "two VNET jails (www, db) with their own network stacks on the host's bridge0, on 15.1-RELEASE",
        text: include_str!("../recipes/vnet.ron"),
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
    /// The file it was read from (`None` for a built-in).
    pub file: Option<PathBuf>,
}

/// Whether `spec` names a file (it contains `/` or ends in `.ron`) rather than a
/// built-in recipe.
pub fn names_a_file(spec: &str) -> bool {
    spec.contains('/') || spec.ends_with(".ron")
}

/// Loads `spec`: a file when [`names_a_file`], otherwise the built-in recipe of that
/// name (a file of that name in the current directory is not looked at).
pub fn load(spec: &str) -> Result<Loaded, CliError> {
    if !names_a_file(spec) {
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
                "no built-in recipe {spec:?} (built-ins: {}); a recipe file is named with a `/` or `.ron` (./{spec})",
                names.join(", ")
            ),
        ));
    }
    let text = std::fs::read_to_string(spec)
        .map_err(|e| CliError::msg(NOINPUT, format!("cannot read recipe {spec}: {e}")))?;
    let mut loaded = parse(text, spec.to_string())?;
    loaded.file = Some(PathBuf::from(spec));
    Ok(loaded)
}

fn parse(text: String, origin: String) -> Result<Loaded, CliError> {
    match Recipe::from_ron(&text, &origin) {
        Ok(recipe) => Ok(Loaded {
            recipe,
            origin,
            text,
            file: None,
        }),
        Err(errors) => Err(recipe_errors(errors)),
    }
}

/// Refuses a recipe file that someone other than root, the user running thinjail and
/// the user who invoked it through sudo or doas
/// ([`Owners`](thinjail_core::host::safe_fs::Owners)) could have changed — the file, a
/// directory on the way to it, or a symbolic link leading to it (the same rules as
/// for plugin libraries) — before a command acts on it as root (exit 65, like an
/// untrusted plugin). Built-in recipes are trusted.
pub fn require_trusted(loaded: &Loaded) -> Result<(), CliError> {
    let Some(file) = &loaded.file else {
        return Ok(());
    };
    use thinjail_core::host::safe_fs::{check_trusted, Expect, Owners};
    check_trusted(file, Expect::File, &Owners::of_this_process(), "recipe")
    .map(|_| ())
    .map_err(|problem| {
        CliError::msg(
            DATAERR,
            format!(
                "recipe {}: {problem}; commands that change the host only act on a recipe nobody else can change",
                file.display()
            ),
        )
    })
}

/// A recipe's problems as a CLI error (exit 65).
pub fn recipe_errors(errors: RecipeErrors) -> CliError {
    CliError::msg(DATAERR, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_is_a_built_in_never_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("default"), "(this is not a recipe)").unwrap();
        // As if run from that directory: the name has no `/` and no `.ron`.
        assert!(!names_a_file("default"));
        let loaded = load("default").unwrap();
        assert_eq!(loaded.origin, "builtin:default");
        assert_eq!(loaded.file, None);
        assert!(names_a_file("./default") && names_a_file("mine.ron"));
        let Err(error) = load("nosuch") else {
            panic!("a bare unknown name loaded something")
        };
        assert_eq!(error.code, NOINPUT);
        assert!(error.to_string().contains("./nosuch"), "{error}");
    }

    #[test]
    fn builtin_recipes_are_valid() {
        for builtin in &BUILTIN {
            let loaded = load(builtin.name).unwrap_or_else(|e| panic!("{}: {e}", builtin.name));
            assert!(!loaded.recipe.jails.is_empty());
        }
    }
}
