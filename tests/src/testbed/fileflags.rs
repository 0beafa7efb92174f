//! File flags (chflags(1), `schg` and friends) on the Linux test bed.
//!
//! FreeBSD's base.txz carries system-immutable files (`var/empty`, `sbin/init`,
//! `usr/bin/su`, `lib/libc.so.7`, …), and FreeBSD refuses to delete, rename or write
//! them until `chflags noschg` clears the flag. Linux has no such flags (its
//! `chattr +i` is another thing, unsupported by zfs-fuse), so a test bed that ignored
//! them would be kinder than FreeBSD: it hid `rm -rf` of a half-copied
//! `.var.thinjail-partial` failing on its `schg` `var/empty`.
//!
//! So the test bed keeps the flags in a registry (`<state dir>/file-flags.json`)
//! keyed by *filesystem and inode*: the dataset name for a zfs-fuse mount (stable
//! across remounts and bind mounts, and ZFS keeps object numbers through
//! `send | receive`, `clone`, `rollback` and renames), the device number otherwise.
//!
//! What sets flags, as on FreeBSD:
//! - extracting a set (`tar -xpf`): the flags are read from the archive itself, the
//!   pax `SCHILY.fflags` records FreeBSD's tar writes (listed by
//!   `bsdtar -cf - --format=mtree @ARCHIVE` as `flags=schg`); bsdtar extracts with
//!   `--no-fflags` so Linux never sees them;
//! - `chflags [-R] [-h] FLAGS PATH…` (bin/chflags/chflags.c: a physical walk with
//!   `-R`, symbolic links skipped unless `-h`, octal or strtofflags(3) names);
//! - `cp -p` / `cp -RPp` carry the source's flags to the copy (bin/cp/utils.c,
//!   `setfile`: a directory gets its flags after its contents are copied);
//! - `zfs snapshot`, `zfs send | zfs receive`, `zfs clone`, `zfs rollback`,
//!   `zfs rename`: the copy or the restored dataset has the flags its source had;
//!   `zfs destroy` forgets them; `mv` within a filesystem keeps them (same inode).
//!
//! What they forbid, with the messages and exit statuses of FreeBSD's tools
//! (bin/rm/rm.c, bin/mv/mv.c, bin/rmdir/rmdir.c, bin/mkdir/mkdir.c, bin/ln/ln.c,
//! bin/cp/cp.c; the kernel's rules as pjdfstest checks them for unlink, rename,
//! rmdir, mkdir, symlink and open): an immutable, append-only or undeletable entry
//! cannot be removed or renamed, and an immutable or append-only directory cannot
//! have entries added, removed or renamed — "Operation not permitted" (EPERM).
//! `rm -rf` walks the whole tree, goes on past each failure, reports every one
//! (`rm: PATH: Operation not permitted`, then `Directory not empty` for each parent)
//! and exits 1; as root it clears user flags (`uchg`, `uappnd`) first unless a
//! system flag is set, as rm.c does. The native steps (whole-file writes, edits,
//! symlink rewrites) fail with EPERM where the file or its directory is protected.
//!
//! What it cannot reproduce: programs run inside a jail (chroot) or by other
//! stand-ins write and delete without looking at the registry, so a jail's root
//! can remove its own `var/empty` here; a deleted flagged inode whose number is
//! reused then inherits stale flags. Flags are kept only where these commands and
//! steps put them (a file copied by anything else has none). Extracting over a
//! protected entry fails before anything is extracted (bsdtar would extract the
//! rest, then exit 1). `mv` of a flagged tree across filesystems and `cp -R` onto an
//! existing directory are refused as unsupported rather than imitated.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use serde::{Deserialize, Serialize};
use thinjail_core::action::{Action, Command, Execution};
use thinjail_core::edit::relinked_target;
use thinjail_core::host::{apply_native, CommandOutput, FreeBsdHost, HostError};
use thinjail_core::quote;
use thinjail_core::Snapshot;

/// `UF_NODUMP`: do not dump the file.
pub const UF_NODUMP: u32 = 0x0000_0001;
/// `UF_IMMUTABLE` (`uchg`).
pub const UF_IMMUTABLE: u32 = 0x0000_0002;
/// `UF_APPEND` (`uappnd`).
pub const UF_APPEND: u32 = 0x0000_0004;
/// `UF_OPAQUE` (`opaque`).
pub const UF_OPAQUE: u32 = 0x0000_0008;
/// `UF_NOUNLINK` (`uunlnk`).
pub const UF_NOUNLINK: u32 = 0x0000_0010;
/// `SF_ARCHIVED` (`arch`).
pub const SF_ARCHIVED: u32 = 0x0001_0000;
/// `SF_IMMUTABLE` (`schg`).
pub const SF_IMMUTABLE: u32 = 0x0002_0000;
/// `SF_APPEND` (`sappnd`).
pub const SF_APPEND: u32 = 0x0004_0000;
/// `SF_NOUNLINK` (`sunlnk`).
pub const SF_NOUNLINK: u32 = 0x0010_0000;

const IMMUTABLE: u32 = UF_IMMUTABLE | SF_IMMUTABLE;
const APPEND: u32 = UF_APPEND | SF_APPEND;
const NOUNLINK: u32 = UF_NOUNLINK | SF_NOUNLINK;

/// Names strtofflags(3) accepts (lib/libc/gen/strtofflags.c), the first of each
/// bit being the one fflagstostr(3) prints.
const FLAG_NAMES: &[(&str, u32)] = &[
    ("arch", SF_ARCHIVED),
    ("archived", SF_ARCHIVED),
    ("nodump", UF_NODUMP),
    ("opaque", UF_OPAQUE),
    ("sappnd", SF_APPEND),
    ("sappend", SF_APPEND),
    ("schg", SF_IMMUTABLE),
    ("schange", SF_IMMUTABLE),
    ("simmutable", SF_IMMUTABLE),
    ("sunlnk", SF_NOUNLINK),
    ("sunlink", SF_NOUNLINK),
    ("uappnd", UF_APPEND),
    ("uappend", UF_APPEND),
    ("uchg", UF_IMMUTABLE),
    ("uchange", UF_IMMUTABLE),
    ("uimmutable", UF_IMMUTABLE),
    ("uunlnk", UF_NOUNLINK),
    ("uunlink", UF_NOUNLINK),
];

/// A file's flags (FreeBSD's `st_flags` bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct FileFlags(pub u32);

impl FileFlags {
    /// No flags.
    pub const NONE: FileFlags = FileFlags(0);

    /// Whether the entry itself cannot be unlinked, removed or renamed.
    pub fn protects_entry(self) -> bool {
        self.0 & (IMMUTABLE | APPEND | NOUNLINK) != 0
    }

    /// Whether a directory with these flags refuses new, removed or renamed entries.
    pub fn protects_entries(self) -> bool {
        self.0 & (IMMUTABLE | APPEND) != 0
    }

    /// Whether the contents and attributes cannot be replaced (writes other than
    /// appends, chmod, chown).
    pub fn protects_contents(self) -> bool {
        self.0 & (IMMUTABLE | APPEND) != 0
    }

    /// Whether `schg` is set.
    pub fn is_schg(self) -> bool {
        self.0 & SF_IMMUTABLE != 0
    }

