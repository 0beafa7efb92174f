//! Exit statuses (sysexits(3)) and the error type that carries one.

use std::fmt;

/// Success.
pub const OK: u8 = 0;
/// The change failed on the host (a command exited non-zero); the message says which.
pub const FAILURE: u8 = 1;
/// `upgrade` moved the jail, but etcupdate left files it could not merge (the jail
/// keeps its own versions; `etcupdate resolve` inside the jail finishes the merge).
pub const CONFLICTS: u8 = 3;
/// Command line usage error (EX_USAGE).
pub const USAGE: u8 = 64;
/// The recipe is invalid, or a recipe file or plugin library could be changed by
/// someone other than root (EX_DATAERR).
pub const DATAERR: u8 = 65;
/// The recipe file or plugin does not exist (EX_NOINPUT).
pub const NOINPUT: u8 = 66;
/// The host cannot be observed or a service is missing (EX_UNAVAILABLE).
pub const UNAVAILABLE: u8 = 69;
/// An internal error (EX_SOFTWARE).
pub const SOFTWARE: u8 = 70;
/// A file could not be created (EX_CANTCREAT).
pub const CANTCREAT: u8 = 73;
/// Another thinjail holds the lock; try again (EX_TEMPFAIL).
pub const TEMPFAIL: u8 = 75;
/// Not root (EX_NOPERM).
pub const NOPERM: u8 = 77;
/// The host's state conflicts with the recipe (EX_CONFIG).
pub const CONFIG: u8 = 78;

/// Every status with its meaning, for `thinjail(8)` and `--help`.
pub const TABLE: [(u8, &str); 12] = [
    (OK, "success (also: nothing to do)"),
    (
        FAILURE,
        "a host command failed; the message names it, its status and the end of its stderr and stdout",
    ),
    (
        CONFLICTS,
        "upgrade: the jail runs the new release, but etcupdate left conflicts in files it lists (the jail keeps its own versions); resolve them inside the jail with etcupdate resolve",
    ),
    (USAGE, "command line usage error"),
    (
        DATAERR,
        "the recipe is invalid, or a recipe file a command that changes the host would act on, or a plugin library, could be changed by someone other than root; every problem is listed with its field or file",
    ),
    (
        NOINPUT,
        "the recipe file or a plugin library does not exist",
    ),
    (
        UNAVAILABLE,
        "the host cannot be observed (zfs, mount or jls failed)",
    ),
    (SOFTWARE, "internal error"),
    (CANTCREAT, "a file could not be written"),
    (TEMPFAIL, "another thinjail is running on this host"),
    (NOPERM, "not running as root"),
    (
        CONFIG,
        "the host's state conflicts with the recipe (also: a lock file someone else could control); nothing was changed",
    ),
];

/// An error with the exit status it maps to.
#[derive(Debug)]
pub struct CliError {
    /// Exit status.
    pub code: u8,
    /// What went wrong, with context.
    pub error: anyhow::Error,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl CliError {
    /// An error with status `code`.
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> Self {
        CliError {
            code,
            error: error.into(),
        }
    }

    /// An error from a message.
    pub fn msg(code: u8, message: impl fmt::Display) -> Self {
        CliError {
            code,
            error: anyhow::anyhow!("{message}"),
        }
    }
}

/// Attaches an exit status to any error.
pub trait WithCode<T> {
    /// Maps the error to `code`.
    fn code(self, code: u8) -> Result<T, CliError>;
}

impl<T, E: Into<anyhow::Error>> WithCode<T> for Result<T, E> {
    fn code(self, code: u8) -> Result<T, CliError> {
        self.map_err(|e| CliError::new(code, e))
    }
}

/// A lifecycle command that cannot be planned: an invalid name, or one that is not
/// a managed jail, a snapshot or an installed release, is a usage error (64); a
/// host state the command refuses or something missing is 78; a plan leaving the
/// recipe's confinement is an internal error (70).
impl From<thinjail_lifecycle::LifecycleError> for CliError {
    fn from(error: thinjail_lifecycle::LifecycleError) -> Self {
        use thinjail_lifecycle::LifecycleError;
        let code = match error {
            LifecycleError::Confinement(_) => SOFTWARE,
            _ if error.is_usage() => USAGE,
            _ => CONFIG,
        };
        CliError::msg(code, error)
    }
}

/// The host lock: held by another thinjail is 75, a lock file someone else could
/// control is 78, one that cannot be made is 73.
impl From<thinjail_core::lock::LockError> for CliError {
    fn from(error: thinjail_core::lock::LockError) -> Self {
        use thinjail_core::lock::LockError;
        let code = match error {
            LockError::Busy { .. } => TEMPFAIL,
            LockError::Untrusted { .. } => CONFIG,
            LockError::Io { .. } => CANTCREAT,
        };
        CliError::new(code, error)
    }
}

/// A plan that cannot be made, nothing changed: a stage's refusal is 78; a plugin's
/// failure or an action or probe outside the recipe's confinement is 65.
impl From<thinjail_core::pipeline::PlanError> for CliError {
    fn from(error: thinjail_core::pipeline::PlanError) -> Self {
        use thinjail_core::pipeline::PlanError;
        use thinjail_core::stage::StageError;
        let code = match error {
            PlanError::Confinement { .. }
            | PlanError::ProbeConfinement { .. }
            | PlanError::Stage {
                error: StageError::Plugin(_),
                ..
            } => DATAERR,
            PlanError::Stage { .. } => CONFIG,
        };
        CliError::new(
            code,
            anyhow::Error::new(error).context("nothing was changed"),
        )
    }
}

/// A `--plugin` library `thinjail stages` cannot list: 66 when it does not exist or
/// cannot be read, 65 when it is there but untrusted (someone other than root could
/// change it), not a thinjail plugin, or broken — as [`TABLE`] documents. Inside a
/// recipe (or `--plugin` of a command that plans), a plugin's refusal is one of the
/// recipe's problems instead, listed with the others: 65
/// ([`recipe_errors`](crate::recipes::recipe_errors)).
impl From<thinjail_core::plugin::PluginError> for CliError {
    fn from(error: thinjail_core::plugin::PluginError) -> Self {
        use thinjail_core::plugin::{LibraryProblem, PluginError};
        let code = match &error {
            PluginError::NotInstalled { .. }
            | PluginError::Library {
                problem: LibraryProblem::NotFound | LibraryProblem::Inaccessible(_),
                ..
            } => NOINPUT,
            _ => DATAERR,
        };
        CliError::new(code, error)
    }
}
