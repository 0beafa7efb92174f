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

use crate::jailconf::same_param;
use crate::recipe::{default_template_files, Install, ParamValue, Recipe, TemplateFile};

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
        // A message may quote the recipe (or RON's own error text may): whatever it
        // quotes reaches the terminal escaped, never as a live control sequence.
        write!(
            f,
            "{}: {}",
            escape_for_terminal(&self.field),
            escape_for_terminal(&self.problem)
        )
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
        let origin = escape_for_terminal(&self.origin);
        write!(
            f,
            "recipe {origin} has {count} problem{}:",
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.errors {
            write!(f, "\n  {origin}:{error}")?;
        }
        Ok(())
    }
}

/// Jail names we never accept because they would collide with our own layout.
pub const RESERVED_JAIL_NAMES: [&str; 2] = ["base", "skeleton"];

/// jail.conf(5) parameters thinjail derives and a recipe may not set, in any spelling
/// jail(8) takes for them (`nopath`, `mount.nofstab`, `nojid`: see
/// [`crate::jailconf::same_param`]).
pub const DERIVED_PARAMS: [&str; 4] = ["name", "path", "mount.fstab", "jid"];

/// Parameters thinjail derives unless the recipe sets them: only in this spelling,
/// never with a `no` (`nohost.hostname` would be written as a second, broken line).
pub const OVERRIDABLE_PARAMS: [&str; 4] = ["host.hostname", "ip4.addr", "ip6.addr", "interface"];

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

/// Checks that `name` is spelled like a FreeBSD release or branch name, such as
/// `13.1-RELEASE`, `14.0-RC2`, `15.0-CURRENT` or `14.3-RELEASE-p4`: the names that
/// can appear on a host (the cli accepts them to name an existing base). Whether a
/// recipe may *install* it is [`check_installable_release`].
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

/// The hardware platforms a release's `arch` may name (the mirror's `<arch>`
/// directories that hold distribution sets).
pub const PLATFORMS: [&str; 7] = [
    "amd64",
    "arm64",
    "i386",
    "armv7",
    "powerpc64",
    "powerpc64le",
    "riscv64",
];

/// Checks that release `name` for platform `arch` exists as distribution sets on
/// FreeBSD's release mirrors, so that a recipe naming anything else is refused here
/// instead of by a 404 in the middle of an install.
///
/// FreeBSD's release tooling (`release/Makefile.mirrors` in freebsd-src) publishes
/// `<REVISION>-RELEASE`, `-BETAn` and `-RCn` builds under `releases/<machine>/<arch>/`;
/// `-CURRENT`, `-STABLE`, `-PRERELEASE` and `-ALPHAn` builds are weekly snapshots
/// under `snapshots/`, replaced under the same name, which neither a MANIFEST pin nor
/// freebsd-update can follow. Patch levels (`-pN`) are never published as sets:
/// freebsd-update applies them to an installed `-RELEASE`. FreeBSD 15.0 retired the
/// i386, armv6 and 32-bit powerpc platforms (its release notes,
/// <https://www.freebsd.org/releases/15.0R/relnotes/>): there are no sets for them.
pub fn check_installable_release(name: &str, arch: &str) -> Result<(), String> {
    check_release_name(name)?;
    let (version, branch) = name.split_once('-').unwrap_or((name, ""));
    if let Some((_, patch)) = branch.split_once("-p") {
        return Err(format!(
            "patch levels are not published as distribution sets; name {version}-RELEASE \
             (without -p{patch}) and let `thinjail update` apply the patches"
        ));
    }
    let numbered = |prefix: &str| {
        branch
            .strip_prefix(prefix)
            .is_some_and(|n| is_digits(n) && n != "0")
    };
    if branch != "RELEASE" && !numbered("BETA") && !numbered("RC") {
        return Err(format!(
            "-{branch} builds are snapshots, published under snapshots/ and replaced every \
             week under the same name; only -RELEASE, -BETAn and -RCn releases have \
             distribution sets on the release mirrors"
        ));
    }
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major >= 15 && arch == "i386" {
        return Err(format!(
            "FreeBSD 15.0 retired the i386 platform (and armv6 and 32-bit powerpc): there \
             is no {name} for i386; use amd64 (its lib32.txz runs i386 programs) or a 14.x release"
        ));
    }
    Ok(())
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

/// Checks a path that jail(8) reads from a jail's `mount.fstab` or puts into a shell
/// command line: `jails_dir`, from which every jail's root, base and fstab derive.
///
/// jail(8) reads `mount.fstab` with fgetln(3), cuts each line at the first `#` and
/// splits it on blanks, without decoding `\040` escapes (`check_intparams` in
/// usr.sbin/jail/config.c, `IP__MOUNT_FROM_FSTAB` in usr.sbin/jail/command.c); and it
/// mounts devfs by running `sh -c ". /etc/rc.subr; load_rc_config .; devfs_mount_jail
/// PATH/dev"` with the path unquoted (`IP_MOUNT_DEVFS` in command.c). So only the
/// characters a POSIX shell reads literally in an unquoted word can work: ASCII
/// letters, digits and `_@%+=:,./-`.
pub fn check_jail_visible_path(path: &Path) -> Result<(), String> {
    let text = path.to_str().unwrap_or_default();
    match text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(*c)))
    {
        None => Ok(()),
        Some(bad) => Err(format!(
            "{} cannot be used here: jail(8) splits mount.fstab lines on blanks and cuts them \
             at `#` without decoding escapes, and runs mount.devfs through sh -c with the path \
             unquoted; use only letters, digits and _@%+=:,./-",
            describe_char(bad)
        )),
    }
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        c if is_terminal_unsafe(c) => format!("U+{:04X}", u32::from(c)),
        c => format!("{c:?}"),
    }
}

