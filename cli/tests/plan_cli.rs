//! `thinjail plan`, `check` and `init` through the real binary: the article's golden
//! script, exit statuses, and every bad recipe refused with its field named.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn thinjail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thinjail"))
        .args(args)
        .output()
        .expect("the thinjail binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/article.sh")
}

#[test]
fn article_plan_matches_the_golden_script() {
    let output = thinjail(&["plan", "article", "--format", "sh", "--fresh"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let actual = stdout(&output);
    if std::env::var_os("THINJAIL_BLESS").is_some() {
        std::fs::write(golden_path(), &actual).expect("write golden");
    }
    let expected = std::fs::read_to_string(golden_path()).expect("tests/golden/article.sh exists");
    if actual != expected {
        for (n, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
            if a != e {
                panic!("line {}: plan says\n  {a}\nbut the golden file says\n  {e}\n(THINJAIL_BLESS=1 rewrites it after review)", n + 1);
            }
        }
        panic!(
            "plan and golden file differ in length: {} vs {} lines",
            actual.lines().count(),
            expected.lines().count()
        );
    }
}

#[test]
fn golden_script_follows_the_articles_order() {
    let script = std::fs::read_to_string(golden_path()).expect("golden");
    // The article's commands, in the article's order (zfs snap spelled snapshot).
    let milestones = [
        "zfs create -o mountpoint=/usr/local/jails -o thinjail:managed=zroot/jails zroot/jails",
        "zfs create -o thinjail:managed=zroot/jails zroot/jails/base/13.1-RELEASE-base",
        "bsdinstall jail /usr/local/jails/base/13.1-RELEASE-base",
        "zfs snapshot zroot/jails/base/13.1-RELEASE-base@install",
        "mkdir -p /usr/local/jails/base/13.1-RELEASE-template/usr",
        "/usr/local/jails/base/13.1-RELEASE-base/etc ",
        "mkdir -p /usr/local/jails/base/13.1-RELEASE-template/usr/home",
        "/usr/local/jails/base/13.1-RELEASE-base/usr/local ",
        "/usr/local/jails/base/13.1-RELEASE-base/root ",
        "/usr/local/jails/base/13.1-RELEASE-base/tmp ",
        "/usr/local/jails/base/13.1-RELEASE-base/var ",
        "chflags -R noschg /usr/local/jails/base/13.1-RELEASE-base/var",
        "thinjail_rc_edit /usr/local/jails/base/13.1-RELEASE-template/etc/rc.conf set default_router 192.168.1.1",
        "zfs snapshot zroot/jails/base/13.1-RELEASE-template@gold",
        "mkdir -p /usr/local/jails/base/13.1-RELEASE-base/skeleton",
        "ln -s ./skeleton/etc /usr/local/jails/base/13.1-RELEASE-base/etc",
        "ln -s ../skeleton/usr/home /usr/local/jails/base/13.1-RELEASE-base/usr/home",
        "ln -s ../skeleton/usr/local /usr/local/jails/base/13.1-RELEASE-base/usr/local",
        "ln -s ./skeleton/root /usr/local/jails/base/13.1-RELEASE-base/root",
        "ln -s ./skeleton/tmp /usr/local/jails/base/13.1-RELEASE-base/tmp",
        "ln -s ./skeleton/var /usr/local/jails/base/13.1-RELEASE-base/var",
        "zfs snapshot zroot/jails/base/13.1-RELEASE-base@gold",
        "zfs send -p zroot/jails/base/13.1-RELEASE-template@gold | zfs receive zroot/jails/thinjail0/data",
        "mkdir -p /usr/local/jails/.mountpoints/thinjail0",
        "/usr/local/jails/base/13.1-RELEASE-base  /usr/local/jails/.mountpoints/thinjail0  nullfs  ro  0   0",
        "/usr/local/jails/thinjail0/data  /usr/local/jails/.mountpoints/thinjail0/skeleton  nullfs  rw  0   0",
        "    path = \"/usr/local/jails/.mountpoints/thinjail0\";",
        "    mount.fstab = \"/usr/local/jails/thinjail0/fstab\";",
        "    exec.start = \"/bin/sh /etc/rc\";",
        "    exec.stop = \"/bin/sh /etc/rc.shutdown\";",
        "    exec.clean;",
        "    mount.devfs;",
        "    interface = \"em0\";",
        "    ip4.addr = \"192.168.1.70\";",
        "    allow.raw_sockets;",
        "thinjail_rc_edit /etc/rc.conf record jail_list thinjail0",
        "thinjail_rc_edit /etc/rc.conf record jail_enable YES",
        "jail -f /etc/jail.conf.d/thinjail0.conf -c thinjail0",
    ];
    let mut from = 0;
    for milestone in milestones {
        let at = script[from..]
            .find(milestone)
            .unwrap_or_else(|| panic!("{milestone:?} missing or out of the article's order"));
        from += at + milestone.len();
    }
}

#[test]
fn golden_script_is_valid_posix_sh() {
    for shell in [&["sh", "-n"][..], &["busybox", "sh", "-n"][..]] {
        let status = Command::new(shell[0])
            .args(&shell[1..])
            .arg(golden_path())
            .status()
            .expect("a POSIX shell is installed");
        assert!(status.success(), "{shell:?} rejects the golden script");
    }
}

#[test]
fn text_and_json_formats() {
    let text = thinjail(&["plan", "article", "--format", "text", "--fresh"]);
    assert_eq!(text.status.code(), Some(0));
    let text = stdout(&text);
    assert!(text.starts_with("Plan for builtin:article: "), "{text}");
    assert!(text.contains("$ zfs snapshot zroot/jails/base/13.1-RELEASE-template@gold"));
    let json = thinjail(&["plan", "article", "--format", "json", "--fresh"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    assert_eq!(value["format_version"], 1);
    let stages: Vec<&str> = value["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["zfs", "install", "skeleton", "mount", "rcconf"]);
    let first = &value["stages"][0]["actions"][0];
    assert_eq!(first["action"], "create_dataset");
    assert_eq!(first["dataset"], "zroot/jails");
    assert_eq!(
        first["shell"][0],
        "zfs create -o mountpoint=/usr/local/jails -o thinjail:managed=zroot/jails zroot/jails"
    );
    assert_eq!(first["properties"]["thinjail:managed"], "zroot/jails");
}

#[test]
fn default_plan_is_printed_without_a_freebsd_host() {
    let output = thinjail(&["plan"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output)
        .contains("zfs create -o thinjail:managed=zroot/jails zroot/jails/base/15.1-RELEASE-base"));
    let warnings: Vec<String> = stderr(&output).lines().map(String::from).collect();
    assert!(
        warnings.len() <= 1,
        "more than one line on stderr: {warnings:?}"
    );
}

const GOOD_JAIL: &str = r#"(name: "a", release: "13.1-RELEASE", ip4: ["10.0.0.1"])"#;

fn recipe_with(host: &str, releases: &str, jails: &str, extra: &str) -> String {
    format!("(host: ({host}), releases: [{releases}], jails: [{jails}], {extra})")
}

#[test]
fn bad_recipes_exit_65_naming_the_field() {
    let release = r#"(name: "13.1-RELEASE")"#;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "dot in jail name",
            recipe_with(
                "",
                release,
                r#"(name: "bad.name", release: "13.1-RELEASE")"#,
                "",
            ),
            "jails[0].name",
        ),
        (
            "slash in jail name",
            recipe_with("", release, r#"(name: "a/b", release: "13.1-RELEASE")"#, ""),
            "jails[0].name",
        ),
        (
            "numeric jail name",
            recipe_with("", release, r#"(name: "123", release: "13.1-RELEASE")"#, ""),
            "jails[0].name",
        ),
        (
            "../ in a path",
            recipe_with(
                r#"jails_dir: "/usr/local/../jails""#,
                release,
                GOOD_JAIL,
                "",
            ),
            "host.jails_dir",
        ),
        (
            "relative path",
            recipe_with(r#"jail_conf: "etc/jail.conf""#, release, GOOD_JAIL, ""),
            "host.jail_conf",
        ),
        (
            "duplicate jails",
            recipe_with(
                "",
                release,
                &format!("{GOOD_JAIL}, (name: \"a\", release: \"13.1-RELEASE\")"),
                "",
            ),
            "jails[1].name",
        ),
        (
            "duplicate address",
            recipe_with(
                "",
                release,
                &format!(
                    "{GOOD_JAIL}, (name: \"b\", release: \"13.1-RELEASE\", ip4: [\"10.0.0.1\"])"
                ),
                "",
            ),
            "jails[1].ip4[0]",
        ),
        (
            "unknown release",
            recipe_with("", release, r#"(name: "a", release: "14.0-RELEASE")"#, ""),
            "jails[0].release",
        ),
        (
            "bad release name",
            recipe_with("", r#"(name: "13.1")"#, "", ""),
            "releases[0].name",
        ),
        (
            "bad IPv4",
            recipe_with(
                "",
                release,
                r#"(name: "a", release: "13.1-RELEASE", ip4: ["10.0.0.300"])"#,
                "",
            ),
            "jails[0].ip4[0]",
        ),
        (
            "bad dataset",
            recipe_with(r#"jails_dataset: "zroot//jails""#, release, GOOD_JAIL, ""),
            "host.jails_dataset",
        ),
        ("no release", recipe_with("", "", "", ""), "releases"),
        (
            "derived parameter",
            recipe_with(
                "",
                release,
                r#"(name: "a", release: "13.1-RELEASE", params: {"path": "/x"})"#,
                "",
            ),
            "jails[0].params",
        ),
        (
            "template path escaping",
            recipe_with(
                "",
                release,
                GOOD_JAIL,
                r#"template: (jail_specific: ["../etc"])"#,
            ),
            "template.jail_specific[0]",
        ),
        (
            "unknown stage",
            recipe_with(
                "",
                release,
                GOOD_JAIL,
                r#"stages: [(name: "zfs"), (name: "frobnicate")]"#,
            ),
            "stages[1].name",
        ),
        (
            "unknown field",
            "(hots: (), releases: [(name: \"13.1-RELEASE\")])".to_string(),
            "hots",
        ),
        (
            "missing field",
            recipe_with("", release, r#"(name: "a")"#, ""),
            "release",
        ),
        (
            "syntax error",
            "(releases: [(name: \"13.1-RELEASE\")".to_string(),
            "1:",
        ),
        (
            "jails_dir with a space (jail(8) splits mount.fstab lines on blanks)",
            recipe_with(
                r#"jails_dir: "/usr/local/my jails""#,
                release,
                GOOD_JAIL,
                "",
            ),
            "host.jails_dir",
        ),
        (
            "jails_dir with a shell character (mount.devfs runs sh -c)",
            recipe_with(r#"jails_dir: "/jails$(reboot)""#, release, GOOD_JAIL, ""),
            "host.jails_dir",
        ),
        (
            "jails_dir over a system directory",
            recipe_with(r#"jails_dir: "/usr""#, release, GOOD_JAIL, ""),
            "host.jails_dir",
        ),
        (
            "lock inside jails_dir",
            recipe_with(
                r#"lock_file: "/usr/local/jails/thinjail.lock""#,
                release,
                GOOD_JAIL,
                "",
            ),
            "host.lock_file",
        ),
        (
            "jail.conf aimed at the password file",
            recipe_with(r#"jail_conf: "/etc/master.passwd""#, release, GOOD_JAIL, ""),
            "host.jail_conf",
        ),
        (
            "plain http mirror",
            recipe_with(
                "",
                r#"(name: "13.1-RELEASE", install: Fetch(mirror: "http://ftp-archive.freebsd.org/pub/FreeBSD-Archive/old-releases"))"#,
                GOOD_JAIL,
                "",
            ),
            "releases[0].install.mirror",
        ),
        (
            "snapshot branch",
            recipe_with(
                "",
                r#"(name: "15.0-CURRENT")"#,
                r#"(name: "a", release: "15.0-CURRENT")"#,
                "",
            ),
            "releases[0].name",
        ),
        (
            "patch level",
            recipe_with(
                "",
                r#"(name: "14.3-RELEASE-p2")"#,
                r#"(name: "a", release: "14.3-RELEASE-p2")"#,
                "",
            ),
            "releases[0].name",
        ),
        (
            "i386 on 15.0",
            recipe_with(
                "",
                r#"(name: "15.0-RELEASE", arch: "i386")"#,
                r#"(name: "a", release: "15.0-RELEASE")"#,
                "",
            ),
            "releases[0].name",
        ),
        (
            "unspecified address",
            recipe_with(
                "",
                release,
                r#"(name: "a", release: "13.1-RELEASE", ip4: ["0.0.0.0"])"#,
                "",
            ),
            "jails[0].ip4[0]",
        ),
        (
            "loopback address on a network interface",
            recipe_with(
                r#"interface: "em0""#,
                release,
                r#"(name: "a", release: "13.1-RELEASE", ip4: ["127.0.0.2"])"#,
                "",
            ),
            "jails[0].ip4[0]",
        ),
        (
            "escape sequence in an rc.conf value",
            recipe_with(
                "",
                release,
                GOOD_JAIL,
                r#"template: (rc_conf: {"motd": "hi\u{1b}[8m hidden"})"#,
            ),
            "template.rc_conf[\"motd\"]",
        ),
        (
            "bidi override in a parameter",
            recipe_with(
                "",
                release,
                r#"(name: "a", release: "13.1-RELEASE", params: {"host.hostname": "a\u{202e}b"})"#,
                "",
            ),
            "jails[0].params[\"host.hostname\"]",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (what, text, field)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.ron"));
        std::fs::write(&path, text).unwrap();
        for command in ["check", "plan"] {
            let mut args = vec![command, path.to_str().unwrap()];
            if command == "plan" {
                args.push("--fresh");
            }
            let output = thinjail(&args);
            let message = stderr(&output);
            assert_eq!(
                output.status.code(),
                Some(65),
                "{what} ({command}): {message}"
            );
            assert!(
                message.contains(field),
                "{what} ({command}): {field:?} not named in: {message}"
            );
            assert!(
                stdout(&output).is_empty(),
                "{what}: a plan was printed for a bad recipe"
            );
            assert!(
                !message.contains(['\u{1b}', '\u{202e}']),
                "{what}: the report passes a control character to the terminal: {message:?}"
            );
        }
    }
}

#[test]
fn positions_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.ron");
    std::fs::write(&path, "(\n  releases: [(name: \"13.1-RELEASE\")],\n  jails: [(name: \"bad.name\", release: \"13.1-RELEASE\")],\n)\n").unwrap();
    let message = stderr(&thinjail(&["check", path.to_str().unwrap()]));
    assert!(message.contains(":3:18: jails[0].name"), "{message}");
}

#[test]
fn usage_and_missing_files() {
    assert_eq!(
        thinjail(&["plan", "--format", "yaml"]).status.code(),
        Some(64)
    );
    assert_eq!(thinjail(&["frobnicate"]).status.code(), Some(64));
    assert_eq!(
        thinjail(&["plan", "/nonexistent/recipe.ron"]).status.code(),
        Some(66)
    );
    assert_eq!(
        thinjail(&["plan", "no-such-builtin"]).status.code(),
        Some(66)
    );
    assert_eq!(thinjail(&["--help"]).status.code(), Some(0));
}

#[test]
fn init_writes_an_editable_recipe_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("thinjail.ron");
    let first = thinjail(&["init", path.to_str().unwrap()]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("// "), "the recipe is commented");
    assert_eq!(
        thinjail(&["check", path.to_str().unwrap()]).status.code(),
        Some(0)
    );
    std::fs::write(&path, "// mine\n").unwrap();
    let again = thinjail(&["init", path.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(73));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "// mine\n");
}

#[test]
fn recipes_and_stages_are_listed() {
    let recipes = stdout(&thinjail(&["recipes"]));
    assert!(recipes.contains("default") && recipes.contains("article"));
    let stages = thinjail(&["stages", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&stages.stdout).unwrap();
    let names: Vec<&str> = value["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["zfs", "install", "skeleton", "mount", "rcconf"]);
}
