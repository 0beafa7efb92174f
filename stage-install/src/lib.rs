//! # thinjail-stage-install
//!
//! Populates each release's base dataset (article step 1) and seals it with an
//! `@install` snapshot. Three methods, chosen per release in the recipe:
//!
//! - `Fetch`: download `MANIFEST` (afresh each install) and the distribution sets into
//!   a cache (sets are reused on later runs), verify every set's SHA-256 against `MANIFEST` *before* extracting
//!   any, then `tar -xpf` so permissions and file flags are kept; when the recipe pins
//!   `manifest_sha256`, `MANIFEST` itself is checked against the pin before anything
//!   else is downloaded;
//! - `Archive(path)`: a local set, verified the same way when a `MANIFEST` is given
//!   (a mismatching local file is reported, never deleted);
//! - `Bsdinstall`: the article's `bsdinstall jail DIR`, made non-interactive. Its jail
//!   script verifies nothing when given a mirror (usr.sbin/bsdinstall/scripts/jail
//!   fetches `MANIFEST` only without `BSDINSTALL_DISTSITE`, and `checksum` begins
//!   `test -f MANIFEST || exit 0`), so `MANIFEST` and the sets are downloaded and
//!   verified first, as `Fetch` does, and bsdinstall is given them in
//!   `BSDINSTALL_DISTDIR` and no mirror: with `MANIFEST` and every set there it
//!   downloads nothing and its own checksum step checks them again.
//!
//! With `update_after_install` (the default), freebsd-update patches the fresh base
//! (`fetch`, then `install`) before `@install` is taken, so the template and every
//! jail start patched, as the Handbook does for a new jail's base.
//!
//! A base that already has `@install` is left alone; one without it (an interrupted
//! install) gets its file flags cleared and is extracted (and patched) again.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use thinjail_core::action::Action;
use thinjail_core::layout::INSTALL_SNAPSHOT;
use thinjail_core::recipe::{Install, Release};
use thinjail_core::stage::{
    no_config, DeclaredStage, Planned, Probes, Stage, StageContext, StageError,
};
use thinjail_core::updates::{self, plan_freebsd_update, UpdateTree};
use thinjail_core::world::World;

/// The install stage.
#[derive(Clone, Copy, Debug, Default)]
pub struct InstallStage;

/// Where a release's downloads are cached: `<cache_dir>/<REL>-<arch>`.
pub fn cache_dir_of(ctx: &StageContext<'_>, release: &Release) -> PathBuf {
    ctx.recipe
        .host
        .cache_dir
        .join(format!("{}-{}", release.name, release.arch))
}

/// A path inside the base whose presence shows an earlier, interrupted install.
fn install_marker(base: &Path) -> PathBuf {
    base.join("bin")
}

impl DeclaredStage for InstallStage {
    const NAME: &'static str = "install";
    const SUMMARY: &'static str = "install each release's base system and snapshot it @install";
    const ARTICLE_STEP: Option<&'static str> = Some("1");

    fn from_config(config: Option<&str>) -> Result<Self, StageError> {
        no_config(Self::NAME, config)?;
        Ok(InstallStage)
    }
}

