//! DHCP jails (issue 13), end to end on the test bed: thinjail's devfs ruleset
//! (ruleset 4 and bpf) planned, loaded and kept for boot, a VNET jail that gets its
//! address from busybox `udhcpd`, and nothing left once no DHCP jail needs it. All
//! inside network namespaces the test makes (`THINJAIL_TESTBED_NETNS`): the DHCP
//! server listens on the test's bridge, in the namespace standing for the host.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thinjail_core::devfs_rules::BLOCK_ID;
use thinjail_core::edit;
use thinjail_core::network::{Ip4, Vnet};
use thinjail_testbed::devfs::DevfsState;
use thinjail_testbed::netbed::TestNetns;
use thinjail_testbed::vnet_bed::{add_bridge, admin_bridge, vnet_jail, vnet_on, VnetBed};

const BIN: &str = env!("CARGO_BIN_EXE_thinjail-testbed");

const BRIDGE: &str = "tjbr1";
const SERVER: &str = "10.78.0.1";
/// The administrator's own ruleset, which thinjail's number has to avoid.
const ADMIN_RULES: &str = "# the administrator's\n[localrules=100]\nadd path 'da*' unhide\n";

fn vnet(ip4: Ip4) -> Vnet {
    vnet_on(BRIDGE, ip4, None)
}

/// busybox `udhcpd` serving 10.78.0.50–60 on the bridge, killed when dropped.
struct Udhcpd(Child);

impl Drop for Udhcpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The article's bed with one VNET jail `vd` on the administrator's bridge `tjbr1`
/// (10.78.0.1/24, made here, in the test's namespace), and an `/etc/devfs.rules`
/// of the administrator's defining ruleset 100.
struct DhcpBed(VnetBed);

impl Deref for DhcpBed {
    type Target = VnetBed;
    fn deref(&self) -> &VnetBed {
        &self.0
    }
}

impl DerefMut for DhcpBed {
    fn deref_mut(&mut self) -> &mut VnetBed {
        &mut self.0
    }
}

impl DhcpBed {
    fn new(prefix: &str, ip4: Ip4) -> DhcpBed {
        let links = |ns: &TestNetns| add_bridge(ns.name(), BRIDGE, Some("10.78.0.1/24"));
        let vnet = VnetBed::new(BIN, prefix, links, |recipe| {
            recipe.host.interface = None;
            recipe.host.network.bridges = vec![admin_bridge(BRIDGE, &["10.78.0.1/24"])];
            recipe.jails = vec![vnet_jail(recipe, "vd", vnet(ip4))];
        });
        std::fs::write(vnet.bed.dir.path().join("etc/devfs.rules"), ADMIN_RULES)
            .expect("the administrator's devfs.rules");
        DhcpBed(vnet)
    }

