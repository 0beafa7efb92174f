//! The command line, defined with clap (also the source of thinjail(8)).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Declarative FreeBSD thin jails: one read-only base shared through nullfs, a small
/// writable ZFS dataset per jail. Every change is planned, shown, then applied.
#[derive(Debug, Parser)]
#[command(name = "thinjail", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// More output: -v logs every host command, -vv everything.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Load a plugin library providing extra stages (repeatable).
    #[arg(long = "plugin", value_name = "PATH", global = true)]
    pub plugins: Vec<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const AFTER_HELP: &str =
    "RECIPE is a recipe file or a built-in recipe name (see `thinjail recipes`); \
the built-in `default` when omitted.\n\
Exit status follows sysexits(3): 0 ok, 1 a host command failed, 64 usage, 65 bad recipe, \
66 missing file, 69 host cannot be observed, 75 another thinjail is running, 77 not root, \
78 the host conflicts with the recipe.";

/// Output format of `plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// A runnable POSIX sh script.
    Sh,
    /// A description for people.
    Text,
    /// JSON for programs.
    Json,
}

/// The recipe argument shared by most commands.
#[derive(Debug, Args)]
pub struct RecipeArg {
    /// Recipe file or built-in recipe name.
    #[arg(value_name = "RECIPE", default_value = "default")]
    pub recipe: String,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what `apply` would do, as shell commands, text or JSON; changes nothing.
    Plan {
        #[command(flatten)]
        recipe: RecipeArg,
        /// Output format.
        #[arg(long, value_enum, default_value = "sh")]
        format: PlanFormat,
        /// Plan against an empty host instead of observing this one.
        #[arg(long)]
        fresh: bool,
    },
    /// Make the host match the recipe: observe, plan, confirm, apply.
    Apply {
        #[command(flatten)]
        recipe: RecipeArg,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
        /// Wait for another running thinjail instead of refusing.
        #[arg(long)]
        wait: bool,
        /// Print what was done as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate a recipe and its stages; plan nothing.
    Check {
        /// Recipe file or built-in recipe name.
        #[arg(value_name = "RECIPE")]
        recipe: String,
    },
    /// List the built-in recipes.
    Recipes {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the stages available: built-in, and those a recipe or --plugin loads.
    Stages {
        /// Also load the plugin stages this recipe names.
        #[arg(value_name = "RECIPE")]
        recipe: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write an editable, commented recipe to start from.
    Init {
        /// Where to write it.
        #[arg(value_name = "PATH", default_value = "thinjail.ron")]
        path: PathBuf,
        /// Built-in recipe to start from.
        #[arg(long, default_value = "default")]
        from: String,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print thinjail(8), or write thinjail(8) and thinjail.recipe(5) under a manual root.
    Man {
        /// Manual root to write into (DIR/man8/thinjail.8, DIR/man5/thinjail.recipe.5),
        /// such as /usr/local/share/man; without it, thinjail(8) goes to standard output.
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print a shell completion script, or write those for bash, zsh and fish.
    ///
    /// POSIX sh has no programmable completion, so there is no script for it.
    Completions {
        /// Shell to print the completion script of.
        #[arg(value_name = "SHELL", required_unless_present = "dir")]
        shell: Option<clap_complete::Shell>,
        /// Write thinjail.bash, _thinjail and thinjail.fish into DIR instead.
        #[arg(long, value_name = "DIR", conflicts_with = "shell")]
        dir: Option<PathBuf>,
    },
}
