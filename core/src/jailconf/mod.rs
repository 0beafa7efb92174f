//! Reading and writing jail.conf(5), the way FreeBSD's jail(8) reads it.
//!
//! **Reading** is a model of jail(8)'s own reader (`usr.sbin/jail/jaillex.l`,
//! `jailparse.y` and `config.c` in FreeBSD's source tree): [`JailConf`] parses one
//! file and what it `.include`s (the lexer and grammar: three kinds of comments,
//! quoting, escapes, variables, `+=`, lists, wildcard sections, where top-level
//! settings go), refusing the whole configuration on a syntax error as jail(8) does;
//! [`JailConf::effective`] then computes, for one jail, the parameters jail(8) would
//! pass: wildcard sections in file order, the `no` prefix (`allow.nomount` is
//! `allow.mount`, `mount.nofstab` is `mount.fstab`), variables substituted per jail.
//! The two FreeBSD generations differ and are chosen with [`Semantics`]. Includes are
//! read through a caller-supplied [`Files`], so the model runs on text in memory.
//! What the model does not reproduce is listed in `docs/design.md` ("jail.conf as
//! jail(8) reads it").
//!
//! **Writing** renders one jail's block with every value quoted for jail(8)'s lexer
//! ([`param_line`], [`render_block`]); [`written_values`] says what jail(8) reads back
//! from each line, which the property tests check against the model.

mod eval;
mod files;
mod lex;
mod parse;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::quote;

pub use files::{glob_matches, Files, MemoryFiles, NoFiles};

/// Which generation of FreeBSD's jail(8) reads the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Semantics {
    /// FreeBSD 13.x: each run of top-level settings after a jail starts a new `*`
    /// section there; no `.include`; a carriage return is a syntax error.
    Freebsd13,
    /// FreeBSD 14.0 and later (15 included): every top-level setting goes into one `*`
    /// section placed where the first one appears; `.include "glob";`; a carriage
    /// return is whitespace.
    Freebsd14,
}

impl Semantics {
    /// Both generations, for checks that must hold on either.
    pub const ALL: [Semantics; 2] = [Semantics::Freebsd13, Semantics::Freebsd14];
}

impl fmt::Display for Semantics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Semantics::Freebsd13 => "FreeBSD 13.x",
            Semantics::Freebsd14 => "FreeBSD 14+",
        })
    }
}

/// Where something was written: file and line (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// The line.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// What is wrong in a file jail(8) refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyntaxProblem {
    /// `/*` without `*/`.
    UnterminatedComment,
    /// A quote without its closing quote.
    UnterminatedString,
    /// `${` without `}`.
    UnterminatedVariable,
    /// A token the grammar does not allow here (described).
    Unexpected(String),
    /// The file ends in the middle of a statement or a jail.
    UnexpectedEnd,
    /// `.include` with a variable in the file name.
    IncludeVariable,
    /// `.include` nested too deep (an include loop).
    IncludeDepth,
}

impl fmt::Display for SyntaxProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxProblem::UnterminatedComment => f.write_str("unterminated comment"),
            SyntaxProblem::UnterminatedString => f.write_str("unterminated string"),
            SyntaxProblem::UnterminatedVariable => f.write_str("unterminated variable"),
            SyntaxProblem::Unexpected(token) => write!(f, "syntax error at {token}"),
            SyntaxProblem::UnexpectedEnd => f.write_str("unexpected end of file"),
            SyntaxProblem::IncludeVariable => {
                f.write_str("variables are not permitted in an .include file name")
            }
            SyntaxProblem::IncludeDepth => f.write_str(".include nested too deep"),
        }
    }
}

/// A configuration jail(8) refuses as a whole (no jail in it can be started).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A lexical or grammatical error.
    #[error("{}: line {line}: {problem}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The line.
        line: usize,
        /// What is wrong.
        problem: SyntaxProblem,
    },
    /// A file (the configuration or an include) cannot be read.
    #[error("{}: {message}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        message: String,
    },
}