    /// Parses a flags operand as chflags(1) does: an octal number, or a
    /// comma-separated list of names, each of which may be prefixed by `no` to clear
    /// it. Returns (bits to set, bits to clear, whether it was octal).
    pub fn parse_operand(text: &str) -> Result<(u32, u32, bool), String> {
        if text.starts_with(|c: char| ('0'..='7').contains(&c)) {
            return u32::from_str_radix(text, 8)
                .map(|bits| (bits, !0, true))
                .map_err(|_| format!("invalid flags: {text}"));
        }
        let (mut set, mut clear) = (0, 0);
        for word in text.split([',', ' ', '\t']).filter(|w| !w.is_empty()) {
            if let Some(bits) = flag_bits(word) {
                set |= bits;
            } else if word == "dump" {
                clear |= UF_NODUMP;
            } else if let Some(bits) = word.strip_prefix("no").and_then(flag_bits) {
                clear |= bits;
            } else {
                return Err(format!("invalid flag: {word}"));
            }
        }
        Ok((set, clear, false))
    }
}

fn flag_bits(name: &str) -> Option<u32> {
    FLAG_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bits)| *bits)
}

impl std::fmt::Display for FileFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = Vec::new();
        let mut seen = 0;
        for (name, bits) in FLAG_NAMES {
            if self.0 & bits != 0 && seen & bits == 0 {
                names.push(name);
                seen |= bits;
            }
        }
        if self.0 & !seen != 0 {
            return write!(f, "{:o}", self.0);
        }
        f.write_str(&names.join(","))
    }
}

impl From<FileFlags> for String {
    fn from(flags: FileFlags) -> String {
        flags.to_string()
    }
}

impl TryFrom<String> for FileFlags {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(FileFlags::NONE);
        }
        let (set, _, _) = FileFlags::parse_operand(&text)?;
        Ok(FileFlags(set))
    }
}

/// Which file: a filesystem (`zfs:DATASET`, or `dev:MAJOR:MINOR` off ZFS) and an inode.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileKey {
    /// The filesystem.
    pub fs: String,
    /// The inode number.
    pub ino: u64,
}

/// The flags of every flagged file the test bed knows, by filesystem and inode.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagRegistry {
    /// Filesystem (or snapshot: `zfs:DATASET@SNAP`) → inode → flags.
    pub filesystems: BTreeMap<String, BTreeMap<u64, FileFlags>>,
}

impl FlagRegistry {
    fn file(state_dir: &Path) -> PathBuf {
        state_dir.join("file-flags.json")
    }

    /// The registry kept in `state_dir` (empty when there is none yet).
    pub fn load(state_dir: &Path) -> Result<Self, HostError> {
        let file = Self::file(state_dir);
        match fs::read_to_string(&file) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                HostError::Conflict(format!("test bed file flags {}: {e}", file.display()))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(FlagRegistry::default()),
            Err(e) => Err(HostError::io(format!("read {}", file.display()), e)),
        }
    }

    /// Writes it back.
    pub fn save(&self, state_dir: &Path) -> Result<(), HostError> {
        fs::create_dir_all(state_dir)
            .map_err(|e| HostError::io(format!("create {}", state_dir.display()), e))?;
        let text =
            serde_json::to_string_pretty(self).map_err(|e| HostError::Conflict(e.to_string()))?;
        thinjail_core::host::write_atomically(&Self::file(state_dir), text.as_bytes(), Some(0o644))
    }

    /// The flags of `key` (none when unknown).
    pub fn get(&self, key: &FileKey) -> FileFlags {
        self.filesystems
            .get(&key.fs)
            .and_then(|files| files.get(&key.ino))
            .copied()
            .unwrap_or_default()
    }

    /// Sets the flags of `key`.
    pub fn set(&mut self, key: &FileKey, flags: FileFlags) {
        if flags == FileFlags::NONE {
            self.forget(key);
        } else {
            self.filesystems
                .entry(key.fs.clone())
                .or_default()
                .insert(key.ino, flags);
        }
    }

    /// Forgets `key` (the inode was freed).
    pub fn forget(&mut self, key: &FileKey) {
        if let Some(files) = self.filesystems.get_mut(&key.fs) {
            files.remove(&key.ino);
            if files.is_empty() {
                self.filesystems.remove(&key.fs);
            }
        }
    }

    /// `to` gets exactly the flags `from` has (a copy of a whole filesystem).
    fn copy_filesystem(&mut self, from: &str, to: &str) {
        match self.filesystems.get(from).cloned() {
            Some(files) => {
                self.filesystems.insert(to.to_string(), files);
            }
            None => {
                self.filesystems.remove(to);
            }
        }
    }

    /// Forgets `name`, its snapshots and, with `children`, everything below it.
    fn drop_filesystems(&mut self, name: &str, children: bool) {
        self.filesystems.retain(|fs, _| {
            !(fs == name
                || fs.starts_with(&format!("{name}@"))
                || (children && fs.starts_with(&format!("{name}/"))))
        });
    }

    /// Renames `from` (with its snapshots and children) to `to`.
    fn rename_filesystems(&mut self, from: &str, to: &str) {
        let moved: Vec<String> = self
            .filesystems
            .keys()
            .filter(|fs| {
                *fs == from
                    || fs.starts_with(&format!("{from}@"))
                    || fs.starts_with(&format!("{from}/"))
            })
            .cloned()
            .collect();
        for fs in moved {
            if let Some(files) = self.filesystems.remove(&fs) {
                self.filesystems
                    .insert(format!("{to}{}", &fs[from.len()..]), files);
            }
        }
    }
}

/// The registry key of a dataset or snapshot.
fn zfs_key(name: &str) -> String {
    format!("zfs:{name}")
}

/// Maps device numbers to stable filesystem names through `/proc/self/mountinfo`.
#[derive(Debug, Default)]
pub struct Resolver {
    devices: BTreeMap<(u64, u64), String>,
}

impl Resolver {
    /// Reads the mount table now.
    pub fn new() -> io::Result<Self> {
        let text = fs::read_to_string("/proc/self/mountinfo")?;
        let mut devices = BTreeMap::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let Some(separator) = fields.iter().position(|f| *f == "-") else {
                continue;
            };
            let (Some(device), Some(fstype), Some(source)) = (
                fields.get(2),
                fields.get(separator + 1),
                fields.get(separator + 2),
            ) else {
                continue;
            };
            let Some((major, minor)) = device.split_once(':') else {
                continue;
            };
            let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
                continue;
            };
            if *fstype == "fuse.zfs" {
                devices
                    .entry((major, minor))
                    .or_insert_with(|| zfs_key(source));
            }
        }
        Ok(Resolver { devices })
    }

    /// The key of the file `metadata` describes.
    pub fn key_of(&self, metadata: &fs::Metadata) -> FileKey {
        let dev = metadata.dev();
        // Linux's dev_t encoding (glibc's gnu_dev_major / gnu_dev_minor).
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
        let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
        let fs = self
            .devices
            .get(&(major, minor))
            .cloned()
            .unwrap_or_else(|| format!("dev:{major}:{minor}"));
        FileKey {
            fs,
            ino: metadata.ino(),
        }
    }

    /// The key of `path` itself (a symbolic link is not followed).
    pub fn key(&self, path: &Path) -> io::Result<FileKey> {
        Ok(self.key_of(&fs::symlink_metadata(path)?))
    }

    /// The key of the directory that holds `path`'s entry (followed: the real one).
    fn parent_key(&self, path: &Path) -> io::Result<FileKey> {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(self.key_of(&fs::metadata(parent)?))
    }
}