/// Directories that must never be `jails_dir` or `cache_dir`, nor lie below either
/// of them: hier(7)'s top-level directories and those below `/usr`, `/usr/local` and
/// `/var` that the base system and packages own. `jails_dir` becomes a ZFS mountpoint
/// (mounting over one of these hides the host's own files, and `destroy` removes
/// things below it); `cache_dir` is created private to root.
pub const CRITICAL_DIRS: [&str; 38] = [
    "/",
    "/bin",
    "/boot",
    "/compat",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/libexec",
    "/media",
    "/mnt",
    "/net",
    "/proc",
    "/rescue",
    "/root",
    "/sbin",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/home",
    "/usr/include",
    "/usr/lib",
    "/usr/lib32",
    "/usr/libexec",
    "/usr/local",
    "/usr/local/bin",
    "/usr/local/etc",
    "/usr/local/lib",
    "/usr/local/sbin",
    "/usr/sbin",
    "/usr/share",
    "/usr/src",
    "/var",
    "/var/db",
    "/var/empty",
    "/var/log",
    "/var/run",
    "/var/tmp",
];

/// Directories no file thinjail writes (`jail_conf`, `rc_conf`, `lock_file`) and no
/// cache may be in: what the base system installs and an upgrade replaces (hier(7):
/// programs, libraries, `/boot`, device and process file systems), and the `/etc`
/// directories whose every file is read as a command or a policy (rc.d, periodic,
/// pam.d, cron.d, defaults, ssh, ssl, mtree).
pub const SYSTEM_DIRS: [&str; 23] = [
    "/bin",
    "/boot",
    "/dev",
    "/lib",
    "/libexec",
    "/proc",
    "/rescue",
    "/sbin",
    "/usr/bin",
    "/usr/include",
    "/usr/lib",
    "/usr/lib32",
    "/usr/libexec",
    "/usr/sbin",
    "/usr/share",
    "/etc/cron.d",
    "/etc/defaults",
    "/etc/mtree",
    "/etc/pam.d",
    "/etc/periodic",
    "/etc/rc.d",
    "/etc/ssh",
    "/etc/ssl",
];

/// Files that `jail_conf`, `rc_conf` and `lock_file` may never be: those that decide
/// who can log in and with what privilege (the password and group databases,
/// login.conf, login.access, shells, ttys), what is mounted and run at boot (fstab,
/// sysctl.conf, rc, rc.subr, rc.shutdown, devfs.conf, devfs.rules; loader.conf is in
/// `/boot`), what runs on a schedule (crontab) and how names resolve (hosts,
/// resolv.conf, nsswitch.conf). thinjail edits its files in place and creates its
/// lock; aimed at one of these, either would damage the host.
pub const SYSTEM_FILES: [&str; 22] = [
    "/etc/passwd",
    "/etc/master.passwd",
    "/etc/group",
    "/etc/pwd.db",
    "/etc/spwd.db",
    "/etc/login.conf",
    "/etc/login.conf.db",
    "/etc/login.access",
    "/etc/shells",
    "/etc/ttys",
    "/etc/fstab",
    "/etc/sysctl.conf",
    "/etc/rc",
    "/etc/rc.subr",
    "/etc/rc.shutdown",
    "/etc/devfs.conf",
    "/etc/devfs.rules",
    "/etc/crontab",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/localtime",
];

/// Checks a file thinjail writes on the host (`jail_conf`, `rc_conf`, `lock_file`):
/// not one of [`SYSTEM_FILES`], not in one of [`SYSTEM_DIRS`].
pub fn check_host_file(path: &Path) -> Result<(), String> {
    if SYSTEM_FILES.iter().any(|f| path == Path::new(f)) {
        return Err(format!(
            "{} is a system file (it decides logins, boot, scheduled jobs or name \
             resolution); thinjail must never write it",
            path.display()
        ));
    }
    check_outside_system_dirs(path)
}

fn check_outside_system_dirs(path: &Path) -> Result<(), String> {
    match SYSTEM_DIRS.iter().find(|d| path.starts_with(d)) {
        Some(dir) => Err(format!(
            "{} is inside {dir}, which the base system owns; thinjail must never write there",
            path.display()
        )),
        None => Ok(()),
    }
}

/// Checks a directory that becomes a mountpoint or a private cache (`jails_dir`,
/// `cache_dir`): neither one of [`CRITICAL_DIRS`] nor a parent of one, nor inside
/// one of [`SYSTEM_DIRS`].
pub fn check_host_dir(path: &Path) -> Result<(), String> {
    if let Some(critical) = CRITICAL_DIRS
        .iter()
        .find(|d| Path::new(d).starts_with(path))
    {
        return Err(if Path::new(critical) == path {
            format!("{critical} is a system directory; use a directory of thinjail's own")
        } else {
            format!(
                "{} contains the system directory {critical}; use a directory of thinjail's own",
                path.display()
            )
        });
    }
    check_outside_system_dirs(path)
}

