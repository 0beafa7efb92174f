//! thinjail's devfs ruleset for DHCP jails: planned from what the host has, loaded
//! into the kernel now and kept in a marked block of `/etc/devfs.rules` for the next
//! boot, and removed when no DHCP jail needs it.
//!
//! What FreeBSD does, and where it was read (`freebsd/freebsd-src`):
//! - dhclient(8) opens a `/dev/bpf*` device first (`sbin/dhclient/bpf.c`), which
//!   ruleset 4 (`devfsrules_jail`, `sbin/devfs/devfs.rules`) hides.
//! - jail(8) mounts a jail's devfs with `mount -t devfs -oruleset=N . PATH/dev`, `N`
//!   the jail's `devfs_ruleset` or 4 (`usr.sbin/jail/command.c`). The kernel makes
//!   a ruleset it does not have on the spot, empty: a jail whose ruleset is not
//!   loaded sees every device. So the ruleset is loaded before any DHCP jail starts.
//! - At boot rc.d/devfs runs `devfs_init_rulesets` (rc.subr) when
//!   `devfs_load_rulesets` is YES (the default): every file of `devfs_rulesets`
//!   (default `/etc/defaults/devfs.rules /etc/devfs.rules`) is read line by line,
//!   `#` lines skipped, `[name=N]` starting ruleset N (`devfs rule -s N delset`, and
//!   `$name` set to N for later lines), any other line run as `eval devfs rule -s N
//!   LINE`.
//! - devfs(8) (`sbin/devfs/rule.c`): `rule -s N delset` deletes every rule of N (a
//!   ruleset with no rules is no ruleset); `rule -s N add RULE` appends, numbered
//!   100 past the last; `rule showsets` prints the numbers, `rule -s N show` the
//!   rules (`100 include 4`); each exits 1 on failure (`err(1, …)`).
//!
//! Why a marked block of `/etc/devfs.rules` rather than a file of thinjail's own
//! listed in `devfs_rulesets`: rc(8) reads `/etc/devfs.rules` with no setting at all,
//! after the defaults (so `$devfsrules_jail` is known), and the block is the only
//! text thinjail writes there (markers are `#` lines, which rc.subr skips), whereas
//! adding a file to `devfs_rulesets` means owning a variable whose value must repeat
//! the administrator's list and FreeBSD's defaults, and keeping it right when either
//! changes.

use std::path::{Path, PathBuf};

use crate::action::Action;
use crate::boot::SystemRoot;
use crate::edit::{self, FileEdit};
use crate::layout::Layout;
use crate::network::{
    choose_devfs_ruleset, devfs_rules, devfs_rulesets, numbered_devfs_rules, DEVFS_RULESET_NAME,
};
use crate::recipe::Recipe;
use crate::stage::{Planned, StageError};
use crate::world::World;

/// The administrator's devfs.rules(5), read at boot after the defaults.
pub const DEVFS_RULES: &str = "/etc/devfs.rules";
/// FreeBSD's devfs.rules(5) defaults (rulesets 1 to 5).
pub const DEFAULT_DEVFS_RULES: &str = "/etc/defaults/devfs.rules";
/// The id of thinjail's block in [`DEVFS_RULES`].
pub const BLOCK_ID: &str = "devfs ruleset thinjail_vnet_bpf";
/// `devfsrules_jail`'s number where no devfs.rules file says otherwise.
pub const DEVFSRULES_JAIL: u32 = 4;

/// Whether the recipe has a DHCP jail (which needs thinjail's ruleset).
pub fn needed(recipe: &Recipe) -> bool {
    recipe
        .jails
        .iter()
        .any(|j| j.vnet.as_ref().is_some_and(|v| v.dhcp()))
}

/// The host paths of the two devfs.rules files rc(8) reads by default.
pub fn files(recipe: &Recipe) -> [PathBuf; 2] {
    let root = SystemRoot::new(&recipe.host.system_root);
    [
        root.host(Path::new(DEFAULT_DEVFS_RULES)),
        root.host(Path::new(DEVFS_RULES)),
    ]
}

