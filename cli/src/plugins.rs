//! Loading third-party stages from shared libraries (design notes: `docs/plugins.md`;
//! the interface itself: `thinjail_core::plugin`).
//!
//! A recipe names a plugin stage with its library, at any position in its stage list:
//!
//! ```ron
//! (name: "clone-mount", plugin: "clone-mount"),
//! (name: "pkg", plugin: "/usr/local/lib/thinjail/plugins/libpkg.so", config: (packages: ["nginx"])),
//! ```
//!
//! `plugin` is an absolute path, or a name looked up in `host.plugin_dir` (default
//! `/usr/local/lib/thinjail/plugins`) as `lib<name>.so`, then `lib<name_with_underscores>.so`
//! (Cargo's file name for a crate with dashes), then `<name>.so`; a name that already
//! ends in `.so` is taken as the file name. `--plugin PATH` loads a library from the
//! command line: its stages can then be named in a recipe without `plugin:` (a
//! built-in stage of the same name still wins there) and `thinjail stages` lists them.
//!
//! Before a library is opened — opening runs its code — it must be trusted
//! ([`check_trusted`]): not under the recipe's `jails_dir` (a jail's root is uid 0
//! too, so a file it made there would pass any ownership check); a regular file owned
//! by root or by the user running thinjail (or the one who invoked it through sudo or
//! doas: [`Owners`]), not writable by group or others; every directory on the way to
//! it — and, when the path goes through symbolic links, every directory on the way to
//! each link and to its target, the links themselves owned by one of those users —
//! owned by one of those users and not writable by group or others unless sticky, like
//! `/tmp` (OpenSSH's `StrictModes`, with the sticky exception: nobody can rename or
//! remove what they do not own there). After opening: its
//! [`ENTRY_SYMBOL`](thinjail_core::plugin::ENTRY_SYMBOL) must exist (a library
//! exporting another version's symbol is named as such), and its descriptor must pass
//! [`Plugin::from_entry`]'s checks. Each stage's configuration and probes are then
//! checked, so every refusal comes before anything is planned: a
//! [`PluginError`] (one of a recipe's problems, exit 65; `thinjail stages --plugin`
//! picks its status in `exit.rs`).
//!
//! Libraries are opened with `RTLD_NOW | RTLD_LOCAL` (a missing dependency fails here,
//! not in the middle of a plan) and are never closed: unloading Rust code that may
//! have registered thread-local destructors is unsound, and thinjail is short-lived.

use std::collections::BTreeMap;
use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thinjail_core::host::safe_fs::{check_trusted as check_trusted_path, Expect, Owners};
use thinjail_core::pipeline::{PipelineStage, StageLoader, StageSource};
use thinjail_core::plugin::host::{load_stage, Plugin};
use thinjail_core::plugin::{
    entry_symbol, EntryFn, LibraryProblem, PluginError, ENTRY_SYMBOL_NUL, INTERFACE_VERSION,
};
use thinjail_core::recipe::StageEntry;
use thinjail_core::stage::BuiltinStage;
use thinjail_core::validate::RecipeError;
use thinjail_core::Recipe;

/// Other interface versions looked for when a library lacks
/// [`ENTRY_SYMBOL`](thinjail_core::plugin::ENTRY_SYMBOL), to say
/// which one it was built for.
const OTHER_VERSIONS: std::ops::RangeInclusive<u32> = 0..=16;

/// The loader for plugin stages; `extra` are libraries given with `--plugin`; nothing
/// under `jails_dir` is loaded.
pub fn loader(extra: &[PathBuf], jails_dir: &Path) -> Box<dyn StageLoader> {
    Box::new(LibraryLoader::new(extra, jails_dir))
}

