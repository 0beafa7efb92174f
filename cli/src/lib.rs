//! # thinjail-cli
//!
//! The `thinjail` command: recipes (built-in and files), `plan` and `apply`, and the
//! lifecycle commands, over any host. It parses, confirms, prints and applies; the
//! plans come from `thinjail-core` (the stages' pipeline) and `thinjail-lifecycle`,
//! and every error's exit status is chosen in [`exit`]. [`run`] takes an
//! [`Environment`] so test programs can drive the very same command against a test
//! bed.

// Unsafe code lives in `plugins` alone (opening a library, looking up its entry).
#![deny(unsafe_code)]

pub mod args;
mod commands;
pub mod environment;
pub mod exit;
pub mod manual;
// dlopen(3) and dlsym(3) of a plugin library: each block has its SAFETY reason.
#[allow(unsafe_code)]
pub mod plugins;
pub mod progress;
pub mod recipes;

use std::ffi::OsString;

use clap::Parser;

pub use commands::{confirm, prepare, Prepared};
pub use environment::{Environment, HostProvider};

use args::{Cli, Command};

/// What every thinjail process does first: `umask 022`, as the rendered plan says,
/// so what it creates is never group- or world-writable (nor narrower than planned)
/// whatever umask it was started with.
pub fn prepare_process() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
}

/// Parses `args` (program name first) and runs the command; returns the exit status.
pub fn run<I, T>(env: &Environment, args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::OK
                }
                _ => exit::USAGE,
            };
        }
    };
    init_logging(cli.verbose);
    match dispatch(env, &cli) {
        Ok(code) => code,
        Err(error) => {
            // Errors carry what hosts, jails and plugins said: escaped for the terminal.
            eprintln!(
                "thinjail: {}",
                thinjail_core::quote::terminal(&error.to_string())
            );
            error.code
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

fn dispatch(env: &Environment, cli: &Cli) -> Result<u8, exit::CliError> {
    let plugins = &cli.plugins;
    match &cli.command {
        Command::Plan {
            recipe,
            format,
            fresh,
            json,
            prune,
        } => commands::plan(
            env,
            plugins,
            &recipes::resolve(recipe.recipe.as_deref()),
            if *json {
                args::PlanFormat::Json
            } else {
                *format
            },
            *fresh,
            *prune,
        ),
        Command::Apply {
            recipe,
            yes,
            wait,
            json,
            prune,
            parallel,
        } => commands::apply(
            env,
            plugins,
            &recipes::resolve(recipe.recipe.as_deref()),
            commands::ApplyOptions {
                yes: *yes,
                wait: *wait,
                json: *json,
                prune: *prune,
                parallel: *parallel,
            },
        ),
        Command::List { recipe, json } => commands::list(env, plugins, recipe.as_deref(), *json),
        Command::Start {
            which,
            opts,
            parallel,
        } => commands::start(env, plugins, which, opts, *parallel),
        Command::Stop {
            which,
            opts,
            parallel,
            json,
        } => commands::stop(env, plugins, which, opts, *parallel, *json),
        Command::Restart {
            which,
            opts,
            parallel,
        } => commands::restart(env, plugins, which, opts, *parallel),
        Command::Exec {
            jail,
            command,
            opts,
        } => commands::exec(env, plugins, jail, command, opts),
        Command::Console { jail, opts } => {
            let login = ["login", "-f", "root"].map(String::from).to_vec();
            commands::exec(env, plugins, jail, &login, opts)
        }
        Command::Destroy {
            jail,
            data,
            datasets,
            opts,
        } => commands::destroy(env, plugins, jail, *data, datasets, opts),
        Command::DestroyRelease { release, opts } => {
            commands::destroy_release(env, plugins, release, opts)
        }
        Command::Snapshot { jail, name, opts } => {
            commands::snapshot(env, plugins, jail, name.as_deref(), opts)
        }
        Command::Rollback { jail, name, opts } => {
            commands::rollback(env, plugins, jail, name, opts)
        }
        Command::Snapshots { jail, recipe, json } => {
            commands::snapshots(env, plugins, jail, recipe.as_deref(), *json)
        }
        Command::Update {
            release,
            rollback,
            no_restart,
            opts,
        } => commands::update(env, plugins, release, *rollback, !*no_restart, opts),
        Command::Upgrade {
            jail,
            to,
            bootstrap_baseline,
            json,
            opts,
        } => match to {
            Some(to) if !bootstrap_baseline => {
                commands::upgrade(env, plugins, jail, to, *json, opts)
            }
            _ => commands::bootstrap_baseline(env, plugins, jail, *json, opts),
        },
        Command::Check { recipe } => commands::check(env, plugins, recipe),
        Command::Recipes { json } => commands::recipes(*json),
        Command::Stages { recipe, json } => {
            commands::stages(env, plugins, recipe.as_deref(), *json)
        }
        Command::Init { path, from, force } => commands::init(path, from, *force),
        Command::Man { dir } => manual::man(dir.as_deref()),
        Command::Completions { shell, dir } => manual::completions(*shell, dir.as_deref()),
    }
}
