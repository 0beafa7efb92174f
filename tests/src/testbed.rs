//! The Linux test bed: a host that applies every action exactly like
//! [`FreeBsdHost`] — same argv, same pipes, same native steps — except for this
//! short, explicit list of substitutions, each standing in for a FreeBSD facility
//! Linux does not have:
//!
//! 1. `jail -f CONF -c NAME` → [`crate::jail8`]: the whole of CONF read with the
//!    jail.conf model (includes below the recipe's `host.system_root`, 13.x or 14+
//!    semantics), refused on a syntax error or an unknown jail; its effective
//!    parameters carried out in jail(8)'s order — host-side hooks on the host,
//!    `exec.start` in chroot(8), a path with a symlink in it refused, each `mount`
//!    and `mount.fstab` line read as jail(8) reads it — cut at `#`, split on blanks,
//!    no `\040` decoding, fewer than three fields refused with jail(8)'s "missing
//!    information" — (nullfs → `mount --bind`, then `mount -o remount,bind,ro` for
//!    `ro`; tmpfs → Linux's tmpfs with the mount point's mode and owner, as
//!    FreeBSD's takes them: [`fstab_mount`]), `mount.devfs` → a tmpfs with the null,
//!    zero, random, urandom, tty and bpf nodes the jail's `devfs_ruleset` (else 4)
//!    leaves visible ([`crate::devfs`]: 4 shows the first four), the mounts undone
//!    if any of it fails.
//!    `depend` is honoured in jail(8)'s order ([`crate::depend8`]). The running
//!    jail is recorded in a state file instead of the kernel.
//! 2. `jail -f CONF -r NAME` → CONF read again, `exec.prestop`, `exec.stop` in chroot,
//!    `exec.poststop`, then the mounts it names unmounted in reverse order; a failed
//!    `exec.prestop` or `exec.stop` leaves the jail running with its mounts, as
//!    jail(8) does.
//! 3. `jexec -l NAME CMD` → `env -i … chroot ROOT CMD`.
//! 4. file flags (`chflags`, `schg`): Linux has none, so [`fileflags`] keeps them in
//!    a registry by filesystem and inode, set by extraction (from the archive's
//!    `SCHILY.fflags`), `chflags`, `cp -p`, and zfs snapshots, clones, `send |
//!    receive` and rollbacks, and enforced like FreeBSD: `rm`, `rmdir`, `mv`, `mkdir`,
//!    `ln`, `cp` and the native writes fail with "Operation not permitted" on a
//!    protected file or in a protected directory (see that module for what it
//!    cannot reproduce).
//! 5. `fetch -o - URL` → `curl -fsS URL`, given the proxy variables as fetch is
//!    ([`thinjail_core::host::spawn::PROXY_VARIABLES`]); curl honours `http_proxy`
//!    and `NO_PROXY`/`no_proxy` but not `HTTP_PROXY`, `HTTP_PROXY_AUTH` or
//!    `FTP_PROXY`, which fetch(1) also reads.
//! 6. `tar` → `bsdtar --no-fflags` (FreeBSD's tar is bsdtar; GNU tar cannot read xz
//!    from a pipe; the flags go to the registry instead).
//! 7. observation: `mount -p` → `/proc/self/mountinfo`; `jls -d -v --libxo=json` →
//!    the state file (each jail with its JID and root, so a test can record a jail
//!    started outside thinjail; it cannot record a dying jail); `zfs get -t
//!    filesystem,volume,snapshot` → the same `zfs get` without `-t`, which zfs-fuse
//!    does not accept (it has no bookmarks either, so it lists the same types).
//! 8. `zfs destroy` (and the delegated datasets' `zfs unmount`) is retried briefly on
//!    "busy": zfs-fuse unmounts first and reports busy once (on FreeBSD busy stays an
//!    error).
//! 9. `freebsd-update` → the test bed's stand-in ([`crate::freebsd_update`]), run for
//!    the action's real `env … freebsd-update …` argv and the environment the host
//!    gives a command that downloads (`PATH` and the proxy variables set,
//!    [`thinjail_core::host::spawn::download_command`]),
//!    with a directory of published updates (`<state dir>/update-server/`) standing in
//!    for update.FreeBSD.org; its exit and output are judged exactly as on FreeBSD
//!    ([`thinjail_core::host::judge`]). It reproduces the command line, the
//!    configuration file, the work directory checks, the end-of-life exit after
//!    fetching and "No updates are available to install.", and writes through the
//!    tree's paths as install(1) does; it cannot reproduce the network, signatures,
//!    directories and links of the indexes, or the kernel (see its module).
//!    `etcupdate` is not substituted: the synthetic base carries a stand-in at
//!    `/usr/sbin/etcupdate` (`fixtures/etcupdate.sh`: busybox sh with GNU diff3 for
//!    the three-way merge; it opens its log through links as the real one does, and
//!    refuses, merges, reports conflicts and blocks on them as the real one does), run
//!    inside the jail through the substituted `jexec`, and judged the same way; so is
//!    a `certctl` that relinks `/etc/ssl/certs`. `tar -c` (`ArchiveTree`) → `bsdtar
//!    -c`; `bsdinstall` → refused.
//! 10. `rctl` and `cpuset` (the `add_limits`, `remove_limits` and `set_cpuset`
//!     actions, and `/usr/bin/rctl`, `/usr/bin/cpuset` in jail(8)'s `exec.created`)
//!     → the stand-ins [`crate::rctl`] and [`crate::cpuset`], which record rules and
//!     masks per test bed and refuse as rctl(8), the kernel and cpuset(1) do;
//!     observation reads their state (`kern.racct.enable`, the rules, the host's
//!     CPUs and each jail's) instead of running `sysctl`, `rctl` and `cpuset`.
//!     Nothing is enforced: Linux neither limits nor pins the chroot's processes.
//! 11. the network ([`crate::netbed`], [`crate::pfbed`]): a VNET jail's namespace, its
//!     in-jail commands run there (`nsenter --net`), `/sbin/ifconfig` in jail hooks
//!     with veth pairs and Linux bridges, `ifconfig -l` → the interfaces of the
//!     namespace `THINJAIL_TESTBED_NETNS` names; the `ifconfig` action (bridges
//!     thinjail makes) → [`crate::netbed::NetBed::ifconfig`]; `ifconfig -g bridge`,
//!     an uplink's addresses and `net.link.bridge.member_ifaddrs` → that
//!     namespace's bridges and addresses and `THINJAIL_TESTBED_MEMBER_IFADDRS`;
//!     a failed start's `destroy_on_failure` interfaces destroyed there, as
//!     `FreeBsdHost` does; nothing outside it. A VNET jail's namespace refuses
//!     router advertisements until the jail's rc accepts them ([`ra_accept`]).
//! 12. delegated datasets ([`datasets`]): `jailed` kept in the test bed's record,
//!     `create_jailed_dataset` as zfs-fuse's `zfs create -o canmount=noauto`,
//!     `/sbin/zfs jail` in `exec.created` and `zfs.dataset` as the record's
//!     attachment (refused as zfs(8) and the kernel refuse it), `/sbin/zfs mount -a`
//!     / `unmount -a` in `exec.start` / `exec.stop` mounting the jail's attached,
//!     jailed datasets with zfs-fuse inside its root; observation of `jailed` reads
//!     the record.
//! 13. the host kernel's release (`sysctl -n kern.osrelease`) → the release a test
//!     sets ([`file_mounts`], below the file-mount gate by default), and a nullfs
//!     `mount.fstab` line that FreeBSD's kernel refuses for its types (a file
//!     mount point below the gate, with several links, or a file on a directory
//!     and the reverse) fails as jail(8) fails it before `mount --bind` runs.
//!
//! Every command, substituted or not, runs through [`FreeBsdHost::run`]: by absolute
//! path found in `/sbin:/bin:/usr/sbin:/usr/bin` only, with a clean environment
//! (Debian keeps `curl`, `bsdtar`, `env`, `mount` in `/usr/bin` and `chroot`, `zfs`
//! in `/usr/sbin`). The recipe's guards apply before every action, substitutions
//! included ([`FreeBsdHost::guard`]: the private cache, no native writes into a
//! jail's files).
//!
//! zfs-fuse wedges when datasets are unmounted while others are mounted, so each
//! action and each observation holds the test bed's zfs lock
//! ([`crate::fixtures::zfs_lock::ZfsLock`]): test processes running in parallel
//! interleave action by action, never inside one.
//!
//! It can also inject faults: fail action k with a real failing command, or kill
//! the process with SIGKILL right after action k.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thinjail_cli::HostProvider;
use thinjail_core::action::{Action, Command, Execution};
use thinjail_core::boot::SystemRoot;
use thinjail_core::host::{
    judge, merge_observed, observe_listed, observe_paths, parse_proc_mountinfo, ActionNotes, Exit,
    FreeBsdHost, Host, HostError, HostGuards, ObservationRequest, Progress,
};
use thinjail_core::jailconf::{JailConf, Params, Semantics};
use thinjail_core::resources::cpuset::CpuList;
use thinjail_core::resources::{ObservedCpus, ObservedLimits, Racct};
use thinjail_core::world::{RunningJail, World};
use thinjail_core::Recipe;

