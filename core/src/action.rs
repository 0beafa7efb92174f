//! The action vocabulary: a closed set of things jail management does to a host.
//!
//! Each [`Action`] knows
//! - how a host carries it out: the exact commands ([`Action::execution`]), or a
//!   native step for file writes, edits and checksum checks;
//! - its POSIX `sh` rendering ([`Action::sh_lines`]) — for commands, the very same argv;
//! - its effect on the world model ([`Action::apply_to`]);
//! - what it may touch ([`Action::touches`]), for confinement checks.
//!
//! Stages (built-in or plugins) can only emit these, so everything thinjail will do
//! is visible in `plan` and passes through one executor.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::edit::FileEdit;
use crate::layout::MANAGED_PROPERTY;
use crate::quote;
// `Snapshot` is also one of the actions.
use crate::snapshot::Snapshot as ZfsSnapshot;
use crate::world::{PathState, RunningJail, World, FREEBSD_BASE_DIRS};

/// One thing to do to the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// `zfs create [-p] [-o mountpoint=MP] [-o PROPERTY=VALUE…] DATASET`
    CreateDataset {
        /// Dataset name.
        dataset: String,
        /// Explicit mountpoint; inherited when absent.
        #[serde(default)]
        mountpoint: Option<PathBuf>,
        /// Create missing parents (`-p`; they get none of the properties).
        #[serde(default)]
        parents: bool,
        /// Properties set at creation: thinjail's mark
        /// ([`crate::layout::MANAGED_PROPERTY`]) at least.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        properties: BTreeMap<String, String>,
    },
    /// `zfs destroy [-r] DATASET`
    DestroyDataset {
        /// Dataset name.
        dataset: String,
        /// Also children and snapshots (`-r`).
        #[serde(default)]
        recursive: bool,
    },
    /// `zfs snapshot DATASET@SNAPSHOT`
    Snapshot {
        /// Dataset name.
        dataset: String,
        /// Snapshot name (after `@`).
        snapshot: String,
    },
    /// `zfs destroy DATASET@SNAPSHOT`
    DestroySnapshot {
        /// Dataset name.
        dataset: String,
        /// Snapshot name.
        snapshot: String,
    },
    /// `zfs rename DATASET@FROM DATASET@TO`
    RenameSnapshot {
        /// Dataset name.
        dataset: String,
        /// Current snapshot name.
        from: String,
        /// New snapshot name.
        to: String,
    },
    /// `zfs rollback -r DATASET@SNAPSHOT`
    Rollback {
        /// Dataset name.
        dataset: String,
        /// Snapshot to return to; newer snapshots are destroyed.
        snapshot: String,
    },
    /// `zfs send -p DATASET@SNAPSHOT | zfs receive TARGET` (the article's copy of the
    /// template; `-p` carries the source's own properties, thinjail's mark among them).
    SendReceive {
        /// Source dataset.
        dataset: String,
        /// Source snapshot.
        snapshot: String,
        /// New dataset.
        target: String,
    },
    /// `zfs clone [-o PROPERTY=VALUE…] DATASET@SNAPSHOT TARGET`
    Clone {
        /// Source dataset.
        dataset: String,
        /// Source snapshot.
        snapshot: String,
        /// New dataset.
        target: String,
        /// Properties set at creation: thinjail's mark at least.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        properties: BTreeMap<String, String>,
    },
    /// `zfs set PROPERTY=VALUE DATASET`
    SetProperty {
        /// Dataset name.
        dataset: String,
        /// Property name.
        property: String,
        /// New value.
        value: String,
    },
    /// `mkdir -p PATH`
    MakeDir {
        /// Directory.
        path: PathBuf,
    },
    /// Makes the mount point `path` below the jail's data directory `data` (and
    /// every missing directory on the way, mode 0755) without following a symbolic
    /// link: each component is opened `O_NOFOLLOW` from `/` down
    /// ([`crate::host::safe_fs::create_dir_all`]), so a link the jail's root planted
    /// stops it instead of sending it elsewhere. For the jail's `mounts`.
    MakeMountPoint {
        /// The jail's data directory.
        data: PathBuf,
        /// The mount point, relative to it (`usr/home/shared`).
        path: String,
    },
    /// Native: the empty file a single-file nullfs mount covers, `path` (relative)
    /// below the jail's data `data`, with its directories: every component opened
    /// `O_NOFOLLOW`, the file created `O_EXCL | O_NOFOLLOW` (an existing regular
    /// file is kept; anything else there is refused).
    MakeMountFile {
        /// The jail's data directory.
        data: PathBuf,
        /// The file, relative to it (`usr/local/etc/app.conf`).
        path: String,
    },
    /// `cp -RPp FROM TO`: copy a tree keeping modes, owners, times and file flags.
    CopyTree {
        /// Source tree.
        from: PathBuf,
        /// Destination (must not exist).
        to: PathBuf,
    },
    /// `cp -p FROM TO`: copy one file, following a link, keeping its mode (what
    /// bsdinstall's jail script does with the host's `/etc/resolv.conf`).
    CopyFile {
        /// Source file.
        from: PathBuf,
        /// Destination file.
        to: PathBuf,
    },
    /// `mv FROM TO` within one filesystem (atomic).
    Rename {
        /// Old path.
        from: PathBuf,
        /// New path.
        to: PathBuf,
    },
    /// `ln -s TARGET LINK`
    Symlink {
        /// The link to create.
        link: PathBuf,
        /// What it points to (usually relative).
        target: PathBuf,
    },
    /// `chflags -R noschg PATH`: clear the system-immutable flag so PATH can be removed.
    ClearFlags {
        /// Tree.
        path: PathBuf,
    },
    /// `rm -rf PATH`
    Remove {
        /// Tree.
        path: PathBuf,
    },
    /// `rmdir PATH`: removes an empty directory and fails on anything else, so a
    /// mount still inside it (or a file) is never deleted through it.
    RemoveDir {
        /// Directory.
        path: PathBuf,
    },
    /// Rewrites relative symlinks under `tree` that pointed outside of it when it was at
    /// `was` (inside the jail) so they still resolve from the jail's root now that it is
    /// seen at `now`.
    RelinkSymlinks {
        /// Tree on the host.
        tree: PathBuf,
        /// Where the tree was, as the jail sees it (`/etc`).
        was: PathBuf,
        /// Where it will be (`/skeleton/etc`).
        now: PathBuf,
    },
    /// Writes a whole file that thinjail owns (atomically).
    WriteFile {
        /// File.
        path: PathBuf,
        /// Its contents.
        contents: String,
        /// Permission bits.
        #[serde(default = "default_mode")]
        mode: u32,
    },
    /// Edits a file shared with the administrator, keeping everything else.
    EditFile {
        /// File.
        path: PathBuf,
        /// The edit.
        edit: FileEdit,
    },
    /// `fetch -o - URL > DEST.part && mv DEST.part DEST`
    Download {
        /// Source URL.
        url: String,
        /// Destination file.
        dest: PathBuf,
    },
    /// Checks `file`'s SHA-256 against the one `manifest` lists for it and fails on a
    /// mismatch, deleting the file when `delete_bad` (a download, not the admin's own).
    VerifyChecksum {
        /// File to check.
        file: PathBuf,
        /// FreeBSD distribution `MANIFEST`.
        manifest: PathBuf,
        /// Delete the file when it does not match.
        #[serde(default)]
        delete_bad: bool,
    },
    /// Checks `file`'s SHA-256 against one the recipe pins (a `MANIFEST`'s, before
    /// any checksum it lists is trusted) and fails on a mismatch, deleting the file when
    /// `delete_bad`.
    VerifySha256 {
        /// File to check.
        file: PathBuf,
        /// The expected SHA-256, 64 hex digits.
        sha256: String,
        /// Delete the file when it does not match.
        #[serde(default)]
        delete_bad: bool,
    },
    /// `tar -xpf - -C DEST < ARCHIVE`: extract keeping permissions and file flags.
    Extract {
        /// Distribution set.
        archive: PathBuf,
        /// Directory to extract into.
        dest: PathBuf,
    },
    /// `bsdinstall jail DEST`, non-interactive.
    Bsdinstall {
        /// Directory to install into.
        dest: PathBuf,
        /// `BSDINSTALL_DISTDIR`: where sets are downloaded.
        distdir: PathBuf,
        /// `BSDINSTALL_DISTSITE`.
        #[serde(default)]
        distsite: Option<String>,
        /// `DISTRIBUTIONS`.
        sets: Vec<String>,
    },
    /// `jail -f CONF -c JAIL`
    StartJail {
        /// jail.conf(5) holding the jail.
        conf: PathBuf,
        /// Jail name.
        jail: String,
        /// The jail's root (for the world model).
        root: PathBuf,
        /// Interfaces the jail's `exec.prestart` makes (a VNET jail's epair, both
        /// halves under either name): when `jail -c` fails the host destroys those
        /// that exist — jail(8) runs no `exec.poststop` for a creation that fails,
        /// and planning refused to start while any of them existed, so they are
        /// this start's ([`crate::bridges::epair_interfaces`]).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        destroy_on_failure: Vec<String>,
    },
    /// Several `jail -f CONF -c JAIL` at once, at most `limit` at a time, each jail
    /// after the jails of the same start it depends on
    /// ([`crate::resources::order`]). A jail that fails skips those that depend on
    /// it; the others still start.
    StartJails {
        /// The jails, in the order ready ones are taken.
        jails: Vec<crate::resources::order::JailStart>,
        /// How many at once: the recipe's `host.start_parallel`; `None` for the
        /// host's number of CPUs, decided when applying.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// `jail -f CONF -r JAIL`
    StopJail {
        /// jail.conf(5) holding the jail.
        conf: PathBuf,
        /// Jail name.
        jail: String,
    },
    /// Several `jail -f CONF -r JAIL` at once, each followed by `rctl -r` of the
    /// jail's rules, at most `limit` at a time, each jail after the jails of the
    /// same stop that depend on it ([`crate::stop`]). A jail that fails to stop
    /// leaves the jails it depends on running; the others still stop.
    StopJails {
        /// The jails, dependents first.
        jails: Vec<crate::resources::order::JailStop>,
        /// How many at once: the recipe's `host.start_parallel`; `None` for the
        /// host's number of CPUs, decided when applying.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// `jexec -l JAIL ARGV…`
    ExecInJail {
        /// Jail name.
        jail: String,
        /// Command and arguments.
        argv: Vec<String>,
    },
    /// `rctl -a RULE …`: adds rctl(8) rules on `jail:NAME` (the kernel first drops
    /// the same rule, and for `deny` the same rule with another amount).
    AddLimits {
        /// Jail name (the rules' subject).
        jail: String,
        /// The rules, as the kernel prints them (`jail:www:maxproc:deny=100`).
        rules: Vec<String>,
    },
    /// `rctl -r RULE …`: removes exactly these rules (each a filter that names every
    /// field, the amount too, so nothing else matches).
    RemoveLimits {
        /// Jail name.
        jail: String,
        /// The rules, as the kernel prints them.
        rules: Vec<String>,
    },
    /// `cpuset -l LIST -j NAME`: the running jail's processes may use these CPUs only.
    SetCpuset {
        /// Jail name.
        jail: String,
        /// The CPU list (canonical, `0-3,6`).
        cpus: String,
    },
    /// `pfctl -a ANCHOR -f FILE`: replaces the pf anchor's rules with FILE's (one
    /// transaction: a file pfctl cannot parse loads nothing).
    LoadPfAnchor {
        /// The anchor (thinjail's own, `thinjail/jails`).
        anchor: String,
        /// The rules.
        file: PathBuf,
    },
    /// `pfctl -a ANCHOR -F nat`: removes the anchor's translation rules (nat, binat,
    /// rdr: all thinjail loads into it; [`crate::network::pf::FLUSH_FLAG`]).
    FlushPfAnchor {
        /// The anchor (thinjail's own, `thinjail/jails`).
        anchor: String,
    },
    /// `devfs rule -s N delset`, then `devfs rule -s N add RULE` for each rule: the
    /// kernel's devfs ruleset `N` holds exactly these rules (devfs(8); thinjail's
    /// ruleset for DHCP jails, [`crate::devfs_rules`]).
    LoadDevfsRuleset {
        /// The ruleset number.
        number: u32,
        /// Each rule's words as `devfs rule add` takes them (`include 4`, `path bpf*
        /// unhide`: no word holds a blank).
        rules: Vec<String>,
    },
    /// `devfs rule -s N delset`: the kernel's ruleset `N` loses every rule (and,
    /// unless a devfs mount still uses it, goes).
    RemoveDevfsRuleset {
        /// The ruleset number.
        number: u32,
    },
    /// `zfs create -o jailed=on -o mountpoint=PATH -o thinjail:jail=OWNER DATASET`:
    /// a dataset for jail `jail` to mount and manage ([`crate::resources::datasets`]);
    /// the host never mounts it (`jailed=on`), the path is the jail's.
    CreateJailedDataset {
        /// Dataset name (outside the jails dataset).
        dataset: String,
        /// The jail it is for.
        jail: String,
        /// Its mountpoint, a path inside the jail.
        path: String,
        /// The value of `thinjail:jail`: the jail's own dataset.
        owner: String,
    },
    /// `zfs destroy -r DATASET`: a dataset delegated to jail `jail`, with everything
    /// the jail made below it (`destroy --data --dataset DATASET` only).
    DestroyJailedDataset {
        /// Dataset name (outside the jails dataset).
        dataset: String,
        /// The jail it was delegated to.
        jail: String,
    },
    /// `umount PATH`
    Unmount {
        /// Mount point.
        path: PathBuf,
    },
    /// `ifconfig ARGS…`: makes, configures or destroys a bridge thinjail owns
    /// ([`crate::bridges`]).
    Ifconfig {
        /// The words after `ifconfig` (`bridge4711 create`, `jails addm em0`).
        args: Vec<String>,
    },
    /// `env PATH=… PAGER=cat UNAME_m=M UNAME_p=P freebsd-update -b BASE -d WORKDIR -f
    /// CONFIG --currently-running REL --not-running-from-cron fetch` (or `install`):
    /// one of freebsd-update's commands, run alone so that each exit is judged on its
    /// own (a `fetch` of a release past its end of life exits 1 after fetching).
    FreebsdUpdate {
        /// The tree to update (`-b`): a base, a template, an etcupdate tree.
        base: PathBuf,
        /// Its work directory (`-d`), host-owned.
        workdir: PathBuf,
        /// The configuration thinjail wrote for it (`-f`).
        config: PathBuf,
        /// The release the tree runs (`--currently-running`).
        release: String,
        /// `UNAME_m`: the release's machine (`amd64`, `arm64`, …).
        machine: String,
        /// `UNAME_p`: the release's machine architecture (`amd64`, `aarch64`, …).
        machine_arch: String,
        /// `fetch` or `install`.
        command: FreebsdUpdateCommand,
    },
    /// `jexec -l JAIL /usr/sbin/etcupdate [extract] -t TARBALL`: etcupdate(8) run
    /// inside the jail, where its paths (`/var/db/etcupdate`, `/etc`) resolve in the
    /// jail; TARBALL is a path inside the jail.
    EtcupdateInJail {
        /// Jail name.
        jail: String,
        /// Merge (`update`) or record the baseline (`extract`).
        command: EtcupdateCommand,
        /// The release's etcupdate tarball, as the jail sees it.
        tarball: PathBuf,
    },
    /// Removes from an etcupdate tree what etcupdate's own `build_tree` removes:
    /// generated `etc/*.db`, `etc/passwd`, `var/db/services.db`, empty files and
    /// empty directories.
    TrimEtcupdateTree {
        /// The tree (host-owned: in a template or a throwaway clone).
        tree: PathBuf,
    },
    /// `tar -cJf ARCHIVE.part -C TREE . && mv ARCHIVE.part ARCHIVE`
    ArchiveTree {
        /// What to archive.
        tree: PathBuf,
        /// The archive (xz-compressed tar).
        archive: PathBuf,
    },
}

fn default_mode() -> u32 {
    0o644
}

/// A freebsd-update(8) command thinjail runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreebsdUpdateCommand {
    /// Download the updates.
    Fetch,
    /// Install what was fetched.
    Install,
}

