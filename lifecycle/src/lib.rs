//! # thinjail-lifecycle
//!
//! Jails for their whole life, planned: which jails thinjail manages on a host and
//! in what state (the recipe's, orphans, foreign jails of the same name), and the
//! plans of the lifecycle commands — start, stop, restart, destroy,
//! destroy-release, snapshot, rollback, update, upgrade, bootstrap-baseline and
//! `apply --prune` — as pure functions of a recipe and a world.
//!
//! Like stages, everything here only plans: it reads a recipe and a world and
//! returns actions, checked against the recipe's confinement ([`plan`]); the cli
//! asks, prints and applies them through a host. It depends on `thinjail-core`
//! alone.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod datasets;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use thinjail_core::action::{Action, EtcupdateCommand};
use thinjail_core::edit::blocks;
use thinjail_core::fstab::{fstab_base, fstab_on_release};
use thinjail_core::hostconf::forget_jail;
use thinjail_core::jailconf::parse_block_params;
use thinjail_core::jailfile::{block_id, conf_of, foreign_jail_message};
use thinjail_core::layout::{Layout, GOLD_SNAPSHOT};
use thinjail_core::observe::managed_names;
use thinjail_core::pipeline::{check_confinement_with, Plan, PlanError, StagePlan, StageSource};
use thinjail_core::stage::{Planned, Probes, StageError};
use thinjail_core::updates::{self, plan_freebsd_update, plan_pack_tree, UpdateTree};
use thinjail_core::validate::{check_jail_name, check_snapshot_name};
use thinjail_core::world::{Mount, PathState, World};
use thinjail_core::Recipe;
use thinjail_core::Snapshot;

/// Why a lifecycle command cannot be planned. The first five are about what was
/// asked for (a usage error to the cli), the rest about the host.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// `name` is not a valid jail or release name.
    #[error("{name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `name` is not a valid snapshot name (`reason` quotes it).
    #[error("{reason}")]
    InvalidSnapshotName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `jail` is not a jail thinjail manages on this host.
    #[error("no jail {jail} managed by thinjail here (see `thinjail list`)")]
    NotManaged {
        /// The jail asked for.
        jail: String,
    },
    /// The snapshot `dataset@snapshot` of `jail`'s data does not exist.
    #[error("{} does not exist (see `thinjail snapshots {jail}`)", Snapshot::new(.dataset, .snapshot))]
    NoSuchSnapshot {
        /// The jail.
        jail: String,
        /// Its data dataset.
        dataset: String,
        /// The snapshot asked for.
        snapshot: String,
    },
    /// Nothing of `release` (base, template) is installed here.
    #[error("release {release} is not installed here")]
    ReleaseNotInstalled {
        /// The release asked for.
        release: String,
    },
    /// The host is in a state the command refuses to act on.
    #[error("{0}")]
    Refused(String),
    /// Something the command needs is missing.
    #[error("{0}")]
    Missing(String),
    /// The host's jail and boot configuration refuses the change (see
    /// [`thinjail_core::hostconf`]).
    #[error("{0}")]
    Boot(StageError),
    /// A planned action would leave the recipe's confinement; nothing runs.
    #[error(transparent)]
    Confinement(#[from] PlanError),
}

impl LifecycleError {
    /// Whether the command was asked for something that is not there or not valid
    /// (rather than refused by the host's state).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            LifecycleError::InvalidName { .. }
                | LifecycleError::InvalidSnapshotName { .. }
                | LifecycleError::NotManaged { .. }
                | LifecycleError::NoSuchSnapshot { .. }
                | LifecycleError::ReleaseNotInstalled { .. }
        )
    }
}

/// Checks a jail or release name given on the command line before it is used in a
/// path (`check` is [`check_jail_name`] or
/// [`thinjail_core::validate::check_release_name`]).
pub fn check_name(name: &str, check: fn(&str) -> Result<(), String>) -> Result<(), LifecycleError> {
    check(name).map_err(|reason| LifecycleError::InvalidName {
        name: name.to_string(),
        reason,
    })
}

/// The state of a jail thinjail knows about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JailState {
    /// Running.
    Running,
    /// Created, not running.
    Stopped,
    /// In the recipe, not created yet.
    Missing,
    /// Created by thinjail, no longer in the recipe.
    Orphaned,
    /// A jail of this name runs from another root: not thinjail's, left alone.
    Foreign,
}

impl std::fmt::Display for JailState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JailState::Running => "running",
            JailState::Stopped => "stopped",
            JailState::Missing => "missing",
            JailState::Orphaned => "orphaned",
            JailState::Foreign => "foreign",
        })
    }
}

/// One row of `thinjail list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JailStatus {
    /// Name.
    pub name: String,
    /// State.
    pub state: JailState,
    /// JID when running (orphaned jails may run too).
    pub jid: Option<u32>,
    /// Whether it is running.
    pub running: bool,
    /// IPv4 addresses (from the recipe, or from its jail.conf entry).
    pub ip4: Vec<String>,
    /// IPv6 addresses.
    pub ip6: Vec<String>,
    /// Its network: shared with the host (its addresses aliases there) or VNET
    /// (bridge, addresses, MAC, interfaces).
    pub network: thinjail_core::network::NetworkSummary,
    /// Release (from the recipe, or from the base its fstab mounts).
    pub release: Option<String>,
    /// Bytes used by its data dataset.
    pub used: Option<u64>,
    /// Its root while running.
    pub path: PathBuf,
    /// The jail of the same name that runs from another root, when there is one.
    pub foreign: Option<ForeignJail>,
    /// Its extra mounts (from the recipe), as its fstab mounts them.
    pub mounts: Vec<thinjail_core::resources::Mount>,
    /// Its rctl(8) rules as the recipe gives them, expanded as the kernel prints them.
    pub limits: Vec<String>,
    /// The rules the kernel has on `jail:NAME` now, when it was asked (whoever set
    /// them).
    pub limits_applied: Option<Vec<String>>,
    /// Its CPU list (from the recipe, canonical).
    pub cpuset: Option<String>,
    /// The CPUs it runs on now, when it runs and has a CPU list.
    pub cpuset_applied: Option<String>,
    /// The jails it depends on.
    pub depend: Vec<String>,
    /// Its delegated ZFS datasets (from the recipe), with what the host has.
    pub datasets: Vec<datasets::DatasetStatus>,
}

/// A running jail that has a managed jail's name but not its root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ForeignJail {
    /// Its JID.
    pub jid: u32,
    /// Its root.
    pub path: PathBuf,
}

/// Managed jails that are not in the recipe.
pub fn orphans(recipe: &Recipe, world: &World) -> Vec<String> {
    let named: BTreeSet<&str> = recipe.jails.iter().map(|j| j.name.as_str()).collect();
    managed_names(recipe, world)
        .into_iter()
        .filter(|name| !named.contains(name.as_str()))
        .collect()
}

/// The release whose base a jail's fstab mounts, if it is one of ours.
pub fn release_of(recipe: &Recipe, world: &World, jail: &str) -> Option<String> {
    let layout = Layout::new(recipe);
    let base = fstab_base(world.file_contents(&layout.fstab(jail))?)?;
    let name = Path::new(&base)
        .file_name()?
        .to_str()?
        .strip_suffix("-base")?
        .to_string();
    (layout.base_dir(&name) == Path::new(&base)).then_some(name)
}

