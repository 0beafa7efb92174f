//! The plan as a runnable POSIX sh script: each action's lines
//! ([`Action::sh_lines`]) and the shell functions some of them call
//! ([`ShHelper`], defined once at the top of the script by
//! [`sh_helper_definition`]), side by side so a helper and its callers change
//! together.

use std::collections::BTreeSet;

use super::{proxy_note, step_label};
use crate::action::{sh_path, Action, Command, Execution};
use crate::edit::FileEdit;
use crate::pipeline::{Plan, StageSource};
use crate::quote;

/// Shell functions a rendered script defines once, before the actions that use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ShHelper {
    /// `thinjail_set_block FILE ID < CONTENT`
    SetBlock,
    /// `thinjail_remove_block FILE ID`
    RemoveBlock,
    /// `thinjail_rc_edit FILE set|add|remove NAME VALUE`
    RcEdit,
    /// `thinjail_verify FILE MANIFEST`
    Verify,
    /// `thinjail_relink TREE WAS NOW`
    Relink,
    /// `thinjail_mount_point DATA PATH`
    MountPoint,
    /// `thinjail_mount_file DATA PATH` (with `thinjail_mount_point`)
    MountFile,
}

impl Action {
    /// The action as POSIX sh lines (no trailing newline on each).
    pub fn sh_lines(&self) -> Vec<String> {
        use Action::*;
        match self {
            MakeMountPoint { data, path } => {
                vec![format!(
                    "thinjail_mount_point {} {}",
                    sh_path(data),
                    quote::sh(path)
                )]
            }
            MakeMountFile { data, path } => {
                vec![format!(
                    "thinjail_mount_file {} {}",
                    sh_path(data),
                    quote::sh(path)
                )]
            }
            RelinkSymlinks { tree, was, now } => {
                vec![format!(
                    "thinjail_relink {} {} {}",
                    sh_path(tree),
                    sh_path(was),
                    sh_path(now)
                )]
            }
            WriteFile {
                path,
                contents,
                mode,
            } => {
                let mut lines = heredoc(&format!("cat > {}", sh_path(path)), contents);
                if *mode != 0o644 {
                    lines.push(format!("chmod {mode:o} {}", sh_path(path)));
                }
                lines
            }
            EditFile { path, edit } => {
                let rc_edit = |mode: &str, name: &str, value: &str| {
                    format!(
                        "thinjail_rc_edit {} {mode} {} {}",
                        sh_path(path),
                        quote::sh(name),
                        quote::sh(value)
                    )
                };
                match edit {
                    FileEdit::SetRcVar { name, value } => vec![rc_edit("set", name, value)],
                    FileEdit::AddRcWord { name, word } => vec![rc_edit("add", name, word)],
                    FileEdit::RemoveRcWord { name, word } => {
                        vec![rc_edit("remove", name, word)]
                    }
                    FileEdit::SetRcVarRecorded { name, value } => {
                        vec![rc_edit("record", name, value)]
                    }
                    FileEdit::RestoreRcVar { name } => vec![rc_edit("restore", name, "")],
                    FileEdit::SetBlock { id, content } => heredoc(
                        &format!("thinjail_set_block {} {}", sh_path(path), quote::sh(id)),
                        content,
                    ),
                    FileEdit::RemoveBlock { id } => {
                        vec![format!(
                            "thinjail_remove_block {} {}",
                            sh_path(path),
                            quote::sh(id)
                        )]
                    }
                }
            }
            VerifyChecksum {
                file,
                manifest,
                delete_bad,
            } => {
                let keep = if *delete_bad { "" } else { " keep" };
                vec![format!(
                    "thinjail_verify {} {}{keep}",
                    sh_path(file),
                    sh_path(manifest)
                )]
            }
            VerifySha256 {
                file,
                sha256,
                delete_bad,
            } => {
                let file = sh_path(file);
                let sha256 = quote::sh(sha256);
                let remove = if *delete_bad {
                    format!(" rm -f {file};")
                } else {
                    String::new()
                };
                vec![format!(
                    "[ \"$(sha256 -q {file})\" = {sha256} ] || {{ echo SHA-256 mismatch for {file}: the recipe pins {sha256} >&2;{remove} exit 1; }}"
                )]
            }
            _ => match self.execution() {
                Execution::Commands(commands) => commands.iter().map(Command::render).collect(),
                Execution::Native => Vec::new(),
            },
        }
    }

