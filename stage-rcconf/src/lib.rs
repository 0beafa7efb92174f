//! # thinjail-stage-rcconf
//!
//! Makes the jails start, now and at boot (article step 6): each jail in a
//! jail.conf(5) file of its own (`host.jail_conf_dir/NAME.conf`, by default
//! `/etc/jail.conf.d/NAME.conf`), started with `jail -f FILE -c NAME`; rc.conf(5)'s
//! `jail_enable` and `jail_list` set so that what booted before still boots, and
//! the recipe's jails with `start: true` boot too.
//!
//! Departures from the article, each said in the plan:
//! - the article puts the settings at the top of `/etc/jail.conf`, where they change
//!   the administrator's other jails — and where the administrator's settings
//!   (hooks, `path`, `enforce_statfs`, a `*` section after the jails) change ours.
//!   A file of its own, read alone by jail(8), gives a jail exactly the recipe; a
//!   header line (`# thinjail:managed=JAILS_DATASET`) says whose it is. Blocks an
//!   older thinjail wrote in `/etc/jail.conf` are moved out (file first, then the
//!   block, so a crash in between is finished by the next apply);
//! - rc.d/jail boots per-jail files only through `jail_list`, and an empty
//!   `jail_list` boots every jail of `/etc/jail.conf`: when thinjail has to set
//!   `jail_list`, it lists the jails that booted before and records the old value
//!   on the line, which it puts back when its last jail goes;
//! - everything that would pull a jail's file into the administrator's
//!   configuration or shadow it at boot is refused with its file and line: the
//!   same name defined in jail.conf, an `.include` reading the file,
//!   `/etc/jail.NAME.conf`, `jail_NAME_conf` naming another file, the legacy
//!   `jail_NAME_rootdir`/`jail_NAME_hostname`, `jail_NAME_flags`,
//!   `jail_NAME_program`, `jail_flags`; and so is a running jail of the same name
//!   started from another root;
//! - before anything is planned the boot is computed twice ([`thinjail_core::boot`])
//!   — as the host is and as the plan leaves it — on FreeBSD 13.x and 14+: the
//!   administrator's jails must boot from the same files with the same parameters,
//!   and the recipe's from their own files, or nothing is planned;
//! - only our jails are started (`service jail start` would start every jail).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod datasets;
pub mod pf;
pub mod resources;

use std::collections::{BTreeMap, BTreeSet};

use thinjail_core::action::Action;
use thinjail_core::devfs_rules;
use thinjail_core::edit::FileEdit;
use thinjail_core::hostconf::Configuration;
use thinjail_core::jailconf::{ordered_params, render_block, JailConf, Params, Semantics};
use thinjail_core::jailfile::{block_id, foreign_jail_message, MANAGED_MARK};
use thinjail_core::layout::Layout;
use thinjail_core::network;
use thinjail_core::recipe::{Jail, ParamValue, Recipe};
use thinjail_core::stage::{
    no_config, DeclaredStage, Planned, Probes, Stage, StageContext, StageError,
};
use thinjail_core::world::World;

/// The rc.conf / jail.conf stage.
#[derive(Clone, Copy, Debug, Default)]
pub struct RcConfStage;

/// The jail.conf(5) block of `jail`: the article's settings, derived paths,
/// addresses, then the recipe's own parameters.
pub fn jail_block(recipe: &Recipe, jail: &Jail) -> String {
    jail_block_with_ruleset(recipe, jail, network::DEVFS_RULESET_FLOOR)
}

/// [`jail_block`] with `dhcp_ruleset` as a DHCP jail's `devfs_ruleset`.
pub fn jail_block_with_ruleset(recipe: &Recipe, jail: &Jail, dhcp_ruleset: u32) -> String {
    render_block(
        &jail.name,
        &jail_params_with_ruleset(recipe, jail, dhcp_ruleset),
    )
}

/// The whole file thinjail writes for `jail`: a header saying whose it is, the
/// blocks of the jails it depends on (jail(8) refuses a `depend` its file does not
/// define), then its own block. jail(8) reads nothing else for the jail (`jail -f
/// FILE -c NAME`).
pub fn jail_file(recipe: &Recipe, jail: &Jail) -> String {
    jail_file_with_ruleset(recipe, jail, network::DEVFS_RULESET_FLOOR)
}

/// [`jail_file`] with `dhcp_ruleset` as a DHCP jail's `devfs_ruleset`: the number
/// of thinjail's devfs ruleset on the host ([`devfs_rules::plan`]).
pub fn jail_file_with_ruleset(recipe: &Recipe, jail: &Jail, dhcp_ruleset: u32) -> String {
    let mut blocks = String::new();
    let dependencies = resources::dependencies(recipe, jail);
    if !dependencies.is_empty() {
        blocks.push_str(&format!(
            "# The jails {} depends on (started first when they do not run); each also has a\n\
             # file of its own.\n",
            jail.name
        ));
        for dependency in dependencies {
            blocks.push_str(&jail_block_with_ruleset(recipe, dependency, dhcp_ruleset));
        }
    }
    blocks.push_str(&jail_block_with_ruleset(recipe, jail, dhcp_ruleset));
    format!(
        "# jail {name}, written by thinjail from its recipe: `thinjail apply` rewrites this file and\n\
         # `thinjail destroy {name}` removes it; change the recipe, not this file.\n\
         {MANAGED_MARK}{dataset}\n{blocks}",
        name = jail.name,
        dataset = recipe.host.jails_dataset,
    )
}

