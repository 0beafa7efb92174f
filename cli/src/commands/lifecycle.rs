//! The lifecycle commands: list, start, stop, restart, exec, console, destroy,
//! destroy-release, snapshot, rollback, snapshots, update, upgrade.
//!
//! Each observes the host, plans with [`thinjail_lifecycle`], shows the plan
//! (`--dry-run` stops there), asks when it destroys something, then applies through
//! the same host and executor as `apply`.

use std::path::PathBuf;

use serde::Serialize;
use thinjail_core::apply::{apply_plan, ApplyEvent, ApplyFailure, ApplyReport};
use thinjail_core::confine::Confinement;
use thinjail_core::host::Host;
use thinjail_core::layout::Layout;
use thinjail_core::lock::HostLock;
use thinjail_core::pipeline::Plan;
use thinjail_core::quote::{terminal, terminal_line};
use thinjail_core::render;
use thinjail_core::stage::{Planned, Probes};
use thinjail_core::world::World;
use thinjail_core::Recipe;
use thinjail_core::Snapshot;

use super::apply::{describe_failure, failed, FailureView};
use super::{
    confirm, lock, observe, prepare, prepare_to_change, require_root, unobservable, Prepared,
};
use crate::args::{JailSelection, LifeOpts};
use crate::environment::Environment;
use crate::exit::{CliError, CONFIG, CONFLICTS, FAILURE, OK, SOFTWARE};
use crate::{progress, recipes};

/// What running a plan came to.
#[derive(Debug, PartialEq, Eq)]
enum Ran {
    Nothing,
    DryRun,
    Declined,
    Applied,
    Failed,
}

/// A recipe, a host, what it looks like now, and the lock when changing it.
struct Session {
    prepared: Prepared,
    host: Box<dyn Host>,
    world: World,
    _lock: Option<HostLock>,
    /// More paths to observe than the stages ask for (a command's own; in a jail's
    /// data, [`Probes::beneath`]).
    extra: Probes,
    /// Show plans on standard error (standard output is for `--json`).
    plan_to_stderr: bool,
    /// What the last apply reported (also when it failed).
    last_report: Option<ApplyReport>,
    /// How the last apply failed, if it did.
    last_failure: Option<Box<ApplyFailure>>,
}

impl Session {
    fn open(
        env: &Environment,
        plugins: &[PathBuf],
        recipe: Option<&str>,
        purpose: &str,
        changes_host: bool,
        wait: bool,
    ) -> Result<Session, CliError> {
        let spec = recipes::resolve(recipe);
        let prepared = if changes_host {
            prepare_to_change(env, plugins, &spec)?
        } else {
            prepare(env, plugins, &spec)?
        };
        let lock = if changes_host {
            require_root(env, purpose)?;
            Some(lock(
                &prepared.loaded.recipe,
                &format!("thinjail {purpose}"),
                wait,
            )?)
        } else {
            None
        };
        let host = env
            .hosts
            .host(&prepared.loaded.recipe, progress::for_stderr())
            .map_err(|e| CliError::new(SOFTWARE, e))?;
        let mut session = Session {
            prepared,
            host,
            world: World::empty(),
            _lock: lock,
            extra: Probes::default(),
            plan_to_stderr: false,
            last_report: None,
            last_failure: None,
        };
        session.refresh()?;
        Ok(session)
    }

    /// A session for a command that changes the host: root and the lock are needed,
    /// except for `--dry-run`, which only looks.
    fn changing(
        env: &Environment,
        plugins: &[PathBuf],
        opts: &LifeOpts,
        purpose: &str,
    ) -> Result<Session, CliError> {
        Session::open(
            env,
            plugins,
            opts.recipe.as_deref(),
            purpose,
            !opts.dry_run,
            opts.wait,
        )
    }

    fn recipe(&self) -> &Recipe {
        &self.prepared.loaded.recipe
    }

    /// Observes the host again (after a change).
    fn refresh(&mut self) -> Result<(), CliError> {
        self.world = observe(self.host.as_mut(), &self.prepared).map_err(unobservable)?;
        if self.extra != Probes::default() {
            let paths = self.host.read_paths(&self.extra).map_err(unobservable)?;
            self.world.paths.extend(paths);
        }
        Ok(())
    }

