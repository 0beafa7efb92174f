//! The host's jail and boot configuration as jail(8) and rc(8) read it
//! ([`Configuration`]): the administrator's jail.conf, thinjail's own jail files,
//! rc.conf's `jail_enable`/`jail_list` and the per-jail variables, and the edits
//! that keep the administrator's jails booting as they did. Read once by the rcconf
//! stage (to write jails) and by the lifecycle plans (to forget a destroyed jail).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::action::Action;
use crate::boot::{self, with_freebsd_defaults, BootConf, Overlay, RcConf, SystemRoot, WorldFiles};
use crate::edit::{blocks, is_yes, rc_record, rc_words, FileEdit};
use crate::jailconf::{Files, JailConf, Params, Semantics};
use crate::jailfile::{block_id, file_owner, MANAGED_MARK};
use crate::layout::Layout;
use crate::recipe::Recipe;
use crate::stage::{Planned, StageError};
use crate::world::{PathState, World};

fn conflict(message: impl Into<String>) -> StageError {
    StageError::Conflict(message.into())
}

/// A host's jail and boot configuration as jail(8) and rc(8) read it, read once for
/// the rcconf stage and for `destroy`.
pub struct Configuration<'w> {
    recipe: &'w Recipe,
    layout: Layout<'w>,
    world: &'w World,
    root: SystemRoot,
    rc: RcConf,
    /// The administrator's jail.conf read as FreeBSD 14+ does (includes followed);
    /// `None` when there is no such file.
    admin: Option<JailConf>,
    /// The generations whose reading matters on this host (14+ alone when the file
    /// uses `.include` or is read only by 14+).
    semantics: Vec<Semantics>,
    /// Blocks an older thinjail wrote in jail.conf, by jail.
    legacy: BTreeMap<String, String>,
    /// thinjail's own jail files in `jail_conf_dir`, by jail: the jails dataset each
    /// belongs to.
    owners: BTreeMap<String, String>,
}

