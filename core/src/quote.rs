//! Escaping for every format thinjail writes: POSIX `sh` words, jail.conf(5)
//! strings and rc.conf(5) values — and for the terminal, where text that a jail or a
//! host command produced is shown to people ([`terminal`]). fstab(5) fields are not
//! escaped: jail(8) would not decode the escapes, so validation refuses what would
//! need them.
//!
//! Each function is total: any string comes out as a value the target format
//! reads back unchanged, so hostile input cannot change the meaning of what we write.

/// Quotes `word` for a POSIX shell so it is read back as exactly one word equal to `word`.
///
/// Words made only of characters that are never special stay bare (readable scripts);
/// everything else is single-quoted, with embedded `'` written as `'\''`.
pub fn sh(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b))
        && !word.starts_with('=');
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Joins an argument vector into one shell command line, quoting each word.
pub fn sh_command<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|word| sh(word.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes `value` as a jail.conf(5) double-quoted string that jail(8) reads back literally.
///
/// jail(8)'s lexer expands `$name` and `${...}` inside double quotes and understands C
/// escapes, so `\`, `"` and `$` are backslash-escaped and control characters are written
/// as octal escapes.
pub fn jail_conf(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\{:03o}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Decodes the octal escapes (`\040` for a space) that Linux's `/proc/self/mountinfo`
/// and fstab(5)'s getfsent(3) use in path fields. thinjail never writes them: jail(8)
/// reads a jail's `mount.fstab` literally, so the paths it holds are refused by recipe
/// validation instead of escaped.
pub fn unescape_fstab_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Quotes `value` as the right-hand side of an rc.conf(5) assignment (`name="value"`).
///
/// rc.conf is sourced by sh(1), so inside double quotes `\`, `"`, `$` and `` ` `` are escaped.
pub fn rc_conf(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Reads back an rc.conf(5) value as sh(1) would for the quoting forms we and sysrc(8)
/// write: bare words, `"double"` (with backslash escapes) and `'single'` quotes.
pub fn unquote_rc_conf(raw: &str) -> String {
    let raw = raw.trim();
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.peek() {
                            Some(&next @ ('\\' | '"' | '$' | '`')) => {
                                out.push(next);
                                chars.next();
                            }
                            Some('\n') => {
                                chars.next();
                            }
                            _ => out.push('\\'),
                        },
                        c => out.push(c),
                    }
                }
            }
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    out.push(c);
                }
            }
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '#' => break,
            c if c.is_whitespace() => break,
            c => out.push(c),
        }
    }
    out
}

/// Whether `c` can change what a terminal shows rather than being shown: C0 control
/// characters (tab and newline included), DEL, C1 control characters (U+0080–U+009F,
/// among them the one-byte CSI U+009B), and the bidirectional overrides and isolates
/// (U+202A–U+202E, U+2066–U+2069) that reorder what follows them on screen.
pub fn is_control_or_bidi(c: char) -> bool {
    matches!(c, '\0'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` made safe to print on a terminal: every character [`is_control_or_bidi`]
/// says could act on the terminal is shown as a visible escape instead — `\x1b` for
/// ESC and the other C0 characters and DEL, `\u{9b}` for C1 characters, `\u{202e}`
/// for bidi controls — except newline and tab, which keep their meaning (failure
/// reports are multi-line). So `ESC[8m` (hidden text), a carriage return or a
/// right-to-left override cannot hide or reorder a line of a plan or a report.
///
/// Everything thinjail prints that comes from a jail, a host command, a plugin or a
/// file goes through here (or [`terminal_line`]).
pub fn terminal(text: &str) -> String {
    escape_for_terminal(text, |c| c == '\n' || c == '\t')
}

/// [`terminal`] for text that must stay on one line: newlines and tabs are escaped too.
pub fn terminal_line(text: &str) -> String {
    escape_for_terminal(text, |_| false)
}

fn escape_for_terminal(text: &str, keep: impl Fn(char) -> bool) -> String {
    if !text.chars().any(|c| is_control_or_bidi(c) && !keep(c)) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !is_control_or_bidi(c) || keep(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_shows_controls_and_bidi_as_visible_escapes() {
        assert_eq!(terminal("plain text\n\tindented"), "plain text\n\tindented");
        assert_eq!(
            terminal("shown\x1b[8mhidden\x1b[0m\rover"),
            "shown\\x1b[8mhidden\\x1b[0m\\x0dover"
        );
        assert_eq!(
            terminal("a\u{202e}cba\u{2066}x\u{2069}"),
            "a\\u{202e}cba\\u{2066}x\\u{2069}"
        );
        assert_eq!(
            terminal("csi\u{9b}31m del\x7f nul\0"),
            "csi\\u{9b}31m del\\x7f nul\\x00"
        );
        assert_eq!(terminal_line("two\nlines\t"), "two\\x0alines\\x09");
        // Nothing that acts on a terminal survives, whatever the input.
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        assert!(!terminal_line(&all).chars().any(is_control_or_bidi));
        assert!(terminal(&all)
            .chars()
            .all(|c| !is_control_or_bidi(c) || c == '\n' || c == '\t'));
        // Ordinary non-ASCII text is left alone.
        assert_eq!(terminal("café — ok ✓"), "café — ok ✓");
    }

    #[test]
    fn sh_leaves_plain_words_bare_and_quotes_the_rest() {
        assert_eq!(sh("/usr/local/jails"), "/usr/local/jails");
        assert_eq!(sh("zroot/jails@gold"), "zroot/jails@gold");
        assert_eq!(sh(""), "''");
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(sh("$(reboot)"), "'$(reboot)'");
        assert_eq!(sh("=x"), "'=x'");
    }

    #[test]
    fn jail_conf_escapes_expansion_and_quotes() {
        assert_eq!(jail_conf("/a b"), "\"/a b\"");
        assert_eq!(jail_conf("x\"$name\\"), r#""x\"\$name\\""#);
        assert_eq!(jail_conf("a\nb\x01"), r#""a\nb\001""#);
    }

    #[test]
    fn mountinfo_octal_escapes_are_decoded() {
        assert_eq!(unescape_fstab_field("/a\\040b\\043c"), "/a b#c");
        assert_eq!(unescape_fstab_field("/plain"), "/plain");
        assert_eq!(unescape_fstab_field("/trailing\\04"), "/trailing\\04");
    }

    #[test]
    fn rc_conf_values_round_trip() {
        for value in [
            "YES",
            "a b",
            "say \"hi\"",
            "$HOME",
            "`id`",
            "back\\slash",
            "",
        ] {
            assert_eq!(unquote_rc_conf(&rc_conf(value)), value);
        }
        assert_eq!(unquote_rc_conf("YES # comment"), "YES");
        assert_eq!(unquote_rc_conf("'single $x'"), "single $x");
    }
}
