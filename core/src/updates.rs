//! What thinjail hands FreeBSD's own update tools, and where it keeps it:
//!
//! - freebsd-update(8) runs with a configuration thinjail writes (`-f`) and a work
//!   directory of its own (`-d`), both host-owned under `cache_dir/freebsd-update/`;
//!   `fetch` and `install` are separate actions (see [`crate::host::judge`] for how
//!   their exits are read).
//! - Each release's etcupdate(8) tree — the "current" tree etcupdate compares a
//!   jail's files against — is recorded twice when the release is installed: as the
//!   tarball `/usr/share/thinjail/etcupdate.txz` in its base (read-only in every jail
//!   on that base: what a jail moving *to* the release merges with), and extracted as
//!   `/var/db/etcupdate/current` in its template (so every jail starts with its
//!   baseline).

use std::path::{Path, PathBuf};

use crate::action::{Action, FreebsdUpdateCommand};
use crate::layout::Layout;
use crate::recipe::{Recipe, Release};
use crate::stage::{Planned, Probes};
use crate::world::{PathState, World};

/// FreeBSD's trusted key print, as in `usr.sbin/freebsd-update/freebsd-update.conf`.
pub const KEYPRINT: &str = "800651ef4b4c71c27e60786d7b487188970f4b4169cc055784e21eb71d410cc5";

/// FreeBSD's update server (pool), as in `freebsd-update.conf`.
pub const SERVER_NAME: &str = "update.FreeBSD.org";

/// A release's etcupdate tarball, relative to its base (and so, inside every jail on
/// that base, at `/usr/share/thinjail/etcupdate.txz`, read-only).
pub const ETCUPDATE_TARBALL: &str = "usr/share/thinjail/etcupdate.txz";

/// The baseline etcupdate compares against, relative to a jail's root (`WORKDIR/current`).
pub const ETCUPDATE_BASELINE: &str = "var/db/etcupdate/current";

/// The jail-specific paths an etcupdate baseline needs: etcupdate writes its work
/// directory under `/var` and merges `/etc`, so both must be the jail's own.
pub const ETCUPDATE_NEEDS: [&str; 2] = ["etc", "var"];

/// Which kind of tree freebsd-update updates; it decides the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateTree {
    /// A finished thin base: its jail-specific paths are links into `skeleton/`,
    /// which freebsd-update must not write through (`IgnorePaths`).
    ThinBase,
    /// A complete tree: a fresh base before the template is made from it, a
    /// template, an etcupdate tree. Whatever it lacks, freebsd-update leaves alone
    /// (a path missing on disk is never added unless the release lacked it too).
    Complete,
}

/// `cache_dir/freebsd-update`: thinjail's configurations and work directories.
pub fn freebsd_update_dir(recipe: &Recipe) -> PathBuf {
    recipe.host.cache_dir.join("freebsd-update")
}

/// The work directory (`-d`) for a release's trees (freebsd-update keeps one
/// install manifest per tree in it, named by the tree's path).
pub fn workdir(recipe: &Recipe, release: &str) -> PathBuf {
    freebsd_update_dir(recipe).join(release)
}

/// The configuration (`-f`) for a release and kind of tree.
pub fn config_path(recipe: &Recipe, release: &str, tree: UpdateTree) -> PathBuf {
    let kind = match tree {
        UpdateTree::ThinBase => "thin-base",
        UpdateTree::Complete => "complete",
    };
    freebsd_update_dir(recipe).join(format!("{release}-{kind}.conf"))
}

/// The paths freebsd-update ignores in a thin base: the jail-specific paths, links
/// into `skeleton/` there.
pub fn ignored_paths(recipe: &Recipe) -> Vec<String> {
    recipe
        .template
        .jail_specific
        .iter()
        .map(|p| format!("/{}", p.trim_matches('/')))
        .collect()
}