/// Flags of paths, for tests that check them.
pub struct FlagView {
    registry: FlagRegistry,
    resolver: Resolver,
}

impl FlagView {
    /// The test bed's flags in `state_dir`, against the mount table now.
    pub fn load(state_dir: &Path) -> Result<Self, HostError> {
        Ok(FlagView {
            registry: FlagRegistry::load(state_dir)?,
            resolver: Resolver::new().map_err(|e| HostError::io("read the mount table", e))?,
        })
    }

    /// The flags of `path` (not following a final symbolic link); none when it does not exist.
    pub fn flags(&self, path: &Path) -> FileFlags {
        self.resolver
            .key(path)
            .map(|key| self.registry.get(&key))
            .unwrap_or_default()
    }
}

/// FreeBSD's strerror(3) text for an error (Linux numbers, FreeBSD words).
fn strerror(error: &io::Error) -> String {
    let Some(code) = error.raw_os_error() else {
        return error.to_string();
    };
    match Errno::from_raw(code) {
        Errno::EPERM => "Operation not permitted".into(),
        Errno::ENOENT => "No such file or directory".into(),
        Errno::EACCES => "Permission denied".into(),
        Errno::EBUSY => "Device busy".into(),
        Errno::EEXIST => "File exists".into(),
        Errno::EXDEV => "Cross-device link".into(),
        Errno::ENOTDIR => "Not a directory".into(),
        Errno::EISDIR => "Is a directory".into(),
        Errno::EINVAL => "Invalid argument".into(),
        Errno::ENOSPC => "No space left on device".into(),
        Errno::EROFS => "Read-only file system".into(),
        Errno::ENOTEMPTY => "Directory not empty".into(),
        Errno::ELOOP => "Too many levels of symbolic links".into(),
        other => other.desc().to_string(),
    }
}

fn eperm() -> io::Error {
    io::Error::from_raw_os_error(Errno::EPERM as i32)
}

/// A command that "ran" on the test bed and failed as FreeBSD's would.
fn command_failed(argv: &[String], status: i32, stderr: String) -> HostError {
    HostError::CommandFailed {
        command: quote::sh_command(argv),
        status: format!("exit status {status}"),
        stdout: String::new(),
        stderr,
    }
}

fn unsupported(argv: &[String], why: &str) -> HostError {
    HostError::Unsupported(format!(
        "the test bed's {} {why}: {}",
        argv.first().map(String::as_str).unwrap_or("?"),
        quote::sh_command(argv)
    ))
}

/// Splits `argv[1..]` into single-letter options (getopt style, letters from
/// `known`, none taking a value) and operands.
fn getopt<'a>(argv: &'a [String], known: &str) -> Result<(Vec<char>, Vec<&'a str>), char> {
    let mut options = Vec::new();
    let mut rest = argv.iter().skip(1).map(String::as_str).peekable();
    while let Some(word) = rest.peek().copied() {
        if word == "--" {
            rest.next();
            break;
        }
        if !word.starts_with('-') || word == "-" {
            break;
        }
        rest.next();
        for letter in word[1..].chars() {
            if !known.contains(letter) {
                return Err(letter);
            }
            options.push(letter);
        }
    }
    Ok((options, rest.collect()))
}

/// A joined path as fts(3) spells it: `OPERAND/child`.
fn child_path(parent: &str, name: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// The flag-aware part of the test bed: commands and native steps that touch files
/// run through here.
#[derive(Debug)]
pub struct FileFlagsBed {
    state_dir: PathBuf,
    /// Commands answered by a stand-in here without starting a process.
    pub emulated_commands: usize,
}

struct Run<'a> {
    argv: &'a [String],
    stderr: String,
    status: i32,
}

impl Run<'_> {
    fn warn(&mut self, what: &str, error: &io::Error) {
        let program = self.argv.first().map(String::as_str).unwrap_or("?");
        self.stderr
            .push_str(&format!("{program}: {what}: {}\n", strerror(error)));
        self.status = 1;
    }

    fn finish(self) -> Result<CommandOutput, HostError> {
        if self.status == 0 {
            Ok(CommandOutput {
                stdout: String::new(),
                stderr: self.stderr,
            })
        } else {
            Err(command_failed(self.argv, self.status, self.stderr))
        }
    }
}

