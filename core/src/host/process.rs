//! Running commands as argv with their output captured: one command, a real pipe
//! whose two exit statuses are both checked, a command reading from or writing to a
//! file opened without following a symbolic link, one with the terminal attached.
//! Commands are found by absolute path and get a clean environment
//! ([`super::spawn`]).

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{self, Stdio};
use std::thread::{self, JoinHandle};

use super::guard::FileIdentity;
use super::judge::Exit;
use super::native::from_safe_fs;
use super::progress::ProgressTask;
use super::safe_fs;
use super::spawn::{attached_command, download_command, host_command, tail};
use super::system::FreeBsdHost;
use super::HostError;
use crate::action::{Action, Command};

/// What a successful command printed.
#[derive(Clone, Debug, Default)]
pub struct CommandOutput {
    /// Standard output (empty when it went to a file).
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl FreeBsdHost {
    /// Runs one command; a non-zero exit is an error carrying its status and stderr.
    pub fn run(&mut self, command: &Command) -> Result<CommandOutput, HostError> {
        self.run_with(command, false)
    }

    /// Runs one command of `action` ([`FreeBsdHost::run`]); the commands of an
    /// action that downloads get the proxy variables ([`Action::downloads`]).
    pub fn run_for(
        &mut self,
        action: &Action,
        command: &Command,
    ) -> Result<CommandOutput, HostError> {
        self.run_with(command, action.downloads())
    }

    fn run_with(&mut self, command: &Command, downloads: bool) -> Result<CommandOutput, HostError> {
        self.commands += 1;
        tracing::debug!(command = %command.render(), "run");
        match command {
            Command::Run { argv } => run_simple(argv, downloads),
            Command::Pipe { left, right } => run_pipe(left, right, downloads),
            Command::ReadFrom { argv, stdin } => self.run_read_from(argv, stdin, downloads),
            Command::WriteTo { argv, stdout } => self.run_write_to(argv, stdout, downloads),
        }
    }

    /// `start_jails`: each `jail -f FILE -c NAME` in a process of its own, at most
    /// `limit` at once (the host's CPUs when `None`), each after the jails of the
    /// start it depends on ([`crate::resources::order::start_bounded`]).
    pub fn start_side_by_side(
        &mut self,
        jails: &[crate::resources::order::JailStart],
        limit: Option<u32>,
    ) -> Result<(), HostError> {
        use crate::resources::order::{default_limit, start_bounded};
        self.commands += jails.len();
        let limit = limit.map_or_else(default_limit, |n| n as usize);
        let report = start_bounded(jails, limit, |j| {
            let argv = j.argv();
            tracing::debug!(command = %crate::quote::sh_command(&argv), "run");
            run_simple(&argv, false).map(drop)
        });
        HostError::from_starts(report)
    }

    /// `stop_jails`: each `jail -f FILE -r NAME`, then `rctl -r` of its rules, in a
    /// process of its own, at most `limit` at once (the host's CPUs when `None`),
    /// each after the jails of the stop that depend on it
    /// ([`crate::resources::order::stop_bounded`]).
    pub fn stop_side_by_side(
        &mut self,
        jails: &[crate::resources::order::JailStop],
        limit: Option<u32>,
    ) -> Result<(), HostError> {
        use crate::resources::order::default_limit;
        self.commands += jails.len() + jails.iter().filter(|j| !j.remove_limits.is_empty()).count();
        let limit = limit.map_or_else(default_limit, |n| n as usize);
        let report = crate::resources::order::stop_bounded(jails, limit, |j| {
            for argv in std::iter::once(j.argv()).chain(j.remove_limits_argv()) {
                tracing::debug!(command = %crate::quote::sh_command(&argv), "run");
                run_simple(&argv, false)?;
            }
            Ok::<(), HostError>(())
        });
        HostError::from_stops(report)
    }

    /// Runs `argv` and returns how it ended and what it printed, whatever its exit
    /// status: for the tools whose output says what happened ([`super::judge`]).
    pub fn run_capturing(&mut self, argv: &[String]) -> Result<(Exit, CommandOutput), HostError> {
        self.run_capturing_with(argv, false)
    }

    pub(super) fn run_capturing_with(
        &mut self,
        argv: &[String],
        downloads: bool,
    ) -> Result<(Exit, CommandOutput), HostError> {
        self.commands += 1;
        let line = crate::quote::sh_command(argv);
        tracing::debug!(command = %line, "run, judging its output");
        let child = spawn(argv, Stdio::null(), Stdio::piped(), downloads)?;
        let output = child
            .wait_with_output()
            .map_err(|e| HostError::io(format!("wait for {line}"), e))?;
        use std::os::unix::process::ExitStatusExt;
        let exit = match (output.status.code(), output.status.signal()) {
            (Some(code), _) => Exit::code(code),
            (None, signal) => Exit {
                code: None,
                status: format!("killed by signal {}", signal.unwrap_or(0)),
            },
        };
        Ok((
            exit,
            CommandOutput {
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            },
        ))
    }

    /// Runs `argv` with this process's standard input, output and error (an
    /// interactive command); returns its exit status (128 + signal when killed).
    pub fn run_attached(&mut self, argv: &[String]) -> Result<i32, HostError> {
        self.commands += 1;
        let command_line = crate::quote::sh_command(argv);
        tracing::debug!(command = %command_line, "run attached");
        let status = attached_command(argv)?
            .status()
            .map_err(|source| HostError::Spawn {
                command: command_line,
                source,
            })?;
        use std::os::unix::process::ExitStatusExt;
        Ok(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }

    /// Opens a file a command will read; one verified during this run must still be
    /// the very file that was verified.
    fn open_input(&self, input: &Path) -> Result<fs::File, HostError> {
        let file = fs::File::open(input)
            .map_err(|e| HostError::io(format!("open {}", input.display()), e))?;
        if let Some(verified) = self.verified.get(input) {
            let now = file
                .metadata()
                .map_err(|e| HostError::io(format!("look at {}", input.display()), e))?;
            if FileIdentity::of(&now) != *verified {
                return Err(HostError::Conflict(format!(
                    "{} changed after its checksum was verified; nothing was read from it",
                    input.display()
                )));
            }
        }
        Ok(file)
    }

    fn run_read_from(
        &mut self,
        argv: &[String],
        input: &Path,
        downloads: bool,
    ) -> Result<CommandOutput, HostError> {
        let display = format!("{} < {}", crate::quote::sh_command(argv), input.display());
        let mut file = self.open_input(input)?;
        let total = file.metadata().ok().map(|m| m.len());
        let mut child = spawn(argv, Stdio::piped(), Stdio::piped(), downloads)?;
        let stdout = collect(child.stdout.take());
        let stderr = collect(child.stderr.take());
        let task = self.progress.task(&display, total);
        // Closing stdin (dropping it) tells the command the input is complete.
        let copy_error = child
            .stdin
            .take()
            .and_then(|mut stdin| pump(&mut file, &mut stdin, task.as_ref()));
        task.finish();
        let status = child
            .wait()
            .map_err(|e| HostError::io(format!("wait for {display}"), e))?;
        let output = CommandOutput {
            stdout: join(stdout),
            stderr: join(stderr),
        };
        check(&display, status, &output.stdout, &output.stderr)?;
        match copy_error {
            Some(e) => Err(HostError::io(
                format!("feed {} to {}", input.display(), argv.join(" ")),
                e,
            )),
            None => Ok(output),
        }
    }

    fn run_write_to(
        &mut self,
        argv: &[String],
        output_path: &Path,
        downloads: bool,
    ) -> Result<CommandOutput, HostError> {
        let display = format!(
            "{} > {}",
            crate::quote::sh_command(argv),
            output_path.display()
        );
        // A fresh file, never one found there: a link planted at the name is replaced.
        let mut file = safe_fs::replace_file(output_path, 0o644)
            .map_err(|e| from_safe_fs(format!("create {}", output_path.display()), e))?;
        let mut child = spawn(argv, Stdio::null(), Stdio::piped(), downloads)?;
        let stderr = collect(child.stderr.take());
        let task = self.progress.task(&display, None);
        let copy_error = child
            .stdout
            .take()
            .and_then(|mut stdout| pump(&mut stdout, &mut file, task.as_ref()));
        task.finish();
        let status = child
            .wait()
            .map_err(|e| HostError::io(format!("wait for {display}"), e))?;
        let stderr = join(stderr);
        check(&display, status, "", &stderr)?;
        if let Some(e) = copy_error {
            return Err(HostError::io(format!("write {}", output_path.display()), e));
        }
        file.sync_all()
            .map_err(|e| HostError::io(format!("sync {}", output_path.display()), e))?;
        Ok(CommandOutput {
            stdout: String::new(),
            stderr,
        })
    }
}

/// Copies `from` to `to`, telling `task` how far it got; returns the first error.
fn pump(from: &mut dyn Read, to: &mut dyn Write, task: &dyn ProgressTask) -> Option<io::Error> {
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        match from.read(&mut buffer) {
            Ok(0) => return None,
            Ok(n) => {
                if let Err(e) = to.write_all(&buffer[..n]) {
                    return Some(e);
                }
                task.advance(n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Some(e),
        }
    }
}

/// Starts `argv` ([`host_command`]; [`download_command`] when it `downloads`).
fn spawn(
    argv: &[String],
    stdin: Stdio,
    stdout: Stdio,
    downloads: bool,
) -> Result<process::Child, HostError> {
    let command = if downloads {
        download_command(argv)
    } else {
        host_command(argv)
    };
    command?
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HostError::Spawn {
            command: crate::quote::sh_command(argv),
            source,
        })
}

fn run_simple(argv: &[String], downloads: bool) -> Result<CommandOutput, HostError> {
    let display = crate::quote::sh_command(argv);
    let child = spawn(argv, Stdio::null(), Stdio::piped(), downloads)?;
    let output = child
        .wait_with_output()
        .map_err(|e| HostError::io(format!("wait for {display}"), e))?;
    let result = CommandOutput {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    check(&display, output.status, &result.stdout, &result.stderr)?;
    Ok(result)
}

fn run_pipe(
    left: &[String],
    right: &[String],
    downloads: bool,
) -> Result<CommandOutput, HostError> {
    let mut producer = spawn(left, Stdio::null(), Stdio::piped(), downloads)?;
    let pipe = producer
        .stdout
        .take()
        .ok_or_else(|| HostError::Unsupported("no pipe from the producer".into()))?;
    let left_err = collect(producer.stderr.take());
    let consumer = match spawn(right, Stdio::from(pipe), Stdio::piped(), downloads) {
        Ok(child) => child,
        Err(e) => {
            let _ = producer.kill();
            let _ = producer.wait();
            return Err(e);
        }
    };
    let consumer_output = consumer.wait_with_output();
    let left_status = producer.wait();
    let left_display = crate::quote::sh_command(left);
    let right_display = crate::quote::sh_command(right);
    let output =
        consumer_output.map_err(|e| HostError::io(format!("wait for {right_display}"), e))?;
    let left_status =
        left_status.map_err(|e| HostError::io(format!("wait for {left_display}"), e))?;
    let left_stderr = join(left_err);
    let right_stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let right_stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    // Report the producer first: a consumer failing on a truncated stream is a consequence.
    // (The producer's standard output is the pipe itself.)
    check(
        &format!("{left_display} (left of the pipe into {right_display})"),
        left_status,
        "",
        &left_stderr,
    )?;
    check(
        &format!("{right_display} (right of the pipe from {left_display})"),
        output.status,
        &right_stdout,
        &right_stderr,
    )?;
    Ok(CommandOutput {
        stdout: right_stdout,
        stderr: format!("{left_stderr}{right_stderr}"),
    })
}

/// Reads a child's pipe to the end on its own thread (so two pipes cannot deadlock).
fn collect<R: Read + Send + 'static>(pipe: Option<R>) -> Option<JoinHandle<Vec<u8>>> {
    pipe.map(|mut p| {
        thread::spawn(move || {
            let mut buffer = Vec::new();
            let _ = p.read_to_end(&mut buffer);
            buffer
        })
    })
}

fn join(handle: Option<JoinHandle<Vec<u8>>>) -> String {
    handle
        .and_then(|h| h.join().ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// A failed command's report keeps the end of both of its streams: FreeBSD's own
/// tools (etcupdate, freebsd-update) say why they stopped on standard output.
fn check(
    display: &str,
    status: process::ExitStatus,
    stdout: &str,
    stderr: &str,
) -> Result<(), HostError> {
    if status.success() {
        return Ok(());
    }
    use std::os::unix::process::ExitStatusExt;
    let status = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown status".to_string(),
    };
    Err(HostError::CommandFailed {
        command: display.to_string(),
        status,
        stdout: tail(stdout).to_string(),
        stderr: tail(stderr).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Host;

    #[test]
    fn a_failure_reports_the_end_of_both_streams() {
        let mut host = FreeBsdHost::new();
        let failed = host.run(&Command::run([
            "sh",
            "-c",
            "echo 'No previous tree to compare against, a sane comparison is not possible.'; exit 1",
        ]));
        match failed {
            Err(error @ HostError::CommandFailed { .. }) => {
                let HostError::CommandFailed { stdout, stderr, .. } = &error else {
                    unreachable!()
                };
                assert_eq!(
                    stdout,
                    "No previous tree to compare against, a sane comparison is not possible.\n"
                );
                assert_eq!(stderr, "");
                assert!(
                    error
                        .to_string()
                        .contains("a sane comparison is not possible"),
                    "{error}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let long = host.run(&Command::run([
            "sh",
            "-c",
            "i=0; while [ $i -lt 3000 ]; do echo out $i; echo err $i >&2; i=$((i+1)); done; exit 2",
        ]));
        let Err(HostError::CommandFailed { stdout, stderr, .. }) = long else {
            panic!("expected a failure")
        };
        assert!(stdout.len() <= super::super::spawn::OUTPUT_TAIL && stdout.ends_with("out 2999\n"));
        assert!(stderr.len() <= super::super::spawn::OUTPUT_TAIL && stderr.ends_with("err 2999\n"));
        assert!(stdout.starts_with("out ") && stderr.starts_with("err "));
    }

    #[test]
    fn pipes_report_the_failing_side() {
        let mut host = FreeBsdHost::new();
        let ok = host
            .run(&Command::Pipe {
                left: vec!["echo".into(), "hi".into()],
                right: vec!["cat".into()],
            })
            .unwrap();
        assert_eq!(ok.stdout, "hi\n");
        let failed = host.run(&Command::Pipe {
            left: vec!["false".into()],
            right: vec!["cat".into()],
        });
        match failed {
            Err(HostError::CommandFailed {
                command, status, ..
            }) => {
                assert!(command.starts_with("false"), "{command}");
                assert_eq!(status, "exit status 1");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(host.commands_run(), 2);
    }
}
