//! File access for a process running as root on a host where others — a jail's root,
//! local users — may have planted symbolic links or hard links: nothing here follows a
//! symbolic link, and nothing writes through an existing file.
//!
//! - Every path is walked from `/` one component at a time with
//!   `openat(O_DIRECTORY | O_NOFOLLOW)` (plus `O_RESOLVE_BENEATH` on FreeBSD, so not
//!   even a `..` could leave the directory being walked); a symbolic link anywhere in
//!   the path is an error that names it ([`SafeFsError::Symlink`]).
//! - Files are replaced, never rewritten in place: [`write_atomically`] creates a
//!   temporary file with an unpredictable name (`O_CREAT | O_EXCL | O_NOFOLLOW`) in the
//!   opened parent directory, sets its owner and mode on the open descriptor
//!   (`fchown`, `fchmod`), writes and syncs it, and `renameat`s it over the name. A
//!   link planted at the name, or at any guessable temporary name, is never followed.
//! - [`read_file`] opens the final component `O_NOFOLLOW | O_NONBLOCK` and reads only
//!   a regular file (a FIFO or a device planted there cannot hang or feed the reader).
//! - [`check_trusted`] is the other half: whether a file or directory, and every
//!   directory on the way to it (symbolic links resolved, each one checked), can be
//!   changed by nobody but root and the user running thinjail (OpenSSH's
//!   `StrictModes`). Plugin libraries, recipe files, the lock file's and the cache's
//!   directories are checked with it.
//!
//! Paths must be absolute and free of `..`. The functions are public so that test
//! hosts and other programs use the same rules.

use std::collections::hash_map::RandomState;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, renameat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstatat, mkdirat, FileStat, Mode, SFlag};
use nix::unistd::{fchown, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

/// Why a safe file operation refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SafeFsError {
    /// A component of the path is a symbolic link.
    #[error("{} is a symbolic link; thinjail never follows links in the paths it writes or reads as root ({} was not touched)", .link.display(), .path.display())]
    Symlink {
        /// The path asked for.
        path: PathBuf,
        /// The component that is a link.
        link: PathBuf,
    },
    /// The path is relative or has `..` in it.
    #[error("{}: thinjail only uses absolute paths without `..` here", .0.display())]
    BadPath(PathBuf),
    /// Something other than a regular file (a directory, a FIFO, a device) is where a
    /// file should be.
    #[error("{} is not a regular file", .0.display())]
    NotAFile(PathBuf),
    /// A file has other hard links, so writing it would change another name too.
    #[error("{} has {links} hard links; thinjail will not write a file that is also reachable by another name", .path.display())]
    HardLinked {
        /// The file.
        path: PathBuf,
        /// Its link count.
        links: u64,
    },
    /// A system call failed.
    #[error("{op} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
}

impl SafeFsError {
    fn io(op: &'static str, path: &Path, errno: impl Into<io::Error>) -> Self {
        SafeFsError::Io {
            op,
            path: path.to_path_buf(),
            source: errno.into(),
        }
    }

    /// Whether the path (or a component of it) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, SafeFsError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

impl From<SafeFsError> for io::Error {
    fn from(error: SafeFsError) -> Self {
        let kind = match &error {
            SafeFsError::Io { source, .. } => source.kind(),
            SafeFsError::NotAFile(_) | SafeFsError::BadPath(_) => io::ErrorKind::InvalidInput,
            SafeFsError::Symlink { .. } | SafeFsError::HardLinked { .. } => {
                io::ErrorKind::PermissionDenied
            }
        };
        io::Error::new(kind, error)
    }
}

/// An open directory, reached without following any symbolic link.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Flags every directory is opened with.
fn dir_flags() -> OFlag {
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    #[cfg(target_os = "freebsd")]
    let flags = flags | OFlag::from_bits_retain(libc::O_RESOLVE_BENEATH);
    flags
}

/// Flags every file below an opened directory is opened with, besides the access mode.
fn file_flags() -> OFlag {
    let flags = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    #[cfg(target_os = "freebsd")]
    let flags = flags | OFlag::from_bits_retain(libc::O_RESOLVE_BENEATH);
    flags
}

/// The names below `/` of an absolute path without `..`.
fn names(path: &Path) -> Result<Vec<&OsStr>, SafeFsError> {
    let mut components = path.components();
    if components.next() != Some(Component::RootDir) {
        return Err(SafeFsError::BadPath(path.to_path_buf()));
    }
    components
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err(SafeFsError::BadPath(path.to_path_buf())),
        })
        .collect()
}

fn is_symlink(stat: &FileStat) -> bool {
    file_kind(stat) == SFlag::S_IFLNK
}

fn file_kind(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT
}

/// Permission bits (with setuid, setgid and sticky) of a `stat`.
// `mode_t` is u32 on Linux and u16 on FreeBSD.
#[allow(clippy::useless_conversion)]
pub fn mode_bits(stat: &FileStat) -> u32 {
    u32::from(stat.st_mode) & 0o7777
}

