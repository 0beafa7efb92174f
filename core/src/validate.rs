//! Recipe validation: every name, path and address is checked against what FreeBSD,
//! jail(8) and ZFS accept *before* anything is planned, and every problem is reported
//! with the field it is in.
//!
//! The `check_*` functions are public so other front ends (and the CLI's own
//! arguments, such as a jail name given to `thinjail start`) apply the same rules.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Component, Path};

use serde::Serialize;

use crate::recipe::{Install, ParamValue, Recipe};

/// One problem in a recipe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecipeError {
    /// Where it is, e.g. `jails[0].name`.
    pub field: String,
    /// What is wrong.
    pub problem: String,
    /// Line and column (1-based) in the recipe text, when known.
    pub position: Option<(usize, usize)>,
    /// The offending value, used to find its position.
    #[serde(skip)]
    value: Option<String>,
}

impl RecipeError {
    /// A problem in `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        RecipeError {
            field: field.into(),
            problem: problem.into(),
            position: None,
            value: None,
        }
    }

    fn with_value(mut self, value: &str) -> Self {
        self.value = Some(value.to_string());
        self
    }

    /// Converts a RON parse error, keeping its position and naming the field when RON does.
    pub fn from_ron(error: &ron::error::SpannedError) -> Self {
        use ron::Error as E;
        let field = match &error.code {
            E::NoSuchStructField { found, outer, .. } => match outer {
                Some(outer) => format!("{outer}.{found}"),
                None => found.clone(),
            },
            E::MissingStructField { field, outer } => match outer {
                Some(outer) => format!("{outer}.{field}"),
                None => field.to_string(),
            },
            E::DuplicateStructField { field, outer } => match outer {
                Some(outer) => format!("{outer}.{field}"),
                None => field.to_string(),
            },
            _ => "(syntax)".to_string(),
        };
        RecipeError {
            field,
            problem: error.code.to_string(),
            position: Some((error.span.start.line, error.span.start.col)),
            value: None,
        }
    }
}

impl fmt::Display for RecipeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, col)) = self.position {
            write!(f, "{line}:{col}: ")?;
        }
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// All problems found in one recipe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct RecipeErrors {
    /// The recipe's path or built-in name.
    pub origin: String,
    /// The problems, in recipe order.
    pub errors: Vec<RecipeError>,
}

impl RecipeErrors {
    /// Problems found in the recipe from `origin`.
    pub fn new(origin: &str, errors: Vec<RecipeError>) -> Self {
        RecipeErrors {
            origin: origin.to_string(),
            errors,
        }
    }

    /// Fills in positions for problems whose offending value appears in `text`.
    pub fn locate_in(mut self, text: &str) -> Self {
        for error in &mut self.errors {
            if error.position.is_some() {
                continue;
            }
            let Some(value) = &error.value else { continue };
            let needle = format!("\"{value}\"");
            if let Some(offset) = text.find(&needle).or_else(|| text.find(value.as_str())) {
                let before = &text[..offset];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                error.position = Some((line, col));
            }
        }
        self
    }
}

impl fmt::Display for RecipeErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        write!(
            f,
            "recipe {} has {count} problem{}:",
            self.origin,
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.errors {
            write!(f, "\n  {}:{error}", self.origin)?;
        }
        Ok(())
    }
}

/// Jail names we never accept because they would collide with our own layout.
pub const RESERVED_JAIL_NAMES: [&str; 2] = ["base", "skeleton"];

/// jail.conf(5) parameters thinjail derives and a recipe may not set.
pub const DERIVED_PARAMS: [&str; 4] = ["name", "path", "mount.fstab", "jid"];

/// Checks a jail name: what jail(8) accepts as a name (no `.`, not a number), what
/// works as a hostname label and a ZFS dataset component.
pub fn check_jail_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a jail name cannot be empty".into());
    }
    if name.len() > 63 {
        return Err(format!(
            "{} characters is too long (at most 63, the length of a hostname label)",
            name.len()
        ));
    }
    if name.contains('.') {
        return Err(
            "a jail name cannot contain `.` (jail(8) uses dots for hierarchical jails)".into(),
        );
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "{bad:?} is not allowed (use letters, digits, `_` and `-`)"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("a jail name must start with a letter or digit".into());
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err("a jail name cannot be a number (jail(8) would read it as a jail ID)".into());
    }
    if RESERVED_JAIL_NAMES.contains(&name) {
        return Err(format!("`{name}` is reserved for thinjail's own datasets"));
    }
    Ok(())
}