/// The stages offered by the libraries given with `--plugin`: (name, summary, source).
pub fn describe(
    extra: &[PathBuf],
    jails_dir: &Path,
) -> Result<Vec<(String, String, StageSource)>, PluginError> {
    let mut loader = LibraryLoader::new(extra, jails_dir);
    let mut stages = Vec::new();
    for path in extra {
        let plugin = loader.open(path)?;
        for stage in plugin.stages() {
            stages.push((stage.name.clone(), stage.summary.clone(), plugin.source()));
        }
    }
    Ok(stages)
}

/// Opens plugin libraries (each once) and builds their stages.
pub struct LibraryLoader {
    extra: Vec<PathBuf>,
    jails_dir: PathBuf,
    /// Libraries opened so far, by canonical path (failures too, so each is reported once).
    opened: BTreeMap<PathBuf, Result<Arc<Plugin>, LibraryProblem>>,
    /// The `--plugin` libraries that loaded.
    extras: Vec<Arc<Plugin>>,
}

impl LibraryLoader {
    /// A loader that also offers the stages of the `extra` libraries, and refuses
    /// every library under `jails_dir`.
    pub fn new(extra: &[PathBuf], jails_dir: &Path) -> Self {
        LibraryLoader {
            extra: extra.to_vec(),
            jails_dir: jails_dir.to_path_buf(),
            opened: BTreeMap::new(),
            extras: Vec::new(),
        }
    }

    /// The plugin in the library at `path`, opened once.
    pub fn open(&mut self, path: &Path) -> Result<Arc<Plugin>, PluginError> {
        let library = |problem| PluginError::Library {
            path: path.to_path_buf(),
            problem,
        };
        let canonical = check_trusted(path, &self.jails_dir).map_err(library)?;
        let result = match self.opened.get(&canonical) {
            Some(known) => known.clone(),
            None => {
                let result = open_library(path, &canonical).map(Arc::new);
                self.opened.insert(canonical, result.clone());
                result
            }
        };
        result.map_err(library)
    }
}

impl StageLoader for LibraryLoader {
    fn builtins(&self) -> &[BuiltinStage] {
        thinjail_stages::BUILTIN_STAGES
    }

    fn load(&mut self, entry: &StageEntry, recipe: &Recipe) -> Result<PipelineStage, PluginError> {
        let plugin = match &entry.plugin {
            Some(spec) => {
                let path = resolve(spec, &recipe.host.plugin_dir)?;
                self.open(&path)?
            }
            None => self
                .extras
                .iter()
                .find(|p| p.stage_info(&entry.name).is_some())
                .cloned()
                .ok_or_else(|| PluginError::NotOffered {
                    stage: entry.name.clone(),
                })?,
        };
        load_stage(&plugin, &entry.name, entry.config.as_deref(), recipe)
    }

    fn preload(&mut self) -> Vec<RecipeError> {
        let mut problems = Vec::new();
        for path in self.extra.clone() {
            match self.open(&path) {
                Ok(plugin) => self.extras.push(plugin),
                Err(problem) => problems.push(RecipeError::new("--plugin", problem.to_string())),
            }
        }
        problems
    }

    fn offers(&mut self, name: &str) -> bool {
        self.extras.iter().any(|p| p.stage_info(name).is_some())
    }
}

/// File names tried for the plugin called `name` in the plugin directory.
pub fn candidate_file_names(name: &str) -> Vec<String> {
    if name.ends_with(DLL_SUFFIX) {
        return vec![name.to_string()];
    }
    let mut names = vec![
        format!("{DLL_PREFIX}{name}{DLL_SUFFIX}"),
        format!("{DLL_PREFIX}{}{DLL_SUFFIX}", name.replace('-', "_")),
        format!("{name}{DLL_SUFFIX}"),
    ];
    names.dedup();
    names
}

