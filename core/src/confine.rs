//! Confinement: what a planned action may touch, checked twice.
//!
//! **While planning** ([`check_planned`], called by the pipeline for every action of
//! every stage, built-in or plugin, and by the lifecycle commands), lexically,
//! against the recipe and the world the action was planned against:
//!
//! - paths written (created, removed, mounted on) lie under the recipe's
//!   directories (`jails_dir`, `cache_dir`) or are its `jail_conf` / `rc_conf`
//!   (and their `.thinjail-*` companions); paths read may also be the recipe's own
//!   input files (an `Archive` set and its `MANIFEST`, etcupdate tarballs). Every
//!   path is absolute, without `..`;
//! - no path lies where a jail's root has the say: `<jails_dir>/<jail>/data` and
//!   below, or below `<jails_dir>/.mountpoints/<jail>` — except unmounting the
//!   root's `dev`, `proc` and `skeleton`, which are directories of the read-only
//!   base, not links into the jail's data ([`Layout::jail_controlled`]). Work in a
//!   jail's files runs inside the jail ([`Action::ExecInJail`]);
//! - URLs are `http`, `https` or `ftp`, or a `file://` URL of a path that may be read;
//! - a symbolic link points, resolved from its own directory, inside the directory
//!   that holds it (`jails_dir` or `cache_dir`), never into a jail's files;
//! - datasets (changed or read) lie under the jails dataset, and the nearest of them
//!   (or of their parents) that exists is thinjail's own ([`Layout::is_ours`]); a
//!   recursive destroy never reaches a dataset thinjail did not make; what a plan
//!   creates carries thinjail's mark, and `zfs create -p` creates no unmarked
//!   parent inside the jails dataset;
//! - `zfs set` and properties given at creation are limited to [`SETTABLE_PROPERTIES`]
//!   (plus `setuid`, `exec`, `devices` set to `off`, user properties outside the
//!   `thinjail:` namespace, and a `mountpoint` inside `jails_dir`);
//! - jails are those the caller allows (the recipe's, minus a foreign jail of the
//!   same name), and `jail -f` names the jail's own file in `jail_conf_dir` (or,
//!   for a jail an older thinjail wrote in it, the recipe's jail.conf).
//!
//! **Just before applying** ([`Confinement::check_before_apply`], in
//! [`crate::apply::apply_plan`]): the host is looked at as it is then. Every
//! component of each touched path below `jails_dir` or `cache_dir` is `lstat`ed
//! (no command runs); a symbolic link anywhere in there is refused, except as the
//! last component of a `rm -rf`, `rmdir` or `mv` source, which act on the link
//! itself. Below those directories the lexical path is then the physical one.
//! Nothing thinjail plans needs to go through a link: the skeleton links of a base
//! are only created (by their own path) and observed, never traversed.

use std::io;
use std::path::{Path, PathBuf};

use crate::action::Action;
use crate::edit::normalize;
use crate::layout::{JailArea, Layout, MANAGED_PROPERTY, ROOT_MOUNT_DIRS, SKELETON_DIR};
use crate::world::World;

/// Properties `zfs set` (or a creation's `-o`) may change to any value: how a
/// dataset stores and caches data and how much space it may use. What is left out
/// changes who can reach the data (`sharenfs`, `sharesmb`, `jailed`, `zoned`), what
/// programs on it may do (`setuid`, `exec`, `devices` — only `off` is allowed),
/// whether and where it is mounted (`canmount`, `overlay`; `mountpoint` is checked
/// apart), or makes ZFS read host files (`keylocation`, `keyformat`, `encryption`).
pub const SETTABLE_PROPERTIES: [&str; 16] = [
    "atime",
    "checksum",
    "compression",
    "copies",
    "logbias",
    "primarycache",
    "quota",
    "readonly",
    "recordsize",
    "refquota",
    "refreservation",
    "relatime",
    "reservation",
    "secondarycache",
    "sync",
    "xattr",
];

/// Properties that may only be turned off (hardening a dataset, never weakening it).
pub const OFF_ONLY_PROPERTIES: [&str; 3] = ["devices", "exec", "setuid"];

/// Why `action` may not run for this recipe: a phrase that follows "which", or
/// `Ok` when it stays inside the recipe's confinement. `world` is the world the
/// action was planned against; `may_touch_jail` says which jails it may start,
/// stop or enter.
pub fn check_planned(
    layout: &Layout<'_>,
    world: &World,
    action: &Action,
    may_touch_jail: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    let touches = action.touches();
    for path in &touches.paths {
        check_lexical(path)?;
        if !layout.owns_path(path)
            && !crate::devfs_rules::is_own_block_edit(layout.recipe(), action)
        {
            return Err(format!(
                "touches path {} outside what the recipe manages",
                path.display()
            ));
        }
        check_jail_area(layout, action, path)?;
    }
    for path in &touches.reads {
        check_lexical(path)?;
        if !layout.may_read(path) {
            return Err(format!(
                "reads path {}, which is neither under the recipe's directories nor one of its input files",
                path.display()
            ));
        }
        check_jail_area(layout, action, path)?;
    }
    for url in &touches.urls {
        check_url(layout, url)?;
    }
    check_action_specifics(layout, world, action)?;
    for dataset in touches.datasets.iter().chain(&touches.read_datasets) {
        check_dataset(layout, world, dataset)?;
    }
    for jail in &touches.jails {
        if !may_touch_jail(jail) {
            return Err(format!(
                "touches jail {jail} outside what the recipe manages"
            ));
        }
    }
    let confs: Vec<(&PathBuf, &String)> = match action {
        Action::StartJail { conf, jail, .. } | Action::StopJail { conf, jail } => {
            vec![(conf, jail)]
        }
        Action::StartJails { jails, .. } => jails.iter().map(|j| (&j.conf, &j.jail)).collect(),
        Action::StopJails { jails, .. } => jails.iter().map(|j| (&j.conf, &j.jail)).collect(),
        _ => Vec::new(),
    };
    for (conf, jail) in confs {
        // The jail's own file; the shared jail.conf only for a jail an older
        // thinjail wrote there that was not moved yet.
        if conf != &layout.jail_conf_file(jail) && conf != &layout.recipe().host.jail_conf {
            return Err(format!(
                "touches jail.conf {} outside what the recipe manages",
                conf.display()
            ));
        }
    }
    Ok(())
}

