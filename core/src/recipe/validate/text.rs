//! Text that reaches a terminal or a configuration file.

/// Whether `c` must never reach a terminal from a recipe: C0 and C1 control
/// characters (ESC, NUL, CR, tab, DEL, CSI, …), the Unicode bidirectional overrides,
/// embeddings and isolates (U+202A–U+202E, U+2066–U+2069), the bidirectional marks
/// (U+200E, U+200F, U+061C) and the line and paragraph separators (U+2028, U+2029).
/// Each can make a terminal show text other than what is there: `ESC[8m` hides the
/// rest of a line, U+202E reverses it ("Trojan Source", CVE-2021-42574).
pub fn is_terminal_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{061C}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// Checks that a recipe string holds no character [`is_terminal_unsafe`] refuses.
/// The problem names the character by its code point, never by printing it.
pub fn check_terminal_safe(text: &str) -> Result<(), String> {
    match text.chars().find(|c| is_terminal_unsafe(*c)) {
        None => Ok(()),
        Some(c) => Err(format!(
            "contains the invisible or control character U+{:04X}{}; recipe strings may not \
             contain control characters or bidirectional overrides, which can change what a \
             terminal shows",
            u32::from(c),
            match c {
                '\n' => " (newline)",
                '\r' => " (carriage return)",
                '\t' => " (tab)",
                '\u{1b}' => " (ESC)",
                '\0' => " (NUL)",
                '\u{7f}' => " (DEL)",
                _ => "",
            }
        )),
    }
}

/// `text` with every character [`is_terminal_unsafe`] refuses written as a visible
/// `\u{…}` escape, so it can be printed to a terminal as it is.
pub fn escape_for_terminal(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_terminal_unsafe) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_terminal_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

pub(super) fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        c if is_terminal_unsafe(c) => format!("U+{:04X}", u32::from(c)),
        c => format!("{c:?}"),
    }
}

/// Checks a value written into rc.conf(5) or jail.conf(5): one line, no NUL.
pub fn check_config_value(value: &str) -> Result<(), String> {
    if value.contains(['\n', '\r', '\0']) {
        Err("values cannot contain newlines or NUL".into())
    } else {
        Ok(())
    }
}
