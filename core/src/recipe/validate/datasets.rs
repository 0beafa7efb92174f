//! The recipe's delegated datasets (`jails[].datasets`, the model is
//! [`crate::resources::datasets`]): each name as zfs(8) takes it, in the recipe's
//! pool, outside thinjail's own datasets, one jail per dataset subtree, a mount path
//! inside the jail's own paths, and no parameter of the jail that forbids mounting.
//! Every problem names its field and exits 65.

use super::Collector;
use crate::jailconf::{same_param, ParamValue};
use crate::recipe::{Jail, Recipe};
use crate::resources::datasets::{check_name, nested};

/// Checks every jail's `datasets`.
pub(super) fn check_datasets(recipe: &Recipe, c: &mut Collector) {
    for (field, value, problem) in problems(recipe) {
        c.check(field, &value, Err(problem));
    }
}

/// Every problem of the recipe's delegated datasets, as (field, value, problem):
/// names, the pool, thinjail's own datasets, a dataset (or one inside it) given to
/// two jails or twice to one, the mount path, and jail parameters that forbid
/// mounting.
pub(super) fn problems(recipe: &Recipe) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    let pool = recipe.host.pool();
    let jails_dataset = recipe.host.jails_dataset.as_str();
    let mut seen: Vec<(&str, String)> = Vec::new();
    for (i, jail) in recipe.jails.iter().enumerate() {
        for (k, delegated) in jail.datasets.iter().enumerate() {
            let field = format!("jails[{i}].datasets[{k}]");
            let name = delegated.dataset.as_str();
            let mut problem = |suffix: &str, value: &str, text: String| {
                found.push((format!("{field}.{suffix}"), value.to_string(), text));
            };
            if let Err(e) = check_name(name) {
                problem("dataset", name, e);
            } else if name.split('/').next() != Some(pool) {
                problem(
                    "dataset",
                    name,
                    format!(
                        "{name} is outside the pool {pool} (host.jails_dataset's): thinjail \
                         delegates datasets of that pool only"
                    ),
                );
            } else if !name.contains('/') {
                problem(
                    "dataset",
                    name,
                    format!("{name} is the pool itself: delegate a dataset inside it"),
                );
            } else if nested(name, jails_dataset) || nested(jails_dataset, name) {
                problem(
                    "dataset",
                    name,
                    format!(
                        "{name} is inside thinjail's own datasets ({jails_dataset}: the bases, \
                         templates and every jail's data) or contains them"
                    ),
                );
            } else if let Some((other, where_)) = seen
                .iter()
                .find(|(other, _)| nested(name, other) || nested(other, name))
            {
                problem(
                    "dataset",
                    name,
                    format!(
                        "{name} is already delegated ({other} at {where_}): a delegated dataset \
                         and everything below it belongs to one jail"
                    ),
                );
            } else {
                seen.push((name, format!("{field} of jail {}", jail.name)));
            }
            if let Err(e) = super::check_jail_path(&delegated.path, &recipe.template.jail_specific)
            {
                problem("path", &delegated.path, e);
            }
        }
        if !jail.datasets.is_empty() {
            found.extend(forbidding_params(recipe, jail, i));
        }
    }
    found
}

/// The parameters the recipe sets for `jail` (its own first, then `jail_params`)
/// that keep it from mounting its datasets: `enforce_statfs` of 2 or more, and
/// `allow.mount` or `allow.mount.zfs` turned off.
fn forbidding_params(recipe: &Recipe, jail: &Jail, i: usize) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for wanted in ["enforce_statfs", "allow.mount", "allow.mount.zfs"] {
        let own = jail
            .params
            .iter()
            .find(|(name, _)| same_param(name, wanted))
            .map(|(name, value)| (format!("jails[{i}].params.{name}"), name, value));
        let global = || {
            recipe
                .jail_params
                .iter()
                .find(|(name, _)| same_param(name, wanted))
                .map(|(name, value)| (format!("jail_params.{name}"), name, value))
        };
        let Some((field, name, value)) = own.or_else(global) else {
            continue;
        };
        let forbids = match (wanted, value) {
            ("enforce_statfs", ParamValue::Number(n)) => *n >= 2,
            ("enforce_statfs", _) => false,
            (_, value) => {
                let last = name.rsplit('.').next().unwrap_or(name);
                let on = match value {
                    ParamValue::Flag(b) => *b,
                    ParamValue::Number(n) => *n != 0,
                    _ => true,
                };
                on == last.starts_with("no")
            }
        };
        if forbids {
            found.push((
                field,
                value.to_string(),
                format!(
                    "jail {} has datasets, which it can mount only with allow.mount, \
                     allow.mount.zfs and enforce_statfs below 2 (jail(8)); thinjail sets them",
                    jail.name
                ),
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(jails: &str) -> Recipe {
        let text = format!(
            r#"(host: (jails_dataset: "tank/jails"), releases: [(name: "14.3-RELEASE")], jails: [{jails}])"#
        );
        ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(&text)
            .unwrap()
    }

    fn fields(recipe: &Recipe) -> Vec<String> {
        problems(recipe).into_iter().map(|(f, _, _)| f).collect()
    }

    #[test]
    fn bad_datasets_name_their_field() {
        let r = recipe(
            r#"(name: "a", release: "14.3-RELEASE", datasets: [
                    (dataset: "other/x", path: "/var/x"),
                    (dataset: "tank", path: "/var/x"),
                    (dataset: "tank/jails/a/data", path: "/var/x"),
                    (dataset: "tank/jails", path: "/var/x"),
                    (dataset: "tank/a@snap", path: "/var/x"),
                    (dataset: "tank//a", path: "/var/x"),
                    (dataset: "tank/ok", path: "/mnt/x"),
                    (dataset: "tank/ok/child", path: "relative"),
               ]),
               (name: "b", release: "14.3-RELEASE", datasets: [(dataset: "tank/ok", path: "/var/y")],
                params: {"enforce_statfs": 2, "allow.mount.nozfs": true})"#,
        );
        assert_eq!(
            fields(&r),
            [
                "jails[0].datasets[0].dataset",
                "jails[0].datasets[1].dataset",
                "jails[0].datasets[2].dataset",
                "jails[0].datasets[3].dataset",
                "jails[0].datasets[4].dataset",
                "jails[0].datasets[5].dataset",
                "jails[0].datasets[6].path",
                "jails[0].datasets[7].dataset",
                "jails[0].datasets[7].path",
                "jails[1].datasets[0].dataset",
                "jails[1].params.enforce_statfs",
                "jails[1].params.allow.mount.nozfs",
            ]
        );
        let fine = recipe(
            r#"(name: "a", release: "14.3-RELEASE", datasets: [(dataset: "tank/a-db", path: "/var/db/a")],
                params: {"enforce_statfs": 0, "allow.nomount": false}),
               (name: "b", release: "14.3-RELEASE", datasets: [(dataset: "tank/b-db", path: "/usr/home/b")])"#,
        );
        assert_eq!(fields(&fine), Vec::<String>::new());
    }
}
