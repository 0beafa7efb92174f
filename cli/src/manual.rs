//! The manual and the shell completions, generated from the clap definitions in
//! [`crate::args`] so they cannot drift from what the command accepts.
//!
//! - `thinjail(8)`: one page, man(7) rendered with clap_mangen (title, synopsis,
//!   global options) plus sections built here from the same definitions: every
//!   subcommand with its arguments, the exit statuses of [`crate::exit::TABLE`], and
//!   the files of [`HostConfig::default`].
//! - `thinjail.recipe(5)`: written by hand in mdoc(7) (`docs/man/thinjail.recipe.5`)
//!   and shipped inside the binary, so `thinjail man DIR` installs both.
//! - Completions for bash, zsh and fish (clap_complete; also elvish and PowerShell on
//!   request). POSIX sh has no programmable completion, so there is none for it.

use std::io;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command, CommandFactory};
use clap_complete::{Generator, Shell};
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;
use thinjail_core::recipe::HostConfig;

use crate::args::Cli;
use crate::exit::{self, CliError, WithCode};
use crate::recipes;

/// The command's name, as installed.
pub const BIN_NAME: &str = "thinjail";

/// thinjail.recipe(5), mdoc(7), written by hand.
pub const RECIPE_PAGE: &str = include_str!("../../docs/man/thinjail.recipe.5");

/// Date of the last change to thinjail(8)'s hand-written text. Fixed, so that
/// generating the page twice gives the same bytes (reproducible packages).
pub const MANUAL_DATE: &str = "November 30, 2026";

/// The shells `completions --dir` writes, and the FreeBSD port installs.
pub const COMPLETION_SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// One manual page: where it goes under a manual root, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManPage {
    /// Relative path under a manual root such as `/usr/local/share/man`
    /// (`man8/thinjail.8`).
    pub path: PathBuf,
    /// The page (roff source).
    pub text: String,
}

/// The command definition, built (global options propagated, names set).
pub fn command() -> Command {
    let mut cmd = Cli::command().bin_name(BIN_NAME);
    cmd.build();
    cmd
}

/// Every manual page thinjail installs.
pub fn man_pages() -> io::Result<Vec<ManPage>> {
    Ok(vec![
        ManPage {
            path: PathBuf::from("man8/thinjail.8"),
            text: thinjail_8()?,
        },
        ManPage {
            path: PathBuf::from("man5/thinjail.recipe.5"),
            text: RECIPE_PAGE.to_string(),
        },
    ])
}

/// Writes every manual page under the manual root `dir` (creating `dir/man8` and
/// `dir/man5`); returns the files written.
pub fn write_man_pages(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for page in man_pages()? {
        let path = dir.join(&page.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| with_path(e, parent))?;
        }
        std::fs::write(&path, page.text.as_bytes()).map_err(|e| with_path(e, &path))?;
        written.push(path);
    }
    Ok(written)
}

/// The completion script for `shell`.
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut cmd = command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN_NAME, &mut out);
    out
}

/// The file name `shell` expects its completion under (`thinjail.bash`, `_thinjail`,
/// `thinjail.fish`).
pub fn completion_file_name(shell: Shell) -> String {
    shell.file_name(BIN_NAME)
}

/// Writes the bash, zsh and fish completions into `dir` (created if missing);
/// returns the files written.
pub fn write_completions(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
    let mut written = Vec::new();
    for shell in COMPLETION_SHELLS {
        let path = dir.join(completion_file_name(shell));
        std::fs::write(&path, completion(shell)).map_err(|e| with_path(e, &path))?;
        written.push(path);
    }
    Ok(written)
}

/// `thinjail man [DIR]`.
pub fn man(dir: Option<&Path>) -> Result<u8, CliError> {
    match dir {
        None => {
            let page = thinjail_8().code(exit::SOFTWARE)?;
            write_stdout(page.as_bytes())?;
        }
        Some(dir) => {
            for path in write_man_pages(dir).code(exit::CANTCREAT)? {
                println!("{}", path.display());
            }
        }
    }
    Ok(exit::OK)
}

