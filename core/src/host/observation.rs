//! Observing a FreeBSD host: datasets and snapshots (`zfs get`), mounts
//! (`mount -p`), running jails (`jls`), and probed paths read natively without
//! following a symbolic link.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::parse::{parse_delegated, parse_jls, parse_mount_p, parse_zfs_get};
use super::system::FreeBsdHost;
use super::{HostError, ObservationRequest};
use crate::action::Command;
use crate::probes::Probes;
use crate::resources::cpuset::CpuList;
use crate::resources::datasets::{DelegatedState, DELEGATED_PROPERTIES};
use crate::resources::{ObservedCpus, ObservedLimits, Racct};
use crate::world::{Dataset, Mount, PathState, RunningJail, World};

/// Dataset properties observed with one `zfs get`, thinjail's mark among them.
pub const ZFS_PROPERTIES: &str =
    "type,used,referenced,mountpoint,origin,createtxg,creation,thinjail:managed";

/// The `zfs get` that observes `dataset` (and, with `recursive`, everything below
/// it): `-H -p -o name,property,value,source` (the source tells a dataset's own
/// mark from an inherited one). With `types`, `-t filesystem,volume,snapshot`:
/// OpenZFS's `zfs get` lists bookmarks too unless `-t` says otherwise
/// (`zfs_do_get` in cmd/zfs/zfs_main.c starts from `ZFS_TYPE_DATASET |
/// ZFS_TYPE_BOOKMARK`). zfs-fuse's `get` has no `-t` (and no bookmarks), so the
/// test bed asks without it.
pub fn zfs_get_command(dataset: &str, recursive: bool, types: bool) -> Command {
    let mut argv = vec!["zfs", "get", "-H", "-p"];
    if recursive {
        argv.push("-r");
    }
    if types {
        argv.extend(["-t", "filesystem,volume,snapshot"]);
    }
    argv.extend(["-o", "name,property,value,source", ZFS_PROPERTIES, dataset]);
    Command::run(argv)
}

impl FreeBsdHost {
    /// Everything [`Host::observe`](super::Host::observe) returns: datasets, probed
    /// and listed paths, mounts and running jails.
    pub(super) fn observe_all(&mut self, request: &ObservationRequest) -> Result<World, HostError> {
        let mut paths = observe_paths(&request.probes)?;
        let (listed_paths, listed) = super::observe_listed(&request.probes)?;
        super::merge_observed(&mut paths, listed_paths);
        let jails = self.observe_jails()?;
        let limits = if request.probes.limits {
            Some(self.observe_limits()?)
        } else {
            None
        };
        let cpus = if request.probes.cpusets.is_empty() {
            None
        } else {
            Some(self.observe_cpus(&request.probes.cpusets, &jails)?)
        };
        let interfaces = if request.interfaces {
            Some(self.observe_interfaces()?)
        } else {
            None
        };
        // One `ifconfig -a` read for every bridge, uplink and epair looked at.
        let shown = if request.interfaces {
            self.observe_interface_listings()?
        } else {
            BTreeMap::new()
        };
        Ok(World {
            datasets: self.observe_datasets(request)?,
            paths,
            mounts: self.observe_mounts()?,
            jails,
            observed: true,
            listed,
            limits,
            cpus,
            interfaces: interfaces.clone(),
            interface_descriptions: match &interfaces {
                Some(names) => observe_descriptions(names, &shown),
                None => BTreeMap::new(),
            },
            pf: if request.pf {
                Some(self.observe_pf()?)
            } else {
                None
            },
            devfs_rulesets: if request.devfs_rulesets {
                Some(self.observe_devfs_rulesets()?)
            } else {
                None
            },
            delegated: self.observe_delegated(&request.probes.delegated)?,
            bridges: if request.interfaces {
                Some(self.observe_bridges(&request.uplinks, &shown)?)
            } else {
                None
            },
            kernel_release: if request.probes.kernel_release {
                Some(self.observe_kernel_release()?)
            } else {
                None
            },
        })
    }

