//! The boot configuration of jails as FreeBSD reads it: which rc.conf(5) files rc(8)
//! sources for `service jail` and what their variables come to ([`RcConf`]), and
//! which jails rc.d/jail then starts, from which file ([`boot`]).
//!
//! Written from FreeBSD's sources (reference only, nothing copied):
//! - `libexec/rc/rc.subr`, `load_rc_config`: `/etc/defaults/rc.conf` if it is
//!   readable (and, at its end, `/etc/defaults/vendor.conf`), then `source_rc_confs`
//!   from it: each file of `rc_conf_files` (`/etc/rc.conf /etc/rc.conf.local`) once,
//!   in two passes so a file may add files to the list; without the defaults only
//!   `/etc/rc.conf`. Then, for the service, `/etc/rc.conf.d/jail` and
//!   `${dir%/rc.d}/rc.conf.d/jail` for each `dir` of `local_startup`: a file, or every
//!   regular file in a directory of that name. The defaults and the service files are
//!   read with `dot` (`[ -f F -a -s F ]`), `rc_conf_files` with `[ -r F ]`.
//! - `libexec/rc/rc.d/jail`: `run_rc_command start ${jail_list:-_ALL}`. `_ALL` is
//!   `jail -f $jail_conf -c` (every jail of that file); a list starts each word `W`
//!   as `J` (`W` with `/` and `.` made `_`), with `jail -i -f CONF -c J`, where CONF
//!   is (`parse_options`) `jail_V_conf` or else `/etc/jail.J.conf` if readable, else
//!   `/etc/jail.conf.d/J.conf`, else `$jail_conf`; `V` is `J` with every character
//!   that is not alphanumeric made `_`. With both `jail_V_rootdir` and
//!   `jail_V_hostname` set, rc.d/jail writes `/var/run/jail.J.conf` from the legacy
//!   `jail_V_*` variables instead. Nothing starts unless `checkyesno jail_enable`.
//!
//! rc.conf files are sh(1) scripts; like sysrc(8), this reads their top-level
//! assignments (`NAME=WORD`, several on a line separated by `;`), in order, with
//! `$NAME` and `${NAME}` expanded from what was assigned before. A value the shell
//! would compute in any other way (`$(…)`, backquotes, `${NAME:-…}`, `$1`) is known
//! to be unknown ([`RcValue::value`] is `None`). Lines that are not assignments
//! (`if`, functions, commands) are skipped.
//!
//! Paths are the booted system's (`/etc/rc.conf`); [`SystemRoot`] maps them to
//! where that system is on the host, and [`WorldFiles`] reads them from a world.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use crate::edit::{is_yes, rc_words};
use crate::jailconf::{self, Files, JailConf, ModelError, Origin, Params, Semantics};
use crate::world::{PathState, World};

/// rc(8)'s defaults, read first.
pub const RC_DEFAULTS: &str = "/etc/defaults/rc.conf";
/// Sourced at the end of the defaults when it is readable.
pub const VENDOR_DEFAULTS: &str = "/etc/defaults/vendor.conf";
/// Where rc.d/jail looks for `NAME.conf` by itself.
pub const JAIL_CONF_D: &str = "/etc/jail.conf.d";