impl Dir {
    /// `/`.
    pub fn root() -> Result<Dir, SafeFsError> {
        let fd = nix::fcntl::open(
            "/",
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SafeFsError::io("open", Path::new("/"), e))?;
        Ok(Dir {
            fd,
            path: PathBuf::from("/"),
        })
    }

    /// The path this directory was opened as.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// `lstat` of `name` in this directory; `None` when it does not exist.
    pub fn stat(&self, name: &OsStr) -> Result<Option<FileStat>, SafeFsError> {
        match fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(stat)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(SafeFsError::io("look at", &self.path.join(name), e)),
        }
    }

    /// `fstat` of this directory itself.
    pub fn stat_self(&self) -> Result<FileStat, SafeFsError> {
        nix::sys::stat::fstat(&self.fd).map_err(|e| SafeFsError::io("look at", &self.path, e))
    }

    /// Explains a failed `openat` of `name`: a symbolic link is named as such.
    fn open_error(
        &self,
        op: &'static str,
        name: &OsStr,
        errno: Errno,
        asked: &Path,
    ) -> SafeFsError {
        let full = self.path.join(name);
        if matches!(errno, Errno::ELOOP | Errno::EMLINK | Errno::ENOTDIR) {
            if let Ok(Some(stat)) = self.stat(name) {
                if is_symlink(&stat) {
                    return SafeFsError::Symlink {
                        path: asked.to_path_buf(),
                        link: full,
                    };
                }
            }
        }
        SafeFsError::io(op, &full, errno)
    }

    /// The subdirectory `name`, which must not be a symbolic link.
    pub fn open_dir(&self, name: &OsStr, asked: &Path) -> Result<Dir, SafeFsError> {
        let fd = openat(&self.fd, name, dir_flags(), Mode::empty())
            .map_err(|e| self.open_error("open directory", name, e, asked))?;
        Ok(Dir {
            fd,
            path: self.path.join(name),
        })
    }

    /// The subdirectory `name`, made with `mode` when missing.
    fn open_or_make_dir(&self, name: &OsStr, mode: u32, asked: &Path) -> Result<Dir, SafeFsError> {
        match self.open_dir(name, asked) {
            Err(e) if e.is_not_found() => {
                match mkdirat(&self.fd, name, Mode::from_bits_truncate(mode as _)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => {
                        return Err(SafeFsError::io("make directory", &self.path.join(name), e))
                    }
                }
                let made = self.open_dir(name, asked)?;
                // The umask may have taken bits away; the mode asked for is the mode wanted.
                fchmod(&made.fd, Mode::from_bits_truncate(mode as _))
                    .map_err(|e| SafeFsError::io("chmod", &made.path, e))?;
                Ok(made)
            }
            other => other,
        }
    }

    /// Opens the regular file `name` for reading; `None` when it does not exist.
    pub fn open_file(&self, name: &OsStr, asked: &Path) -> Result<Option<File>, SafeFsError> {
        match openat(
            &self.fd,
            name,
            file_flags() | OFlag::O_RDONLY,
            Mode::empty(),
        ) {
            Ok(fd) => {
                let file = File::from(fd);
                let full = self.path.join(name);
                let metadata = file
                    .metadata()
                    .map_err(|e| SafeFsError::io("look at", &full, e))?;
                if !metadata.is_file() {
                    return Err(SafeFsError::NotAFile(full));
                }
                Ok(Some(file))
            }
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(self.open_error("open", name, e, asked)),
        }
    }

    /// Reads the regular file `name`; `None` when it does not exist.
    pub fn read(&self, name: &OsStr, asked: &Path) -> Result<Option<Vec<u8>>, SafeFsError> {
        let Some(mut file) = self.open_file(name, asked)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| SafeFsError::io("read", &self.path.join(name), e))?;
        Ok(Some(bytes))
    }

    /// Creates a new file with an unpredictable name next to `name`
    /// (`.NAME.thinjail-RANDOM`), `O_EXCL | O_NOFOLLOW`, mode 0600; returns it and its name.
    pub fn create_temp(&self, name: &OsStr) -> Result<(File, OsString), SafeFsError> {
        for _ in 0..16 {
            let temp = temp_name(name);
            match openat(
                &self.fd,
                temp.as_os_str(),
                file_flags() | OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
                Mode::from_bits_truncate(0o600),
            ) {
                Ok(fd) => return Ok((File::from(fd), temp)),
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(SafeFsError::io("create", &self.path.join(&temp), e)),
            }
        }
        Err(SafeFsError::io(
            "create a temporary file in",
            &self.path,
            io::Error::new(io::ErrorKind::AlreadyExists, "every name tried exists"),
        ))
    }

    /// Creates `name` afresh for writing (mode `mode`): whatever was there — a file, a
    /// link (hard or symbolic) — is unlinked first, never opened or truncated.
    pub fn replace_file(&self, name: &OsStr, mode: u32) -> Result<File, SafeFsError> {
        let full = self.path.join(name);
        match self.stat(name)? {
            Some(stat) if file_kind(&stat) == SFlag::S_IFDIR => {
                return Err(SafeFsError::NotAFile(full))
            }
            Some(_) => unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir)
                .map_err(|e| SafeFsError::io("remove", &full, e))?,
            None => {}
        }
        let fd = openat(
            &self.fd,
            name,
            file_flags() | OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
            Mode::from_bits_truncate(mode as _),
        )
        .map_err(|e| SafeFsError::io("create", &full, e))?;
        fchmod(&fd, Mode::from_bits_truncate(mode as _))
            .map_err(|e| SafeFsError::io("chmod", &full, e))?;
        Ok(File::from(fd))
    }

    /// Creates `name` as an empty file (mode `mode`) unless a regular file is
    /// already there, which is kept as it is: `O_CREAT | O_EXCL | O_NOFOLLOW`, so a
    /// link planted there is never followed; a link, a directory or a special file
    /// in its place is refused ([`SafeFsError::NotAFile`]).
    pub fn create_empty_file(&self, name: &OsStr, mode: u32) -> Result<(), SafeFsError> {
        let full = self.path.join(name);
        match openat(
            &self.fd,
            name,
            file_flags() | OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
            Mode::from_bits_truncate(mode as _),
        ) {
            Ok(fd) => fchmod(&fd, Mode::from_bits_truncate(mode as _))
                .map_err(|e| SafeFsError::io("chmod", &full, e)),
            Err(Errno::EEXIST) => match self.stat(name)? {
                Some(stat) if file_kind(&stat) == SFlag::S_IFREG => Ok(()),
                _ => Err(SafeFsError::NotAFile(full)),
            },
            Err(e) => Err(SafeFsError::io("create", &full, e)),
        }
    }

    /// Removes `name` (not a directory) if it exists.
    pub fn remove(&self, name: &OsStr) -> Result<(), SafeFsError> {
        match unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(SafeFsError::io("remove", &self.path.join(name), e)),
        }
    }

    /// Renames `from` to `to`, both in this directory (atomic; replaces `to`).
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> Result<(), SafeFsError> {
        renameat(&self.fd, from, &self.fd, to)
            .map_err(|e| SafeFsError::io("rename into place", &self.path.join(to), e))
    }

    /// The target of the symbolic link `name`.
    pub fn read_link(&self, name: &OsStr) -> Result<PathBuf, SafeFsError> {
        readlinkat(&self.fd, name)
            .map(PathBuf::from)
            .map_err(|e| SafeFsError::io("read link", &self.path.join(name), e))
    }

    /// Makes `name` a symbolic link to `target`, atomically replacing whatever `name` is
    /// (a link made under an unpredictable name, then renamed over it).
    pub fn replace_symlink(&self, name: &OsStr, target: &Path) -> Result<(), SafeFsError> {
        for _ in 0..16 {
            let temp = temp_name(name);
            match symlinkat(target, &self.fd, temp.as_os_str()) {
                Ok(()) => {
                    return self.rename(&temp, name).inspect_err(|_| {
                        let _ = self.remove(&temp);
                    })
                }
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(SafeFsError::io("make link", &self.path.join(&temp), e)),
            }
        }
        Err(SafeFsError::io(
            "make a link in",
            &self.path,
            io::Error::new(io::ErrorKind::AlreadyExists, "every name tried exists"),
        ))
    }

    /// The entries of this directory (without `.` and `..`), with their `lstat`.
    pub fn entries(&self) -> Result<Vec<(OsString, FileStat)>, SafeFsError> {
        let again = openat(&self.fd, ".", dir_flags(), Mode::empty())
            .map_err(|e| SafeFsError::io("open directory", &self.path, e))?;
        let mut listing = nix::dir::Dir::from_fd(again)
            .map_err(|e| SafeFsError::io("read directory", &self.path, e))?;
        let mut out = Vec::new();
        for entry in listing.iter() {
            let entry = entry.map_err(|e| SafeFsError::io("read directory", &self.path, e))?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            if let Some(stat) = self.stat(name)? {
                out.push((name.to_os_string(), stat));
            }
        }
        Ok(out)
    }

    /// Replaces the file `name` with `bytes`, atomically: a temporary file with an
    /// unpredictable name, its owner and mode set on the descriptor, synced, renamed
    /// over `name`. Mode: `mode` when given, else the existing file's, else 0644.
    /// Owner: the existing file's (`fchown` before `fchmod`, which keeps setuid bits),
    /// else the caller's. A link at `name` is refused, not followed or replaced.
    pub fn write_atomically(
        &self,
        name: &OsStr,
        bytes: &[u8],
        mode: Option<u32>,
        asked: &Path,
    ) -> Result<(), SafeFsError> {
        let existing = self.stat(name)?;
        if let Some(stat) = &existing {
            if is_symlink(stat) {
                return Err(SafeFsError::Symlink {
                    path: asked.to_path_buf(),
                    link: self.path.join(name),
                });
            }
            if file_kind(stat) != SFlag::S_IFREG {
                return Err(SafeFsError::NotAFile(self.path.join(name)));
            }
        }
        let (mut file, temp) = self.create_temp(name)?;
        let full = self.path.join(name);
        let result = (|| -> Result<(), SafeFsError> {
            let io_error = |op, e| SafeFsError::io(op, &full, e);
            file.write_all(bytes).map_err(|e| io_error("write", e))?;
            if let Some(stat) = &existing {
                fchown(
                    file.as_fd(),
                    Some(Uid::from_raw(stat.st_uid)),
                    Some(Gid::from_raw(stat.st_gid)),
                )
                .map_err(|e| io_error("chown", e.into()))?;
            }
            let permissions = mode
                .or_else(|| existing.as_ref().map(mode_bits))
                .unwrap_or(0o644);
            fchmod(file.as_fd(), Mode::from_bits_truncate(permissions as _))
                .map_err(|e| io_error("chmod", e.into()))?;
            file.sync_all().map_err(|e| io_error("sync", e))?;
            self.rename(&temp, name)?;
            // Durability of the rename; a failure here does not undo the write.
            let _ = self.sync();
            Ok(())
        })();
        result.inspect_err(|_| {
            let _ = self.remove(&temp);
        })
    }

    /// Flushes this directory's entries to disk (after a rename into it).
    pub fn sync(&self) -> Result<(), SafeFsError> {
        nix::unistd::fsync(&self.fd).map_err(|e| SafeFsError::io("sync", &self.path, e))
    }
}