/// The configuration thinjail gives freebsd-update: FreeBSD's defaults
/// (`freebsd-update.conf`) with `Components world` (jails run the host's kernel, a
/// base has no `/usr/src`), `BackupKernel no`, and for a thin base `IgnorePaths`.
pub fn config_text(recipe: &Recipe, release: &str, tree: UpdateTree) -> String {
    let mut text = format!(
        "# freebsd-update.conf(5) for {release}, written by thinjail (rewritten when it differs).\n\
         # FreeBSD's defaults, except: Components world (jails run the host's kernel and a\n\
         # base has no /usr/src) and BackupKernel no (there is no kernel to back up).\n"
    );
    if tree == UpdateTree::ThinBase {
        text.push_str(
            "# IgnorePaths: in a thin base the jail-specific paths are links into skeleton/,\n\
             # the directory each jail's own data is mounted on; they are never written through.\n",
        );
    }
    text.push_str(&format!(
        "KeyPrint {KEYPRINT}\nServerName {SERVER_NAME}\nComponents world\n"
    ));
    if tree == UpdateTree::ThinBase {
        text.push_str(&format!(
            "IgnorePaths {}\n",
            ignored_paths(recipe).join(" ")
        ));
    }
    text.push_str(
        "IDSIgnorePaths /usr/share/man/cat\n\
         IDSIgnorePaths /usr/share/man/whatis\n\
         IDSIgnorePaths /var/db/locate.database\n\
         IDSIgnorePaths /var/log\n\
         UpdateIfUnmodified /etc/ /var/ /root/ /.cshrc /.profile\n\
         MergeChanges /etc/ /boot/device.hints\n\
         BackupKernel no\n",
    );
    text
}

/// The release's etcupdate tarball on the host (in its base).
pub fn etcupdate_tarball(layout: &Layout<'_>, release: &str) -> PathBuf {
    layout.base_dir(release).join(ETCUPDATE_TARBALL)
}

/// The release's etcupdate tarball as a jail on its base sees it.
pub fn tarball_in_jail() -> PathBuf {
    Path::new("/").join(ETCUPDATE_TARBALL)
}

/// The baseline every new jail of `release` inherits, in its template.
pub fn template_baseline(layout: &Layout<'_>, release: &str) -> PathBuf {
    layout.template_dir(release).join(ETCUPDATE_BASELINE)
}

/// The throwaway clone of a base's `@install` an etcupdate tree is built from when
/// the base (installed by an older thinjail) has none: its dataset and mountpoint.
pub fn tree_clone(layout: &Layout<'_>, release: &str) -> (String, PathBuf) {
    let dataset = format!("{}/base/{release}-etcupdate", layout.jails_dataset());
    let dir = layout
        .jails_dir()
        .join("base")
        .join(format!("{release}-etcupdate"));
    (dataset, dir)
}

/// Whether the recipe's template keeps what an etcupdate baseline needs.
pub fn baseline_possible(recipe: &Recipe) -> bool {
    ETCUPDATE_NEEDS.iter().all(|needed| {
        recipe
            .template
            .jail_specific
            .iter()
            .any(|p| p.trim_matches('/') == *needed)
    })
}

/// What [`plan_freebsd_update`] needs observed for `release`.
pub fn probes(recipe: &Recipe, release: &str, probes: &mut Probes) {
    probes.path(workdir(recipe, release));
    probes.file(config_path(recipe, release, UpdateTree::ThinBase));
    probes.file(config_path(recipe, release, UpdateTree::Complete));
}

/// The release's `UNAME_m` and `UNAME_p` (`amd64`/`amd64`, `arm64`/`aarch64`, …).
pub fn uname(release: &Release) -> (String, String) {
    let (machine, arch) = release
        .platform_dir()
        .split_once('/')
        .unwrap_or(("amd64", "amd64"));
    (machine.to_string(), arch.to_string())
}

/// freebsd-update over `tree`: its work directory and configuration when missing or
/// different, then `fetch`, then `install`, as separate actions. Effects are applied
/// to `world` (a planning copy) as they are planned.
pub fn plan_freebsd_update(
    recipe: &Recipe,
    world: &mut World,
    release: &Release,
    tree: &Path,
    kind: UpdateTree,
) -> Vec<Planned> {
    let mut actions = Vec::new();
    let mut push = |planned: Planned, world: &mut World| {
        planned.action.apply_to(world);
        actions.push(planned);
    };
    let workdir = workdir(recipe, &release.name);
    if world.path(&workdir) != &PathState::Directory {
        push(
            Planned::noted(
                Action::MakeDir {
                    path: workdir.clone(),
                },
                "freebsd-update's work directory (-d), host-owned",
            ),
            world,
        );
    }
    let config = config_path(recipe, &release.name, kind);
    let text = config_text(recipe, &release.name, kind);
    if world.file_contents(&config) != Some(text.as_str()) {
        push(
            Planned::noted(
                Action::WriteFile {
                    path: config.clone(),
                    contents: text,
                    mode: 0o644,
                },
                "freebsd-update's configuration (-f): FreeBSD's defaults for a jail's world",
            ),
            world,
        );
    }
    let (machine, machine_arch) = uname(release);
    let action = |command| Action::FreebsdUpdate {
        base: tree.to_path_buf(),
        workdir: workdir.clone(),
        config: config.clone(),
        release: release.name.clone(),
        machine: machine.clone(),
        machine_arch: machine_arch.clone(),
        command,
    };
    push(
        Planned::noted(
            action(FreebsdUpdateCommand::Fetch),
            "--currently-running and UNAME_m/UNAME_p: without them freebsd-update takes the host's release and platform; \
             for a release past its end of life fetch exits 1 after fetching, which is reported as a warning",
        ),
        world,
    );
    push(
        Planned::noted(
            action(FreebsdUpdateCommand::Install),
            "a separate run: \"No updates are available to install.\" (exit 1) means nothing to do",
        ),
        world,
    );
    actions
}