/// The library a recipe's `plugin:` names: an absolute path as is, a name looked up in
/// `plugin_dir` (see [`candidate_file_names`]).
pub fn resolve(spec: &str, plugin_dir: &Path) -> Result<PathBuf, PluginError> {
    if spec.contains('/') {
        return Ok(PathBuf::from(spec));
    }
    let names = candidate_file_names(spec);
    let found = names
        .iter()
        .map(|name| plugin_dir.join(name))
        .find(|path| fs::symlink_metadata(path).is_ok());
    found.ok_or_else(|| PluginError::NotInstalled {
        spec: spec.to_string(),
        plugin_dir: plugin_dir.to_path_buf(),
        looked_for: names,
    })
}

/// Checks that the library at `path` may be opened (see the module's notes), and
/// returns its physical path, which is what gets opened.
pub fn check_trusted(path: &Path, jails_dir: &Path) -> Result<PathBuf, LibraryProblem> {
    if let Err(e) = fs::metadata(path) {
        return Err(match e.kind() {
            std::io::ErrorKind::NotFound => LibraryProblem::NotFound,
            _ => LibraryProblem::Inaccessible(e.to_string()),
        });
    }
    refuse_under(path, path, jails_dir)?;
    let owners = Owners::of_this_process();
    let physical = check_trusted_path(path, Expect::File, &owners, "library")
        .map_err(LibraryProblem::Untrusted)?;
    refuse_under(path, &physical, jails_dir)?;
    if let Ok(physical_jails) = fs::canonicalize(jails_dir) {
        refuse_under(path, &physical, &physical_jails)?;
    }
    Ok(physical)
}

