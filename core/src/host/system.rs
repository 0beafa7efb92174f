//! The FreeBSD host and the building blocks test hosts reuse: running commands as
//! argv with their output captured (by absolute path, clean environment:
//! [`super::spawn`]), observing datasets, mounts, jails and paths, and the native
//! steps (atomic file writes and edits, checksums, symlink rewrites), which never
//! follow a symbolic link ([`super::safe_fs`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{self, Stdio};
use std::thread::{self, JoinHandle};

use sha2::{Digest, Sha256};

use super::guard::{ensure_private_dir, FileIdentity, HostGuards};
use super::judge::{is_judged, judge, ActionNotes, Exit};
use super::parse::{parse_jls, parse_mount_p, parse_zfs_get};
use super::safe_fs::{self, SafeFsError};
use super::spawn::{attached_command, download_command, host_command, tail};
use super::{Host, HostError, ObservationRequest};
use crate::action::{Action, Command, Execution};
use crate::edit::relinked_target;
use crate::probes::Probes;
use crate::world::{Dataset, Mount, PathState, RunningJail, World};

/// Shows the progress of long steps (downloads, extraction).
pub trait Progress: Send + Sync {
    /// Starts a task; `total` is its size in bytes when known.
    fn task(&self, label: &str, total: Option<u64>) -> Box<dyn ProgressTask>;
}

/// One task's progress.
pub trait ProgressTask: Send {
    /// `bytes` more were done.
    fn advance(&self, bytes: u64);
    /// The task ended.
    fn finish(&self);
}

/// Progress that shows nothing.
pub struct NoProgress;

struct NoTask;

impl ProgressTask for NoTask {
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

impl Progress for NoProgress {
    fn task(&self, _label: &str, _total: Option<u64>) -> Box<dyn ProgressTask> {
        Box::new(NoTask)
    }
}

/// What a successful command printed.
#[derive(Clone, Debug, Default)]
pub struct CommandOutput {
    /// Standard output (empty when it went to a file).
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Dataset properties observed with one `zfs get`, thinjail's mark among them.
pub const ZFS_PROPERTIES: &str =
    "type,used,referenced,mountpoint,origin,createtxg,creation,thinjail:managed";

/// The `zfs get` that observes `dataset` (and, with `recursive`, everything below
/// it): `-H -p -o name,property,value,source` (the source tells a dataset's own
/// mark from an inherited one). With `types`, `-t filesystem,volume,snapshot`:
/// OpenZFS's `zfs get` lists bookmarks too unless `-t` says otherwise
/// (`zfs_do_get` in cmd/zfs/zfs_main.c starts from `ZFS_TYPE_DATASET |
/// ZFS_TYPE_BOOKMARK`). zfs-fuse's `get` has no `-t` (and no bookmarks), so the
/// test bed asks without it.
pub fn zfs_get_command(dataset: &str, recursive: bool, types: bool) -> Command {
    let mut argv = vec!["zfs", "get", "-H", "-p"];
    if recursive {
        argv.push("-r");
    }
    if types {
        argv.extend(["-t", "filesystem,volume,snapshot"]);
    }
    argv.extend(["-o", "name,property,value,source", ZFS_PROPERTIES, dataset]);
    Command::run(argv)
}

/// A FreeBSD machine, driven through its own commands.
pub struct FreeBsdHost {
    progress: Box<dyn Progress>,
    commands: usize,
    guards: HostGuards,
    /// Private directories checked (or made) during this run.
    private_ok: BTreeSet<PathBuf>,
    /// Files whose checksum was verified during this run, as they were then.
    verified: BTreeMap<PathBuf, FileIdentity>,
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

    /// Runs `argv` and returns how it ended and what it printed, whatever its exit
    /// status: for the tools whose output says what happened ([`super::judge`]).
    pub fn run_capturing(&mut self, argv: &[String]) -> Result<(Exit, CommandOutput), HostError> {
        self.run_capturing_with(argv, false)
    }

