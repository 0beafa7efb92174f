//! `thinjail apply`

use std::path::PathBuf;

use serde::Serialize;
use thinjail_core::action::Action;
use thinjail_core::apply::{apply_plan, ApplyEvent, ApplyFailure, ApplyReport};
use thinjail_core::confine::Confinement;
use thinjail_core::host::HostError;
use thinjail_core::layout::Layout;
use thinjail_core::quote::{terminal, terminal_line};
use thinjail_core::render;

use super::{confirm, lock, make_plan, observe, prepare_to_change, require_root, unobservable};
use crate::environment::Environment;
use crate::exit::{CliError, FAILURE, OK, SOFTWARE};
use crate::progress;

/// Version of `apply --json`'s schema.
pub const APPLY_FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
pub(crate) struct AppliedAction<'a> {
    stage: &'a str,
    description: String,
    #[serde(flatten)]
    action: &'a Action,
}

/// A failed action for `--json` (`apply`'s `failed`, and `upgrade`'s). What came
/// from the host (the error, the command's output) is escaped as for a terminal
/// ([`terminal`]): programs print these.
#[derive(Serialize)]
pub(crate) struct FailureView<'a> {
    stage: &'a str,
    description: String,
    action: &'a Action,
    error: String,
    command: Option<String>,
    status: Option<&'a str>,
    stdout: Option<String>,
    stderr: Option<String>,
    not_run: Vec<AppliedAction<'a>>,
    /// A parallel start or stop that failed: how each of its jails ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    jails: Option<Vec<JailStartView>>,
}

/// One jail of a parallel start or stop that failed.
#[derive(Serialize)]
pub(crate) struct JailStartView {
    jail: String,
    /// `started` (a start), `stopped` (a stop), `failed` or `skipped`.
    result: &'static str,
    /// Why it failed, or the jail that did not start (it depends on it) or did not
    /// stop (it depends on this one).
    why: Option<String>,
}

fn jail_starts(error: &HostError) -> Option<Vec<JailStartView>> {
    use thinjail_core::resources::order::StartOutcome;
    use thinjail_core::resources::order::StopOutcome;
    let view = |jail: &String, result, why: Option<&String>| JailStartView {
        jail: terminal(jail),
        result,
        why: why.map(|w| terminal(w)),
    };
    match error {
        HostError::JailStarts(report) => Some(
            report
                .outcomes
                .iter()
                .map(|(jail, outcome)| match outcome {
                    StartOutcome::Started => view(jail, "started", None),
                    StartOutcome::Failed(why) => view(jail, "failed", Some(why)),
                    StartOutcome::Skipped(dep) => view(jail, "skipped", Some(dep)),
                })
                .collect(),
        ),
        HostError::JailStops(report) => Some(
            report
                .outcomes
                .iter()
                .map(|(jail, outcome)| match outcome {
                    StopOutcome::Stopped => view(jail, "stopped", None),
                    StopOutcome::Failed(why) => view(jail, "failed", Some(why)),
                    StopOutcome::Skipped(dependent) => view(jail, "skipped", Some(dependent)),
                })
                .collect(),
        ),
        _ => None,
    }
}

#[derive(Serialize)]
struct ApplyView<'a> {
    format_version: u32,
    recipe: &'a str,
    changed: bool,
    applied: Vec<AppliedAction<'a>>,
    failed: Option<FailureView<'a>>,
    commands: usize,
    seconds: f64,
}

fn applied(report: &ApplyReport) -> Vec<AppliedAction<'_>> {
    report
        .applied
        .iter()
        .map(|(stage, action)| AppliedAction {
            stage,
            description: action.describe(),
            action,
        })
        .collect()
}

/// How `apply` runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplyOptions {
    /// Do not ask.
    pub yes: bool,
    /// Wait for the lock.
    pub wait: bool,
    /// JSON output.
    pub json: bool,
    /// Remove orphaned jails (keeping their data).
    pub prune: bool,
    /// `--parallel N`: the recipe's `host.start_parallel` for this run.
    pub parallel: Option<std::num::NonZeroU32>,
}

