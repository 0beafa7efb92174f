//! NAT and port forwards in the rcconf stage: after the jails start, thinjail's pf
//! anchor is brought to the recipe ([`thinjail_core::pfplan`]); a host where it
//! would not work (pf not running, pf.conf without the anchor lines) is a conflict
//! (exit 78) and nothing is planned.

use std::collections::BTreeSet;
use std::path::PathBuf;

use thinjail_core::pfplan;
use thinjail_core::recipe::Recipe;
use thinjail_core::stage::{Planned, StageError};
use thinjail_core::world::World;

/// pf.conf and the anchor file, for a recipe whose pf is observed
/// ([`pfplan::wanted`]); nothing otherwise.
pub fn probed_files(recipe: &Recipe) -> BTreeSet<PathBuf> {
    if pfplan::wanted(recipe) {
        pfplan::probed_files(recipe)
    } else {
        BTreeSet::new()
    }
}

/// The anchor's actions, or the conflict that stops them. Planned when the recipe
/// needs pf, or when pf was observed anyway because thinjail's anchor file is on
/// the host ([`thinjail_core::observe::widen_for_marks`]): a recipe without rules
/// then flushes the anchor and removes the file.
pub fn plan(recipe: &Recipe, world: &World) -> Result<Vec<Planned>, StageError> {
    if !pfplan::wanted(recipe) && world.pf.is_none() {
        return Ok(Vec::new());
    }
    pfplan::plan(recipe, world, None).map_err(StageError::Conflict)
}
