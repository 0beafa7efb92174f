//! The Ansible module (`contrib/ansible/plugins/modules/thinjail.py`) run by a real
//! `ansible-playbook` (ansible-core from PyPI, installed by `scripts/test` into a
//! virtualenv) against localhost, connection `local`, driving `thinjail-testbed` on
//! the Linux test bed: real ZFS, bind mounts and chroot.
//!
//! `THINJAIL_ANSIBLE_PLAYBOOK` names the `ansible-playbook` to run (scripts/test sets
//! it); without it, `ansible-playbook` must be on PATH. A missing one fails these
//! tests, it never skips them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use thinjail_testbed::fixtures::base::write_corrupted_copy;
use thinjail_testbed::fixtures::http::release_dir;
use thinjail_testbed::harness::{is_mounted, run_with_timeout, Bed, Run};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

const PLAYBOOK: &str = r#"- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  environment: "{{ thinjail_environment }}"
  tasks:
    - name: thin jails as the recipe says
      thinjail:
        recipe: "{{ thinjail_recipe }}"
        binary: "{{ thinjail_binary }}"
        wait: true
      register: result
      ignore_errors: true

    - name: keep the module's result for the test
      ansible.builtin.copy:
        content: "{{ result | to_nice_json }}"
        dest: "{{ result_file }}"
      check_mode: false
      diff: false
      changed_when: false
"#;

fn ansible_playbook() -> PathBuf {
    let program = std::env::var_os("THINJAIL_ANSIBLE_PLAYBOOK")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("ansible-playbook"));
    let works = Command::new(&program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        panic!(
            "cannot run {}: the Ansible tests need ansible-core; run them through \
             scripts/test, which installs it into target/ansible-venv and sets \
             THINJAIL_ANSIBLE_PLAYBOOK",
            program.display()
        );
    }
    program
}

fn module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/ansible/plugins/modules")
}

/// What one `ansible-playbook` run did: its own output and the module's result.
struct Play {
    run: Run,
    result: Value,
}

impl Play {
    fn recap(&self) -> &str {
        self.run
            .stdout
            .lines()
            .find(|l| l.starts_with("localhost") && l.contains("ok="))
            .unwrap_or_else(|| panic!("no PLAY RECAP in:\n{}", self.run.stdout))
    }
}

