//! Edits of files thinjail shares with the administrator (jail.conf, rc.conf).
//!
//! Our entries are found and updated in place; every other byte is kept. A
//! [`FileEdit`] is applied to the file's *current* contents when the action runs, so an
//! unrelated change made between `plan` and `apply` is not lost.

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

impl FileEdit {
    /// The file's contents after this edit.
    pub fn apply(&self, text: &str) -> String {
        match self {
            FileEdit::SetRcVar { name, value } => set_rc_var(text, name, value),
            FileEdit::AddRcWord { name, word } => {
                let current = rc_var(text, name).unwrap_or_default();
                if current.split_whitespace().any(|w| w == word) {
                    text.to_string()
                } else {
                    let joined = if current.trim().is_empty() {
                        word.clone()
                    } else {
                        format!("{} {word}", current.trim())
                    };
                    set_rc_var(text, name, &joined)
                }
            }
            FileEdit::RemoveRcWord { name, word } => match rc_var(text, name) {
                Some(current) if current.split_whitespace().any(|w| w == word) => {
                    let kept: Vec<&str> =
                        current.split_whitespace().filter(|w| w != word).collect();
                    set_rc_var(text, name, &kept.join(" "))
                }
                _ => text.to_string(),
            },
            FileEdit::SetBlock { id, content } => set_block(text, id, content),
            FileEdit::RemoveBlock { id } => remove_block(text, id),
        }
    }
}

/// The value of the last assignment to `name` in an rc.conf(5)-style text, as sh reads it.
pub fn rc_var(text: &str, name: &str) -> Option<String> {
    text.lines()
        .rev()
        .find_map(|line| rc_assignment(line, name))
        .map(quote::unquote_rc_conf)
}

fn rc_assignment<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.trim_start().strip_prefix(name)?.strip_prefix('=')
}

/// Whether rc.subr(8)'s `checkyesno` would call `value` true.
pub fn is_yes(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "yes" | "true" | "on" | "1"
    )
}

/// Sets `name` like sysrc(8): the last assignment is rewritten in place, others kept;
/// with none, `name="value"` is appended.
fn set_rc_var(text: &str, name: &str, value: &str) -> String {
    let assignment = format!("{name}={}", quote::rc_conf(value));
    let last = text
        .split_inclusive('\n')
        .enumerate()
        .filter(|(_, line)| rc_assignment(line, name).is_some())
        .map(|(i, _)| i)
        .last();
    match last {
        Some(index) => text
            .split_inclusive('\n')
            .enumerate()
            .map(|(i, line)| {
                if i == index {
                    let newline = if line.ends_with('\n') { "\n" } else { "" };
                    format!("{assignment}{newline}")
                } else {
                    line.to_string()
                }
            })
            .collect(),
        None => format!("{}{assignment}\n", with_final_newline(text)),
    }
}

fn with_final_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

/// The lines between thinjail's markers for `id`, if the block is present.
pub fn find_block<'a>(text: &'a str, id: &str) -> Option<&'a str> {
    let (start, end) = block_span(text, id)?;
    Some(block_inner(&text[start..end]))
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

/// Every thinjail block of `text` by id, read in one pass: for each id, what
/// [`find_block`] gives (the first begin marker, then the first end marker after it).
/// Looking up many blocks this way costs one scan of the file, not one per block.
pub fn blocks(text: &str) -> BTreeMap<&str, &str> {
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    let mut found = BTreeMap::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        if let Some(id) = bare.strip_prefix(BEGIN_PREFIX) {
            if !found.contains_key(id) {
                open.entry(id).or_insert(offset);
            }
        } else if let Some(id) = bare.strip_prefix(END_PREFIX) {
            if let Some(start) = open.remove(id) {
                found.insert(id, block_inner(&text[start..offset + line.len()]));
            }
        }
        offset += line.len();
    }
    found
}

const BEGIN_PREFIX: &str = "# BEGIN thinjail ";
const END_PREFIX: &str = "# END thinjail ";

/// Byte range of the block from its begin marker to the end of its end-marker line.
fn block_span(text: &str, id: &str) -> Option<(usize, usize)> {
    let begin = begin_marker(id);
    let end = end_marker(id);
    let start = find_line(text, &begin, 0)?;
    let end_at = find_line(text, &end, start + begin.len())?;
    let after = end_at + end.len();
    Some((
        start,
        if text[after..].starts_with('\n') {
            after + 1
        } else {
            after
        },
    ))
}

/// Where the first whole line equal to `line` (which has no newline) starts at or
/// after `from`: a substring search, not a walk over every line.
fn find_line(text: &str, line: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut at = from;
    while let Some(found) = text.get(at..)?.find(line) {
        let start = at + found;
        let end = start + line.len();
        if (start == 0 || bytes[start - 1] == b'\n') && (end == bytes.len() || bytes[end] == b'\n')
        {
            return Some(start);
        }
        at = start + line.chars().next().map_or(1, char::len_utf8);
    }
    None
}

