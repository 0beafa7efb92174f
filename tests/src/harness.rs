//! One end-to-end test's world: a fresh zfs-fuse pool, a loopback mirror serving a
//! synthetic `base.txz` and its `MANIFEST`, a recipe pointed at both, and a way to run
//! the real `thinjail` command on the test bed against them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use thinjail_core::recipe::Install;
use thinjail_core::Recipe;

use crate::fixtures::base::{
    build_base_set, build_release_set, freebsd_version_script, release_motd, write_manifest,
    DistSet, RC_LOG,
};
use crate::fixtures::http::{release_dir, HttpServer};
use crate::fixtures::pool::TestPool;
use crate::fixtures::prereq::require_root_and_zfs;
use crate::fixtures::zfs_lock::run_zfs_command;
use crate::freebsd_update::{published_path, PublishedUpdate, UpdatedFile};
use crate::testbed::fileflags::{FileFlags, FlagView};
use crate::testbed::Faults;

/// How long one `thinjail` run may take before the test declares it hung.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// What a `thinjail` run did.
#[derive(Debug)]
pub struct Run {
    /// Exit status (None when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics with the output unless the run exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "thinjail exited {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics with the output unless the run exited 0 and said it had nothing to do
    /// (a second `apply` or `plan` on a converged host).
    pub fn expect_nothing_to_do(&self) -> &Self {
        self.expect_code(0);
        assert!(
            self.stdout.starts_with("Nothing to do"),
            "expected nothing to do, got:\n{}",
            self.stdout
        );
        self
    }
}

/// A test bed for one test. Dropping it unmounts everything and destroys the pool.
pub struct Bed {
    /// Scratch directory: etc/, cache/, state/, mirror/, recipe.ron.
    pub dir: tempfile::TempDir,
    /// The mirror.
    pub server: HttpServer,
    /// The base set it serves.
    pub base_set: DistSet,
    /// The recipe as last written.
    pub recipe: Recipe,
    binary: PathBuf,
    // Declared last so it is dropped last: unmounting needs nothing else.
    /// The pool.
    pub pool: TestPool,
}

impl Bed {
    /// The article's recipe, moved onto a fresh pool and mirror; `customize` may
    /// change it further. `binary` is the `thinjail-testbed` executable.
    pub fn article(binary: &str, customize: impl FnOnce(&mut Recipe)) -> Bed {
        if let Err(missing) = require_root_and_zfs() {
            panic!("end-to-end tests need root and zfs-fuse: {missing}");
        }
        let pool = TestPool::new().expect("create a zfs-fuse pool");
        let dir = tempfile::Builder::new()
            .prefix("thinjail-e2e-")
            .tempdir_in("/var/tmp")
            .expect("scratch directory");
        let mirror = dir.path().join("mirror");
        let release = "13.1-RELEASE";
        let sets = release_dir(&mirror, release);
        std::fs::create_dir_all(&sets).expect("mirror directory");
        let base_set = build_base_set(&sets).expect("build base.txz");
        write_manifest(&sets, std::slice::from_ref(&base_set)).expect("write MANIFEST");
        let server = HttpServer::start(&mirror).expect("start the mirror");

        let text = thinjail_cli::recipes::builtin("article")
            .expect("article recipe")
            .text;
        let mut recipe = Recipe::from_ron(text, "article").expect("article recipe parses");
        recipe.host.jails_dataset = format!("{}/jails", pool.name());
        recipe.host.jails_dir = pool.mountpoint().join("jails");
        // The scratch directory stands for the FreeBSD system's root: its etc/ holds
        // the rc.conf files and jail.conf files rc(8) and jail(8) read.
        recipe.host.system_root = dir.path().to_path_buf();
        recipe.host.jail_conf = dir.path().join("etc/jail.conf");
        recipe.host.jail_conf_dir = dir.path().join("etc/jail.conf.d");
        recipe.host.rc_conf = dir.path().join("etc/rc.conf");
        recipe.host.cache_dir = dir.path().join("cache");
        recipe.host.lock_file = dir.path().join("thinjail.lock");
        // The loopback mirror speaks plain http: the recipe has to say so.
        recipe.releases[0].install = Install::Fetch {
            mirror: Some(format!("{}/releases", server.url())),
            sets: vec!["base.txz".into()],
            insecure: true,
            manifest_sha256: None,
        };
        customize(&mut recipe);
        std::fs::create_dir_all(dir.path().join("etc")).expect("etc directory");
        let bed = Bed {
            dir,
            server,
            base_set,
            recipe,
            binary: PathBuf::from(binary),
            pool,
        };
        bed.write_recipe();
        bed
    }