    fn plan_of(
        &self,
        command: &str,
        summary: &str,
        actions: Vec<Planned>,
    ) -> Result<Plan, CliError> {
        Ok(thinjail_lifecycle::plan(
            self.recipe(),
            &self.world,
            command,
            summary,
            actions,
        )?)
    }

    /// Shows the plan; with `question`, asks first; applies it.
    fn run(
        &mut self,
        command: &str,
        summary: &str,
        actions: Vec<Planned>,
        opts: &LifeOpts,
        question: Option<String>,
    ) -> Result<Ran, CliError> {
        let plan = self.plan_of(command, summary, actions)?;
        if plan.is_empty() {
            if self.plan_to_stderr {
                eprintln!("Nothing to do.");
            } else {
                println!("Nothing to do.");
            }
            return Ok(Ran::Nothing);
        }
        self.show(&plan);
        if opts.dry_run {
            return Ok(Ran::DryRun);
        }
        if let Some(question) = question {
            if !confirm(&question, opts.yes)? {
                eprintln!("thinjail: nothing was changed");
                return Ok(Ran::Declined);
            }
        }
        self.apply(&plan)
    }

    /// Shows a plan for people.
    fn show(&self, plan: &Plan) {
        let text = terminal(&render::text(plan, &self.prepared.loaded.origin));
        if self.plan_to_stderr {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }

    /// Warnings and notes the tools gave during the last apply, on standard error.
    fn tell_notes(&self) {
        if let Some(report) = &self.last_report {
            super::apply::tell_notes(report);
        }
    }

    fn apply(&mut self, plan: &Plan) -> Result<Ran, CliError> {
        let total = plan.len();
        let confinement = Confinement::new(&Layout::new(&self.prepared.loaded.recipe));
        let result = apply_plan(plan, self.host.as_mut(), &confinement, &mut |event| {
            if let ApplyEvent::Starting {
                index,
                stage,
                action,
                ..
            } = event
            {
                eprintln!(
                    "[{}/{total}] {}: {}",
                    index + 1,
                    terminal_line(stage),
                    terminal_line(&action.describe())
                );
            }
        });
        match result {
            Ok(report) => {
                self.last_report = Some(report);
                Ok(Ran::Applied)
            }
            Err(failure) => {
                eprintln!("{}", describe_failure(&failure));
                self.last_report = Some(failure.report.clone());
                self.last_failure = Some(failure);
                Ok(Ran::Failed)
            }
        }
    }
}

fn selected(session: &Session, which: &JailSelection) -> Vec<String> {
    if which.all {
        session
            .recipe()
            .jails
            .iter()
            .map(|j| j.name.clone())
            .collect()
    } else {
        which.jails.clone()
    }
}

fn exit_of(ran: Ran) -> u8 {
    if ran == Ran::Failed {
        FAILURE
    } else {
        OK
    }
}

/// `thinjail list`.
pub fn list(
    env: &Environment,
    plugins: &[PathBuf],
    recipe: Option<&str>,
    json: bool,
) -> Result<u8, CliError> {
    let session = Session::open(env, plugins, recipe, "list", false, false)?;
    let rows = thinjail_lifecycle::status(session.recipe(), &session.world);
    if json {
        #[derive(Serialize)]
        struct View<'a> {
            format_version: u32,
            recipe: &'a str,
            jails: &'a [thinjail_lifecycle::JailStatus],
        }
        let view = View {
            format_version: 1,
            recipe: &session.prepared.loaded.origin,
            jails: &rows,
        };
        super::print_json(&view)?;
        return Ok(OK);
    }
    if rows.is_empty() {
        println!("No jails: the recipe names none and thinjail manages none here.");
        return Ok(OK);
    }
    println!(
        "{:<16} {:<9} {:>5}  {:<16} {:<18} {:>8}  PATH",
        "NAME", "STATE", "JID", "RELEASE", "ADDRESSES", "USED"
    );
    for row in &rows {
        let addresses: Vec<&str> = row.ip4.iter().chain(&row.ip6).map(String::as_str).collect();
        let state = if row.state == thinjail_lifecycle::JailState::Orphaned && row.running {
            "orphaned*".to_string()
        } else {
            row.state.to_string()
        };
        // Names and paths come from jls(8) and the host's files: shown escaped.
        println!(
            "{:<16} {:<9} {:>5}  {:<16} {:<18} {:>8}  {}",
            terminal_line(&row.name),
            state,
            row.jid.map_or("-".to_string(), |j| j.to_string()),
            row.release.as_deref().unwrap_or("-"),
            if addresses.is_empty() {
                "-".to_string()
            } else {
                addresses.join(",")
            },
            row.used.map_or("-".to_string(), human_bytes),
            terminal_line(&row.path.display().to_string())
        );
    }
    if rows
        .iter()
        .any(|r| r.state == thinjail_lifecycle::JailState::Orphaned)
    {
        println!("\norphaned: made by thinjail, no longer in the recipe (* still running); `thinjail apply --prune` removes them, keeping their data");
    }
    for row in &rows {
        if let Some(foreign) = &row.foreign {
            println!(
                "\nforeign: a jail named {} runs (JID {}, path {}) that thinjail did not start; thinjail leaves it alone",
                row.name,
                foreign.jid,
                foreign.path.display()
            );
        }
    }
    Ok(OK)
}