/// `thinjail completions SHELL` or `thinjail completions --dir DIR`.
pub fn completions(shell: Option<Shell>, dir: Option<&Path>) -> Result<u8, CliError> {
    match (shell, dir) {
        (_, Some(dir)) => {
            for path in write_completions(dir).code(exit::CANTCREAT)? {
                println!("{}", path.display());
            }
        }
        (Some(shell), None) => write_stdout(&completion(shell))?,
        (None, None) => {
            return Err(CliError::msg(
                exit::USAGE,
                "name a shell (bash, zsh, fish, elvish, powershell) or give --dir DIR",
            ))
        }
    }
    Ok(exit::OK)
}

fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        // `thinjail man | head` is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::msg(
            exit::CANTCREAT,
            format!("standard output: {e}"),
        )),
    }
}

fn with_path(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// thinjail(8), man(7).
pub fn thinjail_8() -> io::Result<String> {
    let cmd = command();
    let version = cmd.get_version().unwrap_or_default().to_string();
    let man = Man::new(cmd.clone())
        .title("THINJAIL")
        .section("8")
        .date(MANUAL_DATE)
        .source(format!("thinjail {version}"))
        .manual("System Manager's Manual");
    let mut out = Vec::new();
    man.render_title(&mut out)?;

    let mut roff = Roff::new();
    roff.control("SH", ["NAME"]);
    roff.text([roman(
        "thinjail - build and run FreeBSD thin jails from a declarative recipe",
    )]);
    roff.control("SH", ["SYNOPSIS"]);
    roff.control("SY", [BIN_NAME]);
    roff.text(root_synopsis(&cmd));
    roff.control("YS", []);
    for sub in subcommands(&cmd) {
        roff.control("SY", [format!("{BIN_NAME} {}", sub.get_name()).as_str()]);
        roff.text(synopsis_args(sub));
        roff.control("YS", []);
    }
    roff.to_writer(&mut out)?;

    description(&cmd).to_writer(&mut out)?;
    man.render_options_section(&mut out)?;
    commands(&cmd).to_writer(&mut out)?;
    trailer().to_writer(&mut out)?;
    let text = String::from_utf8(out).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(tidy(&text))
}

/// Every `Roff` rendering starts with the same two-line preamble (the `Aq` string
/// for apostrophes); keeps the first. Breaks text lines longer than mandoc's 80
/// bytes at spaces, so the page lints clean whatever the help texts say.
fn tidy(text: &str) -> String {
    const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    let mut body = match text.find(PREAMBLE) {
        Some(first) => {
            let (head, rest) = text.split_at(first + PREAMBLE.len());
            format!("{head}{}", rest.replace(PREAMBLE, ""))
        }
        None => text.to_string(),
    };
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let mut out = String::with_capacity(body.len());
    for line in body.lines() {
        if line.starts_with('.') || line.len() <= MAX_LINE {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut current = String::new();
        for word in line.split(' ') {
            if !current.is_empty() && current.len() + 1 + word.len() > MAX_LINE {
                out.push_str(&current);
                out.push('\n');
                current.clear();
            }
            if current.is_empty() {
                // A continuation line must not read as a control line.
                if word.starts_with('.') || word.starts_with('\'') {
                    current.push_str("\\&");
                }
            } else {
                current.push(' ');
            }
            current.push_str(word);
        }
        out.push_str(&current);
        out.push('\n');
    }
    out
}

/// Longest text line written (mandoc's style check asks for at most 80 bytes).
const MAX_LINE: usize = 76;

/// Help text with `code` spans set in bold.
fn rich(text: &str) -> Vec<Inline> {
    text.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| if i % 2 == 1 { bold(part) } else { roman(part) })
        .collect()
}

/// `text` ending with a full stop.
fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() || text.ends_with(['.', '!', '?', ')']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

fn root_synopsis(cmd: &Command) -> Vec<Inline> {
    let mut line = Vec::new();
    for arg in cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
        .filter(|a| !matches!(a.get_action(), ArgAction::Help | ArgAction::Version))
    {
        line.push(roman("["));
        line.extend(synopsis_flag(arg));
        line.push(roman("] "));
    }
    line.push(italic("command"));
    line.push(roman(" ..."));
    line
}

fn paragraph(roff: &mut Roff, text: &str) {
    roff.control("PP", []);
    roff.text([roman(text)]);
}

fn description(cmd: &Command) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["DESCRIPTION"]);
    if let Some(about) = cmd.get_long_about().or_else(|| cmd.get_about()) {
        roff.text(rich(&sentence(&about.to_string())));
    }
    paragraph(
        &mut roff,
        "A thin jail runs on a read-only base system that every jail of the same \
release shares through nullfs(5); only what is jail-specific (/etc, /usr/local, \
/var, /root, /tmp, /usr/home) lives in a small writable ZFS dataset of its own. \
Updating the one base updates every jail, and moving a jail to a new release swaps \
its base while its data stays untouched.",
    );
    paragraph(
        &mut roff,
        "A recipe, described in thinjail.recipe(5), declares the releases, the \
template every jail starts from, and the jails. thinjail observes the host once (one \
zfs(8) listing, the files it manages, the mount table, the running jails), then each \
stage of the recipe plans only the actions still needed. Nothing runs while planning: \
plan prints the actions as the exact sh(1) commands, as text or as JSON, and apply \
shows the same plan, asks for confirmation and runs it. Running apply again after \
success changes nothing; after a failure it finishes the work.",
    );
    paragraph(
        &mut roff,
        "Each jail lives in a jail.conf(5) file of its own, /etc/jail.conf.d/NAME.conf, \
marked as thinjail's; thinjail starts and stops it with jail -f FILE, which reads that \
file alone, so nothing in the administrator's /etc/jail.conf reaches it and nothing of \
it reaches the administrator's jails. rc.conf(5) is edited in place, in the file rc(8) \
takes each variable from: jail_list keeps naming every jail that booted before, the \
jails with start: true are added, and a value thinjail replaces is recorded on its \
line and put back when thinjail's last jail goes; everything else in those files is \
kept byte for byte. Before anything changes, the boot is computed as it is and as the \
plan leaves it: the administrator's jails must boot as before, or nothing is done. \
thinjail never destroys a jail's data or a base that jails use without an explicit \
option saying so.",
    );
    paragraph(
        &mut roff,
        "Every ZFS dataset thinjail creates carries the user property \
thinjail:managed, whose value is the recipe's jails dataset. A dataset without it (of \
its own, not inherited), such as one made by hand or by another jail manager, is never \
taken over: apply refuses and prints the zfs set thinjail:managed=... commands that \
hand it over, which is also how a host made by an older thinjail is adopted once. Only \
jails whose dataset carries the mark are thinjail's, so recipes that share a jail.conf \
never prune each other's jails. A running jail with the name of one of thinjail's \
jails but another root is not thinjail's: every command that would stop, replace or \
enter it refuses, with exit status 78.",
    );
    paragraph(
        &mut roff,
        "Every planned action, from a built-in or a plugin stage, is confined to the \
recipe: paths under jails_dir and cache_dir, jail_conf, the jails' own files in \
jail_conf_dir and the rc.conf files (reads also the \
recipe's own input files), datasets thinjail made under jails_dataset, an allow-list \
of ZFS properties, the recipe's jails; nothing on the host touches a jail's own files \
by path, since the jail's root controls them. Just before each action, no component \
of its paths below jails_dir or cache_dir may be a symbolic link.",
    );
    paragraph(
        &mut roff,
        "RECIPE, wherever a command takes one, is a recipe file or the name of a \
built-in recipe (see the recipes command); each command says which recipe it uses \
when RECIPE is omitted. A path containing a slash or ending in .ron is always read \
as a file; any other name is a built-in recipe, never a file in the current \
directory (write ./NAME for that). A command that changes the host acts only on a \
recipe file that nobody but root (or the user running thinjail, or the one who \
invoked it through sudo or doas) can change: the \
file, every directory on the way to it and every symbolic link leading to it \
(exit status 65 otherwise).",
    );
    roff
}

