//! The lexer of jail.conf(5), as FreeBSD's `usr.sbin/jail/jaillex.l` defines it.
//!
//! flex picks the longest match at each position (the earliest rule on a tie); this
//! scanner makes the same choice by hand. What it reproduces:
//! - whitespace is blank, tab and newline, plus carriage return on 14+ (the 13.x lexer
//!   has `[ \t]+` and `\n` only, so a `\r` is a stray character and a syntax error);
//! - comments `#…`, `//…` (to the end of the line, even in the middle of an unquoted
//!   value: `http://x` is `http:` and a comment) and `/* … */`;
//! - unquoted atoms of `[A-Za-z0-9_!%&()\-.:<>?@\[\]^`|~]`, single-character strings
//!   `$ * + / \`, and backslash escapes outside quotes;
//! - `'…'` strings (escapes, no variables) and `"…"` strings (escapes, `$name` and
//!   `${name}` variables; a `$` not starting a variable is literal), both may span lines;
//! - adjacent pieces with no blank between them form one string (the `instr` flag:
//!   the first piece is `STR`/`VAR`, the following ones `STR1`/`VAR1`);
//! - `text2lval`'s escapes: `\a \b \f \n \r \t \v`, up to three octal digits (the
//!   byte wraps), `\x` with up to two hex digits (none gives a NUL), a backslash before
//!   a newline joins the lines, any other character stands for itself; the text of a
//!   piece ends at its first NUL (the C code uses it as a C string);
//! - unterminated comments, strings and `${` variables are errors, and any other
//!   character (a non-ASCII byte outside quotes, a control character, `\r` on 13.x) is
//!   a token the grammar rejects.

use super::{Semantics, SyntaxProblem};

/// One token, with the line it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Token {
    pub kind: Kind,
    pub line: usize,
}

/// Token kinds of `jailparse.y`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A piece of a string; `first` is `STR` (starts a string), otherwise `STR1`.
    Str { text: Vec<u8>, first: bool },
    /// A variable reference; `first` is `VAR`, otherwise `VAR1`.
    Var { name: Vec<u8>, first: bool },
    /// `+=`.
    PlusEq,
    /// `, ; = { }` and any stray byte.
    Char(u8),
}

/// A lexing error: what, and on which line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LexError {
    pub line: usize,
    pub problem: SyntaxProblem,
}

fn is_atom(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_!%&()-.:<>?@[]^`|~".contains(&b)
}

fn is_var_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_var_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn lines_in(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// Converts the raw bytes of a piece like `text2lval`: escapes are decoded and, with
/// `to_var`, the copy stops at the first unescaped `$`, whose position is returned.
fn text2lval(raw: &[u8], to_var: bool) -> (Vec<u8>, Option<usize>) {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    let mut stopped = None;
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' {
            if to_var && b == b'$' {
                stopped = Some(i);
                break;
            }
            out.push(b);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&c) = raw.get(i) else { break };
        match c {
            b'0'..=b'7' => {
                let mut value = u32::from(c - b'0');
                for _ in 0..2 {
                    match raw.get(i + 1) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((value & 0xff) as u8);
            }
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'\n' => {}
            b'x' => {
                let mut value = 0u32;
                for _ in 0..2 {
                    match raw.get(i + 1).and_then(|d| (*d as char).to_digit(16)) {
                        Some(digit) => {
                            value = value * 16 + digit;
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push(value as u8);
            }
            other => out.push(other),
        }
        i += 1;
    }
    // The C code hands the result on as a C string: it ends at the first NUL.
    if let Some(nul) = out.iter().position(|&b| b == 0) {
        out.truncate(nul);
    }
    (out, stopped)
}

/// Length of the escape at `at` (a backslash): `\` plus one byte, up to three octal
/// digits, or `x` with up to two hex digits; a lone backslash at the end is 1.
fn escape_len(bytes: &[u8], at: usize) -> usize {
    match bytes.get(at + 1) {
        None => 1,
        Some(b'0'..=b'7') => {
            2 + bytes[at + 2..]
                .iter()
                .take(2)
                .take_while(|b| (b'0'..=b'7').contains(*b))
                .count()
        }
        Some(b'x') => {
            2 + bytes[at + 2..]
                .iter()
                .take(2)
                .take_while(|b| b.is_ascii_hexdigit())
                .count()
        }
        Some(_) => 2,
    }
}

/// Where a quoted string starting at `open` (its quote byte) ends: the index of the
/// closing quote. Escapes (a backslash and any byte, newline included) are skipped.
fn closing_quote(bytes: &[u8], open: usize) -> Option<usize> {
    let quote = bytes[open];
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => i += 2,
            b'\\' => return None,
            b if b == quote => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Where `${…}` starting at `at` ends (the index after `}`), or `None` when it is
/// unterminated. `stop_at_quote` is the double-quoted form, which cannot contain `"`.
fn braced_var_end(bytes: &[u8], at: usize, stop_at_quote: bool) -> Option<usize> {
    let mut i = at + 2;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => i += 2,
            b'}' => return Some(i + 1),
            b'\n' | b'{' => return None,
            b'"' if stop_at_quote => return None,
            _ => i += 1,
        }
    }
    None
}

