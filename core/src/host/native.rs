//! Native steps, done by thinjail itself rather than a FreeBSD tool: atomic file
//! writes and in-place edits, checksums of downloads and of the base's manifest,
//! symbolic link rewrites. None follows a symbolic link ([`super::safe_fs`]).

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::guard::FileIdentity;
use super::safe_fs::{self, SafeFsError};
use super::HostError;
use crate::action::Action;
use crate::edit::relinked_target;

/// A refusal of [`safe_fs`] (a link, a special file) is a conflict with the host's
/// state; a failing system call is an I/O error.
pub(super) fn from_safe_fs(context: String, error: SafeFsError) -> HostError {
    match error {
        SafeFsError::Io { .. } => HostError::io(context, error.into()),
        refused => HostError::Conflict(refused.to_string()),
    }
}

/// Carries out a native action (file writes and edits, checksums, symlink rewrites).
pub fn apply_native(action: &Action) -> Result<(), HostError> {
    match action {
        Action::WriteFile {
            path,
            contents,
            mode,
        } => write_atomically(path, contents.as_bytes(), Some(*mode)),
        Action::EditFile { path, edit } => edit_file(path, edit),
        Action::VerifyChecksum {
            file,
            manifest,
            delete_bad,
        } => verify_checksum(file, manifest, *delete_bad).map(|_| ()),
        Action::VerifySha256 {
            file,
            sha256,
            delete_bad,
        } => verify_sha256(file, sha256, *delete_bad).map(|_| ()),
        Action::RelinkSymlinks { tree, was, now } => relink_symlinks(tree, was, now),
        Action::MakeMountPoint { data, path } => {
            let full = data.join(path);
            safe_fs::create_dir_all(&full, 0o755)
                .map(drop)
                .map_err(|e| from_safe_fs(format!("make mount point {}", full.display()), e))
        }
        Action::MakeMountFile { data, path } => {
            let full = data.join(path);
            let context = || format!("make mount file {}", full.display());
            let (parent, name) = match (full.parent(), full.file_name()) {
                (Some(parent), Some(name)) => (parent, name),
                _ => {
                    return Err(HostError::Conflict(format!(
                        "{}: not a file path",
                        context()
                    )))
                }
            };
            let dir =
                safe_fs::create_dir_all(parent, 0o755).map_err(|e| from_safe_fs(context(), e))?;
            dir.create_empty_file(name, 0o644)
                .map_err(|e| from_safe_fs(context(), e))
        }
        other => Err(HostError::Unsupported(format!(
            "{} is not a native action",
            other.describe()
        ))),
    }
}

/// An edit of a shared file, applied to what the file holds now: read and replaced
/// through one directory opened without following links (see
/// [`safe_fs::write_atomically`]).
fn edit_file(path: &Path, edit: &crate::edit::FileEdit) -> Result<(), HostError> {
    let context = || format!("edit {}", path.display());
    let (dir, name) = safe_fs::open_parent(path).map_err(|e| from_safe_fs(context(), e))?;
    let is_link = dir
        .stat(&name)
        .map_err(|e| from_safe_fs(context(), e))?
        .is_some_and(|stat| {
            nix::sys::stat::SFlag::from_bits_truncate(stat.st_mode) & nix::sys::stat::SFlag::S_IFMT
                == nix::sys::stat::SFlag::S_IFLNK
        });
    if is_link {
        return Err(HostError::Conflict(format!(
            "{} is a symbolic link; jail(8) and rc(8) do not follow it reliably, so thinjail will not edit through it (make it a regular file)",
            path.display()
        )));
    }
    let current = dir
        .read(&name, path)
        .map_err(|e| from_safe_fs(context(), e))?
        .map(|bytes| {
            String::from_utf8(bytes).map_err(|_| {
                HostError::Conflict(format!(
                    "{} is not UTF-8 text; thinjail will not edit it",
                    path.display()
                ))
            })
        })
        .transpose()?
        .unwrap_or_default();
    let edited = edit.try_apply(&current).map_err(|e| {
        HostError::Conflict(format!("{}: {e}; nothing was rewritten", path.display()))
    })?;
    if edited == current {
        return Ok(());
    }
    dir.write_atomically(&name, edited.as_bytes(), None, path)
        .map_err(|e| from_safe_fs(format!("write {}", path.display()), e))
}