use crate::fixtures::zfs_lock::ZfsLock;
use crate::freebsd_update;
use crate::jail8;

pub mod datasets;
pub mod file_mounts;
pub mod fileflags;
pub mod fstab_mount;
pub mod parallel;
pub mod ra_accept;

use fileflags::FileFlagsBed;

/// Faults to inject, counted over the actions this host applies (1-based).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// Replace action k by a command that fails (exit 3, "injected failure" on
    /// standard error, "failing on purpose" on standard output).
    pub fail_at: Option<usize>,
    /// Kill the process with SIGKILL right after action k succeeded.
    pub kill_after: Option<usize>,
}

impl Faults {
    /// Action k (1-based) fails.
    pub fn fail_at(k: usize) -> Self {
        Faults {
            fail_at: Some(k),
            kill_after: None,
        }
    }

    /// The process is killed with SIGKILL right after action k (1-based).
    pub fn kill_after(k: usize) -> Self {
        Faults {
            fail_at: None,
            kill_after: Some(k),
        }
    }

    /// [`Faults::kill_after`] when `kill`, else [`Faults::fail_at`].
    pub fn at(k: usize, kill: bool) -> Self {
        if kill {
            Faults::kill_after(k)
        } else {
            Faults::fail_at(k)
        }
    }

    /// Faults from `THINJAIL_TESTBED_FAIL_AT` and `THINJAIL_TESTBED_KILL_AFTER`.
    pub fn from_env() -> Self {
        let number = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
        Faults {
            fail_at: number("THINJAIL_TESTBED_FAIL_AT"),
            kill_after: number("THINJAIL_TESTBED_KILL_AFTER"),
        }
    }
}

/// A jail the test bed has "started".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestJail {
    /// Fake jail ID.
    pub jid: u32,
    /// Root.
    pub path: PathBuf,
    /// What was mounted for it, in mount order.
    pub mounts: Vec<PathBuf>,
    /// Its `exec.stop`, run when it stops.
    pub exec_stop: Option<String>,
    /// Whether it has its own network stack (`vnet`): a namespace of its own
    /// ([`crate::netbed`]).
    #[serde(default)]
    pub vnet: bool,
}

/// Running jails, kept in `<state dir>/jails.json` across processes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestBedState {
    /// By name.
    pub jails: BTreeMap<String, TestJail>,
    /// Next JID to hand out.
    pub next_jid: u32,
}

impl TestBedState {
    fn file(dir: &Path) -> PathBuf {
        dir.join("jails.json")
    }

    /// Reads the state in `dir` (empty when none yet).
    pub fn load(dir: &Path) -> Result<Self, HostError> {
        match fs::read_to_string(Self::file(dir)) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                HostError::Conflict(format!("test bed state {}: {e}", Self::file(dir).display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TestBedState::default()),
            Err(e) => Err(HostError::io(
                format!("read {}", Self::file(dir).display()),
                e,
            )),
        }
    }

    fn save(&self, dir: &Path) -> Result<(), HostError> {
        fs::create_dir_all(dir)
            .map_err(|e| HostError::io(format!("create {}", dir.display()), e))?;
        let text =
            serde_json::to_string_pretty(self).map_err(|e| HostError::Conflict(e.to_string()))?;
        thinjail_core::host::write_atomically(&Self::file(dir), text.as_bytes(), Some(0o644))
    }
}

/// The test bed host.
pub struct TestBed {
    inner: FreeBsdHost,
    flags: FileFlagsBed,
    state_dir: PathBuf,
    faults: Faults,
    applied: usize,
    /// Where the system whose jail.conf files jail(8) reads is (includes).
    system_root: SystemRoot,
    /// How jail(8) reads them ([`crate::jail8::semantics_from_env`]).
    semantics: Semantics,
    /// Commands run by the jail(8)s of parallel starts ([`parallel`]).
    parallel_commands: usize,
    /// The JID of the jail being created (the cpuset(1) stand-in finds it by it).
    creating_jid: u32,
}

