//! # thinjail-plugin-pkg
//!
//! A thinjail plugin stage that installs packages into thin jails with pkg(8):
//!
//! ```ron
//! (name: "pkg", plugin: "pkg", config: (
//!     packages: ["nginx", "curl"],
//!     jails: ["www"],                                // optional: every jail when absent
//!     installs: {"nginx": "/usr/local/sbin/nginx"},  // optional: a file proving it is there
//! )),
//! ```
//!
//! For each jail with packages still missing it plans
//! `jexec -l JAIL env ASSUME_ALWAYS_YES=yes pkg install -y NAME…` (the variable lets
//! pkg bootstrap itself in a fresh jail without asking), then records the packages in
//! `<jails_dir>/<jail>/pkg.list`. It comes after `rcconf` in the stage list: pkg runs
//! inside the jail, so the jail must be running (or started by an earlier stage).
//!
//! ## Knowing what is installed without running anything
//!
//! Planning never runs a host command, and pkg's database (`/var/db/pkg/local.sqlite`)
//! is not something a plan can read. So the stage keeps its own record: the file
//! `pkg.list` next to the jail's `fstab`, one package per line, written by the plan
//! right after a successful `pkg install` (a failed install stops apply before it). The
//! record lives in the jail's own dataset but outside its data, where nothing inside
//! the jail can change it (and the host never writes into a jail's data). A package
//! counts as installed when the record lists it; when `installs` names a file for it
//! (a path inside the jail, under one of the template's jail-specific directories),
//! that file must also exist in the jail's data, which catches a package removed by
//! hand or lost with a rollback of the data. The jail's root controls its data, so the
//! file is looked at without following any symbolic link on the way
//! (`Probes::beneath`): a file reached only through a link the jail planted counts as
//! missing. That check can only add an install, never skip one, so what the jail puts
//! in its data cannot stop a package from being installed. Packages dropped from the configuration are left installed (nothing is
//! removed implicitly).
//!
//! pkg writes `/usr/local` and `/var/db/pkg`; in a thin jail both must be
//! jail-specific (`template.jail_specific`, as in the article), or the stage refuses.

#![deny(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use thinjail_core::action::Action;
use thinjail_core::layout::Layout;
use thinjail_core::recipe::{Jail, Recipe};
use thinjail_core::stage::DeclaredStage;
use thinjail_core::stage::{parse_config, Planned, Probes, Stage, StageContext, StageError};
use thinjail_core::world::World;

/// File, in each jail's directory (next to its fstab), listing what this stage installed.
pub const RECORD_FILE: &str = "pkg.list";

/// Directories pkg writes inside a jail, which must therefore be jail-specific.
pub const PKG_WRITES: [&str; 2] = ["usr/local", "var/db/pkg"];

/// The stage's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PkgConfig {
    /// Packages to install (names or origins such as `www/nginx`).
    pub packages: Vec<String>,
    /// The jails to install them into; every jail of the recipe when empty.
    #[serde(default)]
    pub jails: Vec<String>,
    /// For some packages, a file each installs (a path inside the jail) whose presence
    /// is checked in addition to the record.
    #[serde(default)]
    pub installs: BTreeMap<String, PathBuf>,
}

/// Installs packages into jails with pkg(8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkgStage {
    config: PkgConfig,
}

/// Whether `name` is something `pkg install` takes as a package name or origin, and
/// nothing it could take as an option.
pub fn check_package_name(name: &str) -> Result<(), String> {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.+/@".contains(&b));
    let first_ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if plain && first_ok && name.len() <= 128 && !name.contains("..") {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a package name (letters, digits and - _ . + / @, starting with a letter or digit)"
        ))
    }
}

impl DeclaredStage for PkgStage {
    const NAME: &'static str = "pkg";
    const SUMMARY: &'static str =
        "installs packages into jails with pkg(8); nothing when they are already there";

