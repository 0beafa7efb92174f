//! Several jails started at once (`Action::StartJails`) on the test bed, as the
//! FreeBSD host does it (`thinjail_core::resources::order`): one `jail -f FILE -c
//! NAME` ([`crate::jail8`]) per jail, side by side on threads of this process, at
//! most the action's limit at a time, each after the jails of the start it depends
//! on; a failure skips its dependents and lets the others go on. Several jails
//! stopped at once (`Action::StopJails`, `thinjail_core::stop`) likewise: one
//! `jail -f FILE -r NAME`, then the rctl stand-in's `rctl -r` of its rules, per
//! jail, each after the jails of the stop that depend on it; a failure leaves the
//! jails it depends on running.
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
//! timing anything itself; each `exec.stop` that succeeded, in [`EXEC_STOP_LOG`].

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use thinjail_core::host::{HostError, NoProgress};
use thinjail_core::resources::order::JailStop;
use thinjail_core::resources::order::{self, JailStart};

use super::{Faults, TestBed};

/// Held while a thread reads and writes the test bed's shared state files.
pub(super) static STATE: Mutex<()> = Mutex::new(());

/// The record of each jail's `exec.start` window, in the state directory: lines
/// `NAME START_NS END_NS`.
pub const EXEC_START_LOG: &str = "exec-start.log";

/// The record of each jail's `exec.stop` window (the ones that succeeded), in the
/// state directory, as [`EXEC_START_LOG`].
pub const EXEC_STOP_LOG: &str = "exec-stop.log";

/// One `exec.start` (or `exec.stop`) window of [`EXEC_START_LOG`] ([`EXEC_STOP_LOG`]).
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

/// `jail`'s window among `windows` (a test failure when it has none).
pub fn window_of<'a>(windows: &'a [ExecStart], jail: &str) -> &'a ExecStart {
    windows
        .iter()
        .find(|w| w.jail == jail)
        .unwrap_or_else(|| panic!("no window of {jail}: {windows:?}"))
}

/// The `exec.start` windows recorded in `state_dir`, in the order they ended.
pub fn exec_starts(state_dir: &Path) -> Vec<ExecStart> {
    windows(state_dir, EXEC_START_LOG)
}

/// The `exec.stop` windows recorded in `state_dir`, in the order they ended.
pub fn exec_stops(state_dir: &Path) -> Vec<ExecStart> {
    windows(state_dir, EXEC_STOP_LOG)
}

fn windows(state_dir: &Path, log: &str) -> Vec<ExecStart> {
    let text = std::fs::read_to_string(state_dir.join(log)).unwrap_or_default();
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

/// Appends one window to the record `log` (a single short write: lines of jails
/// ending together do not mix).
pub(super) fn record_window(state_dir: &Path, log: &str, jail: &str, start: u128) {
    let line = format!("{jail} {start} {}\n", now_ns());
    if let Ok(mut file) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(state_dir.join(log))
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
            let mut worker = self.worker();
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

    /// A test bed of its own for one jail of a parallel start or stop: the same
    /// state, system and jail(8) semantics, no faults, no progress output.
    fn worker(&self) -> TestBed {
        let mut worker = TestBed::new(
            self.state_dir.clone(),
            Faults::default(),
            Box::new(NoProgress),
        );
        worker.system_root = self.system_root.clone();
        worker.semantics = self.semantics;
        worker
    }

    /// `Action::StopJails`: each jail as [`TestBed::stop_jail`] stops it, then its
    /// rules removed by the rctl stand-in, side by side.
    pub(super) fn stop_jails(
        &mut self,
        jails: &[JailStop],
        limit: Option<u32>,
    ) -> Result<(), HostError> {
        let limit = limit.map_or_else(order::default_limit, |n| n as usize);
        let commands = std::sync::atomic::AtomicUsize::new(0);
        let report = thinjail_core::resources::order::stop_bounded(jails, limit, |jail| {
            let mut worker = self.worker();
            let outcome = worker.stop_jail(&jail.conf, &jail.jail).and_then(|()| {
                match jail.remove_limits_argv() {
                    Some(argv) => worker.run_stand_in(&argv),
                    None => Ok(()),
                }
            });
            commands.fetch_add(
                thinjail_core::host::Host::commands_run(&worker),
                std::sync::atomic::Ordering::Relaxed,
            );
            outcome
        });
        self.parallel_commands += commands.into_inner();
        HostError::from_stops(report)
    }
}
