//! Third-party stages: the example plugins (`pkg`, `clone-mount`) built, loaded, shown
//! in plans and applied on the Linux test bed; and every kind of bad plugin refused
//! with its own error before anything runs.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use thinjail_core::recipe::StageEntry;
use thinjail_core::Recipe;
use thinjail_testbed::fixtures::base::{PKG_DOC_DIR, PKG_LOG};
use thinjail_testbed::harness::{run_with_timeout, Bed, Run};
use thinjail_testbed::plugins::{built, Plugins};
use thinjail_testbed::samples::zfs_get_one;

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

/// The pkg stage's configuration in these tests: one package, and the file the
/// synthetic pkg installs for it.
const PKG_CONFIG: &str =
    r#"(packages: ["hello"], installs: {"hello": "/usr/local/share/doc/hello/README"})"#;

fn plugins() -> &'static Plugins {
    built()
}

/// A directory only root can write to, for installing plugin libraries.
fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("thinjail-plugins-")
        .tempdir_in("/var/tmp")
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn plugin(name: &str, plugin: &str, config: Option<&str>) -> StageEntry {
    StageEntry {
        name: name.to_string(),
        plugin: Some(plugin.to_string()),
        config: config.map(String::from),
    }
}

/// The article's stages with `clone-mount` in place of `mount` and `pkg` at the end.
fn plugin_stages(clone_mount: &str, pkg: &str) -> Vec<StageEntry> {
    vec![
        StageEntry::builtin("zfs"),
        StageEntry::builtin("install"),
        StageEntry::builtin("skeleton"),
        plugin("clone-mount", clone_mount, None),
        StageEntry::builtin("rcconf"),
        plugin("pkg", pkg, Some(PKG_CONFIG)),
    ]
}

/// The article's recipe, customized, written to `dir/name.ron`.
fn article_recipe(dir: &Path, name: &str, customize: impl FnOnce(&mut Recipe)) -> PathBuf {
    let text = thinjail_cli::recipes::builtin("article").unwrap().text;
    let mut recipe = Recipe::from_ron(text, "article").unwrap();
    customize(&mut recipe);
    let path = dir.join(format!("{name}.ron"));
    fs::write(&path, recipe.to_ron()).unwrap();
    path
}

