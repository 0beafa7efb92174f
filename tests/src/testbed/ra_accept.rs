//! Router advertisements in a VNET jail, as FreeBSD takes them: only on an interface
//! the jail's own rc turned `accept_rtadv` on for.
//!
//! **FreeBSD** (`freebsd/freebsd-src`): `nd6_ra_input` (`sys/netinet6/nd6_rtr.c`)
//! drops every advertisement arriving on an interface without
//! `ND6_IFF_ACCEPT_RTADV`, and a new interface gets that flag only when
//! `net.inet6.ip6.accept_rtadv` is set, which it is not (`ip6_accept_rtadv = 0`,
//! `sys/netinet6/ip6_input.c`). A VNET jail's interface therefore takes none until
//! its rc runs `ifconfig IF inet6 accept_rtadv` (`network.subr`'s `ifconfig_up`, for
//! `ifconfig_IF_ipv6="inet6 accept_rtadv"`). The address it then forms is the
//! advertised prefix and the modified EUI-64 of the interface's MAC
//! (`in6_get_hw_ifid`, `sys/netinet6/in6_ifattach.c`), with no temporary addresses
//! (`ip6_use_tempaddr = 0`).
//!
//! **Linux** accepts advertisements on every interface by default (`accept_ra` 1).
//! So when the test bed's jail(8) makes a VNET jail's namespace, [`mount_view`]
//! binds that namespace's `/proc/sys/net/ipv6/conf` — mounted by a process inside
//! the namespace, so the view is of the jail's settings whoever reads it — onto
//! [`IPV6_CONF_VIEW`] in the jail's root (a directory of the read-only synthetic
//! base), and through it sets `accept_ra` 0 for `all`, `default` and every
//! interface, with `addr_gen_mode` 0 (EUI-64) and `use_tempaddr` 0 as on FreeBSD.
//! That happens after the jail's interfaces were moved in and before anything runs
//! in the jail, while they are down (no advertisement is taken by a down
//! interface). Only the in-jail `netif` stand-in
//! ([`crate::fixtures::network`]) turns `accept_ra` on again, for the interface
//! whose `ifconfig_IF_ipv6` says `accept_rtadv`. The jail sees nothing else of
//! `/proc`, and only its own namespace's IPv6 interface settings, which a FreeBSD
//! VNET jail's root may change too (the vnet's own `net.inet6` sysctls).
//!
//! The host writes through the view only before the jail runs anything: the view is
//! procfs (no links), on a directory of the read-only base. [`unmount_view`] takes
//! it away when the jail is removed, before its namespace goes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use thinjail_core::host::{parse_proc_mountinfo, HostError};

use crate::fixtures::network::IPV6_CONF_VIEW;
use crate::netbed::{NetBed, NETNS_DIR};

/// The settings written through the view of a new VNET jail's namespace, per
/// interface (and `default`): FreeBSD's, where Linux's differ or may.
const FREEBSD_DEFAULTS: [(&str, &str); 3] = [
    ("accept_ra", "0"),
    ("addr_gen_mode", "0"),
    ("use_tempaddr", "0"),
];

/// Where jail root `root` shows its namespace's IPv6 interface settings.
pub fn view_path(root: &Path) -> PathBuf {
    root.join(IPV6_CONF_VIEW)
}

/// Binds the IPv6 interface settings of VNET jail `jail`'s namespace onto
/// [`view_path`] in its root `root`, and refuses router advertisements on every
/// interface there (see the module). The mount point, to undo.
pub fn mount_view(bed: &NetBed, jail: &str, root: &Path) -> Result<PathBuf, HostError> {
    let view = view_path(root);
    super::refuse_symlinks(jail, &view)?;
    if !view.is_dir() {
        return Err(HostError::Unsupported(format!(
            "the synthetic base of {jail} has no {IPV6_CONF_VIEW} to show its IPv6 settings at"
        )));
    }
    let netns = format!("--net={NETNS_DIR}/{}", bed.jail_ns(jail));
    let target = view.display().to_string();
    run(
        "nsenter",
        &[
            &netns,
            "mount",
            "--bind",
            "/proc/sys/net/ipv6/conf",
            &target,
        ],
    )?;
    if let Err(e) = refuse_router_advertisements(&view) {
        let _ = unmount_view(root);
        return Err(e);
    }
    Ok(view)
}

/// `accept_ra` 0 (and FreeBSD's address forming) for `all`, `default` and every
/// interface of the view at `view`.
fn refuse_router_advertisements(view: &Path) -> Result<(), HostError> {
    let entries = fs::read_dir(view).map_err(|e| HostError::io(view.display().to_string(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| HostError::io(view.display().to_string(), e))?;
        let name = entry.file_name();
        if name == "lo" {
            continue;
        }
        let settings: &[(&str, &str)] = if name == "all" {
            &FREEBSD_DEFAULTS[..1]
        } else {
            &FREEBSD_DEFAULTS
        };
        for (setting, value) in settings {
            let file = entry.path().join(setting);
            fs::write(&file, value).map_err(|e| HostError::io(file.display().to_string(), e))?;
        }
    }
    Ok(())
}

/// The view of jail root `root` unmounted, when it is mounted.
pub fn unmount_view(root: &Path) -> Result<(), HostError> {
    let view = view_path(root);
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| HostError::io("read /proc/self/mountinfo", e))?;
    if parse_proc_mountinfo(&mountinfo)
        .iter()
        .any(|m| m.target == view)
    {
        run("umount", &[&view.display().to_string()])?;
    }
    Ok(())
}

/// `program args`, found in the standard directories, which has to succeed.
fn run(program: &str, args: &[&str]) -> Result<(), HostError> {
    let command = format!("{program} {}", args.join(" "));
    let output = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| HostError::Spawn {
            command: command.clone(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(HostError::CommandFailed {
        command,
        status: output.status.to_string(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
