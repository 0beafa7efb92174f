//! Attacks on thinjail's host-side plumbing, executed for real on the Linux test bed:
//! an unprivileged local user (`nobody`, through setpriv(1)) plants the lock file, the
//! download cache, a recipe file, a `zfs` first in `PATH`; a recipe called `default`
//! waits in the working directory; a jail's root makes its boot script print terminal
//! escape sequences on standard output only; a plugin notes its action with them. Each
//! is refused with the documented exit status and a message naming the path, or shown
//! escaped, and nothing it aimed at changes. And the one thing of the caller's
//! environment that does reach host commands: the proxy variables, to those that
//! download.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use thinjail_core::recipe::StageEntry;
use thinjail_testbed::freebsd_update::request_log;
use thinjail_testbed::harness::{run_with_timeout, Bed, Run};
use thinjail_testbed::plugins::built;

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

const NOBODY: u32 = 65534;

/// Runs `script` with sh(1) as `nobody` (uid and gid 65534, no supplementary groups).
fn as_nobody(script: &str) {
    let output = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "sh",
            "-c",
            script,
        ])
        .output()
        .expect("setpriv runs");
    assert!(
        output.status.success(),
        "as nobody: {script}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A directory like /tmp (root's, mode 1777) where `nobody` can plant things: the
/// kind of place an administrator might point `lock_file` or `cache_dir` at.
fn shared_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("thinjail-shared-")
        .tempdir_in("/var/tmp")
        .expect("shared directory");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    dir
}

/// A file root cares about, which an attack would change.
fn canary(bed: &Bed) -> PathBuf {
    let path = bed.dir.path().join("canary");
    fs::write(&path, "precious\n").unwrap();
    path
}

fn sh_word(path: &Path) -> String {
    thinjail_core::quote::sh(&path.display().to_string())
}

fn assert_refused(run: &Run, code: i32, needles: &[&str]) {
    assert_eq!(
        run.code,
        Some(code),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "{needle:?} missing from:\n{}",
            run.stderr
        );
    }
}

#[test]
fn a_lock_file_planted_by_another_user_is_refused_and_never_written() {
    let shared = shared_dir();
    let lock = shared.path().join("thinjail.lock");
    let bed = Bed::article(BIN, |recipe| recipe.host.lock_file = lock.clone());
    let canary = canary(&bed);

    // nobody made the lock file first.
    as_nobody(&format!("echo mine > {}", sh_word(&lock)));
    let run = bed.apply();
    assert_refused(
        &run,
        78,
        &[
            &format!("refusing lock file {}", lock.display()),
            "owned by uid 65534",
        ],
    );
    assert!(bed.datasets().is_empty(), "nothing may be created");
    assert_eq!(fs::read_to_string(&lock).unwrap(), "mine\n");

    // nobody made it a link to a file root cares about.
    as_nobody(&format!(
        "rm {lock} && ln -s {canary} {lock}",
        lock = sh_word(&lock),
        canary = sh_word(&canary)
    ));
    let run = bed.command(&["stop", "thinjail0"]);
    assert_refused(&run, 78, &["is a symbolic link"]);
    let run = bed.apply();
    assert_refused(&run, 78, &["is a symbolic link"]);
    assert_eq!(fs::read_to_string(&canary).unwrap(), "precious\n");
    assert!(bed.datasets().is_empty(), "nothing may be created");

    // Gone: thinjail makes its own, mode 0600.
    fs::remove_file(&lock).unwrap();
    bed.command(&["stop", "thinjail0"]).expect_code(0);
    let metadata = fs::symlink_metadata(&lock).unwrap();
    assert!(metadata.is_file());
    assert_eq!(metadata.permissions().mode() & 0o7777, 0o600);
}

