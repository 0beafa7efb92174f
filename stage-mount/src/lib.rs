//! # thinjail-stage-mount
//!
//! Gives each jail its writable layer and the instructions to assemble it (article
//! step 5): the jail's `data` dataset copied from the template's `@gold` snapshot with
//! `zfs send -p | zfs receive` (as the article does; `-p` carries thinjail's mark), the mountpoint directory where the
//! base and the data meet, and the jail's `fstab` with the article's two nullfs lines
//! (base read-only on the mountpoint, data read-write on its `skeleton`).
//!
//! A jail whose fstab already points at another release's base is refused: moving a
//! jail to a new release is `thinjail upgrade`, which also merges its /etc.

use std::path::Path;

use thinjail_core::action::Action;
use thinjail_core::layout::{Layout, GOLD_SNAPSHOT, SKELETON_DIR};
use thinjail_core::recipe::Jail;
use thinjail_core::stage::{
    no_config, BuiltinStage, Planned, Probes, Stage, StageContext, StageError,
};
use thinjail_core::world::{PathState, World};

/// The mount stage.
#[derive(Clone, Copy, Debug, Default)]
pub struct MountStage;

thinjail_core::inventory::submit! {
    BuiltinStage::new("mount", SUMMARY, "thinjail-stage-mount", |config| {
        no_config("mount", config)?;
        Ok(Box::new(MountStage))
    })
}

const SUMMARY: &str = "each jail's data from the template's @gold, its mountpoint and its fstab";

/// The jail's fstab: the base read-only on its root, its data read-write on the
/// root's `skeleton` — the article's two lines, written literally: jail(8) reads
/// `mount.fstab` itself, splitting lines on blanks without decoding fstab(5)'s `\040`
/// escapes (`check_intparams` in usr.sbin/jail/config.c), which is why recipe
/// validation refuses a `jails_dir` with blanks, `#` or shell characters
/// ([`thinjail_core::validate::check_jail_visible_path`]).
pub fn fstab_for(layout: &Layout<'_>, jail: &Jail) -> String {
    let root = layout.root(&jail.name);
    fstab_text(
        &layout.base_dir(&jail.release),
        &layout.data_dir(&jail.name),
        &root,
    )
}

/// The two fstab lines for a root assembled from `base` and `data`, whose paths come
/// from a validated recipe (nothing jail(8) would split or cut).
pub fn fstab_text(base: &Path, data: &Path, root: &Path) -> String {
    let field = |p: &Path| p.display().to_string();
    format!(
        "{}  {}  nullfs  ro  0   0\n{}  {}  nullfs  rw  0   0\n",
        field(base),
        field(root),
        field(data),
        field(&root.join(SKELETON_DIR)),
    )
}

/// The base an existing fstab mounts read-only on the jail's root (its first entry),
/// read as jail(8) reads it: each line cut at `#`, then split on blanks.
pub fn fstab_base(fstab: &str) -> Option<String> {
    fstab
        .lines()
        .filter_map(|line| line.split('#').next())
        .find_map(|line| line.split_whitespace().next())
        .map(String::from)
}

/// Plans the data dataset of `jail` from the template's gold snapshot: `copy` builds the
/// action (send/receive here; the clone plugin passes `zfs clone`).
pub fn plan_jail(
    ctx: &StageContext<'_>,
    world: &World,
    jail: &Jail,
    copy: impl Fn(String, String) -> Planned,
) -> Result<Vec<Planned>, StageError> {
    let layout = ctx.layout;
    let mut actions = Vec::new();
    let data = layout.data_dataset(&jail.name);
    if !world.has_dataset(&data) {
        let template = layout.template_dataset(&jail.release);
        if !world.has_snapshot(&template, GOLD_SNAPSHOT) {
            return Err(StageError::Missing(format!(
                "{template}@{GOLD_SNAPSHOT} neither exists nor is planned by an earlier stage (normally the skeleton stage)"
            )));
        }
        actions.push(copy(template, data));
    }
    let root = layout.root(&jail.name);
    match world.path(&root) {
        PathState::Directory => {}
        PathState::Missing => actions.push(Planned::new(Action::MakeDir { path: root })),
        other => {
            return Err(StageError::Conflict(format!(
                "{} must be a real directory (jail(8) refuses mount points through symlinks) but is {other:?}",
                root.display()
            )))
        }
    }
    let fstab = layout.fstab(&jail.name);
    let wanted = fstab_for(&layout, jail);
    match world.file_contents(&fstab) {
        Some(current) if current == wanted => {}
        Some(current) => {
            let base = layout.base_dir(&jail.release).display().to_string();
            if let Some(existing) = fstab_base(current).filter(|b| *b != base) {
                return Err(StageError::Conflict(format!(
                    "jail {} runs on {existing}, but the recipe puts it on release {}; \
                     use `thinjail upgrade {} --to {}` to move it and merge its /etc",
                    jail.name, jail.release, jail.name, jail.release
                )));
            }
            actions.push(Planned::noted(
                Action::WriteFile {
                    path: fstab,
                    contents: wanted,
                    mode: 0o644,
                },
                "the fstab differs from what the recipe gives; rewriting it",
            ));
        }
        None => actions.push(Planned::new(Action::WriteFile {
            path: fstab,
            contents: wanted,
            mode: 0o644,
        })),
    }
    Ok(actions)
}

impl Stage for MountStage {
    fn name(&self) -> &str {
        "mount"
    }

    fn summary(&self) -> &str {
        SUMMARY
    }

    fn article_step(&self) -> Option<&str> {
        Some("5")
    }

    fn probes(&self, ctx: &StageContext<'_>) -> Probes {
        probes(ctx)
    }

    fn plan(&self, ctx: &StageContext<'_>, world: &World) -> Result<Vec<Planned>, StageError> {
        let mut actions = Vec::new();
        for jail in &ctx.recipe.jails {
            actions.extend(plan_jail(ctx, world, jail, |template, data| {
                Planned::noted(
                    Action::SendReceive {
                        dataset: template,
                        snapshot: GOLD_SNAPSHOT.to_string(),
                        target: data,
                    },
                    "article: a full copy, not a clone, so the jail does not depend on the template;\n\
                     `send -p` carries the template's thinjail:managed mark to the copy",
                )
            })?);
        }
        Ok(actions)
    }
}

/// What any mount-like stage needs observed: each jail's root and fstab.
pub fn probes(ctx: &StageContext<'_>) -> Probes {
    let mut probes = Probes::default();
    for jail in &ctx.recipe.jails {
        probes.path(ctx.layout.root(&jail.name));
        probes.file(ctx.layout.fstab(&jail.name));
    }
    probes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstab_has_the_articles_two_lines_written_literally() {
        let text = fstab_text(
            Path::new("/j/base/13.1-RELEASE-base"),
            Path::new("/j/t0/data"),
            Path::new("/j/.mountpoints/t0"),
        );
        assert_eq!(
            text,
            "/j/base/13.1-RELEASE-base  /j/.mountpoints/t0  nullfs  ro  0   0\n/j/t0/data  /j/.mountpoints/t0/skeleton  nullfs  rw  0   0\n"
        );
        // Read back as jail(8) does: no escapes decoded, comments cut at `#`.
        assert_eq!(
            fstab_base("# thinjail\n  \n/j/base/x#comment /j/r nullfs ro 0 0\n").as_deref(),
            Some("/j/base/x")
        );
        assert_eq!(
            fstab_base("/my\\040jails/b /r nullfs ro 0 0\n").as_deref(),
            Some("/my\\040jails/b")
        );
    }
}