impl FreebsdUpdateCommand {
    /// freebsd-update's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            FreebsdUpdateCommand::Fetch => "fetch",
            FreebsdUpdateCommand::Install => "install",
        }
    }
}

/// An etcupdate(8) command thinjail runs inside a jail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EtcupdateCommand {
    /// The three-way merge of the jail's files with a new release (`etcupdate -t`).
    Update,
    /// Record the release's tree as the baseline (`etcupdate extract -t`).
    Extract,
}

/// Where etcupdate(8) lives in a FreeBSD base.
pub const ETCUPDATE: &str = "/usr/sbin/etcupdate";

/// The PATH freebsd-update is started with: the program is found there whatever the
/// caller's PATH is (cron's lacks /usr/sbin), and it is the PATH freebsd-update
/// itself puts first.
pub const SYSTEM_PATH: &str = "/sbin:/bin:/usr/sbin:/usr/bin";

/// One host command, as an argv (never a shell string).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    /// `argv`
    Run {
        /// Program and arguments.
        argv: Vec<String>,
    },
    /// `left | right`, both exit statuses checked.
    Pipe {
        /// Producer.
        left: Vec<String>,
        /// Consumer.
        right: Vec<String>,
    },
    /// `argv < stdin` (the host feeds the file itself, to show progress).
    ReadFrom {
        /// Program and arguments.
        argv: Vec<String>,
        /// File fed to its standard input.
        stdin: PathBuf,
    },
    /// `argv > stdout` (the host writes the file itself, to show progress).
    WriteTo {
        /// Program and arguments.
        argv: Vec<String>,
        /// File its standard output goes to.
        stdout: PathBuf,
    },
}

