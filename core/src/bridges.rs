//! Bridges thinjail makes: a bridge of `host.network.bridges` with `create: true`
//! exists while a VNET jail of the recipe uses it — made with its members (the
//! uplinks) and addresses, and written into the host's rc.conf so that rc(8) makes
//! it at boot — and is removed, with its rc.conf settings, when none does. A bridge
//! without `create` is the administrator's: never made, changed or destroyed.
//!
//! Pure: [`plan`] compares the recipe with the observed bridges
//! ([`ObservedBridges`]) and the rc.conf text; hosts run the [`Action::Ifconfig`]
//! it plans. What FreeBSD does, and where it was read (`freebsd/freebsd-src`):
//! - `libexec/rc/network.subr`: `clone_up` runs `ifconfig IF create` for each word
//!   of `cloned_interfaces` (skipping one that exists), `ifnet_rename` then
//!   renames each interface with an `ifconfig_IF_name`, and `ifconfig_up` runs
//!   `ifconfig IF $ifconfig_IF` (then `up`), `ifconfig_IF_ipv6` and the
//!   `ifconfig_IF_aliasN`. The if_bridge cloner only matches `bridge` and
//!   `bridge<digits>`, so a bridge named otherwise is created as `bridgeU` (a unit
//!   from its name, [`clone_name`]) and renamed.
//! - if_bridge(4): `addm IF` adds a member; with FreeBSD 15's
//!   `net.link.bridge.member_ifaddrs` at 0 (its default) a member holding an
//!   address is refused with `EINVAL` (the sysctl is absent before 15, where
//!   members may hold addresses): checked at plan time
//!   ([`crate::network::check_member_ifaddrs`]). Destroying a bridge detaches its
//!   members; their interfaces stay.
//!
//! Ownership is the rc.conf block `bridge NAME` thinjail writes before it makes the
//! bridge: a bridge without one is not thinjail's, and a bridge with one that
//! exists is the one thinjail made (a killed apply leaves the block and, at worst,
//! no bridge, which the next apply makes).

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::action::Action;
use crate::bridge_addresses::{changes, wanted as wanted_addresses};
use crate::edit::{block_ids, find_block, FileEdit};
use crate::network::{check_member_ifaddrs, ifconfig_var, is_thinjail_iface};
pub use crate::observed_bridges::{has_address, parse_members, ObservedBridges};
use crate::recipe::network::{Bridge, HostNetwork};
use crate::recipe::Recipe;
use crate::stage::{Planned, StageError};
use crate::world::World;

/// The prefix of the id of the rc.conf block of a bridge thinjail made
/// (`bridge NAME`).
pub const RC_BLOCK_PREFIX: &str = "bridge ";
/// The lowest unit thinjail asks the bridge cloner for (units below are left to
/// `ifconfig bridge create`, which takes the lowest free one).
pub const BRIDGE_UNIT_FLOOR: u32 = 4096;

/// The uplinks whose addresses observation needs: every member of a bridge the
/// recipe makes.
pub fn uplinks(network: &HostNetwork) -> BTreeSet<String> {
    network
        .bridges
        .iter()
        .filter(|b| b.create)
        .flat_map(|b| b.members.iter().cloned())
        .collect()
}

/// The name the bridge cloner creates `bridge` under: itself when it has the
/// cloner's form (`bridge<digits>`), otherwise `bridgeU` with `U` from 4096 up, from
/// SHA-256 of the name (renamed right after).
pub fn clone_name(bridge: &str) -> String {
    if bridge
        .strip_prefix("bridge")
        .is_some_and(|unit| !unit.is_empty() && unit.bytes().all(|b| b.is_ascii_digit()))
    {
        return bridge.to_string();
    }
    let mut hasher = Sha256::new();
    hasher.update(format!("thinjail bridge {bridge}").as_bytes());
    let hash: [u8; 32] = hasher.finalize().into();
    let span = crate::network::EPAIR_UNIT_MAX - BRIDGE_UNIT_FLOOR + 1;
    let unit = BRIDGE_UNIT_FLOOR + u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]) % span;
    format!("bridge{unit}")
}

/// The id of the rc.conf block of bridge `name`.
pub fn rc_block_id(name: &str) -> String {
    format!("{RC_BLOCK_PREFIX}{name}")
}