/// A library under the jails directory is refused whatever its owner: a jail's root
/// is uid 0 as well.
fn refuse_under(shown: &Path, path: &Path, jails_dir: &Path) -> Result<(), LibraryProblem> {
    if path.starts_with(jails_dir) {
        return Err(LibraryProblem::UnderJailsDir {
            shown: shown.to_path_buf(),
            physical: path.to_path_buf(),
            jails_dir: jails_dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Opens the library at `canonical` (checked by [`check_trusted`]; `shown` is the path
/// as the user gave it) and reads its descriptor. This is the only place thinjail runs
/// code from a plugin library outside the interface's calls.
fn open_library(shown: &Path, canonical: &Path) -> Result<Plugin, LibraryProblem> {
    use libloading::os::unix::{Library, Symbol, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: opening a library runs its initializers: arbitrary code. That is what a
    // plugin is; `check_trusted` made sure only root or the user running thinjail
    // could have put this code there.
    let library = unsafe { Library::open(Some(canonical), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|e| LibraryProblem::CannotOpen(e.to_string()))?;
    // Never unloaded: stages keep calling into it for the rest of the process.
    let library: &'static Library = Box::leak(Box::new(library));
    // SAFETY: the symbol's type is the interface's entry type, `EntryFn`; a library that
    // exports this name claims to implement interface version 1.
    let entry: Result<Symbol<EntryFn>, _> = unsafe { library.get(ENTRY_SYMBOL_NUL) };
    let entry = match entry {
        Ok(symbol) => *symbol,
        Err(_) => return Err(missing_entry(library)),
    };
    // SAFETY: `entry` is the library's thinjail_plugin_v1, the library is never
    // unloaded, and it is trusted (see above) to honour the interface's pointer contract.
    unsafe { Plugin::from_entry(shown, entry) }.map_err(LibraryProblem::Malformed)
}

/// Explains a missing entry symbol: built for another interface version, or not a plugin.
fn missing_entry(library: &libloading::os::unix::Library) -> LibraryProblem {
    for version in OTHER_VERSIONS.filter(|v| *v != INTERFACE_VERSION) {
        let mut symbol = entry_symbol(version).into_bytes();
        symbol.push(0);
        // SAFETY: only the symbol's presence is checked; it is never called or read.
        let found = unsafe { library.get::<*const u8>(symbol.as_slice()) }.is_ok();
        if found {
            return LibraryProblem::OtherInterface(version);
        }
    }
    LibraryProblem::NotAPlugin
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use thinjail_core::host::safe_fs::TrustProblem;

    #[test]
    fn names_are_looked_up_as_cargo_names_them() {
        assert_eq!(
            candidate_file_names("clone-mount"),
            ["libclone-mount.so", "libclone_mount.so", "clone-mount.so"]
        );
        assert_eq!(candidate_file_names("pkg"), ["libpkg.so", "pkg.so"]);
        assert_eq!(candidate_file_names("mine.so"), ["mine.so"]);
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("libclone_mount.so"), "").unwrap();
        assert_eq!(
            resolve("clone-mount", dir.path()).unwrap(),
            dir.path().join("libclone_mount.so")
        );
        assert_eq!(
            resolve("/x/libpkg.so", dir.path()).unwrap(),
            Path::new("/x/libpkg.so")
        );
        let missing = resolve("pkg", dir.path()).unwrap_err();
        assert_eq!(
            missing,
            PluginError::NotInstalled {
                spec: "pkg".into(),
                plugin_dir: dir.path().to_path_buf(),
                looked_for: vec!["libpkg.so".into(), "pkg.so".into()],
            }
        );
        assert!(
            missing
                .to_string()
                .contains("(looked for libpkg.so, pkg.so); give an absolute path"),
            "{missing}"
        );
    }

    #[test]
    fn only_libraries_nobody_else_can_change_are_trusted() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let library = dir.path().join("libx.so");
        fs::write(&library, "").unwrap();
        fs::set_permissions(&library, fs::Permissions::from_mode(0o644)).unwrap();
        let jails = Path::new("/usr/local/jails");
        assert_eq!(
            check_trusted(&library, jails).unwrap(),
            fs::canonicalize(&library).unwrap()
        );

        let untrusted = |path: &Path, jails: &Path| match check_trusted(path, jails) {
            Err(LibraryProblem::Untrusted(reason)) => reason,
            other => panic!("{} trusted or refused otherwise: {other:?}", path.display()),
        };
        fs::set_permissions(&library, fs::Permissions::from_mode(0o664)).unwrap();
        let error = untrusted(&library, jails);
        assert!(
            matches!(&error, TrustProblem::Writable { path, mode: 0o664, .. } if path == &library),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("writable by group or others (mode 0664)"),
            "{error}"
        );

        fs::set_permissions(&library, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let error = untrusted(&library, jails);
        assert_eq!(
            error,
            TrustProblem::WritableDirectory {
                path: dir.path().to_path_buf(),
                mode: 0o777
            }
        );
        assert!(error.to_string().starts_with("directory "), "{error}");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        check_trusted(&library, jails).unwrap();

        let absent = check_trusted(&dir.path().join("nothing.so"), jails).unwrap_err();
        assert_eq!(absent, LibraryProblem::NotFound);
        assert_eq!(absent.to_string(), "it does not exist");
        assert!(matches!(
            untrusted(dir.path(), jails),
            TrustProblem::WrongKind {
                expected: Expect::File,
                ..
            }
        ));
        // Under the jails directory: refused whoever owns it, also through a link.
        let error = check_trusted(&library, dir.path()).unwrap_err();
        assert_eq!(
            error,
            LibraryProblem::UnderJailsDir {
                shown: library.clone(),
                physical: library.clone(),
                jails_dir: dir.path().to_path_buf(),
            }
        );
        assert!(
            error.to_string().starts_with(&format!(
                "{} is under the jails directory {}, where",
                library.display(),
                dir.path().display()
            )),
            "{error}"
        );
        let elsewhere = tempfile::tempdir().unwrap();
        fs::set_permissions(elsewhere.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let link = elsewhere.path().join("libx.so");
        std::os::unix::fs::symlink(&library, &link).unwrap();
        let error = check_trusted(&link, dir.path()).unwrap_err();
        assert!(
            error.to_string().starts_with(&format!(
                "{} (really {}) is under the jails directory",
                link.display(),
                library.display()
            )),
            "{error}"
        );
        assert!(check_trusted(&link, jails).is_ok());
    }
}
