//! Reading and writing jail.conf(5).
//!
//! Reading is limited to what thinjail needs to stay out of the administrator's way:
//! the names of the jails a file defines, so a recipe jail whose name is already
//! defined by hand is refused instead of shadowing it. Writing renders one jail's
//! block with every value quoted for jail(8)'s lexer.

use std::collections::BTreeMap;

use crate::quote;
use crate::recipe::ParamValue;

/// Names of the jails defined at the top level of a jail.conf(5) text, in file order,
/// with the byte offset of each definition. `*` (the defaults section) is skipped.
pub fn defined_jails(text: &str) -> Vec<(String, usize)> {
    let bytes = text.as_bytes();
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let mut last_word: Option<(String, usize)> = None;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'#' => i = skip_to_line_end(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = skip_to_line_end(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |end| i + 2 + end + 2);
            }
            b'"' | b'\'' => {
                let start = i;
                i = skip_string(bytes, i);
                let inner = text.get(start + 1..i.saturating_sub(1)).unwrap_or("");
                last_word = Some((inner.to_string(), start));
            }
            b'{' => {
                if depth == 0 {
                    if let Some((word, at)) = last_word.take() {
                        if word != "*" {
                            names.push((word, at));
                        }
                    }
                }
                depth += 1;
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                last_word = None;
                i += 1;
            }
            b';' | b'=' | b',' => {
                last_word = None;
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                let start = i;
                while i < bytes.len() && !b" \t\r\n{};=,\"'#".contains(&bytes[i]) {
                    i += 1;
                }
                last_word = Some((text[start..i].to_string(), start));
            }
        }
    }
    names
}

fn skip_to_line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| from + p + 1)
}

fn skip_string(bytes: &[u8], from: usize) -> usize {
    let quote = bytes[from];
    let mut i = from + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// One parameter line of a jail block.
pub fn param_line(name: &str, value: &ParamValue) -> String {
    match value {
        ParamValue::Flag(true) => format!("{name};"),
        ParamValue::Flag(false) => format!("{name} = false;"),
        ParamValue::Number(n) => format!("{name} = {n};"),
        ParamValue::Text(text) => format!("{name} = {};", quote::jail_conf(text)),
        ParamValue::List(items) => {
            let values: Vec<String> = items.iter().map(|v| list_item(v)).collect();
            format!("{name} = {};", values.join(", "))
        }
    }
}

/// List items that are plain addresses stay bare, as in the article (`ip4.addr = 192.168.1.70;`).
fn list_item(value: &str) -> String {
    let bare = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:/_-|".contains(&b));
    if bare {
        value.to_string()
    } else {
        quote::jail_conf(value)
    }
}

/// Renders `name { ... }` with the parameters in the given order, indented like the
/// article's jail.conf.
pub fn render_block(name: &str, params: &[(String, ParamValue)]) -> String {
    let mut out = format!("{name} {{\n");
    for (param, value) in params {
        out.push_str("    ");
        out.push_str(&param_line(param, value));
        out.push('\n');
    }
    out.push_str("}\n");
    out
}

/// Orders parameters the way the article writes them: identity and paths first,
/// then commands, then mounts, then networking, then the rest alphabetically.
pub fn ordered_params(params: BTreeMap<String, ParamValue>) -> Vec<(String, ParamValue)> {
    const ORDER: [&str; 11] = [
        "host.hostname",
        "path",
        "mount.fstab",
        "exec.start",
        "exec.stop",
        "exec.clean",
        "mount.devfs",
        "devfs_ruleset",
        "enforce_statfs",
        "interface",
        "ip4.addr",
    ];
    let rank = |name: &str| ORDER.iter().position(|o| *o == name).unwrap_or(ORDER.len());
    let mut ordered: Vec<(String, ParamValue)> = params.into_iter().collect();
    ordered.sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    ordered
}

/// Reads back the parameters of one block written by [`render_block`]: `name;` gives
/// `"true"`, quoted values are unescaped, lists are joined with `,`.
pub fn parse_block_params(block: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let body = block
        .split_once('{')
        .and_then(|(_, rest)| rest.rsplit_once('}'))
        .map_or(block, |(body, _)| body);
    for statement in split_statements(body) {
        let statement = statement.trim();
        if statement.is_empty() || statement.starts_with('#') || statement.starts_with("//") {
            continue;
        }
        match statement.split_once('=') {
            Some((name, value)) => {
                let values: Vec<String> = split_list(value.trim())
                    .iter()
                    .map(|v| unquote(v.trim()))
                    .collect();
                params.insert(name.trim().to_string(), values.join(","));
            }
            None => {
                params.insert(statement.to_string(), "true".to_string());
            }
        }
    }
    params
}

/// Splits on `;` outside double quotes.
fn split_statements(body: &str) -> Vec<String> {
    split_outside_quotes(body, ';')
}

fn split_list(value: &str) -> Vec<String> {
    split_outside_quotes(value, ',')
}

fn split_outside_quotes(text: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            current.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => {
                current.push(c);
                escaped = true;
            }
            '"' => {
                in_quotes = !in_quotes;
                current.push(c);
            }
            c if c == separator && !in_quotes => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        parts.push(current);
    }
    parts
}

/// Undoes [`quote::jail_conf`] (bare words are returned as they are).
pub fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_string();
    };
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(d @ '0'..='7') => {
                let mut code = d.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(next) => {
                            code = code * 8 + next;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.extend(char::from_u32(code));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_top_level_jail_names_only() {
        let text = r#"
# www { not a jail }
* { exec.clean; }
www {
    path = "/j/www"; // web { }
    exec.start = "echo '{'";
}
/* db { } */
"db-1" {}
mail{ ip4.addr = 1.2.3.4; }
"#;
        let names: Vec<String> = defined_jails(text).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["www", "db-1", "mail"]);
    }

    #[test]
    fn blocks_read_back() {
        let params = vec![
            ("path".to_string(), ParamValue::Text("/j/a b".into())),
            ("exec.clean".to_string(), ParamValue::Flag(true)),
            (
                "exec.start".to_string(),
                ParamValue::Text("/bin/sh -c \"echo $x; y\"\n".into()),
            ),
            (
                "ip4.addr".to_string(),
                ParamValue::List(vec!["10.0.0.1".into(), "10.0.0.2".into()]),
            ),
        ];
        let parsed = parse_block_params(&render_block("j", &params));
        assert_eq!(parsed["path"], "/j/a b");
        assert_eq!(parsed["exec.clean"], "true");
        assert_eq!(parsed["exec.start"], "/bin/sh -c \"echo $x; y\"\n");
        assert_eq!(parsed["ip4.addr"], "10.0.0.1,10.0.0.2");
    }

    #[test]
    fn renders_the_articles_block_style() {
        let block = render_block(
            "thinjail0",
            &[
                (
                    "path".into(),
                    ParamValue::Text("/usr/local/jails/.mountpoints/thinjail0".into()),
                ),
                ("exec.clean".into(), ParamValue::Flag(true)),
                (
                    "ip4.addr".into(),
                    ParamValue::List(vec!["192.168.1.70".into()]),
                ),
                ("x".into(), ParamValue::Text("a \"b\" $c".into())),
            ],
        );
        assert_eq!(
            block,
            "thinjail0 {\n    path = \"/usr/local/jails/.mountpoints/thinjail0\";\n    exec.clean;\n    ip4.addr = 192.168.1.70;\n    x = \"a \\\"b\\\" \\$c\";\n}\n"
        );
    }
}
