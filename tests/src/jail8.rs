//! The test bed's jail(8): `jail -f FILE -c NAME` and `jail -f FILE -r NAME`, read and
//! carried out as FreeBSD's `usr.sbin/jail` does (reference: `jail.c`, `config.c`,
//! `command.c`), with Linux doing what it can.
//!
//! **Reading** is thinjail's model of jail(8)'s reader ([`thinjail_core::jailconf`]):
//! the whole `-f` file and what it `.include`s (paths of the system at
//! `host.system_root`), refused as a whole on a syntax error, a missing include or
//! an unknown jail, with FreeBSD 13.x or 14+ semantics
//! (`THINJAIL_TESTBED_JAIL_SEMANTICS=13` or `14`, 14 by default). Every parameter
//! comes from the model's effective parameters — the administrator's globals, `*`
//! sections and includes included — so what would leak into a jail on FreeBSD
//! leaks here too.
//!
//! **Creating** follows `startcommands` of `jail.c`: `exec.prepare` (14+), the
//! `mount` lines and `mount.fstab` (nullfs only: a bind mount, remounted read-only
//! for `ro`), `mount.devfs`, `mount.fdescfs` and `mount.procfs` (refused: the test
//! bed cannot mount them), `exec.prestart`, the jail itself, `exec.created`,
//! `exec.start`, `command`, `exec.poststart`. **Removing** follows `stopcommands`:
//! `exec.prestop`, `exec.stop`, the jail removed, `exec.poststop`, the mounts undone
//! in reverse, `exec.release` (14+); when `exec.prestop` or `exec.stop` fails the
//! jail is not removed and keeps its mounts (jail(8)'s main loop sends a jail that
//! failed while it has a JID to `jail_remove_done`), and jail(8) exits 1. Commands run as `command.c`'s `run_command`
//! runs them: a value with a shell metacharacter (`!"$&'()*;<>?[\]`{|}~`) through
//! `/bin/sh -c`, any other split on blanks and run directly; `exec.start`,
//! `command` and `exec.stop` inside the jail (chroot), the others on the host
//! (with `exec.clean`, in a clean environment, `PATH=/bin:/usr/bin`). A command
//! that fails fails the creation, which is undone in reverse (mounts unmounted) as
//! jail(8) does. A jail with neither `persist` nor a command to run dies as soon as
//! it is made: it is not recorded as running.
//!
//! **Network**: `vnet` makes a network namespace for the jail after
//! `exec.created`, with its `vnet.interface`s moved in (given back to the host when
//! it is removed, before `exec.poststop`); its in-jail commands run in that
//! namespace; a host-side `/sbin/ifconfig` is [`crate::netbed`]'s. All of it only
//! inside the namespace `THINJAIL_TESTBED_NETNS` names.
//!
//! **Not reproduced**: shared-IP addresses (`ip4.addr`, `ip6.addr`, `interface` are
//! read, not configured); `exec.jail_user` and `exec.system_user` naming
//! anyone but root are refused (the test bed runs commands as root only);
//! a trailing `&` (jail(8) runs such a command in the background) runs in the
//! foreground; `exec.timeout`, `stop.timeout`, `exec.consolelog`, `exec.fib` and
//! the kernel's own parameters (`securelevel`, `enforce_statfs`, `allow.*`,
//! `children.max`…) are read and not enforced — the end-to-end tests assert them
//! from the effective parameters instead; when creation fails after `exec.created`
//! ran, jail(8) runs it again on the way back, the test bed does not.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use thinjail_core::action::Command;
use thinjail_core::boot::SystemRoot;
use thinjail_core::host::{FreeBsdHost, HostError};
use thinjail_core::jailconf::{glob_matches, Files, JailConf, Param, Params, Semantics};

/// The `PATH` of the clean environment the test bed runs a jail's commands in
/// (`env -i`, then this).
pub(crate) const CLEAN_PATH: &str =
    "PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin";

/// The semantics the test bed's jail(8) reads with: `THINJAIL_TESTBED_JAIL_SEMANTICS`
/// (`13` or `14`), 14+ by default.
pub fn semantics_from_env() -> Semantics {
    match std::env::var("THINJAIL_TESTBED_JAIL_SEMANTICS").as_deref() {
        Ok("13") => Semantics::Freebsd13,
        _ => Semantics::Freebsd14,
    }
}

/// The files of the system at a root, read on this host (includes, globs).
pub struct SystemFiles<'a>(pub &'a SystemRoot);

