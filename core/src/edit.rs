//! Edits of files thinjail shares with the administrator (jail.conf, rc.conf).
//!
//! Our entries are found and updated in place; every other byte is kept. A
//! [`FileEdit`] is applied to the file's *current* contents when the action runs, so an
//! unrelated change made between `plan` and `apply` is not lost. What cannot be edited
//! exactly is refused with its line, never guessed at: thinjail's block markers out of
//! order ([`MarkerError`]), an rc.conf value the shell would compute ([`EditError`]).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::quote;

/// One change to a shared file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "snake_case")]
pub enum FileEdit {
    /// `name="value"` in an rc.conf(5)-style file, like `sysrc name=value`.
    SetRcVar {
        /// Variable.
        name: String,
        /// Value (unquoted).
        value: String,
    },
    /// Adds a word to a space-separated rc.conf(5) list, like `sysrc name+=word`.
    AddRcWord {
        /// Variable.
        name: String,
        /// Word to add if absent.
        word: String,
    },
    /// Removes a word from a space-separated rc.conf(5) list, like `sysrc name-=word`.
    RemoveRcWord {
        /// Variable.
        name: String,
        /// Word to remove.
        word: String,
    },
    /// Sets `name` like [`FileEdit::SetRcVar`] and, unless the line already holds
    /// one, records the value it replaces at the end of the line (`# thinjail:
    /// was=RAW`, the old value word as it was written, or `# thinjail: was unset` on a
    /// line it appends), so [`FileEdit::RestoreRcVar`] can put it back.
    SetRcVarRecorded {
        /// Variable.
        name: String,
        /// Value (unquoted).
        value: String,
    },
    /// Puts back what [`FileEdit::SetRcVarRecorded`] recorded on `name`'s line: the
    /// old value word, the record removed; a line it appended is removed. Nothing
    /// changes when the line holds no record.
    RestoreRcVar {
        /// Variable.
        name: String,
    },
    /// Puts `content` between thinjail's markers for `id`, replacing the old block in
    /// place or appending a new one.
    SetBlock {
        /// Block identity (e.g. `jail thinjail0`).
        id: String,
        /// Lines between the markers, ending with a newline.
        content: String,
    },
    /// Removes thinjail's block `id` and its markers.
    RemoveBlock {
        /// Block identity.
        id: String,
    },
}

/// The line that opens thinjail's block `id`.
pub fn begin_marker(id: &str) -> String {
    format!("{BEGIN_PREFIX}{id}")
}

/// The line that closes thinjail's block `id`.
pub fn end_marker(id: &str) -> String {
    format!("{END_PREFIX}{id}")
}

/// thinjail's markers in a file are not a clean set of blocks: the file is left as it
/// is rather than guessed at (a stray marker could make a rewrite delete the
/// administrator's lines between it and ours).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MarkerError {
    /// A begin marker with no end marker after it.
    #[error("line {line}: `{BEGIN_PREFIX}{id}` has no `{END_PREFIX}{id}` after it")]
    UnmatchedBegin {
        /// Block id.
        id: String,
        /// Its line (1-based).
        line: usize,
    },
    /// An end marker with no begin marker of its own before it.
    #[error("line {line}: `{END_PREFIX}{id}` has no `{BEGIN_PREFIX}{id}` before it")]
    UnmatchedEnd {
        /// Block id.
        id: String,
        /// Its line.
        line: usize,
    },
    /// A begin marker inside another block.
    #[error("line {line}: `{BEGIN_PREFIX}{id}` is inside block `{inside}` (begun on line {inside_line})")]
    Nested {
        /// Block id.
        id: String,
        /// Its line.
        line: usize,
        /// The block it is in.
        inside: String,
        /// Where that block begins.
        inside_line: usize,
    },
    /// A second block with the same id.
    #[error("line {line}: a second block `{id}` (the first begins on line {first})")]
    Duplicate {
        /// Block id.
        id: String,
        /// Where the second begins.
        line: usize,
        /// Where the first begins.
        first: usize,
    },
}

