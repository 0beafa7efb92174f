//! A host that only renders: what it is asked to apply becomes POSIX sh lines.

use super::{Host, HostError, ObservationRequest};
use crate::action::Action;
use crate::world::World;

/// Collects the shell rendering of every action applied to it; observes nothing.
#[derive(Debug, Default)]
pub struct ScriptHost {
    lines: Vec<String>,
}

impl ScriptHost {
    /// An empty script.
    pub fn new() -> Self {
        ScriptHost::default()
    }

    /// The lines collected so far.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

impl Host for ScriptHost {
    fn observe(&mut self, _request: &ObservationRequest) -> Result<World, HostError> {
        Ok(World::empty())
    }

    fn apply(&mut self, action: &Action) -> Result<(), HostError> {
        self.lines.extend(action.sh_lines());
        Ok(())
    }

    fn commands_run(&self) -> usize {
        0
    }

    fn exec_interactive(&mut self, jail: &str, argv: &[String]) -> Result<i32, HostError> {
        let mut full = vec!["jexec".to_string(), "-l".into(), jail.to_string()];
        full.extend(argv.iter().cloned());
        self.lines.push(crate::quote::sh_command(&full));
        Ok(0)
    }
}
