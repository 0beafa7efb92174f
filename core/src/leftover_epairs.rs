//! A VNET jail's epair left behind by a start that failed or was killed, told apart
//! from an interface that is someone else's, so that thinjail removes its own
//! leftovers instead of refusing to start.
//!
//! A VNET jail's `exec.prestart` makes its epair, renames the halves `tjNAMEa` (the
//! host's) and `tjNAMEb` (the jail's) and gives the host's half the description
//! [`epair_description`] (`jail:NAME`; [`crate::network`]). A start whose `jail -c`
//! fails is cleaned up by the host (`StartJail`'s `destroy_on_failure`), but a
//! thinjail process killed meanwhile cannot clean up, and the epair stays.
//!
//! It counts as thinjail's own leftover, and is destroyed before the jail starts,
//! only when all of this holds:
//! - the jail is not running (a running jail's epair is in use);
//! - the host's half `tjNAMEa` exists and its description is exactly `jail:NAME`
//!   (`ifconfig tjNAMEa` prints `\tdescription: TEXT`, `sbin/ifconfig`);
//! - neither unrenamed half (`epairUa`, `epairUb`) exists: a start killed before
//!   the renames left no mark of its own, and someone else's epair with that unit
//!   looks the same.
//!
//! The jail's half `tjNAMEb`, when it is there, goes with it: destroying one half
//! of an epair destroys both (`sys/net/if_epair.c`, `epair_clone_destroy`). Any
//! other leftover (no description, another description, unrenamed halves) is still
//! refused by [`crate::network::host_conflicts`], naming the `ifconfig … destroy`
//! to run: thinjail does not destroy what it cannot tell is its own.

use std::collections::{BTreeMap, BTreeSet};

use crate::action::Action;
use crate::recipe::network::{epair_description, epair_names, is_host_half, EpairNames};
use crate::recipe::Recipe;
use crate::stage::Planned;
use crate::world::World;

/// The description in `ifconfig NAME`'s output (its `\tdescription: TEXT` line), if
/// any.
pub fn parse_description(ifconfig_output: &str) -> Option<String> {
    ifconfig_output.lines().find_map(|line| {
        line.strip_prefix('\t')
            .and_then(|rest| rest.strip_prefix("description: "))
            .map(String::from)
    })
}

/// Which interfaces' descriptions observation reads: the host's halves of
/// thinjail's epairs among `interfaces`.
pub fn described_candidates(interfaces: &BTreeSet<String>) -> Vec<&str> {
    interfaces
        .iter()
        .map(String::as_str)
        .filter(|name| is_host_half(name))
        .collect()
}

/// For each jail of `stopped` (the VNET jails that are not running, with their
/// epair names) whose epair is a leftover of its own as the module says: the
/// host's half to destroy (`ifconfig tjNAMEa destroy`).
fn provable<'a>(
    stopped: impl IntoIterator<Item = (&'a str, &'a EpairNames)>,
    interfaces: &BTreeSet<String>,
    descriptions: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    stopped
        .into_iter()
        .filter(|(jail, names)| {
            let unrenamed = [
                format!("epair{}a", names.unit),
                format!("epair{}b", names.unit),
            ];
            interfaces.contains(&names.host)
                && descriptions.get(&names.host) == Some(&epair_description(jail))
                && !unrenamed.iter().any(|iface| interfaces.contains(iface))
        })
        .map(|(jail, names)| (jail.to_string(), names.host.clone()))
        .collect()
}

/// The epairs of the stopped jails of `vnet_jails` (each VNET jail's name, whether
/// it runs, and its bridge, as [`crate::network::host_conflicts`] takes them) left
/// by a start that failed or was killed and provably thinjail's, as the module
/// says: by jail, the host's half to destroy. `descriptions` are the observed
/// descriptions ([`World::interface_descriptions`]).
pub fn find(
    vnet_jails: &[(&str, bool, &str)],
    interfaces: &BTreeSet<String>,
    descriptions: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let names = epair_names(vnet_jails.iter().map(|(name, _, _)| *name));
    let stopped = vnet_jails
        .iter()
        .filter(|(_, running, _)| !running)
        .filter_map(|(jail, _, _)| names.get_key_value(*jail))
        .map(|(jail, names)| (jail.as_str(), names));
    provable(stopped, interfaces, descriptions)
}

/// The provable leftovers ([`find`]) of the recipe's VNET jails that do not run
/// in `world`: by jail, the host's half to destroy. Nothing when interfaces were not
/// observed.
pub fn of_recipe(recipe: &Recipe, world: &World) -> BTreeMap<String, String> {
    let Some(interfaces) = &world.interfaces else {
        return BTreeMap::new();
    };
    let vnet_jails: Vec<(&str, bool, &str)> = recipe
        .jails
        .iter()
        .filter_map(|j| {
            let vnet = j.vnet.as_ref()?;
            Some((
                j.name.as_str(),
                world.is_running(&j.name),
                vnet.bridge.as_str(),
            ))
        })
        .collect();
    find(&vnet_jails, interfaces, &world.interface_descriptions)
}