/// The parameters [`jail_block`] writes for `jail`, in the order it writes them: what
/// jail(8) must see for this jail, and nothing else. A DHCP jail's `devfs_ruleset` is
/// [`network::DEVFS_RULESET_FLOOR`] here, the number on a host where no other ruleset
/// has it; [`jail_params_with_ruleset`] takes the host's.
pub fn jail_params(recipe: &Recipe, jail: &Jail) -> Vec<(String, ParamValue)> {
    jail_params_with_ruleset(recipe, jail, network::DEVFS_RULESET_FLOOR)
}

/// [`jail_params`] with `dhcp_ruleset` as a DHCP jail's `devfs_ruleset`.
pub fn jail_params_with_ruleset(
    recipe: &Recipe,
    jail: &Jail,
    dhcp_ruleset: u32,
) -> Vec<(String, ParamValue)> {
    let layout = Layout::new(recipe);
    let mut params = recipe.params_of(jail);
    resources::add_resource_params(&mut params, jail);
    thinjail_core::resources::datasets::add_params(
        &mut params,
        &jail.name,
        &jail.release,
        &jail.datasets,
    );
    let text = |s: String| ParamValue::Text(s);
    params
        .entry("host.hostname".into())
        .or_insert_with(|| text(jail.name.clone()));
    params.insert(
        "path".into(),
        text(layout.root(&jail.name).display().to_string()),
    );
    params.insert(
        "mount.fstab".into(),
        text(layout.fstab(&jail.name).display().to_string()),
    );
    if !jail.ip4.is_empty() {
        params
            .entry("ip4.addr".into())
            .or_insert_with(|| ParamValue::List(jail.ip4.clone()));
    }
    if !jail.ip6.is_empty() {
        params
            .entry("ip6.addr".into())
            .or_insert_with(|| ParamValue::List(jail.ip6.clone()));
    }
    if let Some(interface) = &recipe.host.interface {
        if !jail.ip4.is_empty() || !jail.ip6.is_empty() {
            params
                .entry("interface".into())
                .or_insert_with(|| text(interface.clone()));
        }
    }
    if let Some(vnet) = &jail.vnet {
        let vnet_jails = recipe.jails.iter().filter(|j| j.vnet.is_some());
        let names = network::epair_names(vnet_jails.map(|j| j.name.as_str()));
        if let Some(names) = names.get(&jail.name) {
            network::vnet_params(&jail.name, vnet, names, dhcp_ruleset, &mut params);
        }
    }
    ordered_params(params)
}

fn conflict(message: impl Into<String>) -> StageError {
    StageError::Conflict(message.into())
}

/// What jail(8) reads from one of our blocks (or files) on its own: the jail's
/// parameters, or nothing if it does not parse.
/// What thinjail changes on a running jail without restarting it (its limits and CPU
/// set hooks, `depend`) is left out: [`resources::reconcile`] brings those.
fn block_meaning(block: &str, jail: &str) -> Option<Params> {
    JailConf::parse(block, "block", Semantics::Freebsd14)
        .ok()?
        .effective(jail)
        .ok()
        .map(resources::without_live_params)
}

impl DeclaredStage for RcConfStage {
    const NAME: &'static str = "rcconf";
    const SUMMARY: &'static str = "each jail's own jail.conf file, jail_enable and jail_list in rc.conf, and starting the jails";
    const ARTICLE_STEP: Option<&'static str> = Some("6");

    fn from_config(config: Option<&str>) -> Result<Self, StageError> {
        no_config(Self::NAME, config)?;
        Ok(RcConfStage)
    }
}

impl Stage for RcConfStage {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn summary(&self) -> &str {
        Self::SUMMARY
    }

    fn article_step(&self) -> Option<&str> {
        Self::ARTICLE_STEP
    }

    /// The kernel's limits (whenever there are jails: a jail whose last limit left
    /// the recipe still has rules to remove) and the CPU sets of jails that have one.
    fn probes(&self, ctx: &StageContext<'_>) -> Probes {
        Probes {
            limits: !ctx.recipe.jails.is_empty(),
            cpusets: ctx
                .recipe
                .jails
                .iter()
                .filter(|j| j.cpuset.is_some())
                .map(|j| j.name.clone())
                .collect(),
            // pf.conf for the anchor, and the devfs.rules files rc(8) reads for
            // thinjail's DHCP ruleset.
            files: pf::probed_files(ctx.recipe)
                .into_iter()
                .chain(devfs_rules::files(ctx.recipe))
                .collect(),
            delegated: datasets::probed(ctx.recipe),
            ..Probes::default()
        }
    }

