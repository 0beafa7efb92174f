//! # thinjail-stage-rcconf
//!
//! Makes the jails start, now and at boot (article step 6): each jail's entry in
//! jail.conf(5), `jail_enable="YES"` in rc.conf(5), and `jail -f FILE -c NAME` for
//! jails not running yet.
//!
//! Departures from the article, each said in the plan:
//! - the article's settings go inside each jail's own block, between markers
//!   thinjail finds again, instead of at the top of jail.conf where they would change
//!   the administrator's other jails; the rest of the file is kept byte for byte;
//! - a jail name the administrator already defines in jail.conf is refused, never
//!   shadowed, and so is one that already runs from another root (started by hand
//!   or by another tool): it is not ours, and is never stopped or replaced;
//! - if rc.conf limits boot to a `jail_list`, our jails are added to it;
//! - only our jails are started (`service jail start` would start every jail).

use std::collections::BTreeSet;

use thinjail_core::action::Action;
use thinjail_core::edit::{blocks, is_yes, rc_var, FileEdit};
use thinjail_core::jailconf::{
    defined_jails, ordered_params, render_block, JailConf, Params, Semantics,
};
use thinjail_core::layout::Layout;
use thinjail_core::recipe::{Jail, ParamValue, Recipe};
use thinjail_core::stage::{no_config, BuiltinStage, Planned, Stage, StageContext, StageError};
use thinjail_core::world::{PathState, World};

/// The rc.conf / jail.conf stage.
#[derive(Clone, Copy, Debug, Default)]
pub struct RcConfStage;

thinjail_core::inventory::submit! {
    BuiltinStage::new("rcconf", SUMMARY, "thinjail-stage-rcconf", |config| {
        no_config("rcconf", config)?;
        Ok(Box::new(RcConfStage))
    })
}

const SUMMARY: &str = "jail.conf entries, jail_enable in rc.conf, and starting the jails";

/// The id of a jail's block in jail.conf (`# BEGIN thinjail jail NAME`).
pub fn block_id(jail: &str) -> String {
    format!("jail {jail}")
}

/// The jail.conf(5) block of `jail`: the article's settings, derived paths,
/// addresses, then the recipe's own parameters.
pub fn jail_block(recipe: &Recipe, jail: &Jail) -> String {
    render_block(&jail.name, &jail_params(recipe, jail))
}

/// The parameters [`jail_block`] writes for `jail`, in the order it writes them: what
/// jail(8) must see for this jail, and nothing else.
pub fn jail_params(recipe: &Recipe, jail: &Jail) -> Vec<(String, ParamValue)> {
    let layout = Layout::new(recipe);
    let mut params = recipe.params_of(jail);
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
    ordered_params(params)
}

/// What jail(8) reads from one of our blocks on its own: the jail's parameters, or
/// nothing if it does not parse.
fn block_meaning(block: &str, jail: &str) -> Option<Params> {
    JailConf::parse(block, "block", Semantics::Freebsd14)
        .ok()?
        .effective(jail)
        .ok()
}

/// Why thinjail leaves alone the running jail `running`, called like its jail `name`
/// but with another root than `root`.
pub fn foreign_jail_message(
    name: &str,
    running: &thinjail_core::world::RunningJail,
    root: &std::path::Path,
) -> String {
    format!(
        "a jail named {name} is already running (JID {}, path {}) that thinjail did not start: \
         thinjail's jail {name} has its root at {}; thinjail will not stop, replace or enter it — \
         stop it yourself or rename the recipe's jail",
        running.jid,
        running.path.display(),
        root.display()
    )
}

/// Names of the jails thinjail manages in a jail.conf text (those inside its blocks).
pub fn managed_jails(jail_conf: &str) -> Vec<String> {
    thinjail_core::edit::block_ids(jail_conf, "jail ")
        .map(|id| id.trim_start_matches("jail ").to_string())
        .collect()
}

impl Stage for RcConfStage {
    fn name(&self) -> &str {
        "rcconf"
    }

    fn summary(&self) -> &str {
        SUMMARY
    }

    fn article_step(&self) -> Option<&str> {
        Some("6")
    }

