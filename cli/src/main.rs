//! The `thinjail` binary.

fn main() -> std::process::ExitCode {
    let env = thinjail_cli::Environment::freebsd();
    std::process::ExitCode::from(thinjail_cli::run(&env, std::env::args_os()))
}