/// Checks an IPv4 address, optionally with a `/prefix`: a jail's own address, so
/// neither the unspecified address `0.0.0.0` (a jail bound to it shares every
/// address of the host) nor a `/0` prefix (an alias that claims every network).
pub fn check_ip4(addr: &str) -> Result<(), String> {
    let (ip, prefix) = split_prefix(addr);
    let ip = ip
        .parse::<Ipv4Addr>()
        .map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
    check_prefix(addr, prefix, 32)?;
    if ip.is_unspecified() {
        return Err(
            "0.0.0.0 is not an address of its own: a jail with it would use every address of the host"
                .into(),
        );
    }
    Ok(())
}

/// Checks an IPv6 address, optionally with a `/prefix`; as [`check_ip4`], `::` and
/// `/0` are refused.
pub fn check_ip6(addr: &str) -> Result<(), String> {
    let (ip, prefix) = split_prefix(addr);
    let ip = ip
        .parse::<Ipv6Addr>()
        .map_err(|_| format!("{addr:?} is not an IPv6 address"))?;
    check_prefix(addr, prefix, 128)?;
    if ip.is_unspecified() {
        return Err(
            ":: is not an address of its own: a jail with it would use every address of the host"
                .into(),
        );
    }
    Ok(())
}

/// Whether `addr` (with or without a prefix) is a loopback address (127.0.0.0/8, ::1).
pub fn is_loopback(addr: &str) -> bool {
    let ip = address_without_prefix(addr);
    ip.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        || ip.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback())
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
        Some(p) if p.parse::<u8>().is_ok_and(|n| (1..=max).contains(&n)) && is_digits(p) => Ok(()),
        Some(_) => Err(format!(
            "{addr:?} has a bad prefix length (1 to {max}; /0 would claim every network)"
        )),
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
    if let Some(derived) = DERIVED_PARAMS.iter().find(|d| same_param(name, d)) {
        return Err(if name == *derived {
            format!("`{name}` is set by thinjail for each jail and cannot be overridden")
        } else {
            format!(
                "`{name}` is jail(8)'s spelling of `{derived}`, which thinjail sets for each jail and cannot be overridden"
            )
        });
    }
    if let Some(derived) = OVERRIDABLE_PARAMS
        .iter()
        .find(|d| same_param(name, d) && name != **d)
    {
        return Err(format!(
            "`{name}` is jail(8)'s spelling of `{derived}`; set `{derived}` itself to override what thinjail derives"
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

/// Whether a mirror URL authenticates what it serves by itself: `https://`, or a
/// `file://` tree on the host. Anything else needs the recipe's `insecure: true` or a
/// pinned `manifest_sha256`.
pub fn is_authenticated_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("file://")
}

/// Checks a SHA-256 given in the recipe: 64 hexadecimal digits.
pub fn check_sha256(digest: &str) -> Result<(), String> {
    if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err("expected a SHA-256: 64 hexadecimal digits, as in the MANIFEST's own checksum".into())
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
    check_host(recipe, &mut c);
    let release_names = check_releases(recipe, &mut c);

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
    check_template_files(&mut c, recipe);

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
        check_addresses(recipe, jail, &field, &mut addresses, &mut c);
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
            if plugin.contains('/') {
                // A jail's uid 0 is the host's: a library it can replace must never load.
                check_outside_jails_dir(
                    &mut c,
                    &format!("{field}.plugin"),
                    Path::new(plugin),
                    &recipe.host.jails_dir,
                );
            }
        }
    }
    check_every_string(recipe, &mut c);
    c.0
}

