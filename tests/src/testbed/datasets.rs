//! Delegated datasets on the test bed: zfs-fuse has neither the `jailed` property
//! nor `zfs jail`, and Linux has no jails, so this stand-in keeps what FreeBSD's
//! kernel and ZFS would, in a record in the test bed's state directory
//! (`zfs-jailed.json`), and does with zfs-fuse what the jail would.
//!
//! What it reproduces, and where it comes from:
//!
//! - **`jailed=on`** (zfsprops(7)) is the record's, per dataset, with the mountpoint
//!   FreeBSD would show (a path inside the jail). thinjail's creation
//!   (`zfs create -o jailed=on -o mountpoint=PATH -o thinjail:jail=OWNER DATASET`)
//!   becomes zfs-fuse's `zfs create -o canmount=noauto -o mountpoint=none -o
//!   thinjail:jail=OWNER DATASET` plus the record: as on FreeBSD, where libzfs
//!   never mounts a jailed dataset on the host (`zfs_is_mountable`), the host
//!   does not mount it. Observation reads zfs-fuse's `type`, `mountpoint` and
//!   `thinjail:jail` (with its source) and takes `jailed` and the mountpoint from the
//!   record. A test makes a dataset jailed by hand with [`mark_jailed`].
//! - **`zfs jail JAIL DATASET`** (`zfs_do_jail` in OpenZFS's `cmd/zfs/zfs_main.c`,
//!   `zfs_jail` in libzfs, `zone_dataset_attach` in the FreeBSD SPL): a jail that
//!   does not exist (nor is being created) gives "invalid jail id or name" and the
//!   usage, exit 2; a dataset that does not exist "cannot open 'DATASET': dataset
//!   does not exist", exit 1; a volume "cannot jail 'DATASET': volumes can not be
//!   jailed", exit 1; a dataset already attached to that jail "cannot jail
//!   'DATASET': File exists" (EEXIST), exit 1. Like the kernel, it does not look at
//!   `jailed`: that matters when the jail mounts. The attachment is kept with the
//!   jail and dropped when the jail is removed ([`forget_jail`]), as the kernel
//!   drops the jail's list with the jail. `zfs.dataset` (15+) attaches the same way,
//!   right after `exec.created`.
//! - **`zfs mount -a` / `zfs unmount -a` inside the jail** (jail(8)'s `exec.start` /
//!   `exec.stop`): each dataset attached to the jail, in attach order, is mounted at
//!   its mountpoint resolved inside the jail's root as the jail would resolve it
//!   (each component looked at without following a link out of the root; a link is
//!   followed from the root, as chroot(2) does; a missing directory is made, as
//!   libzfs's `mkdirp` does), with zfs-fuse (`zfs set mountpoint=HOSTPATH`, `zfs
//!   mount`). The jail must have `allow.mount`, `allow.mount.zfs` and
//!   `enforce_statfs` below 2 and the dataset `jailed=on`; otherwise the mount fails
//!   as FreeBSD's does (EPERM: "cannot mount 'PATH': Insufficient privileges", exit
//!   1). Unmounting puts `mountpoint=none` back.
//!
//! What it cannot reproduce: datasets below a delegated one (`zfs mount -a` in the
//! jail mounts only the attached datasets themselves, and the jail cannot create
//! children: there is no `zfs` inside the chroot); any other `zfs` command inside the
//! jail (refused with exit 1 naming the stand-in: never a silent success); the
//! jail changing its dataset's properties; a hand-run `zfs mount` of a jailed
//! dataset on the host (zfs-fuse would mount it; thinjail never runs one); the
//! mount being visible only inside the jail (on Linux it is a host mount below the
//! jail's root).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use thinjail_core::host::{parse_delegated, HostError};
use thinjail_core::resources::datasets::{DelegatedState, OWNER_PROPERTY};

use crate::freebsd_update::Outcome;
use crate::json_state;

const FILE: &str = "zfs-jailed.json";

