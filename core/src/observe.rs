//! Observing a host for a recipe, in one call ([`observe`]): what the recipe's stages
//! ask ([`Pipeline::observation`]), then the fstab and root of every jail thinjail
//! manages there that the recipe does not name ([`extra_probes`]), read natively so
//! the number of host commands does not grow with the number of jails. Before it,
//! thinjail's own network marks are read natively ([`network_mark_probes`]): a
//! `bridge NAME` block in the host's rc.conf, or thinjail's pf anchor file, makes
//! the observation include the interfaces and bridges (resp. pf) even when the
//! recipe no longer asks for them ([`widen_for_marks`]), so that planning can
//! remove what the recipe dropped. When pf is observed, the rc.conf files that
//! name rc.d/pf's rules file are read natively first, and that file is observed
//! with the rest ([`add_pf_rules_probes`]). `apply`, `plan`, the lifecycle commands, the
//! benchmark and the scaling test all observe through it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::host::{Host, HostError};
use crate::layout::Layout;
use crate::pipeline::Pipeline;
use crate::probes::{ObservationRequest, Probes};
use crate::recipe::validate::check_jail_name;
use crate::recipe::Recipe;
use crate::world::{PathState, World};

/// Observes `host` for `recipe` and its `pipeline`: the stages' observation, then
/// the jails thinjail manages that the recipe does not name ([`extra_probes`]).
/// thinjail's network marks on the host widen the stages' request first
/// ([`widen_for_marks`]).
pub fn observe(
    host: &mut dyn Host,
    pipeline: &Pipeline,
    recipe: &Recipe,
) -> Result<World, HostError> {
    let mut request = pipeline.observation(recipe);
    let marks = network_mark_probes(recipe, &request);
    if !marks.files.is_empty() {
        let found = host.read_paths(&marks)?;
        widen_for_marks(&mut request, recipe, &found);
    }
    if request.pf {
        let rc = crate::pf_rules::probes(recipe);
        let found = host.read_paths(&rc)?;
        add_pf_rules_probes(&mut request, recipe, rc, found);
    }
    let mut world = host.observe(&request)?;
    let extra = extra_probes(recipe, &world);
    let paths = host.read_paths(&extra)?;
    world.paths.extend(paths);
    Ok(world)
}

/// The files that tell whether thinjail left network state on the host that the
/// `request` would not observe: the host's rc.conf (its `bridge NAME` blocks,
/// [`crate::bridges::owned`]) when interfaces are not observed, thinjail's pf
/// anchor file when pf is not. Native reads, no command.
pub fn network_mark_probes(recipe: &Recipe, request: &ObservationRequest) -> Probes {
    let mut probes = Probes::default();
    if !request.interfaces {
        probes.file(recipe.host.rc_conf.clone());
    }
    if !request.pf {
        probes.file(recipe.host.network.pf.anchor_file.clone());
    }
    probes
}

/// Widens `request` for what `found` ([`network_mark_probes`] read) shows thinjail
/// made: a bridge (a `bridge NAME` block in rc.conf) → the interfaces and bridges
/// are observed, so that the bridge and its block go when the recipe dropped it;
/// the pf anchor file → pf, pf.conf and the file are observed, so that the anchor
/// is flushed and the file removed when the recipe has no rule left
/// ([`crate::pfplan::plan`]). Pure.
pub fn widen_for_marks(
    request: &mut ObservationRequest,
    recipe: &Recipe,
    found: &BTreeMap<PathBuf, PathState>,
) {
    let contents = |path: &PathBuf| match found.get(path) {
        Some(PathState::File { contents }) => Some(contents.as_deref().unwrap_or("")),
        _ => None,
    };
    if !request.interfaces {
        let rc_conf = contents(&recipe.host.rc_conf).unwrap_or("");
        if !crate::bridges::owned(rc_conf).is_empty() {
            request.interfaces = true;
        }
    }
    if !request.pf && contents(&recipe.host.network.pf.anchor_file).is_some() {
        request.pf = true;
        for file in crate::pfplan::probed_files(recipe) {
            request.probes.file(file);
        }
    }
}