/// Why jail(8) would not compute parameters for one jail.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JailError {
    /// No jail of that name is defined.
    #[error("jail \"{0}\" is not defined")]
    NotDefined(String),
    /// More than one definition has that name.
    #[error("jail \"{jail}\" is defined {} times ({})", origins.len(), list(origins))]
    Duplicate {
        /// The jail.
        jail: String,
        /// Where each definition starts.
        origins: Vec<Origin>,
    },
    /// jail(8) marks the jail failed while collecting its parameters (a redefined
    /// `name`/`jid`, a variable named like a parameter, a variable not found, a loop).
    #[error("jail \"{jail}\" fails: {}", reasons.join("; "))]
    Failed {
        /// The jail.
        jail: String,
        /// jail(8)'s warnings.
        reasons: Vec<String>,
    },
}

fn list(origins: &[Origin]) -> String {
    origins
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Either error of [`effective_params`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The configuration is refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The jail is not defined or fails.
    #[error(transparent)]
    Jail(#[from] JailError),
}

/// A string value as parsed: its text, and the variables to substitute into it
/// (position in the text, name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Text {
    pub(crate) text: Vec<u8>,
    pub(crate) vars: Vec<(usize, Vec<u8>)>,
}

/// One parameter or variable statement of a section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub(crate) name: Vec<u8>,
    pub(crate) is_var: bool,
    pub(crate) form: parse::Form,
    pub(crate) values: Vec<Text>,
    /// Where it is written.
    pub origin: Origin,
}

impl Setting {
    /// The parameter's (or variable's, without `$`) name.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// Whether it appends (`+=`).
    pub fn appends(&self) -> bool {
        self.form == parse::Form::Append
    }
}

/// A jail definition or a wildcard section, in the order jail(8) keeps them (on 13.x
/// and 14+, top-level settings form implicit `*` sections, see [`Semantics`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub(crate) name: Vec<u8>,
    pub(crate) settings: Vec<Setting>,
    /// Where it starts.
    pub origin: Origin,
    /// Whether it is the `*` section jail(8) makes for top-level settings.
    pub implicit: bool,
}

impl Section {
    /// Its name (`*` for top-level settings).
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// Whether it is a wildcard section (`*`, `foo.*`: a `*` that is a whole
    /// dot-separated component; `foo*` is an ordinary jail name).
    pub fn is_wildcard(&self) -> bool {
        eval::is_wildcard(&self.name)
    }

    /// Its statements in order.
    pub fn settings(&self) -> &[Setting] {
        &self.settings
    }
}

/// One parameter jail(8) passes, as the last statement that set it spelled it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// The name as last written (`allow.nomount` stays `allow.nomount`).
    pub name: String,
    /// Its values in order; empty for a bare `name;`.
    pub values: Vec<String>,
}

impl Param {
    /// `bool_param` of config.c: a `no` before the last component negates, then an
    /// empty value, `true` (any case) or a non-zero number is true.
    pub fn is_true(&self) -> bool {
        let last = self.name.rsplit('.').next().unwrap_or(&self.name);
        let negated = last.starts_with("no");
        let value = match self.values.last() {
            None => true,
            Some(v) => v.eq_ignore_ascii_case("true") || strtol(v) != 0,
        };
        negated ^ value
    }
}

/// `strtol(s, NULL, 10)`: leading blanks, a sign, then as many digits as there are.
fn strtol(s: &str) -> i64 {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut value: i64 = 0;
    for d in digits.bytes().take_while(u8::is_ascii_digit) {
        value = value.saturating_mul(10).saturating_add(i64::from(d - b'0'));
    }
    if negative {
        -value
    } else {
        value
    }
}

/// The parameters of one jail, in jail(8)'s order (its `name` or `jid` first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// The parameter jail(8) would treat as `name` (any `no` spelling).
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.0.iter().find(|p| same_param(&p.name, name))
    }

    /// Every parameter in order.
    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.0.iter()
    }
}

/// Whether jail(8) treats the two names as one parameter (`equalopts` of config.c):
/// equal, or equal but for a `no` before the whole name or before one component.
pub fn same_param(a: &str, b: &str) -> bool {
    eval::equalopts(a.as_bytes(), b.as_bytes())
}

/// An `.include` statement (14+), as jail(8) resolves it: its pattern made absolute
/// against the including file's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Include {
    /// Where the statement is.
    pub origin: Origin,
    /// The file name or glob(3) pattern, absolute.
    pub pattern: PathBuf,
}