impl FileFlagsBed {
    /// Flags kept in `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        FileFlagsBed {
            state_dir: state_dir.into(),
            emulated_commands: 0,
        }
    }

    fn load(&self) -> Result<(FlagRegistry, Resolver), HostError> {
        Ok((
            FlagRegistry::load(&self.state_dir)?,
            Resolver::new().map_err(|e| HostError::io("read the mount table", e))?,
        ))
    }

    /// Carries `action` out as [`FreeBsdHost::apply_default`] does, with file flags
    /// set, carried and enforced as FreeBSD would.
    pub fn apply(&mut self, host: &mut FreeBsdHost, action: &Action) -> Result<(), HostError> {
        match action.execution() {
            Execution::Commands(commands) => {
                for command in &commands {
                    self.run(host, command)?;
                }
                Ok(())
            }
            Execution::Native => self.native(action),
        }
    }

    /// Runs one command, through a flag-aware stand-in where the program touches
    /// files or datasets.
    pub fn run(
        &mut self,
        host: &mut FreeBsdHost,
        command: &Command,
    ) -> Result<CommandOutput, HostError> {
        match command {
            Command::Run { argv } => match argv.first().map(String::as_str) {
                Some("rm") => self.counted(|bed| bed.rm(argv)),
                Some("rmdir") => self.counted(|bed| bed.rmdir(argv)),
                Some("mv") => self.mv(host, argv),
                Some("cp") => self.cp(host, argv),
                Some("chflags") => self.counted(|bed| bed.chflags(argv)),
                Some("mkdir") => self.mkdir(host, argv),
                Some("ln") => self.ln(host, argv),
                Some("zfs") => {
                    let output = host.run(command)?;
                    self.after_zfs(argv)?;
                    Ok(output)
                }
                _ => host.run(command),
            },
            Command::Pipe { left, right }
                if left.get(..2) == Some(&["zfs".to_string(), "send".to_string()])
                    && right.get(..2) == Some(&["zfs".to_string(), "receive".to_string()]) =>
            {
                let output = host.run(command)?;
                self.after_send_receive(left, right)?;
                Ok(output)
            }
            Command::ReadFrom { argv, stdin } if argv.first().is_some_and(|p| p == "tar") => {
                self.extract(host, argv, stdin)
            }
            _ => host.run(command),
        }
    }

    fn counted(
        &mut self,
        stand_in: impl FnOnce(&mut Self) -> Result<CommandOutput, HostError>,
    ) -> Result<CommandOutput, HostError> {
        self.emulated_commands += 1;
        stand_in(self)
    }

    /// `rm [-dfPRr] FILE…` as bin/rm/rm.c does it, as root.
    fn rm(&mut self, argv: &[String]) -> Result<CommandOutput, HostError> {
        let (options, operands) = getopt(argv, "dfPRr")
            .map_err(|_| unsupported(argv, "takes only -d, -f, -P, -R and -r"))?;
        let has = |c: char| options.contains(&c);
        let (recursive, force, dirs) = (has('r') || has('R'), has('f'), has('d'));
        let (mut registry, resolver) = self.load()?;
        let mut run = Run {
            argv,
            stderr: String::new(),
            status: 0,
        };
        for operand in operands {
            if operand == "/" {
                run.stderr.push_str("rm: \"/\" may not be removed\n");
                run.status = 1;
                continue;
            }
            let last = operand
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("");
            if last == "." || last == ".." {
                run.stderr
                    .push_str("rm: \".\" and \"..\" may not be removed\n");
                run.status = 1;
                continue;
            }
            let remover = Remover {
                registry: &mut registry,
                resolver: &resolver,
                force,
            };
            if recursive {
                remover.tree(operand, &mut run);
            } else {
                remover.single(operand, dirs, &mut run);
            }
        }
        registry.save(&self.state_dir)?;
        run.finish()
    }

    /// `rmdir DIR…` (bin/rmdir/rmdir.c).
    fn rmdir(&mut self, argv: &[String]) -> Result<CommandOutput, HostError> {
        let (_, operands) = getopt(argv, "").map_err(|_| unsupported(argv, "takes no options"))?;
        let (mut registry, resolver) = self.load()?;
        let mut run = Run {
            argv,
            stderr: String::new(),
            status: 0,
        };
        for operand in operands {
            let path = Path::new(operand);
            let result = check_removable(&registry, &resolver, path).and_then(|key| {
                fs::remove_dir(path)?;
                Ok(key)
            });
            match result {
                Ok(key) => registry.forget(&key),
                Err(e) => run.warn(operand, &e),
            }
        }
        registry.save(&self.state_dir)?;
        run.finish()
    }

    /// `mv [-f] FROM TO` (bin/mv/mv.c): a rename; across filesystems, a copy.
    fn mv(&mut self, host: &mut FreeBsdHost, argv: &[String]) -> Result<CommandOutput, HostError> {
        let (_, operands) = getopt(argv, "f").map_err(|_| unsupported(argv, "takes only -f"))?;
        let [from, to] = operands.as_slice() else {
            return Err(unsupported(argv, "moves one source to one target"));
        };
        let from_path = Path::new(from);
        let mut to_path = PathBuf::from(to);
        if fs::metadata(&to_path).is_ok_and(|m| m.is_dir()) {
            if let Some(name) = from_path.file_name() {
                to_path = to_path.join(name);
            }
        }
        let (mut registry, resolver) = self.load()?;
        let replaced = resolver.key(&to_path).ok();
        let checked = (|| -> io::Result<()> {
            let key = resolver.key(from_path)?;
            if registry.get(&key).protects_entry()
                || registry
                    .get(&resolver.parent_key(from_path)?)
                    .protects_entries()
                || registry
                    .get(&resolver.parent_key(&to_path)?)
                    .protects_entries()
                || replaced
                    .as_ref()
                    .is_some_and(|k| registry.get(k).protects_entry())
            {
                return Err(eperm());
            }
            Ok(())
        })();
        let display = format!("rename {from} to {}", to_path.display());
        if let Err(e) = checked {
            self.emulated_commands += 1;
            return Err(command_failed(
                argv,
                1,
                format!("mv: {display}: {}\n", strerror(&e)),
            ));
        }
        match fs::rename(from_path, &to_path) {
            Ok(()) => {
                self.emulated_commands += 1;
                if let Some(key) = replaced {
                    registry.forget(&key);
                    registry.save(&self.state_dir)?;
                }
                Ok(CommandOutput::default())
            }
            Err(e) if e.raw_os_error() == Some(Errno::EXDEV as i32) => {
                if tree_has_flags(&registry, &resolver, from_path) {
                    return Err(unsupported(
                        argv,
                        "does not move a tree with file flags across filesystems",
                    ));
                }
                host.run(&Command::Run {
                    argv: argv.to_vec(),
                })
            }
            Err(e) => {
                self.emulated_commands += 1;
                Err(command_failed(
                    argv,
                    1,
                    format!("mv: {display}: {}\n", strerror(&e)),
                ))
            }
        }
    }

    /// `cp [-R] [-P] [-p] [-f] FROM TO` (bin/cp): the real copy, then `-p` carries
    /// the flags over as cp's `setfile` does.
    fn cp(&mut self, host: &mut FreeBsdHost, argv: &[String]) -> Result<CommandOutput, HostError> {
        let (options, operands) =
            getopt(argv, "RPpf").map_err(|_| unsupported(argv, "takes only -R, -P, -p and -f"))?;
        let has = |c: char| options.contains(&c);
        let (recursive, preserve) = (has('R'), has('p'));
        let [from, to] = operands.as_slice() else {
            return Err(unsupported(argv, "copies one source to one target"));
        };
        let from_path = Path::new(from);
        let source = if recursive {
            fs::symlink_metadata(from_path)
        } else {
            fs::metadata(from_path)
        };
        let fail = |bed: &mut Self, message: String| {
            bed.emulated_commands += 1;
            Err(command_failed(argv, 1, message))
        };
        let source = match source {
            Ok(m) => m,
            Err(e) => return fail(self, format!("cp: {from}: {}\n", strerror(&e))),
        };
        if source.is_dir() && !recursive {
            return fail(self, format!("cp: {from} is a directory (not copied).\n"));
        }
        let mut dest = PathBuf::from(to);
        if fs::metadata(&dest).is_ok_and(|m| m.is_dir()) {
            if let Some(name) = from_path.file_name() {
                dest = dest.join(name);
            }
        }
        let dest_text = dest.display().to_string();
        let (mut registry, resolver) = self.load()?;
        let parent_flags = resolver
            .parent_key(&dest)
            .map(|k| registry.get(&k))
            .unwrap_or_default();
        if parent_flags.protects_entries() {
            return fail(self, format!("cp: {dest_text}: {}\n", strerror(&eperm())));
        }
        if let Ok(existing) = fs::symlink_metadata(&dest) {
            if source.is_dir() || existing.is_dir() {
                return Err(unsupported(argv, "copies a directory only to a new path"));
            }
            let key = resolver.key_of(&existing);
            let flags = registry.get(&key);
            if source.file_type().is_symlink() && flags.protects_entry() {
                return fail(
                    self,
                    format!("cp: unlink: {dest_text}: {}\n", strerror(&eperm())),
                );
            }
            if flags.protects_contents() {
                return fail(self, format!("cp: {dest_text}: {}\n", strerror(&eperm())));
            }
            // FreeBSD's cp rewrites an existing file in place; GNU cp refuses some
            // of those cases, so the old one goes first (its flags were none).
            fs::remove_file(&dest).map_err(|e| HostError::io(format!("replace {dest_text}"), e))?;
            registry.forget(&key);
        }
        let mut real = vec!["cp".to_string()];
        real.push(
            [
                recursive.then_some("R"),
                recursive.then_some("P"),
                preserve.then_some("p"),
            ]
            .into_iter()
            .flatten()
            .fold("-".to_string(), |acc, o| acc + o),
        );
        if real[1] == "-" {
            real.pop();
        }
        real.push(from.to_string());
        real.push(dest_text.clone());
        let output = host.run(&Command::Run { argv: real })?;
        if preserve {
            let resolver = Resolver::new().map_err(|e| HostError::io("read the mount table", e))?;
            carry_flags(&mut registry, &resolver, from_path, &dest, recursive).map_err(|e| {
                HostError::io(format!("carry the flags of {from} to {dest_text}"), e)
            })?;
        }
        registry.save(&self.state_dir)?;
        Ok(output)
    }

    /// `chflags [-fhR] [-P] FLAGS FILE…` (bin/chflags/chflags.c).
    fn chflags(&mut self, argv: &[String]) -> Result<CommandOutput, HostError> {
        let (options, operands) =
            getopt(argv, "fhPR").map_err(|_| unsupported(argv, "takes only -f, -h, -P and -R"))?;
        let has = |c: char| options.contains(&c);
        let (recursive, no_follow, quiet) = (has('R'), has('h'), has('f'));
        let Some((flags, paths)) = operands.split_first() else {
            return Err(command_failed(
                argv,
                1,
                "usage: chflags [-fhv] [-R [-H | -L | -P]] flags file ...\n".into(),
            ));
        };
        if paths.is_empty() {
            return Err(command_failed(
                argv,
                1,
                "usage: chflags [-fhv] [-R [-H | -L | -P]] flags file ...\n".into(),
            ));
        }
        if recursive && no_follow {
            return Err(command_failed(
                argv,
                1,
                "chflags: the -R and -h options may not be specified together\n".into(),
            ));
        }
        let (set, clear, octal) = FileFlags::parse_operand(flags)
            .map_err(|problem| command_failed(argv, 1, format!("chflags: {problem}\n")))?;
        let (mut registry, resolver) = self.load()?;
        let mut run = Run {
            argv,
            stderr: String::new(),
            status: 0,
        };
        let change = |metadata: &fs::Metadata, registry: &mut FlagRegistry| {
            let key = resolver.key_of(metadata);
            let old = registry.get(&key);
            let new = if octal {
                FileFlags(set)
            } else {
                FileFlags((old.0 | set) & !clear)
            };
            registry.set(&key, new);
        };
        for path in paths {
            if recursive {
                // A physical walk: links are neither followed nor changed.
                let mut pending = vec![path.to_string()];
                while let Some(current) = pending.pop() {
                    let metadata = match fs::symlink_metadata(&current) {
                        Ok(m) => m,
                        Err(e) => {
                            run.warn(&current, &e);
                            continue;
                        }
                    };
                    if metadata.file_type().is_symlink() {
                        continue;
                    }
                    if metadata.is_dir() {
                        match fs::read_dir(&current) {
                            Ok(entries) => {
                                for entry in entries.flatten() {
                                    pending.push(child_path(
                                        &current,
                                        &entry.file_name().to_string_lossy(),
                                    ));
                                }
                            }
                            Err(e) => run.warn(&current, &e),
                        }
                    }
                    change(&metadata, &mut registry);
                }
            } else {
                let metadata = if no_follow {
                    fs::symlink_metadata(path)
                } else {
                    fs::metadata(path)
                };
                match metadata {
                    Ok(m) => change(&m, &mut registry),
                    Err(e) if !quiet => run.warn(path, &e),
                    Err(_) => {}
                }
            }
        }
        registry.save(&self.state_dir)?;
        run.finish()
    }

    /// `mkdir [-p] DIR…` (bin/mkdir/mkdir.c): refused in a protected directory.
    fn mkdir(
        &mut self,
        host: &mut FreeBsdHost,
        argv: &[String],
    ) -> Result<CommandOutput, HostError> {
        let (options, operands) =
            getopt(argv, "p").map_err(|_| unsupported(argv, "takes only -p"))?;
        let parents = !options.is_empty();
        let (registry, resolver) = self.load()?;
        for operand in &operands {
            let path = Path::new(operand);
            // The first missing component is the one mkdir(2) is asked to create.
            let mut first_missing = path.to_path_buf();
            if parents {
                for ancestor in path.ancestors() {
                    if ancestor.as_os_str().is_empty() || fs::symlink_metadata(ancestor).is_ok() {
                        break;
                    }
                    first_missing = ancestor.to_path_buf();
                }
            }
            if fs::symlink_metadata(&first_missing).is_ok() {
                continue;
            }
            let protected = resolver
                .parent_key(&first_missing)
                .map(|k| registry.get(&k).protects_entries())
                .unwrap_or(false);
            if protected {
                self.emulated_commands += 1;
                return Err(command_failed(
                    argv,
                    1,
                    format!(
                        "mkdir: {}: {}\n",
                        first_missing.display(),
                        strerror(&eperm())
                    ),
                ));
            }
        }
        host.run(&Command::Run {
            argv: argv.to_vec(),
        })
    }

    /// `ln -s TARGET LINK` (bin/ln/ln.c): refused in a protected directory.
    fn ln(&mut self, host: &mut FreeBsdHost, argv: &[String]) -> Result<CommandOutput, HostError> {
        let (_, operands) = getopt(argv, "s").map_err(|_| unsupported(argv, "takes only -s"))?;
        let [target, link] = operands.as_slice() else {
            return Err(unsupported(argv, "makes one link"));
        };
        let mut link_path = PathBuf::from(link);
        if fs::metadata(&link_path).is_ok_and(|m| m.is_dir()) {
            if let Some(name) = Path::new(target).file_name() {
                link_path = link_path.join(name);
            }
        }
        let (registry, resolver) = self.load()?;
        let protected = resolver
            .parent_key(&link_path)
            .map(|k| registry.get(&k).protects_entries())
            .unwrap_or(false);
        if protected {
            self.emulated_commands += 1;
            return Err(command_failed(
                argv,
                1,
                format!("ln: {}: {}\n", link_path.display(), strerror(&eperm())),
            ));
        }
        host.run(&Command::Run {
            argv: argv.to_vec(),
        })
    }

    /// What a successful `zfs` command did to the flags: snapshots, clones and
    /// rollbacks copy them, destroys forget them, renames move them.
    fn after_zfs(&mut self, argv: &[String]) -> Result<(), HostError> {
        let words: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
        let mut registry = FlagRegistry::load(&self.state_dir)?;
        let last = words.last().copied().unwrap_or("");
        match words.first().copied() {
            Some("snapshot") => {
                if let Some((dataset, _)) = last.split_once('@') {
                    registry.copy_filesystem(&zfs_key(dataset), &zfs_key(last));
                }
            }
            Some("destroy") => {
                registry.drop_filesystems(&zfs_key(last), words.contains(&"-r"));
            }
            Some("rename") => {
                if let [.., from, to] = words.as_slice() {
                    registry.rename_filesystems(&zfs_key(from), &zfs_key(to));
                }
            }
            Some("rollback") => {
                if let Some((dataset, _)) = last.split_once('@') {
                    registry.copy_filesystem(&zfs_key(last), &zfs_key(dataset));
                }
            }
            Some("clone") => {
                if let [.., origin, target] = words.as_slice() {
                    registry.copy_filesystem(&zfs_key(origin), &zfs_key(target));
                }
            }
            Some("create") => registry.drop_filesystems(&zfs_key(last), false),
            _ => return Ok(()),
        }
        registry.save(&self.state_dir)
    }

    /// `zfs send D@S | zfs receive T`: T and T@S have D@S's flags.
    fn after_send_receive(&mut self, left: &[String], right: &[String]) -> Result<(), HostError> {
        let (Some(snapshot), Some(target)) = (left.last(), right.last()) else {
            return Ok(());
        };
        let Some((_, name)) = snapshot.split_once('@') else {
            return Ok(());
        };
        let mut registry = FlagRegistry::load(&self.state_dir)?;
        registry.copy_filesystem(&zfs_key(snapshot), &zfs_key(target));
        registry.copy_filesystem(
            &zfs_key(snapshot),
            &zfs_key(&Snapshot::new(target, name).to_string()),
        );
        registry.save(&self.state_dir)
    }

    /// `tar -xpf - -C DEST < ARCHIVE`: bsdtar extracts (flags not set on Linux),
    /// then the archive's own `SCHILY.fflags` records go into the registry.
    fn extract(
        &mut self,
        host: &mut FreeBsdHost,
        argv: &[String],
        archive: &Path,
    ) -> Result<CommandOutput, HostError> {
        let words: Vec<&str> = argv.iter().map(String::as_str).collect();
        let ["tar", "-xpf", "-", "-C", dest] = words.as_slice() else {
            return Err(unsupported(argv, "extracts only `tar -xpf - -C DEST`"));
        };
        let listing = host.run(&Command::ReadFrom {
            argv: [
                "bsdtar",
                "-cf",
                "-",
                "--format=mtree",
                "--options=mtree:!all,mtree:type,mtree:flags",
                "@-",
            ]
            .map(String::from)
            .to_vec(),
            stdin: archive.to_path_buf(),
        })?;
        let entries = parse_mtree_flags(&listing.stdout);
        let dest = Path::new(dest);
        let (mut registry, resolver) = self.load()?;
        // An existing protected entry cannot be replaced; bsdtar would fail on it.
        for (path, _) in &entries {
            let target = dest.join(path);
            let Ok(metadata) = fs::symlink_metadata(&target) else {
                continue;
            };
            let protected = registry.get(&resolver.key_of(&metadata)).protects_entry()
                || resolver
                    .parent_key(&target)
                    .is_ok_and(|k| registry.get(&k).protects_entries());
            if protected {
                self.emulated_commands += 1;
                return Err(command_failed(
                    argv,
                    1,
                    format!(
                        "tar: {}: Can't replace existing entry: Operation not permitted\n\
                         tar: Error exit delayed from previous errors.\n",
                        path.display()
                    ),
                ));
            }
        }
        let output = host.run(&Command::ReadFrom {
            argv: ["bsdtar", "-xp", "--no-fflags", "-f", "-", "-C"]
                .map(String::from)
                .into_iter()
                .chain([dest.display().to_string()])
                .collect(),
            stdin: archive.to_path_buf(),
        })?;
        let resolver = Resolver::new().map_err(|e| HostError::io("read the mount table", e))?;
        for (path, flags) in entries {
            if flags == FileFlags::NONE {
                continue;
            }
            let target = dest.join(&path);
            let key = resolver
                .key(&target)
                .map_err(|e| HostError::io(format!("look at {}", target.display()), e))?;
            registry.set(&key, flags);
        }
        registry.save(&self.state_dir)?;
        Ok(output)
    }

    /// A native step (write, edit, symlink rewrite), refused where FreeBSD would
    /// refuse it.
    fn native(&mut self, action: &Action) -> Result<(), HostError> {
        let (mut registry, resolver) = self.load()?;
        let mut replaced = Vec::new();
        match action {
            Action::WriteFile { path, .. } | Action::EditFile { path, .. } => {
                let parent_protected = resolver
                    .parent_key(path)
                    .is_ok_and(|k| registry.get(&k).protects_entries());
                let existing = resolver.key(path).ok();
                let protected = existing
                    .as_ref()
                    .is_some_and(|k| registry.get(k).protects_entry());
                if parent_protected || protected {
                    return Err(HostError::io(format!("write {}", path.display()), eperm()));
                }
                replaced.extend(existing.map(|k| (path.clone(), k)));
            }
            Action::RelinkSymlinks { tree, was, now } => {
                for (link, target) in symlinks_under(tree)
                    .map_err(|e| HostError::io(format!("read {}", tree.display()), e))?
                {
                    let Ok(relative) = link.strip_prefix(tree) else {
                        continue;
                    };
                    if relinked_target(was, now, relative, &target).is_none() {
                        continue;
                    }
                    let key = resolver
                        .key(&link)
                        .map_err(|e| HostError::io(format!("look at {}", link.display()), e))?;
                    let parent_protected = resolver
                        .parent_key(&link)
                        .is_ok_and(|k| registry.get(&k).protects_entries());
                    if parent_protected || registry.get(&key).protects_entry() {
                        return Err(HostError::io(format!("relink {}", link.display()), eperm()));
                    }
                    replaced.push((link, key));
                }
            }
            _ => {}
        }
        apply_native(action)?;
        // A rewritten file or link is a new inode; the old one's flags go with it.
        let mut changed = false;
        for (path, old) in replaced {
            if resolver.key(&path).ok().as_ref() != Some(&old) {
                registry.forget(&old);
                changed = true;
            }
        }
        if changed {
            registry.save(&self.state_dir)?;
        }
        Ok(())
    }
}