impl Files for SystemFiles<'_> {
    fn read(&self, path: &Path) -> io::Result<String> {
        fs::read_to_string(self.0.host(path))
    }

    fn glob(&self, pattern: &str) -> io::Result<Vec<PathBuf>> {
        let mut candidates = vec![PathBuf::from("/")];
        for component in Path::new(pattern).components() {
            let Component::Normal(part) = component else {
                continue;
            };
            let part = part.to_string_lossy();
            let mut next = Vec::new();
            for dir in candidates {
                if part.contains(['*', '?', '[']) {
                    let Ok(entries) = fs::read_dir(self.0.host(&dir)) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        if glob_matches(&part, &name) {
                            next.push(dir.join(name));
                        }
                    }
                } else {
                    next.push(dir.join(part.as_ref()));
                }
            }
            candidates = next;
        }
        let mut found: Vec<PathBuf> = candidates
            .into_iter()
            .filter(|p| fs::symlink_metadata(self.0.host(p)).is_ok())
            .collect();
        found.sort();
        Ok(found)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.0.host(path).is_dir()
    }
}

/// jail(8) exiting 1 with `message` on standard error.
pub fn jail_failed(argv: &str, message: impl Into<String>) -> HostError {
    HostError::CommandFailed {
        command: argv.to_string(),
        status: "exit status: 1".into(),
        stdout: String::new(),
        stderr: message.into(),
    }
}

/// The parameters jail(8) takes for `jail` from the host file `conf`: the whole file
/// read as the system at `root` reads it.
pub fn parameters(
    conf: &Path,
    jail: &str,
    root: &SystemRoot,
    semantics: Semantics,
    argv: &str,
) -> Result<Params, HostError> {
    let system = root.system(conf).unwrap_or_else(|| conf.to_path_buf());
    let files = SystemFiles(root);
    let config = JailConf::load(&system, semantics, &files)
        .map_err(|e| jail_failed(argv, format!("jail: {e}")))?;
    config
        .effective(jail)
        .map_err(|e| jail_failed(argv, format!("jail: {e}")))
}

/// The values of the parameter `name` (any `no` spelling), none when unset.
pub fn values(params: &Params, name: &str) -> Vec<String> {
    params
        .get(name)
        .map(|p| p.values.clone())
        .unwrap_or_default()
}

/// Whether the boolean parameter `name` is set true (`bool_param`).
pub fn flag(params: &Params, name: &str) -> bool {
    params.get(name).is_some_and(Param::is_true)
}

/// The single value of `name` (`string_param`: the last one).
pub fn string(params: &Params, name: &str) -> Option<String> {
    params.get(name).and_then(|p| p.values.last().cloned())
}

/// The argv `run_command` of `command.c` builds for a command string: `/bin/sh -c`
/// when it holds a shell metacharacter (a lone trailing `&` excepted), otherwise
/// its blank-separated words. `None` for an empty command.
pub fn command_argv(command: &str) -> Option<Vec<String>> {
    const META: &[char] = &[
        '!', '"', '$', '&', '\'', '(', ')', '*', ';', '<', '>', '?', '[', '\\', ']', '`', '{', '|',
        '}', '~',
    ];
    if command.is_empty() {
        return None;
    }
    let first = command.find(META);
    let lone_ampersand = first.is_some_and(|i| i == command.len() - 1 && command.ends_with('&'));
    if first.is_some() && !lone_ampersand {
        return Some(vec!["/bin/sh".into(), "-c".into(), command.into()]);
    }
    let words: Vec<String> = command
        .trim_end_matches('&')
        .split([' ', '\t', '\x0c', '\x0b', '\r', '\n'])
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    (!words.is_empty()).then_some(words)
}

/// Where a command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// On the host (`exec.prestart`, `exec.poststart`, `exec.created`,
    /// `exec.prestop`, `exec.poststop`, `exec.prepare`, `exec.release`).
    Host,
    /// Inside the jail (`exec.start`, `command`, `exec.stop`).
    Jail,
}

/// The command's own words, without the clean environment `exec.clean` puts
/// before them.
fn full_words(full: &[String]) -> Vec<String> {
    match full.iter().position(|w| w == "USER=root") {
        Some(i) if full.first().is_some_and(|w| w == "env") => full[i + 1..].to_vec(),
        _ => full.to_vec(),
    }
}