    /// The running kernel's release, `sysctl -n kern.osrelease` (nullfs is the
    /// kernel's: `freebsd-version -k` would name the installed kernel, which may not
    /// be the one running until a reboot).
    pub fn observe_kernel_release(&mut self) -> Result<String, HostError> {
        let output = self.run(&Command::run(["sysctl", "-n", "kern.osrelease"]))?;
        Ok(output.stdout.trim().to_string())
    }

    /// pf's status (`pfctl -s info`; pf absent when pfctl cannot reach it) and the
    /// rules of thinjail's anchor (`pfctl -P -a thinjail/jails -s nat`; none when the
    /// anchor does not exist). See [`crate::network::pf`].
    pub fn observe_pf(&mut self) -> Result<crate::network::pf::ObservedPf, HostError> {
        use crate::network::pf::{anchor_absent, parse_status, ObservedPf, PfStatus, PFCTL};
        let status = match self.run(&Command::run([PFCTL, "-s", "info"])) {
            Ok(output) => parse_status(&output.stdout),
            // `err(1, "%s", pf_device)`: no pf in the kernel. Anything else (not root)
            // is an error, not a verdict on pf.
            Err(HostError::CommandFailed { stderr, .. })
                if stderr.contains("/dev/pf: No such file or directory") =>
            {
                PfStatus::Absent
            }
            Err(e) => return Err(e),
        };
        if status == PfStatus::Absent {
            return Ok(ObservedPf {
                status,
                loaded: Vec::new(),
            });
        }
        let loaded = match self.run(&Command::run(crate::network::pf::SHOW_ANCHOR_RULES)) {
            Ok(output) => output
                .stdout
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from)
                .collect(),
            Err(HostError::CommandFailed { stderr, .. }) if anchor_absent(&stderr) => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(ObservedPf { status, loaded })
    }

    /// The kernel's devfs rulesets: `devfs rule showsets` (one number a line), then
    /// `devfs rule -s N show` for each (one rule a line, `100 include 4`).
    pub fn observe_devfs_rulesets(&mut self) -> Result<BTreeMap<u32, Vec<String>>, HostError> {
        let sets = self.run(&Command::run(["devfs", "rule", "showsets"]))?;
        let mut found = BTreeMap::new();
        for number in sets.stdout.split_whitespace() {
            let Ok(number) = number.parse::<u32>() else {
                return Err(HostError::Conflict(format!(
                    "devfs rule showsets printed {number:?}, not a ruleset number"
                )));
            };
            let rules = self.run(&Command::run([
                "devfs".to_string(),
                "rule".into(),
                "-s".into(),
                number.to_string(),
                "show".into(),
            ]))?;
            found.insert(number, rules.stdout.lines().map(String::from).collect());
        }
        Ok(found)
    }

