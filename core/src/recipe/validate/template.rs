//! The `template` section.

use std::collections::BTreeSet;

use super::{
    check_absolute_path, check_config_value, check_rc_var_name, check_relative_path,
    check_terminal_safe, Collector,
};
use crate::recipe::{default_template_files, Recipe, TemplateFile};

/// Jail-specific paths, the template's rc.conf and its files.
pub(super) fn check_template(recipe: &Recipe, c: &mut Collector) {
    let mut specific: BTreeSet<String> = BTreeSet::new();
    for (i, path) in recipe.template.jail_specific.iter().enumerate() {
        let field = format!("template.jail_specific[{i}]");
        c.check(&field, path, check_relative_path(path));
        if path == "skeleton" || path.starts_with("skeleton/") || path == "dev" || path == "proc" {
            c.check(
                &field,
                path,
                Err(format!("`{path}` cannot be jail-specific")),
            );
        }
        for other in &specific {
            let nested = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
            if nested(path, other) || nested(other, path) {
                c.check(&field, path, Err(format!("overlaps with {other:?}")));
            }
        }
        specific.insert(path.clone());
    }
    for (name, value) in &recipe.template.rc_conf {
        let field = format!("template.rc_conf[{name:?}]");
        c.check(&field, name, check_rc_var_name(name));
        c.check(&field, value, check_config_value(value));
    }
    check_template_files(c, recipe);
}

/// `template.files`: each path inside a jail-specific path (the template holds
/// nothing else; a default entry outside them is skipped, not an error), each host
/// file absolute and outside `jails_dir` (a jail's root controls what is in there).
pub(super) fn check_template_files(c: &mut Collector, recipe: &Recipe) {
    let defaults = default_template_files();
    for (path, source) in &recipe.template.files {
        let field = format!("template.files[{path:?}]");
        c.check(&field, path, check_relative_path(path));
        if !recipe.template.holds(path) && defaults.get(path) != Some(source) {
            c.check(
                &field,
                path,
                Err(format!(
                    "{path:?} is not inside a jail-specific path ({}); the template holds nothing else",
                    recipe.template.jail_specific.join(", ")
                )),
            );
        }
        match source {
            TemplateFile::Host(host) => {
                let text = host.display().to_string();
                c.check(&field, &text, check_absolute_path(host));
                c.check(&field, &text, check_terminal_safe(&text));
                if host.starts_with(&recipe.host.jails_dir) {
                    c.check(
                        &field,
                        &text,
                        Err(format!(
                            "must not be inside host.jails_dir ({}): the jails control what is there",
                            recipe.host.jails_dir.display()
                        )),
                    );
                }
            }
            TemplateFile::Contents(contents) => {
                // Lines and tabs are a file's layout; nothing else may reach the
                // terminal that shows the plan.
                let layout = contents.replace(['\n', '\t'], " ");
                c.check(&field, contents, check_terminal_safe(&layout));
            }
        }
    }
}