/// Bytes as zfs(8) prints them (1024-based, one decimal).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

/// `thinjail start`.
pub fn start(
    env: &Environment,
    plugins: &[PathBuf],
    which: &JailSelection,
    opts: &LifeOpts,
    parallel: Option<std::num::NonZeroU32>,
) -> Result<u8, CliError> {
    let mut session = Session::changing(env, plugins, opts, "start")?;
    session.prepared.override_start_parallel(parallel);
    let jails = selected(&session, which);
    start_jails(&mut session, &jails, opts)
}

/// `thinjail stop`.
pub fn stop(
    env: &Environment,
    plugins: &[PathBuf],
    which: &JailSelection,
    opts: &LifeOpts,
    parallel: Option<std::num::NonZeroU32>,
    json: bool,
) -> Result<u8, CliError> {
    let mut session = Session::changing(env, plugins, opts, "stop")?;
    session.plan_to_stderr = json;
    session.prepared.override_start_parallel(parallel);
    let jails = selected(&session, which);
    let code = stop_jails(&mut session, &jails, opts)?;
    if json {
        session.refresh()?;
        let view = StopView {
            format_version: 1,
            recipe: &session.prepared.loaded.origin,
            jails: jails
                .iter()
                .map(|jail| StopRow {
                    jail,
                    state: if session.world.is_running(jail) {
                        "running"
                    } else {
                        "stopped"
                    },
                })
                .collect(),
            failed: session.last_failure.as_deref().map(failed),
        };
        super::print_json(&view)?;
    }
    Ok(code)
}

/// What `thinjail stop --json` prints.
#[derive(Serialize)]
struct StopView<'a> {
    format_version: u32,
    recipe: &'a str,
    /// Each jail asked for, with its state once the stop is over.
    jails: Vec<StopRow<'a>>,
    /// The action that failed, as `apply --json` reports it (a parallel stop's
    /// `jails` say how each of its jails ended).
    failed: Option<FailureView<'a>>,
}

/// One jail of `thinjail stop --json`.
#[derive(Serialize)]
struct StopRow<'a> {
    jail: &'a str,
    /// `stopped` or `running`.
    state: &'static str,
}

/// Starts those of `jails` that are not running.
fn start_jails(session: &mut Session, jails: &[String], opts: &LifeOpts) -> Result<u8, CliError> {
    let actions = thinjail_lifecycle::plan_start(session.recipe(), &session.world, jails)
        .map_err(CliError::from)?;
    Ok(exit_of(session.run(
        "start",
        "start jails",
        actions,
        opts,
        None,
    )?))
}

