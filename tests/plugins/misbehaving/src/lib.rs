//! # thinjail-test-plugin-misbehaving
//!
//! A plugin written the proper way (an ordinary `Stage`, one `export_plugin!` line)
//! whose stages misbehave on purpose, for the refusal tests:
//! - `panics` panics while configuring, probing or planning (its config says when:
//!   `"configure"`, `"probes"`, `"plan"`);
//! - `escapes` plans an action outside what the recipe manages (its config says what:
//!   `"path"`, `"dataset"`, `"jail"`), or (`"probe"`) asks the host to read a file in
//!   the first jail's data by path;
//! - `refuses` refuses to plan, as a stage may (a conflict with the host), with the
//!   reason its config gives, if any;
//! - `hides` plans one harmless action (a directory under `jails_dir`) whose note is
//!   its config.
//!
//! In those two configs `<ESC>` and `<RLO>` stand for ESC and U+202E: the plugin, not
//! the recipe (which may not contain them), is where terminal control sequences come
//! from in the escaping tests.

#![deny(unsafe_code)]

use std::path::PathBuf;

use thinjail_core::action::Action;
use thinjail_core::stage::DeclaredStage;
use thinjail_core::stage::{parse_config, Planned, Probes, Stage, StageContext, StageError};
use thinjail_core::world::World;

/// Panics when its configuration says.
pub struct Panics {
    when: String,
}

impl DeclaredStage for Panics {
    const NAME: &'static str = "panics";
    const SUMMARY: &'static str = "panics on purpose";

    fn from_config(config: Option<&str>) -> Result<Self, StageError> {
        let when: String = parse_config(Self::NAME, config)?;
        if when == "configure" {
            panic!("the misbehaving plugin panicked while configuring");
        }
        Ok(Panics { when })
    }
}

impl Stage for Panics {
    fn name(&self) -> &str {
        Self::NAME
    }
    fn summary(&self) -> &str {
        Self::SUMMARY
    }
    fn probes(&self, _ctx: &StageContext<'_>) -> Probes {
        if self.when == "probes" {
            panic!("the misbehaving plugin panicked while probing");
        }
        Probes::default()
    }
    fn plan(&self, _ctx: &StageContext<'_>, _world: &World) -> Result<Vec<Planned>, StageError> {
        let jails: Vec<u32> = Vec::new();
        // An out-of-bounds index: the kind of bug a real plugin has.
        let first = jails[self.when.len()];
        Ok(vec![Planned::noted(
            Action::MakeDir {
                path: PathBuf::from(format!("/never/{first}")),
            },
            "unreachable",
        )])
    }
}

/// Plans something outside the recipe's confinement.
pub struct Escapes {
    what: String,
}

impl DeclaredStage for Escapes {
    const NAME: &'static str = "escapes";
    const SUMMARY: &'static str = "plans an action outside what the recipe manages";

    fn from_config(config: Option<&str>) -> Result<Self, StageError> {
        let what: String = parse_config(Self::NAME, config)?;
        match what.as_str() {
            "path" | "dataset" | "jail" | "probe" => Ok(Escapes { what }),
            other => Err(StageError::Config(format!(
                "escapes: unknown target {other:?}"
            ))),
        }
    }
}

impl Stage for Escapes {
    fn name(&self) -> &str {
        Self::NAME
    }
    fn summary(&self) -> &str {
        Self::SUMMARY
    }
    fn probes(&self, ctx: &StageContext<'_>) -> Probes {
        let mut probes = Probes::default();
        if let (Some(jail), "probe") = (ctx.recipe.jails.first(), self.what.as_str()) {
            probes.file(ctx.layout.data_dir(&jail.name).join("etc/master.passwd"));
        }
        probes
    }
    fn plan(&self, _ctx: &StageContext<'_>, _world: &World) -> Result<Vec<Planned>, StageError> {
        if self.what == "probe" {
            return Ok(Vec::new());
        }
        let action = match self.what.as_str() {
            "path" => Action::Remove {
                path: "/usr/bin".into(),
            },
            "dataset" => Action::DestroyDataset {
                dataset: "zroot/usr/home".into(),
                recursive: true,
            },
            _ => Action::ExecInJail {
                jail: "somebody-elses".into(),
                argv: vec!["reboot".into()],
            },
        };
        Ok(vec![Planned::new(action)])
    }
}

/// Refuses, as a stage legitimately may.
pub struct Refuses {
    reason: Option<String>,
}

impl DeclaredStage for Refuses {
    const NAME: &'static str = "refuses";
    const SUMMARY: &'static str = "refuses to plan";

    fn from_config(config: Option<&str>) -> Result<Self, StageError> {
        let reason = match config {
            Some(_) => Some(with_controls(&parse_config::<String>(Self::NAME, config)?)),
            None => None,
        };
        Ok(Refuses { reason })
    }
}

impl Stage for Refuses {
    fn name(&self) -> &str {
        Self::NAME
    }
    fn summary(&self) -> &str {
        Self::SUMMARY
    }
    fn plan(&self, _ctx: &StageContext<'_>, _world: &World) -> Result<Vec<Planned>, StageError> {
        Err(StageError::Conflict(self.reason.clone().unwrap_or_else(
            || "the host is not the way the refuses stage wants it".into(),
        )))
    }
}

/// `text` with `<ESC>` and `<RLO>` replaced by ESC and RIGHT-TO-LEFT OVERRIDE.
fn with_controls(text: &str) -> String {
    text.replace("<ESC>", "\u{1b}").replace("<RLO>", "\u{202e}")
}

/// Plans a harmless action noted with whatever its configuration says.
pub struct Hides {
    note: String,
}

impl DeclaredStage for Hides {
    const NAME: &'static str = "hides";
    const SUMMARY: &'static str = "plans a directory, noted with its configuration";

    fn from_config(config: Option<&str>) -> Result<Self, StageError> {
        Ok(Hides {
            note: with_controls(&parse_config::<String>(Self::NAME, config)?),
        })
    }
}

impl Stage for Hides {
    fn name(&self) -> &str {
        Self::NAME
    }
    fn summary(&self) -> &str {
        Self::SUMMARY
    }
    fn plan(&self, ctx: &StageContext<'_>, _world: &World) -> Result<Vec<Planned>, StageError> {
        Ok(vec![Planned::noted(
            Action::MakeDir {
                path: ctx.layout.jails_dir().join("hides"),
            },
            self.note.clone(),
        )])
    }
}

thinjail_core::export_plugin!(
    "misbehaving",
    env!("CARGO_PKG_VERSION"),
    [Panics, Escapes, Refuses, Hides]
);
