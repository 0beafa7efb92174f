//! Names: jails, releases, datasets, jail.conf parameters, rc.conf variables,
//! interfaces, base sets, snapshots and stages.

use crate::jailconf::same_param;

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

pub(super) fn is_digits(s: &str) -> bool {
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