impl MarkerError {
    /// The line (1-based) of the offending marker.
    pub fn line(&self) -> usize {
        match self {
            MarkerError::UnmatchedBegin { line, .. }
            | MarkerError::UnmatchedEnd { line, .. }
            | MarkerError::Nested { line, .. }
            | MarkerError::Duplicate { line, .. } => *line,
        }
    }
}

/// Why an edit refuses to rewrite a file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// thinjail's markers are inconsistent.
    #[error(transparent)]
    Markers(#[from] MarkerError),
    /// The assignment to edit is not a plain one-line value thinjail can rewrite
    /// exactly (a quote left open, a trailing backslash, a `$` expansion, a `$(…)` or
    /// backquote).
    #[error("line {line}: the value of {name} is not a plain one-line value (an open quote, a backslash at the end of the line, a $ expansion or a command substitution); edit it by hand")]
    RcValue {
        /// Variable.
        name: String,
        /// Its line.
        line: usize,
    },
}

impl EditError {
    /// The line (1-based) the problem is on.
    pub fn line(&self) -> usize {
        match self {
            EditError::Markers(e) => e.line(),
            EditError::RcValue { line, .. } => *line,
        }
    }
}

impl FileEdit {
    /// The file's contents after this edit, or why it cannot be made: inconsistent
    /// markers, or an rc.conf assignment that is not a plain value. Nothing is guessed.
    pub fn try_apply(&self, text: &str) -> Result<String, EditError> {
        match self {
            FileEdit::SetRcVar { name, value } => set_rc_var(text, name, value),
            FileEdit::AddRcWord { name, word } => {
                let current = rc_var(text, name).unwrap_or_default();
                if rc_words(&current).any(|w| w == word) {
                    Ok(text.to_string())
                } else {
                    let trimmed = current.trim_matches(RC_BLANKS);
                    let joined = if trimmed.is_empty() {
                        word.clone()
                    } else {
                        format!("{trimmed} {word}")
                    };
                    set_rc_var(text, name, &joined)
                }
            }
            FileEdit::RemoveRcWord { name, word } => match rc_var(text, name) {
                Some(current) if rc_words(&current).any(|w| w == word) => {
                    let kept: Vec<&str> = rc_words(&current).filter(|w| w != word).collect();
                    set_rc_var(text, name, &kept.join(" "))
                }
                _ => Ok(text.to_string()),
            },
            FileEdit::SetRcVarRecorded { name, value } => set_rc_var_recorded(text, name, value),
            FileEdit::RestoreRcVar { name } => restore_rc_var(text, name),
            FileEdit::SetBlock { id, content } => set_block(text, id, content),
            FileEdit::RemoveBlock { id } => remove_block(text, id),
        }
    }

    /// The file's contents after this edit, for the world model: an edit the host
    /// would refuse ([`FileEdit::try_apply`]) leaves the text as it is (stages refuse
    /// such files before planning an edit).
    pub fn apply(&self, text: &str) -> String {
        self.try_apply(text).unwrap_or_else(|_| text.to_string())
    }
}

/// What sh(1) splits a list variable on (`for j in $jail_list`): blank, tab, newline.
const RC_BLANKS: [char; 3] = [' ', '\t', '\n'];

/// The words of a list value such as `jail_list`, as sh(1) splits it.
pub fn rc_words(value: &str) -> impl Iterator<Item = &str> {
    value.split(RC_BLANKS).filter(|w| !w.is_empty())
}

/// The value of the last assignment to `name` in an rc.conf(5)-style text, as sh reads it.
pub fn rc_var(text: &str, name: &str) -> Option<String> {
    text.split('\n')
        .rev()
        .find_map(|line| rc_assignment(line, name))
        .map(|rest| sh_word(&rest[..value_end(rest).unwrap_or(rest.len())]))
}

/// The text after `name=` when `line` assigns `name` (blanks before it allowed).
fn rc_assignment<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.trim_start_matches([' ', '\t'])
        .strip_prefix(name)?
        .strip_prefix('=')
}

