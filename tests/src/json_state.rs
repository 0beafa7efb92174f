//! Stand-in state kept as a JSON file in the test bed's state directory (the rctl
//! and cpuset stand-ins' records), read and written one way.

use std::fs;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The state in `state_dir/name`, or the default when there is none yet (or it
/// cannot be read: a stand-in then starts over, as the kernel does at boot).
pub(crate) fn load<T: DeserializeOwned + Default>(state_dir: &Path, name: &str) -> T {
    fs::read_to_string(state_dir.join(name))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Writes `state` to `state_dir/name`.
pub(crate) fn save<T: Serialize>(state: &T, state_dir: &Path, name: &str) -> std::io::Result<()> {
    fs::create_dir_all(state_dir)?;
    let text = serde_json::to_string_pretty(state).map_err(std::io::Error::other)?;
    fs::write(state_dir.join(name), text)
}
