//! Observation of directories and of jail.conf files with their includes: native
//! reads (through [`observe_paths`], so each path is looked at the way every probe
//! is), no command.
//!
//! A directory of [`Probes::dirs`] is listed and each entry looked at, files read. A
//! jail.conf of [`Probes::jail_confs`] is read as jail(8) of FreeBSD 14+ reads it
//! (`.include` statements followed, their glob patterns expanded component by
//! component): every file read and every directory searched is recorded, so the
//! planner's [`WorldFiles`](crate::boot::WorldFiles) finds the same files later.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::{observe_paths, HostError};
use crate::boot::SystemRoot;
use crate::jailconf::{glob_matches, Files, JailConf, Semantics};
use crate::probes::Probes;
use crate::world::PathState;

/// Paths observed and directories listed for `probes`' `dirs` and `jail_confs`.
pub type Listing = (BTreeMap<PathBuf, PathState>, BTreeSet<PathBuf>);

/// Observes `probes.dirs` and `probes.jail_confs`.
pub fn observe_listed(probes: &Probes) -> Result<Listing, HostError> {
    let recorder = Recorder {
        root: RefCell::new(SystemRoot::new("/")),
        paths: RefCell::default(),
        listed: RefCell::default(),
        failure: RefCell::default(),
    };
    for dir in &probes.dirs {
        recorder.list(dir, true)?;
    }
    for probe in &probes.jail_confs {
        *recorder.root.borrow_mut() = SystemRoot::new(&probe.root);
        // What jail(8) would refuse is found again when planning; here only the
        // files it reads matter.
        let _ = JailConf::load(&probe.file, Semantics::Freebsd14, &recorder);
        if let Some(error) = recorder.failure.take() {
            return Err(error);
        }
    }
    Ok((recorder.paths.take(), recorder.listed.take()))
}

/// Adds what [`observe_listed`] saw to what `observe_paths` saw, never replacing a
/// file's contents with an observation that did not read them.
pub fn merge_observed(
    paths: &mut BTreeMap<PathBuf, PathState>,
    more: BTreeMap<PathBuf, PathState>,
) {
    for (path, state) in more {
        let unread = matches!(state, PathState::File { contents: None });
        let read_before = matches!(
            paths.get(&path),
            Some(PathState::File { contents: Some(_) })
        );
        if !(unread && read_before) {
            paths.insert(path, state);
        }
    }
}

struct Recorder {
    root: RefCell<SystemRoot>,
    paths: RefCell<BTreeMap<PathBuf, PathState>>,
    listed: RefCell<BTreeSet<PathBuf>>,
    failure: RefCell<Option<HostError>>,
}

impl Recorder {
    /// Looks at `host_paths` (reading files when `read`), recording what is there.
    fn look(&self, host_paths: &[PathBuf], read: bool) -> Result<Vec<PathState>, HostError> {
        let mut probes = Probes::default();
        for path in host_paths {
            if read {
                probes.file(path.clone());
            } else {
                probes.path(path.clone());
            }
        }
        let seen = observe_paths(&probes)?;
        let mut paths = self.paths.borrow_mut();
        Ok(host_paths
            .iter()
            .map(|path| {
                let state = seen.get(path).cloned().unwrap_or_default();
                let keep_read = matches!(
                    (&state, paths.get(path)),
                    (
                        PathState::File { contents: None },
                        Some(PathState::File { contents: Some(_) })
                    )
                );
                if !keep_read {
                    paths.insert(path.clone(), state.clone());
                }
                state
            })
            .collect())
    }

