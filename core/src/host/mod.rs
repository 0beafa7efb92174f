//! Hosts apply actions; nothing else in thinjail changes a machine.
//!
//! - [`FreeBsdHost`] runs each action's real commands as argv (never `sh -c`), with
//!   `zfs send | zfs receive` as a real pipe whose two exit statuses are both checked.
//! - Test hosts (the Linux test bed) live in the `thinjail-testbed` crate (`tests/`) and reuse
//!   [`FreeBsdHost`]'s building blocks.
//!
//! [`crate::apply::apply_plan`] drives any host through a plan and stops at the
//! first failure, reporting what did not run.
//!
//! Host-side plumbing every host shares: [`spawn`] (commands by absolute path with a
//! clean environment), [`safe_fs`] (file access that never follows a symbolic link),
//! [`guard`] (a private download cache, no native writes into a jail's files).
//!
//! [`FreeBsdHost`] is put together by concern: `system` (the host itself: guards,
//! then each action's commands or native step), `process` (running commands, pipes,
//! redirections), `observation` (datasets, mounts, jails, probed paths), `native`
//! (atomic writes, edits, checksums, relinking) and `progress`.

mod beneath;
pub mod guard;
mod judge;
mod listing;
mod native;
mod observation;
mod parse;
mod process;
mod progress;
pub mod safe_fs;
pub mod spawn;
mod system;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::action::Action;
pub use crate::probes::ObservationRequest;
use crate::probes::Probes;
use crate::world::{PathState, World};

pub use beneath::{observe_beneath, record_beneath, Beneath};
pub use guard::HostGuards;
pub use judge::{is_judged, judge, ActionNotes, Exit};
pub use listing::{merge_observed, observe_listed, Listing};
pub use native::{apply_native, manifest_sha256, sha256_file, write_atomically};
pub use observation::{observe_paths, zfs_get_command, ZFS_PROPERTIES};
pub use parse::{parse_delegated, parse_jls, parse_mount_p, parse_proc_mountinfo, parse_zfs_get};
pub use process::CommandOutput;
pub use progress::{NoProgress, Progress, ProgressTask};
pub use system::{with_cleanup, FreeBsdHost};

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
    /// Some jails of a parallel start (the `start_jails` action) did not start;
    /// the others run.
    #[error("{0}")]
    JailStarts(crate::resources::order::StartReport),
    /// Some jails of a parallel stop (the `stop_jails` action) did not stop; the
    /// others did.
    #[error("{0}")]
    JailStops(crate::resources::order::StopReport),
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
    /// Ok when every jail of a parallel start started; otherwise
    /// [`HostError::JailStarts`] with the report.
    pub fn from_starts(report: crate::resources::order::StartReport) -> Result<(), HostError> {
        if report.all_started() {
            Ok(())
        } else {
            Err(HostError::JailStarts(report))
        }
    }

    /// Ok when every jail of a parallel stop stopped; otherwise
    /// [`HostError::JailStops`] with the report.
    pub fn from_stops(report: crate::resources::order::StopReport) -> Result<(), HostError> {
        if report.all_stopped() {
            Ok(())
        } else {
            Err(HostError::JailStops(report))
        }
    }

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
