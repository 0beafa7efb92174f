//! # thinjail-stage-skeleton
//!
//! Turns an installed base into the article's pair (steps 2–4):
//!
//! 1. moves each jail-specific path (`etc`, `usr/home`, `usr/local`, `root`, `tmp`,
//!    `var` by default) from the base into the template, records the release's
//!    etcupdate tree (its `etc`, `root` and `var` as moved, trimmed as etcupdate trims
//!    its trees) as the tarball `usr/share/thinjail/etcupdate.txz` in the base and as
//!    the baseline `var/db/etcupdate/current` in the template, writes the template's
//!    rc.conf values and snapshots the template `@gold`;
//! 2. makes the `skeleton` directory in the base, links each moved path into it with
//!    the relative targets the article's note explains, and snapshots the base `@gold`.
//!
//! It also writes `template.files` into the template before `@gold` (by default the
//! host's `/etc/resolv.conf` and `/etc/localtime`, which base.txz lacks and
//! bsdinstall's jail script copies), and links the base's `/home` to the
//! jail-specific `usr/home` so `pw useradd -m` works inside a jail.
//!
//! Where the article is wrong, this stage does better and says so in the plan:
//! - a move between datasets is a copy plus a delete; it is done as copy to a
//!   temporary name, atomic rename, then delete, so an interruption at any point is
//!   finished by the next run with nothing lost or duplicated;
//! - `schg` flags are cleared on the whole tree before it is deleted (the article only
//!   handles `var/empty`); `cp -p` keeps the flags on the copy in the template, so
//!   `var/empty` stays `schg` there and in every jail, and a partial copy left by an
//!   interruption has its flags cleared before it is removed;
//! - relative symlinks that leave a moved tree (`/etc/ssl/certs/*` →
//!   `../../../usr/share/certs/…`) are rewritten so they still resolve once the tree
//!   is seen under `/skeleton`.
//!
//! A release installed by an older thinjail, whose base has no etcupdate tree, gets
//! one built the same way from a throwaway clone of its base's `@install` snapshot.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use thinjail_core::action::Action;
use thinjail_core::edit::{rc_var, FileEdit};
use thinjail_core::layout::{
    skeleton_link_target, Layout, GOLD_SNAPSHOT, INSTALL_SNAPSHOT, SKELETON_DIR,
};
use thinjail_core::recipe::{Release, TemplateFile};
use thinjail_core::stage::{
    no_config, DeclaredStage, Planned, Probes, Stage, StageContext, StageError,
};
use thinjail_core::updates::{self, plan_pack_tree};
use thinjail_core::world::{PathState, World};
use thinjail_core::Snapshot;

/// The skeleton stage.
#[derive(Clone, Copy, Debug, Default)]
pub struct SkeletonStage;

/// Where a tree being copied into the template waits until it is complete:
/// `<template>/usr/.home.thinjail-partial` for `usr/home`.
pub fn partial_path(template: &Path, specific: &str) -> PathBuf {
    let target = template.join(specific);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.thinjail-partial"))
}

impl DeclaredStage for SkeletonStage {
    const NAME: &'static str = "skeleton";
    const SUMMARY: &'static str = "move jail-specific files into the template, build the skeleton and its links, snapshot both @gold";
    const ARTICLE_STEP: Option<&'static str> = Some("2-4");

    fn from_config(config: Option<&str>) -> Result<Self, StageError> {
        no_config(Self::NAME, config)?;
        Ok(SkeletonStage)
    }
}

impl Stage for SkeletonStage {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn summary(&self) -> &str {
        Self::SUMMARY
    }

    fn article_step(&self) -> Option<&str> {
        Self::ARTICLE_STEP
    }

    fn probes(&self, ctx: &StageContext<'_>) -> Probes {
        let mut probes = Probes::default();
        for release in &ctx.recipe.releases {
            let base = ctx.layout.base_dir(&release.name);
            let template = ctx.layout.template_dir(&release.name);
            probes.path(base.join(SKELETON_DIR));
            for specific in &ctx.recipe.template.jail_specific {
                probes.path(base.join(specific));
                probes.path(template.join(specific));
                probes.path(partial_path(&template, specific));
                if let Some(parent) = template.join(specific).parent() {
                    probes.path(parent);
                }
            }
            probes.file(template.join("etc/rc.conf"));
            probe_etcupdate_tree(ctx, &release.name, &mut probes);
            for relative in ctx.recipe.template.files.keys() {
                if let Some(parent) = template.join(relative).parent() {
                    probes.path(parent);
                }
            }
            probes.path(base.join("home"));
        }
        for source in ctx.recipe.template.files.values() {
            if let TemplateFile::Host(host) = source {
                probes.file(host);
            }
        }
        probes
    }