    fn from_config(config: Option<&str>) -> Result<Self, StageError> {
        if config.is_none() {
            return Err(StageError::Config(
                "stage pkg needs a configuration: (packages: [\"name\", …])".into(),
            ));
        }
        let config: PkgConfig = parse_config(Self::NAME, config)?;
        if config.packages.is_empty() {
            return Err(StageError::Config("stage pkg: packages is empty".into()));
        }
        for name in &config.packages {
            check_package_name(name).map_err(|e| StageError::Config(format!("stage pkg: {e}")))?;
        }
        for (package, file) in &config.installs {
            if !config.packages.contains(package) {
                return Err(StageError::Config(format!(
                    "stage pkg: installs names {package}, which is not in packages"
                )));
            }
            let plain = file.is_absolute()
                && file
                    .components()
                    .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
            if !plain || file == Path::new("/") {
                return Err(StageError::Config(format!(
                    "stage pkg: installs[{package:?}] must be an absolute path inside the jail without `..`, not {}",
                    file.display()
                )));
            }
        }
        Ok(PkgStage { config })
    }
}

/// Where the jail path `inside` (absolute) lives on the host: in the jail's data when
/// it is under one of the template's jail-specific directories.
pub fn data_path(
    layout: &Layout<'_>,
    recipe: &Recipe,
    jail: &str,
    inside: &Path,
) -> Option<PathBuf> {
    data_relative(recipe, inside).map(|relative| layout.data_dir(jail).join(relative))
}

/// `inside` relative to a jail's data, when it is under one of the template's
/// jail-specific directories.
fn data_relative<'p>(recipe: &Recipe, inside: &'p Path) -> Option<&'p Path> {
    let relative = inside.strip_prefix("/").ok()?;
    recipe
        .template
        .jail_specific
        .iter()
        .any(|specific| relative.starts_with(specific))
        .then_some(relative)
}

impl PkgStage {
    /// The jails this stage installs into.
    fn jails<'r>(&self, recipe: &'r Recipe) -> Result<Vec<&'r Jail>, StageError> {
        if self.config.jails.is_empty() {
            return Ok(recipe.jails.iter().collect());
        }
        self.config
            .jails
            .iter()
            .map(|name| {
                recipe.jail(name).ok_or_else(|| {
                    StageError::Config(format!("stage pkg: jail {name} is not in the recipe"))
                })
            })
            .collect()
    }

    /// The record file of `jail`.
    fn record(layout: &Layout<'_>, jail: &str) -> PathBuf {
        layout.jail_dir(jail).join(RECORD_FILE)
    }
}

impl Stage for PkgStage {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn summary(&self) -> &str {
        Self::SUMMARY
    }

    fn probes(&self, ctx: &StageContext<'_>) -> Probes {
        let mut probes = Probes::default();
        let jails = self.jails(ctx.recipe).unwrap_or_default();
        for jail in jails {
            probes.file(Self::record(&ctx.layout, &jail.name));
            // The jail's root controls its data: looked at without following a link.
            for inside in self.config.installs.values() {
                if let Some(relative) = data_relative(ctx.recipe, inside) {
                    probes.beneath(ctx.layout.data_dir(&jail.name), relative);
                }
            }
        }
        probes
    }

