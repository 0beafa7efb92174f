//! The router a SLAAC test advertises from: radvd(8) on an interface of a network
//! namespace the test made, advertising one prefix with a short interval, killed
//! (and waited for) when dropped.
//!
//! It stands for a router on the jails' bridge (rtadvd(8) on FreeBSD, or any
//! router), not for anything thinjail runs: thinjail only writes the jail's
//! `ifconfig_IF_ipv6="inet6 accept_rtadv"`. Advertisements go out every 3 to 4
//! seconds (radvd's shortest `MaxRtrAdvInterval` is 4) and answer solicitations, with
//! a router lifetime (so a jail taking them gets a default route) and the prefix
//! on-link and autonomous (so it forms its address there).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A radvd run in a test's namespace.
pub struct Radvd {
    child: Child,
    pid: u32,
    _dir: tempfile::TempDir,
}

/// radvd's configuration advertising `prefix` (`2001:db8:…::/64`) on `interface`.
pub fn config(interface: &str, prefix: &str) -> String {
    format!(
        "interface {interface} {{\n    AdvSendAdvert on;\n    MinRtrAdvInterval 3;\n    \
         MaxRtrAdvInterval 4;\n    AdvDefaultLifetime 30;\n    prefix {prefix} {{\n        \
         AdvOnLink on;\n        AdvAutonomous on;\n    }};\n}};\n"
    )
}

impl Radvd {
    /// radvd advertising `prefix` on `interface` (which has to be up) in network
    /// namespace `netns`; panics (the test fails) when radvd is missing or exits
    /// at once (scripts/test installs it).
    pub fn start(netns: &str, interface: &str, prefix: &str) -> Radvd {
        let dir = tempfile::tempdir().expect("a directory for radvd");
        let conf = dir.path().join("radvd.conf");
        std::fs::write(&conf, config(interface, prefix)).expect("radvd.conf");
        let log = std::fs::File::create(dir.path().join("radvd.log")).expect("radvd.log");
        // nsenter --net, not `ip netns exec`: that makes a mount namespace holding a
        // copy of every mount of the moment, which keeps other tests' zfs-fuse
        // datasets busy for as long as radvd runs.
        let mut child = Command::new("nsenter")
            .arg(format!("--net={}/{netns}", crate::netbed::NETNS_DIR))
            .args(["radvd", "--nodaemon", "--logmethod"])
            .arg("stderr")
            .arg("--config")
            .arg(&conf)
            .arg("--pidfile")
            .arg(dir.path().join("radvd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("radvd (apt package radvd; scripts/test installs it)");
        // nsenter execs radvd: the child is radvd itself.
        let pid = child.id();
        std::thread::sleep(Duration::from_millis(500));
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.path().join("radvd.log")).unwrap_or_default();
            panic!("radvd exited at once ({status}): {log}");
        }
        Radvd {
            child,
            pid,
            _dir: dir,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

impl Drop for Radvd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether process `pid` exists (a reaped radvd does not).
pub fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Polls `check` every 200 ms until it returns `Some` or `timeout` passed.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
