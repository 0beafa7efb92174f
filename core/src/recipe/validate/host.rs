//! The `host` section.

use std::path::{Path, PathBuf};

use super::{
    check_absolute_path, check_dataset_name, check_host_dir, check_host_file, check_interface,
    check_jail_visible_path, Collector,
};
use crate::recipe::{HostConfig, Recipe};

/// The host section: every path absolute and clean, `jails_dir` readable by jail(8)
/// and not a system directory, thinjail's own files distinct and none of them a
/// system file, nothing the host trusts inside `jails_dir` (a jail's root owns what
/// is in there).
pub(super) fn check_host(recipe: &Recipe, c: &mut Collector) {
    let host = &recipe.host;
    c.check(
        "host.jails_dataset",
        &host.jails_dataset,
        check_dataset_name(&host.jails_dataset),
    );
    if !host.jails_dataset.contains('/') {
        c.check(
            "host.jails_dataset",
            &host.jails_dataset,
            Err("use a dataset inside the pool (like zroot/jails), not the pool itself".into()),
        );
    }
    for (field, path) in [
        ("host.jails_dir", &host.jails_dir),
        ("host.jail_conf", &host.jail_conf),
        ("host.jail_conf_dir", &host.jail_conf_dir),
        ("host.rc_conf", &host.rc_conf),
        ("host.cache_dir", &host.cache_dir),
        ("host.lock_file", &host.lock_file),
        ("host.plugin_dir", &host.plugin_dir),
    ] {
        c.check(
            field,
            &path.display().to_string(),
            check_absolute_path(path),
        );
    }
    // `/` is the running system's root: the one host path that may be the root.
    if host.system_root != Path::new("/") {
        c.check(
            "host.system_root",
            &host.system_root.display().to_string(),
            check_absolute_path(&host.system_root),
        );
    }
    let jails_dir = host.jails_dir.display().to_string();
    c.check(
        "host.jails_dir",
        &jails_dir,
        check_jail_visible_path(&host.jails_dir),
    );
    c.check(
        "host.jails_dir",
        &jails_dir,
        check_host_dir(&host.jails_dir),
    );
    c.check(
        "host.cache_dir",
        &host.cache_dir.display().to_string(),
        check_host_dir(&host.cache_dir),
    );
    c.check(
        "host.jail_conf_dir",
        &host.jail_conf_dir.display().to_string(),
        check_host_dir(&host.jail_conf_dir),
    );
    // thinjail names its files there after jails, and rc(8) reads them as jail.conf.
    for (field, path) in host_files(host) {
        if path.starts_with(&host.jail_conf_dir) {
            c.check(
                field,
                &path.display().to_string(),
                Err(format!(
                    "must not be inside host.jail_conf_dir ({}), where thinjail keeps one file per jail",
                    host.jail_conf_dir.display()
                )),
            );
        }
    }
    // The boot configuration thinjail reads and writes is the system's below its root.
    for (field, path) in [
        ("host.jail_conf", &host.jail_conf),
        ("host.jail_conf_dir", &host.jail_conf_dir),
        ("host.rc_conf", &host.rc_conf),
    ] {
        if !path.starts_with(&host.system_root) {
            c.check(
                field,
                &path.display().to_string(),
                Err(format!(
                    "must be inside host.system_root ({}), the system whose boot configuration it is",
                    host.system_root.display()
                )),
            );
        }
    }
    for (field, path) in host_files(host) {
        c.check(field, &path.display().to_string(), check_host_file(path));
    }
    // A lock is run-time state (hier(7): /var/run), never a configuration file.
    for config_dir in ["/etc", "/usr/local/etc"] {
        if host.lock_file.starts_with(config_dir) {
            c.check(
                "host.lock_file",
                &host.lock_file.display().to_string(),
                Err(format!(
                    "a lock file does not belong in {config_dir}; use /var/run/thinjail.lock"
                )),
            );
        }
    }
    for (field, path) in [
        ("host.jail_conf", &host.jail_conf),
        ("host.jail_conf_dir", &host.jail_conf_dir),
        ("host.rc_conf", &host.rc_conf),
        ("host.cache_dir", &host.cache_dir),
        ("host.lock_file", &host.lock_file),
        ("host.plugin_dir", &host.plugin_dir),
        ("host.network.pf.anchor_file", &host.network.pf.anchor_file),
    ] {
        check_outside_jails_dir(c, field, path, &host.jails_dir);
    }
    let files = [
        ("host.jail_conf", &host.jail_conf),
        ("host.rc_conf", &host.rc_conf),
        ("host.lock_file", &host.lock_file),
    ];
    for (i, (field, path)) in files.iter().enumerate() {
        if let Some((other, _)) = files[..i].iter().find(|(_, p)| p == path) {
            c.check(
                *field,
                &path.display().to_string(),
                Err(format!("must differ from {other}")),
            );
        }
    }
    if let Some(interface) = &host.interface {
        c.check("host.interface", interface, check_interface(interface));
    }
}

/// A path the host trusts (reads as its own configuration, or writes) must not be
/// where a jail's root can put files or links: anywhere inside `jails_dir`.
pub(super) fn check_outside_jails_dir(
    c: &mut Collector,
    field: &str,
    path: &Path,
    jails_dir: &Path,
) {
    if path.starts_with(jails_dir) {
        c.check(
            field,
            &path.display().to_string(),
            Err(format!(
                "must not be inside host.jails_dir ({}), where jails' root users control files",
                jails_dir.display()
            )),
        );
    }
}

/// The host files thinjail reads and writes besides its per-jail files, with their
/// fields.
fn host_files(host: &HostConfig) -> [(&'static str, &PathBuf); 4] {
    [
        ("host.jail_conf", &host.jail_conf),
        ("host.rc_conf", &host.rc_conf),
        ("host.lock_file", &host.lock_file),
        ("host.network.pf.anchor_file", &host.network.pf.anchor_file),
    ]
}
