//! Crash safety, proved on the test bed: for every action k of the article's apply,
//! (a) action k fails, (b) the process is killed with SIGKILL right after action k;
//! then a plain `apply` runs. In every case the host ends exactly as after a clean
//! run (datasets, snapshots, files, fstab, jail.conf, rc.conf, mounts, running
//! jails), and a file written into the jail's data is still there. Each test prints
//! its table k → outcome. The same holds for `upgrade` at each of its steps.

use std::collections::BTreeMap;
use std::fs;

use thinjail_testbed::harness::{state_differences, Bed};
use thinjail_testbed::testbed::Faults;

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");
const MARKER: &str = "root/written-before-recovery";

/// The actions of a clean apply and the state it leaves.
fn reference() -> (Vec<String>, BTreeMap<String, String>) {
    let bed = Bed::article(BIN, |_| {});
    let run = bed.thinjail(&["apply", &bed.recipe_arg(), "--yes", "--json"]);
    run.expect_code(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("apply --json");
    let actions = report["applied"]
        .as_array()
        .expect("applied actions")
        .iter()
        .map(|a| {
            bed.normalize(&format!(
                "{}: {}",
                a["stage"].as_str().unwrap_or("?"),
                a["description"].as_str().unwrap_or("?")
            ))
        })
        .collect();
    (actions, bed.state())
}

fn fault_at_every_action(kill: bool) {
    let (actions, expected) = reference();
    assert!(
        actions.len() > 30,
        "the article's apply has {} actions",
        actions.len()
    );
    let mut table = vec![format!(
        "{:>3}  {:<70}  {:<12}  {:<9}  result",
        "k", "action", "fault", "recovery"
    )];
    let mut failures = Vec::new();
    for (index, action) in actions.iter().enumerate() {
        let k = index + 1;
        let bed = Bed::article(BIN, |_| {});
        let faults = Faults::at(k, kill);
        let faulty = bed.thinjail_with(&["apply", &bed.recipe_arg(), "--yes"], faults);
        let fault = match faulty.code {
            None => "killed".to_string(),
            Some(code) => format!("exit {code}"),
        };
        let fault_ok = if kill {
            faulty.code.is_none()
        } else {
            faulty.code == Some(1) && faulty.stderr.contains("injected failure")
        };
        let data = bed.jails_path("thinjail0/data");
        let marked = bed.datasets().contains("jails/thinjail0/data");
        if marked {
            fs::write(data.join(MARKER), format!("written after fault {k}\n"))
                .expect("write into the jail's data");
        }
        let recovery = bed.apply();
        let mut actual = bed.state();
        let marker_kept = !marked
            || fs::read_to_string(data.join(MARKER))
                .is_ok_and(|t| t == format!("written after fault {k}\n"));
        actual.remove(&format!("file thinjail0/data/{MARKER}"));
        let differences = state_differences(&expected, &actual);
        let ok = fault_ok && recovery.code == Some(0) && differences.is_empty() && marker_kept;
        table.push(format!(
            "{k:>3}  {:<70}  {:<12}  {:<9}  {}",
            action.chars().take(70).collect::<String>(),
            fault,
            if recovery.code == Some(0) {
                "ok"
            } else {
                "FAILED"
            },
            if ok {
                "same as a clean run".to_string()
            } else {
                format!("DIFFERENT {differences:?} marker kept: {marker_kept}")
            }
        ));
        if !ok {
            failures.push(format!(
                "k={k} ({action}): fault {fault}; recovery {:?}\n{}\n{:?}",
                recovery.code, recovery.stderr, differences
            ));
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "{} of {} cases not recovered:\n{}",
        failures.len(),
        actions.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_action_of_the_articles_apply_can_fail_and_be_recovered() {
    fault_at_every_action(false);
}

#[test]
fn every_action_of_the_articles_apply_can_be_killed_and_be_recovered() {
    fault_at_every_action(true);
}

/// A host already running thinjail0 with a file in its data gets a second jail;
/// each action of that apply fails or is killed; the file is untouched throughout.
fn second_jail_with_faults(kill: bool) {
    let add_second = |bed: &mut Bed| {
        let mut second = bed.recipe.jails[0].clone();
        second.name = "thinjail1".into();
        second.ip4 = vec!["192.168.1.71".into()];
        bed.recipe.jails.push(second);
        bed.write_recipe();
    };
    let mut clean = Bed::article(BIN, |_| {});
    clean.apply().expect_code(0);
    add_second(&mut clean);
    let run = clean.thinjail(&["apply", &clean.recipe_arg(), "--yes", "--json"]);
    run.expect_code(0);
    let count = serde_json::from_str::<serde_json::Value>(&run.stdout).expect("json")["applied"]
        .as_array()
        .map_or(0, Vec::len);
    let expected = clean.state();
    assert!(count >= 6, "adding a jail takes {count} actions");
    let mut table = vec![format!("{:>3}  {:<12}  result", "k", "fault")];
    let mut failures = Vec::new();
    for k in 1..=count {
        let mut bed = Bed::article(BIN, |_| {});
        bed.apply().expect_code(0);
        let precious = bed.jails_path("thinjail0/data/root/precious");
        fs::write(&precious, "mine\n").expect("write into thinjail0's data");
        add_second(&mut bed);
        let faults = Faults::at(k, kill);
        let faulty = bed.thinjail_with(&["apply", &bed.recipe_arg(), "--yes"], faults);
        let kept_through_fault = fs::read_to_string(&precious).is_ok_and(|t| t == "mine\n");
        let recovery = bed.apply();
        let mut actual = bed.state();
        let kept = kept_through_fault && fs::read_to_string(&precious).is_ok_and(|t| t == "mine\n");
        actual.remove("file thinjail0/data/root/precious");
        let differences = state_differences(&expected, &actual);
        let ok = recovery.code == Some(0) && differences.is_empty() && kept;
        table.push(format!(
            "{k:>3}  {:<12}  {}",
            faulty.code.map_or("killed".into(), |c| format!("exit {c}")),
            if ok {
                "same as a clean run, data kept"
            } else {
                "DIFFERENT"
            }
        ));
        if !ok {
            failures.push(format!(
                "k={k}: kept {kept}, recovery {:?}, {differences:?}\n{}",
                recovery.code, recovery.stderr
            ));
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn adding_a_jail_next_to_a_used_one_survives_failures_and_kills() {
    second_jail_with_faults(false);
    second_jail_with_faults(true);
}

/// `upgrade` at each of its steps: a failure puts the jail back exactly (and a
/// retry then works); a kill is finished by the next `upgrade`.
#[test]
fn upgrade_survives_a_failure_or_a_kill_at_every_step() {
    let clean = Bed::two_releases(BIN);
    fs::write(clean.jails_path("thinjail0/data/root/precious"), "mine\n").expect("write");
    let before = clean.state();
    let run = clean.command(&["upgrade", "thinjail0", "--to", "14.0-RELEASE", "--yes"]);
    run.expect_code(0);
    let steps = run.stderr.lines().filter(|l| l.starts_with('[')).count();
    let upgraded = clean.state();
    assert!(steps >= 5, "{}", run.stderr);
    let mut table = vec![format!(
        "{:>3}  {:<7}  {:<40}  result",
        "k", "fault", "first upgrade"
    )];
    let mut failures = Vec::new();
    for kill in [false, true] {
        for k in 1..=steps {
            let bed = Bed::two_releases(BIN);
            fs::write(bed.jails_path("thinjail0/data/root/precious"), "mine\n").expect("write");
            let args = [
                "upgrade",
                "thinjail0",
                "--to",
                "14.0-RELEASE",
                "--yes",
                "-r",
                &bed.recipe_arg(),
            ];
            let faults = Faults::at(k, kill);
            let faulty = bed.thinjail_with(&args, faults);
            let mut outcome = String::new();
            let mut ok = true;
            if !kill {
                let back = state_differences(&before, &bed.state());
                ok &= faulty.code == Some(1) && back.is_empty();
                outcome = if back.is_empty() {
                    "put back exactly".into()
                } else {
                    format!("NOT put back: {back:?}")
                };
            }
            let retry = bed.command(&["upgrade", "thinjail0", "--to", "14.0-RELEASE", "--yes"]);
            let differences = state_differences(&upgraded, &bed.state());
            // Killed after its last step, the upgrade was already complete: the retry says so.
            let done_before = kill
                && retry.code == Some(78)
                && retry.stderr.contains("already runs 14.0-RELEASE");
            ok &= (retry.code == Some(0) || done_before) && differences.is_empty();
            table.push(format!(
                "{k:>3}  {:<7}  {:<40}  {}",
                if kill { "killed" } else { "failed" },
                outcome,
                if ok {
                    "then upgraded, same as a clean upgrade".to_string()
                } else {
                    format!("DIFFERENT {differences:?}")
                }
            ));
            if !ok {
                failures.push(format!(
                    "k={k} kill={kill}: {outcome}; retry {:?} {}\n{differences:?}",
                    retry.code, retry.stderr
                ));
            }
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
