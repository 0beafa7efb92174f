//! What the confinement lets the two actions on delegated datasets do: create only a
//! dataset the recipe delegates to that jail, at the recipe's path, with that jail's
//! owner mark; destroy only one the recipe delegates and the host shows jailed with
//! that mark. Everything else about datasets outside the jails dataset stays refused.

use thinjail_core::action::Action;
use thinjail_core::confine::check_planned;
use thinjail_core::layout::Layout;
use thinjail_core::recipe::Recipe;
use thinjail_core::resources::datasets::DelegatedState;
use thinjail_core::world::World;

fn recipe() -> Recipe {
    Recipe::from_ron(
        r#"(releases: [(name: "14.3-RELEASE")],
            jails: [(name: "www", release: "14.3-RELEASE",
                     datasets: [(dataset: "zroot/www-db", path: "/var/db/www")]),
                    (name: "db", release: "14.3-RELEASE")])"#,
        "test",
    )
    .unwrap()
}

fn check(world: &World, action: Action) -> Result<(), String> {
    let recipe = recipe();
    check_planned(&Layout::new(&recipe), world, &action, &|jail| {
        recipe.jail(jail).is_some()
    })
}

fn create(dataset: &str, jail: &str, path: &str, owner: &str) -> Action {
    Action::CreateJailedDataset {
        dataset: dataset.into(),
        jail: jail.into(),
        path: path.into(),
        owner: owner.into(),
    }
}

#[test]
fn only_the_recipes_delegation_is_created() {
    let world = World::empty();
    assert_eq!(
        check(
            &world,
            create("zroot/www-db", "www", "/var/db/www", "zroot/jails/www")
        ),
        Ok(())
    );
    for action in [
        create("zroot/other", "www", "/var/db/www", "zroot/jails/www"),
        create("zroot/www-db", "db", "/var/db/www", "zroot/jails/db"),
        create(
            "zroot/www-db",
            "www",
            "/var/db/elsewhere",
            "zroot/jails/www",
        ),
        create("zroot/www-db", "www", "/var/db/www", "zroot/jails/db"),
    ] {
        assert!(check(&world, action.clone()).is_err(), "{action:?}");
    }
    // The general rules still hold for plain dataset actions outside the jails dataset.
    assert!(check(
        &world,
        Action::DestroyDataset {
            dataset: "zroot/www-db".into(),
            recursive: true
        }
    )
    .is_err());
}

#[test]
fn only_a_dataset_thinjail_made_for_the_jail_is_destroyed() {
    let destroy = |jail: &str| Action::DestroyJailedDataset {
        dataset: "zroot/www-db".into(),
        jail: jail.into(),
    };
    let mut world = World::empty();
    let state = |jailed: bool, owner: &str| {
        Some(DelegatedState {
            filesystem: true,
            jailed,
            owner: Some(owner.into()),
            mountpoint: Some("/var/db/www".into()),
        })
    };
    world
        .delegated
        .insert("zroot/www-db".into(), state(true, "zroot/jails/www"));
    assert_eq!(check(&world, destroy("www")), Ok(()));
    assert!(check(&world, destroy("db")).is_err());
    for other in [
        state(false, "zroot/jails/www"),
        state(true, "zroot/jails/db"),
        None,
    ] {
        world.delegated.insert("zroot/www-db".into(), other.clone());
        assert!(check(&world, destroy("www")).is_err(), "{other:?}");
    }
}