/// Confinement of an [`Action::Ifconfig`] outside bridges: whether `args` is
/// `IF destroy` of a provable leftover of the recipe's ([`of_recipe`]).
pub fn destroys_a_leftover(recipe: &Recipe, world: &World, args: &[String]) -> bool {
    match args {
        [name, verb] if verb == "destroy" => {
            of_recipe(recipe, world).values().any(|iface| iface == name)
        }
        _ => false,
    }
}

/// The actions that destroy `leftovers` (by jail, the host's half of its epair, as
/// [`find`] gives them), each noted with why.
pub fn destroy_actions(leftovers: &BTreeMap<String, String>) -> Vec<Planned> {
    leftovers
        .iter()
        .map(|(jail, iface)| {
            Planned::noted(
                Action::Ifconfig {
                    args: vec![iface.clone(), "destroy".into()],
                },
                format!(
                    "left by a start of jail {jail} that failed or was killed (described {}); \
                     destroying it destroys both halves",
                    epair_description(jail)
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn the_description_line_is_read_from_ifconfig_output() {
        let shown = "tjwwwa: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500\n\
                     \tdescription: jail:www\n\
                     \toptions=8<VLAN_MTU>\n\
                     \tether 02:aa:bb:cc:dd:0a\n";
        assert_eq!(parse_description(shown).as_deref(), Some("jail:www"));
        assert_eq!(
            parse_description("em0: flags=8843<UP> metric 0 mtu 1500\n\tether 00:11:22:33:44:55\n"),
            None
        );
        // Only the line ifconfig prints counts, not the word anywhere.
        assert_eq!(parse_description("em0: description: x\n"), None);
    }

    #[test]
    fn only_described_host_halves_of_stopped_jails_without_unrenamed_halves_are_provable() {
        let names = epair_names(["www", "db", "mail", "web"]);
        let unit = |jail: &str| names[jail].unit;
        let interfaces = set(&[
            "em0", "tjwwwa", "tjwwwb", "tjdba", "tjmaila", "tjweba", "tjwebb",
        ])
        .into_iter()
        .chain([format!("epair{}b", unit("web"))])
        .collect();
        let descriptions = BTreeMap::from([
            ("tjwwwa".to_string(), "jail:www".to_string()),
            // Someone else's description.
            ("tjdba".to_string(), "uplink to db".to_string()),
            ("tjweba".to_string(), "jail:web".to_string()),
        ]);
        let stopped = ["www", "db", "mail", "web"].map(|j| (j, &names[j]));
        let found = provable(stopped, &interfaces, &descriptions);
        // db: another description; mail: none; web: an unrenamed half exists.
        assert_eq!(
            found,
            BTreeMap::from([("www".to_string(), "tjwwwa".to_string())])
        );
        // A running jail is not passed in: nothing of it is touched.
        assert!(provable([("db", &names["db"])], &interfaces, &descriptions).is_empty());
    }

    #[test]
    fn confinement_lets_through_only_the_destroy_of_a_provable_leftover() {
        let recipe = Recipe::from_ron(
            r#"(host: (network: (bridges: [(name: "jails")])),
                releases: [(name: "14.3-RELEASE")],
                jails: [(name: "va", release: "14.3-RELEASE", vnet: (bridge: "jails", ip4: Static(["10.9.0.2/24"])))])"#,
            "test",
        )
        .unwrap();
        let mut world = World::empty();
        world.interfaces = Some(set(&["em0", "jails", "tjvaa", "tjvab"]));
        let words = |text: &str| text.split(' ').map(String::from).collect::<Vec<_>>();
        // Not described: not provably thinjail's.
        assert!(!destroys_a_leftover(
            &recipe,
            &world,
            &words("tjvaa destroy")
        ));
        world
            .interface_descriptions
            .insert("tjvaa".into(), "jail:va".into());
        assert!(destroys_a_leftover(
            &recipe,
            &world,
            &words("tjvaa destroy")
        ));
        for other in [
            "tjvab destroy",
            "em0 destroy",
            "tjvaa down",
            "jails destroy",
        ] {
            assert!(
                !destroys_a_leftover(&recipe, &world, &words(other)),
                "{other}"
            );
        }
        // The planned destroy takes both halves and the description from the world.
        for planned in destroy_actions(&of_recipe(&recipe, &world)) {
            planned.action.apply_to(&mut world);
        }
        assert_eq!(world.interfaces, Some(set(&["em0", "jails"])));
        assert!(world.interface_descriptions.is_empty());
        assert!(of_recipe(&recipe, &world).is_empty());
    }

    #[test]
    fn candidates_are_the_host_halves_named_like_thinjails() {
        let interfaces = set(&[
            "em0",
            "tjwwwa",
            "tjwwwb",
            "bridge0",
            "tkmy_je1a2b3ca",
            "tja",
        ]);
        let found = described_candidates(&interfaces);
        assert!(found.contains(&"tjwwwa"), "{found:?}");
        assert!(found.contains(&"tkmy_je1a2b3ca"), "{found:?}");
        assert!(!found.contains(&"tjwwwb"));
        assert!(!found.contains(&"em0"));
    }
}