fn block_text(id: &str, content: &str) -> String {
    format!(
        "{}\n{}{}\n",
        begin_marker(id),
        with_final_newline(content),
        end_marker(id)
    )
}

fn set_block(text: &str, id: &str, content: &str) -> String {
    let block = block_text(id, content);
    match block_span(text, id) {
        Some((start, end)) => {
            let mut out = text[..start].to_string();
            out.push_str(&block);
            out.push_str(&text[end..]);
            out
        }
        None => format!("{}{block}", with_final_newline(text)),
    }
}

fn remove_block(text: &str, id: &str) -> String {
    match block_span(text, id) {
        Some((start, end)) => format!("{}{}", &text[..start], &text[end..]),
        None => text.to_string(),
    }
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

    #[test]
    fn rc_vars_are_set_in_place_like_sysrc() {
        let text = "# admin\nhostname=\"h\"\njail_enable=\"NO\"\nsshd_enable=\"YES\"";
        let edited = FileEdit::SetRcVar {
            name: "jail_enable".into(),
            value: "YES".into(),
        }
        .apply(text);
        assert_eq!(
            edited,
            "# admin\nhostname=\"h\"\njail_enable=\"YES\"\nsshd_enable=\"YES\""
        );
        let appended = FileEdit::SetRcVar {
            name: "jail_enable".into(),
            value: "YES".into(),
        }
        .apply("# admin");
        assert_eq!(appended, "# admin\njail_enable=\"YES\"\n");
        assert_eq!(rc_var(&appended, "jail_enable").as_deref(), Some("YES"));
        assert_eq!(
            rc_var("jail_list=\"a b\" # c", "jail_list").as_deref(),
            Some("a b")
        );
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
        assert_eq!(find_block(&two, "jail a"), Some("a {\n  x;\n}\n"));
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
    fn blocks_read_in_one_pass_are_what_find_block_finds() {
        let texts = [
            "",
            "# BEGIN thinjail jail a\na {\n}\n# END thinjail jail a\n",
            "# BEGIN thinjail jail a\na {\n}\n# END thinjail jail a",
            "# BEGIN thinjail jail a\n# END thinjail jail a\n",
            "x # BEGIN thinjail jail a\n# BEGIN thinjail jail ab\nab\n# END thinjail jail ab\n# END thinjail jail a\n",
            "# END thinjail jail a\n# BEGIN thinjail jail a\n1\n# BEGIN thinjail jail a\n2\n# END thinjail jail a\n3\n# END thinjail jail a\n",
            "# BEGIN thinjail jail a\r\na\n# END thinjail jail a\r\n# BEGIN thinjail jail b\nb\n",
            "# BEGIN thinjail jail a\n# BEGIN thinjail jail b\nab\n# END thinjail jail a\nb\n# END thinjail jail b\n",
            "é# BEGIN thinjail jail é\n# BEGIN thinjail jail é\né\n# END thinjail jail é\n",
        ];
        for text in texts {
            let all = blocks(text);
            for id in [
                "jail a", "jail ab", "jail b", "jail é", "jail a\r", "jail c",
            ] {
                assert_eq!(
                    all.get(id).copied(),
                    find_block(text, id),
                    "{id:?} in {text:?}"
                );
            }
            for (id, content) in &all {
                assert_eq!(find_block(text, id), Some(*content), "{id:?} in {text:?}");
            }
        }
    }

    /// The line-by-line definition of a block's span: the first begin-marker line,
    /// then the first end-marker line after it.
    fn reference_span(text: &str, id: &str) -> Option<(usize, usize)> {
        let (begin, end) = (begin_marker(id), end_marker(id));
        let (mut offset, mut start) = (0, None);
        for line in text.split_inclusive('\n') {
            let bare = line.trim_end_matches('\n');
            if start.is_none() && bare == begin {
                start = Some(offset);
            } else if start.is_some() && bare == end {
                return start.map(|s| (s, offset + line.len()));
            }
            offset += line.len();
        }
        None
    }

    proptest::proptest! {
        #[test]
        fn block_lookups_match_the_line_by_line_definition(
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
            let all = blocks(&text);
            for id in ["jail a", "jail ab", "jail é", "jail a\r", "jail b"] {
                let span = reference_span(&text, id);
                proptest::prop_assert_eq!(block_span(&text, id), span);
                let expected = span.map(|(start, end)| block_inner(&text[start..end]));
                proptest::prop_assert_eq!(all.get(id).copied(), expected);
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
