//! Hostile values (spaces, quotes, `$`, backquotes) survive every renderer: the
//! rendered sh parses, every argv word reads back unchanged through a real shell,
//! the file-writing actions' shell renderings write byte for byte what the native
//! host writes, rc.conf values read back when sourced, and JSON round-trips.
//! (`jails_dir` itself cannot be hostile: jail(8) reads it unquoted, so validation
//! refuses such a path; the other host paths can be anything.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use thinjail_core::action::{Action, Command, Execution};
use thinjail_core::host::apply_native;
use thinjail_core::pipeline::{NoPlugins, Pipeline};
use thinjail_core::render::{self, sh_helper_definition, Format};
use thinjail_core::world::World;
use thinjail_core::{Plan, Recipe};

use thinjail_cli as _;

const HOSTILE_DIR: &str = "my jails $(touch PWNED) 'q' \"d\" `touch PWNED2` \\ end";

fn hostile_recipe(root: &Path) -> Recipe {
    let base = root.join(HOSTILE_DIR);
    let text = format!(
        r#"(
            host: (jails_dir: {jails:?}, jail_conf: {conf:?}, rc_conf: {rc:?}, cache_dir: {cache:?}, lock_file: {lock:?}),
            releases: [(name: "14.3-RELEASE", install: Fetch(mirror: "https://127.0.0.1:1/mirror"))],
            template: (rc_conf: {{"motd_text": "it's \"$HOME\" `id` \\ done; $(reboot)"}}),
            jails: [(name: "t0", release: "14.3-RELEASE", ip4: ["10.0.0.1"],
                     params: {{"exec.start": "/bin/sh -c \"echo $x\"; second line", "host.hostname": "a 'b' $c"}})],
        )"#,
        jails = root.join("jails"),
        conf = base.join("etc/jail $x.conf"),
        rc = base.join("etc/rc 'q'.conf"),
        cache = base.join("cache"),
        lock = base.join("lock"),
    );
    Recipe::from_ron(&text, "hostile").unwrap_or_else(|e| panic!("{e}"))
}

fn plan_of(recipe: &Recipe) -> Plan {
    Pipeline::from_recipe(recipe, &mut NoPlugins)
        .unwrap()
        .plan(recipe, &World::empty())
        .unwrap()
}

fn sh(script: &str) -> std::process::Output {
    Process::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("sh runs")
}

#[test]
fn rendered_script_parses_in_two_shells() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_of(&hostile_recipe(dir.path()));
    let script = render::render(&plan, Format::Sh, "hostile $(x)\nnewline");
    let path = dir.path().join("plan.sh");
    fs::write(&path, &script).unwrap();
    for shell in [&["sh", "-n"][..], &["busybox", "sh", "-n"][..]] {
        let status = Process::new(shell[0])
            .args(&shell[1..])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "{shell:?} rejects:\n{script}");
    }
}

#[test]
fn every_argv_word_reads_back_through_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_of(&hostile_recipe(dir.path()));
    let mut words = Vec::new();
    for (_, planned) in plan.actions() {
        if let Execution::Commands(commands) = planned.action.execution() {
            for command in commands {
                match command {
                    Command::Run { argv }
                    | Command::ReadFrom { argv, .. }
                    | Command::WriteTo { argv, .. } => words.extend(argv),
                    Command::Pipe { left, right } => {
                        words.extend(left);
                        words.extend(right);
                    }
                }
            }
        }
    }
    assert!(
        words.iter().any(|w| w.contains("$(touch PWNED)")),
        "the hostile path is in the plan"
    );
    let rendered: Vec<String> = words.iter().map(|w| thinjail_core::quote::sh(w)).collect();
    let output = sh(&format!(
        "cd {} && printf '%s\\0' {}",
        thinjail_core::quote::sh(&dir.path().display().to_string()),
        rendered.join(" ")
    ));
    assert!(output.status.success());
    let read_back: Vec<String> = output
        .stdout
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    assert_eq!(read_back, words);
    assert!(!dir.path().join("PWNED").exists() && !dir.path().join("PWNED2").exists());
}

/// Runs an action's shell rendering (with its helper) and returns the file it wrote.
fn run_rendering(action: &Action, file: &Path) -> Vec<u8> {
    let mut script = String::from("set -eu\n");
    if let Some(helper) = action.sh_helper() {
        script.push_str(sh_helper_definition(helper));
        script.push('\n');
    }
    script.push_str(&action.sh_lines().join("\n"));
    script.push('\n');
    let output = sh(&script);
    assert!(
        output.status.success(),
        "{}\n{script}",
        String::from_utf8_lossy(&output.stderr)
    );
    fs::read(file).unwrap()
}

