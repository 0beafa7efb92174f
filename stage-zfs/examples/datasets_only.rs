//! Reusing one thinjail stage from another program.
//!
//! This program depends on `thinjail-core` and `thinjail-stage-zfs` only. It builds a
//! recipe for the jails named on its command line, describes a host that already has
//! the jails dataset, and plans the ZFS stage alone through the core pipeline (with its
//! confinement checks) — printing the commands as a POSIX sh script. Nothing runs.
//!
//! ```sh
//! cargo run -p thinjail-stage-zfs --example datasets_only -- www db
//! ```

use std::process::ExitCode;

use thinjail_core::pipeline::{Pipeline, PipelineStage, StageSource};
use thinjail_core::render::{render, Format};
use thinjail_core::{Recipe, World};
use thinjail_stage_zfs::ZfsStage;

fn main() -> ExitCode {
    let mut jails: Vec<String> = std::env::args().skip(1).collect();
    if jails.is_empty() {
        jails.push("www".to_string());
    }
    let listed: Vec<String> = jails
        .iter()
        .map(|name| format!("(name: {name:?}, release: \"14.3-RELEASE\")"))
        .collect();
    let text = format!(
        r#"(host: (jails_dataset: "tank/jails", jails_dir: "/jails"),
            releases: [(name: "14.3-RELEASE")],
            jails: [{}],
            stages: [])"#,
        listed.join(", ")
    );
    let recipe = match Recipe::from_ron(&text, "command line") {
        Ok(recipe) => recipe,
        Err(errors) => {
            eprintln!("datasets_only: {errors}");
            return ExitCode::from(65);
        }
    };

    // The host as another program might know it: the pool and the jails dataset exist,
    // the latter made by thinjail (it carries thinjail's mark, or the stage refuses it).
    let mut world = World::empty();
    world.observed = true;
    world.add_filesystem("tank", Some("/tank".as_ref()), None);
    world.add_filesystem("tank/jails", Some("/jails".as_ref()), None);
    world.set_managed("tank/jails", Some("tank/jails".into()));

    let pipeline = Pipeline::new(vec![PipelineStage {
        stage: Box::new(ZfsStage),
        source: StageSource::Builtin {
            provider: "thinjail-stage-zfs".to_string(),
        },
    }]);
    match pipeline.plan(&recipe, &world) {
        Ok(plan) => {
            print!("{}", render(&plan, Format::Sh, "the zfs stage alone"));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("datasets_only: {error}");
            ExitCode::from(78)
        }
    }
}