/// Removes files and trees as rm(1) does, refusing what flags protect.
struct Remover<'a> {
    registry: &'a mut FlagRegistry,
    resolver: &'a Resolver,
    force: bool,
}

impl Remover<'_> {
    /// `rm -r PATH`: post-order, going on after failures.
    fn tree(mut self, operand: &str, run: &mut Run<'_>) {
        self.visit(operand, run);
    }

    fn visit(&mut self, path: &str, run: &mut Run<'_>) {
        let metadata = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if self.force && e.kind() == io::ErrorKind::NotFound => return,
            Err(e) => return run.warn(path, &e),
        };
        self.clear_user_flags(&metadata);
        if metadata.is_dir() {
            match fs::read_dir(path) {
                Ok(entries) => {
                    let mut names: Vec<String> = entries
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    names.sort();
                    for name in names {
                        self.visit(&child_path(path, &name), run);
                    }
                }
                Err(e) => return run.warn(path, &e),
            }
        }
        self.remove(path, &metadata, run);
    }

    /// `rm FILE` (with `-d`, an empty directory too).
    fn single(mut self, operand: &str, dirs: bool, run: &mut Run<'_>) {
        let metadata = match fs::symlink_metadata(operand) {
            Ok(m) => m,
            Err(e) if self.force && e.kind() == io::ErrorKind::NotFound => return,
            Err(e) => return run.warn(operand, &e),
        };
        if metadata.is_dir() && !dirs {
            run.stderr
                .push_str(&format!("rm: {operand}: is a directory\n"));
            run.status = 1;
            return;
        }
        self.clear_user_flags(&metadata);
        self.remove(operand, &metadata, run);
    }

    /// As root, rm clears `uchg` and `uappnd` first unless a system flag is set.
    fn clear_user_flags(&mut self, metadata: &fs::Metadata) {
        let key = self.resolver.key_of(metadata);
        let flags = self.registry.get(&key);
        if flags.0 & (UF_IMMUTABLE | UF_APPEND) != 0 && flags.0 & (SF_IMMUTABLE | SF_APPEND) == 0 {
            self.registry
                .set(&key, FileFlags(flags.0 & !(UF_IMMUTABLE | UF_APPEND)));
        }
    }

    fn remove(&mut self, path: &str, metadata: &fs::Metadata, run: &mut Run<'_>) {
        let key = self.resolver.key_of(metadata);
        let result = if self.registry.get(&key).protects_entry()
            || self
                .resolver
                .parent_key(Path::new(path))
                .is_ok_and(|k| self.registry.get(&k).protects_entries())
        {
            Err(eperm())
        } else if metadata.is_dir() {
            fs::remove_dir(path)
        } else {
            fs::remove_file(path)
        };
        match result {
            Ok(()) => self.registry.forget(&key),
            Err(e) if self.force && e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => run.warn(path, &e),
        }
    }
}