/// The first word of each address as ifconfig(8) takes it: `inet A/P` for the
/// first IPv4 address, `inet A/P alias` after it, `inet6 A/P alias`.
fn address_args(bridge: &Bridge) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, addr) in bridge.ip4.iter().enumerate() {
        let mut args = vec!["inet".to_string(), addr.clone()];
        if i > 0 {
            args.push("alias".into());
        }
        out.push(args);
    }
    for addr in &bridge.ip6 {
        out.push(vec!["inet6".into(), addr.clone(), "alias".into()]);
    }
    out
}

/// The rc.conf(5) lines that make `bridge` at boot, as `libexec/rc/network.subr`
/// reads them: its cloner name added to `cloned_interfaces`, renamed with
/// `ifconfig_bridgeU_name`, its first IPv4 address and members in `ifconfig_NAME`,
/// IPv6 addresses in `ifconfig_NAME_ipv6` and further ones as `_aliasN`.
pub fn rc_block(bridge: &Bridge) -> String {
    let name = &bridge.name;
    let clone = clone_name(name);
    let q = crate::quote::rc_conf;
    let mut out = format!(
        "# bridge {name}, made by thinjail for its VNET jails: `thinjail apply` removes it\n\
         # (and these lines) when no jail of its recipe uses it. Change the recipe, not this.\n\
         cloned_interfaces=\"${{cloned_interfaces}} {clone}\"\n"
    );
    if clone != *name {
        out.push_str(&format!("{}={}\n", ifconfig_var(&clone, "_name"), q(name)));
    }
    let mut main = Vec::new();
    if let Some(first) = bridge.ip4.first() {
        main.push(format!("inet {first}"));
    }
    for member in &bridge.members {
        main.push(format!("addm {member}"));
    }
    main.push("up".into());
    out.push_str(&format!(
        "{}={}\n",
        ifconfig_var(name, ""),
        q(&main.join(" "))
    ));
    let mut aliases = 0;
    for addr in bridge.ip4.iter().skip(1) {
        out.push_str(&format!(
            "{}={}\n",
            ifconfig_var(name, &format!("_alias{aliases}")),
            q(&format!("inet {addr}"))
        ));
        aliases += 1;
    }
    for (i, addr) in bridge.ip6.iter().enumerate() {
        let var = if i == 0 {
            ifconfig_var(name, "_ipv6")
        } else {
            let var = ifconfig_var(name, &format!("_alias{aliases}"));
            aliases += 1;
            var
        };
        out.push_str(&format!("{var}={}\n", q(&format!("inet6 {addr}"))));
    }
    out
}

fn ifconfig(args: &[&str]) -> Action {
    Action::Ifconfig {
        args: args.iter().map(|a| a.to_string()).collect(),
    }
}

fn conflict(message: String) -> StageError {
    StageError::Conflict(message)
}

/// The bridges the recipe's VNET jails use.
fn used(recipe: &Recipe) -> BTreeSet<&str> {
    recipe
        .jails
        .iter()
        .filter_map(|j| j.vnet.as_ref().map(|v| v.bridge.as_str()))
        .collect()
}

/// The bridges thinjail made on this host: the `bridge NAME` blocks of rc.conf.
pub fn owned(rc_conf: &str) -> BTreeSet<String> {
    block_ids(rc_conf, RC_BLOCK_PREFIX)
        .filter_map(|id| id.strip_prefix(RC_BLOCK_PREFIX))
        .map(String::from)
        .collect()
}