/// Where the value word at the start of `rest` ends, as sh(1) splits a line: quotes
/// and backslashes keep blanks and operators in the word; an unquoted blank, `;`,
/// `&`, `|`, `<`, `>`, `(` or `)` ends it. `None` when the word cannot be rewritten
/// exactly: a quote not closed on the line, a backslash at its end, a backquote or a
/// `$` outside single quotes (a value the shell computes).
pub(crate) fn value_end(rest: &str) -> Option<usize> {
    word_end(rest, false)
}

/// Where the word at the start of `rest` ends, as [`value_end`], but with `$NAME` and
/// `${…}` expansions allowed in it (for reading, not rewriting); `$(` and backquotes
/// still give `None`.
pub(crate) fn expanding_word_end(rest: &str) -> Option<usize> {
    word_end(rest, true)
}

fn word_end(rest: &str, expansions: bool) -> Option<usize> {
    let b = rest.as_bytes();
    let dollar = |i: usize| !expansions || b.get(i + 1) == Some(&b'(');
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')' => break,
            b'`' => return None,
            b'$' if dollar(i) => return None,
            b'\\' => {
                if i + 1 >= b.len() {
                    return None;
                }
                i += 2;
            }
            b'\'' => i += 1 + b[i + 1..].iter().position(|&c| c == b'\'')? + 1,
            b'"' => {
                i += 1;
                loop {
                    match b.get(i)? {
                        b'"' => break,
                        b'\\' => i += 2,
                        b'`' => return None,
                        b'$' if dollar(i) => return None,
                        _ => i += 1,
                    }
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    Some(i.min(b.len()))
}

/// sh(1)'s quote removal on one word (no expansion): `\x` outside quotes is `x`,
/// `'…'` is literal, inside `"…"` a backslash only escapes `\ " $` and backquote.
fn sh_word(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '\'' => out.extend(chars.by_ref().take_while(|&c| c != '\'')),
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.peek() {
                            Some(&next @ ('\\' | '"' | '$' | '`')) => {
                                out.push(next);
                                chars.next();
                            }
                            _ => out.push('\\'),
                        },
                        c => out.push(c),
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether rc.subr(8)'s `checkyesno` would call `value` true.
pub fn is_yes(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "yes" | "true" | "on" | "1"
    )
}

/// Sets `name` like sysrc(8): the value of the last assignment is rewritten in place
/// (the blanks before it and whatever follows the value on its line, such as a
/// `# comment`, are kept); with none, `name="value"` is appended.
fn set_rc_var(text: &str, name: &str, value: &str) -> Result<String, EditError> {
    let quoted = quote::rc_conf(value);
    let last = text
        .split_inclusive('\n')
        .enumerate()
        .filter(|(_, line)| rc_assignment(line, name).is_some())
        .map(|(i, _)| i)
        .last();
    let Some(index) = last else {
        return Ok(format!("{}{name}={quoted}\n", with_final_newline(text)));
    };
    let mut out = String::with_capacity(text.len() + quoted.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i != index {
            out.push_str(line);
            continue;
        }
        let bare = line.strip_suffix('\n').unwrap_or(line);
        let rest = rc_assignment(bare, name).unwrap_or("");
        let end = value_end(rest).ok_or_else(|| EditError::RcValue {
            name: name.to_string(),
            line: index + 1,
        })?;
        out.push_str(&bare[..bare.len() - rest.len()]);
        out.push_str(&quoted);
        out.push_str(&rest[end..]);
        if line.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// What [`FileEdit::SetRcVarRecorded`] writes after a value it replaced.
pub const RECORD_PREFIX: &str = " # thinjail: was";

/// The value `name` had before thinjail set it, as recorded on its last assignment
/// line: `Some(Some(raw word))`, `Some(None)` for a line thinjail appended, `None`
/// when that line holds no record (or there is no assignment).
pub fn rc_record(text: &str, name: &str) -> Option<Option<String>> {
    let line = text
        .split('\n')
        .rev()
        .find(|line| rc_assignment(line, name).is_some())?;
    let rest = rc_assignment(line, name)?;
    let end = value_end(rest)?;
    record_in(&rest[end..]).map(|(_, was)| was.map(String::from))
}

/// The record at the end of what follows a value: where it starts and the old word.
fn record_in(tail: &str) -> Option<(usize, Option<&str>)> {
    let at = tail.rfind(RECORD_PREFIX)?;
    let after = &tail[at + RECORD_PREFIX.len()..];
    if after == " unset" {
        Some((at, None))
    } else {
        after.strip_prefix('=').map(|raw| (at, Some(raw)))
    }
}

fn set_rc_var_recorded(text: &str, name: &str, value: &str) -> Result<String, EditError> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(index) = lines
        .iter()
        .rposition(|line| rc_assignment(line, name).is_some())
    else {
        return Ok(format!(
            "{}{name}={}{RECORD_PREFIX} unset\n",
            with_final_newline(text),
            quote::rc_conf(value)
        ));
    };
    let line = lines[index];
    let bare = line.strip_suffix('\n').unwrap_or(line);
    let rest = rc_assignment(bare, name).unwrap_or("");
    let end = value_end(rest).ok_or_else(|| EditError::RcValue {
        name: name.to_string(),
        line: index + 1,
    })?;
    let tail = &rest[end..];
    let record = match record_in(tail) {
        Some(_) => String::new(),
        None => format!("{RECORD_PREFIX}={}", &rest[..end]),
    };
    let mut out = String::with_capacity(text.len() + value.len() + record.len() + 4);
    for (i, l) in lines.iter().enumerate() {
        if i != index {
            out.push_str(l);
            continue;
        }
        out.push_str(&bare[..bare.len() - rest.len()]);
        out.push_str(&quote::rc_conf(value));
        out.push_str(tail);
        out.push_str(&record);
        if l.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

fn restore_rc_var(text: &str, name: &str) -> Result<String, EditError> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(index) = lines
        .iter()
        .rposition(|line| rc_assignment(line, name).is_some())
    else {
        return Ok(text.to_string());
    };
    let line = lines[index];
    let bare = line.strip_suffix('\n').unwrap_or(line);
    let rest = rc_assignment(bare, name).unwrap_or("");
    let end = value_end(rest).ok_or_else(|| EditError::RcValue {
        name: name.to_string(),
        line: index + 1,
    })?;
    let tail = &rest[end..];
    let Some((at, was)) = record_in(tail) else {
        return Ok(text.to_string());
    };
    let mut out = String::with_capacity(text.len());
    for (i, l) in lines.iter().enumerate() {
        if i != index {
            out.push_str(l);
            continue;
        }
        let Some(raw) = was else {
            continue;
        };
        out.push_str(&bare[..bare.len() - rest.len()]);
        out.push_str(raw);
        out.push_str(&tail[..at]);
        if l.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

fn with_final_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

/// The lines between thinjail's markers for `id`, if the block is present.
pub fn find_block<'a>(text: &'a str, id: &str) -> Result<Option<&'a str>, MarkerError> {
    Ok(spans(text)?
        .get(id)
        .map(|&(start, end)| block_inner(&text[start..end])))
}

/// The lines of a whole block (markers included) between its markers.
fn block_inner(block: &str) -> &str {
    let after_begin = block.find('\n').map_or(block.len(), |i| i + 1);
    let mut without_last = block.chars();
    without_last.next_back();
    let before_end = without_last
        .as_str()
        .rfind('\n')
        .map_or(after_begin, |i| i + 1);
    &block[after_begin..before_end.max(after_begin)]
}

/// Every thinjail block of `text` by id, read in one pass, or the first marker that
/// breaks the rules: every `# BEGIN thinjail ID` line is followed by its own
/// `# END thinjail ID` line before any other marker, and each id has one block.
/// Looking up many blocks this way costs one scan of the file, not one per block.
pub fn blocks(text: &str) -> Result<BTreeMap<&str, &str>, MarkerError> {
    Ok(spans(text)?
        .into_iter()
        .map(|(id, (start, end))| (id, block_inner(&text[start..end])))
        .collect())
}

const BEGIN_PREFIX: &str = "# BEGIN thinjail ";
const END_PREFIX: &str = "# END thinjail ";

/// Byte range of every block, from its begin marker to the end of its end-marker
/// line (newline included), checking the markers as [`blocks`] describes.
fn spans(text: &str) -> Result<BTreeMap<&str, (usize, usize)>, MarkerError> {
    let mut found: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut first_lines: BTreeMap<&str, usize> = BTreeMap::new();
    let mut open: Option<(&str, usize, usize)> = None;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        let bare = line.strip_suffix('\n').unwrap_or(line);
        if let Some(id) = bare.strip_prefix(BEGIN_PREFIX) {
            if let Some((inside, _, inside_line)) = open {
                return Err(MarkerError::Nested {
                    id: id.to_string(),
                    line: number,
                    inside: inside.to_string(),
                    inside_line,
                });
            }
            if let Some(&first) = first_lines.get(id) {
                return Err(MarkerError::Duplicate {
                    id: id.to_string(),
                    line: number,
                    first,
                });
            }
            open = Some((id, offset, number));
        } else if let Some(id) = bare.strip_prefix(END_PREFIX) {
            match open {
                Some((open_id, start, begin_line)) if open_id == id => {
                    found.insert(id, (start, offset + line.len()));
                    first_lines.insert(id, begin_line);
                    open = None;
                }
                _ => {
                    return Err(MarkerError::UnmatchedEnd {
                        id: id.to_string(),
                        line: number,
                    })
                }
            }
        }
        offset += line.len();
    }
    match open {
        Some((id, _, line)) => Err(MarkerError::UnmatchedBegin {
            id: id.to_string(),
            line,
        }),
        None => Ok(found),
    }
}

fn block_text(id: &str, content: &str) -> String {
    format!(
        "{}\n{}{}\n",
        begin_marker(id),
        with_final_newline(content),
        end_marker(id)
    )
}

fn set_block(text: &str, id: &str, content: &str) -> Result<String, EditError> {
    let block = block_text(id, content);
    Ok(match spans(text)?.get(id) {
        Some(&(start, end)) => {
            let mut out = text[..start].to_string();
            out.push_str(&block);
            out.push_str(&text[end..]);
            out
        }
        None => format!("{}{block}", with_final_newline(text)),
    })
}

fn remove_block(text: &str, id: &str) -> Result<String, EditError> {
    Ok(match spans(text)?.get(id) {
        Some(&(start, end)) => format!("{}{}", &text[..start], &text[end..]),
        None => text.to_string(),
    })
}

/// Ids of all thinjail blocks in `text` whose id starts with `prefix`, in file order.
pub fn block_ids<'a>(text: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.lines().filter_map(move |line| {
        line.strip_prefix(BEGIN_PREFIX)
            .filter(|id| id.starts_with(prefix))
    })
}