/// The COMMANDS section: every visible subcommand, its synopsis, what it does and
/// its own arguments.
fn commands(cmd: &Command) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    roff.text([roman(
        "The global options above may be given before or after the command name.",
    )]);
    for sub in subcommands(cmd) {
        roff.control("SS", [sub.get_name()]);
        let mut line = vec![bold(format!("{BIN_NAME} {}", sub.get_name())), roman(" ")];
        line.extend(synopsis_args(sub));
        roff.text(line);
        roff.control("PP", []);
        let about = sub
            .get_long_about()
            .or_else(|| sub.get_about())
            .map(|a| a.to_string())
            .unwrap_or_default();
        for (n, part) in about.split("\n\n").enumerate() {
            if n > 0 {
                roff.control("PP", []);
            }
            roff.text(rich(&sentence(&part.replace('\n', " "))));
        }
        for arg in own_args(sub) {
            roff.control("TP", []);
            roff.text(arg_header(arg));
            roff.text(rich(&arg_help(arg)));
        }
    }
    roff
}

/// The documented subcommands: visible ones, less clap's own `help`.
pub fn subcommands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// A subcommand's own arguments: not the global ones, not `--help`.
fn own_args(sub: &Command) -> Vec<&Arg> {
    let mut args: Vec<&Arg> = sub
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_global_set())
        .filter(|a| !matches!(a.get_action(), ArgAction::Help | ArgAction::Version))
        .collect();
    // Options first, then positionals, as in the synopsis.
    args.sort_by_key(|a| a.is_positional());
    args
}

