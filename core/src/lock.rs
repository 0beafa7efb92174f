//! One thinjail at a time per host: an exclusive flock(2) on the recipe's lock file.
//!
//! The holder writes who it is into the file, so a second run can say what it is
//! refused by or waiting for.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another thinjail holds it.
    #[error("another thinjail is running on this host ({holder}); try again when it has finished, or pass --wait")]
    Busy {
        /// Who holds it, as it wrote itself into the lock file.
        holder: String,
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
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_error)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_error)?;
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
    }
}
