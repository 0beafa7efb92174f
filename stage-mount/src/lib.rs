//! # thinjail-stage-mount
//!
//! Gives each jail its writable layer and the instructions to assemble it (article
//! step 5): the jail's `data` dataset copied from the template's `@gold` snapshot with
//! `zfs send -p | zfs receive` (as the article does; `-p` carries thinjail's mark), the mountpoint directory where the
//! base and the data meet, and the jail's `fstab` with the article's two nullfs lines
//! (base read-only on the mountpoint, data read-write on its `skeleton`), then the
//! jail's extra mounts (host directories, host files and tmpfs), whose mount points
//! (directories, or the empty file a file mount covers) it makes in the jail's data
//! without following links.
//!
//! A jail whose fstab already points at another release's base is refused: moving a
//! jail to a new release is `thinjail upgrade`, which also merges its /etc.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use thinjail_core::action::Action;
use thinjail_core::fstab::{fstab_base, fstab_for};
use thinjail_core::layout::GOLD_SNAPSHOT;
use thinjail_core::recipe::{Jail, Mount};
use thinjail_core::resources::file_mounts;
use thinjail_core::stage::{
    no_config, DeclaredStage, Planned, Probes, Stage, StageContext, StageError,
};
use thinjail_core::world::{PathState, World};
use thinjail_core::Snapshot;

/// The mount stage.
#[derive(Clone, Copy, Debug, Default)]
pub struct MountStage;

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
                "{} neither exists nor is planned by an earlier stage (normally the skeleton stage)",
                Snapshot::new(&template, GOLD_SNAPSHOT)
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
    actions.extend(plan_mount_points(ctx, world, jail)?);
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

/// The jail's extra mounts: each nullfs source must be a directory of the host (a
/// regular file for a file mount, on a host kernel that mounts files:
/// [`file_mounts`]), and each mount point a real directory in the jail's data (a
/// file for a file mount) — made when missing ([`Action::MakeMountPoint`],
/// [`Action::MakeMountFile`], no link followed), refused when the jail's root put a
/// link or a file on the way (jail(8) would refuse the mount point too).
pub fn plan_mount_points(
    ctx: &StageContext<'_>,
    world: &World,
    jail: &Jail,
) -> Result<Vec<Planned>, StageError> {
    let layout = ctx.layout;
    let data = layout.data_dir(&jail.name);
    let mut actions = Vec::new();
    for mount in &jail.mounts {
        // Off the host (a plan of an empty world), nothing is known of it.
        if let (Some(host), true) = (mount.host(), world.observed) {
            if mount.is_file() {
                let release = world.kernel_release.as_deref().unwrap_or_default();
                file_mounts::check_host_release(release, &jail.name, mount)
                    .map_err(StageError::Conflict)?;
            }
            check_host_kind(world.path(host), &jail.name, mount).map_err(StageError::Conflict)?;
        }
        let point = data.join(mount.data_relative());
        // A file mount point's directories must be directories; the point itself
        // a file or nothing.
        let on_the_way = point.ancestors().skip(usize::from(mount.is_file()));
        let blocked = on_the_way
            .take_while(|p| *p != data)
            .find_map(|p| match world.path(p) {
                PathState::Directory | PathState::Missing => None,
                other => Some((p.to_path_buf(), other)),
            });
        if let Some((at, what)) = blocked {
            return Err(StageError::Conflict(format!(
                "jail {}'s mount point {} cannot be made: {} is {what:?} in the jail's data, not a \
                 directory (jail(8) refuses mount points through symbolic links; fix it inside \
                 the jail)",
                jail.name,
                mount.path(),
                at.display()
            )));
        }
        if mount.is_file() {
            let state = world.path(&point);
            check_file_point(state, &jail.name, mount).map_err(StageError::Conflict)?;
            if !matches!(state, PathState::File { .. }) {
                actions.push(Planned::noted(
                    Action::MakeMountFile {
                        data: data.clone(),
                        path: mount.data_relative().to_string(),
                    },
                    format!(
                        "file mount point of {} in jail {}: an empty file made in the jail's \
                         data without following any link its root planted",
                        mount.path(),
                        jail.name
                    ),
                ));
            }
        } else if *world.path(&point) != PathState::Directory {
            actions.push(Planned::noted(
                Action::MakeMountPoint {
                    data: data.clone(),
                    path: mount.data_relative().to_string(),
                },
                format!(
                    "mount point of {} in jail {}: made in the jail's data without following \
                     any link its root planted",
                    mount.path(),
                    jail.name
                ),
            ));
        }
    }
    Ok(actions)
}