/// Makes the host match the recipe.
pub fn apply(
    env: &Environment,
    plugins: &[PathBuf],
    spec: &str,
    options: ApplyOptions,
) -> Result<u8, CliError> {
    let ApplyOptions {
        yes,
        wait,
        json,
        prune,
        parallel,
    } = options;
    let mut prepared = prepare_to_change(env, plugins, spec)?;
    prepared.override_start_parallel(parallel);
    let recipe = &prepared.loaded.recipe;
    let origin = prepared.loaded.origin.clone();
    require_root(env, "apply")?;
    let _lock = lock(recipe, &format!("thinjail apply {origin}"), wait)?;
    let reporter = if json {
        progress::silent()
    } else {
        progress::for_stderr()
    };
    let mut host = env
        .hosts
        .host(recipe, reporter)
        .map_err(|e| CliError::new(SOFTWARE, e))?;
    let world = observe(host.as_mut(), &prepared).map_err(unobservable)?;
    let mut plan = make_plan(&prepared, &world)?;
    let orphans = thinjail_lifecycle::orphans(recipe, &world);
    if prune {
        if let Some(stage) = thinjail_lifecycle::plan_prune(recipe, &world, &plan)? {
            plan.stages.push(stage);
        }
    }
    if !prune && !json {
        for orphan in orphans.iter().map(|o| terminal_line(o)) {
            eprintln!(
                "thinjail: jail {orphan} is orphaned (made by thinjail, no longer in the recipe): left alone; \
                 `thinjail apply --prune` removes it and keeps its data, `thinjail destroy {orphan}` removes it alone"
            );
        }
    }
    if plan.is_empty() {
        if json {
            super::print_json(&ApplyView {
                format_version: APPLY_FORMAT_VERSION,
                recipe: &origin,
                changed: false,
                applied: vec![],
                failed: None,
                commands: host.commands_run(),
                seconds: 0.0,
            })?;
        } else {
            println!(
                "Nothing to do: {} already matches {origin}.",
                env.hosts.describe()
            );
        }
        return Ok(OK);
    }
    if !json {
        // Escaped: nothing in the plan (a value, a plugin's note) may hide a line of it.
        print!("{}", terminal(&render::text(&plan, &origin)));
    }
    if !confirm(
        &format!(
            "\nApply these {} actions to {}?",
            plan.len(),
            env.hosts.describe()
        ),
        yes,
    )? {
        eprintln!("thinjail: nothing was changed");
        return Ok(OK);
    }
    let total = plan.len();
    let confinement = Confinement::new(&Layout::new(recipe));
    let result = apply_plan(&plan, host.as_mut(), &confinement, &mut |event| {
        if let ApplyEvent::Starting {
            index,
            stage,
            action,
            ..
        } = event
        {
            if !json {
                eprintln!(
                    "[{}/{total}] {}: {}",
                    index + 1,
                    terminal_line(stage),
                    terminal_line(&action.describe())
                );
            }
        }
    });
    match result {
        Ok(report) => {
            if !json {
                tell_notes(&report);
            }
            if json {
                super::print_json(&ApplyView {
                    format_version: APPLY_FORMAT_VERSION,
                    recipe: &origin,
                    changed: true,
                    applied: applied(&report),
                    failed: None,
                    commands: report.commands,
                    seconds: report.duration.as_secs_f64(),
                })?;
            } else {
                println!(
                    "Applied {} action{} in {} stage{} ({} commands, {:.1} s).",
                    report.applied.len(),
                    if report.applied.len() == 1 { "" } else { "s" },
                    plan.busy_stages().len(),
                    if plan.busy_stages().len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    report.commands,
                    report.duration.as_secs_f64()
                );
            }
            Ok(OK)
        }
        Err(failure) => {
            if json {
                super::print_json(&failure_view(&origin, &failure))?;
            } else {
                eprintln!("{}", describe_failure(&failure));
            }
            Ok(FAILURE)
        }
    }
}

/// What the tools of an apply said beyond success (a release past its end of life,
/// nothing to install), on standard error.
pub fn tell_notes(report: &ApplyReport) {
    for (_, notes) in &report.notes {
        for warning in &notes.warnings {
            eprintln!("thinjail: warning: {warning}");
        }
        for note in &notes.notes {
            eprintln!("thinjail: {note}");
        }
    }
}

fn failure_view<'a>(origin: &'a str, failure: &'a ApplyFailure) -> ApplyView<'a> {
    ApplyView {
        format_version: APPLY_FORMAT_VERSION,
        recipe: origin,
        changed: !failure.report.applied.is_empty(),
        applied: applied(&failure.report),
        failed: Some(failed(failure)),
        commands: failure.report.commands,
        seconds: failure.report.duration.as_secs_f64(),
    }
}

/// The `failed` member of a `--json` document for `failure`.
pub(crate) fn failed(failure: &ApplyFailure) -> FailureView<'_> {
    let (command, status, stdout, stderr) = match &failure.error {
        HostError::CommandFailed {
            command,
            status,
            stdout,
            stderr,
        } => (
            Some(terminal(command)),
            Some(status.as_str()),
            Some(terminal(stdout)),
            Some(terminal(stderr)),
        ),
        _ => (None, None, None, None),
    };
    FailureView {
        stage: &failure.stage,
        description: failure.action.describe(),
        action: &failure.action,
        error: terminal(&failure.error.to_string()),
        command,
        status,
        stdout,
        stderr,
        not_run: failure
            .not_run
            .iter()
            .map(|(stage, action)| AppliedAction {
                stage,
                description: action.describe(),
                action,
            })
            .collect(),
        jails: jail_starts(&failure.error),
    }
}

/// The failure report for people: the failing command, its status, the end of its
/// standard error and standard output, what was done and what did not run. Escaped
/// for the terminal ([`terminal`]): the output may come from a jail.
pub fn describe_failure(failure: &ApplyFailure) -> String {
    terminal(&failure_report(failure))
}

fn failure_report(failure: &ApplyFailure) -> String {
    let mut out = format!(
        "thinjail: stage {}: {} failed\n",
        failure.stage,
        failure.action.describe()
    );
    match &failure.error {
        HostError::CommandFailed {
            command,
            status,
            stdout,
            stderr,
        } => {
            out.push_str(&format!(
                "  command: {}\n  status:  {status}\n",
                terminal_line(command)
            ));
            for (name, text) in [("stderr", stderr), ("stdout", stdout)] {
                let text = text.trim_end();
                if text.trim().is_empty() {
                    out.push_str(&format!("  {name}:  (empty)\n"));
                } else {
                    out.push_str(&format!("  {name}:\n"));
                    for line in text.lines() {
                        out.push_str(&format!("    {line}\n"));
                    }
                }
            }
        }
        other => out.push_str(&format!("  error:   {other}\n")),
    }
    out.push_str(&format!(
        "{} action{} completed before it; run `thinjail apply` again once the cause is fixed to finish the work.\n",
        failure.report.applied.len(),
        if failure.report.applied.len() == 1 { "" } else { "s" }
    ));
    if failure.not_run.is_empty() {
        out.push_str("Nothing else was left to run.");
    } else {
        out.push_str(&format!("Not run ({}):", failure.not_run.len()));
        for (stage, action) in &failure.not_run {
            out.push_str(&format!("\n  {stage}: {}", action.describe()));
        }
    }
    out
}
