//! Bad mounts, limits, CPU lists and dependencies (issue 15) through the real
//! binary: `thinjail check` and `plan` exit 65 naming the field, nothing runs.

use std::process::Command;

fn refused(jails: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recipe.ron");
    std::fs::write(
        &path,
        format!(r#"(releases: [(name: "14.3-RELEASE")], jails: [{jails}])"#),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_thinjail"))
        .args(["check", path.to_str().unwrap()])
        .output()
        .expect("the thinjail binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_resources_exit_65_naming_the_field() {
    let www = r#"(name: "www", release: "14.3-RELEASE""#;
    for (extra, field) in [
        (
            r#"mounts: [Nullfs(host: "/srv", path: "usr/home/x")]"#,
            "jails[0].mounts[0].path",
        ),
        (
            r#"mounts: [Nullfs(host: "/srv", path: "/usr/home/../../etc")]"#,
            "jails[0].mounts[0].path",
        ),
        (
            r#"mounts: [Nullfs(host: "/srv", path: "/mnt")]"#,
            "jails[0].mounts[0].path",
        ),
        (
            r#"mounts: [Nullfs(host: "srv", path: "/usr/home/x")]"#,
            "jails[0].mounts[0].host",
        ),
        (
            r#"mounts: [Nullfs(host: "/usr/local/jails/db/data", path: "/usr/home/x")]"#,
            "jails[0].mounts[0].host",
        ),
        (
            r#"mounts: [Nullfs(host: "/etc", path: "/usr/home/x", writable: true)]"#,
            "jails[0].mounts[0].host",
        ),
        (
            r#"mounts: [Tmpfs(path: "/tmp", size: "0")]"#,
            "jails[0].mounts[0].size",
        ),
        (r#"limits: ["memory:deny=1g"]"#, "jails[0].limits[0]"),
        (r#"limits: ["memoryuse:kill=1g"]"#, "jails[0].limits[0]"),
        (r#"limits: ["memoryuse:deny=1x"]"#, "jails[0].limits[0]"),
        (r#"cpuset: "0-""#, "jails[0].cpuset"),
        (r#"depend: ["nosuch"]"#, "jails[0].depend"),
        (r#"depend: ["www"]"#, "jails[0].depend"),
    ] {
        let (code, stderr) = refused(&format!("{www}, {extra})"));
        assert_eq!(code, Some(65), "{extra}: {stderr}");
        assert!(stderr.contains(field), "{extra}: {stderr}");
    }
    let (code, stderr) = refused(
        r#"(name: "a", release: "14.3-RELEASE", depend: ["b"]),
           (name: "b", release: "14.3-RELEASE", depend: ["a"])"#,
    );
    assert_eq!(code, Some(65), "{stderr}");
    assert!(
        stderr.contains("jails[0].depend") && stderr.contains("dependency loop: a -> b -> a"),
        "{stderr}"
    );
}