/// Runs every value of `param` as jail(8) runs it, stopping at the first failure.
pub fn run_param(
    host: &mut FreeBsdHost,
    params: &Params,
    param: &str,
    place: Place,
    root: &Path,
    jail: &str,
    argv: &str,
) -> Result<(), HostError> {
    let user = match place {
        Place::Host => "exec.system_user",
        Place::Jail => "exec.jail_user",
    };
    for command in values(params, param) {
        let Some(words) = command_argv(&command) else {
            continue;
        };
        if let Some(name) = string(params, user).filter(|u| u != "root") {
            return Err(HostError::Unsupported(format!(
                "the test bed runs jail commands as root only, not {user} = {name} ({param} of {jail})"
            )));
        }
        let full: Vec<String> = match place {
            Place::Jail => {
                // A VNET jail's commands run in its network namespace.
                let mut full = crate::netbed::jail_prefix(jail, flag(params, "vnet"))?;
                full.extend(["env", "-i", CLEAN_PATH, "HOME=/root", "chroot"].map(String::from));
                full.push(root.display().to_string());
                full.extend(words);
                full
            }
            Place::Host if flag(params, "exec.clean") => {
                let mut full: Vec<String> =
                    ["env", "-i", "PATH=/bin:/usr/bin", "HOME=/root", "USER=root"]
                        .map(String::from)
                        .to_vec();
                full.extend(words);
                full
            }
            Place::Host => words,
        };
        // jail(8) lets a command write to its own standard output and error, then
        // warns that it failed: the caller sees both, as from jail(8).
        // `/sbin/ifconfig` on the host is the test bed's (crate::netbed).
        let hooked = match place {
            Place::Host => crate::netbed::host_hook(&full_words(&full)),
            Place::Jail => None,
        };
        let outcome = match hooked {
            Some(result) => result,
            None => host.run(&Command::Run { argv: full }).map(drop),
        };
        outcome.map_err(|e| match e {
            HostError::CommandFailed {
                stdout, mut stderr, ..
            } => {
                if !stderr.is_empty() && !stderr.ends_with('\n') {
                    stderr.push('\n');
                }
                HostError::CommandFailed {
                    command: argv.to_string(),
                    status: "exit status: 1".into(),
                    stdout,
                    stderr: format!("{stderr}jail: {jail}: {command}: failed\n"),
                }
            }
            other => jail_failed(argv, format!("jail: {jail}: {command}: failed ({other})")),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_file_is_read_and_refused_like_jail_8_refuses_it() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        fs::create_dir_all(etc.join("jail.conf.d")).unwrap();
        fs::write(
            etc.join("jail.conf"),
            "exec.prestart = \"touch /x/$name\";\n.include \"/etc/jail.conf.d/*.conf\";\n",
        )
        .unwrap();
        fs::write(
            etc.join("jail.conf.d/www.conf"),
            "www { path = /w; persist; }\n",
        )
        .unwrap();
        let system = SystemRoot::new(root.path());
        let conf = etc.join("jail.conf");
        let params = parameters(&conf, "www", &system, Semantics::Freebsd14, "jail").unwrap();
        assert_eq!(values(&params, "exec.prestart"), ["touch /x/www"]);
        assert!(flag(&params, "persist"));
        // 13.x takes `.include` for a parameter: www is not defined there.
        let unknown = parameters(&conf, "www", &system, Semantics::Freebsd13, "jail").unwrap_err();
        assert!(unknown.to_string().contains("is not defined"), "{unknown}");
        // A syntax error anywhere refuses every jail of the file.
        fs::write(etc.join("jail.conf.d/bad.conf"), "bad { x = ; }\n").unwrap();
        let refused = parameters(&conf, "www", &system, Semantics::Freebsd14, "jail").unwrap_err();
        assert!(
            refused.to_string().contains("bad.conf: line 1"),
            "{refused}"
        );
    }

    #[test]
    fn commands_are_split_or_given_to_sh_like_run_command() {
        assert_eq!(
            command_argv("/bin/sh /etc/rc").unwrap(),
            ["/bin/sh", "/etc/rc"]
        );
        assert_eq!(
            command_argv("echo $name > /tmp/x").unwrap(),
            ["/bin/sh", "-c", "echo $name > /tmp/x"]
        );
        assert_eq!(
            command_argv("daemon -f x &").unwrap(),
            ["daemon", "-f", "x"]
        );
        assert_eq!(command_argv("a & b").unwrap(), ["/bin/sh", "-c", "a & b"]);
        assert_eq!(command_argv(""), None);
        assert_eq!(command_argv("   "), None);
    }
}