/// An unpredictable temporary name beside `name`.
fn temp_name(name: &OsStr) -> OsString {
    // RandomState is keyed from the operating system's random source; hashing a
    // counter with a fresh one gives 64 bits nobody else can guess. O_EXCL makes a
    // collision or a guess harmless anyway.
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    let mut temp = OsString::from(".");
    // Keep the whole name within NAME_MAX (255 bytes).
    let bytes = name.as_bytes();
    temp.push(OsStr::from_bytes(&bytes[..bytes.len().min(200)]));
    temp.push(format!(".thinjail-{:016x}", hasher.finish()));
    temp
}

/// Opens the directory `path`; every component must be a real directory.
pub fn open_dir(path: &Path) -> Result<Dir, SafeFsError> {
    let mut dir = Dir::root()?;
    for name in names(path)? {
        dir = dir.open_dir(name, path)?;
    }
    Ok(dir)
}

/// Opens the directory `path`, making missing components with mode `mode` (exactly:
/// the umask does not apply); every existing component must be a real directory.
pub fn create_dir_all(path: &Path, mode: u32) -> Result<Dir, SafeFsError> {
    let mut dir = Dir::root()?;
    for name in names(path)? {
        dir = dir.open_or_make_dir(name, mode, path)?;
    }
    Ok(dir)
}

