//! Which file pf's rules come from at boot: rc.d/pf loads `pf_rules`, not
//! necessarily `/etc/pf.conf`, so the pf.conf lines thinjail's anchor needs
//! ([`crate::network::pf::required_pf_conf_lines`]) are looked for in that file
//! ([`pf_conf`]).
//!
//! Read in `freebsd/freebsd-src` (reference only):
//! - `libexec/rc/rc.d/pf`: `load_rc_config pf`, then `pfctl -f "$pf_rules"` at
//!   start, reload and resync (`required_files="$pf_rules"`).
//! - `libexec/rc/rc.conf` (installed as `/etc/defaults/rc.conf`):
//!   `pf_rules="/etc/pf.conf"` ([`DEFAULT`]).
//! - `libexec/rc/rc.subr`'s `load_rc_config`, as [`crate::boot::RcConf`] reads it:
//!   the defaults, `rc_conf_files` (`/etc/rc.conf /etc/rc.conf.local`), then
//!   `/etc/rc.conf.d/pf` and `/usr/local/etc/rc.conf.d/pf` (a file, or each file of
//!   a directory of that name).
//!
//! Observation reads these files natively before it observes pf
//! ([`crate::observe::observe`]) so that the file `pf_rules` names is read with the
//! rest; planning reads the same files again from the world. Not followed: a
//! `pf_rules` set in a file of an `rc.conf.d/pf` *directory* is seen by planning,
//! but its file was not read beforehand (native reads do not list directories), so
//! planning finds it empty and refuses with the lines to add, naming it.

use std::path::{Path, PathBuf};

use crate::boot::{with_freebsd_defaults, RcConf, SystemRoot, WorldFiles};
use crate::jailconf::Files;
use crate::probes::Probes;
use crate::recipe::Recipe;
use crate::world::World;

/// rc.d/pf's rules file when rc.conf does not set `pf_rules`.
pub const DEFAULT: &str = "/etc/pf.conf";

/// The rc(8) service whose configuration names the file.
pub const SERVICE: &str = "pf";