/// For a request that observes pf: the rc.conf files that tell which file rc.d/pf
/// loads (`rc`, [`crate::pf_rules::probes`]), and that file as `found` (their
/// native read) names it, so planning reads the pf.conf pf really uses. Pure.
pub fn add_pf_rules_probes(
    request: &mut ObservationRequest,
    recipe: &Recipe,
    rc: Probes,
    found: BTreeMap<PathBuf, PathState>,
) {
    let mut read = World::empty();
    read.paths = found;
    if let Ok(file) = crate::pf_rules::pf_conf(recipe, &read) {
        request.probes.file(file);
    }
    request.probes.files.extend(rc.files);
    request.probes.dirs.extend(rc.dirs);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridges::{rc_block, rc_block_id};
    use crate::edit::FileEdit;
    use crate::recipe::network::Bridge;

    /// A recipe with no network at all: no VNET jail, no bridge, no pf rule.
    fn no_network() -> Recipe {
        Recipe::from_ron(
            r#"(releases: [(name: "14.3-RELEASE")], jails: [(name: "www", release: "14.3-RELEASE")])"#,
            "test",
        )
        .unwrap()
    }

    fn file(contents: &str) -> PathState {
        PathState::File {
            contents: Some(contents.into()),
        }
    }

    /// The host's rc.conf after thinjail made bridge `jails` (and the
    /// administrator's own lines).
    fn rc_conf_with_bridge() -> String {
        let bridge = Bridge {
            name: "jails".into(),
            ip4: vec!["10.9.0.1/24".into()],
            ip6: vec![],
            create: true,
            members: vec!["em0".into()],
        };
        FileEdit::SetBlock {
            id: rc_block_id("jails"),
            content: rc_block(&bridge),
        }
        .apply("sshd_enable=\"YES\"\n")
    }

    #[test]
    fn a_recipe_without_network_reads_the_marks_of_what_thinjail_made() {
        let recipe = no_network();
        let request = Pipeline::new(vec![]).observation(&recipe);
        assert!(!request.interfaces && !request.pf);
        let marks = network_mark_probes(&recipe, &request);
        assert_eq!(
            marks.files,
            BTreeSet::from([
                recipe.host.rc_conf.clone(),
                recipe.host.network.pf.anchor_file.clone()
            ])
        );
        // What is observed anyway is not read twice.
        let all = ObservationRequest {
            interfaces: true,
            pf: true,
            ..ObservationRequest::default()
        };
        assert_eq!(network_mark_probes(&recipe, &all), Probes::default());
    }

    #[test]
    fn a_bridge_block_in_rc_conf_widens_the_observation_to_interfaces() {
        let recipe = no_network();
        let mut request = Pipeline::new(vec![]).observation(&recipe);
        let found = BTreeMap::from([
            (recipe.host.rc_conf.clone(), file(&rc_conf_with_bridge())),
            (
                recipe.host.network.pf.anchor_file.clone(),
                PathState::Missing,
            ),
        ]);
        widen_for_marks(&mut request, &recipe, &found);
        assert!(request.interfaces, "{request:?}");
        assert!(!request.pf, "{request:?}");
    }

    #[test]
    fn without_marks_nothing_more_is_observed() {
        let recipe = no_network();
        let before = Pipeline::new(vec![]).observation(&recipe);
        let mut request = before.clone();
        // rc.conf with other lines and other thinjail blocks; no anchor file.
        let found = BTreeMap::from([
            (
                recipe.host.rc_conf.clone(),
                file("# BEGIN thinjail jail www\njail_enable=\"YES\"\n# END thinjail jail www\n"),
            ),
            (
                recipe.host.network.pf.anchor_file.clone(),
                PathState::Missing,
            ),
        ]);
        widen_for_marks(&mut request, &recipe, &found);
        assert_eq!(request, before);
    }

    #[test]
    fn the_file_pf_rules_names_is_observed_with_the_rc_files() {
        let recipe = no_network();
        let mut request = Pipeline::new(vec![]).observation(&recipe);
        let rc = crate::pf_rules::probes(&recipe);
        let found = BTreeMap::from([(
            PathBuf::from("/etc/rc.conf"),
            file("pf_rules=\"/etc/pf.other\"\n"),
        )]);
        add_pf_rules_probes(&mut request, &recipe, rc.clone(), found);
        assert!(request
            .probes
            .files
            .contains(&PathBuf::from("/etc/pf.other")));
        assert!(rc.files.is_subset(&request.probes.files));
        assert!(rc.dirs.is_subset(&request.probes.dirs));
        // Nothing set: /etc/pf.conf.
        let mut request = Pipeline::new(vec![]).observation(&recipe);
        add_pf_rules_probes(&mut request, &recipe, rc, BTreeMap::new());
        assert!(request
            .probes
            .files
            .contains(&PathBuf::from("/etc/pf.conf")));
    }

    #[test]
    fn the_anchor_file_widens_the_observation_to_pf_and_its_files() {
        let recipe = no_network();
        let mut request = Pipeline::new(vec![]).observation(&recipe);
        let found = BTreeMap::from([
            (recipe.host.rc_conf.clone(), file("")),
            (
                recipe.host.network.pf.anchor_file.clone(),
                file("nat on em0 from 10.9.0.0/24 to any -> (em0)\n"),
            ),
        ]);
        widen_for_marks(&mut request, &recipe, &found);
        assert!(request.pf && !request.interfaces, "{request:?}");
        for probed in crate::pfplan::probed_files(&recipe) {
            assert!(request.probes.files.contains(&probed), "{probed:?}");
        }
    }
}