/// Opens the directory holding `path` and returns it with the final name.
pub fn open_parent(path: &Path) -> Result<(Dir, OsString), SafeFsError> {
    let all = names(path)?;
    let (name, parents) = all
        .split_last()
        .ok_or_else(|| SafeFsError::BadPath(path.to_path_buf()))?;
    let mut dir = Dir::root()?;
    for parent in parents {
        dir = dir.open_dir(parent, path)?;
    }
    Ok((dir, name.to_os_string()))
}

/// Reads the regular file at `path`; `None` when it (or a directory on the way) does
/// not exist.
pub fn read_file(path: &Path) -> Result<Option<Vec<u8>>, SafeFsError> {
    match open_parent(path) {
        Ok((dir, name)) => dir.read(&name, path),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens the regular file at `path` for reading, without following a link anywhere.
pub fn open_file(path: &Path) -> Result<File, SafeFsError> {
    let (dir, name) = open_parent(path)?;
    dir.open_file(&name, path)?
        .ok_or_else(|| SafeFsError::io("open", path, io::Error::from(io::ErrorKind::NotFound)))
}

/// Creates the file at `path` afresh for writing with `mode` (see [`Dir::replace_file`]).
pub fn replace_file(path: &Path, mode: u32) -> Result<File, SafeFsError> {
    let (dir, name) = open_parent(path)?;
    dir.replace_file(&name, mode)
}

/// Replaces the file at `path` with `bytes`, atomically (see the module's notes and
/// [`Dir::write_atomically`]). A symbolic link at `path`, or in any directory above
/// it, is refused.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), SafeFsError> {
    let (dir, name) = open_parent(path)?;
    dir.write_atomically(&name, bytes, mode, path)
}

/// Makes `link` a symbolic link to `target`, replacing what is there atomically; no
/// directory above `link` may be a link.
pub fn replace_symlink(link: &Path, target: &Path) -> Result<(), SafeFsError> {
    let (dir, name) = open_parent(link)?;
    dir.replace_symlink(&name, target)
}

/// What [`check_trusted`] expects at the end of the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A regular file.
    File,
    /// A directory writable by nobody but its owner.
    Directory,
    /// A directory, which may also be a sticky one writable by all (like `/tmp`):
    /// the rule for the directories on the way.
    SharedDirectory,
}