/// The files a booted system's rc(8) and rc.d/jail may read for `service jail`
/// (besides the jail.conf files): what to observe before planning.
pub fn rc_files_to_observe() -> Vec<PathBuf> {
    [
        RC_DEFAULTS,
        VENDOR_DEFAULTS,
        "/etc/rc.conf",
        "/etc/rc.conf.local",
        "/etc/rc.conf.d/jail",
        "/usr/local/etc/rc.conf.d/jail",
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

/// The part of FreeBSD's `/etc/defaults/rc.conf` (`libexec/rc/rc.conf`) that
/// `service jail` depends on, used by [`with_freebsd_defaults`] when a world holds
/// no defaults file.
pub const FREEBSD_DEFAULTS: &str = "local_startup=\"/usr/local/etc/rc.d\"\n\
rc_conf_files=\"/etc/rc.conf /etc/rc.conf.local\"\n\
jail_enable=\"NO\"\n\
jail_conf=\"/etc/jail.conf\"\n\
jail_confwarn=\"YES\"\n\
jail_parallel_start=\"NO\"\n\
jail_list=\"\"\n\
jail_reverse_stop=\"NO\"\n";

/// `files` with [`FREEBSD_DEFAULTS`] as `/etc/defaults/rc.conf` when they have none:
/// every FreeBSD system has that file, so a world without it is one that was not
/// observed on a whole system (a plan made elsewhere, the Linux test bed), and
/// FreeBSD's defaults are what its rc(8) would read.
pub fn with_freebsd_defaults(files: &dyn Files) -> Overlay<'_> {
    let mut overlay = Overlay::new(files);
    if files.read(Path::new(RC_DEFAULTS)).is_err() {
        overlay.set(RC_DEFAULTS, Some(FREEBSD_DEFAULTS.to_string()));
    }
    overlay
}

/// What to observe before planning a recipe's jails and their boot: every rc.conf
/// file `service jail` may read (an `rc.conf.d/jail` directory listed), the recipe's
/// `jail_conf` with what it includes, thinjail's `jail_conf_dir` listed, and each
/// recipe jail's `/etc/jail.NAME.conf`. All below `host.system_root`.
pub fn probes(recipe: &crate::Recipe) -> crate::probes::Probes {
    let host = &recipe.host;
    let root = SystemRoot::new(&host.system_root);
    let mut probes = crate::probes::Probes::default();
    probes.file(host.jail_conf.clone());
    probes.file(host.rc_conf.clone());
    for file in rc_files_to_observe() {
        probes.file(root.host(&file));
    }
    for dir in ["/etc/rc.conf.d/jail", "/usr/local/etc/rc.conf.d/jail"] {
        probes.dirs.insert(root.host(Path::new(dir)));
    }
    probes.dirs.insert(host.jail_conf_dir.clone());
    if let Some(file) = root.system(&host.jail_conf) {
        probes.jail_confs.insert(crate::probes::JailConfProbe {
            root: host.system_root.clone(),
            file,
        });
    }
    for jail in &recipe.jails {
        probes.path(root.host(&legacy_jail_conf(&jail.name)));
    }
    probes
}

/// `/etc/jail.J.conf`: the file rc.d/jail prefers for jail `J` when `jail_V_conf` is
/// not set.
pub fn legacy_jail_conf(jail: &str) -> PathBuf {
    PathBuf::from(format!("/etc/jail.{jail}.conf"))
}

/// Where a system's paths are on this host: `/` for the running system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemRoot(PathBuf);

impl SystemRoot {
    /// The system mounted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SystemRoot(root.into())
    }

    /// The host path of the system's absolute `path` (a relative one is taken from
    /// the system's `/`).
    pub fn host(&self, path: &Path) -> PathBuf {
        let relative = path.strip_prefix("/").unwrap_or(path);
        if relative.as_os_str().is_empty() {
            self.0.clone()
        } else {
            self.0.join(relative)
        }
    }

    /// The system's path for the host path `path`, if it is inside the root.
    pub fn system(&self, path: &Path) -> Option<PathBuf> {
        let relative = path.strip_prefix(&self.0).ok()?;
        Some(Path::new("/").join(relative))
    }
}

/// The files of a [`World`] as the system under `root` sees them: jail.conf reads,
/// rc.conf reads and globs over the directories observation listed.
pub struct WorldFiles<'a> {
    world: &'a World,
    root: &'a SystemRoot,
}

impl<'a> WorldFiles<'a> {
    /// The files of `world` seen from the system at `root`.
    pub fn new(world: &'a World, root: &'a SystemRoot) -> Self {
        WorldFiles { world, root }
    }
}

