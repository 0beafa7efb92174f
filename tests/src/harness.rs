//! One end-to-end test's world: a fresh zfs-fuse pool, a loopback mirror serving a
//! synthetic `base.txz` and its `MANIFEST`, a recipe pointed at both, and a way to run
//! the real `thinjail` command on the test bed against them.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use thinjail_core::recipe::Install;
use thinjail_core::Recipe;

use crate::fixtures::base::{build_base_set, write_manifest, DistSet};
use crate::fixtures::http::{release_dir, HttpServer};
use crate::fixtures::pool::TestPool;
use crate::fixtures::prereq::require_root_and_zfs;
use crate::fixtures::zfs_lock::run_zfs_command;
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
        recipe.host.jail_conf = dir.path().join("etc/jail.conf");
        recipe.host.rc_conf = dir.path().join("etc/rc.conf");
        recipe.host.cache_dir = dir.path().join("cache");
        recipe.host.lock_file = dir.path().join("thinjail.lock");
        recipe.releases[0].install = Install::Fetch {
            mirror: Some(format!("{}/releases", server.url())),
            sets: vec!["base.txz".into()],
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
        let set = build_base_set(&sets).expect("build base.txz");
        write_manifest(&sets, std::slice::from_ref(&set)).expect("write MANIFEST");
        set
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

    /// `thinjail list --json`, parsed.
    pub fn list(&self) -> serde_json::Value {
        let run = self.command(&["list", "--json"]);
        run.expect_code(0);
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("list --json: {e}\n{}", run.stdout))
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
        run_zfs_command(Command::new("zfs").args(["get", "-H", "-p", "-o", "value", "used", &name]))
            .unwrap_or_else(|e| panic!("zfs list {name}: {e}"))
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("used of {name}: {e}"))
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