/// `argv` run in `root` with a clean environment: the test bed's `jexec -l`.
fn in_chroot(root: &Path, argv: &[&str]) -> Vec<String> {
    let mut full: Vec<String> = ["env", "-i", jail8::CLEAN_PATH, "HOME=/root", "chroot"]
        .map(String::from)
        .to_vec();
    full.push(root.display().to_string());
    full.extend(argv.iter().map(|a| a.to_string()));
    full
}

impl TestBed {
    /// A test bed keeping its jail state in `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>, faults: Faults, progress: Box<dyn Progress>) -> Self {
        let state_dir = state_dir.into();
        TestBed {
            inner: FreeBsdHost::with_progress(progress),
            flags: FileFlagsBed::new(state_dir.clone()),
            state_dir,
            faults,
            applied: 0,
            system_root: SystemRoot::new("/"),
            semantics: crate::jail8::semantics_from_env(),
            parallel_commands: 0,
            creating_jid: 0,
        }
    }

    /// This test bed, protecting what `guards` names while it applies.
    pub fn with_guards(mut self, guards: HostGuards) -> Self {
        self.inner = self.inner.with_guards(guards);
        self
    }

    /// jail(8) reads the files of the system at `root` (a recipe's
    /// `host.system_root`), as FreeBSD `semantics` does.
    pub fn with_system(mut self, root: impl Into<PathBuf>, semantics: Semantics) -> Self {
        self.system_root = SystemRoot::new(root);
        self.semantics = semantics;
        self
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    fn run(&mut self, argv: &[&str]) -> Result<String, HostError> {
        Ok(self.inner.run(&Command::run(argv.iter().copied()))?.stdout)
    }

    /// The test bed's own way of carrying out `action`, if it has one: `Some` with
    /// what the action's tool said, `None` for the FreeBSD host's way.
    fn substitute(&mut self, action: &Action) -> Result<Option<ActionNotes>, HostError> {
        match action {
            Action::FreebsdUpdate { .. } => {
                let Execution::Commands(commands) = action.execution() else {
                    return Ok(None);
                };
                let mut notes = ActionNotes::default();
                for command in &commands {
                    let Command::Run { argv } = command else {
                        continue;
                    };
                    // What the host gives a command that downloads (download_command):
                    // PATH and the proxy variables set here; the action's own `env` adds
                    // the rest.
                    let mut environment = BTreeMap::from([(
                        "PATH".to_string(),
                        thinjail_core::host::spawn::HOST_PATH.to_string(),
                    )]);
                    let proxies = thinjail_core::host::spawn::proxy_environment(&|name| {
                        std::env::var_os(name)
                    });
                    for (name, value) in proxies {
                        environment.insert(name.to_string(), value.to_string_lossy().into_owned());
                    }
                    let outcome = freebsd_update::run(&self.state_dir, argv, &environment);
                    notes.append(judge(
                        action,
                        &command.render(),
                        &Exit::code(outcome.code),
                        &outcome.stdout,
                        &outcome.stderr,
                    )?);
                }
                Ok(Some(notes))
            }
            Action::EtcupdateInJail { jail, .. } => {
                let Execution::Commands(commands) = action.execution() else {
                    return Ok(None);
                };
                let mut notes = ActionNotes::default();
                for command in &commands {
                    let Command::Run { argv } = command else {
                        continue;
                    };
                    // `jexec -l JAIL PROGRAM…` → the test bed's jexec.
                    let inside: Vec<&str> = argv.iter().skip(3).map(String::as_str).collect();
                    let full = self.jexec(jail, &inside)?;
                    let (exit, output) = self.inner.run_capturing(&full)?;
                    notes.append(judge(
                        action,
                        &command.render(),
                        &exit,
                        &output.stdout,
                        &output.stderr,
                    )?);
                }
                Ok(Some(notes))
            }
            Action::ArchiveTree { tree, archive } => {
                let part = thinjail_core::action::partial_path(archive);
                self.inner.run(&Command::run([
                    "bsdtar".to_string(),
                    "-cJf".into(),
                    part.display().to_string(),
                    "-C".into(),
                    tree.display().to_string(),
                    ".".into(),
                ]))?;
                self.inner.run(&Command::run([
                    "mv".to_string(),
                    part.display().to_string(),
                    archive.display().to_string(),
                ]))?;
                Ok(Some(ActionNotes::default()))
            }
            other => Ok(self.substitute_plain(other)?.then(ActionNotes::default)),
        }
    }

    fn substitute_plain(&mut self, action: &Action) -> Result<bool, HostError> {
        match action {
            Action::StartJail {
                conf,
                jail,
                destroy_on_failure,
                ..
            } => match self.start_jail(conf, jail) {
                Ok(()) => Ok(true),
                // As FreeBsdHost: the interfaces the failed start's exec.prestart
                // made are destroyed (jail(8) runs no exec.poststop for it).
                Err(e) if !destroy_on_failure.is_empty() => {
                    let left = match crate::netbed::NetBed::from_env() {
                        Ok(bed) => bed.destroy_existing(destroy_on_failure),
                        Err(err) => vec![err.to_string()],
                    };
                    Err(thinjail_core::host::with_cleanup(e, left))
                }
                Err(e) => Err(e),
            },
            Action::StartJails { jails, limit } => self.start_jails(jails, *limit).map(|()| true),
            Action::StopJail { conf, jail } => self.stop_jail(conf, jail).map(|()| true),
            Action::StopJails { jails, limit } => self.stop_jails(jails, *limit).map(|()| true),
            Action::CreateJailedDataset {
                dataset,
                path,
                owner,
                ..
            } => {
                let state_dir = self.state_dir.clone();
                datasets::create_jailed(
                    &state_dir,
                    &mut |argv| self.run(argv),
                    dataset,
                    path,
                    owner,
                )
                .map(|()| true)
            }
            Action::DestroyJailedDataset { dataset, .. } => {
                datasets::retry_busy(
                    &mut |argv| self.run(argv),
                    &["zfs", "destroy", "-r", dataset],
                )?;
                datasets::forget_dataset(&self.state_dir, dataset).map(|()| true)
            }
            Action::LoadPfAnchor { .. } | Action::FlushPfAnchor { .. } => {
                let Execution::Commands(commands) = action.execution() else {
                    return Ok(false);
                };
                // The main ruleset pf holds is what rc.d/pf loaded: `pf_rules`.
                let rules = thinjail_core::pf_rules::rules_file(&crate::jail8::SystemFiles(
                    &self.system_root,
                ))
                .unwrap_or_else(|_| thinjail_core::pf_rules::DEFAULT.into());
                let pf_conf = self.system_root.host(&rules);
                let bed = crate::netbed::NetBed::from_env()?;
                for command in &commands {
                    if let Command::Run { argv } = command {
                        crate::pfbed::pfctl(&bed, &argv[1..], &pf_conf)?;
                    }
                }
                Ok(true)
            }
            Action::AddLimits { .. }
            | Action::RemoveLimits { .. }
            | Action::SetCpuset { .. }
            | Action::LoadDevfsRuleset { .. }
            | Action::RemoveDevfsRuleset { .. } => {
                let Execution::Commands(commands) = action.execution() else {
                    return Ok(false);
                };
                for command in &commands {
                    let Command::Run { argv } = command else {
                        continue;
                    };
                    self.run_stand_in(argv)?;
                }
                Ok(true)
            }
            Action::ExecInJail { jail, argv }
                if argv.first().map(String::as_str)
                    == Some(thinjail_core::resources::datasets::ZFS) =>
            {
                // The test bed's in-jail zfs, with the permission the jail was made with.
                let state = TestBedState::load(&self.state_dir)?;
                let root = state
                    .jails
                    .get(jail)
                    .map(|j| j.path.clone())
                    .ok_or_else(|| HostError::Conflict(format!("jail \"{jail}\" not found")))?;
                let state_dir = self.state_dir.clone();
                let permission = datasets::permission_of(&state_dir, jail);
                let outcome = datasets::in_jail(
                    &state_dir,
                    &mut |a| self.run(a),
                    jail,
                    &root,
                    &argv[1..],
                    &permission,
                )?;
                if outcome.code != 0 {
                    return Err(HostError::CommandFailed {
                        command: format!("jexec -l {jail} {}", argv.join(" ")),
                        status: format!("exit status: {}", outcome.code),
                        stdout: outcome.stdout,
                        stderr: outcome.stderr,
                    });
                }
                Ok(true)
            }
            // ifconfig(8) on bridges → the test's namespace (crate::netbed).
            Action::Ifconfig { args } => crate::netbed::NetBed::from_env()?
                .ifconfig(args)
                .map(|_| true),
            Action::ExecInJail { jail, argv } => {
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                let full = self.jexec(jail, &argv)?;
                self.inner.run(&Command::Run { argv: full }).map(|_| true)
            }
            Action::Download { url, dest } => {
                let part = thinjail_core::action::partial_path(dest);
                // With the proxy variables, as fetch(1) gets them (curl reads the
                // lowercase http_proxy, not HTTP_PROXY).
                self.inner.run_for(
                    action,
                    &Command::WriteTo {
                        argv: vec!["curl".into(), "-fsS".into(), url.clone()],
                        stdout: part.clone(),
                    },
                )?;
                self.flags.run(
                    &mut self.inner,
                    &Command::run([
                        "mv".to_string(),
                        part.display().to_string(),
                        dest.display().to_string(),
                    ]),
                )?;
                Ok(true)
            }
            Action::DestroyDataset { .. } | Action::DestroySnapshot { .. } => {
                let mut attempt = 0;
                loop {
                    match self.flags.apply(&mut self.inner, action) {
                        Err(HostError::CommandFailed { stderr, .. })
                            if stderr.contains("busy") && attempt < 5 =>
                        {
                            attempt += 1;
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        other => return other.map(|()| true),
                    }
                }
            }
            Action::Bsdinstall { .. } => Err(HostError::Unsupported(format!(
                "the Linux test bed cannot run {}",
                action.describe()
            ))),
            _ => Ok(false),
        }
    }

    /// The test bed's `jexec -l JAIL ARGV`: chroot to its root, in its network
    /// namespace when it has one.
    fn jexec(&self, jail: &str, argv: &[&str]) -> Result<Vec<String>, HostError> {
        let state = TestBedState::load(&self.state_dir)?;
        let running = state
            .jails
            .get(jail)
            .ok_or_else(|| HostError::Conflict(format!("jail \"{jail}\" not found")))?;
        let mut full = crate::netbed::jail_prefix(jail, running.vnet)?;
        full.extend(in_chroot(&running.path, argv));
        Ok(full)
    }

    /// Runs `argv` (rctl, cpuset or devfs) with its stand-in; a non-zero exit is the
    /// command's failure.
    fn run_stand_in(&mut self, argv: &[String]) -> Result<(), HostError> {
        let command = thinjail_core::quote::sh_command(argv);
        let outcome = self
            .stand_in(argv, None)?
            .ok_or_else(|| HostError::Unsupported(format!("{command} has no stand-in")))?;
        if outcome.code != 0 {
            return Err(HostError::CommandFailed {
                command,
                status: format!("exit status: {}", outcome.code),
                stdout: outcome.stdout,
                stderr: outcome.stderr,
            });
        }
        Ok(())
    }

    /// `jail -f CONF -c JAIL`, as [`crate::jail8`] describes.
    fn start_jail(&mut self, conf: &Path, jail: &str) -> Result<(), HostError> {
        let argv = format!("jail -f {} -c {jail}", conf.display());
        let state = TestBedState::load(&self.state_dir)?;
        let system = self
            .system_root
            .system(conf)
            .unwrap_or_else(|| conf.to_path_buf());
        let config = JailConf::load(
            &system,
            self.semantics,
            &jail8::SystemFiles(&self.system_root),
        )
        .map_err(|e| jail8::jail_failed(&argv, format!("jail: {e}")))?;
        // `depend`: what jail(8) starts first, in its order (crate::depend8).
        let running = |name: &str| state.jails.contains_key(name);
        let sequence = crate::depend8::start_sequence(&config, jail, &running, &argv)?;
        for name in sequence {
            let params = config
                .effective(&name)
                .map_err(|e| jail8::jail_failed(&argv, format!("jail: {e}")))?;
            self.create_jail(&name, &params, &argv)?;
        }
        Ok(())
    }

    /// Creates one jail with `params` (jail(8)'s `startcommands`) and records it.
    fn create_jail(&mut self, jail: &str, params: &Params, argv: &str) -> Result<(), HostError> {
        let argv = argv.to_string();
        let root =
            PathBuf::from(jail8::string(params, "path").ok_or_else(|| {
                jail8::jail_failed(&argv, format!("jail: {jail}: path: no path"))
            })?);
        refuse_symlinks(jail, &root)?;
        // Taken now, as the kernel gives it before exec.created: jails created side
        // by side each get their own.
        self.creating_jid = {
            let _state = parallel::STATE.lock().unwrap_or_else(|e| e.into_inner());
            let mut state = TestBedState::load(&self.state_dir)?;
            state.next_jid += 1;
            state.save(&self.state_dir)?;
            state.next_jid
        };
        let mut mounts = Vec::new();
        let result = self.mount_and_start(jail, &root, params, &argv, &mut mounts);
        let vnet = jail8::flag(params, "vnet");
        if let Err(e) = result {
            let _ = crate::netbed::remove_if_vnet(jail, vnet);
            for target in mounts.iter().rev() {
                let _ = self.run(&["umount", &target.display().to_string()]);
            }
            return Err(e);
        }
        // Without `persist` and without a command to keep it, the jail dies at once.
        let lives = jail8::flag(params, "persist")
            || ["exec.start", "command"]
                .iter()
                .any(|p| !jail8::values(params, p).is_empty());
        if !lives {
            if vnet {
                ra_accept::unmount_view(&root)?;
            }
            return crate::netbed::remove_if_vnet(jail, vnet);
        }
        // Read again now: jails started side by side record themselves meanwhile.
        let _state = parallel::STATE.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = TestBedState::load(&self.state_dir)?;
        let jid = self.creating_jid;
        let exec_stop = jail8::string(params, "exec.stop");
        state.jails.insert(
            jail.to_string(),
            TestJail {
                jid,
                path: root,
                mounts,
                exec_stop,
                vnet,
            },
        );
        state.save(&self.state_dir)
    }

    fn mount_and_start(
        &mut self,
        jail: &str,
        root: &Path,
        params: &Params,
        argv: &str,
        mounts: &mut Vec<PathBuf>,
    ) -> Result<(), HostError> {
        use jail8::Place::{Host as OnHost, Jail as InJail};
        if self.semantics == Semantics::Freebsd14 {
            jail8::run_param(
                &mut self.inner,
                params,
                "exec.prepare",
                OnHost,
                root,
                jail,
                argv,
            )?;
        }
        let mut lines = jail8::values(params, "mount");
        if let Some(fstab) = jail8::string(params, "mount.fstab") {
            let text = fs::read_to_string(&fstab)
                .map_err(|e| HostError::io(format!("read {fstab}"), e))?;
            lines.extend(
                text.lines()
                    .map(|l| l.split('#').next().unwrap_or("").to_string()),
            );
        }
        for line in &lines {
            let fields = jail_fstab_fields(line);
            if fields.is_empty() {
                continue;
            }
            let [source, target, fstype, rest @ ..] = fields.as_slice() else {
                return Err(HostError::Conflict(format!(
                    "jail: {jail}: mount.fstab: {line}: missing information"
                )));
            };
            refuse_symlinks(jail, Path::new(target))?;
            if *fstype == "nullfs" {
                let line = (*source, *target, rest.first().copied());
                if let Some(refused) =
                    file_mounts::refuse_like_nullfs(&self.state_dir, argv, jail, line)
                {
                    return Err(refused);
                }
            }
            let commands =
                fstab_mount::linux_commands(source, target, fstype, rest.first().copied())?;
            for (i, command) in commands.iter().enumerate() {
                let argv: Vec<&str> = command.iter().map(String::as_str).collect();
                self.run(&argv)?;
                if i == 0 {
                    mounts.push(PathBuf::from(target));
                }
            }
        }
        if jail8::flag(params, "mount.devfs") {
            let dev = root.join("dev");
            let dev_text = dev.display().to_string();
            self.run(&[
                "mount",
                "-t",
                "tmpfs",
                "-o",
                "mode=0755,size=1m",
                "devfs",
                &dev_text,
            ])?;
            mounts.push(dev.clone());
            // jail(8): `-oruleset=N`, the jail's devfs_ruleset or 4 (command.c).
            let ruleset = jail8::string(params, "devfs_ruleset")
                .and_then(|n| n.parse().ok())
                .unwrap_or(4);
            make_device_nodes(
                &dev,
                &crate::devfs::visible_devices(&self.state_dir, ruleset),
            )?;
        }
        for unsupported in ["mount.fdescfs", "mount.procfs"] {
            if jail8::flag(params, unsupported) {
                return Err(HostError::Unsupported(format!(
                    "the test bed cannot mount {} ({unsupported} of {jail})",
                    unsupported.trim_start_matches("mount.")
                )));
            }
        }
        jail8::run_param(
            &mut self.inner,
            params,
            "exec.prestart",
            OnHost,
            root,
            jail,
            argv,
        )?;
        self.run_created(params, root, jail, argv)?;
        // `zfs.dataset` (15+): jail(8) attaches each dataset right after exec.created.
        for dataset in jail8::values(params, "zfs.dataset") {
            let words: Vec<String> = [thinjail_core::resources::datasets::ZFS, "jail", jail]
                .iter()
                .map(|w| w.to_string())
                .chain([dataset.clone()])
                .collect();
            if let Some(outcome) = self.stand_in(&words, Some(jail))? {
                if outcome.code != 0 {
                    return Err(HostError::CommandFailed {
                        command: argv.to_string(),
                        status: format!("exit status: {}", 1),
                        stdout: outcome.stdout,
                        stderr: format!(
                            "{}jail: {jail}: zfs.dataset: {dataset}: failed\n",
                            outcome.stderr
                        ),
                    });
                }
            }
        }
        // `vnet`: the jail's namespace, with its `vnet.interface`s moved in.
        if crate::netbed::create_if_vnet(
            jail,
            jail8::flag(params, "vnet"),
            &jail8::values(params, "vnet.interface"),
        )? {
            // Router advertisements refused until the jail's rc accepts them.
            mounts.push(ra_accept::mount_view(
                &crate::netbed::NetBed::from_env()?,
                jail,
                root,
            )?);
        }
        let started = parallel::now_ns();
        self.run_in_jail(params, "exec.start", root, jail, argv)?;
        parallel::record_window(&self.state_dir, parallel::EXEC_START_LOG, jail, started);
        jail8::run_param(&mut self.inner, params, "command", InJail, root, jail, argv)?;
        jail8::run_param(
            &mut self.inner,
            params,
            "exec.poststart",
            OnHost,
            root,
            jail,
            argv,
        )?;
        Ok(())
    }

    /// `exec.created`, each command as jail(8) runs it on the host — except rctl(8)
    /// and cpuset(1), which are the test bed's stand-ins ([`crate::rctl`],
    /// [`crate::cpuset`]) with the jail being created counted as running.
    fn run_created(
        &mut self,
        params: &Params,
        root: &Path,
        jail: &str,
        argv: &str,
    ) -> Result<(), HostError> {
        for command in jail8::values(params, "exec.created") {
            let words = jail8::command_argv(&command).unwrap_or_default();
            if let Some(outcome) = self.stand_in(&words, Some(jail))? {
                if outcome.code != 0 {
                    return Err(hook_failed(argv, jail, &command, outcome));
                }
                continue;
            }
            let mut one = params.clone();
            for param in one.0.iter_mut().filter(|p| p.name == "exec.created") {
                param.values = vec![command.clone()];
            }
            jail8::run_param(
                &mut self.inner,
                &one,
                "exec.created",
                jail8::Place::Host,
                root,
                jail,
                argv,
            )?;
        }
        Ok(())
    }

    /// Runs `words` with the test bed's rctl(8) or cpuset(1) when it is one of them
    /// (by FreeBSD's path or by name): `None` for any other command. `creating` is a
    /// jail made but not yet recorded, which cpuset(1) finds as running.
    fn stand_in(
        &mut self,
        words: &[String],
        creating: Option<&str>,
    ) -> Result<Option<freebsd_update::Outcome>, HostError> {
        let program = words.first().map(String::as_str).unwrap_or_default();
        let name = program.rsplit('/').next().unwrap_or_default();
        // The stand-ins' records are shared by jails started side by side.
        let _state = parallel::STATE.lock().unwrap_or_else(|e| e.into_inner());
        let known = |path: &str| program == path || program == name;
        if name == "rctl" && known(thinjail_core::resources::rctl::RCTL) {
            return Ok(Some(crate::rctl::run(&self.state_dir, words)));
        }
        if name == "devfs" && known("/sbin/devfs") {
            return Ok(Some(crate::devfs::run(&self.state_dir, words)));
        }
        if name == "zfs" && known(thinjail_core::resources::datasets::ZFS) {
            if let [_, verb, target, dataset] = words {
                if verb == "jail" {
                    let state = TestBedState::load(&self.state_dir)?;
                    let exists =
                        state.jails.contains_key(target) || creating == Some(target.as_str());
                    let state_dir = self.state_dir.clone();
                    return datasets::attach(
                        &state_dir,
                        &mut |argv| self.run(argv),
                        target,
                        dataset,
                        exists,
                    )
                    .map(Some);
                }
            }
            return Err(HostError::Unsupported(format!(
                "the test bed's zfs on the host in a jail hook runs only `zfs jail JAIL DATASET`, not `{}`",
                words.join(" ")
            )));
        }
        if name == "cpuset" && known(thinjail_core::resources::cpuset::CPUSET) {
            let state = TestBedState::load(&self.state_dir)?;
            let mut jails: BTreeMap<String, u32> = state
                .jails
                .iter()
                .map(|(name, j)| (name.clone(), j.jid))
                .collect();
            if let Some(jail) = creating {
                jails.insert(jail.to_string(), self.creating_jid);
            }
            return Ok(Some(crate::cpuset::run(&self.state_dir, words, &jails)));
        }
        Ok(None)
    }

    /// An in-jail parameter (`exec.start`, `exec.stop`), each command as jail(8) runs
    /// it inside the jail — except `/sbin/zfs`, the test bed's in-jail zfs
    /// ([`datasets::in_jail`]), which mounts the jail's delegated datasets.
    fn run_in_jail(
        &mut self,
        params: &Params,
        param: &str,
        root: &Path,
        jail: &str,
        argv: &str,
    ) -> Result<(), HostError> {
        for command in jail8::values(params, param) {
            let words = jail8::command_argv(&command).unwrap_or_default();
            if words.first().map(String::as_str) == Some(thinjail_core::resources::datasets::ZFS) {
                let permission = datasets::MountPermission {
                    allow_mount: jail8::flag(params, "allow.mount"),
                    allow_mount_zfs: jail8::flag(params, "allow.mount.zfs"),
                    enforce_statfs: jail8::string(params, "enforce_statfs")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(2),
                };
                let state_dir = self.state_dir.clone();
                {
                    // Jails started side by side share the record.
                    let _state = parallel::STATE.lock().unwrap_or_else(|e| e.into_inner());
                    datasets::remember_permission(&state_dir, jail, &permission)?;
                }
                let outcome = datasets::in_jail(
                    &state_dir,
                    &mut |a| self.run(a),
                    jail,
                    root,
                    &words[1..],
                    &permission,
                )?;
                if outcome.code != 0 {
                    return Err(hook_failed(argv, jail, &command, outcome));
                }
                continue;
            }
            let mut one = params.clone();
            for p in one.0.iter_mut().filter(|p| p.name == param) {
                p.values = vec![command.clone()];
            }
            jail8::run_param(
                &mut self.inner,
                &one,
                param,
                jail8::Place::Jail,
                root,
                jail,
                argv,
            )?;
        }
        Ok(())
    }

    /// `jail -f CONF -r JAIL`: the file is read again (jail(8) stops a jail with the
    /// configuration as it is now); a jail it does not define is removed by name
    /// alone, its mounts left for thinjail to find.
    fn stop_jail(&mut self, conf: &Path, jail: &str) -> Result<(), HostError> {
        use jail8::Place::Host as OnHost;
        let argv = format!("jail -f {} -r {jail}", conf.display());
        let state = TestBedState::load(&self.state_dir)?;
        let Some(running) = state.jails.get(jail).cloned() else {
            return Err(jail8::jail_failed(
                &argv,
                format!("jail: \"{jail}\" not found"),
            ));
        };
        let params = if conf.exists() {
            match jail8::parameters(conf, jail, &self.system_root, self.semantics, &argv) {
                Ok(params) => Some(params),
                Err(HostError::CommandFailed { stderr, .. })
                    if stderr.contains("is not defined") =>
                {
                    None
                }
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let Some(params) = params else {
            {
                let _state = parallel::STATE.lock().unwrap_or_else(|e| e.into_inner());
                let mut state = TestBedState::load(&self.state_dir)?;
                state.jails.remove(jail);
                state.save(&self.state_dir)?;
            }
            if running.vnet {
                ra_accept::unmount_view(&running.path)?;
            }
            return crate::netbed::remove_if_vnet(jail, running.vnet);
        };
        let root = running.path.clone();
        jail8::run_param(
            &mut self.inner,
            &params,
            "exec.prestop",
            OnHost,
            &root,
            jail,
            &argv,
        )?;
        // jail(8) gives up on a jail whose exec.stop fails while it exists (`main`
        // in jail.c: `JF_FAILED` with a JID goes to `jail_remove_done`): it stays
        // running with its mounts, and jail(8) exits 1.
        let started = parallel::now_ns();
        self.run_in_jail(&params, "exec.stop", &root, jail, &argv)?;
        parallel::record_window(&self.state_dir, parallel::EXEC_STOP_LOG, jail, started);
        {
            // Read again now: jails stopped side by side record themselves meanwhile.
            let _state = parallel::STATE.lock().unwrap_or_else(|e| e.into_inner());
            let mut state = TestBedState::load(&self.state_dir)?;
            state.jails.remove(jail);
            state.save(&self.state_dir)?;
            datasets::forget_jail(&self.state_dir, jail)?;
        }
        // The jail is gone: its interfaces are back on the host (the view of its
        // IPv6 settings unmounted before its namespace goes).
        if running.vnet {
            ra_accept::unmount_view(&root)?;
        }
        crate::netbed::remove_if_vnet(jail, running.vnet)?;
        jail8::run_param(
            &mut self.inner,
            &params,
            "exec.poststop",
            OnHost,
            &root,
            jail,
            &argv,
        )?;
        // Like jail(8), unmount what the configuration mounts and is still mounted
        // (an earlier stop may have unmounted some before it failed).
        let mut targets: Vec<PathBuf> = Vec::new();
        let mut lines = jail8::values(&params, "mount");
        if let Some(fstab) = jail8::string(&params, "mount.fstab") {
            if let Ok(text) = fs::read_to_string(&fstab) {
                lines.extend(text.lines().map(String::from));
            }
        }
        for line in &lines {
            if let [_, target, _, ..] = jail_fstab_fields(line).as_slice() {
                targets.push(PathBuf::from(target));
            }
        }
        if jail8::flag(&params, "mount.devfs") {
            if let Some(path) = jail8::string(&params, "path") {
                targets.push(Path::new(&path).join("dev"));
            }
        }
        let mounted = mounted_targets()?;
        for target in targets.iter().rev().filter(|t| mounted.contains(*t)) {
            self.run(&["umount", &target.display().to_string()])?;
        }
        if self.semantics == Semantics::Freebsd14 {
            jail8::run_param(
                &mut self.inner,
                &params,
                "exec.release",
                OnHost,
                &root,
                jail,
                &argv,
            )?;
        }
        Ok(())
    }
}

/// One `mount.fstab` line as jail(8) reads it: cut at the first `#`
/// (`check_intparams` in usr.sbin/jail/config.c), split on blanks with strtok(3)
/// (`IP__MOUNT_FROM_FSTAB` in usr.sbin/jail/command.c), at most four fields kept.
/// Escapes such as `\040` are not decoded: they stay part of the path.
fn jail_fstab_fields(line: &str) -> Vec<&str> {
    let line = line.split('#').next().unwrap_or_default();
    line.split([' ', '\t', '\x0c', '\x0b', '\r', '\n'])
        .filter(|field| !field.is_empty())
        .take(4)
        .collect()
}

fn mounted_targets() -> Result<Vec<PathBuf>, HostError> {
    let text = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| HostError::io("read /proc/self/mountinfo", e))?;
    Ok(parse_proc_mountinfo(&text)
        .into_iter()
        .map(|m| m.target)
        .collect())
}

fn refuse_symlinks(jail: &str, path: &Path) -> Result<(), HostError> {
    for ancestor in path.ancestors() {
        if fs::symlink_metadata(ancestor).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(HostError::Conflict(format!(
                "jail: {jail}: {}: contains a symlink ({} is one)",
                path.display(),
                ancestor.display()
            )));
        }
    }
    Ok(())
}

/// The test bed only runs on Linux; elsewhere (the FreeBSD type-check) it cannot make nodes.
#[cfg(not(target_os = "linux"))]
fn make_device_nodes(_dev: &Path, _devices: &[(&str, u64, u64)]) -> Result<(), HostError> {
    Err(HostError::Unsupported(
        "the test bed runs on Linux only".into(),
    ))
}

#[cfg(target_os = "linux")]
fn make_device_nodes(dev: &Path, devices: &[(&str, u64, u64)]) -> Result<(), HostError> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    for &(name, major, minor) in devices {
        let node = dev.join(name);
        mknod(
            &node,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(major, minor),
        )
        .map_err(|e| HostError::io(format!("mknod {}", node.display()), e.into()))?;
    }
    Ok(())
}