/// Whether a variable reference starts at `at` (a `$`): `$name` or `${…}`.
fn starts_variable(bytes: &[u8], at: usize) -> bool {
    bytes
        .get(at + 1)
        .is_some_and(|&next| is_var_start(next) || next == b'{')
}

/// The variable reference starting at `at` (where [`starts_variable`]): its name and
/// the index after it. `quoted` is the double-quoted form, where `${…}` cannot
/// contain `"`.
fn variable_at(bytes: &[u8], at: usize, quoted: bool) -> Result<(Vec<u8>, usize), SyntaxProblem> {
    if bytes.get(at + 1) == Some(&b'{') {
        let after = braced_var_end(bytes, at, quoted).ok_or(SyntaxProblem::UnterminatedVariable)?;
        let (name, _) = text2lval(&bytes[at + 2..after - 1], false);
        return Ok((name, after));
    }
    let end = at
        + 1
        + bytes[at + 1..]
            .iter()
            .take_while(|b| is_var_char(**b))
            .count();
    Ok((bytes[at + 1..end].to_vec(), end))
}

/// Splits `text` into tokens.
pub(super) fn tokens(text: &str, semantics: Semantics) -> Result<Vec<Token>, LexError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let mut instr = false;
    // Inside a double-quoted string that contains a variable: the index of its
    // closing quote (the lexer's DQ start condition).
    let mut dq_end: Option<usize> = None;
    let push = |out: &mut Vec<Token>, instr: &mut bool, line: usize, piece: Piece| {
        let first = !*instr;
        *instr = true;
        let kind = match piece {
            Piece::Str(text) => Kind::Str { text, first },
            Piece::Var(name) => Kind::Var { name, first },
        };
        out.push(Token { kind, line });
    };
    let error = |line: usize, problem: SyntaxProblem| Err(LexError { line, problem });

    while i < bytes.len() {
        let b = bytes[i];
        if let Some(end) = dq_end {
            if i == end {
                dq_end = None;
                i += 1;
                continue;
            }
            match b {
                b'$' if starts_variable(bytes, i) => {
                    let (name, end) = match variable_at(bytes, i, true) {
                        Ok(found) => found,
                        Err(problem) => return error(line, problem),
                    };
                    push(&mut out, &mut instr, line, Piece::Var(name));
                    line += lines_in(&bytes[i..end]);
                    i = end;
                }
                b'$' => {
                    push(&mut out, &mut instr, line, Piece::Str(b"$".to_vec()));
                    i += 1;
                }
                b'\\' => {
                    let len = escape_len(bytes, i);
                    let (text, _) = text2lval(&bytes[i..i + len], false);
                    push(&mut out, &mut instr, line, Piece::Str(text));
                    line += lines_in(&bytes[i..i + len]);
                    i += len;
                }
                _ => {
                    // The rest of the string up to its closing quote, or up to the next
                    // variable (the lexer pushes the rest back and stays in DQ).
                    let (text, stop) = text2lval(&bytes[i..end], true);
                    let upto = stop.map_or(end, |s| i + s);
                    push(&mut out, &mut instr, line, Piece::Str(text));
                    line += lines_in(&bytes[i..upto]);
                    i = upto;
                }
            }
            continue;
        }
        match b {
            b' ' | b'\t' | b'\n' => {
                if b == b'\n' {
                    line += 1;
                }
                instr = false;
                i += 1;
            }
            b'\r' if semantics == Semantics::Freebsd14 => {
                instr = false;
                i += 1;
            }
            b'#' => {
                i += bytes[i..].iter().take_while(|&&c| c != b'\n').count();
                if semantics == Semantics::Freebsd14 {
                    instr = false;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i += bytes[i..].iter().take_while(|&&c| c != b'\n').count();
                if semantics == Semantics::Freebsd14 {
                    instr = false;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let close = bytes[i + 2..].windows(2).position(|w| w == b"*/");
                let Some(close) = close else {
                    return error(line, SyntaxProblem::UnterminatedComment);
                };
                let after = i + 2 + close + 2;
                line += lines_in(&bytes[i..after]);
                instr = false;
                i = after;
            }
            b'+' if bytes.get(i + 1) == Some(&b'=') => {
                out.push(Token {
                    kind: Kind::PlusEq,
                    line,
                });
                instr = false;
                i += 2;
            }
            b',' | b';' | b'=' | b'{' | b'}' => {
                out.push(Token {
                    kind: Kind::Char(b),
                    line,
                });
                instr = false;
                i += 1;
            }
            b if is_atom(b) => {
                let len = bytes[i..].iter().take_while(|b| is_atom(**b)).count();
                push(
                    &mut out,
                    &mut instr,
                    line,
                    Piece::Str(bytes[i..i + len].to_vec()),
                );
                i += len;
            }
            b'\\' => {
                let len = escape_len(bytes, i);
                let (text, _) = if len == 1 {
                    (b"\\".to_vec(), None)
                } else {
                    text2lval(&bytes[i..i + len], false)
                };
                push(&mut out, &mut instr, line, Piece::Str(text));
                line += lines_in(&bytes[i..i + len]);
                i += len;
            }
            b'$' if starts_variable(bytes, i) => {
                let (name, end) = match variable_at(bytes, i, false) {
                    Ok(found) => found,
                    Err(problem) => return error(line, problem),
                };
                push(&mut out, &mut instr, line, Piece::Var(name));
                line += lines_in(&bytes[i..end]);
                i = end;
            }
            b'$' | b'*' | b'+' | b'/' => {
                push(&mut out, &mut instr, line, Piece::Str(vec![b]));
                i += 1;
            }
            b'\'' => {
                let Some(close) = closing_quote(bytes, i) else {
                    return error(line, SyntaxProblem::UnterminatedString);
                };
                let (text, _) = text2lval(&bytes[i + 1..close], false);
                push(&mut out, &mut instr, line, Piece::Str(text));
                line += lines_in(&bytes[i..=close]);
                i = close + 1;
            }
            b'"' => {
                let Some(close) = closing_quote(bytes, i) else {
                    return error(line, SyntaxProblem::UnterminatedString);
                };
                let (text, stop) = text2lval(&bytes[i + 1..close], true);
                push(&mut out, &mut instr, line, Piece::Str(text));
                match stop {
                    None => {
                        line += lines_in(&bytes[i..=close]);
                        i = close + 1;
                    }
                    Some(at) => {
                        let upto = i + 1 + at;
                        line += lines_in(&bytes[i..upto]);
                        i = upto;
                        dq_end = Some(close);
                    }
                }
            }
            other => {
                out.push(Token {
                    kind: Kind::Char(other),
                    line,
                });
                i += 1;
            }
        }
    }
    Ok(out)
}

enum Piece {
    Str(Vec<u8>),
    Var(Vec<u8>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(text: &str) -> Vec<String> {
        tokens(text, Semantics::Freebsd14)
            .unwrap()
            .into_iter()
            .map(|t| match t.kind {
                Kind::Str { text, first } => {
                    format!(
                        "{}{}",
                        if first { "S" } else { "s" },
                        String::from_utf8_lossy(&text)
                    )
                }
                Kind::Var { name, first } => {
                    format!(
                        "{}{}",
                        if first { "V" } else { "v" },
                        String::from_utf8_lossy(&name)
                    )
                }
                Kind::PlusEq => "+=".into(),
                Kind::Char(c) => (c as char).to_string(),
            })
            .collect()
    }

    #[test]
    fn unquoted_values_split_where_jaillex_splits_them() {
        assert_eq!(
            strs("path = /usr/local;"),
            ["Spath", "=", "S/", "susr", "s/", "slocal", ";"]
        );
        assert_eq!(strs("x = http://example.org/a;"), ["Sx", "=", "Shttp:"]);
        assert_eq!(strs("x = a#b;\ny;"), ["Sx", "=", "Sa", "Sy", ";"]);
        assert_eq!(strs("x = /*c*/a;"), ["Sx", "=", "Sa", ";"]);
        assert_eq!(
            strs("ip4.addr+=1.2.3.4;"),
            ["Sip4.addr", "+=", "S1.2.3.4", ";"]
        );
        assert_eq!(strs("a+b;"), ["Sa", "s+", "sb", ";"]);
        assert_eq!(strs("foo.* {}"), ["Sfoo.", "s*", "{", "}"]);
    }

    #[test]
    fn quotes_escapes_and_variables() {
        assert_eq!(
            strs(r#"p = "/j/$name/x";"#),
            ["Sp", "=", "S/j/", "vname", "s/x", ";"]
        );
        assert_eq!(strs(r#"p = '/j/$name';"#), ["Sp", "=", "S/j/$name", ";"]);
        assert_eq!(strs(r#"p = "a\$b\"c";"#), ["Sp", "=", "Sa$b\"c", ";"]);
        assert_eq!(
            strs(r#"p = "${host.hostname}-$ x";"#),
            ["Sp", "=", "S", "vhost.hostname", "s-", "s$", "s x", ";"]
        );
        assert_eq!(
            strs(r#"p = a"b c"'d';"#),
            ["Sp", "=", "Sa", "sb c", "sd", ";"]
        );
        assert_eq!(
            strs("p = 'a\\tb\\101\\x41\\q';"),
            ["Sp", "=", "Sa\tbAAq", ";"]
        );
        assert_eq!(strs("p = \"a\\\nb\";"), ["Sp", "=", "Sab", ";"]);
        assert_eq!(strs("p = \"a\\0b\";"), ["Sp", "=", "Sa", ";"]);
        assert_eq!(strs("p = $x.y;"), ["Sp", "=", "Vx", "s.y", ";"]);
    }

    #[test]
    fn lines_and_errors() {
        let toks = tokens("a;\n/* x\ny */ b;\n\"c\nd\" e;\nf;", Semantics::Freebsd14).unwrap();
        let lines: Vec<usize> = toks.iter().map(|t| t.line).collect();
        assert_eq!(lines, [1, 1, 3, 3, 4, 5, 5, 6, 6]);
        for (text, problem) in [
            ("a = \"b;", SyntaxProblem::UnterminatedString),
            ("a = 'b;", SyntaxProblem::UnterminatedString),
            ("a = /* b;", SyntaxProblem::UnterminatedComment),
            ("a = ${b;", SyntaxProblem::UnterminatedVariable),
            ("a = \"${b\"}\";", SyntaxProblem::UnterminatedVariable),
        ] {
            let err = tokens(text, Semantics::Freebsd14).unwrap_err();
            assert_eq!(err.problem, problem, "{text}");
        }
        assert_eq!(strs("a\r\n;"), ["Sa", ";"]);
        let thirteen = tokens("a\r\n;", Semantics::Freebsd13).unwrap();
        assert_eq!(thirteen[1].kind, Kind::Char(b'\r'));
    }
}