    fn run_capturing_with(
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
            let said = judge(
                action,
                &command.render(),
                &exit,
                &output.stdout,
                &output.stderr,
            )?;
            notes.warnings.extend(said.warnings);
            notes.notes.extend(said.notes);
            notes.conflicts.extend(said.conflicts);
        }
        Ok(notes)
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

    /// Lists the jails dataset, everything below it and their snapshots with one
    /// `zfs get` (never the rest of the pool). When the jails dataset does not exist
    /// yet, a second `zfs get` of the pool alone tells whether the pool is there; an
    /// absent pool gives no dataset at all (planning then says the pool is missing).
    pub fn observe_datasets(
        &mut self,
        request: &ObservationRequest,
    ) -> Result<BTreeMap<String, Dataset>, HostError> {
        self.observe_datasets_with(request, true)
    }

    /// [`FreeBsdHost::observe_datasets`], with or without `zfs get -t` (see
    /// [`zfs_get_command`]).
    pub fn observe_datasets_with(
        &mut self,
        request: &ObservationRequest,
        types: bool,
    ) -> Result<BTreeMap<String, Dataset>, HostError> {
        let missing = |e: &HostError| matches!(e, HostError::CommandFailed { stderr, .. } if stderr.contains("does not exist"));
        let jails = zfs_get_command(&request.jails_dataset, true, types);
        match self.run(&jails) {
            Ok(output) => return Ok(parse_zfs_get(&output.stdout)),
            Err(e) if missing(&e) && request.jails_dataset != request.pool => {}
            Err(e) if missing(&e) => return Ok(BTreeMap::new()),
            Err(e) => return Err(e),
        }
        match self.run(&zfs_get_command(&request.pool, false, types)) {
            Ok(output) => Ok(parse_zfs_get(&output.stdout)),
            Err(e) if missing(&e) => Ok(BTreeMap::new()),
            Err(e) => Err(e),
        }
    }

    /// Mounted filesystems (`mount -p`).
    pub fn observe_mounts(&mut self) -> Result<Vec<Mount>, HostError> {
        let output = self.run(&Command::run(["mount", "-p"]))?;
        Ok(parse_mount_p(&output.stdout))
    }

    /// Running and dying jails (`jls -d -v --libxo=json`, read as JSON: jls's
    /// plain `-q` quoting cannot be read back reliably).
    pub fn observe_jails(&mut self) -> Result<BTreeMap<String, RunningJail>, HostError> {
        let command = Command::run(["jls", "-d", "-v", "--libxo=json"]);
        let output = self.run(&command)?;
        parse_jls(&output.stdout).map_err(|problem| {
            HostError::Conflict(format!("cannot read `{}`: {problem}", command.render()))
        })
    }