/// The key of a directory that `rmdir` may remove, or why it may not.
fn check_removable(
    registry: &FlagRegistry,
    resolver: &Resolver,
    path: &Path,
) -> io::Result<FileKey> {
    let key = resolver.key(path)?;
    if registry.get(&key).protects_entry()
        || registry.get(&resolver.parent_key(path)?).protects_entries()
    {
        return Err(eperm());
    }
    Ok(key)
}

/// Whether anything in the tree at `path` (not following links) has flags.
fn tree_has_flags(registry: &FlagRegistry, resolver: &Resolver, path: &Path) -> bool {
    let mut pending = vec![path.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(metadata) = fs::symlink_metadata(&current) else {
            continue;
        };
        if registry.get(&resolver.key_of(&metadata)) != FileFlags::NONE {
            return true;
        }
        if metadata.is_dir() {
            if let Ok(entries) = fs::read_dir(&current) {
                pending.extend(entries.flatten().map(|e| e.path()));
            }
        }
    }
    false
}

/// After `cp -p`: each copied entry gets its source's flags.
fn carry_flags(
    registry: &mut FlagRegistry,
    resolver: &Resolver,
    from: &Path,
    to: &Path,
    recursive: bool,
) -> io::Result<()> {
    let mut pending = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((source, copy)) = pending.pop() {
        let metadata = if recursive {
            fs::symlink_metadata(&source)?
        } else {
            fs::metadata(&source)?
        };
        let flags = registry.get(&resolver.key_of(&metadata));
        if flags != FileFlags::NONE {
            let key = resolver.key(&copy)?;
            registry.set(&key, flags);
        }
        if recursive && metadata.is_dir() {
            for entry in fs::read_dir(&source)? {
                let entry = entry?;
                pending.push((entry.path(), copy.join(entry.file_name())));
            }
        }
    }
    Ok(())
}