    /// Lists the host directory `dir` (when it is one, not a link), recording it
    /// and its entries; returns the entries' names.
    fn list(&self, dir: &Path, read: bool) -> Result<Vec<String>, HostError> {
        let states = self.look(&[dir.to_path_buf()], false)?;
        if states.first() != Some(&PathState::Directory) {
            return Ok(Vec::new());
        }
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(HostError::io(format!("list {}", dir.display()), e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| HostError::io(format!("list {}", dir.display()), e))?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        names.sort();
        let children: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
        self.look(&children, read)?;
        self.listed.borrow_mut().insert(dir.to_path_buf());
        Ok(names)
    }

    fn fail(&self, error: HostError) -> io::Error {
        let message = error.to_string();
        self.failure.borrow_mut().get_or_insert(error);
        io::Error::other(message)
    }
}

impl Files for Recorder {
    fn read(&self, path: &Path) -> io::Result<String> {
        let host = self.root.borrow().host(path);
        let state = self.look(&[host], true).map_err(|e| self.fail(e))?;
        match state.first() {
            Some(PathState::File {
                contents: Some(text),
            }) => Ok(text.clone()),
            Some(PathState::Missing) | None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: No such file or directory", path.display()),
            )),
            Some(_) => Err(io::Error::other(format!(
                "{}: not a readable text file",
                path.display()
            ))),
        }
    }

    fn glob(&self, pattern: &str) -> io::Result<Vec<PathBuf>> {
        let magic = |s: &str| s.contains(['*', '?', '[']);
        let mut candidates = vec![PathBuf::from("/")];
        for component in Path::new(pattern).components() {
            let Component::Normal(part) = component else {
                continue;
            };
            let part = part.to_string_lossy();
            let mut next = Vec::new();
            for dir in candidates {
                if magic(&part) {
                    let host = self.root.borrow().host(&dir);
                    for name in self.list(&host, false).map_err(|e| self.fail(e))? {
                        if glob_matches(&part, &name) {
                            next.push(dir.join(&name));
                        }
                    }
                } else {
                    next.push(dir.join(part.as_ref()));
                }
            }
            candidates = next;
        }
        let hosts: Vec<PathBuf> = {
            let root = self.root.borrow();
            candidates.iter().map(|c| root.host(c)).collect()
        };
        let states = self.look(&hosts, false).map_err(|e| self.fail(e))?;
        let mut found: Vec<PathBuf> = candidates
            .into_iter()
            .zip(states)
            .filter(|(_, state)| state.exists())
            .map(|(path, _)| path)
            .collect();
        found.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        Ok(found)
    }

    fn is_dir(&self, path: &Path) -> bool {
        let host = self.root.borrow().host(path);
        matches!(
            self.look(&[host], false)
                .map_err(|e| self.fail(e))
                .as_deref(),
            Ok([PathState::Directory])
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::WorldFiles;
    use crate::probes::JailConfProbe;
    use crate::world::World;

    #[test]
    fn a_file_read_by_one_probe_keeps_its_contents_when_another_only_looked_at_it() {
        // /etc/rc.conf.d/jail is read as a file and also listed in case it is a
        // directory: the listing's look must not drop what was read.
        let path = PathBuf::from("/etc/rc.conf.d/jail");
        let read = PathState::File {
            contents: Some("jail_list=x\n".into()),
        };
        let mut paths = BTreeMap::from([(path.clone(), read.clone())]);
        merge_observed(
            &mut paths,
            BTreeMap::from([(path.clone(), PathState::File { contents: None })]),
        );
        assert_eq!(paths[&path], read);
        merge_observed(
            &mut paths,
            BTreeMap::from([(path.clone(), PathState::Missing)]),
        );
        assert_eq!(paths[&path], PathState::Missing);
    }

    #[test]
    fn a_jail_conf_is_observed_with_what_it_includes() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        fs::create_dir_all(etc.join("jail.conf.d")).unwrap();
        fs::create_dir_all(etc.join("rc.conf.d/jail")).unwrap();
        fs::write(
            etc.join("jail.conf"),
            ".include \"/etc/jail.conf.d/*.conf\";\n.include \"local.conf\";\nadm { persist; }\n",
        )
        .unwrap();
        fs::write(etc.join("jail.conf.d/a.conf"), "a { persist; }\n").unwrap();
        fs::write(etc.join("jail.conf.d/b.txt"), "not included\n").unwrap();
        fs::write(etc.join("local.conf"), "exec.clean;\n").unwrap();
        fs::write(etc.join("rc.conf.d/jail/x"), "jail_list=x\n").unwrap();
        let mut probes = Probes::default();
        probes.dirs.insert(etc.join("rc.conf.d/jail"));
        probes.jail_confs.insert(JailConfProbe {
            root: root.path().to_path_buf(),
            file: "/etc/jail.conf".into(),
        });
        let (paths, listed) = observe_listed(&probes).unwrap();
        assert!(listed.contains(&etc.join("jail.conf.d")));
        assert!(listed.contains(&etc.join("rc.conf.d/jail")));
        assert_eq!(
            paths[&etc.join("rc.conf.d/jail/x")],
            PathState::File {
                contents: Some("jail_list=x\n".into())
            }
        );
        let world = World {
            paths,
            listed,
            ..World::empty()
        };
        let system = SystemRoot::new(root.path());
        let files = WorldFiles::new(&world, &system);
        let conf = JailConf::load("/etc/jail.conf", Semantics::Freebsd14, &files).unwrap();
        assert_eq!(conf.jails(), ["a", "adm"]);
        assert!(conf.effective("adm").unwrap().get("exec.clean").is_some());
    }
}