impl Command {
    /// A plain command.
    pub fn run<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        Command::Run {
            argv: argv.into_iter().map(Into::into).collect(),
        }
    }

    /// The command as one POSIX sh line.
    pub fn render(&self) -> String {
        match self {
            Command::Run { argv } => quote::sh_command(argv),
            Command::Pipe { left, right } => {
                format!("{} | {}", quote::sh_command(left), quote::sh_command(right))
            }
            Command::ReadFrom { argv, stdin } => {
                format!("{} < {}", quote::sh_command(argv), sh_path(stdin))
            }
            Command::WriteTo { argv, stdout } => {
                format!("{} > {}", quote::sh_command(argv), sh_path(stdout))
            }
        }
    }

    /// The program each process of this command runs.
    pub fn programs(&self) -> Vec<&str> {
        match self {
            Command::Run { argv }
            | Command::ReadFrom { argv, .. }
            | Command::WriteTo { argv, .. } => {
                argv.first().map(String::as_str).into_iter().collect()
            }
            Command::Pipe { left, right } => left
                .first()
                .into_iter()
                .chain(right.first())
                .map(String::as_str)
                .collect(),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// How a host carries out an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Execution {
    /// Run these commands in order; stop at the first failure.
    Commands(Vec<Command>),
    /// A native step (file write or edit, checksum, symlink rewrite) the host performs
    /// itself; [`Action::sh_lines`] gives its shell equivalent.
    Native,
}

/// What an action may change or read, for confinement checks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Touches {
    /// Host paths written, created or removed (or mounted on, for a mountpoint).
    pub paths: Vec<PathBuf>,
    /// Host paths read: sources of copies, archives, checksums, tarballs.
    pub reads: Vec<PathBuf>,
    /// URLs fetched (downloads, bsdinstall's mirror).
    pub urls: Vec<String>,
    /// Datasets (or snapshots) created, changed or destroyed.
    pub datasets: Vec<String>,
    /// Datasets or snapshots read: the sources of send/receive and clones.
    pub read_datasets: Vec<String>,
    /// Jails started, stopped or entered.
    pub jails: Vec<String>,
}

fn s(path: &Path) -> String {
    path.display().to_string()
}

pub(crate) fn sh_path(path: &Path) -> String {
    quote::sh(&s(path))
}

/// A sibling of `path` used while it is being written: `<path>.part`.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    path.with_file_name(name)
}