    /// Shell helper functions [`Action::sh_lines`] relies on.
    pub fn sh_helper(&self) -> Option<ShHelper> {
        match self {
            Action::RelinkSymlinks { .. } => Some(ShHelper::Relink),
            Action::MakeMountPoint { .. } => Some(ShHelper::MountPoint),
            Action::MakeMountFile { .. } => Some(ShHelper::MountFile),
            Action::VerifyChecksum { .. } => Some(ShHelper::Verify),
            Action::EditFile {
                edit: FileEdit::SetBlock { .. },
                ..
            } => Some(ShHelper::SetBlock),
            Action::EditFile {
                edit: FileEdit::RemoveBlock { .. },
                ..
            } => Some(ShHelper::RemoveBlock),
            Action::EditFile {
                edit:
                    FileEdit::SetRcVar { .. }
                    | FileEdit::AddRcWord { .. }
                    | FileEdit::RemoveRcWord { .. }
                    | FileEdit::SetRcVarRecorded { .. }
                    | FileEdit::RestoreRcVar { .. },
                ..
            } => Some(ShHelper::RcEdit),
            _ => None,
        }
    }
}

/// `prefix <<'EOF'` … `EOF`, with a delimiter that does not occur in `contents`.
/// Contents without a final newline get one (heredocs always end lines).
fn heredoc(prefix: &str, contents: &str) -> Vec<String> {
    let mut delimiter = "EOF".to_string();
    let mut n = 0;
    while contents.lines().any(|line| line == delimiter) {
        n += 1;
        delimiter = format!("EOF{n}");
    }
    let mut lines = vec![format!("{prefix} <<'{delimiter}'")];
    lines.extend(contents.lines().map(String::from));
    lines.push(delimiter);
    lines
}

/// awk functions shared by the block helpers: output is held back one line so the
/// file's last line keeps its missing newline (THINJAIL_NOEOL) exactly as the native
/// edit keeps it, and markers are checked for every id before anything is written.
const BLOCK_AWK: &str = r##"
		function emit(s, last) { if (held) print line; line = s; held = 1; held_last = last }
		function finish() { if (held) { if (held_last && ENVIRON["THINJAIL_NOEOL"] != "") printf "%s", line; else print line } }
		function fail(n, msg) { print FILENAME ": line " n ": " msg "; nothing was rewritten" > "/dev/stderr"; failed = 1; exit 1 }
		BEGIN { begin = "# BEGIN thinjail " ENVIRON["THINJAIL_ID"]; end = "# END thinjail " ENVIRON["THINJAIL_ID"] }
		NR == FNR {
			if (index($0, "# BEGIN thinjail ") == 1) {
				id = substr($0, 18)
				if (isopen) fail(FNR, "\"" $0 "\" is inside block \"" open "\"")
				if (id in seen) fail(FNR, "a second block \"" id "\"")
				isopen = 1; open = id; seen[id] = FNR
				if ($0 == begin) b = FNR
			} else if (index($0, "# END thinjail ") == 1) {
				if (!isopen || substr($0, 16) != open) fail(FNR, "\"" $0 "\" has no begin marker of its own")
				isopen = 0
				if ($0 == end) e = FNR
			}
			total = FNR; next
		}
		!checked { if (isopen) fail(seen[open], "\"# BEGIN thinjail " open "\" has no end marker"); checked = 1 }"##;

const BLOCK_END: &str = r##"' "$1" "$1" > "$1.thinjail-new" || { rm -f "$1.thinjail-new"; return 1; }
	cat "$1.thinjail-new" > "$1"
	rm -f "$1.thinjail-new"
}"##;

/// Whether the file's last byte is not a newline, for THINJAIL_NOEOL.
const NOEOL: &str =
    r##"	if [ -n "$(tail -c 1 "$1")" ]; then THINJAIL_NOEOL=1; else THINJAIL_NOEOL=; fi"##;