    fn plan(&self, ctx: &StageContext<'_>, world: &World) -> Result<Vec<Planned>, StageError> {
        let mut actions = Vec::new();
        for release in &ctx.recipe.releases {
            let name = &release.name;
            // Copied only once there is something to plan (never on an up-to-date host).
            let mut world = Cow::Borrowed(world);
            let mut push = |planned: Planned, world: &mut Cow<'_, World>| {
                planned.action.apply_to(world.to_mut());
                actions.push(planned);
            };
            let template_dataset = ctx.layout.template_dataset(name);
            let template_was_gold = world.has_snapshot(&template_dataset, GOLD_SNAPSHOT);
            if !template_was_gold {
                require_snapshot(
                    &world,
                    &ctx.layout.base_dataset(name),
                    INSTALL_SNAPSHOT,
                    "the install stage",
                )?;
                for planned in plan_template(ctx, &world, release)? {
                    push(planned, &mut world);
                }
                for planned in plan_template_files(ctx, &world, name) {
                    push(planned, &mut world);
                }
                push(
                    Planned::noted(
                        Action::Snapshot {
                            dataset: template_dataset.clone(),
                            snapshot: GOLD_SNAPSHOT.to_string(),
                        },
                        "article: zfs snap — `snapshot` is the spelling every zfs accepts",
                    ),
                    &mut world,
                );
            }
            let base_dataset = ctx.layout.base_dataset(name);
            if !world.has_snapshot(&base_dataset, GOLD_SNAPSHOT) {
                for planned in plan_base(ctx, &world, name)? {
                    push(planned, &mut world);
                }
            }
            if template_was_gold {
                for planned in plan_tree_migration(ctx, &world, name) {
                    push(planned, &mut world);
                }
            }
        }
        Ok(actions)
    }
}

fn require_snapshot(
    world: &World,
    dataset: &str,
    snapshot: &str,
    who: &str,
) -> Result<(), StageError> {
    if world.has_snapshot(dataset, snapshot) {
        Ok(())
    } else {
        Err(StageError::Missing(format!(
            "{} neither exists nor is planned by an earlier stage (normally {who})",
            Snapshot::new(dataset, snapshot)
        )))
    }
}

/// Article steps 2 and 3: jail-specific paths into the template, its rc.conf, @gold.
fn plan_template(
    ctx: &StageContext<'_>,
    world: &World,
    release_entry: &Release,
) -> Result<Vec<Planned>, StageError> {
    let release = release_entry.name.as_str();
    let layout: Layout<'_> = ctx.layout;
    let base = layout.base_dir(release);
    let template = layout.template_dir(release);
    let mut actions = Vec::new();
    let mut made = Vec::new();
    for specific in &ctx.recipe.template.jail_specific {
        if let Some(parent) = template.join(specific).parent() {
            if parent != template
                && !world.path(parent).exists()
                && !made.contains(&parent.to_path_buf())
            {
                made.push(parent.to_path_buf());
                actions.push(Planned::noted(
                    Action::MakeDir {
                        path: parent.to_path_buf(),
                    },
                    "article: mkdir $TEMPLATE/usr",
                ));
            }
        }
    }
    let (mut first_move, mut first_relink, mut first_flags) = (true, true, true);
    for specific in &ctx.recipe.template.jail_specific {
        let source = base.join(specific);
        let target = template.join(specific);
        let partial = partial_path(&template, specific);
        let in_jail = Path::new("/").join(specific);
        let under_skeleton = Path::new("/").join(SKELETON_DIR).join(specific);
        match (world.path(&source), world.path(&target).exists()) {
            (PathState::Symlink { .. }, true) => {}
            (PathState::Symlink { target: link }, false) => {
                return Err(StageError::Conflict(format!(
                    "{} is already a symlink (to {}) but {} is missing: the template is incomplete; \
                     restore {} from @{INSTALL_SNAPSHOT} or remove the base dataset to start over",
                    source.display(),
                    link.display(),
                    target.display(),
                    source.display(),
                )))
            }
            (PathState::Missing, true) => {}
            (PathState::Missing, false) => actions.push(Planned::noted(
                Action::MakeDir { path: target.clone() },
                format!("the base has no {specific}; the template gets an empty one"),
            )),
            (PathState::File { .. }, _) => {
                return Err(StageError::Conflict(format!(
                    "{} is a file; jail-specific paths must be directories",
                    source.display()
                )))
            }
            (PathState::Directory, copied) => {
                if !copied {
                    if world.path(&partial).exists() {
                        remove_partial(&mut actions, &partial, "an earlier copy was interrupted; start it again");
                    }
                    let mut note = format!("article: mv {specific} $TEMPLATE/{specific}");
                    if std::mem::take(&mut first_move) {
                        note.push_str(
                            "\nbetween datasets a move is a copy and a delete: thinjail copies to a temporary name,\n\
                             renames, then deletes, so an interruption never leaves half a tree on either side",
                        );
                    }
                    actions.push(Planned::noted(Action::CopyTree { from: source.clone(), to: partial.clone() }, note));
                    let relink = Action::RelinkSymlinks { tree: partial.clone(), was: in_jail, now: under_skeleton };
                    actions.push(if std::mem::take(&mut first_relink) {
                        Planned::noted(
                            relink,
                            format!(
                                "relative links leaving the tree break once it is under /{SKELETON_DIR} \
                                 (/etc/ssl/certs/* -> ../../../usr/share/certs/...): rewrite them"
                            ),
                        )
                    } else {
                        Planned::new(relink)
                    });
                    actions.push(Planned::new(Action::Rename { from: partial, to: target.clone() }));
                } else if world.path(&partial).exists() {
                    remove_partial(
                        &mut actions,
                        &partial,
                        "the template's copy is complete; finishing an interrupted move",
                    );
                }
                let clear = Action::ClearFlags { path: source.clone() };
                actions.push(if specific == "var" {
                    Planned::noted(
                        clear,
                        "article: chflags 0 var/empty; rm -r var — base.txz has other schg files too, so flags are cleared on the whole tree",
                    )
                } else if std::mem::take(&mut first_flags) {
                    Planned::noted(clear, "schg files cannot be deleted; cp -p kept the flags on the template's copy")
                } else {
                    Planned::new(clear)
                });
                actions.push(Planned::new(Action::Remove { path: source }));
            }
        }
    }
    // Before anything is added to the template: the tree is the release's own files.
    actions.extend(plan_etcupdate_tree(ctx, world, release_entry));
    let rc_conf = template.join("etc/rc.conf");
    let current = world.file_contents(&rc_conf).unwrap_or("");
    let mut first = true;
    for (name, value) in &ctx.recipe.template.rc_conf {
        if rc_var(current, name).as_deref() == Some(value.as_str()) {
            continue;
        }
        let action = Action::EditFile {
            path: rc_conf.clone(),
            edit: FileEdit::SetRcVar {
                name: name.clone(),
                value: value.clone(),
            },
        };
        actions.push(if std::mem::take(&mut first) {
            Planned::noted(action, "article: echo 'default_router=...' >> ./etc/rc.conf — thinjail sets it in place (like sysrc), so a second run adds no duplicate line")
        } else {
            Planned::new(action)
        });
    }
    Ok(actions)
}

