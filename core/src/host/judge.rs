//! How a host reads the FreeBSD tools that speak on standard output and whose exit
//! status alone does not say what happened: freebsd-update(8) and etcupdate(8).
//!
//! - `freebsd-update fetch` exits 1 for a release past its end of life *after*
//!   fetching (`fetch_run` ends with `fetch_warn_eol || return 1`, and the warning
//!   "… HAS PASSED ITS END-OF-LIFE DATE." is on standard output): a warning, not a
//!   failure, so `install` still runs.
//! - `freebsd-update install` with nothing fetched exits 1 saying "No updates are
//!   available to install." (`install_check_params`): nothing to do, not a failure.
//! - `etcupdate` exits 0 when the merge left conflicts; it lists them as `  C FILE`
//!   on standard output and keeps them in `/var/db/etcupdate/conflicts`. They are
//!   reported, never taken for plain success.
//!
//! Everything else that exits non-zero fails as any command does, with the end of
//! both its streams (these tools' reasons are on standard output).
//!
//! Sources: `usr.sbin/freebsd-update/freebsd-update.sh` (`fetch_create_manifest`,
//! `fetch_warn_eol`, `fetch_run`, `install_check_params`) and
//! `usr.sbin/etcupdate/etcupdate.sh` (`merge_file`, `handle_added_file`,
//! `update_cmd`) in freebsd-src.

use serde::Serialize;

use super::spawn::tail;
use super::HostError;
use crate::action::{Action, EtcupdateCommand, FreebsdUpdateCommand};

/// What an action's tool said beyond "done", for the user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ActionNotes {
    /// Things the user must know about (a release past its end of life).
    pub warnings: Vec<String>,
    /// What happened when it is not obvious (nothing to install).
    pub notes: Vec<String>,
    /// Files etcupdate could not merge, as the jail sees them (`/etc/rc.conf`); their
    /// merged versions with conflict markers wait in `/var/db/etcupdate/conflicts`.
    pub conflicts: Vec<String>,
}

impl ActionNotes {
    /// Whether there is nothing to say.
    pub fn is_empty(&self) -> bool {
        self.warnings.is_empty() && self.notes.is_empty() && self.conflicts.is_empty()
    }

    /// Adds what `more` says (a further command of the same action).
    pub fn append(&mut self, more: ActionNotes) {
        self.warnings.extend(more.warnings);
        self.notes.extend(more.notes);
        self.conflicts.extend(more.conflicts);
    }
}

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// Its exit status (None when killed by a signal).
    pub code: Option<i32>,
    /// Said for people: `exit status 1`, `killed by signal 9`.
    pub status: String,
}

impl Exit {
    /// An exit with status `code`.
    pub fn code(code: i32) -> Self {
        Exit {
            code: Some(code),
            status: format!("exit status {code}"),
        }
    }
}

/// Whether the host must judge this action's exit and output with [`judge`] instead
/// of failing on any non-zero exit.
pub fn is_judged(action: &Action) -> bool {
    matches!(
        action,
        Action::FreebsdUpdate { .. } | Action::EtcupdateInJail { .. }
    )
}

fn failed(command: &str, exit: &Exit, stdout: &str, stderr: &str) -> HostError {
    HostError::CommandFailed {
        command: command.to_string(),
        status: exit.status.clone(),
        stdout: tail(stdout).to_string(),
        stderr: tail(stderr).to_string(),
    }
}

/// Reads how a judged action's one command ended: `Ok` with what to tell the user,
/// or the failure with what the tool printed.
pub fn judge(
    action: &Action,
    command: &str,
    exit: &Exit,
    stdout: &str,
    stderr: &str,
) -> Result<ActionNotes, HostError> {
    match action {
        Action::FreebsdUpdate {
            base,
            release,
            command: which,
            ..
        } => judge_freebsd_update(
            *which,
            &base.display().to_string(),
            release,
            command,
            exit,
            stdout,
            stderr,
        ),
        Action::EtcupdateInJail {
            jail,
            command: which,
            ..
        } => judge_etcupdate(*which, jail, command, exit, stdout, stderr),
        _ => match exit.code {
            Some(0) => Ok(ActionNotes::default()),
            _ => Err(failed(command, exit, stdout, stderr)),
        },
    }
}

