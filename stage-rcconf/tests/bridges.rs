//! The rcconf stage with a bridge thinjail makes (`create: true`): made and written
//! into rc.conf before the jails that use it start, a no-op the second time, and
//! removed with its rc.conf lines once no jail of the recipe uses it — with the
//! administrator's rc.conf and boot unchanged otherwise.

use std::collections::BTreeSet;
use std::path::Path;

use thinjail_core::action::Action;
use thinjail_core::bridges::{clone_name, ObservedBridges};
use thinjail_core::recipe::Recipe;
use thinjail_core::stage::{Stage, StageContext};
use thinjail_core::world::{PathState, World};
use thinjail_stage_rcconf::RcConfStage;

const RC: &str = "jail_enable=\"YES\"\nsshd_enable=\"YES\"\n";

fn recipe_with(jails: &str) -> Recipe {
    Recipe::from_ron(
        &format!(
            r#"(host: (network: (bridges: [(name: "jails", ip4: ["10.9.0.1/24"], create: true, members: ["em0"])])),
                releases: [(name: "14.3-RELEASE")], jails: [{jails}])"#
        ),
        "test",
    )
    .unwrap()
}

fn host() -> World {
    let mut world = World::empty();
    world.set_path(
        Path::new("/etc/rc.conf"),
        PathState::File {
            contents: Some(RC.into()),
        },
    );
    world.interfaces = Some(BTreeSet::from(["em0".to_string(), "lo0".to_string()]));
    world.bridges = Some(ObservedBridges::default());
    world
}

fn plan(recipe: &Recipe, world: &World) -> Vec<Action> {
    RcConfStage
        .plan(&StageContext::new(recipe), world)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|p| p.action)
        .collect()
}

fn after(world: &World, actions: &[Action]) -> World {
    let mut world = world.clone();
    for action in actions {
        action.apply_to(&mut world);
    }
    world
}

#[test]
fn the_bridge_is_made_before_its_jails_start_and_goes_with_the_last_one() {
    let recipe = recipe_with(
        r#"(name: "www", release: "14.3-RELEASE", vnet: (bridge: "jails", ip4: Static(["10.9.0.2/24"])))"#,
    );
    let world = host();
    let planned = plan(&recipe, &world);
    let position = |wanted: &dyn Fn(&Action) -> bool| {
        planned
            .iter()
            .position(wanted)
            .unwrap_or_else(|| panic!("{planned:#?}"))
    };
    let made = position(&|a| matches!(a, Action::Ifconfig { args } if args[1] == "create"));
    let start = position(&|a| matches!(a, Action::StartJail { .. }));
    assert!(made < start, "{planned:#?}");
    let done = after(&world, &planned);
    let rc = done.file_contents(Path::new("/etc/rc.conf")).unwrap();
    assert!(rc.starts_with(RC), "{rc}");
    assert!(
        rc.contains(&format!(
            "cloned_interfaces=\"${{cloned_interfaces}} {}\"\n",
            clone_name("jails")
        )),
        "{rc}"
    );
    // Applied again: nothing to do (the rc.conf block reads back as it was written).
    assert_eq!(plan(&recipe, &done), Vec::<Action>::new());

    // The jail leaves the recipe (it was stopped and destroyed): the bridge and its
    // lines go, the rest of rc.conf stays.
    let mut stopped = done.clone();
    stopped.jails.clear();
    if let Some(bridges) = stopped.bridges.as_mut() {
        bridges
            .members
            .get_mut("jails")
            .expect("the bridge")
            .retain(|m| m == "em0");
    }
    let empty = recipe_with("");
    let removed = plan(&empty, &stopped);
    assert!(
        removed
            .iter()
            .any(|a| matches!(a, Action::Ifconfig { args } if args == &["jails", "destroy"])),
        "{removed:#?}"
    );
    let gone = after(&stopped, &removed);
    // (jail_list is `thinjail destroy`'s to put back, not the bridge's.)
    assert_eq!(
        gone.file_contents(Path::new("/etc/rc.conf")),
        done.file_contents(Path::new("/etc/rc.conf"))
            .map(|rc| {
                let start = rc.find("# BEGIN thinjail bridge jails").unwrap();
                let end = rc.find("# END thinjail bridge jails\n").unwrap()
                    + "# END thinjail bridge jails\n".len();
                format!("{}{}", &rc[..start], &rc[end..])
            })
            .as_deref()
    );
    assert!(!gone
        .file_contents(Path::new("/etc/rc.conf"))
        .unwrap()
        .contains("cloned_interfaces"));
    assert!(!gone.interfaces.as_ref().unwrap().contains("jails"));
    assert_eq!(plan(&empty, &gone), Vec::<Action>::new());
}

#[test]
fn an_addressed_uplink_with_member_ifaddrs_0_is_refused_before_anything() {
    let recipe = recipe_with(
        r#"(name: "www", release: "14.3-RELEASE", vnet: (bridge: "jails", ip4: Static(["10.9.0.2/24"])))"#,
    );
    let mut world = host();
    world.bridges = Some(ObservedBridges {
        member_ifaddrs: Some(0),
        addressed: BTreeSet::from(["em0".to_string()]),
        ..ObservedBridges::default()
    });
    let error = RcConfStage
        .plan(&StageContext::new(&recipe), &world)
        .unwrap_err();
    assert!(
        matches!(error, thinjail_core::stage::StageError::Conflict(_)),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("net.link.bridge.member_ifaddrs=1 in /etc/sysctl.conf"),
        "{error}"
    );
}