/// Computes the new target of a relative symlink when the tree holding it moves from
/// `was` to `now` inside a jail (e.g. `/etc` → `/skeleton/etc`).
///
/// `link` is the link's path relative to the tree, `target` its current target.
/// Returns `None` when the link needs no change: absolute targets resolve from the
/// jail's root wherever the link is, and targets inside the moved tree move with it.
pub fn relinked_target(was: &Path, now: &Path, link: &Path, target: &Path) -> Option<PathBuf> {
    if target.is_absolute() {
        return None;
    }
    let old_dir = was.join(link).parent().map(Path::to_path_buf)?;
    let resolved = normalize(&old_dir.join(target));
    if resolved.starts_with(was) {
        return None;
    }
    let new_dir = now.join(link).parent().map(Path::to_path_buf)?;
    let depth = new_dir
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count();
    let mut relinked = PathBuf::new();
    for _ in 0..depth {
        relinked.push("..");
    }
    relinked.push(resolved.strip_prefix("/").unwrap_or(&resolved));
    Some(relinked)
}

/// Lexically normalizes an absolute path: `.` dropped, `..` pops (never above `/`).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str, name: &str, value: &str) -> Result<String, EditError> {
        FileEdit::SetRcVar {
            name: name.into(),
            value: value.into(),
        }
        .try_apply(text)
    }

    #[test]
    fn rc_vars_are_set_in_place_like_sysrc() {
        let text = "# admin\nhostname=\"h\"\njail_enable=\"NO\"\nsshd_enable=\"YES\"";
        assert_eq!(
            set(text, "jail_enable", "YES").unwrap(),
            "# admin\nhostname=\"h\"\njail_enable=\"YES\"\nsshd_enable=\"YES\""
        );
        let appended = set("# admin", "jail_enable", "YES").unwrap();
        assert_eq!(appended, "# admin\njail_enable=\"YES\"\n");
        assert_eq!(rc_var(&appended, "jail_enable").as_deref(), Some("YES"));
        assert_eq!(
            rc_var("jail_list=\"a b\" # c", "jail_list").as_deref(),
            Some("a b")
        );
        assert_eq!(rc_var("x=a#b\n", "x").as_deref(), Some("a#b"));
        assert_eq!(
            rc_var("x='a b'\"c\\$\"\\ d;y=1\n", "x").as_deref(),
            Some("a bc$ d")
        );
    }

    #[test]
    fn an_edited_line_keeps_its_indent_and_trailing_comment() {
        assert_eq!(
            set("jail_enable=\"NO\" # comment\n", "jail_enable", "YES").unwrap(),
            "jail_enable=\"YES\" # comment\n"
        );
        assert_eq!(
            set(
                "  jail_enable=NO\t# off for now\nx=1\n",
                "jail_enable",
                "YES"
            )
            .unwrap(),
            "  jail_enable=\"YES\"\t# off for now\nx=1\n"
        );
        assert_eq!(
            set("jail_list='a b';sshd_enable=YES\n", "jail_list", "a b c").unwrap(),
            "jail_list=\"a b c\";sshd_enable=YES\n"
        );
        assert_eq!(
            set("x=\n", "x", "back\\slash").unwrap(),
            "x=\"back\\\\slash\"\n"
        );
        for (line, number) in [
            ("a=1\njail_list=\"a\n b\"\n", 2),
            ("jail_list=`cat /x`\n", 1),
            ("jail_list=\"$(cat /x)\"\n", 1),
            ("jail_list=\"$jail_list b\"\n", 1),
            ("jail_list=${x}\n", 1),
            ("jail_list=a\\\n", 1),
        ] {
            let error = set(line, "jail_list", "b").unwrap_err();
            assert_eq!(error.line(), number, "{line:?}");
            assert!(matches!(error, EditError::RcValue { .. }));
        }
    }

    #[test]
    fn a_recorded_set_is_restored_byte_for_byte() {
        let take = |text: &str, value: &str| {
            FileEdit::SetRcVarRecorded {
                name: "jail_list".into(),
                value: value.into(),
            }
            .try_apply(text)
            .unwrap()
        };
        let restore = |text: &str| {
            FileEdit::RestoreRcVar {
                name: "jail_list".into(),
            }
            .try_apply(text)
            .unwrap()
        };
        for original in [
            "a=1\njail_list=  # keep this\nb=2\n",
            "jail_list=''\n",
            "jail_list=\"\"",
            "x=1\n",
            "",
            "x=1",
        ] {
            let taken = take(original, "adm www");
            assert_eq!(
                rc_var(&taken, "jail_list").as_deref(),
                Some("adm www"),
                "{taken}"
            );
            assert!(rc_record(&taken, "jail_list").is_some(), "{taken}");
            // A second set keeps the first record.
            let again = take(&taken, "adm www db");
            assert_eq!(
                rc_record(&again, "jail_list"),
                rc_record(&taken, "jail_list")
            );
            let restored = restore(&again);
            let expected = if original.is_empty()
                || original.ends_with('\n')
                || original.contains("jail_list")
            {
                original.to_string()
            } else {
                format!("{original}\n")
            };
            assert_eq!(restored, expected, "{again:?}");
            assert_eq!(rc_record(&restored, "jail_list"), None);
        }
        assert_eq!(
            take("jail_list=  # keep this\n", "www"),
            "jail_list=\"www\"  # keep this # thinjail: was=\n"
        );
        assert_eq!(take("", "www"), "jail_list=\"www\" # thinjail: was unset\n");
        // Nothing recorded: nothing restored.
        assert_eq!(restore("jail_list=\"a\"\n"), "jail_list=\"a\"\n");
        // A value the shell computes is not rewritten.
        let error = FileEdit::SetRcVarRecorded {
            name: "jail_list".into(),
            value: "x".into(),
        }
        .try_apply("jail_list=\"$jail_list a\"\n")
        .unwrap_err();
        assert!(matches!(error, EditError::RcValue { line: 1, .. }));
    }

    #[test]
    fn rc_words() {
        let text = "jail_list=\"web db\"\n";
        let added = FileEdit::AddRcWord {
            name: "jail_list".into(),
            word: "t0".into(),
        }
        .apply(text);
        assert_eq!(added, "jail_list=\"web db t0\"\n");
        assert_eq!(
            FileEdit::AddRcWord {
                name: "jail_list".into(),
                word: "t0".into()
            }
            .apply(&added),
            added
        );
        let removed = FileEdit::RemoveRcWord {
            name: "jail_list".into(),
            word: "web".into(),
        }
        .apply(&added);
        assert_eq!(removed, "jail_list=\"db t0\"\n");
    }

    #[test]
    fn blocks_are_replaced_in_place_and_the_rest_kept() {
        let admin = "mine {\n  path = \"/x\";\n}\n";
        let one = FileEdit::SetBlock {
            id: "jail a".into(),
            content: "a {\n}\n".into(),
        }
        .apply(admin);
        assert_eq!(
            one,
            format!("{admin}# BEGIN thinjail jail a\na {{\n}}\n# END thinjail jail a\n")
        );
        let tail = "other {\n}\n";
        let with_tail = format!("{one}{tail}");
        let two = FileEdit::SetBlock {
            id: "jail a".into(),
            content: "a {\n  x;\n}\n".into(),
        }
        .apply(&with_tail);
        assert!(two.starts_with(admin) && two.ends_with(tail), "{two}");
        assert_eq!(find_block(&two, "jail a"), Ok(Some("a {\n  x;\n}\n")));
        assert_eq!(
            FileEdit::RemoveBlock {
                id: "jail a".into()
            }
            .apply(&two),
            format!("{admin}{tail}")
        );
        assert_eq!(block_ids(&two, "jail ").collect::<Vec<_>>(), ["jail a"]);
    }

    #[test]
    fn stray_markers_are_refused_with_their_line_and_nothing_is_rewritten() {
        let ours = "# BEGIN thinjail jail www\nwww {\n}\n# END thinjail jail www\n";
        let admin_jails = "mine {\n}\nyours {\n}\n";
        for (text, line) in [
            // A stray begin marker before the administrator's jails: replacing "from
            // the marker to the END" would delete them.
            (format!("# BEGIN thinjail jail www\n{admin_jails}{ours}"), 6),
            (format!("{admin_jails}# END thinjail jail www\n{ours}"), 5),
            (format!("{ours}{admin_jails}{ours}"), 9),
            (format!("{admin_jails}# BEGIN thinjail jail www\n"), 5),
            (
                format!("# BEGIN thinjail jail db\n{ours}# END thinjail jail db\n"),
                2,
            ),
        ] {
            let error = blocks(&text).unwrap_err();
            assert_eq!(error.line(), line, "{text}\n{error}");
            for edit in [
                FileEdit::SetBlock {
                    id: "jail www".into(),
                    content: "www {\n  persist;\n}\n".into(),
                },
                FileEdit::RemoveBlock {
                    id: "jail www".into(),
                },
                FileEdit::SetBlock {
                    id: "jail other".into(),
                    content: "other {\n}\n".into(),
                },
            ] {
                assert_eq!(
                    edit.try_apply(&text),
                    Err(EditError::Markers(error.clone()))
                );
                assert_eq!(edit.apply(&text), text);
            }
        }
    }

    /// The line-by-line definition of a file's blocks: each begin-marker line is
    /// followed by its own end-marker line before any other marker; one block per id.
    fn reference_blocks(text: &str) -> Option<BTreeMap<String, String>> {
        let mut found = BTreeMap::new();
        let mut open: Option<(String, String)> = None;
        for line in text.split_inclusive('\n') {
            let bare = line.trim_end_matches('\n');
            let begin = bare.strip_prefix("# BEGIN thinjail ");
            let end = bare.strip_prefix("# END thinjail ");
            match (&mut open, begin, end) {
                (None, Some(id), _) if !found.contains_key(id) => {
                    open = Some((id.to_string(), String::new()))
                }
                (Some((id, inner)), None, Some(closing)) if closing == id => {
                    found.insert(id.clone(), std::mem::take(inner));
                    open = None;
                }
                (_, Some(_), _) | (_, _, Some(_)) => return None,
                (Some((_, inner)), None, None) => inner.push_str(line),
                (None, None, None) => {}
            }
        }
        open.is_none().then_some(found)
    }

    proptest::proptest! {
        #[test]
        fn blocks_match_the_line_by_line_definition_and_edits_keep_the_rest(
            lines in proptest::collection::vec(proptest::sample::select(vec![
                "# BEGIN thinjail jail a", "# END thinjail jail a", "# BEGIN thinjail jail ab",
                "# END thinjail jail ab", "# BEGIN thinjail jail a\r", "x# END thinjail jail a",
                "# BEGIN thinjail jail é", "# END thinjail jail é", "a {", "}", "", "é",
            ]), 0..12),
            final_newline in proptest::bool::ANY,
        ) {
            let mut text = lines.join("\n");
            if final_newline {
                text.push('\n');
            }
            let reference = reference_blocks(&text);
            let all = blocks(&text);
            proptest::prop_assert_eq!(all.is_ok(), reference.is_some(), "{:?}", all);
            let Some(reference) = reference else {
                let edit = FileEdit::SetBlock { id: "jail a".into(), content: "new\n".into() };
                proptest::prop_assert!(edit.try_apply(&text).is_err());
                return Ok(());
            };
            let all = all.unwrap();
            let got: BTreeMap<String, String> =
                all.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            proptest::prop_assert_eq!(&got, &reference);
            for id in ["jail a", "jail ab", "jail é", "jail a\r", "jail b"] {
                proptest::prop_assert_eq!(find_block(&text, id).unwrap(), all.get(id).copied());
                // Setting a block changes that block only; removing it leaves the rest.
                let set = FileEdit::SetBlock { id: id.into(), content: "new\n".into() }
                    .try_apply(&text)
                    .unwrap();
                let after = blocks(&set).unwrap();
                proptest::prop_assert_eq!(after.get(id).copied(), Some("new\n"));
                for (other, content) in &all {
                    if *other != id {
                        proptest::prop_assert_eq!(after.get(other), Some(content));
                    }
                }
                let removed = FileEdit::RemoveBlock { id: id.into() }.try_apply(&set).unwrap();
                let without: BTreeMap<&str, &str> =
                    all.iter().filter(|(k, _)| **k != id).map(|(k, v)| (*k, *v)).collect();
                proptest::prop_assert_eq!(blocks(&removed).unwrap(), without);
            }
        }
    }

    #[test]
    fn links_leaving_the_moved_tree_are_rewritten() {
        let was = Path::new("/etc");
        let now = Path::new("/skeleton/etc");
        let target = relinked_target(
            was,
            now,
            Path::new("ssl/certs/ca.pem"),
            Path::new("../../../usr/share/certs/trusted/ca.pem"),
        );
        assert_eq!(
            target.as_deref(),
            Some(Path::new("../../../../usr/share/certs/trusted/ca.pem"))
        );
        assert_eq!(
            relinked_target(was, now, Path::new("a/b"), Path::new("../c")),
            None
        );
        assert_eq!(
            relinked_target(was, now, Path::new("a"), Path::new("/usr/x")),
            None
        );
        let local = relinked_target(
            Path::new("/usr/local"),
            Path::new("/skeleton/usr/local"),
            Path::new("lib/libfoo.so"),
            Path::new("../../lib/libfoo.so.1"),
        );
        assert_eq!(
            local.as_deref(),
            Some(Path::new("../../../../usr/lib/libfoo.so.1"))
        );
    }
}
