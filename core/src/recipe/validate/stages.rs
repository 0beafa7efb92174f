//! The `stages` section.

use std::collections::BTreeSet;
use std::path::Path;

use super::host::check_outside_jails_dir;
use super::{check_absolute_path, check_stage_name, Collector};
use crate::recipe::Recipe;

/// Each stage: a unique valid name, and a plugin named or at an absolute path
/// outside `jails_dir`.
pub(super) fn check_stages(recipe: &Recipe, c: &mut Collector) {
    let mut stage_names = BTreeSet::new();
    for (i, stage) in recipe.stages.iter().enumerate() {
        let field = format!("stages[{i}]");
        c.check(
            format!("{field}.name"),
            &stage.name,
            check_stage_name(&stage.name),
        );
        if !stage_names.insert(stage.name.as_str()) {
            c.check(
                format!("{field}.name"),
                &stage.name,
                Err(format!("stage {} is listed twice", stage.name)),
            );
        }
        if let Some(plugin) = &stage.plugin {
            let ok = if plugin.contains('/') {
                check_absolute_path(Path::new(plugin))
            } else {
                check_stage_name(plugin.trim_end_matches(".so")).map_err(|_| {
                    format!("{plugin:?} is neither an absolute path nor a plugin name")
                })
            };
            c.check(format!("{field}.plugin"), plugin, ok);
            if plugin.contains('/') {
                // A jail's uid 0 is the host's: a library it can replace must never load.
                check_outside_jails_dir(
                    c,
                    &format!("{field}.plugin"),
                    Path::new(plugin),
                    &recipe.host.jails_dir,
                );
            }
        }
    }
}