fn check_lexical(path: &Path) -> Result<(), String> {
    if path.is_absolute() && normalize(path) == path {
        Ok(())
    } else {
        Err(format!(
            "touches path {}, which is not an absolute path without `..`",
            path.display()
        ))
    }
}

fn check_jail_area(layout: &Layout<'_>, action: &Action, path: &Path) -> Result<(), String> {
    let Some(area) = layout.jail_controlled(path) else {
        return Ok(());
    };
    // A mount point of the recipe's (a directory, or the file a single-file mount
    // covers, created O_EXCL), made with every component opened O_NOFOLLOW.
    let made = match action {
        Action::MakeMountPoint { data, path } => Some((data, path, false)),
        Action::MakeMountFile { data, path } => Some((data, path, true)),
        _ => None,
    };
    if let (Some((data, point, file)), JailArea::Data { jail }) = (made, &area) {
        let declared = layout.recipe().jail(jail).is_some_and(|j| {
            j.mounts
                .iter()
                .any(|m| m.is_file() == file && m.data_relative() == point.as_str())
        });
        if declared && data == &layout.data_dir(jail) {
            return Ok(());
        }
    }
    // An extra mount of the recipe's, by the path its fstab line names: umount(8)
    // finds it in the mount table by that name and unmounts it by file system id.
    if let (Action::Unmount { .. }, JailArea::Root { jail, relative }) = (action, &area) {
        let declared = layout.recipe().jail(jail).is_some_and(|j| {
            j.mounts
                .iter()
                .any(|m| relative == &Path::new(SKELETON_DIR).join(m.data_relative()))
        });
        if declared {
            return Ok(());
        }
    }
    if let (Action::Unmount { .. }, JailArea::Root { relative, .. }) = (action, &area) {
        let mut parts = relative.components();
        let only = parts.next().and_then(|c| c.as_os_str().to_str());
        if parts.next().is_none() && only.is_some_and(|dir| ROOT_MOUNT_DIRS.contains(&dir)) {
            return Ok(());
        }
    }
    Err(format!(
        "touches {} inside jail {}'s own files (its data or its assembled root), where the jail's root \
         could send the host elsewhere with a symbolic link; work there runs inside the jail (exec_in_jail)",
        path.display(),
        area.jail()
    ))
}

fn check_url(layout: &Layout<'_>, url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("fetches {url}, which is not a URL"));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" | "ftp" => Ok(()),
        "file" => {
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            let plain = !path.contains(['%', '?', '#']);
            let path = Path::new(path);
            if plain
                && check_lexical(path).is_ok()
                && layout.may_read(path)
                && layout.jail_controlled(path).is_none()
            {
                Ok(())
            } else {
                Err(format!(
                    "fetches {url}, a file that is neither under the recipe's directories nor one of its input files"
                ))
            }
        }
        _ => Err(format!(
            "fetches {url}, which is not an http, https, ftp or file URL"
        )),
    }
}

/// Only whole rules on the jail's own subject: never another subject's, and never a
/// filter that would match more than one rule.
fn whole_rules_of(jail: &str, rules: &[String]) -> Result<(), String> {
    match rules
        .iter()
        .find(|r| match crate::resources::rctl::Rule::from_kernel(r) {
            Some(rule) => rule.jail != jail || rule.to_string() != r.as_str(),
            None => true,
        }) {
        Some(bad) => Err(format!(
            "changes the rctl rule {bad:?}, which is not a whole rule on jail:{jail}"
        )),
        None => Ok(()),
    }
}

