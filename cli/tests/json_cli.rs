//! `--json` on every command that reports something (docs/json.md).

use std::process::{Command, Output};

fn thinjail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thinjail"))
        .args(args)
        .output()
        .expect("the thinjail binary runs")
}

#[test]
fn every_reporting_command_takes_json() {
    let cmd = thinjail_cli::manual::command();
    for name in ["plan", "apply", "list", "snapshots", "stages", "recipes"] {
        let sub = cmd
            .find_subcommand(name)
            .unwrap_or_else(|| panic!("no `thinjail {name}`"));
        assert!(
            sub.get_arguments().any(|a| a.get_long() == Some("json")),
            "`thinjail {name}` has no --json"
        );
    }
}

#[test]
fn plan_json_is_plan_format_json() {
    let json = thinjail(&["plan", "article", "--fresh", "--json"]);
    let format = thinjail(&["plan", "article", "--fresh", "--format", "json"]);
    assert_eq!(json.status.code(), Some(0));
    assert_eq!(json.stdout, format.stdout);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["format_version"], 1);
    // Two formats at once is a usage error.
    let both = thinjail(&["plan", "article", "--fresh", "--json", "--format", "sh"]);
    assert_eq!(both.status.code(), Some(64));
}