/// Plans the bridges thinjail makes: each bridge with `create` that a VNET jail
/// uses gets its rc.conf block and, when it does not exist, is made (`ifconfig
/// bridgeU create`, renamed, addresses, members, up); an existing one gets the
/// members it lacks and loses those that are neither the recipe's nor a jail's
/// epair, and its addresses are brought to the recipe's
/// ([`crate::bridge_addresses::changes`]: `-alias` the old, `alias` the new; IPv6
/// link-local ones left alone). A bridge thinjail made that no jail uses any more is destroyed and its
/// block removed — unless one of thinjail's epairs is still a member (a jail of
/// an older recipe still runs on it): then it stays until that jail is gone.
/// Nothing is planned when the interfaces were not observed.
///
/// Refused (exit 78, nothing changed): an interface already has the bridge's
/// name (or its cloner name) and thinjail did not make it; a member does not
/// exist; a member holds an address while `net.link.bridge.member_ifaddrs` is 0.
pub fn plan(recipe: &Recipe, world: &World) -> Result<Vec<Planned>, StageError> {
    let (Some(interfaces), Some(observed)) = (&world.interfaces, &world.bridges) else {
        return Ok(Vec::new());
    };
    let rc_path = &recipe.host.rc_conf;
    let rc_text = world.file_contents(rc_path).unwrap_or("");
    let owned = owned(rc_text);
    let used = used(recipe);
    let wanted: Vec<&Bridge> = recipe
        .host
        .network
        .bridges
        .iter()
        .filter(|b| b.create && used.contains(b.name.as_str()))
        .collect();
    let no_members = BTreeSet::new();
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for bridge in &wanted {
        let name = bridge.name.as_str();
        let clone = clone_name(name);
        let ours = owned.contains(name);
        let exists = interfaces.contains(name);
        if exists && !ours {
            problems.push(format!(
                "interface {name} exists and thinjail did not make it (no `{}` block in {}): \
                 drop `create: true` from the bridge to use it as the administrator's, or \
                 remove it (ifconfig {name} destroy)",
                rc_block_id(name),
                rc_path.display()
            ));
            continue;
        }
        // Made under its cloner name by an apply that was killed before the rename
        // (the block, written first, says it is thinjail's): renamed now.
        let made_unnamed = !exists && clone != name && interfaces.contains(&clone);
        if made_unnamed && !ours {
            problems.push(format!(
                "interface {clone} exists: thinjail makes bridge {name} as {clone} and renames \
                 it; rename or remove {clone}"
            ));
            continue;
        }
        let members = observed.members.get(name).unwrap_or(&no_members);
        for member in &bridge.members {
            if members.contains(member) {
                continue;
            }
            if !interfaces.contains(member) {
                problems.push(format!(
                    "{member}, a member of bridge {name}, does not exist on this host"
                ));
                continue;
            }
            if let Err(e) = check_member_ifaddrs(
                name,
                member,
                observed.member_ifaddrs,
                observed.addressed.contains(member),
            ) {
                problems.push(e);
            }
        }
        let block = rc_block(bridge);
        let id = rc_block_id(name);
        if find_block(rc_text, &id).ok().flatten() != Some(block.as_str()) {
            out.push(Planned::noted(
                Action::EditFile {
                    path: rc_path.clone(),
                    edit: FileEdit::SetBlock { id, content: block },
                },
                format!(
                    "bridge {name} (create: true): rc(8) makes it at boot, before the jails; \
                     written before it is made, so it records that the bridge is thinjail's"
                ),
            ));
        }
        if !exists {
            if !made_unnamed {
                out.push(Planned::noted(
                    ifconfig(&[&clone, "create"]),
                    format!("bridge {name} for the VNET jails of the recipe"),
                ));
            }
            if clone != name {
                out.push(Planned::new(ifconfig(&[&clone, "name", name])));
            }
            for args in address_args(bridge) {
                let mut all = vec![name];
                all.extend(args.iter().map(String::as_str));
                out.push(Planned::new(ifconfig(&all)));
            }
        }
        if exists {
            // The running bridge's addresses follow the recipe's, as its rc.conf
            // block does (rc(8) reads that only at boot).
            let held = observed.addresses.get(name).unwrap_or(&no_members);
            for args in changes(&wanted_addresses(bridge), held) {
                let mut all = vec![name];
                all.extend(args.iter().map(String::as_str));
                let note = if args.last().is_some_and(|w| w == "-alias") {
                    format!("bridge {name}: the recipe no longer has this address")
                } else {
                    format!("bridge {name}: an address of the recipe the running bridge lacks")
                };
                out.push(Planned::noted(ifconfig(&all), note));
            }
        }
        for member in &bridge.members {
            if !members.contains(member) {
                out.push(Planned::new(ifconfig(&[name, "addm", member])));
            }
        }
        for member in members {
            if !bridge.members.contains(member) && !is_thinjail_iface(member) {
                out.push(Planned::noted(
                    ifconfig(&[name, "deletem", member]),
                    format!("not a member of bridge {name} in the recipe"),
                ));
            }
        }
        if !exists {
            out.push(Planned::new(ifconfig(&[name, "up"])));
        }
    }
    if !problems.is_empty() {
        return Err(conflict(problems.join("\n")));
    }
    let wanted: BTreeSet<&str> = wanted.iter().map(|b| b.name.as_str()).collect();
    for name in owned.iter().filter(|n| !wanted.contains(n.as_str())) {
        if interfaces.contains(name) {
            let members = observed.members.get(name).unwrap_or(&no_members);
            if members.iter().any(|m| is_thinjail_iface(m)) {
                // A jail still runs on it; removing the bridge would cut it off.
                continue;
            }
            out.push(Planned::noted(
                ifconfig(&[name, "destroy"]),
                format!("thinjail made bridge {name}; no VNET jail of the recipe uses it now"),
            ));
        }
        out.push(Planned::new(Action::EditFile {
            path: rc_path.clone(),
            edit: FileEdit::RemoveBlock {
                id: rc_block_id(name),
            },
        }));
    }
    Ok(out)
}

