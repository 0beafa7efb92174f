//! # thinjail-stages
//!
//! The built-in stages of thinjail, listed once and in the article's order
//! ([`BUILTIN_STAGES`]), and [`NoPlugins`], the stage loader of a program that has
//! them and loads no plugin. A program gets its built-in stages by naming this
//! list (through its loader): a stage left out of it is missing at compile time,
//! not an "unknown stage" at run time.
//!
//! Adding a built-in stage: a crate whose stage type implements
//! [`DeclaredStage`](thinjail_core::stage::DeclaredStage), a line in
//! [`BUILTIN_STAGES`], and its name in
//! [`DEFAULT_STAGES`](thinjail_core::recipe::DEFAULT_STAGES) if recipes without a
//! `stages` list should run it (a test here checks the two orders agree).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use thinjail_core::pipeline::{PipelineStage, StageLoader};
use thinjail_core::plugin::PluginError;
use thinjail_core::recipe::{Recipe, StageEntry};
use thinjail_core::stage::BuiltinStage;

/// Every built-in stage, in the article's order.
pub static BUILTIN_STAGES: &[BuiltinStage] = &[
    BuiltinStage::of::<thinjail_stage_zfs::ZfsStage>("thinjail-stage-zfs"),
    BuiltinStage::of::<thinjail_stage_install::InstallStage>("thinjail-stage-install"),
    BuiltinStage::of::<thinjail_stage_skeleton::SkeletonStage>("thinjail-stage-skeleton"),
    BuiltinStage::of::<thinjail_stage_mount::MountStage>("thinjail-stage-mount"),
    BuiltinStage::of::<thinjail_stage_rcconf::RcConfStage>("thinjail-stage-rcconf"),
];

/// The loader of a program without plugin support: every built-in stage, and
/// every plugin stage refused.
pub struct NoPlugins;

impl StageLoader for NoPlugins {
    fn builtins(&self) -> &[BuiltinStage] {
        BUILTIN_STAGES
    }

    fn load(&mut self, entry: &StageEntry, _recipe: &Recipe) -> Result<PipelineStage, PluginError> {
        Err(PluginError::Unsupported {
            stage: entry.name.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thinjail_core::recipe::DEFAULT_STAGES;

    #[test]
    fn the_default_stage_list_is_the_builtin_list_in_its_order() {
        let names: Vec<&str> = BUILTIN_STAGES.iter().map(BuiltinStage::name).collect();
        assert_eq!(names, DEFAULT_STAGES);
    }

    #[test]
    fn each_builtin_builds_and_names_itself_as_declared() {
        for builtin in BUILTIN_STAGES {
            let stage = (builtin.declaration.build)(None).unwrap();
            assert_eq!(stage.name(), builtin.name());
            assert_eq!(stage.summary(), builtin.declaration.summary);
            assert_eq!(stage.article_step(), builtin.declaration.article_step);
            assert!(builtin.provider.ends_with(builtin.name()));
        }
    }
}
