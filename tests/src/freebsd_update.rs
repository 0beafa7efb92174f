//! The test bed's freebsd-update(8): thinjail's own code, written after FreeBSD's
//! `usr.sbin/freebsd-update/freebsd-update.sh`, standing in for the program and for
//! update.FreeBSD.org (there is neither here). It is run for the action's real argv,
//! `env PATH=… PAGER=cat UNAME_m=… UNAME_p=… freebsd-update -b … fetch`, and
//! reproduces, on the same streams and with the same exit statuses:
//!
//! - `env` and program lookup: the environment is the one the host starts `env` with
//!   (the test bed passes what the FreeBSD host gives every command), changed by
//!   `env`'s `-i`, `-u NAME` and `NAME=VALUE`; `freebsd-update` is searched in that
//!   PATH: an executable file of that name in a directory of it is run for real (a fake
//!   planted by a test), `/usr/sbin` holds this stand-in, and without either `env`
//!   fails with status 127;
//! - the command line (`parse_cmdline`): `-b`, `-d`, `-f`, `-F`, `-k`, `-r`, `-s`,
//!   `-t`, `-v`, `--currently-running` (sets `UNAME_r`), `--not-running-from-cron`,
//!   the commands; anything else, a missing argument or an option given twice prints
//!   the usage and exits **0**, as the real `usage` does;
//! - the configuration (`parse_conffile`): a `-f` file that is not readable: "File does
//!   not exist or is not readable: FILE" (exit 1); an unknown option, a bad value or a
//!   non-accumulating option given twice: "Error processing configuration file, line
//!   N:" (exit 1); without `-f`, `/etc/freebsd-update.conf` if readable;
//! - `fetch` (`cmd_fetch`, `fetchupgrade_check_params`, `fetch_run`): refused without a
//!   terminal unless `--not-running-from-cron`; `ServerName` and a 64-hex `KeyPrint`
//!   required; the work directory must be a writable directory (then `chmod 700`); the
//!   release is `uname -r` (`UNAME_r`, else the host's) minus `-pN`, and must be a
//!   release; the platform is `uname -m` (`UNAME_m`, else the host's `x86_64`, for
//!   which the server has nothing: "No mirrors remaining, giving up.", exit 1); the
//!   published patch must not be older than the running one; then each file of the
//!   published update is judged as `fetch_filter_*` do: outside `Components`, matching
//!   `IgnorePaths`, missing on disk when the release had it ("not present"), already
//!   up to date, or (under `UpdateIfUnmodified`) modified locally — the rest is
//!   listed ("The following files will be updated/added as part of updating to
//!   R-pN:") and recorded as the install manifest `WORKDIR/<sha256 of BASEDIR>-install`;
//!   or "No updates needed to update system to R-pN."; a release past its end of life
//!   then prints "WARNING: FreeBSD R HAS PASSED ITS END-OF-LIFE DATE." and exits 1;
//! - `install` (`install_check_params`, `install_run`): root, the work directory, the
//!   manifest ("No updates are available to install." and "Run '…fetch' first.", exit
//!   1, when nothing was fetched); each file is written through `BASEDIR/PATH` as
//!   install(1) resolves it (symlinks on the way are followed, a link as the last
//!   component is replaced), and one that cannot be written is said on standard error
//!   without stopping the others, as `install_from_index` does not check them; the
//!   manifest becomes the rollback one.
//!
//! The update server logs each fetch with the proxy phttpget would have gone through
//! ([`request_log`]), which is how a test sees the proxy variables reach it.
//!
//! What it cannot reproduce: the network, signatures, patches, metadata, directories
//! and links in the indexes (files only), the kernel (`/boot`), pwd_mkdb and the other
//! rebuilds after installing, the pager (output is never paged), `cron`, `upgrade`,
//! `rollback` and `IDS` (refused, exit 1), the tmpfs check of the work directory.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What the test bed's update server offers for one release and platform.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedUpdate {
    /// The patch level the update brings the release to.
    pub patch: u32,
    /// Whether the release is past its end of life.
    pub eol: bool,
    /// The files it changes, by absolute path as in FreeBSD's indexes.
    pub files: BTreeMap<String, UpdatedFile>,
}

/// One file of an update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatedFile {
    /// Its contents in the release as shipped (None: the release lacks it, and the
    /// update adds it).
    pub old: Option<String>,
    /// Its contents after the update.
    pub new: String,
}

