//! Our jails get exactly the recipe, the administrator's jails and boot stay as
//! they were (issue 11, findings 4, 6 and 7), on the test bed: its jail(8) reads the
//! whole configuration with the model and runs its host-side hooks, and
//! `thinjail_core::boot` computes what rc.d/jail starts at boot from the real files.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use thinjail_core::boot::{self, with_freebsd_defaults, BootConf, RcConf, SystemRoot};
use thinjail_core::edit::FileEdit;
use thinjail_core::jailconf::{differences, effective_params, Params, Semantics};
use thinjail_core::jailfile::block_id;
use thinjail_stage_rcconf::{jail_block, jail_params};
use thinjail_testbed::harness::{state_differences, Bed};
use thinjail_testbed::jail8::SystemFiles;
use thinjail_testbed::testbed::Faults;

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

/// What rc.d/jail starts at boot on the bed's system: name, file, parameters.
fn boot_of(bed: &Bed, semantics: Semantics) -> Vec<(String, BootConf, Result<Params, String>)> {
    let root = SystemRoot::new(bed.dir.path());
    let base = SystemFiles(&root);
    let files = with_freebsd_defaults(&base);
    let rc = RcConf::load(&files, "jail");
    boot::boot(&rc, &files, semantics)
        .unwrap()
        .jails
        .into_iter()
        .map(|j| {
            let params = j.params(&files, semantics);
            (j.name, j.conf, params)
        })
        .collect()
}

fn semantics_env(semantics: Semantics) -> &'static str {
    match semantics {
        Semantics::Freebsd13 => "13",
        Semantics::Freebsd14 => "14",
    }
}

/// The administrator's configuration, hostile to anything placed in it: hooks that
/// leave a canary per jail, globals before the jails, a `*` section, an include
/// (14+ only: 13.x takes `.include` for a parameter and fails every jail, so the 13.x
/// run has the include's content inline), and, appended at the end, settings that
/// would change every jail's root and weaken it.
fn hostile_jail_conf(canary: &Path, semantics: Semantics) -> (String, String) {
    let canary = canary.display();
    let local = format!("exec.created += \"touch {canary}/created-$name\";\n");
    let include = match semantics {
        Semantics::Freebsd14 => ".include \"jail.local\";\n".to_string(),
        Semantics::Freebsd13 => local.clone(),
    };
    let conf = format!(
        "# the administrator's jails\n\
         exec.prestart = \"touch {canary}/prestart-$name\";\n\
         exec.clean;\n\
         allow.raw_sockets;\n\
         mount.procfs;\n\
         * {{ securelevel = 3; exec.poststart += \"touch {canary}/poststart-$name\"; }}\n\
         {include}\
         adm1 {{ host.hostname = adm1.example.org; persist; }}\n\
         adm2 {{ host.hostname = adm2.example.org; persist; ip4.addr = 10.9.9.9; }}\n\
         path = \"/jails/$name\";\n\
         enforce_statfs = 0;\n"
    );
    (conf, local)
}