/// The test bed's record of what FreeBSD's ZFS and kernel would hold.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct JailedRecord {
    /// Datasets with `jailed=on`, each with the mountpoint FreeBSD would show.
    pub jailed: BTreeMap<String, String>,
    /// The datasets attached to each jail, in attach order.
    pub attached: BTreeMap<String, Vec<String>>,
    /// Delegated datasets mounted inside a jail: where, on the host.
    pub mounted: BTreeMap<String, PathBuf>,
    /// Each running jail's mount permission, as it was created with (for `jexec`).
    #[serde(default)]
    pub permissions: BTreeMap<String, MountPermission>,
}

impl JailedRecord {
    /// The record of the test bed whose state is in `state_dir`.
    pub fn load(state_dir: &Path) -> Self {
        json_state::load(state_dir, FILE)
    }

    fn save(&self, state_dir: &Path) -> Result<(), HostError> {
        json_state::save(self, state_dir, FILE)
            .map_err(|e| HostError::io("write the test bed's jailed datasets", e))
    }
}

/// Runs a host command, returning its standard output.
pub type Run<'a> = &'a mut dyn FnMut(&[&str]) -> Result<String, HostError>;

/// `zfs set jailed=on DATASET` with `mountpoint`, as an administrator would do it by
/// hand (zfs-fuse has no `jailed`).
pub fn mark_jailed(state_dir: &Path, dataset: &str, mountpoint: &str) -> Result<(), HostError> {
    let mut record = JailedRecord::load(state_dir);
    record
        .jailed
        .insert(dataset.to_string(), mountpoint.to_string());
    record.save(state_dir)
}

/// thinjail's `zfs create -o jailed=on -o mountpoint=PATH -o thinjail:jail=OWNER
/// DATASET`, on zfs-fuse.
pub fn create_jailed(
    state_dir: &Path,
    run: Run<'_>,
    dataset: &str,
    path: &str,
    owner: &str,
) -> Result<(), HostError> {
    let owner = format!("{OWNER_PROPERTY}={owner}");
    run(&[
        "zfs",
        "create",
        "-o",
        "canmount=noauto",
        "-o",
        "mountpoint=none",
        "-o",
        &owner,
        dataset,
    ])?;
    mark_jailed(state_dir, dataset, path)
}

/// What FreeBSD's `zfs get type,jailed,mountpoint,thinjail:jail` would say of each
/// dataset: zfs-fuse's answer for the properties it has, the record's for `jailed`
/// and a jailed dataset's mountpoint.
pub fn observe<'a>(
    state_dir: &Path,
    run: Run<'_>,
    names: impl IntoIterator<Item = &'a String>,
) -> Result<BTreeMap<String, Option<DelegatedState>>, HostError> {
    let record = JailedRecord::load(state_dir);
    let properties = format!("type,mountpoint,{OWNER_PROPERTY}");
    let mut found = BTreeMap::new();
    for name in names {
        let argv = [
            "zfs",
            "get",
            "-H",
            "-p",
            "-o",
            "name,property,value,source",
            properties.as_str(),
            name.as_str(),
        ];
        let state = match run(&argv) {
            Ok(stdout) => parse_delegated(&stdout).map(|mut state| {
                if let Some(mountpoint) = record.jailed.get(name) {
                    state.jailed = true;
                    state.mountpoint = Some(mountpoint.clone());
                }
                state
            }),
            Err(HostError::CommandFailed { stderr, .. }) if stderr.contains("does not exist") => {
                None
            }
            Err(e) => return Err(e),
        };
        found.insert(name.clone(), state);
    }
    Ok(found)
}

fn outcome(code: i32, stderr: String) -> Outcome {
    Outcome {
        code,
        stdout: String::new(),
        stderr,
    }
}

