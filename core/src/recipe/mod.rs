//! The recipe: a declarative description, in RON, of the releases, the template and
//! the jails a host should have, and of the stages that bring the host there.
//!
//! Every section has defaults that follow the article, so a minimal recipe names one
//! release and one jail. [`Recipe::from_ron`] parses *and* validates; a recipe that
//! comes back from it is safe to plan.

pub mod network;
pub mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use validate::{RecipeError, RecipeErrors};

/// A whole recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Where things live on the host.
    #[serde(default)]
    pub host: HostConfig,
    /// The FreeBSD releases whose base systems the jails share.
    pub releases: Vec<Release>,
    /// What is jail-specific and what every new jail starts with.
    #[serde(default)]
    pub template: Template,
    /// jail.conf(5) parameters for every jail, on top of [`builtin_jail_params`]
    /// (the article's global section).
    #[serde(default)]
    pub jail_params: BTreeMap<String, ParamValue>,
    /// The jails.
    #[serde(default)]
    pub jails: Vec<Jail>,
    /// The ordered stages that plan the work.
    #[serde(default = "default_stages")]
    pub stages: Vec<StageEntry>,
}

/// Host-wide locations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    /// The ZFS dataset that holds everything (the article's `zroot/jails`).
    pub jails_dataset: String,
    /// Its mountpoint (the article's `/usr/local/jails`).
    pub jails_dir: PathBuf,
    /// The administrator's jail.conf(5): the file rc(8) boots every jail of when
    /// `jail_list` is empty (rc.conf's `jail_conf`). thinjail reads it (jail names,
    /// `.include`s) and writes nothing in it but the removal of blocks an older
    /// thinjail put there.
    pub jail_conf: PathBuf,
    /// The directory of thinjail's own jail.conf(5) files, one per jail
    /// (`DIR/NAME.conf`, started with `jail -f DIR/NAME.conf -c NAME`). rc.d/jail
    /// looks for `/etc/jail.conf.d/NAME.conf` by itself; elsewhere thinjail sets
    /// `jail_NAME_conf` in rc.conf.
    pub jail_conf_dir: PathBuf,
    /// The rc.conf(5) thinjail edits when a variable it needs (`jail_enable`,
    /// `jail_list`, `jail_NAME_conf`) is set in none of the files rc(8) reads; where
    /// one is set, that file is edited instead.
    pub rc_conf: PathBuf,
    /// The root of the FreeBSD system whose boot configuration this is: rc(8)'s and
    /// jail(8)'s fixed paths (`/etc/defaults/rc.conf`, `/etc/rc.conf.local`,
    /// `/etc/rc.conf.d/jail`, `/etc/jail.NAME.conf`, `/etc/jail.conf.d`) and the paths
    /// written in those files are read below it. `/` on a running host; another
    /// directory for a system mounted elsewhere (and on the Linux test bed).
    pub system_root: PathBuf,
    /// Network interface the jails' addresses are added to (`interface` in jail.conf).
    pub interface: Option<String>,
    /// Where downloaded distribution sets are kept and reused.
    pub cache_dir: PathBuf,
    /// Lock file that keeps two thinjail runs from interleaving.
    pub lock_file: PathBuf,
    /// Where plugin stages named without a path are looked up.
    pub plugin_dir: PathBuf,
    /// The bridges VNET jails attach to.
    #[serde(skip_serializing_if = "network::HostNetwork::is_empty")]
    pub network: network::HostNetwork,
    /// How many jails `apply` and `start` start at once (each after the jails it
    /// depends on; [`crate::resources::order`]), and `stop` stops at once (each
    /// after the jails that depend on it; [`crate::stop`]); unset: as many as the
    /// host has CPUs; `1`: one after the other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_parallel: Option<std::num::NonZeroU32>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            jails_dataset: "zroot/jails".into(),
            jails_dir: "/usr/local/jails".into(),
            jail_conf: "/etc/jail.conf".into(),
            jail_conf_dir: "/etc/jail.conf.d".into(),
            rc_conf: "/etc/rc.conf".into(),
            system_root: "/".into(),
            interface: None,
            cache_dir: "/var/cache/thinjail".into(),
            lock_file: "/var/run/thinjail.lock".into(),
            plugin_dir: "/usr/local/lib/thinjail/plugins".into(),
            network: network::HostNetwork::default(),
            start_parallel: None,
        }
    }
}