#[test]
fn a_cache_planted_by_another_user_is_refused_before_anything_is_downloaded_into_it() {
    let shared = shared_dir();
    let cache = shared.path().join("cache");
    let bed = Bed::article(BIN, |recipe| recipe.host.cache_dir = cache.clone());
    let base_bin = bed.jails_path("base/13.1-RELEASE-base/bin");

    // nobody made the cache directory first, to swap the sets between verification
    // and extraction.
    as_nobody(&format!("mkdir -m 755 {}", sh_word(&cache)));
    let run = bed.apply();
    assert_refused(
        &run,
        1,
        &[
            &format!("refusing to use {} as thinjail's cache", cache.display()),
            "owned by uid 65534",
        ],
    );
    assert_eq!(
        fs::read_dir(&cache).unwrap().count(),
        0,
        "nothing downloaded"
    );
    assert!(!base_bin.exists(), "nothing extracted");

    // A link to a directory nobody owns.
    let theirs = shared.path().join("theirs");
    as_nobody(&format!(
        "rmdir {cache} && mkdir {theirs} && ln -s {theirs} {cache}",
        cache = sh_word(&cache),
        theirs = sh_word(&theirs)
    ));
    let run = bed.apply();
    assert_refused(&run, 1, &["is a symbolic link"]);
    assert_eq!(
        fs::read_dir(&theirs).unwrap().count(),
        0,
        "nothing downloaded"
    );
    assert!(!base_bin.exists(), "nothing extracted");

    // Gone: thinjail makes its own, root's, mode 0700, and finishes the work.
    fs::remove_file(&cache).unwrap();
    bed.apply().expect_code(0);
    let metadata = fs::symlink_metadata(&cache).unwrap();
    assert!(metadata.is_dir());
    assert_eq!(metadata.permissions().mode() & 0o7777, 0o700);
    assert!(base_bin.is_dir());
}

#[test]
fn recipe_files_others_could_change_are_refused_by_commands_that_change_the_host() {
    let bed = Bed::article(BIN, |_| {});
    let recipe = bed.recipe_path();
    let recipe_arg = bed.recipe_arg();
    let refused = |run: &Run, problem: &str| {
        assert_refused(run, 65, &[&format!("recipe {}", recipe.display()), problem]);
        assert!(bed.datasets().is_empty(), "nothing may be created");
    };

    fs::set_permissions(&recipe, fs::Permissions::from_mode(0o666)).unwrap();
    refused(&bed.apply(), "is writable by group or others (mode 0666)");
    refused(
        &bed.command(&["stop", "thinjail0"]),
        "is writable by group or others",
    );
    // Reading it changes nothing: allowed.
    bed.thinjail(&["plan", &recipe_arg, "--fresh"])
        .expect_code(0);
    bed.command(&["list"]).expect_code(0);

    fs::set_permissions(&recipe, fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(&recipe, Some(NOBODY), Some(NOBODY)).unwrap();
    refused(&bed.apply(), "is owned by uid 65534");
    // Unless that is the user who ran thinjail through sudo (an administrator's own
    // recipe in their home directory).
    bed.thinjail_env(
        &["stop", "thinjail0", "-r", &recipe_arg],
        &[("SUDO_UID", "65534")],
    )
    .expect_code(0);
    std::os::unix::fs::chown(&recipe, Some(0), Some(0)).unwrap();

    // Reached through a link nobody planted in a shared directory.
    let shared = shared_dir();
    let link = shared.path().join("recipe.ron");
    as_nobody(&format!("ln -s {} {}", sh_word(&recipe), sh_word(&link)));
    let run = bed.thinjail(&["apply", link.to_str().unwrap(), "--yes"]);
    assert_refused(
        &run,
        65,
        &[&format!(
            "symbolic link {} is owned by uid 65534",
            link.display()
        )],
    );
    assert!(bed.datasets().is_empty(), "nothing may be created");

    // THINJAIL_RECIPE is held to the same rule.
    fs::set_permissions(&recipe, fs::Permissions::from_mode(0o664)).unwrap();
    let run = bed.thinjail_env(&["apply", "--yes"], &[("THINJAIL_RECIPE", &recipe_arg)]);
    assert_refused(&run, 65, &["is writable by group or others (mode 0664)"]);
    assert!(bed.datasets().is_empty(), "nothing may be created");
}

/// Runs `thinjail ARGS` in `dir` with the test bed's state in `state`.
fn thinjail_in(dir: &Path, state: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(dir)
        .env("THINJAIL_TESTBED_STATE", state)
        .env_remove("THINJAIL_RECIPE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_with_timeout(command)
}

#[test]
fn a_bare_recipe_name_is_the_built_in_never_a_file_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // Someone left a recipe called `default` (here: one for another host) where root
    // happens to run thinjail.
    let planted = r#"(host: (jails_dataset: "tank/planted", jails_dir: "/planted"),
        releases: [(name: "14.3-RELEASE")], jails: [(name: "planted", release: "14.3-RELEASE")])"#;
    fs::write(dir.path().join("default"), planted).unwrap();
    fs::write(dir.path().join("article"), planted).unwrap();

    let run = thinjail_in(dir.path(), &state, &["check", "default"], &[]);
    run.expect_code(0);
    assert!(
        run.stdout.starts_with("builtin:default: valid"),
        "{}",
        run.stdout
    );
    let run = thinjail_in(dir.path(), &state, &["plan", "article", "--fresh"], &[]);
    run.expect_code(0);
    assert!(run.stdout.contains("zroot/jails"), "{}", run.stdout);
    assert!(!run.stdout.contains("planted"), "{}", run.stdout);
    let run = thinjail_in(
        dir.path(),
        &state,
        &["plan", "--fresh"],
        &[("THINJAIL_RECIPE", "default")],
    );
    run.expect_code(0);
    assert!(
        run.stdout.contains("# thinjail plan for builtin:default\n"),
        "{}",
        run.stdout
    );
    // The file is still reachable, by a name that says it is one.
    let run = thinjail_in(dir.path(), &state, &["check", "./default"], &[]);
    run.expect_code(0);
    assert!(run.stdout.starts_with("./default: valid"), "{}", run.stdout);
    let run = thinjail_in(dir.path(), &state, &["check", "nosuch"], &[]);
    assert_refused(&run, 66, &["no built-in recipe \"nosuch\"", "./nosuch"]);
}