/// `template.files`: what base.txz lacks and bsdinstall's jail script copies from the
/// host (`/etc/resolv.conf`, so pkg can resolve names, and `/etc/localtime`). A host
/// file read as text when the host was observed is written as read (the plan shows
/// it); a link or a binary file, or any host file when nothing was observed, is
/// copied with `cp -p` (following a link) as bsdinstall's `cp` does; a host file that
/// is missing gives nothing.
fn plan_template_files(ctx: &StageContext<'_>, world: &World, release: &str) -> Vec<Planned> {
    let template = ctx.layout.template_dir(release);
    let mut actions = Vec::new();
    let mut made: Vec<PathBuf> = Vec::new();
    let mut first = true;
    for (relative, source) in &ctx.recipe.template.files {
        if !ctx.recipe.template.holds(relative) {
            // Only a default entry can be here (validation refuses others): the
            // recipe keeps that directory in the base.
            continue;
        }
        let target = template.join(relative);
        let action = match source {
            TemplateFile::Contents(contents) => Action::WriteFile {
                path: target.clone(),
                contents: contents.clone(),
                mode: 0o644,
            },
            TemplateFile::Host(host) => match world.path(host) {
                PathState::Missing if world.observed => continue,
                PathState::File {
                    contents: Some(contents),
                } => Action::WriteFile {
                    path: target.clone(),
                    contents: contents.clone(),
                    mode: 0o644,
                },
                _ => Action::CopyFile {
                    from: host.clone(),
                    to: target.clone(),
                },
            },
        };
        if let Some(parent) = target.parent() {
            if world.path(parent) != &PathState::Directory && !made.iter().any(|m| m == parent) {
                made.push(parent.to_path_buf());
                actions.push(Planned::new(Action::MakeDir {
                    path: parent.to_path_buf(),
                }));
            }
        }
        let origin = match source {
            TemplateFile::Contents(_) => "given in template.files".to_string(),
            TemplateFile::Host(host) if matches!(action, Action::WriteFile { .. }) => {
                format!(
                    "the host's {}, as read when the host was observed",
                    host.display()
                )
            }
            TemplateFile::Host(host) => format!("the host's {}, copied", host.display()),
        };
        let note = if std::mem::take(&mut first) {
            format!(
                "/{relative}: {origin}\nbase.txz has no /etc/resolv.conf or /etc/localtime; bsdinstall's jail \
                 script and the Handbook copy the host's so pkg can resolve names in a new jail (template.files)"
            )
        } else {
            format!("/{relative}: {origin}")
        };
        actions.push(Planned::noted(action, note));
    }
    actions
}

