//! What a jail needs besides a base (issue 15), checked with the rest of the recipe:
//! its extra mounts, rctl limits, CPU list and `depend` (the models are in
//! [`crate::resources`]). Every problem names its field and exits 65.

use std::collections::BTreeSet;
use std::path::Path;

use super::{
    check_absolute_path, check_jail_visible_path, Collector, CRITICAL_DIRS, SYSTEM_DIRS,
    SYSTEM_FILES,
};
use crate::recipe::{Jail, Recipe};
use crate::resources::cpuset::CpuList;
use crate::resources::depend::find_cycle;
use crate::resources::mounts::{parse_size, Mount};
use crate::resources::rctl::{Rule, RuleAction};

/// The directory jail(8) mounts a jail's data on, and those it mounts devfs and
/// procfs on: never a mount point of the recipe's.
const RESERVED_ROOT_DIRS: [&str; 3] = ["skeleton", "dev", "proc"];

/// Checks a path inside the jail: absolute, clean, written literally into fstab, and
/// within one of the jail-specific paths (so its mount point is in the jail's data,
/// never in the shared read-only base).
pub fn check_jail_path(path: &str, jail_specific: &[String]) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!(
            "{path:?} must be an absolute path as the jail sees it (e.g. /var/db/shared)"
        ));
    }
    check_absolute_path(Path::new(path))?;
    check_jail_visible_path(Path::new(path))?;
    let relative = path.trim_start_matches('/');
    let first = relative.split('/').next().unwrap_or_default();
    if RESERVED_ROOT_DIRS.contains(&first) {
        return Err(format!(
            "{path} is where thinjail and jail(8) mount the jail's own data and devices"
        ));
    }
    let inside = jail_specific
        .iter()
        .any(|own| relative == own || relative.starts_with(&format!("{own}/")));
    if !inside {
        return Err(format!(
            "{path} is in the read-only base that every jail on the release shares; a mount \
             point must be inside one of the jail's own paths ({}), where thinjail makes it in \
             the jail's data",
            jail_specific
                .iter()
                .map(|p| format!("/{p}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}

/// Checks a host path mounted into a jail: absolute, clean, literal in fstab, outside
/// `jails_dir` and not containing it, not holding the host's password database (or
/// any of [`SYSTEM_FILES`]), and not a system directory when writable.
pub fn check_host_source(host: &Path, writable: bool, jails_dir: &Path) -> Result<(), String> {
    check_absolute_path(host)?;
    check_jail_visible_path(host)?;
    if host.starts_with(jails_dir) {
        return Err(format!(
            "{} is inside jails_dir ({}), where every jail's data, every base and thinjail's \
             own files are: a jail must never see another jail's files",
            host.display(),
            jails_dir.display()
        ));
    }
    if jails_dir.starts_with(host) {
        return Err(format!(
            "{} contains jails_dir ({}): the jail would see every other jail's files",
            host.display(),
            jails_dir.display()
        ));
    }
    if let Some(file) = SYSTEM_FILES.iter().find(|f| Path::new(f).starts_with(host)) {
        return Err(format!(
            "{} is or holds the host's {file}; mount a directory of its own",
            host.display()
        ));
    }
    if writable {
        let system = CRITICAL_DIRS
            .iter()
            .find(|d| host == Path::new(d))
            .or_else(|| SYSTEM_DIRS.iter().find(|d| host.starts_with(d)));
        if let Some(dir) = system {
            return Err(format!(
                "{} is the system directory {dir} or inside it: writable, the jail's root could \
                 change the host's own programs or configuration (mount it read-only, or a \
                 directory of its own)",
                host.display()
            ));
        }
    }
    Ok(())
}

/// What a jail needs besides a base (`field` is e.g. `jails[0]`): its mounts,
/// limits and CPU list.
pub(super) fn check_jail_resources(recipe: &Recipe, jail: &Jail, field: &str, c: &mut Collector) {
    check_mounts(
        c,
        &format!("{field}.mounts"),
        &jail.mounts,
        &recipe.host.jails_dir,
        &recipe.template.jail_specific,
    );
    check_limits(c, &format!("{field}.limits"), &jail.name, &jail.limits);
    if let Some(list) = &jail.cpuset {
        check_cpuset(c, &format!("{field}.cpuset"), list);
    }
}

/// The mounts of one jail (`field` is e.g. `jails[0].mounts`): each path and host
/// path, each size, and no mount point inside another.
pub(super) fn check_mounts(
    c: &mut Collector,
    field: &str,
    mounts: &[Mount],
    jails_dir: &Path,
    jail_specific: &[String],
) {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for (i, mount) in mounts.iter().enumerate() {
        let here = format!("{field}[{i}]");
        let path = mount.path();
        let checked = check_jail_path(path, jail_specific);
        let fine = checked.is_ok();
        c.check(format!("{here}.path"), path, checked);
        if fine {
            let relative = mount.data_relative();
            let nested = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
            if let Some(other) = seen
                .iter()
                .find(|other| nested(relative, other) || nested(other, relative))
            {
                c.check(
                    format!("{here}.path"),
                    path,
                    Err(format!(
                        "{path} overlaps the mount at /{other}: one mount point would have to be \
                         made inside another mount"
                    )),
                );
            }
            seen.insert(relative);
        }
        match mount {
            Mount::Nullfs { host, writable, .. } => c.check(
                format!("{here}.host"),
                &host.display().to_string(),
                check_host_source(host, *writable, jails_dir),
            ),
            Mount::NullfsFile { host, writable, .. } => {
                if fine {
                    c.check(
                        format!("{here}.path"),
                        path,
                        check_file_mount_path(path, jail_specific),
                    );
                }
                c.check(
                    format!("{here}.host"),
                    &host.display().to_string(),
                    check_host_source(host, *writable, jails_dir),
                )
            }
            Mount::Tmpfs { size, .. } => {
                c.check(format!("{here}.size"), size, parse_size(size).map(drop))
            }
        }
    }
}

/// A file mount's path (already a valid jail path) must not be one of the jail's
/// own directories themselves (`/etc`, `/tmp`): nullfs mounts a file only onto a
/// file, and those are directories in every jail's data.
fn check_file_mount_path(path: &str, jail_specific: &[String]) -> Result<(), String> {
    let relative = path.trim_start_matches('/');
    if jail_specific.iter().any(|own| own == relative) {
        return Err(format!(
            "{path} is one of the jail's own directories; a file is mounted onto a file \
             (e.g. {path}/app.conf)"
        ));
    }
    Ok(())
}

/// The rctl limits of one jail (`field` is e.g. `jails[0].limits`): each must read
/// as a rule rctl(8) and the kernel accept, and two limits the kernel would keep as
/// one (the same `deny` with two amounts: the second replaces the first) are refused.
pub(super) fn check_limits(c: &mut Collector, field: &str, jail: &str, limits: &[String]) {
    let mut rules: Vec<Rule> = Vec::new();
    for (i, limit) in limits.iter().enumerate() {
        match Rule::from_limit(jail, limit) {
            Ok(rule) => {
                if let Some(earlier) = rules.iter().find(|r| {
                    **r == rule || (rule.action == RuleAction::Deny && r.same_but_amount(&rule))
                }) {
                    c.check(
                        format!("{field}[{i}]"),
                        limit,
                        Err(format!(
                            "{limit:?} repeats {earlier}: the kernel keeps one deny rule per \
                             resource and per"
                        )),
                    );
                }
                rules.push(rule);
            }
            Err(e) => c.check(format!("{field}[{i}]"), limit, Err(e.0)),
        }
    }
}

/// A jail's CPU list (`field` is e.g. `jails[0].cpuset`).
pub(super) fn check_cpuset(c: &mut Collector, field: &str, list: &str) {
    c.check(field, list, CpuList::parse(list).map(drop));
}

/// Every jail's `depend` (`jails` in recipe order): names of jails the recipe
/// defines, not the jail itself, no name twice, and no loop — each problem on
/// `jails[i].depend`.
pub(super) fn check_depend(c: &mut Collector, jails: &[(&str, &[String])]) {
    let before = c.0.len();
    let names: BTreeSet<&str> = jails.iter().map(|(n, _)| *n).collect();
    for (i, (jail, depends)) in jails.iter().enumerate() {
        let field = format!("jails[{i}].depend");
        let mut seen = BTreeSet::new();
        for name in depends.iter() {
            let problem = if name == jail {
                Some(format!("jail {jail} cannot depend on itself"))
            } else if !names.contains(name.as_str()) {
                Some(format!(
                    "jail {jail} depends on \"{name}\", which the recipe does not define \
                     (jail(8) would fail it: depends on undefined jail)"
                ))
            } else if !seen.insert(name.as_str()) {
                Some(format!("\"{name}\" is listed twice"))
            } else {
                None
            };
            if let Some(problem) = problem {
                c.check(&field, name, Err(problem));
            }
        }
    }
    if c.0.len() == before {
        if let Some(cycle) = find_cycle(jails) {
            let first = jails.iter().position(|(n, _)| *n == cycle[0]).unwrap_or(0);
            c.check(
                format!("jails[{first}].depend"),
                &cycle[0],
                Err(format!(
                    "dependency loop: {} -> {} (jail(8) would start none of them)",
                    cycle.join(" -> "),
                    cycle[0]
                )),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::RecipeError;
    use super::*;

    fn specific() -> Vec<String> {
        ["etc", "usr/home", "usr/local", "root", "tmp", "var"]
            .map(String::from)
            .to_vec()
    }

    fn fields(problems: &[RecipeError]) -> Vec<&str> {
        problems.iter().map(|p| p.field.as_str()).collect()
    }

    #[test]
    fn mount_points_must_be_in_the_jails_own_paths() {
        let s = specific();
        assert!(check_jail_path("/var/db/x", &s).is_ok());
        assert!(check_jail_path("/tmp", &s).is_ok());
        let base = check_jail_path("/mnt", &s).unwrap_err();
        assert!(base.contains("read-only base"), "{base}");
        assert!(base.contains("/usr/local"), "{base}");
        // /usr/localx is not inside /usr/local.
        assert!(check_jail_path("/usr/localx", &s).is_err());
        for bad in [
            "var/db",
            "/var/../etc",
            "/var/./db",
            "/var//db",
            "/var/db/",
            "/",
        ] {
            assert!(check_jail_path(bad, &s).is_err(), "{bad} accepted");
        }
        assert!(
            check_jail_path("/var/my db", &s).is_err(),
            "a blank splits fstab"
        );
        assert!(
            check_jail_path("/var/a#b", &s).is_err(),
            "# starts an fstab comment"
        );
        assert!(check_jail_path("/skeleton/etc", &s).is_err());
        assert!(check_jail_path("/dev/x", &s).is_err());
    }

    #[test]
    fn host_paths_never_reach_jails_or_the_hosts_secrets() {
        let jails = Path::new("/usr/local/jails");
        let ok = |p: &str, w: bool| check_host_source(Path::new(p), w, jails).is_ok();
        assert!(ok("/srv/www", true));
        assert!(!ok("/usr/local/jails/db/data", false));
        assert!(!ok("/usr/local/jails", false));
        assert!(!ok("/usr/local", false));
        assert!(!ok("/", false));
        assert!(!ok("srv/www", false));
        assert!(!ok("/srv/../etc", false));
        assert!(!ok("/etc", false));
        assert!(!ok("/etc/master.passwd", false));
        // Read-only, a system directory may be shown; writable, never.
        assert!(ok("/usr/share/doc", false));
        assert!(!ok("/usr/share/doc", true));
        assert!(!ok("/boot", true));
        assert!(!ok("/var/log", true));
    }

    #[test]
    fn every_mount_problem_names_its_field() {
        let s = specific();
        let mounts = [
            Mount::Nullfs {
                host: "relative/dir".into(),
                path: "/mnt".into(),
                writable: false,
            },
            Mount::Tmpfs {
                path: "/var/cache".into(),
                size: "0".into(),
            },
            Mount::Tmpfs {
                path: "/var/cache/sub".into(),
                size: "1x".into(),
            },
            Mount::Nullfs {
                host: "/srv/www".into(),
                path: "/usr/local/www".into(),
                writable: true,
            },
            Mount::NullfsFile {
                host: "/srv/app.conf".into(),
                path: "/tmp".into(),
                writable: false,
            },
            Mount::NullfsFile {
                host: "/etc/resolv.conf".into(),
                path: "/etc/resolv.conf".into(),
                writable: true,
            },
            Mount::NullfsFile {
                host: "/srv/ok.conf".into(),
                path: "/usr/local/etc/ok.conf".into(),
                writable: true,
            },
            Mount::NullfsFile {
                host: "/srv/inside".into(),
                path: "/usr/local/etc/ok.conf/inside".into(),
                writable: false,
            },
        ];
        let mut c = Collector(Vec::new());
        check_mounts(
            &mut c,
            "jails[2].mounts",
            &mounts,
            Path::new("/usr/local/jails"),
            &s,
        );
        assert_eq!(
            fields(&c.0),
            [
                "jails[2].mounts[0].path",
                "jails[2].mounts[0].host",
                "jails[2].mounts[1].size",
                "jails[2].mounts[2].path",
                "jails[2].mounts[2].size",
                "jails[2].mounts[4].path",
                "jails[2].mounts[5].host",
                "jails[2].mounts[7].path",
            ]
        );
    }

    #[test]
    fn limits_name_their_field_and_one_deny_per_resource() {
        let limits = [
            "memoryuse:deny=1g",
            "bogus",
            "memoryuse:deny=2g",
            "memoryuse:log=2g",
            "cputime:deny=10",
        ]
        .map(String::from);
        let mut c = Collector(Vec::new());
        check_limits(&mut c, "jails[1].limits", "www", &limits);
        assert_eq!(
            fields(&c.0),
            [
                "jails[1].limits[1]",
                "jails[1].limits[2]",
                "jails[1].limits[4]"
            ]
        );
    }

    #[test]
    fn cpu_lists_are_checked() {
        let mut c = Collector(Vec::new());
        check_cpuset(&mut c, "jails[0].cpuset", "0-3");
        check_cpuset(&mut c, "jails[1].cpuset", "0-");
        assert_eq!(fields(&c.0), ["jails[1].cpuset"]);
    }

    #[test]
    fn depend_names_defined_jails_without_loops() {
        let d = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (www, db) = (d(&["db"]), d(&[]));
        let mut c = Collector(Vec::new());
        check_depend(&mut c, &[("www", &www), ("db", &db)]);
        assert!(c.0.is_empty());

        let (a, b) = (d(&["b"]), d(&["a"]));
        let mut c = Collector(Vec::new());
        check_depend(&mut c, &[("a", &a), ("b", &b)]);
        assert_eq!(fields(&c.0), ["jails[0].depend"]);
        assert!(c.0[0].problem.contains("a -> b -> a"), "{}", c.0[0].problem);

        let (x, y) = (d(&["nowhere", "y", "y"]), d(&["y"]));
        let mut c = Collector(Vec::new());
        check_depend(&mut c, &[("x", &x), ("y", &y)]);
        assert_eq!(
            fields(&c.0),
            ["jails[0].depend", "jails[0].depend", "jails[1].depend"]
        );
        assert!(c.0[2].problem.contains("itself"));
    }
}
