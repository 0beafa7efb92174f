//! `thinjail` driving the Linux test bed instead of a FreeBSD host: the same command,
//! the same plans and executor, with the substitutions documented in
//! `thinjail_testbed::testbed`.
//!
//! `THINJAIL_TESTBED_STATE` (required) is the directory where "running" jails are
//! recorded; `THINJAIL_TESTBED_FAIL_AT` / `THINJAIL_TESTBED_KILL_AFTER` inject faults.

use std::process::ExitCode;

use thinjail_cli::Environment;
use thinjail_testbed::testbed::{Faults, TestBedHosts};

fn main() -> ExitCode {
    thinjail_cli::prepare_process();
    let Some(state_dir) = std::env::var_os("THINJAIL_TESTBED_STATE") else {
        eprintln!("thinjail-testbed: set THINJAIL_TESTBED_STATE to a directory for the test bed's jail state");
        return ExitCode::from(64);
    };
    let hosts = TestBedHosts {
        state_dir: state_dir.into(),
        faults: Faults::from_env(),
    };
    let env = Environment::with_hosts(Box::new(hosts));
    ExitCode::from(thinjail_cli::run(&env, std::env::args_os()))
}