/// Whether `action` edits thinjail's own block of `/etc/devfs.rules` and nothing
/// else of the file, writing nothing but thinjail's ruleset under a number of its
/// own (the only change confinement allows there).
pub fn is_own_block_edit(recipe: &Recipe, action: &Action) -> bool {
    let [_, admin] = files(recipe);
    let Action::EditFile { path, edit } = action else {
        return false;
    };
    let ours = match edit {
        FileEdit::RemoveBlock { id } => id == BLOCK_ID,
        FileEdit::SetBlock { id, content } => {
            id == BLOCK_ID
                && matches!(devfs_rulesets(content).as_slice(),
                    [(name, n)] if name == DEVFS_RULESET_NAME
                        && *n >= crate::network::DEVFS_RULESET_FLOOR
                        && *content == devfs_rules(*n))
        }
        _ => false,
    };
    *path == admin && ours
}

/// The rules of thinjail's ruleset as `devfs rule add` takes them: ruleset
/// `jail_set` (`devfsrules_jail`) and `bpf*` unhidden.
pub fn kernel_rules(jail_set: u32) -> Vec<String> {
    vec![
        format!("include {jail_set}"),
        "path bpf* unhide".to_string(),
    ]
}

/// What the host's devfs.rules files and kernel say about rulesets.
struct Found<'w> {
    admin_file: PathBuf,
    /// thinjail's block in the administrator's file, if any.
    block: Option<&'w str>,
    /// Every ruleset the files define, by name and number, and the kernel's by
    /// number alone (name empty).
    defined: Vec<(String, u32)>,
}

fn read<'w>(recipe: &Recipe, world: &'w World) -> Result<Found<'w>, StageError> {
    let [defaults, admin] = files(recipe);
    let admin_text = world.file_contents(&admin).unwrap_or("");
    let block = edit::find_block(admin_text, BLOCK_ID).map_err(|e| {
        StageError::Conflict(format!(
            "{}: {e}; thinjail leaves the file as it is: put its markers right by hand",
            admin.display()
        ))
    })?;
    let mut defined = devfs_rulesets(world.file_contents(&defaults).unwrap_or(""));
    defined.extend(devfs_rulesets(admin_text));
    if let Some(sets) = &world.devfs_rulesets {
        defined.extend(sets.keys().map(|n| (String::new(), *n)));
    }
    Ok(Found {
        admin_file: admin,
        block,
        defined,
    })
}

/// What the rcconf stage plans for thinjail's ruleset.
#[derive(Debug, Default)]
pub struct DevfsPlan {
    /// The ruleset number DHCP jails get (`devfs_ruleset`), when the recipe has any.
    pub number: Option<u32>,
    /// Writing the block and loading the ruleset: before any jail starts.
    pub before_starts: Vec<Planned>,
    /// Removing both when no DHCP jail is left: after the jails stopped.
    pub after_starts: Vec<Planned>,
}

/// The ruleset's plan for `recipe` on `world`: with DHCP jails, the number thinjail's
/// ruleset has (or the lowest free one from 100, [`choose_devfs_ruleset`]), its
/// block written where it differs and the kernel's ruleset loaded where it differs;
/// without, the block and the ruleset it names removed. Refused (a conflict) while
/// thinjail's markers in `/etc/devfs.rules` are broken, or while the kernel lacks
/// `devfsrules_jail`, which the ruleset includes.
pub fn plan(recipe: &Recipe, world: &World) -> Result<DevfsPlan, StageError> {
    let found = read(recipe, world)?;
    if !needed(recipe) {
        return Ok(DevfsPlan {
            number: None,
            before_starts: Vec::new(),
            after_starts: removal(&found),
        });
    }
    check_boot(recipe, world)?;
    let number = choose_devfs_ruleset(&found.defined);
    let jail_set = found
        .defined
        .iter()
        .find(|(name, _)| name == "devfsrules_jail")
        .map_or(DEVFSRULES_JAIL, |(_, n)| *n);
    let mut actions = Vec::new();
    let text = devfs_rules(number);
    if found.block != Some(text.as_str()) {
        actions.push(Planned::noted(
            Action::EditFile {
                path: found.admin_file.clone(),
                edit: FileEdit::SetBlock {
                    id: BLOCK_ID.into(),
                    content: text,
                },
            },
            format!(
                "thinjail's devfs ruleset {number} ({DEVFS_RULESET_NAME}: ruleset {jail_set} and bpf, for dhclient in DHCP jails), \
                 loaded at boot by rc.d/devfs; the rest of the file is the administrator's"
            ),
        ));
    }
    let rules = kernel_rules(jail_set);
    let loaded = world
        .devfs_rulesets
        .as_ref()
        .and_then(|sets| sets.get(&number));
    if let Some(sets) = &world.devfs_rulesets {
        if !sets.contains_key(&jail_set) {
            return Err(StageError::Conflict(format!(
                "the kernel has no devfs ruleset {jail_set} (devfsrules_jail), which thinjail's ruleset for DHCP jails includes: \
                 load FreeBSD's rulesets (`service devfs restart`, with devfs_load_rulesets=YES in rc.conf)"
            )));
        }
    }
    if loaded != Some(&numbered_devfs_rules(&rules)) {
        actions.push(Planned::noted(
            Action::LoadDevfsRuleset { number, rules },
            "now, before a DHCP jail's devfs is mounted: a ruleset the kernel lacks is made empty, showing every device",
        ));
    }
    Ok(DevfsPlan {
        number: Some(number),
        before_starts: actions,
        after_starts: Vec::new(),
    })
}