fn check_action_specifics(
    layout: &Layout<'_>,
    world: &World,
    action: &Action,
) -> Result<(), String> {
    match action {
        Action::AddLimits { jail, rules } | Action::RemoveLimits { jail, rules } => {
            whole_rules_of(jail, rules)
        }
        Action::StopJails { jails, .. } => jails
            .iter()
            .try_for_each(|j| whole_rules_of(&j.jail, &j.remove_limits)),
        Action::LoadPfAnchor { anchor, .. } | Action::FlushPfAnchor { anchor }
            if anchor != crate::network::PF_ANCHOR =>
        {
            Err(format!(
                "changes pf anchor {anchor}, which is not thinjail's ({})",
                crate::network::PF_ANCHOR
            ))
        }
        Action::LoadPfAnchor { file, .. }
            if *file != layout.recipe().host.network.pf.anchor_file =>
        {
            Err(format!(
                "loads pf rules from {}, which is not host.network.pf.anchor_file",
                file.display()
            ))
        }
        // Never FreeBSD's rulesets nor the administrator's below thinjail's floor.
        Action::LoadDevfsRuleset { number, .. } | Action::RemoveDevfsRuleset { number }
            if *number < crate::network::DEVFS_RULESET_FLOOR =>
        {
            Err(format!(
                "changes devfs ruleset {number}, below thinjail's own ({} and up)",
                crate::network::DEVFS_RULESET_FLOOR
            ))
        }
        Action::CreateJailedDataset {
            dataset,
            jail,
            path,
            owner,
        } => {
            // Only a dataset the recipe delegates to that jail, as the recipe says.
            let recipe = layout.recipe();
            let wanted = recipe.jail(jail).is_some_and(|j| {
                j.datasets
                    .iter()
                    .any(|d| d.dataset == *dataset && d.path == *path)
            });
            if !wanted {
                return Err(format!(
                    "creates the jailed dataset {dataset}, which the recipe does not delegate to jail {jail} at {path}"
                ));
            }
            let mark = crate::resources::datasets::owner_mark(layout.jails_dataset(), jail);
            if *owner != mark {
                return Err(format!(
                    "creates the jailed dataset {dataset} for {owner}, not for jail {jail} ({mark})"
                ));
            }
            Ok(())
        }
        Action::DestroyJailedDataset { dataset, jail } => {
            // Only a dataset the recipe delegates to that jail and that the host says
            // thinjail made for it.
            let delegated = layout
                .recipe()
                .jail(jail)
                .is_some_and(|j| j.datasets.iter().any(|d| d.dataset == *dataset));
            let mark = crate::resources::datasets::owner_mark(layout.jails_dataset(), jail);
            let marked = matches!(
                world.delegated.get(dataset),
                Some(Some(state)) if state.jailed && state.owner.as_deref() == Some(mark.as_str())
            );
            if delegated && marked {
                Ok(())
            } else {
                Err(format!(
                    "destroys {dataset}, which is not a dataset thinjail delegated to jail {jail} ({}={mark}, jailed=on, in the recipe)",
                    crate::resources::datasets::OWNER_PROPERTY
                ))
            }
        }
        Action::SetCpuset { cpus, .. } => crate::resources::cpuset::CpuList::parse(cpus)
            .map(drop)
            .map_err(|e| format!("sets a CPU list that does not read: {e}")),
        Action::Symlink { link, target } => check_link_target(layout, link, target),
        Action::Ifconfig { args }
            if crate::leftover_epairs::destroys_a_leftover(layout.recipe(), world, args) =>
        {
            Ok(())
        }
        Action::Ifconfig { args } => crate::bridges::check_ifconfig(layout.recipe(), world, args),
        Action::SetProperty {
            dataset,
            property,
            value,
        } => check_property(layout, dataset, property, value),
        Action::CreateDataset {
            dataset,
            mountpoint,
            parents,
            properties,
        } => {
            if let Some(mountpoint) = mountpoint {
                check_mountpoint(layout, dataset, mountpoint)?;
            }
            if *parents {
                check_parents(layout, world, dataset)?;
            }
            check_created(layout, dataset, properties)
        }
        Action::Clone {
            target, properties, ..
        } => check_created(layout, target, properties),
        Action::DestroyDataset {
            dataset,
            recursive: true,
        } => {
            let foreign = layout.foreign_children(world, dataset);
            match foreign.first() {
                None => Ok(()),
                Some(child) => Err(format!(
                    "destroys {dataset} with everything below it, and {child} below it is not thinjail's"
                )),
            }
        }
        _ => Ok(()),
    }
}

fn check_link_target(layout: &Layout<'_>, link: &Path, target: &Path) -> Result<(), String> {
    let Some(dir) = controlled_dir_of(layout, link) else {
        return Err(format!(
            "makes a link at {}, outside the directories thinjail controls",
            link.display()
        ));
    };
    let resolved = match link.parent() {
        Some(parent) if target.is_relative() => normalize(&parent.join(target)),
        _ => normalize(target),
    };
    if !resolved.starts_with(&dir) {
        return Err(format!(
            "makes a link to {}, which resolves to {}, outside {} where the link is",
            target.display(),
            resolved.display(),
            dir.display()
        ));
    }
    if let Some(area) = layout.jail_controlled(&resolved) {
        return Err(format!(
            "makes a link to {}, which resolves into jail {}'s own files ({})",
            target.display(),
            area.jail(),
            resolved.display()
        ));
    }
    Ok(())
}

fn controlled_dir_of(layout: &Layout<'_>, path: &Path) -> Option<PathBuf> {
    layout
        .controlled_dirs()
        .into_iter()
        .filter(|dir| path.starts_with(dir))
        .max_by_key(|dir| dir.components().count())
}

fn check_mountpoint(layout: &Layout<'_>, dataset: &str, mountpoint: &Path) -> Result<(), String> {
    check_lexical(mountpoint)?;
    let jails_dir = layout.jails_dir();
    if !mountpoint.starts_with(jails_dir) {
        return Err(format!(
            "mounts {dataset} at {}, outside {}",
            mountpoint.display(),
            jails_dir.display()
        ));
    }
    if let Some(area) = layout.jail_controlled(mountpoint) {
        return Err(format!(
            "mounts {dataset} at {}, inside jail {}'s own files",
            mountpoint.display(),
            area.jail()
        ));
    }
    Ok(())
}

fn check_property(
    layout: &Layout<'_>,
    dataset: &str,
    property: &str,
    value: &str,
) -> Result<(), String> {
    let well_formed = property.starts_with(|c: char| c.is_ascii_lowercase())
        && property.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | ':' | '-')
        });
    if !well_formed {
        return Err(format!("sets {property:?}, which is not a property name"));
    }
    if property == "mountpoint" {
        return match value {
            "none" => Ok(()),
            path => check_mountpoint(layout, dataset, Path::new(path)),
        };
    }
    if property.starts_with("thinjail:") {
        return Err(format!(
            "sets {property}, thinjail's own mark, which only dataset creation and the administrator set"
        ));
    }
    let user_property = property.contains(':');
    let settable = SETTABLE_PROPERTIES.contains(&property)
        || (OFF_ONLY_PROPERTIES.contains(&property) && value == "off");
    if user_property || settable {
        Ok(())
    } else if OFF_ONLY_PROPERTIES.contains(&property) {
        Err(format!(
            "sets {property}={value}: {property} may only be turned off"
        ))
    } else {
        Err(format!(
            "sets {property}, which no stage may set (settable: {}; {} only to off; user properties)",
            SETTABLE_PROPERTIES.join(", "),
            OFF_ONLY_PROPERTIES.join(", ")
        ))
    }
}