impl Stage for InstallStage {
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
            let cache = cache_dir_of(ctx, release);
            probes.path(install_marker(&ctx.layout.base_dir(&release.name)));
            if release.update_after_install {
                updates::probes(ctx.recipe, &release.name, &mut probes);
            }
            if let Install::Fetch { sets, .. } | Install::Bsdinstall { sets, .. } = &release.install
            {
                probes.path(cache.join("MANIFEST"));
                for set in sets {
                    probes.path(cache.join(set));
                }
            }
        }
        probes
    }

    fn plan(&self, ctx: &StageContext<'_>, world: &World) -> Result<Vec<Planned>, StageError> {
        let mut actions = Vec::new();
        for release in &ctx.recipe.releases {
            let dataset = ctx.layout.base_dataset(&release.name);
            if world.has_snapshot(&dataset, INSTALL_SNAPSHOT) {
                continue;
            }
            let base = ctx.layout.base_dir(&release.name);
            if world.path(&install_marker(&base)).exists() {
                actions.push(Planned::noted(
                    Action::ClearFlags { path: base.clone() },
                    "the base has files but no @install snapshot: an earlier install was interrupted; \
                     clear schg flags so extracting again can replace them",
                ));
            }
            if let Some(source) = Source::of(&release.install) {
                plan_download_and_verify(ctx, world, release, &source, &mut actions);
            }
            match &release.install {
                Install::Fetch { sets, .. } => {
                    for set in sets {
                        actions.push(Planned::new(Action::Extract {
                            archive: cache_dir_of(ctx, release).join(set),
                            dest: base.clone(),
                        }));
                    }
                }
                Install::Archive { path, manifest } => {
                    if let Some(manifest) = manifest {
                        actions.push(Planned::new(Action::VerifyChecksum {
                            file: path.clone(),
                            manifest: manifest.clone(),
                            delete_bad: false,
                        }));
                    }
                    actions.push(Planned::new(Action::Extract {
                        archive: path.clone(),
                        dest: base.clone(),
                    }));
                }
                Install::Bsdinstall { sets, .. } => {
                    actions.push(Planned::noted(
                        Action::Bsdinstall {
                            dest: base.clone(),
                            distdir: cache_dir_of(ctx, release),
                            distsite: None,
                            sets: sets.clone(),
                        },
                        "article: bsdinstall jail DIR — run unattended (nonInteractive=YES) on the sets verified above: \
                         given a mirror, its jail script skips MANIFEST and its checksum step then verifies nothing, \
                         so it gets BSDINSTALL_DISTDIR with MANIFEST and every set, and no mirror",
                    ));
                }
            }
            if release.update_after_install {
                actions.extend(plan_update_after_install(ctx, world, release, &base));
            }
            actions.push(Planned::new(Action::Snapshot {
                dataset,
                snapshot: INSTALL_SNAPSHOT.to_string(),
            }));
        }
        Ok(actions)
    }
}

/// Where a `Fetch` or `Bsdinstall` install downloads from, and what it trusts.
struct Source<'a> {
    mirror: Option<&'a str>,
    sets: &'a [String],
    /// The SHA-256 the recipe pins for `MANIFEST`.
    manifest_sha256: Option<&'a str>,
}

impl<'a> Source<'a> {
    /// What `install` downloads: `Fetch` and `Bsdinstall` alike (bsdinstall then gets
    /// the verified sets and no mirror); an `Archive` downloads nothing.
    fn of(install: &'a Install) -> Option<Self> {
        match install {
            Install::Fetch {
                mirror,
                sets,
                manifest_sha256,
                ..
            }
            | Install::Bsdinstall {
                mirror,
                sets,
                manifest_sha256,
                ..
            } => Some(Source {
                mirror: mirror.as_deref(),
                sets,
                manifest_sha256: manifest_sha256.as_deref(),
            }),
            Install::Archive { .. } => None,
        }
    }
}

/// Said on the first download: why the cache must be root's alone (the host enforces it).
const CACHE_NOTE: &str = "the cache must be root's alone: apply makes host.cache_dir with mode 0700 and refuses one that \
     someone else owns or can write to, so the sets verified below are the very files extracted";

/// freebsd-update over the freshly extracted base, before `@install` (and so
/// before the template is made from it): every jail starts patched. `@install` is
/// what says it ran: interrupted before it, the next run extracts and patches again.
fn plan_update_after_install(
    ctx: &StageContext<'_>,
    world: &World,
    release: &Release,
    base: &Path,
) -> Vec<Planned> {
    let mut planning = world.clone();
    let mut actions = plan_freebsd_update(
        ctx.recipe,
        &mut planning,
        release,
        base,
        UpdateTree::Complete,
    );
    if let Some(first) = actions
        .iter_mut()
        .find(|p| matches!(p.action, Action::FreebsdUpdate { .. }))
    {
        first.note = Some(format!(
            "update_after_install: patch the new base before the template is made from it, as the Handbook does \
             (@install is taken after, so an interrupted run extracts and patches again)\n{}",
            first.note.take().unwrap_or_default()
        ));
    }
    actions
}