impl Include {
    /// Whether this statement reads `path` (a literal name equal to it, or a pattern
    /// glob(3) matches it with) — whether or not `path` exists yet.
    pub fn reads(&self, path: &Path) -> bool {
        let pattern = self.pattern.to_string_lossy();
        if pattern.contains(['*', '?', '[']) {
            glob_matches(&pattern, &path.to_string_lossy())
        } else {
            self.pattern == path
        }
    }
}

/// A parsed configuration: every section of the file and its includes, in jail(8)'s
/// order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JailConf {
    sections: Vec<Section>,
    includes: Vec<Include>,
    semantics: Semantics,
}

impl JailConf {
    /// Parses `text` as the file `file`; an `.include` finds nothing to read.
    pub fn parse(
        text: &str,
        file: impl AsRef<Path>,
        semantics: Semantics,
    ) -> Result<JailConf, ConfigError> {
        JailConf::parse_with(text, file, semantics, &NoFiles)
    }

    /// Parses `text` as the file `file`, reading includes through `files`.
    pub fn parse_with(
        text: &str,
        file: impl AsRef<Path>,
        semantics: Semantics,
        files: &dyn Files,
    ) -> Result<JailConf, ConfigError> {
        let mut parser = parse::Parser::new(semantics, files);
        parser.file(text, file.as_ref(), 0)?;
        Ok(JailConf {
            sections: parser.sections,
            includes: parser.includes,
            semantics,
        })
    }

    /// Reads and parses the file `path` (what `jail -f PATH` reads).
    pub fn load(
        path: impl AsRef<Path>,
        semantics: Semantics,
        files: &dyn Files,
    ) -> Result<JailConf, ConfigError> {
        let path = path.as_ref();
        let text = files.read(path).map_err(|e| ConfigError::Read {
            file: path.to_path_buf(),
            message: e.to_string(),
        })?;
        JailConf::parse_with(&text, path, semantics, files)
    }

    /// The generation it was read as.
    pub fn semantics(&self) -> Semantics {
        self.semantics
    }

    /// Every section in order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// Every `.include` statement read (14+), in order, those of included files too.
    pub fn includes(&self) -> &[Include] {
        &self.includes
    }

    /// Names of the jails defined (not wildcard sections), in file order.
    pub fn jails(&self) -> Vec<String> {
        self.sections
            .iter()
            .filter(|s| !s.is_wildcard())
            .map(Section::name)
            .collect()
    }

    fn definition(&self, jail: &str) -> Result<usize, JailError> {
        let found: Vec<usize> = (0..self.sections.len())
            .filter(|&i| {
                self.sections[i].name == jail.as_bytes() && !self.sections[i].is_wildcard()
            })
            .collect();
        match found.as_slice() {
            [] => Err(JailError::NotDefined(jail.to_string())),
            [one] => Ok(*one),
            many => Err(JailError::Duplicate {
                jail: jail.to_string(),
                origins: many
                    .iter()
                    .map(|&i| self.sections[i].origin.clone())
                    .collect(),
            }),
        }
    }

    /// The parameters jail(8) would pass for `jail` (`jail -f FILE -c JAIL`).
    pub fn effective(&self, jail: &str) -> Result<Params, JailError> {
        let index = self.definition(jail)?;
        eval::effective(&self.sections, index)
    }

    /// The settings of wildcard sections that jail(8) applies to `jail` *after* the
    /// jail's own settings (so they override them), in order.
    pub fn settings_after(&self, jail: &str) -> Result<Vec<&Setting>, JailError> {
        let index = self.definition(jail)?;
        Ok(self.sections[index + 1..]
            .iter()
            .filter(|s| s.is_wildcard() && eval::wildcard_matches(jail.as_bytes(), &s.name))
            .flat_map(|s| s.settings.iter())
            .collect())
    }

    /// The settings of wildcard sections that jail(8) applies to `jail` *before* the
    /// jail's own settings (they reach the jail unless it sets the same parameter).
    pub fn settings_before(&self, jail: &str) -> Result<Vec<&Setting>, JailError> {
        let index = self.definition(jail)?;
        Ok(self.sections[..index]
            .iter()
            .filter(|s| s.is_wildcard() && eval::wildcard_matches(jail.as_bytes(), &s.name))
            .flat_map(|s| s.settings.iter())
            .collect())
    }
}