/// Refused (a conflict) when rc(8) would not load `/etc/devfs.rules` at boot:
/// rc.d/devfs loads the rulesets only with `devfs_load_rulesets` YES (FreeBSD's
/// default) or a `devfs_system_ruleset`/`devfs_set_rulesets`, and reads the files of
/// `devfs_rulesets` (default `/etc/defaults/devfs.rules /etc/devfs.rules`). After a
/// reboot a DHCP jail would otherwise mount its devfs with a ruleset the kernel
/// lacks, made empty: every device visible. A value rc(8) computes is not judged.
fn check_boot(recipe: &Recipe, world: &World) -> Result<(), StageError> {
    let root = SystemRoot::new(&recipe.host.system_root);
    let files = crate::boot::WorldFiles::new(world, &root);
    let rc = crate::boot::RcConf::load(&crate::boot::with_freebsd_defaults(&files), "devfs");
    let set = |name: &str| rc.value(name).map(|v| v.filter(|v| !v.trim().is_empty()));
    let loads = match (
        set("devfs_load_rulesets"),
        set("devfs_system_ruleset"),
        set("devfs_set_rulesets"),
    ) {
        (Ok(Some(value)), Ok(None), Ok(None)) => edit::is_yes(&value),
        _ => true,
    };
    let listed = match set("devfs_rulesets") {
        Ok(Some(value)) => value.split_whitespace().any(|f| f == DEVFS_RULES),
        _ => true,
    };
    if loads && listed {
        return Ok(());
    }
    Err(StageError::Conflict(format!(
        "rc(8) would not load {DEVFS_RULES} at boot (devfs_load_rulesets, devfs_rulesets in rc.conf), \
         where thinjail keeps the devfs ruleset of DHCP jails: after a reboot they would see every device. \
         Set devfs_load_rulesets=YES and list {DEVFS_RULES} in devfs_rulesets (sysrc devfs_rulesets+={DEVFS_RULES})"
    )))
}

/// thinjail's block removed from `/etc/devfs.rules` and the kernel's ruleset it
/// names deleted, if the block is there.
fn removal(found: &Found<'_>) -> Vec<Planned> {
    let Some(block) = found.block else {
        return Vec::new();
    };
    let mut actions = vec![Planned::noted(
        Action::EditFile {
            path: found.admin_file.clone(),
            edit: FileEdit::RemoveBlock {
                id: BLOCK_ID.into(),
            },
        },
        "no DHCP jail is left: thinjail's devfs ruleset goes",
    )];
    // `delset` of a ruleset the kernel does not have succeeds: no need to look.
    for (name, number) in devfs_rulesets(block) {
        if name == DEVFS_RULESET_NAME {
            actions.push(Planned::new(Action::RemoveDevfsRuleset { number }));
        }
    }
    actions
}