/// Stops `jails`, then unmounts whatever they left; fails naming any mount that stays.
fn stop_jails(session: &mut Session, jails: &[String], opts: &LifeOpts) -> Result<u8, CliError> {
    let actions = thinjail_lifecycle::plan_stop(session.recipe(), &session.world, jails)
        .map_err(CliError::from)?;
    let ran = session.run(
        "stop",
        "stop jails and unmount what they leave",
        actions,
        opts,
        None,
    )?;
    if matches!(ran, Ran::DryRun | Ran::Failed | Ran::Declined) {
        return Ok(exit_of(ran));
    }
    session.refresh()?;
    let leftovers = thinjail_lifecycle::plan_stop(session.recipe(), &session.world, jails)
        .map_err(CliError::from)?;
    if !leftovers.is_empty() {
        eprintln!("thinjail: mounts were left behind; unmounting them");
        if session.run("stop", "unmount what the jails left", leftovers, opts, None)? == Ran::Failed
        {
            return Ok(FAILURE);
        }
        session.refresh()?;
    }
    let layout = Layout::new(session.recipe());
    let mut still: Vec<String> = Vec::new();
    for jail in jails {
        still.extend(
            thinjail_lifecycle::leftover_mounts(&layout, &session.world, jail)
                .iter()
                .map(|m| m.target.display().to_string()),
        );
    }
    if !still.is_empty() {
        return Err(CliError::msg(
            FAILURE,
            format!("still mounted after stopping: {}", still.join(", ")),
        ));
    }
    Ok(OK)
}

/// `thinjail restart`.
pub fn restart(
    env: &Environment,
    plugins: &[PathBuf],
    which: &JailSelection,
    opts: &LifeOpts,
    parallel: Option<std::num::NonZeroU32>,
) -> Result<u8, CliError> {
    let mut session = Session::changing(env, plugins, opts, "restart")?;
    session.prepared.override_start_parallel(parallel);
    let jails = selected(&session, which);
    let stopped = stop_jails(&mut session, &jails, opts)?;
    if stopped != OK || opts.dry_run {
        return Ok(stopped);
    }
    start_jails(&mut session, &jails, opts)
}

/// `thinjail exec` and `thinjail console`: exits with the command's status.
pub fn exec(
    env: &Environment,
    plugins: &[PathBuf],
    jail: &str,
    argv: &[String],
    opts: &LifeOpts,
) -> Result<u8, CliError> {
    let mut session = Session::open(env, plugins, opts.recipe.as_deref(), "exec", false, false)?;
    thinjail_lifecycle::require_managed(session.recipe(), &session.world, &[jail.to_string()])
        .map_err(CliError::from)?;
    if !session.world.is_running(jail) {
        return Err(CliError::msg(
            CONFIG,
            format!("jail {jail} is not running (`thinjail start {jail}`)"),
        ));
    }
    let action = thinjail_core::Action::ExecInJail {
        jail: jail.to_string(),
        argv: argv.to_vec(),
    };
    if opts.dry_run {
        println!("{}", action.sh_lines().join("\n"));
        return Ok(OK);
    }
    let status = session
        .host
        .exec_interactive(jail, argv)
        .map_err(|e| CliError::msg(FAILURE, e))?;
    Ok(u8::try_from(status).unwrap_or(FAILURE))
}