/// Who may own what thinjail trusts as root: root, the user thinjail runs as, and the
/// user who invoked it through sudo(8) (`SUDO_UID`) or doas(1) (`DOAS_USER`) — an
/// administrator's recipe in their home directory, run with `sudo thinjail apply`.
/// Those variables are set by sudo and doas themselves; whoever could set them for a
/// root process is root already.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owners {
    /// The effective user id.
    pub effective: u32,
    /// The user who ran sudo or doas, when thinjail runs as root through one.
    pub invoking: Option<u32>,
}

impl Owners {
    /// Root, this process's user, and the user who invoked it through sudo or doas.
    pub fn of_this_process() -> Self {
        let effective = effective_uid();
        let invoking = if effective == 0 {
            std::env::var("SUDO_UID")
                .ok()
                .and_then(|uid| uid.parse().ok())
                .or_else(|| {
                    let name = std::env::var("DOAS_USER").ok()?;
                    let user = nix::unistd::User::from_name(&name).ok()??;
                    Some(user.uid.as_raw())
                })
                .filter(|uid| *uid != 0)
        } else {
            None
        };
        Owners {
            effective,
            invoking,
        }
    }

    /// Root and `uid` only.
    pub fn only(uid: u32) -> Self {
        Owners {
            effective: uid,
            invoking: None,
        }
    }

    /// Whether `uid` is one of them.
    pub fn allow(&self, uid: u32) -> bool {
        uid == 0 || uid == self.effective || Some(uid) == self.invoking
    }

    /// "neither root nor …", for messages about an owner that is not one of them.
    pub fn describe(&self) -> String {
        match self.invoking {
            Some(invoking) => format!(
                "neither root nor the user running thinjail (uid {}) nor the user who invoked it (uid {invoking})",
                self.effective
            ),
            None => format!(
                "neither root nor the user running thinjail (uid {})",
                self.effective
            ),
        }
    }
}