/// Runs the `thinjail` command (through the test bed binary, which only changes how
/// hosts are reached) with no test bed behind it: for commands that only plan or list.
fn thinjail(args: &[&str]) -> Run {
    let state = tempfile::tempdir().unwrap();
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("THINJAIL_TESTBED_STATE", state.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_with_timeout(command)
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn thinjail_stages_lists_built_in_and_plugin_stages_with_where_they_come_from() {
    let dir = plugin_dir();
    let pkg = plugins().install("pkg", dir.path(), "libpkg.so", 0o755);
    let clone = plugins().install("clone_mount", dir.path(), "libclone_mount.so", 0o755);
    let run = thinjail(&["stages", "--plugin", text(&pkg), "--plugin", text(&clone)]);
    run.expect_code(0);
    for expected in [
        "  mount          each jail's data from the template's @gold, its mountpoint and its fstab [article 5]\n                 from built-in (thinjail-stage-mount)",
        "  pkg            installs packages into jails with pkg(8); nothing when they are already there\n",
        &format!("from plugin pkg 0.1.0 ({})", pkg.display()),
        "  clone-mount    each jail's data as a zfs clone of the template's @gold, its mountpoint and its fstab\n",
        &format!("from plugin clone-mount 0.1.0 ({})", clone.display()),
    ] {
        assert!(run.stdout.contains(expected), "{expected:?} missing from:\n{}", run.stdout);
    }

    let json = thinjail(&["stages", "--json", "--plugin", text(&pkg)]);
    json.expect_code(0);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let stages = value["stages"].as_array().unwrap();
    let pkg_view = stages.iter().find(|s| s["name"] == "pkg").unwrap();
    assert_eq!(pkg_view["source"]["kind"], "plugin");
    assert_eq!(pkg_view["source"]["plugin"], "pkg");
    assert_eq!(pkg_view["source"]["path"], text(&pkg));
    let zfs_view = stages.iter().find(|s| s["name"] == "zfs").unwrap();
    assert_eq!(zfs_view["source"]["kind"], "builtin");

    // With a recipe: its stages in its order, plugins included, then the others.
    let recipe = article_recipe(dir.path(), "with-plugins", |r| {
        r.stages = plugin_stages(text(&clone), text(&pkg));
    });
    let listed = thinjail(&["stages", text(&recipe)]);
    listed.expect_code(0);
    let names: Vec<&str> = listed
        .stdout
        .lines()
        .filter(|l| l.starts_with("  ") && !l.trim_start().starts_with("from "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        [
            "zfs",
            "install",
            "skeleton",
            "clone-mount",
            "rcconf",
            "pkg",
            "mount"
        ],
        "{}",
        listed.stdout
    );
    let check = thinjail(&["check", text(&recipe)]);
    check.expect_code(0);
    assert!(
        check
            .stdout
            .contains("stages: zfs → install → skeleton → clone-mount → rcconf → pkg"),
        "{}",
        check.stdout
    );
}

#[test]
fn plan_shows_what_plugin_stages_will_do_as_shell_commands() {
    let dir = plugin_dir();
    let pkg = plugins().install("pkg", dir.path(), "libpkg.so", 0o755);
    let clone = plugins().install("clone_mount", dir.path(), "libclone_mount.so", 0o755);
    let recipe = article_recipe(dir.path(), "with-plugins", |r| {
        r.stages = plugin_stages(text(&clone), text(&pkg));
    });
    let run = thinjail(&["plan", text(&recipe), "--fresh", "--format", "sh"]);
    run.expect_code(0);
    let script = &run.stdout;
    let position = |needle: &str| {
        script
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from:\n{script}"))
    };
    let clone_stage = position("# --- stage clone-mount: each jail's data as a zfs clone");
    position(&format!(
        "# (from plugin clone-mount 0.1.0, {})",
        clone.display()
    ));
    let clone_line = position(
        "zfs clone -o thinjail:managed=zroot/jails zroot/jails/base/13.1-RELEASE-template@gold zroot/jails/thinjail0/data\n",
    );
    let start = position("jail -f /etc/jail.conf.d/thinjail0.conf -c thinjail0\n");
    position(&format!("# (from plugin pkg 0.1.0, {})", pkg.display()));
    let install = position("jexec -l thinjail0 env ASSUME_ALWAYS_YES=yes pkg install -y hello\n");
    let record = position("cat > /usr/local/jails/thinjail0/pkg.list <<'EOF'\n");
    assert!(clone_stage < clone_line && clone_line < start && start < install && install < record);
    assert!(
        !script.contains("zfs send"),
        "the built-in copy is gone:\n{script}"
    );

    let json = thinjail(&["plan", text(&recipe), "--fresh", "--format", "json"]);
    json.expect_code(0);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let stages = value["stages"].as_array().unwrap();
    let pkg_stage = stages.iter().find(|s| s["stage"] == "pkg").unwrap();
    assert_eq!(pkg_stage["source"]["kind"], "plugin");
    assert_eq!(pkg_stage["actions"][0]["action"], "exec_in_jail");
    assert_eq!(pkg_stage["actions"][0]["note"], "not installed yet: hello");
}

#[test]
fn plugins_are_found_by_name_in_the_plugin_dir_or_given_with_dash_dash_plugin() {
    let dir = plugin_dir();
    let pkg = plugins().install("pkg", dir.path(), "libpkg.so", 0o755);
    plugins().install("clone_mount", dir.path(), "libclone_mount.so", 0o755);
    let by_name = article_recipe(dir.path(), "by-name", |r| {
        r.host.plugin_dir = dir.path().to_path_buf();
        r.stages = plugin_stages("clone-mount", "pkg");
    });
    let run = thinjail(&["plan", text(&by_name), "--fresh", "--format", "sh"]);
    run.expect_code(0);
    let clone_path = dir.path().join("libclone_mount.so");
    assert!(
        run.stdout.contains(&format!(
            "# (from plugin clone-mount 0.1.0, {})",
            clone_path.display()
        )),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("pkg install -y hello"));

    // A recipe naming a stage without `plugin:` gets it from --plugin.
    let unnamed = article_recipe(dir.path(), "unnamed", |r| {
        r.stages.push(StageEntry {
            name: "pkg".into(),
            plugin: None,
            config: Some(PKG_CONFIG.into()),
        });
    });
    let without = thinjail(&["plan", text(&unnamed), "--fresh"]);
    without.expect_code(65);
    assert!(
        without.stderr.contains("unknown stage \"pkg\""),
        "{}",
        without.stderr
    );
    let with = thinjail(&["plan", text(&unnamed), "--fresh", "--plugin", text(&pkg)]);
    with.expect_code(0);
    assert!(
        with.stdout
            .contains("jexec -l thinjail0 env ASSUME_ALWAYS_YES=yes pkg install -y hello"),
        "{}",
        with.stdout
    );

    // A name that is not there says where it looked.
    let missing = article_recipe(dir.path(), "missing", |r| {
        r.host.plugin_dir = dir.path().to_path_buf();
        r.stages.push(plugin("zstd", "zstd", None));
    });
    let run = thinjail(&["plan", text(&missing), "--fresh"]);
    run.expect_code(65);
    assert!(
        run.stderr.contains(&format!(
            "no plugin \"zstd\" in {} (looked for libzstd.so, zstd.so)",
            dir.path().display()
        )),
        "{}",
        run.stderr
    );
}

fn zfs_get(property: &str, dataset: &str) -> String {
    zfs_get_one(property, dataset, false)
        .unwrap_or_else(|e| panic!("zfs get {property} {dataset}: {e}"))
}

#[test]
fn apply_with_the_pkg_and_clone_mount_plugins_on_the_test_bed() {
    let dir = plugin_dir();
    let pkg = plugins().install("pkg", dir.path(), "libpkg.so", 0o755);
    let clone = plugins().install("clone_mount", dir.path(), "libclone_mount.so", 0o755);
    let bed = Bed::article(BIN, |recipe| {
        recipe.stages = plugin_stages(text(&clone), text(&pkg));
    });
    let run = bed.apply();
    run.expect_code(0);

    // The jail's data is a clone of the template's @gold, not a received copy.
    let pool = bed.pool.name().to_string();
    assert_eq!(
        zfs_get("origin", &format!("{pool}/jails/thinjail0/data")),
        format!("{pool}/jails/base/13.1-RELEASE-template@gold")
    );
    let datasets = bed.datasets();
    assert!(datasets.contains("jails/thinjail0/data"), "{datasets:?}");
    assert!(
        !datasets.contains("jails/thinjail0/data@gold"),
        "send/receive would have made data@gold: {datasets:?}"
    );

    // The jail runs, its data is writable and the base read-only (the article's check).
    bed.in_jail("thinjail0", &["touch", "/etc/from-the-clone"])
        .expect_code(0);
    assert!(bed
        .jails_path("thinjail0/data/etc/from-the-clone")
        .is_file());
    let read_only = bed.in_jail("thinjail0", &["touch", "/usr/bin/nope"]);
    assert!(
        read_only.stderr.contains("Read-only file system"),
        "{read_only:?}"
    );

    // pkg ran inside the jail; what it installed is in the jail's data, the record next
    // to its fstab.
    let log = fs::read_to_string(bed.jails_path("thinjail0/data").join(PKG_LOG)).unwrap();
    assert_eq!(log, "pkg install -y hello\n");
    let readme = bed.in_jail("thinjail0", &["cat", "/usr/local/share/doc/hello/README"]);
    readme.expect_code(0);
    assert_eq!(readme.stdout, "hello, installed by the synthetic pkg\n");
    let record = fs::read_to_string(bed.jails_path("thinjail0/pkg.list")).unwrap();
    assert_eq!(record, "# packages thinjail's pkg stage installed\nhello\n");

    // Running again changes nothing.
    bed.apply().expect_nothing_to_do();

    // The package's file disappears (a rollback, a pkg delete): the plan installs it
    // again, and only that.
    fs::remove_file(
        bed.jails_path("thinjail0/data")
            .join(PKG_DOC_DIR)
            .join("hello/README"),
    )
    .unwrap();
    let plan = bed.thinjail(&["plan", text(&bed.recipe_path()), "--format", "sh"]);
    plan.expect_code(0);
    let commands: Vec<&str> = plan
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(
        commands,
        [
            "set -eu",
            "PATH=/sbin:/bin:/usr/sbin:/usr/bin",
            "export PATH",
            "umask 022",
            "jexec -l thinjail0 env ASSUME_ALWAYS_YES=yes pkg install -y hello"
        ],
        "{}",
        plan.stdout
    );
    bed.apply().expect_code(0);
    let log = fs::read_to_string(bed.jails_path("thinjail0/data").join(PKG_LOG)).unwrap();
    assert_eq!(log, "pkg install -y hello\npkg install -y hello\n");
    assert!(bed.apply().stdout.starts_with("Nothing to do"));
}

/// Asserts that `run` was refused with `code` and every one of `needles` in its
/// error, and that nothing happened on the test bed.
fn assert_refused(bed: &Bed, what: &str, run: &Run, code: i32, needles: &[&str]) {
    assert_eq!(
        run.code,
        Some(code),
        "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "{what}: {needle:?} missing from:\n{}",
            run.stderr
        );
    }
    assert!(!run.stdout.contains("Applied"), "{what}: {}", run.stdout);
    assert_eq!(
        bed.datasets(),
        BTreeSet::new(),
        "{what}: nothing may be created"
    );
    assert!(
        !bed.recipe.host.jail_conf.exists(),
        "{what}: jail.conf was written"
    );
}

/// The bed's recipe with `entry` added at the end, written next to it.
fn with_stage(bed: &Bed, name: &str, entry: StageEntry) -> PathBuf {
    let mut recipe = bed.recipe.clone();
    recipe.stages.push(entry);
    let path = bed.dir.path().join(format!("{name}.ron"));
    fs::write(&path, recipe.to_ron()).unwrap();
    path
}

fn apply(bed: &Bed, recipe: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args = vec!["apply", text(recipe), "--yes"];
    args.extend_from_slice(extra);
    bed.thinjail_env(&args, env)
}

#[test]
fn libraries_that_others_could_change_are_refused_before_they_are_opened() {
    let bed = Bed::article(BIN, |_| {});
    let root = bed.dir.path();

    let world_writable = plugins().install("pkg", &root.join("ww"), "libpkg.so", 0o666);
    let recipe = with_stage(
        &bed,
        "ww",
        plugin("pkg", text(&world_writable), Some(PKG_CONFIG)),
    );
    let run = apply(&bed, &recipe, &[], &[]);
    assert_refused(
        &bed,
        "world-writable library",
        &run,
        65,
        &[
            "stages[5].plugin",
            &format!(
                "library {} is writable by group or others (mode 0666)",
                world_writable.display()
            ),
        ],
    );

    let group_dir = root.join("group-writable");
    let in_group_dir = plugins().install("pkg", &group_dir, "libpkg.so", 0o755);
    fs::set_permissions(&group_dir, fs::Permissions::from_mode(0o775)).unwrap();
    let recipe = with_stage(
        &bed,
        "gw",
        plugin("pkg", text(&in_group_dir), Some(PKG_CONFIG)),
    );
    let run = apply(&bed, &recipe, &[], &[]);
    assert_refused(
        &bed,
        "library in a group-writable directory",
        &run,
        65,
        &[&format!(
            "directory {} is writable by group or others (mode 0775)",
            group_dir.display()
        )],
    );

    let foreign = plugins().install("pkg", &root.join("foreign"), "libpkg.so", 0o755);
    std::os::unix::fs::chown(&foreign, Some(4242), Some(4242)).unwrap();
    let recipe = with_stage(
        &bed,
        "foreign",
        plugin("pkg", text(&foreign), Some(PKG_CONFIG)),
    );
    let run = apply(&bed, &recipe, &[], &[]);
    assert_refused(
        &bed,
        "library owned by someone else",
        &run,
        65,
        &["is owned by uid 4242, neither root nor the user running thinjail"],
    );

    let recipe = with_stage(
        &bed,
        "absent",
        plugin("pkg", "/nonexistent/libpkg.so", Some(PKG_CONFIG)),
    );
    let run = apply(&bed, &recipe, &[], &[]);
    assert_refused(
        &bed,
        "missing library",
        &run,
        65,
        &["plugin library /nonexistent/libpkg.so: it does not exist"],
    );

    // The same checks for --plugin, even when the recipe does not use it.
    let run = apply(
        &bed,
        &bed.recipe_path(),
        &["--plugin", text(&world_writable)],
        &[],
    );
    assert_refused(
        &bed,
        "world-writable --plugin",
        &run,
        65,
        &["--plugin: plugin library", "is writable by group or others"],
    );
    // EXIT STATUS: 65 for a library someone other than root could change.
    let run = thinjail(&["stages", "--plugin", text(&world_writable)]);
    run.expect_code(65);
    assert!(run.stderr.contains("is writable by group or others"));
    // 66 for one that does not exist.
    let missing = root.join("no-such-plugin.so");
    let run = thinjail(&["stages", "--plugin", text(&missing)]);
    run.expect_code(66);
    assert!(run.stderr.contains("no-such-plugin.so"), "{}", run.stderr);
}

#[test]
fn libraries_under_the_jails_directory_or_reached_through_links_others_control_are_refused() {
    let bed = Bed::article(BIN, |_| {});
    let root = bed.dir.path();

    // Under jails_dir, where a jail's root (uid 0 like the host's) makes root-owned
    // files: refused whatever the owner and mode.
    let in_jail = bed.jails_path("thinjail0/data/root");
    fs::create_dir_all(&in_jail).unwrap();
    for dir in in_jail
        .ancestors()
        .take_while(|d| d.starts_with(bed.pool.mountpoint()))
    {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let planted = plugins().install("pkg", &in_jail, "libpkg.so", 0o755);
    let recipe = with_stage(
        &bed,
        "in-jail",
        plugin("pkg", text(&planted), Some(PKG_CONFIG)),
    );
    let run = apply(&bed, &recipe, &[], &[]);
    // Recipe validation refuses the path as written; the loader would too.
    assert_refused(
        &bed,
        "library under jails_dir",
        &run,
        65,
        &["stages[5].plugin"],
    );
    assert!(
        run.stderr.contains("jails_dir") || run.stderr.contains("jails directory"),
        "{}",
        run.stderr
    );
    // The same file reached through a link from a directory root owns.
    let trusted = root.join("trusted");
    fs::create_dir(&trusted).unwrap();
    fs::set_permissions(&trusted, fs::Permissions::from_mode(0o755)).unwrap();
    let link = trusted.join("libpkg.so");
    std::os::unix::fs::symlink(&planted, &link).unwrap();
    let recipe = with_stage(&bed, "linked", plugin("pkg", text(&link), Some(PKG_CONFIG)));
    let run = apply(&bed, &recipe, &[], &[]);
    assert_refused(
        &bed,
        "link to a library under jails_dir",
        &run,
        65,
        &[&format!(
            "{} (really {})",
            link.display(),
            planted.display()
        )],
    );
    // --plugin too, before the library is opened.
    let run = apply(&bed, &bed.recipe_path(), &["--plugin", text(&planted)], &[]);
    assert_refused(
        &bed,
        "--plugin under jails_dir",
        &run,
        65,
        &["is under the jails directory"],
    );

    // A good library reached through a link that sits in a directory anyone can
    // write to: the link could be swapped, so it is refused.
    let good = plugins().install("pkg", &root.join("good"), "libpkg.so", 0o755);
    let open = root.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::symlink(&good, open.join("libpkg.so")).unwrap();
    let recipe = with_stage(
        &bed,
        "open-link",
        plugin("pkg", text(&open.join("libpkg.so")), Some(PKG_CONFIG)),
    );
    let run = apply(&bed, &recipe, &[], &[]);
    assert_refused(
        &bed,
        "link in a world-writable directory",
        &run,
        65,
        &[&format!(
            "directory {} is writable by group or others (mode 0777)",
            open.display()
        )],
    );

    // A directory on the way owned by someone else (who could replace the library).
    let theirs = root.join("theirs");
    let in_theirs = plugins().install("pkg", &theirs, "libpkg.so", 0o755);
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let recipe = with_stage(
        &bed,
        "theirs",
        plugin("pkg", text(&in_theirs), Some(PKG_CONFIG)),
    );
    let run = apply(&bed, &recipe, &[], &[]);
    assert_refused(
        &bed,
        "library in a directory someone else owns",
        &run,
        65,
        &[&format!(
            "directory {} is owned by uid 65534, neither root nor the user running thinjail",
            theirs.display()
        )],
    );
}

#[test]
fn libraries_that_break_the_interface_are_refused_before_anything_is_planned() {
    let bed = Bed::article(BIN, |_| {});
    let dir = bed.dir.path().join("plugins");
    let future = plugins().install("future", &dir, "libfuture.so", 0o755);
    let not_a_plugin = plugins().install("not_a_plugin", &dir, "libnot_a_plugin.so", 0o755);
    let handmade = plugins().install("handmade", &dir, "libhandmade.so", 0o755);
    let misbehaving = plugins().install("misbehaving", &dir, "libmisbehaving.so", 0o755);
    let pkg = plugins().install("pkg", &dir, "libpkg.so", 0o755);

    let recipe = with_stage(&bed, "future", plugin("future", text(&future), None));
    let run = apply(&bed, &recipe, &[], &[]);
    assert_refused(
        &bed,
        "another interface version",
        &run,
        65,
        &["it was built for plugin interface version 2 (it exports thinjail_plugin_v2), and this thinjail speaks version 1"],
    );

    let recipe = with_stage(
        &bed,
        "not-a-plugin",
        plugin("answer", text(&not_a_plugin), None),
    );
    let run = apply(&bed, &recipe, &[], &[]);
    assert_refused(
        &bed,
        "missing symbol",
        &run,
        65,
        &["it is not a thinjail plugin: it exports no thinjail_plugin_v1 symbol"],
    );

    let recipe = with_stage(&bed, "handmade", plugin("garbage", text(&handmade), None));
    for (flaw, problem) in [
        ("null", "its entry function returned no descriptor"),
        ("version-2", "it was built for plugin interface version 2"),
        ("schema-2", "it exchanges JSON schema version 2"),
        ("small", "its descriptor is 8 bytes"),
        ("no-stages", "it provides no stage"),
        ("bad-stage-name", "its stage 0 has a bad name"),
        ("duplicate-stage", "it lists stage garbage twice"),
        (
            "missing-function",
            "it lacks one of the functions configure, probes, plan, free_reply",
        ),
        ("not-utf8", "its plugin name is not UTF-8"),
    ] {
        let run = apply(&bed, &recipe, &[], &[("THINJAIL_HANDMADE_FLAW", flaw)]);
        assert_refused(
            &bed,
            flaw,
            &run,
            65,
            &[&format!("its plugin descriptor is malformed: {problem}")],
        );
    }

    // Valid libraries whose stage cannot be loaded for this recipe.
    for (name, entry, problem) in [
        (
            "no-such-stage",
            plugin("pkgng", text(&pkg), None),
            "plugin pkg (".to_string() + text(&pkg) + ") has no stage \"pkgng\"; it provides: pkg",
        ),
        (
            "bad-config",
            plugin("pkg", text(&pkg), Some(r#"(packages: ["-rf"])"#)),
            "stage pkg: configuration: \"-rf\" is not a package name".to_string(),
        ),
        (
            "panics-configuring",
            plugin("panics", text(&misbehaving), Some(r#""configure""#)),
            "panicked at tests/plugins/misbehaving/src/lib.rs".to_string(),
        ),
        (
            "panics-probing",
            plugin("panics", text(&misbehaving), Some(r#""probes""#)),
            "the misbehaving plugin panicked while probing".to_string(),
        ),
        (
            "bad-probes",
            plugin("bad-probes", text(&handmade), None),
            "its probes are not what thinjail understands".to_string(),
        ),
    ] {
        let recipe = with_stage(&bed, name, entry);
        let run = apply(&bed, &recipe, &[], &[]);
        assert_refused(&bed, name, &run, 65, &["stages[5].plugin", &problem]);
    }
}

#[test]
fn stages_that_misbehave_while_planning_are_refused_and_nothing_runs() {
    let bed = Bed::article(BIN, |_| {});
    let dir = bed.dir.path().join("plugins");
    let handmade = plugins().install("handmade", &dir, "libhandmade.so", 0o755);
    let misbehaving = plugins().install("misbehaving", &dir, "libmisbehaving.so", 0o755);
    let shown = |path: &Path, plugin: &str, version: &str, stage: &str| {
        format!(
            "plugin {plugin} {version} ({}), stage {stage}",
            path.display()
        )
    };

    for (name, entry, needles) in [
        (
            "panics",
            plugin("panics", text(&misbehaving), Some(r#""plan""#)),
            vec![
                shown(&misbehaving, "misbehaving", "0.1.0", "panics"),
                "panicked at tests/plugins/misbehaving/src/lib.rs".into(),
                "index out of bounds".into(),
            ],
        ),
        (
            "garbage",
            plugin("garbage", text(&handmade), None),
            vec![
                shown(&handmade, "handmade", "0.0.1", "garbage"),
                "its actions are not what thinjail understands".into(),
            ],
        ),
        (
            "alien",
            plugin("alien", text(&handmade), None),
            vec!["unknown variant `format_disk`".into()],
        ),
        (
            "odd-status",
            plugin("odd-status", text(&handmade), None),
            vec!["it replied with unknown status 7".into()],
        ),
        (
            "escapes-path",
            plugin("escapes", text(&misbehaving), Some(r#""path""#)),
            vec!["stage escapes planned `remove /usr/bin`, which touches path /usr/bin outside what the recipe manages; refused".into()],
        ),
        (
            "escapes-dataset",
            plugin("escapes", text(&misbehaving), Some(r#""dataset""#)),
            vec!["touches dataset zroot/usr/home outside what the recipe manages".into()],
        ),
        (
            "escapes-jail",
            plugin("escapes", text(&misbehaving), Some(r#""jail""#)),
            vec!["touches jail somebody-elses outside what the recipe manages".into()],
        ),
        (
            "escapes-probe",
            plugin("escapes", text(&misbehaving), Some(r#""probe""#)),
            vec![format!(
                "stage escapes asks the host to look at {} inside jail thinjail0's own files",
                bed.jails_path("thinjail0/data/etc/master.passwd").display()
            )],
        ),
    ] {
        let recipe = with_stage(&bed, name, entry);
        let run = apply(&bed, &recipe, &[], &[]);
        let mut needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        needles.push("nothing was changed");
        assert_refused(&bed, name, &run, 65, &needles);
    }

    // A stage that refuses the way built-in stages do keeps its meaning (exit 78).
    let recipe = with_stage(&bed, "refuses", plugin("refuses", text(&misbehaving), None));
    let run = apply(&bed, &recipe, &[], &[]);
    assert_refused(
        &bed,
        "refuses",
        &run,
        78,
        &["stage refuses: the host is not the way the refuses stage wants it"],
    );
}
