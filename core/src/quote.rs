//! Escaping for every format thinjail writes: POSIX `sh` words, jail.conf(5)
//! strings and rc.conf(5) values. fstab(5) fields are not escaped: jail(8) would not
//! decode the escapes, so validation refuses what would need them.
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

#[cfg(test)]
mod tests {
    use super::*;

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
