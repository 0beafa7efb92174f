//! The test bed's network: what FreeBSD's VNET jails, epair(4), if_bridge(4) and
//! ifconfig(8) do, done with Linux network namespaces, veth pairs and bridges — and
//! only inside network namespaces a test made.
//!
//! **Where.** Every interface the test bed makes or changes lives in the network
//! namespace named by `THINJAIL_TESTBED_NETNS` (the test's stand-in for the FreeBSD
//! host's own stack), and every VNET jail in a namespace of its own,
//! `<that name>-<jail>`. Without the variable, or when it names no namespace, every
//! network command fails: the test bed never touches the machine's own network,
//! and no test sends a packet outside the namespaces it made.
//!
//! **Substitutions** (each written after FreeBSD's sources, never kinder):
//! - `ifconfig epairN create` (`sys/net/if_epair.c`): a veth pair `epairNa` /
//!   `epairNb`; it fails with `EEXIST` ("ifconfig: SIOCIFCREATE2: File exists",
//!   exit 1, as `ifclone.c`'s `err(1, "SIOCIFCREATE2")`) when either half exists,
//!   and prints the name it made (`epairNa`), as ifconfig does when the name it
//!   got differs from the one asked for. `ifconfig bridgeN create` → a Linux bridge;
//!   `ifconfig CLONER create name NEW` is both steps.
//! - `ifconfig IF name NEW`, `ether MAC`, `description TEXT`, `up`, `down`, `inet
//!   A/P`, `inet6 A/P` (with `alias`, or `A -alias`: [`crate::ifconfig_addresses`]),
//!   `destroy` (destroying either half of a pair destroys both,
//!   as `epair_clone_destroy` does and as a veth does); `ifconfig BR addm IF` /
//!   `deletem IF` → the member's master set or cleared, refused unless BR is a
//!   bridge. An interface that does not exist fails with "ifconfig: interface IF
//!   does not exist", exit 1, before anything changes (`ifconfig.c`); a rename
//!   onto an existing name fails with "ifconfig: ioctl SIOCSIFNAME (set name): File
//!   exists". Anything else is refused as unsupported.
//! - jail(8)'s `vnet` and `vnet.interface`: a namespace made for the jail, each
//!   interface moved into it; on removal each interface the jail holds goes back to
//!   the host's namespace (as FreeBSD returns a vnet jail's interfaces to the host)
//!   and the namespace is deleted. Commands run in the jail run in its namespace
//!   (`nsenter --net`), so what the jail's rc sets up is the jail's alone. Router
//!   advertisements: see `tests/src/testbed/ra_accept.rs`.
//!
//! - FreeBSD 15's `net.link.bridge.member_ifaddrs` ([`MEMBER_IFADDRS_ENV`]; unset,
//!   the sysctl does not exist, as on 14): while it is 0, `addm` of a member
//!   holding an address fails "ifconfig: BRDGADD IF: Invalid argument", exit 1
//!   (if_bridge(4)'s `EINVAL`). Observation: `ifconfig -g bridge` and the `member:`
//!   lines → [`NetBed::bridges`], an interface's `inet`/`inet6` lines →
//!   [`NetBed::has_address`] (link-local ones count), its `description:` line →
//!   [`NetBed::description`] (the link's alias).
//!
//! **Not reproduced**: the kernel's choice of epair MAC addresses (Linux picks
//! random ones; thinjail sets the jail's own), interface groups, `ifconfig`'s
//! output other than the created name (and the address lines,
//! [`crate::ifconfig_addresses::show`]), `member_ifaddrs` after `addm` (Linux lets a
//! member get an address once it joined; FreeBSD 15 refuses it), `net.link.bridge`
//! filtering sysctls, and a jail's interfaces disappearing while it runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use thinjail_core::host::HostError;

/// The variable naming the network namespace that stands for the host's stack.
pub const NETNS_ENV: &str = "THINJAIL_TESTBED_NETNS";

/// The variable standing for FreeBSD 15's `net.link.bridge.member_ifaddrs` on the
/// test bed's host: unset, the kernel has no such sysctl (FreeBSD 14: members may
/// hold addresses); `0` or `1`, its value.
pub const MEMBER_IFADDRS_ENV: &str = "THINJAIL_TESTBED_MEMBER_IFADDRS";

/// Where `ip netns` keeps its namespaces.
pub const NETNS_DIR: &str = "/run/netns";