#[test]
fn host_commands_run_from_the_fixed_path_whatever_path_thinjail_was_given() {
    let bed = Bed::article(BIN, |_| {});
    let fake = bed.dir.path().join("fakebin");
    fs::create_dir(&fake).unwrap();
    let marker = bed.dir.path().join("fake-zfs-ran");
    let zfs = fake.join("zfs");
    fs::write(
        &zfs,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexec /usr/sbin/zfs \"$@\"\n",
            sh_word(&marker)
        ),
    )
    .unwrap();
    fs::set_permissions(&zfs, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
        fake.display()
    );

    let recipe = bed.recipe_arg();
    let run = bed.thinjail_env(&["list", "-r", &recipe, "--json"], &[("PATH", &path)]);
    run.expect_code(0);
    assert!(
        !marker.exists(),
        "the zfs first in the caller's PATH ran: {}",
        fs::read_to_string(&marker).unwrap_or_default()
    );
    let run = bed.thinjail_env(&["apply", &recipe, "--yes"], &[("PATH", &path)]);
    run.expect_code(0);
    assert!(!marker.exists(), "the fake zfs ran during apply");

    // cron(8)'s PATH has no /sbin; a PATH with nothing in it works as well.
    for path in ["/usr/bin:/bin", "/nonexistent"] {
        let run = bed.thinjail_env(&["list", "-r", &recipe, "--json"], &[("PATH", path)]);
        run.expect_code(0);
        assert!(run.stdout.contains("\"running\""), "{}", run.stdout);
        let run = bed.thinjail_env(&["restart", "thinjail0", "-r", &recipe], &[("PATH", path)]);
        run.expect_code(0);
    }
    // `update` from cron: snapshot, stop, freebsd-update, start, all found (the test
    // bed's update server has an update to offer).
    bed.publish_update("13.1-RELEASE", 1, false);
    let run = bed.thinjail_env(
        &["update", "13.1-RELEASE", "-r", &recipe],
        &[("PATH", "/usr/bin:/bin")],
    );
    run.expect_code(0);
    assert!(
        bed.datasets()
            .iter()
            .any(|d| d.contains("13.1-RELEASE-base@pre-update-")),
        "{:?}",
        bed.datasets()
    );
    assert!(!marker.exists(), "the fake zfs ran");
}

