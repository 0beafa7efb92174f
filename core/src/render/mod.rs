//! Plan renderers: a runnable POSIX `sh` script (with the shell helpers its actions call), text for people,
//! JSON for programs.

mod sh;

use std::collections::BTreeSet;

use serde::Serialize;

use crate::action::Action;
use crate::edit::FileEdit;
use crate::pipeline::{Plan, StagePlan, StageSource, PLAN_FORMAT_VERSION};
pub use sh::{sh_helper_definition, ShHelper};

/// Output formats of `thinjail plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// POSIX sh script.
    Sh,
    /// Text for people.
    Text,
    /// JSON for programs.
    Json,
}

/// Renders `plan` in `format`; `title` names the recipe in headers.
pub fn render(plan: &Plan, format: Format, title: &str) -> String {
    match format {
        Format::Sh => sh::sh(plan, title),
        Format::Text => text(plan, title),
        Format::Json => json(plan, title),
    }
}

fn step_label(stage: &StagePlan) -> String {
    match &stage.article_step {
        Some(step) if step.contains(',') || step.contains('-') || step.contains('–') => {
            format!(" (article steps {step})")
        }
        Some(step) => format!(" (article step {step})"),
        None => String::new(),
    }
}

/// What the plan says about proxies when it downloads ([`Action::downloads`]):
/// `thinjail apply` passes the proxy variables of its environment to those commands
/// and to no other.
pub fn proxy_note(plan: &Plan) -> Option<String> {
    let programs: BTreeSet<&str> = plan
        .actions()
        .filter(|(_, p)| p.action.downloads())
        .map(|(_, p)| match &p.action {
            Action::FreebsdUpdate { .. } => "freebsd-update",
            Action::Bsdinstall { .. } => "bsdinstall",
            _ => "fetch",
        })
        .collect();
    if programs.is_empty() {
        return None;
    }
    let programs: Vec<&str> = programs.into_iter().collect();
    Some(format!(
        "{} download{}: thinjail passes {} the proxy variables set in its environment\n\
         ({}), and no other command gets any.",
        programs.join(", "),
        if programs.len() == 1 { "s" } else { "" },
        if programs.len() == 1 { "it" } else { "them" },
        crate::host::spawn::PROXY_VARIABLES.join(" ")
    ))
}

/// The plan as text for people: each action described, with its shell command.
pub fn text(plan: &Plan, title: &str) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        out.push_str(&format!(
            "Nothing to do: the host already matches {title}.\n"
        ));
        return out;
    }
    let busy = plan.busy_stages().len();
    out.push_str(&format!(
        "Plan for {title}: {} action{} in {busy} stage{}\n",
        plan.len(),
        plural(plan.len()),
        plural(busy)
    ));
    if let Some(note) = proxy_note(plan) {
        out.push_str(&note.replace('\n', " "));
        out.push('\n');
    }
    let mut n = 0;
    for stage in plan.stages.iter().filter(|s| !s.actions.is_empty()) {
        out.push_str(&format!(
            "\n{} — {}{} [{}]\n",
            stage.stage,
            stage.summary,
            step_label(stage),
            stage.source
        ));
        for planned in &stage.actions {
            n += 1;
            out.push_str(&format!("{n:>4}. {}\n", planned.action.describe()));
            if let Some(note) = &planned.note {
                for line in note.lines() {
                    out.push_str(&format!("        note: {line}\n"));
                }
            }
            match &planned.action {
                Action::EditFile {
                    edit: FileEdit::SetBlock { content, .. },
                    ..
                }
                | Action::WriteFile {
                    contents: content, ..
                } => {
                    for line in content.lines() {
                        out.push_str(&format!("        + {line}\n"));
                    }
                }
                action => {
                    for line in action.sh_lines() {
                        out.push_str(&format!("        $ {line}\n"));
                    }
                }
            }
        }
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    format_version: u32,
    recipe: &'a str,
    empty: bool,
    action_count: usize,
    stages: Vec<JsonStage<'a>>,
}

#[derive(Serialize)]
struct JsonStage<'a> {
    stage: &'a str,
    summary: &'a str,
    article_step: Option<&'a str>,
    source: &'a StageSource,
    actions: Vec<JsonAction<'a>>,
}

#[derive(Serialize)]
struct JsonAction<'a> {
    #[serde(flatten)]
    action: &'a Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    description: String,
    shell: Vec<String>,
}

/// The plan as JSON (schema version [`PLAN_FORMAT_VERSION`]).
pub fn json(plan: &Plan, title: &str) -> String {
    let view = JsonPlan {
        format_version: PLAN_FORMAT_VERSION,
        recipe: title,
        empty: plan.is_empty(),
        action_count: plan.len(),
        stages: plan
            .stages
            .iter()
            .map(|s| JsonStage {
                stage: &s.stage,
                summary: &s.summary,
                article_step: s.article_step.as_deref(),
                source: &s.source,
                actions: s
                    .actions
                    .iter()
                    .map(|p| JsonAction {
                        action: &p.action,
                        note: p.note.as_deref(),
                        description: p.action.describe(),
                        shell: p.action.sh_lines(),
                    })
                    .collect(),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&view).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
