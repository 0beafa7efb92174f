//! Hosts apply actions; nothing else in thinjail changes a machine.
//!
//! - [`FreeBsdHost`] runs each action's real commands as argv (never `sh -c`), with
//!   `zfs send | zfs receive` as a real pipe whose two exit statuses are both checked.
//! - [`ScriptHost`] only renders: it collects the POSIX sh of what it is given.
//! - Test hosts (the Linux test bed) live in the workspace's `tests` crate and reuse
//!   [`FreeBsdHost`]'s building blocks.
//!
//! [`apply_plan`] drives any host through a plan and stops at the first failure,
//! reporting what did not run.
//!
//! Host-side plumbing every host shares: [`spawn`] (commands by absolute path with a
//! clean environment), [`safe_fs`] (file access that never follows a symbolic link),
//! [`guard`] (a private download cache, no native writes into a jail's files).

mod beneath;
pub mod guard;
mod judge;
mod listing;
mod parse;
pub mod safe_fs;
mod script;
pub mod spawn;
mod system;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::action::Action;
use crate::confine::Confinement;
use crate::pipeline::Plan;
use crate::stage::Probes;
use crate::world::{PathState, World};

pub use beneath::{observe_beneath, record_beneath, Beneath};
pub use guard::HostGuards;
pub use judge::{is_judged, judge, ActionNotes, Exit};
pub use listing::{merge_observed, observe_listed, Listing};
pub use parse::{parse_jls, parse_mount_p, parse_proc_mountinfo, parse_zfs_get};
pub use script::ScriptHost;
pub use system::{
    apply_native, manifest_file_count, manifest_sha256, observe_paths, sha256_file,
    write_atomically, zfs_get_command, CommandOutput, FreeBsdHost, NoProgress, Progress,
    ProgressTask, ZFS_PROPERTIES,
};

/// What to observe: the jails dataset's datasets, mounts, running jails, and the
/// paths stages asked about.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ObservationRequest {
    /// The pool (observed alone only when the jails dataset does not exist yet).
    pub pool: String,
    /// The dataset whose tree (datasets and snapshots) is listed, one `zfs get -r`.
    pub jails_dataset: String,
    /// Paths and files to look at.
    pub probes: Probes,
}

/// Why a host could not observe or apply.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A command exited unsuccessfully.
    #[error("`{command}` failed ({status}){}{}", stderr_suffix(.stderr), stdout_suffix(.stdout))]
    CommandFailed {
        /// The command line.
        command: String,
        /// Exit status or signal.
        status: String,
        /// What it wrote to standard output (the end of it, [`spawn::OUTPUT_TAIL`]
        /// bytes at most; empty when its output went to a file or a pipe). FreeBSD's
        /// etcupdate and freebsd-update say why they stopped here.
        stdout: String,
        /// What it wrote to standard error (the end of it, as for `stdout`).
        stderr: String,
    },
    /// A command could not be started.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A downloaded or local set does not match its MANIFEST.
    #[error("checksum mismatch for {}: MANIFEST lists {expected}, the file has {actual}; {}nothing was extracted", .file.display(), if *.deleted { "the file was deleted and " } else { "" })]
    ChecksumMismatch {
        /// The file.
        file: PathBuf,
        /// SHA-256 from MANIFEST.
        expected: String,
        /// SHA-256 of the file.
        actual: String,
        /// Whether the file was deleted.
        deleted: bool,
    },
    /// A file does not have the SHA-256 the recipe pins (`manifest_sha256`).
    #[error("SHA-256 mismatch for {}: the recipe pins {expected}, the file has {actual}; {}nothing was extracted", .file.display(), if *.deleted { "the file was deleted and " } else { "" })]
    PinMismatch {
        /// The file.
        file: PathBuf,
        /// SHA-256 the recipe pins.
        expected: String,
        /// SHA-256 of the file.
        actual: String,
        /// Whether the file was deleted.
        deleted: bool,
    },
    /// A MANIFEST does not list the file.
    #[error("{} does not list {name}", .manifest.display())]
    NotInManifest {
        /// The MANIFEST.
        manifest: PathBuf,
        /// The missing set.
        name: String,
    },
    /// The host cannot do this action (e.g. a test host without bsdinstall).
    #[error("{0}")]
    Unsupported(String),
    /// The host's state is not what the action needs.
    #[error("{0}")]
    Conflict(String),
    /// Checked just before it would run, the action would reach outside the
    /// recipe's confinement through the host as it is now (a symbolic link).
    #[error("refused before running: {0}")]
    Confinement(String),
}

fn stderr_suffix(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(": {trimmed}")
    }
}

fn stdout_suffix(stdout: &str) -> String {
    let trimmed = stdout.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("\nits standard output ended with:\n{trimmed}")
    }
}

impl HostError {
    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        HostError::Io {
            context: context.into(),
            source,
        }
    }
}

/// A machine thinjail manages.
pub trait Host {
    /// Observes the host once: datasets, mounts, running jails and probed paths.
    fn observe(&mut self, request: &ObservationRequest) -> Result<World, HostError>;

    /// Carries out one action.
    fn apply(&mut self, action: &Action) -> Result<(), HostError>;

    /// Carries out one action and returns what its tool said beyond success: a
    /// tolerated failure, nothing to do, merge conflicts (see [`judge`]). Hosts that
    /// run freebsd-update or etcupdate implement it; the default has nothing to say.
    fn apply_noting(&mut self, action: &Action) -> Result<ActionNotes, HostError> {
        self.apply(action).map(|()| ActionNotes::default())
    }

    /// How many host commands have run so far (observation included).
    fn commands_run(&self) -> usize;

    /// Looks at more paths after [`Host::observe`] (e.g. the fstab of a jail found
    /// there, or a path in a jail's data, [`Probes::beneath`]); native reads, no
    /// command runs.
    fn read_paths(&mut self, probes: &Probes) -> Result<BTreeMap<PathBuf, PathState>, HostError> {
        observe_paths(probes)
    }

    /// Runs `argv` in the running jail `jail` with this process's terminal attached
    /// (`jexec -l`), returning its exit status.
    fn exec_interactive(&mut self, jail: &str, argv: &[String]) -> Result<i32, HostError>;
}

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

/// Paths named in an observation request's probes (both kinds).
pub fn probed_paths(request: &ObservationRequest) -> BTreeSet<PathBuf> {
    request
        .probes
        .paths
        .iter()
        .chain(&request.probes.files)
        .cloned()
        .collect()
}