    /// The state of each dataset in `names` (one `zfs get` each, `None` for a dataset
    /// that does not exist): `zfs get -H -p -o name,property,value,source
    /// type,jailed,mountpoint,thinjail:jail DATASET`.
    pub fn observe_delegated(
        &mut self,
        names: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, Option<DelegatedState>>, HostError> {
        let mut found = BTreeMap::new();
        for name in names {
            let command = Command::run([
                "zfs",
                "get",
                "-H",
                "-p",
                "-o",
                "name,property,value,source",
                DELEGATED_PROPERTIES,
                name.as_str(),
            ]);
            let state = match self.run(&command) {
                Ok(output) => parse_delegated(&output.stdout),
                Err(HostError::CommandFailed { stderr, .. })
                    if stderr.contains("does not exist") =>
                {
                    None
                }
                Err(e) => return Err(e),
            };
            found.insert(name.clone(), state);
        }
        Ok(found)
    }

    /// Every interface's listing, by name: `ifconfig -a`, cut by
    /// [`crate::observed_bridges::split_interfaces`] into what `ifconfig NAME`
    /// prints.
    pub fn observe_interface_listings(&mut self) -> Result<BTreeMap<String, String>, HostError> {
        let all = self.run(&Command::run(["ifconfig", "-a"]))?;
        Ok(crate::observed_bridges::split_interfaces(&all.stdout))
    }

    /// The host's bridges (`ifconfig -g bridge`, the if_bridge cloner's group, which
    /// a renamed bridge keeps) with their members (`member:` lines of their listing
    /// in `shown`, [`FreeBsdHost::observe_interface_listings`]) and addresses (its
    /// `inet`/`inet6` lines), which of `uplinks` hold an `inet` or `inet6` address
    /// (a missing one none: planning reports it), and
    /// `net.link.bridge.member_ifaddrs` (`sysctl -n`; absent before 15).
    pub fn observe_bridges(
        &mut self,
        uplinks: &BTreeSet<String>,
        shown: &BTreeMap<String, String>,
    ) -> Result<crate::observed_bridges::ObservedBridges, HostError> {
        let mut observed = crate::observed_bridges::ObservedBridges::default();
        let names = self.run(&Command::run(["ifconfig", "-g", "bridge"]))?;
        for name in names.stdout.split_whitespace() {
            // A bridge destroyed between the two commands lists as empty.
            let listing = shown.get(name).map_or("", String::as_str);
            observed.members.insert(
                name.to_string(),
                crate::observed_bridges::parse_members(listing),
            );
            observed.addresses.insert(
                name.to_string(),
                crate::bridge_addresses::parse_addresses(listing),
            );
        }
        observed.addressed = uplinks
            .iter()
            .filter(|uplink| {
                shown
                    .get(*uplink)
                    .is_some_and(|listing| crate::observed_bridges::has_address(listing))
            })
            .cloned()
            .collect();
        observed.member_ifaddrs = match self.run(&Command::run([
            "sysctl",
            "-n",
            "net.link.bridge.member_ifaddrs",
        ])) {
            Ok(output) => output.stdout.trim().parse().ok(),
            Err(HostError::CommandFailed { stderr, .. }) if stderr.contains("unknown oid") => None,
            Err(e) => return Err(e),
        };
        Ok(observed)
    }

    /// The host's network interfaces (`ifconfig -l`: their names, blank-separated).
    pub fn observe_interfaces(&mut self) -> Result<BTreeSet<String>, HostError> {
        let output = self.run(&Command::run(["ifconfig", "-l"]))?;
        Ok(output.stdout.split_whitespace().map(String::from).collect())
    }

    /// `kern.racct.enable` (`sysctl -n`; a kernel without RACCT has no such name)
    /// and, when enabled, every rule on a jail (`rctl jail:`, one per line as the
    /// kernel prints them).
    pub fn observe_limits(&mut self) -> Result<ObservedLimits, HostError> {
        let racct = match self.run(&Command::run(["sysctl", "-n", "kern.racct.enable"])) {
            Ok(output) if output.stdout.trim() == "1" => Racct::Enabled,
            Ok(_) => Racct::Disabled,
            Err(HostError::CommandFailed { stderr, .. }) if stderr.contains("unknown oid") => {
                Racct::Absent
            }
            Err(e) => return Err(e),
        };
        let rules = if racct == Racct::Enabled {
            let output = self.run(&Command::run(["rctl", "jail:"]))?;
            output.stdout.lines().map(String::from).collect()
        } else {
            Vec::new()
        };
        Ok(ObservedLimits { racct, rules })
    }

    /// The host's CPUs (`cpuset -g -s 1`, the default set) and the CPU set of each
    /// of `wanted` that runs (`cpuset -g -j NAME`).
    pub fn observe_cpus(
        &mut self,
        wanted: &std::collections::BTreeSet<String>,
        running: &BTreeMap<String, RunningJail>,
    ) -> Result<ObservedCpus, HostError> {
        let read = |command: &Command, stdout: &str| {
            CpuList::from_cpuset_output(stdout)
                .map(|list| list.to_string())
                .ok_or_else(|| {
                    HostError::Conflict(format!("cannot read `{}`: {stdout}", command.render()))
                })
        };
        let host_command = Command::run(["cpuset", "-g", "-s", "1"]);
        let output = self.run(&host_command)?;
        let host = read(&host_command, &output.stdout)?;
        let mut jails = BTreeMap::new();
        for name in wanted.iter().filter(|n| running.contains_key(*n)) {
            let command = Command::run(["cpuset", "-g", "-j", name.as_str()]);
            let output = self.run(&command)?;
            jails.insert(name.clone(), read(&command, &output.stdout)?);
        }
        Ok(ObservedCpus { host, jails })
    }

    /// Lists the jails dataset, everything below it and their snapshots with one
    /// `zfs get` (never the rest of the pool). When the jails dataset does not exist
    /// yet, a second `zfs get` of the pool alone tells whether the pool is there; an
    /// absent pool gives no dataset at all (planning then says the pool is missing).
    pub fn observe_datasets(
        &mut self,
        request: &ObservationRequest,
    ) -> Result<BTreeMap<String, Dataset>, HostError> {
        self.observe_datasets_with(request, true)
    }

    /// [`FreeBsdHost::observe_datasets`], with or without `zfs get -t` (see
    /// [`zfs_get_command`]).
    pub fn observe_datasets_with(
        &mut self,
        request: &ObservationRequest,
        types: bool,
    ) -> Result<BTreeMap<String, Dataset>, HostError> {
        let missing = |e: &HostError| matches!(e, HostError::CommandFailed { stderr, .. } if stderr.contains("does not exist"));
        let jails = zfs_get_command(&request.jails_dataset, true, types);
        match self.run(&jails) {
            Ok(output) => return Ok(parse_zfs_get(&output.stdout)),
            Err(e) if missing(&e) && request.jails_dataset != request.pool => {}
            Err(e) if missing(&e) => return Ok(BTreeMap::new()),
            Err(e) => return Err(e),
        }
        match self.run(&zfs_get_command(&request.pool, false, types)) {
            Ok(output) => Ok(parse_zfs_get(&output.stdout)),
            Err(e) if missing(&e) => Ok(BTreeMap::new()),
            Err(e) => Err(e),
        }
    }

    /// Mounted filesystems (`mount -p`).
    pub fn observe_mounts(&mut self) -> Result<Vec<Mount>, HostError> {
        let output = self.run(&Command::run(["mount", "-p"]))?;
        Ok(parse_mount_p(&output.stdout))
    }

    /// Running and dying jails (`jls -d -v --libxo=json`, read as JSON: jls's
    /// plain `-q` quoting cannot be read back reliably).
    pub fn observe_jails(&mut self) -> Result<BTreeMap<String, RunningJail>, HostError> {
        let command = Command::run(["jls", "-d", "-v", "--libxo=json"]);
        let output = self.run(&command)?;
        parse_jls(&output.stdout).map_err(|problem| {
            HostError::Conflict(format!("cannot read `{}`: {problem}", command.render()))
        })
    }
}

/// The descriptions of the interfaces among `interfaces` named like the host's
/// half of a thinjail epair (the `description:` line of their listing in `shown`,
/// [`FreeBsdHost::observe_interface_listings`]; [`crate::leftover_epairs`]). One
/// that went meanwhile has none.
fn observe_descriptions(
    interfaces: &BTreeSet<String>,
    shown: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    crate::leftover_epairs::described_candidates(interfaces)
        .into_iter()
        .filter_map(|name| {
            let text = crate::leftover_epairs::parse_description(shown.get(name)?)?;
            Some((name.to_string(), text))
        })
        .collect()
}

/// Observes the probed paths natively (lstat, readlink, read): no command runs.
/// Paths below an untrusted root ([`Probes::beneath`]) are walked without following
/// any symbolic link ([`super::observe_beneath`], [`super::record_beneath`]).
pub fn observe_paths(probes: &Probes) -> Result<BTreeMap<PathBuf, PathState>, HostError> {
    let mut paths = BTreeMap::new();
    for path in probes.paths.iter().chain(&probes.files) {
        let read = probes.files.contains(path);
        paths.insert(path.clone(), path_state(path, read)?);
    }
    for probe in &probes.beneath {
        let found = super::observe_beneath(&probe.root, &probe.relative)?;
        super::record_beneath(&mut paths, probe, found);
    }
    Ok(paths)
}

fn path_state(path: &Path, read: bool) -> Result<PathState, HostError> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(20) => {
            // ENOTDIR: a parent is a file, so nothing can be here.
            return Ok(PathState::Missing);
        }
        Err(e) => return Err(HostError::io(format!("look at {}", path.display()), e)),
    };
    let file_type = metadata.file_type();
    Ok(if file_type.is_symlink() {
        let target = fs::read_link(path)
            .map_err(|e| HostError::io(format!("read link {}", path.display()), e))?;
        PathState::Symlink { target }
    } else if file_type.is_dir() {
        PathState::Directory
    } else {
        let contents = if read {
            read_probed(path, &metadata)?.and_then(|bytes| String::from_utf8(bytes).ok())
        } else {
            None
        };
        PathState::File { contents }
    })
}

