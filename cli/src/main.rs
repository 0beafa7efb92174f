//! The `thinjail` binary.

// Unsafe code: restoring SIGPIPE alone.
#![deny(unsafe_code)]

fn main() -> std::process::ExitCode {
    restore_sigpipe();
    thinjail_cli::prepare_process();
    let env = thinjail_cli::Environment::freebsd();
    std::process::ExitCode::from(thinjail_cli::run(&env, std::env::args_os()))
}

/// `thinjail plan | head` must end quietly, as other Unix tools do, instead of
/// panicking on a closed pipe: Rust ignores SIGPIPE by default, so restore it.
#[allow(unsafe_code)]
fn restore_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL installs
    // no Rust code as a handler.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}