/// Why [`check_trusted`] refuses a path: the component, owner or mode at fault, as
/// data; the `Display` is the message users see.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustProblem {
    /// A relative path, and the working directory is unknown.
    #[error("cannot resolve {}: {reason}", path.display())]
    Unresolvable {
        /// The path given.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A component does not exist.
    #[error("{} does not exist", path.display())]
    Missing {
        /// The path up to that component.
        path: PathBuf,
    },
    /// A component's metadata cannot be read.
    #[error("cannot look at {}: {reason}", path.display())]
    Inaccessible {
        /// The path up to that component.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// More than 32 symbolic links on the way.
    #[error("{}: too many levels of symbolic links", path.display())]
    TooManyLinks {
        /// The path given.
        path: PathBuf,
    },
    /// A symbolic link cannot be read.
    #[error("cannot read link {}: {reason}", path.display())]
    UnreadableLink {
        /// The link.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A component on the way is not a directory.
    #[error("{} is not a directory", path.display())]
    NotADirectory {
        /// The path up to that component.
        path: PathBuf,
    },
    /// The path ends in something other than what was expected.
    #[error(
        "{} is not a {}",
        path.display(),
        if *expected == Expect::File { "regular file" } else { "directory" }
    )]
    WrongKind {
        /// The path (links resolved).
        path: PathBuf,
        /// What was expected.
        expected: Expect,
    },
    /// A directory, link or the final file is owned by someone else.
    #[error(
        "{kind} {} is owned by uid {owner}, {}; \
         thinjail only trusts a {what} that nobody else can change",
        path.display(),
        owners.describe()
    )]
    Owner {
        /// "directory", "symbolic link", or the thing checked ("library", …).
        kind: String,
        /// Its path.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Who may own it.
        owners: Owners,
        /// The thing checked ("library", "recipe", "path", …).
        what: String,
    },
    /// A directory on the way (or the directory checked) others can write to, and not
    /// sticky.
    #[error(
        "directory {} is writable by group or others (mode {mode:04o}); \
         anyone who can write there could replace what thinjail reads from it (chmod go-w)",
        path.display()
    )]
    WritableDirectory {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The final file (or directory) is writable by group or others.
    #[error(
        "{what} {} is writable by group or others (mode {mode:04o}); \
         thinjail only trusts a {what} that nobody else can change (chmod go-w)",
        path.display()
    )]
    Writable {
        /// The thing checked ("library", "recipe", …).
        what: String,
        /// Its path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Checks that nobody but `owners` can change what `path` names, and returns its
/// physical path (symbolic links resolved).
///
/// `path` is resolved component by component from `/`: every directory passed
/// through — including those on the way to a symbolic link and those its target
/// leads through — must be owned by one of `owners` and not writable by group or
/// others unless it is sticky (like `/tmp`, where nobody can rename or remove what
/// they do not own); every symbolic link must be owned by one of `owners`; and the
/// final file or directory must be owned by one of them and writable by nobody else
/// (sticky or not). `what` names the thing in messages ("library", "recipe", …).
pub fn check_trusted(
    path: &Path,
    expect: Expect,
    owners: &Owners,
    what: &str,
) -> Result<PathBuf, TrustProblem> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| TrustProblem::Unresolvable {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?
            .join(path)
    };
    let mut pending: Vec<OsString> = absolute
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    let mut current = PathBuf::from("/");
    check_directory(&current, owners)?;
    let mut links = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            current.pop();
            continue;
        }
        let next = current.join(&name);
        let metadata = std::fs::symlink_metadata(&next).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => TrustProblem::Missing { path: next.clone() },
            _ => TrustProblem::Inaccessible {
                path: next.clone(),
                reason: e.to_string(),
            },
        })?;
        if metadata.file_type().is_symlink() {
            links += 1;
            if links > 32 {
                return Err(TrustProblem::TooManyLinks {
                    path: path.to_path_buf(),
                });
            }
            check_owner(&next, metadata.uid(), owners, "symbolic link", what)?;
            let target = std::fs::read_link(&next).map_err(|e| TrustProblem::UnreadableLink {
                path: next.clone(),
                reason: e.to_string(),
            })?;
            if target.is_absolute() {
                current = PathBuf::from("/");
            }
            for component in target.components().rev() {
                match component {
                    Component::Normal(n) => pending.push(n.to_os_string()),
                    Component::ParentDir => pending.push(OsString::from("..")),
                    _ => {}
                }
            }
            continue;
        }
        let last = pending.is_empty();
        if metadata.is_dir() && !(last && expect == Expect::File) {
            if last && expect == Expect::Directory {
                check_final(&next, &metadata, owners, what)?;
            } else {
                check_directory(&next, owners)?;
            }
            current = next;
            continue;
        }
        if !last {
            return Err(TrustProblem::NotADirectory { path: next });
        }
        if expect != Expect::File || !metadata.is_file() {
            return Err(TrustProblem::WrongKind {
                path: next,
                expected: expect,
            });
        }
        check_final(&next, &metadata, owners, what)?;
        current = next;
    }
    Ok(current)
}

fn check_owner(
    path: &Path,
    owner: u32,
    owners: &Owners,
    kind: &str,
    what: &str,
) -> Result<(), TrustProblem> {
    if !owners.allow(owner) {
        return Err(TrustProblem::Owner {
            kind: kind.to_string(),
            path: path.to_path_buf(),
            owner,
            owners: owners.clone(),
            what: what.to_string(),
        });
    }
    Ok(())
}