/// `thinjail list`: every jail the recipe or the host knows, with its state.
pub fn status(recipe: &Recipe, world: &World) -> Vec<JailStatus> {
    let layout = Layout::new(recipe);
    let conf = world.file_contents(&recipe.host.jail_conf).unwrap_or("");
    // `list` still lists with broken markers; commands that edit refuse them.
    let blocks = blocks(conf).unwrap_or_default();
    managed_names(recipe, world)
        .into_iter()
        .map(|name| {
            let foreign = layout.foreign_jail(world, &name);
            let running = world.running_jail(&name).filter(|_| foreign.is_none());
            let data = world.dataset(&layout.data_dataset(&name));
            let in_recipe = recipe.jail(&name);
            let state = match (running, in_recipe, data) {
                _ if foreign.is_some() => JailState::Foreign,
                (Some(_), Some(_), _) => JailState::Running,
                (_, None, _) => JailState::Orphaned,
                (None, Some(_), Some(_)) => JailState::Stopped,
                (None, Some(_), None) => JailState::Missing,
            };
            let own = world.file_contents(&layout.jail_conf_file(&name));
            let block = own
                .or_else(|| blocks.get(block_id(&name).as_str()).copied())
                .map(parse_block_params);
            let from_block = |key: &str| -> Vec<String> {
                block
                    .as_ref()
                    .and_then(|p| p.get(key))
                    .map(|v| {
                        v.split(',')
                            .filter(|a| !a.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let on_host = release_of(recipe, world, &name);
            let network = match in_recipe.and_then(|jail| jail.vnet.as_ref().map(|v| (jail, v))) {
                Some((jail, vnet)) => {
                    let vnet_jails = recipe.jails.iter().filter(|j| j.vnet.is_some());
                    let names =
                        thinjail_core::network::epair_names(vnet_jails.map(|j| j.name.as_str()));
                    names.get(&jail.name).map(|names| {
                        thinjail_core::network::NetworkSummary::vnet(&jail.name, vnet, names)
                    })
                }
                None => None,
            };
            let (ip4, ip6, release) = match in_recipe {
                Some(jail) => (
                    jail.ip4.clone(),
                    jail.ip6.clone(),
                    on_host.or_else(|| Some(jail.release.clone())),
                ),
                None => (from_block("ip4.addr"), from_block("ip6.addr"), on_host),
            };
            let network = network
                .unwrap_or_else(|| thinjail_core::network::NetworkSummary::shared(&ip4, &ip6));
            let (ip4, ip6) = (network.ip4.clone(), network.ip6.clone());
            JailStatus {
                state,
                jid: running.map(|j| j.jid),
                running: running.is_some(),
                ip4,
                ip6,
                network,
                release,
                used: data.map(|d| d.used),
                path: layout.root(&name),
                foreign: foreign.map(|f| ForeignJail {
                    jid: f.jid,
                    path: f.path.clone(),
                }),
                mounts: in_recipe.map(|j| j.mounts.clone()).unwrap_or_default(),
                limits: in_recipe
                    .map(|j| {
                        thinjail_core::resources::rctl::rules_of(&j.name, &j.limits)
                            .iter()
                            .map(ToString::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                limits_applied: world.limits.as_ref().map(|l| {
                    let prefix = format!("jail:{name}:");
                    l.rules
                        .iter()
                        .filter(|r| r.starts_with(&prefix))
                        .cloned()
                        .collect()
                }),
                cpuset: in_recipe.and_then(|j| j.cpu_list()).map(|l| l.to_string()),
                cpuset_applied: world
                    .cpus
                    .as_ref()
                    .and_then(|c| c.jails.get(&name).cloned()),
                depend: in_recipe.map(|j| j.depend.clone()).unwrap_or_default(),
                datasets: datasets::statuses(in_recipe, world),
                name,
            }
        })
        .collect()
}

/// Checks that `names` are jails thinjail manages here, and that no jail of the
/// same name runs from another root (one thinjail did not start: it is never
/// stopped, replaced or entered).
pub fn require_managed(
    recipe: &Recipe,
    world: &World,
    names: &[String],
) -> Result<(), LifecycleError> {
    let managed = managed_names(recipe, world);
    let layout = Layout::new(recipe);
    for name in names {
        check_name(name, check_jail_name)?;
        if !managed.contains(name) {
            return Err(LifecycleError::NotManaged { jail: name.clone() });
        }
        if let Some(running) = layout.foreign_jail(world, name) {
            return Err(LifecycleError::Refused(foreign_jail_message(
                name,
                running,
                &layout.root(name),
            )));
        }
    }
    Ok(())
}

/// Refuses datasets that exist but are not thinjail's (no mark of their own),
/// saying how to mark them.
pub fn require_ours(
    recipe: &Recipe,
    world: &World,
    datasets: &[String],
) -> Result<(), LifecycleError> {
    let layout = Layout::new(recipe);
    let not_ours = layout.not_ours(world, datasets);
    if not_ours.is_empty() {
        Ok(())
    } else {
        Err(LifecycleError::Refused(layout.not_ours_message(&not_ours)))
    }
}

/// Destroys `dataset` exactly: its snapshots one by one, then the dataset alone —
/// never `zfs destroy -r`, which would also take datasets below it that thinjail
/// did not make. Refused when `dataset` has datasets below it.
fn destroy_exactly(
    world: &World,
    dataset: &str,
    note: String,
) -> Result<Vec<Planned>, LifecycleError> {
    let children: Vec<&String> = world.children_of(dataset).map(|(name, _)| name).collect();
    if !children.is_empty() {
        let list: Vec<&str> = children.iter().map(|c| c.as_str()).collect();
        return Err(LifecycleError::Refused(format!(
            "{dataset} holds {}, which thinjail did not put there; move or destroy {} first (thinjail never destroys datasets it did not make)",
            list.join(", "),
            if list.len() == 1 { "it" } else { "them" }
        )));
    }
    let mut actions: Vec<Planned> = world
        .snapshots_of(dataset)
        .into_iter()
        .map(|(snapshot, _)| {
            Planned::new(Action::DestroySnapshot {
                dataset: dataset.to_string(),
                snapshot: snapshot.to_string(),
            })
        })
        .collect();
    actions.push(Planned::noted(
        Action::DestroyDataset {
            dataset: dataset.to_string(),
            recursive: false,
        },
        note,
    ));
    Ok(actions)
}

/// Mounts left at or below a jail's root or directory, deepest first — everything
/// but the jail's own ZFS datasets mounted at their own mountpoints.
pub fn leftover_mounts<'w>(layout: &Layout<'_>, world: &'w World, jail: &str) -> Vec<&'w Mount> {
    let mut mounts: Vec<&Mount> = world
        .mounts_under(&layout.root(jail))
        .into_iter()
        .chain(world.mounts_under(&layout.jail_dir(jail)))
        .filter(|m| !is_own_dataset_mount(world, m))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.target.components().count()));
    mounts.dedup_by(|a, b| a.target == b.target);
    mounts
}

/// A dataset mounted at its own mountpoint (not a nullfs or bind mount of it elsewhere).
fn is_own_dataset_mount(world: &World, mount: &Mount) -> bool {
    let zfs = mount.fstype == "zfs" || mount.fstype.starts_with("fuse.zfs");
    zfs && world
        .dataset(&mount.source)
        .and_then(|d| d.mountpoint.as_deref())
        .is_some_and(|mp| mp == mount.target)
}

/// `jail -f FILE -c JAIL` with the jail's own file (see [`conf_of`]).
fn start_action(recipe: &Recipe, world: &World, jail: &str) -> Action {
    Action::StartJail {
        conf: conf_of(recipe, world, jail),
        jail: jail.to_string(),
        root: Layout::new(recipe).root(jail),
        destroy_on_failure: thinjail_core::bridges::epair_interfaces(recipe, jail),
    }
}

/// `jail -f FILE -r JAIL` with the jail's own file (see [`conf_of`]).
fn stop_action(recipe: &Recipe, world: &World, jail: &str) -> Action {
    Action::StopJail {
        conf: conf_of(recipe, world, jail),
        jail: jail.to_string(),
    }
}

/// `thinjail start`: `jail -c` for each jail not running.
pub fn plan_start(
    recipe: &Recipe,
    world: &World,
    jails: &[String],
) -> Result<Vec<Planned>, LifecycleError> {
    require_managed(recipe, world, jails)?;
    let layout = Layout::new(recipe);
    let mut actions = Vec::new();
    // Dependencies first (a jail's jail(8) starts those not running itself, and a
    // later `jail -c` of one would then fail), then by priority.
    let place: BTreeMap<&str, usize> = thinjail_core::start::start_sequence(recipe)
        .into_iter()
        .enumerate()
        .map(|(i, j)| (j.name.as_str(), i))
        .collect();
    let mut ordered: Vec<&String> = jails.iter().collect();
    ordered.sort_by_key(|j| place.get(j.as_str()).copied());
    for jail in ordered {
        if world.is_running(jail) {
            continue;
        }
        if !world.has_dataset(&layout.data_dataset(jail)) {
            return Err(LifecycleError::Missing(format!(
                "jail {jail} is not created yet: run `thinjail apply` first"
            )));
        }
        actions.push(start_action(recipe, world, jail));
    }
    let leftovers = check_network(recipe, world, jails)?;
    // A start's epair left by a start that failed or was killed goes first.
    let mut planned = thinjail_core::leftover_epairs::destroy_actions(&leftovers);
    // Two or more: side by side, each after the jails it depends on.
    planned.extend(
        thinjail_core::start::parallel_start(recipe, actions)
            .into_iter()
            .map(Planned::new),
    );
    Ok(planned)
}

/// What `apply` checks of the host's interfaces before it starts VNET jails
/// ([`thinjail_core::network::host_conflicts`]), for the jails of `jails` that do
/// not run: their bridge exists (unless thinjail makes it, which `apply` does), and
/// no interface has the name of their epair — a leftover of a start that failed or
/// was killed, or someone else's, on which jail(8) would fail with `EEXIST` after
/// mounting. Refused (exit 78) naming the `ifconfig … destroy` to run, unless it is
/// provably thinjail's own leftover ([`thinjail_core::leftover_epairs`]): those are
/// returned, by jail, to be destroyed first.
fn check_network(
    recipe: &Recipe,
    world: &World,
    jails: &[String],
) -> Result<BTreeMap<String, String>, LifecycleError> {
    let Some(interfaces) = &world.interfaces else {
        return Ok(BTreeMap::new());
    };
    let vnet_jails: Vec<(&str, bool, &str)> = recipe
        .jails
        .iter()
        .filter_map(|j| {
            let vnet = j.vnet.as_ref()?;
            // Only the jails being started are checked; the others count as running.
            let starting = jails.contains(&j.name) && !world.is_running(&j.name);
            Some((j.name.as_str(), !starting, vnet.bridge.as_str()))
        })
        .collect();
    if vnet_jails.iter().all(|(_, skipped, _)| *skipped) {
        return Ok(BTreeMap::new());
    }
    let leftovers = thinjail_core::leftover_epairs::find(
        &vnet_jails,
        interfaces,
        &world.interface_descriptions,
    );
    let found = thinjail_core::network::host_conflicts(
        &recipe.host.network,
        &vnet_jails,
        interfaces,
        &leftovers,
    );
    if found.is_empty() {
        Ok(leftovers)
    } else {
        Err(LifecycleError::Refused(found.join("\n")))
    }
}

/// `thinjail stop`: `jail -r` for running jails, dependents first (side by side
/// when there are several, [`thinjail_core::stop`]), each followed by the removal
/// of the rctl(8) rules thinjail set for it; then, for jails not running, those
/// rules and `umount` for anything they left mounted.
pub fn plan_stop(
    recipe: &Recipe,
    world: &World,
    jails: &[String],
) -> Result<Vec<Planned>, LifecycleError> {
    require_managed(recipe, world, jails)?;
    let layout = Layout::new(recipe);
    let mut stops = Vec::new();
    let mut cleanups = Vec::new();
    for jail in thinjail_core::stop::stop_sequence(recipe, jails) {
        let remove_limits = limits_to_remove(recipe, world, &jail);
        if world.is_running(&jail) {
            stops.push(thinjail_core::resources::order::JailStop {
                conf: conf_of(recipe, world, &jail),
                jail,
                after: Vec::new(),
                remove_limits,
            });
        } else {
            cleanups.extend(thinjail_core::stop::remove_limits(&jail, remove_limits));
            for mount in leftover_mounts(&layout, world, &jail) {
                cleanups.push(Planned::noted(
                    Action::Unmount {
                        path: mount.target.clone(),
                    },
                    format!("left mounted by jail {jail}, which is not running"),
                ));
            }
        }
    }
    let mut actions = thinjail_core::stop::stop_actions(recipe, stops);
    actions.extend(cleanups);
    Ok(actions)
}

/// The rctl(8) rules thinjail set on `jail` (its file's hook records them) that the
/// kernel still has: `stop` removes exactly those (rules survive a jail in the
/// kernel, which keeps them by name); a rule thinjail did not set stays.
fn limits_to_remove(recipe: &Recipe, world: &World, jail: &str) -> Vec<String> {
    use thinjail_core::resources::rctl::Rule;
    let Some(file) = world.file_contents(&Layout::new(recipe).jail_conf_file(jail)) else {
        return Vec::new();
    };
    let Some(limits) = world.limits.as_ref() else {
        return Vec::new();
    };
    let change = limits.reconcile(jail, Some(file), &[]);
    change.remove.iter().map(Rule::to_string).collect()
}

/// `thinjail destroy` (after the jail is stopped): its jail.conf entry, rc.conf
/// jail_list word, fstab and mountpoint; with `with_data`, its datasets too.
/// Refused while anything is mounted under the jail.
pub fn plan_destroy(
    recipe: &Recipe,
    world: &World,
    jail: &str,
    with_data: bool,
) -> Result<Vec<Planned>, LifecycleError> {
    require_managed(recipe, world, &[jail.to_string()])?;
    let layout = Layout::new(recipe);
    if world.is_running(jail) {
        return Err(LifecycleError::Refused(format!(
            "jail {jail} is still running"
        )));
    }
    let mounted = leftover_mounts(&layout, world, jail);
    if !mounted.is_empty() {
        let list: Vec<String> = mounted
            .iter()
            .map(|m| m.target.display().to_string())
            .collect();
        return Err(LifecycleError::Refused(format!(
            "refusing to destroy jail {jail}: still mounted under it: {} — removing files now could delete the base or another dataset's files through the mount; unmount them first (`thinjail stop {jail}`)",
            list.join(", ")
        )));
    }
    // Its jail file, an older block in jail.conf, and its place in rc.conf's boot.
    let mut actions = forget_jail(recipe, world, jail).map_err(LifecycleError::Boot)?;
    // thinjail's devfs ruleset, when no other DHCP jail keeps a jail file.
    actions.extend(
        thinjail_core::devfs_rules::removal_after_destroy(recipe, world, jail)
            .map_err(LifecycleError::Boot)?,
    );
    let fstab = layout.fstab(jail);
    if world.path(&fstab).exists() {
        actions.push(Planned::new(Action::Remove { path: fstab }));
    }
    let root = layout.root(jail);
    if world.path(&root).exists() {
        actions.push(Planned::noted(
            Action::RemoveDir { path: root },
            "rmdir, not rm -rf: it fails rather than delete anything still inside",
        ));
    }
    if with_data {
        actions.extend(plan_destroy_data(recipe, world, jail)?);
    }
    // Its port forwards (and NAT no other jail needs) leave thinjail's pf anchor.
    if thinjail_core::pfplan::wanted(recipe) {
        actions.extend(
            thinjail_core::pfplan::plan(recipe, world, Some(jail))
                .map_err(LifecycleError::Refused)?,
        );
    }
    Ok(actions)
}

/// What `thinjail destroy` shows before it asks: the actions that stop `jail`,
/// then those that destroy it, planned on the world the stop leaves. (After the
/// stop is applied, `destroy` observes again and plans the destruction anew with
/// [`plan_destroy`].)
pub fn plan_destroy_preview(
    recipe: &Recipe,
    world: &World,
    jail: &str,
    with_data: bool,
) -> Result<(Vec<Planned>, Vec<Planned>), LifecycleError> {
    let names = [jail.to_string()];
    require_managed(recipe, world, &names)?;
    let stop = plan_stop(recipe, world, &names)?;
    let destroy = plan_destroy(recipe, &world.after_planned(&stop), jail, with_data)?;
    Ok((stop, destroy))
}

/// `destroy --data`: the jail's data with its snapshots, then its dataset if nothing
/// else is below it.
fn plan_destroy_data(
    recipe: &Recipe,
    world: &World,
    jail: &str,
) -> Result<Vec<Planned>, LifecycleError> {
    let layout = Layout::new(recipe);
    let dataset = layout.jail_dataset(jail);
    let data = layout.data_dataset(jail);
    require_ours(recipe, world, &[dataset.clone(), data.clone()])?;
    let mut actions = Vec::new();
    if world.has_dataset(&data) {
        let snapshots: Vec<&str> = world
            .snapshots_of(&data)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let note = if snapshots.is_empty() {
            "--data: the jail's files, gone for good".to_string()
        } else {
            format!(
                "--data: the jail's files and its snapshots ({}), gone for good",
                snapshots.join(", ")
            )
        };
        actions.extend(destroy_exactly(world, &data, note)?);
    }
    if world.has_dataset(&dataset) {
        let others: Vec<String> = world
            .names_under(&dataset)
            .into_iter()
            .filter(|name| {
                name != &dataset && name != &data && !name.starts_with(&format!("{data}@"))
            })
            .collect();
        if others.is_empty() {
            actions.push(Planned::new(Action::DestroyDataset {
                dataset,
                recursive: false,
            }));
        } else {
            let note = format!(
                "{dataset} stays: it also holds {}, which thinjail did not make",
                others.join(", ")
            );
            match actions.last_mut() {
                Some(last) => {
                    let previous = last.note.take().unwrap_or_default();
                    last.note = Some(format!("{previous}\n{note}"));
                }
                None => {
                    return Err(LifecycleError::Refused(format!(
                        "jail {jail} has no data left to destroy; {note}"
                    )))
                }
            }
        }
    }
    Ok(actions)
}

/// Jails (managed here) whose fstab mounts `release`'s base, or whose data is a
/// clone of its template.
fn jails_using(recipe: &Recipe, world: &World, release: &str) -> Vec<String> {
    let layout = Layout::new(recipe);
    let template_gold = Snapshot::new(&layout.template_dataset(release), GOLD_SNAPSHOT).to_string();
    managed_names(recipe, world)
        .into_iter()
        .filter(|jail| {
            let by_recipe = recipe.jail(jail).is_some_and(|j| j.release == release);
            let by_fstab = release_of(recipe, world, jail).as_deref() == Some(release);
            let by_clone = world
                .dataset(&layout.data_dataset(jail))
                .and_then(|d| d.origin.as_deref())
                == Some(template_gold.as_str());
            by_recipe || by_fstab || by_clone
        })
        .collect()
}

/// `thinjail destroy-release`: the base and the template, refused while any jail uses them.
pub fn plan_destroy_release(
    recipe: &Recipe,
    world: &World,
    release: &str,
) -> Result<Vec<Planned>, LifecycleError> {
    let layout = Layout::new(recipe);
    let users = jails_using(recipe, world, release);
    if !users.is_empty() {
        return Err(LifecycleError::Refused(format!(
            "release {release} is used by jail{} {}; destroy or upgrade {} first",
            if users.len() == 1 { "" } else { "s" },
            users.join(", "),
            if users.len() == 1 { "it" } else { "them" }
        )));
    }
    // A throwaway clone of the base's @install (an interrupted build of its etcupdate
    // tree) would keep the base from being destroyed: it goes first.
    let (clone, _) = updates::tree_clone(&layout, release);
    let datasets = [
        clone,
        layout.template_dataset(release),
        layout.base_dataset(release),
    ];
    require_ours(recipe, world, &datasets)?;
    let mut actions = Vec::new();
    for dataset in datasets {
        if world.has_dataset(&dataset) {
            let doomed: Vec<String> = world.names_under(&dataset).into_iter().collect();
            let note = format!("destroys {}", doomed.join(", "));
            actions.extend(destroy_exactly(world, &dataset, note)?);
        }
    }
    if actions.is_empty() {
        return Err(LifecycleError::ReleaseNotInstalled {
            release: release.to_string(),
        });
    }
    Ok(actions)
}

/// `thinjail snapshot`: a snapshot of the jail's data.
pub fn plan_snapshot(
    recipe: &Recipe,
    world: &World,
    jail: &str,
    name: &str,
) -> Result<Vec<Planned>, LifecycleError> {
    require_managed(recipe, world, &[jail.to_string()])?;
    check_snapshot_name(name).map_err(|reason| LifecycleError::InvalidSnapshotName {
        name: name.to_string(),
        reason,
    })?;
    let dataset = Layout::new(recipe).data_dataset(jail);
    if !world.has_dataset(&dataset) {
        return Err(LifecycleError::Missing(format!(
            "jail {jail} has no data dataset yet"
        )));
    }
    require_ours(recipe, world, std::slice::from_ref(&dataset))?;
    if world.has_snapshot(&dataset, name) {
        return Err(LifecycleError::Refused(format!(
            "{} already exists",
            Snapshot::new(&dataset, name)
        )));
    }
    Ok(vec![Planned::new(Action::Snapshot {
        dataset,
        snapshot: name.to_string(),
    })])
}

/// Snapshots of a jail's data, oldest first: (name, used bytes, creation time).
pub fn snapshots(recipe: &Recipe, world: &World, jail: &str) -> Vec<(String, u64, u64)> {
    let dataset = Layout::new(recipe).data_dataset(jail);
    world
        .snapshots_of(&dataset)
        .into_iter()
        .map(|(name, ds)| (name.to_string(), ds.used, ds.creation))
        .collect()
}

/// `thinjail rollback`: stop, roll the data back (newer snapshots are destroyed, and
/// the plan says which), start again if it was running.
pub fn plan_rollback(
    recipe: &Recipe,
    world: &World,
    jail: &str,
    name: &str,
) -> Result<Vec<Planned>, LifecycleError> {
    require_managed(recipe, world, &[jail.to_string()])?;
    let layout = Layout::new(recipe);
    let dataset = layout.data_dataset(jail);
    require_ours(recipe, world, std::slice::from_ref(&dataset))?;
    if !world.has_snapshot(&dataset, name) {
        return Err(LifecycleError::NoSuchSnapshot {
            jail: jail.to_string(),
            dataset,
            snapshot: name.to_string(),
        });
    }
    let txg = world
        .dataset(&Snapshot::new(&dataset, name).to_string())
        .map_or(0, |d| d.createtxg);
    let newer: Vec<&str> = world
        .snapshots_of(&dataset)
        .into_iter()
        .filter(|(_, d)| d.createtxg > txg)
        .map(|(n, _)| n)
        .collect();
    let running = world.is_running(jail);
    let mut actions = Vec::new();
    if running {
        actions.push(Planned::new(stop_action(recipe, world, jail)));
    }
    let note = if newer.is_empty() {
        "the jail's files return to the snapshot; changes since are lost".to_string()
    } else {
        format!("the jail's files return to the snapshot; changes since and the newer snapshots {} are destroyed", newer.join(", "))
    };
    actions.push(Planned::noted(
        Action::Rollback {
            dataset,
            snapshot: name.to_string(),
        },
        note,
    ));
    if running {
        actions.push(Planned::new(start_action(recipe, world, jail)));
    }
    Ok(actions)
}

/// Prefix of the snapshots `thinjail update` takes before updating a base.
pub const UPDATE_SNAPSHOT_PREFIX: &str = "pre-update-";

/// What `update` needs observed beyond the stages' probes: freebsd-update's work
/// directory and configurations for `release`.
pub fn update_probes(recipe: &Recipe, release: &str) -> Probes {
    let mut probes = Probes::default();
    updates::probes(recipe, release, &mut probes);
    probes
}

/// `thinjail update REL`: snapshot the base; freebsd-update it (`fetch`, then
/// `install`, with thinjail's configuration); bring the template (and the etcupdate
/// baseline in it, and the tarball in the base) to the same patch level and take
/// its `@gold` again so new jails start patched, keeping the old one as
/// `@pre-update-STAMP`; restart the running jails using the base (unless `restart`
/// is false) and rehash their trust store inside each (`certctl rehash`).
pub fn plan_update(
    recipe: &Recipe,
    world: &World,
    release: &str,
    stamp: &str,
    restart: bool,
) -> Result<Vec<Planned>, LifecycleError> {
    let layout = Layout::new(recipe);
    let base = layout.base_dataset(release);
    if !world.has_snapshot(&base, GOLD_SNAPSHOT) {
        return Err(LifecycleError::Missing(format!(
            "release {release} is not installed here (run `thinjail apply`)"
        )));
    }
    let entry = recipe.release(release).ok_or_else(|| {
        LifecycleError::Missing(format!(
            "release {release} is not in the recipe, which says its platform (freebsd-update's UNAME_m): add it to `releases`"
        ))
    })?;
    let snapshot = format!("{UPDATE_SNAPSHOT_PREFIX}{stamp}");
    let template = layout.template_dataset(release);
    if world.has_snapshot(&base, &snapshot) || world.has_snapshot(&template, &snapshot) {
        return Err(LifecycleError::Refused(format!(
            "{} already exists; wait a second and retry",
            Snapshot::new(&base, &snapshot)
        )));
    }
    let mut planning = world.clone();
    let mut actions = vec![Planned::noted(
        Action::Snapshot {
            dataset: base.clone(),
            snapshot: snapshot.clone(),
        },
        format!("undo with `thinjail update {release} --rollback`"),
    )];
    actions.extend(plan_freebsd_update(
        recipe,
        &mut planning,
        entry,
        &layout.base_dir(release),
        UpdateTree::ThinBase,
    ));
    if world.has_dataset(&template) {
        let mut template_steps = plan_freebsd_update(
            recipe,
            &mut planning,
            entry,
            &layout.template_dir(release),
            UpdateTree::Complete,
        );
        note_first_update(
            &mut template_steps,
            "the template too (/etc, /var, /root): jails are made from its @gold, so new ones start patched; \
             freebsd-update leaves alone what the template does not hold",
        );
        actions.extend(template_steps);
        let baseline = updates::template_baseline(&layout, release);
        if world.path(&baseline) == &PathState::Directory {
            let mut baseline_steps = plan_freebsd_update(
                recipe,
                &mut planning,
                entry,
                &baseline,
                UpdateTree::Complete,
            );
            note_first_update(
                &mut baseline_steps,
                "and the etcupdate baseline new jails inherit, so it matches their files; it is archived again as the release's tarball",
            );
            actions.extend(baseline_steps);
            actions.extend(plan_pack_tree(
                &baseline,
                &updates::etcupdate_tarball(&layout, release),
                true,
            ));
        }
        if world.has_snapshot(&template, GOLD_SNAPSHOT) {
            actions.push(Planned::noted(
                Action::RenameSnapshot {
                    dataset: template.clone(),
                    from: GOLD_SNAPSHOT.to_string(),
                    to: snapshot.clone(),
                },
                format!("the template's @gold before this update is kept as @{snapshot} (`--rollback` returns to it)"),
            ));
        }
        actions.push(Planned::noted(
            Action::Snapshot {
                dataset: template,
                snapshot: GOLD_SNAPSHOT.to_string(),
            },
            "new jails are made from the patched template",
        ));
    }
    for jail in running_users(recipe, world, release) {
        if restart {
            actions.push(Planned::noted(
                stop_action(recipe, world, &jail),
                "restart so its processes run the updated base",
            ));
            actions.push(Planned::new(start_action(recipe, world, &jail)));
        }
        actions.push(Planned::noted(
            Action::ExecInJail {
                jail: jail.clone(),
                argv: vec!["certctl".into(), "rehash".into()],
            },
            "inside the jail: its /etc/ssl/certs is its own, the certificates are the base's",
        ));
    }
    Ok(actions)
}

fn note_first_update(steps: &mut [Planned], note: &str) {
    if let Some(first) = steps
        .iter_mut()
        .find(|p| matches!(p.action, Action::FreebsdUpdate { .. }))
    {
        first.note = Some(note.to_string());
    }
}

/// `thinjail update REL --rollback`: back to the newest pre-update snapshot of the
/// base (then that snapshot is removed) and the template's `@gold` from before that
/// update, restarting running jails.
pub fn plan_update_rollback(
    recipe: &Recipe,
    world: &World,
    release: &str,
    restart: bool,
) -> Result<Vec<Planned>, LifecycleError> {
    let layout = Layout::new(recipe);
    let base = layout.base_dataset(release);
    let latest = world
        .snapshots_of(&base)
        .into_iter()
        .filter(|(name, _)| name.starts_with(UPDATE_SNAPSHOT_PREFIX))
        .map(|(name, _)| name.to_string())
        .next_back()
        .ok_or_else(|| {
            LifecycleError::Missing(format!(
                "{base} has no {UPDATE_SNAPSHOT_PREFIX}* snapshot to return to"
            ))
        })?;
    let mut actions = Vec::new();
    let users = running_users(recipe, world, release);
    if restart {
        for jail in &users {
            actions.push(Planned::new(stop_action(recipe, world, jail)));
        }
    }
    actions.push(Planned::new(Action::Rollback {
        dataset: base.clone(),
        snapshot: latest.clone(),
    }));
    actions.push(Planned::new(Action::DestroySnapshot {
        dataset: base,
        snapshot: latest.clone(),
    }));
    let template = layout.template_dataset(release);
    if world.has_snapshot(&template, &latest) {
        actions.push(Planned::noted(
            Action::Rollback {
                dataset: template.clone(),
                snapshot: latest.clone(),
            },
            "the template returns to its @gold from before the update (the @gold that update took is destroyed)",
        ));
        actions.push(Planned::new(Action::RenameSnapshot {
            dataset: template,
            from: latest,
            to: GOLD_SNAPSHOT.to_string(),
        }));
    }
    if restart {
        for jail in &users {
            actions.push(Planned::new(start_action(recipe, world, jail)));
        }
    }
    Ok(actions)
}

/// Running jails on `release`.
pub fn running_users(recipe: &Recipe, world: &World, release: &str) -> Vec<String> {
    jails_using(recipe, world, release)
        .into_iter()
        .filter(|j| world.is_running(j))
        .collect()
}

/// Prefix of the snapshot `thinjail upgrade` takes of a jail's data; the full name
/// records both releases (`upgrade-from-13.1-RELEASE-to-14.0-RELEASE`) so an
/// interrupted upgrade can be undone exactly.
const UPGRADE_SNAPSHOT_PREFIX: &str = "upgrade-from-";

/// Prefix a finished upgrade's snapshot is renamed to.
pub const DONE_UPGRADE_PREFIX: &str = "upgraded-from-";

/// Name of the snapshot taken before moving a jail from `from` to `to`.
fn upgrade_snapshot(from: &str, to: &str) -> String {
    format!("{UPGRADE_SNAPSHOT_PREFIX}{from}-to-{to}")
}

/// The releases recorded in an upgrade snapshot's name.
fn parse_upgrade_snapshot(name: &str) -> Option<(String, String)> {
    let rest = name.strip_prefix(UPGRADE_SNAPSHOT_PREFIX)?;
    let (from, to) = rest.split_once("-to-")?;
    Some((from.to_string(), to.to_string()))
}

/// The jail's etcupdate baseline, as the host sees it (below its data, which the
/// jail's root controls: observed with [`jail_probes`], never by following links).
fn jail_baseline(recipe: &Recipe, jail: &str) -> PathBuf {
    Layout::new(recipe)
        .data_dir(jail)
        .join(updates::ETCUPDATE_BASELINE)
}

/// Why the jail's etcupdate baseline cannot be used: the baseline, or a directory on
/// the way to it, is something else than a directory (the jail's root replaced it,
/// say by a symbolic link, which the host never follows). `None` when it is a
/// directory or missing.
fn baseline_tampered(recipe: &Recipe, world: &World, jail: &str) -> Option<String> {
    let data = Layout::new(recipe).data_dir(jail);
    let baseline = jail_baseline(recipe, jail);
    let inside = |path: &Path| {
        Path::new("/")
            .join(path.strip_prefix(&data).unwrap_or(path))
            .display()
            .to_string()
    };
    if let Some((at, state)) = world.blocked_beneath(&data, &baseline) {
        return Some(format!(
            "its {} is {state} (thinjail does not follow links in a jail's files)",
            inside(&at)
        ));
    }
    match world.path(&baseline) {
        PathState::Directory | PathState::Missing => None,
        other => Some(format!("its {} is {other}", inside(&baseline))),
    }
}

/// What `upgrade` must observe inside a jail's data: its baseline, read without
/// following links ([`Probes::beneath`]).
pub fn jail_probes(recipe: &Recipe, jail: &str) -> Probes {
    let mut probes = Probes::default();
    probes.beneath(
        Layout::new(recipe).data_dir(jail),
        updates::ETCUPDATE_BASELINE,
    );
    probes
}

/// The steps of a release swap, and what undoing it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradePlan {
    /// (undo of an interrupted attempt,) snapshot, stop, new fstab, start, merge
    /// inside the jail, restart (or stop), rename of the snapshot.
    pub steps: Vec<Planned>,
    /// The release the jail leaves.
    pub from: String,
    /// The data snapshot taken first.
    pub snapshot: String,
    /// What the snapshot is renamed to when the upgrade is done.
    pub done_snapshot: String,
    /// The fstab to restore.
    pub old_fstab: String,
    /// Whether the jail runs at the end (and must run again after an undo).
    pub was_running: bool,
}

/// The release's etcupdate tarball, for a jail moving to it: present in its base, or
/// (for a base made before thinjail recorded it) copied there from
/// `releases[].etcupdate`. Refused when neither.
fn tarball_steps(
    recipe: &Recipe,
    world: &World,
    release: &str,
    why: &str,
) -> Result<Vec<Planned>, LifecycleError> {
    let layout = Layout::new(recipe);
    let tarball = updates::etcupdate_tarball(&layout, release);
    if world.path(&tarball).exists() {
        return Ok(Vec::new());
    }
    match recipe.release(release).and_then(|r| r.etcupdate.clone()) {
        Some(given) => Ok(vec![
            Planned::new(Action::MakeDir {
                path: tarball.parent().map(Path::to_path_buf).unwrap_or_default(),
            }),
            Planned::noted(
                Action::CopyTree {
                    from: given,
                    to: tarball,
                },
                format!("releases[].etcupdate of {release}, where every jail on its base reads it"),
            ),
        ]),
        None => Err(LifecycleError::Missing(format!(
            "{why} needs release {release}'s etcupdate tree, which its base ({}) does not have yet: \
             run `thinjail apply` (it builds the tree from the release's @install snapshot) or set \
             `etcupdate` of release {release} to a tarball made by `etcupdate build`; nothing was changed",
            layout.base_dir(release).display()
        ))),
    }
}

/// `thinjail upgrade JAIL --to REL`: snapshot the jail's data, stop it, point its
/// fstab at the new base, start it there, merge its /etc with the new release's
/// etcupdate tree *inside the jail* (`jexec JAIL etcupdate -t
/// /usr/share/thinjail/etcupdate.txz`), restart it (or stop it again if it was not
/// running), and keep the snapshot renamed. An earlier attempt that was interrupted
/// (its snapshot is still there) is undone first, so the result is the same as an
/// uninterrupted upgrade. Refused before anything changes when the jail has no
/// etcupdate baseline (`--bootstrap-baseline` records it).
pub fn plan_upgrade(
    recipe: &Recipe,
    world: &World,
    jail: &str,
    to: &str,
    stamp: &str,
) -> Result<UpgradePlan, LifecycleError> {
    require_managed(recipe, world, &[jail.to_string()])?;
    let layout = Layout::new(recipe);
    let fstab = layout.fstab(jail);
    let data = layout.data_dataset(jail);
    let start = start_action(recipe, world, jail);
    let stop = stop_action(recipe, world, jail);
    // The jail's extra mounts stay in its fstab on the new base.
    let mounts = recipe
        .jail(jail)
        .map(|j| j.mounts.as_slice())
        .unwrap_or_default();
    let fstab_for = |release: &str| fstab_on_release(&layout, jail, release, mounts);

    let mut steps = Vec::new();
    let mut running = world.is_running(jail);
    let interrupted = world.snapshots_of(&data).into_iter().find_map(|(name, _)| {
        parse_upgrade_snapshot(name).map(|releases| (name.to_string(), releases))
    });
    let mut from = release_of(recipe, world, jail);
    let mut current_fstab = world.file_contents(&fstab).unwrap_or_default().to_string();
    let mut up = running;
    if let Some((snapshot, (old, _))) = &interrupted {
        if running {
            steps.push(Planned::noted(
                stop.clone(),
                "an earlier upgrade was interrupted: undo it first",
            ));
            up = false;
        }
        let old_fstab = fstab_for(old);
        if current_fstab != old_fstab {
            steps.push(Planned::noted(
                Action::WriteFile {
                    path: fstab.clone(),
                    contents: old_fstab.clone(),
                    mode: 0o644,
                },
                fstab_diff(&current_fstab, &old_fstab),
            ));
        }
        steps.push(Planned::new(Action::Rollback {
            dataset: data.clone(),
            snapshot: snapshot.clone(),
        }));
        steps.push(Planned::new(Action::DestroySnapshot {
            dataset: data.clone(),
            snapshot: snapshot.clone(),
        }));
        from = Some(old.clone());
        current_fstab = old_fstab;
        // Started again at the end if the recipe wants it running, as it was before.
        running = running || recipe.jail(jail).is_some_and(|j| j.start);
    }
    let from = from.ok_or_else(|| unknown_release(jail))?;
    if from == to {
        return Err(LifecycleError::Refused(format!(
            "jail {jail} already runs {to}"
        )));
    }
    if recipe.release(to).is_none() {
        return Err(LifecycleError::Missing(format!("release {to} is not in the recipe: add it to `releases` and run `thinjail apply` to install it first")));
    }
    if !world.has_snapshot(&layout.base_dataset(to), GOLD_SNAPSHOT) {
        return Err(LifecycleError::Missing(format!(
            "release {to} is not installed yet: run `thinjail apply` first"
        )));
    }
    check_etcupdate_state(recipe, world, jail)?;
    match world.path(&jail_baseline(recipe, jail)) {
        PathState::Directory => {}
        PathState::Missing => {
            return Err(LifecycleError::Missing(format!(
                "jail {jail} has no etcupdate baseline (/{}), so etcupdate cannot merge its files with {to} \
                 (a jail made before thinjail recorded baselines): run `thinjail upgrade {jail} --bootstrap-baseline` \
                 once (it records {from}'s tree inside the jail), then upgrade; nothing was changed",
                updates::ETCUPDATE_BASELINE
            )))
        }
        _ => {}
    }
    steps.extend(tarball_steps(
        recipe,
        world,
        to,
        &format!("moving jail {jail} to {to}"),
    )?);
    let snapshot = upgrade_snapshot(&from, to);
    let new_fstab = fstab_for(to);
    steps.push(Planned::noted(
        Action::Snapshot {
            dataset: data.clone(),
            snapshot: snapshot.clone(),
        },
        "if anything below fails, the jail returns to exactly this",
    ));
    if up {
        steps.push(Planned::new(stop.clone()));
    }
    steps.push(Planned::noted(
        Action::WriteFile {
            path: fstab.clone(),
            contents: new_fstab.clone(),
            mode: 0o644,
        },
        fstab_diff(&current_fstab, &new_fstab),
    ));
    steps.push(Planned::noted(
        start.clone(),
        format!("on the {to} base: the merge runs inside the jail, where its own links resolve in the jail"),
    ));
    steps.push(Planned::noted(
        Action::EtcupdateInJail {
            jail: jail.to_string(),
            command: EtcupdateCommand::Update,
            tarball: updates::tarball_in_jail(),
        },
        format!(
            "three-way merge of the jail's files ({from} → {to}) against its baseline; its own changes are kept, \
             and what cannot be merged is reported as a conflict"
        ),
    ));
    steps.push(Planned::noted(
        stop,
        if running {
            "restart so every service starts with the merged /etc"
        } else {
            "it was not running: stopped again"
        },
    ));
    if running {
        steps.push(Planned::new(start));
    }
    let done_snapshot = format!("{DONE_UPGRADE_PREFIX}{from}-to-{to}-{stamp}");
    steps.push(Planned::noted(
        Action::RenameSnapshot {
            dataset: data,
            from: snapshot.clone(),
            to: done_snapshot.clone(),
        },
        "done: the snapshot stays, renamed, so the jail's data from before the upgrade can still be restored",
    ));
    Ok(UpgradePlan {
        steps,
        from,
        snapshot,
        done_snapshot,
        old_fstab: current_fstab,
        was_running: running,
    })
}

/// After a failed upgrade step, what returns the jail to exactly its old fstab, data
/// and state, given the host as it is now.
pub fn plan_upgrade_undo(
    recipe: &Recipe,
    world: &World,
    jail: &str,
    upgrade: &UpgradePlan,
) -> Vec<Planned> {
    let layout = Layout::new(recipe);
    let data = layout.data_dataset(jail);
    let fstab = layout.fstab(jail);
    let mut undo = Vec::new();
    if world.is_running(jail) {
        undo.push(Planned::new(stop_action(recipe, world, jail)));
    }
    if world.file_contents(&fstab) != Some(upgrade.old_fstab.as_str()) {
        undo.push(Planned::new(Action::WriteFile {
            path: fstab,
            contents: upgrade.old_fstab.clone(),
            mode: 0o644,
        }));
    }
    if world.has_snapshot(&data, &upgrade.snapshot) {
        undo.push(Planned::new(Action::Rollback {
            dataset: data.clone(),
            snapshot: upgrade.snapshot.clone(),
        }));
        undo.push(Planned::new(Action::DestroySnapshot {
            dataset: data,
            snapshot: upgrade.snapshot.clone(),
        }));
    }
    if upgrade.was_running {
        undo.push(Planned::new(start_action(recipe, world, jail)));
    }
    undo
}

/// The refusal when a jail's release cannot be read from its fstab.
fn unknown_release(jail: &str) -> LifecycleError {
    LifecycleError::Missing(format!(
        "cannot tell which release jail {jail} runs: its fstab is missing or not thinjail's"
    ))
}

/// What etcupdate inside `jail` needs before upgrade or `--bootstrap-baseline` runs
/// it: /etc and /var of the jail's own, and etcupdate state that is not a link out
/// of the jail.
fn check_etcupdate_state(recipe: &Recipe, world: &World, jail: &str) -> Result<(), LifecycleError> {
    if !updates::baseline_possible(recipe) {
        return Err(LifecycleError::Refused(format!(
            "etcupdate needs /etc and /var to be the jail's own, and the recipe's template.jail_specific does not list both; \
             thinjail cannot merge jail {jail}'s files; nothing was changed"
        )));
    }
    if let Some(problem) = baseline_tampered(recipe, world, jail) {
        return Err(LifecycleError::Refused(format!(
            "jail {jail}'s etcupdate state was tampered with: {problem}; nothing was changed"
        )));
    }
    Ok(())
}

/// `thinjail upgrade JAIL --bootstrap-baseline`: for a jail made before thinjail
/// recorded etcupdate baselines, record the tree of the release it runs now as its
/// baseline, inside the jail (`jexec JAIL etcupdate extract -t
/// /usr/share/thinjail/etcupdate.txz`), starting it for that when it is not
/// running. Empty when the baseline is already there.
pub fn plan_bootstrap_baseline(
    recipe: &Recipe,
    world: &World,
    jail: &str,
) -> Result<Vec<Planned>, LifecycleError> {
    require_managed(recipe, world, &[jail.to_string()])?;
    let release = release_of(recipe, world, jail).ok_or_else(|| unknown_release(jail))?;
    check_etcupdate_state(recipe, world, jail)?;
    if world.path(&jail_baseline(recipe, jail)) == &PathState::Directory {
        return Ok(Vec::new());
    }
    if world
        .snapshots_of(&Layout::new(recipe).data_dataset(jail))
        .iter()
        .any(|(name, _)| parse_upgrade_snapshot(name).is_some())
    {
        return Err(LifecycleError::Refused(format!(
            "an earlier upgrade of jail {jail} was interrupted: finish or undo it first (run the same `thinjail upgrade` again)"
        )));
    }
    let mut steps = tarball_steps(
        recipe,
        world,
        &release,
        &format!("recording jail {jail}'s baseline"),
    )?;
    let running = world.is_running(jail);
    if !running {
        steps.push(Planned::noted(
            start_action(recipe, world, jail),
            "etcupdate runs inside the jail",
        ));
    }
    steps.push(Planned::noted(
        Action::EtcupdateInJail {
            jail: jail.to_string(),
            command: EtcupdateCommand::Extract,
            tarball: updates::tarball_in_jail(),
        },
        format!(
            "{release}'s etcupdate tree becomes the jail's baseline (/{})",
            updates::ETCUPDATE_BASELINE
        ),
    ));
    if !running {
        steps.push(Planned::noted(
            stop_action(recipe, world, jail),
            "it was not running: stopped again",
        ));
    }
    Ok(steps)
}

/// A line diff of two small texts (`-` old, `+` new, unchanged lines kept).
fn fstab_diff(before: &str, after: &str) -> String {
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = after.lines().collect();
    let mut out = vec!["fstab change:".to_string()];
    for line in &old {
        if !new.contains(line) {
            out.push(format!("- {line}"));
        }
    }
    for line in &new {
        if old.contains(line) {
            out.push(format!("  {line}"));
        } else {
            out.push(format!("+ {line}"));
        }
    }
    out.join("\n")
}

/// Where lifecycle plans come from, as their [`StageSource`] says.
const PROVIDER: &str = "thinjail-lifecycle";

/// One stage of a lifecycle plan.
fn stage_plan(stage: &str, summary: &str, actions: Vec<Planned>) -> StagePlan {
    StagePlan {
        stage: stage.to_string(),
        summary: summary.to_string(),
        article_step: None,
        source: StageSource::Builtin {
            provider: PROVIDER.into(),
        },
        actions,
    }
}

/// The plan of the lifecycle command `command`: `actions` as one stage, each
/// checked against the recipe's confinement, in which the jails thinjail manages
/// here ([`managed_names`]) may be touched unless a foreign jail runs in their name.
pub fn plan(
    recipe: &Recipe,
    world: &World,
    command: &str,
    summary: &str,
    actions: Vec<Planned>,
) -> Result<Plan, LifecycleError> {
    let layout = Layout::new(recipe);
    let managed = managed_names(recipe, world);
    for planned in &actions {
        check_confinement_with(&layout, world, command, &planned.action, &|jail| {
            managed.contains(jail) && layout.foreign_jail(world, jail).is_none()
        })?;
    }
    Ok(Plan {
        stages: vec![stage_plan(command, summary, actions)],
    })
}

/// What `apply --prune` adds to `plan` (the recipe's plan on `world`): a `prune`
/// stage that stops every orphan ([`orphans`]) and destroys it keeping its data,
/// planned on the world `plan` leaves and confined to the orphans; `None` when
/// there is no orphan.
pub fn plan_prune(
    recipe: &Recipe,
    world: &World,
    plan: &Plan,
) -> Result<Option<StagePlan>, LifecycleError> {
    let orphans = orphans(recipe, world);
    if orphans.is_empty() {
        return Ok(None);
    }
    let mut after = world.after(plan);
    let mut actions = Vec::new();
    for orphan in &orphans {
        let stop = plan_stop(recipe, &after, std::slice::from_ref(orphan))?;
        after = after.after_planned(&stop);
        actions.extend(stop);
        let destroy = plan_destroy(recipe, &after, orphan, false)?;
        after = after.after_planned(&destroy);
        actions.extend(destroy);
    }
    let layout = Layout::new(recipe);
    let allowed: BTreeSet<&String> = orphans.iter().collect();
    for planned in &actions {
        check_confinement_with(&layout, world, "prune", &planned.action, &|jail| {
            allowed.contains(&jail.to_string()) && layout.foreign_jail(world, jail).is_none()
        })?;
    }
    Ok(Some(stage_plan(
        "prune",
        "remove orphaned jails (their data datasets are kept)",
        actions,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    // Linked so their stages are registered for the pipeline below.
    use thinjail_core::action::FreebsdUpdateCommand;
    use thinjail_core::pipeline::Pipeline;
    use thinjail_stages::NoPlugins;

    /// A host where the whole plan of `recipe` was applied.
    fn applied(recipe: &Recipe) -> World {
        let plan = Pipeline::from_recipe(recipe, &mut NoPlugins)
            .unwrap()
            .plan(recipe, &World::empty())
            .unwrap();
        World::empty().after(&plan)
    }

    fn built() -> (Recipe, World) {
        let text = include_str!("../../cli/recipes/article.ron");
        let recipe = Recipe::from_ron(text, "article").unwrap();
        let world = applied(&recipe);
        (recipe, world)
    }

    #[test]
    fn start_follows_depend_then_priority_one_at_a_time_or_side_by_side() {
        let (mut recipe, _) = built();
        let first = recipe.jails[0].clone();
        for (name, depend, priority) in [
            ("www", vec!["db".to_string()], 0),
            ("cache", vec![], 5),
            ("db", vec![], 0),
            ("mail", vec![], -1),
        ] {
            recipe.jails.push(thinjail_core::recipe::Jail {
                name: name.into(),
                depend,
                priority,
                ..first.clone()
            });
        }
        let mut world = applied(&recipe);
        world.jails.clear();
        let all: Vec<String> = recipe.jails.iter().map(|j| j.name.clone()).collect();
        recipe.host.start_parallel = std::num::NonZeroU32::new(1);
        let names = |plan: Vec<Planned>| -> Vec<String> {
            plan.into_iter()
                .map(|p| match p.action {
                    Action::StartJail { jail, .. } => jail,
                    other => panic!("{}", other.describe()),
                })
                .collect()
        };
        // One at a time: db before www (www's jail(8) would start db itself, and
        // then `jail -c db` would find it running), mail (-1) first, cache (5) last.
        let serial = names(plan_start(&recipe, &world, &all).unwrap());
        assert_eq!(serial, ["mail", "thinjail0", "db", "www", "cache"]);
        recipe.host.start_parallel = None;
        let plan = plan_start(&recipe, &world, &all).unwrap();
        let [Planned {
            action: Action::StartJails { jails, .. },
            ..
        }] = plan.as_slice()
        else {
            panic!("one parallel start");
        };
        let order: Vec<&str> = jails.iter().map(|j| j.jail.as_str()).collect();
        assert_eq!(order, ["mail", "thinjail0", "db", "www", "cache"]);
        assert_eq!(jails[3].after, ["db"]);
    }

    #[test]
    fn list_reports_states_and_orphans() {
        let (mut recipe, world) = built();
        let rows = status(&recipe, &world);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].state, JailState::Running);
        assert_eq!(rows[0].release.as_deref(), Some("13.1-RELEASE"));
        recipe.jails.clear();
        let rows = status(&recipe, &world);
        assert_eq!(rows[0].state, JailState::Orphaned);
        assert_eq!(rows[0].ip4, ["192.168.1.70"]);
        assert_eq!(orphans(&recipe, &world), ["thinjail0"]);
    }

    #[test]
    fn destroy_refuses_while_something_is_mounted() {
        let (recipe, mut world) = built();
        world.jails.clear();
        world.mounts.push(Mount {
            source: "/usr/local/jails/base/13.1-RELEASE-base".into(),
            target: "/usr/local/jails/.mountpoints/thinjail0".into(),
            fstype: "nullfs".into(),
            read_only: true,
        });
        let error = plan_destroy(&recipe, &world, "thinjail0", true).unwrap_err();
        assert!(error.to_string().contains("still mounted"), "{error}");
        world.mounts.clear();
        let plan = plan_destroy(&recipe, &world, "thinjail0", false).unwrap();
        assert!(
            plan.iter()
                .all(|p| !matches!(p.action, Action::DestroyDataset { .. })),
            "data kept without --data"
        );
        assert!(plan
            .iter()
            .any(|p| matches!(p.action, Action::RemoveDir { .. })));
    }

    #[test]
    fn only_jails_whose_dataset_thinjail_made_for_this_recipe_are_managed() {
        let (mut recipe, mut world) = built();
        recipe.jails.clear();
        assert_eq!(orphans(&recipe, &world), ["thinjail0"]);
        // Another recipe's jail in the same jail.conf, with its own jails dataset.
        world.add_filesystem("zroot/other", Some(Path::new("/other")), None);
        world.add_filesystem("zroot/other/db", None, None);
        world.set_managed("zroot/other/db", Some("zroot/other".into()));
        // A dataset made by hand inside our jails dataset (it inherits nothing).
        world.add_filesystem("zroot/jails/containers", None, None);
        world.add_filesystem("zroot/jails/containers/data", None, None);
        let conf = "# BEGIN thinjail jail db\ndb {\n    path = \"/other/.mountpoints/db\";\n}\n# END thinjail jail db\n";
        world.set_path(
            &recipe.host.jail_conf,
            PathState::File {
                contents: Some(conf.into()),
            },
        );
        assert_eq!(orphans(&recipe, &world), ["thinjail0"]);
        assert!(require_managed(&recipe, &world, &["db".to_string()]).is_err());
    }

    #[test]
    fn a_jail_of_the_same_name_with_another_root_is_left_alone() {
        let (recipe, mut world) = built();
        let running = world.jails.get_mut("thinjail0").unwrap();
        running.path = "/usr/jails/thinjail0".into();
        running.jid = 12;
        let names = ["thinjail0".to_string()];
        for error in [
            plan_stop(&recipe, &world, &names).unwrap_err(),
            plan_start(&recipe, &world, &names).unwrap_err(),
            plan_destroy(&recipe, &world, "thinjail0", false).unwrap_err(),
            plan_snapshot(&recipe, &world, "thinjail0", "x").unwrap_err(),
        ] {
            assert!(matches!(error, LifecycleError::Refused(_)), "{error}");
            let message = error.to_string();
            assert!(
                message.contains("JID 12") && message.contains("/usr/jails/thinjail0"),
                "{message}"
            );
        }
        let rows = status(&recipe, &world);
        assert_eq!(rows[0].state, JailState::Foreign);
        assert!(!rows[0].running);
        assert_eq!(rows[0].foreign.as_ref().map(|f| f.jid), Some(12));
    }

    #[test]
    fn destroy_data_never_destroys_recursively() {
        let (recipe, mut world) = built();
        world.jails.clear();
        world.mounts.clear();
        world.add_snapshot("zroot/jails/thinjail0/data", "mine");
        world.add_filesystem("zroot/jails/thinjail0/backup", None, None);
        let plan = plan_destroy(&recipe, &world, "thinjail0", true).unwrap();
        let lines: Vec<String> = plan.iter().flat_map(|p| p.action.sh_lines()).collect();
        let destroys: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with("zfs destroy"))
            .collect();
        assert_eq!(
            destroys,
            [
                "zfs destroy zroot/jails/thinjail0/data@gold",
                "zfs destroy zroot/jails/thinjail0/data@mine",
                "zfs destroy zroot/jails/thinjail0/data",
            ],
            "the data and its snapshots, no -r, and the jail's dataset stays: {lines:#?}"
        );
        assert!(plan.iter().any(|p| p
            .note
            .as_deref()
            .is_some_and(|n| n.contains("zroot/jails/thinjail0 stays"))));
        world.remove_dataset("zroot/jails/thinjail0/backup", false);
        let plan = plan_destroy(&recipe, &world, "thinjail0", true).unwrap();
        assert_eq!(
            plan.last().map(|p| p.action.sh_lines()),
            Some(vec!["zfs destroy zroot/jails/thinjail0".to_string()]),
            "with nothing else below it, the jail's dataset goes too"
        );
        world.add_filesystem("zroot/jails/thinjail0/data/cache", None, None);
        let error = plan_destroy(&recipe, &world, "thinjail0", true).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("zroot/jails/thinjail0/data/cache"),
            "{error}"
        );
    }

    #[test]
    fn destroy_release_is_refused_while_used() {
        let (recipe, world) = built();
        let error = plan_destroy_release(&recipe, &world, "13.1-RELEASE").unwrap_err();
        assert!(error.to_string().contains("thinjail0"), "{error}");
    }

    /// The article's host with 14.0-RELEASE installed too.
    fn two_releases() -> (Recipe, World) {
        let (mut recipe, _) = built();
        let mut second = recipe.releases[0].clone();
        second.name = "14.0-RELEASE".into();
        recipe.releases.push(second);
        let world = applied(&recipe);
        (recipe, world)
    }

    #[test]
    fn upgrade_keeps_the_jails_extra_mounts() {
        let (mut recipe, _) = two_releases();
        recipe.jails[0].mounts = vec![thinjail_core::resources::Mount::Tmpfs {
            path: "/tmp".into(),
            size: "1m".into(),
        }];
        let world = applied(&recipe);
        let plan = plan_upgrade(&recipe, &world, "thinjail0", "14.0-RELEASE", "S").unwrap();
        let fstab = plan
            .steps
            .iter()
            .find_map(|p| match &p.action {
                Action::WriteFile { path, contents, .. } if path.ends_with("fstab") => {
                    Some(contents.clone())
                }
                _ => None,
            })
            .unwrap();
        assert!(fstab.contains("14.0-RELEASE-base"), "{fstab}");
        assert!(
            fstab.ends_with("/thinjail0/skeleton/tmp  tmpfs  rw,size=1048576  0   0\n"),
            "{fstab}"
        );
    }

    #[test]
    fn upgrade_merges_inside_the_jail_and_is_refused_without_a_baseline() {
        let (recipe, mut world) = two_releases();
        let baseline = jail_baseline(&recipe, "thinjail0");
        assert_eq!(
            world.path(&baseline),
            &PathState::Directory,
            "inherited from the template"
        );
        let plan = plan_upgrade(&recipe, &world, "thinjail0", "14.0-RELEASE", "S").unwrap();
        let kinds: Vec<&Action> = plan.steps.iter().map(|p| &p.action).collect();
        let start = kinds
            .iter()
            .position(|a| matches!(a, Action::StartJail { .. }))
            .unwrap();
        assert!(matches!(
            kinds[start + 1],
            Action::EtcupdateInJail {
                command: EtcupdateCommand::Update,
                ..
            }
        ));
        assert_eq!(
            kinds[start + 1].sh_lines(),
            ["jexec -l thinjail0 /usr/sbin/etcupdate -t /usr/share/thinjail/etcupdate.txz"]
        );
        // Nothing the host does by path reaches into the jail's data.
        let data = Layout::new(&recipe).data_dir("thinjail0");
        for action in &kinds {
            assert!(
                action.touches().paths.iter().all(|p| !p.starts_with(&data)),
                "{action:?}"
            );
        }
        assert!(matches!(kinds.last(), Some(Action::RenameSnapshot { .. })));
        // Restarted so its services read the merged /etc.
        assert!(matches!(kinds[start + 2], Action::StopJail { .. }));
        assert!(matches!(kinds[start + 3], Action::StartJail { .. }));

        // A jail that was not running is started for the merge and stopped again.
        let mut stopped = world.clone();
        stopped.jails.clear();
        let plan = plan_upgrade(&recipe, &stopped, "thinjail0", "14.0-RELEASE", "S").unwrap();
        let kinds: Vec<&Action> = plan.steps.iter().map(|p| &p.action).collect();
        assert!(!plan.was_running);
        assert_eq!(
            kinds
                .iter()
                .filter(|a| matches!(a, Action::StartJail { .. }))
                .count(),
            1
        );
        assert!(matches!(kinds[kinds.len() - 2], Action::StopJail { .. }));

        world.paths.insert(baseline, PathState::Missing);
        let error = plan_upgrade(&recipe, &world, "thinjail0", "14.0-RELEASE", "S").unwrap_err();
        assert!(matches!(error, LifecycleError::Missing(_)));
        assert!(
            error
                .to_string()
                .contains("thinjail upgrade thinjail0 --bootstrap-baseline"),
            "{error}"
        );
        let bootstrap = plan_bootstrap_baseline(&recipe, &world, "thinjail0").unwrap();
        assert_eq!(
            bootstrap.iter().map(|p| p.action.sh_lines()).collect::<Vec<_>>(),
            [["jexec -l thinjail0 /usr/sbin/etcupdate extract -t /usr/share/thinjail/etcupdate.txz"]]
        );

        // The jail's root replaced var/db by a link: what the look below its data
        // recorded (the link, the baseline unreachable) refuses both, naming the link.
        let data = Layout::new(&recipe).data_dir("thinjail0");
        world.paths.insert(
            data.join("var/db"),
            PathState::Symlink {
                target: PathBuf::from("/"),
            },
        );
        for error in [
            plan_upgrade(&recipe, &world, "thinjail0", "14.0-RELEASE", "S").unwrap_err(),
            plan_bootstrap_baseline(&recipe, &world, "thinjail0").unwrap_err(),
        ] {
            assert!(matches!(error, LifecycleError::Refused(_)), "{error}");
            assert!(
                error.to_string().contains(
                    "its /var/db is a symbolic link to / (thinjail does not follow links"
                ),
                "{error}"
            );
        }
    }

    #[test]
    fn update_fetches_and_installs_apart_for_the_base_the_template_and_its_tree() {
        let (recipe, world) = built();
        let plan = plan_update(&recipe, &world, "13.1-RELEASE", "S", true).unwrap();
        let trees: Vec<(String, FreebsdUpdateCommand)> = plan
            .iter()
            .filter_map(|p| match &p.action {
                Action::FreebsdUpdate { base, command, .. } => {
                    Some((base.display().to_string(), *command))
                }
                _ => None,
            })
            .collect();
        let base = "/usr/local/jails/base/13.1-RELEASE-base".to_string();
        let template = "/usr/local/jails/base/13.1-RELEASE-template".to_string();
        let tree = format!("{template}/var/db/etcupdate/current");
        assert_eq!(
            trees,
            [
                (base.clone(), FreebsdUpdateCommand::Fetch),
                (base, FreebsdUpdateCommand::Install),
                (template.clone(), FreebsdUpdateCommand::Fetch),
                (template, FreebsdUpdateCommand::Install),
                (tree.clone(), FreebsdUpdateCommand::Fetch),
                (tree, FreebsdUpdateCommand::Install),
            ]
        );
        let lines: Vec<String> = plan.iter().flat_map(|p| p.action.sh_lines()).collect();
        assert!(
            lines.contains(&"jexec -l thinjail0 certctl rehash".to_string()),
            "{lines:#?}"
        );
        let renamed = plan.iter().any(|p| {
            p.action
                == Action::RenameSnapshot {
                    dataset: "zroot/jails/base/13.1-RELEASE-template".into(),
                    from: GOLD_SNAPSHOT.into(),
                    to: "pre-update-S".into(),
                }
        });
        assert!(renamed, "the template's old @gold is kept: {lines:#?}");
        assert!(matches!(
            plan.iter().rev().find(|p| matches!(p.action, Action::Snapshot { .. })).map(|p| &p.action),
            Some(Action::Snapshot { dataset, snapshot }) if dataset.ends_with("-template") && snapshot == GOLD_SNAPSHOT
        ));

        let after = world.after_planned(&plan);
        let rollback = plan_update_rollback(&recipe, &after, "13.1-RELEASE", false).unwrap();
        let described: Vec<String> = rollback.iter().map(|p| p.action.describe()).collect();
        assert_eq!(
            described,
            [
                "roll zroot/jails/base/13.1-RELEASE-base back to @pre-update-S",
                "destroy snapshot zroot/jails/base/13.1-RELEASE-base@pre-update-S",
                "roll zroot/jails/base/13.1-RELEASE-template back to @pre-update-S",
                "rename snapshot zroot/jails/base/13.1-RELEASE-template@pre-update-S to @gold",
            ]
        );
    }

    #[test]
    fn fstab_diff_shows_the_swap() {
        let diff = fstab_diff(
            "/b/13.1-base  /r  nullfs  ro  0   0\n/d  /r/skeleton  nullfs  rw  0   0\n",
            "/b/14.0-base  /r  nullfs  ro  0   0\n/d  /r/skeleton  nullfs  rw  0   0\n",
        );
        assert_eq!(diff, "fstab change:\n- /b/13.1-base  /r  nullfs  ro  0   0\n+ /b/14.0-base  /r  nullfs  ro  0   0\n  /d  /r/skeleton  nullfs  rw  0   0");
    }
}