impl Host for TestBed {
    fn observe(&mut self, request: &ObservationRequest) -> Result<World, HostError> {
        let _zfs =
            ZfsLock::acquire().map_err(|e| HostError::io("take the test bed's zfs lock", e))?;
        let datasets = self.inner.observe_datasets_with(request, false)?;
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| HostError::io("read /proc/self/mountinfo", e))?;
        let jails: BTreeMap<String, RunningJail> = TestBedState::load(&self.state_dir)?
            .jails
            .into_iter()
            .map(|(name, jail)| {
                let running = RunningJail {
                    jid: jail.jid,
                    name: name.clone(),
                    path: jail.path,
                    ip4: vec![],
                    ip6: vec![],
                    dying: false,
                };
                (name, running)
            })
            .collect();
        let mut paths = observe_paths(&request.probes)?;
        let (listed_paths, listed) = observe_listed(&request.probes)?;
        merge_observed(&mut paths, listed_paths);
        let limits = request.probes.limits.then(|| {
            let state = crate::rctl::RctlState::load(&self.state_dir);
            ObservedLimits {
                racct: if state.racct_enable {
                    Racct::Enabled
                } else {
                    Racct::Disabled
                },
                rules: if state.racct_enable {
                    state.rules
                } else {
                    Vec::new()
                },
            }
        });
        let cpus = (!request.probes.cpusets.is_empty()).then(|| {
            let state = crate::cpuset::CpusetState::load(&self.state_dir);
            let canonical = |cpus: &[u32]| CpuList(cpus.iter().copied().collect()).to_string();
            let host = state.host();
            ObservedCpus {
                host: canonical(&host),
                jails: request
                    .probes
                    .cpusets
                    .iter()
                    .filter_map(|name| {
                        let jid = jails.get(name)?.jid;
                        let mask = state.jails.get(&jid).cloned().unwrap_or(host.clone());
                        Some((name.clone(), canonical(&mask)))
                    })
                    .collect(),
            }
        });
        let state_dir = self.state_dir.clone();
        let delegated = datasets::observe(
            &state_dir,
            &mut |argv| self.run(argv),
            &request.probes.delegated,
        )?;
        let interfaces: Option<std::collections::BTreeSet<String>> = if request.interfaces {
            let bed = crate::netbed::NetBed::from_env()?;
            Some(bed.interfaces()?.into_iter().collect())
        } else {
            None
        };
        Ok(World {
            delegated,
            datasets,
            paths,
            mounts: parse_proc_mountinfo(&mountinfo),
            kernel_release: request
                .probes
                .kernel_release
                .then(|| file_mounts::kernel_release(&self.state_dir)),
            jails,
            observed: true,
            listed,
            limits,
            cpus,
            // `ifconfig -l` → the interfaces of the test's namespace; `ifconfig IF`'s
            // description → the link's alias.
            interface_descriptions: match &interfaces {
                Some(names) => {
                    let bed = crate::netbed::NetBed::from_env()?;
                    let mut found = BTreeMap::new();
                    for name in thinjail_core::leftover_epairs::described_candidates(names) {
                        if let Some(text) = bed.description(name)? {
                            found.insert(name.to_string(), text);
                        }
                    }
                    found
                }
                None => BTreeMap::new(),
            },
            interfaces,
            pf: if request.pf {
                Some(crate::pfbed::observe()?)
            } else {
                None
            },
            // `devfs rule showsets` / `-s N show` → the stand-in's record.
            devfs_rulesets: request
                .devfs_rulesets
                .then(|| crate::devfs::DevfsState::load(&self.state_dir).listing()),
            // `ifconfig -g bridge`, `ifconfig IF`, `sysctl -n
            // net.link.bridge.member_ifaddrs` → the namespace's bridges, their
            // members and addresses, the uplinks' addresses, and MEMBER_IFADDRS_ENV.
            bridges: if request.interfaces {
                let bed = crate::netbed::NetBed::from_env()?;
                let members = bed.bridges()?;
                let mut addressed = std::collections::BTreeSet::new();
                for uplink in &request.uplinks {
                    if bed.exists(uplink) && bed.has_address(uplink)? {
                        addressed.insert(uplink.clone());
                    }
                }
                // Each bridge's `inet`/`inet6` lines, as FreeBSD's ifconfig prints
                // them, read by thinjail's own parser.
                let mut addresses = std::collections::BTreeMap::new();
                for bridge in members.keys() {
                    let shown = crate::ifconfig_addresses::show(&|args| bed.ip(args), bridge)?;
                    addresses.insert(
                        bridge.clone(),
                        thinjail_core::bridge_addresses::parse_addresses(&shown),
                    );
                }
                Some(thinjail_core::bridges::ObservedBridges {
                    members,
                    addressed,
                    member_ifaddrs: crate::netbed::NetBed::member_ifaddrs(),
                    addresses,
                })
            } else {
                None
            },
        })
    }

    fn apply(&mut self, action: &Action) -> Result<(), HostError> {
        self.apply_noting(action).map(drop)
    }

    fn apply_noting(&mut self, action: &Action) -> Result<ActionNotes, HostError> {
        let zfs =
            ZfsLock::acquire().map_err(|e| HostError::io("take the test bed's zfs lock", e))?;
        self.applied += 1;
        if self.faults.fail_at == Some(self.applied) {
            self.inner.run(&Command::run([
                "sh",
                "-c",
                "echo 'thinjail test bed: failing on purpose'; echo 'thinjail test bed: injected failure' >&2; exit 3",
            ]))?;
        }
        self.inner.guard(action)?;
        let notes = match self.substitute(action)? {
            Some(notes) => notes,
            None => {
                self.flags.apply(&mut self.inner, action)?;
                ActionNotes::default()
            }
        };
        drop(zfs);
        if self.faults.kill_after == Some(self.applied) {
            let _ =
                nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL);
        }
        Ok(notes)
    }

    fn commands_run(&self) -> usize {
        self.inner.commands_run() + self.flags.emulated_commands + self.parallel_commands
    }

    fn exec_interactive(&mut self, jail: &str, argv: &[String]) -> Result<i32, HostError> {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let full = self.jexec(jail, &argv)?;
        self.inner.run_attached(&full)
    }
}