/// Reads a probed file that `lstat` saw as `seen`: the final component is opened
/// without following a link, without blocking, and read only when it is still that
/// same regular file (a FIFO or device reads as unknown contents, never hangs).
fn read_probed(path: &Path, seen: &fs::Metadata) -> Result<Option<Vec<u8>>, HostError> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    if !seen.is_file() {
        return Ok(None);
    }
    let flags = nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK;
    let mut file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits())
        .open(path)
    {
        Ok(file) => file,
        // Replaced (by a link, or removed) since the lstat: not the file that was seen.
        Err(_) => return Ok(None),
    };
    let now = file
        .metadata()
        .map_err(|e| HostError::io(format!("look at {}", path.display()), e))?;
    if !now.is_file() || now.dev() != seen.dev() || now.ino() != seen.ino() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| HostError::io(format!("read {}", path.display()), e))?;
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probed_files_are_read_without_following_a_link_or_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let canary = dir.path().join("canary");
        fs::write(&canary, "secret\n").unwrap();
        let link = dir.path().join("fstab");
        std::os::unix::fs::symlink(&canary, &link).unwrap();
        // A FIFO where a file is expected: reading it would wait for a writer forever.
        let fifo = dir.path().join("rc.conf");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let plain = dir.path().join("jail.conf");
        fs::write(&plain, "x {}\n").unwrap();
        let mut probes = Probes::default();
        probes
            .file(link.clone())
            .file(fifo.clone())
            .file(plain.clone());
        let seen = observe_paths(&probes).unwrap();
        assert_eq!(seen[&link], PathState::Symlink { target: canary });
        assert_eq!(seen[&fifo], PathState::File { contents: None });
        assert_eq!(
            seen[&plain],
            PathState::File {
                contents: Some("x {}\n".into())
            }
        );
    }

    #[test]
    fn paths_below_a_jails_data_are_observed_without_following_its_links() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("www/data");
        // What the jail's root did: usr/local is a link to a host directory that
        // holds the file asked about.
        let host_dir = dir.path().join("host-local");
        fs::create_dir_all(host_dir.join("sbin")).unwrap();
        fs::write(host_dir.join("sbin/nginx"), "host\n").unwrap();
        fs::create_dir_all(data.join("usr")).unwrap();
        std::os::unix::fs::symlink(&host_dir, data.join("usr/local")).unwrap();
        fs::create_dir_all(data.join("etc")).unwrap();
        fs::write(data.join("etc/rc.conf"), "x\n").unwrap();
        let mut probes = Probes::default();
        probes
            .beneath(&data, "usr/local/sbin/nginx")
            .beneath(&data, "etc/rc.conf");
        let seen = observe_paths(&probes).unwrap();
        assert_eq!(seen[&data.join("usr/local/sbin/nginx")], PathState::Missing);
        assert_eq!(
            seen[&data.join("usr/local")],
            PathState::Symlink { target: host_dir }
        );
        assert_eq!(
            seen[&data.join("etc/rc.conf")],
            PathState::File { contents: None }
        );
    }

    /// Only the jails dataset's tree, bookmarks left out, with the source of each value.
    #[test]
    fn observation_lists_the_jails_dataset_without_bookmarks() {
        assert_eq!(
            zfs_get_command("zroot/jails", true, true).render(),
            format!(
                "zfs get -H -p -r -t filesystem,volume,snapshot -o name,property,value,source {ZFS_PROPERTIES} zroot/jails"
            )
        );
        assert!(ZFS_PROPERTIES.ends_with(",thinjail:managed"));
        assert_eq!(
            zfs_get_command("zroot", false, false).render(),
            format!("zfs get -H -p -o name,property,value,source {ZFS_PROPERTIES} zroot")
        );
    }
}