/// The parameters jail(8) would pass for `jail` when started with `jail -f FILE -c
/// JAIL`: the whole of `file` is read (through `files`, includes too) with
/// `semantics`, and refused as a whole on a syntax error.
pub fn effective_params(
    files: &dyn Files,
    file: &Path,
    semantics: Semantics,
    jail: &str,
) -> Result<Params, ModelError> {
    Ok(JailConf::load(file, semantics, files)?.effective(jail)?)
}

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

/// A jail.conf(5) parameter value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// `true` writes `param;`, `false` writes `param = false;`.
    Flag(bool),
    /// A number.
    Number(i64),
    /// A string.
    Text(String),
    /// A comma-separated list.
    List(Vec<String>),
}

/// One parameter line of a jail block. Every text and every list element is
/// double-quoted (an unquoted `//` or `#` would start a comment); an empty list cannot
/// be written (`name = ;` is a syntax error) and is refused by validation.
pub fn param_line(name: &str, value: &ParamValue) -> String {
    match value {
        ParamValue::Flag(true) => format!("{name};"),
        ParamValue::Flag(false) => format!("{name} = false;"),
        ParamValue::Number(n) => format!("{name} = {n};"),
        ParamValue::Text(text) => format!("{name} = {};", quote::jail_conf(text)),
        ParamValue::List(items) => {
            let values: Vec<String> = items.iter().map(|v| quote::jail_conf(v)).collect();
            format!("{name} = {};", values.join(", "))
        }
    }
}

