//! Inputs the tests and the benchmark share: the article's recipe with N jails, a
//! host that has only its pool, and `zfs get` read as (dataset, property) → value.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::process::Command;

use thinjail_core::recipe::Jail;
use thinjail_core::world::{Dataset, World};
use thinjail_core::Recipe;

use crate::fixtures::zfs_lock::run_zfs_command;

/// The built-in `article` recipe with `n` jails `j0001`… on its release, each with
/// its own address.
pub fn recipe_with_jails(n: usize) -> Result<Recipe, String> {
    let builtin = thinjail_cli::recipes::builtin("article")
        .ok_or_else(|| "no built-in article recipe".to_string())?;
    let mut recipe =
        Recipe::from_ron(builtin.text, "article").map_err(|e| format!("article recipe: {e}"))?;
    let template = recipe
        .jails
        .first()
        .cloned()
        .ok_or_else(|| "the article recipe has no jail".to_string())?;
    recipe.jails = (1..=n).map(|i| numbered_jail(&template, i)).collect();
    Ok(recipe)
}

/// Jail number `i` (1-based), like `template` but with its own name and address.
pub fn numbered_jail(template: &Jail, i: usize) -> Jail {
    Jail {
        name: format!("j{i:04}"),
        ip4: vec![format!(
            "10.{}.{}.{}",
            i / 62500,
            (i / 250) % 250,
            i % 250 + 2
        )],
        ..template.clone()
    }
}

/// A host that has only its pool, mounted at `/<pool>`.
pub fn fresh_world(recipe: &Recipe) -> World {
    let pool = recipe.host.pool().to_string();
    let mut world = World {
        observed: true,
        ..World::default()
    };
    world.datasets.insert(
        pool.clone(),
        Dataset {
            mountpoint: Some(PathBuf::from("/").join(&pool)),
            ..Dataset::default()
        },
    );
    world
}

/// `zfs get -H [-p] -o name,property,value PROPERTIES NAMES…` as
/// (name, property) → value; `parsable` asks for exact numbers (`-p`).
pub fn zfs_get(
    properties: &str,
    names: &[&str],
    parsable: bool,
) -> io::Result<BTreeMap<(String, String), String>> {
    let mut command = Command::new("zfs");
    command.args(["get", "-H"]);
    if parsable {
        command.arg("-p");
    }
    command
        .args(["-o", "name,property,value", properties])
        .args(names);
    let output = run_zfs_command(&mut command)?;
    Ok(output
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                [name, property, value] => Some((
                    (name.to_string(), property.to_string()),
                    value.trim().to_string(),
                )),
                _ => None,
            }
        })
        .collect())
}

/// One property of one dataset ([`zfs_get`]).
pub fn zfs_get_one(property: &str, name: &str, parsable: bool) -> io::Result<String> {
    zfs_get(property, &[name], parsable)?
        .remove(&(name.to_string(), property.to_string()))
        .ok_or_else(|| io::Error::other(format!("zfs get {property} {name}: no value")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_jails_have_their_own_name_and_address() {
        let recipe = recipe_with_jails(300).unwrap();
        assert_eq!(recipe.jails.len(), 300);
        assert_eq!(recipe.jails[0].name, "j0001");
        assert_eq!(recipe.jails[0].ip4, ["10.0.0.3"]);
        assert_eq!(recipe.jails[299].ip4, ["10.0.1.52"]);
        let world = fresh_world(&recipe);
        assert_eq!(world.datasets.len(), 1);
    }
}