/// Confinement of an [`Action::Ifconfig`]: only on a bridge thinjail makes — one
/// of the recipe's with `create` (or its cloner name, `create` and `name` to the
/// bridge's own name), or one with a `bridge NAME` block in the recipe's rc.conf —
/// and only `create`, `name`, `inet`/`inet6` addresses (added, or removed with
/// `-alias`), `addm`/`deletem`, `up` and `destroy`. Never another interface of the host.
pub fn check_ifconfig(recipe: &Recipe, world: &World, args: &[String]) -> Result<(), String> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let declared: Vec<&Bridge> = recipe
        .host
        .network
        .bridges
        .iter()
        .filter(|b| b.create)
        .collect();
    let owned = owned(world.file_contents(&recipe.host.rc_conf).unwrap_or(""));
    let ours = |name: &str| declared.iter().any(|b| b.name == name) || owned.contains(name);
    let clone_of = |name: &str| declared.iter().find(|b| clone_name(&b.name) == name);
    let allowed = match words.as_slice() {
        [name, "create"] => clone_of(name).is_some(),
        [name, "name", new] => clone_of(name).is_some_and(|b| b.name == *new),
        [name, "inet" | "inet6", _] | [name, "inet" | "inet6", _, "alias" | "-alias"] => ours(name),
        [name, "addm" | "deletem", _] | [name, "up" | "destroy"] => ours(name),
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "runs `ifconfig {}`, which is not a change thinjail makes to a bridge it makes",
            words.join(" ")
        ))
    }
}