    fn plan(&self, ctx: &StageContext<'_>, world: &World) -> Result<Vec<Planned>, StageError> {
        let recipe = ctx.recipe;
        let host = &recipe.host;
        let mut actions = Vec::new();
        // Bridges thinjail makes: before the jails that use them start; removed
        // when none does (even when the recipe has no jail left).
        let bridges = thinjail_core::bridges::plan(recipe, world)?;
        if recipe.jails.is_empty() {
            // thinjail's devfs ruleset, if it is left, goes with the last jail, and
            // so do the bridges thinjail made; the pf anchor is brought to the
            // recipe as with jails (emptied when no rule is left; a jail-less
            // recipe with rules is refused by check, NAT and forwards need a
            // VNET jail).
            let mut actions = bridges;
            actions.extend(pf::plan(recipe, world)?);
            actions.extend(devfs_rules::plan(recipe, world)?.after_starts);
            return Ok(actions);
        }
        for jail in &recipe.jails {
            if let Some(running) = ctx.layout.foreign_jail(world, &jail.name) {
                return Err(conflict(foreign_jail_message(
                    &jail.name,
                    running,
                    &ctx.layout.root(&jail.name),
                )));
            }
        }
        if let Some(interfaces) = &world.interfaces {
            let vnet_jails: Vec<(&str, bool, &str)> = recipe
                .jails
                .iter()
                .filter_map(|j| {
                    let vnet = j.vnet.as_ref()?;
                    let running = world.jails.contains_key(&j.name);
                    Some((j.name.as_str(), running, vnet.bridge.as_str()))
                })
                .collect();
            let leftovers = thinjail_core::leftover_epairs::find(
                &vnet_jails,
                interfaces,
                &world.interface_descriptions,
            );
            let found = network::host_conflicts(&host.network, &vnet_jails, interfaces, &leftovers);
            if !found.is_empty() {
                return Err(conflict(found.join("\n")));
            }
            actions.extend(thinjail_core::leftover_epairs::destroy_actions(&leftovers));
        }
        let configuration = Configuration::read(recipe, world)?;
        configuration.check_host()?;
        for jail in &recipe.jails {
            configuration.check_jail(&jail.name)?;
        }
        resources::check_host(recipe, world)?;
        let devfs = devfs_rules::plan(recipe, world)?;
        let dhcp_ruleset = devfs.number.unwrap_or(network::DEVFS_RULESET_FLOOR);
        actions.extend(devfs.before_starts);
        let created = datasets::plan(recipe, world)?;
        if !world.path(&host.jail_conf_dir).exists() {
            actions.push(Planned::noted(
                Action::MakeDir {
                    path: host.jail_conf_dir.clone(),
                },
                "the directory of thinjail's jail files (FreeBSD 14+ has /etc/jail.conf.d already)",
            ));
        }
        actions.extend(created);
        let mut first = true;
        let mut changed = BTreeSet::new();
        let mut moved = Vec::new();
        for jail in &recipe.jails {
            let path = ctx.layout.jail_conf_file(&jail.name);
            let contents = jail_file_with_ruleset(recipe, jail, dhcp_ruleset);
            let current = world.file_contents(&path);
            let legacy = configuration.legacy_block(&jail.name);
            // What the jail runs with now, as far as its own definition goes.
            let old = current.or(legacy);
            let same_meaning = old == Some(contents.as_str())
                || old.is_some_and(|old| {
                    block_meaning(old, &jail.name) == block_meaning(&contents, &jail.name)
                });
            if !same_meaning {
                changed.insert(jail.name.as_str());
            }
            actions.extend(datasets::unmount_before_losing(
                &jail.name, world, current, &contents,
            ));
            if current != Some(contents.as_str()) {
                let action = Action::WriteFile {
                    path: path.clone(),
                    contents,
                    mode: 0o644,
                };
                actions.push(if std::mem::take(&mut first) {
                    Planned::noted(
                        action,
                        "article: the settings go at the top of /etc/jail.conf, where they would change the administrator's jails, \
                         and the administrator's settings ours;\nthinjail writes each jail in a file of its own, which jail(8) reads alone \
                         (`jail -f FILE -c NAME`)",
                    )
                } else {
                    Planned::new(action)
                });
            }
            if legacy.is_some() {
                moved.push(jail.name.as_str());
            }
        }
        // Dependencies first: rc.d/jail starts jail_list in order.
        let boot: Vec<String> = resources::start_order(recipe)
            .into_iter()
            .filter(|j| j.start)
            .map(|j| j.name.clone())
            .collect();
        let off: BTreeSet<String> = recipe
            .jails
            .iter()
            .filter(|j| !j.start)
            .map(|j| j.name.clone())
            .collect();
        let names: Vec<String> = recipe.jails.iter().map(|j| j.name.clone()).collect();
        actions.extend(configuration.boot_edits(&boot, &off, &names, &[])?);
        for jail in moved {
            actions.push(Planned::noted(
                Action::EditFile {
                    path: host.jail_conf.clone(),
                    edit: FileEdit::RemoveBlock { id: block_id(jail) },
                },
                format!(
                    "moved to {} (written above): jail {jail} now gets exactly its recipe; if it runs, it keeps the \
                     parameters it was started with until it restarts, and stops with its new file",
                    ctx.layout.jail_conf_file(jail).display()
                ),
            ));
        }
        let starts: BTreeMap<&str, bool> = recipe
            .jails
            .iter()
            .map(|j| (j.name.as_str(), j.start))
            .collect();
        configuration.verify(&actions, &|name| starts.get(name).copied())?;
        actions.extend(bridges);
        for jail in &recipe.jails {
            let stays = world.is_running(&jail.name) && !changed.contains(jail.name.as_str());
            let current = world.file_contents(&ctx.layout.jail_conf_file(&jail.name));
            actions.extend(resources::reconcile(jail, world, current, stays));
        }
        let first_start = actions.len();
        for jail in resources::start_order(recipe)
            .into_iter()
            .filter(|j| j.start)
        {
            let conf = ctx.layout.jail_conf_file(&jail.name);
            let start = Action::StartJail {
                conf: conf.clone(),
                jail: jail.name.clone(),
                root: ctx.layout.root(&jail.name),
                destroy_on_failure: thinjail_core::bridges::epair_interfaces(recipe, &jail.name),
            };
            if !world.is_running(&jail.name) {
                actions.push(Planned::noted(
                    start,
                    "article: service jail start — that starts every jail in the file; thinjail starts its own",
                ));
            } else if changed.contains(jail.name.as_str()) {
                actions.push(Planned::noted(
                    Action::StopJail {
                        conf,
                        jail: jail.name.clone(),
                    },
                    "its jail.conf entry changed: restart it to apply",
                ));
                actions.push(Planned::new(start));
            }
        }
        // Two or more starts: the restarts' stops first, then every start side by side.
        let tail = actions.split_off(first_start);
        let start_actions: Vec<Action> = tail
            .iter()
            .filter(|p| matches!(p.action, Action::StartJail { .. }))
            .map(|p| p.action.clone())
            .collect();
        match thinjail_core::start::parallel_start(recipe, start_actions).as_slice() {
            [batch @ Action::StartJails { .. }] => {
                // Dependents first, side by side when several (thinjail_core::stop).
                actions.extend(thinjail_core::stop::regroup_stops(recipe, tail));
                actions.push(Planned::noted(
                    batch.clone(),
                    "article: service jail start — that starts every jail in the file; thinjail starts its own: \
                     `apply` starts them side by side, each after the jails it depends on (as a script, one after the other)",
                ));
            }
            _ => actions.extend(tail),
        }
        actions.extend(pf::plan(recipe, world)?);
        actions.extend(devfs.after_starts);
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use thinjail_core::boot::{
        self, with_freebsd_defaults, BootConf, RcConf, SystemRoot, WorldFiles,
    };
    use thinjail_core::hostconf::forget_jail;
    use thinjail_core::jailconf::{JailConf, Semantics};
    use thinjail_core::world::PathState;

    fn recipe() -> Recipe {
        Recipe::from_ron(
            r#"(host: (interface: "em0"), releases: [(name: "13.1-RELEASE")], jail_params: {"allow.raw_sockets": true},
                jails: [(name: "thinjail0", release: "13.1-RELEASE", ip4: ["192.168.1.70"])])"#,
            "test",
        )
        .unwrap()
    }