/// Trims an etcupdate tree as etcupdate's `build_tree` does and archives it as the
/// release's tarball in its base (its directory made when `make_dir`).
pub fn plan_pack_tree(tree: &Path, tarball: &Path, make_dir: bool) -> Vec<Planned> {
    let mut actions = vec![Planned::noted(
        Action::TrimEtcupdateTree {
            tree: tree.to_path_buf(),
        },
        "etcupdate's build_tree drops etc/*.db, etc/passwd, var/db/services.db, empty files and directories",
    )];
    if make_dir {
        if let Some(dir) = tarball.parent() {
            actions.push(Planned::new(Action::MakeDir {
                path: dir.to_path_buf(),
            }));
        }
    }
    actions.push(Planned::noted(
        Action::ArchiveTree {
            tree: tree.to_path_buf(),
            archive: tarball.to_path_buf(),
        },
        "the release's etcupdate tarball, in its base: every jail on this base reads it at /usr/share/thinjail/etcupdate.txz",
    ));
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> Recipe {
        Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE", arch: "arm64")], host: (cache_dir: "/var/cache/tj"))"#,
            "test",
        )
        .unwrap()
    }

    #[test]
    fn the_thin_base_configuration_ignores_the_jail_specific_links() {
        let recipe = recipe();
        let thin = config_text(&recipe, "14.3-RELEASE", UpdateTree::ThinBase);
        assert!(
            thin.contains("\nIgnorePaths /etc /usr/home /usr/local /root /tmp /var\n"),
            "{thin}"
        );
        assert!(thin.contains("\nComponents world\n"));
        assert!(thin.contains("\nBackupKernel no\n"));
        assert!(thin.contains(&format!("\nKeyPrint {KEYPRINT}\n")));
        let complete = config_text(&recipe, "14.3-RELEASE", UpdateTree::Complete);
        assert!(!complete.contains("\nIgnorePaths"), "{complete}");
        assert_eq!(
            config_path(&recipe, "14.3-RELEASE", UpdateTree::ThinBase),
            Path::new("/var/cache/tj/freebsd-update/14.3-RELEASE-thin-base.conf")
        );
    }

    #[test]
    fn fetch_and_install_run_separately_with_the_release_platform() {
        let recipe = recipe();
        let mut world = World::empty();
        let plan = plan_freebsd_update(
            &recipe,
            &mut world,
            &recipe.releases[0],
            Path::new("/j/base/14.3-RELEASE-base"),
            UpdateTree::ThinBase,
        );
        let lines: Vec<String> = plan.iter().flat_map(|p| p.action.sh_lines()).collect();
        let fetch = lines.iter().find(|l| l.ends_with(" fetch")).unwrap();
        assert_eq!(
            fetch,
            "env PATH=/sbin:/bin:/usr/sbin:/usr/bin PAGER=cat UNAME_m=arm64 UNAME_p=aarch64 freebsd-update \
             -b /j/base/14.3-RELEASE-base -d /var/cache/tj/freebsd-update/14.3-RELEASE \
             -f /var/cache/tj/freebsd-update/14.3-RELEASE-thin-base.conf --currently-running 14.3-RELEASE \
             --not-running-from-cron fetch"
        );
        assert!(lines
            .last()
            .unwrap()
            .ends_with("--not-running-from-cron install"));
        // The work directory and configuration are in place now: not planned again.
        let again = plan_freebsd_update(
            &recipe,
            &mut world,
            &recipe.releases[0],
            Path::new("/j/base/14.3-RELEASE-base"),
            UpdateTree::ThinBase,
        );
        assert_eq!(again.len(), 2, "{again:#?}");
    }
}