/// `thinjail destroy`.
pub fn destroy(
    env: &Environment,
    plugins: &[PathBuf],
    jail: &str,
    with_data: bool,
    datasets: &[String],
    opts: &LifeOpts,
) -> Result<u8, CliError> {
    let mut session = Session::changing(env, plugins, opts, "destroy")?;
    let names = [jail.to_string()];
    let (stop_actions, mut preview) = thinjail_lifecycle::plan_destroy_preview(
        session.recipe(),
        &session.world,
        jail,
        with_data,
    )?;
    preview.extend(thinjail_lifecycle::datasets::plan_destroy_delegated(
        session.recipe(),
        &session.world,
        jail,
        datasets,
    )?);
    let everything: Vec<Planned> = stop_actions.iter().cloned().chain(preview).collect();
    let plan = session.plan_of("destroy", "remove the jail", everything)?;
    print!(
        "{}",
        terminal(&render::text(&plan, &session.prepared.loaded.origin))
    );
    if session.recipe().jail(jail).is_some() {
        eprintln!("thinjail: jail {jail} is still in the recipe: the next `thinjail apply` creates it again");
    }
    if opts.dry_run {
        return Ok(OK);
    }
    let question = if with_data {
        format!("\nDestroy jail {jail} AND its data (datasets and snapshots, gone for good)?")
    } else {
        format!("\nDestroy jail {jail} (its data dataset is kept)?")
    };
    if !confirm(&question, opts.yes)? {
        eprintln!("thinjail: nothing was changed");
        return Ok(OK);
    }
    let quiet = LifeOpts {
        recipe: None,
        dry_run: false,
        yes: true,
        wait: false,
    };
    if !stop_actions.is_empty() && stop_jails(&mut session, &names, &quiet)? != OK {
        return Ok(FAILURE);
    }
    session.refresh()?;
    let mut actions =
        thinjail_lifecycle::plan_destroy(session.recipe(), &session.world, jail, with_data)
            .map_err(CliError::from)?;
    actions.extend(
        thinjail_lifecycle::datasets::plan_destroy_delegated(
            session.recipe(),
            &session.world,
            jail,
            datasets,
        )
        .map_err(CliError::from)?,
    );
    let plan = session.plan_of("destroy", "remove the jail", actions)?;
    Ok(exit_of(session.apply(&plan)?))
}

/// `thinjail destroy-release`.
pub fn destroy_release(
    env: &Environment,
    plugins: &[PathBuf],
    release: &str,
    opts: &LifeOpts,
) -> Result<u8, CliError> {
    thinjail_lifecycle::check_name(release, thinjail_core::validate::check_release_name)?;
    let mut session = Session::changing(env, plugins, opts, "destroy-release")?;
    let actions =
        thinjail_lifecycle::plan_destroy_release(session.recipe(), &session.world, release)
            .map_err(CliError::from)?;
    if session.recipe().release(release).is_some() {
        eprintln!("thinjail: release {release} is still in the recipe: the next `thinjail apply` installs it again");
    }
    let question = Some(format!("\nDestroy the base and template of {release}?"));
    Ok(exit_of(session.run(
        "destroy-release",
        "remove a release's base and template",
        actions,
        opts,
        question,
    )?))
}

/// `thinjail snapshot`.
pub fn snapshot(
    env: &Environment,
    plugins: &[PathBuf],
    jail: &str,
    name: Option<&str>,
    opts: &LifeOpts,
) -> Result<u8, CliError> {
    let mut session = Session::changing(env, plugins, opts, "snapshot")?;
    let name = name.map_or_else(|| format!("thinjail-{}", utc_stamp()), String::from);
    let actions = thinjail_lifecycle::plan_snapshot(session.recipe(), &session.world, jail, &name)
        .map_err(CliError::from)?;
    Ok(exit_of(session.run(
        "snapshot",
        "snapshot the jail's data",
        actions,
        opts,
        None,
    )?))
}

/// `thinjail rollback`.
pub fn rollback(
    env: &Environment,
    plugins: &[PathBuf],
    jail: &str,
    name: &str,
    opts: &LifeOpts,
) -> Result<u8, CliError> {
    let mut session = Session::changing(env, plugins, opts, "rollback")?;
    let actions = thinjail_lifecycle::plan_rollback(session.recipe(), &session.world, jail, name)
        .map_err(CliError::from)?;
    let question = Some(format!("\nRoll jail {jail}'s data back to @{name}?"));
    Ok(exit_of(session.run(
        "rollback",
        "return the jail's data to a snapshot",
        actions,
        opts,
        question,
    )?))
}