fn value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .map(|names| {
            names
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase())
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.takes_values())
}

fn flag_inlines(arg: &Arg) -> Vec<Inline> {
    let mut out = Vec::new();
    match (arg.get_short(), arg.get_long()) {
        (Some(short), Some(long)) => {
            out.push(bold(format!("-{short}")));
            out.push(roman(", "));
            out.push(bold(format!("--{long}")));
        }
        (Some(short), None) => out.push(bold(format!("-{short}"))),
        (None, Some(long)) => out.push(bold(format!("--{long}"))),
        (None, None) => {}
    }
    if takes_value(arg) {
        out.push(roman(" "));
        out.push(italic(value_name(arg)));
    }
    out
}

/// An option as the synopsis shows it: its short form when it has one (the long
/// one is in the option's description), and its value.
fn synopsis_flag(arg: &Arg) -> Vec<Inline> {
    let mut out = match (arg.get_short(), arg.get_long()) {
        (Some(short), _) => vec![bold(format!("-{short}"))],
        (None, Some(long)) => vec![bold(format!("--{long}"))],
        (None, None) => vec![],
    };
    if takes_value(arg) {
        out.push(roman(" "));
        out.push(italic(value_name(arg)));
    }
    out
}

/// A subcommand's arguments as the synopsis shows them, after its name.
fn synopsis_args(sub: &Command) -> Vec<Inline> {
    let mut line = Vec::new();
    for (i, arg) in own_args(sub).into_iter().enumerate() {
        if i > 0 {
            line.push(roman(" "));
        }
        let optional = !arg.is_required_set();
        if optional {
            line.push(roman("["));
        }
        if arg.is_positional() {
            if arg.is_last_set() {
                line.push(bold("--"));
                line.push(roman(" "));
            }
            line.push(italic(value_name(arg)));
            if arg.get_num_args().is_some_and(|n| n.max_values() > 1) {
                line.push(roman(" ..."));
            }
        } else {
            line.extend(synopsis_flag(arg));
        }
        if optional {
            line.push(roman("]"));
        }
    }
    line
}

fn arg_header(arg: &Arg) -> Vec<Inline> {
    if arg.is_positional() {
        vec![italic(value_name(arg))]
    } else {
        flag_inlines(arg)
    }
}