/// Where the test bed's update server keeps what it offers for `release` on
/// `machine`: `<state dir>/update-server/<release>-<machine>.json`.
pub fn published_path(state_dir: &Path, release: &str, machine: &str) -> PathBuf {
    state_dir
        .join("update-server")
        .join(format!("{release}-{machine}.json"))
}

/// Where the test bed's update server logs each fetch it serves, one line each:
/// `RELEASE MACHINE via PROXY` (the proxy phttpget would go through: `HTTP_PROXY`,
/// else `http_proxy`, from the environment freebsd-update got), or `… direct`.
pub fn request_log(state_dir: &Path) -> PathBuf {
    state_dir.join("update-server").join("requests.log")
}

/// How a run ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Exit status.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

const SELF: &str = "/usr/sbin/freebsd-update";

const USAGE: &str = "usage: freebsd-update [options] command ... [path]

Options:
  -b basedir   -- Operate on a system mounted at basedir
                  (default: /)
  -d workdir   -- Store working files in workdir
                  (default: /var/db/freebsd-update/)
  -f conffile  -- Read configuration options from conffile
                  (default: /etc/freebsd-update.conf)
  -F           -- Force a fetch operation to proceed in the
                  case of an unfinished upgrade
  -k KEY       -- Trust an RSA key with SHA256 hash of KEY
  -r release   -- Target for upgrade (e.g., 11.1-RELEASE)
  -s server    -- Server from which to fetch updates
                  (default: update.FreeBSD.org)
  -t address   -- Mail output of cron command, if any, to address
                  (default: root)
  --not-running-from-cron
               -- Run without a tty, for use by automated tools
  --currently-running release
               -- Update as if currently running this release
Commands:
  fetch        -- Fetch updates from server
  cron         -- Sleep rand(3600) seconds, fetch updates, and send an
                  email if updates were found
  upgrade      -- Fetch upgrades to FreeBSD version specified via -r option
  install      -- Install downloaded updates or upgrades
  rollback     -- Uninstall most recently installed updates
  IDS          -- Compare the system against an index of \"known good\" files.
";

/// Runs `argv` (an action's `env … freebsd-update …` command line) as the test bed's
/// freebsd-update would be run, with `environment` as the caller's environment.
pub fn run(state_dir: &Path, argv: &[String], environment: &BTreeMap<String, String>) -> Outcome {
    let mut env = environment.clone();
    let mut rest: &[String] = argv;
    if rest.first().map(String::as_str) == Some("env") {
        rest = &rest[1..];
        while let Some(word) = rest.first() {
            if word == "-i" {
                env.clear();
            } else if word == "-u" {
                if let Some(name) = rest.get(1) {
                    env.remove(name);
                    rest = &rest[1..];
                }
            } else if let Some((name, value)) = word.split_once('=') {
                env.insert(name.to_string(), value.to_string());
            } else {
                break;
            }
            rest = &rest[1..];
        }
    }
    let Some((program, args)) = rest.split_first() else {
        return Outcome::default();
    };
    let path = env.get("PATH").cloned().unwrap_or_default();
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        let executable = fs::metadata(&candidate)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        if executable {
            // Whatever the lookup finds runs, as execvp would run it.
            let output = std::process::Command::new(&candidate)
                .args(args)
                .env_clear()
                .envs(&env)
                .stdin(std::process::Stdio::null())
                .output();
            return match output {
                Ok(out) => Outcome {
                    code: out.status.code().unwrap_or(128),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                },
                Err(e) => Outcome {
                    code: 126,
                    stdout: String::new(),
                    stderr: format!("env: {}: {e}\n", candidate.display()),
                },
            };
        }
        if dir.trim_end_matches('/') == "/usr/sbin" && program == "freebsd-update" {
            let mut stand_in = StandIn {
                state_dir,
                env,
                out: String::new(),
                err: String::new(),
            };
            let code = stand_in.main(args);
            return Outcome {
                code,
                stdout: stand_in.out,
                stderr: stand_in.err,
            };
        }
    }
    Outcome {
        code: 127,
        stdout: String::new(),
        stderr: format!("env: '{program}': No such file or directory\n"),
    }
}

