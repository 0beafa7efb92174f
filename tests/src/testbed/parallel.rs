//! Several jails started at once (`Action::StartJails`) on the test bed, as the
//! FreeBSD host does it (`thinjail_core::resources::order`): one `jail -f FILE -c
//! NAME` ([`crate::jail8`]) per jail, side by side on threads of this process, at
//! most the action's limit at a time, each after the jails of the start it depends
//! on; a failure skips its dependents and lets the others go on.
//!
//! The FreeBSD host runs each jail(8) as a process of its own and counts one
//! command per jail; here each runs on a thread with a [`TestBed`] of its own
//! sharing the state directory, whose updates (the running jails, the rctl and
//! cpuset stand-ins' records) are serialised by [`STATE`], where FreeBSD's kernel
//! serialises them. What it cannot reproduce: jail(8) processes killed one by
//! one (a thread cannot be). Each jail takes its JID before its `exec.created`
//! runs, as the kernel gives it when it makes the jail.
//!
//! Each jail's `exec.start` is recorded in [`EXEC_START_LOG`] (name, start and end
//! in nanoseconds since the epoch), so a test can show that two jails' `/etc/rc`
//! overlapped and that a jail's began only after its dependency's ended, without
//! timing anything itself.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use thinjail_core::host::{HostError, NoProgress};
use thinjail_core::resources::order::{self, JailStart};

use super::{Faults, TestBed};

/// Held while a thread reads and writes the test bed's shared state files.
pub(super) static STATE: Mutex<()> = Mutex::new(());

/// The record of each jail's `exec.start` window, in the state directory: lines
/// `NAME START_NS END_NS`.
pub const EXEC_START_LOG: &str = "exec-start.log";

/// One `exec.start` window of [`EXEC_START_LOG`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecStart {
    /// The jail.
    pub jail: String,
    /// When its `exec.start` began (ns since the epoch).
    pub start: u128,
    /// When it ended.
    pub end: u128,
}

impl ExecStart {
    /// Whether the two windows overlap.
    pub fn overlaps(&self, other: &ExecStart) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// The windows recorded in `state_dir`, in the order they ended.
pub fn exec_starts(state_dir: &Path) -> Vec<ExecStart> {
    let text = std::fs::read_to_string(state_dir.join(EXEC_START_LOG)).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut words = line.split(' ');
            Some(ExecStart {
                jail: words.next()?.to_string(),
                start: words.next()?.parse().ok()?,
                end: words.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// Nanoseconds since the epoch, now.
pub(super) fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Appends one window to the record (a single short write: lines of jails ending
/// together do not mix).
pub(super) fn record_exec_start(state_dir: &Path, jail: &str, start: u128) {
    let line = format!("{jail} {start} {}\n", now_ns());
    if let Ok(mut file) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(state_dir.join(EXEC_START_LOG))
    {
        let _ = file.write_all(line.as_bytes());
    }
}

impl TestBed {
    /// `Action::StartJails`: each jail as [`TestBed::start_jail`] starts it, side
    /// by side.
    pub(super) fn start_jails(
        &mut self,
        jails: &[JailStart],
        limit: Option<u32>,
    ) -> Result<(), HostError> {
        let limit = limit.map_or_else(order::default_limit, |n| n as usize);
        let commands = std::sync::atomic::AtomicUsize::new(0);
        let report = order::start_bounded(jails, limit, |jail| {
            let mut worker = TestBed::new(
                self.state_dir.clone(),
                Faults::default(),
                Box::new(NoProgress),
            );
            worker.system_root = self.system_root.clone();
            worker.semantics = self.semantics;
            let outcome = worker.start_jail(&jail.conf, &jail.jail);
            commands.fetch_add(
                thinjail_core::host::Host::commands_run(&worker),
                std::sync::atomic::Ordering::Relaxed,
            );
            outcome
        });
        self.parallel_commands += commands.into_inner();
        HostError::from_starts(report)
    }
}