    /// Puts another release's base set and MANIFEST on the mirror.
    pub fn publish_release(&self, release: &str) -> DistSet {
        let sets = release_dir(&self.dir.path().join("mirror"), release);
        std::fs::create_dir_all(&sets).expect("mirror directory");
        let set = build_release_set(&sets, release).expect("build base.txz");
        write_manifest(&sets, std::slice::from_ref(&set)).expect("write MANIFEST");
        set
    }

    /// Puts an update of `release` (amd64) to patch level `patch` on the test bed's
    /// update server: `/bin/freebsd-version` and `/etc/motd.template` change (see
    /// [`patched_motd`]), and a certificate, [`UPDATE_CERT`], is added; `eol` marks the
    /// release past its end of life.
    pub fn publish_update(&self, release: &str, patch: u32, eol: bool) {
        let mut files = BTreeMap::new();
        files.insert(
            "/bin/freebsd-version".to_string(),
            UpdatedFile {
                old: Some(freebsd_version_script(release)),
                new: freebsd_version_script(&format!("{release}-p{patch}")),
            },
        );
        files.insert(
            "/etc/motd.template".to_string(),
            UpdatedFile {
                old: Some(release_motd(release)),
                new: patched_motd(release, patch),
            },
        );
        files.insert(
            format!("/{UPDATE_CERT}"),
            UpdatedFile {
                old: None,
                new: "-----BEGIN CERTIFICATE-----\nadded by an update\n-----END CERTIFICATE-----\n"
                    .to_string(),
            },
        );
        let update = PublishedUpdate { patch, eol, files };
        let path = published_path(&self.state_dir(), release, "amd64");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("update server directory");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&update).expect("update as JSON"),
        )
        .expect("publish the update");
    }

    /// The recipe path as a string, for command lines.
    pub fn recipe_arg(&self) -> String {
        self.recipe_path().display().to_string()
    }

    /// Runs a lifecycle command with `-r RECIPE` appended.
    pub fn command(&self, args: &[&str]) -> Run {
        let recipe = self.recipe_arg();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-r", recipe.as_str()]);
        self.thinjail(&all)
    }

    /// `thinjail destroy JAIL --data --yes` while `holder` (a process keeping one of
    /// the jail's mounts busy: its working directory or an open file there) runs;
    /// the holder is killed and reaped after.
    pub fn destroy_while_held(&self, jail: &str, mut holder: Command) -> Run {
        let mut busy = holder
            .stdout(Stdio::null())
            .spawn()
            .expect("start the process holding the mount");
        let run = self.command(&["destroy", jail, "--data", "--yes"]);
        let _ = busy.kill();
        let _ = busy.wait();
        run
    }

    /// `thinjail list --json`, parsed.
    pub fn list(&self) -> serde_json::Value {
        let run = self.command(&["list", "--json"]);
        run.expect_code(0);
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("list --json: {e}\n{}", run.stdout))
    }

    /// The jails `thinjail list --json` shows running, in its order.
    pub fn running_jails(&self) -> Vec<String> {
        self.list()["jails"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .filter(|r| r["state"] == "running")
                    .filter_map(|r| r["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Gives `jail` a shell script at `script` in its own data (`etc/rc`,
    /// `etc/rc.shutdown`) that sleeps a second, then says `name: done` in
    /// `/var/log/rc.log`, or, when `fails`, `name: failed` on stderr and exits 1.
    pub fn slow_script(&self, jail: &str, script: &str, fails: bool) {
        let name = script.rsplit('/').next().unwrap_or(script);
        let end = if fails {
            format!("echo '{name}: failed' >&2; exit 1")
        } else {
            format!("echo '{name}: done' >> /var/log/rc.log")
        };
        std::fs::write(
            self.jails_path(&format!("{jail}/data/{script}")),
            format!("#!/bin/sh\nsleep 1\n{end}\n"),
        )
        .unwrap_or_else(|e| panic!("write {jail}'s {script}: {e}"));
    }

    /// `jail`'s row of `thinjail list --json` (`null` when it has none).
    pub fn jail_row(&self, jail: &str) -> serde_json::Value {
        self.list()["jails"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["name"] == jail).cloned())
            .unwrap_or(serde_json::Value::Null)
    }

    /// Writes [`Bed::recipe`] to `recipe.ron` (after changing it).
    pub fn write_recipe(&self) {
        std::fs::write(self.recipe_path(), self.recipe.to_ron()).expect("write recipe");
    }

    /// The recipe file.
    pub fn recipe_path(&self) -> PathBuf {
        self.dir.path().join("recipe.ron")
    }

    /// Where the test bed keeps its running jails.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Runs `thinjail ARGS` on the test bed.
    pub fn thinjail(&self, args: &[&str]) -> Run {
        self.thinjail_with(args, Faults::default())
    }

    /// Runs `thinjail ARGS` on the test bed with faults injected.
    pub fn thinjail_with(&self, args: &[&str], faults: Faults) -> Run {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .env("THINJAIL_TESTBED_STATE", self.state_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(k) = faults.fail_at {
            command.env("THINJAIL_TESTBED_FAIL_AT", k.to_string());
        }
        if let Some(k) = faults.kill_after {
            command.env("THINJAIL_TESTBED_KILL_AFTER", k.to_string());
        }
        run_with_timeout(command)
    }

    /// Runs `thinjail ARGS` on the test bed with extra environment variables.
    pub fn thinjail_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .env("THINJAIL_TESTBED_STATE", self.state_dir())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        run_with_timeout(command)
    }

    /// `thinjail apply RECIPE --yes`.
    pub fn apply(&self) -> Run {
        let recipe = self.recipe_path();
        self.thinjail(&["apply", recipe.to_str().expect("utf-8 path"), "--yes"])
    }

    /// Every dataset and snapshot under the jails dataset (`zfs list -t all`), pool prefix removed.
    pub fn datasets(&self) -> BTreeSet<String> {
        let root = &self.recipe.host.jails_dataset;
        let output = run_zfs_command(
            Command::new("zfs").args(["list", "-H", "-o", "name", "-t", "all", "-r", root]),
        )
        .unwrap_or_default();
        let prefix = format!("{}/", self.pool.name());
        output
            .lines()
            .map(|l| l.strip_prefix(&prefix).unwrap_or(l).to_string())
            .collect()
    }

    /// Space used by a dataset relative to the pool (`zfs get -p used`; zfs-fuse's `zfs list` has no `-p`).
    pub fn used(&self, dataset: &str) -> u64 {
        let name = format!("{}/{dataset}", self.pool.name());
        crate::samples::zfs_get_one("used", &name, true)
            .unwrap_or_else(|e| panic!("zfs get used {name}: {e}"))
            .parse()
            .unwrap_or_else(|e| panic!("used of {name}: {e}"))
    }

    /// The flags the test bed gives `path` (none when it has none or is missing).
    pub fn flags(&self, path: &Path) -> FileFlags {
        FlagView::load(&self.state_dir())
            .expect("the test bed's file flags")
            .flags(path)
    }

    /// A path under the jails directory.
    pub fn jails_path(&self, relative: &str) -> PathBuf {
        self.recipe.host.jails_dir.join(relative)
    }

    /// Runs a command inside a started jail through `thinjail-testbed`'s chroot, as
    /// the test bed's `jexec` does.
    pub fn in_jail(&self, jail: &str, argv: &[&str]) -> Run {
        let root = self.jails_path(&format!(".mountpoints/{jail}"));
        let mut command = Command::new("env");
        command
            .args([
                "-i",
                "PATH=/sbin:/bin:/usr/sbin:/usr/bin",
                "HOME=/root",
                "chroot",
            ])
            .arg(&root)
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        run_with_timeout(command)
    }
}

impl Bed {
    /// Everything that must be the same after a recovered run as after a clean one,
    /// with this bed's own paths and pool name replaced by placeholders: datasets and
    /// snapshots, every file, directory and link under the jails directory (contents
    /// of regular files and file flags included), jail.conf, rc.conf, the download
    /// cache, what is mounted, and which jails run.
    pub fn state(&self) -> BTreeMap<String, String> {
        let flags = FlagView::load(&self.state_dir()).expect("the test bed's file flags");
        let mut state = BTreeMap::new();
        for dataset in self.datasets() {
            state.insert(
                format!("dataset {}", without_stamps(&dataset)),
                String::new(),
            );
        }
        let jails_dir = self.recipe.host.jails_dir.clone();
        let roots = jails_dir.join(".mountpoints");
        // A running jail's root shows the base, its data and a devfs through mounts;
        // those are walked where they live, so below a root nothing is.
        let below_a_root = |path: &Path| {
            path.starts_with(&roots) && path.components().count() > roots.components().count() + 1
        };
        walk(&jails_dir, &below_a_root, &mut |path, description| {
            let relative = path
                .strip_prefix(&jails_dir)
                .unwrap_or(path)
                .display()
                .to_string();
            // The synthetic /etc/rc logs every boot and shutdown, etcupdate logs what it
            // did with its temporary directories' random names: records of events, not
            // of state. Each bed archives its own etcupdate trees (tar records times):
            // what an archive holds is what counts.
            let description = if relative.ends_with(RC_LOG) {
                "boot log".to_string()
            } else if relative.ends_with("var/db/etcupdate/log") {
                "etcupdate log".to_string()
            } else if relative.ends_with(".txz") && description.starts_with("file ") {
                format!("archive {}", archive_listing(path))
            } else {
                match flags.flags(path) {
                    FileFlags::NONE => description,
                    set => format!("{description} flags={set}"),
                }
            };
            state.insert(format!("file {relative}"), self.normalize(&description));
        });
        walk(
            &self.recipe.host.cache_dir,
            &|_| false,
            &mut |path, description| {
                let relative = path
                    .strip_prefix(&self.recipe.host.cache_dir)
                    .unwrap_or(path)
                    .display()
                    .to_string();
                // Each bed builds its own base.txz (tar records times): presence is what counts.
                let kind = description.split(' ').next().unwrap_or("").to_string();
                state.insert(format!("cache {relative}"), kind);
            },
        );
        let mut files = vec![
            self.recipe.host.jail_conf.clone(),
            self.recipe.host.rc_conf.clone(),
        ];
        if let Ok(entries) = std::fs::read_dir(&self.recipe.host.jail_conf_dir) {
            let mut own: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            own.sort();
            files.extend(own);
        }
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap_or_else(|_| "(missing)".into());
            state.insert(
                format!(
                    "host {}",
                    file.file_name().and_then(|n| n.to_str()).unwrap_or("?")
                ),
                self.normalize(&text),
            );
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for mount in thinjail_core::host::parse_proc_mountinfo(&mountinfo) {
            if mount.target.starts_with(self.pool.mountpoint()) {
                let target = self.normalize(&mount.target.display().to_string());
                state.insert(
                    format!("mount {target}"),
                    format!(
                        "{} {}",
                        mount.fstype,
                        if mount.read_only { "ro" } else { "rw" }
                    ),
                );
            }
        }
        let running = crate::testbed::TestBedState::load(&self.state_dir())
            .map(|s| s.jails)
            .unwrap_or_default();
        for name in running.keys() {
            state.insert(format!("running {name}"), String::new());
        }
        state
    }

    /// `text` with this bed's pool, paths and timestamps (`-YYYYMMDD-HHMMSS` in
    /// snapshot names) replaced by placeholders, so two beds compare.
    pub fn normalize(&self, text: &str) -> String {
        let text = text
            .replace(&self.pool.mountpoint().display().to_string(), "<POOL>")
            .replace(&self.dir.path().display().to_string(), "<SCRATCH>")
            .replace(self.pool.name(), "<POOLNAME>")
            .replace(&self.server.url(), "<MIRROR>");
        without_stamps(&text)
    }

    /// The article's bed with a second release, 14.0-RELEASE, on the mirror and in the
    /// recipe, applied: thinjail built each release's etcupdate tree itself.
    pub fn two_releases(binary: &str) -> Bed {
        let mut bed = Bed::article(binary, |_| {});
        bed.publish_release("14.0-RELEASE");
        let mut release = bed.recipe.releases[0].clone();
        release.name = "14.0-RELEASE".into();
        bed.recipe.releases.push(release);
        bed.write_recipe();
        bed.apply().expect_code(0);
        bed
    }
}

/// The certificate the updates of [`Bed::publish_update`] add, relative to a root.
pub const UPDATE_CERT: &str = "usr/share/certs/trusted/ca-update.pem";

/// `/etc/motd.template` of `release` after [`Bed::publish_update`] to `patch`.
pub fn patched_motd(release: &str, patch: u32) -> String {
    format!("FreeBSD {release}-p{patch}\n")
}

/// An archive's entries, sorted (bsdtar -t).
fn archive_listing(path: &Path) -> String {
    let output = Command::new("bsdtar").arg("-tf").arg(path).output();
    let mut entries: Vec<String> = output
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    entries.join(" ")
}

/// Replaces `-YYYYMMDD-HHMMSS` (thinjail's snapshot stamps) with `-STAMP`.
fn without_stamps(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let candidate = bytes.get(i..i + 16);
        let is_stamp = candidate.is_some_and(|c| {
            c[0] == b'-' && c[9] == b'-' && c[1..9].iter().chain(&c[10..16]).all(u8::is_ascii_digit)
        });
        if is_stamp {
            out.push_str("-STAMP");
            i += 16;
        } else {
            let ch = text[i..].chars().next().unwrap_or('?');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// An etcupdate tarball of `release` made from its synthetic base's `etc`, `root` and
/// `var` in `dir` (what a user would give as `releases[].etcupdate`).
pub fn etcupdate_tarball(dir: &Path, release: &str) -> PathBuf {
    let sets = dir.join(format!("etcupdate-sets-{release}"));
    let tree = dir.join(format!("etcupdate-tree-{release}"));
    std::fs::create_dir_all(&sets).expect("sets directory");
    std::fs::create_dir_all(&tree).expect("tree directory");
    let set = build_release_set(&sets, release).expect("build base.txz");
    // --no-fflags: bsdtar would make the base's schg entries immutable on ext4.
    let status = Command::new("bsdtar")
        .args(["-xp", "--no-fflags", "-f"])
        .arg(&set.path)
        .arg("-C")
        .arg(&tree)
        .status()
        .expect("bsdtar runs");
    assert!(status.success(), "bsdtar -x failed");
    let tarball = dir.join(format!("etcupdate-{release}.txz"));
    let status = Command::new("bsdtar")
        .arg("-cJf")
        .arg(&tarball)
        .arg("-C")
        .arg(&tree)
        .args(["./etc", "./root", "./var"])
        .status()
        .expect("bsdtar runs");
    assert!(status.success(), "bsdtar -c failed");
    tarball
}

/// The differences between two [`Bed::state`]s, for messages.
pub fn state_differences(
    expected: &BTreeMap<String, String>,
    actual: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in expected {
        match actual.get(key) {
            None => out.push(format!("missing: {key}")),
            Some(other) if other != value => {
                out.push(format!("differs: {key}: {value:?} vs {other:?}"))
            }
            Some(_) => {}
        }
    }
    for key in actual.keys().filter(|k| !expected.contains_key(*k)) {
        out.push(format!("extra: {key}"));
    }
    out
}

/// Visits everything below `dir` without following links, skipping paths `skip` names;
/// device nodes and other special files are described, never read.
fn walk(dir: &Path, skip: &dyn Fn(&Path) -> bool, visit: &mut dyn FnMut(&Path, String)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if skip(&path) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            visit(&path, format!("link -> {target}"));
        } else if meta.is_dir() {
            visit(&path, format!("dir {mode:o}"));
            walk(&path, skip, visit);
        } else if !meta.is_file() {
            visit(&path, format!("special {mode:o}"));
        } else {
            let contents = std::fs::read(&path).unwrap_or_default();
            let digest = thinjail_core::host::sha256_file(&path).unwrap_or_default();
            let shown = if contents.len() <= 512 {
                String::from_utf8_lossy(&contents).into_owned()
            } else {
                digest
            };
            visit(&path, format!("file {mode:o} {shown}"));
        }
    }
}

/// Runs `command` and collects its output, killing it after [`RUN_TIMEOUT`].
pub fn run_with_timeout(mut command: Command) -> Run {
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = stdout.as_mut() {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = stderr.as_mut() {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    });
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{command:?} did not finish within {RUN_TIMEOUT:?} (zfs-fuse wedged?)");
            }
        }
    };
    Run {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// The mount points now at or below `path`, in mount order.
pub fn mounts_under(path: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|text| {
            thinjail_core::host::parse_proc_mountinfo(&text)
                .into_iter()
                .filter(|m| m.target.starts_with(path))
                .map(|m| m.target)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `path` is a mount point now.
pub fn is_mounted(path: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|text| {
            thinjail_core::host::parse_proc_mountinfo(&text)
                .iter()
                .any(|m| m.target == path)
        })
        .unwrap_or(false)
}
