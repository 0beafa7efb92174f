//! Every string of the recipe, whatever field it is in.

use super::{check_terminal_safe, Collector, RecipeError};
use crate::recipe::Recipe;

/// Every string of the recipe — names, paths, map keys and values, list elements,
/// stage names and configurations, plugin names — is refused when it holds a
/// character [`is_terminal_unsafe`] refuses, with its field named. The walk goes over
/// the recipe's serialized form, so a field added later is covered without a change
/// here.
pub(super) fn check_every_string(recipe: &Recipe, c: &mut Collector) {
    match serde_json::to_value(recipe) {
        Ok(value) => walk_strings(&value, "", false, c),
        Err(e) => c.0.push(RecipeError::new(
            "(recipe)",
            format!("cannot be inspected: {e}"),
        )),
    }
    for (i, stage) in recipe.stages.iter().enumerate() {
        if let Some(config) = &stage.config {
            check_stage_config(c, &format!("stages[{i}].config"), config);
        }
    }
}

/// Maps in the recipe whose keys are the recipe's own data, named `field["key"]`.
pub(super) const MAP_FIELDS: [&str; 3] = ["jail_params", "params", "rc_conf"];

pub(super) fn walk_strings(
    value: &serde_json::Value,
    field: &str,
    in_map: bool,
    c: &mut Collector,
) {
    use serde_json::Value;
    match value {
        Value::String(text) => c.check(field, text, check_terminal_safe(text)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_strings(item, &format!("{field}[{i}]"), false, c);
            }
        }
        Value::Object(members) => {
            for (key, inner) in members {
                let inner_field = if in_map {
                    let named = format!("{field}[{key:?}]");
                    c.check(&named, key, check_terminal_safe(key));
                    named
                } else if key.starts_with(|k: char| k.is_ascii_uppercase()) {
                    // An enum variant's tag (`Fetch`): not a field of its own.
                    field.to_string()
                } else if field.is_empty() {
                    key.clone()
                } else {
                    format!("{field}.{key}")
                };
                // Stage configurations are checked from their RON text; template
                // files may hold newlines and tabs (check_template_files).
                if !in_map
                    && ((key == "config" && field.starts_with("stages["))
                        || (key == "files" && field == "template"))
                {
                    continue;
                }
                let is_map = !in_map && MAP_FIELDS.contains(&key.as_str());
                walk_strings(inner, &inner_field, is_map, c);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A stage's configuration is RON text parsed by the stage: its layout may use tabs
/// and newlines, but no other control character, and no string inside it may hold
/// any character [`is_terminal_unsafe`] refuses (escapes such as `\u{1b}` included).
pub(super) fn check_stage_config(c: &mut Collector, field: &str, text: &str) {
    let layout = text.replace(['\n', '\t', '\r'], " ");
    c.check(field, text, check_terminal_safe(&layout));
    // Text that is not RON is left to the stage, which reports it with its own error.
    if let Ok(value) = ron::from_str::<ron::Value>(text) {
        check_ron_strings(c, field, &value);
    }
}

pub(super) fn check_ron_strings(c: &mut Collector, field: &str, value: &ron::Value) {
    use ron::Value;
    match value {
        Value::String(text) => c.check(field, text, check_terminal_safe(text)),
        Value::Char(ch) => {
            let text = ch.to_string();
            c.check(field, &text, check_terminal_safe(&text));
        }
        Value::Seq(items) => items.iter().for_each(|v| check_ron_strings(c, field, v)),
        Value::Map(map) => {
            for (key, inner) in map.iter() {
                check_ron_strings(c, field, key);
                check_ron_strings(c, field, inner);
            }
        }
        Value::Option(Some(inner)) => check_ron_strings(c, field, inner),
        _ => {}
    }
}
