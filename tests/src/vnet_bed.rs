//! The harness the end-to-end network tests share (`tests/tests/network*.rs`): the
//! article's bed ([`Bed`]) run with `THINJAIL_TESTBED_NETNS` set to a network
//! namespace the test made ([`TestNetns`], seen through a [`NetBed`]), so that every
//! interface, bridge and packet stays inside it.
//!
//! Each test keeps its own recipe, links and assertions; this module only gives it
//! the namespace, the runs of `thinjail` in it, commands inside a jail or another
//! namespace ([`in_ns`]), and servers stopped when dropped ([`Server`]).

use std::process::{Child, Command, Stdio};

use thinjail_core::network::{Bridge, Ip4, Vnet};
use thinjail_core::recipe::Jail;
use thinjail_core::Recipe;

use crate::harness::{run_with_timeout, Bed, Run};
use crate::netbed::{NetBed, TestNetns, NETNS_ENV};

/// The article's bed whose network is the test's namespace `ns`.
///
/// Fields drop in order: the bed (its jails and pool) before the namespace they used.
pub struct VnetBed {
    pub bed: Bed,
    pub net: NetBed,
    pub ns: TestNetns,
}

impl VnetBed {
    /// A new namespace named after `prefix`, set up by `links` (the administrator's
    /// bridges, uplinks…), then the article's bed (`binary`) with its recipe
    /// changed by `customize`. Panics (the test fails) without root or iproute2.
    pub fn new(
        binary: &str,
        prefix: &str,
        links: impl FnOnce(&TestNetns),
        customize: impl FnOnce(&mut Recipe),
    ) -> VnetBed {
        let ns = TestNetns::new(prefix)
            .expect("network tests need root and iproute2 (scripts/test installs them)");
        let net = NetBed::new(ns.name()).expect("the test's namespace");
        links(&ns);
        let bed = Bed::article(binary, customize);
        VnetBed { bed, net, ns }
    }

    /// The environment that keeps the test bed's network inside the test's namespace.
    pub fn env(&self) -> [(&str, &str); 1] {
        [(NETNS_ENV, self.ns.name())]
    }

    /// `thinjail ARGS` in the test's namespace.
    pub fn thinjail(&self, args: &[&str]) -> Run {
        self.bed.thinjail_env(args, &self.env())
    }

    /// `thinjail ARGS` in the test's namespace, with `extra` environment variables.
    pub fn thinjail_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut env = self.env().to_vec();
        env.extend_from_slice(extra);
        self.bed.thinjail_env(args, &env)
    }

    /// `thinjail apply RECIPE --yes`.
    pub fn apply(&self) -> Run {
        let recipe = self.bed.recipe_arg();
        self.thinjail(&["apply", &recipe, "--yes"])
    }

    /// `thinjail ARGS -r RECIPE`.
    pub fn command(&self, args: &[&str]) -> Run {
        let recipe = self.bed.recipe_arg();
        let mut all = args.to_vec();
        all.extend(["-r", recipe.as_str()]);
        self.thinjail(&all)
    }

    /// `argv` in jail `jail`: in its namespace, chrooted to its root, with a clean
    /// environment; stdin null, stdout and stderr piped.
    pub fn in_jail_command(&self, jail: &str, argv: &[&str]) -> Command {
        let root = self.bed.jails_path(&format!(".mountpoints/{jail}"));
        let prefix = self.net.in_jail_ns(jail);
        let mut command = Command::new(&prefix[0]);
        command
            .args(&prefix[1..])
            .args(["env", "-i", "PATH=/sbin:/bin:/usr/sbin:/usr/bin", "chroot"])
            .arg(root)
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// [`VnetBed::in_jail_command`] run to its end (or its timeout).
    pub fn in_jail(&self, jail: &str, argv: &[&str]) -> Run {
        run_with_timeout(self.in_jail_command(jail, argv))
    }

    /// The IPv4 addresses (`A/P`) of `iface` in `jail`, as busybox ip shows them
    /// (`ip -4 -o addr show dev IF`).
    pub fn jail_ipv4_addresses(&self, jail: &str, iface: &str) -> Vec<String> {
        let shown = self.in_jail(
            jail,
            &[
                "/usr/libexec/testbed/ip",
                "-4",
                "-o",
                "addr",
                "show",
                "dev",
                iface,
            ],
        );
        shown.expect_code(0);
        shown
            .stdout
            .lines()
            .filter_map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                let at = words.iter().position(|w| *w == "inet")?;
                words.get(at + 1).map(|w| w.to_string())
            })
            .collect()
    }

    /// Interfaces of the test's host namespace, sorted.
    pub fn host_interfaces(&self) -> Vec<String> {
        let mut found = self.net.interfaces().expect("ip link");
        found.sort();
        found
    }

    /// Members of `bridge` in the test's host namespace, sorted.
    pub fn members(&self, bridge: &str) -> Vec<String> {
        let mut members = self.net.members(bridge).expect("bridge members");
        members.sort();
        members
    }
}