impl Files for WorldFiles<'_> {
    fn read(&self, path: &Path) -> io::Result<String> {
        match self.world.path(&self.root.host(path)) {
            PathState::File {
                contents: Some(text),
            } => Ok(text.clone()),
            PathState::File { contents: None } => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not read (not UTF-8, or not observed)", path.display()),
            )),
            PathState::Missing => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: No such file or directory", path.display()),
            )),
            PathState::Directory => Err(io::Error::other(format!(
                "{}: Is a directory",
                path.display()
            ))),
            PathState::Symlink { target } => Err(io::Error::other(format!(
                "{}: a symbolic link (to {}), not followed",
                path.display(),
                target.display()
            ))),
        }
    }

    fn glob(&self, pattern: &str) -> io::Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        for listed in &self.world.listed {
            let Some(dir) = self.root.system(listed) else {
                continue;
            };
            for (path, state) in self.world.paths.range(listed.clone()..) {
                if !path.starts_with(listed) {
                    break;
                }
                if path.parent() != Some(listed.as_path()) || !state.exists() {
                    continue;
                }
                let Some(name) = path.file_name() else {
                    continue;
                };
                let system = dir.join(name);
                if jailconf::glob_matches(pattern, &system.to_string_lossy()) {
                    found.push(system);
                }
            }
        }
        found.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        found.dedup();
        Ok(found)
    }

    fn is_dir(&self, path: &Path) -> bool {
        matches!(self.world.path(&self.root.host(path)), PathState::Directory)
    }

    fn readable(&self, path: &Path) -> bool {
        matches!(
            self.world.path(&self.root.host(path)),
            PathState::Directory | PathState::File { contents: Some(_) }
        )
    }
}

/// Files as a plan will leave them: `base` with some files (system paths) written
/// anew or removed.
pub struct Overlay<'a> {
    base: &'a dyn Files,
    changes: BTreeMap<PathBuf, Option<String>>,
}

impl<'a> Overlay<'a> {
    /// No change yet.
    pub fn new(base: &'a dyn Files) -> Self {
        Overlay {
            base,
            changes: BTreeMap::new(),
        }
    }

    /// `path` will hold `text` (`None`: it will be gone).
    pub fn set(&mut self, path: impl Into<PathBuf>, text: Option<String>) {
        self.changes.insert(path.into(), text);
    }

    /// What `path` holds, changes included (empty when missing).
    pub fn text(&self, path: &Path) -> String {
        self.read(path).unwrap_or_default()
    }
}

impl Files for Overlay<'_> {
    fn read(&self, path: &Path) -> io::Result<String> {
        match self.changes.get(path) {
            Some(Some(text)) => Ok(text.clone()),
            Some(None) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: No such file or directory", path.display()),
            )),
            None => self.base.read(path),
        }
    }

    fn glob(&self, pattern: &str) -> io::Result<Vec<PathBuf>> {
        let mut found: Vec<PathBuf> = self
            .base
            .glob(pattern)?
            .into_iter()
            .filter(|p| !matches!(self.changes.get(p), Some(None)))
            .collect();
        for (path, text) in &self.changes {
            if text.is_some() && jailconf::glob_matches(pattern, &path.to_string_lossy()) {
                found.push(path.clone());
            }
        }
        found.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        found.dedup();
        Ok(found)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.base.is_dir(path)
    }

    fn readable(&self, path: &Path) -> bool {
        match self.changes.get(path) {
            Some(text) => text.is_some(),
            None => self.base.readable(path),
        }
    }
}

/// One variable as rc(8) leaves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RcValue {
    /// Its value, or `None` when the shell would compute it in a way this model does
    /// not follow.
    pub value: Option<String>,
    /// The assignment that set it last (system path and line).
    pub origin: Origin,
}

/// Why an rc.conf variable cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: line {}: {name} is computed by the shell (`$(…)`, backquotes, `${{…:-…}}`…); thinjail cannot tell its value, set it to a plain value", origin.file.display(), origin.line)]
pub struct ComputedValue {
    /// The variable.
    pub name: String,
    /// Its assignment.
    pub origin: Origin,
}

/// The variables rc(8) has after `load_rc_config SERVICE`, and where each was set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RcConf {
    vars: BTreeMap<String, RcValue>,
    /// The files read, in order (system paths).
    pub files: Vec<PathBuf>,
}