/// Runs the playbook on the bed's recipe with `extra_env` set for the module.
fn play(bed: &Bed, name: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Play {
    let work = bed.dir.path().join(format!("ansible-{name}"));
    std::fs::create_dir_all(&work).unwrap();
    let playbook = work.join("playbook.yml");
    std::fs::write(&playbook, PLAYBOOK).unwrap();
    let result_file = work.join("result.json");
    let mut environment = json!({ "THINJAIL_TESTBED_STATE": bed.state_dir() });
    for (key, value) in extra_env {
        environment[*key] = json!(value);
    }
    let vars = json!({
        "thinjail_recipe": bed.recipe_path(),
        "thinjail_binary": BIN,
        "thinjail_environment": environment,
        "result_file": result_file,
    });
    let vars_file = work.join("vars.json");
    std::fs::write(&vars_file, vars.to_string()).unwrap();

    let mut command = Command::new(ansible_playbook());
    command
        .arg("-i")
        .arg("localhost,")
        .arg("-e")
        .arg(format!("@{}", vars_file.display()))
        .args(args)
        .arg(&playbook)
        .current_dir(&work)
        .env("ANSIBLE_LIBRARY", module_dir())
        .env("ANSIBLE_HOME", work.join("home"))
        .env("ANSIBLE_LOCAL_TEMP", work.join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env("ANSIBLE_DEPRECATION_WARNINGS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = run_with_timeout(command);
    let text = std::fs::read_to_string(&result_file).unwrap_or_else(|e| {
        panic!(
            "the playbook wrote no result ({e}); ansible-playbook exited {:?}\nstdout:\n{}\nstderr:\n{}",
            run.code, run.stdout, run.stderr
        )
    });
    let result: Value = serde_json::from_str(&text).unwrap();
    Play { run, result }
}

fn jail_is_running(bed: &Bed) -> bool {
    let root = bed.jails_path(".mountpoints/thinjail0");
    is_mounted(&root) && is_mounted(&root.join("skeleton"))
}

#[test]
fn ansible_applies_the_recipe_once_then_reports_nothing_to_do() {
    let bed = Bed::article(BIN, |_| {});

    let first = play(&bed, "first", &[], &[]);
    first.run.expect_code(0);
    let result = &first.result;
    assert_eq!(result["changed"], true, "{result:#}");
    assert_eq!(result["failed"], false, "{result:#}");
    assert_eq!(result["rc"], 0);
    let applied = result["applied"].as_array().expect("applied is a list");
    assert!(applied.len() > 10, "{result:#}");
    assert!(applied.iter().any(|a| a["stage"] == "rcconf"), "{result:#}");
    assert!(first.recap().contains("changed=1"), "{}", first.recap());
    assert!(first.recap().contains("failed=0"), "{}", first.recap());
    // The jail exists, with its own dataset, and runs.
    assert!(bed.datasets().contains("jails/thinjail0/data@gold"));
    assert!(jail_is_running(&bed));
    bed.in_jail("thinjail0", &["touch", "/etc/from-ansible"])
        .expect_code(0);
    assert!(bed.jails_path("thinjail0/data/etc/from-ansible").is_file());

    let second = play(&bed, "second", &[], &[]);
    second.run.expect_code(0);
    assert_eq!(second.result["changed"], false, "{:#}", second.result);
    assert_eq!(second.result["applied"], json!([]));
    assert!(second.recap().contains("changed=0"), "{}", second.recap());

    // Check mode now agrees: nothing would change.
    let check = play(&bed, "check", &["--check"], &[]);
    check.run.expect_code(0);
    assert_eq!(check.result["changed"], false, "{:#}", check.result);
    assert_eq!(check.result["plan"]["empty"], true);
}

#[test]
fn ansible_check_mode_reports_changes_and_changes_nothing() {
    let bed = Bed::article(BIN, |_| {});
    let before = bed.datasets();

    let check = play(&bed, "check", &["--check", "--diff"], &[]);
    check.run.expect_code(0);
    let result = &check.result;
    assert_eq!(result["changed"], true, "{result:#}");
    assert_eq!(result["plan"]["format_version"], 1);
    assert_eq!(result["plan"]["empty"], false);
    assert!(
        result["plan"]["action_count"].as_u64().unwrap() > 10,
        "{result:#}"
    );
    assert!(check.recap().contains("changed=1"), "{}", check.recap());
    // --diff shows the commands apply would run.
    assert!(
        check.run.stdout.contains("zfs snapshot"),
        "{}",
        check.run.stdout
    );

    // Nothing was changed: no dataset, no jail.conf, no running jail, no download.
    assert_eq!(bed.datasets(), before);
    assert!(!bed.recipe.host.jail_conf.exists());
    assert!(!bed.recipe.host.rc_conf.exists());
    assert!(!jail_is_running(&bed));
    assert_eq!(
        bed.server
            .downloads_of("/releases/amd64/amd64/13.1-RELEASE/base.txz"),
        0
    );
}

#[test]
fn ansible_reports_a_failing_apply_with_its_message() {
    let bed = Bed::article(BIN, |_| {});
    let sets = release_dir(&bed.dir.path().join("mirror"), "13.1-RELEASE");
    write_corrupted_copy(&bed.base_set, &sets).unwrap();

    let failed = play(&bed, "corrupted", &[], &[]);
    failed.run.expect_code(0);
    let result = &failed.result;
    assert_eq!(result["failed"], true, "{result:#}");
    assert_eq!(result["rc"], 1, "{result:#}");
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains("stage install"), "{msg}");
    assert!(msg.contains("checksum mismatch"), "{msg}");
    assert!(msg.contains("nothing was extracted"), "{msg}");
    assert_eq!(result["failed_action"]["stage"], "install");
    assert!(
        !result["failed_action"]["not_run"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{result:#}"
    );
    // The datasets created before the failure count as a change.
    assert_eq!(result["changed"], true, "{result:#}");
    assert!(failed.recap().contains("ignored=1"), "{}", failed.recap());
    assert!(!bed
        .datasets()
        .contains("jails/base/13.1-RELEASE-base@install"));
}

#[test]
fn ansible_reports_the_failing_command_its_status_and_stderr() {
    let bed = Bed::article(BIN, |_| {});
    let failed = play(&bed, "injected", &[], &[("THINJAIL_TESTBED_FAIL_AT", "12")]);
    failed.run.expect_code(0);
    let result = &failed.result;
    assert_eq!(result["failed"], true, "{result:#}");
    let action = &result["failed_action"];
    assert!(
        action["command"].as_str().unwrap().starts_with("sh -c"),
        "{result:#}"
    );
    assert_eq!(action["status"], "exit status 3", "{result:#}");
    assert!(
        action["stderr"]
            .as_str()
            .unwrap()
            .contains("injected failure"),
        "{result:#}"
    );
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains("exit status 3") && msg.contains("injected failure"),
        "{msg}"
    );
    assert_eq!(result["applied"].as_array().unwrap().len(), 11);

    // Once the cause is gone, the same task finishes the work.
    let again = play(&bed, "again", &[], &[]);
    again.run.expect_code(0);
    assert_eq!(again.result["changed"], true, "{:#}", again.result);
    assert!(bed.datasets().contains("jails/thinjail0/data@gold"));
}