impl Action {
    /// How a host carries this action out.
    pub fn execution(&self) -> Execution {
        use Action::*;
        let cmds = |c: Vec<Command>| Execution::Commands(c);
        match self {
            CreateDataset {
                dataset,
                mountpoint,
                parents,
                properties,
            } => {
                let mut argv = vec!["zfs".to_string(), "create".to_string()];
                if *parents {
                    argv.push("-p".into());
                }
                if let Some(mp) = mountpoint {
                    argv.push("-o".into());
                    argv.push(format!("mountpoint={}", s(mp)));
                }
                argv.extend(property_options(properties));
                argv.push(dataset.clone());
                cmds(vec![Command::run(argv)])
            }
            DestroyDataset { dataset, recursive } => {
                let mut argv = vec!["zfs", "destroy"];
                if *recursive {
                    argv.push("-r");
                }
                argv.push(dataset);
                cmds(vec![Command::run(argv)])
            }
            Snapshot { dataset, snapshot } => cmds(vec![Command::run([
                "zfs".to_string(),
                "snapshot".into(),
                ZfsSnapshot::new(dataset, snapshot).to_string(),
            ])]),
            DestroySnapshot { dataset, snapshot } => cmds(vec![Command::run([
                "zfs".to_string(),
                "destroy".into(),
                ZfsSnapshot::new(dataset, snapshot).to_string(),
            ])]),
            Rollback { dataset, snapshot } => cmds(vec![Command::run([
                "zfs".to_string(),
                "rollback".into(),
                "-r".into(),
                ZfsSnapshot::new(dataset, snapshot).to_string(),
            ])]),
            SendReceive {
                dataset,
                snapshot,
                target,
            } => cmds(vec![Command::Pipe {
                left: vec![
                    "zfs".into(),
                    "send".into(),
                    "-p".into(),
                    ZfsSnapshot::new(dataset, snapshot).to_string(),
                ],
                right: vec!["zfs".into(), "receive".into(), target.clone()],
            }]),
            Clone {
                dataset,
                snapshot,
                target,
                properties,
            } => {
                let mut argv = vec!["zfs".to_string(), "clone".into()];
                argv.extend(property_options(properties));
                argv.push(ZfsSnapshot::new(dataset, snapshot).to_string());
                argv.push(target.clone());
                cmds(vec![Command::run(argv)])
            }
            SetProperty {
                dataset,
                property,
                value,
            } => cmds(vec![Command::run([
                "zfs".to_string(),
                "set".into(),
                format!("{property}={value}"),
                dataset.clone(),
            ])]),
            MakeDir { path } => cmds(vec![Command::run([
                "mkdir".to_string(),
                "-p".into(),
                s(path),
            ])]),
            CopyTree { from, to } => cmds(vec![Command::run([
                "cp".to_string(),
                "-RPp".into(),
                s(from),
                s(to),
            ])]),
            CopyFile { from, to } => cmds(vec![Command::run([
                "cp".to_string(),
                "-p".into(),
                s(from),
                s(to),
            ])]),
            Rename { from, to } => cmds(vec![Command::run(["mv".to_string(), s(from), s(to)])]),
            Symlink { link, target } => cmds(vec![Command::run([
                "ln".to_string(),
                "-s".into(),
                s(target),
                s(link),
            ])]),
            ClearFlags { path } => cmds(vec![Command::run([
                "chflags".to_string(),
                "-R".into(),
                "noschg".into(),
                s(path),
            ])]),
            RemoveDir { path } => cmds(vec![Command::run(["rmdir".to_string(), s(path)])]),
            RenameSnapshot { dataset, from, to } => cmds(vec![Command::run([
                "zfs".to_string(),
                "rename".into(),
                ZfsSnapshot::new(dataset, from).to_string(),
                ZfsSnapshot::new(dataset, to).to_string(),
            ])]),
            Remove { path } => cmds(vec![Command::run([
                "rm".to_string(),
                "-rf".into(),
                s(path),
            ])]),
            Download { url, dest } => {
                let part = partial_path(dest);
                cmds(vec![
                    Command::WriteTo {
                        argv: vec!["fetch".into(), "-o".into(), "-".into(), url.clone()],
                        stdout: part.clone(),
                    },
                    Command::run(["mv".to_string(), s(&part), s(dest)]),
                ])
            }
            Extract { archive, dest } => cmds(vec![Command::ReadFrom {
                argv: vec![
                    "tar".into(),
                    "-xpf".into(),
                    "-".into(),
                    "-C".into(),
                    s(dest),
                ],
                stdin: archive.clone(),
            }]),
            Bsdinstall {
                dest,
                distdir,
                distsite,
                sets,
            } => {
                let mut argv = vec![
                    "env".to_string(),
                    "nonInteractive=YES".into(),
                    format!("BSDINSTALL_DISTDIR={}", s(distdir)),
                ];
                if let Some(site) = distsite {
                    argv.push(format!("BSDINSTALL_DISTSITE={site}"));
                }
                argv.push(format!("DISTRIBUTIONS={}", sets.join(" ")));
                argv.extend(["bsdinstall".to_string(), "jail".into(), s(dest)]);
                cmds(vec![Command::run(argv)])
            }
            StartJail { conf, jail, .. } => cmds(vec![Command::run([
                "jail".to_string(),
                "-f".into(),
                s(conf),
                "-c".into(),
                jail.clone(),
            ])]),
            // The shell rendering starts them one after the other: the same jails in
            // an order that honours `depend`; `apply` runs them side by side.
            StartJails { jails, .. } => {
                cmds(jails.iter().map(|j| Command::run(j.argv())).collect())
            }
            StopJail { conf, jail } => cmds(vec![Command::run([
                "jail".to_string(),
                "-f".into(),
                s(conf),
                "-r".into(),
                jail.clone(),
            ])]),
            // As a script, one after the other (dependents first); `apply` runs
            // them side by side.
            StopJails { jails, .. } => cmds(
                jails
                    .iter()
                    .flat_map(|j| std::iter::once(j.argv()).chain(j.remove_limits_argv()))
                    .map(Command::run)
                    .collect(),
            ),
            ExecInJail { jail, argv } => {
                let mut full = vec!["jexec".to_string(), "-l".into(), jail.clone()];
                full.extend(argv.iter().cloned());
                cmds(vec![Command::run(full)])
            }
            Unmount { path } => cmds(vec![Command::run(["umount".to_string(), s(path)])]),
            LoadPfAnchor { anchor, file } => cmds(vec![Command::run([
                crate::network::pf::PFCTL.to_string(),
                "-a".into(),
                anchor.clone(),
                "-f".into(),
                s(file),
            ])]),
            FlushPfAnchor { anchor } => cmds(vec![Command::run([
                crate::network::pf::PFCTL.to_string(),
                "-a".into(),
                anchor.clone(),
                "-F".into(),
                crate::network::pf::FLUSH_FLAG.into(),
            ])]),
            Ifconfig { args } => cmds(vec![Command::run(
                std::iter::once("ifconfig".to_string()).chain(args.iter().cloned()),
            )]),
            AddLimits { rules, .. } | RemoveLimits { rules, .. } => {
                let flag = if matches!(self, AddLimits { .. }) {
                    "-a"
                } else {
                    "-r"
                };
                let mut argv = vec!["rctl".to_string(), flag.into()];
                argv.extend(rules.iter().cloned());
                cmds(vec![Command::run(argv)])
            }
            LoadDevfsRuleset { number, rules } => {
                let set = |verb: &[&str]| {
                    let mut argv = vec!["devfs".to_string(), "rule".into(), "-s".into()];
                    argv.push(number.to_string());
                    argv.extend(verb.iter().map(|w| w.to_string()));
                    Command::run(argv)
                };
                let mut commands = vec![set(&["delset"])];
                for rule in rules {
                    let mut words = vec!["add"];
                    words.extend(rule.split_whitespace());
                    commands.push(set(&words));
                }
                cmds(commands)
            }
            RemoveDevfsRuleset { number } => cmds(vec![Command::run([
                "devfs".to_string(),
                "rule".into(),
                "-s".into(),
                number.to_string(),
                "delset".into(),
            ])]),
            CreateJailedDataset {
                dataset,
                path,
                owner,
                ..
            } => cmds(vec![Command::run([
                "zfs".to_string(),
                "create".into(),
                "-o".into(),
                "jailed=on".into(),
                "-o".into(),
                format!("mountpoint={path}"),
                "-o".into(),
                format!("{}={owner}", crate::resources::datasets::OWNER_PROPERTY),
                dataset.clone(),
            ])]),
            DestroyJailedDataset { dataset, .. } => cmds(vec![Command::run([
                "zfs".to_string(),
                "destroy".into(),
                "-r".into(),
                dataset.clone(),
            ])]),
            SetCpuset { jail, cpus } => cmds(vec![Command::run([
                "cpuset".to_string(),
                "-l".into(),
                cpus.clone(),
                "-j".into(),
                jail.clone(),
            ])]),
            FreebsdUpdate {
                base,
                workdir,
                config,
                release,
                machine,
                machine_arch,
                command,
            } => cmds(vec![Command::run([
                "env".to_string(),
                format!("PATH={SYSTEM_PATH}"),
                "PAGER=cat".into(),
                format!("UNAME_m={machine}"),
                format!("UNAME_p={machine_arch}"),
                "freebsd-update".into(),
                "-b".into(),
                s(base),
                "-d".into(),
                s(workdir),
                "-f".into(),
                s(config),
                "--currently-running".into(),
                release.clone(),
                "--not-running-from-cron".into(),
                command.as_str().into(),
            ])]),
            EtcupdateInJail {
                jail,
                command,
                tarball,
            } => {
                let mut argv = vec![
                    "jexec".to_string(),
                    "-l".into(),
                    jail.clone(),
                    ETCUPDATE.into(),
                ];
                if *command == EtcupdateCommand::Extract {
                    argv.push("extract".into());
                }
                argv.extend(["-t".to_string(), s(tarball)]);
                cmds(vec![Command::run(argv)])
            }
            TrimEtcupdateTree { tree } => cmds(vec![
                Command::run([
                    "find".to_string(),
                    s(&tree.join("etc")),
                    "-maxdepth".into(),
                    "1".into(),
                    "-name".into(),
                    "*.db".into(),
                    "-delete".into(),
                ]),
                Command::run([
                    "rm".to_string(),
                    "-f".into(),
                    s(&tree.join("etc/passwd")),
                    s(&tree.join("var/db/services.db")),
                ]),
                Command::run([
                    "find".to_string(),
                    s(tree),
                    "-type".into(),
                    "f".into(),
                    "-size".into(),
                    "0".into(),
                    "-delete".into(),
                ]),
                Command::run([
                    "find".to_string(),
                    s(tree),
                    "-type".into(),
                    "d".into(),
                    "-empty".into(),
                    "-delete".into(),
                ]),
            ]),
            ArchiveTree { tree, archive } => {
                let part = partial_path(archive);
                // tar writes the file itself: into a pipe it would pad the compressed
                // stream to whole blocks, which strict xz readers refuse.
                cmds(vec![
                    Command::run([
                        "tar".to_string(),
                        "-cJf".into(),
                        s(&part),
                        "-C".into(),
                        s(tree),
                        ".".into(),
                    ]),
                    Command::run(["mv".to_string(), s(&part), s(archive)]),
                ])
            }
            RelinkSymlinks { .. }
            | MakeMountPoint { .. }
            | MakeMountFile { .. }
            | WriteFile { .. }
            | EditFile { .. }
            | VerifyChecksum { .. }
            | VerifySha256 { .. } => Execution::Native,
        }
    }