/// Downloads `MANIFEST` (afresh; checked against the recipe's pin first when there
/// is one) and the sets not cached yet, then verifies every set against `MANIFEST`
/// (a bad download is deleted).
fn plan_download_and_verify(
    ctx: &StageContext<'_>,
    world: &World,
    release: &Release,
    source: &Source<'_>,
    actions: &mut Vec<Planned>,
) {
    let &Source {
        mirror,
        sets,
        manifest_sha256,
    } = source;
    let cache = cache_dir_of(ctx, release);
    let url = release.dist_url(mirror);
    if !world.path(&cache).exists() {
        actions.push(Planned::new(Action::MakeDir {
            path: cache.clone(),
        }));
    }
    let manifest = cache.join("MANIFEST");
    let files: Vec<(String, PathBuf)> = std::iter::once("MANIFEST".to_string())
        .chain(sets.iter().cloned())
        .map(|name| (name.clone(), cache.join(name)))
        .collect();
    for (index, (name, file)) in files.iter().enumerate() {
        // MANIFEST is tiny and is the reference for everything else: fetched afresh for
        // every install, so a stale or damaged cached copy cannot block one for good.
        let is_manifest = index == 0;
        if is_manifest || !world.path(file).exists() {
            let download = Action::Download {
                url: format!("{url}/{name}"),
                dest: file.clone(),
            };
            actions.push(if is_manifest {
                Planned::noted(download, CACHE_NOTE)
            } else {
                Planned::new(download)
            });
        }
        if let Some(pin) = manifest_sha256.filter(|_| is_manifest) {
            // Every set is checked against MANIFEST, so MANIFEST itself is checked
            // first: with the pin, a mirror reached over plain http cannot choose
            // what is installed.
            actions.push(Planned::noted(
                Action::VerifySha256 {
                    file: file.clone(),
                    sha256: pin.to_ascii_lowercase(),
                    delete_bad: true,
                },
                "the recipe pins MANIFEST's SHA-256 (manifest_sha256): check it before trusting any checksum it lists",
            ));
        }
    }
    for (_, file) in files.iter().skip(1) {
        actions.push(Planned::new(Action::VerifyChecksum {
            file: file.clone(),
            manifest: manifest.clone(),
            delete_bad: true,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thinjail_core::Recipe;

    fn recipe(install: &str) -> Recipe {
        Recipe::from_ron(
            &format!(r#"(releases: [(name: "14.3-RELEASE", install: {install})], host: (cache_dir: "/var/cache/tj"))"#),
            "test",
        )
        .unwrap()
    }

    #[test]
    fn fetch_verifies_every_set_before_extracting_any() {
        let recipe = recipe(r#"Fetch(sets: ["base.txz", "lib32.txz"])"#);
        let plan = InstallStage
            .plan(&StageContext::new(&recipe), &World::empty())
            .unwrap();
        let kinds: Vec<String> = plan.iter().map(|p| p.action.describe()).collect();
        let first_extract = kinds.iter().position(|k| k.starts_with("extract")).unwrap();
        let last_verify = kinds.iter().rposition(|k| k.starts_with("verify")).unwrap();
        assert!(last_verify < first_extract, "{kinds:#?}");
        assert_eq!(
            plan[1].action.sh_lines()[0],
            "fetch -o - https://download.freebsd.org/releases/amd64/amd64/14.3-RELEASE/MANIFEST > /var/cache/tj/14.3-RELEASE-amd64/MANIFEST.part"
        );
        assert!(kinds.last().unwrap().ends_with("@install"));
        assert!(plan[1].note.as_deref().unwrap().contains("mode 0700"));
    }

    #[test]
    fn a_pinned_manifest_is_checked_before_anything_else_is_downloaded() {
        for form in ["Fetch", "Bsdinstall"] {
            pinned_manifest_is_checked_first(form);
        }
    }

    fn pinned_manifest_is_checked_first(form: &str) {
        let pin = "AB".repeat(32);
        let pinned = recipe(&format!(
            r#"{form}(mirror: "http://mirror.example.org/releases", manifest_sha256: "{pin}", sets: ["base.txz", "lib32.txz"])"#
        ));
        let plan = InstallStage
            .plan(&StageContext::new(&pinned), &World::empty())
            .unwrap();
        let manifest = PathBuf::from("/var/cache/tj/14.3-RELEASE-amd64/MANIFEST");
        let at = |wanted: &dyn Fn(&Action) -> bool| plan.iter().position(|p| wanted(&p.action));
        let download_manifest =
            at(&|a| matches!(a, Action::Download { dest, .. } if *dest == manifest)).unwrap();
        let verify_pin = at(&|a| {
            *a == Action::VerifySha256 {
                file: manifest.clone(),
                sha256: "ab".repeat(32),
                delete_bad: true,
            }
        })
        .expect("the pin is checked");
        let first_set =
            at(&|a| matches!(a, Action::Download { dest, .. } if *dest != manifest)).unwrap();
        assert_eq!(verify_pin, download_manifest + 1);
        assert!(verify_pin < first_set);
        assert_eq!(
            plan[verify_pin].action.sh_lines(),
            [format!(
                "[ \"$(sha256 -q {m})\" = {p} ] || {{ echo SHA-256 mismatch for {m}: the recipe pins {p} >&2; rm -f {m}; exit 1; }}",
                m = manifest.display(),
                p = "ab".repeat(32)
            )]
        );
        // Without a pin, no such step.
        let unpinned = InstallStage
            .plan(
                &StageContext::new(&recipe(&format!("{form}()"))),
                &World::empty(),
            )
            .unwrap();
        assert!(!unpinned
            .iter()
            .any(|p| matches!(p.action, Action::VerifySha256 { .. })));
    }

    #[test]
    fn cached_sets_are_not_downloaded_again() {
        let recipe = recipe("Fetch()");
        let ctx = StageContext::new(&recipe);
        let mut world = World::empty();
        for action in InstallStage.plan(&ctx, &World::empty()).unwrap() {
            if matches!(
                action.action,
                Action::MakeDir { .. } | Action::Download { .. }
            ) {
                action.action.apply_to(&mut world);
            }
        }
        let again = InstallStage.plan(&ctx, &world).unwrap();
        let downloads: Vec<String> = again
            .iter()
            .filter_map(|p| match &p.action {
                Action::Download { url, .. } => Some(url.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(downloads.len(), 1, "only MANIFEST again: {downloads:?}");
        assert!(downloads[0].ends_with("/MANIFEST"));
        assert!(again
            .iter()
            .any(|p| matches!(p.action, Action::VerifyChecksum { .. })));
    }

    #[test]
    fn a_fresh_base_is_patched_before_install_unless_the_recipe_says_not_to() {
        let recipe = recipe("Fetch()");
        let plan = InstallStage
            .plan(&StageContext::new(&recipe), &World::empty())
            .unwrap();
        let kinds: Vec<String> = plan.iter().map(|p| p.action.describe()).collect();
        let extract = kinds.iter().position(|k| k.starts_with("extract")).unwrap();
        let fetch = kinds
            .iter()
            .position(|k| k.starts_with("freebsd-update fetch"))
            .unwrap();
        let install = kinds
            .iter()
            .position(|k| k.starts_with("freebsd-update install"))
            .unwrap();
        assert!(extract < fetch && fetch < install, "{kinds:#?}");
        assert_eq!(install + 1, kinds.len() - 1, "then @install: {kinds:#?}");
        let config = plan
            .iter()
            .find_map(|p| match &p.action {
                Action::WriteFile { path, contents, .. } => Some((path.clone(), contents.clone())),
                _ => None,
            })
            .unwrap();
        assert!(
            config.0.ends_with("14.3-RELEASE-complete.conf"),
            "{config:?}"
        );
        assert!(config.1.contains("Components world"), "{config:?}");

        let mut recipe = recipe;
        recipe.releases[0].update_after_install = false;
        let plan = InstallStage
            .plan(&StageContext::new(&recipe), &World::empty())
            .unwrap();
        assert!(plan
            .iter()
            .all(|p| !matches!(p.action, Action::FreebsdUpdate { .. })));
    }

    #[test]
    fn local_archives_are_never_deleted() {
        let recipe = recipe(r#"Archive(path: "/srv/base.txz", manifest: "/srv/MANIFEST")"#);
        let plan = InstallStage
            .plan(&StageContext::new(&recipe), &World::empty())
            .unwrap();
        assert!(matches!(
            plan[0].action,
            Action::VerifyChecksum {
                delete_bad: false,
                ..
            }
        ));
    }
    /// bsdinstall's jail script verifies nothing when it has a mirror, so the sets are
    /// downloaded and verified first and bsdinstall only gets them, no mirror.
    #[test]
    fn bsdinstall_runs_on_sets_verified_first_and_gets_no_mirror() {
        let recipe = recipe(
            r#"Bsdinstall(mirror: "https://mirror.example/releases", sets: ["base.txz", "lib32.txz"])"#,
        );
        let plan = InstallStage
            .plan(&StageContext::new(&recipe), &World::empty())
            .unwrap();
        let cache = PathBuf::from("/var/cache/tj/14.3-RELEASE-amd64");
        let kinds: Vec<String> = plan.iter().map(|p| p.action.describe()).collect();
        let downloads: Vec<&str> = plan
            .iter()
            .filter_map(|p| match &p.action {
                Action::Download { url, .. } => Some(url.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            downloads,
            [
                "https://mirror.example/releases/amd64/amd64/14.3-RELEASE/MANIFEST",
                "https://mirror.example/releases/amd64/amd64/14.3-RELEASE/base.txz",
                "https://mirror.example/releases/amd64/amd64/14.3-RELEASE/lib32.txz",
            ]
        );
        let bsdinstall = plan
            .iter()
            .position(|p| matches!(p.action, Action::Bsdinstall { .. }))
            .expect("bsdinstall runs");
        let last_verify = kinds.iter().rposition(|k| k.starts_with("verify")).unwrap();
        assert!(last_verify < bsdinstall, "{kinds:#?}");
        for set in ["base.txz", "lib32.txz"] {
            assert!(plan.iter().any(|p| p.action
                == Action::VerifyChecksum {
                    file: cache.join(set),
                    manifest: cache.join("MANIFEST"),
                    delete_bad: true,
                }));
        }
        assert_eq!(
            plan[bsdinstall].action,
            Action::Bsdinstall {
                dest: "/usr/local/jails/base/14.3-RELEASE-base".into(),
                distdir: cache.clone(),
                distsite: None,
                sets: vec!["base.txz".into(), "lib32.txz".into()],
            }
        );
        assert_eq!(
            plan[bsdinstall].action.sh_lines(),
            ["env nonInteractive=YES BSDINSTALL_DISTDIR=/var/cache/tj/14.3-RELEASE-amd64 'DISTRIBUTIONS=base.txz lib32.txz' bsdinstall jail /usr/local/jails/base/14.3-RELEASE-base"]
        );
        assert!(!plan
            .iter()
            .any(|p| matches!(p.action, Action::Extract { .. })));
        assert!(plan[bsdinstall]
            .note
            .as_deref()
            .is_some_and(|n| n.contains("verifies nothing")));
    }
}
