//! ZFS datasets delegated to a jail (`datasets` in a jail's recipe): the jail's root
//! mounts them and manages everything below them (snapshots, children, properties)
//! from inside the jail, as zfs-jail(8) describes.
//!
//! **How a dataset is handed over.** Three things must hold on FreeBSD
//! (zfs-jail(8), jail(8)):
//!
//! - the dataset has `jailed=on` (zfsprops(7)): only then does ZFS let the jail
//!   mount and manage it, and the host then never mounts it itself (`zfs mount`
//!   refuses: "dataset is exported to a local zone"), because the jail chooses its
//!   mountpoint;
//! - it is attached to the running jail: `zfs jail JAIL DATASET` (ZFS_IOC_JAIL; the
//!   kernel keeps the list with the jail and drops it when the jail is removed, so
//!   nothing detaches it on stop). Releases before 15.0 have no jail(8) parameter
//!   for this: thinjail runs `/sbin/zfs jail NAME DATASET` on the host from
//!   `exec.created` (the jail exists then, its first process has not started).
//!   FreeBSD 15.0's jail(8) has `zfs.dataset`, which attaches the listed datasets
//!   right after `exec.created` (`IP_ZFS_DATASET` in `usr.sbin/jail/jail.c`), so a
//!   jail on a 15+ release gets that parameter instead. The choice follows the
//!   jail's **release**: FreeBSD runs a jail's userland only on a kernel at least as
//!   new, so a 15+ jail runs on a host whose jail(8) knows `zfs.dataset`, and an
//!   older jail gets the hooks, which every host runs;
//! - the jail may mount ZFS: `allow.mount`, `allow.mount.zfs` and `enforce_statfs`
//!   below 2 (jail(8): mounting is allowed only then); thinjail sets it to 1.
//!
//! The jail mounts its datasets itself: thinjail puts `/sbin/zfs mount -a` before the
//! jail's `exec.start` and `/sbin/zfs unmount -a` after its `exec.stop` (both run
//! inside the jail), so the dataset is mounted before `/etc/rc` and unmounted before
//! jail(8) unmounts the jail's data from under it.
//!
//! **Whose a dataset is.** thinjail creates a missing dataset with `jailed=on`, the
//! mountpoint the recipe gives (a path inside the jail) and the user property
//! [`OWNER_PROPERTY`] naming the jail's own dataset (`<jails_dataset>/<jail>`): the
//! same dataset named for another jail, or one the administrator jailed by hand, is
//! then told apart. A dataset that exists is never changed: one without `jailed=on`
//! is the host's (the host may have it mounted and in use), and one whose own
//! [`OWNER_PROPERTY`] names another jail (or that has none) is someone else's; both
//! are refused (exit 78) before anything runs. A jail's root can rewrite the
//! property of its own datasets, which can only make thinjail refuse them.
//!
//! Nothing here looks at a host: the names ([`check_name`]; the recipe's other
//! checks are in `recipe::validate`), the jail.conf parameters ([`add_params`]) and
//! the reading of what the host has ([`DelegatedState`], [`check_observed`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::jailconf::ParamValue;

/// One dataset delegated to a jail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegated {
    /// The dataset, in the recipe's pool and outside thinjail's own datasets
    /// (`zroot/www-db`).
    pub dataset: String,
    /// Where the jail mounts it: an absolute path inside one of the jail's own
    /// paths (`/var/db/mysql`). It is the `mountpoint` thinjail creates the dataset
    /// with; once the dataset is the jail's, its root may change it.
    pub path: String,
}

/// The user property that says which jail thinjail delegated a dataset to: the
/// jail's own dataset, `<jails_dataset>/<jail>`.
pub const OWNER_PROPERTY: &str = "thinjail:jail";

/// The properties observed of a delegated dataset (and of its parent).
pub const DELEGATED_PROPERTIES: &str = "type,jailed,mountpoint,thinjail:jail";

/// zfs(8)'s path on FreeBSD.
pub const ZFS: &str = "/sbin/zfs";

/// The command jail(8) runs inside the jail before its `exec.start`.
pub const MOUNT_IN_JAIL: &str = "/sbin/zfs mount -a";

/// The command jail(8) runs inside the jail after its `exec.stop`.
pub const UNMOUNT_IN_JAIL: &str = "/sbin/zfs unmount -a";

/// The value of [`OWNER_PROPERTY`] for `jail`.
pub fn owner_mark(jails_dataset: &str, jail: &str) -> String {
    format!("{jails_dataset}/{jail}")
}

/// Whether jail(8) attaches `release`'s jails' datasets itself (`zfs.dataset`,
/// FreeBSD 15.0 and later) rather than through `exec.created` hooks.
pub fn attached_by_jail8(release: &str) -> bool {
    release
        .split(['.', '-'])
        .next()
        .and_then(|major| major.parse::<u32>().ok())
        .is_some_and(|major| major >= 15)
}