/// The host section: every path absolute and clean, `jails_dir` readable by jail(8)
/// and not a system directory, thinjail's own files distinct and none of them a
/// system file, nothing the host trusts inside `jails_dir` (a jail's root owns what
/// is in there).
fn check_host(recipe: &Recipe, c: &mut Collector) {
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
        ("host.jail_conf_dir", &host.jail_conf_dir),
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
    // `/` is the running system's root: the one host path that may be the root.
    if host.system_root != Path::new("/") {
        c.check(
            "host.system_root",
            &host.system_root.display().to_string(),
            check_absolute_path(&host.system_root),
        );
    }
    let jails_dir = host.jails_dir.display().to_string();
    c.check(
        "host.jails_dir",
        &jails_dir,
        check_jail_visible_path(&host.jails_dir),
    );
    c.check(
        "host.jails_dir",
        &jails_dir,
        check_host_dir(&host.jails_dir),
    );
    c.check(
        "host.cache_dir",
        &host.cache_dir.display().to_string(),
        check_host_dir(&host.cache_dir),
    );
    c.check(
        "host.jail_conf_dir",
        &host.jail_conf_dir.display().to_string(),
        check_host_dir(&host.jail_conf_dir),
    );
    // thinjail names its files there after jails, and rc(8) reads them as jail.conf.
    for (field, path) in [
        ("host.jail_conf", &host.jail_conf),
        ("host.rc_conf", &host.rc_conf),
        ("host.lock_file", &host.lock_file),
    ] {
        if path.starts_with(&host.jail_conf_dir) {
            c.check(
                field,
                &path.display().to_string(),
                Err(format!(
                    "must not be inside host.jail_conf_dir ({}), where thinjail keeps one file per jail",
                    host.jail_conf_dir.display()
                )),
            );
        }
    }
    // The boot configuration thinjail reads and writes is the system's below its root.
    for (field, path) in [
        ("host.jail_conf", &host.jail_conf),
        ("host.jail_conf_dir", &host.jail_conf_dir),
        ("host.rc_conf", &host.rc_conf),
    ] {
        if !path.starts_with(&host.system_root) {
            c.check(
                field,
                &path.display().to_string(),
                Err(format!(
                    "must be inside host.system_root ({}), the system whose boot configuration it is",
                    host.system_root.display()
                )),
            );
        }
    }
    for (field, path) in [
        ("host.jail_conf", &host.jail_conf),
        ("host.rc_conf", &host.rc_conf),
        ("host.lock_file", &host.lock_file),
    ] {
        c.check(field, &path.display().to_string(), check_host_file(path));
    }
    // A lock is run-time state (hier(7): /var/run), never a configuration file.
    for config_dir in ["/etc", "/usr/local/etc"] {
        if host.lock_file.starts_with(config_dir) {
            c.check(
                "host.lock_file",
                &host.lock_file.display().to_string(),
                Err(format!(
                    "a lock file does not belong in {config_dir}; use /var/run/thinjail.lock"
                )),
            );
        }
    }
    for (field, path) in [
        ("host.jail_conf", &host.jail_conf),
        ("host.jail_conf_dir", &host.jail_conf_dir),
        ("host.rc_conf", &host.rc_conf),
        ("host.cache_dir", &host.cache_dir),
        ("host.lock_file", &host.lock_file),
        ("host.plugin_dir", &host.plugin_dir),
    ] {
        check_outside_jails_dir(c, field, path, &host.jails_dir);
    }
    let files = [
        ("host.jail_conf", &host.jail_conf),
        ("host.rc_conf", &host.rc_conf),
        ("host.lock_file", &host.lock_file),
    ];
    for (i, (field, path)) in files.iter().enumerate() {
        if let Some((other, _)) = files[..i].iter().find(|(_, p)| p == path) {
            c.check(
                *field,
                &path.display().to_string(),
                Err(format!("must differ from {other}")),
            );
        }
    }
    if let Some(interface) = &host.interface {
        c.check("host.interface", interface, check_interface(interface));
    }
}

/// A path the host trusts (reads as its own configuration, or writes) must not be
/// where a jail's root can put files or links: anywhere inside `jails_dir`.
fn check_outside_jails_dir(c: &mut Collector, field: &str, path: &Path, jails_dir: &Path) {
    if path.starts_with(jails_dir) {
        c.check(
            field,
            &path.display().to_string(),
            Err(format!(
                "must not be inside host.jails_dir ({}), where jails' root users control files",
                jails_dir.display()
            )),
        );
    }
}

/// The releases: installable names, known platforms, local files outside
/// `jails_dir`, and mirrors that authenticate what they serve. Returns their names.
fn check_releases<'a>(recipe: &'a Recipe, c: &mut Collector) -> BTreeSet<&'a str> {
    let jails_dir = &recipe.host.jails_dir;
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
            check_installable_release(&release.name, &release.arch),
        );
        if !release_names.insert(release.name.as_str()) {
            c.check(
                format!("{field}.name"),
                &release.name,
                Err(format!("release {} is listed twice", release.name)),
            );
        }
        if !PLATFORMS.contains(&release.arch.as_str()) {
            c.check(
                format!("{field}.arch"),
                &release.arch,
                Err(format!(
                    "{:?} is not a FreeBSD platform with distribution sets ({})",
                    release.arch,
                    PLATFORMS.join(", ")
                )),
            );
        }
        if let Some(tarball) = &release.etcupdate {
            let etcupdate = format!("{field}.etcupdate");
            c.check(
                &etcupdate,
                &tarball.display().to_string(),
                check_absolute_path(tarball),
            );
            check_outside_jails_dir(c, &etcupdate, tarball, jails_dir);
        }
        match &release.install {
            Install::Fetch {
                mirror,
                sets,
                insecure,
                manifest_sha256,
            } => {
                if let Some(pin) = manifest_sha256 {
                    c.check(
                        format!("{field}.install.manifest_sha256"),
                        pin,
                        check_sha256(pin),
                    );
                }
                check_mirror(
                    c,
                    &field,
                    mirror.as_deref(),
                    *insecure,
                    manifest_sha256.is_some(),
                );
                check_sets(c, &field, sets);
            }
            Install::Bsdinstall {
                mirror,
                sets,
                insecure,
            } => {
                check_mirror(c, &field, mirror.as_deref(), *insecure, false);
                check_sets(c, &field, sets);
            }
            Install::Archive { path, manifest } => {
                let path_field = format!("{field}.install.path");
                c.check(
                    &path_field,
                    &path.display().to_string(),
                    check_absolute_path(path),
                );
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                c.check(
                    &path_field,
                    &path.display().to_string(),
                    check_set_name(name),
                );
                check_outside_jails_dir(c, &path_field, path, jails_dir);
                if let Some(manifest) = manifest {
                    let manifest_field = format!("{field}.install.manifest");
                    c.check(
                        &manifest_field,
                        &manifest.display().to_string(),
                        check_absolute_path(manifest),
                    );
                    check_outside_jails_dir(c, &manifest_field, manifest, jails_dir);
                }
            }
        }
    }
    release_names
}

