//! The jail.conf(5) files thinjail owns: a jail's own file
//! (`host.jail_conf_dir/NAME.conf`, see [`crate::layout::Layout::jail_conf_file`])
//! whose header names the jails dataset it belongs to, and the blocks an older
//! thinjail wrote in `host.jail_conf`. Used by the rcconf stage, the lifecycle plans
//! and the test bed alike.

use std::path::{Path, PathBuf};

use crate::layout::Layout;
use crate::recipe::Recipe;
use crate::world::{RunningJail, World};

/// The line that marks a jail.conf file as thinjail's, followed by the jails dataset
/// of the recipe it belongs to.
pub const MANAGED_MARK: &str = "# thinjail:managed=";

/// The id of a jail's block in jail.conf (`# BEGIN thinjail jail NAME`), as older
/// thinjail wrote them.
pub fn block_id(jail: &str) -> String {
    format!("jail {jail}")
}

/// The jails dataset a thinjail jail file names in its header (a `#` comment line
/// before anything else), if it is one.
pub fn file_owner(text: &str) -> Option<&str> {
    text.lines()
        .take_while(|line| line.starts_with('#'))
        .find_map(|line| line.strip_prefix(MANAGED_MARK))
}

/// Names of the jails an older thinjail wrote as blocks in a jail.conf text.
fn managed_jails(jail_conf: &str) -> Vec<String> {
    crate::edit::block_ids(jail_conf, "jail ")
        .map(|id| id.trim_start_matches("jail ").to_string())
        .collect()
}

/// The file `jail -f` reads for thinjail's jail `jail`: its own file, or, for a jail
/// an older thinjail wrote as a block that was not moved yet, `host.jail_conf`.
pub fn conf_of(recipe: &Recipe, world: &World, jail: &str) -> PathBuf {
    let layout = Layout::new(recipe);
    let own = layout.jail_conf_file(jail);
    let legacy = world
        .file_contents(&recipe.host.jail_conf)
        .is_some_and(|text| managed_jails(text).iter().any(|j| j == jail));
    if legacy && !world.path(&own).exists() {
        recipe.host.jail_conf.clone()
    } else {
        own
    }
}

/// Why thinjail leaves alone the running jail `running`, called like its jail `name`
/// but with another root than `root`.
pub fn foreign_jail_message(name: &str, running: &RunningJail, root: &Path) -> String {
    format!(
        "a jail named {name} is already running (JID {}, path {}) that thinjail did not start: \
         thinjail's jail {name} has its root at {}; thinjail will not stop, replace or enter it — \
         stop it yourself or rename the recipe's jail",
        running.jid,
        running.path.display(),
        root.display()
    )
}