/// The patch level freebsd-update names in "… updating to 13.1-RELEASE-p3:" or "No
/// updates needed to update system to 13.1-RELEASE-p3.".
fn patch_level(stdout: &str) -> Option<String> {
    let words: Vec<&str> = stdout.split_whitespace().collect();
    words.windows(2).rev().find_map(|pair| {
        (pair[0] == "to")
            .then(|| pair[1].trim_end_matches(['.', ':']).to_string())
            .filter(|level| level.contains("-p"))
    })
}

fn judge_freebsd_update(
    which: FreebsdUpdateCommand,
    tree: &str,
    release: &str,
    command: &str,
    exit: &Exit,
    stdout: &str,
    stderr: &str,
) -> Result<ActionNotes, HostError> {
    let mut notes = ActionNotes::default();
    let past_eol = stdout.contains("HAS PASSED ITS END-OF-LIFE DATE");
    match (which, exit.code) {
        (FreebsdUpdateCommand::Fetch, Some(code)) if code == 0 || (code == 1 && past_eol) => {
            let fetched = stdout.contains("as part of updating to");
            let level = patch_level(stdout);
            if fetched {
                notes.notes.push(format!(
                    "freebsd-update fetched the updates of {tree} to {}",
                    level.as_deref().unwrap_or(release)
                ));
            } else if stdout.contains("No updates needed") {
                notes.notes.push(format!(
                    "freebsd-update: {tree} needs no updates{}",
                    level
                        .map(|l| format!(" (it is at {l})"))
                        .unwrap_or_default()
                ));
            }
            if past_eol {
                notes.warnings.push(format!(
                    "{release} has passed its end-of-life date: freebsd-update fetch exited 1 with that warning{}, so thinjail goes on; security issues found after that date are not fixed in {release} — move its jails to a supported release (thinjail upgrade JAIL --to RELEASE)",
                    if fetched {
                        " after fetching its last updates, which are installed next"
                    } else {
                        ""
                    }
                ));
            } else if stdout.contains("is approaching its End-of-Life date") {
                notes.warnings.push(format!(
                    "{release} is approaching its end-of-life date (freebsd-update said so): plan moving its jails to a newer release"
                ));
            }
            Ok(notes)
        }
        (FreebsdUpdateCommand::Install, Some(0)) => {
            if stdout.contains("Installing updates") {
                notes
                    .notes
                    .push(format!("freebsd-update installed the updates of {tree}"));
            }
            Ok(notes)
        }
        (FreebsdUpdateCommand::Install, Some(1))
            if stdout.contains("No updates are available to install.") =>
        {
            notes
                .notes
                .push(format!("freebsd-update: nothing to install in {tree}"));
            Ok(notes)
        }
        _ => Err(failed(command, exit, stdout, stderr)),
    }
}