impl<'w> Configuration<'w> {
    /// Reads what `world` holds of the boot configuration of `recipe`'s host.
    pub fn read(recipe: &'w Recipe, world: &'w World) -> Result<Self, StageError> {
        let host = &recipe.host;
        let layout = Layout::new(recipe);
        if let PathState::Symlink { target } = world.path(&host.jail_conf) {
            return Err(conflict(format!(
                "{} is a symlink (to {}); jail(8) fails on it at boot (\"Too many levels of symbolic links\"); make it a regular file",
                host.jail_conf.display(),
                target.display()
            )));
        }
        let root = layout.system_root();
        let base = WorldFiles::new(world, &root);
        let files = with_freebsd_defaults(&base);
        let rc = RcConf::load(&files, "jail");
        let text = world.file_contents(&host.jail_conf).unwrap_or("");
        let legacy = blocks(text)
            .map_err(|e| {
                conflict(format!(
                    "{}: {e}; thinjail rewrites nothing in it until its markers are fixed by hand",
                    host.jail_conf.display()
                ))
            })?
            .into_iter()
            .filter_map(|(id, block)| {
                id.strip_prefix("jail ")
                    .map(|name| (name.to_string(), block.to_string()))
            })
            .collect();
        let system_conf = root.system(&host.jail_conf).ok_or_else(|| {
            conflict(format!(
                "host.jail_conf {} is not inside host.system_root {}",
                host.jail_conf.display(),
                host.system_root.display()
            ))
        })?;
        let (admin, semantics) = if world.path(&host.jail_conf).exists() {
            let admin = JailConf::load(&system_conf, Semantics::Freebsd14, &files).map_err(|e| {
                conflict(format!(
                    "{e} — jail(8) refuses the whole file, the administrator's jails included; \
                     thinjail reads it to keep its jails apart from them and plans nothing until it can"
                ))
            })?;
            let read_by_13 = JailConf::load(&system_conf, Semantics::Freebsd13, &files).is_ok();
            let semantics = if admin.includes().is_empty() && read_by_13 {
                Semantics::ALL.to_vec()
            } else {
                // jail(8) of 13.x takes `.include` for an unknown parameter and
                // refuses every jail: such a file is a 14+ host's.
                vec![Semantics::Freebsd14]
            };
            (Some(admin), semantics)
        } else {
            (None, Semantics::ALL.to_vec())
        };
        let mut owners = BTreeMap::new();
        let dir = &host.jail_conf_dir;
        for (path, state) in world.paths.range(dir.clone()..) {
            if !path.starts_with(dir) {
                break;
            }
            if path.parent() != Some(dir.as_path()) {
                continue;
            }
            let (
                PathState::File {
                    contents: Some(text),
                },
                Some(name),
            ) = (
                state,
                path.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".conf")),
            )
            else {
                continue;
            };
            if let Some(owner) = file_owner(text) {
                owners.insert(name.to_string(), owner.to_string());
            }
        }
        Ok(Configuration {
            recipe,
            layout,
            world,
            root,
            rc,
            admin,
            semantics,
            legacy,
            owners,
        })
    }

    /// `path`'s path in the booted system.
    fn system(&self, path: &Path) -> PathBuf {
        self.root.system(path).unwrap_or_else(|| path.to_path_buf())
    }

    /// The block an older thinjail wrote for `jail` in `host.jail_conf`, if any.
    pub fn legacy_block(&self, jail: &str) -> Option<&str> {
        self.legacy.get(jail).map(String::as_str)
    }

    /// Every jail thinjail keeps on this host, whichever recipe: those with a file
    /// of thinjail's in `jail_conf_dir` and those still in an older block.
    pub fn thinjail_jails(&self) -> BTreeSet<String> {
        self.owners
            .keys()
            .chain(self.legacy.keys())
            .cloned()
            .collect()
    }

    /// Refuses what would give `jail` other parameters than its file's, at start or
    /// at boot, or make it the administrator's.
    pub fn check_jail(&self, jail: &str) -> Result<(), StageError> {
        let host = &self.recipe.host;
        let file = self.layout.jail_conf_file(jail);
        let system_file = self.system(&file);
        match self.world.path(&file) {
            PathState::Missing => {}
            PathState::File {
                contents: Some(text),
            } => match file_owner(text) {
                Some(owner) if owner == host.jails_dataset => {}
                Some(owner) => {
                    return Err(conflict(format!(
                        "{} is thinjail's file for the jails of {owner}, another recipe's; rename one of the jails",
                        file.display()
                    )))
                }
                None => {
                    return Err(conflict(format!(
                        "{} exists and thinjail did not write it (no `{MANAGED_MARK}` line); \
                         thinjail keeps jail {jail} there: move it away or rename the recipe's jail",
                        file.display()
                    )))
                }
            },
            other => {
                return Err(conflict(format!(
                    "{} is not a regular file ({other:?}); thinjail keeps jail {jail} there",
                    file.display()
                )))
            }
        }
        if let Some(admin) = &self.admin {
            let defined = admin
                .sections()
                .iter()
                .filter(|s| !s.is_wildcard() && s.name() == jail)
                .count();
            let ours = usize::from(self.legacy.contains_key(jail));
            if defined > ours {
                return Err(conflict(format!(
                    "{} already defines a jail named {jail} that thinjail does not manage; rename one of them",
                    host.jail_conf.display()
                )));
            }
            if let Some(include) = admin.includes().iter().find(|i| i.reads(&system_file)) {
                return Err(conflict(format!(
                    "{}: `.include \"{}\"` reads {}, thinjail's file for jail {jail}: the administrator's settings \
                     would reach it whenever jail(8) reads {} (by hand, or at boot with an empty jail_list), and the \
                     jail would be defined twice there; narrow the include to your own files, or set host.jail_conf_dir \
                     to a directory it does not read (thinjail then sets jail_{}_conf in rc.conf)",
                    include.origin,
                    include.pattern.display(),
                    system_file.display(),
                    host.jail_conf.display(),
                    boot::var_stem(jail)
                )));
            }
        }
        let shadow = boot::legacy_jail_conf(jail);
        if self.world.path(&self.root.host(&shadow)).exists() {
            return Err(conflict(format!(
                "{} exists: rc.d/jail would boot jail {jail} from it instead of thinjail's {}; \
                 it is the administrator's configuration of a jail of that name: rename one of them",
                shadow.display(),
                system_file.display()
            )));
        }
        let stem = boot::var_stem(jail);
        let rc_value = |name: &str| -> Result<Option<(String, String)>, StageError> {
            let value = self.rc.text(name).map_err(|e| conflict(e.to_string()))?;
            Ok((!value.is_empty()).then(|| {
                let origin = self
                    .rc
                    .get(name)
                    .map(|v| v.origin.to_string())
                    .unwrap_or_default();
                (value, origin)
            }))
        };
        if let Some((value, origin)) = rc_value(&format!("jail_{stem}_conf"))? {
            if Path::new(&value) != system_file {
                return Err(conflict(format!(
                    "{origin}: jail_{stem}_conf=\"{value}\": rc.d/jail would boot jail {jail} from that file, \
                     not from thinjail's {}; remove it or rename the recipe's jail",
                    system_file.display()
                )));
            }
        }
        for suffix in ["rootdir", "hostname", "flags", "program"] {
            if let Some((value, origin)) = rc_value(&format!("jail_{stem}_{suffix}"))? {
                return Err(conflict(format!(
                    "{origin}: jail_{stem}_{suffix}=\"{value}\" configures a jail named {jail} at boot \
                     (rc.d/jail's per-jail variables), which would change how thinjail's jail boots; \
                     remove it or rename the recipe's jail"
                )));
            }
        }
        Ok(())
    }

    /// Refuses a configuration in which thinjail cannot say what boots.
    pub fn check_host(&self) -> Result<(), StageError> {
        let host = &self.recipe.host;
        let text = |name: &str| self.rc.text(name).map_err(|e| conflict(e.to_string()));
        let jail_conf = text("jail_conf")?;
        let system_conf = self.system(&host.jail_conf);
        if Path::new(&jail_conf) != system_conf {
            let origin = self
                .rc
                .get("jail_conf")
                .map(|v| format!("{}: ", v.origin))
                .unwrap_or_default();
            return Err(conflict(format!(
                "{origin}jail_conf=\"{jail_conf}\", so boot would not read {}; set host.jail_conf to {}",
                system_conf.display(),
                self.root.host(Path::new(&jail_conf)).display()
            )));
        }
        let rc_conf = self.system(&host.rc_conf);
        if !self.rc_reads(&rc_conf) {
            return Err(conflict(format!(
                "host.rc_conf {} is not a file rc(8) reads for `service jail` (rc_conf_files=\"{}\", then \
                 rc.conf.d/jail): what thinjail sets there would not reach boot; name one of those files",
                host.rc_conf.display(),
                self.rc.words("rc_conf_files").join(" ")
            )));
        }
        let flags = text("jail_flags")?;
        if !flags.is_empty() {
            let origin = self
                .rc
                .get("jail_flags")
                .map(|v| v.origin.to_string())
                .unwrap_or_default();
            return Err(conflict(format!(
                "{origin}: jail_flags=\"{flags}\" is given to jail(8) for every jail at boot and would change how \
                 thinjail's jails boot (`-u`/`-U` run their commands as another user); remove it"
            )));
        }
        for name in ["jail_enable", "jail_list"] {
            text(name)?;
        }
        let mut stems: BTreeMap<String, &str> = BTreeMap::new();
        for jail in &self.recipe.jails {
            if let Some(other) = stems.insert(boot::var_stem(&jail.name), &jail.name) {
                return Err(conflict(format!(
                    "jails {other} and {} share rc.d/jail's variables (jail_{}_*); rename one of them",
                    jail.name,
                    boot::var_stem(&jail.name)
                )));
            }
        }
        Ok(())
    }

    /// Whether `load_rc_config jail` reads the system file `path` (or would, once it
    /// exists): one of `rc_conf_files`, or an `rc.conf.d/jail` file or a file in
    /// such a directory, under `/etc` or a `local_startup` directory.
    fn rc_reads(&self, path: &Path) -> bool {
        let mut dirs = vec!["/etc".to_string()];
        dirs.extend(self.rc.words("local_startup"));
        let service = dirs.iter().map(|dir| {
            PathBuf::from(format!(
                "{}/rc.conf.d/jail",
                dir.strip_suffix("/rc.d").unwrap_or(dir)
            ))
        });
        self.rc
            .words("rc_conf_files")
            .iter()
            .any(|file| Path::new(file) == path)
            || service
                .into_iter()
                .any(|s| s == path || path.parent() == Some(s.as_path()))
    }

    /// Whether `jail_conf_dir` is where rc.d/jail looks by itself.
    fn dir_is_rc_default(&self) -> bool {
        self.system(&self.recipe.host.jail_conf_dir) == Path::new(boot::JAIL_CONF_D)
    }

    /// The rc.conf edits that make exactly `boot` (in order) of this recipe's jails
    /// boot and none of `off`, every other jail booting as before; that point
    /// `jail_NAME_conf` at thinjail's file for `confs`, and put back what thinjail
    /// recorded for `forget`.
    pub fn boot_edits(
        &self,
        boot: &[String],
        off: &BTreeSet<String>,
        confs: &[String],
        forget: &[String],
    ) -> Result<Vec<Planned>, StageError> {
        let mut edits = RcEdits {
            configuration: self,
            texts: BTreeMap::new(),
            planned: Vec::new(),
        };
        let list: Vec<String> = rc_words(&self.rc.text("jail_list").unwrap_or_default())
            .map(String::from)
            .collect();
        // Looked up once per jail: a set keeps planning linear in the number of jails.
        let listed: BTreeSet<&str> = list.iter().map(String::as_str).collect();
        let enabled = is_yes(&self.rc.text("jail_enable").unwrap_or_default());
        if !self.dir_is_rc_default() {
            for jail in confs {
                let name = format!("jail_{}_conf", boot::var_stem(jail));
                let file = self.system(&self.layout.jail_conf_file(jail));
                if self.rc.text(&name).unwrap_or_default() != file.display().to_string() {
                    edits.push(
                        &name,
                        FileEdit::SetRcVarRecorded {
                            name: name.clone(),
                            value: file.display().to_string(),
                        },
                        Some(format!(
                            "rc.d/jail looks for {}/{jail}.conf by itself, and host.jail_conf_dir is elsewhere",
                            boot::JAIL_CONF_D
                        )),
                    )?;
                }
            }
        }
        for jail in forget {
            let name = format!("jail_{}_conf", boot::var_stem(jail));
            if edits.record(&name).is_some() {
                edits.push(&name, FileEdit::RestoreRcVar { name: name.clone() }, None)?;
            }
        }
        if !boot.is_empty() {
            if !enabled {
                // Nothing booted: afterwards exactly the recipe's jails do.
                if list != boot {
                    edits.push(
                        "jail_list",
                        FileEdit::SetRcVarRecorded {
                            name: "jail_list".into(),
                            value: boot.join(" "),
                        },
                        Some(
                            "jail_enable was off, so no jail booted: jail_list names thinjail's jails only \
                             (the value it replaces is recorded on the line, and put back when thinjail's last jail goes)"
                                .into(),
                        ),
                    )?;
                }
                edits.push(
                    "jail_enable",
                    FileEdit::SetRcVarRecorded {
                        name: "jail_enable".into(),
                        value: "YES".into(),
                    },
                    Some("article: jail_enable=\"YES\" starts the jails at boot (the value it replaces is recorded on the line)".into()),
                )?;
            } else if list.is_empty() {
                let thinjail = self.thinjail_jails();
                let before: Vec<String> = match &self.admin {
                    Some(admin) => admin
                        .jails()
                        .into_iter()
                        .filter(|name| !thinjail.contains(name))
                        .collect(),
                    None => Vec::new(),
                };
                self.introduce(&mut edits, &before, boot)?;
            } else {
                for jail in boot {
                    if !listed.contains(jail.as_str()) {
                        edits.push(
                            "jail_list",
                            FileEdit::AddRcWord {
                                name: "jail_list".into(),
                                word: jail.clone(),
                            },
                            Some("rc.conf limits boot to jail_list; without this the jail would not start at boot".into()),
                        )?;
                    }
                }
                for jail in off.iter().filter(|j| listed.contains(j.as_str())) {
                    edits.unlist(jail)?;
                }
            }
            return Ok(edits.planned);
        }
        // None of the recipe's jails boots any more.
        let thinjail = self.thinjail_jails();
        let staying = list
            .iter()
            .any(|w| thinjail.contains(w) && !off.contains(w));
        if staying {
            for jail in off.iter().filter(|j| listed.contains(j.as_str())) {
                edits.unlist(jail)?;
            }
            return Ok(edits.planned);
        }
        let recorded_enable = edits.record("jail_enable").is_some();
        let recorded_list = edits.record("jail_list").is_some();
        if recorded_enable {
            edits.push(
                "jail_enable",
                FileEdit::RestoreRcVar {
                    name: "jail_enable".into(),
                },
                Some("thinjail's last jail no longer boots: jail_enable is what it was before thinjail".into()),
            )?;
        }
        if recorded_list {
            edits.push(
                "jail_list",
                FileEdit::RestoreRcVar {
                    name: "jail_list".into(),
                },
                Some("thinjail's last jail no longer boots: jail_list is what it was before thinjail".into()),
            )?;
        } else {
            let ours: Vec<&String> = off.iter().filter(|j| listed.contains(j.as_str())).collect();
            for jail in &ours {
                edits.unlist(jail)?;
            }
            let emptied = !ours.is_empty() && list.iter().all(|w| off.contains(w));
            if emptied && enabled && !recorded_enable {
                // An empty jail_list boots every jail of jail.conf: off instead.
                edits.push(
                    "jail_enable",
                    FileEdit::SetRcVar {
                        name: "jail_enable".into(),
                        value: "NO".into(),
                    },
                    Some(
                        "jail_list named only thinjail's jails; left empty, rc.d/jail would boot every jail of jail.conf \
                         (${jail_list:-_ALL}), so no jail boots, as before"
                            .into(),
                    ),
                )?;
            }
        }
        Ok(edits.planned)
    }

    /// Sets `jail_list` (empty until now, so every jail of jail.conf booted) to the
    /// jails that booted, then `boot`, recording that it was empty.
    fn introduce(
        &self,
        edits: &mut RcEdits<'_, '_>,
        before: &[String],
        boot: &[String],
    ) -> Result<(), StageError> {
        let mut words: Vec<String> = before.to_vec();
        words.extend(boot.iter().cloned());
        let listed = if before.is_empty() {
            "no other jail".to_string()
        } else {
            before.join(", ")
        };
        edits.push(
            "jail_list",
            FileEdit::SetRcVarRecorded {
                name: "jail_list".into(),
                value: words.join(" "),
            },
            Some(format!(
                "rc.d/jail boots every jail of {} while jail_list is empty, and thinjail's jails are in files of their own: \
                 jail_list names the jails that booted ({listed}) and thinjail's; the line records that it was empty, \
                 which thinjail puts back when its last jail goes (a jail added to jail.conf later boots once it is in jail_list)",
                self.recipe.host.jail_conf.display()
            )),
        )
    }

    /// Checks the boot after `actions` against the boot now: every jail that is not
    /// thinjail's boots from the same file with the same parameters, and each of the
    /// recipe's jails for which `expect` says so boots (`Some(true)`, from its own
    /// file) or does not (`Some(false)`) — on every generation that matters here.
    pub fn verify(
        &self,
        actions: &[Planned],
        expect: &dyn Fn(&str) -> Option<bool>,
    ) -> Result<(), StageError> {
        let base = WorldFiles::new(self.world, &self.root);
        let before = with_freebsd_defaults(&base);
        let mut after = Overlay::new(&before);
        for planned in actions {
            match &planned.action {
                Action::WriteFile { path, contents, .. } => {
                    after.set(self.system(path), Some(contents.clone()))
                }
                Action::Remove { path } => after.set(self.system(path), None),
                Action::EditFile { path, edit } => {
                    let system = self.system(path);
                    let text = edit.apply(&after.text(&system));
                    after.set(system, Some(text));
                }
                _ => {}
            }
        }
        let rc_after = RcConf::load(&after, "jail");
        let thinjail: BTreeSet<String> = self
            .thinjail_jails()
            .into_iter()
            .chain(self.recipe.jails.iter().map(|j| j.name.clone()))
            .collect();
        for &semantics in &self.semantics {
            let was =
                boot::boot(&self.rc, &before, semantics).map_err(|e| conflict(e.to_string()))?;
            let will =
                boot::boot(&rc_after, &after, semantics).map_err(|e| conflict(e.to_string()))?;
            let theirs = |started: &boot::Boot,
                          files: &dyn Files|
             -> Vec<(String, BootConf, Result<Params, String>)> {
                started
                    .jails
                    .iter()
                    .filter(|j| !thinjail.contains(&j.name))
                    .map(|j| (j.name.clone(), j.conf.clone(), j.params(files, semantics)))
                    .collect()
            };
            let (then, now) = (theirs(&was, &before), theirs(&will, &after));
            if then != now {
                return Err(conflict(format!(
                    "this would change how the administrator's jails boot on {semantics}: before, {}; after, {}. \
                     thinjail changes nothing until they would boot as before (see rc.conf(5): jail_list, jail_NAME_conf)",
                    describe_boot(&then),
                    describe_boot(&now)
                )));
            }
            let started_now: BTreeMap<&str, &boot::BootJail> =
                will.jails.iter().map(|j| (j.name.as_str(), j)).collect();
            for jail in &self.recipe.jails {
                let started = started_now.get(jail.name.as_str()).copied();
                let file = self.system(&self.layout.jail_conf_file(&jail.name));
                let Some(wanted) = expect(&jail.name) else {
                    continue;
                };
                match started {
                    Some(j) if wanted && j.conf == BootConf::File(file.clone()) => {}
                    None if !wanted => {}
                    other => {
                        return Err(conflict(format!(
                            "after this plan rc.d/jail would {} jail {} at boot on {semantics}{}; thinjail's jails boot \
                             from their own files when `start: true`, and not otherwise",
                            if other.is_some() { "start" } else { "not start" },
                            jail.name,
                            match other.map(|j| &j.conf) {
                                Some(BootConf::File(f)) => format!(" from {}", f.display()),
                                Some(BootConf::Legacy) => " from its legacy rc.conf variables".into(),
                                _ => String::new(),
                            }
                        )))
                    }
                }
            }
        }
        Ok(())
    }

    /// The actions that make jail `jail` (being destroyed) no longer thinjail's
    /// concern at boot: its file removed, an older block removed, its `jail_list`
    /// word and `jail_NAME_conf` gone (and what thinjail recorded put back when it
    /// was the last); checked like the stage's plan.
    pub fn forget(&self, jail: &str) -> Result<Vec<Planned>, StageError> {
        let host = &self.recipe.host;
        let mut actions = Vec::new();
        if self.owners.get(jail).map(String::as_str) == Some(host.jails_dataset.as_str()) {
            actions.push(Planned::new(Action::Remove {
                path: self.layout.jail_conf_file(jail),
            }));
        }
        let off = BTreeSet::from([jail.to_string()]);
        actions.extend(self.boot_edits(&[], &off, &[], &[jail.to_string()])?);
        if self.legacy.contains_key(jail) {
            actions.push(Planned::new(Action::EditFile {
                path: host.jail_conf.clone(),
                edit: FileEdit::RemoveBlock { id: block_id(jail) },
            }));
        }
        self.verify(&actions, &|name| (name == jail).then_some(false))?;
        Ok(actions)
    }
}

