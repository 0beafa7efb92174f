//! Planning is idempotent, checked on in-memory worlds: once a plan's effects are in
//! the world the next plan is empty, and a host that already has the base and the
//! template gets only the jail's own steps.

use std::collections::BTreeSet;

use thinjail_core::pipeline::Pipeline;
use thinjail_core::world::World;
use thinjail_core::{Plan, Recipe};
use thinjail_stages::NoPlugins;

fn plan(recipe: &Recipe, world: &World) -> Plan {
    Pipeline::from_recipe(recipe, &mut NoPlugins)
        .unwrap()
        .plan(recipe, world)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn builtin(name: &str) -> Recipe {
    let text = thinjail_cli::recipes::builtin(name).unwrap().text;
    Recipe::from_ron(text, name).unwrap()
}

#[test]
fn a_world_with_everything_gets_an_empty_plan() {
    for name in ["article", "default"] {
        let recipe = builtin(name);
        let first = plan(&recipe, &World::empty());
        assert!(first.len() > 20, "{name}: {} actions", first.len());
        let done = World::empty().after(&first);
        let second = plan(&recipe, &done);
        assert!(
            second.is_empty(),
            "{name}: second plan is not empty:\n{}",
            thinjail_core::render::text(&second, name)
        );
    }
}

#[test]
fn with_base_and_template_only_the_jails_steps_are_planned() {
    let mut without_jails = builtin("article");
    without_jails.jails.clear();
    let prepared = World::empty().after(&plan(&without_jails, &World::empty()));
    assert!(prepared.has_snapshot("zroot/jails/base/13.1-RELEASE-template", "gold"));

    let recipe = builtin("article");
    let jail_plan = plan(&recipe, &prepared);
    let stages: BTreeSet<&str> = jail_plan.busy_stages();
    assert_eq!(stages, BTreeSet::from(["zfs", "mount", "rcconf"]));
    let lines: Vec<String> = jail_plan
        .actions()
        .flat_map(|(_, p)| p.action.sh_lines())
        .collect();
    assert!(
        lines.iter().all(|l| !l.contains("RELEASE-base@")
            && !l.contains("bsdinstall")
            && !l.contains("cp -RPp")),
        "{lines:#?}"
    );
    let expected = [
        "zfs create -o thinjail:managed=zroot/jails zroot/jails/thinjail0",
        "zfs create -o thinjail:managed=zroot/jails zroot/jails/.mountpoints",
        "zfs send -p zroot/jails/base/13.1-RELEASE-template@gold | zfs receive zroot/jails/thinjail0/data",
        "mkdir -p /usr/local/jails/.mountpoints/thinjail0",
        "cat > /usr/local/jails/thinjail0/fstab <<'EOF'",
        "mkdir -p /etc/jail.conf.d",
        "cat > /etc/jail.conf.d/thinjail0.conf <<'EOF'",
        "thinjail_rc_edit /etc/rc.conf record jail_list thinjail0",
        "thinjail_rc_edit /etc/rc.conf record jail_enable YES",
        "jail -f /etc/jail.conf.d/thinjail0.conf -c thinjail0",
    ];
    for line in expected {
        assert!(
            lines.iter().any(|l| l == line),
            "{line:?} not planned: {lines:#?}"
        );
    }
    assert!(plan(&recipe, &prepared.after(&jail_plan)).is_empty());
}

#[test]
fn a_second_jail_on_the_same_release_shares_its_base() {
    let one = builtin("article");
    let done = World::empty().after(&plan(&one, &World::empty()));
    let mut two = one.clone();
    let mut second = two.jails[0].clone();
    second.name = "thinjail1".into();
    second.ip4 = vec!["192.168.1.71".into()];
    two.jails.push(second);
    let more = plan(&two, &done);
    let lines: Vec<String> = more
        .actions()
        .flat_map(|(_, p)| p.action.sh_lines())
        .collect();
    assert!(lines.iter().any(|l| l == "zfs send -p zroot/jails/base/13.1-RELEASE-template@gold | zfs receive zroot/jails/thinjail1/data"));
    assert!(
        lines.iter().all(|l| !l.contains("thinjail0")),
        "the first jail is left alone: {lines:#?}"
    );
    assert!(lines
        .iter()
        .all(|l| !l.contains("zroot/jails/base/13.1-RELEASE-base")));
}