/// Removes a leftover partial copy. `cp -RPp` copied the file flags too, so it may
/// hold `schg` files (`var/empty`): they are cleared first, or `rm -rf` fails with
/// "Operation not permitted" on every rerun.
fn remove_partial(actions: &mut Vec<Planned>, partial: &Path, why: &str) {
    actions.push(Planned::noted(
        Action::ClearFlags {
            path: partial.to_path_buf(),
        },
        format!("{why}; cp -p copied its schg flags, which rm -rf cannot override"),
    ));
    actions.push(Planned::new(Action::Remove {
        path: partial.to_path_buf(),
    }));
}

/// The jail-specific paths whose release files make an etcupdate tree: those the
/// release's distribution populates (`tmp`, `usr/home`, `usr/local` hold nothing
/// of the release).
const TREE_PATHS: [&str; 3] = ["etc", "root", "var"];

/// Where the etcupdate tree is assembled in the template until it is complete.
fn tree_partial(ctx: &StageContext<'_>, release: &str) -> PathBuf {
    ctx.layout
        .template_dir(release)
        .join(".etcupdate.thinjail-partial")
}

fn probe_etcupdate_tree(ctx: &StageContext<'_>, release: &str, probes: &mut Probes) {
    probes.path(updates::template_baseline(&ctx.layout, release));
    probes.path(updates::etcupdate_tarball(&ctx.layout, release));
    probes.path(tree_partial(ctx, release));
}

/// Copies the release's tree paths from `source` into `partial` (and, when the
/// copies still have the release's own layout, rewrites their escaping links as the
/// template's are), then clears their flags so the tree can be trimmed and removed.
fn plan_tree_copy(
    ctx: &StageContext<'_>,
    source: &Path,
    partial: &Path,
    relink: bool,
) -> Vec<Planned> {
    let mut actions = vec![Planned::new(Action::MakeDir {
        path: partial.to_path_buf(),
    })];
    for specific in &ctx.recipe.template.jail_specific {
        let specific = specific.trim_matches('/');
        if !TREE_PATHS.contains(&specific) {
            continue;
        }
        let copy = partial.join(specific);
        actions.push(Planned::new(Action::CopyTree {
            from: source.join(specific),
            to: copy.clone(),
        }));
        if relink {
            actions.push(Planned::new(Action::RelinkSymlinks {
                tree: copy,
                was: Path::new("/").join(specific),
                now: Path::new("/").join(SKELETON_DIR).join(specific),
            }));
        }
    }
    actions.push(Planned::noted(
        Action::ClearFlags {
            path: partial.to_path_buf(),
        },
        "as etcupdate's build_tree does: the tree is reference data, and schg would block trimming it",
    ));
    actions
}

/// The release's etcupdate tree (its files as a jail starts with them, trimmed as
/// etcupdate's `build_tree` trims): archived into the base as the tarball jails
/// moving to this release merge with, and moved into the template as the baseline
/// every jail inherits. Built in `.etcupdate.thinjail-partial` and renamed into
/// place, so an interruption is redone from scratch. With `releases[].etcupdate`,
/// that tarball is the tree instead.
fn plan_etcupdate_tree(ctx: &StageContext<'_>, world: &World, release: &Release) -> Vec<Planned> {
    if !updates::baseline_possible(ctx.recipe) {
        return Vec::new();
    }
    let name = release.name.as_str();
    let baseline = updates::template_baseline(&ctx.layout, name);
    let tarball = updates::etcupdate_tarball(&ctx.layout, name);
    let have_baseline = world.path(&baseline) == &PathState::Directory;
    let have_tarball = world.path(&tarball).exists();
    if have_baseline {
        return if have_tarball {
            Vec::new()
        } else {
            plan_pack_tree(&baseline, &tarball, true)
        };
    }
    let partial = tree_partial(ctx, name);
    let template = ctx.layout.template_dir(name);
    let mut actions = Vec::new();
    if world.path(&partial).exists() {
        actions.push(Planned::noted(
            Action::ClearFlags {
                path: partial.clone(),
            },
            "an earlier build of the etcupdate tree was interrupted; start it again",
        ));
        actions.push(Planned::new(Action::Remove {
            path: partial.clone(),
        }));
    }
    match &release.etcupdate {
        Some(given) => {
            actions.push(Planned::new(Action::MakeDir {
                path: partial.clone(),
            }));
            actions.push(Planned::noted(
                Action::Extract {
                    archive: given.clone(),
                    dest: partial.clone(),
                },
                "releases[].etcupdate: this tarball is the release's etcupdate tree",
            ));
        }
        None => {
            let mut copy = plan_tree_copy(ctx, &template, &partial, false);
            if let Some(first) = copy.get_mut(1) {
                first.note = Some(
                    "the release's etcupdate tree, from its own files as every jail gets them (before the recipe's \
                     template changes): etcupdate's three-way merge needs it as the jail's baseline"
                        .to_string(),
                );
            }
            actions.extend(copy);
        }
    }
    if have_tarball {
        actions.push(Planned::new(Action::TrimEtcupdateTree {
            tree: partial.clone(),
        }));
    } else {
        actions.extend(plan_pack_tree(&partial, &tarball, true));
    }
    if let Some(dir) = baseline.parent() {
        actions.push(Planned::new(Action::MakeDir {
            path: dir.to_path_buf(),
        }));
    }
    actions.push(Planned::noted(
        Action::Rename {
            from: partial,
            to: baseline,
        },
        "every jail starts with /var/db/etcupdate/current: the baseline `thinjail upgrade` merges against",
    ));
    actions
}

