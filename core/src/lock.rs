//! One thinjail at a time per host: an exclusive flock(2) on the recipe's lock file.
//!
//! The holder writes who it is into the file, so a second run can say what it is
//! refused by or waiting for.
//!
//! The lock file is opened by root, as if someone may have planted something there:
//! no symbolic link is followed on the way to it or at it ([`crate::host::safe_fs`]),
//! a new one is made with mode 0600, and an existing one is used only when it is a
//! regular file with no other hard link, owned by root or the user running thinjail
//! (or the one who invoked it through sudo or doas), in a directory nobody else can
//! write to (sticky ones excepted). Anything else is refused with
//! [`LockError::Untrusted`], naming what is wrong: a lock file someone else controls
//! could make thinjail write its holder line into any file, or let two runs lock
//! different files.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::{fchmod, Mode};

use crate::host::safe_fs::{self, Expect, SafeFsError};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another thinjail holds it.
    #[error("another thinjail is running on this host ({holder}); try again when it has finished, or pass --wait")]
    Busy {
        /// Who holds it, as it wrote itself into the lock file.
        holder: String,
    },
    /// The lock file, or the way to it, could be controlled by someone else.
    #[error("refusing lock file {}: {problem}", .path.display())]
    Untrusted {
        /// The lock file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The lock file could not be opened or locked.
    #[error("lock file {}: {source}", .path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Held while thinjail changes the host; released on drop.
pub struct HostLock {
    _lock: Flock<File>,
}

impl HostLock {
    /// Takes the lock at `path` for `purpose` (e.g. `apply article`). When another
    /// thinjail holds it: with `wait`, calls `on_wait` with the holder's description and
    /// blocks until it is free; without, returns [`LockError::Busy`].
    pub fn acquire(
        path: &Path,
        purpose: &str,
        wait: bool,
        on_wait: &mut dyn FnMut(&str),
    ) -> Result<Self, LockError> {
        let io_error = |source: std::io::Error| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = open_lock_file(path)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let holder = read_holder(&mut file);
                if !wait {
                    return Err(LockError::Busy { holder });
                }
                on_wait(&holder);
                Flock::lock(file, FlockArg::LockExclusive)
                    .map_err(|(_, errno)| io_error(errno.into()))?
            }
            Err((_, errno)) => return Err(io_error(errno.into())),
        };
        let me = format!("{purpose}, pid {}", std::process::id());
        lock.set_len(0).map_err(io_error)?;
        lock.seek(SeekFrom::Start(0)).map_err(io_error)?;
        lock.write_all(me.as_bytes()).map_err(io_error)?;
        lock.sync_data().map_err(io_error)?;
        Ok(HostLock { _lock: lock })
    }
}

/// Opens (or makes, mode 0600) the lock file at `path` as the module describes.
fn open_lock_file(path: &Path) -> Result<File, LockError> {
    let untrusted = |problem: String| LockError::Untrusted {
        path: path.to_path_buf(),
        problem,
    };
    let from_safe = |error: SafeFsError| match error {
        SafeFsError::Io { source, .. } => LockError::Io {
            path: path.to_path_buf(),
            source,
        },
        refused => untrusted(refused.to_string()),
    };
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| untrusted("it names no file".into()))?;
    let dir = safe_fs::create_dir_all(parent, 0o755).map_err(from_safe)?;
    // A sticky directory such as /tmp is fine: nobody can replace what they do not own there.
    let owners = safe_fs::Owners::of_this_process();
    safe_fs::check_trusted(parent, Expect::SharedDirectory, &owners, "directory")
        .map_err(|problem| untrusted(problem.to_string()))?;
    let flags =
        OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let fd = nix::fcntl::openat(dir.fd(), name, flags, Mode::from_bits_truncate(0o600)).map_err(
        |errno| {
            let is_link = dir.stat(name).ok().flatten().is_some_and(|stat| {
                nix::sys::stat::SFlag::from_bits_truncate(stat.st_mode)
                    & nix::sys::stat::SFlag::S_IFMT
                    == nix::sys::stat::SFlag::S_IFLNK
            });
            if is_link {
                untrusted("it is a symbolic link; thinjail never follows one to its lock".into())
            } else {
                LockError::Io {
                    path: path.to_path_buf(),
                    source: errno.into(),
                }
            }
        },
    )?;
    let file = File::from(fd);
    let metadata = file.metadata().map_err(|source| LockError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !metadata.is_file() {
        return Err(untrusted("it is not a regular file".into()));
    }
    if !owners.allow(metadata.uid()) {
        return Err(untrusted(format!(
            "it is owned by uid {}, {}; someone else made it, so it is not thinjail's (remove it)",
            metadata.uid(),
            owners.describe()
        )));
    }
    if metadata.nlink() != 1 {
        return Err(untrusted(format!(
            "it has {} hard links, so it is also another file (remove it)",
            metadata.nlink()
        )));
    }
    if metadata.mode() & 0o7777 != 0o600 {
        fchmod(&file, Mode::from_bits_truncate(0o600)).map_err(|errno| LockError::Io {
            path: path.to_path_buf(),
            source: errno.into(),
        })?;
    }
    Ok(file)
}

fn read_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() {
        "holder unknown".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("thinjail.lock");
        let first = HostLock::acquire(&path, "apply article", false, &mut |_| {}).unwrap();
        match HostLock::acquire(&path, "apply other", false, &mut |_| {}) {
            Err(LockError::Busy { holder }) => {
                assert!(holder.starts_with("apply article, pid "), "{holder}")
            }
            other => panic!("expected Busy, got {:?}", other.err()),
        }
        drop(first);
        HostLock::acquire(&path, "apply other", false, &mut |_| {}).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o600);
    }

    #[test]
    fn a_lock_file_someone_else_could_control_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let canary = dir.path().join("canary");
        std::fs::write(&canary, "precious\n").unwrap();
        let refused = |path: &Path, needle: &str| match HostLock::acquire(
            path,
            "apply",
            false,
            &mut |_| {},
        ) {
            Err(LockError::Untrusted { problem, .. }) => {
                assert!(problem.contains(needle), "{problem}")
            }
            other => panic!("expected Untrusted, got {:?}", other.err()),
        };
        // A symbolic link at the lock's name.
        let link = dir.path().join("thinjail.lock");
        std::os::unix::fs::symlink(&canary, &link).unwrap();
        refused(&link, "symbolic link");
        // A hard link to another file.
        let hard = dir.path().join("hard.lock");
        std::fs::hard_link(&canary, &hard).unwrap();
        refused(&hard, "hard links");
        // A directory on the way that is a link.
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let via = dir.path().join("via");
        std::os::unix::fs::symlink(&real, &via).unwrap();
        refused(&via.join("thinjail.lock"), "is a symbolic link");
        // A directory others can write to.
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        refused(&open.join("thinjail.lock"), "writable by group or others");
        assert_eq!(std::fs::read(&canary).unwrap(), b"precious\n");
        assert!(!real.join("thinjail.lock").exists());
    }
}