/// A mirror must be a URL, and one that authenticates what it serves (`https://`,
/// `file://`) unless the MANIFEST is pinned or the recipe accepts the risk.
fn check_mirror(
    c: &mut Collector,
    release_field: &str,
    mirror: Option<&str>,
    insecure: bool,
    pinned: bool,
) {
    let Some(url) = mirror else { return };
    let field = format!("{release_field}.install.mirror");
    c.check(&field, url, check_url(url));
    if check_url(url).is_ok() && !is_authenticated_url(url) && !insecure && !pinned {
        c.check(
            &field,
            url,
            Err(
                "is neither https nor file: anyone on the network path could choose what is \
                 installed; use an https mirror, pin the MANIFEST with manifest_sha256, or say \
                 insecure: true"
                    .into(),
            ),
        );
    }
}

fn check_sets(c: &mut Collector, release_field: &str, sets: &[String]) {
    if sets.is_empty() {
        c.0.push(RecipeError::new(
            format!("{release_field}.install.sets"),
            "at least base.txz is needed",
        ));
    }
    for (k, set) in sets.iter().enumerate() {
        c.check(
            format!("{release_field}.install.sets[{k}]"),
            set,
            check_set_name(set),
        );
    }
}

/// A jail's addresses: valid, its own (each used once in the recipe), and no
/// loopback address added to an interface that is not a loopback one.
fn check_addresses(
    recipe: &Recipe,
    jail: &crate::recipe::Jail,
    field: &str,
    addresses: &mut BTreeSet<String>,
    c: &mut Collector,
) {
    let interface = recipe.host.interface.as_deref();
    let lists = [
        (
            "ip4",
            &jail.ip4,
            check_ip4 as fn(&str) -> Result<(), String>,
        ),
        ("ip6", &jail.ip6, check_ip6),
    ];
    for (family, list, check) in lists {
        for (k, addr) in list.iter().enumerate() {
            let field = format!("{field}.{family}[{k}]");
            c.check(&field, addr, check(addr));
            // One spelling per address: `fd00::1` and `fd00:0::1` are the same.
            let canonical = match address_without_prefix(addr).parse::<std::net::IpAddr>() {
                Ok(ip) => ip.to_string(),
                Err(_) => addr.clone(),
            };
            if !addresses.insert(canonical) {
                c.check(&field, addr, Err(format!("address {addr} is used twice")));
            }
            if let Some(interface) = interface.filter(|i| !i.starts_with("lo")) {
                if is_loopback(addr) {
                    c.check(
                        &field,
                        addr,
                        Err(format!(
                            "a loopback address cannot be added to {interface}, which is not a \
                             loopback interface (use a cloned lo1, or no interface)"
                        )),
                    );
                }
            }
        }
    }
}

/// Every string of the recipe — names, paths, map keys and values, list elements,
/// stage names and configurations, plugin names — is refused when it holds a
/// character [`is_terminal_unsafe`] refuses, with its field named. The walk goes over
/// the recipe's serialized form, so a field added later is covered without a change
/// here.
fn check_every_string(recipe: &Recipe, c: &mut Collector) {
    match serde_json::to_value(recipe) {
        Ok(value) => walk_strings(&value, "", false, c),
        Err(e) => c.0.push(RecipeError::new(
            "(recipe)",
            format!("cannot be inspected: {e}"),
        )),
    }
    for (i, stage) in recipe.stages.iter().enumerate() {
        if let Some(config) = &stage.config {
            check_stage_config(c, &format!("stages[{i}].config"), config);
        }
    }
}

/// Maps in the recipe whose keys are the recipe's own data, named `field["key"]`.
const MAP_FIELDS: [&str; 3] = ["jail_params", "params", "rc_conf"];

