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

/// What is at `relative` below `root`, without following symbolic links below
/// `root`. When a component on the way is not a directory (a link, a file), that
/// component's state is returned: the path itself cannot be reached without
/// following it. `root` itself is host-owned and opened normally.
pub fn observe_beneath(root: &Path, relative: &Path) -> Result<PathState, HostError> {
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
        return Ok(PathState::Directory);
    };
    let context = || format!("look at {} below {}", relative.display(), root.display());
    let top = match File::open(root) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PathState::Missing),
        Err(e) => return Err(HostError::io(context(), e)),
    };
    let mut dir: std::os::fd::OwnedFd = top.into();
    for name in on_the_way {
        let next = openat(
            dir.as_fd(),
            *name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        );
        dir = match next {
            Ok(fd) => fd,
            // Not a directory, or a link (O_NOFOLLOW): say what it is.
            Err(Errno::ENOTDIR | Errno::ELOOP) => return state_at(&dir, name, &context),
            Err(Errno::ENOENT) => return Ok(PathState::Missing),
            Err(e) => return Err(HostError::io(context(), e.into())),
        };
    }
    state_at(&dir, last, &context)
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
        assert_eq!(found("var/db/etcupdate/current"), PathState::Directory);
        assert_eq!(found("var/db/etcupdate/missing"), PathState::Missing);
        assert_eq!(found("var/nothing/here"), PathState::Missing);

        // var/db becomes a link to a directory that has the same layout: not followed.
        fs::remove_dir_all(data.path().join("var/db")).unwrap();
        symlink(elsewhere.path(), data.path().join("var/db")).unwrap();
        assert!(elsewhere.path().join("etcupdate/current").is_dir());
        assert_eq!(
            found("var/db/etcupdate/current"),
            PathState::Symlink {
                target: elsewhere.path().to_path_buf()
            }
        );
        // A link as the last component is reported as a link.
        symlink("/", data.path().join("var/current")).unwrap();
        assert_eq!(
            found("var/current"),
            PathState::Symlink {
                target: PathBuf::from("/")
            }
        );
        fs::write(data.path().join("var/file"), "x").unwrap();
        assert_eq!(found("var/file/below"), PathState::File { contents: None });
        assert!(observe_beneath(data.path(), Path::new("../etc")).is_err());
    }
}