/// Writes `bytes` to `path` through a temporary file with an unpredictable name and a
/// rename, so readers see the old or the new file, never half of one; no component
/// of `path` may be a symbolic link (see [`safe_fs::write_atomically`]). Keeps an
/// existing file's mode and owner unless `mode` is given.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), HostError> {
    safe_fs::write_atomically(path, bytes, mode)
        .map_err(|e| from_safe_fs(format!("write {}", path.display()), e))
}

/// The SHA-256 a FreeBSD `MANIFEST` lists for `name` (tab-separated: name, sha256, …).
pub fn manifest_sha256(manifest: &str, name: &str) -> Option<String> {
    manifest.lines().find_map(|line| {
        let mut fields = line.split('\t');
        (fields.next() == Some(name)).then(|| fields.next().map(str::to_string))?
    })
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, HostError> {
    let mut file =
        fs::File::open(path).map_err(|e| HostError::io(format!("open {}", path.display()), e))?;
    sha256_of(&mut file, path)
}

fn sha256_of(file: &mut fs::File, path: &Path) -> Result<String, HostError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| HostError::io(format!("read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The SHA-256 of `file` and the identity of the file hashed (from the same
/// descriptor), refusing a file that changed while it was read.
fn hash_unchanged(file: &Path) -> Result<(String, FileIdentity), HostError> {
    let mut opened =
        fs::File::open(file).map_err(|e| HostError::io(format!("open {}", file.display()), e))?;
    let before = opened
        .metadata()
        .map_err(|e| HostError::io(format!("look at {}", file.display()), e))?;
    let actual = sha256_of(&mut opened, file)?;
    let after = opened
        .metadata()
        .map_err(|e| HostError::io(format!("look at {}", file.display()), e))?;
    if FileIdentity::of(&after) != FileIdentity::of(&before) {
        return Err(HostError::Conflict(format!(
            "{} changed while its checksum was computed; nothing was extracted",
            file.display()
        )));
    }
    Ok((actual, FileIdentity::of(&before)))
}

/// Checks `file` against `manifest`; returns the identity of the file that was hashed
/// (taken from the same descriptor), so what reads it later can insist on that file.
pub(super) fn verify_checksum(
    file: &Path,
    manifest: &Path,
    delete_bad: bool,
) -> Result<FileIdentity, HostError> {
    let listing = fs::read_to_string(manifest)
        .map_err(|e| HostError::io(format!("read {}", manifest.display()), e))?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let expected = manifest_sha256(&listing, name).ok_or_else(|| HostError::NotInManifest {
        manifest: manifest.to_path_buf(),
        name: name.to_string(),
    })?;
    let (actual, identity) = hash_unchanged(file)?;
    if actual.eq_ignore_ascii_case(&expected) {
        tracing::debug!(file = %file.display(), sha256 = %actual, "checksum verified");
        return Ok(identity);
    }
    if delete_bad {
        fs::remove_file(file)
            .map_err(|e| HostError::io(format!("delete {}", file.display()), e))?;
    }
    Err(HostError::ChecksumMismatch {
        file: file.to_path_buf(),
        expected,
        actual,
        deleted: delete_bad,
    })
}

/// Checks `file` against a pinned SHA-256; returns the identity of the file hashed,
/// as [`verify_checksum`] does.
pub(super) fn verify_sha256(
    file: &Path,
    expected: &str,
    delete_bad: bool,
) -> Result<FileIdentity, HostError> {
    let (actual, identity) = hash_unchanged(file)?;
    if actual.eq_ignore_ascii_case(expected) {
        tracing::debug!(file = %file.display(), sha256 = %actual, "pinned checksum verified");
        return Ok(identity);
    }
    if delete_bad {
        fs::remove_file(file)
            .map_err(|e| HostError::io(format!("delete {}", file.display()), e))?;
    }
    Err(HostError::PinMismatch {
        file: file.to_path_buf(),
        expected: expected.to_string(),
        actual,
        deleted: delete_bad,
    })
}

/// Walks `tree` through directory descriptors (a directory is entered only as a real
/// directory, never through a link) and rewrites the links [`relinked_target`] names,
/// each atomically under an unpredictable temporary name.
fn relink_symlinks(tree: &Path, was: &Path, now: &Path) -> Result<(), HostError> {
    let context = |path: &Path| format!("relink under {}", path.display());
    let top = safe_fs::open_dir(tree).map_err(|e| from_safe_fs(context(tree), e))?;
    let mut pending = vec![top];
    while let Some(dir) = pending.pop() {
        let entries = dir
            .entries()
            .map_err(|e| from_safe_fs(context(dir.path()), e))?;
        for (name, stat) in entries {
            let kind = nix::sys::stat::SFlag::from_bits_truncate(stat.st_mode)
                & nix::sys::stat::SFlag::S_IFMT;
            let path = dir.path().join(&name);
            if kind == nix::sys::stat::SFlag::S_IFDIR {
                let sub = dir
                    .open_dir(OsStr::new(&name), &path)
                    .map_err(|e| from_safe_fs(context(&path), e))?;
                pending.push(sub);
            } else if kind == nix::sys::stat::SFlag::S_IFLNK {
                let target = dir
                    .read_link(&name)
                    .map_err(|e| from_safe_fs(context(&path), e))?;
                let Ok(relative) = path.strip_prefix(tree) else {
                    continue;
                };
                if let Some(new_target) = relinked_target(was, now, relative, &target) {
                    tracing::debug!(link = %path.display(), from = %target.display(), to = %new_target.display(), "relink");
                    dir.replace_symlink(&name, &new_target)
                        .map_err(|e| from_safe_fs(format!("relink {}", path.display()), e))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use super::*;
    use crate::action::Command;
    use crate::edit::FileEdit;
    use crate::host::{FreeBsdHost, Host, HostGuards};

    #[test]
    fn the_file_verified_is_the_file_extracted() {
        let dir = tempfile::tempdir().unwrap();
        let set = dir.path().join("base.txz");
        fs::write(&set, b"verified contents").unwrap();
        let manifest = dir.path().join("MANIFEST");
        fs::write(
            &manifest,
            format!("base.txz\t{}\t1\tbase\n", sha256_file(&set).unwrap()),
        )
        .unwrap();
        let mut host = FreeBsdHost::new();
        host.apply_default(&Action::VerifyChecksum {
            file: set.clone(),
            manifest,
            delete_bad: false,
        })
        .unwrap();
        let read = |host: &mut FreeBsdHost| {
            host.run(&Command::ReadFrom {
                argv: vec!["cat".into()],
                stdin: set.clone(),
            })
        };
        assert_eq!(read(&mut host).unwrap().stdout, "verified contents");
        // Swapped for another file after the check: refused, nothing read.
        let other = dir.path().join("other");
        fs::write(&other, b"something else!!!").unwrap();
        fs::rename(&other, &set).unwrap();
        match read(&mut host) {
            Err(HostError::Conflict(message)) => {
                assert!(
                    message.contains("changed after its checksum was verified"),
                    "{message}"
                )
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn native_writes_never_land_in_a_jails_files() {
        let dir = tempfile::tempdir().unwrap();
        let jails = dir.path().join("jails");
        let data_etc = jails.join("www/data/etc");
        fs::create_dir_all(&data_etc).unwrap();
        let mut host = FreeBsdHost::new().with_guards(HostGuards {
            jails_dir: Some(jails.clone()),
            private_dirs: vec![],
        });
        let write = Action::WriteFile {
            path: data_etc.join("rc.conf"),
            contents: "x\n".into(),
            mode: 0o644,
        };
        assert!(matches!(host.apply(&write), Err(HostError::Conflict(_))));
        assert!(!data_etc.join("rc.conf").exists());
        host.apply(&Action::WriteFile {
            path: jails.join("www/fstab"),
            contents: "x\n".into(),
            mode: 0o644,
        })
        .unwrap();
    }

    #[test]
    fn edits_keep_the_rest_of_the_file_and_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let rc = dir.path().join("rc.conf");
        fs::write(&rc, "hostname=\"h\"\n# keep me\n").unwrap();
        fs::set_permissions(&rc, fs::Permissions::from_mode(0o600)).unwrap();
        let edit = Action::EditFile {
            path: rc.clone(),
            edit: FileEdit::SetRcVar {
                name: "jail_enable".into(),
                value: "YES".into(),
            },
        };
        apply_native(&edit).unwrap();
        assert_eq!(
            fs::read_to_string(&rc).unwrap(),
            "hostname=\"h\"\n# keep me\njail_enable=\"YES\"\n"
        );
        assert_eq!(
            fs::metadata(&rc).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let link = dir.path().join("jail.conf");
        std::os::unix::fs::symlink(&rc, &link).unwrap();
        let through_link = Action::EditFile {
            path: link,
            edit: FileEdit::SetRcVar {
                name: "x".into(),
                value: "1".into(),
            },
        };
        assert!(matches!(
            apply_native(&through_link),
            Err(HostError::Conflict(_))
        ));
    }

    #[test]
    fn checksum_mismatch_deletes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let set = dir.path().join("base.txz");
        fs::write(&set, b"hello").unwrap();
        let good = sha256_file(&set).unwrap();
        let manifest = dir.path().join("MANIFEST");
        fs::write(
            &manifest,
            format!("base.txz\t{good}\t3\tbase\t\"Base system\"\ton\n"),
        )
        .unwrap();
        let verify = Action::VerifyChecksum {
            file: set.clone(),
            manifest: manifest.clone(),
            delete_bad: true,
        };
        apply_native(&verify).unwrap();
        fs::write(
            &manifest,
            format!(
                "base.txz\t{}\t3\tbase\t\"Base system\"\ton\n",
                "0".repeat(64)
            ),
        )
        .unwrap();
        assert!(matches!(
            apply_native(&verify),
            Err(HostError::ChecksumMismatch { .. })
        ));
        assert!(!set.exists());
    }

    #[test]
    fn a_pinned_checksum_mismatch_deletes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("MANIFEST");
        fs::write(&manifest, b"base.txz\t00\t1\tbase\n").unwrap();
        let good = sha256_file(&manifest).unwrap();
        let verify = |sha256: String| Action::VerifySha256 {
            file: manifest.clone(),
            sha256,
            delete_bad: true,
        };
        apply_native(&verify(good.to_ascii_uppercase())).unwrap();
        assert!(manifest.exists());
        let wrong = "0".repeat(64);
        match apply_native(&verify(wrong.clone())) {
            Err(HostError::PinMismatch {
                expected,
                actual,
                deleted: true,
                ..
            }) => assert_eq!((expected, actual), (wrong, good)),
            other => panic!("{other:?}"),
        }
        assert!(
            !manifest.exists(),
            "a MANIFEST that fails its pin is deleted"
        );
    }

    #[test]
    fn relinks_links_leaving_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("ssl/certs");
        fs::create_dir_all(&certs).unwrap();
        std::os::unix::fs::symlink("../../../usr/share/certs/ca.pem", certs.join("ca.pem"))
            .unwrap();
        std::os::unix::fs::symlink("../cert.pem", certs.join("inside.pem")).unwrap();
        relink_symlinks(dir.path(), Path::new("/etc"), Path::new("/skeleton/etc")).unwrap();
        assert_eq!(
            fs::read_link(certs.join("ca.pem")).unwrap(),
            PathBuf::from("../../../../usr/share/certs/ca.pem")
        );
        assert_eq!(
            fs::read_link(certs.join("inside.pem")).unwrap(),
            PathBuf::from("../cert.pem")
        );
    }
}
