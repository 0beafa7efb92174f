//! Which parameters jail(8) gives one jail, as `load_config` and `add_param` in
//! FreeBSD's `usr.sbin/jail/config.c` compute them.
//!
//! - The jail's name sets `name` (or `jid` when the name is a number), which can never
//!   be set again (`PF_IMMUTABLE`: setting it in any spelling fails the jail).
//! - Wildcard sections (`*`, `foo.*`, `*.bar`: a `*` that is a whole dot-separated
//!   component) apply in file order; the jail's own settings go in just before the
//!   first wildcard section that comes after its definition, so a wildcard after the
//!   jail overrides the jail's own values.
//! - A setting replaces an earlier one that `equalopts` calls the same parameter
//!   (`X`/`noX`, `a.X`/`a.noX`, and `mount.fstab`/`mount.nofstab`) and takes its
//!   spelling; `+=` appends instead.
//! - A variable (`$x = …;`) and a parameter with the same name fail the jail.
//! - `$name` and `${name}` are replaced per jail, after all settings are collected,
//!   with the parameter's or variable's value (resolving it first if it has variables
//!   of its own); an unknown or empty one, a loop, or a list substituted inside a
//!   longer string fails the jail. Variables are then dropped.

use super::parse::Form;
use super::{JailError, Param, Params, Section, Setting, Text};

/// jail(8)'s own parameter names (config.c's `intparams`, without the converted
/// copies): a variable cannot share one of these names.
const INTERNAL_PARAMS: [&str; 44] = [
    "allow.dying",
    "command",
    "depend",
    "exec.clean",
    "exec.consolelog",
    "exec.fib",
    "exec.jail_user",
    "exec.poststart",
    "exec.poststop",
    "exec.prepare",
    "exec.prestart",
    "exec.prestop",
    "exec.release",
    "exec.created",
    "exec.start",
    "exec.stop",
    "exec.system_jail_user",
    "exec.system_user",
    "exec.timeout",
    "interface",
    "ip_hostname",
    "mount",
    "mount.devfs",
    "mount.fdescfs",
    "mount.procfs",
    "mount.fstab",
    "stop.timeout",
    "vnet.interface",
    "allow.chflags",
    "allow.mount",
    "allow.raw_sockets",
    "allow.set_hostname",
    "allow.socket_af",
    "allow.sysvipc",
    "devfs_ruleset",
    "host.hostname",
    "ip4.addr",
    "ip6.addr",
    "jid",
    "name",
    "path",
    "persist",
    "securelevel",
    "vnet",
];

/// `equalopts` of config.c: the same parameter, spelled with or without a `no`
/// before its whole name or before one of its dot-separated components.
pub fn equalopts(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let negates = |x: &[u8], y: &[u8]| x.strip_prefix(b"no") == Some(y);
    if negates(a, b) || negates(b, a) {
        return true;
    }
    let (mut a, mut b) = (a, b);
    while let Some(dot) = a.iter().position(|&c| c == b'.') {
        let prefix = dot + 1;
        if b.len() < prefix || a[..prefix] != b[..prefix] {
            break;
        }
        a = &a[prefix..];
        b = &b[prefix..];
        if negates(a, b) || negates(b, a) {
            return true;
        }
    }
    false
}

/// `wild_jail_name`: a `*` that is a whole dot-separated component.
pub fn is_wildcard(name: &[u8]) -> bool {
    name.split(|&c| c == b'.')
        .any(|component| component == b"*")
}

/// `wild_jail_match`: a non-final `*` component matches one component, a final `*`
/// matches one or more.
pub fn wildcard_matches(jail: &[u8], wild: &[u8]) -> bool {
    let (mut jc, mut wc) = (jail, wild);
    let dot = |s: &[u8]| s.iter().position(|&c| c == b'.');
    while let (Some(jd), Some(wd)) = (dot(jc), dot(wc)) {
        let same_component = jc.get(..=jd) == wc.get(..=jd);
        if !same_component && !wc.starts_with(b"*.") {
            return false;
        }
        jc = &jc[jd + 1..];
        wc = &wc[wd + 1..];
    }
    jc == wc || wc == b"*"
}