/// `thinjail snapshots`.
pub fn snapshots(
    env: &Environment,
    plugins: &[PathBuf],
    jail: &str,
    recipe: Option<&str>,
    json: bool,
) -> Result<u8, CliError> {
    let session = Session::open(env, plugins, recipe, "snapshots", false, false)?;
    thinjail_lifecycle::require_managed(session.recipe(), &session.world, &[jail.to_string()])
        .map_err(CliError::from)?;
    let list = thinjail_lifecycle::snapshots(session.recipe(), &session.world, jail);
    if json {
        let rows: Vec<serde_json::Value> = list
            .iter()
            .map(|(name, used, creation)| serde_json::json!({"name": name, "used": used, "creation": creation}))
            .collect();
        let view = serde_json::json!({"format_version": 1, "jail": jail, "snapshots": rows});
        super::print_json(&view)?;
        return Ok(OK);
    }
    if list.is_empty() {
        println!("Jail {jail} has no snapshots.");
        return Ok(OK);
    }
    println!("{:<40} {:>8}  CREATED (UTC)", "NAME", "USED");
    for (name, used, creation) in list {
        println!(
            "{:<40} {:>8}  {}",
            terminal_line(&name),
            human_bytes(used),
            format_utc(creation)
        );
    }
    Ok(OK)
}

/// `thinjail update`.
pub fn update(
    env: &Environment,
    plugins: &[PathBuf],
    release: &str,
    undo: bool,
    restart: bool,
    opts: &LifeOpts,
) -> Result<u8, CliError> {
    thinjail_lifecycle::check_name(release, thinjail_core::validate::check_release_name)?;
    let mut session = Session::changing(env, plugins, opts, "update")?;
    session.extra = thinjail_lifecycle::update_probes(session.recipe(), release);
    session.refresh()?;
    let (actions, question) = if undo {
        let actions = thinjail_lifecycle::plan_update_rollback(
            session.recipe(),
            &session.world,
            release,
            restart,
        )
        .map_err(CliError::from)?;
        (
            actions,
            Some(format!(
                "\nRoll the {release} base back to before its last update?"
            )),
        )
    } else {
        let actions = thinjail_lifecycle::plan_update(
            session.recipe(),
            &session.world,
            release,
            &utc_stamp(),
            restart,
        )
        .map_err(CliError::from)?;
        (actions, None)
    };
    let users = thinjail_lifecycle::running_users(session.recipe(), &session.world, release);
    let ran = session.run(
        "update",
        "update a release's base for all its jails",
        actions,
        opts,
        question,
    )?;
    session.tell_notes();
    if !restart && !users.is_empty() && ran == Ran::Applied {
        println!(
            "Restart these jails to run the changed base: {}",
            users.join(" ")
        );
    }
    Ok(exit_of(ran))
}

/// What `thinjail upgrade --json` prints.
#[derive(Serialize)]
struct UpgradeView<'a> {
    format_version: u32,
    jail: &'a str,
    /// `upgraded`, `conflicts` (upgraded, with files etcupdate could not merge),
    /// `baseline-recorded`, `baseline-present`, `nothing` (dry run or declined),
    /// `failed`.
    result: &'a str,
    from: Option<&'a str>,
    to: Option<&'a str>,
    /// The data snapshot from before the upgrade, kept.
    snapshot: Option<String>,
    conflicts: &'a [String],
    /// The command that resolves the conflicts, inside the jail.
    resolve: Option<String>,
    warnings: Vec<String>,
    /// The action that failed, as `apply --json` reports it (`result` `failed`).
    failed: Option<FailureView<'a>>,
    /// After a failure: whether the jail was put back as it was.
    undone: Option<bool>,
}

impl<'a> UpgradeView<'a> {
    /// A result with nothing else to report; callers add what they have.
    fn new(jail: &'a str, result: &'a str, from: Option<&'a str>, to: Option<&'a str>) -> Self {
        UpgradeView {
            format_version: 1,
            jail,
            result,
            from,
            to,
            snapshot: None,
            conflicts: &[],
            resolve: None,
            warnings: Vec::new(),
            failed: None,
            undone: None,
        }
    }
}

/// Checks a jail name before it is used in a path.
fn valid_jail(jail: &str) -> Result<(), CliError> {
    Ok(thinjail_lifecycle::check_name(
        jail,
        thinjail_core::validate::check_jail_name,
    )?)
}