    fn plan(&self, ctx: &StageContext<'_>, world: &World) -> Result<Vec<Planned>, StageError> {
        let recipe = ctx.recipe;
        let host = &recipe.host;
        let mut actions = Vec::new();
        if recipe.jails.is_empty() {
            return Ok(actions);
        }
        if let PathState::Symlink { target } = world.path(&host.jail_conf) {
            return Err(StageError::Conflict(format!(
                "{} is a symlink (to {}); jail(8) fails on it at boot (\"Too many levels of symbolic links\"); make it a regular file",
                host.jail_conf.display(),
                target.display()
            )));
        }
        for jail in &recipe.jails {
            if let Some(running) = ctx.layout.foreign_jail(world, &jail.name) {
                return Err(StageError::Conflict(foreign_jail_message(
                    &jail.name,
                    running,
                    &ctx.layout.root(&jail.name),
                )));
            }
        }
        let jail_conf = world.file_contents(&host.jail_conf).unwrap_or("");
        // Sets and one pass over jail.conf: planning stays linear in the number of jails.
        let managed: BTreeSet<String> = managed_jails(jail_conf).into_iter().collect();
        let ours: BTreeSet<&str> = recipe.jails.iter().map(|j| j.name.as_str()).collect();
        let current = blocks(jail_conf).map_err(|e| {
            StageError::Conflict(format!(
                "{}: {e}; thinjail rewrites nothing in it until its markers are fixed by hand",
                host.jail_conf.display()
            ))
        })?;
        for (name, _) in defined_jails(jail_conf) {
            if ours.contains(name.as_str()) && !managed.contains(&name) {
                return Err(StageError::Conflict(format!(
                    "{} already defines a jail named {name} that thinjail does not manage; rename one of them",
                    host.jail_conf.display()
                )));
            }
        }
        let mut first = true;
        let mut changed = BTreeSet::new();
        for jail in &recipe.jails {
            let block = jail_block(recipe, jail);
            let id = block_id(&jail.name);
            let old = current.get(id.as_str()).copied();
            if old == Some(block.as_str()) {
                continue;
            }
            // A block rewritten with the same meaning for jail(8) (say, only its
            // quoting changed) needs no restart.
            let same_meaning = old.is_some_and(|old| {
                block_meaning(old, &jail.name) == block_meaning(&block, &jail.name)
            });
            if !same_meaning {
                changed.insert(jail.name.as_str());
            }
            let action = Action::EditFile {
                path: host.jail_conf.clone(),
                edit: FileEdit::SetBlock { id, content: block },
            };
            actions.push(if std::mem::take(&mut first) {
                Planned::noted(
                    action,
                    "article: the settings go at the top of /etc/jail.conf, where they would also change the administrator's own jails;\n\
                     thinjail writes them inside each jail's block, between markers it finds again, and keeps the rest of the file",
                )
            } else {
                Planned::new(action)
            });
        }
        let rc_conf = world.file_contents(&host.rc_conf).unwrap_or("");
        // An assignment thinjail cannot rewrite exactly is refused now, not at apply.
        let rc_edit = |edit: FileEdit| -> Result<Action, StageError> {
            edit.try_apply(rc_conf)
                .map_err(|e| StageError::Conflict(format!("{}: {e}", host.rc_conf.display())))?;
            Ok(Action::EditFile {
                path: host.rc_conf.clone(),
                edit,
            })
        };
        if let Some(conf) = rc_var(rc_conf, "jail_conf").filter(|c| !c.is_empty()) {
            if std::path::Path::new(&conf) != host.jail_conf {
                return Err(StageError::Conflict(format!(
                    "{} sets jail_conf=\"{conf}\", so boot would not read {}; set host.jail_conf to {conf}",
                    host.rc_conf.display(),
                    host.jail_conf.display()
                )));
            }
        }
        if !rc_var(rc_conf, "jail_enable").is_some_and(|v| is_yes(&v)) {
            actions.push(Planned::noted(
                rc_edit(FileEdit::SetRcVar {
                    name: "jail_enable".into(),
                    value: "YES".into(),
                })?,
                "article: jail_enable=\"YES\" in /etc/rc.conf starts the jails at boot",
            ));
        }
        if let Some(list) = rc_var(rc_conf, "jail_list").filter(|l| !l.trim().is_empty()) {
            for jail in &recipe.jails {
                if !list.split_whitespace().any(|w| w == jail.name) {
                    actions.push(Planned::noted(
                        rc_edit(FileEdit::AddRcWord { name: "jail_list".into(), word: jail.name.clone() })?,
                        "rc.conf limits boot to jail_list; without this the jail would not start at boot",
                    ));
                }
            }
        }
        for jail in recipe.jails.iter().filter(|j| j.start) {
            let root = ctx.layout.root(&jail.name);
            let start = Action::StartJail {
                conf: host.jail_conf.clone(),
                jail: jail.name.clone(),
                root,
            };
            if !world.is_running(&jail.name) {
                actions.push(Planned::noted(
                    start,
                    "article: service jail start — that starts every jail in the file; thinjail starts its own",
                ));
            } else if changed.contains(jail.name.as_str()) {
                actions.push(Planned::noted(
                    Action::StopJail {
                        conf: host.jail_conf.clone(),
                        jail: jail.name.clone(),
                    },
                    "its jail.conf entry changed: restart it to apply",
                ));
                actions.push(Planned::new(start));
            }
        }
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thinjail_core::jailconf::{JailConf, Semantics};

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

    #[test]
    fn a_block_rewritten_with_the_same_meaning_does_not_restart_the_jail() {
        let recipe = recipe();
        let new = jail_block(&recipe, &recipe.jails[0]);
        let old = new.replace("\"192.168.1.70\"", "192.168.1.70");
        assert_ne!(old, new);
        let mut world = World::empty();
        let with_block = |block: &str| {
            FileEdit::SetBlock {
                id: block_id("thinjail0"),
                content: block.to_string(),
            }
            .apply("")
        };
        world.jails.insert(
            "thinjail0".into(),
            thinjail_core::world::RunningJail {
                jid: 1,
                name: "thinjail0".into(),
                path: "/usr/local/jails/.mountpoints/thinjail0".into(),
                ip4: vec![],
                ip6: vec![],
                dying: false,
            },
        );
        let mut plan_for = |block: &str| {
            world.set_path(
                &recipe.host.jail_conf,
                PathState::File {
                    contents: Some(with_block(block)),
                },
            );
            RcConfStage
                .plan(&StageContext::new(&recipe), &world)
                .unwrap()
                .into_iter()
                .map(|p| p.action)
                .collect::<Vec<_>>()
        };
        let requoted = plan_for(&old);
        assert!(requoted.iter().any(|a| matches!(
            a,
            Action::EditFile {
                edit: FileEdit::SetBlock { .. },
                ..
            }
        )));
        assert!(!requoted
            .iter()
            .any(|a| matches!(a, Action::StopJail { .. })));
        let changed = plan_for(&old.replace("exec.clean;", "exec.noclean;"));
        assert!(changed.iter().any(|a| matches!(a, Action::StopJail { .. })));
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
}