#[derive(Clone, Debug)]
struct Working {
    name: Vec<u8>,
    values: Vec<Text>,
    is_var: bool,
    immutable: bool,
    bad: bool,
    generation: usize,
}

/// The parameters of the jail defined by `sections[index]`.
pub(super) fn effective(sections: &[Section], index: usize) -> Result<Params, JailError> {
    let jail = &sections[index];
    let name = String::from_utf8_lossy(&jail.name).into_owned();
    let mut failures = Vec::new();
    let mut params: Vec<Working> = Vec::new();
    let numeric = std::str::from_utf8(&jail.name)
        .ok()
        .and_then(|n| n.parse::<i64>().ok())
        .is_some_and(|n| n != 0);
    params.push(Working {
        name: if numeric {
            b"jid".to_vec()
        } else {
            b"name".to_vec()
        },
        values: vec![Text {
            text: jail.name.clone(),
            vars: Vec::new(),
        }],
        is_var: false,
        immutable: true,
        bad: false,
        generation: 0,
    });
    let mut did_self = false;
    for (seq, wild) in sections.iter().enumerate() {
        if !is_wildcard(&wild.name) {
            continue;
        }
        if index < seq && !did_self {
            for setting in &jail.settings {
                add_param(&mut params, setting, &mut failures);
            }
            did_self = true;
        }
        if wildcard_matches(&jail.name, &wild.name) {
            for setting in &wild.settings {
                add_param(&mut params, setting, &mut failures);
            }
        }
    }
    if !did_self {
        for setting in &jail.settings {
            add_param(&mut params, setting, &mut failures);
        }
    }
    resolve_variables(&mut params, &mut failures);
    if !failures.is_empty() {
        return Err(JailError::Failed {
            jail: name,
            reasons: failures,
        });
    }
    Ok(Params(
        params
            .into_iter()
            .filter(|p| !p.is_var)
            .map(|p| Param {
                name: String::from_utf8_lossy(&p.name).into_owned(),
                values: p
                    .values
                    .into_iter()
                    .map(|v| String::from_utf8_lossy(&v.text).into_owned())
                    .collect(),
            })
            .collect(),
    ))
}

fn add_param(params: &mut Vec<Working>, setting: &Setting, failures: &mut Vec<String>) {
    let shown = String::from_utf8_lossy(&setting.name);
    let found = params
        .iter_mut()
        .find(|p| equalopts(&p.name, &setting.name));
    match found {
        Some(existing) => {
            if existing.is_var != setting.is_var {
                failures.push(format!(
                    "variable \"${shown}\" cannot have the same name as a parameter."
                ));
                return;
            }
            if existing.immutable {
                failures.push(format!(
                    "cannot redefine parameter \"{}\".",
                    String::from_utf8_lossy(&existing.name)
                ));
                return;
            }
            existing.name = setting.name.clone();
            if setting.form != Form::Append || setting.values.is_empty() {
                existing.values.clear();
            }
            existing.values.extend(setting.values.iter().cloned());
        }
        None => {
            let internal = INTERNAL_PARAMS
                .iter()
                .find(|p| equalopts(&setting.name, p.as_bytes()));
            if internal.is_some() && setting.is_var {
                failures.push(format!(
                    "variable \"${shown}\" cannot have the same name as a parameter."
                ));
                return;
            }
            params.push(Working {
                name: setting.name.clone(),
                values: setting.values.clone(),
                is_var: setting.is_var,
                immutable: internal.is_some_and(|p| *p == "jid" || *p == "name"),
                bad: false,
                generation: 0,
            });
        }
    }
}