fn check_created(
    layout: &Layout<'_>,
    dataset: &str,
    properties: &std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    if properties.get(MANAGED_PROPERTY).map(String::as_str) != Some(layout.jails_dataset()) {
        return Err(format!(
            "creates {dataset} without thinjail's mark ({MANAGED_PROPERTY}={}), so no later run would take it as thinjail's",
            layout.jails_dataset()
        ));
    }
    for (property, value) in properties {
        if property == MANAGED_PROPERTY {
            continue;
        }
        if property == "mountpoint" {
            return Err(format!(
                "sets mountpoint among the properties of {dataset}; a creation's mountpoint is its own member"
            ));
        }
        check_property(layout, dataset, property, value)?;
    }
    Ok(())
}

/// `zfs create -p` makes missing parents without any property: none of them may
/// lie inside the jails dataset, where they would be datasets without thinjail's mark.
fn check_parents(layout: &Layout<'_>, world: &World, dataset: &str) -> Result<(), String> {
    let root = layout.jails_dataset();
    let Some((parent, _)) = dataset.rsplit_once('/') else {
        return Ok(());
    };
    let inside = parent == root || parent.starts_with(&format!("{root}/"));
    if inside && !world.has_dataset(parent) {
        return Err(format!(
            "creates {dataset} with `-p`, which would make {parent} without thinjail's mark"
        ));
    }
    Ok(())
}

fn check_dataset(layout: &Layout<'_>, world: &World, dataset: &str) -> Result<(), String> {
    if !layout.owns_dataset(dataset) {
        return Err(format!(
            "touches dataset {dataset} outside what the recipe manages"
        ));
    }
    let root = layout.jails_dataset();
    let mut current = dataset.split('@').next().unwrap_or(dataset);
    loop {
        if world.has_dataset(current) {
            if layout.is_ours(world, current) {
                return Ok(());
            }
            return Err(format!(
                "touches dataset {dataset}, and {current} is not thinjail's (it has no {MANAGED_PROPERTY}={root} of its own)"
            ));
        }
        match current.rsplit_once('/') {
            Some((parent, _)) if current != root => current = parent,
            _ => return Ok(()),
        }
    }
}

/// Why the host may not look where `probes` asks (a phrase that follows "which"):
/// no ordinary probe (a path's kind, a file's contents, a directory's listing, a
/// jail.conf file) lies in a jail's own files, where the host would follow the jail's
/// symbolic links in the components above the path; those are asked with
/// [`Probes::beneath`](crate::probes::Probes::beneath), whose root is a jail's data
/// (its mount point) or a path outside every jail's files, and whose relative path
/// is plain names.
pub fn check_probes(layout: &Layout<'_>, probes: &crate::probes::Probes) -> Result<(), String> {
    let ordinary = probes
        .paths
        .iter()
        .chain(&probes.files)
        .chain(&probes.dirs)
        .chain(probes.jail_confs.iter().map(|c| &c.file));
    for path in ordinary {
        if let Some(area) = layout.jail_controlled(path) {
            return Err(format!(
                "asks the host to look at {} inside jail {}'s own files, where the jail's root could send the \
                 host elsewhere with a symbolic link on the way; a stage looks there with Probes::beneath \
                 (no link followed) or inside the jail",
                path.display(),
                area.jail()
            ));
        }
    }
    for probe in &probes.beneath {
        let plain = probe
            .relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
            && !probe.relative.as_os_str().is_empty();
        let root_ok = check_lexical(&probe.root).is_ok()
            && match layout.jail_controlled(&probe.root) {
                None => true,
                Some(area) => probe.root == layout.data_dir(area.jail()),
            };
        if !plain || !root_ok {
            return Err(format!(
                "asks the host to look below {} at {}: the root must be a jail's data or lie outside every jail's \
                 files, and the path below it plain names",
                probe.root.display(),
                probe.relative.display()
            ));
        }
    }
    Ok(())
}

/// The check made on the host just before each action runs (see the module's
/// documentation): no symbolic link below `jails_dir` or `cache_dir` in any path
/// the action touches.
#[derive(Clone, Debug)]
pub struct Confinement {
    dirs: Vec<PathBuf>,
}

impl Confinement {
    /// The confinement of `layout`'s recipe.
    pub fn new(layout: &Layout<'_>) -> Self {
        let mut dirs = layout.controlled_dirs();
        // The deepest directory holding a path is the one to walk from.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        Confinement { dirs }
    }

    /// Refuses `action` when a path it touches goes through a symbolic link below
    /// a controlled directory, as the host is now. `lstat`s only: no command runs.
    pub fn check_before_apply(&self, action: &Action) -> Result<(), String> {
        let touches = action.touches();
        for path in touches.paths.iter().chain(&touches.reads) {
            let Some(dir) = self.dirs.iter().find(|d| path.starts_with(d)) else {
                continue;
            };
            let acts_on_link = match action {
                Action::Remove { path: p } | Action::RemoveDir { path: p } => p == path,
                Action::Rename { from, .. } => from == path,
                _ => false,
            };
            check_components(dir, path, acts_on_link)?;
        }
        Ok(())
    }
}