/// `zfs jail JAIL DATASET` on the host: `jails` are the jails that exist (the one
/// being created among them).
pub fn attach(
    state_dir: &Path,
    run: Run<'_>,
    jail: &str,
    dataset: &str,
    jail_exists: bool,
) -> Result<Outcome, HostError> {
    if !jail_exists {
        return Ok(outcome(
            2,
            "invalid jail id or name\nusage:\n\tjail <jailid|jailname> <filesystem>\n".into(),
        ));
    }
    let kind = match run(&["zfs", "get", "-H", "-o", "value", "type", dataset]) {
        Ok(stdout) => stdout.trim().to_string(),
        Err(HostError::CommandFailed { .. }) => {
            return Ok(outcome(
                1,
                format!("cannot open '{dataset}': dataset does not exist\n"),
            ))
        }
        Err(e) => return Err(e),
    };
    if kind == "volume" {
        return Ok(outcome(
            1,
            format!("cannot jail '{dataset}': volumes can not be jailed\n"),
        ));
    }
    let mut record = JailedRecord::load(state_dir);
    let list = record.attached.entry(jail.to_string()).or_default();
    if list.iter().any(|d| d == dataset) {
        return Ok(outcome(
            1,
            format!("cannot jail '{dataset}': File exists\n"),
        ));
    }
    list.push(dataset.to_string());
    record.save(state_dir)?;
    Ok(outcome(0, String::new()))
}