/// Whether `text` holds anything that acts on a terminal besides newlines and tabs.
fn has_raw_controls(text: &str) -> bool {
    text.chars()
        .any(|c| thinjail_core::quote::is_control_or_bidi(c) && c != '\n' && c != '\t')
}

#[test]
fn what_a_jail_prints_when_it_fails_is_reported_from_both_streams_and_escaped() {
    let bed = Bed::article(BIN, |_| {});
    bed.apply().expect_code(0);
    let recipe = bed.recipe_arg();
    bed.command(&["stop", "thinjail0"]).expect_code(0);
    // The jail's root rewrites its /etc/rc (in its own data): at the next start it
    // prints, on standard output only, a line hidden with ESC[8m and one reversed
    // with a right-to-left override, and fails.
    fs::write(
        bed.jails_path("thinjail0/data/etc/rc"),
        "#!/bin/sh\nprintf 'booting\\n\\033[8mall is fine\\033[0m\\n\\342\\200\\256reversed\\n'\nexit 1\n",
    )
    .unwrap();

    let run = bed.command(&["start", "thinjail0"]);
    run.expect_code(1);
    assert!(!has_raw_controls(&run.stderr), "{:?}", run.stderr);
    assert!(!has_raw_controls(&run.stdout), "{:?}", run.stdout);
    assert!(
        run.stderr.contains("  stdout:\n    booting\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("    \\x1b[8mall is fine\\x1b[0m\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("    \\u{202e}reversed\n"),
        "{}",
        run.stderr
    );
    // jail(8) lets exec.start write to its own output, then warns on its standard
    // error that the command failed.
    assert!(
        run.stderr
            .contains("  stderr:\n    jail: thinjail0: /bin/sh /etc/rc: failed\n"),
        "{}",
        run.stderr
    );

    let run = bed.thinjail(&["apply", &recipe, "--yes", "--json"]);
    run.expect_code(1);
    let report: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    let failed = &report["failed"];
    assert_eq!(failed["action"]["action"], "start_jail", "{report:#}");
    let stdout = failed["stdout"].as_str().unwrap();
    assert_eq!(
        stdout, "booting\n\\x1b[8mall is fine\\x1b[0m\n\\u{202e}reversed\n",
        "{report:#}"
    );
    assert_eq!(
        failed["stderr"],
        "jail: thinjail0: /bin/sh /etc/rc: failed\n"
    );
    for member in ["error", "command", "stdout", "stderr"] {
        let text = failed[member].as_str().unwrap();
        assert!(!has_raw_controls(text), "{member}: {text:?}");
    }
    assert!(failed["error"].as_str().unwrap().contains("\\x1b[8m"));
}

#[test]
fn the_plan_shown_before_apply_and_a_plugins_refusal_are_escaped() {
    let bed = Bed::article(BIN, |_| {});
    let dir = bed.dir.path().join("plugins");
    let misbehaving = built().install("misbehaving", &dir, "libmisbehaving.so", 0o755);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let with_stage = |name: &str, stage: &str, config: &str| {
        let mut recipe = bed.recipe.clone();
        recipe.stages.push(StageEntry {
            name: stage.into(),
            plugin: Some(misbehaving.display().to_string()),
            config: Some(config.into()),
        });
        let path = bed.dir.path().join(format!("{name}.ron"));
        fs::write(&path, recipe.to_ron()).unwrap();
        path.display().to_string()
    };
    // The recipe may not contain control characters: the plugin makes them (its
    // config's `<ESC>` and `<RLO>` become ESC and U+202E).
    let hides = with_stage(
        "hides",
        "hides",
        r#""shown<ESC>[8m the next line is hidden<RLO>""#,
    );
    // Without --yes and without a terminal, apply shows the plan, then refuses to go
    // on (exit 64): the plan is exactly what a person would see before "Apply?".
    let run = bed.thinjail(&["apply", &hides]);
    run.expect_code(64);
    assert!(!has_raw_controls(&run.stdout), "{:?}", run.stdout);
    assert!(
        run.stdout
            .contains("note: shown\\x1b[8m the next line is hidden\\u{202e}"),
        "{}",
        run.stdout
    );
    let run = bed.thinjail(&["plan", &hides, "--format", "text"]);
    run.expect_code(0);
    assert!(!has_raw_controls(&run.stdout), "{:?}", run.stdout);
    // A script written to a pipe stays exact (it is a script, not a display).
    let run = bed.thinjail(&["plan", &hides]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("# shown\u{1b}[8m the next line"),
        "{}",
        run.stdout
    );

    let refuses = with_stage("refuses", "refuses", r#""<ESC>[2J<ESC>[Hall clear""#);
    let run = bed.thinjail(&["apply", &refuses, "--yes"]);
    assert_refused(&run, 78, &["stage refuses: \\x1b[2J\\x1b[Hall clear"]);
    assert!(!has_raw_controls(&run.stderr), "{:?}", run.stderr);
    assert!(bed.datasets().is_empty(), "nothing may be created");
}

/// The clean environment has one exception: the commands that download get the
/// proxy variables FreeBSD's downloaders read. The mirror plays the proxy (a request
/// sent to a proxy names the whole URL, which it answers too), so nothing leaves the
/// machine; the test bed's update server logs the proxy freebsd-update's phttpget
/// would go through.
#[test]
fn the_proxy_variables_reach_the_commands_that_download() {
    let bed = Bed::article(BIN, |_| {});
    let recipe = bed.recipe_arg();
    let proxy = bed.server.url();
    let proxies = [
        ("http_proxy", proxy.as_str()),
        ("HTTP_PROXY", proxy.as_str()),
        ("NO_PROXY", "example.invalid"),
    ];

    let plan = bed.thinjail_env(&["plan", &recipe], &proxies);
    plan.expect_code(0);
    assert!(
        plan.stdout.contains(
            "\n# fetch downloads: thinjail passes it the proxy variables set in its environment\n\
             # (HTTP_PROXY http_proxy HTTP_PROXY_AUTH FTP_PROXY ftp_proxy NO_PROXY no_proxy), and no other command gets any.\n"
        ),
        "{}",
        plan.stdout
    );
    bed.thinjail_env(&["apply", &recipe, "--yes"], &proxies)
        .expect_code(0);
    let requests = bed.server.requests();
    assert!(
        !requests.is_empty()
            && requests
                .iter()
                .all(|r| r.starts_with(&format!("{proxy}/releases/"))),
        "every download went through the proxy: {requests:?}"
    );

    bed.publish_update("13.1-RELEASE", 2, false);
    let log = request_log(&bed.state_dir());
    bed.thinjail_env(
        &["update", "13.1-RELEASE", "-r", &recipe, "--yes"],
        &[("HTTP_PROXY", "http://proxy.invalid:3128")],
    )
    .expect_code(0);
    let seen = fs::read_to_string(&log).unwrap();
    assert!(
        !seen.is_empty()
            && seen
                .lines()
                .all(|l| l == "13.1-RELEASE amd64 via http://proxy.invalid:3128"),
        "{seen}"
    );
    // Without the variable, the same update goes direct. (Snapshot names carry the
    // second.)
    fs::remove_file(&log).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    bed.command(&["update", "13.1-RELEASE", "--yes"])
        .expect_code(0);
    let seen = fs::read_to_string(&log).unwrap();
    assert!(seen.lines().all(|l| l.ends_with(" direct")), "{seen}");
}