impl RcConf {
    /// What `load_rc_config service` reads through `files` (system paths).
    pub fn load(files: &dyn Files, service: &str) -> RcConf {
        let mut rc = RcConf::default();
        let readable = |path: &Path| files.read(path).is_ok();
        if readable(Path::new(RC_DEFAULTS)) {
            rc.source(files, Path::new(RC_DEFAULTS));
            // The defaults end by sourcing vendor.conf when it is readable.
            if readable(Path::new(VENDOR_DEFAULTS)) {
                rc.source(files, Path::new(VENDOR_DEFAULTS));
            }
            // source_rc_confs: two passes, so a file may add files to the list.
            let mut sourced = BTreeSet::new();
            for _pass in 0..2 {
                for file in rc.words("rc_conf_files") {
                    let path = PathBuf::from(&file);
                    if sourced.insert(file) && readable(&path) {
                        rc.source(files, &path);
                    }
                }
            }
        } else if readable(Path::new("/etc/rc.conf")) {
            rc.source(files, Path::new("/etc/rc.conf"));
        }
        let mut dirs = vec!["/etc".to_string()];
        dirs.extend(rc.words("local_startup"));
        for dir in dirs {
            let dir = dir.strip_suffix("/rc.d").unwrap_or(&dir).to_string();
            let path = PathBuf::from(format!("{dir}/rc.conf.d/{service}"));
            if files.is_dir(&path) {
                let pattern = format!("{}/*", path.display());
                for entry in files.glob(&pattern).unwrap_or_default() {
                    rc.source(files, &entry);
                }
            } else {
                rc.source(files, &path);
            }
        }
        rc
    }

    /// The words of `name`'s value (none when unset or unknown).
    pub fn words(&self, name: &str) -> Vec<String> {
        self.value(name)
            .ok()
            .flatten()
            .map(|v| rc_words(&v).map(String::from).collect())
            .unwrap_or_default()
    }

    /// Sources `path` if it is a regular file that is not empty (what `dot` and a
    /// readable `rc_conf_files` entry come to for a file that can be read at all).
    fn source(&mut self, files: &dyn Files, path: &Path) {
        let Ok(text) = files.read(path) else {
            return;
        };
        if text.is_empty() {
            return;
        }
        self.files.push(path.to_path_buf());
        for (index, line) in text.split('\n').enumerate() {
            if let Some((name, word)) = default_assignment(line) {
                let unset = self
                    .vars
                    .get(name)
                    .is_none_or(|v| v.value.as_deref() == Some(""));
                let value = expand(word, &|var| {
                    self.vars
                        .get(var)
                        .map(|v| v.value.clone())
                        .unwrap_or(Some(String::new()))
                });
                // A default the shell would compute stays unset here: the line after
                // it in FreeBSD's defaults gives the fallback (`_localbase`).
                if let (true, Some(value)) = (unset, value) {
                    self.vars.insert(
                        name.to_string(),
                        RcValue {
                            value: Some(value),
                            origin: Origin {
                                file: path.to_path_buf(),
                                line: index + 1,
                            },
                        },
                    );
                }
                continue;
            }
            for (name, word) in line_assignments(line) {
                let value = expand(word, &|var| {
                    self.vars
                        .get(var)
                        .map(|v| v.value.clone())
                        .unwrap_or(Some(String::new()))
                });
                self.vars.insert(
                    name.to_string(),
                    RcValue {
                        value,
                        origin: Origin {
                            file: path.to_path_buf(),
                            line: index + 1,
                        },
                    },
                );
            }
        }
    }

    /// The variable `name` as rc(8) leaves it (`None` when no file read sets it).
    pub fn get(&self, name: &str) -> Option<&RcValue> {
        self.vars.get(name)
    }

    /// Its value (`Ok(None)` when unset), or why it cannot be known.
    pub fn value(&self, name: &str) -> Result<Option<String>, ComputedValue> {
        match self.vars.get(name) {
            None => Ok(None),
            Some(RcValue { value: Some(v), .. }) => Ok(Some(v.clone())),
            Some(RcValue {
                value: None,
                origin,
            }) => Err(ComputedValue {
                name: name.to_string(),
                origin: origin.clone(),
            }),
        }
    }

    /// Its value, empty when unset.
    pub fn text(&self, name: &str) -> Result<String, ComputedValue> {
        Ok(self.value(name)?.unwrap_or_default())
    }

    /// The names of every variable set, for checks over a family (`jail_*`).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }
}

