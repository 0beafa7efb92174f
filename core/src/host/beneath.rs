//! Looking into a tree whose owner is not trusted (a jail's data, which the jail's root
//! controls) without following any symbolic link it planted: each directory on the
//! way is opened with `O_NOFOLLOW`, and the last component is looked at with
//! `AT_SYMLINK_NOFOLLOW`. Read-only: it only says what is there.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, Mode, SFlag};

use super::HostError;
use crate::world::PathState;

/// What a look below a root found ([`observe_beneath`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Beneath {
    /// Every component on the way is a real directory (or the path stops existing on
    /// the way): the path's own state.
    Reached(PathState),
    /// `at` (relative to the root) is on the way but is not a directory — a symbolic
    /// link, a file: its state. The path cannot be reached without following it.
    Blocked {
        /// The component, relative to the root.
        at: PathBuf,
        /// What it is.
        state: PathState,
    },
}

/// What is at `relative` below `root`, without following symbolic links below
/// `root`: each directory on the way is opened with `O_NOFOLLOW` (and
/// `O_DIRECTORY`), the last component is looked at with `AT_SYMLINK_NOFOLLOW`.
/// `root` itself is host-owned and opened normally.
pub fn observe_beneath(root: &Path, relative: &Path) -> Result<Beneath, HostError> {
    let mut names = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(name) => names.push(name),
            Component::CurDir => {}
            _ => {
                return Err(HostError::Unsupported(format!(
                    "{} is not a plain relative path",
                    relative.display()
                )))
            }
        }
    }
    let Some((last, on_the_way)) = names.split_last() else {
        return Ok(Beneath::Reached(PathState::Directory));
    };
    let context = || format!("look at {} below {}", relative.display(), root.display());
    let top = match File::open(root) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Beneath::Reached(PathState::Missing))
        }
        Err(e) => return Err(HostError::io(context(), e)),
    };
    let mut dir: std::os::fd::OwnedFd = top.into();
    let mut walked = PathBuf::new();
    for name in on_the_way {
        walked.push(name);
        let next = openat(
            dir.as_fd(),
            *name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        );
        dir = match next {
            Ok(fd) => fd,
            Err(errno) if is_not_a_directory(errno) => {
                return Ok(Beneath::Blocked {
                    at: walked,
                    state: state_at(&dir, name, &context)?,
                })
            }
            Err(Errno::ENOENT) => return Ok(Beneath::Reached(PathState::Missing)),
            Err(e) => return Err(HostError::io(context(), e.into())),
        };
    }
    Ok(Beneath::Reached(state_at(&dir, last, &context)?))
}

/// Whether `openat(O_DIRECTORY | O_NOFOLLOW)` failed because the name is not a real
/// directory: `ENOTDIR` (a file), `ELOOP` (a symbolic link, POSIX and Linux) or
/// `EMLINK` (a symbolic link, FreeBSD's open(2)).
fn is_not_a_directory(errno: Errno) -> bool {
    matches!(errno, Errno::ENOTDIR | Errno::ELOOP | Errno::EMLINK)
}

/// Records what `probe` found in `paths` (see [`crate::probes::BeneathProbe`]): the
/// path's state when it was reached; otherwise the blocking component's state at
/// its own path, and the path as missing.
pub fn record_beneath(
    paths: &mut std::collections::BTreeMap<PathBuf, PathState>,
    probe: &crate::probes::BeneathProbe,
    found: Beneath,
) {
    match found {
        Beneath::Reached(state) => {
            paths.insert(probe.path(), state);
        }
        Beneath::Blocked { at, state } => {
            paths.insert(probe.root.join(at), state);
            paths.insert(probe.path(), PathState::Missing);
        }
    }
}

fn state_at(
    dir: &std::os::fd::OwnedFd,
    name: &std::ffi::OsStr,
    context: &dyn Fn() -> String,
) -> Result<PathState, HostError> {
    let stat = match fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::ENOENT) => return Ok(PathState::Missing),
        Err(e) => return Err(HostError::io(context(), e.into())),
    };
    let kind = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
    Ok(if kind == SFlag::S_IFLNK {
        let target =
            readlinkat(dir.as_fd(), name).map_err(|e| HostError::io(context(), e.into()))?;
        PathState::Symlink {
            target: PathBuf::from(target),
        }
    } else if kind == SFlag::S_IFDIR {
        PathState::Directory
    } else {
        PathState::File { contents: None }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn finds_what_is_there_and_never_follows_a_planted_link() {
        let data = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        fs::create_dir_all(data.path().join("var/db/etcupdate/current")).unwrap();
        fs::create_dir_all(elsewhere.path().join("etcupdate/current")).unwrap();
        let found = |rel: &str| observe_beneath(data.path(), Path::new(rel)).unwrap();
        let reached = |state| Beneath::Reached(state);
        assert_eq!(
            found("var/db/etcupdate/current"),
            reached(PathState::Directory)
        );
        assert_eq!(
            found("var/db/etcupdate/missing"),
            reached(PathState::Missing)
        );
        assert_eq!(found("var/nothing/here"), reached(PathState::Missing));

        // var/db becomes a link to a directory that has the same layout: not followed.
        fs::remove_dir_all(data.path().join("var/db")).unwrap();
        symlink(elsewhere.path(), data.path().join("var/db")).unwrap();
        assert!(elsewhere.path().join("etcupdate/current").is_dir());
        assert_eq!(
            found("var/db/etcupdate/current"),
            Beneath::Blocked {
                at: PathBuf::from("var/db"),
                state: PathState::Symlink {
                    target: elsewhere.path().to_path_buf()
                }
            }
        );
        // A link as the last component is reported as a link.
        symlink("/", data.path().join("var/current")).unwrap();
        assert_eq!(
            found("var/current"),
            reached(PathState::Symlink {
                target: PathBuf::from("/")
            })
        );
        fs::write(data.path().join("var/file"), "x").unwrap();
        assert_eq!(
            found("var/file/below"),
            Beneath::Blocked {
                at: PathBuf::from("var/file"),
                state: PathState::File { contents: None }
            }
        );
        assert!(observe_beneath(data.path(), Path::new("../etc")).is_err());
    }

    #[test]
    fn a_blocked_path_is_recorded_missing_and_its_blocker_as_what_it_is() {
        let probe = crate::probes::BeneathProbe {
            root: PathBuf::from("/j/www/data"),
            relative: PathBuf::from("usr/local/sbin/nginx"),
        };
        let mut paths = std::collections::BTreeMap::new();
        let link = PathState::Symlink {
            target: PathBuf::from("/usr/local"),
        };
        record_beneath(
            &mut paths,
            &probe,
            Beneath::Blocked {
                at: PathBuf::from("usr/local"),
                state: link.clone(),
            },
        );
        assert_eq!(paths[Path::new("/j/www/data/usr/local")], link);
        assert_eq!(
            paths[Path::new("/j/www/data/usr/local/sbin/nginx")],
            PathState::Missing
        );
    }

    #[test]
    fn every_systems_answer_for_a_link_opened_without_following_stops_the_walk() {
        // Linux says ELOOP, FreeBSD's open(2) says EMLINK; a file on the way, ENOTDIR.
        for errno in [Errno::ELOOP, Errno::EMLINK, Errno::ENOTDIR] {
            assert!(is_not_a_directory(errno), "{errno}");
        }
        assert!(!is_not_a_directory(Errno::EACCES));
    }
}
