//! Where `.include` reads from: a trait, so the model runs on files in memory (tests,
//! plans against the world model) as well as on a host's files.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The files an `.include` can reach.
pub trait Files {
    /// The contents of `path`.
    fn read(&self, path: &Path) -> io::Result<String>;
    /// The existing paths glob(3) would give for the absolute `pattern` (`*`, `?`,
    /// `[…]` within one component; wildcards do not match a leading `.`), sorted.
    fn glob(&self, pattern: &str) -> io::Result<Vec<PathBuf>>;
    /// Whether `path` is a directory (rc(8)'s `[ -d ]`).
    fn is_dir(&self, _path: &Path) -> bool {
        false
    }
    /// Whether `path` can be read (rc(8)'s `[ -r ]`: a directory is readable too).
    fn readable(&self, path: &Path) -> bool {
        self.is_dir(path) || self.read(path).is_ok()
    }
}

/// No files at all: every read fails, every glob is empty.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFiles;

impl Files for NoFiles {
    fn read(&self, path: &Path) -> io::Result<String> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: No such file or directory", path.display()),
        ))
    }

    fn glob(&self, _pattern: &str) -> io::Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }
}

/// Files held in memory, by absolute path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryFiles(pub BTreeMap<PathBuf, String>);

impl MemoryFiles {
    /// No files yet.
    pub fn new() -> Self {
        MemoryFiles::default()
    }

    /// Adds (or replaces) a file.
    pub fn with(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.0.insert(path.into(), text.into());
        self
    }
}

impl Files for MemoryFiles {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| NoFiles.read(path).unwrap_err())
    }

    fn glob(&self, pattern: &str) -> io::Result<Vec<PathBuf>> {
        let mut found: Vec<PathBuf> = self
            .0
            .keys()
            .filter(|path| glob_matches(pattern, &path.to_string_lossy()))
            .cloned()
            .collect();
        found.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        Ok(found)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.0
            .keys()
            .any(|file| file != path && file.starts_with(path))
    }
}

/// Whether glob(3) would match `path` with `pattern`, component by component.
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    pattern.len() == path.len()
        && pattern.iter().zip(&path).all(|(p, n)| {
            let leading_dot_hidden = n.starts_with('.') && !p.starts_with('.');
            !(leading_dot_hidden && p.starts_with(['*', '?', '[']))
                && component_matches(p.as_bytes(), n.as_bytes())
        })
}

fn component_matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some(b'*') => (0..=name.len()).any(|k| component_matches(&pattern[1..], &name[k..])),
        Some(b'?') => !name.is_empty() && component_matches(&pattern[1..], &name[1..]),
        Some(b'[') => match (class(pattern), name.first()) {
            (Some((matched, len)), Some(&c)) => {
                matched(c) && component_matches(&pattern[len..], &name[1..])
            }
            (None, Some(&c)) => c == b'[' && component_matches(&pattern[1..], &name[1..]),
            (_, None) => false,
        },
        Some(b'\\') if pattern.len() > 1 => {
            name.first() == Some(&pattern[1]) && component_matches(&pattern[2..], &name[1..])
        }
        Some(&c) => name.first() == Some(&c) && component_matches(&pattern[1..], &name[1..]),
    }
}

/// A `[…]` class at the start of `pattern`: its test and its length, or `None` when
/// it is not closed (then `[` is literal).
#[allow(clippy::type_complexity)]
fn class(pattern: &[u8]) -> Option<(Box<dyn Fn(u8) -> bool>, usize)> {
    let mut i = 1;
    let negate = matches!(pattern.get(i), Some(b'!'));
    if negate {
        i += 1;
    }
    let mut ranges = Vec::new();
    let start = i;
    loop {
        let c = *pattern.get(i)?;
        if c == b']' && i > start {
            break;
        }
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&e| e != b']') {
            ranges.push((c, pattern[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    Some((
        Box::new(move |c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != negate),
        i + 1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_glob3() {
        assert!(glob_matches(
            "/etc/jail.conf.d/*.conf",
            "/etc/jail.conf.d/www.conf"
        ));
        assert!(!glob_matches(
            "/etc/jail.conf.d/*.conf",
            "/etc/jail.conf.d/.hidden.conf"
        ));
        assert!(!glob_matches(
            "/etc/jail.conf.d/*.conf",
            "/etc/jail.conf.d/a/b.conf"
        ));
        assert!(glob_matches(
            "/usr/local/etc/jail[.]conf",
            "/usr/local/etc/jail.conf"
        ));
        assert!(!glob_matches(
            "/usr/local/etc/jail[.]conf",
            "/usr/local/etc/jailxconf"
        ));
        assert!(glob_matches("/etc/jail.?.conf", "/etc/jail.a.conf"));
        assert!(glob_matches("/etc/[!a]*", "/etc/b"));
        assert!(!glob_matches("/etc/[!a]*", "/etc/a"));
        let files = MemoryFiles::new()
            .with("/etc/jail.conf.d/b.conf", "")
            .with("/etc/jail.conf.d/a.conf", "")
            .with("/etc/jail.conf", "");
        assert_eq!(
            files.glob("/etc/jail.conf.d/*.conf").unwrap(),
            [
                PathBuf::from("/etc/jail.conf.d/a.conf"),
                PathBuf::from("/etc/jail.conf.d/b.conf")
            ]
        );
    }
}
