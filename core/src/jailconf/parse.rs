//! The grammar of jail.conf(5), as FreeBSD's `usr.sbin/jail/jailparse.y` defines it,
//! and where top-level settings go.
//!
//! ```text
//! conf    : (jail | param ';' | ';')*
//! jail    : STR '{' (param ';' | ';')* '}'
//! param   : name | name '=' value | name '+=' value | name value
//! name    : STR | VAR
//! value   : string (',' string)*
//! string  : (STR | VAR) (STR1 | VAR1)*
//! ```
//!
//! A jail's name and a parameter's name are one token each (`"a"b {` is an error).
//! Top-level parameters belong to a `*` section: on 13.x each run of them after a
//! jail starts a new one (`conf param ';'` reuses the last section only if it is named
//! `*`); on 14+ they all go into one `*` section placed where the first one appears.
//! `.include "glob";` (the `name value` form, at the top level) is read on 14+ only;
//! 13.x takes it for a parameter named `.include`.

use std::path::{Path, PathBuf};

use super::lex::{self, Kind, Token};
use super::{
    ConfigError, Files, Include, Origin, Section, Semantics, Setting, SyntaxProblem, Text,
};

/// Deeper nesting of `.include` is refused (FreeBSD's `MAX_INCLUDE_DEPTH`).
const MAX_INCLUDE_DEPTH: usize = 32;

pub(super) struct Parser<'a> {
    pub semantics: Semantics,
    pub files: &'a dyn Files,
    pub sections: Vec<Section>,
    /// Every `.include` read, in order.
    pub includes: Vec<Include>,
    /// 14+: the index of the one section that holds every top-level parameter.
    global: Option<usize>,
}

impl<'a> Parser<'a> {
    pub fn new(semantics: Semantics, files: &'a dyn Files) -> Self {
        Parser {
            semantics,
            files,
            sections: Vec::new(),
            includes: Vec::new(),
            global: None,
        }
    }

    /// Parses one file's text, appending its sections.
    pub fn file(&mut self, text: &str, file: &Path, depth: usize) -> Result<(), ConfigError> {
        let tokens = lex::tokens(text, self.semantics).map_err(|e| ConfigError::Syntax {
            file: file.to_path_buf(),
            line: e.line,
            problem: e.problem,
        })?;
        let mut cursor = Cursor {
            tokens: &tokens,
            at: 0,
            file,
            last_line: text.bytes().filter(|&b| b == b'\n').count() + 1,
        };
        while let Some(token) = cursor.peek() {
            match &token.kind {
                Kind::Char(b';') => {
                    cursor.at += 1;
                }
                Kind::Str { first: true, .. }
                    if matches!(cursor.peek_at(1).map(|t| &t.kind), Some(Kind::Char(b'{'))) =>
                {
                    self.jail(&mut cursor, None)?;
                }
                Kind::Str { first: true, .. } | Kind::Var { first: true, .. } => {
                    let setting = cursor.param()?;
                    cursor.expect(b';')?;
                    if self.is_include(&setting) {
                        self.include(&setting, file, depth)?;
                    } else {
                        self.top_level(setting);
                    }
                }
                _ => return Err(cursor.unexpected()),
            }
        }
        Ok(())
    }

    /// One jail definition. On 14+ its body is the same grammar as the file (`jail :
    /// jail_name '{' conf '}'`), so a jail defined inside it is a jail of its own named
    /// `outer.inner`, added when its name is read (before what it contains), and its
    /// parameters go to the innermost open jail; 13.x allows parameters only.
    fn jail(&mut self, cursor: &mut Cursor<'_>, parent: Option<&[u8]>) -> Result<(), ConfigError> {
        let Some(Token {
            kind: Kind::Str { text, .. },
            line,
        }) = cursor.next()
        else {
            return Err(cursor.unexpected());
        };
        let name = match parent {
            Some(outer) => [outer, b".", text].concat(),
            None => text.clone(),
        };
        let index = self.sections.len();
        self.sections.push(Section {
            name: name.clone(),
            settings: Vec::new(),
            origin: cursor.origin(*line),
            implicit: false,
        });
        cursor.expect(b'{')?;
        loop {
            match cursor.peek().map(|t| &t.kind) {
                Some(Kind::Char(b';')) => cursor.at += 1,
                Some(Kind::Char(b'}')) => {
                    cursor.at += 1;
                    break;
                }
                Some(Kind::Str { first: true, .. })
                    if self.semantics == Semantics::Freebsd14
                        && matches!(cursor.peek_at(1).map(|t| &t.kind), Some(Kind::Char(b'{'))) =>
                {
                    self.jail(cursor, Some(&name))?;
                }
                Some(Kind::Str { first: true, .. } | Kind::Var { first: true, .. }) => {
                    let setting = cursor.param()?;
                    self.sections[index].settings.push(setting);
                    cursor.expect(b';')?;
                }
                _ => return Err(cursor.unexpected()),
            }
        }
        Ok(())
    }

    fn top_level(&mut self, setting: Setting) {
        let index = match self.semantics {
            Semantics::Freebsd13 => match self.sections.last() {
                Some(last) if last.name == b"*" => self.sections.len() - 1,
                _ => self.new_global(&setting.origin),
            },
            Semantics::Freebsd14 => match self.global {
                Some(index) => index,
                None => {
                    let index = self.new_global(&setting.origin);
                    self.global = Some(index);
                    index
                }
            },
        };
        self.sections[index].settings.push(setting);
    }

    fn new_global(&mut self, origin: &Origin) -> usize {
        self.sections.push(Section {
            name: b"*".to_vec(),
            settings: Vec::new(),
            origin: origin.clone(),
            implicit: true,
        });
        self.sections.len() - 1
    }