/// Runs a zfs-fuse `unmount` or `destroy`, again briefly while it says "busy":
/// zfs-fuse reports busy once for a file system it is still letting go of (the test
/// bed's substitution 8; on FreeBSD busy stays an error).
pub fn retry_busy(run: Run<'_>, argv: &[&str]) -> Result<String, HostError> {
    let mut attempt = 0;
    loop {
        match run(argv) {
            Err(HostError::CommandFailed { stderr, .. })
                if stderr.contains("busy") && attempt < 5 =>
            {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// `dataset` and everything below it are destroyed: nothing of them stays in the record.
pub fn forget_dataset(state_dir: &Path, dataset: &str) -> Result<(), HostError> {
    let mut record = JailedRecord::load(state_dir);
    let below = |name: &String| name == dataset || name.starts_with(&format!("{dataset}/"));
    record.jailed.retain(|name, _| !below(name));
    record.mounted.retain(|name, _| !below(name));
    for list in record.attached.values_mut() {
        list.retain(|name| !below(name));
    }
    record.save(state_dir)
}

/// The jail `jail` is removed: the kernel drops its list of datasets.
pub fn forget_jail(state_dir: &Path, jail: &str) -> Result<(), HostError> {
    let mut record = JailedRecord::load(state_dir);
    let attached = record.attached.remove(jail).is_some();
    if attached || record.permissions.remove(jail).is_some() {
        record.save(state_dir)?;
    }
    Ok(())
}

/// Whether the jail may mount ZFS: `allow.mount`, `allow.mount.zfs`, `enforce_statfs`
/// below 2 (jail(8); the kernel's default `enforce_statfs` is 2).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MountPermission {
    /// `allow.mount`.
    pub allow_mount: bool,
    /// `allow.mount.zfs`.
    pub allow_mount_zfs: bool,
    /// `enforce_statfs`.
    pub enforce_statfs: i64,
}

/// Records the permission the jail `jail` was created with, for `zfs` run in it
/// later through `jexec` ([`permission_of`]).
pub fn remember_permission(
    state_dir: &Path,
    jail: &str,
    permission: &MountPermission,
) -> Result<(), HostError> {
    let mut record = JailedRecord::load(state_dir);
    record
        .permissions
        .insert(jail.to_string(), permission.clone());
    record.save(state_dir)
}

/// The permission the running jail `jail` was created with (none recorded: none).
pub fn permission_of(state_dir: &Path, jail: &str) -> MountPermission {
    JailedRecord::load(state_dir)
        .permissions
        .get(jail)
        .cloned()
        .unwrap_or(MountPermission {
            allow_mount: false,
            allow_mount_zfs: false,
            enforce_statfs: 2,
        })
}

/// Changes the record under the test bed's lock, read afresh: jails started side by
/// side mount their datasets at the same time, and a record read before this jail's
/// `zfs` commands ran would drop the others' changes.
fn update_record(
    state_dir: &Path,
    change: impl FnOnce(&mut JailedRecord),
) -> Result<(), HostError> {
    let _state = super::parallel::STATE
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let mut record = JailedRecord::load(state_dir);
    change(&mut record);
    record.save(state_dir)
}

/// `zfs ARGS…` run inside the jail `jail` whose root is `root`: `mount -a` and
/// `unmount -a` only.
pub fn in_jail(
    state_dir: &Path,
    run: Run<'_>,
    jail: &str,
    root: &Path,
    args: &[String],
    permission: &MountPermission,
) -> Result<Outcome, HostError> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut record = JailedRecord::load(state_dir);
    let attached = record.attached.get(jail).cloned().unwrap_or_default();
    match args.as_slice() {
        ["mount", "-a"] => {
            for dataset in &attached {
                if record.mounted.contains_key(dataset) {
                    continue;
                }
                let Some(mountpoint) = record.jailed.get(dataset).cloned() else {
                    return Ok(outcome(
                        1,
                        format!("cannot mount '{dataset}': Insufficient privileges\n"),
                    ));
                };
                let allowed = permission.allow_mount
                    && permission.allow_mount_zfs
                    && permission.enforce_statfs < 2;
                if !allowed {
                    return Ok(outcome(
                        1,
                        format!("cannot mount '{mountpoint}': Insufficient privileges\n"),
                    ));
                }
                let target = match resolve_in_root(root, &mountpoint) {
                    Ok(target) => target,
                    Err(e) => return Ok(outcome(1, format!("cannot mount '{mountpoint}': {e}\n"))),
                };
                let setting = format!("mountpoint={}", target.display());
                run(&["zfs", "set", &setting, dataset])?;
                run(&["zfs", "mount", dataset])?;
                record.mounted.insert(dataset.clone(), target.clone());
                update_record(state_dir, |r| {
                    r.mounted.insert(dataset.clone(), target);
                })?;
            }
            Ok(outcome(0, String::new()))
        }
        ["unmount", "-a"] | ["umount", "-a"] => {
            for dataset in attached.iter().rev() {
                if record.mounted.remove(dataset).is_none() {
                    continue;
                }
                retry_busy(run, &["zfs", "unmount", dataset])?;
                run(&["zfs", "set", "mountpoint=none", dataset])?;
                update_record(state_dir, |r| {
                    r.mounted.remove(dataset);
                })?;
            }
            Ok(outcome(0, String::new()))
        }
        _ => Ok(outcome(
            1,
            format!(
                "the test bed's zfs inside a jail runs only `zfs mount -a` and `zfs unmount -a`, \
                 not `zfs {}`\n",
                args.join(" ")
            ),
        )),
    }
}

/// `path` (absolute, as the jail sees it) resolved inside `root` as a process
/// chrooted there would: `..` stops at the root, a symbolic link is read and
/// followed from the root (absolute) or its directory, never out of `root`; missing
/// directories are made (mode 0755), each in the directory resolved so far.
pub fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf, String> {
    let mut pending: Vec<String> = components(path);
    pending.reverse();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let here = resolved
            .iter()
            .fold(root.to_path_buf(), |p, c| p.join(c))
            .join(&name);
        match fs::symlink_metadata(&here) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > 32 {
                    return Err("Too many levels of symbolic links".into());
                }
                let target = fs::read_link(&here).map_err(|e| e.to_string())?;
                let target = target.to_string_lossy().to_string();
                if target.starts_with('/') {
                    resolved.clear();
                }
                let mut more = components(&target);
                more.reverse();
                pending.extend(more);
            }
            Ok(meta) if meta.is_dir() => resolved.push(name),
            Ok(_) => return Err("Not a directory".into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir(&here).map_err(|e| e.to_string())?;
                resolved.push(name);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(resolved.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

fn components(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_string_lossy().to_string()),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_root_and_links_never_leave_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("skeleton/var")).unwrap();
        std::os::unix::fs::symlink("skeleton/var", root.join("var")).unwrap();
        std::os::unix::fs::symlink("/", root.join("skeleton/var/up")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("skeleton/var/dots")).unwrap();
        assert_eq!(
            resolve_in_root(&root, "/var/db/x").unwrap(),
            root.join("skeleton/var/db/x")
        );
        assert!(root.join("skeleton/var/db/x").is_dir());
        assert_eq!(
            resolve_in_root(&root, "/var/up/etc").unwrap(),
            root.join("etc")
        );
        assert_eq!(
            resolve_in_root(&root, "/var/dots/tmp").unwrap(),
            root.join("tmp")
        );
        assert!(!dir.path().join("tmp").exists());
    }
}