impl HostConfig {
    /// The ZFS pool: the first component of `jails_dataset`.
    pub fn pool(&self) -> &str {
        self.jails_dataset
            .split('/')
            .next()
            .unwrap_or(&self.jails_dataset)
    }
}

/// One FreeBSD release and how its base system is installed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Release name as FreeBSD spells it, e.g. `14.3-RELEASE`.
    pub name: String,
    /// How the base is populated.
    #[serde(default)]
    pub install: Install,
    /// Hardware platform, as in the mirror's `<machine>/<arch>` path (`amd64`, `arm64`, `i386`).
    #[serde(default = "default_arch")]
    pub arch: String,
    /// An etcupdate(8) tarball of this release's /etc (made by `etcupdate build`) to
    /// use instead of the tree thinjail builds from the release's own files when the
    /// release is installed (or when its base, installed by an older thinjail, has
    /// none yet).
    #[serde(default)]
    pub etcupdate: Option<PathBuf>,
    /// Patch the freshly installed base with freebsd-update(8) before the template is
    /// made from it (as the Handbook does), so new jails start patched.
    #[serde(default = "yes")]
    pub update_after_install: bool,
}

/// How a release's base system is installed (article step 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Install {
    /// Download distribution sets and `MANIFEST` from a mirror, verify, extract.
    Fetch {
        /// Mirror URL up to (not including) `<machine>/<arch>/<release>/`; the official
        /// download site when absent.
        #[serde(default)]
        mirror: Option<String>,
        /// Distribution sets to install, e.g. `["base.txz", "lib32.txz"]`.
        #[serde(default = "default_sets")]
        sets: Vec<String>,
        /// Accept a mirror that is not `https://` (nor `file://`) without a pinned
        /// `manifest_sha256`: anyone on the network path can then choose what is installed.
        #[serde(default)]
        insecure: bool,
        /// The SHA-256 the release's `MANIFEST` must have (64 hex digits). The install
        /// stage checks the downloaded `MANIFEST` against it before trusting any checksum
        /// it lists, so the whole download is authenticated even over plain http.
        #[serde(default)]
        manifest_sha256: Option<String>,
    },
    /// Extract a local distribution set, verified against `manifest` when given.
    Archive {
        /// Path of the set, e.g. `/var/tmp/base.txz`.
        path: PathBuf,
        /// Its `MANIFEST`, for the SHA-256 check.
        #[serde(default)]
        manifest: Option<PathBuf>,
    },
    /// The article's `bsdinstall jail DIR`, non-interactive.
    Bsdinstall {
        /// Mirror URL as for `Fetch`: where `MANIFEST` and the sets are downloaded
        /// from and verified before bsdinstall runs on them (it gets no mirror).
        #[serde(default)]
        mirror: Option<String>,
        /// `DISTRIBUTIONS`.
        #[serde(default = "default_sets")]
        sets: Vec<String>,
        /// Accept a mirror that is not `https://` (nor `file://`) without a pinned
        /// `manifest_sha256`, as for `Fetch`.
        #[serde(default)]
        insecure: bool,
        /// The SHA-256 the release's `MANIFEST` must have, checked as for `Fetch`
        /// before bsdinstall gets any set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        manifest_sha256: Option<String>,
    },
}

impl Default for Install {
    fn default() -> Self {
        Install::Fetch {
            mirror: None,
            sets: default_sets(),
            insecure: false,
            manifest_sha256: None,
        }
    }
}