    /// Whether the action's commands download (fetch(1); freebsd-update, through
    /// phttpget and fetch; bsdinstall, through distfetch): hosts pass them the proxy
    /// variables of thinjail's environment
    /// ([`crate::host::spawn::PROXY_VARIABLES`]), and no other command gets them.
    pub fn downloads(&self) -> bool {
        matches!(
            self,
            Action::Download { .. }
                | Action::FreebsdUpdate { .. }
                // Without a mirror bsdinstall installs the sets already in its distdir.
                | Action::Bsdinstall {
                    distsite: Some(_),
                    ..
                }
        )
    }

    /// A one-line description for people.
    pub fn describe(&self) -> String {
        use Action::*;
        match self {
            CreateDataset {
                dataset,
                mountpoint: Some(mp),
                ..
            } => {
                format!("create dataset {dataset} mounted at {}", s(mp))
            }
            CreateDataset { dataset, .. } => format!("create dataset {dataset}"),
            DestroyDataset {
                dataset,
                recursive: true,
            } => {
                format!("destroy dataset {dataset} with its children and snapshots")
            }
            DestroyDataset { dataset, .. } => format!("destroy dataset {dataset}"),
            Snapshot { dataset, snapshot } => format!("snapshot {}", ZfsSnapshot::new(dataset, snapshot)),
            DestroySnapshot { dataset, snapshot } => {
                format!("destroy snapshot {}", ZfsSnapshot::new(dataset, snapshot))
            }
            Rollback { dataset, snapshot } => format!("roll {dataset} back to @{snapshot}"),
            SendReceive {
                dataset,
                snapshot,
                target,
            } => {
                format!("copy {} to new dataset {target} (send/receive)", ZfsSnapshot::new(dataset, snapshot))
            }
            Clone {
                dataset,
                snapshot,
                target,
                ..
            } => format!("clone {} as {target}", ZfsSnapshot::new(dataset, snapshot)),
            SetProperty {
                dataset,
                property,
                value,
            } => format!("set {property}={value} on {dataset}"),
            MakeDir { path } => format!("make directory {}", s(path)),
            MakeMountPoint { data, path } => format!(
                "make mount point {} (no link followed)",
                s(&data.join(path))
            ),
            MakeMountFile { data, path } => format!(
                "make mount file {} (no link followed)",
                s(&data.join(path))
            ),
            CopyTree { from, to } => format!("copy {} to {}", s(from), s(to)),
            CopyFile { from, to } => format!("copy file {} to {}", s(from), s(to)),
            Rename { from, to } => format!("rename {} to {}", s(from), s(to)),
            Symlink { link, target } => format!("link {} -> {}", s(link), s(target)),
            ClearFlags { path } => format!("clear schg flags under {}", s(path)),
            Remove { path } => format!("remove {}", s(path)),
            RemoveDir { path } => format!("remove empty directory {}", s(path)),
            RenameSnapshot { dataset, from, to } => {
                format!("rename snapshot {} to @{to}", ZfsSnapshot::new(dataset, from))
            }
            RelinkSymlinks { tree, was, now } => format!(
                "rewrite relative symlinks under {} that leave {} so they resolve from {}",
                s(tree),
                s(was),
                s(now)
            ),
            WriteFile { path, contents, .. } => {
                format!("write {} ({} lines)", s(path), contents.lines().count())
            }
            EditFile { path, edit } => match edit {
                FileEdit::SetRcVar { name, value } => {
                    format!("set {name}={} in {}", quote::rc_conf(value), s(path))
                }
                FileEdit::AddRcWord { name, word } => {
                    format!("add {word} to {name} in {}", s(path))
                }
                FileEdit::RemoveRcWord { name, word } => {
                    format!("remove {word} from {name} in {}", s(path))
                }
                FileEdit::SetRcVarRecorded { name, value } => {
                    format!(
                        "set {name}={} in {}, recording the value it replaces",
                        quote::rc_conf(value),
                        s(path)
                    )
                }
                FileEdit::RestoreRcVar { name } => {
                    format!("put back the {name} thinjail replaced in {}", s(path))
                }
                FileEdit::SetBlock { id, .. } => {
                    format!("write thinjail's {id} entry in {}", s(path))
                }
                FileEdit::RemoveBlock { id } => {
                    format!("remove thinjail's {id} entry from {}", s(path))
                }
            },
            Download { url, dest } => format!("download {url} to {}", s(dest)),
            VerifyChecksum { file, manifest, .. } => {
                format!("verify SHA-256 of {} against {}", s(file), s(manifest))
            }
            VerifySha256 { file, sha256, .. } => {
                format!(
                    "verify that the SHA-256 of {} is the pinned {sha256}",
                    s(file)
                )
            }
            Extract { archive, dest } => format!("extract {} into {}", s(archive), s(dest)),
            Bsdinstall { dest, sets, .. } => {
                format!("bsdinstall jail {} ({})", s(dest), sets.join(" "))
            }
            StartJail { jail, .. } => format!("start jail {jail}"),
            StartJails { jails, limit } => {
                side_by_side("start", jails.iter().map(|j| j.jail.as_str()), *limit)
            }
            StopJail { jail, .. } => format!("stop jail {jail}"),
            StopJails { jails, limit } => {
                side_by_side("stop", jails.iter().map(|j| j.jail.as_str()), *limit)
            }
            ExecInJail { jail, argv } => format!("run in jail {jail}: {}", quote::sh_command(argv)),
            AddLimits { jail, rules } => format!("add limits of jail {jail}: {}", rules.join(" ")),
            RemoveLimits { jail, rules } => {
                format!("remove limits of jail {jail}: {}", rules.join(" "))
            }
            SetCpuset { jail, cpus } => format!("run jail {jail} on CPUs {cpus}"),
            LoadDevfsRuleset { number, rules } => {
                format!("load devfs ruleset {number}: {}", rules.join("; "))
            }
            RemoveDevfsRuleset { number } => format!("remove devfs ruleset {number}"),
            DestroyJailedDataset { dataset, jail } => format!(
                "destroy dataset {dataset} delegated to jail {jail}, with everything below it"
            ),
            CreateJailedDataset {
                dataset,
                jail,
                path,
                ..
            } => format!("create dataset {dataset} for jail {jail} (jailed, mounted by the jail at {path})"),
            Unmount { path } => format!("unmount {}", s(path)),
            LoadPfAnchor { anchor, file } => {
                format!("load pf anchor {anchor} from {}", s(file))
            }
            FlushPfAnchor { anchor } => format!("flush pf anchor {anchor}"),
            Ifconfig { args } => format!("ifconfig {}", args.join(" ")),
            FreebsdUpdate {
                base,
                release,
                command,
                ..
            } => {
                format!("freebsd-update {} {} ({release})", command.as_str(), s(base))
            }
            EtcupdateInJail {
                jail,
                command: EtcupdateCommand::Update,
                tarball,
            } => format!(
                "merge jail {jail}'s /etc with {} (etcupdate, inside the jail)",
                s(tarball)
            ),
            EtcupdateInJail {
                jail,
                command: EtcupdateCommand::Extract,
                tarball,
            } => format!(
                "record {} as jail {jail}'s etcupdate baseline (etcupdate extract, inside the jail)",
                s(tarball)
            ),
            TrimEtcupdateTree { tree } => format!(
                "drop from {} what etcupdate leaves out of its trees (generated files, empty files and directories)",
                s(tree)
            ),
            ArchiveTree { tree, archive } => format!("archive {} as {}", s(tree), s(archive)),
        }
    }