/// freebsd-update's settings (`CONFIGOPTIONS`).
#[derive(Default)]
struct Config {
    keyprint: Option<String>,
    workdir: Option<String>,
    server: Option<String>,
    basedir: Option<String>,
    components: Vec<String>,
    ignore: Vec<String>,
    unmodified: Vec<String>,
    singles: BTreeMap<String, String>,
}

impl Config {
    /// One `config_X` call; false where the real one returns 1.
    fn set(&mut self, option: &str, values: &[&str]) -> bool {
        let single = |slot: &mut Option<String>, values: &[&str]| {
            if slot.is_some() {
                return false;
            }
            *slot = values.first().map(|v| v.to_string());
            true
        };
        match option {
            "KeyPrint" => single(&mut self.keyprint, values),
            "WorkDir" => single(&mut self.workdir, values),
            "ServerName" => single(&mut self.server, values),
            "BaseDir" => single(&mut self.basedir, values),
            "Components" => {
                self.components.extend(values.iter().map(|v| v.to_string()));
                true
            }
            "IgnorePaths" => {
                self.ignore.extend(values.iter().map(|v| v.to_string()));
                true
            }
            "UpdateIfUnmodified" => {
                self.unmodified.extend(values.iter().map(|v| v.to_string()));
                true
            }
            "IDSIgnorePaths" | "MergeChanges" => true,
            "MailTo" | "BackupKernelDir" | "TargetRelease" => {
                let mut slot = self.singles.get(option).cloned();
                let ok = single(&mut slot, values);
                if let Some(value) = slot {
                    self.singles.insert(option.to_string(), value);
                }
                ok
            }
            "AllowAdd"
            | "AllowDelete"
            | "KeepModifiedMetadata"
            | "StrictComponents"
            | "BackupKernel"
            | "BackupKernelSymbolFiles"
            | "CreateBootEnv" => {
                let yes_no = values
                    .first()
                    .is_some_and(|v| v.eq_ignore_ascii_case("yes") || v.eq_ignore_ascii_case("no"));
                if !yes_no || self.singles.contains_key(option) {
                    return false;
                }
                self.singles
                    .insert(option.to_string(), values[0].to_string());
                true
            }
            "VerboseLevel" => {
                let ok = values.first().is_some_and(|v| {
                    ["debug", "nostats", "stats"].contains(&v.to_ascii_lowercase().as_str())
                });
                ok && self
                    .singles
                    .insert(option.to_string(), values[0].to_string())
                    .is_none()
            }
            _ => false,
        }
    }
}

struct StandIn<'a> {
    state_dir: &'a Path,
    env: BTreeMap<String, String>,
    out: String,
    err: String,
}

/// The pending changes of a fetch, kept in the install manifest directory.
#[derive(Serialize, Deserialize)]
struct Manifest {
    files: BTreeMap<String, String>,
}