/// Walks `path` from `dir` down, one `lstat` per component, stopping where the
/// path stops existing.
fn check_components(dir: &Path, path: &Path, last_may_be_link: bool) -> Result<(), String> {
    let Ok(below) = path.strip_prefix(dir) else {
        return Ok(());
    };
    let mut current = dir.to_path_buf();
    for component in below.components() {
        current.push(component);
        let metadata = match std::fs::symlink_metadata(&current) {
            Ok(m) => m,
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(nix::errno::Errno::ENOTDIR as i32) =>
            {
                return Ok(());
            }
            Err(e) => return Err(format!("cannot look at {}: {e}", current.display())),
        };
        if metadata.file_type().is_symlink() {
            if current == path && last_may_be_link {
                return Ok(());
            }
            let target = std::fs::read_link(&current)
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "?".into());
            return Err(format!(
                "{} is a symbolic link (to {target}), and thinjail goes through no link below {}",
                current.display(),
                dir.display()
            ));
        }
        if !metadata.is_dir() {
            // A file in the middle: nothing can be below it; the action fails by itself.
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::apply_plan;
    use crate::edit::FileEdit;
    use crate::host::{FreeBsdHost, HostError};
    use crate::pipeline::{Plan, StagePlan, StageSource};
    use crate::recipe::Recipe;
    use crate::stage::Planned;
    use std::collections::BTreeMap;

    fn recipe_in(jails_dir: &Path, cache_dir: &Path) -> Recipe {
        Recipe::from_ron(
            &format!(
                r#"(host: (jails_dir: "{}", cache_dir: "{}"),
                    releases: [(name: "14.3-RELEASE", install: Archive(path: "/srv/base.txz", manifest: "/srv/MANIFEST"))],
                    jails: [(name: "www", release: "14.3-RELEASE")])"#,
                jails_dir.display(),
                cache_dir.display()
            ),
            "test",
        )
        .unwrap()
    }

    fn recipe() -> Recipe {
        recipe_in(
            Path::new("/usr/local/jails"),
            Path::new("/var/cache/thinjail"),
        )
    }

    /// A world where thinjail made the jails dataset, a base and jail `www`.
    fn ours() -> World {
        let mut world = World::empty();
        for name in [
            "zroot/jails",
            "zroot/jails/base",
            "zroot/jails/base/14.3-RELEASE-template",
            "zroot/jails/www",
            "zroot/jails/www/data",
        ] {
            let mountpoint = (name == "zroot/jails").then(|| Path::new("/usr/local/jails"));
            world.add_filesystem(name, mountpoint, None);
            world.set_managed(name, Some("zroot/jails".into()));
        }
        world.add_snapshot("zroot/jails/base/14.3-RELEASE-template", "gold");
        world
    }

    fn check(recipe: &Recipe, world: &World, action: Action) -> Result<(), String> {
        check_planned(&Layout::new(recipe), world, &action, &|jail| jail == "www")
    }

    fn refused(recipe: &Recipe, world: &World, action: Action, expected: &str) {
        let described = action.describe();
        match check(recipe, world, action) {
            Err(reason) => assert!(reason.contains(expected), "{described}: {reason}"),
            Ok(()) => panic!("{described} was allowed"),
        }
    }

    fn p(path: &str) -> PathBuf {
        PathBuf::from(path)
    }

    #[test]
    fn reads_outside_the_recipe_are_refused() {
        let (recipe, world) = (recipe(), ours());
        let outside = "neither under the recipe's directories nor one of its input files";
        refused(
            &recipe,
            &world,
            Action::CopyTree {
                from: p("/etc"),
                to: p("/usr/local/jails/base/14.3-RELEASE-template/hostetc"),
            },
            outside,
        );
        refused(
            &recipe,
            &world,
            Action::Extract {
                archive: p("/root/secrets.txz"),
                dest: p("/usr/local/jails/base/14.3-RELEASE-base"),
            },
            outside,
        );
        refused(
            &recipe,
            &world,
            Action::VerifyChecksum {
                file: p("/var/cache/thinjail/base.txz"),
                manifest: p("/etc/master.passwd"),
                delete_bad: false,
            },
            outside,
        );
        refused(
            &recipe,
            &world,
            Action::Download {
                url: "file:///etc/master.passwd".into(),
                dest: p("/var/cache/thinjail/passwd"),
            },
            "file that is neither",
        );
        refused(
            &recipe,
            &world,
            Action::Download {
                url: "file:///var/cache/thinjail/%2e%2e/%2e%2e/etc/master.passwd".into(),
                dest: p("/var/cache/thinjail/passwd"),
            },
            "file that is neither",
        );
        refused(
            &recipe,
            &world,
            Action::Download {
                url: "gopher://example.org/base.txz".into(),
                dest: p("/var/cache/thinjail/base.txz"),
            },
            "not an http, https, ftp or file URL",
        );
        refused(
            &recipe,
            &world,
            Action::Bsdinstall {
                dest: p("/usr/local/jails/base/14.3-RELEASE-base"),
                distdir: p("/var/cache/thinjail/14.3"),
                distsite: Some("file:///root".into()),
                sets: vec!["base.txz".into()],
            },
            "file that is neither",
        );
        refused(
            &recipe,
            &world,
            Action::SendReceive {
                dataset: "zroot/usr/home".into(),
                snapshot: "now".into(),
                target: "zroot/jails/www/home".into(),
            },
            "dataset zroot/usr/home@now outside what the recipe manages",
        );
        refused(
            &recipe,
            &world,
            Action::Clone {
                dataset: "zroot/ROOT/default".into(),
                snapshot: "now".into(),
                target: "zroot/jails/www/root".into(),
                properties: Layout::new(&recipe).managed_properties(),
            },
            "dataset zroot/ROOT/default@now outside",
        );
        // The recipe's own inputs may be read, not written.
        check(
            &recipe,
            &world,
            Action::VerifyChecksum {
                file: p("/srv/base.txz"),
                manifest: p("/srv/MANIFEST"),
                delete_bad: false,
            },
        )
        .unwrap();
        refused(
            &recipe,
            &world,
            Action::VerifyChecksum {
                file: p("/srv/base.txz"),
                manifest: p("/srv/MANIFEST"),
                delete_bad: true,
            },
            "touches path /srv/base.txz outside",
        );
        // template.files' host files (by default resolv.conf and localtime) may be
        // copied into the template; other host files may not.
        let template = p("/usr/local/jails/base/14.3-RELEASE-template/etc");
        check(
            &recipe,
            &world,
            Action::CopyFile {
                from: p("/etc/resolv.conf"),
                to: template.join("resolv.conf"),
            },
        )
        .unwrap();
        refused(
            &recipe,
            &world,
            Action::CopyFile {
                from: p("/etc/master.passwd"),
                to: template.join("master.passwd"),
            },
            outside,
        );
        for url in [
            "https://download.freebsd.org/releases/amd64/amd64/14.3-RELEASE/base.txz",
            "file:///srv/base.txz",
            "file:///var/cache/thinjail/mirror/base.txz",
        ] {
            check(
                &recipe,
                &world,
                Action::Download {
                    url: url.into(),
                    dest: p("/var/cache/thinjail/base.txz"),
                },
            )
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }

    #[test]
    fn properties_are_limited_and_mountpoints_stay_in_jails_dir() {
        let (recipe, world) = (recipe(), ours());
        let set = |property: &str, value: &str| Action::SetProperty {
            dataset: "zroot/jails/www/data".into(),
            property: property.into(),
            value: value.into(),
        };
        refused(
            &recipe,
            &world,
            set("mountpoint", "/"),
            "touches path / outside",
        );
        refused(
            &recipe,
            &world,
            set("mountpoint", "/var/cache/thinjail/x"),
            "outside /usr/local/jails",
        );
        refused(
            &recipe,
            &world,
            set("mountpoint", "/usr/local/jails/www/data/etc"),
            "inside jail www's own files",
        );
        refused(
            &recipe,
            &world,
            set("sharenfs", "on"),
            "which no stage may set",
        );
        refused(
            &recipe,
            &world,
            set("jailed", "on"),
            "which no stage may set",
        );
        refused(
            &recipe,
            &world,
            set("canmount", "noauto"),
            "which no stage may set",
        );
        refused(
            &recipe,
            &world,
            set("keylocation", "file:///etc/master.passwd"),
            "which no stage may set",
        );
        refused(
            &recipe,
            &world,
            set("setuid", "on"),
            "may only be turned off",
        );
        refused(&recipe, &world, set("exec", "on"), "may only be turned off");
        refused(
            &recipe,
            &world,
            set("thinjail:managed", "zroot/jails"),
            "thinjail's own mark",
        );
        refused(&recipe, &world, set("-r", "x"), "not a property name");
        for (property, value) in [
            ("compression", "lz4"),
            ("quota", "10G"),
            ("setuid", "off"),
            ("exec", "off"),
            ("org.example:role", "web"),
            ("mountpoint", "/usr/local/jails/www/elsewhere"),
        ] {
            check(&recipe, &world, set(property, value))
                .unwrap_or_else(|e| panic!("{property}={value}: {e}"));
        }
    }

    #[test]
    fn links_resolve_inside_the_directory_that_holds_them() {
        let (recipe, world) = (recipe(), ours());
        let base = "/usr/local/jails/base/14.3-RELEASE-base";
        let link = |at: &str, target: &str| Action::Symlink {
            link: p(&format!("{base}/{at}")),
            target: p(target),
        };
        // The article's skeleton links, relative to the link's own directory.
        for (at, target) in [
            ("etc", "./skeleton/etc"),
            ("usr/home", "../skeleton/usr/home"),
            ("usr/local/etc", "../../skeleton/usr/local/etc"),
        ] {
            check(&recipe, &world, link(at, target)).unwrap_or_else(|e| panic!("{at}: {e}"));
        }
        refused(
            &recipe,
            &world,
            link("etc", "/etc"),
            "resolves to /etc, outside /usr/local/jails",
        );
        refused(
            &recipe,
            &world,
            link("usr/home", "/skeleton/usr/home"),
            "outside /usr/local/jails",
        );
        refused(
            &recipe,
            &world,
            link("etc", "../../../../../etc"),
            "resolves to /etc",
        );
        refused(
            &recipe,
            &world,
            link("etc", "../../www/data/etc"),
            "into jail www's own files",
        );
        refused(
            &recipe,
            &world,
            Action::Symlink {
                link: p("/etc/jail.conf"),
                target: p("/usr/local/jails/jail.conf"),
            },
            "outside the directories thinjail controls",
        );
    }

    #[test]
    fn nothing_on_the_host_touches_a_jails_own_files_by_path() {
        let (recipe, world) = (recipe(), ours());
        let inside = "inside jail www's own files";
        refused(
            &recipe,
            &world,
            Action::WriteFile {
                path: p("/usr/local/jails/www/data/etc/rc.conf"),
                contents: "sshd_enable=YES\n".into(),
                mode: 0o644,
            },
            inside,
        );
        refused(
            &recipe,
            &world,
            Action::EditFile {
                path: p("/usr/local/jails/www/data/etc/rc.conf"),
                edit: FileEdit::SetRcVar {
                    name: "x".into(),
                    value: "1".into(),
                },
            },
            inside,
        );
        refused(
            &recipe,
            &world,
            Action::CopyTree {
                from: p("/usr/local/jails/www/data/root"),
                to: p("/var/cache/thinjail/root-of-www"),
            },
            inside,
        );
        refused(
            &recipe,
            &world,
            Action::MakeDir {
                path: p("/usr/local/jails/.mountpoints/www/usr/local/etc"),
            },
            inside,
        );
        refused(
            &recipe,
            &world,
            Action::Unmount {
                path: p("/usr/local/jails/.mountpoints/www/etc"),
            },
            inside,
        );
        refused(
            &recipe,
            &world,
            Action::RemoveDir {
                path: p("/usr/local/jails/.mountpoints/www/skeleton"),
            },
            inside,
        );
        // What thinjail must do there, and can do safely: the root directory itself,
        // and unmounting the base's own dev, proc and skeleton directories.
        for action in [
            Action::MakeDir {
                path: p("/usr/local/jails/.mountpoints/www"),
            },
            Action::RemoveDir {
                path: p("/usr/local/jails/.mountpoints/www"),
            },
            Action::Unmount {
                path: p("/usr/local/jails/.mountpoints/www"),
            },
            Action::Unmount {
                path: p("/usr/local/jails/.mountpoints/www/dev"),
            },
            Action::Unmount {
                path: p("/usr/local/jails/.mountpoints/www/proc"),
            },
            Action::Unmount {
                path: p("/usr/local/jails/.mountpoints/www/skeleton"),
            },
            Action::WriteFile {
                path: p("/usr/local/jails/www/fstab"),
                contents: String::new(),
                mode: 0o644,
            },
            Action::ExecInJail {
                jail: "www".into(),
                argv: vec!["etcupdate".into(), "-t".into(), "/usr/share/x.txz".into()],
            },
            Action::Snapshot {
                dataset: "zroot/jails/www/data".into(),
                snapshot: "before".into(),
            },
        ] {
            let described = action.describe();
            check(&recipe, &world, action).unwrap_or_else(|e| panic!("{described}: {e}"));
        }
    }

    /// `thinjail upgrade` used to run `etcupdate -D <data>` on the host (etcupdate
    /// opens `$DESTDIR/var/db/etcupdate/log` and writes below `$DESTDIR/etc` following
    /// the jail's links); that action is gone: the merge runs inside the jail. The
    /// host-side steps that build etcupdate trees are refused in a jail's data.
    #[test]
    fn etcupdate_work_runs_inside_the_jail_never_in_its_data() {
        let (recipe, world) = (recipe(), ours());
        refused(
            &recipe,
            &world,
            Action::TrimEtcupdateTree {
                tree: p("/usr/local/jails/www/data/var/db/etcupdate/current"),
            },
            "inside jail www's own files",
        );
        refused(
            &recipe,
            &world,
            Action::ArchiveTree {
                tree: p("/usr/local/jails/www/data/etc"),
                archive: p(
                    "/usr/local/jails/base/14.3-RELEASE-base/usr/share/thinjail/etcupdate.txz",
                ),
            },
            "inside jail www's own files",
        );
        check(
            &recipe,
            &world,
            Action::EtcupdateInJail {
                jail: "www".into(),
                command: crate::action::EtcupdateCommand::Update,
                tarball: p("/usr/share/thinjail/etcupdate.txz"),
            },
        )
        .unwrap();
    }

    /// The pkg plugin's `installs` check used to ask the host to lstat a path in a
    /// jail's data, resolving the components above it through the jail's links.
    /// Probes there are refused unless they are looks below the data that follow
    /// nothing; the pipeline never observes a refused stage's probes and refuses it.
    #[test]
    fn the_host_looks_into_a_jails_files_only_without_following_links() {
        let recipe = recipe();
        let layout = Layout::new(&recipe);
        let probed = |build: &dyn Fn(&mut crate::probes::Probes)| {
            let mut probes = crate::probes::Probes::default();
            build(&mut probes);
            check_probes(&layout, &probes)
        };
        let inside = "inside jail www's own files";
        for path in [
            "/usr/local/jails/www/data/usr/local/sbin/nginx",
            "/usr/local/jails/www/data",
            "/usr/local/jails/.mountpoints/www/etc/rc.conf",
        ] {
            let kind = probed(&|p| {
                p.path(path);
            });
            assert!(
                kind.as_ref().is_err_and(|e| e.contains(inside)),
                "{path}: {kind:?}"
            );
            let file = probed(&|p| {
                p.file(path);
            });
            assert!(file.is_err(), "{path}");
            let dir = probed(&|p| {
                p.dirs.insert(path.into());
            });
            assert!(dir.is_err(), "{path}");
        }
        // Host paths, and the jail's own root directory and fstab, are fine.
        for path in [
            "/usr/local/jails/www/fstab",
            "/usr/local/jails/.mountpoints/www",
            "/etc/rc.conf",
        ] {
            assert_eq!(
                probed(&|p| {
                    p.path(path);
                }),
                Ok(()),
                "{path}"
            );
        }
        // Below the data, nothing followed: fine; a root inside the data, or a path
        // with `..`, is not.
        assert_eq!(
            probed(&|p| {
                p.beneath("/usr/local/jails/www/data", "usr/local/sbin/nginx");
            }),
            Ok(())
        );
        for (root, relative) in [
            ("/usr/local/jails/www/data/usr", "local/sbin/nginx"),
            ("/usr/local/jails/www/data", "../fstab"),
            ("/usr/local/jails/www/data", "/etc/passwd"),
            ("/usr/local/jails/www/data", ""),
        ] {
            assert!(
                probed(&|p| {
                    p.beneath(root, relative);
                })
                .is_err(),
                "{root} {relative}"
            );
        }

        // A stage asking for one: not observed, and refused when planning.
        struct Nosy;
        impl crate::stage::Stage for Nosy {
            fn name(&self) -> &str {
                "nosy"
            }
            fn summary(&self) -> &str {
                "looks into a jail's data by path"
            }
            fn probes(&self, _ctx: &crate::stage::StageContext<'_>) -> crate::probes::Probes {
                let mut probes = crate::probes::Probes::default();
                probes.file("/usr/local/jails/www/data/etc/master.passwd");
                probes
            }
            fn plan(
                &self,
                _ctx: &crate::stage::StageContext<'_>,
                _world: &World,
            ) -> Result<Vec<Planned>, crate::stage::StageError> {
                Ok(Vec::new())
            }
        }
        let pipeline = crate::pipeline::Pipeline::new(vec![crate::pipeline::PipelineStage {
            stage: Box::new(Nosy),
            source: StageSource::Builtin {
                provider: "test".into(),
            },
        }]);
        let request = pipeline.observation(&recipe);
        assert!(
            !request
                .probes
                .files
                .contains(Path::new("/usr/local/jails/www/data/etc/master.passwd")),
            "{request:?}"
        );
        let refusal = pipeline.plan(&recipe, &World::empty()).unwrap_err();
        assert!(
            matches!(&refusal, crate::pipeline::PlanError::ProbeConfinement { stage, .. } if stage == "nosy"),
            "{refusal}"
        );
        assert!(refusal.to_string().starts_with(
            "stage nosy asks the host to look at /usr/local/jails/www/data/etc/master.passwd inside jail www's own files"
        ), "{refusal}");
    }

    #[test]
    fn datasets_must_be_thinjails_own() {
        let recipe = recipe();
        let mut world = ours();
        // The Handbook's layout under the same jails dataset, made by hand.
        world.add_filesystem("zroot/jails/containers", None, None);
        world.add_filesystem("zroot/jails/www/backup", None, None);
        refused(
            &recipe,
            &world,
            Action::DestroyDataset {
                dataset: "zroot/jails/containers".into(),
                recursive: false,
            },
            "zroot/jails/containers is not thinjail's",
        );
        refused(
            &recipe,
            &world,
            Action::CreateDataset {
                dataset: "zroot/jails/containers/data".into(),
                mountpoint: None,
                parents: false,
                properties: Layout::new(&recipe).managed_properties(),
            },
            "zroot/jails/containers is not thinjail's",
        );
        refused(
            &recipe,
            &world,
            Action::DestroyDataset {
                dataset: "zroot/jails/www".into(),
                recursive: true,
            },
            "zroot/jails/www/backup below it is not thinjail's",
        );
        refused(
            &recipe,
            &world,
            Action::CreateDataset {
                dataset: "zroot/jails/db".into(),
                mountpoint: None,
                parents: false,
                properties: BTreeMap::new(),
            },
            "without thinjail's mark",
        );
        refused(
            &recipe,
            &world,
            Action::CreateDataset {
                dataset: "zroot/jails/a/b".into(),
                mountpoint: None,
                parents: true,
                properties: Layout::new(&recipe).managed_properties(),
            },
            "would make zroot/jails/a without thinjail's mark",
        );
        refused(
            &recipe,
            &world,
            Action::CreateDataset {
                dataset: "zroot/jails/db".into(),
                mountpoint: Some(p("/etc")),
                parents: false,
                properties: Layout::new(&recipe).managed_properties(),
            },
            "outside",
        );
        check(
            &recipe,
            &world,
            Action::CreateDataset {
                dataset: "zroot/jails/db".into(),
                mountpoint: None,
                parents: false,
                properties: Layout::new(&recipe).managed_properties(),
            },
        )
        .unwrap();
        // A dataset marked for another jails dataset is not ours either.
        world.set_managed(
            "zroot/jails/containers",
            Some("zroot/jails/containers".into()),
        );
        refused(
            &recipe,
            &world,
            Action::Snapshot {
                dataset: "zroot/jails/containers".into(),
                snapshot: "x".into(),
            },
            "is not thinjail's",
        );
    }

    fn plan_of(actions: Vec<Action>) -> Plan {
        Plan {
            stages: vec![StagePlan {
                stage: "test".into(),
                summary: String::new(),
                article_step: None,
                source: StageSource::Builtin {
                    provider: "test".into(),
                },
                actions: actions.into_iter().map(Planned::new).collect(),
            }],
        }
    }

    /// A link planted below `jails_dir`, where a planned action would go through it:
    /// refused before the action runs, and what the link points at stays as it was.
    #[test]
    fn a_link_below_the_jails_directory_is_never_followed() {
        let scratch = tempfile::tempdir().unwrap();
        let jails_dir = scratch.path().join("jails");
        let canary = scratch.path().join("canary");
        std::fs::create_dir_all(jails_dir.join("base/14.3-RELEASE-template")).unwrap();
        std::fs::create_dir_all(&canary).unwrap();
        std::fs::write(canary.join("keep"), "host file\n").unwrap();
        std::os::unix::fs::symlink(&canary, jails_dir.join("base/14.3-RELEASE-template/usr"))
            .unwrap();
        let recipe = recipe_in(&jails_dir, &scratch.path().join("cache"));
        let layout = Layout::new(&recipe);
        let confinement = Confinement::new(&layout);
        let through_link = jails_dir.join("base/14.3-RELEASE-template/usr/home");
        let plan = plan_of(vec![Action::MakeDir {
            path: through_link.clone(),
        }]);
        // Lexically it is fine: only the host, as it is now, shows the link.
        check_planned(
            &layout,
            &World::empty(),
            &plan.stages[0].actions[0].action,
            &|_| true,
        )
        .unwrap();
        let failure = apply_plan(&plan, &mut FreeBsdHost::new(), &confinement, &mut |_| {})
            .expect_err("refused");
        match &failure.error {
            HostError::Confinement(reason) => {
                assert!(reason.contains("usr is a symbolic link"), "{reason}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(failure.report.commands, 0, "nothing ran");
        let names: Vec<_> = std::fs::read_dir(&canary)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["keep"], "nothing was made through the link");

        // Removing the link itself is fine (rm -rf does not follow it), and the
        // directories above jails_dir are the administrator's to link.
        let link = jails_dir.join("base/14.3-RELEASE-template/usr");
        confinement
            .check_before_apply(&Action::Remove { path: link.clone() })
            .unwrap();
        let linked_dir = scratch.path().join("linked-jails");
        std::os::unix::fs::symlink(&jails_dir, &linked_dir).unwrap();
        let recipe = recipe_in(&linked_dir, &scratch.path().join("cache"));
        Confinement::new(&Layout::new(&recipe))
            .check_before_apply(&Action::MakeDir {
                path: linked_dir.join("base/x"),
            })
            .unwrap();
        std::fs::remove_file(&link).unwrap();
        confinement
            .check_before_apply(&Action::MakeDir { path: through_link })
            .unwrap();
    }
}
