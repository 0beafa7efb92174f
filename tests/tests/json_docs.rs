//! docs/json.md against the real thing: every member of every JSON document thinjail
//! prints (plan, apply — succeeded and failed —, list, snapshots, stop, stages, recipes) is
//! documented, every action kind in a plan is in its table, every schema is at
//! `format_version` 1 as documented, and every exit status is listed. Runs on the
//! Linux test bed, so apply's documents are real ones.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use thinjail_testbed::harness::{Bed, Run};
use thinjail_testbed::testbed::Faults;

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

fn docs() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/json.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", run.stdout, run.stderr))
}

/// Every object member name in `value`.
fn members(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                out.insert(key.clone());
                members(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| members(i, out)),
        _ => {}
    }
}

/// Every `action` kind in `value`.
fn action_kinds(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(kind)) = map.get("action") {
                out.insert(kind.clone());
            }
            map.values().for_each(|v| action_kinds(v, out));
        }
        Value::Array(items) => items.iter().for_each(|i| action_kinds(i, out)),
        _ => {}
    }
}

fn assert_documented(what: &str, value: &Value, docs: &str) {
    assert_eq!(value["format_version"], 1, "{what}: {value:#}");
    let mut names = BTreeSet::new();
    members(value, &mut names);
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| {
            // `name`, `list[].name` or `name[].member`.
            !docs.contains(&format!("`{n}`"))
                && !docs.contains(&format!("[].{n}`"))
                && !docs.contains(&format!("`{n}[]."))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/json.md does not document these members of {what}: {missing:?}"
    );
    let mut kinds = BTreeSet::new();
    action_kinds(value, &mut kinds);
    let missing: Vec<&String> = kinds
        .iter()
        .filter(|k| !docs.contains(&format!("| `{k}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/json.md's action table lacks {missing:?} (seen in {what})"
    );
}

#[test]
fn every_json_document_is_documented() {
    let docs = docs();
    let bed = Bed::article(BIN, |_| {});
    let recipe = bed.recipe_path();
    let recipe = recipe.to_str().unwrap();

    let plan = bed.thinjail(&["plan", "article", "--fresh", "--format", "json"]);
    assert_documented("plan", &json(plan.expect_code(0)), &docs);
    let stages = bed.thinjail(&["stages", recipe, "--json"]);
    assert_documented("stages", &json(stages.expect_code(0)), &docs);
    let recipes = bed.thinjail(&["recipes", "--json"]);
    assert_documented("recipes", &json(recipes.expect_code(0)), &docs);

    // A failed apply, then one that finishes the work.
    let failed = bed.thinjail_with(&["apply", recipe, "--yes", "--json"], Faults::fail_at(12));
    let failed_json = json(failed.expect_code(1));
    assert!(
        failed_json["failed"]["command"].is_string(),
        "{failed_json:#}"
    );
    // Both streams of the failed command, as documented.
    assert_eq!(
        failed_json["failed"]["stdout"], "thinjail test bed: failing on purpose\n",
        "{failed_json:#}"
    );
    assert_eq!(
        failed_json["failed"]["stderr"], "thinjail test bed: injected failure\n",
        "{failed_json:#}"
    );
    assert_documented("apply (failed)", &failed_json, &docs);
    let applied = bed.thinjail(&["apply", recipe, "--yes", "--json"]);
    let applied_json = json(applied.expect_code(0));
    assert_eq!(applied_json["changed"], true);
    assert_documented("apply", &applied_json, &docs);

    let list = bed.thinjail(&["list", "-r", recipe, "--json"]);
    let list_json = json(list.expect_code(0));
    assert_eq!(list_json["jails"][0]["state"], "running", "{list_json:#}");
    assert_documented("list", &list_json, &docs);
    let snapshots = bed.thinjail(&["snapshots", "thinjail0", "-r", recipe, "--json"]);
    let snapshots_json = json(snapshots.expect_code(0));
    assert!(
        !snapshots_json["snapshots"].as_array().unwrap().is_empty(),
        "{snapshots_json:#}"
    );
    assert_documented("snapshots", &snapshots_json, &docs);
    let stop = bed.thinjail(&["stop", "thinjail0", "-r", recipe, "--json"]);
    let stop_json = json(stop.expect_code(0));
    assert_eq!(stop_json["jails"][0]["state"], "stopped", "{stop_json:#}");
    assert_documented("stop", &stop_json, &docs);
}

#[test]
fn every_exit_status_is_documented() {
    let docs = docs();
    for (code, _) in thinjail_cli::exit::TABLE {
        assert!(
            docs.contains(&format!("\n| {code} |")),
            "docs/json.md does not list exit status {code}"
        );
    }
}

#[test]
fn the_upgrade_document_is_documented() {
    let docs = docs();
    let bed = Bed::two_releases(BIN);
    let run = bed.command(&[
        "upgrade",
        "thinjail0",
        "--to",
        "14.0-RELEASE",
        "--yes",
        "--json",
    ]);
    let upgraded = json(run.expect_code(0));
    assert_eq!(upgraded["result"], "upgraded", "{upgraded:#}");
    assert_documented("upgrade", &upgraded, &docs);
    let baseline = bed.command(&["upgrade", "thinjail0", "--bootstrap-baseline", "--json"]);
    let baseline = json(baseline.expect_code(0));
    assert_eq!(baseline["result"], "baseline-present", "{baseline:#}");
    assert_documented("upgrade --bootstrap-baseline", &baseline, &docs);

    // A failed upgrade (here its fifth action, the merge inside the jail) is undone
    // and reported as `apply --json` reports a failure.
    let recipe = bed.recipe_arg();
    let run = bed.thinjail_with(
        &[
            "upgrade",
            "thinjail0",
            "--to",
            "13.1-RELEASE",
            "--yes",
            "--json",
            "-r",
            &recipe,
        ],
        Faults::fail_at(5),
    );
    let failed = json(run.expect_code(1));
    assert_eq!(failed["result"], "failed", "{failed:#}");
    assert_eq!(failed["undone"], true, "{failed:#}");
    assert_eq!(failed["from"], "14.0-RELEASE", "{failed:#}");
    assert_eq!(failed["failed"]["stage"], "upgrade", "{failed:#}");
    assert_eq!(
        failed["failed"]["stdout"], "thinjail test bed: failing on purpose\n",
        "{failed:#}"
    );
    assert_eq!(
        failed["failed"]["stderr"], "thinjail test bed: injected failure\n",
        "{failed:#}"
    );
    assert!(
        failed["failed"]["not_run"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{failed:#}"
    );
    assert!(
        run.stderr.contains("jail thinjail0 is back as it was"),
        "{}",
        run.stderr
    );
    assert_documented("upgrade (failed)", &failed, &docs);
}