/// The variable pass of `load_config`, including its order of resolution (a
/// parameter whose value has variables of its own is resolved first, and moved
/// before the one that uses it).
fn resolve_variables(params: &mut Vec<Working>, failures: &mut Vec<String>) {
    let mut generation = 0;
    let mut p = 0;
    while p < params.len() {
        generation += 1;
        params[p].generation = generation;
        'find_vars: loop {
            let mut s = 0;
            while s < params[p].values.len() {
                while let Some((pos, var)) = params[p].values[s].vars.first().cloned() {
                    let shown = String::from_utf8_lossy(&var).into_owned();
                    let owner = String::from_utf8_lossy(&params[p].name).into_owned();
                    let found = params.iter().position(|q| q.name == var);
                    let problem = match found {
                        None => Some(format!("{owner}: variable \"{shown}\" not found")),
                        Some(v) if params[v].values.is_empty() => {
                            Some(format!("{owner}: variable \"{shown}\" not found"))
                        }
                        Some(v) if params[v].bad => Some(String::new()),
                        Some(v) if params[v].generation == generation => {
                            Some(format!("{shown}: variable loop"))
                        }
                        Some(_) => None,
                    };
                    if let Some(problem) = problem {
                        if !problem.is_empty() {
                            failures.push(problem);
                        } else {
                            failures.push(format!("{owner}: variable \"{shown}\" is bad"));
                        }
                        for q in params.iter_mut() {
                            if q.generation == generation {
                                q.bad = true;
                            }
                        }
                        params[p].values[s].vars.remove(0);
                        continue;
                    }
                    let Some(v) = found else { break };
                    if params[v].values.iter().any(|t| !t.vars.is_empty()) {
                        // Resolve the referenced one first, moved just before this one.
                        params[v].generation = generation;
                        let moved = params.remove(v);
                        let at = if v < p { p - 1 } else { p };
                        params.insert(at, moved);
                        p = at;
                        continue 'find_vars;
                    }
                    let array = params[v].values.len() > 1;
                    if array
                        && (!params[p].values[s].text.is_empty()
                            || params[p].values[s].vars.len() > 1)
                    {
                        failures.push(format!("{owner}: array cannot be substituted inline"));
                        for q in params.iter_mut() {
                            if q.generation == generation {
                                q.bad = true;
                            }
                        }
                        params[p].values[s].vars.remove(0);
                        continue;
                    }
                    let first = params[v].values[0].text.clone();
                    let rest: Vec<Vec<u8>> = params[v].values[1..]
                        .iter()
                        .map(|t| t.text.clone())
                        .collect();
                    let target = &mut params[p].values[s];
                    target.text.splice(pos..pos, first.iter().copied());
                    target.vars.remove(0);
                    for later in target.vars.iter_mut() {
                        later.0 += first.len();
                    }
                    for (k, text) in rest.into_iter().enumerate() {
                        params[p].values.insert(
                            s + 1 + k,
                            Text {
                                text,
                                vars: Vec::new(),
                            },
                        );
                    }
                }
                s += 1;
            }
            break;
        }
        p += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equalopts_is_config_c() {
        for (a, b) in [
            ("allow.mount", "allow.mount"),
            ("allow.mount", "allow.nomount"),
            ("allow.nomount", "allow.mount"),
            ("persist", "nopersist"),
            ("mount.fstab", "mount.nofstab"),
            ("host.hostname", "nohost.hostname"),
            ("a.b.c", "a.nob.c"),
            ("nonoa", "noa"),
        ] {
            assert!(equalopts(a.as_bytes(), b.as_bytes()), "{a} {b}");
        }
        for (a, b) in [
            ("allow.mount", "allow.mount.zfs"),
            ("nonoa", "a"),
            ("noa.nob", "a.b"),
            ("path", "paths"),
            ("x.path", "path"),
        ] {
            assert!(!equalopts(a.as_bytes(), b.as_bytes()), "{a} {b}");
        }
    }

    #[test]
    fn wildcards_are_whole_components() {
        assert!(is_wildcard(b"*") && is_wildcard(b"foo.*") && is_wildcard(b"*.bar"));
        assert!(!is_wildcard(b"foo*") && !is_wildcard(b"f*o") && !is_wildcard(b"www"));
        assert!(wildcard_matches(b"www", b"*"));
        assert!(wildcard_matches(b"a.b.c", b"*"));
        assert!(wildcard_matches(b"foo.bar", b"foo.*"));
        assert!(wildcard_matches(b"foo.bar.baz", b"foo.*"));
        assert!(!wildcard_matches(b"foo", b"foo.*"));
        assert!(wildcard_matches(b"x.bar", b"*.bar"));
        assert!(!wildcard_matches(b"x.baz", b"*.bar"));
    }
}