/// A release installed before thinjail recorded etcupdate trees has none in its base:
/// build it from the base's pristine `@install` snapshot (a throwaway clone), so its
/// jails can record their baseline (`thinjail upgrade JAIL --bootstrap-baseline`) and
/// jails can move to it.
fn plan_tree_migration(ctx: &StageContext<'_>, world: &World, release: &str) -> Vec<Planned> {
    let base_dataset = ctx.layout.base_dataset(release);
    let tarball = updates::etcupdate_tarball(&ctx.layout, release);
    if !updates::baseline_possible(ctx.recipe)
        || world.path(&tarball).exists()
        || !world.has_snapshot(&base_dataset, INSTALL_SNAPSHOT)
    {
        return Vec::new();
    }
    let (clone, dir) = updates::tree_clone(&ctx.layout, release);
    let mut actions = Vec::new();
    if world.has_dataset(&clone) {
        actions.push(Planned::noted(
            Action::DestroyDataset {
                dataset: clone.clone(),
                recursive: false,
            },
            "an earlier build of the etcupdate tree was interrupted; start it again",
        ));
    }
    actions.push(Planned::noted(
        Action::Clone {
            dataset: base_dataset,
            snapshot: INSTALL_SNAPSHOT.to_string(),
            target: clone.clone(),
            properties: ctx.layout.managed_properties(),
        },
        format!(
            "release {release} was installed before thinjail recorded etcupdate trees: build it from the \
             release's own files in @install (a throwaway clone)"
        ),
    ));
    let partial = dir.join(".thinjail-etcupdate");
    actions.extend(plan_tree_copy(ctx, &dir, &partial, true));
    actions.extend(plan_pack_tree(&partial, &tarball, true));
    actions.push(Planned::new(Action::DestroyDataset {
        dataset: clone,
        recursive: false,
    }));
    actions
}

/// Article step 4: the skeleton directory and links in the base, @gold.
fn plan_base(
    ctx: &StageContext<'_>,
    world: &World,
    release: &str,
) -> Result<Vec<Planned>, StageError> {
    let base = ctx.layout.base_dir(release);
    let mut actions = Vec::new();
    let skeleton = base.join(SKELETON_DIR);
    if world.path(&skeleton) != &PathState::Directory {
        actions.push(Planned::noted(
            Action::MakeDir { path: skeleton },
            "article: mkdir skeleton",
        ));
    }
    for specific in &ctx.recipe.template.jail_specific {
        let link = base.join(specific);
        let target = PathBuf::from(skeleton_link_target(specific));
        match link_to(world, &link, &target) {
            Ok(action) => actions.extend(action.map(Planned::new)),
            Err(other) => {
                return Err(StageError::Conflict(format!(
                    "{} should become a link to {} but is {other:?}",
                    link.display(),
                    target.display()
                )))
            }
        }
    }
    actions.extend(plan_home_link(ctx, world, &base)?);
    actions.push(Planned::new(Action::Snapshot {
        dataset: ctx.layout.base_dataset(release),
        snapshot: GOLD_SNAPSHOT.to_string(),
    }));
    Ok(actions)
}

/// What makes `link` a symbolic link to `target`: nothing when it is one already, a
/// new link when nothing is there, and otherwise what is there (the caller's conflict).
fn link_to(world: &World, link: &Path, target: &Path) -> Result<Option<Action>, PathState> {
    match world.path(link) {
        PathState::Symlink { target: existing } if existing == target => Ok(None),
        PathState::Missing => Ok(Some(Action::Symlink {
            link: link.to_path_buf(),
            target: target.to_path_buf(),
        })),
        other => Err(other.clone()),
    }
}

/// Where `/home` points in the base: the jail-specific `usr/home`.
pub const HOME_LINK_TARGET: &str = "usr/home";