/// The top-level assignments on one line of an rc.conf file, in order: `NAME=WORD`
/// at the start (after blanks), then more after `;`. Anything else ends the line
/// for this reader (a command, `if`, a function, a comment).
fn line_assignments(line: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let mut rest = line.trim_start_matches([' ', '\t']);
    if rest.starts_with(": ${") {
        // `: ${NAME:=WORD}` is read by RcConf::source itself.
        return found;
    }
    loop {
        let name_len = rest
            .bytes()
            .enumerate()
            .take_while(|&(i, b)| {
                b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit())
            })
            .count();
        if name_len == 0 || rest.as_bytes().get(name_len) != Some(&b'=') {
            break;
        }
        let name = &rest[..name_len];
        let after = &rest[name_len + 1..];
        let Some(end) = crate::edit::expanding_word_end(after) else {
            // A computed or unfinished value: unknown, not silently skipped.
            found.push((name, "$("));
            break;
        };
        found.push((name, &after[..end]));
        let tail = after[end..].trim_start_matches([' ', '\t']);
        match tail.strip_prefix(';') {
            Some(next) => rest = next.trim_start_matches([' ', '\t']),
            None => break,
        }
    }
    found
}

/// `: ${NAME:=WORD}` (assign WORD when NAME is unset or empty), as FreeBSD's
/// defaults set `_localbase`.
fn default_assignment(line: &str) -> Option<(&str, &str)> {
    let inner = line
        .trim_start_matches([' ', '\t'])
        .strip_prefix(": ${")?
        .trim_end_matches([' ', '\t']);
    let inner = inner.strip_suffix('}')?;
    let (name, word) = inner.split_once(":=")?;
    let valid = !name.is_empty()
        && name
            .bytes()
            .enumerate()
            .all(|(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()));
    valid.then_some((name, word))
}