/// Checks a release name such as `13.1-RELEASE`, `14.0-RC2` or `15.0-CURRENT`.
pub fn check_release_name(name: &str) -> Result<(), String> {
    let expected = "expected a FreeBSD release name such as 13.1-RELEASE, 14.0-RC2 or 15.0-CURRENT";
    let Some((version, branch)) = name.split_once('-') else {
        return Err(expected.into());
    };
    let version_ok = version
        .split_once('.')
        .is_some_and(|(a, b)| is_digits(a) && is_digits(b));
    let (kind, patch) = match branch.split_once("-p") {
        Some((kind, patch)) if is_digits(patch) => (kind, Some(patch)),
        Some(_) => return Err(expected.into()),
        None => (branch, None),
    };
    let kind_ok = ["RELEASE", "STABLE", "CURRENT", "PRERELEASE"].contains(&kind)
        || ["ALPHA", "BETA", "RC"].iter().any(|prefix| {
            kind.strip_prefix(prefix)
                .is_some_and(|n| n.is_empty() || is_digits(n))
        });
    if version_ok && kind_ok && (patch.is_none() || kind == "RELEASE") {
        Ok(())
    } else {
        Err(expected.into())
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a ZFS filesystem name (`pool/a/b`): components of `[A-Za-z0-9_.:-]`, a pool
/// name starting with a letter, at most 255 bytes.
pub fn check_dataset_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a dataset name cannot be empty".into());
    }
    if name.len() > 255 {
        return Err("a ZFS dataset name is at most 255 bytes".into());
    }
    for (i, component) in name.split('/').enumerate() {
        if component.is_empty() {
            return Err("empty component (leading, trailing or double `/`)".into());
        }
        if component == "." || component == ".." {
            return Err(format!("`{component}` is not a dataset name"));
        }
        if let Some(bad) = component
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "_.:-".contains(*c)))
        {
            return Err(format!("{bad:?} is not allowed in a ZFS dataset name"));
        }
        if i == 0 && !component.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err("a pool name must start with a letter".into());
        }
    }
    Ok(())
}

/// Checks a host path the recipe names: absolute, no `.`/`..`/empty components, no
/// control characters, not `/` itself.
pub fn check_absolute_path(path: &Path) -> Result<(), String> {
    let text = path
        .to_str()
        .ok_or_else(|| "the path is not valid UTF-8".to_string())?;
    if !path.is_absolute() {
        return Err(format!("{text:?} is not an absolute path"));
    }
    check_path_text(text)?;
    if path.components().count() < 2 {
        return Err("the root directory itself cannot be used".into());
    }
    Ok(())
}

/// Checks a path relative to a jail's root, such as `usr/local`.
pub fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.starts_with('/') {
        return Err(format!(
            "{path:?} must be relative to the jail's root (no leading `/`)"
        ));
    }
    check_path_text(path)?;
    if let Some(bad) = path
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.-/+".contains(*c)))
    {
        return Err(format!("{bad:?} is not allowed here"));
    }
    Ok(())
}

fn check_path_text(text: &str) -> Result<(), String> {
    if text.chars().any(char::is_control) {
        return Err("the path contains a control character".into());
    }
    if text.len() > 1 && text.ends_with('/') {
        return Err("remove the trailing `/`".into());
    }
    if text.contains("//") {
        return Err("the path contains an empty component (`//`)".into());
    }
    for component in Path::new(text).components() {
        match component {
            Component::ParentDir => return Err("`..` is not allowed in paths".into()),
            Component::CurDir => return Err("`.` components are not allowed in paths".into()),
            _ => {}
        }
    }
    if text.split('/').any(|c| c == "." || c == "..") {
        return Err("`.` and `..` are not allowed in paths".into());
    }
    Ok(())
}

/// Checks an IPv4 address, optionally with a `/prefix`.
pub fn check_ip4(addr: &str) -> Result<(), String> {
    let (ip, prefix) = split_prefix(addr);
    ip.parse::<Ipv4Addr>()
        .map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
    check_prefix(addr, prefix, 32)
}

/// Checks an IPv6 address, optionally with a `/prefix`.
pub fn check_ip6(addr: &str) -> Result<(), String> {
    let (ip, prefix) = split_prefix(addr);
    ip.parse::<Ipv6Addr>()
        .map_err(|_| format!("{addr:?} is not an IPv6 address"))?;
    check_prefix(addr, prefix, 128)
}

