//! How hosts start commands: by absolute path, found in a fixed `PATH`, with a clean
//! environment — so neither a caller's `PATH` (a `zfs` planted in `~/bin`), nor its
//! `LD_PRELOAD`/`LD_LIBRARY_PATH`, nor anything else it exported reaches a command
//! thinjail runs as root, and the same commands run from cron(8), whose `PATH` lacks
//! `/sbin`. The one exception: the commands that download get the proxy variables
//! FreeBSD's downloaders read ([`PROXY_VARIABLES`]).

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process;

use super::HostError;

/// The only `PATH` host commands see, and the only one their programs are looked up
/// in: FreeBSD's base system directories. A rendered plan sets the same.
pub const HOST_PATH: &str = "/sbin:/bin:/usr/sbin:/usr/bin";

/// How much of a failed command's standard output and of its standard error is kept
/// for the report (the end of each: that is where tools say why they stopped).
pub const OUTPUT_TAIL: usize = 4096;

/// The absolute path of `program`: itself when it contains a `/`, else the first
/// executable regular file of that name in [`HOST_PATH`]'s directories.
pub fn resolve_program(program: &str) -> io::Result<PathBuf> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    for dir in HOST_PATH.split(':') {
        let candidate = Path::new(dir).join(program);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("{program} not found in {HOST_PATH}"),
    ))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A command for `argv` ready to spawn: the program resolved with [`resolve_program`],
/// the environment emptied and `PATH` set to [`HOST_PATH`]. Variables an action needs
/// are set by the action itself, in its argv (`env PAGER=cat freebsd-update …`), so
/// they show in the plan.
pub fn host_command(argv: &[String]) -> Result<process::Command, HostError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| HostError::Unsupported("empty command".into()))?;
    let path = resolve_program(program).map_err(|source| HostError::Spawn {
        command: crate::quote::sh_command(argv),
        source,
    })?;
    let mut command = process::Command::new(path);
    command
        .arg0(program)
        .args(args)
        .env_clear()
        .env("PATH", HOST_PATH);
    Ok(command)
}

/// The proxy variables FreeBSD's downloaders read, passed through from thinjail's own
/// environment to the commands that download ([`download_command`]) and to no other:
/// libfetch, which fetch(1) and bsdinstall's distfetch use, reads `HTTP_PROXY` or
/// `http_proxy` (for `http` and, through `CONNECT`, `https` URLs) and
/// `HTTP_PROXY_AUTH` (`lib/libfetch/http.c`), `FTP_PROXY` or `ftp_proxy`
/// (`lib/libfetch/ftp.c`), `NO_PROXY` or `no_proxy` (`fetch_no_proxy_match` in
/// `lib/libfetch/common.c`); freebsd-update fetches with phttpget, which reads
/// `HTTP_PROXY`, `http_proxy` and `HTTP_PROXY_AUTH`
/// (`usr.sbin/portsnap/phttpget/phttpget.c`), and with fetch(1). Neither reads
/// `HTTPS_PROXY`.
pub const PROXY_VARIABLES: [&str; 7] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTP_PROXY_AUTH",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Those of [`PROXY_VARIABLES`] that `lookup` (an environment) sets, in that order.
pub fn proxy_environment(
    lookup: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> Vec<(&'static str, std::ffi::OsString)> {
    PROXY_VARIABLES
        .iter()
        .filter_map(|name| lookup(name).map(|value| (*name, value)))
        .collect()
}

/// [`host_command`] for a command that downloads (fetch, freebsd-update, bsdinstall:
/// [`crate::action::Action::downloads`]): the proxy variables set in this process's
/// environment ([`PROXY_VARIABLES`]) are passed on too, so a host whose mirror is
/// reached through a proxy works as with FreeBSD's own tools.
pub fn download_command(argv: &[String]) -> Result<process::Command, HostError> {
    let mut command = host_command(argv)?;
    command.envs(proxy_environment(&|name| std::env::var_os(name)));
    Ok(command)
}

/// [`host_command`] for a command attached to the user's terminal (`exec`,
/// `console`): `TERM` is passed on as well, as jexec(8) `-l` keeps it, so the
/// terminal keeps working inside the jail.
pub fn attached_command(argv: &[String]) -> Result<process::Command, HostError> {
    let mut command = host_command(argv)?;
    if let Some(term) = std::env::var_os("TERM") {
        command.env("TERM", term);
    }
    Ok(command)
}

/// The last [`OUTPUT_TAIL`] bytes of `text`, starting at a line when one starts in
/// that range.
pub fn tail(text: &str) -> &str {
    if text.len() <= OUTPUT_TAIL {
        return text;
    }
    let start = text.len() - OUTPUT_TAIL;
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    let rest = &text[start..];
    match rest.find('\n') {
        Some(newline) if newline + 1 < rest.len() => &rest[newline + 1..],
        _ => rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_in_the_fixed_path_only() {
        let sh = resolve_program("sh").unwrap();
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());
        assert!(HOST_PATH.split(':').any(|dir| sh.starts_with(dir)));
        assert_eq!(resolve_program("/x/y").unwrap(), PathBuf::from("/x/y"));
        let missing = resolve_program("thinjail-no-such-program").unwrap_err();
        assert!(missing.to_string().contains(HOST_PATH), "{missing}");
    }

    #[test]
    fn commands_see_only_the_fixed_path() {
        let argv: Vec<String> = ["sh", "-c", "env"].map(String::from).to_vec();
        let output = host_command(&argv).unwrap().output().unwrap();
        let env = String::from_utf8_lossy(&output.stdout);
        let names: Vec<&str> = env
            .lines()
            .filter_map(|l| l.split('=').next())
            // Shells export a few of their own (PWD, SHLVL, _).
            .filter(|n| !matches!(*n, "PWD" | "SHLVL" | "_" | "OLDPWD"))
            .collect();
        assert_eq!(names, ["PATH"], "{env}");
        assert!(env.contains(&format!("PATH={HOST_PATH}")), "{env}");
    }

    #[test]
    fn only_the_proxy_variables_libfetch_and_phttpget_read_are_taken() {
        let environment = |name: &str| -> Option<std::ffi::OsString> {
            match name {
                "http_proxy" => Some("http://proxy:3128".into()),
                "NO_PROXY" => Some("mirror.local".into()),
                "HTTPS_PROXY" | "LD_PRELOAD" | "ALL_PROXY" => Some("x".into()),
                _ => None,
            }
        };
        assert_eq!(
            proxy_environment(&environment),
            [
                ("http_proxy", "http://proxy:3128".into()),
                ("NO_PROXY", "mirror.local".into())
            ]
        );
        assert!(proxy_environment(&|_| None).is_empty());
    }

    #[test]
    fn tails_keep_the_end_from_a_line_start() {
        assert_eq!(tail("short"), "short");
        let long = format!("{}\nlast line\n", "x".repeat(OUTPUT_TAIL * 2));
        assert_eq!(tail(&long), "last line\n");
        let lines: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        let kept = tail(&lines);
        assert!(
            kept.len() <= OUTPUT_TAIL && kept.starts_with("line "),
            "{kept}"
        );
        assert!(kept.ends_with("line 1999\n"));
        let wide = "é".repeat(OUTPUT_TAIL);
        assert!(tail(&wide).len() <= OUTPUT_TAIL);
    }
}