impl StandIn<'_> {
    fn say(&mut self, text: &str) {
        self.out.push_str(text);
    }

    fn usage(&mut self) -> i32 {
        self.say(USAGE);
        0
    }

    fn main(&mut self, args: &[String]) -> i32 {
        let mut cli = Config::default();
        let mut conffile: Option<String> = None;
        let mut commands = Vec::new();
        let mut not_from_cron = false;
        let mut force = false;
        let mut i = 0;
        while i < args.len() {
            let arg = args[i].as_str();
            let value = args.get(i + 1).map(String::as_str);
            let takes = |option: &str| {
                [
                    "-f",
                    "-b",
                    "-d",
                    "-k",
                    "-s",
                    "-r",
                    "-t",
                    "-v",
                    "--currently-running",
                ]
                .contains(&option)
            };
            if takes(arg) && value.is_none() {
                return self.usage();
            }
            match arg {
                "-f" => {
                    if conffile.is_some() {
                        return self.usage();
                    }
                    conffile = value.map(String::from);
                }
                "-F" => force = true,
                "--not-running-from-cron" => not_from_cron = true,
                "--currently-running" => {
                    let mut release = value.unwrap_or_default().to_string();
                    if release.chars().all(|c| c.is_ascii_digit() || c == '.') {
                        release.push_str("-RELEASE");
                    }
                    self.env.insert("UNAME_r".into(), release);
                }
                "-b" | "-d" | "-k" | "-s" | "-r" | "-t" | "-v" => {
                    let option = match arg {
                        "-b" => "BaseDir",
                        "-d" => "WorkDir",
                        "-k" => "KeyPrint",
                        "-s" => "ServerName",
                        "-r" => "TargetRelease",
                        "-t" => "MailTo",
                        _ => "VerboseLevel",
                    };
                    if !cli.set(option, &[value.unwrap_or_default()]) {
                        return self.usage();
                    }
                }
                "--debug" | "--no-stats" => {}
                "cron" | "fetch" | "upgrade" | "install" | "rollback" | "IDS" => {
                    commands.push(arg.to_string());
                    i += 1;
                    continue;
                }
                _ => return self.usage(),
            }
            i += if takes(arg) { 2 } else { 1 };
        }
        if commands.is_empty() {
            return self.usage();
        }
        let config = match self.parse_conffile(cli, conffile) {
            Ok(config) => config,
            Err(code) => return code,
        };
        let mut fetched = false;
        for command in commands {
            let code = match command.as_str() {
                "fetch" => {
                    if !not_from_cron {
                        self.say("freebsd-update fetch should not be run non-interactively.\nRun freebsd-update cron instead.\n");
                        return 1;
                    }
                    self.fetch(&config, force)
                }
                "install" => self.install(&config, fetched),
                other => {
                    self.say(&format!(
                        "freebsd-update (thinjail test bed): {other} is not implemented by this stand-in\n"
                    ));
                    1
                }
            };
            if code != 0 {
                return code;
            }
            fetched |= command == "fetch";
        }
        0
    }

    fn parse_conffile(&mut self, cli: Config, conffile: Option<String>) -> Result<Config, i32> {
        let readable = |path: &str| fs::File::open(path).is_ok();
        let text = match &conffile {
            Some(path) if !readable(path) => {
                self.say(&format!("File does not exist or is not readable: {path}\n"));
                return Err(1);
            }
            Some(path) => fs::read_to_string(path).unwrap_or_default(),
            None if readable("/etc/freebsd-update.conf") => {
                fs::read_to_string("/etc/freebsd-update.conf").unwrap_or_default()
            }
            None => String::new(),
        };
        let mut file = Config::default();
        for (n, line) in text.lines().enumerate() {
            let words: Vec<&str> = line
                .split('#')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            let Some((option, values)) = words.split_first() else {
                continue;
            };
            if !file.set(option, values) {
                self.say(&format!(
                    "Error processing configuration file, line {}:\n==> {line}\n",
                    n + 1
                ));
                return Err(1);
            }
        }
        // Command line first, then the file, then the defaults (mergeconfig).
        let pick = |a: Option<String>, b: Option<String>| a.or(b);
        Ok(Config {
            keyprint: pick(cli.keyprint, file.keyprint),
            workdir: pick(cli.workdir, file.workdir).or(Some("/var/db/freebsd-update".into())),
            server: pick(cli.server, file.server),
            basedir: pick(cli.basedir, file.basedir).or(Some("/".into())),
            components: if cli.components.is_empty() {
                file.components
            } else {
                cli.components
            },
            ignore: file.ignore,
            unmodified: file.unmodified,
            singles: file.singles,
        })
    }

    fn workdir_ok(&mut self, config: &Config) -> Option<PathBuf> {
        let workdir = config.workdir.clone().unwrap_or_default();
        let writable = fs::metadata(&workdir).is_ok_and(|m| m.is_dir())
            && nix::unistd::access(Path::new(&workdir), nix::unistd::AccessFlags::W_OK).is_ok();
        if !writable {
            self.say(&format!(
                "freebsd-update: Directory does not exist or is not writable: {workdir}\n"
            ));
            return None;
        }
        Some(PathBuf::from(workdir))
    }

    fn uname(&self, letter: char) -> String {
        if let Some(value) = self.env.get(&format!("UNAME_{letter}")) {
            return value.clone();
        }
        std::process::Command::new("uname")
            .arg(format!("-{letter}"))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    }

    fn bdhash(config: &Config) -> String {
        let basedir = config.basedir.clone().unwrap_or_default();
        Sha256::digest(format!("{basedir}\n").as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn fetch(&mut self, config: &Config, force: bool) -> i32 {
        if config.server.is_none() {
            self.say("freebsd-update: SERVERNAME must be given via command line or configuration file.\n");
            return 1;
        }
        let Some(keyprint) = config.keyprint.clone() else {
            self.say("freebsd-update: Key must be given via -k option or configuration file.\n");
            return 1;
        };
        if keyprint.len() != 64 || !keyprint.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            self.say(&format!(
                "freebsd-update: Invalid key fingerprint: {keyprint}\n"
            ));
            return 1;
        }
        let Some(workdir) = self.workdir_ok(config) else {
            return 1;
        };
        let _ = fs::set_permissions(&workdir, fs::Permissions::from_mode(0o700));
        let running = self.uname('r');
        let relnum = strip_patch(&running).replace("-SECURITY", "-RELEASE");
        let is_release = ["-RELEASE", "-ALPHA", "-BETA", "-RC"]
            .iter()
            .any(|kind| relnum.contains(kind));
        if !is_release {
            self.say(&format!(
                "freebsd-update: Cannot upgrade from a version that is not a release\n\
                 (including alpha, beta and release candidates)\n\
                 using freebsd-update. Instead, FreeBSD can be directly\n\
                 upgraded by source or upgraded to a RELEASE/RELENG version\n\
                 prior to running freebsd-update.\n\
                 Currently running: {relnum}\n"
            ));
            return 1;
        }
        let arch = self.uname('m');
        if config.singles.contains_key("TargetRelease") {
            self.say("freebsd-update: -r option is meaningless with 'fetch' command.  (Did you mean 'upgrade' instead?)\n");
            return 1;
        }
        let bdhash = Self::bdhash(config);
        if workdir
            .join(format!("{bdhash}-install/kerneldone"))
            .exists()
            && !force
        {
            self.say("You have a partially completed upgrade pending\nRun '/usr/sbin/freebsd-update install' first.\nRun '/usr/sbin/freebsd-update fetch -F' to proceed anyway.\n");
            return 1;
        }
        let server = config.server.clone().unwrap_or_default();
        self.say(&format!("Looking up {server} mirrors... none found.\n"));
        // phttpget reads HTTP_PROXY, else http_proxy (usr.sbin/portsnap/phttpget).
        let via = ["HTTP_PROXY", "http_proxy"]
            .iter()
            .find_map(|name| self.env.get(*name).filter(|v| !v.is_empty()))
            .map_or_else(|| "direct".to_string(), |proxy| format!("via {proxy}"));
        let log = request_log(self.state_dir);
        let logged = fs::create_dir_all(self.state_dir.join("update-server")).and_then(|()| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .and_then(|mut file| writeln!(file, "{relnum} {arch} {via}"))
        });
        if let Err(e) = logged {
            self.say(&format!(
                "(test bed: cannot log to {}: {e})\n",
                log.display()
            ));
        }
        let published = fs::read_to_string(published_path(self.state_dir, &relnum, &arch))
            .ok()
            .and_then(|t| serde_json::from_str::<PublishedUpdate>(&t).ok());
        let Some(published) = published else {
            self.say(&format!(
                "Fetching public key from {server}... failed.\nNo mirrors remaining, giving up.\n\n\
                 This may be because upgrading from this platform ({arch})\n\
                 or release ({relnum}) is unsupported by freebsd-update. Only\n\
                 platforms with Tier 1 support can be upgraded by freebsd-update.\n\
                 See https://www.freebsd.org/platforms/index.html for more info.\n\n\
                 If unsupported, FreeBSD must be upgraded by source.\n"
            ));
            return 1;
        };
        self.say(&format!(
            "Fetching public key from {server}... done.\n\
             Fetching metadata signature for {relnum} from {server}... done.\n\
             Fetching metadata index... done.\n"
        ));
        let running_patch = running
            .rsplit_once("-p")
            .and_then(|(_, n)| n.parse::<u32>().ok())
            .unwrap_or(0);
        let level = format!("{relnum}-p{}", published.patch);
        if published.patch < running_patch {
            self.say(&format!(
                "\nFiles on mirror ({level}) appear older than what\nwe are currently running ({running})!\nCowardly refusing to proceed any further.\n"
            ));
            return 1;
        }
        self.say("Inspecting system... done.\n");
        let basedir = config.basedir.clone().unwrap_or_default();
        let (mut added, mut updated, mut modified) = (Vec::new(), Vec::new(), Vec::new());
        let mut pending = BTreeMap::new();
        for (path, file) in &published.files {
            let component = if path.starts_with("/boot/") {
                "kernel"
            } else if path.starts_with("/usr/src/") {
                "src"
            } else {
                "world"
            };
            if !config
                .components
                .iter()
                .any(|c| c == component || c.starts_with(&format!("{component}/")))
            {
                continue;
            }
            if config
                .ignore
                .iter()
                .any(|prefix| path.starts_with(prefix.as_str()))
            {
                continue;
            }
            // `${BASEDIR}/${F}`, symlinks on the way followed ([ -e ], sha256).
            let on_disk = fs::read_to_string(format!("{basedir}/{path}")).ok();
            match (on_disk, &file.old) {
                (None, None) => added.push(path.clone()),
                // Not present, and the release had it: never added.
                (None, Some(_)) => continue,
                (Some(now), _) if now == file.new => continue,
                (Some(now), old) if old.as_deref() == Some(now.as_str()) => {
                    updated.push(path.clone())
                }
                (Some(_), _) => {
                    if config
                        .unmodified
                        .iter()
                        .any(|prefix| path.starts_with(prefix.as_str()))
                    {
                        modified.push(path.clone());
                        continue;
                    }
                    updated.push(path.clone());
                }
            }
            pending.insert(path.clone(), file.new.clone());
        }
        self.say("Preparing to download files... done.\n");
        let link = workdir.join(format!("{bdhash}-install"));
        if fs::symlink_metadata(&link).is_ok() {
            let _ = fs::remove_dir_all(workdir.join(fs::read_link(&link).unwrap_or_default()));
            let _ = fs::remove_file(&link);
        }
        if !modified.is_empty() {
            self.say(&format!(
                "The following files are affected by updates. No changes have\nbeen downloaded, however, because the files have been modified\nlocally:\n{}\n",
                modified.join("\n")
            ));
        }
        if pending.is_empty() {
            self.say(&format!(
                "\nNo updates needed to update system to {level}.\n"
            ));
        } else {
            for (list, verb) in [(&added, "added"), (&updated, "updated")] {
                if !list.is_empty() {
                    self.say(&format!(
                        "The following files will be {verb} as part of updating to\n{level}:\n{}\n",
                        list.join("\n")
                    ));
                }
            }
            let dir = format!("install.{}", &bdhash[..6]);
            let written = fs::create_dir_all(workdir.join(&dir))
                .and_then(|()| {
                    let text = serde_json::to_string(&Manifest { files: pending })
                        .map_err(std::io::Error::other)?;
                    fs::write(workdir.join(&dir).join("INDEX-NEW"), text)
                })
                .and_then(|()| std::os::unix::fs::symlink(&dir, &link));
            if let Err(e) = written {
                self.say(&format!("mktemp: {e}\n"));
                return 1;
            }
        }
        if published.eol {
            self.say(&format!(
                "\nWARNING: FreeBSD {running} HAS PASSED ITS END-OF-LIFE DATE.\n\
                 Any security issues discovered after Fri Jun 30 00:00:00 UTC 2023\n\
                 will not have been corrected.\n"
            ));
            return 1;
        }
        0
    }

    fn install(&mut self, config: &Config, fetched: bool) -> i32 {
        if !nix::unistd::geteuid().is_root() {
            self.say("You must be root to run this.\n");
            return 1;
        }
        let Some(workdir) = self.workdir_ok(config) else {
            return 1;
        };
        let bdhash = Self::bdhash(config);
        let link = workdir.join(format!("{bdhash}-install"));
        if fs::symlink_metadata(&link).is_err() {
            self.say("No updates are available to install.\n");
            if !fetched {
                self.say(&format!("Run '{SELF} fetch' first.\n"));
                return 1;
            }
            return 0;
        }
        let manifest = fs::read_to_string(link.join("INDEX-NEW"))
            .ok()
            .and_then(|t| serde_json::from_str::<Manifest>(&t).ok());
        let Some(manifest) = manifest else {
            self.say("Update manifest is corrupt -- this should never happen.\nRe-run '/usr/sbin/freebsd-update fetch'.\n");
            return 1;
        };
        self.say("Installing updates...");
        let basedir = config.basedir.clone().unwrap_or_default();
        for (path, contents) in &manifest.files {
            // install_from_index does not check each install(1): a failure is said on
            // standard error and the next file is installed.
            if let Err(e) = install_file(Path::new(&format!("{basedir}/{path}")), contents) {
                self.err
                    .push_str(&format!("install: {basedir}/{path}: {e}\n"));
            }
        }
        let rollback = workdir.join(format!("{bdhash}-rollback"));
        let _ = fs::remove_file(&rollback);
        let _ = fs::rename(&link, &rollback);
        self.say(" done.\n");
        0
    }
}