/// The host command that attaches `dataset` to the running jail `jail`.
pub fn attach_hook(jail: &str, dataset: &str) -> String {
    format!("{ZFS} jail {jail} {dataset}")
}

/// Adds what the datasets of `jail` (on `release`) need to its jail.conf
/// parameters (nothing for a jail without datasets): the mount permissions,
/// `zfs.dataset` or the `exec.created` hooks, and the in-jail mount and unmount.
pub fn add_params(
    params: &mut BTreeMap<String, ParamValue>,
    jail: &str,
    release: &str,
    datasets: &[Delegated],
) {
    if datasets.is_empty() {
        return;
    }
    params.retain(|name, _| !crate::jailconf::same_param(name, "allow.mount"));
    params.retain(|name, _| !crate::jailconf::same_param(name, "allow.mount.zfs"));
    params.insert("allow.mount".into(), ParamValue::Flag(true));
    params.insert("allow.mount.zfs".into(), ParamValue::Flag(true));
    // Below 2 lets the jail mount; a lower value the recipe chose stays.
    if !matches!(params.get("enforce_statfs"), Some(ParamValue::Number(n)) if *n < 2) {
        params.insert("enforce_statfs".into(), ParamValue::Number(1));
    }
    let names: Vec<String> = datasets.iter().map(|d| d.dataset.clone()).collect();
    if attached_by_jail8(release) {
        params.insert("zfs.dataset".into(), ParamValue::List(names));
    } else {
        let hooks = names.iter().map(|d| attach_hook(jail, d));
        extend(params, "exec.created", hooks, false);
    }
    extend(params, "exec.start", [MOUNT_IN_JAIL.to_string()], true);
    extend(params, "exec.stop", [UNMOUNT_IN_JAIL.to_string()], false);
}

/// Adds `commands` to the list parameter `name`, before its values or after them.
fn extend(
    params: &mut BTreeMap<String, ParamValue>,
    name: &str,
    commands: impl IntoIterator<Item = String>,
    before: bool,
) {
    let mut values: Vec<String> = match params.remove(name) {
        None => Vec::new(),
        Some(ParamValue::List(values)) => values,
        Some(other) => vec![other.to_string()],
    };
    let added: Vec<String> = commands.into_iter().collect();
    if before {
        values.splice(0..0, added);
    } else {
        values.extend(added);
    }
    let value = match values.len() {
        1 => ParamValue::Text(values.remove(0)),
        _ => ParamValue::List(values),
    };
    params.insert(name.into(), value);
}

/// Checks a ZFS filesystem name as zfs(8) takes it (`dataset_namecheck` in
/// OpenZFS's `zfs_namecheck.c`): components of letters, digits and `_-.:` separated
/// by `/`, none empty, `.` or `..`, fewer than 256 characters; no snapshot (`@`),
/// bookmark (`#`) or temporary (`%`) name.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() >= 256 {
        return Err(format!(
            "{name:?} is not a dataset name (1 to 255 characters)"
        ));
    }
    for component in name.split('/') {
        let allowed = component
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
        if component.is_empty() || component == "." || component == ".." || !allowed {
            return Err(format!(
                "{name:?} is not a dataset name: write pool/dataset, each component of letters, \
                 digits and _-.: (no snapshot, no empty component)"
            ));
        }
    }
    Ok(())
}

/// Whether dataset `a` is `b` or lies below it.
pub fn nested(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}/"))
}

/// What the host has for a delegated dataset, when it exists
/// ([`crate::probes::Probes::delegated`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegatedState {
    /// `type` is `filesystem` (a volume or snapshot cannot be jailed).
    pub filesystem: bool,
    /// `jailed` is `on`.
    pub jailed: bool,
    /// Its own [`OWNER_PROPERTY`] (set or received, not inherited).
    pub owner: Option<String>,
    /// Its `mountpoint`.
    pub mountpoint: Option<String>,
}

/// What to do about one delegated dataset, from what the host has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// It is the jail's already: nothing to do.
    Ready,
    /// It does not exist: create it.
    Create,
}