fn arg_help(arg: &Arg) -> String {
    let mut text = sentence(
        &arg.get_long_help()
            .or_else(|| arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default(),
    );
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| match v.get_help() {
            Some(help) => format!("{} ({help})", v.get_name()),
            None => v.get_name().to_string(),
        })
        .collect();
    if !values.is_empty() && takes_value(arg) {
        text.push_str(&format!(" One of: {}.", values.join(", ")));
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() && takes_value(arg) {
        text.push_str(&format!(" Default: {}.", defaults.join(", ")));
    }
    text
}

/// ENVIRONMENT, FILES, EXIT STATUS, EXAMPLES, SEE ALSO.
fn trailer() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["ENVIRONMENT"]);
    roff.control("TP", []);
    roff.text([bold("THINJAIL_RECIPE")]);
    roff.text([roman(format!(
        "The recipe of the commands that take one, when none is given on the \
command line; it takes precedence over {}. A bare name is a built-in recipe.",
        recipes::SYSTEM_RECIPE
    ))]);
    roff.control("TP", []);
    roff.text([bold(thinjail_core::host::spawn::PROXY_VARIABLES.join(", "))]);
    roff.text([roman(
        "Passed to the commands that download, and to no other: fetch(1) (the \
sets of a Fetch release), freebsd-update(8) (update) and bsdinstall(8) (a Bsdinstall \
release). These are the variables FreeBSD's libfetch and freebsd-update's phttpget \
read to go through a proxy; neither reads HTTPS_PROXY (HTTP_PROXY is used for https \
URLs too). A plan that downloads says so.",
    )]);
    paragraph(
        &mut roff,
        &format!(
            "Nothing else from the environment reaches the commands thinjail runs: \
each is run by absolute path, looked up in {path} only, with PATH={path} as its \
whole environment (exec and console also pass TERM; the commands that download, the \
proxy variables above). The same commands thus run from cron(8). thinjail sets its \
umask to 022 when it starts.",
            path = thinjail_core::host::spawn::HOST_PATH
        ),
    );

    let host = HostConfig::default();
    roff.control("SH", ["FILES"]);
    let files = [
        (
            recipes::SYSTEM_RECIPE.to_string(),
            "The recipe used when none is named and THINJAIL_RECIPE is not set; \
             without it, the built-in default."
                .to_string(),
        ),
        (
            host.jail_conf.display().to_string(),
            "The administrator's jail.conf(5): read, never written (blocks an older \
             thinjail wrote there are moved to the jails' own files)."
                .to_string(),
        ),
        (
            format!("{}/NAME.conf", host.jail_conf_dir.display()),
            "Each jail's own jail.conf(5), written by apply and removed by destroy.".to_string(),
        ),
        (
            host.rc_conf.display().to_string(),
            "rc.conf(5); jail_enable and jail_list are set where rc(8) takes them \
             from (this file, rc.conf.local or rc.conf.d/jail)."
                .to_string(),
        ),
        (
            host.jails_dir.display().to_string(),
            format!(
                "Mountpoint of {}: base/RELEASE-base and base/RELEASE-template, one \
                 directory per jail with its data and fstab, and .mountpoints/JAIL where \
                 the jail's root is assembled.",
                host.jails_dataset
            ),
        ),
        (
            host.cache_dir.display().to_string(),
            "Downloaded distribution sets, verified and reused. Root's alone: made with \
             mode 0700; refused when someone else owns it, can write to it, or it is \
             reached through a symbolic link, so the sets verified are the sets extracted."
                .to_string(),
        ),
        (
            host.lock_file.display().to_string(),
            "Keeps two thinjail runs that change the host from interleaving. Made with \
             mode 0600 and never opened through a symbolic link; one that someone else \
             owns or controls is refused (exit status 78)."
                .to_string(),
        ),
        (
            host.plugin_dir.display().to_string(),
            "Plugin stages named in a recipe without a path. A library is loaded only \
             when nobody but root can change it or any directory on the way to it, and \
             never from under the jails directory."
                .to_string(),
        ),
    ];
    for (path, what) in files {
        roff.control("TP", []);
        roff.text([italic(path)]);
        roff.text([roman(what)]);
    }
    paragraph(
        &mut roff,
        "Except for the recipe, each of these is a default that a recipe's host \
section can change.",
    );

    roff.control("SH", ["EXIT STATUS"]);
    roff.text([roman(
        "thinjail exits with one of these statuses, following sysexits(3):",
    )]);
    let mut table = exit::TABLE.to_vec();
    table.sort_by_key(|(code, _)| *code);
    for (code, meaning) in table {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(meaning)]);
    }
    paragraph(
        &mut roff,
        "When a host command fails, the message names it, its status, and the end of \
both its standard error and its standard output (FreeBSD's etcupdate and \
freebsd-update explain themselves on standard output). Anything a jail, a host \
command or a plugin printed is shown with control characters and bidirectional \
overrides escaped (ESC as \\x1b), so it cannot hide or reorder what thinjail shows.",
    );
    paragraph(
        &mut roff,
        "With --json, apply and stop print their report on standard output whatever \
the status; the schemas are described in docs/json.md of the source distribution. \
When some jails of a start or stop that runs several side by side fail, every jail \
that does not wait for a failed one is still tried (a start waits for the jails a jail \
depends on, a stop for the jails that depend on it), the status is 1, and the message \
(and --json) says how each jail ended.",
    );

    roff.control("SH", ["EXAMPLES"]);
    let examples = [
        (
            "Start from an editable recipe, look at every command, then run them:",
            vec![
                "thinjail init /usr/local/etc/thinjail.ron",
                "thinjail plan",
                "thinjail apply",
            ],
        ),
        (
            "Reproduce the article the built-in recipes follow, as a script, without looking at this host:",
            vec!["thinjail plan article --fresh > article.sh"],
        ),
        (
            "See what pruning would remove (jails no longer in the recipe; their data datasets are kept), then prune:",
            vec!["thinjail plan --prune --format text", "thinjail apply --prune"],
        ),
        (
            "Apply from a script or configuration management and read what changed:",
            vec!["thinjail apply thinjail.ron --yes --json"],
        ),
        (
            "Install the manual pages and the bash, zsh and fish completions:",
            vec![
                "thinjail man /usr/local/share/man",
                "thinjail completions --dir /tmp/completions",
            ],
        ),
    ];
    for (n, (what, lines)) in examples.into_iter().enumerate() {
        if n > 0 {
            roff.control("PP", []);
        }
        roff.text([roman(what)]);
        roff.control("PP", []);
        roff.control("RS", ["4"]);
        roff.control("nf", []);
        for line in lines {
            roff.text([roman(format!("# {line}"))]);
        }
        roff.control("fi", []);
        roff.control("RE", []);
    }

    roff.control("SH", ["SECURITY CONSIDERATIONS"]);
    roff.text([roman(
        "A jail's root controls the jail's data and root, and is uid 0 like the \
host's root. thinjail never writes into those files from the host, never follows a \
symbolic link in a path it writes (every component is opened without following \
links; files are replaced through temporary files with unpredictable names), and \
never loads a plugin from under the jails directory. docs/security.md of the \
source distribution states the threat model and each rule with the test that \
shows it.",
    )]);

    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "thinjail.recipe(5), jail.conf(5), nullfs(5), rc.conf(5), sysexits(3), \
bsdinstall(8), freebsd-update(8), jail(8), jexec(8), jls(8), zfs(8)",
    )]);
    roff.control("PP", []);
    roff.text([roman(
        "Artisanal Thin Jails from Scratch on FreeBSD (2022), the procedure thinjail \
follows; the FreeBSD Handbook, chapter Jails and Containers.",
    )]);
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_keeps_one_preamble_and_breaks_long_lines_safely() {
        let preamble = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
        let long = format!("{} .dot 'quote", "word ".repeat(20));
        let text = format!("{preamble}.TH X 8\n{preamble}.SH NAME\n{long}\n");
        let tidy = tidy(&text);
        assert_eq!(tidy.matches(".ds Aq").count(), 2, "{tidy}");
        assert!(tidy.lines().all(|l| l.len() <= MAX_LINE), "{tidy}");
        assert!(
            tidy.lines()
                .filter(|l| !l.starts_with('.'))
                .all(|l| !l.starts_with('\'')),
            "{tidy}"
        );
        let words: Vec<&str> = tidy
            .lines()
            .skip(4)
            .flat_map(|l| l.split(' '))
            .map(|w| w.trim_start_matches("\\&"))
            .collect();
        assert_eq!(words.join(" "), long.trim_end());
    }

    #[test]
    fn the_page_is_reproducible() {
        assert_eq!(thinjail_8().unwrap(), thinjail_8().unwrap());
    }
}
