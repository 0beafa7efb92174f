//! The FreeBSD host: [`FreeBsdHost`] applies each action through its real
//! commands ([`super::process`]) or a native step ([`super::native`]), after the
//! guards every host shares, and observes the machine ([`super::observation`]).
//! Test hosts reuse these building blocks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::guard::{ensure_private_dir, FileIdentity, HostGuards};
use super::judge::{is_judged, judge, ActionNotes};
use super::native::{apply_native, verify_checksum, verify_sha256};
use super::progress::{NoProgress, Progress};
use super::{Host, HostError, ObservationRequest};
use crate::action::{Action, Command, Execution};
use crate::world::World;

/// A FreeBSD machine, driven through its own commands.
pub struct FreeBsdHost {
    pub(super) progress: Box<dyn Progress>,
    pub(super) commands: usize,
    guards: HostGuards,
    /// Private directories checked (or made) during this run.
    private_ok: BTreeSet<PathBuf>,
    /// Files whose checksum was verified during this run, as they were then.
    pub(super) verified: BTreeMap<PathBuf, FileIdentity>,
}

impl Default for FreeBsdHost {
    fn default() -> Self {
        FreeBsdHost::new()
    }
}

impl FreeBsdHost {
    /// A host that shows no progress.
    pub fn new() -> Self {
        FreeBsdHost::with_progress(Box::new(NoProgress))
    }

    /// A host that reports long steps to `progress`.
    pub fn with_progress(progress: Box<dyn Progress>) -> Self {
        FreeBsdHost {
            progress,
            commands: 0,
            guards: HostGuards::default(),
            private_ok: BTreeSet::new(),
            verified: BTreeMap::new(),
        }
    }

    /// This host, protecting what `guards` names while it applies.
    pub fn with_guards(mut self, guards: HostGuards) -> Self {
        self.guards = guards;
        self
    }

    /// Checks what must hold before `action` runs, whoever carries it out (test hosts
    /// call this before their substitutions): a private directory it uses exists,
    /// belongs to root and is writable by nobody else (made 0700 when missing); a
    /// native write does not land in a jail's own files.
    pub fn guard(&mut self, action: &Action) -> Result<(), HostError> {
        if let Some(dir) = self.guards.private_dir_used_by(action) {
            if !self.private_ok.contains(dir) {
                ensure_private_dir(dir)?;
                self.private_ok.insert(dir.to_path_buf());
            }
        }
        if action.execution() == Execution::Native {
            self.guards.check_native_write(action)?;
        }
        Ok(())
    }

    /// Runs a judged action's command (freebsd-update, etcupdate) and reads its
    /// exit and output with [`judge`].
    pub fn apply_judged(&mut self, action: &Action) -> Result<ActionNotes, HostError> {
        let Execution::Commands(commands) = action.execution() else {
            return Err(HostError::Unsupported(format!(
                "{} has no command to run",
                action.describe()
            )));
        };
        let mut notes = ActionNotes::default();
        for command in &commands {
            let Command::Run { argv } = command else {
                self.run_for(action, command)?;
                continue;
            };
            let (exit, output) = self.run_capturing_with(argv, action.downloads())?;
            notes.append(judge(
                action,
                &command.render(),
                &exit,
                &output.stdout,
                &output.stderr,
            )?);
        }
        Ok(notes)
    }

    /// Runs an action's commands, or its native step, after [`FreeBsdHost::guard`].
    pub fn apply_default(&mut self, action: &Action) -> Result<(), HostError> {
        self.guard(action)?;
        if let Action::StartJails { jails, limit } = action {
            // Each jail(8) in a process of its own, side by side.
            return self.start_side_by_side(jails, *limit);
        }
        if let Action::StopJails { jails, limit } = action {
            return self.stop_side_by_side(jails, *limit);
        }
        match action.execution() {
            Execution::Commands(commands) => {
                for command in &commands {
                    self.run_for(action, command)?;
                }
                Ok(())
            }
            Execution::Native => match action {
                Action::VerifyChecksum {
                    file,
                    manifest,
                    delete_bad,
                } => {
                    let identity = verify_checksum(file, manifest, *delete_bad)?;
                    self.verified.insert(file.clone(), identity);
                    Ok(())
                }
                Action::VerifySha256 {
                    file,
                    sha256,
                    delete_bad,
                } => {
                    let identity = verify_sha256(file, sha256, *delete_bad)?;
                    self.verified.insert(file.clone(), identity);
                    Ok(())
                }
                other => apply_native(other),
            },
        }
    }
}

impl FreeBsdHost {
    /// Destroys those of `interfaces` that exist (`ifconfig -l`, then `ifconfig IF
    /// destroy` for each still there: destroying one half of an epair destroys
    /// both); what could not be destroyed, with why.
    pub fn destroy_interfaces(&mut self, interfaces: &[String]) -> Vec<String> {
        let mut left = Vec::new();
        for iface in interfaces {
            let present = match self.run(&Command::run(["ifconfig", "-l"])) {
                Ok(out) => out.stdout.split_whitespace().any(|i| i == iface),
                Err(e) => {
                    left.push(format!("{iface}: {e}"));
                    continue;
                }
            };
            if present {
                if let Err(e) = self.run(&Command::run(["ifconfig", iface.as_str(), "destroy"])) {
                    left.push(format!("{iface}: {e}"));
                }
            }
        }
        left
    }
}

/// A failed start's error, with what its cleanup could not destroy (`left`)
/// added to what the command said.
pub fn with_cleanup(error: HostError, left: Vec<String>) -> HostError {
    if left.is_empty() {
        return error;
    }
    let text = format!(
        "thinjail: after the failed start, could not destroy: {}\n",
        left.join("; ")
    );
    match error {
        HostError::CommandFailed {
            command,
            status,
            stdout,
            stderr,
        } => HostError::CommandFailed {
            command,
            status,
            stdout,
            stderr: format!("{stderr}{text}"),
        },
        other => other,
    }
}

impl Host for FreeBsdHost {
    fn observe(&mut self, request: &ObservationRequest) -> Result<World, HostError> {
        self.observe_all(request)
    }

    fn apply(&mut self, action: &Action) -> Result<(), HostError> {
        self.apply_noting(action).map(drop)
    }

    fn apply_noting(&mut self, action: &Action) -> Result<ActionNotes, HostError> {
        if is_judged(action) {
            return self.apply_judged(action);
        }
        let result = self.apply_default(action);
        if let (
            Err(_),
            Action::StartJail {
                destroy_on_failure, ..
            },
        ) = (&result, action)
        {
            if !destroy_on_failure.is_empty() {
                // jail(8) runs no exec.poststop for a creation that fails.
                let left = self.destroy_interfaces(destroy_on_failure);
                return Err(with_cleanup(result.unwrap_err(), left));
            }
        }
        result.map(|()| ActionNotes::default())
    }

    fn commands_run(&self) -> usize {
        self.commands
    }

    fn exec_interactive(&mut self, jail: &str, argv: &[String]) -> Result<i32, HostError> {
        let mut full = vec!["jexec".to_string(), "-l".into(), jail.to_string()];
        full.extend(argv.iter().cloned());
        self.run_attached(&full)
    }
}