/// Every symbolic link under `tree` with its target.
fn symlinks_under(tree: &Path) -> io::Result<Vec<(PathBuf, PathBuf)>> {
    let mut links = Vec::new();
    let mut pending = vec![tree.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                pending.push(entry.path());
            } else if file_type.is_symlink() {
                let target = fs::read_link(entry.path())?;
                links.push((entry.path(), target));
            }
        }
    }
    Ok(links)
}

/// Paths and flags from an mtree(5) listing (`./path … flags=schg …`), with mtree's
/// `\ooo` escapes decoded; entries without `flags=` get none.
pub fn parse_mtree_flags(listing: &str) -> Vec<(PathBuf, FileFlags)> {
    let mut entries = Vec::new();
    for line in listing.lines() {
        if line.starts_with('#') || line.starts_with('/') || line.trim().is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(name) = words.next() else { continue };
        let flags = words
            .find_map(|w| w.strip_prefix("flags="))
            .and_then(|text| FileFlags::try_from(text.to_string()).ok())
            .unwrap_or_default();
        let path = mtree_unescape(name);
        let path = path.strip_prefix("./").unwrap_or(&path).to_string();
        if path.is_empty() || path == "." {
            continue;
        }
        entries.push((PathBuf::from(path), flags));
    }
    entries
}

