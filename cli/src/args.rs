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

/// The recipe argument of `plan` and `apply`.
#[derive(Debug, Args)]
pub struct RecipeArg {
    /// Recipe file or built-in recipe name [default: $THINJAIL_RECIPE, else
    /// /usr/local/etc/thinjail.ron if it exists, else the built-in `default`].
    #[arg(value_name = "RECIPE")]
    pub recipe: Option<String>,
}

/// Options shared by the lifecycle commands.
#[derive(Debug, Args)]
pub struct LifeOpts {
    /// Recipe file or built-in recipe name [default: $THINJAIL_RECIPE, else
    /// /usr/local/etc/thinjail.ron if it exists, else the built-in `default`].
    #[arg(short = 'r', long = "recipe", value_name = "RECIPE")]
    pub recipe: Option<String>,
    /// Print the plan and stop; change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub yes: bool,
    /// Wait for another running thinjail instead of refusing.
    #[arg(long)]
    pub wait: bool,
}

/// Which jails a command acts on.
#[derive(Debug, Args)]
pub struct JailSelection {
    /// Jails to act on.
    #[arg(value_name = "JAIL", required_unless_present = "all")]
    pub jails: Vec<String>,
    /// Every jail of the recipe.
    #[arg(long, conflicts_with = "jails")]
    pub all: bool,
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
        /// Print JSON (the same as --format json).
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// Also plan what `apply --prune` does: stop and remove orphaned jails,
        /// keeping their data datasets.
        #[arg(long)]
        prune: bool,
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
        /// Also remove orphaned jails (their dataset carries thinjail's mark for this
        /// jails dataset, and the recipe no longer names them), keeping their data
        /// datasets.
        #[arg(long)]
        prune: bool,
        /// Start, and stop the jails it restarts, at most N at once (overrides the
        /// recipe's host.start_parallel; 1: one after the other).
        #[arg(long, value_name = "N")]
        parallel: Option<std::num::NonZeroU32>,
    },
    /// List the jails thinjail manages here: state, JID, addresses, release, space, path.
    List {
        /// Recipe file or built-in recipe name.
        #[arg(short = 'r', long = "recipe", value_name = "RECIPE")]
        recipe: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start jails (`jail -f CONF -c NAME`), independent ones side by side.
    Start {
        #[command(flatten)]
        which: JailSelection,
        #[command(flatten)]
        opts: LifeOpts,
        /// Start at most N jails at once (overrides the recipe's host.start_parallel;
        /// 1: one after the other).
        #[arg(long, value_name = "N")]
        parallel: Option<std::num::NonZeroU32>,
    },
    /// Stop jails (`jail -f CONF -r NAME`), each after those of them that depend on
    /// it, independent ones side by side (a jail that depends on one given is not
    /// stopped unless it is given too); nothing is left mounted, and the rctl(8)
    /// rules thinjail set for them are removed.
    Stop {
        #[command(flatten)]
        which: JailSelection,
        #[command(flatten)]
        opts: LifeOpts,
        /// Stop at most N jails at once (overrides the recipe's host.start_parallel;
        /// 1: one after the other).
        #[arg(long, value_name = "N")]
        parallel: Option<std::num::NonZeroU32>,
        /// Print each jail's state afterwards, and the failure, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop, then start jails.
    Restart {
        #[command(flatten)]
        which: JailSelection,
        #[command(flatten)]
        opts: LifeOpts,
        /// Stop and start at most N jails at once (overrides the recipe's
        /// host.start_parallel; 1: one after the other).
        #[arg(long, value_name = "N")]
        parallel: Option<std::num::NonZeroU32>,
    },
    /// Run a command in a running jail (`jexec -l`); exits with its status.
    Exec {
        /// The jail.
        #[arg(value_name = "JAIL")]
        jail: String,
        /// The command and its arguments (after `--`).
        #[arg(value_name = "COMMAND", last = true, required = true)]
        command: Vec<String>,
        #[command(flatten)]
        opts: LifeOpts,
    },
    /// A root login shell in a running jail (`jexec -l JAIL login -f root`).
    Console {
        /// The jail.
        #[arg(value_name = "JAIL")]
        jail: String,
        #[command(flatten)]
        opts: LifeOpts,
    },
    /// Stop a jail and remove its jail.conf entry, fstab and mountpoint; its data
    /// dataset is kept unless --data.
    Destroy {
        /// The jail.
        #[arg(value_name = "JAIL")]
        jail: String,
        /// Also destroy its data dataset and the data's snapshots (one by one, never
        /// `zfs destroy -r`), and its jail dataset when nothing else is below it.
        #[arg(long)]
        data: bool,
        /// With --data, also destroy this dataset delegated to the jail (the recipe's
        /// `datasets`), with everything below it; repeat for each. Without it,
        /// delegated datasets are kept.
        #[arg(long = "dataset", value_name = "DATASET", requires = "data")]
        datasets: Vec<String>,
        #[command(flatten)]
        opts: LifeOpts,
    },
    /// Destroy a release's base and template; refused while any jail uses them.
    DestroyRelease {
        /// The release, e.g. 13.1-RELEASE.
        #[arg(value_name = "RELEASE")]
        release: String,
        #[command(flatten)]
        opts: LifeOpts,
    },
    /// Snapshot a jail's data (default name: thinjail-YYYYMMDD-HHMMSS, UTC).
    Snapshot {
        /// The jail.
        #[arg(value_name = "JAIL")]
        jail: String,
        /// Snapshot name.
        #[arg(value_name = "NAME")]
        name: Option<String>,
        #[command(flatten)]
        opts: LifeOpts,
    },
    /// Stop a jail, roll its data back to a snapshot, start it again.
    Rollback {
        /// The jail.
        #[arg(value_name = "JAIL")]
        jail: String,
        /// Snapshot name.
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        opts: LifeOpts,
    },
    /// List a jail's snapshots.
    Snapshots {
        /// The jail.
        #[arg(value_name = "JAIL")]
        jail: String,
        /// Recipe file or built-in recipe name.
        #[arg(short = 'r', long = "recipe", value_name = "RECIPE")]
        recipe: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Update a release's base once for all its jails (freebsd-update -b), after a
    /// snapshot; restarts the running jails that use it.
    ///
    /// freebsd-update runs as two commands, fetch then install, with a configuration
    /// thinjail writes under the cache directory (FreeBSD's defaults with Components
    /// world, BackupKernel no, and IgnorePaths for the jail-specific paths, which are
    /// links into each jail's own data in a thin base) and a work directory of its
    /// own there; the release's platform is given as UNAME_m and UNAME_p, and
    /// --currently-running names the release, so neither is taken from the host. A
    /// release past its end of life makes fetch exit 1 after fetching: thinjail
    /// reports the warning and installs what was fetched. When there is nothing to
    /// install, it says so and succeeds.
    ///
    /// The template is updated the same way (so are the etcupdate tree it keeps and
    /// the release's etcupdate tarball in the base), and its @gold is taken again so
    /// new jails start patched; the @gold before the update is kept as
    /// @pre-update-STAMP, like the base's snapshot. Each running jail on the base
    /// rehashes its trust store inside the jail (certctl rehash). The jails' own /etc
    /// is not patched: upgrade moves a jail's files to a release.
    Update {
        /// The release.
        #[arg(value_name = "RELEASE")]
        release: String,
        /// Undo the last update instead (roll the base back to its pre-update snapshot).
        #[arg(long)]
        rollback: bool,
        /// Do not restart the jails; list those that need it.
        #[arg(long)]
        no_restart: bool,
        #[command(flatten)]
        opts: LifeOpts,
    },
    /// Move a jail to another release: snapshot, stop, point its fstab at the new
    /// base, start it there, merge its /etc inside the jail (etcupdate), restart.
    /// Any failure puts everything back; merge conflicts are reported (exit 3).
    ///
    /// The merge is etcupdate's three-way merge, run inside the jail with jexec
    /// (etcupdate -t /usr/share/thinjail/etcupdate.txz): the jail's files against
    /// the baseline it started with (/var/db/etcupdate/current, recorded by thinjail
    /// in every template) and the new release's etcupdate tree, which thinjail keeps
    /// in each release's base. Nothing of the merge runs on the host, where the
    /// jail's own links would lead host root anywhere. A jail that was not running
    /// is started for the merge and stopped again.
    ///
    /// When etcupdate cannot merge some files, the upgrade still completes: the jail
    /// runs the new release and keeps its own version of each such file, the merged
    /// versions with conflict markers wait in its /var/db/etcupdate/conflicts, and
    /// upgrade lists them and exits 3. Resolve them inside the jail (jexec JAIL
    /// etcupdate resolve, or thinjail exec JAIL -- etcupdate resolve); until then
    /// etcupdate in that jail refuses to merge again. The jail's data from before
    /// the upgrade is kept as the snapshot @upgraded-from-OLD-to-NEW-STAMP.
    ///
    /// A jail made before thinjail recorded baselines is refused (exit 78) before
    /// anything changes; --bootstrap-baseline records it once, inside the jail, from
    /// the tree of the release it runs (a base installed before that has its tree
    /// built by the next apply).
    Upgrade {
        /// The jail.
        #[arg(value_name = "JAIL")]
        jail: String,
        /// The release to move to (installed by the recipe first).
        #[arg(
            long,
            value_name = "RELEASE",
            required_unless_present = "bootstrap_baseline",
            conflicts_with = "bootstrap_baseline"
        )]
        to: Option<String>,
        /// Record the jail's etcupdate baseline (the tree of the release it runs now),
        /// inside the jail, instead: once, for a jail made before thinjail recorded it.
        #[arg(long)]
        bootstrap_baseline: bool,
        /// Print the outcome as JSON, a failure included (the plan and progress go to
        /// standard error).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        opts: LifeOpts,
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
