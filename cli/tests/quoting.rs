//! Hostile values (spaces, quotes, `$`, backquotes, backslashes, newlines) survive every
//! renderer: the rendered sh parses, every argv word reads back unchanged through a
//! real shell, the file-writing and file-editing actions' shell renderings write byte
//! for byte what the native host writes (and refuse what it refuses, leaving the file
//! alone) under dash and busybox sh with mawk, FreeBSD's awk (the one true awk, Debian's
//! `original-awk`) and busybox awk, rc.conf values read back when sourced, and JSON
//! round-trips. (`jails_dir` itself cannot be hostile: jail(8) reads it unquoted, so
//! validation refuses such a path; the other host paths can be anything.)

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use thinjail_core::action::{Action, Command, Execution};
use thinjail_core::host::apply_native;
use thinjail_core::pipeline::Pipeline;
use thinjail_core::render::{self, sh_helper_definition, Format};
use thinjail_core::world::World;
use thinjail_core::{Plan, Recipe};
use thinjail_stages::NoPlugins;

const HOSTILE_DIR: &str = "my jails $(touch PWNED) 'q' \"d\" `touch PWNED2` \\ end";

fn hostile_recipe(root: &Path) -> Recipe {
    let base = root.join(HOSTILE_DIR);
    let text = format!(
        r#"(
            host: (jails_dir: {jails:?}, system_root: {root:?}, jail_conf: {conf:?}, jail_conf_dir: {conf_dir:?}, rc_conf: {rc:?}, cache_dir: {cache:?}, lock_file: {lock:?}),
            releases: [(name: "14.3-RELEASE", install: Fetch(mirror: "https://127.0.0.1:1/mirror"))],
            template: (rc_conf: {{"motd_text": "it's \"$HOME\" `id` \\ done; $(reboot)"}}),
            jails: [(name: "t0", release: "14.3-RELEASE", ip4: ["10.0.0.1"],
                     params: {{"exec.start": "/bin/sh -c \"echo $x\"; second line", "host.hostname": "a 'b' $c"}})],
        )"#,
        jails = root.join("jails"),
        root = base,
        conf = base.join("etc/jail.conf"),
        conf_dir = base.join("etc/jail $x 'q'.d"),
        rc = base.join("etc/rc.conf"),
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
        script.push_str(&sh_helper_definition(helper));
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
    assert_eq!(
        checked, 3,
        "fstab, the jail.conf block and freebsd-update's configuration"
    );
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
    script.push_str(&sh_helper_definition(
        thinjail_core::render::ShHelper::Relink,
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

/// The shells and awks the edit helpers are run with: `(shell argv, awk program)`.
/// Every one must be installed (`scripts/test` installs them); a missing one fails.
/// busybox sh runs its own awk applet whatever PATH says.
const SHELLS_AND_AWKS: [(&[&str], &str); 4] = [
    (&["sh"], "/usr/bin/mawk"),
    (&["sh"], "/usr/bin/original-awk"),
    (&["sh"], "busybox-awk"),
    (&["busybox", "sh"], "busybox-awk"),
];

/// Runs `action`'s shell rendering with `shell` and `awk` first on PATH; returns
/// whether it succeeded.
fn run_with(shell: &[&str], awk: &str, action: &Action, work: &Path) -> bool {
    let bin = work.join("bin");
    let _ = fs::remove_dir_all(&bin);
    fs::create_dir_all(&bin).unwrap();
    if awk == "busybox-awk" {
        fs::write(bin.join("awk"), "#!/bin/sh\nexec busybox awk \"$@\"\n").unwrap();
        fs::set_permissions(bin.join("awk"), fs::Permissions::from_mode(0o755)).unwrap();
    } else {
        assert!(
            Path::new(awk).exists(),
            "{awk} is missing (scripts/test installs it)"
        );
        std::os::unix::fs::symlink(awk, bin.join("awk")).unwrap();
    }
    let mut script = String::from("set -eu\n");
    if let Some(helper) = action.sh_helper() {
        script.push_str(&sh_helper_definition(helper));
        script.push('\n');
    }
    script.push_str(&action.sh_lines().join("\n"));
    script.push('\n');
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Process::new(shell[0])
        .args(&shell[1..])
        .arg("-c")
        .arg(&script)
        .env("PATH", path)
        .output()
        .unwrap_or_else(|e| panic!("{shell:?}: {e}"));
    output.status.success()
}

/// For each `(file contents or None for no file, edit)`, the shell rendering under
/// every shell and awk leaves the file exactly as the native host does, and fails
/// (leaving it untouched) exactly where the native host refuses.
fn renderings_match_native(cases: &[(Option<&str>, thinjail_core::edit::FileEdit)]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("etc dir $x/rc 'q'.conf");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    for (before, edit) in cases {
        let action = Action::EditFile {
            path: file.clone(),
            edit: edit.clone(),
        };
        let reset = || match before {
            Some(text) => fs::write(&file, text).unwrap(),
            None => {
                let _ = fs::remove_file(&file);
            }
        };
        reset();
        let native = apply_native(&action).map(|()| fs::read(&file).ok());
        for (shell, awk) in SHELLS_AND_AWKS {
            reset();
            let ok = run_with(shell, awk, &action, dir.path());
            let after = fs::read(&file).ok();
            match &native {
                Ok(expected) => {
                    assert!(ok, "{shell:?} with {awk} failed on {before:?} {edit:?}");
                    assert_eq!(
                        after.as_deref().map(String::from_utf8_lossy),
                        expected.as_deref().map(String::from_utf8_lossy),
                        "{shell:?} with {awk}: {before:?} {edit:?}"
                    );
                }
                Err(error) => {
                    assert!(!ok, "{shell:?} with {awk} accepted what the host refuses ({error}): {before:?} {edit:?}");
                    assert_eq!(
                        after.as_deref(),
                        before.map(str::as_bytes),
                        "{shell:?} with {awk} rewrote a refused file"
                    );
                }
            }
        }
    }
    assert!(!dir.path().join("PWNED").exists());
}

#[test]
fn rc_conf_edits_write_what_the_host_writes() {
    use thinjail_core::edit::FileEdit::{AddRcWord, RemoveRcWord, SetRcVar};
    let set = |name: &str, value: &str| SetRcVar {
        name: name.into(),
        value: value.into(),
    };
    let add = |word: &str| AddRcWord {
        name: "jail_list".into(),
        word: word.into(),
    };
    let remove = |word: &str| RemoveRcWord {
        name: "jail_list".into(),
        word: word.into(),
    };
    let hostile = "it's \"$HOME\" `id` \\ back\\slash \\n \\\\ done; $(reboot) é";
    renderings_match_native(&[
        (
            Some("hostname=\"h\"\njail_enable=\"NO\" # comment\n"),
            set("jail_enable", "YES"),
        ),
        (
            Some("  jail_enable=NO\t# off for now\nx=1"),
            set("jail_enable", "YES"),
        ),
        (Some("jail_enable=NO"), set("jail_enable", "YES")),
        (
            Some("a=1\njail_enable=\"NO\"\njail_enable=NO # the last one wins\n"),
            set("jail_enable", "YES"),
        ),
        (Some("# nothing yet"), set("jail_enable", "YES")),
        (Some(""), set("jail_enable", "YES")),
        (None, set("jail_enable", "YES")),
        (Some("motd=\"old\"\r\n"), set("motd", hostile)),
        (Some("motd='a b'\"c\"\\ d;x=2 # k\n"), set("motd", hostile)),
        (Some("motd=\n"), set("motd", "\\n\\t\\\\")),
        (Some("jail_list=\"web db\" # mine\n"), add("t0")),
        (Some("jail_list='web  t0'\n"), add("t0")),
        (Some("jail_list=\"  \"\n"), add("t0")),
        (Some("sshd_enable=YES"), add("t0")),
        (None, add("t0")),
        (Some("jail_list=\"web t0\tdb\" # mine"), remove("t0")),
        (Some("jail_list=\"web\"\r\n"), add("t0")),
        (Some("jail_list=\"web t0\"\r\n"), remove("t0")),
        (Some("jail_list=\"web\u{a0}t0 \x0bdb\"\n"), remove("t0")),
        (Some("jail_list=\"web\"\n"), remove("t0")),
        (Some("x=1\n"), remove("t0")),
        (None, remove("t0")),
        // Values thinjail cannot rewrite exactly: both refuse, the file stays.
        (Some("jail_list=\"a\n b\"\n"), add("t0")),
        (Some("jail_list=`cat /etc/jails`\n"), add("t0")),
        (Some("jail_list=\"$(cat /etc/jails)\" # x\n"), remove("a")),
        (Some("jail_enable=NO\\\n"), set("jail_enable", "YES")),
        (Some("jail_list=\"$jail_list web\"\n"), add("t0")),
        (Some("jail_list=${jail_list}\n"), set("jail_list", "t0")),
        // Already there, or not there to remove: nothing to refuse.
        (Some("jail_list=\"t0 `x`\"\n"), add("t0")),
    ]);
}

#[test]
fn recorded_rc_conf_edits_write_what_the_host_writes() {
    use thinjail_core::edit::FileEdit::{RestoreRcVar, SetRcVarRecorded};
    let record = |value: &str| SetRcVarRecorded {
        name: "jail_list".into(),
        value: value.into(),
    };
    let restore = || RestoreRcVar {
        name: "jail_list".into(),
    };
    let hostile = "it's \"$HOME\" `id` \\ back\\slash done; $(reboot) é";
    renderings_match_native(&[
        (Some("a=1\njail_list=  # keep\nb=2\n"), record("adm www")),
        (Some("jail_list=''"), record("www")),
        (Some("x=1"), record("www")),
        (Some(""), record("www")),
        (None, record("www")),
        (
            Some("jail_list=\"a\" # thinjail: was=''\n"),
            record(hostile),
        ),
        (Some("jail_list=\"a\" # thinjail: was unset\n"), record("b")),
        (Some("jail_list=\"a\" # thinjail: wasn't\n"), record("b")),
        (
            Some("jail_list=\"a b\" # x # thinjail: was=\"\"\nz=1\n"),
            restore(),
        ),
        (
            Some("x=1\njail_list=\"a\" # thinjail: was unset\n"),
            restore(),
        ),
        (
            Some("x=1\njail_list=\"a\" # thinjail: was unset"),
            restore(),
        ),
        (
            Some("jail_list=\"a\" # thinjail: was unset\nx=1"),
            restore(),
        ),
        (
            Some("jail_list=\"a\" # thinjail: was=\"NO\" # thinjail: was unset\n"),
            restore(),
        ),
        (Some("jail_list=\"a\"\n"), restore()),
        (Some("x=1\n"), restore()),
        (None, restore()),
        (Some("jail_list=\"$x\" # thinjail: was unset\n"), restore()),
        (Some("jail_list=\"$x\"\n"), record("a")),
    ]);
}

#[test]
fn block_edits_write_what_the_host_writes_and_refuse_stray_markers() {
    use thinjail_core::edit::FileEdit::{RemoveBlock, SetBlock};
    let set = |id: &str| SetBlock {
        id: id.into(),
        content: format!(
            "{} {{\n    path = \"/x $y\\\\z\";\n}}\n",
            id.trim_start_matches("jail ")
        ),
    };
    let remove = |id: &str| RemoveBlock { id: id.into() };
    let ours = "# BEGIN thinjail jail www\nwww {\n}\n# END thinjail jail www\n";
    let admin = "mine {\n}\n";
    let no_eol = format!("{admin}{ours}tail {{ }}");
    let at_end_no_eol = format!("{admin}{}", ours.trim_end());
    let stray_begin = format!("# BEGIN thinjail jail www\n{admin}{ours}");
    let stray_end = format!("{admin}# END thinjail jail www\n{ours}");
    let twice = format!("{ours}{admin}{ours}");
    let open = format!("{admin}# BEGIN thinjail jail db\n");
    let nested = format!("# BEGIN thinjail jail db\n{ours}# END thinjail jail db\n");
    renderings_match_native(&[
        (Some(admin), set("jail www")),
        (Some("mine { }"), set("jail www")),
        (Some(&format!("{admin}{ours}{admin}")), set("jail www")),
        (Some(&no_eol), set("jail www")),
        (Some(&no_eol), remove("jail www")),
        (Some(&at_end_no_eol), set("jail www")),
        (Some(&at_end_no_eol), remove("jail www")),
        (Some(&no_eol), remove("jail db")),
        (Some(""), set("jail www")),
        (None, set("jail www")),
        (None, remove("jail www")),
        (Some(&stray_begin), set("jail www")),
        (Some(&stray_begin), remove("jail www")),
        (Some(&stray_end), set("jail www")),
        (Some(&twice), set("jail www")),
        (Some(&open), set("jail www")),
        (Some(&open), remove("jail db")),
        (Some(&nested), set("jail other")),
    ]);
}