    /// What this action may change or read.
    pub fn touches(&self) -> Touches {
        use Action::*;
        let written = |p: &[&PathBuf]| p.iter().map(|p| (*p).clone()).collect::<Vec<_>>();
        let paths = |p: &[&PathBuf]| Touches {
            paths: written(p),
            ..Touches::default()
        };
        let datasets = |d: Vec<String>| Touches {
            datasets: d,
            ..Touches::default()
        };
        match self {
            CreateDataset {
                dataset,
                mountpoint,
                ..
            } => Touches {
                datasets: vec![dataset.clone()],
                paths: mountpoint.iter().cloned().collect(),
                ..Touches::default()
            },
            DestroyDataset { dataset, .. } => datasets(vec![dataset.clone()]),
            SetProperty {
                dataset,
                property,
                value,
            } => Touches {
                datasets: vec![dataset.clone()],
                // A mountpoint is where the dataset will be mounted: a path written.
                paths: (property == "mountpoint" && value.starts_with('/'))
                    .then(|| PathBuf::from(value))
                    .into_iter()
                    .collect(),
                ..Touches::default()
            },
            RenameSnapshot { dataset, from, to } => datasets(vec![
                ZfsSnapshot::new(dataset, from).to_string(),
                ZfsSnapshot::new(dataset, to).to_string(),
            ]),
            Snapshot { dataset, snapshot }
            | DestroySnapshot { dataset, snapshot }
            | Rollback { dataset, snapshot } => {
                datasets(vec![ZfsSnapshot::new(dataset, snapshot).to_string()])
            }
            SendReceive {
                dataset,
                snapshot,
                target,
            }
            | Clone {
                dataset,
                snapshot,
                target,
                ..
            } => Touches {
                datasets: vec![target.clone()],
                read_datasets: vec![ZfsSnapshot::new(dataset, snapshot).to_string()],
                ..Touches::default()
            },
            MakeDir { path }
            | ClearFlags { path }
            | Remove { path }
            | RemoveDir { path }
            | Unmount { path } => paths(&[path]),
            CopyTree { from, to } | CopyFile { from, to } => Touches {
                paths: written(&[to]),
                reads: written(&[from]),
                ..Touches::default()
            },
            Rename { from, to } => paths(&[from, to]),
            Symlink { link, .. } => paths(&[link]),
            RelinkSymlinks { tree, .. } => paths(&[tree]),
            MakeMountPoint { data, path } | MakeMountFile { data, path } => {
                paths(&[&data.join(path)])
            }
            WriteFile { path, .. } | EditFile { path, .. } => paths(&[path]),
            Download { url, dest } => Touches {
                paths: vec![dest.clone(), partial_path(dest)],
                urls: vec![url.clone()],
                ..Touches::default()
            },
            VerifyChecksum {
                file,
                manifest,
                delete_bad,
            } => Touches {
                paths: if *delete_bad {
                    written(&[file])
                } else {
                    vec![]
                },
                reads: written(&[file, manifest]),
                ..Touches::default()
            },
            VerifySha256 {
                file, delete_bad, ..
            } => Touches {
                paths: if *delete_bad {
                    written(&[file])
                } else {
                    vec![]
                },
                reads: written(&[file]),
                ..Touches::default()
            },
            Extract { archive, dest } => Touches {
                paths: written(&[dest]),
                reads: written(&[archive]),
                ..Touches::default()
            },
            Bsdinstall {
                dest,
                distdir,
                distsite,
                ..
            } => Touches {
                paths: written(&[dest, distdir]),
                urls: distsite.iter().cloned().collect(),
                ..Touches::default()
            },
            StartJails { jails, .. } => Touches {
                jails: jails.iter().map(|j| j.jail.clone()).collect(),
                ..Touches::default()
            },
            StopJails { jails, .. } => Touches {
                jails: jails.iter().map(|j| j.jail.clone()).collect(),
                ..Touches::default()
            },
            StartJail { jail, .. }
            | StopJail { jail, .. }
            | ExecInJail { jail, .. }
            | AddLimits { jail, .. }
            | RemoveLimits { jail, .. }
            | SetCpuset { jail, .. }
            | CreateJailedDataset { jail, .. }
            | DestroyJailedDataset { jail, .. } => Touches {
                jails: vec![jail.clone()],
                ..Touches::default()
            },
            // The kernel's devfs rules: no path, dataset or jail (confinement checks
            // the number).
            LoadDevfsRuleset { .. } | RemoveDevfsRuleset { .. } => Touches::default(),
            // The host's network interfaces, no path, dataset or jail.
            Ifconfig { .. } => Touches::default(),
            FreebsdUpdate {
                base,
                workdir,
                config,
                ..
            } => Touches {
                paths: written(&[base, workdir]),
                reads: written(&[config]),
                ..Touches::default()
            },
            EtcupdateInJail { jail, .. } => Touches {
                jails: vec![jail.clone()],
                ..Touches::default()
            },
            TrimEtcupdateTree { tree } => paths(&[tree]),
            LoadPfAnchor { file, .. } => Touches {
                reads: written(&[file]),
                ..Touches::default()
            },
            FlushPfAnchor { .. } => Touches::default(),
            ArchiveTree { tree, archive } => Touches {
                paths: vec![archive.clone(), partial_path(archive)],
                reads: written(&[tree]),
                ..Touches::default()
            },
        }
    }

