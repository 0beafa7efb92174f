//! # thinjail-core
//!
//! The engine of thinjail, a tool that builds and runs FreeBSD thin jails (one
//! read-only base shared through nullfs, a small writable ZFS dataset per jail).
//!
//! It owns the shape every other crate plugs into:
//! - [`recipe`]: the declarative RON recipe, and [`recipe::validate`] for its rules;
//! - [`stage`]: the [`stage::Stage`] trait and the registry of built-in stages;
//! - [`action`]: the closed vocabulary of host actions, each with its shell
//!   rendering, its effect on the [`world`] model and what it touches;
//! - [`pipeline`]: recipe → ordered stages → a [`pipeline::Plan`] grouped by stage;
//! - [`confine`]: what a planned action may touch, checked while planning and again
//!   on the host just before it runs;
//! - [`plugin`]: the C-ABI interface of third-party stages in shared libraries, the
//!   author's side ([`export_plugin!`]) and the host's;
//! - [`render`]: the plan as a POSIX sh script, text or JSON;
//! - [`Probes`] (what stages ask to have observed) and [`Snapshot`] (`dataset@name`),
//!   plain data every module names;
//! - [`host`]: hosts that observe a machine and apply actions (the FreeBSD host,
//!   and the building blocks test hosts reuse); the plumbing they share: commands
//!   by absolute path with a clean environment ([`host::spawn`]), file access that
//!   never follows a symbolic link ([`host::safe_fs`]), a private cache and no
//!   native write into a jail's files ([`host::guard`]);
//! - [`observe`](mod@observe): the one way a host is observed for a recipe (the stages' request,
//!   then the jails thinjail manages that the recipe does not name);
//! - [`apply`]: [`apply::apply_plan`] drives any host through a plan;
//! - [`start`]: the order jails start in (`depend`, then `priority`) and which
//!   starts of a plan run side by side (the running itself is
//!   [`resources::order`]'s);
//! - [`boot`]: rc.conf(5) as rc(8) reads it and the jails rc.d/jail starts at
//!   boot, from which file; [`hostconf`]: a host's jail and boot configuration
//!   read once, and the checked edits that add or forget a jail;
//! - [`layout`], [`edit`], [`fstab`], [`jailconf`], [`jailfile`], [`quote`], [`lock`]: the article's on-disk
//!   layout, in-place edits of shared files, the jail's fstab, jail.conf(5) writing
//!   (and, in [`jailfile`], which files and blocks are thinjail's) and a model of
//!   how FreeBSD's jail(8) reads it, escaping for every format written and for the
//!   terminal, and the one-run-at-a-time lock;
//! - [`updates`]: what freebsd-update(8) and etcupdate(8) are given (configuration,
//!   work directory, each release's etcupdate tree) and where it lives.
//! - [`network`] and [`bridges`]: what VNET jails get (jail.conf parameters and
//!   hooks, their rc.conf, devfs ruleset, pf anchor) and the bridges thinjail makes,
//!   persists in rc.conf and removes; [`observed_bridges`]: the host's bridges as
//!   observed; [`bridge_addresses`]: the addresses of a bridge thinjail makes,
//!   read from ifconfig and brought to the recipe's on the running bridge;
//!   [`pfplan`], [`pf_inet6`] and [`pf_rules`]: thinjail's pf anchor (its IPv6
//!   forwards), and the file rc.d/pf loads (`pf_rules`), where its pf.conf lines
//!   must be.
//!
//! Stages only plan; hosts only apply; nothing runs a host command while planning.
//!
//! ```
//! use thinjail_core::{pipeline::Pipeline, recipe::Recipe, world::World};
//! let recipe = Recipe::from_ron(
//!     r#"(releases: [(name: "14.3-RELEASE")], jails: [(name: "web", release: "14.3-RELEASE")], stages: [])"#,
//!     "example",
//! ).unwrap();
//! // A program builds it with `Pipeline::from_recipe(&recipe, &mut loader)`, the loader
//! // knowing its built-in stages (`thinjail_stages::NoPlugins`) and plugins.
//! let pipeline = Pipeline::new(Vec::new());
//! let plan = pipeline.plan(&recipe, &World::empty()).unwrap();
//! assert!(plan.is_empty()); // no stages, nothing to do
//! ```

#![deny(missing_docs)]
// Unsafe code lives in `plugin` alone (see there); everything else is checked.
#![deny(unsafe_code)]

pub mod action;
pub mod apply;
pub mod boot;
pub mod bridge_addresses;
pub mod bridges;
pub mod confine;
pub mod devfs_rules;
pub mod edit;
pub mod fstab;
pub mod host;
pub mod hostconf;
pub mod jailconf;
pub mod jailfile;
pub mod layout;
pub mod leftover_epairs;
pub mod lock;
pub mod network;
pub mod observe;
pub mod observed_bridges;
pub mod pf_inet6;
pub mod pf_rules;
pub mod pfplan;
pub mod pipeline;
// The plugin interface reads what raw pointers from another library designate and
// frees replies across it: the only unsafe code of the crate, each block with its
// SAFETY reason.
#[allow(unsafe_code)]
pub mod plugin;
mod probes;
pub mod quote;
pub mod recipe;
pub mod render;
pub mod resources;
mod snapshot;
pub mod stage;
pub mod start;
pub mod stop;
pub mod updates;
pub mod world;

// The front door: what a program that plans and applies a recipe, or a stage
// author, needs first. The modules above hold the rest.
pub use action::Action;
pub use apply::{apply_plan, ApplyFailure, ApplyReport};
pub use confine::Confinement;
pub use host::{FreeBsdHost, Host, HostError};
pub use layout::Layout;
pub use observe::observe;
pub use pipeline::{Pipeline, Plan, PlanError, StageLoader};
pub use plugin::PluginError;
/// Recipe validation, also reachable as [`recipe::validate`].
pub use recipe::validate;
pub use recipe::Recipe;
pub use snapshot::Snapshot;
pub use stage::{
    BuiltinStage, DeclaredStage, Planned, Probes, Stage, StageContext, StageDeclaration, StageError,
};
pub use world::World;