    fn is_include(&self, setting: &Setting) -> bool {
        self.semantics == Semantics::Freebsd14
            && setting.form == Form::NameValue
            && !setting.is_var
            && setting.name == b".include"
    }

    fn include(&mut self, setting: &Setting, file: &Path, depth: usize) -> Result<(), ConfigError> {
        let fail = |problem| ConfigError::Syntax {
            file: file.to_path_buf(),
            line: setting.origin.line,
            problem,
        };
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(fail(SyntaxProblem::IncludeDepth));
        }
        for value in &setting.values {
            if !value.vars.is_empty() {
                return Err(fail(SyntaxProblem::IncludeVariable));
            }
            let pattern = String::from_utf8_lossy(&value.text).into_owned();
            let pattern = match Path::new(&pattern).is_absolute() {
                true => PathBuf::from(&pattern),
                false => file.parent().unwrap_or(Path::new("/")).join(&pattern),
            };
            self.includes.push(Include {
                origin: setting.origin.clone(),
                pattern: pattern.clone(),
            });
            let pattern_text = pattern.to_string_lossy().into_owned();
            let paths = if has_glob_magic(&pattern_text) {
                self.files
                    .glob(&pattern_text)
                    .map_err(|e| ConfigError::Read {
                        file: pattern.clone(),
                        message: e.to_string(),
                    })?
            } else {
                vec![pattern.clone()]
            };
            for path in paths {
                let text = self.files.read(&path).map_err(|e| ConfigError::Read {
                    file: path.clone(),
                    message: e.to_string(),
                })?;
                self.file(&text, &path, depth + 1)?;
            }
        }
        Ok(())
    }
}

/// Whether glob(3) would treat `pattern` as a pattern (`GLOB_MAGCHAR`).
fn has_glob_magic(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// How a parameter statement was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// `name;`
    Bare,
    /// `name = value;`
    Assign,
    /// `name += value;`
    Append,
    /// `name value;`
    NameValue,
}

struct Cursor<'t> {
    tokens: &'t [Token],
    at: usize,
    file: &'t Path,
    last_line: usize,
}

impl<'t> Cursor<'t> {
    fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.at)
    }

    fn peek_at(&self, ahead: usize) -> Option<&'t Token> {
        self.tokens.get(self.at + ahead)
    }

    fn next(&mut self) -> Option<&'t Token> {
        let token = self.tokens.get(self.at);
        self.at += 1;
        token
    }

    fn origin(&self, line: usize) -> Origin {
        Origin {
            file: self.file.to_path_buf(),
            line,
        }
    }

    fn unexpected(&self) -> ConfigError {
        match self.tokens.get(self.at) {
            Some(token) => ConfigError::Syntax {
                file: self.file.to_path_buf(),
                line: token.line,
                problem: SyntaxProblem::Unexpected(describe(&token.kind)),
            },
            None => ConfigError::Syntax {
                file: self.file.to_path_buf(),
                line: self.last_line,
                problem: SyntaxProblem::UnexpectedEnd,
            },
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), ConfigError> {
        match self.peek().map(|t| &t.kind) {
            Some(Kind::Char(got)) if *got == c => {
                self.at += 1;
                Ok(())
            }
            _ => Err(self.unexpected()),
        }
    }

    fn param(&mut self) -> Result<Setting, ConfigError> {
        let (name, is_var, line) = match self.next() {
            Some(Token {
                kind: Kind::Str { text, first: true },
                line,
            }) => (text.clone(), false, *line),
            Some(Token {
                kind: Kind::Var { name, first: true },
                line,
            }) => (name.clone(), true, *line),
            _ => {
                self.at -= 1;
                return Err(self.unexpected());
            }
        };
        let form = match self.peek().map(|t| &t.kind) {
            Some(Kind::Char(b'=')) => {
                self.at += 1;
                Form::Assign
            }
            Some(Kind::PlusEq) => {
                self.at += 1;
                Form::Append
            }
            Some(Kind::Str { first: true, .. } | Kind::Var { first: true, .. }) => Form::NameValue,
            _ => Form::Bare,
        };
        let mut values = Vec::new();
        if form != Form::Bare {
            values.push(self.string()?);
            while matches!(self.peek().map(|t| &t.kind), Some(Kind::Char(b','))) {
                self.at += 1;
                values.push(self.string()?);
            }
        }
        Ok(Setting {
            name,
            is_var,
            form,
            values,
            origin: self.origin(line),
        })
    }

    fn string(&mut self) -> Result<Text, ConfigError> {
        let mut text = Text::default();
        match self.peek().map(|t| &t.kind) {
            Some(Kind::Str {
                text: piece,
                first: true,
            }) => text.text.extend_from_slice(piece),
            Some(Kind::Var { name, first: true }) => text.vars.push((0, name.clone())),
            _ => return Err(self.unexpected()),
        }
        self.at += 1;
        loop {
            match self.peek().map(|t| &t.kind) {
                Some(Kind::Str {
                    text: piece,
                    first: false,
                }) => text.text.extend_from_slice(piece),
                Some(Kind::Var { name, first: false }) => {
                    text.vars.push((text.text.len(), name.clone()))
                }
                _ => return Ok(text),
            }
            self.at += 1;
        }
    }
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Str { text, .. } => format!("\"{}\"", String::from_utf8_lossy(text).escape_debug()),
        Kind::Var { name, .. } => format!("${{{}}}", String::from_utf8_lossy(name).escape_debug()),
        Kind::PlusEq => "+=".to_string(),
        Kind::Char(c) if c.is_ascii_graphic() => format!("'{}'", *c as char),
        Kind::Char(c) => format!("byte 0x{c:02x}"),
    }
}