    /// Applies this action's effect to a world model.
    pub fn apply_to(&self, world: &mut World) {
        use Action::*;
        match self {
            CreateDataset {
                dataset,
                mountpoint,
                parents,
                properties,
            } => {
                if *parents {
                    let parts: Vec<&str> = dataset.split('/').collect();
                    for end in 1..parts.len() {
                        let ancestor = parts[..end].join("/");
                        world.add_filesystem(&ancestor, None, None);
                    }
                }
                if !world.has_dataset(dataset) {
                    world.add_filesystem(dataset, mountpoint.as_deref(), None);
                    world.set_managed(dataset, properties.get(MANAGED_PROPERTY).cloned());
                }
            }
            DestroyDataset { dataset, recursive } => world.remove_dataset(dataset, *recursive),
            Snapshot { dataset, snapshot } => world.add_snapshot(dataset, snapshot),
            DestroySnapshot { dataset, snapshot } => {
                world
                    .datasets
                    .remove(&ZfsSnapshot::new(dataset, snapshot).to_string());
            }
            Rollback { dataset, snapshot } => world.remove_snapshots_after(dataset, snapshot),
            SendReceive {
                dataset,
                snapshot,
                target,
            } => {
                // `zfs send -p` carries the source's own mark to the copy.
                let managed = world.dataset(dataset).and_then(|d| d.managed.clone());
                world.add_filesystem(target, None, None);
                world.set_managed(target, managed);
                world.add_snapshot(target, snapshot);
                copy_dataset_contents(world, dataset, target);
            }
            Clone {
                dataset,
                snapshot,
                target,
                properties,
            } => {
                world.add_filesystem(
                    target,
                    None,
                    Some(&ZfsSnapshot::new(dataset, snapshot).to_string()),
                );
                world.set_managed(target, properties.get(MANAGED_PROPERTY).cloned());
                copy_dataset_contents(world, dataset, target);
            }
            SetProperty {
                dataset,
                property,
                value,
            } => {
                if property == "mountpoint" {
                    if let Some(ds) = world.datasets.get_mut(dataset) {
                        ds.mountpoint = Some(PathBuf::from(value));
                    }
                }
            }
            MakeDir { path } => world.add_dir(path),
            MakeMountPoint { data, path } => world.add_dir(&data.join(path)),
            MakeMountFile { data, path } => {
                let file = data.join(path);
                if let Some(parent) = file.parent() {
                    world.add_dir(parent);
                }
                if !matches!(world.path(&file), PathState::File { .. }) {
                    world.set_path(
                        &file,
                        PathState::File {
                            contents: Some(String::new()),
                        },
                    );
                }
            }
            CopyTree { from, to } => world.copy_tree(from, to),
            CopyFile { from, to } => {
                let contents = world.file_contents(from).map(String::from);
                world.set_path(to, PathState::File { contents });
            }
            Rename { from, to } => {
                world.copy_tree(from, to);
                world.remove_tree(from);
            }
            Symlink { link, target } => world.set_path(
                link,
                PathState::Symlink {
                    target: target.clone(),
                },
            ),
            Remove { path } | RemoveDir { path } => world.remove_tree(path),
            RenameSnapshot { dataset, from, to } => {
                if let Some(snapshot) = world
                    .datasets
                    .remove(&ZfsSnapshot::new(dataset, from).to_string())
                {
                    world
                        .datasets
                        .insert(ZfsSnapshot::new(dataset, to).to_string(), snapshot);
                }
            }
            WriteFile { path, contents, .. } => world.set_path(
                path,
                PathState::File {
                    contents: Some(contents.clone()),
                },
            ),
            EditFile { path, edit } => {
                let current = world.file_contents(path).unwrap_or("");
                let edited = edit.apply(current);
                world.set_path(
                    path,
                    PathState::File {
                        contents: Some(edited),
                    },
                );
            }
            Download { dest, .. } | ArchiveTree { archive: dest, .. } => {
                world.set_path(dest, PathState::File { contents: None })
            }
            Extract { dest, .. } | Bsdinstall { dest, .. } => {
                for dir in FREEBSD_BASE_DIRS {
                    world.add_dir(&dest.join(dir));
                }
            }
            StartJail { jail, root, .. } => {
                world.jails.insert(
                    jail.clone(),
                    RunningJail {
                        jid: 0,
                        name: jail.clone(),
                        path: root.clone(),
                        ip4: vec![],
                        ip6: vec![],
                        dying: false,
                    },
                );
            }
            StartJails { jails, .. } => {
                for j in jails {
                    world.jails.insert(
                        j.jail.clone(),
                        RunningJail {
                            jid: 0,
                            name: j.jail.clone(),
                            path: j.root.clone(),
                            ip4: vec![],
                            ip6: vec![],
                            dying: false,
                        },
                    );
                }
            }
            StopJail { jail, .. } => {
                if let Some(running) = world.jails.remove(jail) {
                    world
                        .mounts
                        .retain(|m| !m.target.starts_with(&running.path));
                }
            }
            StopJails { jails, .. } => {
                for j in jails {
                    if let Some(running) = world.jails.remove(&j.jail) {
                        world
                            .mounts
                            .retain(|m| !m.target.starts_with(&running.path));
                    }
                    if let Some(limits) = world.limits.as_mut() {
                        limits.rules.retain(|old| !j.remove_limits.contains(old));
                    }
                }
            }
            Unmount { path } => world.mounts.retain(|m| &m.target != path),
            LoadPfAnchor { file, .. } => {
                let rules = world
                    .file_contents(file)
                    .map(crate::network::pf::rules_of)
                    .unwrap_or_default();
                if let Some(pf) = world.pf.as_mut() {
                    pf.loaded = rules;
                }
            }
            FlushPfAnchor { .. } => {
                if let Some(pf) = world.pf.as_mut() {
                    pf.loaded.clear();
                }
            }
            Ifconfig { args } => {
                crate::observed_bridges::apply_ifconfig(
                    world.interfaces.get_or_insert_with(Default::default),
                    world.bridges.get_or_insert_with(Default::default),
                    args,
                );
                if let [name, verb] = args.as_slice() {
                    if verb == "destroy" {
                        world.forget_destroyed_epair(name);
                    }
                }
            }
            AddLimits { rules, .. } => {
                if let Some(limits) = world.limits.as_mut() {
                    for rule in rules {
                        let new = crate::resources::rctl::Rule::from_kernel(rule);
                        // The kernel drops the same rule (a deny with any amount) first.
                        limits.rules.retain(|old| {
                            let old = crate::resources::rctl::Rule::from_kernel(old);
                            match (&new, old) {
                                (Some(n), Some(o)) => {
                                    !(o == *n
                                        || (n.action == crate::resources::rctl::RuleAction::Deny
                                            && o.same_but_amount(n)))
                                }
                                _ => true,
                            }
                        });
                        limits.rules.push(rule.clone());
                    }
                }
            }
            RemoveLimits { rules, .. } => {
                if let Some(limits) = world.limits.as_mut() {
                    limits.rules.retain(|old| !rules.contains(old));
                }
            }
            LoadDevfsRuleset { number, rules } => {
                if let Some(sets) = world.devfs_rulesets.as_mut() {
                    sets.insert(*number, crate::network::numbered_devfs_rules(rules));
                }
            }
            RemoveDevfsRuleset { number } => {
                if let Some(sets) = world.devfs_rulesets.as_mut() {
                    sets.remove(number);
                }
            }
            CreateJailedDataset {
                dataset,
                path,
                owner,
                ..
            } => {
                world.delegated.insert(
                    dataset.clone(),
                    Some(crate::resources::datasets::DelegatedState {
                        filesystem: true,
                        jailed: true,
                        owner: Some(owner.clone()),
                        mountpoint: Some(path.clone()),
                    }),
                );
            }
            DestroyJailedDataset { dataset, .. } => {
                world.delegated.insert(dataset.clone(), None);
            }
            SetCpuset { jail, cpus } => {
                if let Some(observed) = world.cpus.as_mut() {
                    observed.jails.insert(jail.clone(), cpus.clone());
                }
            }
            ClearFlags { .. }
            | RelinkSymlinks { .. }
            | VerifyChecksum { .. }
            | VerifySha256 { .. }
            | ExecInJail { .. }
            | FreebsdUpdate { .. }
            | EtcupdateInJail { .. }
            | TrimEtcupdateTree { .. } => {}
        }
    }
}