/// `thinjail upgrade`.
pub fn upgrade(
    env: &Environment,
    plugins: &[PathBuf],
    jail: &str,
    to: &str,
    json: bool,
    opts: &LifeOpts,
) -> Result<u8, CliError> {
    valid_jail(jail)?;
    let mut session = Session::changing(env, plugins, opts, "upgrade")?;
    session.plan_to_stderr = json;
    session
        .extra
        .merge(thinjail_lifecycle::jail_probes(session.recipe(), jail));
    session.refresh()?;
    let upgrade =
        thinjail_lifecycle::plan_upgrade(session.recipe(), &session.world, jail, to, &utc_stamp())
            .map_err(CliError::from)?;
    let question = Some(format!("\nMove jail {jail} to {to}?"));
    let ran = session.run(
        "upgrade",
        "move a jail to another release",
        upgrade.steps.clone(),
        opts,
        question,
    )?;
    match ran {
        Ran::Failed => {
            let failure = session.last_failure.take();
            session.refresh()?;
            let undo = thinjail_lifecycle::plan_upgrade_undo(
                session.recipe(),
                &session.world,
                jail,
                &upgrade,
            );
            eprintln!("thinjail: the upgrade failed; putting jail {jail} back as it was");
            let plan = session.plan_of(
                "upgrade-undo",
                "restore the jail's fstab, data and state",
                undo,
            )?;
            eprint!(
                "{}",
                terminal(&render::text(&plan, &session.prepared.loaded.origin))
            );
            let undone = session.apply(&plan)? != Ran::Failed;
            if json {
                super::print_json(&UpgradeView {
                    failed: failure.as_deref().map(failed),
                    undone: Some(undone),
                    ..UpgradeView::new(jail, "failed", Some(&upgrade.from), Some(to))
                })?;
            }
            if undone {
                Err(CliError::msg(
                    FAILURE,
                    format!(
                        "the upgrade failed; jail {jail} is back as it was (fstab, data, state)"
                    ),
                ))
            } else {
                Err(CliError::msg(
                    FAILURE,
                    format!("the upgrade failed and so did restoring jail {jail}; see above"),
                ))
            }
        }
        Ran::Applied => {
            session.tell_notes();
            let notes: Vec<_> = session
                .last_report
                .iter()
                .flat_map(|r| &r.notes)
                .map(|(_, n)| n)
                .collect();
            let conflicts: Vec<String> = notes.iter().flat_map(|n| n.conflicts.clone()).collect();
            let warnings: Vec<String> = notes.iter().flat_map(|n| n.warnings.clone()).collect();
            let resolve = format!("jexec {jail} etcupdate resolve");
            let snapshot = Snapshot::new(
                &Layout::new(session.recipe()).data_dataset(jail),
                &upgrade.done_snapshot,
            )
            .to_string();
            if json {
                let result = if conflicts.is_empty() {
                    "upgraded"
                } else {
                    "conflicts"
                };
                super::print_json(&UpgradeView {
                    snapshot: Some(snapshot),
                    conflicts: &conflicts,
                    resolve: (!conflicts.is_empty()).then(|| resolve.clone()),
                    warnings,
                    ..UpgradeView::new(jail, result, Some(&upgrade.from), Some(to))
                })?;
            } else {
                report_upgrade(jail, to, &conflicts, &resolve, &snapshot);
            }
            let index = session.recipe().jails.iter().position(|j| j.name == jail);
            if let Some(i) = index.filter(|&i| session.recipe().jails[i].release != to) {
                eprintln!("thinjail: set jails[{i}].release to \"{to}\" in the recipe so `thinjail apply` agrees.");
            }
            Ok(if conflicts.is_empty() { OK } else { CONFLICTS })
        }
        other => {
            if json {
                super::print_json(&UpgradeView::new(
                    jail,
                    "nothing",
                    Some(&upgrade.from),
                    Some(to),
                ))?;
            }
            Ok(exit_of(other))
        }
    }
}