    /// Runs an action's commands, or its native step, after [`FreeBsdHost::guard`].
    pub fn apply_default(&mut self, action: &Action) -> Result<(), HostError> {
        self.guard(action)?;
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

impl Host for FreeBsdHost {
    fn observe(&mut self, request: &ObservationRequest) -> Result<World, HostError> {
        let mut paths = observe_paths(&request.probes)?;
        let (listed_paths, listed) = super::observe_listed(&request.probes)?;
        super::merge_observed(&mut paths, listed_paths);
        Ok(World {
            datasets: self.observe_datasets(request)?,
            paths,
            mounts: self.observe_mounts()?,
            jails: self.observe_jails()?,
            observed: true,
            listed,
        })
    }

    fn apply(&mut self, action: &Action) -> Result<(), HostError> {
        self.apply_noting(action).map(drop)
    }

    fn apply_noting(&mut self, action: &Action) -> Result<ActionNotes, HostError> {
        if is_judged(action) {
            return self.apply_judged(action);
        }
        self.apply_default(action).map(|()| ActionNotes::default())
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

/// A refusal of [`safe_fs`] (a link, a special file) is a conflict with the host's
/// state; a failing system call is an I/O error.
fn from_safe_fs(context: String, error: SafeFsError) -> HostError {
    match error {
        SafeFsError::Io { .. } => HostError::io(context, error.into()),
        refused => HostError::Conflict(refused.to_string()),
    }
}

/// Observes the probed paths natively (lstat, readlink, read): no command runs.
/// Paths below an untrusted root ([`Probes::beneath`]) are walked without following
/// any symbolic link ([`super::observe_beneath`], [`super::record_beneath`]).
pub fn observe_paths(probes: &Probes) -> Result<BTreeMap<PathBuf, PathState>, HostError> {
    let mut paths = BTreeMap::new();
    for path in probes.paths.iter().chain(&probes.files) {
        let read = probes.files.contains(path);
        paths.insert(path.clone(), path_state(path, read)?);
    }
    for probe in &probes.beneath {
        let found = super::observe_beneath(&probe.root, &probe.relative)?;
        super::record_beneath(&mut paths, probe, found);
    }
    Ok(paths)
}

fn path_state(path: &Path, read: bool) -> Result<PathState, HostError> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(20) => {
            // ENOTDIR: a parent is a file, so nothing can be here.
            return Ok(PathState::Missing);
        }
        Err(e) => return Err(HostError::io(format!("look at {}", path.display()), e)),
    };
    let file_type = metadata.file_type();
    Ok(if file_type.is_symlink() {
        let target = fs::read_link(path)
            .map_err(|e| HostError::io(format!("read link {}", path.display()), e))?;
        PathState::Symlink { target }
    } else if file_type.is_dir() {
        PathState::Directory
    } else {
        let contents = if read {
            read_probed(path, &metadata)?.and_then(|bytes| String::from_utf8(bytes).ok())
        } else {
            None
        };
        PathState::File { contents }
    })
}

/// Reads a probed file that `lstat` saw as `seen`: the final component is opened
/// without following a link, without blocking, and read only when it is still that
/// same regular file (a FIFO or device reads as unknown contents, never hangs).
fn read_probed(path: &Path, seen: &fs::Metadata) -> Result<Option<Vec<u8>>, HostError> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    if !seen.is_file() {
        return Ok(None);
    }
    let flags = nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK;
    let mut file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits())
        .open(path)
    {
        Ok(file) => file,
        // Replaced (by a link, or removed) since the lstat: not the file that was seen.
        Err(_) => return Ok(None),
    };
    let now = file
        .metadata()
        .map_err(|e| HostError::io(format!("look at {}", path.display()), e))?;
    if !now.is_file() || now.dev() != seen.dev() || now.ino() != seen.ino() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| HostError::io(format!("read {}", path.display()), e))?;
    Ok(Some(bytes))
}

/// Carries out a native action (file writes and edits, checksums, symlink rewrites).
pub fn apply_native(action: &Action) -> Result<(), HostError> {
    match action {
        Action::WriteFile {
            path,
            contents,
            mode,
        } => write_atomically(path, contents.as_bytes(), Some(*mode)),
        Action::EditFile { path, edit } => edit_file(path, edit),
        Action::VerifyChecksum {
            file,
            manifest,
            delete_bad,
        } => verify_checksum(file, manifest, *delete_bad).map(|_| ()),
        Action::VerifySha256 {
            file,
            sha256,
            delete_bad,
        } => verify_sha256(file, sha256, *delete_bad).map(|_| ()),
        Action::RelinkSymlinks { tree, was, now } => relink_symlinks(tree, was, now),
        other => Err(HostError::Unsupported(format!(
            "{} is not a native action",
            other.describe()
        ))),
    }
}

/// An edit of a shared file, applied to what the file holds now: read and replaced
/// through one directory opened without following links (see
/// [`safe_fs::write_atomically`]).
fn edit_file(path: &Path, edit: &crate::edit::FileEdit) -> Result<(), HostError> {
    let context = || format!("edit {}", path.display());
    let (dir, name) = safe_fs::open_parent(path).map_err(|e| from_safe_fs(context(), e))?;
    let is_link = dir
        .stat(&name)
        .map_err(|e| from_safe_fs(context(), e))?
        .is_some_and(|stat| {
            nix::sys::stat::SFlag::from_bits_truncate(stat.st_mode) & nix::sys::stat::SFlag::S_IFMT
                == nix::sys::stat::SFlag::S_IFLNK
        });
    if is_link {
        return Err(HostError::Conflict(format!(
            "{} is a symbolic link; jail(8) and rc(8) do not follow it reliably, so thinjail will not edit through it (make it a regular file)",
            path.display()
        )));
    }
    let current = dir
        .read(&name, path)
        .map_err(|e| from_safe_fs(context(), e))?
        .map(|bytes| {
            String::from_utf8(bytes).map_err(|_| {
                HostError::Conflict(format!(
                    "{} is not UTF-8 text; thinjail will not edit it",
                    path.display()
                ))
            })
        })
        .transpose()?
        .unwrap_or_default();
    let edited = edit.try_apply(&current).map_err(|e| {
        HostError::Conflict(format!("{}: {e}; nothing was rewritten", path.display()))
    })?;
    if edited == current {
        return Ok(());
    }
    dir.write_atomically(&name, edited.as_bytes(), None, path)
        .map_err(|e| from_safe_fs(format!("write {}", path.display()), e))
}

/// Writes `bytes` to `path` through a temporary file with an unpredictable name and a
/// rename, so readers see the old or the new file, never half of one; no component
/// of `path` may be a symbolic link (see [`safe_fs::write_atomically`]). Keeps an
/// existing file's mode and owner unless `mode` is given.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), HostError> {
    safe_fs::write_atomically(path, bytes, mode)
        .map_err(|e| from_safe_fs(format!("write {}", path.display()), e))
}