/// How a parallel start or stop reads: `VERB jails a, b side by side (at most N at
/// once)`.
fn side_by_side<'a>(
    verb: &str,
    jails: impl Iterator<Item = &'a str>,
    limit: Option<u32>,
) -> String {
    format!(
        "{verb} jails {} side by side (at most {} at once)",
        jails.collect::<Vec<_>>().join(", "),
        limit.map_or("as many as the host has CPUs".to_string(), |n| n
            .to_string())
    )
}

/// `-o PROPERTY=VALUE` for each property, in order.
fn property_options(properties: &BTreeMap<String, String>) -> Vec<String> {
    properties
        .iter()
        .flat_map(|(name, value)| ["-o".to_string(), format!("{name}={value}")])
        .collect()
}

/// A received or cloned dataset starts with its source's contents.
fn copy_dataset_contents(world: &mut World, source: &str, target: &str) {
    let from = world.dataset(source).and_then(|d| d.mountpoint.clone());
    let to = world.dataset(target).and_then(|d| d.mountpoint.clone());
    if let (Some(from), Some(to)) = (from, to) {
        world.copy_tree(&from, &to);
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_json() {
        let a = Action::EditFile {
            path: "/etc/rc.conf".into(),
            edit: FileEdit::SetRcVar {
                name: "jail_enable".into(),
                value: "YES".into(),
            },
        };
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), a);
        assert!(
            serde_json::from_str::<Action>(r#"{"action":"remove","path":"/x","extra":1}"#).is_err()
        );
    }
}