fn find_program(name: &str) -> Option<PathBuf> {
    ["/sbin", "/bin", "/usr/sbin", "/usr/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
}

fn failed(command: &str, code: i32, stderr: impl Into<String>) -> HostError {
    HostError::CommandFailed {
        command: command.to_string(),
        status: format!("exit status: {code}"),
        stdout: String::new(),
        stderr: stderr.into(),
    }
}

/// The network of one test: its "host" namespace and the jails' namespaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetBed {
    host_ns: String,
}

impl NetBed {
    /// The network of the namespace `THINJAIL_TESTBED_NETNS` names; an error saying
    /// why when it is unset or names no namespace.
    pub fn from_env() -> Result<NetBed, HostError> {
        match std::env::var(NETNS_ENV) {
            Ok(name) if !name.is_empty() => NetBed::new(&name),
            _ => Err(HostError::Unsupported(format!(
                "the test bed configures networks only inside a network namespace a test made: \
                 set {NETNS_ENV} to its name"
            ))),
        }
    }

    /// The network of namespace `name` (which must exist).
    pub fn new(name: &str) -> Result<NetBed, HostError> {
        let valid = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(HostError::Unsupported(format!(
                "{name:?} is not a network namespace name the test bed uses"
            )));
        }
        if !Path::new(NETNS_DIR).join(name).exists() {
            return Err(HostError::Unsupported(format!(
                "network namespace {name} does not exist: the test bed makes no network \
                 outside a namespace the test made"
            )));
        }
        Ok(NetBed {
            host_ns: name.to_string(),
        })
    }

    /// The host's namespace.
    pub fn host_ns(&self) -> &str {
        &self.host_ns
    }

    /// The namespace of VNET jail `jail`.
    pub fn jail_ns(&self, jail: &str) -> String {
        format!("{}-{jail}", self.host_ns)
    }

    /// `ip -n NS ARGS`, its output; a failure with `ip`'s own message.
    fn ip_in(&self, ns: &str, args: &[&str]) -> Result<String, HostError> {
        let mut argv = vec!["-n", ns];
        argv.extend_from_slice(args);
        run("ip", &argv)
    }

    /// `ip -n HOST_NS ARGS`, its output; a failure with `ip`'s own message.
    pub(crate) fn ip(&self, args: &[&str]) -> Result<String, HostError> {
        self.ip_in(&self.host_ns, args)
    }

    /// Whether interface `name` exists in the host's namespace.
    pub fn exists(&self, name: &str) -> bool {
        self.ip(&["link", "show", "dev", name]).is_ok()
    }

    /// Whether `name` is a bridge in the host's namespace.
    pub fn is_bridge(&self, name: &str) -> bool {
        self.ip(&["-d", "link", "show", "dev", name])
            .is_ok_and(|out| out.contains("bridge ") && !out.contains("bridge_slave"))
    }

    /// The interfaces of namespace `ns` (without `lo`).
    pub fn interfaces_in(&self, ns: &str) -> Result<Vec<String>, HostError> {
        let out = self.ip_in(ns, &["-o", "link", "show"])?;
        Ok(out
            .lines()
            .filter_map(|line| {
                let name = line.split(": ").nth(1)?;
                let name = name.split('@').next()?;
                (name != "lo").then(|| name.to_string())
            })
            .collect())
    }

    /// The interfaces of the host's namespace (without `lo`).
    pub fn interfaces(&self) -> Result<Vec<String>, HostError> {
        self.interfaces_in(&self.host_ns)
    }

    /// The description of interface `name` in the host's namespace (`ifconfig NAME`'s
    /// `description:` line; `ifconfig NAME description TEXT` sets the link's alias).
    pub fn description(&self, name: &str) -> Result<Option<String>, HostError> {
        let out = self.ip(&["link", "show", "dev", name])?;
        Ok(out
            .lines()
            .find_map(|line| line.strip_prefix("    alias ").map(String::from)))
    }

    /// The members of bridge `bridge`.
    pub fn members(&self, bridge: &str) -> Result<Vec<String>, HostError> {
        let out = self.ip(&["-o", "link", "show", "master", bridge])?;
        Ok(out
            .lines()
            .filter_map(|line| {
                let name = line.split(": ").nth(1)?;
                Some(name.split('@').next()?.to_string())
            })
            .collect())
    }

    /// Every bridge of the host's namespace and its members (FreeBSD: `ifconfig -g
    /// bridge`, then the `member:` lines of `ifconfig BRIDGE`).
    pub fn bridges(
        &self,
    ) -> Result<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>, HostError>
    {
        let out = self.ip(&["-o", "link", "show", "type", "bridge"])?;
        let mut found = std::collections::BTreeMap::new();
        for line in out.lines() {
            let Some(name) = line.split(": ").nth(1) else {
                continue;
            };
            let name = name.split('@').next().unwrap_or(name).to_string();
            let members = self.members(&name)?.into_iter().collect();
            found.insert(name, members);
        }
        Ok(found)
    }

    /// Whether interface `name` holds an IPv4 or IPv6 address (a link-local one
    /// too: FreeBSD's `inet6` lines list it).
    pub fn has_address(&self, name: &str) -> Result<bool, HostError> {
        Ok(!self
            .ip(&["-o", "addr", "show", "dev", name])?
            .trim()
            .is_empty())
    }

    /// `ifconfig IF destroy` for each of `interfaces` that exists (checked again
    /// before each: destroying one half of a pair destroys both); what could not
    /// be destroyed, with why.
    pub fn destroy_existing(&self, interfaces: &[String]) -> Vec<String> {
        interfaces
            .iter()
            .filter(|iface| self.exists(iface))
            .filter_map(|iface| {
                self.ifconfig(&[iface.clone(), "destroy".into()])
                    .err()
                    .map(|e| format!("{iface}: {e}"))
            })
            .collect()
    }

    /// `sysctl -n net.link.bridge.member_ifaddrs`: `None` when the test stands for
    /// a kernel without it ([`MEMBER_IFADDRS_ENV`] unset).
    pub fn member_ifaddrs() -> Option<u32> {
        std::env::var(MEMBER_IFADDRS_ENV).ok()?.trim().parse().ok()
    }

    /// FreeBSD's `ifconfig ARGS` (the words after the program), as the module
    /// describes; its standard output.
    pub fn ifconfig(&self, args: &[String]) -> Result<String, HostError> {
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        let command = format!("ifconfig {}", words.join(" "));
        let missing = |name: &str| {
            failed(
                &command,
                1,
                format!("ifconfig: interface {name} does not exist\n"),
            )
        };
        let unsupported =
            || HostError::Unsupported(format!("the test bed's ifconfig cannot do `{command}`"));
        let [name, rest @ ..] = words.as_slice() else {
            return Err(unsupported());
        };
        if let ["create", tail @ ..] = rest {
            let made = self.clone_create(name, &command)?;
            return match tail {
                [] => Ok(if made == *name {
                    String::new()
                } else {
                    format!("{made}\n")
                }),
                ["name", new] => {
                    self.rename(&made, new, &command)?;
                    Ok(format!("{new}\n"))
                }
                _ => Err(unsupported()),
            };
        }
        if !self.exists(name) {
            return Err(missing(name));
        }
        match rest {
            ["name", new] => self.rename(name, new, &command).map(|()| String::new()),
            ["ether", mac] => self.ip(&["link", "set", "dev", name, "address", mac]),
            ["description", text] => self.ip(&["link", "set", "dev", name, "alias", text]),
            ["up"] => self.ip(&["link", "set", "dev", name, "up"]),
            ["down"] => self.ip(&["link", "set", "dev", name, "down"]),
            ["destroy"] => self.ip(&["link", "del", "dev", name]),
            ["addm", member] | ["deletem", member] => {
                if !self.is_bridge(name) {
                    return Err(failed(
                        &command,
                        1,
                        format!("ifconfig: {name} is not a bridge\n"),
                    ));
                }
                if !self.exists(member) {
                    let op = if rest[0] == "addm" {
                        "BRDGADD"
                    } else {
                        "BRDGDEL"
                    };
                    return Err(failed(
                        &command,
                        1,
                        format!("ifconfig: {op} {member}: No such file or directory\n"),
                    ));
                }
                // if_bridge.c on FreeBSD 15: a member holding an address is
                // refused while net.link.bridge.member_ifaddrs is 0 (EINVAL).
                if rest[0] == "addm"
                    && Self::member_ifaddrs() == Some(0)
                    && self.has_address(member)?
                {
                    return Err(failed(
                        &command,
                        1,
                        format!("ifconfig: BRDGADD {member}: Invalid argument\n"),
                    ));
                }
                if rest[0] == "addm" {
                    self.ip(&["link", "set", "dev", member, "master", name])
                } else {
                    self.ip(&["link", "set", "dev", member, "nomaster"])
                }
            }
            ["inet" | "inet6", addr, ..] if addr.contains('/') || rest.ends_with(&["-alias"]) => {
                crate::ifconfig_addresses::set(&|args| self.ip(args), name, rest)
                    .unwrap_or_else(|| Err(unsupported()))
            }
            _ => Err(unsupported()),
        }
    }

    /// `ifconfig NAME create`: an epair (veth pair) or a bridge; the name made.
    fn clone_create(&self, name: &str, command: &str) -> Result<String, HostError> {
        let unit_of = |prefix: &str| {
            name.strip_prefix(prefix)
                .filter(|unit| unit.is_empty() || unit.bytes().all(|b| b.is_ascii_digit()))
        };
        let exists = || failed(command, 1, "ifconfig: SIOCIFCREATE2: File exists\n");
        if let Some(unit) = unit_of("epair") {
            let unit = if unit.is_empty() {
                self.free_unit("epair", |u| {
                    !self.exists(&format!("epair{u}a")) && !self.exists(&format!("epair{u}b"))
                })
            } else {
                unit.to_string()
            };
            let (a, b) = (format!("epair{unit}a"), format!("epair{unit}b"));
            if self.exists(&a) || self.exists(&b) {
                return Err(exists());
            }
            self.ip(&["link", "add", &a, "type", "veth", "peer", "name", &b])?;
            return Ok(a);
        }
        if let Some(unit) = unit_of("bridge") {
            let unit = if unit.is_empty() {
                self.free_unit("bridge", |u| !self.exists(&format!("bridge{u}")))
            } else {
                unit.to_string()
            };
            let made = format!("bridge{unit}");
            if self.exists(&made) {
                return Err(exists());
            }
            self.ip(&["link", "add", &made, "type", "bridge"])?;
            // if_bridge gives a bridge a stable address of its own when it is made
            // (`ether_gen_addr` in bridge_clone_create; `net.link.bridge.inherit_mac`
            // is 0) and keeps it through renames and port changes. A Linux bridge
            // without one takes its lowest port's, which changes when that port
            // leaves and leaves the other jails' ARP entries for it stale.
            self.ip(&["link", "set", "dev", &made, "address", &bridge_mac(&made)])?;
            return Ok(made);
        }
        // No cloner matches: ifconfig takes it for an interface to configure.
        Err(failed(
            command,
            1,
            format!("ifconfig: interface {name} does not exist\n"),
        ))
    }

    fn free_unit(&self, _cloner: &str, free: impl Fn(u32) -> bool) -> String {
        (0..).find(|u| free(*u)).unwrap_or(0).to_string()
    }

    fn rename(&self, name: &str, new: &str, command: &str) -> Result<(), HostError> {
        if new.is_empty() || new.len() > thinjail_core::network::MAX_IFACE_NAME {
            return Err(failed(
                command,
                1,
                "ifconfig: ioctl SIOCSIFNAME (set name): Invalid argument\n",
            ));
        }
        if self.exists(new) {
            return Err(failed(
                command,
                1,
                "ifconfig: ioctl SIOCSIFNAME (set name): File exists\n",
            ));
        }
        self.ip(&["link", "set", "dev", name, "name", new])?;
        Ok(())
    }

    /// jail(8)'s `vnet`: the jail's namespace made (its `lo` up) and each of
    /// `interfaces` moved into it. Fails, like jail(8), when one does not exist.
    pub fn create_vnet(&self, jail: &str, interfaces: &[String]) -> Result<String, HostError> {
        let ns = self.jail_ns(jail);
        run("ip", &["netns", "add", &ns])?;
        let result = (|| {
            self.ip_in(&ns, &["link", "set", "dev", "lo", "up"])?;
            for iface in interfaces {
                if !self.exists(iface) {
                    return Err(failed(
                        &format!("jail -c {jail}"),
                        1,
                        format!(
                            "jail: {jail}: vnet.interface {iface}: No such file or directory\n"
                        ),
                    ));
                }
                self.ip(&["link", "set", "dev", iface, "netns", &ns])?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = self.remove_vnet(jail);
            return Err(e);
        }
        Ok(ns)
    }

    /// The jail removed: every interface it holds back in the host's namespace,
    /// its namespace deleted. Nothing to do when it has none.
    pub fn remove_vnet(&self, jail: &str) -> Result<(), HostError> {
        let ns = self.jail_ns(jail);
        if !Path::new(NETNS_DIR).join(&ns).exists() {
            return Ok(());
        }
        for iface in self.interfaces_in(&ns)? {
            self.ip_in(&ns, &["link", "set", "dev", &iface, "down"])?;
            self.ip_in(&ns, &["link", "set", "dev", &iface, "netns", &self.host_ns])?;
        }
        run("ip", &["netns", "del", &ns])?;
        Ok(())
    }

    /// The words that run a command in VNET jail `jail`'s namespace (then
    /// `chroot`), keeping the mount namespace (`ip netns exec` would make its own).
    pub fn in_jail_ns(&self, jail: &str) -> Vec<String> {
        vec![
            "nsenter".into(),
            format!("--net={NETNS_DIR}/{}", self.jail_ns(jail)),
        ]
    }
}

/// The test bed's jail(8) hands each host-side command here first: `/sbin/ifconfig
/// ARGS` is carried out by [`NetBed::ifconfig`] in the test's namespace (`Some`);
/// anything else is not a network command (`None`).
pub fn host_hook(words: &[String]) -> Option<Result<(), HostError>> {
    match words.split_first() {
        Some((program, args)) if program == "/sbin/ifconfig" => {
            Some(NetBed::from_env().and_then(|bed| bed.ifconfig(args).map(drop)))
        }
        _ => None,
    }
}

/// jail(8)'s `vnet`, when `vnet` is set: the jail's namespace with its
/// `vnet.interface`s; `false` for a jail sharing the host's stack.
pub fn create_if_vnet(jail: &str, vnet: bool, interfaces: &[String]) -> Result<bool, HostError> {
    if !vnet {
        return Ok(false);
    }
    NetBed::from_env()?.create_vnet(jail, interfaces)?;
    Ok(true)
}

/// The jail's namespace removed (its interfaces back on the host), for a VNET jail.
pub fn remove_if_vnet(jail: &str, vnet: bool) -> Result<(), HostError> {
    if vnet {
        NetBed::from_env()?.remove_vnet(jail)?;
    }
    Ok(())
}

/// The words that put a command into a VNET jail's namespace; none for a jail
/// sharing the host's stack.
pub fn jail_prefix(jail: &str, vnet: bool) -> Result<Vec<String>, HostError> {
    if vnet {
        Ok(NetBed::from_env()?.in_jail_ns(jail))
    } else {
        Ok(Vec::new())
    }
}

/// Runs `program args` (found in `/sbin:/bin:/usr/sbin:/usr/bin`) with a clean
/// environment; its standard output, or its failure.
fn run(program: &str, args: &[&str]) -> Result<String, HostError> {
    let path = find_program(program).ok_or_else(|| HostError::Spawn {
        command: program.to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not in /sbin:/bin:/usr/sbin:/usr/bin",
        ),
    })?;
    let command_line = format!("{program} {}", args.join(" "));
    let output = Command::new(&path)
        .args(args)
        .env_clear()
        .env("PATH", "/sbin:/bin:/usr/sbin:/usr/bin")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| HostError::Spawn {
            command: command_line.clone(),
            source,
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(HostError::CommandFailed {
            command: command_line,
            status: output.status.to_string(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// A network namespace a test made, deleted (with the jails' namespaces named
/// after it) when dropped.
pub struct TestNetns {
    name: String,
}

impl TestNetns {
    /// Makes namespace `tj<prefix><pid>` with its `lo` up.
    pub fn new(prefix: &str) -> Result<TestNetns, HostError> {
        let name = format!("tj{prefix}{}", std::process::id());
        let _ = run("ip", &["netns", "del", &name]);
        run("ip", &["netns", "add", &name])?;
        run("ip", &["-n", &name, "link", "set", "dev", "lo", "up"])?;
        Ok(TestNetns { name })
    }

    /// Its name (for `THINJAIL_TESTBED_NETNS`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every namespace this one and its jails use now.
    pub fn namespaces(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
            return vec![];
        };
        let mut found: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| *n == self.name || n.starts_with(&format!("{}-", self.name)))
            .collect();
        found.sort();
        found
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        for ns in self.namespaces().into_iter().rev() {
            if ns != self.name {
                let _ = run("ip", &["netns", "del", &ns]);
            }
        }
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// The address the test bed gives a bridge made as `name`: stable, unicast and
/// locally administered, like if_bridge's own.
pub fn bridge_mac(name: &str) -> String {
    thinjail_core::recipe::network::derived_mac(&format!("bridge {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    fn netbed(prefix: &str) -> (TestNetns, NetBed) {
        let ns = TestNetns::new(prefix).expect(
            "the network test bed needs root and iproute2 (`ip netns`): run as root (scripts/test)",
        );
        let bed = NetBed::new(ns.name()).unwrap();
        (ns, bed)
    }

    #[test]
    fn without_a_test_namespace_nothing_is_touched() {
        let refused = NetBed::new("thinjail-no-such-namespace").unwrap_err();
        assert!(refused.to_string().contains("does not exist"), "{refused}");
        assert!(NetBed::new("../x").is_err());
        assert!(NetBed::new("").is_err());
    }

    #[test]
    fn epairs_are_created_renamed_bridged_and_destroyed_as_on_freebsd() {
        let (_ns, bed) = netbed("u1");
        assert_eq!(
            bed.ifconfig(&words("epair4711 create")).unwrap(),
            "epair4711a\n"
        );
        // The unit is taken while either half exists.
        let again = bed.ifconfig(&words("epair4711 create")).unwrap_err();
        assert!(again.to_string().contains("File exists"), "{again}");
        bed.ifconfig(&words("epair4711a name tjwwwa")).unwrap();
        bed.ifconfig(&words("epair4711b name tjwwwb")).unwrap();
        let taken = bed.ifconfig(&words("tjwwwb name tjwwwa")).unwrap_err();
        assert!(taken.to_string().contains("SIOCSIFNAME"), "{taken}");
        bed.ifconfig(&words("tjwwwb ether 02:11:22:33:44:55"))
            .unwrap();
        bed.ifconfig(&words("tjwwwa description jail:www")).unwrap();
        assert_eq!(
            bed.ifconfig(&words("bridge create name tjbr0")).unwrap(),
            "tjbr0\n"
        );
        // addm needs a bridge and an existing member.
        assert!(bed.ifconfig(&words("tjwwwb addm tjwwwa")).is_err());
        let missing = bed.ifconfig(&words("tjbr0 addm nosuch0")).unwrap_err();
        assert!(missing.to_string().contains("BRDGADD nosuch0"), "{missing}");
        bed.ifconfig(&words("tjbr0 addm tjwwwa")).unwrap();
        bed.ifconfig(&words("tjwwwa up")).unwrap();
        assert_eq!(bed.members("tjbr0").unwrap(), ["tjwwwa"]);
        let nothing = bed.ifconfig(&words("nosuch0 up")).unwrap_err();
        assert!(
            nothing
                .to_string()
                .contains("interface nosuch0 does not exist"),
            "{nothing}"
        );
        assert!(matches!(
            bed.ifconfig(&words("tjwwwa mtu 9000")),
            Err(HostError::Unsupported(_))
        ));
        // Destroying one half destroys both, and its bridge membership.
        bed.ifconfig(&words("tjwwwa destroy")).unwrap();
        assert_eq!(bed.interfaces().unwrap(), ["tjbr0"]);
        assert!(bed.members("tjbr0").unwrap().is_empty());
    }

    #[test]
    fn a_vnet_jail_gets_its_interface_and_gives_it_back() {
        let (ns, bed) = netbed("u2");
        bed.ifconfig(&words("epair4712 create")).unwrap();
        let refused = bed
            .create_vnet("www", &["nosuch0".to_string()])
            .unwrap_err();
        assert!(refused.to_string().contains("nosuch0"), "{refused}");
        assert_eq!(ns.namespaces(), [ns.name().to_string()], "undone");
        let jail_ns = bed.create_vnet("www", &["epair4712b".to_string()]).unwrap();
        assert_eq!(bed.interfaces_in(&jail_ns).unwrap(), ["epair4712b"]);
        assert_eq!(bed.interfaces().unwrap(), ["epair4712a"]);
        bed.remove_vnet("www").unwrap();
        assert_eq!(ns.namespaces(), [ns.name().to_string()]);
        let mut back = bed.interfaces().unwrap();
        back.sort();
        assert_eq!(back, ["epair4712a", "epair4712b"]);
    }
}
