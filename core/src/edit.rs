//! Edits of files thinjail shares with the administrator (jail.conf, rc.conf).
//!
//! Our entries are found and updated in place; every other byte is kept. A
//! [`FileEdit`] is applied to the file's *current* contents when the action runs, so an
//! unrelated change made between `plan` and `apply` is not lost.

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
    format!("# BEGIN thinjail {id}")
}

/// The line that closes thinjail's block `id`.
pub fn end_marker(id: &str) -> String {
    format!("# END thinjail {id}")
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
    let inner = &text[start..end];
    let after_begin = inner.find('\n').map_or(inner.len(), |i| i + 1);
    let before_end = inner[..inner.len().saturating_sub(1)]
        .rfind('\n')
        .map_or(after_begin, |i| i + 1);
    Some(&inner[after_begin..before_end.max(after_begin)])
}

/// Byte range of the block from its begin marker to the end of its end-marker line.
fn block_span(text: &str, id: &str) -> Option<(usize, usize)> {
    let begin = begin_marker(id);
    let end = end_marker(id);
    let mut offset = 0;
    let mut start = None;
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
        line.strip_prefix("# BEGIN thinjail ")
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