fn walk_strings(value: &serde_json::Value, field: &str, in_map: bool, c: &mut Collector) {
    use serde_json::Value;
    match value {
        Value::String(text) => c.check(field, text, check_terminal_safe(text)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_strings(item, &format!("{field}[{i}]"), false, c);
            }
        }
        Value::Object(members) => {
            for (key, inner) in members {
                let inner_field = if in_map {
                    let named = format!("{field}[{key:?}]");
                    c.check(&named, key, check_terminal_safe(key));
                    named
                } else if key.starts_with(|k: char| k.is_ascii_uppercase()) {
                    // An enum variant's tag (`Fetch`): not a field of its own.
                    field.to_string()
                } else if field.is_empty() {
                    key.clone()
                } else {
                    format!("{field}.{key}")
                };
                // Stage configurations are checked from their RON text; template
                // files may hold newlines and tabs (check_template_files).
                if !in_map
                    && ((key == "config" && field.starts_with("stages["))
                        || (key == "files" && field == "template"))
                {
                    continue;
                }
                let is_map = !in_map && MAP_FIELDS.contains(&key.as_str());
                walk_strings(inner, &inner_field, is_map, c);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A stage's configuration is RON text parsed by the stage: its layout may use tabs
/// and newlines, but no other control character, and no string inside it may hold
/// any character [`is_terminal_unsafe`] refuses (escapes such as `\u{1b}` included).
fn check_stage_config(c: &mut Collector, field: &str, text: &str) {
    let layout = text.replace(['\n', '\t', '\r'], " ");
    c.check(field, text, check_terminal_safe(&layout));
    // Text that is not RON is left to the stage, which reports it with its own error.
    if let Ok(value) = ron::from_str::<ron::Value>(text) {
        check_ron_strings(c, field, &value);
    }
}

fn check_ron_strings(c: &mut Collector, field: &str, value: &ron::Value) {
    use ron::Value;
    match value {
        Value::String(text) => c.check(field, text, check_terminal_safe(text)),
        Value::Char(ch) => {
            let text = ch.to_string();
            c.check(field, &text, check_terminal_safe(&text));
        }
        Value::Seq(items) => items.iter().for_each(|v| check_ron_strings(c, field, v)),
        Value::Map(map) => {
            for (key, inner) in map.iter() {
                check_ron_strings(c, field, key);
                check_ron_strings(c, field, inner);
            }
        }
        Value::Option(Some(inner)) => check_ron_strings(c, field, inner),
        _ => {}
    }
}

/// `template.files`: each path inside a jail-specific path (the template holds
/// nothing else; a default entry outside them is skipped, not an error), each host
/// file absolute and outside `jails_dir` (a jail's root controls what is in there).
fn check_template_files(c: &mut Collector, recipe: &Recipe) {
    let defaults = default_template_files();
    for (path, source) in &recipe.template.files {
        let field = format!("template.files[{path:?}]");
        c.check(&field, path, check_relative_path(path));
        if !recipe.template.holds(path) && defaults.get(path) != Some(source) {
            c.check(
                &field,
                path,
                Err(format!(
                    "{path:?} is not inside a jail-specific path ({}); the template holds nothing else",
                    recipe.template.jail_specific.join(", ")
                )),
            );
        }
        match source {
            TemplateFile::Host(host) => {
                let text = host.display().to_string();
                c.check(&field, &text, check_absolute_path(host));
                c.check(&field, &text, check_terminal_safe(&text));
                if host.starts_with(&recipe.host.jails_dir) {
                    c.check(
                        &field,
                        &text,
                        Err(format!(
                            "must not be inside host.jails_dir ({}): the jails control what is there",
                            recipe.host.jails_dir.display()
                        )),
                    );
                }
            }
            TemplateFile::Contents(contents) => {
                // Lines and tabs are a file's layout; nothing else may reach the
                // terminal that shows the plan.
                let layout = contents.replace(['\n', '\t'], " ");
                c.check(&field, contents, check_terminal_safe(&layout));
            }
        }
    }
}

fn check_params(
    c: &mut Collector,
    field: &str,
    params: &std::collections::BTreeMap<String, ParamValue>,
) {
    for (name, value) in params {
        let field = format!("{field}[{name:?}]");
        c.check(&field, name, check_param_name(name));
        if let Some(other) = params
            .keys()
            .find(|other| *other < name && same_param(other, name))
        {
            c.check(
                &field,
                name,
                Err(format!(
                    "`{other}` and `{name}` are one parameter for jail(8) (a `no` prefix negates or names the same parameter); keep one"
                )),
            );
        }
        if matches!(value, ParamValue::List(items) if items.is_empty()) {
            c.check(
                &field,
                name,
                Err("an empty list cannot be written to jail.conf (`name = ;` is a syntax error, and jail(8) then refuses the whole file); leave the parameter out, or set false for a flag".into()),
            );
        }
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
    fn derived_params_are_refused_in_every_spelling() {
        for bad in [
            "name",
            "noname",
            "path",
            "nopath",
            "mount.fstab",
            "mount.nofstab",
            "nomount.fstab",
            "jid",
            "nojid",
            "nohost.hostname",
            "host.nohostname",
            "ip4.noaddr",
            "noip6.addr",
            "nointerface",
        ] {
            assert!(check_param_name(bad).is_err(), "{bad} accepted");
        }
        for good in [
            "host.hostname",
            "ip4.addr",
            "interface",
            "allow.noraw_sockets",
            "exec.noclean",
            "mount.nodevfs",
            "paths",
        ] {
            assert!(check_param_name(good).is_ok(), "{good} refused");
        }
    }

    #[test]
    fn params_refuse_empty_lists_and_two_spellings_of_one_parameter() {
        let recipe = |params: &str| {
            format!(
                r#"(releases: [(name: "14.3-RELEASE")], jail_params: {{"allow.raw_sockets": true}},
                    jails: [(name: "www", release: "14.3-RELEASE", params: {params})])"#
            )
        };
        let problems = |params: &str| match Recipe::from_ron(&recipe(params), "t") {
            Ok(_) => vec![],
            Err(e) => e.errors,
        };
        let empty = problems(r#"{"exec.poststart": []}"#);
        assert_eq!(empty.len(), 1, "{empty:?}");
        assert_eq!(empty[0].field, r#"jails[0].params["exec.poststart"]"#);
        assert!(
            empty[0].problem.contains("empty list"),
            "{}",
            empty[0].problem
        );
        let twice = problems(r#"{"allow.mount": true, "allow.nomount": true}"#);
        assert_eq!(twice.len(), 1, "{twice:?}");
        assert!(
            twice[0].problem.contains("one parameter"),
            "{}",
            twice[0].problem
        );
        // The jail's own spelling may differ from jail_params': it replaces it.
        assert!(problems(r#"{"allow.noraw_sockets": true}"#).is_empty());
        for derived in ["mount.nofstab", "nopath", "nojid", "nohost.hostname"] {
            let found = problems(&format!(r#"{{"{derived}": "x"}}"#));
            assert_eq!(found.len(), 1, "{derived}: {found:?}");
            assert_eq!(found[0].field, format!(r#"jails[0].params["{derived}"]"#));
        }
    }

    #[test]
    fn addresses() {
        assert!(check_ip4("192.168.1.70").is_ok());
        assert!(check_ip4("192.168.1.70/24").is_ok());
        assert!(check_ip4("192.168.1.70/32").is_ok());
        assert!(
            check_ip4("127.0.0.2").is_ok(),
            "loopback is checked per interface"
        );
        assert!(check_ip4("192.168.1.700").is_err());
        assert!(check_ip4("192.168.1.7/33").is_err());
        assert!(check_ip6("fd00::1/64").is_ok());
        assert!(check_ip6("fd00::1/128").is_ok());
        assert!(check_ip6("fd00::g").is_err());
        for unspecified in ["0.0.0.0", "0.0.0.0/8", "0.0.0.0/32"] {
            assert!(check_ip4(unspecified).is_err(), "{unspecified} accepted");
        }
        for unspecified in ["::", "::/64", "0:0::0"] {
            assert!(check_ip6(unspecified).is_err(), "{unspecified} accepted");
        }
        assert!(check_ip4("10.0.0.1/0").is_err());
        assert!(check_ip6("fd00::1/0").is_err());
        assert!(is_loopback("127.0.0.1") && is_loopback("127.255.0.9/8"));
        assert!(is_loopback("::1") && is_loopback("::1/128"));
        assert!(!is_loopback("10.0.0.1") && !is_loopback("fd00::1"));
    }

    #[test]
    fn installable_releases_are_those_the_release_mirrors_carry() {
        for (good, arch) in [
            ("13.1-RELEASE", "amd64"),
            ("14.3-RELEASE", "i386"),
            ("15.0-BETA3", "arm64"),
            ("15.0-RC1", "riscv64"),
            ("15.1-RELEASE", "armv7"),
            ("16.0-RELEASE", "powerpc64le"),
        ] {
            assert!(
                check_installable_release(good, arch).is_ok(),
                "{good} {arch} refused"
            );
        }
        for (bad, arch, why) in [
            ("15.0-CURRENT", "amd64", "snapshots"),
            ("14.3-STABLE", "amd64", "snapshots"),
            ("14.0-PRERELEASE", "amd64", "snapshots"),
            ("15.0-ALPHA2", "amd64", "snapshots"),
            ("14.1-BETA", "amd64", "snapshots"),
            ("14.1-RC0", "amd64", "snapshots"),
            ("13.2-RELEASE-p4", "amd64", "patch levels"),
            ("15.0-RELEASE", "i386", "retired"),
            ("16.1-RC2", "i386", "retired"),
            ("13.1", "amd64", "expected"),
        ] {
            let problem = check_installable_release(bad, arch).unwrap_err();
            assert!(problem.contains(why), "{bad} {arch}: {problem}");
        }
        // The cli still accepts those names for a base that is already there.
        assert!(check_release_name("15.0-CURRENT").is_ok());
    }

    #[test]
    fn terminal_unsafe_characters() {
        for c in [
            '\0', '\t', '\n', '\r', '\u{1b}', '\u{7f}', '\u{85}', '\u{9b}', '\u{202a}', '\u{202e}',
            '\u{2066}', '\u{2069}', '\u{200f}', '\u{2028}',
        ] {
            assert!(is_terminal_unsafe(c), "{c:?}");
            let text = format!("a{c}b");
            assert!(check_terminal_safe(&text).is_err());
            let escaped = escape_for_terminal(&text);
            assert!(!escaped.chars().any(is_terminal_unsafe), "{escaped:?}");
            assert!(escaped.contains(&format!("\\u{{{:x}}}", u32::from(c))));
        }
        for fine in ["plain", "caf\u{e9}", "\u{65e5}\u{672c}", "a b"] {
            assert!(check_terminal_safe(fine).is_ok(), "{fine:?}");
            assert_eq!(escape_for_terminal(fine), fine);
        }
        // The problem text never carries the character itself.
        let problem = check_terminal_safe("x\u{1b}[8m").unwrap_err();
        assert!(problem.contains("U+001B") && !problem.contains('\u{1b}'));
    }

    #[test]
    fn jail_visible_paths() {
        assert!(check_jail_visible_path(Path::new("/usr/local/jails")).is_ok());
        assert!(check_jail_visible_path(Path::new("/srv/jails-2_a.b+c@d%e=f:g,h")).is_ok());
        for bad in [
            "/my jails",
            "/a\tb",
            "/a#b",
            "/a\\040b",
            "/a'b",
            "/a\"b",
            "/a$b",
            "/a`b`",
            "/a;b",
            "/a&b",
            "/a|b",
            "/a(b",
            "/a*b",
            "/a?b",
            "/a[b",
            "/a~b",
            "/a<b",
            "/a!b",
            "/j\u{e4}ils",
        ] {
            assert!(
                check_jail_visible_path(Path::new(bad)).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn system_directories_and_files() {
        for good in [
            "/usr/local/jails",
            "/var/jails",
            "/jails",
            "/usr/local/jails/x",
        ] {
            assert!(check_host_dir(Path::new(good)).is_ok(), "{good} refused");
        }
        for bad in [
            "/",
            "/usr",
            "/var",
            "/etc",
            "/boot",
            "/usr/local",
            "/usr/bin/x",
            "/boot/jails",
        ] {
            assert!(check_host_dir(Path::new(bad)).is_err(), "{bad} accepted");
        }
        for good in [
            "/etc/jail.conf",
            "/etc/rc.conf",
            "/etc/rc.conf.local",
            "/etc/jail.conf.d/a.conf",
            "/var/run/thinjail.lock",
        ] {
            assert!(check_host_file(Path::new(good)).is_ok(), "{good} refused");
        }
        for bad in [
            "/etc/passwd",
            "/etc/master.passwd",
            "/etc/group",
            "/etc/pwd.db",
            "/etc/fstab",
            "/etc/crontab",
            "/boot/loader.conf",
            "/etc/rc.d/thinjail",
            "/etc/pam.d/sshd",
            "/bin/sh",
        ] {
            assert!(check_host_file(Path::new(bad)).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn mirrors_and_pins() {
        assert!(is_authenticated_url(
            "https://download.freebsd.org/releases"
        ));
        assert!(is_authenticated_url("file:///srv/mirror"));
        assert!(!is_authenticated_url("http://ftp-archive.freebsd.org/x"));
        assert!(!is_authenticated_url("ftp://ftp.freebsd.org/x"));
        assert!(check_sha256(&"a".repeat(64)).is_ok());
        assert!(check_sha256(&"A0".repeat(32)).is_ok());
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(63), &"a".repeat(65)] {
            assert!(check_sha256(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn stage_configs_may_be_laid_out_but_hold_no_control_characters() {
        let mut c = Collector(Vec::new());
        check_stage_config(&mut c, "stages[0].config", "(\n\tpackages: [\"a\"],\r\n)");
        check_stage_config(&mut c, "stages[0].config", "Named(x: {\"k\": Some(\"v\")})");
        assert!(c.0.is_empty(), "{:?}", c.0);
        for bad in [
            "(a: \"\\u{1b}[8m\")",
            "(a: [\"ok\", \"tab\\there\"])",
            "(m: {\"\\u{202e}k\": 1})",
            "(a: '\\n')",
            "(a: 1) // \u{202e}",
            "(a: 1)\u{7}",
            "Named(a: Some(\"\\u{1b}\"))",
        ] {
            let mut c = Collector(Vec::new());
            check_stage_config(&mut c, "stages[0].config", bad);
            assert!(!c.0.is_empty(), "{bad:?} accepted");
            assert_eq!(c.0[0].field, "stages[0].config");
        }
    }
    #[test]
    fn template_files_lie_in_jail_specific_paths_and_copy_host_files_only() {
        let recipe = |files: &str| {
            Recipe::from_ron(
                &format!(r#"(releases: [(name: "14.3-RELEASE")], template: (files: {files}))"#),
                "test",
            )
        };
        let ok = recipe(
            r#"{"etc/resolv.conf": Contents("nameserver 192.0.2.53\n"), "etc/localtime": Host("/etc/localtime")}"#,
        )
        .unwrap();
        assert_eq!(ok.template.files.len(), 2);
        assert!(recipe("{}").unwrap().template.files.is_empty());
        // The defaults are skipped, not refused, when etc stays in the base.
        assert!(Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")], template: (jail_specific: ["var"]))"#,
            "test"
        )
        .is_ok());
        let defaults = Recipe::from_ron(r#"(releases: [(name: "14.3-RELEASE")])"#, "test").unwrap();
        assert_eq!(
            defaults.template.files.get("etc/resolv.conf"),
            Some(&TemplateFile::Host("/etc/resolv.conf".into()))
        );
        let mut hidden = defaults.clone();
        hidden.template.files.insert(
            "etc/motd.template".into(),
            TemplateFile::Contents("hello\u{1b}[8m\tworld\n".into()),
        );
        let errors = validate(&hidden);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, r#"template.files["etc/motd.template"]"#);
        assert!(errors[0].problem.contains("U+001B"), "{errors:?}");
        for (files, field, problem) in [
            (
                r#"{"boot/loader.conf": Contents("x")}"#,
                r#"template.files["boot/loader.conf"]"#,
                "not inside a jail-specific path",
            ),
            (
                r#"{"etc": Contents("x")}"#,
                r#"template.files["etc"]"#,
                "not inside a jail-specific path",
            ),
            (
                r#"{"etc/../boot/x": Contents("x")}"#,
                r#"template.files["etc/../boot/x"]"#,
                "`..`",
            ),
            (
                r#"{"etc/resolv.conf": Host("resolv.conf")}"#,
                r#"template.files["etc/resolv.conf"]"#,
                "not an absolute path",
            ),
            (
                r#"{"etc/resolv.conf": Host("/usr/local/jails/www/data/etc/resolv.conf")}"#,
                r#"template.files["etc/resolv.conf"]"#,
                "must not be inside host.jails_dir",
            ),
        ] {
            let errors = recipe(files).unwrap_err().to_string();
            assert!(
                errors.contains(field) && errors.contains(problem),
                "{files}: {errors}"
            );
        }
    }
}