    fn plan(&self, ctx: &StageContext<'_>, world: &World) -> Result<Vec<Planned>, StageError> {
        let recipe = ctx.recipe;
        for needed in PKG_WRITES {
            let specific = recipe
                .template
                .jail_specific
                .iter()
                .any(|s| Path::new(needed).starts_with(s));
            if !specific {
                return Err(StageError::Config(format!(
                    "stage pkg: pkg writes /{needed}, which is in the read-only base of these jails; \
                     make it jail-specific (template.jail_specific)"
                )));
            }
        }
        let mut actions = Vec::new();
        for jail in self.jails(recipe)? {
            let record_path = Self::record(&ctx.layout, &jail.name);
            let recorded: BTreeSet<String> = world
                .file_contents(&record_path)
                .unwrap_or("")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect();
            let mut missing = Vec::new();
            let mut links = Vec::new();
            for package in &self.config.packages {
                let file_there = match self.config.installs.get(package) {
                    None => true,
                    Some(inside) => {
                        let path = data_path(&ctx.layout, recipe, &jail.name, inside).ok_or_else(|| {
                            StageError::Config(format!(
                                "stage pkg: installs[{package:?}] = {} is not under a jail-specific directory, so no package can put it there",
                                inside.display()
                            ))
                        })?;
                        let data = ctx.layout.data_dir(&jail.name);
                        if let Some((at, state)) = world.blocked_beneath(&data, &path) {
                            links.push(format!(
                                "/{} is {state} in the jail's data, not followed",
                                at.strip_prefix(&data).unwrap_or(&at).display()
                            ));
                        }
                        world.path(&path).exists()
                    }
                };
                if !recorded.contains(package) || !file_there {
                    missing.push(package.clone());
                }
            }
            if missing.is_empty() {
                continue;
            }
            let mut note = format!("not installed yet: {}", missing.join(" "));
            for link in &links {
                note.push_str(&format!(" ({link})"));
            }
            if !world.is_running(&jail.name) {
                return Err(StageError::Missing(format!(
                    "jail {} is not running and no earlier stage starts it; pkg installs into running jails \
                     (list pkg after rcconf, and let the jail start)",
                    jail.name
                )));
            }
            let mut argv: Vec<String> = ["env", "ASSUME_ALWAYS_YES=yes", "pkg", "install", "-y"]
                .into_iter()
                .map(String::from)
                .collect();
            argv.extend(missing.iter().cloned());
            actions.push(Planned::noted(
                Action::ExecInJail {
                    jail: jail.name.clone(),
                    argv,
                },
                note,
            ));
            let mut all = recorded.clone();
            all.extend(missing);
            if all != recorded {
                let mut contents = String::from("# packages thinjail's pkg stage installed\n");
                for package in &all {
                    contents.push_str(package);
                    contents.push('\n');
                }
                actions.push(Planned::noted(
                    Action::WriteFile {
                        path: record_path,
                        contents,
                        mode: 0o644,
                    },
                    "the record the next plan reads to know what is installed (outside the jail's reach)",
                ));
            }
        }
        Ok(actions)
    }
}

thinjail_core::export_plugin!("pkg", env!("CARGO_PKG_VERSION"), [PkgStage]);

#[cfg(test)]
mod tests {
    use super::*;
    use thinjail_core::world::{PathState, RunningJail};