/// A VNET on `bridge` with IPv4 `ip4` and gateway `gateway4`, no IPv6, the derived MAC.
pub fn vnet_on(bridge: &str, ip4: Ip4, gateway4: Option<&str>) -> Vnet {
    Vnet {
        bridge: bridge.into(),
        ip4: Some(ip4),
        ip6: None,
        gateway4: gateway4.map(String::from),
        gateway6: None,
        mac: None,
    }
}

/// A bridge the administrator made (`create: false`, no members), with `ip4`.
pub fn admin_bridge(name: &str, ip4: &[&str]) -> Bridge {
    Bridge {
        name: name.into(),
        ip4: ip4.iter().map(|a| a.to_string()).collect(),
        ip6: vec![],
        create: false,
        members: vec![],
    }
}

/// The recipe's first jail as VNET jail `name`: no jail-level addresses, `vnet`.
pub fn vnet_jail(recipe: &Recipe, name: &str, vnet: Vnet) -> Jail {
    let mut jail = recipe.jails[0].clone();
    jail.name = name.into();
    jail.ip4 = vec![];
    jail.ip6 = vec![];
    jail.vnet = Some(vnet);
    jail
}

/// `ip -n NS ARGS`, which has to succeed.
pub fn ip(ns: &str, args: &[&str]) {
    let status = Command::new("ip")
        .args(["-n", ns])
        .args(args)
        .status()
        .expect("ip");
    assert!(status.success(), "ip -n {ns} {args:?}");
}

/// An administrator's bridge `name` in namespace `ns`, with `address` if given, up.
pub fn add_bridge(ns: &str, name: &str, address: Option<&str>) {
    ip(ns, &["link", "add", name, "type", "bridge"]);
    // An if_bridge keeps an address of its own (see `netbed::bridge_mac`).
    ip(
        ns,
        &[
            "link",
            "set",
            "dev",
            name,
            "address",
            &crate::netbed::bridge_mac(name),
        ],
    );
    if let Some(address) = address {
        ip(ns, &["addr", "add", address, "dev", name]);
    }
    ip(ns, &["link", "set", "dev", name, "up"]);
}

/// `argv` in network namespace `ns` with `nsenter --net`, not `ip netns exec`,
/// which makes a mount namespace of its own holding a copy of every mount of the
/// moment — other tests' zfs-fuse datasets then stay busy for as long as the
/// command runs. Stdin null, output piped.
pub fn in_ns(ns: &str, argv: &[&str]) -> Command {
    let mut command = Command::new("nsenter");
    command
        .arg(format!("--net={}/{ns}", crate::netbed::NETNS_DIR))
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A server process a test started, killed (and waited for) when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A second namespace named after the test's `ns` (`<ns>-<suffix>`), which
/// [`TestNetns`] deletes with the rest; its name.
pub fn add_netns_after(ns: &TestNetns, suffix: &str) -> String {
    let name = format!("{}-{suffix}", ns.name());
    let status = Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .expect("ip netns add");
    assert!(status.success(), "ip netns add {name}");
    name
}