/// What the host path of `mount` must be: a regular file for a file mount, a
/// directory for a directory mount (nullfs refuses either on the other: `EINVAL`).
/// `Ok` when it is; otherwise the refusal (exit 78: only the host shows it).
fn check_host_kind(state: &PathState, jail: &str, mount: &Mount) -> Result<(), String> {
    let host = file_mounts::host_display(mount);
    let at = mount.path();
    match (state, mount.is_file()) {
        (PathState::Directory, false) | (PathState::File { .. }, true) => Ok(()),
        (PathState::Missing, _) => Err(format!(
            "{host} (mounted at {at} in jail {jail}) does not exist on this host"
        )),
        (PathState::File { .. }, false) => Err(format!(
            "{host} (mounted at {at} in jail {jail}) is a file, not a directory: nullfs mounts \
             a file only onto a file; declare it as NullfsFile(host: ..., path: ...)"
        )),
        (PathState::Directory, true) => Err(format!(
            "{host} (mounted as a file at {at} in jail {jail}) is a directory: nullfs mounts a \
             directory only onto a directory; declare it as Nullfs(host: ..., path: ...)"
        )),
        (other, _) => Err(format!(
            "{host} (mounted at {at} in jail {jail}) must be a {}, not {other:?}",
            if mount.is_file() {
                "regular file"
            } else {
                "directory"
            }
        )),
    }
}

/// What the jail-side mount point of a file mount may be when it exists: a file
/// (nullfs covers it); a directory or a symbolic link is refused (exit 78: the
/// jail's root put it there, and thinjail neither removes it nor follows it).
fn check_file_point(state: &PathState, jail: &str, mount: &Mount) -> Result<(), String> {
    match state {
        PathState::Missing | PathState::File { .. } => Ok(()),
        other => Err(format!(
            "jail {jail}'s file mount point {} is {other:?} in the jail's data, not a file \
             (nullfs mounts a file only onto a file; fix it inside the jail)",
            mount.path()
        )),
    }
}

impl DeclaredStage for MountStage {
    const NAME: &'static str = "mount";
    const SUMMARY: &'static str =
        "each jail's data from the template's @gold, its mountpoint and its fstab";
    const ARTICLE_STEP: Option<&'static str> = Some("5");

    fn from_config(config: Option<&str>) -> Result<Self, StageError> {
        no_config(Self::NAME, config)?;
        Ok(MountStage)
    }
}

impl Stage for MountStage {
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
        for mount in &jail.mounts {
            if let Some(host) = mount.host() {
                probes.path(host);
            }
            // nullfs is the host kernel's: whether it mounts a file is its release's.
            probes.kernel_release |= mount.is_file();
            probes.beneath(ctx.layout.data_dir(&jail.name), mount.data_relative());
        }
    }
    probes
}

#[cfg(test)]
mod tests {
    use super::*;
    use thinjail_core::Recipe;