/// The thin jail template (article steps 2–3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Template {
    /// Paths, relative to the jail's root, that each jail gets its own copy of.
    pub jail_specific: Vec<String>,
    /// rc.conf(5) values written into the template (the article's `default_router`).
    pub rc_conf: BTreeMap<String, String>,
    /// Files written into the template before `@gold`, by path relative to the jail's
    /// root (inside a jail-specific path). base.txz has no `/etc/resolv.conf` and no
    /// `/etc/localtime`; bsdinstall's jail script and the Handbook copy the host's,
    /// and so does the default. A recipe that names `files` replaces the whole map
    /// (`{}` copies nothing).
    pub files: BTreeMap<String, TemplateFile>,
}

impl Default for Template {
    fn default() -> Self {
        Template {
            jail_specific: ["etc", "usr/home", "usr/local", "root", "tmp", "var"]
                .into_iter()
                .map(String::from)
                .collect(),
            rc_conf: BTreeMap::new(),
            files: default_template_files(),
        }
    }
}

impl Template {
    /// Whether `path` (relative to a jail's root) lies inside a jail-specific path,
    /// so the template holds it.
    pub fn holds(&self, path: &str) -> bool {
        self.jail_specific
            .iter()
            .any(|specific| path.starts_with(&format!("{specific}/")))
    }
}

/// The host's `/etc/resolv.conf` and `/etc/localtime`, as bsdinstall's jail script copies them.
pub fn default_template_files() -> BTreeMap<String, TemplateFile> {
    ["etc/resolv.conf", "etc/localtime"]
        .into_iter()
        .map(|path| {
            (
                path.to_string(),
                TemplateFile::Host(PathBuf::from("/").join(path)),
            )
        })
        .collect()
}

/// What a file of the template is made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TemplateFile {
    /// A copy of this host file, read when thinjail observes the host (a host
    /// without it gives the template none).
    Host(PathBuf),
    /// These contents.
    Contents(String),
}

/// One thin jail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jail {
    /// The jail's name (also its hostname unless `params` sets `host.hostname`).
    pub name: String,
    /// The release whose base it runs on.
    pub release: String,
    /// IPv4 addresses, optionally with a `/prefix`.
    #[serde(default)]
    pub ip4: Vec<String>,
    /// IPv6 addresses, optionally with a `/prefix`.
    #[serde(default)]
    pub ip6: Vec<String>,
    /// Extra jail.conf(5) parameters; they override `jail_params`.
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
    /// Whether `apply` starts the jail.
    #[serde(default = "yes")]
    pub start: bool,
    /// Host directories and tmpfs mounted into the jail (its fstab, after the base
    /// and the data).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// rctl(8) rules on `jail:NAME`, without the subject (`memoryuse:deny=1g`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<String>,
    /// The CPUs the jail may run on, as cpuset(1) takes them (`0-3,6`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    /// Jails of the recipe this one depends on (jail(8)'s `depend`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depend: Vec<String>,
    /// Its place among jails that do not depend on each other, when they start
    /// (and in `jail_list`, for boot): lower first, equal ones in recipe order
    /// (the `start` module).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    /// Its own network stack (jail(8)'s `vnet`) on a bridge of `host.network`;
    /// absent for a jail sharing the host's (`ip4`/`ip6` on `host.interface`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vnet: Option<network::Vnet>,
    /// ZFS datasets delegated to the jail (`zfs jail`, or `zfs.dataset` on 15+),
    /// created with `jailed=on` when missing ([`crate::resources::datasets`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<crate::resources::datasets::Delegated>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

impl Jail {
    /// Its `cpuset` as a CPU list (`None` when it has none, or one validation refuses).
    pub fn cpu_list(&self) -> Option<crate::resources::cpuset::CpuList> {
        self.cpuset
            .as_deref()
            .and_then(|list| crate::resources::cpuset::CpuList::parse(list).ok())
    }
}