/// sh(1)'s expansion of an assignment's word (no field splitting, no globbing):
/// quote removal, `$NAME` and `${NAME}` from `lookup`; `None` for anything else the
/// shell would compute (`$(`, backquotes, `${NAME…}` with an operator, `$1`, `$?`),
/// or when a variable it uses is itself unknown.
pub fn expand(word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut in_double = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if !in_double => {
                out.extend(chars.get(i + 1));
                i += 2;
            }
            '\\' => match chars.get(i + 1) {
                Some(&next @ ('\\' | '"' | '$' | '`')) => {
                    out.push(next);
                    i += 2;
                }
                Some('\n') => i += 2,
                _ => {
                    out.push('\\');
                    i += 1;
                }
            },
            '\'' if !in_double => {
                let close = chars[i + 1..].iter().position(|&c| c == '\'')?;
                out.extend(&chars[i + 1..i + 1 + close]);
                i += close + 2;
            }
            '"' => {
                in_double = !in_double;
                i += 1;
            }
            '`' => return None,
            '$' => {
                let name_at = |from: usize| {
                    chars[from..]
                        .iter()
                        .enumerate()
                        .take_while(|&(k, &c)| {
                            c == '_' || c.is_ascii_alphabetic() || (k > 0 && c.is_ascii_digit())
                        })
                        .count()
                };
                match chars.get(i + 1) {
                    Some('{') => {
                        let len = name_at(i + 2);
                        if len == 0 || chars.get(i + 2 + len) != Some(&'}') {
                            return None;
                        }
                        let name: String = chars[i + 2..i + 2 + len].iter().collect();
                        out.push_str(&lookup(&name)?);
                        i += len + 3;
                    }
                    Some(&c) if c == '_' || c.is_ascii_alphabetic() => {
                        let len = name_at(i + 1);
                        let name: String = chars[i + 1..i + 1 + len].iter().collect();
                        out.push_str(&lookup(&name)?);
                        i += len + 1;
                    }
                    Some(c) if c.is_ascii_digit() || "(@*#?-$!".contains(*c) => return None,
                    _ => {
                        out.push('$');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    (!in_double).then_some(out)
}

/// rc.d/jail's name for the jail of a `jail_list` word: `/` and `.` made `_`.
pub fn boot_name(word: &str) -> String {
    word.replace(['/', '.'], "_")
}

/// rc.d/jail's variable stem for jail `jail`: every character that is not a letter
/// or digit made `_` (`jail_STEM_conf`).
pub fn var_stem(jail: &str) -> String {
    jail.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// How rc.d/jail starts one jail of `jail_list` at boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootConf {
    /// `jail -i -f FILE -c NAME`.
    File(PathBuf),
    /// From the legacy `jail_NAME_*` variables (`jail_NAME_rootdir` and
    /// `jail_NAME_hostname` are set): a file rc.d/jail writes in `/var/run`.
    Legacy,
    /// Skipped with a warning (no configuration found).
    Ignored,
}

/// One jail rc.d/jail starts at boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootJail {
    /// The jail's name.
    pub name: String,
    /// Where its parameters come from.
    pub conf: BootConf,
}

impl BootJail {
    /// The parameters jail(8) starts it with, read with `semantics` (an error when
    /// jail(8) would refuse the file or the jail, or for a legacy or skipped jail).
    pub fn params(&self, files: &dyn Files, semantics: Semantics) -> Result<Params, String> {
        match &self.conf {
            BootConf::File(file) => jailconf::effective_params(files, file, semantics, &self.name)
                .map_err(|e: ModelError| e.to_string()),
            BootConf::Legacy => Err("started from the legacy jail_NAME_* variables".into()),
            BootConf::Ignored => Err("not started: rc.d/jail finds no configuration".into()),
        }
    }
}

/// What rc.d/jail does at boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boot {
    /// `jail_enable`: anything starts at all.
    pub enabled: bool,
    /// `jail_list`'s words, or `None` for `_ALL`.
    pub list: Option<Vec<String>>,
    /// The jails it starts, in order.
    pub jails: Vec<BootJail>,
    /// With `_ALL`, jail(8)'s refusal of `jail_conf` (nothing starts).
    pub error: Option<String>,
}

impl Boot {
    /// The names it starts.
    pub fn names(&self) -> Vec<&str> {
        self.jails.iter().map(|j| j.name.as_str()).collect()
    }

    /// How it starts `name`, if it does.
    pub fn jail(&self, name: &str) -> Option<&BootJail> {
        self.jails.iter().find(|j| j.name == name)
    }
}

/// What `service jail start` does at boot with the variables `rc` through `files`
/// (system paths), jail.conf read with `semantics` (it matters for `_ALL`: which
/// jails the file defines).
pub fn boot(rc: &RcConf, files: &dyn Files, semantics: Semantics) -> Result<Boot, ComputedValue> {
    let enabled = is_yes(&rc.text("jail_enable")?);
    let list: Vec<String> = rc_words(&rc.text("jail_list")?).map(String::from).collect();
    let jail_conf = PathBuf::from(rc.text("jail_conf")?);
    let mut boot = Boot {
        enabled,
        list: (!list.is_empty()).then(|| list.clone()),
        jails: Vec::new(),
        error: None,
    };
    if !enabled {
        return Ok(boot);
    }
    if list.is_empty() {
        match JailConf::load(&jail_conf, semantics, files) {
            Ok(conf) => {
                boot.jails = conf
                    .jails()
                    .into_iter()
                    .map(|name| BootJail {
                        name,
                        conf: BootConf::File(jail_conf.clone()),
                    })
                    .collect()
            }
            Err(e) => boot.error = Some(e.to_string()),
        }
        return Ok(boot);
    }
    let readable = |path: &Path| files.readable(path);
    for word in list {
        let name = boot_name(&word);
        let stem = var_stem(&name);
        let own_conf = rc.text(&format!("jail_{stem}_conf"))?;
        let jconf = if own_conf.is_empty() {
            legacy_jail_conf(&name)
        } else {
            PathBuf::from(own_conf)
        };
        let rootdir = rc.text(&format!("jail_{stem}_rootdir"))?;
        let hostname = rc.text(&format!("jail_{stem}_hostname"))?;
        let conf = if !rootdir.is_empty() && !hostname.is_empty() {
            BootConf::Legacy
        } else if readable(&jconf) {
            BootConf::File(jconf)
        } else if readable(&Path::new(JAIL_CONF_D).join(format!("{name}.conf"))) {
            BootConf::File(Path::new(JAIL_CONF_D).join(format!("{name}.conf")))
        } else if readable(&jail_conf) {
            BootConf::File(jail_conf.clone())
        } else {
            BootConf::Ignored
        };
        boot.jails.push(BootJail { name, conf });
    }
    Ok(boot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jailconf::MemoryFiles;

    const DEFAULTS: &str = "rc_conf_files=\"/etc/rc.conf /etc/rc.conf.local\"\nlocal_startup=\"/usr/local/etc/rc.d\"\njail_enable=\"NO\"\njail_conf=\"/etc/jail.conf\"\njail_list=\"\"\n";

    fn rc(files: &MemoryFiles) -> RcConf {
        RcConf::load(files, "jail")
    }

    #[test]
    fn later_files_win_in_rc_subr_order() {
        let files = MemoryFiles::new()
            .with(RC_DEFAULTS, DEFAULTS)
            .with("/etc/rc.conf", "jail_enable=YES\njail_list=\"a b\"\n")
            .with("/etc/rc.conf.local", "jail_list=\"$jail_list c\"\n")
            .with("/etc/rc.conf.d/jail", "jail_conf=/etc/jails.conf\n")
            .with("/usr/local/etc/rc.conf.d/jail", "jail_parallel_start=YES\n");
        let rc = rc(&files);
        assert_eq!(rc.text("jail_list").unwrap(), "a b c");
        assert_eq!(
            rc.get("jail_list").unwrap().origin.file,
            Path::new("/etc/rc.conf.local")
        );
        assert_eq!(rc.text("jail_enable").unwrap(), "YES");
        assert_eq!(rc.text("jail_conf").unwrap(), "/etc/jails.conf");
        assert_eq!(rc.text("jail_parallel_start").unwrap(), "YES");
        assert_eq!(
            rc.files,
            [
                RC_DEFAULTS,
                "/etc/rc.conf",
                "/etc/rc.conf.local",
                "/etc/rc.conf.d/jail",
                "/usr/local/etc/rc.conf.d/jail"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn rc_conf_d_directories_redefined_file_lists_and_no_defaults() {
        let files = MemoryFiles::new()
            .with(RC_DEFAULTS, DEFAULTS)
            .with(
                "/etc/rc.conf",
                "rc_conf_files=\"/etc/rc.conf /etc/extra.conf\"\n",
            )
            .with("/etc/extra.conf", "jail_enable=YES\n")
            .with("/etc/rc.conf.local", "jail_enable=NO\n")
            .with("/etc/rc.conf.d/jail/a", "jail_list=a\n")
            .with("/etc/rc.conf.d/jail/b", "jail_list=\"$jail_list b\"\n")
            .with("/etc/rc.conf.d/jail/.hidden", "jail_list=x\n");
        let rc = rc(&files);
        // rc.conf.local is read (first pass), extra.conf too (second pass).
        assert_eq!(rc.text("jail_enable").unwrap(), "YES");
        assert_eq!(rc.text("jail_list").unwrap(), "a b");
        // Without the defaults, only /etc/rc.conf (and the service's files).
        let files = MemoryFiles::new()
            .with("/etc/rc.conf", "jail_enable=YES\n")
            .with("/etc/rc.conf.local", "jail_list=x\n");
        let rc = RcConf::load(&files, "jail");
        assert_eq!(rc.text("jail_list").unwrap(), "");
        assert_eq!(rc.text("jail_conf").unwrap(), "");
    }

    #[test]
    fn computed_values_are_unknown_not_guessed() {
        let files = MemoryFiles::new().with(RC_DEFAULTS, DEFAULTS).with(
            "/etc/rc.conf",
            "jail_list=\"$(ls /j)\"\njail_enable=${x:-YES}\nx='$y'; jail_conf=\"/a/$x\" # c\n",
        );
        let rc = rc(&files);
        assert!(rc.value("jail_list").is_err());
        assert!(rc.value("jail_enable").is_err());
        assert_eq!(rc.text("jail_conf").unwrap(), "/a/$y");
        let error = rc.value("jail_list").unwrap_err();
        assert_eq!(error.origin.line, 1);
    }

    #[test]
    fn rc_d_jail_picks_each_jails_file_like_parse_options() {
        let files = MemoryFiles::new()
            .with(RC_DEFAULTS, DEFAULTS)
            .with(
                "/etc/rc.conf",
                "jail_enable=YES\njail_list=\"a b c d e.x\"\njail_c_conf=/srv/c.conf\njail_d_rootdir=/d\njail_d_hostname=d\n",
            )
            .with("/etc/jail.conf", "a { persist; } e_x { persist; }\n")
            .with("/etc/jail.b.conf", "b { persist; }\n")
            .with("/etc/jail.conf.d/a.conf", "a { persist; }\n")
            .with("/etc/jail.conf.d/b.conf", "b { persist; }\n");
        let boot = boot(&rc(&files), &files, Semantics::Freebsd14).unwrap();
        let confs: Vec<(&str, &BootConf)> = boot
            .jails
            .iter()
            .map(|j| (j.name.as_str(), &j.conf))
            .collect();
        assert_eq!(
            confs,
            [
                ("a", &BootConf::File("/etc/jail.conf.d/a.conf".into())),
                ("b", &BootConf::File("/etc/jail.b.conf".into())),
                // jail_c_conf is not readable: the next candidates, then jail_conf.
                ("c", &BootConf::File("/etc/jail.conf".into())),
                ("d", &BootConf::Legacy),
                ("e_x", &BootConf::File("/etc/jail.conf".into())),
            ]
        );
        assert!(boot.jails[2].params(&files, Semantics::Freebsd14).is_err());
        assert!(boot.jails[4].params(&files, Semantics::Freebsd14).is_ok());
    }

    #[test]
    fn an_empty_list_starts_every_jail_of_jail_conf_and_only_when_enabled() {
        let files = MemoryFiles::new()
            .with(RC_DEFAULTS, DEFAULTS)
            .with("/etc/rc.conf", "jail_enable=YES\njail_list=\" \"\n")
            .with(
                "/etc/jail.conf",
                "exec.clean; a { persist; } \"b.*\" { persist; } b.c { }\n",
            )
            .with("/etc/jail.conf.d/x.conf", "x { persist; }\n");
        let started = boot(&rc(&files), &files, Semantics::Freebsd14).unwrap();
        assert_eq!(started.list, None);
        assert_eq!(started.names(), ["a", "b.c"]);
        let files = files.with("/etc/rc.conf", "jail_enable=NO\n");
        let started = boot(&rc(&files), &files, Semantics::Freebsd14).unwrap();
        assert!(!started.enabled && started.jails.is_empty());
    }

    #[test]
    fn defaults_that_the_shell_computes_fall_back_like_freebsds() {
        let files = MemoryFiles::new().with(
            RC_DEFAULTS,
            ": ${_localbase:=\"$(/sbin/sysctl -n user.localbase 2> /dev/null)\"}\n: ${_localbase:=\"/usr/local\"}\nlocal_startup=\"${_localbase}/etc/rc.d\"\nrc_conf_files=\"/etc/rc.conf\"\n",
        )
        .with("/usr/local/etc/rc.conf.d/jail", "jail_enable=YES\n");
        let rc = rc(&files);
        assert_eq!(rc.text("local_startup").unwrap(), "/usr/local/etc/rc.d");
        assert_eq!(rc.text("jail_enable").unwrap(), "YES");
        // A world without the defaults file gets FreeBSD's.
        let bare = MemoryFiles::new().with("/etc/rc.conf.local", "jail_list=a\n");
        let rc = RcConf::load(&with_freebsd_defaults(&bare), "jail");
        assert_eq!(rc.text("jail_list").unwrap(), "a");
        assert_eq!(rc.text("jail_conf").unwrap(), "/etc/jail.conf");
    }

    #[test]
    fn names_and_stems_like_rc_d_jail() {
        assert_eq!(boot_name("a.b/c"), "a_b_c");
        assert_eq!(var_stem("web-1"), "web_1");
    }

    #[test]
    fn system_paths_map_below_the_root() {
        let root = SystemRoot::new("/tmp/sys");
        assert_eq!(
            root.host(Path::new("/etc/rc.conf")),
            Path::new("/tmp/sys/etc/rc.conf")
        );
        assert_eq!(
            root.system(Path::new("/tmp/sys/etc/jail.conf")).unwrap(),
            Path::new("/etc/jail.conf")
        );
        assert_eq!(root.system(Path::new("/etc/x")), None);
        let slash = SystemRoot::new("/");
        assert_eq!(
            slash.host(Path::new("/etc/rc.conf")),
            Path::new("/etc/rc.conf")
        );
        assert_eq!(
            slash.system(Path::new("/etc/rc.conf")).unwrap(),
            Path::new("/etc/rc.conf")
        );
    }
}