/// `13.1-RELEASE-p3` → `13.1-RELEASE`.
fn strip_patch(release: &str) -> String {
    match release.rsplit_once("-p") {
        Some((head, n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => {
            head.to_string()
        }
        _ => release.to_string(),
    }
}

/// Writes `path` as `install -S` does: a temporary file in the (resolved) directory,
/// renamed over the last component, keeping the old file's mode.
fn install_file(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no directory"))?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("no file name"))?;
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    let temp = dir.join(format!("INS@{}", name.to_string_lossy()));
    let mut file = fs::File::create(&temp)?;
    file.write_all(contents.as_bytes())?;
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    drop(file);
    fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    const CONF: &str = "KeyPrint 800651ef4b4c71c27e60786d7b487188970f4b4169cc055784e21eb71d410cc5\nServerName update.FreeBSD.org\nComponents world\nIgnorePaths /etc\nUpdateIfUnmodified /etc/ /var/\n";

    struct Setup {
        dir: tempfile::TempDir,
    }

    impl Setup {
        fn new(eol: bool) -> Setup {
            let dir = tempfile::tempdir().unwrap();
            let base = dir.path().join("base");
            fs::create_dir_all(base.join("bin")).unwrap();
            fs::create_dir_all(base.join("skeleton/etc")).unwrap();
            std::os::unix::fs::symlink("skeleton/etc", base.join("etc")).unwrap();
            fs::write(base.join("bin/freebsd-version"), "13.1-RELEASE\n").unwrap();
            fs::create_dir_all(dir.path().join("work")).unwrap();
            fs::write(dir.path().join("conf"), CONF).unwrap();
            let mut files = BTreeMap::new();
            files.insert(
                "/bin/freebsd-version".to_string(),
                UpdatedFile {
                    old: Some("13.1-RELEASE\n".into()),
                    new: "13.1-RELEASE-p9\n".into(),
                },
            );
            files.insert(
                "/etc/motd.template".to_string(),
                UpdatedFile {
                    old: None,
                    new: "patched\n".into(),
                },
            );
            let published = PublishedUpdate {
                patch: 9,
                eol,
                files,
            };
            let path = published_path(dir.path(), "13.1-RELEASE", "amd64");
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, serde_json::to_string(&published).unwrap()).unwrap();
            Setup { dir }
        }

        fn run(&self, command: &str, extra: &[&str]) -> Outcome {
            let d = self.dir.path().display().to_string();
            let mut words = vec![
                "env".to_string(),
                "PATH=/sbin:/bin:/usr/sbin:/usr/bin".into(),
                "UNAME_m=amd64".into(),
                "freebsd-update".into(),
                "-b".into(),
                format!("{d}/base"),
                "-d".into(),
                format!("{d}/work"),
                "-f".into(),
                format!("{d}/conf"),
                "--currently-running".into(),
                "13.1-RELEASE".into(),
            ];
            words.extend(extra.iter().map(|w| w.to_string()));
            words.push(command.into());
            run(self.dir.path(), &words, &BTreeMap::new())
        }
    }

    #[test]
    fn fetch_then_install_patches_the_base_and_honours_ignore_paths() {
        let setup = Setup::new(false);
        let refused = setup.run("fetch", &[]);
        assert_eq!(refused.code, 1);
        assert!(refused
            .stdout
            .contains("should not be run non-interactively"));
        let nothing = setup.run("install", &["--not-running-from-cron"]);
        assert_eq!(nothing.code, 1, "{nothing:?}");
        assert!(nothing
            .stdout
            .starts_with("No updates are available to install.\nRun '"));

        let fetch = setup.run("fetch", &["--not-running-from-cron"]);
        assert_eq!(fetch.code, 0, "{fetch:?}");
        assert!(
            fetch.stdout.contains(
                "will be updated as part of updating to\n13.1-RELEASE-p9:\n/bin/freebsd-version\n"
            ),
            "{}",
            fetch.stdout
        );
        assert!(
            !fetch.stdout.contains("motd"),
            "IgnorePaths /etc: {}",
            fetch.stdout
        );
        let install = setup.run("install", &["--not-running-from-cron"]);
        assert_eq!(install.code, 0, "{install:?}");
        let base = setup.dir.path().join("base");
        assert_eq!(
            fs::read_to_string(base.join("bin/freebsd-version")).unwrap(),
            "13.1-RELEASE-p9\n"
        );
        assert!(!base.join("skeleton/etc/motd.template").exists());
        let again = setup.run("fetch", &["--not-running-from-cron"]);
        assert!(
            again
                .stdout
                .contains("No updates needed to update system to 13.1-RELEASE-p9."),
            "{again:?}"
        );
    }

    #[test]
    fn without_ignore_paths_it_writes_through_the_links_as_the_real_one_does() {
        let setup = Setup::new(false);
        fs::write(
            setup.dir.path().join("conf"),
            CONF.replace("IgnorePaths /etc\n", ""),
        )
        .unwrap();
        let fetch = setup.run("fetch", &["--not-running-from-cron"]);
        assert!(fetch.stdout.contains("/etc/motd.template"), "{fetch:?}");
        setup.run("install", &["--not-running-from-cron"]);
        assert_eq!(
            fs::read_to_string(setup.dir.path().join("base/skeleton/etc/motd.template")).unwrap(),
            "patched\n"
        );
    }

    #[test]
    fn end_of_life_fetch_exits_1_after_fetching_and_refusals_match_the_real_ones() {
        let setup = Setup::new(true);
        let fetch = setup.run("fetch", &["--not-running-from-cron"]);
        assert_eq!(fetch.code, 1);
        let eol = fetch
            .stdout
            .find("HAS PASSED ITS END-OF-LIFE DATE")
            .unwrap();
        let listed = fetch.stdout.find("/bin/freebsd-version").unwrap();
        assert!(
            listed < eol,
            "the warning comes after fetching: {}",
            fetch.stdout
        );
        assert_eq!(setup.run("install", &["--not-running-from-cron"]).code, 0);

        fs::remove_file(setup.dir.path().join("conf")).unwrap();
        let missing = setup.run("fetch", &["--not-running-from-cron"]);
        assert_eq!(missing.code, 1);
        assert!(missing
            .stdout
            .starts_with("File does not exist or is not readable: "));
        fs::write(setup.dir.path().join("conf"), format!("{CONF}Bogus yes\n")).unwrap();
        let bad = setup.run("fetch", &["--not-running-from-cron"]);
        assert!(
            bad.stdout
                .starts_with("Error processing configuration file, line 6:\n==> Bogus yes"),
            "{bad:?}"
        );
        fs::write(setup.dir.path().join("conf"), CONF).unwrap();
        fs::remove_dir_all(setup.dir.path().join("work")).unwrap();
        fs::write(setup.dir.path().join("work"), "").unwrap();
        let not_dir = setup.run("fetch", &["--not-running-from-cron"]);
        assert!(
            not_dir
                .stdout
                .contains("Directory does not exist or is not writable"),
            "{not_dir:?}"
        );
        let usage = setup.run("fetch", &["-f"]);
        assert_eq!(usage.code, 0, "usage exits 0 as the real one");
        assert!(usage.stdout.starts_with("usage: freebsd-update"));
    }

    #[test]
    fn the_program_is_found_through_the_path_it_is_given() {
        let setup = Setup::new(false);
        let fake = setup.dir.path().join("fake");
        fs::create_dir_all(&fake).unwrap();
        fs::write(fake.join("freebsd-update"), "#!/bin/sh\necho fake\n").unwrap();
        fs::set_permissions(
            fake.join("freebsd-update"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let env = BTreeMap::from([(
            "PATH".to_string(),
            format!("{}:/usr/sbin:/usr/bin", fake.display()),
        )]);
        let through_caller = run(setup.dir.path(), &argv(&["freebsd-update", "fetch"]), &env);
        assert_eq!(through_caller.stdout, "fake\n");
        let fixed = run(
            setup.dir.path(),
            &argv(&[
                "env",
                "PATH=/sbin:/bin:/usr/sbin:/usr/bin",
                "freebsd-update",
                "-x",
            ]),
            &env,
        );
        assert!(fixed.stdout.starts_with("usage:"), "{fixed:?}");
        let cron = BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]);
        assert_eq!(
            run(
                setup.dir.path(),
                &argv(&["env", "freebsd-update", "fetch"]),
                &cron
            )
            .code,
            127
        );
    }
}
