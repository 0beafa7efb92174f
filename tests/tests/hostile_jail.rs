//! A hostile jail, executed for real on the Linux test bed: the root user of each jail
//! (through `thinjail exec`, the test bed's jexec) replaces files and whole directories
//! of its own data with symbolic links to host files — canaries in the test's scratch
//! directory, the test bed's own state, the recipe's jail.conf file of the jail, the
//! host's `/` — in every place thinjail, FreeBSD's tools or the test bed's stand-ins
//! touch: `etc` (`rc.conf.thinjail-new`, `.rc.conf.thinjail-*`, `motd.template`,
//! `ssl/certs`), `var/db/etcupdate` (`log`, `warnings`, `conflicts`), `var/log`,
//! `var/db/pkg`, `root`, `tmp`, `usr/local`, `usr/home`; in a second jail whole
//! directories: `etc`, `var/db` (→ `/`), `usr/local`, `usr/home`, `root`, `tmp`.
//! Inside each jail the same absolute paths exist as the jail's own directories, so a
//! link followed inside the jail lands in the jail's own files, and the jail keeps
//! working.
//!
//! Then every command runs on one bed: `apply` (a parameter change that restarts a
//! jail, a template `rc_conf` change, a new jail, the `pkg` plugin), `update`,
//! `upgrade` (to a newly published release), `upgrade --bootstrap-baseline`,
//! `snapshot`, `snapshots`, `rollback`, `restart`, `stop`, `start`, `exec`, `list`,
//! `list --json`, `destroy`, `destroy --data`. Each exits with the status it
//! documents (a refusal says why), and afterwards every canary is byte-identical
//! (contents, mode, owner, modification time), the test bed's state and the jail's
//! jail.conf file are thinjail's own, and nothing appeared on the host outside the
//! jails' datasets and thinjail's own paths.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use thinjail_core::recipe::{ParamValue, StageEntry};
use thinjail_testbed::fixtures::base::PKG_LOG;
use thinjail_testbed::harness::{Bed, Run};
use thinjail_testbed::plugins::built;
use thinjail_testbed::testbed::TestBedState;

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

/// The pkg stage installs `hello`, and looks for the file the synthetic pkg installs.
const PKG_CONFIG: &str =
    r#"(packages: ["hello"], installs: {"hello": "/usr/local/share/doc/hello/README"})"#;

/// Everything about a path that an attack through it would change: kind, contents,
/// mode, owner and modification time, recursively for a directory.
fn fingerprint(path: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fingerprint_into(path, Path::new(""), &mut out);
    out
}

fn fingerprint_into(path: &Path, relative: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        out.insert(relative.display().to_string(), "missing".into());
        return;
    };
    let common = format!(
        "mode {:o} owner {}:{} mtime {}.{}",
        meta.mode() & 0o7777,
        meta.uid(),
        meta.gid(),
        meta.mtime(),
        meta.mtime_nsec()
    );
    let kind = if meta.file_type().is_symlink() {
        format!("link -> {}", fs::read_link(path).unwrap().display())
    } else if meta.is_dir() {
        let mut names: Vec<_> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for name in names {
            fingerprint_into(&path.join(&name), &relative.join(&name), out);
        }
        "dir".to_string()
    } else {
        format!(
            "file {:?}",
            String::from_utf8_lossy(&fs::read(path).unwrap())
        )
    };
    out.insert(relative.display().to_string(), format!("{kind} {common}"));
}

/// Panics, listing the differences, unless `dir` has `before`'s fingerprint.
fn assert_unchanged(before: &BTreeMap<String, String>, dir: &Path) {
    let after = fingerprint(dir);
    let differences: Vec<String> = before
        .keys()
        .chain(after.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| format!("{k}: {:?} -> {:?}", before.get(k), after.get(k)))
        .collect();
    assert!(
        differences.is_empty(),
        "canaries changed:\n{}",
        differences.join("\n")
    );
}

/// The host's canaries, in `<scratch>/canaries`: files and directories root cares
/// about, with an old modification time and unusual modes so any write shows.
struct Canaries {
    dir: PathBuf,
}

impl Canaries {
    fn new(bed: &Bed) -> Self {
        let dir = bed.dir.path().join("canaries");
        fs::create_dir(&dir).unwrap();
        Canaries { dir }
    }