const SET_BLOCK: &str = r##"# thinjail_set_block FILE ID: put standard input between thinjail's markers for ID
# in FILE, replacing that block in place or appending it; the rest of FILE is kept.
# Stray or duplicate markers are refused and FILE is left as it is.
thinjail_set_block() {
	[ -e "$1" ] || : > "$1""##;

const SET_BLOCK_BODY: &str = r##"
	THINJAIL_BLOCK=$(cat) THINJAIL_ID=$2 THINJAIL_NOEOL=$THINJAIL_NOEOL awk '"##;

const SET_BLOCK_AWK: &str = r##"
		b && FNR == b { emit(begin); emit(ENVIRON["THINJAIL_BLOCK"]); emit(end); next }
		b && FNR > b && FNR <= e { next }
		{ emit($0, FNR == total) }
		END {
			if (failed) exit 1
			if (!checked && isopen) fail(seen[open], "\"# BEGIN thinjail " open "\" has no end marker")
			if (b) finish(); else { if (held) print line; print begin; print ENVIRON["THINJAIL_BLOCK"]; print end }
		}
	"##;

const REMOVE_BLOCK: &str = r##"# thinjail_remove_block FILE ID: remove thinjail's block ID and its markers from FILE.
# Stray or duplicate markers are refused and FILE is left as it is.
thinjail_remove_block() {
	[ -e "$1" ] || return 0"##;

const REMOVE_BLOCK_BODY: &str = r##"
	THINJAIL_ID=$2 THINJAIL_NOEOL=$THINJAIL_NOEOL awk '"##;

const REMOVE_BLOCK_AWK: &str = r##"
		b && FNR >= b && FNR <= e { next }
		{ emit($0, FNR == total) }
		END {
			if (failed) exit 1
			if (!checked && isopen) fail(seen[open], "\"# BEGIN thinjail " open "\" has no end marker")
			finish()
		}
	"##;

const RC_EDIT: &str = r##"# thinjail_rc_edit FILE set|add|remove|record|restore NAME VALUE: in the rc.conf(5)-style
# FILE, set NAME to VALUE, or add or remove the word VALUE in NAME's list, as thinjail's
# native edit does (not sysrc, whose awk -v would read backslashes in VALUE as
# escapes): the value of the last assignment is rewritten in place, its indent and
# what follows it on the line (a comment) kept, or NAME="VALUE" is appended. "record"
# sets like "set" and, once, notes the old value at the end of the line
# (" # thinjail: was=OLD", or " # thinjail: was unset" on a line it appends);
# "restore" puts that value back and drops the note, or the line it appended. A value
# the shell would compute, or one left open at the end of its line, is refused and
# FILE left as it is.
thinjail_rc_edit() {
	if [ ! -e "$1" ]; then
		[ "$2" = remove ] || [ "$2" = restore ] && return 0
		: > "$1"
	fi
	if [ -n "$(tail -c 1 "$1")" ]; then THINJAIL_NOEOL=1; else THINJAIL_NOEOL=; fi
	THINJAIL_MODE=$2 THINJAIL_NAME=$3 THINJAIL_VALUE=$4 THINJAIL_NOEOL=$THINJAIL_NOEOL awk '
		function parse(s,    i) {
			i = 1
			while (substr(s, i, 1) == " " || substr(s, i, 1) == "\t") i++
			indent = substr(s, 1, i - 1); s = substr(s, i)
			if (substr(s, 1, length(name) + 1) != name "=") return 0
			rest = substr(s, length(name) + 2)
			return 1
		}
		function word_end(s,    i, n, c, j) {
			n = length(s); i = 1
			while (i <= n) {
				c = substr(s, i, 1)
				if (c == " " || c == "\t" || c == ";" || c == "&" || c == "|" || c == "<" || c == ">" || c == "(" || c == ")") break
				if (c == "`" || c == "$") return -1
				if (c == "\\") { if (i + 1 > n) return -1; i += 2; continue }
				if (c == "'\''") { j = index(substr(s, i + 1), "'\''"); if (j == 0) return -1; i += j + 1; continue }
				if (c == "\"") {
					i++
					while (1) {
						if (i > n) return -1
						c = substr(s, i, 1)
						if (c == "\"") break
						if (c == "`" || c == "$") return -1
						if (c == "\\") i += 2; else i++
					}
				}
				i++
			}
			return i - 1
		}
		function unquote(w,    out, i, n, c, d, j) {
			out = ""; n = length(w); i = 1
			while (i <= n) {
				c = substr(w, i, 1)
				if (c == "\\") { out = out substr(w, i + 1, 1); i += 2; continue }
				if (c == "'\''") {
					j = index(substr(w, i + 1), "'\''")
					if (j == 0) { out = out substr(w, i + 1); break }
					out = out substr(w, i + 1, j - 1); i += j + 1; continue
				}
				if (c == "\"") {
					i++
					while (i <= n) {
						c = substr(w, i, 1)
						if (c == "\"") break
						d = substr(w, i + 1, 1)
						if (c == "\\" && (d == "\\" || d == "\"" || d == "$" || d == "`")) { out = out d; i += 2; continue }
						out = out c; i++
					}
					i++; continue
				}
				out = out c; i++
			}
			return out
		}
		function quote(v,    out, i, c) {
			out = ""
			for (i = 1; i <= length(v); i++) {
				c = substr(v, i, 1)
				if (c == "\\" || c == "\"" || c == "$" || c == "`") out = out "\\"
				out = out c
			}
			return "\"" out "\""
		}
		function words_of(s, w,    n, i, c, cur) {
			n = 0; cur = ""
			for (i = 1; i <= length(s); i++) {
				c = substr(s, i, 1)
				if (c == " " || c == "\t" || c == "\n") { if (cur != "") { w[++n] = cur; cur = "" } }
				else cur = cur c
			}
			if (cur != "") w[++n] = cur
			return n
		}
		function trim(s) { sub(/^[ \t\n]+/, "", s); sub(/[ \t\n]+$/, "", s); return s }
		function record_at(t,    at, k, after) {
			at = 0
			while ((k = index(substr(t, at + 1), RP)) > 0) at += k
			if (!at) return 0
			after = substr(t, at + length(RP))
			if (after == " unset" || substr(after, 1, 1) == "=") return at
			return 0
		}
		function decide(    we, current, n, k, words, kept, found, tail, at, after) {
			decided = 1; change = 1
			if (last) { parse(lastline); we = word_end(rest); current = unquote(we < 0 ? rest : substr(rest, 1, we)) }
			else current = ""
			if (mode == "restore") {
				if (!last) { change = 0; return }
				if (we < 0) {
					print FILENAME ": line " last ": the value of " name " is not a plain one-line value; edit it by hand; nothing was rewritten" > "/dev/stderr"
					failed = 1; exit 1
				}
				tail = substr(rest, we + 1); at = record_at(tail)
				if (!at) { change = 0; return }
				after = substr(tail, at + length(RP))
				if (after == " unset") drop = 1
				else edited = indent name "=" substr(after, 2) substr(tail, 1, at - 1)
				return
			}
			if (mode == "set" || mode == "record") new = value
			else {
				n = words_of(current, words); found = 0; kept = ""
				for (k = 1; k <= n; k++) if (words[k] == value) found = 1; else kept = kept (kept == "" ? "" : " ") words[k]
				if (mode == "add") { if (found) change = 0; else new = trim(current) == "" ? value : trim(current) " " value }
				else { if (!found) change = 0; else new = kept }
			}
			if (change && last && we < 0) {
				print FILENAME ": line " last ": the value of " name " is not a plain one-line value; edit it by hand; nothing was rewritten" > "/dev/stderr"
				failed = 1; exit 1
			}
			if (change && last) {
				tail = substr(rest, we + 1)
				edited = indent name "=" quote(new) tail
				if (mode == "record" && !record_at(tail)) edited = edited RP "=" substr(rest, 1, we)
			}
		}
		function emit(s, is_last) { if (held) print line; line = s; held = 1; held_last = is_last }
		BEGIN { mode = ENVIRON["THINJAIL_MODE"]; name = ENVIRON["THINJAIL_NAME"]; value = ENVIRON["THINJAIL_VALUE"]; RP = " # thinjail: was" }
		NR == FNR { if (parse($0)) { last = FNR; lastline = $0 } total = FNR; next }
		!decided { decide() }
		change && drop && FNR == last { next }
		{ emit(change && FNR == last ? edited : $0, FNR == total) }
		END {
			if (failed) exit 1
			if (!decided) decide()
			if (failed) exit 1
			if (change && !last) { if (held) print line; print name "=" quote(new) (mode == "record" ? RP " unset" : "") }
			else if (held) { if (held_last && ENVIRON["THINJAIL_NOEOL"] != "") printf "%s", line; else print line }
		}
	' "$1" "$1" > "$1.thinjail-new" || { rm -f "$1.thinjail-new"; return 1; }
	cat "$1.thinjail-new" > "$1"
	rm -f "$1.thinjail-new"
}"##;

/// The definitions of the two block helpers, assembled from their shared parts.
fn block_helper(head: &str, body: &str, rules: &str) -> String {
    format!("{head}\n{NOEOL}{body}{BLOCK_AWK}{rules}{BLOCK_END}")
}

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

const MOUNT_POINT: &str = r##"# thinjail_mount_point DATA PATH: make the directory PATH below the jail's data DATA,
# one component at a time, refusing a symbolic link on the way (the jail's root
# controls its data; thinjail itself opens each component without following links).
thinjail_mount_point() {
	dir=$1
	rest=$2/
	while [ -n "$rest" ]; do
		part=${rest%%/*}
		rest=${rest#*/}
		dir=$dir/$part
		if [ -L "$dir" ]; then echo "$dir is a symbolic link: no mount point is made through it" >&2; return 1; fi
		[ -d "$dir" ] || mkdir -m 755 "$dir" || return 1
	done
}"##;

const MOUNT_FILE: &str = r##"# thinjail_mount_file DATA PATH: make the empty file PATH below the jail's data DATA
# for a single-file nullfs mount, its directories as thinjail_mount_point makes them,
# refusing a symbolic link or a directory where the file goes (racy where thinjail's
# own O_NOFOLLOW creation is not: this script is for review).
thinjail_mount_file() {
	case $2 in */*) thinjail_mount_point "$1" "${2%/*}" || return 1 ;; esac
	file=$1/$2
	if [ -L "$file" ] || [ -d "$file" ]; then echo "$file is not a file: no file is mounted onto it" >&2; return 1; fi
	[ -f "$file" ] || (set -C; : > "$file") || return 1
}"##;

/// The shell function definition for `helper`.
pub fn sh_helper_definition(helper: ShHelper) -> String {
    match helper {
        ShHelper::SetBlock => block_helper(SET_BLOCK, SET_BLOCK_BODY, SET_BLOCK_AWK),
        ShHelper::RemoveBlock => block_helper(REMOVE_BLOCK, REMOVE_BLOCK_BODY, REMOVE_BLOCK_AWK),
        ShHelper::RcEdit => RC_EDIT.to_string(),
        ShHelper::Verify => VERIFY.to_string(),
        ShHelper::Relink => RELINK.to_string(),
        ShHelper::MountPoint => MOUNT_POINT.to_string(),
        ShHelper::MountFile => format!("{MOUNT_POINT}\n{MOUNT_FILE}"),
    }
}

/// The plan as a POSIX sh script: `set -eu`, the `PATH` and umask thinjail runs
/// commands with, helpers first, each stage's block commented with the stage and
/// the article step, every value quoted.
pub fn sh(plan: &Plan, title: &str) -> String {
    let mut out = String::new();
    out.push_str("#!/bin/sh\n");
    out.push_str(&format!(
        "# thinjail plan for {}\n",
        title.replace('\n', " ")
    ));
    out.push_str("# Review it, then run it as root on the FreeBSD host, or let `thinjail apply` do the same.\n");
    out.push_str("set -eu\n");
    // What thinjail itself runs with: programs from the base system only, nothing
    // inherited from the caller's environment, nothing created writable by others.
    out.push_str(&format!(
        "PATH={}\nexport PATH\numask 022\n",
        crate::host::spawn::HOST_PATH
    ));
    if let Some(note) = proxy_note(plan) {
        for line in note.lines() {
            out.push_str(&format!("# {line}\n"));
        }
        out.push_str(
            "# (Run by hand, this script's commands see this shell's whole environment.)\n",
        );
    }
    let helpers: BTreeSet<ShHelper> = plan
        .actions()
        .filter_map(|(_, p)| p.action.sh_helper())
        .collect();
    for helper in helpers {
        out.push('\n');
        out.push_str(&sh_helper_definition(helper));
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn commands_render_as_the_articles_shell() {
        let a = Action::CreateDataset {
            dataset: "zroot/jails".into(),
            mountpoint: Some("/usr/local/jails".into()),
            parents: false,
            properties: BTreeMap::new(),
        };
        assert_eq!(
            a.sh_lines(),
            ["zfs create -o mountpoint=/usr/local/jails zroot/jails"]
        );
        let a = Action::SendReceive {
            dataset: "zroot/jails/base/13.1-RELEASE-template".into(),
            snapshot: "gold".into(),
            target: "zroot/jails/thinjail0/data".into(),
        };
        assert_eq!(
            a.sh_lines(),
            ["zfs send -p zroot/jails/base/13.1-RELEASE-template@gold | zfs receive zroot/jails/thinjail0/data"]
        );
    }

    #[test]
    fn heredoc_delimiter_avoids_contents() {
        let lines = heredoc("cat > f", "EOF\nx\n");
        assert_eq!(lines.first().unwrap(), "cat > f <<'EOF1'");
        assert_eq!(lines.last().unwrap(), "EOF1");
    }
}