/// Hands the cli a [`TestBed`] (state in `state_dir`, faults as given).
pub struct TestBedHosts {
    /// Where running jails are recorded.
    pub state_dir: PathBuf,
    /// Faults to inject.
    pub faults: Faults,
}

impl HostProvider for TestBedHosts {
    fn host(&self, recipe: &Recipe, progress: Box<dyn Progress>) -> anyhow::Result<Box<dyn Host>> {
        Ok(Box::new(
            TestBed::new(self.state_dir.clone(), self.faults, progress)
                .with_guards(HostGuards::for_recipe(recipe))
                .with_system(&recipe.host.system_root, jail8::semantics_from_env()),
        ))
    }

    fn describe(&self) -> String {
        "the Linux test bed".to_string()
    }
}

/// jail(8)'s failure when one of a jail's `exec.*` commands, run by a stand-in,
/// failed: exit 1, the command's own output, then jail(8)'s "failed" line.
fn hook_failed(
    argv: &str,
    jail: &str,
    command: &str,
    outcome: freebsd_update::Outcome,
) -> HostError {
    HostError::CommandFailed {
        command: argv.to_string(),
        status: "exit status: 1".into(),
        stdout: outcome.stdout,
        stderr: format!("{}jail: {jail}: {command}: failed\n", outcome.stderr),
    }
}

#[cfg(test)]
mod tests {
    use super::jail_fstab_fields;

    #[test]
    fn fstab_lines_are_read_literally_like_jail_8() {
        assert_eq!(
            jail_fstab_fields("/a  /b\tnullfs ro 0 0"),
            ["/a", "/b", "nullfs", "ro"]
        );
        // No \040 decoding: the escape stays in the path (and the mount then fails).
        assert_eq!(
            jail_fstab_fields("/my\\040jails/b /r nullfs ro"),
            ["/my\\040jails/b", "/r", "nullfs", "ro"]
        );
        // A blank splits the path; `#` starts a comment wherever it is.
        assert_eq!(
            jail_fstab_fields("/my jails/b /r nullfs ro"),
            ["/my", "jails/b", "/r", "nullfs"]
        );
        assert_eq!(jail_fstab_fields("/a#b /r nullfs ro"), ["/a"]);
        assert!(jail_fstab_fields("   # only a comment").is_empty());
    }
}