    #[test]
    fn block_carries_the_articles_settings() {
        let recipe = recipe();
        let block = jail_block(&recipe, &recipe.jails[0]);
        assert_eq!(
            block,
            "thinjail0 {\n    host.hostname = \"thinjail0\";\n    path = \"/usr/local/jails/.mountpoints/thinjail0\";\n    \
             mount.fstab = \"/usr/local/jails/thinjail0/fstab\";\n    exec.start = \"/bin/sh /etc/rc\";\n    \
             exec.stop = \"/bin/sh /etc/rc.shutdown\";\n    exec.clean;\n    mount.devfs;\n    devfs_ruleset = 4;\n    \
             enforce_statfs = 2;\n    interface = \"em0\";\n    ip4.addr = \"192.168.1.70\";\n    allow.raw_sockets;\n}\n"
        );
    }

    fn recipe_with(params: &str) -> Recipe {
        Recipe::from_ron(
            &format!(
                r#"(releases: [(name: "14.3-RELEASE")], jail_params: {{"allow.raw_sockets": true}},
                    jails: [(name: "www", release: "14.3-RELEASE", params: {params})])"#
            ),
            "test",
        )
        .unwrap()
    }

    fn effective(block: &str) -> Vec<thinjail_core::jailconf::Params> {
        Semantics::ALL
            .iter()
            .map(|&semantics| {
                JailConf::parse(block, "/etc/jail.conf", semantics)
                    .unwrap_or_else(|e| panic!("{e}\n{block}"))
                    .effective("www")
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn the_jails_own_no_spelling_is_the_one_line_written() {
        let recipe = recipe_with(r#"{"allow.noraw_sockets": true}"#);
        let block = jail_block(&recipe, &recipe.jails[0]);
        assert!(block.contains("    allow.noraw_sockets;\n"), "{block}");
        assert!(!block.contains("allow.raw_sockets"), "{block}");
        for params in effective(&block) {
            assert!(!params.get("allow.raw_sockets").unwrap().is_true());
        }
    }

    #[test]
    fn list_elements_with_comment_characters_are_one_value_each() {
        let recipe = recipe_with(
            r#"{"exec.poststart": ["http://pkg.example.org/x", "echo # not a comment", "a, b; c"]}"#,
        );
        let block = jail_block(&recipe, &recipe.jails[0]);
        for params in effective(&block) {
            assert_eq!(
                params.get("exec.poststart").unwrap().values,
                [
                    "http://pkg.example.org/x",
                    "echo # not a comment",
                    "a, b; c"
                ]
            );
        }
    }

    #[test]
    fn stray_markers_in_jail_conf_are_a_conflict_naming_file_and_line() {
        let recipe = recipe();
        let mut world = World::empty();
        world.set_path(
            &recipe.host.jail_conf,
            PathState::File {
                contents: Some("# BEGIN thinjail jail thinjail0\nmine {\n  persist;\n}\n".into()),
            },
        );
        let error = RcConfStage
            .plan(&StageContext::new(&recipe), &world)
            .unwrap_err();
        assert!(matches!(error, StageError::Conflict(_)), "{error}");
        assert!(
            error.to_string().starts_with("/etc/jail.conf: line 1: "),
            "{error}"
        );
    }

    #[test]
    fn an_rc_conf_value_thinjail_cannot_rewrite_is_a_conflict() {
        let recipe = recipe();
        let mut world = World::empty();
        world.set_path(
            &recipe.host.rc_conf,
            PathState::File {
                contents: Some("jail_enable=YES\njail_list=\"$(cat /etc/jails)\"\n".into()),
            },
        );
        let error = RcConfStage
            .plan(&StageContext::new(&recipe), &world)
            .unwrap_err();
        assert!(
            error.to_string().contains("/etc/rc.conf: line 2"),
            "{error}"
        );
    }

    fn running(world: &mut World, name: &str, root: &str) {
        world.jails.insert(
            name.into(),
            thinjail_core::world::RunningJail {
                jid: 1,
                name: name.into(),
                path: root.into(),
                ip4: vec![],
                ip6: vec![],
                dying: false,
            },
        );
    }

    fn file(world: &mut World, path: impl AsRef<std::path::Path>, text: &str) {
        world.set_path(
            path.as_ref(),
            PathState::File {
                contents: Some(text.into()),
            },
        );
    }

    fn actions(recipe: &Recipe, world: &World) -> Vec<Action> {
        RcConfStage
            .plan(&StageContext::new(recipe), world)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|p| p.action)
            .collect()
    }

    #[test]
    fn a_block_rewritten_with_the_same_meaning_does_not_restart_the_jail() {
        let recipe = recipe();
        let new = jail_block(&recipe, &recipe.jails[0]);
        let old = new.replace("\"192.168.1.70\"", "192.168.1.70");
        assert_ne!(old, new);
        let mut world = World::empty();
        running(
            &mut world,
            "thinjail0",
            "/usr/local/jails/.mountpoints/thinjail0",
        );
        // A block an older thinjail wrote in jail.conf, only its quoting different:
        // moved to the jail's file, no restart.
        let legacy = |block: &str| {
            FileEdit::SetBlock {
                id: block_id("thinjail0"),
                content: block.to_string(),
            }
            .apply("")
        };
        file(&mut world, &recipe.host.jail_conf, &legacy(&old));
        let moved = actions(&recipe, &world);
        assert!(moved.iter().any(|a| matches!(a, Action::WriteFile { .. })));
        assert!(moved.iter().any(|a| matches!(
            a,
            Action::EditFile {
                edit: FileEdit::RemoveBlock { .. },
                ..
            }
        )));
        assert!(!moved.iter().any(|a| matches!(a, Action::StopJail { .. })));
        let changed = {
            file(
                &mut world,
                &recipe.host.jail_conf,
                &legacy(&old.replace("exec.clean;", "exec.noclean;")),
            );
            actions(&recipe, &world)
        };
        assert!(changed.iter().any(|a| matches!(a, Action::StopJail { .. })));
        // Its own file, requoted: rewritten, not restarted.
        world.set_path(&recipe.host.jail_conf, PathState::Missing);
        let path = Layout::new(&recipe).jail_conf_file("thinjail0");
        let written = jail_file(&recipe, &recipe.jails[0]);
        file(&mut world, &path, &written.replace(&new, &old));
        let requoted = actions(&recipe, &world);
        assert!(requoted
            .iter()
            .any(|a| matches!(a, Action::WriteFile { .. })));
        assert!(!requoted
            .iter()
            .any(|a| matches!(a, Action::StopJail { .. })));
    }

    #[test]
    fn admin_jail_with_the_same_name_is_refused() {
        let recipe = recipe();
        let mut world = World::empty();
        world.set_path(
            &recipe.host.jail_conf,
            PathState::File {
                contents: Some("thinjail0 { path = \"/elsewhere\"; persist; }\n".into()),
            },
        );
        let error = RcConfStage
            .plan(&StageContext::new(&recipe), &world)
            .unwrap_err();
        assert!(error.to_string().contains("does not manage"), "{error}");
    }

    #[test]
    fn a_running_jail_of_the_same_name_but_another_root_is_refused() {
        let recipe = recipe();
        let mut world = World::empty();
        world.jails.insert(
            "thinjail0".into(),
            thinjail_core::world::RunningJail {
                jid: 7,
                name: "thinjail0".into(),
                path: "/usr/jails/thinjail0".into(),
                ip4: vec![],
                ip6: vec![],
                dying: false,
            },
        );
        let error = RcConfStage
            .plan(&StageContext::new(&recipe), &world)
            .unwrap_err();
        assert!(matches!(error, StageError::Conflict(_)));
        let message = error.to_string();
        assert!(
            message.contains("JID 7") && message.contains("/usr/jails/thinjail0"),
            "{message}"
        );
        // Dying, it is gone: its name is free again.
        world.jails.get_mut("thinjail0").unwrap().dying = true;
        let plan = RcConfStage
            .plan(&StageContext::new(&recipe), &world)
            .unwrap();
        assert!(plan
            .iter()
            .any(|p| matches!(p.action, Action::StartJail { .. })));
    }

    #[test]
    fn jail_list_gets_our_jail() {
        let recipe = recipe();
        let mut world = World::empty();
        world.set_path(
            &recipe.host.rc_conf,
            PathState::File {
                contents: Some("jail_enable=\"YES\"\njail_list=\"web\"\n".into()),
            },
        );
        let plan = RcConfStage
            .plan(&StageContext::new(&recipe), &world)
            .unwrap();
        assert!(plan
            .iter()
            .any(|p| p.action.sh_lines()
                == ["thinjail_rc_edit /etc/rc.conf add jail_list thinjail0"]));
        assert!(!plan
            .iter()
            .any(|p| p.action.describe().contains("jail_enable")));
    }

    fn two_jails() -> Recipe {
        Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")],
                jails: [(name: "www", release: "14.3-RELEASE"), (name: "db", release: "14.3-RELEASE", start: false)])"#,
            "test",
        )
        .unwrap()
    }

    fn error_of(recipe: &Recipe, world: &World) -> String {
        RcConfStage
            .plan(&StageContext::new(recipe), world)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }

    /// The world after `actions`, for the boot model.
    fn after(world: &World, actions: &[Action]) -> World {
        let mut world = world.clone();
        for action in actions {
            action.apply_to(&mut world);
        }
        world
    }

    /// What rc.d/jail starts at boot in `world` (FreeBSD 14+), by name and file.
    fn booted(world: &World) -> Vec<(String, String)> {
        let root = SystemRoot::new("/");
        let base = WorldFiles::new(world, &root);
        let files = with_freebsd_defaults(&base);
        let rc = RcConf::load(&files, "jail");
        boot::boot(&rc, &files, Semantics::Freebsd14)
            .unwrap()
            .jails
            .into_iter()
            .map(|j| {
                let from = match j.conf {
                    BootConf::File(f) => f.display().to_string(),
                    other => format!("{other:?}"),
                };
                (j.name, from)
            })
            .collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn an_empty_jail_list_becomes_the_jails_that_booted_and_ours_recorded() {
        let recipe = two_jails();
        let mut world = World::empty();
        file(&mut world, "/etc/rc.conf", "jail_enable=\"YES\"\n");
        file(
            &mut world,
            "/etc/jail.conf",
            "exec.clean;\nadm { path = /j/adm; persist; }\nold { path = /j/old; persist; }\n",
        );
        assert_eq!(
            booted(&world),
            pairs(&[("adm", "/etc/jail.conf"), ("old", "/etc/jail.conf")])
        );
        let planned = actions(&recipe, &world);
        let done = after(&world, &planned);
        assert_eq!(
            done.file_contents(Path::new("/etc/rc.conf")),
            Some("jail_enable=\"YES\"\njail_list=\"adm old www\" # thinjail: was unset\n")
        );
        // The administrator's jails boot as before; www from its own file; db
        // (start: false) not at all — and is not started now either.
        assert_eq!(
            booted(&done),
            pairs(&[
                ("adm", "/etc/jail.conf"),
                ("old", "/etc/jail.conf"),
                ("www", "/etc/jail.conf.d/www.conf")
            ])
        );
        assert!(planned
            .iter()
            .any(|a| matches!(a, Action::StartJail { jail, conf, .. }
            if jail == "www" && conf == Path::new("/etc/jail.conf.d/www.conf"))));
        assert!(!planned
            .iter()
            .any(|a| matches!(a, Action::StartJail { jail, .. } if jail == "db")));
        assert!(done.path(Path::new("/etc/jail.conf.d/db.conf")).exists());
        // Applied again: nothing to do.
        assert!(actions(&recipe, &done).is_empty());
    }

    #[test]
    fn a_start_false_jail_leaves_jail_list_and_the_last_one_puts_back_what_was_there() {
        let mut recipe = two_jails();
        let mut world = World::empty();
        file(&mut world, "/etc/rc.conf", "jail_enable=\"YES\"\n");
        file(
            &mut world,
            "/etc/jail.conf",
            "adm { path = /j/adm; persist; }\n",
        );
        let done = after(&world, &actions(&recipe, &world));
        // www becomes start: false: out of jail_list, which thinjail put there, so
        // the list goes back to what it was and boot to every jail of jail.conf.
        recipe.jails[0].start = false;
        let planned = actions(&recipe, &done);
        let back = after(&done, &planned);
        assert_eq!(
            back.file_contents(Path::new("/etc/rc.conf")),
            Some("jail_enable=\"YES\"\n")
        );
        assert_eq!(booted(&back), pairs(&[("adm", "/etc/jail.conf")]));
        assert!(!planned
            .iter()
            .any(|a| matches!(a, Action::StartJail { .. })));
    }

    #[test]
    fn removing_the_last_jail_never_leaves_an_empty_jail_list_that_boots_everything() {
        // The administrator limited boot to thinjail's jail: leaving jail_list empty
        // would boot every jail of jail.conf (finding 6).
        let recipe = two_jails();
        let mut world = World::empty();
        file(
            &mut world,
            "/etc/rc.conf",
            "jail_enable=\"YES\"\njail_list=\"www\"\n",
        );
        file(
            &mut world,
            "/etc/jail.conf",
            "adm { path = /j/adm; persist; }\n",
        );
        let done = after(&world, &actions(&recipe, &world));
        assert_eq!(
            booted(&done),
            pairs(&[("www", "/etc/jail.conf.d/www.conf")])
        );
        let forgotten = forget_jail(&recipe, &done, "www").unwrap();
        let gone = after(
            &done,
            &forgotten.into_iter().map(|p| p.action).collect::<Vec<_>>(),
        );
        assert!(booted(&gone).is_empty(), "{:?}", booted(&gone));
        assert!(!gone.path(Path::new("/etc/jail.conf.d/www.conf")).exists());
        assert_eq!(
            gone.file_contents(Path::new("/etc/rc.conf")),
            Some("jail_enable=\"NO\"\njail_list=\"\"\n")
        );
    }

    #[test]
    fn the_file_where_rc_takes_a_variable_from_is_the_one_edited() {
        let recipe = two_jails();
        let mut world = World::empty();
        file(
            &mut world,
            "/etc/rc.conf",
            "jail_enable=\"NO\"\njail_list=\"adm\"\n",
        );
        file(
            &mut world,
            "/etc/rc.conf.local",
            "jail_enable=\"YES\" # here\njail_list=\"$jail_list db\"\n",
        );
        file(
            &mut world,
            "/etc/jail.conf",
            "adm { path = /j/adm; persist; }\n",
        );
        // jail_list is computed from itself in rc.conf.local: thinjail cannot rewrite
        // it exactly.
        let error = error_of(&recipe, &world);
        assert!(error.contains("/etc/rc.conf.local: line 2"), "{error}");
        file(
            &mut world,
            "/etc/rc.conf.local",
            "jail_enable=\"YES\" # here\njail_list=\"adm db\"\n",
        );
        let done = after(&world, &actions(&recipe, &world));
        assert_eq!(
            done.file_contents(Path::new("/etc/rc.conf")),
            Some("jail_enable=\"NO\"\njail_list=\"adm\"\n")
        );
        assert_eq!(
            done.file_contents(Path::new("/etc/rc.conf.local")),
            Some("jail_enable=\"YES\" # here\njail_list=\"adm www\"\n")
        );
        // An rc.conf.d/jail directory read after both.
        world.set_path(Path::new("/etc/rc.conf.d/jail"), PathState::Directory);
        world.listed.insert("/etc/rc.conf.d/jail".into());
        file(
            &mut world,
            "/etc/rc.conf.d/jail/mine",
            "jail_list=\"adm\"\n",
        );
        let done = after(&world, &actions(&recipe, &world));
        assert_eq!(
            done.file_contents(Path::new("/etc/rc.conf.d/jail/mine")),
            Some("jail_list=\"adm www\"\n")
        );
        assert_eq!(
            booted(&done),
            pairs(&[
                ("adm", "/etc/jail.conf"),
                ("www", "/etc/jail.conf.d/www.conf")
            ])
        );
    }

    #[test]
    fn what_would_shadow_or_pull_in_a_jails_file_is_refused_with_its_place() {
        let recipe = two_jails();
        let cases: [(&str, &str, &str); 8] = [
            (
                "/etc/jail.www.conf",
                "www { persist; }\n",
                "/etc/jail.www.conf exists",
            ),
            (
                "/etc/rc.conf",
                "jail_www_conf=\"/etc/w.conf\"\n",
                "/etc/rc.conf:1: jail_www_conf",
            ),
            (
                "/etc/rc.conf",
                "jail_db_rootdir=/j/db\njail_db_hostname=db\n",
                "jail_db_rootdir",
            ),
            ("/etc/rc.conf", "jail_www_flags=\"-l\"\n", "jail_www_flags"),
            ("/etc/rc.conf", "jail_www_program=/x\n", "jail_www_program"),
            ("/etc/rc.conf", "jail_flags=\"-U nobody\"\n", "jail_flags"),
            (
                "/etc/rc.conf.d/jail",
                "jail_conf=/etc/other.conf\n",
                "/etc/rc.conf.d/jail:1: jail_conf",
            ),
            (
                "/etc/jail.conf.d/www.conf",
                "www { persist; }\n",
                "thinjail did not write it",
            ),
        ];
        for (path, text, expected) in cases {
            let mut world = World::empty();
            file(&mut world, path, text);
            let error = error_of(&recipe, &world);
            assert!(error.contains(expected), "{path}: {error}");
        }
        // An .include that reads thinjail's files (the example of jail.conf(5)).
        let mut world = World::empty();
        file(
            &mut world,
            "/etc/jail.conf",
            "# mine\n.include \"/etc/jail.conf.d/*.conf\";\n",
        );
        let error = error_of(&recipe, &world);
        assert!(
            error.starts_with("/etc/jail.conf:2: `.include \"/etc/jail.conf.d/*.conf\"` reads /etc/jail.conf.d/www.conf"),
            "{error}"
        );
        // The same include with thinjail's files elsewhere is fine: jail_NAME_conf
        // points rc.d/jail at them.
        let mut elsewhere = recipe.clone();
        elsewhere.host.jail_conf_dir = "/usr/local/etc/thinjail/jails".into();
        let done = after(&world, &actions(&elsewhere, &world));
        let rc = done.file_contents(Path::new("/etc/rc.conf")).unwrap();
        assert!(
            rc.contains(
                "jail_www_conf=\"/usr/local/etc/thinjail/jails/www.conf\" # thinjail: was unset\n"
            ),
            "{rc}"
        );
        assert_eq!(
            booted(&done),
            pairs(&[("www", "/usr/local/etc/thinjail/jails/www.conf")])
        );
    }

    #[test]
    fn destroying_every_jail_one_after_the_other_puts_rc_conf_back() {
        let mut recipe = two_jails();
        recipe.jails[1].start = true;
        let mut world = World::empty();
        let original = "jail_enable=\"NO\" # off\nsshd_enable=YES";
        file(&mut world, "/etc/rc.conf", original);
        let mut now = after(&world, &actions(&recipe, &world));
        assert_eq!(
            booted(&now),
            pairs(&[
                ("www", "/etc/jail.conf.d/www.conf"),
                ("db", "/etc/jail.conf.d/db.conf")
            ])
        );
        for jail in ["db", "www"] {
            let forgotten: Vec<Action> = forget_jail(&recipe, &now, jail)
                .unwrap()
                .into_iter()
                .map(|p| p.action)
                .collect();
            now = after(&now, &forgotten);
        }
        // As it was, but for the newline that ends the last line once a line was
        // appended after it.
        assert_eq!(
            now.file_contents(Path::new("/etc/rc.conf")),
            Some(format!("{original}\n").as_str())
        );
        assert!(booted(&now).is_empty());
    }

    #[test]
    fn an_rc_conf_that_rc_does_not_read_is_refused() {
        let mut recipe = two_jails();
        recipe.host.rc_conf = "/etc/rc.thinjail".into();
        let error = error_of(&recipe, &World::empty());
        assert!(
            error.contains("host.rc_conf /etc/rc.thinjail is not a file rc(8) reads"),
            "{error}"
        );
        let mut world = World::empty();
        file(
            &mut world,
            "/etc/rc.conf",
            "rc_conf_files=\"/etc/rc.conf /etc/rc.thinjail\"\n",
        );
        let done = after(&world, &actions(&recipe, &world));
        assert_eq!(
            booted(&done),
            pairs(&[("www", "/etc/jail.conf.d/www.conf")])
        );
    }

    #[test]
    fn introducing_jail_list_that_would_change_how_an_administrators_jail_boots_is_refused() {
        // adm is defined in jail.conf.d/adm.conf, included by jail.conf after a
        // global: with jail_list set, rc.d/jail would boot it from that file alone,
        // without the global.
        let recipe = two_jails();
        let mut world = World::empty();
        file(&mut world, "/etc/rc.conf", "jail_enable=YES\n");
        file(
            &mut world,
            "/etc/jail.conf",
            "exec.clean;\n.include \"/etc/jail.conf.d/adm.conf\";\n",
        );
        file(
            &mut world,
            "/etc/jail.conf.d/adm.conf",
            "adm { path = /j/adm; persist; }\n",
        );
        let error = error_of(&recipe, &world);
        assert!(
            error.contains("change how the administrator's jails boot")
                && error.contains("adm from /etc/jail.conf.d/adm.conf"),
            "{error}"
        );
    }

    #[test]
    fn a_recipe_without_jails_converges_the_anchor_as_one_with_jails() {
        // Not valid (check refuses NAT of a network no VNET jail uses, exit 65),
        // but the stage plans the anchor the same way as for a recipe with jails:
        // the file written and loaded, or the host's conflict.
        let mut recipe =
            Recipe::from_ron(r#"(releases: [(name: "14.3-RELEASE")])"#, "test").unwrap();
        recipe
            .host
            .network
            .pf
            .nat
            .push(thinjail_core::recipe::network::Nat {
                from: "10.9.0.0/24".into(),
                interface: "em0".into(),
            });
        let anchor_file = recipe.host.network.pf.anchor_file.clone();
        let pf_conf = thinjail_core::network::pf::pf_conf_path(&recipe.host.system_root);
        let mut world = World::empty();
        world.observed = true;
        world.set_path(
            &pf_conf,
            PathState::File {
                contents: Some(
                    thinjail_core::network::pf::required_pf_conf_lines(&anchor_file).join("\n"),
                ),
            },
        );
        world.pf = Some(thinjail_core::network::pf::ObservedPf {
            status: thinjail_core::network::pf::PfStatus::Enabled,
            loaded: vec![],
        });
        let planned = RcConfStage
            .plan(&StageContext::new(&recipe), &world)
            .unwrap();
        let kinds: Vec<&Action> = planned.iter().map(|p| &p.action).collect();
        assert!(
            matches!(kinds.as_slice(), [Action::WriteFile { path, .. }, Action::LoadPfAnchor { .. }] if path == &anchor_file),
            "{kinds:?}"
        );
        // Without pf.conf's lines: the same refusal as with jails.
        world.set_path(
            &pf_conf,
            PathState::File {
                contents: Some(String::new()),
            },
        );
        let refused = RcConfStage
            .plan(&StageContext::new(&recipe), &world)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("nat-anchor"), "{refused}");
    }

    #[test]
    fn a_recipe_without_network_removes_the_bridge_and_anchor_thinjail_left() {
        // No VNET jail, no bridge, no pf rule left: what observation found because
        // thinjail's marks are on the host (`observe::widen_for_marks`) goes.
        let recipe = Recipe::from_ron(r#"(releases: [(name: "14.3-RELEASE")])"#, "test").unwrap();
        let bridge = thinjail_core::network::Bridge {
            name: "jails".into(),
            ip4: vec!["10.9.0.1/24".into()],
            ip6: vec![],
            create: true,
            members: vec!["em0".into()],
        };
        let rc_conf = thinjail_core::edit::FileEdit::SetBlock {
            id: thinjail_core::bridges::rc_block_id("jails"),
            content: thinjail_core::bridges::rc_block(&bridge),
        }
        .apply("");
        let anchor_file = recipe.host.network.pf.anchor_file.clone();
        let mut world = World::empty();
        world.set_path(
            &recipe.host.rc_conf,
            PathState::File {
                contents: Some(rc_conf),
            },
        );
        world.set_path(
            &anchor_file,
            PathState::File {
                contents: Some("nat on em0 from 10.9.0.0/24 to any -> (em0)\n".into()),
            },
        );
        world.set_path(
            &thinjail_core::network::pf::pf_conf_path(&recipe.host.system_root),
            PathState::File {
                contents: Some(String::new()),
            },
        );
        world.interfaces = Some(["em0", "jails"].iter().map(|s| s.to_string()).collect());
        world.bridges = Some(thinjail_core::bridges::ObservedBridges {
            members: [("jails".to_string(), ["em0".to_string()].into())].into(),
            addressed: Default::default(),
            member_ifaddrs: None,
            addresses: Default::default(),
        });
        world.pf = Some(thinjail_core::network::pf::ObservedPf {
            status: thinjail_core::network::pf::PfStatus::Enabled,
            loaded: vec!["nat on em0 inet from 10.9.0.0/24 to any -> (em0) round-robin".into()],
        });
        let planned = RcConfStage
            .plan(&StageContext::new(&recipe), &world)
            .unwrap();
        let lines: Vec<String> = planned.iter().map(|p| p.action.describe()).collect();
        assert!(
            lines.contains(&"ifconfig jails destroy".to_string()),
            "{lines:?}"
        );
        assert!(
            planned.iter().any(|p| matches!(&p.action,
                Action::EditFile { path, edit: thinjail_core::edit::FileEdit::RemoveBlock { id } }
                    if path == &recipe.host.rc_conf && id == "bridge jails")),
            "{lines:?}"
        );
        assert!(
            planned
                .iter()
                .any(|p| matches!(&p.action, Action::FlushPfAnchor { .. })),
            "{lines:?}"
        );
        assert!(
            planned
                .iter()
                .any(|p| matches!(&p.action, Action::Remove { path } if path == &anchor_file)),
            "{lines:?}"
        );
        // Done, nothing is left to plan.
        let mut done = world.clone();
        for p in &planned {
            p.action.apply_to(&mut done);
        }
        done.pf = Some(thinjail_core::network::pf::ObservedPf {
            status: thinjail_core::network::pf::PfStatus::Enabled,
            loaded: vec![],
        });
        let again = RcConfStage
            .plan(&StageContext::new(&recipe), &done)
            .unwrap();
        assert!(
            again.is_empty(),
            "{:?}",
            again
                .iter()
                .map(|p| p.action.describe())
                .collect::<Vec<_>>()
        );
    }
}