pub use crate::jailconf::ParamValue;
pub use crate::resources::Mount;

/// One entry of the stage list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageEntry {
    /// The stage's name (a built-in, or one the plugin provides).
    pub name: String,
    /// Plugin library providing the stage: a path, or a name looked up in `plugin_dir`.
    #[serde(default)]
    pub plugin: Option<String>,
    /// The stage's own configuration, as RON text.
    #[serde(default, with = "raw_ron")]
    pub config: Option<String>,
}

impl StageEntry {
    /// A built-in stage without configuration.
    pub fn builtin(name: &str) -> Self {
        StageEntry {
            name: name.to_string(),
            plugin: None,
            config: None,
        }
    }
}

/// The official FreeBSD download site (current releases).
pub const DEFAULT_MIRROR: &str = "https://download.freebsd.org/releases";

impl Release {
    /// The mirror's `<machine>/<arch>` directory for this release's platform.
    pub fn platform_dir(&self) -> &'static str {
        match self.arch.as_str() {
            "arm64" => "arm64/aarch64",
            "i386" => "i386/i386",
            "armv7" => "arm/armv7",
            "powerpc64" => "powerpc/powerpc64",
            "powerpc64le" => "powerpc/powerpc64le",
            "riscv64" => "riscv/riscv64",
            _ => "amd64/amd64",
        }
    }

    /// The directory URL holding this release's `MANIFEST` and sets on `mirror`.
    pub fn dist_url(&self, mirror: Option<&str>) -> String {
        let mirror = mirror.unwrap_or(DEFAULT_MIRROR).trim_end_matches('/');
        format!("{mirror}/{}/{}", self.platform_dir(), self.name)
    }
}

/// The built-in stages in the article's order.
pub const DEFAULT_STAGES: [&str; 5] = ["zfs", "install", "skeleton", "mount", "rcconf"];

fn default_stages() -> Vec<StageEntry> {
    DEFAULT_STAGES
        .iter()
        .map(|n| StageEntry::builtin(n))
        .collect()
}

fn default_sets() -> Vec<String> {
    vec!["base.txz".to_string()]
}

fn default_arch() -> String {
    "amd64".to_string()
}

fn yes() -> bool {
    true
}

/// The article's settings for every jail (its global jail.conf section), less what
/// thinjail derives per jail (name, path, fstab, addresses, interface), plus the safe
/// defaults jail(8) would use anyway, written out so a lower global value in the
/// administrator's jail.conf cannot weaken our jails.
pub fn builtin_jail_params() -> BTreeMap<String, ParamValue> {
    let text = |s: &str| ParamValue::Text(s.to_string());
    BTreeMap::from([
        ("exec.start".to_string(), text("/bin/sh /etc/rc")),
        ("exec.stop".to_string(), text("/bin/sh /etc/rc.shutdown")),
        ("exec.clean".to_string(), ParamValue::Flag(true)),
        ("mount.devfs".to_string(), ParamValue::Flag(true)),
        ("enforce_statfs".to_string(), ParamValue::Number(2)),
        ("devfs_ruleset".to_string(), ParamValue::Number(4)),
    ])
}

/// The stage config field holds arbitrary RON; we keep its text so each stage (or
/// plugin) parses it with its own types and errors.
mod raw_ron {
    use ron::value::RawValue;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(text) => {
                let raw = RawValue::from_ron(text).map_err(serde::ser::Error::custom)?;
                raw.serialize(s)
            }
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let raw: Option<Box<RawValue>> = Option::deserialize(d)?;
        Ok(raw.map(|r| r.get_ron().trim().to_string()))
    }
}

impl Recipe {
    /// Parses and validates a recipe. `origin` names it in errors (a path or `builtin:NAME`).
    pub fn from_ron(text: &str, origin: &str) -> Result<Recipe, RecipeErrors> {
        let options = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let recipe: Recipe = options
            .from_str(text)
            .map_err(|e| RecipeErrors::new(origin, vec![RecipeError::from_ron(&e)]))?;
        let problems = validate::validate(&recipe);
        if problems.is_empty() {
            Ok(recipe)
        } else {
            Err(RecipeErrors::new(origin, problems).locate_in(text))
        }
    }