/// The values jail(8) reads back from [`param_line`]`(name, value)`.
pub fn written_values(value: &ParamValue) -> Vec<String> {
    match value {
        ParamValue::Flag(true) => Vec::new(),
        ParamValue::Flag(false) => vec!["false".to_string()],
        ParamValue::Number(n) => vec![n.to_string()],
        ParamValue::Text(text) => vec![text.clone()],
        ParamValue::List(items) => items.clone(),
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

/// How the parameters jail(8) would pass for `jail` differ from exactly `expected`
/// (each written by [`param_line`], plus the `name` jail(8) takes from the
/// definition): parameters that reach the jail without being expected (leaks),
/// expected ones with another spelling or value (overrides), expected ones missing.
/// Empty when the jail gets exactly what was written for it.
pub fn differences(params: &Params, jail: &str, expected: &[(String, ParamValue)]) -> Vec<String> {
    let mut found = Vec::new();
    for param in params.iter() {
        let wanted = expected
            .iter()
            .find(|(name, _)| same_param(name, &param.name));
        match wanted {
            None if param.name == "name" && param.values == [jail] => {}
            None => found.push(format!(
                "{} = {:?} reaches the jail without being written for it",
                param.name, param.values
            )),
            Some((name, value)) => {
                let values = written_values(value);
                if *name != param.name || values != param.values {
                    found.push(format!(
                        "{name} = {values:?} was written, jail(8) passes {} = {:?}",
                        param.name, param.values
                    ));
                }
            }
        }
    }
    for (name, _) in expected {
        if params.get(name).is_none() {
            found.push(format!("{name} was written, jail(8) passes nothing for it"));
        }
    }
    found
}

/// The parameters of the one jail a block written by [`render_block`] defines, read
/// with the model on its own (no global settings): a bare `name;` gives `"true"`,
/// lists are joined with `,`. A block that does not parse gives nothing.
pub fn parse_block_params(block: &str) -> BTreeMap<String, String> {
    let Ok(conf) = JailConf::parse(block, "block", Semantics::Freebsd14) else {
        return BTreeMap::new();
    };
    let Some(jail) = conf.jails().into_iter().next() else {
        return BTreeMap::new();
    };
    let Ok(params) = conf.effective(&jail) else {
        return BTreeMap::new();
    };
    params
        .0
        .into_iter()
        .map(|p| {
            let value = if p.values.is_empty() {
                "true".to_string()
            } else {
                p.values.join(",")
            };
            (p.name, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(text: &str, semantics: Semantics, jail: &str) -> Vec<(String, Vec<String>)> {
        JailConf::parse(text, "/etc/jail.conf", semantics)
            .unwrap_or_else(|e| panic!("{e}"))
            .effective(jail)
            .unwrap_or_else(|e| panic!("{e}"))
            .0
            .into_iter()
            .map(|p| (p.name, p.values))
            .collect()
    }

    fn value(text: &str, semantics: Semantics, jail: &str, param: &str) -> Option<Vec<String>> {
        JailConf::parse(text, "/etc/jail.conf", semantics)
            .unwrap_or_else(|e| panic!("{e}"))
            .effective(jail)
            .unwrap_or_else(|e| panic!("{e}"))
            .get(param)
            .map(|p| p.values.clone())
    }

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_articles_file() {
        let text = r#"
host.hostname = "$name";
path = "/usr/local/jails/.mountpoints/$name";

mount.fstab = "/usr/local/jails/$name/fstab";

exec.start = "/bin/sh /etc/rc";
exec.stop = "/bin/sh /etc/rc.shutdown";
exec.clean;

mount.devfs;

interface = "em0"; # Replace with your network interface.
allow.raw_sockets; # Optional, makes ping work inside the jail.

thinjail0 {
    ip4.addr = 192.168.1.70; # Replace with an IP on the host's subnet
}
"#;
        for semantics in Semantics::ALL {
            assert_eq!(
                params(text, semantics, "thinjail0"),
                [
                    ("name".into(), v(&["thinjail0"])),
                    ("host.hostname".into(), v(&["thinjail0"])),
                    (
                        "path".into(),
                        v(&["/usr/local/jails/.mountpoints/thinjail0"])
                    ),
                    (
                        "mount.fstab".into(),
                        v(&["/usr/local/jails/thinjail0/fstab"])
                    ),
                    ("exec.start".into(), v(&["/bin/sh /etc/rc"])),
                    ("exec.stop".into(), v(&["/bin/sh /etc/rc.shutdown"])),
                    ("exec.clean".into(), v(&[])),
                    ("mount.devfs".into(), v(&[])),
                    ("interface".into(), v(&["em0"])),
                    ("allow.raw_sockets".into(), v(&[])),
                    ("ip4.addr".into(), v(&["192.168.1.70"])),
                ]
            );
        }
    }

    #[test]
    fn globals_after_a_jail_differ_between_13_and_14() {
        // Globals at the top, a jail, then more globals: on 13.x the later run is a new
        // `*` section after the jail and overrides it; on 14+ it joins the first `*`
        // section, which comes before the jail.
        let text = "path = /a; www { path = /mine; } path = /later; enforce_statfs = 0;";
        assert_eq!(
            value(text, Semantics::Freebsd13, "www", "path"),
            Some(v(&["/later"]))
        );
        assert_eq!(
            value(text, Semantics::Freebsd14, "www", "path"),
            Some(v(&["/mine"]))
        );
        assert_eq!(
            value(text, Semantics::Freebsd14, "www", "enforce_statfs"),
            Some(v(&["0"]))
        );
        // With no global before the jail, the one `*` section of 14+ comes after it.
        let text = "www { path = /mine; } path = /later;";
        for semantics in Semantics::ALL {
            assert_eq!(value(text, semantics, "www", "path"), Some(v(&["/later"])));
        }
        let conf = JailConf::parse(text, "/x", Semantics::Freebsd14).unwrap();
        assert_eq!(conf.settings_after("www").unwrap().len(), 1);
        assert!(conf.settings_before("www").unwrap().is_empty());
    }

    #[test]
    fn explicit_wildcard_sections_and_13x_top_level_runs() {
        // 13.x: a top-level setting right after an explicit `*` section joins it.
        let text = "* { exec.clean; } persist; www { }";
        let conf = JailConf::parse(text, "/x", Semantics::Freebsd13).unwrap();
        assert_eq!(conf.sections().len(), 2);
        let conf = JailConf::parse(text, "/x", Semantics::Freebsd14).unwrap();
        assert_eq!(conf.sections().len(), 3);
        // A wildcard after the jail overrides it; before it, the jail wins.
        let text = "* { securelevel = 1; } www { securelevel = 2; } * { securelevel = 3; }";
        assert_eq!(
            value(text, Semantics::Freebsd14, "www", "securelevel"),
            Some(v(&["3"]))
        );
        let text = "* { securelevel = 1; } www { securelevel = 2; } \"db.*\" { securelevel = 3; }";
        assert_eq!(
            value(text, Semantics::Freebsd14, "www", "securelevel"),
            Some(v(&["2"]))
        );
        let text = format!("{text} db.x {{ }}");
        assert_eq!(
            value(&text, Semantics::Freebsd14, "db.x", "securelevel"),
            Some(v(&["3"]))
        );
        // A jail name is one token: `*` is one of its own, so `db.*` and `foo*` need
        // quotes; `foo*` is an ordinary jail name, not a wildcard.
        for unquoted in ["db.* { }", "foo* { }"] {
            assert!(
                JailConf::parse(unquoted, "/x", Semantics::Freebsd14).is_err(),
                "{unquoted}"
            );
        }
        let text = "\"foo*\" { persist; } foobar { }";
        assert_eq!(value(text, Semantics::Freebsd14, "foobar", "persist"), None);
        assert_eq!(
            value(text, Semantics::Freebsd14, "foo*", "persist"),
            Some(v(&[]))
        );
    }

    #[test]
    fn no_prefixes_are_one_parameter() {
        let text =
            "allow.raw_sockets; www { allow.noraw_sockets; mount.fstab = /a; mount.nofstab = /b; }";
        let conf = JailConf::parse(text, "/x", Semantics::Freebsd14).unwrap();
        let got = conf.effective("www").unwrap();
        let raw = got.get("allow.raw_sockets").unwrap();
        assert_eq!(raw.name, "allow.noraw_sockets");
        assert!(!raw.is_true());
        assert_eq!(
            got.get("mount.fstab").unwrap(),
            &Param {
                name: "mount.nofstab".into(),
                values: v(&["/b"])
            }
        );
        assert_eq!(
            got.iter()
                .filter(|p| same_param(&p.name, "mount.fstab"))
                .count(),
            1
        );
        assert!(Param {
            name: "allow.mount".into(),
            values: v(&["1"])
        }
        .is_true());
        assert!(!Param {
            name: "allow.mount".into(),
            values: v(&["false"])
        }
        .is_true());
        assert!(Param {
            name: "allow.nomount".into(),
            values: v(&["0"])
        }
        .is_true());
    }

    #[test]
    fn appends_and_lists() {
        let text = "ip4.addr = 10.0.0.1; www { ip4.addr += 10.0.0.2, \"10.0.0.3\"; } db { ip4.addr = 10.0.0.9; }";
        assert_eq!(
            value(text, Semantics::Freebsd14, "www", "ip4.addr"),
            Some(v(&["10.0.0.1", "10.0.0.2", "10.0.0.3"]))
        );
        assert_eq!(
            value(text, Semantics::Freebsd14, "db", "ip4.addr"),
            Some(v(&["10.0.0.9"]))
        );
    }

    #[test]
    fn variables_are_per_jail_and_failures_are_typed() {
        let text = r#"$base = "/j"; path = "$base/${name}"; www { } "#;
        assert_eq!(
            value(text, Semantics::Freebsd14, "www", "path"),
            Some(v(&["/j/www"]))
        );
        // Resolved in dependency order, whatever the order of definition.
        let text = r#"www { a = "$b/x"; b = "$c/y"; c = z; }"#;
        assert_eq!(
            value(text, Semantics::Freebsd14, "www", "a"),
            Some(v(&["z/y/x"]))
        );
        let conf = |t: &str| JailConf::parse(t, "/x", Semantics::Freebsd14).unwrap();
        for bad in [
            r#"www { path = "$nope"; }"#,
            r#"www { a = "$b"; b = "$a"; }"#,
            r#"www { name = other; }"#,
            r#"www { $path = x; path = y; }"#,
            r#"www { list = a, b; x = "pre$list"; }"#,
            r#"www { flag; x = "$flag"; }"#,
        ] {
            assert!(
                matches!(conf(bad).effective("www"), Err(JailError::Failed { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            conf("a{} a{}").effective("a"),
            Err(JailError::Duplicate { .. })
        ));
        assert!(matches!(
            conf("a{}").effective("b"),
            Err(JailError::NotDefined(_))
        ));
        // A numeric name is a jid; a name may then be set.
        assert_eq!(
            value("5 { name = x; }", Semantics::Freebsd14, "5", "name"),
            Some(v(&["x"]))
        );
    }

    #[test]
    fn syntax_errors_refuse_the_whole_file_with_file_and_line() {
        for (text, line) in [
            ("www {\n  exec.poststart = ;\n}\n", 2),
            (
                "www {\n  exec.poststart = http://pkg.example.org/x;\n}\n",
                3,
            ),
            ("www { persist }\n", 1),
            ("\"a\"b { }", 1),
            ("a = b c;", 1),
            ("www {\n", 2),
            ("x = \"caf\u{e9}\"; y = caf\u{e9};", 1),
        ] {
            match JailConf::parse(text, "/etc/jail.conf", Semantics::Freebsd14) {
                Err(ConfigError::Syntax {
                    file, line: got, ..
                }) => {
                    assert_eq!(
                        (file.as_path(), got),
                        (Path::new("/etc/jail.conf"), line),
                        "{text}"
                    )
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn nested_definitions_are_jails_of_their_own_on_14_and_an_error_on_13() {
        // jailparse.y of 14.0: `jail : jail_name '{' conf '}'`, the inner name joined
        // to the outer one with a dot, added before what it contains; parameters after
        // the inner block still belong to the outer jail.
        let text = "www { path = /w; db { path = /d; } persist; }";
        let conf = JailConf::parse(text, "/x", Semantics::Freebsd14).unwrap();
        assert_eq!(conf.jails(), ["www", "www.db"]);
        assert_eq!(
            value(text, Semantics::Freebsd14, "www", "persist"),
            Some(v(&[]))
        );
        assert_eq!(
            value(text, Semantics::Freebsd14, "www.db", "path"),
            Some(v(&["/d"]))
        );
        assert_eq!(value(text, Semantics::Freebsd14, "www.db", "persist"), None);
        assert!(matches!(
            JailConf::parse(text, "/x", Semantics::Freebsd13),
            Err(ConfigError::Syntax { line: 1, .. })
        ));
    }

    #[test]
    fn include_statements_are_recorded_with_absolute_patterns() {
        let files = MemoryFiles::new()
            .with(
                "/etc/jail.conf",
                ".include \"/etc/jail.conf.d/*.conf\";\n.include \"jail.local\";\n",
            )
            .with("/etc/jail.local", "");
        let conf = JailConf::load("/etc/jail.conf", Semantics::Freebsd14, &files).unwrap();
        let patterns: Vec<&Path> = conf
            .includes()
            .iter()
            .map(|i| i.pattern.as_path())
            .collect();
        assert_eq!(
            patterns,
            [
                Path::new("/etc/jail.conf.d/*.conf"),
                Path::new("/etc/jail.local")
            ]
        );
        assert_eq!(conf.includes()[1].origin.line, 2);
        // A pattern reads a file that does not exist yet.
        assert!(conf.includes()[0].reads(Path::new("/etc/jail.conf.d/www.conf")));
        assert!(!conf.includes()[0].reads(Path::new("/etc/jail.conf.d/.www.conf")));
        assert!(!conf.includes()[1].reads(Path::new("/etc/jail.conf.d/www.conf")));
    }

    #[test]
    fn includes_on_14_only() {
        let files = MemoryFiles::new()
            .with(
                "/etc/jail.conf",
                "exec.clean;\n.include \"/etc/jail.conf.d/*.conf\";\n.include \"local.conf\";\n",
            )
            .with("/etc/jail.conf.d/www.conf", "www { path = /w; }\n")
            .with(
                "/etc/jail.conf.d/db.conf",
                "db { path = /d; }\nsecurelevel = 3;\n",
            )
            .with("/etc/local.conf", "* { persist; }\n");
        let conf = JailConf::load("/etc/jail.conf", Semantics::Freebsd14, &files).unwrap();
        assert_eq!(conf.jails(), ["db", "www"]);
        let www = conf.effective("www").unwrap();
        assert!(www.get("exec.clean").is_some() && www.get("persist").is_some());
        assert_eq!(www.get("securelevel").unwrap().values, v(&["3"]));
        // 13.x has no includes: `.include` is a parameter of the `*` section.
        let conf = JailConf::load("/etc/jail.conf", Semantics::Freebsd13, &files).unwrap();
        assert!(conf.jails().is_empty());
        assert_eq!(conf.sections()[0].settings()[1].name(), ".include");
        // A file name without wildcards must exist; a variable is refused; loops end.
        let missing = MemoryFiles::new().with("/etc/jail.conf", ".include \"/nope.conf\";");
        assert!(matches!(
            JailConf::load("/etc/jail.conf", Semantics::Freebsd14, &missing),
            Err(ConfigError::Read { .. })
        ));
        let var = MemoryFiles::new().with("/etc/jail.conf", ".include \"/j/$name.conf\";");
        assert!(matches!(
            JailConf::load("/etc/jail.conf", Semantics::Freebsd14, &var),
            Err(ConfigError::Syntax {
                problem: SyntaxProblem::IncludeVariable,
                ..
            })
        ));
        let looped = MemoryFiles::new().with("/etc/jail.conf", ".include \"/etc/jail.conf\";");
        assert!(matches!(
            JailConf::load("/etc/jail.conf", Semantics::Freebsd14, &looped),
            Err(ConfigError::Syntax {
                problem: SyntaxProblem::IncludeDepth,
                ..
            })
        ));
        let none = MemoryFiles::new().with(
            "/etc/jail.conf",
            ".include \"/etc/jail.conf.d/*.conf\"; a { }",
        );
        assert_eq!(
            JailConf::load("/etc/jail.conf", Semantics::Freebsd14, &none)
                .unwrap()
                .jails(),
            ["a"]
        );
    }

    #[test]
    fn a_jail_in_a_file_of_its_own_gets_only_its_block() {
        let admin =
            "exec.prestart = \"/root/hook $name\";\nenforce_statfs = 0;\nwww { path = /w; }\n";
        let ours = render_block("ours", &[("path".into(), ParamValue::Text("/ours".into()))]);
        let files = MemoryFiles::new()
            .with("/etc/jail.conf", format!("{admin}{ours}"))
            .with("/etc/jail.conf.d/ours.conf", ours);
        for semantics in Semantics::ALL {
            let alone = effective_params(
                &files,
                Path::new("/etc/jail.conf.d/ours.conf"),
                semantics,
                "ours",
            )
            .unwrap();
            assert_eq!(alone.0.len(), 2, "{alone:?}");
            let shared =
                effective_params(&files, Path::new("/etc/jail.conf"), semantics, "ours").unwrap();
            assert_eq!(
                shared.get("exec.prestart").unwrap().values,
                v(&["/root/hook ours"])
            );
        }
    }

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
            (
                "exec.poststart".to_string(),
                ParamValue::List(vec![
                    "http://pkg.example.org/x".into(),
                    "# not a comment".into(),
                ]),
            ),
        ];
        let block = render_block("j", &params);
        let parsed = parse_block_params(&block);
        assert_eq!(parsed["path"], "/j/a b");
        assert_eq!(parsed["exec.clean"], "true");
        assert_eq!(parsed["exec.start"], "/bin/sh -c \"echo $x; y\"\n");
        assert_eq!(parsed["ip4.addr"], "10.0.0.1,10.0.0.2");
        for semantics in Semantics::ALL {
            let got = JailConf::parse(&block, "/b", semantics)
                .unwrap()
                .effective("j")
                .unwrap();
            for (name, value) in &params {
                assert_eq!(
                    got.get(name).unwrap().values,
                    written_values(value),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn renders_the_articles_block_style_with_every_value_quoted() {
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
            "thinjail0 {\n    path = \"/usr/local/jails/.mountpoints/thinjail0\";\n    exec.clean;\n    ip4.addr = \"192.168.1.70\";\n    x = \"a \\\"b\\\" \\$c\";\n}\n"
        );
    }
}