/// The interfaces a VNET jail's `exec.prestart` makes — its epair's halves under
/// thinjail's names and under `epairUa`/`epairUb` (before the renames) — for
/// [`Action::StartJail`]'s `destroy_on_failure`; none for a jail sharing the host's
/// stack.
pub fn epair_interfaces(recipe: &Recipe, jail: &str) -> Vec<String> {
    let is_vnet = |j: &&crate::recipe::Jail| j.vnet.is_some();
    if !recipe.jails.iter().filter(is_vnet).any(|j| j.name == jail) {
        return Vec::new();
    }
    let names =
        crate::network::epair_names(recipe.jails.iter().filter(is_vnet).map(|j| j.name.as_str()));
    names
        .get(jail)
        .map(|n| {
            vec![
                n.host.clone(),
                n.jail.clone(),
                format!("epair{}a", n.unit),
                format!("epair{}b", n.unit),
            ]
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed_bridges::apply_ifconfig;
    use crate::recipe::validate::member_problem;
    use crate::world::PathState;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn recipe(create: bool, members: &[&str], jails: &[&str]) -> Recipe {
        let jails: Vec<String> = jails
            .iter()
            .map(|name| {
                format!(
                    r#"(name: "{name}", release: "14.3-RELEASE", vnet: (bridge: "jails", ip4: Static(["10.9.0.{}/24"])))"#,
                    name.len() + 1
                )
            })
            .collect();
        let members: Vec<String> = members.iter().map(|m| format!("{m:?}")).collect();
        Recipe::from_ron(
            &format!(
                r#"(host: (network: (bridges: [(name: "jails", ip4: ["10.9.0.1/24"], create: {create}, members: [{}])])),
                    releases: [(name: "14.3-RELEASE")], jails: [{}])"#,
                members.join(", "),
                jails.join(", ")
            ),
            "test",
        )
        .unwrap()
    }

    fn host(interfaces: &[&str], member_ifaddrs: Option<u32>, addressed: &[&str]) -> World {
        let mut world = World::empty();
        world.interfaces = Some(interfaces.iter().map(|s| s.to_string()).collect());
        world.bridges = Some(ObservedBridges {
            members: BTreeMap::new(),
            addressed: addressed.iter().map(|s| s.to_string()).collect(),
            member_ifaddrs,
            addresses: BTreeMap::new(),
        });
        world
    }

    fn lines(planned: &[Planned]) -> Vec<String> {
        planned.iter().map(|p| p.action.describe()).collect()
    }

    #[test]
    fn a_created_bridge_is_made_persisted_then_left_alone_then_removed() {
        let recipe = recipe(true, &["em0"], &["www"]);
        let world = host(&["em0", "lo0"], None, &[]);
        let planned = plan(&recipe, &world).unwrap();
        let clone = clone_name("jails");
        assert_eq!(
            lines(&planned)[1..],
            [
                format!("ifconfig {clone} create"),
                format!("ifconfig {clone} name jails"),
                "ifconfig jails inet 10.9.0.1/24".into(),
                "ifconfig jails addm em0".into(),
                "ifconfig jails up".into(),
            ]
        );
        let done = world.after_planned(&planned);
        let rc = done.file_contents(Path::new("/etc/rc.conf")).unwrap();
        assert!(
            rc.contains(&format!(
                "cloned_interfaces=\"${{cloned_interfaces}} {clone}\"\nifconfig_{clone}_name=\"jails\"\nifconfig_jails=\"inet 10.9.0.1/24 addm em0 up\"\n"
            )),
            "{rc}"
        );
        assert_eq!(
            done.bridges.as_ref().unwrap().members["jails"],
            BTreeSet::from(["em0".to_string()])
        );
        // A second apply: nothing.
        assert!(plan(&recipe, &done).unwrap().is_empty());
        // Its last jail leaves the recipe: the bridge and its lines go.
        let empty = Recipe {
            jails: vec![],
            ..recipe.clone()
        };
        let gone = done.after_planned(&plan(&empty, &done).unwrap());
        assert!(!gone.interfaces.as_ref().unwrap().contains("jails"));
        assert_eq!(
            gone.file_contents(Path::new("/etc/rc.conf")),
            Some(""),
            "every line thinjail wrote is gone"
        );
        assert!(plan(&empty, &gone).unwrap().is_empty());
    }

    #[test]
    fn a_changed_address_is_applied_to_the_running_bridge() {
        let recipe = recipe(true, &["em0"], &["www"]);
        let world = host(&["em0", "lo0"], None, &[]);
        let done = world.after_planned(&plan(&recipe, &world).unwrap());
        assert_eq!(
            done.bridges.as_ref().unwrap().addresses["jails"],
            BTreeSet::from(["10.9.0.1/24".to_string()])
        );
        let mut changed = recipe.clone();
        changed.host.network.bridges[0].ip4 = vec!["10.9.0.254/24".into()];
        changed.host.network.bridges[0].ip6 = vec!["2001:DB8::1/64".into()];
        let planned = plan(&changed, &done).unwrap();
        assert!(
            matches!(&planned[0].action, Action::EditFile { .. }),
            "the rc.conf block first"
        );
        assert_eq!(
            lines(&planned)[1..],
            [
                "ifconfig jails inet 10.9.0.1 -alias",
                "ifconfig jails inet 10.9.0.254/24 alias",
                "ifconfig jails inet6 2001:db8::1/64 alias",
            ]
        );
        for p in &planned {
            if let Action::Ifconfig { args } = &p.action {
                check_ifconfig(&changed, &done, args).unwrap();
            }
        }
        let moved = done.after_planned(&planned);
        assert_eq!(
            moved.bridges.as_ref().unwrap().addresses["jails"],
            BTreeSet::from(["10.9.0.254/24".to_string(), "2001:db8::1/64".to_string()])
        );
        assert!(plan(&changed, &moved).unwrap().is_empty(), "a second apply");
        // An address added by hand to thinjail's bridge goes; the administrator's
        // bridges are never looked at (see the_administrators_bridges_are_never_touched).
        let mut by_hand = moved.clone();
        by_hand
            .bridges
            .as_mut()
            .unwrap()
            .addresses
            .get_mut("jails")
            .unwrap()
            .insert("192.0.2.7/24".into());
        assert_eq!(
            lines(&plan(&changed, &by_hand).unwrap()),
            ["ifconfig jails inet 192.0.2.7 -alias"]
        );
    }

    #[test]
    fn an_apply_killed_before_the_rename_is_finished() {
        let recipe = recipe(true, &[], &["www"]);
        let world = host(&["lo0"], None, &[]);
        let planned = plan(&recipe, &world).unwrap();
        // Killed right after `ifconfig bridgeU create` (the block is written).
        let partial = world.after_planned(&planned[..2]);
        let clone = clone_name("jails");
        assert!(partial.interfaces.as_ref().unwrap().contains(&clone));
        let rest = plan(&recipe, &partial).unwrap();
        assert_eq!(lines(&rest)[0], format!("ifconfig {clone} name jails"));
        let done = partial.after_planned(&rest);
        assert!(plan(&recipe, &done).unwrap().is_empty());
        // Without thinjail's block the same interface is refused.
        let mut foreign = world.clone();
        foreign.interfaces.as_mut().unwrap().insert(clone.clone());
        let error = plan(&recipe, &foreign).unwrap_err().to_string();
        assert!(
            error.contains(&format!("interface {clone} exists")),
            "{error}"
        );
    }

    #[test]
    fn a_bridge_still_holding_a_jails_epair_is_not_destroyed() {
        let recipe = recipe(true, &[], &["www"]);
        let world = host(&["lo0"], None, &[]);
        let mut done = world.after_planned(&plan(&recipe, &world).unwrap());
        apply_ifconfig(
            done.interfaces.get_or_insert_with(BTreeSet::new),
            done.bridges.get_or_insert_with(ObservedBridges::default),
            &["jails".into(), "addm".into(), "tjwwwa".into()],
        );
        let empty = Recipe {
            jails: vec![],
            ..recipe.clone()
        };
        assert!(plan(&empty, &done).unwrap().is_empty());
    }

    #[test]
    fn the_administrators_bridges_are_never_touched() {
        // Declared without create: nothing planned, whatever exists.
        let recipe = recipe(false, &[], &["www"]);
        let mut world = host(&["jails", "em0"], None, &[]);
        world.bridges.as_mut().unwrap().members.insert(
            "jails".into(),
            BTreeSet::from(["em0".to_string(), "tjwwwa".to_string()]),
        );
        assert!(plan(&recipe, &world).unwrap().is_empty());
        // Declared with create but existing without thinjail's block: refused.
        let recipe = self::recipe(true, &[], &["www"]);
        let error = plan(&recipe, &world).unwrap_err().to_string();
        assert!(
            error.contains("interface jails exists and thinjail did not make it"),
            "{error}"
        );
        // A bridge with a `bridge` block whose recipe no longer declares it is ours.
        let mut ours = world.clone();
        ours.set_path(
            Path::new("/etc/rc.conf"),
            PathState::File {
                contents: Some(
                    "# BEGIN thinjail bridge other\ncloned_interfaces=\"x\"\n# END thinjail bridge other\n"
                        .into(),
                ),
            },
        );
        let planned = plan(&self::recipe(false, &[], &["www"]), &ours).unwrap();
        assert!(
            lines(&planned)
                .iter()
                .all(|line| !line.contains("ifconfig jails")),
            "{:?}",
            lines(&planned)
        );
    }

    #[test]
    fn an_addressed_uplink_is_refused_while_member_ifaddrs_is_0() {
        let recipe = recipe(true, &["em0"], &["www"]);
        let world = host(&["em0"], Some(0), &["em0"]);
        let error = plan(&recipe, &world).unwrap_err().to_string();
        assert!(
            error.contains("net.link.bridge.member_ifaddrs is 0")
                && error.contains("em0 has addresses of its own"),
            "{error}"
        );
        assert!(plan(&recipe, &host(&["em0"], Some(1), &["em0"])).is_ok());
        assert!(plan(&recipe, &host(&["em0"], None, &["em0"])).is_ok());
        assert!(plan(&recipe, &host(&["em0"], Some(0), &[])).is_ok());
        // A member that does not exist.
        let error = plan(&recipe, &host(&[], None, &[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("em0, a member of bridge jails, does not exist"));
    }

    #[test]
    fn ifconfig_output_gives_members_and_addresses() {
        let shown = "jails: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n\
            \tether 58:9c:fc:10:ff:a0\n\
            \tinet 10.9.0.1 netmask 0xffffff00 broadcast 10.9.0.255\n\
            \tid 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15\n\
            \tmember: tjwwwa flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>\n\
            \t        ifmaxaddr 0 port 6 priority 128 path cost 2000\n\
            \tmember: em0 flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>\n";
        assert_eq!(
            parse_members(shown),
            BTreeSet::from(["em0".to_string(), "tjwwwa".to_string()])
        );
        assert!(has_address(shown));
        assert!(!has_address(
            "em0: flags=8843<UP> mtu 1500\n\tether 58:9c:fc:10:ff:a1\n"
        ));
    }

    #[test]
    fn clone_names_fit_the_cloner_and_ifnamsiz() {
        assert_eq!(clone_name("bridge7"), "bridge7");
        let made = clone_name("jails");
        assert!(made.len() <= crate::network::MAX_IFACE_NAME, "{made}");
        let unit: u32 = made.strip_prefix("bridge").unwrap().parse().unwrap();
        assert!((BRIDGE_UNIT_FLOOR..=crate::network::EPAIR_UNIT_MAX).contains(&unit));
        assert_eq!(made, clone_name("jails"));
    }

    #[test]
    fn only_bridges_thinjail_makes_may_be_changed() {
        let recipe = recipe(true, &["em0"], &["www"]);
        let world = host(&["em0"], None, &[]);
        for planned in plan(&recipe, &world).unwrap() {
            if let Action::Ifconfig { args } = &planned.action {
                check_ifconfig(&recipe, &world, args).unwrap();
            }
        }
        let words = |text: &str| -> Vec<String> { text.split(' ').map(String::from).collect() };
        for refused in [
            "em0 destroy",
            "em0 inet 10.0.0.9/24",
            "bridge0 create",
            "jails name em1",
            "jails vnet 7",
            "jails",
        ] {
            assert!(
                check_ifconfig(&recipe, &world, &words(refused)).is_err(),
                "{refused}"
            );
        }
        // An administrator's bridge (declared without create) is not ours either.
        let admin = self::recipe(false, &[], &["www"]);
        assert!(check_ifconfig(&admin, &world, &words("jails destroy")).is_err());
    }

    #[test]
    fn validation_names_the_member_field() {
        let mut recipe = recipe(true, &["em0"], &["www"]);
        recipe.host.network.bridges[0].create = false;
        let errors: Vec<String> = crate::recipe::validate::validate(&recipe)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors
                .iter()
                .any(|e| e.contains("host.network.bridges[0].members[0]")
                    && e.contains("only for a bridge thinjail makes")),
            "{errors:?}"
        );
        assert!(
            crate::recipe::validate::validate(&self::recipe(true, &["em0"], &["www"])).is_empty()
        );
    }

    #[test]
    fn members_are_validated() {
        let mut network = recipe(true, &["em0"], &[]).host.network;
        assert_eq!(
            member_problem(&network, &network.bridges[0].clone(), "em0"),
            None
        );
        assert!(member_problem(&network, &network.bridges[0].clone(), "tjwwwa").is_some());
        assert!(member_problem(&network, &network.bridges[0].clone(), "jails").is_some());
        network.bridges[0].create = false;
        assert!(member_problem(&network, &network.bridges[0].clone(), "em0")
            .unwrap()
            .contains("only for a bridge thinjail makes"));
    }
}