#[test]
fn file_writing_renderings_write_what_the_host_writes() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = hostile_recipe(dir.path());
    let plan = plan_of(&recipe);
    let mut checked = 0;
    for (_, planned) in plan.actions() {
        let path: PathBuf = match &planned.action {
            Action::WriteFile { path, .. } => path.clone(),
            Action::EditFile {
                path,
                edit: thinjail_core::edit::FileEdit::SetBlock { .. },
            } => path.clone(),
            _ => continue,
        };
        let admin = "# the administrator's own\nmine {\n    path = \"/x\";\n}\n";
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, admin).unwrap();
        let by_shell = run_rendering(&planned.action, &path);
        fs::write(&path, admin).unwrap();
        apply_native(&planned.action).unwrap();
        let by_host = fs::read(&path).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&by_shell),
            String::from_utf8_lossy(&by_host),
            "{}",
            planned.action.describe()
        );
        // A second run of the shell rendering replaces, never duplicates.
        assert_eq!(run_rendering(&planned.action, &path), by_host);
        checked += 1;
    }
    assert_eq!(checked, 2, "fstab and the jail.conf block");
    assert!(!dir.path().join("PWNED").exists());
}

#[test]
fn rc_conf_values_read_back_when_sourced() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = hostile_recipe(dir.path());
    let value = &recipe.template.rc_conf["motd_text"];
    let rc = dir.path().join("rc.conf");
    fs::write(&rc, "hostname=\"h\"\n").unwrap();
    let edit = Action::EditFile {
        path: rc.clone(),
        edit: thinjail_core::edit::FileEdit::SetRcVar {
            name: "motd_text".into(),
            value: value.clone(),
        },
    };
    apply_native(&edit).unwrap();
    let output = sh(&format!(
        ". {}; printf '%s' \"$motd_text\"",
        thinjail_core::quote::sh(&rc.display().to_string())
    ));
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), *value);
}

#[test]
fn relink_helper_matches_the_native_step() {
    let dir = tempfile::tempdir().unwrap();
    let make_tree = |root: &Path| {
        let certs = root.join("ssl/certs");
        fs::create_dir_all(&certs).unwrap();
        std::os::unix::fs::symlink(
            "../../../usr/share/certs/trusted/a b.pem",
            certs.join("a b.pem"),
        )
        .unwrap();
        std::os::unix::fs::symlink("../cert.pem", certs.join("inside.pem")).unwrap();
        std::os::unix::fs::symlink("/usr/share/x", certs.join("absolute")).unwrap();
        std::os::unix::fs::symlink("../../..", certs.join("to-root")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/x", root.join("above-root")).unwrap();
    };
    let by_shell = dir.path().join("shell etc");
    let by_host = dir.path().join("host etc");
    make_tree(&by_shell);
    make_tree(&by_host);
    let action = |tree: &Path| Action::RelinkSymlinks {
        tree: tree.to_path_buf(),
        was: "/etc".into(),
        now: "/skeleton/etc".into(),
    };
    let mut script = String::from("set -eu\n");
    script.push_str(sh_helper_definition(
        thinjail_core::action::ShHelper::Relink,
    ));
    script.push('\n');
    script.push_str(&action(&by_shell).sh_lines().join("\n"));
    let output = sh(&script);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    apply_native(&action(&by_host)).unwrap();
    for link in [
        "ssl/certs/a b.pem",
        "ssl/certs/inside.pem",
        "ssl/certs/absolute",
        "ssl/certs/to-root",
        "above-root",
    ] {
        let shell_target = fs::read_link(by_shell.join(link)).unwrap();
        let host_target = fs::read_link(by_host.join(link)).unwrap();
        assert_eq!(
            shell_target.to_string_lossy().trim_end_matches('/'),
            host_target.to_string_lossy().trim_end_matches('/'),
            "{link}"
        );
    }
    assert_eq!(
        fs::read_link(by_host.join("ssl/certs/a b.pem")).unwrap(),
        PathBuf::from("../../../../usr/share/certs/trusted/a b.pem")
    );
}

#[test]
fn json_and_text_keep_hostile_values() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_of(&hostile_recipe(dir.path()));
    let json: serde_json::Value = serde_json::from_str(&render::json(&plan, "hostile")).unwrap();
    let cache = dir.path().join(HOSTILE_DIR).join("cache");
    let make_cache = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["actions"].as_array().unwrap().iter())
        .find(|a| a["action"] == "make_dir")
        .expect("the plan makes the download cache");
    assert_eq!(
        make_cache["path"].as_str().unwrap(),
        cache.join("14.3-RELEASE-amd64").display().to_string()
    );
    let decoded: Vec<Action> = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["actions"].as_array().unwrap().iter())
        .map(|a| {
            let mut a = a.clone();
            let object = a.as_object_mut().unwrap();
            object.remove("description");
            object.remove("shell");
            object.remove("note");
            serde_json::from_value(a).unwrap()
        })
        .collect();
    let original: Vec<Action> = plan.actions().map(|(_, p)| p.action.clone()).collect();
    assert_eq!(decoded, original);
    let text = render::text(&plan, "hostile");
    assert!(
        text.lines()
            .all(|l| !l.contains("second line") || l.trim_start().starts_with('+')),
        "a value's newline broke the text layout"
    );
}