/// For `destroy JAIL`: the ruleset's removal when no other DHCP jail of the recipe
/// keeps a jail file (the destroyed one's goes with it).
pub fn removal_after_destroy(
    recipe: &Recipe,
    world: &World,
    destroyed: &str,
) -> Result<Vec<Planned>, StageError> {
    let layout = Layout::new(recipe);
    let others = recipe.jails.iter().any(|j| {
        j.name != destroyed
            && j.vnet.as_ref().is_some_and(|v| v.dhcp())
            && world.path(&layout.jail_conf_file(&j.name)).exists()
    });
    if others {
        return Ok(Vec::new());
    }
    Ok(removal(&read(recipe, world)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::PathState;
    use std::collections::BTreeMap;

    fn rulesets(sets: &[(u32, &[&str])]) -> BTreeMap<u32, Vec<String>> {
        sets.iter()
            .map(|(n, rules)| (*n, rules.iter().map(|r| r.to_string()).collect()))
            .collect()
    }

    fn recipe(dhcp: bool) -> Recipe {
        let ip4 = if dhcp {
            "Dhcp"
        } else {
            "Static([\"10.0.0.2/24\"])"
        };
        Recipe::from_ron(
            &format!(
                r#"(host: (network: (bridges: [(name: "br0")])),
                    releases: [(name: "14.3-RELEASE")],
                    jails: [(name: "www", release: "14.3-RELEASE", vnet: (bridge: "br0", ip4: {ip4}))])"#
            ),
            "test",
        )
        .unwrap()
    }

    fn world(admin: Option<&str>, kernel: &[(u32, &[&str])]) -> World {
        let mut world = World {
            devfs_rulesets: Some(rulesets(kernel)),
            ..World::default()
        };
        world.set_path(
            Path::new("/etc/defaults/devfs.rules"),
            PathState::File {
                contents: Some(
                    "[devfsrules_hide_all=1]\nadd hide\n[devfsrules_jail=4]\nadd include $devfsrules_hide_all\n".into(),
                ),
            },
        );
        if let Some(text) = admin {
            world.set_path(
                Path::new("/etc/devfs.rules"),
                PathState::File {
                    contents: Some(text.into()),
                },
            );
        }
        world
    }

    const DEFAULTS: &[(u32, &[&str])] = &[(1, &["100 hide"]), (4, &["100 include 1"])];

    #[test]
    fn a_dhcp_jail_gets_a_free_number_loaded_now_and_at_boot_then_nothing_more() {
        let recipe = recipe(true);
        let admin = "[mine=100]\nadd path 'da*' unhide\n";
        let mut kernel = DEFAULTS.to_vec();
        kernel.push((101, &["100 hide"]));
        let world = world(Some(admin), &kernel);
        let plan = plan(&recipe, &world).unwrap();
        assert_eq!(plan.number, Some(102), "100 in the file, 101 in the kernel");
        let actions: Vec<&Action> = plan.before_starts.iter().map(|p| &p.action).collect();
        assert_eq!(actions.len(), 2, "{actions:#?}");
        let Action::EditFile { path, edit } = actions[0] else {
            panic!("{actions:?}")
        };
        assert_eq!(path, Path::new("/etc/devfs.rules"));
        let after = edit.apply(admin);
        assert!(
            after.starts_with(admin),
            "the administrator's lines stay: {after}"
        );
        assert!(after.contains(
            "[thinjail_vnet_bpf=102]\nadd include $devfsrules_jail\nadd path 'bpf*' unhide\n"
        ));
        assert_eq!(
            *actions[1],
            Action::LoadDevfsRuleset {
                number: 102,
                rules: vec!["include 4".into(), "path bpf* unhide".into()],
            }
        );
        // A second plan on the world the first leaves: nothing to do, same number.
        let mut then = world.clone();
        for action in &actions {
            action.apply_to(&mut then);
        }
        let again = super::plan(&recipe, &then).unwrap();
        assert_eq!(again.number, Some(102));
        assert!(again.before_starts.is_empty() && again.after_starts.is_empty());
        // Its commands: delset first, so a reload replaces.
        let crate::action::Execution::Commands(commands) = actions[1].execution() else {
            panic!()
        };
        let lines: Vec<String> = commands.iter().map(|c| c.render()).collect();
        assert_eq!(
            lines,
            [
                "devfs rule -s 102 delset",
                "devfs rule -s 102 add include 4",
                "devfs rule -s 102 add path 'bpf*' unhide",
            ]
        );

        // No DHCP jail left: the block and the ruleset go, the rest stays.
        let static_recipe = super::tests::recipe(false);
        let mut unobserved = then.clone();
        unobserved.devfs_rulesets = None;
        let removal = super::plan(&static_recipe, &unobserved).unwrap();
        assert_eq!(removal.number, None);
        let actions: Vec<&Action> = removal.after_starts.iter().map(|p| &p.action).collect();
        assert_eq!(actions.len(), 2, "{actions:#?}");
        let mut gone = then.clone();
        for action in &actions {
            action.apply_to(&mut gone);
        }
        assert_eq!(
            gone.file_contents(Path::new("/etc/devfs.rules")),
            Some(admin)
        );
        assert!(!gone.devfs_rulesets.as_ref().unwrap().contains_key(&102));
        assert!(super::plan(&static_recipe, &gone)
            .unwrap()
            .after_starts
            .is_empty());
    }

    #[test]
    fn confinement_allows_only_thinjails_own_block_of_devfs_rules() {
        let recipe = recipe(true);
        let edit = |path: &str, edit: FileEdit| Action::EditFile {
            path: path.into(),
            edit,
        };
        let set = |id: &str, content: String| FileEdit::SetBlock {
            id: id.into(),
            content,
        };
        assert!(is_own_block_edit(
            &recipe,
            &edit("/etc/devfs.rules", set(BLOCK_ID, devfs_rules(100)))
        ));
        assert!(is_own_block_edit(
            &recipe,
            &edit(
                "/etc/devfs.rules",
                FileEdit::RemoveBlock {
                    id: BLOCK_ID.into()
                }
            )
        ));
        for refused in [
            edit("/etc/devfs.rules", set("other", devfs_rules(100))),
            edit("/etc/devfs.rules", set(BLOCK_ID, devfs_rules(4))),
            edit(
                "/etc/devfs.rules",
                set(
                    BLOCK_ID,
                    "[thinjail_vnet_bpf=100]\nadd path mem unhide\n".into(),
                ),
            ),
            edit("/etc/rc.conf", set(BLOCK_ID, devfs_rules(100))),
        ] {
            assert!(!is_own_block_edit(&recipe, &refused), "{refused:?}");
        }
    }

    #[test]
    fn a_host_whose_rc_would_not_load_devfs_rules_at_boot_is_refused() {
        let recipe = recipe(true);
        for (rc, refused) in [
            ("devfs_rulesets=\"/etc/defaults/devfs.rules\"\n", true),
            ("devfs_load_rulesets=\"NO\"\n", true),
            (
                "devfs_load_rulesets=\"NO\"\ndevfs_system_ruleset=\"x\"\n",
                false,
            ),
            (
                "devfs_rulesets=\"/etc/defaults/devfs.rules /etc/devfs.rules /usr/local/etc/r\"\n",
                false,
            ),
            ("devfs_rulesets=\"$(echo /etc/devfs.rules)\"\n", false),
            ("", false),
        ] {
            let mut world = world(None, DEFAULTS);
            world.set_path(
                Path::new("/etc/rc.conf"),
                PathState::File {
                    contents: Some(rc.into()),
                },
            );
            match plan(&recipe, &world) {
                Err(StageError::Conflict(message)) if refused => {
                    assert!(message.contains("devfs_rulesets"), "{message}")
                }
                Ok(_) if !refused => {}
                other => panic!("{rc}: {other:?}"),
            }
        }
    }

    #[test]
    fn broken_markers_or_a_missing_ruleset_4_are_refused() {
        let recipe = recipe(true);
        let broken = format!("{}\n", edit::begin_marker(BLOCK_ID));
        assert!(matches!(
            plan(&recipe, &world(Some(&broken), DEFAULTS)),
            Err(StageError::Conflict(_))
        ));
        let Err(StageError::Conflict(message)) = plan(&recipe, &world(None, &[(1, &["100 hide"])]))
        else {
            panic!("ruleset 4 missing must be refused")
        };
        assert!(message.contains("service devfs restart"), "{message}");
    }
}