/// Reads the host's state of `delegated` (given to `jail`, field `field`): `state` is
/// the dataset's (`None`: it does not exist), `parent_exists` whether its parent
/// does. An error is a host conflict (exit 78), naming the field.
pub fn check_observed(
    field: &str,
    jails_dataset: &str,
    jail: &str,
    delegated: &Delegated,
    state: Option<&DelegatedState>,
    parent_exists: bool,
) -> Result<Disposition, String> {
    let name = &delegated.dataset;
    let mark = owner_mark(jails_dataset, jail);
    let Some(state) = state else {
        if !parent_exists {
            let parent = name.rsplit_once('/').map(|(p, _)| p).unwrap_or(name);
            return Err(format!(
                "{field}: {name} cannot be created for jail {jail}: its parent {parent} does not \
                 exist (thinjail creates the delegated dataset, never datasets above it); \
                 nothing was changed"
            ));
        }
        return Ok(Disposition::Create);
    };
    if !state.filesystem {
        return Err(format!(
            "{field}: {name} is not a filesystem; only a filesystem can be delegated to a jail; \
             nothing was changed"
        ));
    }
    if !state.jailed {
        return Err(format!(
            "{field}: {name} exists and is the host's (jailed=off, so the host may mount and use \
             it); thinjail gives a jail only a dataset it created or one handed over with `zfs \
             umount {name}; zfs set jailed=on {name}; zfs set {OWNER_PROPERTY}={mark} {name}`; \
             nothing was changed"
        ));
    }
    match state.owner.as_deref() {
        Some(owner) if owner == mark => Ok(Disposition::Ready),
        Some(owner) => Err(format!(
            "{field}: {name} is already delegated to another jail ({OWNER_PROPERTY}={owner}); \
             nothing was changed"
        )),
        None => Err(format!(
            "{field}: {name} is jailed (jailed=on) but not by thinjail for jail {jail}: it may \
             belong to another jail; if it is this jail's, say so with `zfs set \
             {OWNER_PROPERTY}={mark} {name}`; nothing was changed"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(dataset: &str, path: &str) -> Vec<Delegated> {
        vec![Delegated {
            dataset: dataset.into(),
            path: path.into(),
        }]
    }

    fn builtins() -> BTreeMap<String, ParamValue> {
        let mut params = crate::recipe::builtin_jail_params();
        params.insert("allow.nomount".into(), ParamValue::Flag(true));
        params
    }

    #[test]
    fn the_release_picks_zfs_dataset_or_the_hooks() {
        assert!(!attached_by_jail8("14.3-RELEASE"));
        assert!(!attached_by_jail8("13.5-RELEASE-p2"));
        assert!(attached_by_jail8("15.0-RELEASE"));
        assert!(attached_by_jail8("16.0-CURRENT"));
        let mut old = builtins();
        add_params(
            &mut old,
            "old",
            "14.3-RELEASE",
            &one("tank/db", "/var/db/x"),
        );
        assert_eq!(
            old["exec.created"],
            ParamValue::Text("/sbin/zfs jail old tank/db".into())
        );
        assert_eq!(
            old["exec.start"],
            ParamValue::List(vec!["/sbin/zfs mount -a".into(), "/bin/sh /etc/rc".into()])
        );
        assert_eq!(
            old["exec.stop"],
            ParamValue::List(vec![
                "/bin/sh /etc/rc.shutdown".into(),
                "/sbin/zfs unmount -a".into()
            ])
        );
        assert_eq!(old["enforce_statfs"], ParamValue::Number(1));
        assert_eq!(old["allow.mount.zfs"], ParamValue::Flag(true));
        assert!(!old.contains_key("allow.nomount"));
        assert!(!old.contains_key("zfs.dataset"));
        let mut new = builtins();
        new.insert("enforce_statfs".into(), ParamValue::Number(0));
        add_params(&mut new, "new", "15.0-RELEASE", &one("tank/n", "/var/n"));
        assert_eq!(new["zfs.dataset"], ParamValue::List(vec!["tank/n".into()]));
        assert!(!new.contains_key("exec.created"));
        assert_eq!(
            new["enforce_statfs"],
            ParamValue::Number(0),
            "a lower value stays"
        );
        let mut none = builtins();
        add_params(&mut none, "old", "14.3-RELEASE", &[]);
        assert_eq!(none, builtins(), "a jail without datasets gets nothing");
    }

    #[test]
    fn the_hosts_datasets_and_other_jails_are_refused() {
        let d = Delegated {
            dataset: "tank/db".into(),
            path: "/var/db".into(),
        };
        let f = "jails[0].datasets[0]";
        let state = |jailed: bool, owner: Option<&str>| DelegatedState {
            filesystem: true,
            jailed,
            owner: owner.map(String::from),
            mountpoint: None,
        };
        let check = |s: Option<&DelegatedState>, parent: bool| {
            check_observed(f, "tank/jails", "www", &d, s, parent)
        };
        assert_eq!(check(None, true), Ok(Disposition::Create));
        assert!(check(None, false)
            .unwrap_err()
            .contains("parent tank does not exist"));
        assert_eq!(
            check(Some(&state(true, Some("tank/jails/www"))), true),
            Ok(Disposition::Ready)
        );
        assert!(check(Some(&state(false, None)), true)
            .unwrap_err()
            .contains("jailed=off"));
        assert!(check(Some(&state(true, Some("tank/jails/db"))), true)
            .unwrap_err()
            .contains("already delegated to another jail"));
        assert!(check(Some(&state(true, None)), true)
            .unwrap_err()
            .starts_with("jails[0].datasets[0]: tank/db is jailed"));
        let volume = DelegatedState {
            filesystem: false,
            ..state(true, Some("tank/jails/www"))
        };
        assert!(check(Some(&volume), true)
            .unwrap_err()
            .contains("not a filesystem"));
    }
}