fn split_prefix(addr: &str) -> (&str, Option<&str>) {
    match addr.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (addr, None),
    }
}

fn check_prefix(addr: &str, prefix: Option<&str>, max: u8) -> Result<(), String> {
    match prefix {
        None => Ok(()),
        Some(p) if p.parse::<u8>().is_ok_and(|n| n <= max) && is_digits(p) => Ok(()),
        Some(_) => Err(format!("{addr:?} has a bad prefix length (0 to {max})")),
    }
}

/// The address without its `/prefix`, for uniqueness checks.
pub fn address_without_prefix(addr: &str) -> &str {
    split_prefix(addr).0
}

/// Checks a jail.conf(5) parameter name such as `allow.raw_sockets`.
pub fn check_param_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
    if !ok {
        return Err(format!(
            "{name:?} is not a jail parameter name (like allow.raw_sockets)"
        ));
    }
    if DERIVED_PARAMS.contains(&name) {
        return Err(format!(
            "`{name}` is set by thinjail for each jail and cannot be overridden"
        ));
    }
    Ok(())
}

/// Checks an rc.conf(5) variable name (a sh variable name).
pub fn check_rc_var_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not an rc.conf variable name"))
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

/// Checks a network interface name (at most 15 characters, as IFNAMSIZ allows).
pub fn check_interface(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a network interface name"))
    }
}

/// Checks a mirror URL (`http`, `https`, `ftp` or `file`; no whitespace or quotes).
pub fn check_url(url: &str) -> Result<(), String> {
    let scheme_ok = ["http://", "https://", "ftp://", "file://"]
        .iter()
        .any(|s| url.starts_with(s) && url.len() > s.len());
    if !scheme_ok {
        return Err(format!("{url:?} is not an http, https, ftp or file URL"));
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"'`\\".contains(c))
    {
        return Err("the URL contains whitespace, quotes or backslashes".into());
    }
    Ok(())
}

/// Checks a distribution set file name such as `base.txz`.
pub fn check_set_name(name: &str) -> Result<(), String> {
    let ok = name.strip_suffix(".txz").is_some_and(|stem| {
        !stem.is_empty()
            && stem
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a distribution set name like base.txz"
        ))
    }
}

/// Checks a snapshot name (the part after `@`).
pub fn check_snapshot_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a snapshot name (letters, digits, `_.:-`)"
        ))
    }
}

/// Checks a stage name.
pub fn check_stage_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a stage name (letters, digits, `-`, `_`)"
        ))
    }
}

struct Collector(Vec<RecipeError>);

impl Collector {
    fn check(&mut self, field: impl Into<String>, value: &str, result: Result<(), String>) {
        if let Err(problem) = result {
            self.0
                .push(RecipeError::new(field, problem).with_value(value));
        }
    }
}

