//! The example plugins (`plugins/`) and the deliberately bad ones (`tests/plugins/`),
//! built for the test run with the very `cargo` that runs the tests, so the tests work
//! on a clean clone: `cargo test --workspace` builds the test binaries, and the first
//! test that needs a plugin library builds them all (once per test binary; cargo's own
//! lock serializes test binaries that ask at the same time).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Plugin packages of the workspace, with their library names.
pub const PLUGIN_PACKAGES: [(&str, &str); 6] = [
    ("thinjail-plugin-pkg", "pkg"),
    ("thinjail-plugin-clone-mount", "clone_mount"),
    ("thinjail-test-plugin-misbehaving", "misbehaving"),
    ("thinjail-test-plugin-handmade", "handmade"),
    ("thinjail-test-plugin-future", "future"),
    ("thinjail-test-plugin-not-a-plugin", "not_a_plugin"),
];

/// The built plugin libraries.
#[derive(Debug)]
pub struct Plugins {
    libraries: BTreeMap<String, PathBuf>,
}

/// Builds the plugin libraries (once) and returns them. Panics with cargo's output
/// when the build fails.
pub fn built() -> &'static Plugins {
    static BUILT: OnceLock<Plugins> = OnceLock::new();
    BUILT.get_or_init(build)
}

fn build() -> Plugins {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the workspace");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--message-format=json-render-diagnostics"]);
    for (package, _) in PLUGIN_PACKAGES {
        command.args(["-p", package]);
    }
    let output = command.output().expect("run cargo build for the plugins");
    assert!(
        output.status.success(),
        "cargo build of the plugins failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut libraries = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let is_cdylib = message["target"]["crate_types"]
            .as_array()
            .is_some_and(|types| types.iter().any(|t| t == "cdylib"));
        let Some(name) = message["target"]["name"].as_str() else {
            continue;
        };
        if !is_cdylib {
            continue;
        }
        let library = message["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .find(|f| f.ends_with(std::env::consts::DLL_SUFFIX));
        if let Some(library) = library {
            libraries.insert(name.to_string(), PathBuf::from(library));
        }
    }
    for (package, library) in PLUGIN_PACKAGES {
        assert!(
            libraries.contains_key(library),
            "cargo built no library {library} for {package}: {libraries:?}"
        );
    }
    Plugins { libraries }
}

impl Plugins {
    /// The built library called `name` (`pkg`, `clone_mount`, …).
    pub fn library(&self, name: &str) -> &Path {
        self.libraries
            .get(name)
            .unwrap_or_else(|| panic!("no plugin library {name}"))
    }

    /// Copies library `name` into `dir` (created if needed) as `file_name`, with
    /// permission bits `mode`: what an administrator does when installing a plugin.
    pub fn install(&self, name: &str, dir: &Path, file_name: &str, mode: u32) -> PathBuf {
        fs::create_dir_all(dir).expect("plugin directory");
        let destination = dir.join(file_name);
        fs::copy(self.library(name), &destination).expect("copy the plugin library");
        fs::set_permissions(&destination, fs::Permissions::from_mode(mode))
            .expect("set the library's mode");
        destination
    }
}
