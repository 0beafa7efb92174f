//! Loading third-party stages from shared libraries (see the plugins design notes).
//! Until the plugin interface lands, plugin stages are refused with a clear error.

use std::path::PathBuf;

use thinjail_core::pipeline::{NoPlugins, StageLoader};

/// The loader for plugin stages; `extra` are libraries given with `--plugin`.
pub fn loader(_extra: &[PathBuf]) -> Box<dyn StageLoader> {
    Box::new(NoPlugins)
}

/// The stages offered by the libraries given with `--plugin`: (name, summary, source).
pub fn describe(
    extra: &[PathBuf],
) -> Result<Vec<(String, String, thinjail_core::pipeline::StageSource)>, String> {
    match extra.first() {
        None => Ok(Vec::new()),
        Some(path) => Err(format!(
            "cannot load plugin {}: this build does not load plugins yet",
            path.display()
        )),
    }
}