fn describe_boot(jails: &[(String, BootConf, Result<Params, String>)]) -> String {
    if jails.is_empty() {
        return "none".into();
    }
    jails
        .iter()
        .map(|(name, conf, params)| {
            let from = match conf {
                BootConf::File(f) => format!("from {}", f.display()),
                BootConf::Legacy => "from rc.conf's legacy variables".into(),
                BootConf::Ignored => "skipped".into(),
            };
            let how = match params {
                Ok(p) => format!("{} parameters", p.0.len()),
                Err(e) => format!("failing: {e}"),
            };
            format!("{name} {from} ({how})")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// rc.conf edits being planned: each goes to the file where rc(8) takes the
/// variable from (or `host.rc_conf` when none sets it), and is tried on that file's
/// text now, so what cannot be rewritten exactly is refused before anything runs.
struct RcEdits<'c, 'w> {
    configuration: &'c Configuration<'w>,
    texts: BTreeMap<PathBuf, String>,
    planned: Vec<Planned>,
}

impl RcEdits<'_, '_> {
    fn target(&self, name: &str) -> Result<PathBuf, StageError> {
        let c = self.configuration;
        let origin = c.rc.get(name).map(|v| v.origin.file.clone());
        let defaults = [boot::RC_DEFAULTS, boot::VENDOR_DEFAULTS];
        match origin {
            Some(file) if !defaults.iter().any(|d| Path::new(d) == file) => {
                let path = c.root.host(&file);
                if c.layout.is_rc_file(&path) {
                    Ok(path)
                } else {
                    Err(conflict(format!(
                        "{name} is set in {}, a file thinjail does not edit (it edits {}, /etc/rc.conf, /etc/rc.conf.local \
                         and rc.conf.d/jail); set it there yourself, or move it",
                        path.display(),
                        c.recipe.host.rc_conf.display()
                    )))
                }
            }
            _ => Ok(c.recipe.host.rc_conf.clone()),
        }
    }

    fn text(&mut self, path: &Path) -> &mut String {
        let world = self.configuration.world;
        self.texts
            .entry(path.to_path_buf())
            .or_insert_with(|| world.file_contents(path).unwrap_or("").to_string())
    }

    /// What thinjail recorded on `name`'s line, if anything.
    fn record(&mut self, name: &str) -> Option<Option<String>> {
        let path = self.target(name).ok()?;
        rc_record(self.text(&path), name)
    }

    /// Takes `jail` out of `jail_list`: it does not boot any more.
    fn unlist(&mut self, jail: &str) -> Result<(), StageError> {
        self.push(
            "jail_list",
            FileEdit::RemoveRcWord {
                name: "jail_list".into(),
                word: jail.to_string(),
            },
            Some(format!(
                "jail {jail} does not boot (start: false, or it is gone)"
            )),
        )
    }

    fn push(&mut self, name: &str, edit: FileEdit, note: Option<String>) -> Result<(), StageError> {
        let path = self.target(name)?;
        let text = self.text(&path);
        let edited = edit
            .try_apply(text)
            .map_err(|e| conflict(format!("{}: {e}", path.display())))?;
        if edited == *text {
            return Ok(());
        }
        *text = edited;
        let action = Action::EditFile { path, edit };
        self.planned.push(match note {
            Some(note) => Planned::noted(action, note),
            None => Planned::new(action),
        });
        Ok(())
    }
}

/// What `destroy` plans for a jail's boot configuration (see
/// [`Configuration::forget`]).
pub fn forget_jail(recipe: &Recipe, world: &World, jail: &str) -> Result<Vec<Planned>, StageError> {
    Configuration::read(recipe, world)?.forget(jail)
}