fn judge_etcupdate(
    which: EtcupdateCommand,
    jail: &str,
    command: &str,
    exit: &Exit,
    stdout: &str,
    stderr: &str,
) -> Result<ActionNotes, HostError> {
    if exit.code != Some(0) {
        return Err(failed(command, exit, stdout, stderr));
    }
    let mut notes = ActionNotes::default();
    if which == EtcupdateCommand::Extract {
        return Ok(notes);
    }
    let mut in_warnings = false;
    for line in stdout.lines() {
        if let Some(file) = line.strip_prefix("  C ") {
            notes.conflicts.push(file.trim().to_string());
        } else if line == "Warnings:" {
            in_warnings = true;
        } else if in_warnings {
            if let Some(warning) = line.strip_prefix("  ") {
                notes
                    .warnings
                    .push(format!("etcupdate in jail {jail}: {}", warning.trim()));
            }
        }
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn update(command: FreebsdUpdateCommand) -> Action {
        Action::FreebsdUpdate {
            base: PathBuf::from("/j/base/13.1-RELEASE-base"),
            workdir: PathBuf::from("/c/w"),
            config: PathBuf::from("/c/13.1.conf"),
            release: "13.1-RELEASE".into(),
            machine: "amd64".into(),
            machine_arch: "amd64".into(),
            command,
        }
    }

    const EOL: &str = "\nWARNING: FreeBSD 13.1-RELEASE HAS PASSED ITS END-OF-LIFE DATE.\nAny security issues discovered after Sun Jul 30 20:00:00 EDT 2023\nwill not have been corrected.\n";

    #[test]
    fn a_fetch_past_end_of_life_is_a_warning_and_says_what_was_fetched() {
        let fetched = format!("Inspecting system... done.\nThe following files will be updated as part of updating to\n13.1-RELEASE-p9:\n/bin/freebsd-version\n{EOL}");
        let notes = judge(
            &update(FreebsdUpdateCommand::Fetch),
            "freebsd-update … fetch",
            &Exit::code(1),
            &fetched,
            "",
        )
        .unwrap();
        assert_eq!(notes.warnings.len(), 1, "{notes:?}");
        assert!(notes.warnings[0].contains("end-of-life"), "{notes:?}");
        assert!(notes.warnings[0].contains("installed next"), "{notes:?}");
        assert!(notes.notes[0].contains("13.1-RELEASE-p9"), "{notes:?}");

        let nothing = format!("\nNo updates needed to update system to 13.1-RELEASE-p9.\n{EOL}");
        let notes = judge(
            &update(FreebsdUpdateCommand::Fetch),
            "x",
            &Exit::code(1),
            &nothing,
            "",
        )
        .unwrap();
        assert!(notes.notes[0].contains("needs no updates"), "{notes:?}");
        assert!(!notes.warnings[0].contains("installed next"), "{notes:?}");
    }

    #[test]
    fn other_fetch_failures_fail_with_what_was_printed() {
        let error = judge(
            &update(FreebsdUpdateCommand::Fetch),
            "freebsd-update fetch",
            &Exit::code(1),
            "freebsd-update: Directory does not exist or is not writable: /c/w\n",
            "",
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("not writable: /c/w"), "{text}");
        assert!(text.contains("exit status 1"), "{text}");
    }

    #[test]
    fn install_with_nothing_fetched_is_nothing_to_do() {
        let notes = judge(
            &update(FreebsdUpdateCommand::Install),
            "x",
            &Exit::code(1),
            "No updates are available to install.\nRun '/usr/sbin/freebsd-update fetch' first.\n",
            "",
        )
        .unwrap();
        assert!(notes.notes[0].contains("nothing to install"), "{notes:?}");
        assert!(judge(
            &update(FreebsdUpdateCommand::Install),
            "x",
            &Exit::code(1),
            "Update files missing -- this should never happen.\n",
            "",
        )
        .is_err());
    }

    #[test]
    fn etcupdate_conflicts_are_listed_and_its_refusals_are_failures() {
        let merge = Action::EtcupdateInJail {
            jail: "www".into(),
            command: EtcupdateCommand::Update,
            tarball: PathBuf::from("/usr/share/thinjail/etcupdate.txz"),
        };
        let notes = judge(
            &merge,
            "x",
            &Exit::code(0),
            "  M /etc/hosts\n  C /etc/rc.conf\n  A /etc/motd.template\n  C /etc/ssh/sshd_config\nWarnings:\n  Modified regular file remains: /etc/old\n",
            "",
        )
        .unwrap();
        assert_eq!(notes.conflicts, ["/etc/rc.conf", "/etc/ssh/sshd_config"]);
        assert_eq!(
            notes.warnings,
            ["etcupdate in jail www: Modified regular file remains: /etc/old"]
        );
        let refused = judge(
            &merge,
            "jexec -l www /usr/sbin/etcupdate -t /usr/share/thinjail/etcupdate.txz",
            &Exit::code(1),
            "No previous tree to compare against, a sane comparison is not possible.\n",
            "",
        )
        .unwrap_err();
        assert!(
            refused.to_string().contains("No previous tree"),
            "{refused}"
        );
    }
}