    fn recipe() -> Recipe {
        Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")],
                jails: [(name: "www", release: "14.3-RELEASE",
                         mounts: [NullfsFile(host: "/srv/app.conf", path: "/usr/local/etc/app.conf")])])"#,
            "test",
        )
        .unwrap()
    }

    fn plan(world: &World) -> Result<Vec<Action>, StageError> {
        let recipe = recipe();
        let ctx = StageContext::new(&recipe);
        plan_mount_points(&ctx, world, &recipe.jails[0])
            .map(|planned| planned.into_iter().map(|p| p.action).collect())
    }

    fn host(release: &str) -> World {
        let mut world = World {
            observed: true,
            kernel_release: Some(release.into()),
            ..World::default()
        };
        world.set_path(
            std::path::Path::new("/srv/app.conf"),
            PathState::File { contents: None },
        );
        world
    }

    fn make_file() -> Action {
        Action::MakeMountFile {
            data: "/usr/local/jails/www/data".into(),
            path: "usr/local/etc/app.conf".into(),
        }
    }

    #[test]
    fn a_file_mount_makes_its_file_on_a_host_kernel_that_mounts_files() {
        assert_eq!(plan(&host("15.0-RELEASE")).unwrap(), [make_file()]);
        // Off the host nothing is known: the file is planned, the gate not judged.
        assert_eq!(plan(&World::default()).unwrap(), [make_file()]);
        // The file is there already: nothing to do.
        let mut there = host("15.1-RELEASE");
        there.set_path(
            std::path::Path::new("/usr/local/jails/www/data/usr/local/etc/app.conf"),
            PathState::File { contents: None },
        );
        assert_eq!(plan(&there).unwrap(), []);
    }

    #[test]
    fn a_file_mount_is_refused_below_the_gate_and_on_a_mismatch() {
        let conflict = |world: &World| match plan(world) {
            Err(StageError::Conflict(message)) => message,
            other => panic!("expected a conflict, got {other:?}"),
        };
        assert!(conflict(&host("14.3-RELEASE")).contains("FreeBSD 15.0"));
        let mut dir = host("15.0-RELEASE");
        dir.set_path(std::path::Path::new("/srv/app.conf"), PathState::Directory);
        assert!(conflict(&dir).contains("is a directory"));
        let mut point = host("15.0-RELEASE");
        point.set_path(
            std::path::Path::new("/usr/local/jails/www/data/usr/local/etc/app.conf"),
            PathState::Directory,
        );
        assert!(conflict(&point).contains("not a file"));
        let mut link = host("15.0-RELEASE");
        link.set_path(
            std::path::Path::new("/usr/local/jails/www/data/usr/local"),
            PathState::Symlink {
                target: "/etc".into(),
            },
        );
        assert!(conflict(&link).contains("usr/local"));
    }

    #[test]
    fn file_and_directory_do_not_mix() {
        let file = Mount::NullfsFile {
            host: "/srv/app.conf".into(),
            path: "/usr/local/etc/app.conf".into(),
            writable: false,
        };
        let dir = Mount::Nullfs {
            host: "/srv/www".into(),
            path: "/usr/local/www".into(),
            writable: false,
        };
        let a_file = PathState::File { contents: None };
        assert!(check_host_kind(&a_file, "www", &file).is_ok());
        assert!(check_host_kind(&PathState::Directory, "www", &dir).is_ok());
        let told = check_host_kind(&a_file, "www", &dir).unwrap_err();
        assert!(told.contains("NullfsFile"), "{told}");
        let told = check_host_kind(&PathState::Directory, "www", &file).unwrap_err();
        assert!(told.contains("Nullfs("), "{told}");
        assert!(check_host_kind(&PathState::Missing, "www", &file).is_err());
        let link = PathState::Symlink {
            target: "/etc/passwd".into(),
        };
        assert!(check_host_kind(&link, "www", &file).is_err());
        assert!(check_file_point(&PathState::Missing, "www", &file).is_ok());
        assert!(check_file_point(&a_file, "www", &file).is_ok());
        assert!(check_file_point(&PathState::Directory, "www", &file).is_err());
        assert!(check_file_point(&link, "www", &file).is_err());
    }
}
