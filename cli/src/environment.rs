//! What the command runs against: the host provider (the real FreeBSD host, or a
//! test bed) and the plugin loader. The `thinjail` binary uses [`Environment::freebsd`];
//! test programs pass their own.

use thinjail_core::host::{FreeBsdHost, Host, HostGuards, Progress};
use thinjail_core::pipeline::StageLoader;
use thinjail_core::Recipe;

/// Makes the host a command applies to.
pub trait HostProvider {
    /// A host for `recipe`, reporting long steps to `progress`.
    fn host(&self, recipe: &Recipe, progress: Box<dyn Progress>) -> anyhow::Result<Box<dyn Host>>;

    /// Whether changing this host needs root.
    fn needs_root(&self) -> bool {
        true
    }

    /// Name shown in messages.
    fn describe(&self) -> String;
}

/// The real machine, through its own commands.
pub struct FreeBsdHosts;

impl HostProvider for FreeBsdHosts {
    fn host(&self, recipe: &Recipe, progress: Box<dyn Progress>) -> anyhow::Result<Box<dyn Host>> {
        Ok(Box::new(
            FreeBsdHost::with_progress(progress).with_guards(HostGuards::for_recipe(recipe)),
        ))
    }

    fn describe(&self) -> String {
        "this host".to_string()
    }
}

/// Builds the loader for plugin stages named in recipes and on the command line;
/// `jails_dir` is the recipe's, under which no library is ever loaded.
pub type LoaderFactory =
    fn(extra_plugins: &[std::path::PathBuf], jails_dir: &std::path::Path) -> Box<dyn StageLoader>;

/// Everything a command runs against.
pub struct Environment {
    /// The hosts.
    pub hosts: Box<dyn HostProvider>,
    /// The plugin loader factory.
    pub loader: LoaderFactory,
}

impl Environment {
    /// The real FreeBSD host, with plugins loaded from shared libraries.
    pub fn freebsd() -> Self {
        Environment {
            hosts: Box::new(FreeBsdHosts),
            loader: crate::plugins::loader,
        }
    }

    /// Hosts from `hosts`, with plugins loaded from shared libraries as
    /// [`Environment::freebsd`] does.
    pub fn with_hosts(hosts: Box<dyn HostProvider>) -> Self {
        Environment {
            hosts,
            loader: crate::plugins::loader,
        }
    }
}
