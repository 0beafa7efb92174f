//! The `releases` section.

use std::collections::BTreeSet;

use super::host::check_outside_jails_dir;
use super::{
    check_absolute_path, check_installable_release, check_set_name, check_sha256, check_url,
    is_authenticated_url, Collector, RecipeError, PLATFORMS,
};
use crate::recipe::{Install, Recipe};

/// The releases: installable names, known platforms, local files outside
/// `jails_dir`, and mirrors that authenticate what they serve. Returns their names.
pub(super) fn check_releases<'a>(recipe: &'a Recipe, c: &mut Collector) -> BTreeSet<&'a str> {
    let jails_dir = &recipe.host.jails_dir;
    if recipe.releases.is_empty() {
        c.0.push(RecipeError::new(
            "releases",
            "at least one release is needed",
        ));
    }
    let mut release_names = BTreeSet::new();
    for (i, release) in recipe.releases.iter().enumerate() {
        let field = format!("releases[{i}]");
        c.check(
            format!("{field}.name"),
            &release.name,
            check_installable_release(&release.name, &release.arch),
        );
        if !release_names.insert(release.name.as_str()) {
            c.check(
                format!("{field}.name"),
                &release.name,
                Err(format!("release {} is listed twice", release.name)),
            );
        }
        if !PLATFORMS.contains(&release.arch.as_str()) {
            c.check(
                format!("{field}.arch"),
                &release.arch,
                Err(format!(
                    "{:?} is not a FreeBSD platform with distribution sets ({})",
                    release.arch,
                    PLATFORMS.join(", ")
                )),
            );
        }
        if let Some(tarball) = &release.etcupdate {
            let etcupdate = format!("{field}.etcupdate");
            c.check(
                &etcupdate,
                &tarball.display().to_string(),
                check_absolute_path(tarball),
            );
            check_outside_jails_dir(c, &etcupdate, tarball, jails_dir);
        }
        match &release.install {
            Install::Fetch {
                mirror,
                sets,
                insecure,
                manifest_sha256,
            }
            | Install::Bsdinstall {
                mirror,
                sets,
                insecure,
                manifest_sha256,
            } => {
                if let Some(pin) = manifest_sha256 {
                    c.check(
                        format!("{field}.install.manifest_sha256"),
                        pin,
                        check_sha256(pin),
                    );
                }
                check_mirror(
                    c,
                    &field,
                    mirror.as_deref(),
                    *insecure,
                    manifest_sha256.is_some(),
                );
                check_sets(c, &field, sets);
            }
            Install::Archive { path, manifest } => {
                let path_field = format!("{field}.install.path");
                c.check(
                    &path_field,
                    &path.display().to_string(),
                    check_absolute_path(path),
                );
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                c.check(
                    &path_field,
                    &path.display().to_string(),
                    check_set_name(name),
                );
                check_outside_jails_dir(c, &path_field, path, jails_dir);
                if let Some(manifest) = manifest {
                    let manifest_field = format!("{field}.install.manifest");
                    c.check(
                        &manifest_field,
                        &manifest.display().to_string(),
                        check_absolute_path(manifest),
                    );
                    check_outside_jails_dir(c, &manifest_field, manifest, jails_dir);
                }
            }
        }
    }
    release_names
}

/// A mirror must be a URL, and one that authenticates what it serves (`https://`,
/// `file://`) unless the MANIFEST is pinned or the recipe accepts the risk.
pub(super) fn check_mirror(
    c: &mut Collector,
    release_field: &str,
    mirror: Option<&str>,
    insecure: bool,
    pinned: bool,
) {
    let Some(url) = mirror else { return };
    let field = format!("{release_field}.install.mirror");
    c.check(&field, url, check_url(url));
    if check_url(url).is_ok() && !is_authenticated_url(url) && !insecure && !pinned {
        c.check(
            &field,
            url,
            Err(
                "is neither https nor file: anyone on the network path could choose what is \
                 installed; use an https mirror, pin the MANIFEST with manifest_sha256, or say \
                 insecure: true"
                    .into(),
            ),
        );
    }
}

pub(super) fn check_sets(c: &mut Collector, release_field: &str, sets: &[String]) {
    if sets.is_empty() {
        c.0.push(RecipeError::new(
            format!("{release_field}.install.sets"),
            "at least base.txz is needed",
        ));
    }
    for (k, set) in sets.iter().enumerate() {
        c.check(
            format!("{release_field}.install.sets[{k}]"),
            set,
            check_set_name(set),
        );
    }
}