    fn file(&self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        fs::write(&path, format!("host canary {name}, not the jail's\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        path
    }

    /// A directory holding `files` (relative paths, parents made).
    fn directory(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let path = self.dir.join(name);
        fs::create_dir(&path).unwrap();
        for (file, contents) in files {
            let file = path.join(file);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(&file, contents).unwrap();
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o750)).unwrap();
        path
    }

    /// Every canary's modification time set back a year (directories last), so that
    /// the fingerprint shows a write even within the same second.
    fn age(&self) {
        let old = SystemTime::now() - Duration::from_secs(365 * 24 * 3600);
        let mut paths: Vec<PathBuf> = Vec::new();
        collect(&self.dir, &mut paths);
        // Deepest first: setting a directory's time after its entries keeps it.
        paths.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for path in paths {
            let file = fs::File::open(&path).unwrap();
            file.set_times(fs::FileTimes::new().set_modified(old).set_accessed(old))
                .unwrap();
        }
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Names of the entries of `dir`.
fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every name below `dir` (without following links): what a host-side write through a
/// jail's link could create somewhere else.
fn names_below(dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        out.insert(entry.file_name().to_string_lossy().into_owned());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            names_below(&entry.path(), out);
        }
    }
}

fn sh(path: &Path) -> String {
    thinjail_core::quote::sh(&path.display().to_string())
}

/// Runs `script` as the jail's root, inside the jail (`thinjail exec`).
fn as_jail_root(bed: &Bed, jail: &str, script: &str) {
    let run = exec(bed, jail, script);
    assert_eq!(run.code, Some(0), "as {jail}'s root: {script}\n{run:?}");
}

/// `thinjail exec -r RECIPE JAIL -- /bin/sh -c SCRIPT`.
fn exec(bed: &Bed, jail: &str, script: &str) -> Run {
    let recipe = bed.recipe_arg();
    bed.thinjail(&["exec", "-r", &recipe, jail, "--", "/bin/sh", "-c", script])
}

fn expect(run: &Run, code: i32, what: &str) {
    assert_eq!(
        run.code,
        Some(code),
        "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
}

fn refused(run: &Run, code: i32, what: &str, because: &[&str]) {
    expect(run, code, what);
    for reason in because {
        assert!(
            run.stderr.contains(reason),
            "{what}: {reason:?} missing from:\n{}",
            run.stderr
        );
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn links_planted_by_a_jails_root_never_reach_the_host() {
    let plugin_dir = tempfile::Builder::new()
        .prefix("thinjail-plugins-")
        .tempdir_in("/var/tmp")
        .unwrap();
    fs::set_permissions(plugin_dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let pkg = built().install("pkg", plugin_dir.path(), "libpkg.so", 0o755);
    let mut bed = Bed::article(BIN, |recipe| {
        let mut second = recipe.jails[0].clone();
        second.name = "thinjail1".into();
        second.ip4 = vec!["192.168.1.71".into()];
        recipe.jails.push(second);
        recipe.stages.push(StageEntry {
            name: "pkg".into(),
            plugin: Some(pkg.display().to_string()),
            config: Some(PKG_CONFIG.into()),
        });
    });
    bed.publish_release("14.0-RELEASE");
    let mut release = bed.recipe.releases[0].clone();
    release.name = "14.0-RELEASE".into();
    bed.recipe.releases.push(release);
    bed.write_recipe();
    expect(&bed.apply(), 0, "the first apply");

    let scratch = bed.dir.path().to_path_buf();
    let state_file = bed.state_dir().join("jails.json");
    let conf_file = bed.recipe.host.jail_conf_dir.join("thinjail0.conf");
    assert!(state_file.is_file() && conf_file.is_file());

    // The host's canaries.
    let canaries = Canaries::new(&bed);
    let file = |name: &str| canaries.file(name);
    // Planted later: etcupdate refuses to merge while it is there.
    let conflicts = canaries.directory("conflicts", &[("etc/rc.conf", "host\n")]);
    // (path in the jail's data, where the link points)
    let targets0: Vec<(&str, PathBuf)> = vec![
        ("etc/rc.conf.thinjail-new", file("rc-conf-new")),
        (
            "etc/.rc.conf.thinjail-0123456789abcdef",
            file("rc-conf-tmp"),
        ),
        ("etc/motd.template", conf_file.clone()),
        ("etc/ssl/certs/ca-canary.pem", file("certificate")),
        ("var/db/etcupdate/log", file("etcupdate-log")),
        ("var/db/etcupdate/warnings", state_file.clone()),
        ("var/log/rc.log", file("rc-log")),
        ("var/log/certctl.log", file("certctl-log")),
        ("var/log/pkg.log", file("pkg-log")),
        (
            "var/db/pkg",
            canaries.directory("pkgdb", &[("local.sqlite", "db\n")]),
        ),
        ("root/.sh_history", file("history")),
        ("tmp/thinjail.lock", file("tmp")),
        (
            "usr/local/etc",
            canaries.directory("local-etc", &[("pkg.conf", "host\n")]),
        ),
        (
            "usr/home/admin",
            canaries.directory("home", &[(".profile", "host\n")]),
        ),
    ];
    // Whole directories of the second jail; usr/local holds what the pkg stage looks
    // for, so a probe that followed the link would find the package installed.
    let targets1: Vec<(&str, PathBuf)> = vec![
        (
            "etc",
            canaries.directory(
                "etc1",
                &[("rc.conf", "host\n"), ("ssl/certs/x.pem", "host\n")],
            ),
        ),
        ("var/db", PathBuf::from("/")),
        (
            "usr/local",
            canaries.directory(
                "local1",
                &[(
                    "share/doc/hello/README",
                    "hello, installed by the synthetic pkg\n",
                )],
            ),
        ),
        ("usr/home", canaries.directory("home1", &[("x", "host\n")])),
        (
            "root",
            canaries.directory("root1", &[(".profile", "host\n")]),
        ),
        ("tmp", canaries.directory("tmp1", &[("x", "host\n")])),
    ];
    canaries.age();

    // As each jail's root (inside the jail, where its data is mounted at /skeleton and
    // the base's /etc, /var, ... are links into it): the same absolute paths made
    // inside the jail, so that links followed inside resolve to the jail's own files,
    // then the links.
    let mut script0 = String::from("set -e\n");
    for dir in [
        &canaries.dir,
        &bed.state_dir(),
        &bed.recipe.host.jail_conf_dir,
    ] {
        script0.push_str(&format!("mkdir -p {}\n", sh(dir)));
    }
    for dir in ["conflicts", "pkgdb", "local-etc", "home"] {
        script0.push_str(&format!("mkdir -p {}\n", sh(&canaries.dir.join(dir))));
    }
    for (inside, target) in &targets0 {
        script0.push_str(&format!(
            "rm -rf /skeleton/{inside} && mkdir -p \"$(dirname /skeleton/{inside})\" && ln -s {} /skeleton/{inside}\n",
            sh(target)
        ));
    }
    as_jail_root(&bed, "thinjail0", &script0);
    let mut script1 = String::from("set -e\n");
    for (inside, target) in &targets1 {
        if target != Path::new("/") {
            // The jail keeps a working copy of what it moves away.
            script1.push_str(&format!(
                "mkdir -p {t} && cp -a /skeleton/{inside}/. {t}/\n",
                t = sh(target)
            ));
        }
    }
    for (inside, target) in &targets1 {
        script1.push_str(&format!(
            "rm -rf /skeleton/{inside} && ln -s {} /skeleton/{inside}\n",
            sh(target)
        ));
    }
    as_jail_root(&bed, "thinjail1", &script1);
    let data0 = bed.jails_path("thinjail0/data");
    let data1 = bed.jails_path("thinjail1/data");
    for (inside, target) in &targets0 {
        assert_eq!(fs::read_link(data0.join(inside)).unwrap(), *target);
    }
    for (inside, target) in &targets1 {
        assert_eq!(fs::read_link(data1.join(inside)).unwrap(), *target);
    }
    // Where a writer would open a file, a FIFO (a hard link to a host file cannot be
    // made across datasets).
    assert!(std::process::Command::new("mkfifo")
        .arg(data0.join("etc/rc.conf.local"))
        .status()
        .unwrap()
        .success());
    // Inside the jail, the links resolve to the jail's own copies.
    let mirror = |data: &Path, name: &str| {
        data.join(canaries.dir.strip_prefix("/").unwrap())
            .join(name)
    };

    let before = fingerprint(&canaries.dir);
    let host_dirs_before = ["/", "/etc", "/tmp", "/var/tmp"].map(|d| (d, names(Path::new(d))));
    // What a write through a jail's link could create elsewhere: any name in the
    // jails' data (var/db's entries, for the link to /), the links' own names.
    let mut jail_names: BTreeSet<String> = BTreeSet::new();
    names_below(&data0, &mut jail_names);
    names_below(&data1, &mut jail_names);
    for (inside, _) in targets0.iter().chain(&targets1) {
        jail_names.extend(
            Path::new(inside)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
        );
    }
    jail_names.extend(["etcupdate", "pkg", "freebsd-update"].map(String::from));
    let scratch_before = names(&scratch);

    // --- Read-only commands.
    for args in [
        vec!["list"],
        vec!["list", "--json"],
        vec!["snapshots", "thinjail0"],
        vec!["snapshots", "thinjail1", "--json"],
    ] {
        expect(&bed.command(&args), 0, &args.join(" "));
    }
    let inside = exec(
        &bed,
        "thinjail0",
        "echo $$ > /tmp/thinjail.lock; cat /tmp/thinjail.lock",
    );
    expect(&inside, 0, "exec");

    // --- snapshot, then apply: a parameter that restarts thinjail0, a template
    // rc_conf change, a new jail, and the pkg stage on jails whose usr/local moved.
    expect(
        &bed.command(&["snapshot", "thinjail0", "attacked", "--yes"]),
        0,
        "snapshot",
    );
    bed.recipe.jails[0]
        .params
        .insert("sysvshm".into(), ParamValue::Text("new".into()));
    bed.recipe
        .template
        .rc_conf
        .insert("sshd_enable".into(), "YES".into());
    let mut third = bed.recipe.jails[0].clone();
    third.name = "thinjail2".into();
    third.ip4 = vec!["192.168.1.72".into()];
    third.params.clear();
    bed.recipe.jails.push(third);
    bed.write_recipe();
    let applied = bed.apply();
    expect(&applied, 0, "apply with a changed recipe");
    assert!(
        applied
            .stdout
            .contains("jexec -l thinjail1 env ASSUME_ALWAYS_YES=yes pkg install -y hello"),
        "the package is where thinjail1's usr/local link points on the host, not in the jail: install it again, inside\n{}",
        applied.stdout
    );
    assert!(
        applied
            .stdout
            .contains("(/usr/local is a symbolic link to "),
        "{}",
        applied.stdout
    );
    assert!(bed
        .jails_path("thinjail2/data/usr/local/share/doc/hello/README")
        .is_file());
    // pkg ran inside thinjail1: the package went to the jail's own copy of the link's target.
    assert_eq!(
        read(&mirror(&data1, "local1/share/doc/hello/README")),
        "hello, installed by the synthetic pkg\n"
    );
    assert!(read(&data1.join(PKG_LOG)).contains("pkg install -y hello"));
    // The new jail's root replaces its etcupdate baseline by a link to a host tree
    // (a new canary: the others are checked first).
    assert_unchanged(&before, &canaries.dir);
    let baseline = canaries.directory("baseline", &[("etc/rc.conf", "host\n")]);
    canaries.age();
    let before = fingerprint(&canaries.dir);
    as_jail_root(
        &bed,
        "thinjail2",
        &format!(
            "mkdir -p {b} && rm -rf /var/db/etcupdate/current && ln -s {b} /var/db/etcupdate/current",
            b = sh(&baseline)
        ),
    );

    // --- update: freebsd-update on the base and the template; restarts and certctl
    // rehash inside each jail.
    bed.publish_update("13.1-RELEASE", 2, false);
    expect(
        &bed.command(&["update", "13.1-RELEASE", "--yes"]),
        0,
        "update",
    );

    // --- upgrade: thinjail0 merges inside the jail; thinjail1's var/db is a link.
    let upgraded = bed.command(&["upgrade", "thinjail0", "--to", "14.0-RELEASE", "--yes"]);
    expect(&upgraded, 0, "upgrade thinjail0");
    // etcupdate ran inside the jail: its log went to the jail's own copy.
    assert!(
        read(&mirror(&data0, "etcupdate-log")).contains(">>>"),
        "{}",
        upgraded.stdout
    );
    // etcupdate's conflicts directory a link: etcupdate refuses to merge (inside the
    // jail, as FreeBSD's does: `rmdir` of it fails), the upgrade back is undone.
    as_jail_root(
        &bed,
        "thinjail0",
        &format!(
            "rm -rf /var/db/etcupdate/conflicts && ln -s {} /var/db/etcupdate/conflicts",
            sh(&conflicts)
        ),
    );
    refused(
        &bed.command(&["upgrade", "thinjail0", "--to", "13.1-RELEASE", "--yes"]),
        1,
        "upgrade thinjail0 back",
        &[
            "Conflicts remain from previous update",
            "jail thinjail0 is back as it was",
        ],
    );
    refused(
        &bed.command(&["upgrade", "thinjail1", "--to", "14.0-RELEASE", "--yes"]),
        78,
        "upgrade thinjail1",
        &["jail thinjail1's etcupdate state was tampered with: its /var/db is a symbolic link to /"],
    );
    for args in [
        vec!["upgrade", "thinjail2", "--to", "14.0-RELEASE", "--yes"],
        vec!["upgrade", "thinjail2", "--bootstrap-baseline", "--yes"],
    ] {
        refused(
            &bed.command(&args),
            78,
            &args.join(" "),
            &[&format!(
                "jail thinjail2's etcupdate state was tampered with: its /var/db/etcupdate/current is a symbolic link to {}",
                baseline.display()
            )],
        );
    }
    expect(
        &bed.command(&["upgrade", "thinjail0", "--bootstrap-baseline", "--yes"]),
        0,
        "bootstrap thinjail0",
    );
    refused(
        &bed.command(&["upgrade", "thinjail1", "--bootstrap-baseline", "--yes"]),
        78,
        "bootstrap thinjail1",
        &["jail thinjail1's etcupdate state was tampered with: its /var/db is a symbolic link to /"],
    );

    // --- the lifecycle.
    for args in [
        vec!["restart", "thinjail0", "--yes"],
        vec!["stop", "thinjail1", "--yes"],
        vec!["start", "thinjail1", "--yes"],
        vec!["rollback", "thinjail0", "attacked", "--yes"],
        vec!["list", "--json"],
        vec!["destroy", "thinjail2", "--yes"],
        vec!["destroy", "thinjail1", "--data", "--yes"],
        vec!["list"],
    ] {
        expect(&bed.command(&args), 0, &args.join(" "));
        if args[0] == "start" {
            expect(
                &exec(&bed, "thinjail1", "ls /etc /usr/local /root /tmp"),
                0,
                "exec",
            );
        }
    }

    // Every canary exactly as it was.
    assert_unchanged(&before, &canaries.dir);

    // The test bed's state is its own (a write through the jail's link would have
    // made it unreadable), and thinjail0's jail.conf file is thinjail's.
    let state = TestBedState::load(&bed.state_dir()).expect("the test bed's state reads");
    assert_eq!(
        state.jails.keys().collect::<Vec<_>>(),
        ["thinjail0"],
        "{state:?}"
    );
    let conf = read(&conf_file);
    assert!(
        conf.starts_with("# jail thinjail0, written by thinjail")
            && conf.contains("\nthinjail0 {\n"),
        "{conf}"
    );
    assert!(!conf.contains("FreeBSD 1"), "{conf}");

    // Nothing new on the host: at the top of /, /etc, /tmp and /var/tmp (which other
    // programs share) nothing named like anything in a jail's files; in the scratch
    // directory nothing beyond thinjail's own files.
    names_below(&data0, &mut jail_names);
    for (dir, was) in &host_dirs_before {
        let new: Vec<String> = names(Path::new(dir))
            .difference(was)
            .filter(|n| jail_names.contains(*n))
            .cloned()
            .collect();
        assert!(new.is_empty(), "new in {dir}: {new:?}");
    }
    let own: BTreeSet<&str> = ["cache", "state", "etc", "thinjail.lock", "recipe.ron"].into();
    let new: Vec<String> = names(&scratch)
        .difference(&scratch_before)
        .filter(|n| !own.contains(n.as_str()))
        .cloned()
        .collect();
    assert!(new.is_empty(), "new in the scratch directory: {new:?}");
    let etc_names = names(&scratch.join("etc"));
    assert!(
        etc_names
            .iter()
            .all(|n| ["jail.conf", "jail.conf.d", "rc.conf"].contains(&n.as_str())),
        "{etc_names:?}"
    );
}