    fn recipe() -> Recipe {
        Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")],
                jails: [(name: "www", release: "14.3-RELEASE"), (name: "db", release: "14.3-RELEASE")])"#,
            "test",
        )
        .unwrap()
    }

    fn running(names: &[&str]) -> World {
        let mut world = World::empty();
        for name in names {
            world.jails.insert(
                name.to_string(),
                RunningJail {
                    jid: 1,
                    name: name.to_string(),
                    path: format!("/usr/local/jails/.mountpoints/{name}").into(),
                    ip4: vec![],
                    ip6: vec![],
                    dying: false,
                },
            );
        }
        world
    }

    fn stage(config: &str) -> PkgStage {
        PkgStage::from_config(Some(config)).unwrap()
    }

    #[test]
    fn installs_what_is_missing_then_records_it() {
        let recipe = recipe();
        let ctx = StageContext::new(&recipe);
        let stage = stage(r#"(packages: ["nginx", "www/curl"], jails: ["www"])"#);
        let world = running(&["www"]);
        let actions = stage.plan(&ctx, &world).unwrap();
        let lines: Vec<String> = actions.iter().flat_map(|a| a.action.sh_lines()).collect();
        assert_eq!(
            lines[0],
            "jexec -l www env ASSUME_ALWAYS_YES=yes pkg install -y nginx www/curl"
        );
        let record = Path::new("/usr/local/jails/www/pkg.list");
        assert!(
            matches!(&actions[1].action, Action::WriteFile { path, contents, .. }
            if path == record && contents.ends_with("\nnginx\nwww/curl\n"))
        );
        let world = world.after_planned(&actions);
        assert_eq!(stage.plan(&ctx, &world).unwrap(), [], "idempotent");
        assert!(stage.probes(&ctx).files.contains(record));
    }

    #[test]
    fn an_installed_file_that_went_missing_means_install_again() {
        let recipe = recipe();
        let ctx = StageContext::new(&recipe);
        let stage = stage(r#"(packages: ["nginx"], installs: {"nginx": "/usr/local/sbin/nginx"})"#);
        let mut world = running(&["www", "db"]);
        for jail in ["www", "db"] {
            world.set_path(
                &PathBuf::from(format!("/usr/local/jails/{jail}/pkg.list")),
                PathState::File {
                    contents: Some("nginx\n".into()),
                },
            );
        }
        world.set_path(
            Path::new("/usr/local/jails/www/data/usr/local/sbin/nginx"),
            PathState::File { contents: None },
        );
        let actions = stage.plan(&ctx, &world).unwrap();
        assert_eq!(
            actions.len(),
            1,
            "only db lost it, and its record is unchanged: {actions:?}"
        );
        assert!(matches!(&actions[0].action, Action::ExecInJail { jail, .. } if jail == "db"));
    }

    #[test]
    fn the_jails_data_is_looked_at_without_following_its_links() {
        let recipe = recipe();
        let ctx = StageContext::new(&recipe);
        let stage = stage(r#"(packages: ["nginx"], installs: {"nginx": "/usr/local/sbin/nginx"})"#);
        // Asked below the data's mount point, never as a path the host would resolve.
        let probes = stage.probes(&ctx);
        assert!(probes.paths.is_empty(), "{probes:?}");
        let probe = probes
            .beneath
            .iter()
            .find(|p| p.root == Path::new("/usr/local/jails/db/data"))
            .unwrap();
        assert_eq!(probe.relative, Path::new("usr/local/sbin/nginx"));
        assert!(thinjail_core::confine::check_probes(&ctx.layout, &probes).is_ok());

        // www's root made usr/local a link (to a directory where nginx is): the look
        // stopped at the link, so nginx counts as missing and is installed again,
        // inside the jail; the note says why.
        let mut world = running(&["www"]);
        world.set_path(
            Path::new("/usr/local/jails/www/pkg.list"),
            PathState::File {
                contents: Some("nginx\n".into()),
            },
        );
        world.set_path(
            Path::new("/usr/local/jails/www/data/usr/local"),
            PathState::Symlink {
                target: "/usr/local".into(),
            },
        );
        let stage = self::stage(
            r#"(packages: ["nginx"], jails: ["www"], installs: {"nginx": "/usr/local/sbin/nginx"})"#,
        );
        let actions = stage.plan(&ctx, &world).unwrap();
        assert_eq!(actions.len(), 1, "{actions:?}");
        assert!(matches!(&actions[0].action, Action::ExecInJail { jail, .. } if jail == "www"));
        assert_eq!(
            actions[0].note.as_deref(),
            Some("not installed yet: nginx (/usr/local is a symbolic link to /usr/local in the jail's data, not followed)")
        );
    }

    #[test]
    fn refusals() {
        let recipe = recipe();
        let ctx = StageContext::new(&recipe);
        let config_error = |text: &str| match PkgStage::from_config(Some(text)) {
            Err(StageError::Config(problem)) => problem,
            other => panic!("{text}: {other:?}"),
        };
        assert!(config_error(r#"(packages: ["-f"])"#).contains("not a package name"));
        assert!(config_error(r#"(packages: [])"#).contains("packages is empty"));
        assert!(
            config_error(r#"(packages: ["a"], installs: {"b": "/x"})"#).contains("not in packages")
        );
        assert!(
            config_error(r#"(packages: ["a"], installs: {"a": "/usr/../etc"})"#)
                .contains("without `..`")
        );
        assert!(config_error(r#"(packages: ["a"], colour: 1)"#).contains("colour"));
        assert!(PkgStage::from_config(None).is_err());

        let stopped = stage(r#"(packages: ["nginx"])"#).plan(&ctx, &World::empty());
        assert!(matches!(stopped, Err(StageError::Missing(m)) if m.contains("not running")));
        let unknown =
            stage(r#"(packages: ["nginx"], jails: ["mail"])"#).plan(&ctx, &running(&["www"]));
        assert!(
            matches!(unknown, Err(StageError::Config(m)) if m.contains("jail mail is not in the recipe"))
        );

        let mut shared_local = recipe.clone();
        shared_local
            .template
            .jail_specific
            .retain(|s| s != "usr/local");
        let ctx = StageContext::new(&shared_local);
        let base = stage(r#"(packages: ["nginx"])"#).plan(&ctx, &running(&["www", "db"]));
        assert!(matches!(base, Err(StageError::Config(m)) if m.contains("/usr/local")));
    }
}