fn mtree_unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| digits.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let (b'\\', Some(digits)) = (bytes[i], octal) {
            let value = digits
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            out.push(u8::try_from(value).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_print_like_chflags() {
        assert_eq!(
            FileFlags::parse_operand("schg"),
            Ok((SF_IMMUTABLE, 0, false))
        );
        assert_eq!(
            FileFlags::parse_operand("noschg,uchg"),
            Ok((UF_IMMUTABLE, SF_IMMUTABLE, false))
        );
        assert_eq!(FileFlags::parse_operand("0"), Ok((0, !0, true)));
        assert_eq!(FileFlags::parse_operand("dump"), Ok((0, UF_NODUMP, false)));
        assert_eq!(
            FileFlags::parse_operand("bogus"),
            Err("invalid flag: bogus".to_string())
        );
        assert_eq!(
            FileFlags(SF_IMMUTABLE | UF_NODUMP).to_string(),
            "nodump,schg"
        );
        assert!(FileFlags(SF_IMMUTABLE).protects_entry());
        assert!(FileFlags(SF_NOUNLINK).protects_entry());
        assert!(!FileFlags(SF_NOUNLINK).protects_entries());
        assert!(!FileFlags(UF_NODUMP).protects_entry());
    }

    #[test]
    fn mtree_listings_give_paths_and_flags() {
        let listing = "#mtree\n. type=dir\n./bin/sh type=file\n./var/empty type=dir flags=schg\n./bin/\\133 type=link\n";
        assert_eq!(
            parse_mtree_flags(listing),
            vec![
                (PathBuf::from("bin/sh"), FileFlags::NONE),
                (PathBuf::from("var/empty"), FileFlags(SF_IMMUTABLE)),
                (PathBuf::from("bin/["), FileFlags::NONE),
            ]
        );
    }

    #[test]
    fn getopt_splits_options_and_operands() {
        let argv: Vec<String> = ["rm", "-rf", "--", "-x", "y"].map(String::from).to_vec();
        let (options, operands) = getopt(&argv, "rf").unwrap();
        assert_eq!(options, vec!['r', 'f']);
        assert_eq!(operands, vec!["-x", "y"]);
        assert_eq!(getopt(&argv[..2], "r"), Err('f'));
    }

    #[test]
    fn snapshots_clones_and_destroys_move_flags_between_filesystems() {
        let mut registry = FlagRegistry::default();
        let key = FileKey {
            fs: zfs_key("p/a"),
            ino: 6,
        };
        registry.set(&key, FileFlags(SF_IMMUTABLE));
        registry.copy_filesystem(&zfs_key("p/a"), &zfs_key("p/a@s"));
        registry.copy_filesystem(&zfs_key("p/a@s"), &zfs_key("p/b"));
        assert!(registry
            .get(&FileKey {
                fs: zfs_key("p/b"),
                ino: 6
            })
            .is_schg());
        registry.drop_filesystems(&zfs_key("p/a"), false);
        assert_eq!(registry.get(&key), FileFlags::NONE);
        assert!(!registry.filesystems.contains_key(&zfs_key("p/a@s")));
        registry.rename_filesystems(&zfs_key("p/b"), &zfs_key("p/c"));
        assert!(registry.filesystems.contains_key(&zfs_key("p/c")));
    }

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn run(
        bed: &mut FileFlagsBed,
        host: &mut FreeBsdHost,
        words: &[&str],
    ) -> Result<(), (String, String)> {
        match bed.run(host, &Command::Run { argv: argv(words) }) {
            Ok(_) => Ok(()),
            Err(HostError::CommandFailed { status, stderr, .. }) => Err((status, stderr)),
            Err(other) => panic!("{words:?}: {other}"),
        }
    }

    /// The stand-ins on an ordinary directory: what FreeBSD's rm, mv, cp, chflags,
    /// mkdir, ln and the native writes do with a `schg` tree.
    #[test]
    fn schg_trees_resist_rm_mv_and_writes_until_cleared() {
        let state = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let root = work.path();
        fs::create_dir_all(root.join("var/empty")).unwrap();
        fs::create_dir_all(root.join("var/log")).unwrap();
        fs::write(root.join("var/log/messages"), "hello\n").unwrap();
        fs::write(root.join("var/empty/.keep"), "").unwrap();
        let mut bed = FileFlagsBed::new(state.path());
        let mut host = FreeBsdHost::new();
        let at = |p: &str| root.join(p).display().to_string();

        run(&mut bed, &mut host, &["chflags", "schg", &at("var/empty")]).unwrap();
        let view = FlagView::load(state.path()).unwrap();
        assert_eq!(view.flags(&root.join("var/empty")).to_string(), "schg");

        // cp -RPp carries the flag; the copy is as protected as the original.
        run(
            &mut bed,
            &mut host,
            &["cp", "-RPp", &at("var"), &at("copy")],
        )
        .unwrap();
        let view = FlagView::load(state.path()).unwrap();
        assert!(view.flags(&root.join("copy/empty")).is_schg());
        assert_eq!(view.flags(&root.join("copy/log")), FileFlags::NONE);
        assert_eq!(
            fs::read_to_string(root.join("copy/log/messages")).unwrap(),
            "hello\n"
        );

        // rm -rf goes on past the failures, names each, exits 1 (bin/rm/rm.c).
        let (status, stderr) = run(&mut bed, &mut host, &["rm", "-rf", &at("copy")]).unwrap_err();
        assert_eq!(status, "exit status 1");
        assert_eq!(
            stderr,
            format!(
                "rm: {0}/empty/.keep: Operation not permitted\n\
                 rm: {0}/empty: Operation not permitted\n\
                 rm: {0}: Directory not empty\n",
                at("copy")
            )
        );
        assert!(!root.join("copy/log").exists(), "the rest was removed");
        assert!(root.join("copy/empty/.keep").exists());

        // mv of the protected directory itself, or into it, is refused.
        let (_, stderr) = run(
            &mut bed,
            &mut host,
            &["mv", &at("copy/empty"), &at("moved")],
        )
        .unwrap_err();
        assert_eq!(
            stderr,
            format!(
                "mv: rename {} to {}: Operation not permitted\n",
                at("copy/empty"),
                at("moved")
            )
        );
        let (_, stderr) =
            run(&mut bed, &mut host, &["mkdir", "-p", &at("copy/empty/x/y")]).unwrap_err();
        assert_eq!(
            stderr,
            format!("mkdir: {}: Operation not permitted\n", at("copy/empty/x"))
        );
        let (_, stderr) =
            run(&mut bed, &mut host, &["ln", "-s", "x", &at("copy/empty/l")]).unwrap_err();
        assert_eq!(
            stderr,
            format!("ln: {}: Operation not permitted\n", at("copy/empty/l"))
        );
        let write = Action::WriteFile {
            path: root.join("copy/empty/f"),
            contents: "x".into(),
            mode: 0o644,
        };
        let error = bed.apply(&mut host, &write).unwrap_err().to_string();
        assert!(error.contains("Operation not permitted"), "{error}");
        // A rename of the tree that holds it is fine (the inode keeps its flag).
        run(&mut bed, &mut host, &["mv", &at("copy"), &at("renamed")]).unwrap();
        assert!(FlagView::load(state.path())
            .unwrap()
            .flags(&root.join("renamed/empty"))
            .is_schg());

        // chflags -R noschg, and then everything goes.
        run(
            &mut bed,
            &mut host,
            &["chflags", "-R", "noschg", &at("renamed")],
        )
        .unwrap();
        run(&mut bed, &mut host, &["rm", "-rf", &at("renamed")]).unwrap();
        assert!(!root.join("renamed").exists());
        let (status, stderr) = run(
            &mut bed,
            &mut host,
            &["chflags", "-R", "noschg", &at("renamed")],
        )
        .unwrap_err();
        assert_eq!(status, "exit status 1");
        assert_eq!(
            stderr,
            format!("chflags: {}: No such file or directory\n", at("renamed"))
        );
        run(&mut bed, &mut host, &["rm", "-rf", &at("renamed")]).unwrap();

        // rmdir of the flagged original.
        fs::remove_file(root.join("var/empty/.keep")).unwrap();
        let (_, stderr) = run(&mut bed, &mut host, &["rmdir", &at("var/empty")]).unwrap_err();
        assert_eq!(
            stderr,
            format!("rmdir: {}: Operation not permitted\n", at("var/empty"))
        );
        assert_eq!(bed.emulated_commands, 11);
    }

    /// As root, rm clears user flags unless a system flag is set too (rm.c).
    #[test]
    fn rm_clears_uchg_as_root_but_not_schg() {
        let state = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let (user, system) = (work.path().join("user"), work.path().join("system"));
        fs::write(&user, "").unwrap();
        fs::write(&system, "").unwrap();
        let mut bed = FileFlagsBed::new(state.path());
        let mut host = FreeBsdHost::new();
        let (user, system) = (user.display().to_string(), system.display().to_string());
        run(&mut bed, &mut host, &["chflags", "uchg", &user]).unwrap();
        run(&mut bed, &mut host, &["chflags", "uchg,schg", &system]).unwrap();
        run(&mut bed, &mut host, &["rm", "-f", &user]).unwrap();
        let (_, stderr) = run(&mut bed, &mut host, &["rm", "-f", &system]).unwrap_err();
        assert_eq!(stderr, format!("rm: {system}: Operation not permitted\n"));
        let refused = bed.run(
            &mut host,
            &Command::Run {
                argv: argv(&["chflags", "-x", "0", &system]),
            },
        );
        assert!(
            matches!(refused, Err(HostError::Unsupported(_))),
            "{refused:?}"
        );
    }
}