    /// busybox udhcpd on the bridge, in the test's namespace.
    fn start_udhcpd(&self) -> Udhcpd {
        let dir = self.bed.dir.path();
        let conf = dir.join("udhcpd.conf");
        let leases = dir.join("udhcpd.leases");
        std::fs::write(&leases, "").expect("lease file");
        std::fs::write(
            &conf,
            format!(
                "start 10.78.0.50\nend 10.78.0.60\ninterface {BRIDGE}\nlease_file {}\npidfile {}\n\
                 option subnet 255.255.255.0\noption router {SERVER}\noption lease 600\n",
                leases.display(),
                dir.join("udhcpd.pid").display()
            ),
        )
        .expect("udhcpd.conf");
        // nsenter --net, not `ip netns exec`: that makes a mount namespace holding a
        // copy of every mount of the moment, which keeps other tests' zfs-fuse
        // datasets busy for as long as udhcpd runs.
        let child = Command::new("nsenter")
            .arg(format!(
                "--net={}/{}",
                thinjail_testbed::netbed::NETNS_DIR,
                self.ns.name()
            ))
            .args(["busybox", "udhcpd", "-f"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("busybox udhcpd");
        // It binds its socket at once; give it a moment before anyone asks.
        std::thread::sleep(Duration::from_millis(300));
        let server = Udhcpd(child);
        let mount_ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
        assert_eq!(
            mount_ns(&server.0.id().to_string()),
            mount_ns("self"),
            "udhcpd shares the test's mount namespace (a copy would pin other tests' datasets)"
        );
        server
    }

    fn admin_file(&self) -> String {
        std::fs::read_to_string(self.bed.dir.path().join("etc/devfs.rules"))
            .expect("etc/devfs.rules")
    }

    fn kernel_rulesets(&self) -> Vec<u32> {
        DevfsState::load(&self.bed.state_dir())
            .sets
            .keys()
            .copied()
            .collect()
    }

    fn dev_of(&self, jail: &str) -> PathBuf {
        self.bed.jails_path(&format!(".mountpoints/{jail}/dev"))
    }
}

#[test]
fn a_dhcp_jail_gets_its_address_through_thinjails_devfs_ruleset_which_goes_with_it() {
    let bed = DhcpBed::new("d1", Ip4::Dhcp);
    let server = bed.start_udhcpd();

    // The plan says what it loads, under a number the administrator's file does not use.
    let recipe = bed.bed.recipe_arg();
    let plan = bed.thinjail(&["plan", &recipe, "--format", "text"]);
    plan.expect_code(0);
    assert!(
        plan.stdout
            .contains("load devfs ruleset 101: include 4; path bpf* unhide"),
        "{}",
        plan.stdout
    );

    bed.apply().expect_code(0);
    // The lease: an address of udhcpd's range, with its prefix, on the jail's half.
    let address = bed
        .jail_ipv4_addresses("vd", "tjvdb")
        .first()
        .cloned()
        .expect("an address from udhcpd");
    let host: u8 = address
        .strip_prefix("10.78.0.")
        .and_then(|rest| rest.strip_suffix("/24"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{address} is not in 10.78.0.0/24"));
    assert!(
        (50..=60).contains(&host),
        "{address} outside udhcpd's range"
    );
    bed.in_jail("vd", &["/sbin/ping", "-c", "1", "-W", "2", SERVER])
        .expect_code(0);
    // Its /dev shows bpf (and still hides what ruleset 4 hides).
    let dev = bed.dev_of("vd");
    assert!(dev.join("bpf").exists(), "bpf in the DHCP jail's /dev");
    assert!(!dev.join("tty").exists(), "ruleset 4 hides tty");
    // Kept for boot in a marked block; the administrator's lines untouched.
    let text = bed.admin_file();
    assert!(text.starts_with(ADMIN_RULES), "{text}");
    let block = edit::find_block(&text, BLOCK_ID)
        .expect("markers")
        .expect("thinjail's block");
    assert!(
        block.contains(
            "[thinjail_vnet_bpf=101]\nadd include $devfsrules_jail\nadd path 'bpf*' unhide\n"
        ),
        "{block}"
    );
    assert_eq!(bed.kernel_rulesets(), [1, 2, 3, 4, 5, 101]);
    let conf = std::fs::read_to_string(bed.bed.dir.path().join("etc/jail.conf.d/vd.conf"))
        .expect("vd.conf");
    assert!(conf.contains("devfs_ruleset = 101;"), "{conf}");

    // A second apply changes nothing.
    bed.apply().expect_nothing_to_do();
    drop(server);

    // Stopped and destroyed: no ruleset, no block, the administrator's file as it was.
    bed.command(&["stop", "vd"]).expect_code(0);
    bed.command(&["destroy", "vd", "--yes"]).expect_code(0);
    assert_eq!(bed.admin_file(), ADMIN_RULES);
    assert_eq!(bed.kernel_rulesets(), [1, 2, 3, 4, 5]);
    assert_eq!(bed.ns.namespaces(), [bed.ns.name().to_string()]);
}

#[test]
fn without_bpf_dhclient_fails_as_freebsds_and_a_jail_leaving_dhcp_takes_the_ruleset_along() {
    let bed = DhcpBed::new("d2", Ip4::Dhcp);
    let server = bed.start_udhcpd();
    bed.apply().expect_code(0);
    assert!(bed
        .jail_ipv4_addresses("vd", "tjvdb")
        .first()
        .cloned()
        .is_some());
    assert_eq!(bed.kernel_rulesets(), [1, 2, 3, 4, 5, 101]);

    // The jail goes static: restarted with ruleset 4, and the ruleset and block go.
    let mut bed = bed;
    bed.bed.recipe.jails[0].vnet = Some(vnet(Ip4::Static(vec!["10.78.0.9/24".into()])));
    bed.bed.write_recipe();
    bed.apply().expect_code(0);
    assert_eq!(bed.admin_file(), ADMIN_RULES);
    assert_eq!(bed.kernel_rulesets(), [1, 2, 3, 4, 5]);
    assert_eq!(
        bed.jail_ipv4_addresses("vd", "tjvdb")
            .first()
            .cloned()
            .as_deref(),
        Some("10.78.0.9/24")
    );
    let dev = bed.dev_of("vd");
    assert!(dev.join("null").exists() && !dev.join("bpf").exists());

    // Under ruleset 4 dhclient cannot open bpf, and says so as FreeBSD's does,
    // although a server answers on the bridge.
    let started = Instant::now();
    let dhclient = bed.in_jail("vd", &["/sbin/dhclient", "tjvdb"]);
    assert_eq!(dhclient.code, Some(1), "{dhclient:?}");
    assert_eq!(
        dhclient.stderr,
        "dhclient: Can't find free bpf: No such file or directory\n"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "it asked no server"
    );
    drop(server);

    bed.command(&["stop", "vd"]).expect_code(0);
    bed.command(&["destroy", "vd", "--yes"]).expect_code(0);
    assert_eq!(bed.kernel_rulesets(), [1, 2, 3, 4, 5]);
}

#[test]
fn a_dhcp_jail_setting_its_own_devfs_ruleset_or_a_host_not_loading_devfs_rules_is_refused() {
    let mut bed = DhcpBed::new("d3", Ip4::Dhcp);
    bed.bed.recipe.jails[0].params.insert(
        "devfs_ruleset".into(),
        thinjail_core::recipe::ParamValue::Number(4),
    );
    bed.bed.write_recipe();
    let recipe = bed.bed.recipe_arg();
    let check = bed.thinjail(&["check", &recipe]);
    check.expect_code(65);
    assert!(
        check.stderr.contains("jails[0].params[\"devfs_ruleset\"]"),
        "{}",
        check.stderr
    );
    assert_eq!(bed.admin_file(), ADMIN_RULES);
    assert_eq!(bed.kernel_rulesets(), [1, 2, 3, 4, 5]);

    // rc(8) would not read /etc/devfs.rules at boot: after a reboot the jail would
    // see every device. Refused before anything changes.
    bed.bed.recipe.jails[0].params.remove("devfs_ruleset");
    bed.bed.write_recipe();
    let rc = bed.bed.dir.path().join("etc/rc.conf");
    std::fs::write(&rc, "devfs_load_rulesets=\"NO\"\n").expect("rc.conf");
    let refused = bed.apply();
    refused.expect_code(78);
    assert!(
        refused.stderr.contains("devfs_load_rulesets"),
        "{}",
        refused.stderr
    );
    assert_eq!(bed.admin_file(), ADMIN_RULES);
    assert_eq!(bed.kernel_rulesets(), [1, 2, 3, 4, 5]);
    assert!(!bed.dev_of("vd").exists(), "nothing was made");
}