fn hostile_run(semantics: Semantics) {
    let bed = Bed::article(BIN, |recipe| {
        let mut quiet = recipe.jails[0].clone();
        quiet.name = "quiet".into();
        quiet.ip4 = vec!["192.168.1.71".into()];
        quiet.start = false;
        recipe.jails.push(quiet);
    });
    let canary = bed.dir.path().join("canary");
    fs::create_dir_all(&canary).unwrap();
    let etc = bed.dir.path().join("etc");
    let (conf, local) = hostile_jail_conf(&canary, semantics);
    fs::write(etc.join("jail.conf"), &conf).unwrap();
    fs::write(etc.join("jail.local"), &local).unwrap();
    fs::write(etc.join("rc.conf"), "jail_enable=\"YES\"\n").unwrap();
    let before = boot_of(&bed, semantics);
    let names: Vec<&str> = before.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["adm1", "adm2"], "{before:#?}");

    let run = bed.thinjail_env(
        &["apply", &bed.recipe_arg(), "--yes"],
        &[("THINJAIL_TESTBED_JAIL_SEMANTICS", semantics_env(semantics))],
    );
    run.expect_code(0);

    // Started with exactly the recipe: jail(8) read only the jail's own file, so none
    // of the administrator's hooks ran for it, and the test bed's jail(8) — which
    // reads whatever the configuration holds — found no mount.procfs either.
    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(bed.state_dir().join("jails.json")).unwrap())
            .unwrap();
    assert!(state["jails"].get("thinjail0").is_some(), "{state}");
    assert!(
        state["jails"].get("quiet").is_none(),
        "start: false: {state}"
    );
    let leftovers: Vec<String> = fs::read_dir(&canary)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(leftovers.is_empty(), "hooks ran: {leftovers:?}");
    let root = SystemRoot::new(bed.dir.path());
    for jail in &bed.recipe.jails {
        let file = Path::new("/etc/jail.conf.d").join(format!("{}.conf", jail.name));
        let params = effective_params(&SystemFiles(&root), &file, semantics, &jail.name).unwrap();
        let found = differences(&params, &jail.name, &jail_params(&bed.recipe, jail));
        assert!(found.is_empty(), "{semantics} {}: {found:?}", jail.name);
    }
    // The administrator's files: byte for byte, and their jails as they were.
    assert_eq!(fs::read_to_string(etc.join("jail.conf")).unwrap(), conf);
    assert_eq!(fs::read_to_string(etc.join("jail.local")).unwrap(), local);
    let after = boot_of(&bed, semantics);
    let theirs = |booted: &[(String, BootConf, Result<Params, String>)]| {
        booted
            .iter()
            .filter(|(n, _, _)| n.starts_with("adm"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(theirs(&before), theirs(&after), "{semantics}");
    // Boot: theirs, then ours with start: true, from its own file with exactly the
    // recipe; quiet (start: false) not.
    let names: Vec<&str> = after.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["adm1", "adm2", "thinjail0"], "{after:#?}");
    let (_, conf_file, params) = &after[2];
    assert_eq!(
        conf_file,
        &BootConf::File("/etc/jail.conf.d/thinjail0.conf".into())
    );
    let found = differences(
        params.as_ref().unwrap(),
        "thinjail0",
        &jail_params(&bed.recipe, &bed.recipe.jails[0]),
    );
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(
        fs::read_to_string(etc.join("rc.conf")).unwrap(),
        "jail_enable=\"YES\"\njail_list=\"adm1 adm2 thinjail0\" # thinjail: was unset\n"
    );

    // Destroying our jails gives the administrator's boot back as it was.
    for jail in ["thinjail0", "quiet"] {
        bed.command(&["destroy", jail, "--yes"]).expect_code(0);
    }
    assert_eq!(
        fs::read_to_string(etc.join("rc.conf")).unwrap(),
        "jail_enable=\"YES\"\n"
    );
    assert_eq!(boot_of(&bed, semantics), before);
    assert!(fs::read_dir(&canary).unwrap().next().is_none());
}

#[test]
fn a_hostile_administrator_configuration_reaches_neither_our_jails_nor_its_boot_on_14() {
    hostile_run(Semantics::Freebsd14);
}

#[test]
fn a_hostile_administrator_configuration_reaches_neither_our_jails_nor_its_boot_on_13() {
    hostile_run(Semantics::Freebsd13);
}

/// A host as an older thinjail left it: the jail running, its block in jail.conf
/// between the administrator's jails, `jail_enable="YES"` and no `jail_list` (so boot
/// started every jail of jail.conf, ours included).
fn older_thinjail(bed: &Bed) -> String {
    bed.apply().expect_code(0);
    fs::remove_file(bed.recipe.host.jail_conf_dir.join("thinjail0.conf")).unwrap();
    let block = jail_block(&bed.recipe, &bed.recipe.jails[0]);
    let admin = "exec.clean;\nadm1 { path = /j/adm1; persist; }\n";
    let legacy = FileEdit::SetBlock {
        id: block_id("thinjail0"),
        content: block,
    }
    .apply(admin);
    let conf = format!("{legacy}adm2 {{ path = /j/adm2; persist; }}\n");
    fs::write(&bed.recipe.host.jail_conf, &conf).unwrap();
    fs::write(&bed.recipe.host.rc_conf, "jail_enable=\"YES\"\n").unwrap();
    conf
}

#[test]
fn blocks_of_an_older_thinjail_move_to_their_own_files_and_a_kill_between_steps_is_finished() {
    // The clean move: what it plans and the state it leaves.
    let bed = Bed::article(BIN, |_| {});
    older_thinjail(&bed);
    let before = boot_of(&bed, Semantics::Freebsd14);
    let run = bed.thinjail(&["apply", &bed.recipe_arg(), "--yes", "--json"]);
    run.expect_code(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let actions: Vec<String> = report["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| bed.normalize(a["description"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(
        actions.len(),
        3,
        "write the file, set jail_list, remove the block — no restart: {actions:#?}"
    );
    assert!(actions[0].starts_with("write ") && actions[0].contains("thinjail0.conf"));
    assert!(actions[2].starts_with("remove thinjail's jail thinjail0 entry"));
    let expected = bed.state();
    assert_eq!(
        fs::read_to_string(&bed.recipe.host.jail_conf).unwrap(),
        "exec.clean;\nadm1 { path = /j/adm1; persist; }\nadm2 { path = /j/adm2; persist; }\n"
    );
    // Boot: the administrator's jails as before, ours from its own file now.
    let after = boot_of(&bed, Semantics::Freebsd14);
    let names = |b: &[(String, BootConf, Result<Params, String>)]| {
        b.iter()
            .map(|(n, c, _)| (n.clone(), c.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&before),
        [
            ("adm1".to_string(), BootConf::File("/etc/jail.conf".into())),
            (
                "thinjail0".to_string(),
                BootConf::File("/etc/jail.conf".into())
            ),
            ("adm2".to_string(), BootConf::File("/etc/jail.conf".into())),
        ]
    );
    assert_eq!(
        names(&after),
        [
            ("adm1".to_string(), BootConf::File("/etc/jail.conf".into())),
            ("adm2".to_string(), BootConf::File("/etc/jail.conf".into())),
            (
                "thinjail0".to_string(),
                BootConf::File("/etc/jail.conf.d/thinjail0.conf".into())
            ),
        ]
    );
    // The running jail kept running, and stops with its new file.
    bed.command(&["stop", "thinjail0"]).expect_code(0);
    bed.command(&["start", "thinjail0"]).expect_code(0);

    // Killed right after each step, then applied again: the same end.
    let mut table = BTreeMap::new();
    for k in 1..=actions.len() {
        let bed = Bed::article(BIN, |_| {});
        older_thinjail(&bed);
        let killed = bed.thinjail_with(
            &["apply", &bed.recipe_arg(), "--yes"],
            Faults::kill_after(k),
        );
        assert_eq!(killed.code, None, "killed after action {k}: {killed:?}");
        bed.apply().expect_code(0);
        let differences = state_differences(&expected, &bed.state());
        table.insert(k, differences);
    }
    let failed: Vec<_> = table.iter().filter(|(_, d)| !d.is_empty()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn boot_after_start_false_and_after_the_last_jail_is_what_the_administrator_chose() {
    // The administrator boots only what jail_list names — thinjail's jail — and has
    // another jail in jail.conf that must not boot (finding 6).
    let bed = Bed::article(BIN, |recipe| {
        let mut quiet = recipe.jails[0].clone();
        quiet.name = "quiet".into();
        quiet.ip4 = vec!["192.168.1.71".into()];
        quiet.start = false;
        recipe.jails.push(quiet);
    });
    fs::write(
        &bed.recipe.host.jail_conf,
        "adm1 { path = /j/adm1; persist; }\n",
    )
    .unwrap();
    fs::write(
        &bed.recipe.host.rc_conf,
        "jail_enable=\"YES\"\njail_list=\"thinjail0\"\n",
    )
    .unwrap();
    bed.apply().expect_code(0);
    let started = |bed: &Bed| -> Vec<String> {
        boot_of(bed, Semantics::Freebsd14)
            .into_iter()
            .map(|(n, _, _)| n)
            .collect()
    };
    assert_eq!(started(&bed), ["thinjail0"], "start: false does not boot");
    bed.command(&["destroy", "quiet", "--yes"]).expect_code(0);
    bed.command(&["destroy", "thinjail0", "--yes"])
        .expect_code(0);
    // An empty jail_list would boot every jail of jail.conf: nothing boots, as
    // the administrator had it for their own jails.
    assert_eq!(started(&bed), Vec::<String>::new());
    let rc = fs::read_to_string(&bed.recipe.host.rc_conf).unwrap();
    assert_eq!(rc, "jail_enable=\"NO\"\njail_list=\"\"\n");
}

#[test]
fn rc_conf_local_and_rc_conf_d_are_read_and_edited_where_rc_takes_the_variable() {
    // jail_list set in rc.conf.local (finding 7): the jail is added there, and boots.
    let bed = Bed::article(BIN, |_| {});
    let etc = bed.dir.path().join("etc");
    fs::write(
        &bed.recipe.host.jail_conf,
        "adm1 { path = /j/adm1; persist; }\n",
    )
    .unwrap();
    fs::write(&bed.recipe.host.rc_conf, "jail_enable=\"YES\"\n").unwrap();
    fs::write(etc.join("rc.conf.local"), "jail_list=\"adm1\" # mine\n").unwrap();
    bed.apply().expect_code(0);
    assert_eq!(
        fs::read_to_string(etc.join("rc.conf.local")).unwrap(),
        "jail_list=\"adm1 thinjail0\" # mine\n"
    );
    assert_eq!(
        fs::read_to_string(&bed.recipe.host.rc_conf).unwrap(),
        "jail_enable=\"YES\"\n"
    );
    let started: Vec<(String, BootConf)> = boot_of(&bed, Semantics::Freebsd14)
        .into_iter()
        .map(|(n, c, _)| (n, c))
        .collect();
    assert_eq!(
        started,
        [
            ("adm1".to_string(), BootConf::File("/etc/jail.conf".into())),
            (
                "thinjail0".to_string(),
                BootConf::File("/etc/jail.conf.d/thinjail0.conf".into())
            ),
        ]
    );

    // What rc.d/jail would boot a jail of that name from instead is refused, with
    // its file and line, and nothing changes.
    for (file, text, says) in [
        (
            "jail.thinjail1.conf",
            "thinjail1 { persist; }\n",
            "jail.thinjail1.conf exists",
        ),
        (
            "rc.conf.d/jail",
            "jail_thinjail1_conf=\"/etc/t1.conf\"\n",
            "/etc/rc.conf.d/jail:1: jail_thinjail1_conf",
        ),
    ] {
        let bed = Bed::article(BIN, |recipe| recipe.jails[0].name = "thinjail1".into());
        let path = etc_of(&bed).join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        let run = bed.apply();
        assert_eq!(run.code, Some(78), "{file}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{}", run.stderr);
        assert!(!bed.recipe.host.jail_conf_dir.exists());
        assert!(!bed.recipe.host.rc_conf.exists());
    }
}

fn etc_of(bed: &Bed) -> std::path::PathBuf {
    bed.dir.path().join("etc")
}
