//! Observing a host for a recipe, in one call ([`observe`]): what the recipe's stages
//! ask ([`Pipeline::observation`]), then the fstab and root of every jail thinjail
//! manages there that the recipe does not name ([`extra_probes`]), read natively so
//! the number of host commands does not grow with the number of jails. `apply`,
//! `plan`, the lifecycle commands, the benchmark and the scaling test all observe
//! through it.

use std::collections::BTreeSet;

use crate::host::{Host, HostError};
use crate::layout::Layout;
use crate::pipeline::Pipeline;
use crate::probes::Probes;
use crate::recipe::validate::check_jail_name;
use crate::recipe::Recipe;
use crate::world::{PathState, World};

/// Observes `host` for `recipe` and its `pipeline`: the stages' observation, then
/// the jails thinjail manages that the recipe does not name ([`extra_probes`]).
pub fn observe(
    host: &mut dyn Host,
    pipeline: &Pipeline,
    recipe: &Recipe,
) -> Result<World, HostError> {
    let mut world = host.observe(&pipeline.observation(recipe))?;
    let extra = extra_probes(recipe, &world);
    let paths = host.read_paths(&extra)?;
    world.paths.extend(paths);
    Ok(world)
}

/// Jails thinjail manages on this host: the recipe's, and those whose dataset
/// (`<jails_dataset>/<jail>`) thinjail made for this jails dataset — it carries
/// `thinjail:managed=<jails_dataset>` of its own. A jail.conf block alone makes no
/// jail ours: another recipe sharing the file (with another jails dataset) has its
/// own blocks there.
pub fn managed_names(recipe: &Recipe, world: &World) -> BTreeSet<String> {
    let layout = Layout::new(recipe);
    let mut names: BTreeSet<String> = recipe.jails.iter().map(|j| j.name.clone()).collect();
    let prefix = format!("{}/", layout.jails_dataset());
    for (dataset, _) in world.children_of(layout.jails_dataset()) {
        let Some(jail) = dataset.strip_prefix(&prefix) else {
            continue;
        };
        if !jail.contains('/') && check_jail_name(jail).is_ok() && layout.is_ours(world, dataset) {
            names.insert(jail.to_string());
        }
    }
    names
}

/// Paths to read after observing, to describe jails the recipe does not name
/// (their fstab tells their release). What `world` already holds (the stages'
/// probes read the fstab and root of the recipe's jails) is not read twice.
fn extra_probes(recipe: &Recipe, world: &World) -> Probes {
    let layout = Layout::new(recipe);
    let mut probes = Probes::default();
    for name in managed_names(recipe, world) {
        let fstab = layout.fstab(&name);
        if matches!(
            world.paths.get(&fstab),
            None | Some(PathState::File { contents: None })
        ) {
            probes.file(fstab);
        }
        let root = layout.root(&name);
        if !world.paths.contains_key(&root) {
            probes.path(root);
        }
    }
    probes
}