/// The SHA-256 a FreeBSD `MANIFEST` lists for `name` (tab-separated: name, sha256, …).
pub fn manifest_sha256(manifest: &str, name: &str) -> Option<String> {
    manifest.lines().find_map(|line| {
        let mut fields = line.split('\t');
        (fields.next() == Some(name)).then(|| fields.next().map(str::to_string))?
    })
}

/// The number of files a `MANIFEST` lists for `name` (its third column).
pub fn manifest_file_count(manifest: &str, name: &str) -> Option<u64> {
    manifest.lines().find_map(|line| {
        let fields: Vec<&str> = line.split('\t').collect();
        (fields.first() == Some(&name)).then(|| fields.get(2)?.parse().ok())?
    })
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, HostError> {
    let mut file =
        fs::File::open(path).map_err(|e| HostError::io(format!("open {}", path.display()), e))?;
    sha256_of(&mut file, path)
}

fn sha256_of(file: &mut fs::File, path: &Path) -> Result<String, HostError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| HostError::io(format!("read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The SHA-256 of `file` and the identity of the file hashed (from the same
/// descriptor), refusing a file that changed while it was read.
fn hash_unchanged(file: &Path) -> Result<(String, FileIdentity), HostError> {
    let mut opened =
        fs::File::open(file).map_err(|e| HostError::io(format!("open {}", file.display()), e))?;
    let before = opened
        .metadata()
        .map_err(|e| HostError::io(format!("look at {}", file.display()), e))?;
    let actual = sha256_of(&mut opened, file)?;
    let after = opened
        .metadata()
        .map_err(|e| HostError::io(format!("look at {}", file.display()), e))?;
    if FileIdentity::of(&after) != FileIdentity::of(&before) {
        return Err(HostError::Conflict(format!(
            "{} changed while its checksum was computed; nothing was extracted",
            file.display()
        )));
    }
    Ok((actual, FileIdentity::of(&before)))
}

/// Checks `file` against `manifest`; returns the identity of the file that was hashed
/// (taken from the same descriptor), so what reads it later can insist on that file.
fn verify_checksum(
    file: &Path,
    manifest: &Path,
    delete_bad: bool,
) -> Result<FileIdentity, HostError> {
    let listing = fs::read_to_string(manifest)
        .map_err(|e| HostError::io(format!("read {}", manifest.display()), e))?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let expected = manifest_sha256(&listing, name).ok_or_else(|| HostError::NotInManifest {
        manifest: manifest.to_path_buf(),
        name: name.to_string(),
    })?;
    let (actual, identity) = hash_unchanged(file)?;
    if actual.eq_ignore_ascii_case(&expected) {
        tracing::debug!(file = %file.display(), sha256 = %actual, "checksum verified");
        return Ok(identity);
    }
    if delete_bad {
        fs::remove_file(file)
            .map_err(|e| HostError::io(format!("delete {}", file.display()), e))?;
    }
    Err(HostError::ChecksumMismatch {
        file: file.to_path_buf(),
        expected,
        actual,
        deleted: delete_bad,
    })
}

/// Checks `file` against a pinned SHA-256; returns the identity of the file hashed,
/// as [`verify_checksum`] does.
fn verify_sha256(file: &Path, expected: &str, delete_bad: bool) -> Result<FileIdentity, HostError> {
    let (actual, identity) = hash_unchanged(file)?;
    if actual.eq_ignore_ascii_case(expected) {
        tracing::debug!(file = %file.display(), sha256 = %actual, "pinned checksum verified");
        return Ok(identity);
    }
    if delete_bad {
        fs::remove_file(file)
            .map_err(|e| HostError::io(format!("delete {}", file.display()), e))?;
    }
    Err(HostError::PinMismatch {
        file: file.to_path_buf(),
        expected: expected.to_string(),
        actual,
        deleted: delete_bad,
    })
}

/// Walks `tree` through directory descriptors (a directory is entered only as a real
/// directory, never through a link) and rewrites the links [`relinked_target`] names,
/// each atomically under an unpredictable temporary name.
fn relink_symlinks(tree: &Path, was: &Path, now: &Path) -> Result<(), HostError> {
    let context = |path: &Path| format!("relink under {}", path.display());
    let top = safe_fs::open_dir(tree).map_err(|e| from_safe_fs(context(tree), e))?;
    let mut pending = vec![top];
    while let Some(dir) = pending.pop() {
        let entries = dir
            .entries()
            .map_err(|e| from_safe_fs(context(dir.path()), e))?;
        for (name, stat) in entries {
            let kind = nix::sys::stat::SFlag::from_bits_truncate(stat.st_mode)
                & nix::sys::stat::SFlag::S_IFMT;
            let path = dir.path().join(&name);
            if kind == nix::sys::stat::SFlag::S_IFDIR {
                let sub = dir
                    .open_dir(OsStr::new(&name), &path)
                    .map_err(|e| from_safe_fs(context(&path), e))?;
                pending.push(sub);
            } else if kind == nix::sys::stat::SFlag::S_IFLNK {
                let target = dir
                    .read_link(&name)
                    .map_err(|e| from_safe_fs(context(&path), e))?;
                let Ok(relative) = path.strip_prefix(tree) else {
                    continue;
                };
                if let Some(new_target) = relinked_target(was, now, relative, &target) {
                    tracing::debug!(link = %path.display(), from = %target.display(), to = %new_target.display(), "relink");
                    dir.replace_symlink(&name, &new_target)
                        .map_err(|e| from_safe_fs(format!("relink {}", path.display()), e))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::FileEdit;
    use std::os::unix::fs::PermissionsExt;

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
    fn the_file_verified_is_the_file_extracted() {
        let dir = tempfile::tempdir().unwrap();
        let set = dir.path().join("base.txz");
        fs::write(&set, b"verified contents").unwrap();
        let manifest = dir.path().join("MANIFEST");
        fs::write(
            &manifest,
            format!("base.txz\t{}\t1\tbase\n", sha256_file(&set).unwrap()),
        )
        .unwrap();
        let mut host = FreeBsdHost::new();
        host.apply_default(&Action::VerifyChecksum {
            file: set.clone(),
            manifest,
            delete_bad: false,
        })
        .unwrap();
        let read = |host: &mut FreeBsdHost| {
            host.run(&Command::ReadFrom {
                argv: vec!["cat".into()],
                stdin: set.clone(),
            })
        };
        assert_eq!(read(&mut host).unwrap().stdout, "verified contents");
        // Swapped for another file after the check: refused, nothing read.
        let other = dir.path().join("other");
        fs::write(&other, b"something else!!!").unwrap();
        fs::rename(&other, &set).unwrap();
        match read(&mut host) {
            Err(HostError::Conflict(message)) => {
                assert!(
                    message.contains("changed after its checksum was verified"),
                    "{message}"
                )
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn probed_files_are_read_without_following_a_link_or_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let canary = dir.path().join("canary");
        fs::write(&canary, "secret\n").unwrap();
        let link = dir.path().join("fstab");
        std::os::unix::fs::symlink(&canary, &link).unwrap();
        // A FIFO where a file is expected: reading it would wait for a writer forever.
        let fifo = dir.path().join("rc.conf");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let plain = dir.path().join("jail.conf");
        fs::write(&plain, "x {}\n").unwrap();
        let mut probes = Probes::default();
        probes
            .file(link.clone())
            .file(fifo.clone())
            .file(plain.clone());
        let seen = observe_paths(&probes).unwrap();
        assert_eq!(seen[&link], PathState::Symlink { target: canary });
        assert_eq!(seen[&fifo], PathState::File { contents: None });
        assert_eq!(
            seen[&plain],
            PathState::File {
                contents: Some("x {}\n".into())
            }
        );
    }

    #[test]
    fn paths_below_a_jails_data_are_observed_without_following_its_links() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("www/data");
        // What the jail's root did: usr/local is a link to a host directory that
        // holds the file asked about.
        let host_dir = dir.path().join("host-local");
        fs::create_dir_all(host_dir.join("sbin")).unwrap();
        fs::write(host_dir.join("sbin/nginx"), "host\n").unwrap();
        fs::create_dir_all(data.join("usr")).unwrap();
        std::os::unix::fs::symlink(&host_dir, data.join("usr/local")).unwrap();
        fs::create_dir_all(data.join("etc")).unwrap();
        fs::write(data.join("etc/rc.conf"), "x\n").unwrap();
        let mut probes = Probes::default();
        probes
            .beneath(&data, "usr/local/sbin/nginx")
            .beneath(&data, "etc/rc.conf");
        let seen = observe_paths(&probes).unwrap();
        assert_eq!(seen[&data.join("usr/local/sbin/nginx")], PathState::Missing);
        assert_eq!(
            seen[&data.join("usr/local")],
            PathState::Symlink { target: host_dir }
        );
        assert_eq!(
            seen[&data.join("etc/rc.conf")],
            PathState::File { contents: None }
        );
    }

    #[test]
    fn native_writes_never_land_in_a_jails_files() {
        let dir = tempfile::tempdir().unwrap();
        let jails = dir.path().join("jails");
        let data_etc = jails.join("www/data/etc");
        fs::create_dir_all(&data_etc).unwrap();
        let mut host = FreeBsdHost::new().with_guards(HostGuards {
            jails_dir: Some(jails.clone()),
            private_dirs: vec![],
        });
        let write = Action::WriteFile {
            path: data_etc.join("rc.conf"),
            contents: "x\n".into(),
            mode: 0o644,
        };
        assert!(matches!(host.apply(&write), Err(HostError::Conflict(_))));
        assert!(!data_etc.join("rc.conf").exists());
        host.apply(&Action::WriteFile {
            path: jails.join("www/fstab"),
            contents: "x\n".into(),
            mode: 0o644,
        })
        .unwrap();
    }

    #[test]
    fn edits_keep_the_rest_of_the_file_and_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let rc = dir.path().join("rc.conf");
        fs::write(&rc, "hostname=\"h\"\n# keep me\n").unwrap();
        fs::set_permissions(&rc, fs::Permissions::from_mode(0o600)).unwrap();
        let edit = Action::EditFile {
            path: rc.clone(),
            edit: FileEdit::SetRcVar {
                name: "jail_enable".into(),
                value: "YES".into(),
            },
        };
        apply_native(&edit).unwrap();
        assert_eq!(
            fs::read_to_string(&rc).unwrap(),
            "hostname=\"h\"\n# keep me\njail_enable=\"YES\"\n"
        );
        assert_eq!(
            fs::metadata(&rc).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let link = dir.path().join("jail.conf");
        std::os::unix::fs::symlink(&rc, &link).unwrap();
        let through_link = Action::EditFile {
            path: link,
            edit: FileEdit::SetRcVar {
                name: "x".into(),
                value: "1".into(),
            },
        };
        assert!(matches!(
            apply_native(&through_link),
            Err(HostError::Conflict(_))
        ));
    }

    #[test]
    fn checksum_mismatch_deletes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let set = dir.path().join("base.txz");
        fs::write(&set, b"hello").unwrap();
        let good = sha256_file(&set).unwrap();
        let manifest = dir.path().join("MANIFEST");
        fs::write(
            &manifest,
            format!("base.txz\t{good}\t3\tbase\t\"Base system\"\ton\n"),
        )
        .unwrap();
        let verify = Action::VerifyChecksum {
            file: set.clone(),
            manifest: manifest.clone(),
            delete_bad: true,
        };
        apply_native(&verify).unwrap();
        fs::write(
            &manifest,
            format!(
                "base.txz\t{}\t3\tbase\t\"Base system\"\ton\n",
                "0".repeat(64)
            ),
        )
        .unwrap();
        assert!(matches!(
            apply_native(&verify),
            Err(HostError::ChecksumMismatch { .. })
        ));
        assert!(!set.exists());
    }

    #[test]
    fn a_pinned_checksum_mismatch_deletes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("MANIFEST");
        fs::write(&manifest, b"base.txz\t00\t1\tbase\n").unwrap();
        let good = sha256_file(&manifest).unwrap();
        let verify = |sha256: String| Action::VerifySha256 {
            file: manifest.clone(),
            sha256,
            delete_bad: true,
        };
        apply_native(&verify(good.to_ascii_uppercase())).unwrap();
        assert!(manifest.exists());
        let wrong = "0".repeat(64);
        match apply_native(&verify(wrong.clone())) {
            Err(HostError::PinMismatch {
                expected,
                actual,
                deleted: true,
                ..
            }) => assert_eq!((expected, actual), (wrong, good)),
            other => panic!("{other:?}"),
        }
        assert!(
            !manifest.exists(),
            "a MANIFEST that fails its pin is deleted"
        );
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

    /// Only the jails dataset's tree, bookmarks left out, with the source of each value.
    #[test]
    fn observation_lists_the_jails_dataset_without_bookmarks() {
        assert_eq!(
            zfs_get_command("zroot/jails", true, true).render(),
            format!(
                "zfs get -H -p -r -t filesystem,volume,snapshot -o name,property,value,source {ZFS_PROPERTIES} zroot/jails"
            )
        );
        assert!(ZFS_PROPERTIES.ends_with(",thinjail:managed"));
        assert_eq!(
            zfs_get_command("zroot", false, false).render(),
            format!("zfs get -H -p -o name,property,value,source {ZFS_PROPERTIES} zroot")
        );
    }

    #[test]
    fn relinks_links_leaving_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("ssl/certs");
        fs::create_dir_all(&certs).unwrap();
        std::os::unix::fs::symlink("../../../usr/share/certs/ca.pem", certs.join("ca.pem"))
            .unwrap();
        std::os::unix::fs::symlink("../cert.pem", certs.join("inside.pem")).unwrap();
        relink_symlinks(dir.path(), Path::new("/etc"), Path::new("/skeleton/etc")).unwrap();
        assert_eq!(
            fs::read_link(certs.join("ca.pem")).unwrap(),
            PathBuf::from("../../../../usr/share/certs/ca.pem")
        );
        assert_eq!(
            fs::read_link(certs.join("inside.pem")).unwrap(),
            PathBuf::from("../cert.pem")
        );
    }
}