fn check_directory(path: &Path, owners: &Owners) -> Result<(), TrustProblem> {
    let metadata = std::fs::symlink_metadata(path).map_err(|e| TrustProblem::Inaccessible {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    check_owner(path, metadata.uid(), owners, "directory", "path")?;
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(TrustProblem::WritableDirectory {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

fn check_final(
    path: &Path,
    metadata: &std::fs::Metadata,
    owners: &Owners,
    what: &str,
) -> Result<(), TrustProblem> {
    check_owner(path, metadata.uid(), owners, what, what)?;
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(TrustProblem::Writable {
            what: what.to_string(),
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Whether `stat` describes a directory that only its owner can write into and whose
/// owner is root or `me`; the reason otherwise.
pub fn check_private_dir(path: &Path, stat: &FileStat, me: u32) -> Result<(), String> {
    if file_kind(stat) != SFlag::S_IFDIR {
        return Err(format!("{} is not a directory", path.display()));
    }
    let owner = stat.st_uid;
    if owner != 0 && owner != me {
        return Err(format!(
            "{} is owned by uid {owner}, neither root nor the user running thinjail (uid {me})",
            path.display()
        ));
    }
    let mode = mode_bits(stat);
    if mode & 0o022 != 0 {
        return Err(format!(
            "{} is writable by group or others (mode {mode:04o})",
            path.display()
        ));
    }
    Ok(())
}

/// The user this process acts as.
pub fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn scratch() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        // tempdir's own path may run through a link (macOS-style /tmp); use the real one.
        dir
    }

    #[test]
    fn an_empty_file_is_made_without_following_a_link_and_a_file_is_kept() {
        use std::fs;
        let dir = scratch();
        let outside = scratch();
        let victim = outside.path().join("victim");
        let opened = open_dir(dir.path()).unwrap();
        opened.create_empty_file(OsStr::new("made"), 0o644).unwrap();
        let made = dir.path().join("made");
        assert_eq!(fs::read(&made).unwrap(), b"");
        assert_eq!(
            fs::metadata(&made).unwrap().permissions().mode() & 0o777,
            0o644
        );
        fs::write(&made, "kept").unwrap();
        opened.create_empty_file(OsStr::new("made"), 0o644).unwrap();
        assert_eq!(fs::read_to_string(&made).unwrap(), "kept");
        symlink(&victim, dir.path().join("link")).unwrap();
        assert!(matches!(
            opened.create_empty_file(OsStr::new("link"), 0o644),
            Err(SafeFsError::NotAFile(_))
        ));
        assert!(!victim.exists(), "the link was not followed");
        fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(matches!(
            opened.create_empty_file(OsStr::new("sub"), 0o644),
            Err(SafeFsError::NotAFile(_))
        ));
    }

    #[test]
    fn writes_replace_the_file_and_keep_mode_and_owner() {
        let dir = scratch();
        let file = dir.path().join("rc.conf");
        std::fs::write(&file, "old\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&file, b"new\n", None).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"new\n");
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o7777, 0o640);
        write_atomically(&file, b"newer\n", Some(0o600)).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o7777, 0o600);
        // A fresh file: 0644 whatever the umask, nothing left behind.
        let fresh = dir.path().join("fresh");
        write_atomically(&fresh, b"x", None).unwrap();
        assert_eq!(std::fs::metadata(&fresh).unwrap().mode() & 0o7777, 0o644);
        let names: BTreeSet<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            BTreeSet::from(["fresh".to_string(), "rc.conf".to_string()])
        );
    }

    #[test]
    fn a_link_at_the_name_or_above_it_is_refused_and_the_canary_is_untouched() {
        let dir = scratch();
        let canary = dir.path().join("canary");
        std::fs::write(&canary, "precious\n").unwrap();
        // The final component.
        let link = dir.path().join("rc.conf");
        symlink(&canary, &link).unwrap();
        let error = write_atomically(&link, b"evil\n", Some(0o644)).unwrap_err();
        assert!(
            matches!(&error, SafeFsError::Symlink { link: l, .. } if l == &link),
            "{error}"
        );
        assert!(error.to_string().contains("is a symbolic link"), "{error}");
        // A parent directory replaced by a link to the canary's directory.
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("rc.conf"), "precious too\n").unwrap();
        let parent_link = dir.path().join("etc");
        symlink(&real, &parent_link).unwrap();
        let through = parent_link.join("rc.conf");
        let error = write_atomically(&through, b"evil\n", None).unwrap_err();
        assert!(
            matches!(&error, SafeFsError::Symlink { link: l, .. } if l == &parent_link),
            "{error}"
        );
        assert!(read_file(&through).is_err());
        assert!(replace_symlink(&through, Path::new("x")).is_err());
        assert!(replace_file(&through, 0o644).is_err());
        assert!(create_dir_all(&parent_link.join("sub"), 0o700).is_err());
        assert_eq!(std::fs::read(&canary).unwrap(), b"precious\n");
        assert_eq!(
            std::fs::read(real.join("rc.conf")).unwrap(),
            b"precious too\n"
        );
        assert!(!real.join("sub").exists());
        assert_eq!(std::fs::read_link(&link).unwrap(), canary);
    }

    #[test]
    fn temporary_names_are_unpredictable_and_planted_links_are_not_followed() {
        let dir = scratch();
        let parent = open_dir(dir.path()).unwrap();
        let (_, first) = parent.create_temp(OsStr::new("jail.conf")).unwrap();
        let (_, second) = parent.create_temp(OsStr::new("jail.conf")).unwrap();
        assert_ne!(first, second);
        for temp in [&first, &second] {
            let temp = temp.to_string_lossy();
            assert!(temp.starts_with(".jail.conf.thinjail-"), "{temp}");
            assert_eq!(temp.len(), ".jail.conf.thinjail-".len() + 16, "{temp}");
        }
        // The names older thinjail (and the sh helpers) use, planted as links.
        let canary = dir.path().join("canary");
        std::fs::write(&canary, "precious\n").unwrap();
        let file = dir.path().join("X");
        symlink(&canary, dir.path().join("X.thinjail-new")).unwrap();
        symlink(&canary, dir.path().join("X.part")).unwrap();
        write_atomically(&file, b"written\n", None).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"written\n");
        assert_eq!(std::fs::read(&canary).unwrap(), b"precious\n");
        // A download's .part: the link is replaced, not written through.
        let mut part = replace_file(&dir.path().join("X.part"), 0o644).unwrap();
        part.write_all(b"download").unwrap();
        assert_eq!(std::fs::read(&canary).unwrap(), b"precious\n");
        assert_eq!(
            std::fs::read(dir.path().join("X.part")).unwrap(),
            b"download"
        );
        // A hard link planted at the name is unlinked, not truncated.
        let hard = dir.path().join("hard.part");
        std::fs::hard_link(&canary, &hard).unwrap();
        replace_file(&hard, 0o644).unwrap();
        assert_eq!(std::fs::read(&canary).unwrap(), b"precious\n");
    }

    #[test]
    fn reads_refuse_links_and_special_files() {
        let dir = scratch();
        let canary = dir.path().join("canary");
        std::fs::write(&canary, "secret").unwrap();
        symlink(&canary, dir.path().join("fstab")).unwrap();
        assert!(matches!(
            read_file(&dir.path().join("fstab")),
            Err(SafeFsError::Symlink { .. })
        ));
        assert_eq!(read_file(&dir.path().join("missing")).unwrap(), None);
        assert_eq!(read_file(&dir.path().join("no/such/dir")).unwrap(), None);
        nix::unistd::mkfifo(&dir.path().join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(
            read_file(&dir.path().join("fifo")),
            Err(SafeFsError::NotAFile(_))
        ));
        assert_eq!(read_file(&canary).unwrap().unwrap(), b"secret");
        assert!(matches!(
            read_file(Path::new("relative")),
            Err(SafeFsError::BadPath(_))
        ));
        assert!(matches!(
            read_file(&dir.path().join("../x")),
            Err(SafeFsError::BadPath(_))
        ));
    }

    #[test]
    fn directories_are_made_with_the_mode_asked_for() {
        let dir = scratch();
        let deep = dir.path().join("a/b/cache");
        let opened = create_dir_all(&deep, 0o700).unwrap();
        assert_eq!(opened.path(), deep);
        assert_eq!(std::fs::metadata(&deep).unwrap().mode() & 0o7777, 0o700);
        let me = effective_uid();
        check_private_dir(&deep, &opened.stat_self().unwrap(), me).unwrap();
        std::fs::set_permissions(&deep, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = check_private_dir(&deep, &opened.stat_self().unwrap(), me).unwrap_err();
        assert!(
            error.contains("writable by group or others (mode 0777)"),
            "{error}"
        );
    }

    #[test]
    fn trust_follows_links_and_checks_every_directory_on_the_way() {
        let dir = scratch();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let me = &Owners::only(effective_uid());
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = real.join("recipe.ron");
        std::fs::write(&file, "()").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            check_trusted(&file, Expect::File, me, "recipe").unwrap(),
            file
        );
        // Reached through a link in a directory others can write to: refused, though
        // the file itself is fine.
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        symlink(&file, open.join("recipe.ron")).unwrap();
        let error =
            check_trusted(&open.join("recipe.ron"), Expect::File, me, "recipe").unwrap_err();
        assert_eq!(
            error,
            TrustProblem::WritableDirectory {
                path: open.clone(),
                mode: 0o777
            }
        );
        assert!(
            error.to_string().starts_with(&format!(
                "directory {} is writable by group or others (mode 0777); anyone",
                open.display()
            )),
            "{error}"
        );
        // A relative link whose target's directory is writable by others.
        let linked = real.join("link.ron");
        symlink("../open/other.ron", &linked).unwrap();
        std::fs::write(open.join("other.ron"), "()").unwrap();
        std::fs::set_permissions(
            open.join("other.ron"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let error = check_trusted(&linked, Expect::File, me, "recipe").unwrap_err();
        assert!(
            error.to_string().contains("writable by group or others"),
            "{error}"
        );
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(
            check_trusted(&linked, Expect::File, me, "recipe").unwrap(),
            open.join("other.ron")
        );
        // The file itself.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        let error = check_trusted(&file, Expect::File, me, "recipe").unwrap_err();
        assert!(error.to_string().contains("recipe"), "{error}");
        assert!(
            error
                .to_string()
                .contains("writable by group or others (mode 0666)"),
            "{error}"
        );
        assert!(check_trusted(&real, Expect::File, me, "recipe")
            .unwrap_err()
            .to_string()
            .contains("is not a regular file"));
        assert!(
            check_trusted(&dir.path().join("none"), Expect::File, me, "recipe")
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        // The user who invoked thinjail through sudo may own it; nobody else.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::chown(&file, Some(1001), None).unwrap();
        let invoked = Owners {
            effective: 0,
            invoking: Some(1001),
        };
        assert!(check_trusted(&file, Expect::File, &invoked, "recipe").is_ok());
        let error = check_trusted(&file, Expect::File, &Owners::only(0), "recipe").unwrap_err();
        assert!(
            matches!(&error, TrustProblem::Owner { owner: 1001, path, .. } if path == &file),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("owned by uid 1001, neither root nor the user running thinjail (uid 0);"),
            "{error}"
        );
        let other = Owners {
            effective: 0,
            invoking: Some(1002),
        };
        let error = check_trusted(&file, Expect::File, &other, "recipe").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("nor the user who invoked it (uid 1002)"),
            "{error}"
        );
    }
}
