//! # thinjail-stage-skeleton
//!
//! Turns an installed base into the article's pair (steps 2–4):
//!
//! 1. moves each jail-specific path (`etc`, `usr/home`, `usr/local`, `root`, `tmp`,
//!    `var` by default) from the base into the template, writes the template's
//!    rc.conf values and snapshots the template `@gold`;
//! 2. makes the `skeleton` directory in the base, links each moved path into it with
//!    the relative targets the article's note explains, and snapshots the base `@gold`.
//!
//! Where the article is wrong, this stage does better and says so in the plan:
//! - a move between datasets is a copy plus a delete; it is done as copy to a
//!   temporary name, atomic rename, then delete, so an interruption at any point is
//!   finished by the next run with nothing lost or duplicated;
//! - `schg` flags are cleared on the whole tree before it is deleted (the article only
//!   handles `var/empty`); `cp -p` keeps the flags on the copy in the template;
//! - relative symlinks that leave a moved tree (`/etc/ssl/certs/*` →
//!   `../../../usr/share/certs/…`) are rewritten so they still resolve once the tree
//!   is seen under `/skeleton`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use thinjail_core::action::Action;
use thinjail_core::edit::{rc_var, FileEdit};
use thinjail_core::layout::{
    skeleton_link_target, Layout, GOLD_SNAPSHOT, INSTALL_SNAPSHOT, SKELETON_DIR,
};
use thinjail_core::stage::{
    no_config, BuiltinStage, Planned, Probes, Stage, StageContext, StageError,
};
use thinjail_core::world::{PathState, World};

/// The skeleton stage.
#[derive(Clone, Copy, Debug, Default)]
pub struct SkeletonStage;

thinjail_core::inventory::submit! {
    BuiltinStage::new("skeleton", SUMMARY, "thinjail-stage-skeleton", |config| {
        no_config("skeleton", config)?;
        Ok(Box::new(SkeletonStage))
    })
}

const SUMMARY: &str = "move jail-specific files into the template, build the skeleton and its links, snapshot both @gold";

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

impl Stage for SkeletonStage {
    fn name(&self) -> &str {
        "skeleton"
    }

    fn summary(&self) -> &str {
        SUMMARY
    }

    fn article_step(&self) -> Option<&str> {
        Some("2-4")
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
            if !world.has_snapshot(&template_dataset, GOLD_SNAPSHOT) {
                require_snapshot(
                    &world,
                    &ctx.layout.base_dataset(name),
                    INSTALL_SNAPSHOT,
                    "the install stage",
                )?;
                for planned in plan_template(ctx, &world, name)? {
                    push(planned, &mut world);
                }
            }
            let base_dataset = ctx.layout.base_dataset(name);
            if !world.has_snapshot(&base_dataset, GOLD_SNAPSHOT) {
                for planned in plan_base(ctx, &world, name)? {
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
            "{dataset}@{snapshot} neither exists nor is planned by an earlier stage (normally {who})"
        )))
    }
}

/// Article steps 2 and 3: jail-specific paths into the template, its rc.conf, @gold.
fn plan_template(
    ctx: &StageContext<'_>,
    world: &World,
    release: &str,
) -> Result<Vec<Planned>, StageError> {
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
                        actions.push(Planned::noted(
                            Action::Remove { path: partial.clone() },
                            "an earlier copy was interrupted; start it again",
                        ));
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
                    actions.push(Planned::noted(
                        Action::Remove { path: partial.clone() },
                        "the template's copy is complete; finishing an interrupted move",
                    ));
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
    actions.push(Planned::noted(
        Action::Snapshot {
            dataset: layout.template_dataset(release),
            snapshot: GOLD_SNAPSHOT.to_string(),
        },
        "article: zfs snap — `snapshot` is the spelling every zfs accepts",
    ));
    Ok(actions)
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
        match world.path(&link) {
            PathState::Symlink { target: existing } if existing == &target => {}
            PathState::Missing => actions.push(Planned::new(Action::Symlink { link, target })),
            other => {
                return Err(StageError::Conflict(format!(
                    "{} should become a link to {} but is {other:?}",
                    link.display(),
                    target.display()
                )))
            }
        }
    }
    actions.push(Planned::new(Action::Snapshot {
        dataset: ctx.layout.base_dataset(release),
        snapshot: GOLD_SNAPSHOT.to_string(),
    }));
    Ok(actions)
}