/// Validates a parsed recipe; an empty result means it is safe to plan.
pub fn validate(recipe: &Recipe) -> Vec<RecipeError> {
    let mut c = Collector(Vec::new());
    let host = &recipe.host;
    c.check(
        "host.jails_dataset",
        &host.jails_dataset,
        check_dataset_name(&host.jails_dataset),
    );
    if !host.jails_dataset.contains('/') {
        c.check(
            "host.jails_dataset",
            &host.jails_dataset,
            Err("use a dataset inside the pool (like zroot/jails), not the pool itself".into()),
        );
    }
    for (field, path) in [
        ("host.jails_dir", &host.jails_dir),
        ("host.jail_conf", &host.jail_conf),
        ("host.rc_conf", &host.rc_conf),
        ("host.cache_dir", &host.cache_dir),
        ("host.lock_file", &host.lock_file),
        ("host.plugin_dir", &host.plugin_dir),
    ] {
        c.check(
            field,
            &path.display().to_string(),
            check_absolute_path(path),
        );
    }
    for (field, path) in [
        ("host.jail_conf", &host.jail_conf),
        ("host.rc_conf", &host.rc_conf),
        ("host.cache_dir", &host.cache_dir),
    ] {
        if path.starts_with(&host.jails_dir) {
            c.check(
                field,
                &path.display().to_string(),
                Err(format!(
                    "must not be inside host.jails_dir ({})",
                    host.jails_dir.display()
                )),
            );
        }
    }
    if host.jail_conf == host.rc_conf {
        c.check(
            "host.rc_conf",
            &host.rc_conf.display().to_string(),
            Err("must differ from host.jail_conf".into()),
        );
    }
    if let Some(interface) = &host.interface {
        c.check("host.interface", interface, check_interface(interface));
    }

    if recipe.releases.is_empty() {
        c.0.push(RecipeError::new(
            "releases",
            "at least one release is needed",
        ));
    }
    let mut release_names = BTreeSet::new();
    for (i, release) in recipe.releases.iter().enumerate() {
        let field = format!("releases[{i}]");
        c.check(
            format!("{field}.name"),
            &release.name,
            check_release_name(&release.name),
        );
        if !release_names.insert(release.name.as_str()) {
            c.check(
                format!("{field}.name"),
                &release.name,
                Err(format!("release {} is listed twice", release.name)),
            );
        }
        let arch_ok = [
            "amd64",
            "arm64",
            "i386",
            "armv7",
            "powerpc64",
            "powerpc64le",
            "riscv64",
        ]
        .contains(&release.arch.as_str());
        if !arch_ok {
            c.check(
                format!("{field}.arch"),
                &release.arch,
                Err(format!(
                    "{:?} is not a FreeBSD platform (amd64, arm64, i386, …)",
                    release.arch
                )),
            );
        }
        if let Some(tarball) = &release.etcupdate {
            c.check(
                format!("{field}.etcupdate"),
                &tarball.display().to_string(),
                check_absolute_path(tarball),
            );
        }
        match &release.install {
            Install::Fetch { mirror, sets } | Install::Bsdinstall { mirror, sets } => {
                if let Some(url) = mirror {
                    c.check(format!("{field}.install.mirror"), url, check_url(url));
                }
                if sets.is_empty() {
                    c.0.push(RecipeError::new(
                        format!("{field}.install.sets"),
                        "at least base.txz is needed",
                    ));
                }
                for (k, set) in sets.iter().enumerate() {
                    c.check(
                        format!("{field}.install.sets[{k}]"),
                        set,
                        check_set_name(set),
                    );
                }
            }
            Install::Archive { path, manifest } => {
                c.check(
                    format!("{field}.install.path"),
                    &path.display().to_string(),
                    check_absolute_path(path),
                );
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                c.check(
                    format!("{field}.install.path"),
                    &path.display().to_string(),
                    check_set_name(name),
                );
                if let Some(manifest) = manifest {
                    c.check(
                        format!("{field}.install.manifest"),
                        &manifest.display().to_string(),
                        check_absolute_path(manifest),
                    );
                }
            }
        }
    }

    let mut specific: BTreeSet<String> = BTreeSet::new();
    for (i, path) in recipe.template.jail_specific.iter().enumerate() {
        let field = format!("template.jail_specific[{i}]");
        c.check(&field, path, check_relative_path(path));
        if path == "skeleton" || path.starts_with("skeleton/") || path == "dev" || path == "proc" {
            c.check(
                &field,
                path,
                Err(format!("`{path}` cannot be jail-specific")),
            );
        }
        for other in &specific {
            let nested = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
            if nested(path, other) || nested(other, path) {
                c.check(&field, path, Err(format!("overlaps with {other:?}")));
            }
        }
        specific.insert(path.clone());
    }
    for (name, value) in &recipe.template.rc_conf {
        let field = format!("template.rc_conf[{name:?}]");
        c.check(&field, name, check_rc_var_name(name));
        c.check(&field, value, check_config_value(value));
    }

    check_params(&mut c, "jail_params", &recipe.jail_params);

    let mut jail_names = BTreeSet::new();
    let mut addresses: BTreeSet<String> = BTreeSet::new();
    for (i, jail) in recipe.jails.iter().enumerate() {
        let field = format!("jails[{i}]");
        c.check(
            format!("{field}.name"),
            &jail.name,
            check_jail_name(&jail.name),
        );
        if !jail_names.insert(jail.name.as_str()) {
            c.check(
                format!("{field}.name"),
                &jail.name,
                Err(format!("jail {} is defined twice", jail.name)),
            );
        }
        if !release_names.contains(jail.release.as_str()) {
            c.check(
                format!("{field}.release"),
                &jail.release,
                Err(format!(
                    "release {:?} is not defined in `releases`",
                    jail.release
                )),
            );
        }
        for (k, addr) in jail.ip4.iter().enumerate() {
            c.check(format!("{field}.ip4[{k}]"), addr, check_ip4(addr));
            if !addresses.insert(address_without_prefix(addr).to_string()) {
                c.check(
                    format!("{field}.ip4[{k}]"),
                    addr,
                    Err(format!("address {addr} is used twice")),
                );
            }
        }
        for (k, addr) in jail.ip6.iter().enumerate() {
            c.check(format!("{field}.ip6[{k}]"), addr, check_ip6(addr));
            let canonical = address_without_prefix(addr)
                .parse::<Ipv6Addr>()
                .map_or_else(|_| addr.clone(), |ip| ip.to_string());
            if !addresses.insert(canonical) {
                c.check(
                    format!("{field}.ip6[{k}]"),
                    addr,
                    Err(format!("address {addr} is used twice")),
                );
            }
        }
        check_params(&mut c, &format!("{field}.params"), &jail.params);
    }

    let mut stage_names = BTreeSet::new();
    for (i, stage) in recipe.stages.iter().enumerate() {
        let field = format!("stages[{i}]");
        c.check(
            format!("{field}.name"),
            &stage.name,
            check_stage_name(&stage.name),
        );
        if !stage_names.insert(stage.name.as_str()) {
            c.check(
                format!("{field}.name"),
                &stage.name,
                Err(format!("stage {} is listed twice", stage.name)),
            );
        }
        if let Some(plugin) = &stage.plugin {
            let ok = if plugin.contains('/') {
                check_absolute_path(Path::new(plugin))
            } else {
                check_stage_name(plugin.trim_end_matches(".so")).map_err(|_| {
                    format!("{plugin:?} is neither an absolute path nor a plugin name")
                })
            };
            c.check(format!("{field}.plugin"), plugin, ok);
        }
    }
    c.0
}

