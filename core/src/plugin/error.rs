//! Why a plugin stage could not be loaded: [`PluginError`], with what is wrong with
//! a library ([`LibraryProblem`]) and with its descriptor ([`Malformation`]) as data,
//! so a program can branch on them (the `thinjail` command picks its exit status in
//! one place, `cli/src/exit.rs`). The messages are the ones users see.

use std::path::PathBuf;

use super::{entry_symbol, BadSlice, DescriptorProblem, ENTRY_SYMBOL, INTERFACE_VERSION};
use crate::stage::StageError;

/// Why a plugin stage could not be loaded for a recipe (or a `--plugin` library
/// could not be used). Nothing was planned when one of these comes back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// A plugin named without a path is not in the plugin directory.
    #[error(
        "no plugin {spec:?} in {} (looked for {}); give an absolute path or install it there",
        plugin_dir.display(),
        looked_for.join(", ")
    )]
    NotInstalled {
        /// The name the recipe gave.
        spec: String,
        /// The directory looked in.
        plugin_dir: PathBuf,
        /// The file names tried there, in order.
        looked_for: Vec<String>,
    },
    /// The library at `path` cannot be used.
    #[error("plugin library {}: {problem}", path.display())]
    Library {
        /// The library, as the recipe or the command line gave it.
        path: PathBuf,
        /// What is wrong with it.
        problem: LibraryProblem,
    },
    /// A recipe names a stage without `plugin:` that no `--plugin` library provides.
    #[error("no --plugin library provides stage {stage}")]
    NotOffered {
        /// The stage asked for.
        stage: String,
    },
    /// The library loaded, but it has no stage of that name.
    #[error(
        "plugin {plugin} ({}) has no stage {stage:?}; it provides: {}",
        path.display(),
        provides.join(", ")
    )]
    NoSuchStage {
        /// The plugin's name.
        plugin: String,
        /// Its library.
        path: PathBuf,
        /// The stage asked for.
        stage: String,
        /// The stages it has.
        provides: Vec<String>,
    },
    /// The stage refused its configuration.
    #[error("stage {stage}: configuration: {problem}")]
    Config {
        /// The stage.
        stage: String,
        /// What it said (without a leading `stage <name>: `).
        problem: String,
    },
    /// The plugin broke the interface while its stage was loaded (it panicked,
    /// or replied with something thinjail does not understand).
    #[error("{message}")]
    BrokenReply {
        /// The stage.
        stage: String,
        /// What went wrong, naming the plugin, its library and the stage.
        message: String,
    },
    /// The stage refused otherwise while it was loaded (checking its configuration
    /// or answering its probes).
    #[error("stage {stage}: {error}")]
    Refused {
        /// The stage.
        stage: String,
        /// Its refusal.
        error: StageError,
    },
    /// The program cannot load plugins at all.
    #[error("stage {stage} comes from a plugin, and this program cannot load plugins")]
    Unsupported {
        /// The stage asked for.
        stage: String,
    },
}

/// What is wrong with a plugin library, found before or while it is opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LibraryProblem {
    /// There is no file there.
    #[error("it does not exist")]
    NotFound,
    /// Its metadata cannot be read.
    #[error("cannot look at it: {0}")]
    Inaccessible(String),
    /// Someone other than root or the user running thinjail could change it, a
    /// directory on the way to it or a link leading to it (the owner, mode or
    /// directory is named in the reason); it was not opened.
    #[error("{0}")]
    Untrusted(crate::host::safe_fs::TrustProblem),
    /// It is under the recipe's jails directory, where a jail's root can make
    /// files; it was not opened.
    #[error(
        "{} is under the jails directory {}, where a jail's root (uid 0 like the host's) \
         can make files; thinjail never loads a plugin from there",
        shown_path(shown, physical),
        jails_dir.display()
    )]
    UnderJailsDir {
        /// The library as given.
        shown: PathBuf,
        /// Where it really is (links resolved), when checked that way.
        physical: PathBuf,
        /// The jails directory it is under.
        jails_dir: PathBuf,
    },
    /// dlopen(3) refused it (not a shared library, a missing dependency, …).
    #[error("cannot load it: {0}")]
    CannotOpen(String),
    /// It exports the entry symbol of another interface version.
    #[error(
        "it was built for plugin interface version {0} (it exports {symbol}), and this thinjail speaks version {INTERFACE_VERSION} ({ENTRY_SYMBOL})",
        symbol = entry_symbol(*.0)
    )]
    OtherInterface(u32),
    /// It exports no entry symbol thinjail knows.
    #[error("it is not a thinjail plugin: it exports no {ENTRY_SYMBOL} symbol")]
    NotAPlugin,
    /// Its descriptor fails a check.
    #[error("its plugin descriptor is malformed: {0}")]
    Malformed(Malformation),
}

fn shown_path(shown: &std::path::Path, physical: &std::path::Path) -> String {
    if shown == physical {
        shown.display().to_string()
    } else {
        format!("{} (really {})", shown.display(), physical.display())
    }
}

/// What is wrong with a plugin's descriptor.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformation {
    /// It cannot be read at all (null, another interface version, too small).
    #[error("{0}")]
    Descriptor(DescriptorProblem),
    /// It exchanges another version of the JSON documents.
    #[error("it exchanges JSON schema version {0}, and this thinjail uses version {ours}; rebuild it against this thinjail-core", ours = super::JSON_SCHEMA_VERSION)]
    JsonSchema(u32),
    /// One of its texts (`what`: "plugin name", "stage 0 name", …) is unusable.
    #[error("{}", text_problem(what, problem))]
    Text {
        /// Which text.
        what: String,
        /// What is wrong with it.
        problem: TextProblem,
    },
    /// Its name is not a plain name.
    #[error("its name {0:?} is not a plain name")]
    PluginName(String),
    /// One of its four functions is missing.
    #[error("it lacks one of the functions configure, probes, plan, free_reply")]
    MissingFunction,
    /// It provides no stage.
    #[error("it provides no stage")]
    NoStage,
    /// It claims more stages than a plugin may have.
    #[error("it claims {0} stages (at most {most})", most = super::MAX_STAGES)]
    TooManyStages(usize),
    /// Its stage list is a null pointer.
    #[error("its stage list is a null pointer")]
    NullStageList,
    /// A stage's name is not a valid stage name.
    #[error("its stage {index} has a bad name: {problem}")]
    StageName {
        /// The stage's position in the list.
        index: usize,
        /// Why the name is refused.
        problem: String,
    },
    /// Two stages have the same name.
    #[error("it lists stage {0} twice")]
    DuplicateStage(String),
}

/// What is wrong with one of a descriptor's texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextProblem {
    /// It cannot be read.
    Unreadable(BadSlice),
    /// Longer than a descriptor text may be (the limit, in bytes).
    TooLong(usize),
    /// Not UTF-8.
    NotUtf8,
    /// Absent or blank, and it is required.
    Missing,
}

fn text_problem(what: &str, problem: &TextProblem) -> String {
    match problem {
        TextProblem::Unreadable(e) => format!("its {what} is {e}"),
        TextProblem::TooLong(limit) => format!("its {what} is longer than {limit} bytes"),
        TextProblem::NotUtf8 => format!("its {what} is not UTF-8"),
        TextProblem::Missing => format!("it has no {what}"),
    }
}