/// The outcome of an upgrade for people, on standard output.
fn report_upgrade(jail: &str, to: &str, conflicts: &[String], resolve: &str, snapshot: &str) {
    if conflicts.is_empty() {
        println!("Jail {jail} now runs {to}; its files were merged with {to}'s.");
        return;
    }
    println!(
        "Jail {jail} now runs {to}, but etcupdate could not merge {} file{}; the jail keeps its own version of {}:",
        conflicts.len(),
        if conflicts.len() == 1 { "" } else { "s" },
        if conflicts.len() == 1 { "it" } else { "each" },
    );
    for file in conflicts {
        println!("  C {file}");
    }
    println!(
        "The merged versions, with conflict markers, are in the jail's /var/db/etcupdate/conflicts.\n\
         Resolve them inside the jail: {resolve} (or: thinjail exec {jail} -- etcupdate resolve).\n\
         Until they are resolved, etcupdate in this jail refuses to merge again (\"Conflicts remain\").\n\
         The jail's data from before the upgrade is kept as {snapshot}."
    );
}

/// `thinjail upgrade JAIL --bootstrap-baseline`.
pub fn bootstrap_baseline(
    env: &Environment,
    plugins: &[PathBuf],
    jail: &str,
    json: bool,
    opts: &LifeOpts,
) -> Result<u8, CliError> {
    valid_jail(jail)?;
    let mut session = Session::changing(env, plugins, opts, "upgrade")?;
    session.plan_to_stderr = json;
    session
        .extra
        .merge(thinjail_lifecycle::jail_probes(session.recipe(), jail));
    session.refresh()?;
    let steps = thinjail_lifecycle::plan_bootstrap_baseline(session.recipe(), &session.world, jail)
        .map_err(CliError::from)?;
    let was_running = session.world.is_running(jail);
    let release = thinjail_lifecycle::release_of(session.recipe(), &session.world, jail);
    let view = |result| UpgradeView::new(jail, result, release.as_deref(), None);
    if steps.is_empty() {
        if json {
            super::print_json(&view("baseline-present"))?;
        } else {
            println!("Jail {jail} already has its etcupdate baseline: nothing to do.");
        }
        return Ok(OK);
    }
    let ran = session.run(
        "upgrade",
        "record a jail's etcupdate baseline, inside the jail",
        steps,
        opts,
        None,
    )?;
    match ran {
        Ran::Failed => {
            let failure = session.last_failure.take();
            session.refresh()?;
            let mut undone = true;
            if !was_running && session.world.is_running(jail) {
                eprintln!("thinjail: stopping jail {jail} again, as it was");
                let stop = thinjail_lifecycle::plan_stop(
                    session.recipe(),
                    &session.world,
                    &[jail.to_string()],
                )
                .map_err(CliError::from)?;
                let plan = session.plan_of("upgrade-undo", "stop the jail again", stop)?;
                undone = session.apply(&plan)? != Ran::Failed;
            }
            if json {
                super::print_json(&UpgradeView {
                    failed: failure.as_deref().map(failed),
                    undone: Some(undone),
                    ..view("failed")
                })?;
            }
            Err(CliError::msg(
                FAILURE,
                format!("recording jail {jail}'s etcupdate baseline failed; see above"),
            ))
        }
        Ran::Applied => {
            if json {
                super::print_json(&view("baseline-recorded"))?;
            } else {
                println!(
                    "Jail {jail}'s etcupdate baseline is recorded ({}): `thinjail upgrade {jail} --to RELEASE` can merge its files now.",
                    release.as_deref().unwrap_or("its release")
                );
            }
            Ok(OK)
        }
        other => {
            if json {
                super::print_json(&view("nothing"))?;
            }
            Ok(exit_of(other))
        }
    }
}

/// Now as `YYYYMMDD-HHMMSS` (UTC), for snapshot names.
pub fn utc_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d, hh, mm, ss) = civil(secs);
    format!("{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}")
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_utc(secs: u64) -> String {
    let (y, m, d, hh, mm, ss) = civil(secs);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
}

/// Civil date and time of a Unix time (Howard Hinnant's days-from-civil inverse).
fn civil(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1_796_000_000), "2026-11-30 00:53:20");
        assert_eq!(human_bytes(253_952), "248.0K");
        assert_eq!(human_bytes(12), "12B");
    }
}