fn check_params(
    c: &mut Collector,
    field: &str,
    params: &std::collections::BTreeMap<String, ParamValue>,
) {
    for (name, value) in params {
        let field = format!("{field}[{name:?}]");
        c.check(&field, name, check_param_name(name));
        let texts: Vec<&str> = match value {
            ParamValue::Text(s) => vec![s.as_str()],
            ParamValue::List(items) => items.iter().map(String::as_str).collect(),
            ParamValue::Flag(_) | ParamValue::Number(_) => vec![],
        };
        for text in texts {
            if text.contains('\0') {
                c.check(&field, text, Err("values cannot contain NUL".into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jail_names() {
        assert!(check_jail_name("thinjail0").is_ok());
        assert!(check_jail_name("web-1_a").is_ok());
        for bad in [
            "",
            "a.b",
            "a/b",
            "..",
            "a b",
            "a'b",
            "$(x)",
            "a\nb",
            "123",
            "-x",
            "base",
            "é",
            &"x".repeat(64),
        ] {
            assert!(check_jail_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn release_names() {
        for good in [
            "13.1-RELEASE",
            "14.0-RC2",
            "15.0-CURRENT",
            "14.1-BETA",
            "13.2-RELEASE-p4",
            "14-STABLE".replace("14-", "14.0-").as_str(),
        ] {
            assert!(check_release_name(good).is_ok(), "{good} refused");
        }
        for bad in [
            "13.1",
            "RELEASE",
            "13.1-release",
            "13.1-RELEASE/x",
            "../13.1-RELEASE",
            "13.1-RC2-p1",
        ] {
            assert!(check_release_name(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn datasets_and_paths() {
        assert!(check_dataset_name("zroot/jails").is_ok());
        for bad in [
            "",
            "zroot//jails",
            "zroot/../x",
            "1pool/x",
            "zroot/a b",
            "zroot/a@b",
        ] {
            assert!(check_dataset_name(bad).is_err(), "{bad} accepted");
        }
        assert!(check_absolute_path(Path::new("/usr/local/jails")).is_ok());
        for bad in ["usr/local", "/", "/a/../b", "/a/./b", "/a//b", "/a/\n"] {
            assert!(
                check_absolute_path(Path::new(bad)).is_err(),
                "{bad:?} accepted"
            );
        }
        assert!(check_relative_path("usr/local").is_ok());
        assert!(check_relative_path("/etc").is_err());
        assert!(check_relative_path("../etc").is_err());
    }

    #[test]
    fn addresses() {
        assert!(check_ip4("192.168.1.70").is_ok());
        assert!(check_ip4("192.168.1.70/24").is_ok());
        assert!(check_ip4("192.168.1.700").is_err());
        assert!(check_ip4("192.168.1.7/33").is_err());
        assert!(check_ip6("fd00::1/64").is_ok());
        assert!(check_ip6("fd00::g").is_err());
    }
}
