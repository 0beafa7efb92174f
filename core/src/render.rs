//! Plan renderers: a runnable POSIX `sh` script, text for people, JSON for programs.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::action::{Action, ShHelper};
use crate::edit::FileEdit;
use crate::pipeline::{Plan, StagePlan, StageSource, PLAN_FORMAT_VERSION};

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

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sh" => Ok(Format::Sh),
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format {other:?} (sh, text or json)")),
        }
    }
}

/// Renders `plan` in `format`; `title` names the recipe in headers.
pub fn render(plan: &Plan, format: Format, title: &str) -> String {
    match format {
        Format::Sh => sh(plan, title),
        Format::Text => text(plan, title),
        Format::Json => json(plan, title),
    }
}

const SET_BLOCK: &str = r##"# thinjail_set_block FILE ID: put standard input between thinjail's markers for ID
# in FILE, replacing that block in place or appending it; the rest of FILE is kept.
thinjail_set_block() {
	[ -e "$1" ] || : > "$1"
	THINJAIL_BLOCK=$(cat) THINJAIL_ID=$2 awk '
		BEGIN { begin = "# BEGIN thinjail " ENVIRON["THINJAIL_ID"]; end = "# END thinjail " ENVIRON["THINJAIL_ID"] }
		NR == FNR { if (!b && $0 == begin) b = FNR; else if (b && !e && $0 == end) e = FNR; next }
		b && e && FNR == b { print begin; print ENVIRON["THINJAIL_BLOCK"]; print end; next }
		b && e && FNR > b && FNR <= e { next }
		{ print }
		END { if (!(b && e)) { print begin; print ENVIRON["THINJAIL_BLOCK"]; print end } }
	' "$1" "$1" > "$1.thinjail-new"
	cat "$1.thinjail-new" > "$1"
	rm -f "$1.thinjail-new"
}"##;

const REMOVE_BLOCK: &str = r##"# thinjail_remove_block FILE ID: remove thinjail's block ID and its markers from FILE.
thinjail_remove_block() {
	[ -e "$1" ] || return 0
	THINJAIL_ID=$2 awk '
		BEGIN { begin = "# BEGIN thinjail " ENVIRON["THINJAIL_ID"]; end = "# END thinjail " ENVIRON["THINJAIL_ID"] }
		NR == FNR { if (!b && $0 == begin) b = FNR; else if (b && !e && $0 == end) e = FNR; next }
		b && e && FNR >= b && FNR <= e { next }
		{ print }
	' "$1" "$1" > "$1.thinjail-new"
	cat "$1.thinjail-new" > "$1"
	rm -f "$1.thinjail-new"
}"##;

const VERIFY: &str = r##"# thinjail_verify FILE MANIFEST [keep]: FILE's SHA-256 must be the one MANIFEST lists
# for it; otherwise FILE is deleted (unless "keep") and the script stops before
# anything is extracted.
thinjail_verify() {
	want=$(awk -F '\t' -v name="${1##*/}" '$1 == name { print $2; exit }' "$2")
	got=$(sha256 -q "$1")
	if [ -z "$want" ] || [ "$got" != "$want" ]; then
		echo "checksum mismatch for $1 (MANIFEST: ${want:-none}, file: $got)" >&2
		[ "${3:-}" = keep ] || rm -f "$1"
		return 1
	fi
}"##;

const RELINK: &str = r##"# thinjail_relink TREE WAS NOW: relative symlinks under TREE that pointed outside it
# while it was at WAS in the jail are rewritten to resolve from the jail's root now
# that it is at NOW (the article's move of etc under /skeleton breaks
# /etc/ssl/certs/* -> ../../../usr/share/certs/..., and with it pkg's TLS).
thinjail_relink() {
	find "$1" -type l | while IFS= read -r link; do
		new=$(THINJAIL_REL=${link#"$1"} THINJAIL_TARGET=$(readlink "$link") THINJAIL_WAS=$2 THINJAIL_NOW=$3 awk 'BEGIN {
			t = ENVIRON["THINJAIL_TARGET"]; rel = ENVIRON["THINJAIL_REL"]; was = ENVIRON["THINJAIL_WAS"]
			if (substr(t, 1, 1) == "/") exit
			dir = was rel; sub("/[^/]*$", "", dir)
			n = split(dir "/" t, part, "/"); k = 0
			for (i = 1; i <= n; i++) {
				if (part[i] == "" || part[i] == ".") continue
				if (part[i] == "..") { if (k > 0) k--; continue }
				path[++k] = part[i]
			}
			abs = ""; for (i = 1; i <= k; i++) abs = abs "/" path[i]
			if (abs == was || index(abs, was "/") == 1) exit
			dir = ENVIRON["THINJAIL_NOW"] rel; sub("/[^/]*$", "", dir)
			up = ""; n = split(dir, part, "/"); for (i = 2; i <= n; i++) up = up "../"
			print up substr(abs, 2)
		}')
		if [ -n "$new" ]; then ln -sfn "$new" "$link"; fi
	done
}"##;

/// The shell function definition for `helper`.
pub fn sh_helper_definition(helper: ShHelper) -> &'static str {
    match helper {
        ShHelper::SetBlock => SET_BLOCK,
        ShHelper::RemoveBlock => REMOVE_BLOCK,
        ShHelper::Verify => VERIFY,
        ShHelper::Relink => RELINK,
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

/// The plan as a POSIX sh script: `set -eu`, helpers first, each stage's block
/// commented with the stage and the article step, every value quoted.
pub fn sh(plan: &Plan, title: &str) -> String {
    let mut out = String::new();
    out.push_str("#!/bin/sh\n");
    out.push_str(&format!(
        "# thinjail plan for {}\n",
        title.replace('\n', " ")
    ));
    out.push_str("# Review it, then run it as root on the FreeBSD host, or let `thinjail apply` do the same.\n");
    out.push_str("set -eu\n");
    let helpers: BTreeSet<ShHelper> = plan
        .actions()
        .filter_map(|(_, p)| p.action.sh_helper())
        .collect();
    for helper in helpers {
        out.push('\n');
        out.push_str(sh_helper_definition(helper));
        out.push('\n');
    }
    if plan.is_empty() {
        out.push_str("\n# Nothing to do: the host already matches the recipe.\n");
        return out;
    }
    for stage in plan.stages.iter().filter(|s| !s.actions.is_empty()) {
        out.push('\n');
        out.push_str(&format!(
            "# --- stage {}: {}{}\n",
            stage.stage,
            stage.summary,
            step_label(stage)
        ));
        if let StageSource::Plugin {
            plugin,
            version,
            path,
        } = &stage.source
        {
            out.push_str(&format!(
                "# (from plugin {plugin} {version}, {})\n",
                path.display()
            ));
        }
        for planned in &stage.actions {
            if let Some(note) = &planned.note {
                for line in note.lines() {
                    out.push_str(&format!("# {line}\n"));
                }
            }
            for line in planned.action.sh_lines() {
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    out
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
