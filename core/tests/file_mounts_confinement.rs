//! What the confinement lets a single-file mount do: make the file it covers in a
//! jail's data only for a file mount the recipe declares for that jail (and a
//! directory mount point never where the recipe mounts a file), and unmount it by
//! its fstab target.

use std::path::{Path, PathBuf};

use thinjail_core::action::Action;
use thinjail_core::confine::check_planned;
use thinjail_core::layout::Layout;
use thinjail_core::recipe::Recipe;
use thinjail_core::world::World;

fn check(action: Action) -> Result<(), String> {
    let recipe = Recipe::from_ron(
        r#"(releases: [(name: "14.3-RELEASE")],
            jails: [(name: "www", release: "14.3-RELEASE",
                     mounts: [NullfsFile(host: "/srv/app.conf", path: "/usr/local/etc/app.conf"),
                              Nullfs(host: "/srv/www", path: "/usr/home/shared")]),
                    (name: "db", release: "14.3-RELEASE")])"#,
        "test",
    )
    .unwrap();
    check_planned(&Layout::new(&recipe), &World::empty(), &action, &|jail| {
        recipe.jail(jail).is_some()
    })
}

#[test]
fn mount_files_only_for_declared_file_mounts() {
    let data = PathBuf::from("/usr/local/jails/www/data");
    let file = |data: &Path, path: &str| Action::MakeMountFile {
        data: data.to_path_buf(),
        path: path.into(),
    };
    assert_eq!(check(file(&data, "usr/local/etc/app.conf")), Ok(()));
    // Not a file mount of the recipe's, or another jail's data.
    assert!(check(file(&data, "usr/home/shared")).is_err());
    assert!(check(file(&data, "etc/rc.conf")).is_err());
    assert!(check(file(
        Path::new("/usr/local/jails/db/data"),
        "usr/local/etc/app.conf"
    ))
    .is_err());
    // A directory is never made where the recipe mounts a file.
    assert!(check(Action::MakeMountPoint {
        data: data.clone(),
        path: "usr/local/etc/app.conf".into(),
    })
    .is_err());
    let root = Path::new("/usr/local/jails/.mountpoints/www");
    assert_eq!(
        check(Action::Unmount {
            path: root.join("skeleton/usr/local/etc/app.conf"),
        }),
        Ok(())
    );
}