    /// Serializes the recipe back to pretty RON.
    pub fn to_ron(&self) -> String {
        let pretty = ron::ser::PrettyConfig::new().struct_names(false);
        ron::ser::to_string_pretty(self, pretty).unwrap_or_else(|e| format!("// {e}"))
    }

    /// The release called `name`.
    pub fn release(&self, name: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.name == name)
    }

    /// The jail called `name`.
    pub fn jail(&self, name: &str) -> Option<&Jail> {
        self.jails.iter().find(|j| j.name == name)
    }

    /// The jail.conf(5) parameters of `jail`: built-in, then `jail_params`, then its own,
    /// one entry per parameter as jail(8) counts them: a later layer's `allow.nomount`
    /// replaces an earlier `allow.mount` (and `exec.noclean` the built-in `exec.clean`),
    /// so the jail's own choice is the one line written.
    pub fn params_of(&self, jail: &Jail) -> BTreeMap<String, ParamValue> {
        let mut params = builtin_jail_params();
        for layer in [&self.jail_params, &jail.params] {
            for (name, value) in layer {
                params.retain(|existing, _| !crate::jailconf::same_param(existing, name));
                params.insert(name.clone(), value.clone());
            }
        }
        params
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Flag(b) => write!(f, "{b}"),
            ParamValue::Number(n) => write!(f, "{n}"),
            ParamValue::Text(s) => write!(f, "{s}"),
            ParamValue::List(items) => write!(f, "{}", items.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_recipe_gets_the_articles_defaults() {
        let recipe = Recipe::from_ron(
            r#"(releases: [(name: "13.1-RELEASE")], jails: [(name: "a", release: "13.1-RELEASE")])"#,
            "test",
        )
        .unwrap();
        assert_eq!(recipe.host.jails_dataset, "zroot/jails");
        assert_eq!(recipe.template.jail_specific.len(), 6);
        assert_eq!(recipe.stages.len(), 5);
        assert!(recipe.jails[0].start);
        assert_eq!(recipe.host.pool(), "zroot");
    }

    #[test]
    fn the_jails_own_spelling_replaces_jail_params_and_builtins() {
        let recipe = Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")], jail_params: {"allow.raw_sockets": true},
                jails: [(name: "a", release: "14.3-RELEASE", params: {"allow.noraw_sockets": true, "exec.noclean": true})])"#,
            "test",
        )
        .unwrap();
        let params = recipe.params_of(&recipe.jails[0]);
        assert_eq!(
            params.get("allow.noraw_sockets"),
            Some(&ParamValue::Flag(true))
        );
        assert!(!params.contains_key("allow.raw_sockets"));
        assert_eq!(params.get("exec.noclean"), Some(&ParamValue::Flag(true)));
        assert!(!params.contains_key("exec.clean"));
    }

    #[test]
    fn stage_config_is_kept_as_ron_text() {
        let recipe = Recipe::from_ron(
            r#"(releases: [(name: "13.1-RELEASE", install: Archive(path: "/tmp/base.txz", manifest: "/tmp/MANIFEST"))],
                stages: [(name: "zfs", config: (x: [1, 2]))])"#,
            "test",
        )
        .unwrap();
        assert_eq!(recipe.stages[0].config.as_deref(), Some("(x: [1, 2])"));
        let again = Recipe::from_ron(&recipe.to_ron(), "again").unwrap();
        assert_eq!(again, recipe);
        let json = serde_json::to_string(&recipe).unwrap();
        assert_eq!(
            serde_json::from_str::<Recipe>(&json).unwrap(),
            recipe,
            "recipes cross the plugin boundary as JSON"
        );
    }
}
