//! Applying a plan: [`apply_plan`] drives any [`Host`] through a [`Plan`]'s actions
//! in order, checks each against the [`Confinement`] just before it runs, and stops
//! at the first failure, reporting what did not run.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::action::Action;
use crate::confine::Confinement;
use crate::host::{ActionNotes, Host, HostError};
use crate::pipeline::Plan;

/// What happened while applying.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ApplyReport {
    /// Actions carried out, with their stage.
    pub applied: Vec<(String, Action)>,
    /// Host commands run.
    pub commands: usize,
    /// What the tools of some actions said beyond success, by the action's position
    /// in `applied`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<(usize, ActionNotes)>,
    /// Wall time.
    #[serde(serialize_with = "as_secs")]
    pub duration: Duration,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// An apply that stopped at a failing action.
#[derive(Debug, thiserror::Error)]
#[error("stage {stage}: {} failed: {error}", .action.describe())]
pub struct ApplyFailure {
    /// Stage of the failing action.
    pub stage: String,
    /// The failing action.
    pub action: Action,
    /// Why it failed.
    pub error: HostError,
    /// What was done before it.
    pub report: ApplyReport,
    /// What did not run (the failing action excluded).
    pub not_run: Vec<(String, Action)>,
}

/// Progress of an apply, for front ends.
pub enum ApplyEvent<'a> {
    /// Action `index` (0-based) of `total` is about to run.
    Starting {
        /// Position.
        index: usize,
        /// Number of actions.
        total: usize,
        /// Stage.
        stage: &'a str,
        /// The action.
        action: &'a Action,
    },
    /// It finished successfully.
    Done {
        /// Position.
        index: usize,
        /// The action.
        action: &'a Action,
    },
}

/// Applies every action of `plan` in order through `host`, stopping at the first
/// failure. Just before each action, `confinement` looks at the paths it touches
/// as they are on the host now (see [`Confinement::check_before_apply`]) and
/// refuses one that would go through a symbolic link. `on_event` sees each action
/// start and finish.
pub fn apply_plan(
    plan: &Plan,
    host: &mut dyn Host,
    confinement: &Confinement,
    on_event: &mut dyn FnMut(ApplyEvent<'_>),
) -> Result<ApplyReport, Box<ApplyFailure>> {
    let started = Instant::now();
    let commands_before = host.commands_run();
    let all: Vec<(&str, &Action)> = plan
        .actions()
        .map(|(stage, p)| (stage, &p.action))
        .collect();
    let total = all.len();
    let mut report = ApplyReport::default();
    for (index, (stage, action)) in all.iter().enumerate() {
        on_event(ApplyEvent::Starting {
            index,
            total,
            stage,
            action,
        });
        tracing::info!(stage, "{}", action.describe());
        let outcome = confinement
            .check_before_apply(action)
            .map_err(HostError::Confinement)
            .and_then(|()| host.apply_noting(action));
        let notes = match outcome {
            Ok(notes) => notes,
            Err(error) => {
                report.commands = host.commands_run() - commands_before;
                report.duration = started.elapsed();
                let not_run = all[index + 1..]
                    .iter()
                    .map(|(s, a)| (s.to_string(), (*a).clone()))
                    .collect();
                return Err(Box::new(ApplyFailure {
                    stage: stage.to_string(),
                    action: (*action).clone(),
                    error,
                    report,
                    not_run,
                }));
            }
        };
        if !notes.is_empty() {
            report.notes.push((report.applied.len(), notes));
        }
        report.applied.push((stage.to_string(), (*action).clone()));
        on_event(ApplyEvent::Done { index, action });
    }
    report.commands = host.commands_run() - commands_before;
    report.duration = started.elapsed();
    Ok(report)
}