/// The rc.conf(5) files `load_rc_config pf` may read (system paths).
pub fn rc_files() -> Vec<PathBuf> {
    [
        crate::boot::RC_DEFAULTS,
        crate::boot::VENDOR_DEFAULTS,
        "/etc/rc.conf",
        "/etc/rc.conf.local",
        "/etc/rc.conf.d/pf",
        "/usr/local/etc/rc.conf.d/pf",
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

/// Those files below `recipe`'s system root, and the two `rc.conf.d/pf` listed in
/// case they are directories: what planning needs observed to tell the file.
pub fn probes(recipe: &Recipe) -> Probes {
    let root = SystemRoot::new(&recipe.host.system_root);
    let mut probes = Probes::default();
    for file in rc_files() {
        probes.file(root.host(&file));
    }
    for dir in ["/etc/rc.conf.d/pf", "/usr/local/etc/rc.conf.d/pf"] {
        probes.dirs.insert(root.host(Path::new(dir)));
    }
    probes
}

/// The file rc.d/pf loads (a system path), as rc(8) leaves `pf_rules` after
/// reading `files` (FreeBSD's defaults when they hold none); why it cannot be
/// told otherwise (a value the shell computes, or an empty one).
pub fn rules_file(files: &dyn Files) -> Result<PathBuf, String> {
    let files = with_freebsd_defaults(files);
    let rc = RcConf::load(&files, SERVICE);
    match rc.value("pf_rules") {
        Ok(None) => Ok(PathBuf::from(DEFAULT)),
        Ok(Some(value)) if value.trim().is_empty() => {
            let origin = rc
                .get("pf_rules")
                .map(|v| format!(" ({}:{})", v.origin.file.display(), v.origin.line))
                .unwrap_or_default();
            Err(format!(
                "pf_rules is empty{origin}: rc.d/pf loads no rules file at boot, so nothing \
                 would load thinjail's anchor; set it to your pf.conf"
            ))
        }
        // rc.d/pf runs from `/`: a relative path is taken from there.
        Ok(Some(value)) => Ok(Path::new("/").join(value)),
        Err(computed) => Err(format!(
            "pf_rules is computed by the shell ({}:{}): thinjail cannot tell which file pf \
             loads its rules from; set it to a plain path",
            computed.origin.file.display(),
            computed.origin.line
        )),
    }
}

/// The host path of the file pf's rules come from for `recipe` on the observed
/// `world` (below `host.system_root`), or why it cannot be told.
pub fn pf_conf(recipe: &Recipe, world: &World) -> Result<PathBuf, String> {
    let root = SystemRoot::new(&recipe.host.system_root);
    let file = rules_file(&WorldFiles::new(world, &root))?;
    Ok(root.host(&file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::PathState;

    fn recipe() -> Recipe {
        Recipe::from_ron(r#"(releases: [(name: "14.3-RELEASE")])"#, "test").unwrap()
    }

    fn world(files: &[(&str, &str)]) -> World {
        let mut world = World::empty();
        for (path, text) in files {
            world.set_path(
                Path::new(path),
                PathState::File {
                    contents: Some(text.to_string()),
                },
            );
        }
        world
    }

    #[test]
    fn pf_rules_is_read_as_rc_reads_it() {
        let recipe = recipe();
        let at = |files: &[(&str, &str)]| pf_conf(&recipe, &world(files));
        // Nothing set: FreeBSD's default.
        assert_eq!(at(&[]).unwrap(), Path::new("/etc/pf.conf"));
        assert_eq!(
            at(&[("/etc/rc.conf", "pf_enable=\"YES\"\n")]).unwrap(),
            Path::new("/etc/pf.conf")
        );
        assert_eq!(
            at(&[("/etc/rc.conf", "pf_rules=\"/etc/pf.other\"\n")]).unwrap(),
            Path::new("/etc/pf.other")
        );
        // rc.conf.local comes after rc.conf, rc.conf.d/pf after both.
        assert_eq!(
            at(&[
                ("/etc/rc.conf", "pf_rules=\"/etc/pf.a\"\n"),
                ("/etc/rc.conf.local", "pf_rules=/etc/pf.b\n"),
            ])
            .unwrap(),
            Path::new("/etc/pf.b")
        );
        assert_eq!(
            at(&[
                ("/etc/rc.conf", "pf_rules=\"/etc/pf.a\"\n"),
                ("/etc/rc.conf.local", "pf_rules=/etc/pf.b\n"),
                ("/etc/rc.conf.d/pf", "pf_rules=\"${pf_rules}.d\"\n"),
            ])
            .unwrap(),
            Path::new("/etc/pf.b.d")
        );
        // The defaults file of the system, when it has one, gives the default.
        assert_eq!(
            at(&[(
                "/etc/defaults/rc.conf",
                "rc_conf_files=\"/etc/rc.conf\"\npf_rules=\"/etc/pf.default\"\n"
            )])
            .unwrap(),
            Path::new("/etc/pf.default")
        );
        // A value the shell computes, or none at all: refused, saying where.
        let computed = at(&[("/etc/rc.conf", "pf_rules=\"$(hostname).pf\"\n")]).unwrap_err();
        assert!(
            computed.contains("computed by the shell (/etc/rc.conf:1)"),
            "{computed}"
        );
        let empty = at(&[("/etc/rc.conf", "pf_rules=\"\"\n")]).unwrap_err();
        assert!(empty.contains("pf_rules is empty"), "{empty}");
    }

    #[test]
    fn the_file_is_below_the_system_root() {
        let mut recipe = recipe();
        recipe.host.system_root = PathBuf::from("/mnt/system");
        let world = world(&[("/mnt/system/etc/rc.conf", "pf_rules=/etc/pf.other\n")]);
        assert_eq!(
            pf_conf(&recipe, &world).unwrap(),
            Path::new("/mnt/system/etc/pf.other")
        );
        assert!(probes(&recipe)
            .files
            .contains(Path::new("/mnt/system/etc/rc.conf.local")));
    }
}