/// `/home -> usr/home` in the base. pw(8) and adduser(8) put homes in `/home`;
/// base.txz has no `/home`, and pw's own fallback (make `/usr/home` and link
/// `/home` to it) was removed in 14.0 and cannot write a read-only base anyway, so
/// `pw useradd -m` fails in a thin jail without this link. With it, homes land in
/// the jail's own `usr/home` on every release (the layout the article shows, and
/// the same before and after an upgrade across 14.0). Nothing to do when `home` is
/// jail-specific itself or `usr/home` is not.
fn plan_home_link(
    ctx: &StageContext<'_>,
    world: &World,
    base: &Path,
) -> Result<Option<Planned>, StageError> {
    let specific = &ctx.recipe.template.jail_specific;
    if specific.iter().any(|s| s == "home") || !specific.iter().any(|s| s == HOME_LINK_TARGET) {
        return Ok(None);
    }
    let link = base.join("home");
    match link_to(world, &link, Path::new(HOME_LINK_TARGET)) {
        Ok(action) => Ok(action.map(|action| {
            Planned::noted(
                action,
                "base.txz has no /home, where pw useradd -m puts homes (since 14.0 it no longer \
                 links /home to /usr/home itself, and a read-only base stops it anyway): /home -> \
                 usr/home, so homes land in the jail's own usr/home",
            )
        })),
        Err(other) => Err(StageError::Conflict(format!(
            "{} is {other:?}; thinjail links /home to the jail-specific usr/home — remove it from \
             the base, or make \"home\" jail-specific in template.jail_specific",
            link.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thinjail_core::Recipe;

    fn recipe() -> Recipe {
        Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")], template: (rc_conf: {"default_router": "192.0.2.1"}))"#,
            "test",
        )
        .unwrap()
    }

    /// A world where the base of 14.3 is installed (`@install`).
    fn installed(recipe: &Recipe) -> World {
        let layout = Layout::new(recipe);
        let mut world = World::empty();
        let base = layout.base_dataset("14.3-RELEASE");
        world.add_filesystem(&base, Some(&layout.base_dir("14.3-RELEASE")), None);
        world.add_snapshot(&base, INSTALL_SNAPSHOT);
        for specific in &recipe.template.jail_specific {
            world.add_dir(&layout.base_dir("14.3-RELEASE").join(specific));
        }
        world
    }

    fn describe(plan: &[Planned]) -> Vec<String> {
        plan.iter().map(|p| p.action.describe()).collect()
    }

    #[test]
    fn the_etcupdate_tree_is_recorded_from_the_moved_files_before_the_template_changes() {
        let recipe = recipe();
        let plan = SkeletonStage
            .plan(&StageContext::new(&recipe), &installed(&recipe))
            .unwrap();
        let steps = describe(&plan);
        let position = |prefix: &str| {
            steps
                .iter()
                .position(|s| s.starts_with(prefix))
                .unwrap_or_else(|| panic!("{prefix}: {steps:#?}"))
        };
        let last_move = steps
            .iter()
            .rposition(|s| s.starts_with("remove") && s.ends_with("-base/var"))
            .unwrap();
        let copy = position("copy /usr/local/jails/base/14.3-RELEASE-template/etc to");
        let archive = position("archive");
        let baseline = position("rename /usr/local/jails/base/14.3-RELEASE-template/.etcupdate.thinjail-partial to /usr/local/jails/base/14.3-RELEASE-template/var/db/etcupdate/current");
        let rc = position("set default_router");
        let gold = position("snapshot zroot/jails/base/14.3-RELEASE-template@gold");
        assert!(
            last_move < copy && copy < archive && archive < baseline && baseline < rc && rc < gold,
            "{steps:#?}"
        );
        assert!(steps[archive].ends_with("14.3-RELEASE-base/usr/share/thinjail/etcupdate.txz"));
        // Only etc, root and var make the tree.
        assert!(!steps
            .iter()
            .any(|s| s.starts_with("copy") && s.contains("partial/tmp")));
    }

    #[test]
    fn an_interrupted_build_starts_again_and_a_done_one_is_left_alone() {
        let recipe = recipe();
        let ctx = StageContext::new(&recipe);
        let mut world = installed(&recipe);
        world.add_dir(&tree_partial(&ctx, "14.3-RELEASE"));
        let plan = plan_etcupdate_tree(&ctx, &world, &recipe.releases[0]);
        assert!(
            matches!(plan[0].action, Action::ClearFlags { .. }),
            "{:#?}",
            describe(&plan)
        );
        assert!(matches!(plan[1].action, Action::Remove { .. }));

        world.add_dir(&updates::template_baseline(&ctx.layout, "14.3-RELEASE"));
        world.set_path(
            &updates::etcupdate_tarball(&ctx.layout, "14.3-RELEASE"),
            PathState::File { contents: None },
        );
        assert!(plan_etcupdate_tree(&ctx, &world, &recipe.releases[0]).is_empty());

        let mut without_var = recipe.clone();
        without_var.template.jail_specific.retain(|p| p != "var");
        let ctx = StageContext::new(&without_var);
        assert!(
            plan_etcupdate_tree(&ctx, &installed(&without_var), &without_var.releases[0])
                .is_empty()
        );
    }

    #[test]
    fn a_base_installed_before_trees_were_recorded_gets_one_from_its_install_snapshot() {
        let recipe = recipe();
        let ctx = StageContext::new(&recipe);
        let plan = SkeletonStage.plan(&ctx, &installed(&recipe)).unwrap();
        let mut world = installed(&recipe).after_planned(&plan);
        // An older thinjail: no tarball in the base.
        world.set_path(
            &updates::etcupdate_tarball(&ctx.layout, "14.3-RELEASE"),
            PathState::Missing,
        );
        let migration = SkeletonStage.plan(&ctx, &world).unwrap();
        let steps = describe(&migration);
        assert!(steps[0].starts_with("clone zroot/jails/base/14.3-RELEASE-base@install as zroot/jails/base/14.3-RELEASE-etcupdate"), "{steps:#?}");
        assert!(steps
            .iter()
            .any(|s| s.starts_with("rewrite relative symlinks")));
        assert!(steps.iter().any(|s| s.starts_with("archive")));
        assert_eq!(
            steps.last().unwrap(),
            "destroy dataset zroot/jails/base/14.3-RELEASE-etcupdate"
        );
        let world = world.after_planned(&migration);
        assert!(
            SkeletonStage.plan(&ctx, &world).unwrap().is_empty(),
            "done once"
        );
    }

    /// A base installed, its `var` copied (flags and all) to the partial name when the
    /// run was interrupted: the partial copy's flags are cleared before it is removed.
    #[test]
    fn an_interrupted_copy_loses_its_schg_flags_before_it_is_removed() {
        let recipe = Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")], template: (jail_specific: ["var"]))"#,
            "test",
        )
        .unwrap();
        let ctx = StageContext::new(&recipe);
        let mut world = World::empty();
        let base = ctx.layout.base_dataset("14.3-RELEASE");
        world.add_filesystem(&base, Some(&ctx.layout.base_dir("14.3-RELEASE")), None);
        world.add_snapshot(&base, INSTALL_SNAPSHOT);
        let template = ctx.layout.template_dir("14.3-RELEASE");
        world.add_dir(&ctx.layout.base_dir("14.3-RELEASE").join("var/empty"));
        let partial = partial_path(&template, "var");
        world.add_dir(&partial.join("empty"));
        let plan = SkeletonStage.plan(&ctx, &world).unwrap();
        let actions: Vec<&Action> = plan.iter().map(|p| &p.action).collect();
        let remove = actions
            .iter()
            .position(|a| matches!(a, Action::Remove { path } if path == &partial))
            .expect("the partial copy is removed");
        assert_eq!(
            actions[remove - 1],
            &Action::ClearFlags {
                path: partial.clone()
            }
        );
        // The same once the copy was renamed into place but the partial name is back.
        world.add_dir(&template.join("var/empty"));
        let plan = SkeletonStage.plan(&ctx, &world).unwrap();
        let actions: Vec<&Action> = plan.iter().map(|p| &p.action).collect();
        let remove = actions
            .iter()
            .position(|a| matches!(a, Action::Remove { path } if path == &partial))
            .expect("the leftover partial copy is removed");
        assert!(matches!(actions[remove - 1], Action::ClearFlags { path } if path == &partial));
    }

    /// A base just installed (as the install stage leaves it), observed or not.
    fn installed_base(ctx: &StageContext<'_>, observed: bool) -> World {
        let mut world = World::empty();
        world.observed = observed;
        let release = "14.3-RELEASE";
        let base = ctx.layout.base_dataset(release);
        world.add_filesystem(&base, Some(&ctx.layout.base_dir(release)), None);
        world.add_filesystem(
            &ctx.layout.template_dataset(release),
            Some(&ctx.layout.template_dir(release)),
            None,
        );
        world.add_snapshot(&base, INSTALL_SNAPSHOT);
        for dir in thinjail_core::world::FREEBSD_BASE_DIRS {
            world.add_dir(&ctx.layout.base_dir(release).join(dir));
        }
        world
    }

    fn descriptions(plan: &[Planned]) -> Vec<String> {
        plan.iter().map(|p| p.action.describe()).collect()
    }

    #[test]
    fn template_files_are_written_before_gold_as_the_host_has_them() {
        let recipe = Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")], template: (files: {
                "etc/resolv.conf": Host("/etc/resolv.conf"),
                "etc/localtime": Host("/etc/localtime"),
                "etc/motd.template": Host("/etc/motd.template"),
                "usr/local/etc/pkg.conf": Contents("x\n"),
            }))"#,
            "test",
        )
        .unwrap();
        let ctx = StageContext::new(&recipe);
        let template = ctx.layout.template_dir("14.3-RELEASE");
        let mut world = installed_base(&ctx, true);
        world.set_path(
            Path::new("/etc/resolv.conf"),
            PathState::File {
                contents: Some("nameserver 192.0.2.53\n".into()),
            },
        );
        world.set_path(
            Path::new("/etc/localtime"),
            PathState::Symlink {
                target: "/usr/share/zoneinfo/Europe/Paris".into(),
            },
        );
        let probes = SkeletonStage.probes(&ctx);
        assert!(probes.files.contains(Path::new("/etc/resolv.conf")));
        let plan = SkeletonStage.plan(&ctx, &world).unwrap();
        let actions: Vec<&Action> = plan.iter().map(|p| &p.action).collect();
        let gold = actions
            .iter()
            .position(
                |a| matches!(a, Action::Snapshot { dataset, .. } if dataset.ends_with("template")),
            )
            .unwrap();
        let at = |wanted: &Action| {
            actions
                .iter()
                .position(|a| *a == wanted)
                .unwrap_or_else(|| panic!("{wanted:?} not in {:#?}", descriptions(&plan)))
        };
        let resolv = at(&Action::WriteFile {
            path: template.join("etc/resolv.conf"),
            contents: "nameserver 192.0.2.53\n".into(),
            mode: 0o644,
        });
        let localtime = at(&Action::CopyFile {
            from: "/etc/localtime".into(),
            to: template.join("etc/localtime"),
        });
        let pkg_conf = at(&Action::WriteFile {
            path: template.join("usr/local/etc/pkg.conf"),
            contents: "x\n".into(),
            mode: 0o644,
        });
        let make_etc = at(&Action::MakeDir {
            path: template.join("usr/local/etc"),
        });
        assert!(make_etc < pkg_conf);
        let moved_etc = actions
            .iter()
            .position(|a| matches!(a, Action::Rename { to, .. } if to == &template.join("etc")))
            .unwrap();
        for file in [resolv, localtime, pkg_conf] {
            assert!(
                moved_etc < file && file < gold,
                "{:#?}",
                descriptions(&plan)
            );
        }
        assert!(
            !actions
                .iter()
                .any(|a| a.describe().contains("motd.template")),
            "a host file that is missing gives nothing"
        );
        assert!(plan[resolv.min(localtime)]
            .note
            .as_deref()
            .is_some_and(|n| n.contains("bsdinstall")));

        // Nothing observed (plan --fresh): the host's files are copied as bsdinstall does.
        let plan = SkeletonStage
            .plan(&ctx, &installed_base(&ctx, false))
            .unwrap();
        assert!(plan.iter().any(|p| p.action
            == Action::CopyFile {
                from: "/etc/resolv.conf".into(),
                to: template.join("etc/resolv.conf"),
            }));
    }

    #[test]
    fn the_base_links_home_to_the_jail_specific_usr_home() {
        let recipe = recipe_with_specific(r#"["etc", "usr/home", "var"]"#);
        let ctx = StageContext::new(&recipe);
        let plan = SkeletonStage
            .plan(&ctx, &installed_base(&ctx, true))
            .unwrap();
        let base = ctx.layout.base_dir("14.3-RELEASE");
        let link = plan
            .iter()
            .position(|p| {
                p.action
                    == Action::Symlink {
                        link: base.join("home"),
                        target: "usr/home".into(),
                    }
            })
            .expect("home -> usr/home");
        assert!(
            matches!(&plan[link + 1].action, Action::Snapshot { dataset, .. } if dataset.ends_with("base"))
        );
        // The template gets an empty usr/home: base.txz has none.
        assert!(plan.iter().any(|p| p.action
            == Action::MakeDir {
                path: ctx.layout.template_dir("14.3-RELEASE").join("usr/home")
            }));

        let recipe = recipe_with_specific(r#"["etc", "home", "var"]"#);
        let ctx = StageContext::new(&recipe);
        let plan = SkeletonStage
            .plan(&ctx, &installed_base(&ctx, true))
            .unwrap();
        assert!(plan.iter().any(|p| p.action
            == Action::Symlink {
                link: ctx.layout.base_dir("14.3-RELEASE").join("home"),
                target: "./skeleton/home".into(),
            }));

        let recipe = recipe_with_specific(r#"["etc", "usr/home", "var"]"#);
        let ctx = StageContext::new(&recipe);
        let mut world = installed_base(&ctx, true);
        world.add_dir(&ctx.layout.base_dir("14.3-RELEASE").join("home"));
        let error = SkeletonStage.plan(&ctx, &world).unwrap_err().to_string();
        assert!(error.contains("template.jail_specific"), "{error}");
    }

    fn recipe_with_specific(specific: &str) -> Recipe {
        Recipe::from_ron(
            &format!(
                r#"(releases: [(name: "14.3-RELEASE")], template: (jail_specific: {specific}, files: {{}}))"#
            ),
            "test",
        )
        .unwrap()
    }
}
