//! What the confinement lets the actions of issue 15 do: a mount point and an
//! unmount in a jail's files only for a mount the recipe declares for that jail,
//! rctl(8) changes only as whole rules on the jail's own subject, CPU lists that
//! read.

use std::path::{Path, PathBuf};

use thinjail_core::action::Action;
use thinjail_core::confine::check_planned;
use thinjail_core::layout::Layout;
use thinjail_core::recipe::Recipe;
use thinjail_core::world::World;

fn recipe() -> Recipe {
    Recipe::from_ron(
        r#"(releases: [(name: "14.3-RELEASE")],
            jails: [(name: "www", release: "14.3-RELEASE",
                     mounts: [Nullfs(host: "/srv/www", path: "/usr/home/shared")]),
                    (name: "db", release: "14.3-RELEASE")])"#,
        "test",
    )
    .unwrap()
}

fn check(action: Action) -> Result<(), String> {
    let recipe = recipe();
    check_planned(&Layout::new(&recipe), &World::empty(), &action, &|jail| {
        recipe.jail(jail).is_some()
    })
}

#[test]
fn mount_points_only_for_declared_mounts() {
    let data = PathBuf::from("/usr/local/jails/www/data");
    assert_eq!(
        check(Action::MakeMountPoint {
            data: data.clone(),
            path: "usr/home/shared".into(),
        }),
        Ok(())
    );
    for (data, path) in [
        (data.clone(), "usr/home/other"),
        (data.clone(), "etc"),
        (PathBuf::from("/usr/local/jails/db/data"), "usr/home/shared"),
    ] {
        assert!(
            check(Action::MakeMountPoint {
                data: data.clone(),
                path: path.into(),
            })
            .is_err(),
            "{} {path}",
            data.display()
        );
    }
    let root = Path::new("/usr/local/jails/.mountpoints/www");
    assert_eq!(
        check(Action::Unmount {
            path: root.join("skeleton/usr/home/shared"),
        }),
        Ok(())
    );
    assert!(check(Action::Unmount {
        path: root.join("skeleton/usr/home"),
    })
    .is_err());
    assert!(check(Action::Unmount {
        path: root.join("usr/home/shared"),
    })
    .is_err());
}

#[test]
fn rctl_changes_are_whole_rules_on_the_jails_own_subject() {
    let add = |rules: &[&str]| {
        check(Action::AddLimits {
            jail: "www".into(),
            rules: rules.iter().map(|r| r.to_string()).collect(),
        })
    };
    assert_eq!(add(&["jail:www:maxproc:deny=10"]), Ok(()));
    assert!(add(&["jail:db:maxproc:deny=10"]).is_err(), "another jail");
    assert!(add(&["user:0:maxproc:deny=10"]).is_err(), "another subject");
    assert!(add(&["jail:www"]).is_err(), "a filter, not a rule");
    assert!(
        add(&["jail:www:maxproc:deny=1k"]).is_err(),
        "not as the kernel prints"
    );
    assert!(check(Action::RemoveLimits {
        jail: "www".into(),
        rules: vec!["jail:www:maxproc:deny".into()],
    })
    .is_err());
    assert!(check(Action::AddLimits {
        jail: "nosuch".into(),
        rules: vec!["jail:nosuch:maxproc:deny=10".into()],
    })
    .is_err());
    assert_eq!(
        check(Action::SetCpuset {
            jail: "www".into(),
            cpus: "0-1".into(),
        }),
        Ok(())
    );
    assert!(check(Action::SetCpuset {
        jail: "www".into(),
        cpus: "0-1;reboot".into(),
    })
    .is_err());
}
