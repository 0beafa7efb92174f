//! Parsers for what observation commands print. Pure functions, tested on samples.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::layout::MANAGED_PROPERTY;
use crate::quote::unescape_fstab_field;
use crate::resources::datasets::{DelegatedState, OWNER_PROPERTY};
use crate::world::{Dataset, DatasetKind, Mount, RunningJail};

/// Parses `zfs get -H -p [-r] [-t filesystem,volume,snapshot] -o
/// name,property,value,source PROPERTIES DATASET…` (see
/// [`super::observation::zfs_get_command`]): one line per dataset and property, tab
/// separated. Bookmarks (`pool/fs#mark`, which OpenZFS lists when `-t` does not
/// exclude them) are skipped: they are neither filesystems nor snapshots.
/// [`crate::layout::MANAGED_PROPERTY`] counts only as the dataset's own value
/// (source `local` or `received`), never inherited from a parent.
pub fn parse_zfs_get(output: &str) -> BTreeMap<String, Dataset> {
    let mut datasets: BTreeMap<String, Dataset> = BTreeMap::new();
    for line in output.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(name), Some(property), Some(rest)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        // The value may hold tabs (a user property's); the source never does.
        let (value, source) = rest.rsplit_once('\t').unwrap_or((rest, ""));
        if name.contains('#') || name.is_empty() {
            continue;
        }
        let value = value.trim_end();
        if property == "type" && value == "bookmark" {
            continue;
        }
        let dataset = datasets.entry(name.to_string()).or_default();
        let absent = value == "-" || value.is_empty();
        match property {
            "type" => {
                dataset.kind = match value {
                    "snapshot" => DatasetKind::Snapshot,
                    "volume" => DatasetKind::Volume,
                    _ => DatasetKind::Filesystem,
                }
            }
            "used" => dataset.used = value.parse().unwrap_or(0),
            "referenced" => dataset.referenced = value.parse().unwrap_or(0),
            "createtxg" => dataset.createtxg = value.parse().unwrap_or(0),
            "creation" => dataset.creation = value.parse().unwrap_or(0),
            "mountpoint" => {
                dataset.mountpoint = match value {
                    _ if absent => None,
                    "none" | "legacy" => None,
                    path => Some(PathBuf::from(path)),
                }
            }
            "origin" => dataset.origin = (!absent).then(|| value.to_string()),
            MANAGED_PROPERTY => {
                let own = matches!(source.trim_end(), "local" | "received");
                dataset.managed = (own && !absent).then(|| value.to_string());
            }
            _ => {}
        }
    }
    datasets
}

/// Parses `zfs get -H -p -o name,property,value,source
/// type,jailed,mountpoint,thinjail:jail DATASET` (one dataset): `None` when it printed
/// nothing. Only the dataset's own `thinjail:jail` counts (source `local` or
/// `received`): a child inherits its parent's.
pub fn parse_delegated(output: &str) -> Option<DelegatedState> {
    let mut state: Option<DelegatedState> = None;
    for line in output.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(_), Some(property), Some(rest)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (value, source) = rest.rsplit_once('\t').unwrap_or((rest, ""));
        let value = value.trim_end();
        let absent = value == "-" || value.is_empty();
        let state = state.get_or_insert(DelegatedState {
            filesystem: false,
            jailed: false,
            owner: None,
            mountpoint: None,
        });
        match property {
            "type" => state.filesystem = value == "filesystem",
            "jailed" => state.jailed = value == "on",
            "mountpoint" => state.mountpoint = (!absent).then(|| value.to_string()),
            OWNER_PROPERTY => {
                let own = matches!(source.trim_end(), "local" | "received");
                state.owner = (own && !absent).then(|| value.to_string());
            }
            _ => {}
        }
    }
    state
}

/// Parses FreeBSD's `mount -p` (fstab format: source, target, type, options, …).
pub fn parse_mount_p(output: &str) -> Vec<Mount> {
    output
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [source, target, fstype, options, ..] = fields.as_slice() else {
                return None;
            };
            Some(Mount {
                source: unescape_fstab_field(source),
                target: PathBuf::from(unescape_fstab_field(target)),
                fstype: fstype.to_string(),
                read_only: options.split(',').any(|o| o == "ro"),
            })
        })
        .collect()
}

/// Parses Linux's `/proc/self/mountinfo` (used by test hosts).
pub fn parse_proc_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            let target = left.get(4)?;
            let options = left.get(5)?;
            Some(Mount {
                source: unescape_fstab_field(right.get(1)?),
                target: PathBuf::from(unescape_fstab_field(target)),
                fstype: right.first()?.to_string(),
                read_only: options.split(',').any(|o| o == "ro"),
            })
        })
        .collect()
}

/// Parses `jls -d -v --libxo=json` (usr.sbin/jls/jls.c): `{"jail-information":
/// {"jail": [ … ]}}`, each jail with `jid`, `name`, `path`, `state` (`ACTIVE` or
/// `DYING`) and the lists `ipv4_addrs` and `ipv6_addrs`. Read defensively: a
/// missing name is the JID (what jail(8) does for unnamed jails), `dying` is also
/// understood (the parameter jls prints when named on its command line), and
/// addresses are gathered from whatever nesting libxo gives the lists. A live jail
/// wins over a dying one of the same name.
pub fn parse_jls(output: &str) -> Result<BTreeMap<String, RunningJail>, String> {
    let document: serde_json::Value =
        serde_json::from_str(output).map_err(|e| format!("jls printed no JSON ({e})"))?;
    let list = document
        .get("jail-information")
        .and_then(|info| info.get("jail"))
        .map_or(&[][..], |jails| {
            jails.as_array().map_or(&[][..], Vec::as_slice)
        });
    let mut jails: BTreeMap<String, RunningJail> = BTreeMap::new();
    for entry in list {
        let text = |key: &str| match entry.get(key) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let Some(jid) = text("jid").and_then(|j| j.trim().parse::<u32>().ok()) else {
            continue;
        };
        let name = text("name")
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| jid.to_string());
        let dying = text("state").is_some_and(|s| s.eq_ignore_ascii_case("dying"))
            || match entry.get("dying") {
                Some(serde_json::Value::Bool(b)) => *b,
                Some(serde_json::Value::String(s)) => matches!(s.as_str(), "true" | "1"),
                Some(serde_json::Value::Number(n)) => n.as_u64().is_some_and(|n| n != 0),
                _ => false,
            };
        let addresses = |keys: &[&str]| {
            let mut found = Vec::new();
            for key in keys {
                if let Some(value) = entry.get(*key) {
                    collect_strings(value, &mut found);
                }
            }
            found
        };
        let jail = RunningJail {
            jid,
            path: PathBuf::from(text("path").unwrap_or_default()),
            ip4: addresses(&["ipv4_addrs", "ip4.addr"]),
            ip6: addresses(&["ipv6_addrs", "ip6.addr"]),
            dying,
            name: name.clone(),
        };
        match jails.get(&name) {
            Some(existing) if !existing.dying => {}
            _ => {
                jails.insert(name, jail);
            }
        }
    }
    Ok(jails)
}

/// Every non-empty string in `value`, depth first (libxo nests leaf lists).
fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if !s.is_empty() && s != "-" => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zfs_get_output() {
        let out = "zroot/jails\ttype\tfilesystem\t-\nzroot/jails\tused\t4096\t-\nzroot/jails\tmountpoint\t/usr/local/jails\tlocal\n\
                   zroot/jails\torigin\t-\t-\nzroot/jails\tthinjail:managed\tzroot/jails\tlocal\n\
                   zroot/jails@x\ttype\tsnapshot\t-\nzroot/jails@x\tmountpoint\t-\t-\nzroot/jails@x\tcreatetxg\t42\t-\n";
        let ds = parse_zfs_get(out);
        assert_eq!(ds["zroot/jails"].used, 4096);
        assert_eq!(
            ds["zroot/jails"].mountpoint,
            Some(PathBuf::from("/usr/local/jails"))
        );
        assert_eq!(ds["zroot/jails"].origin, None);
        assert_eq!(ds["zroot/jails"].managed.as_deref(), Some("zroot/jails"));
        assert_eq!(ds["zroot/jails@x"].kind, DatasetKind::Snapshot);
        assert_eq!(ds["zroot/jails@x"].createtxg, 42);
    }

    /// What OpenZFS 2.2 prints for `zfs get -H -p -r -o name,property,value,source`
    /// without `-t` on a jails dataset with a bookmark and a dataset thinjail did not
    /// make (inheriting the mark from its parent).
    #[test]
    fn bookmarks_and_inherited_marks_are_not_datasets_of_ours() {
        let out = "zroot/jails\ttype\tfilesystem\t-\n\
                   zroot/jails\tthinjail:managed\tzroot/jails\tlocal\n\
                   zroot/jails/www\ttype\tfilesystem\t-\n\
                   zroot/jails/www\tthinjail:managed\tzroot/jails\tlocal\n\
                   zroot/jails/www/data\ttype\tfilesystem\t-\n\
                   zroot/jails/www/data\tthinjail:managed\tzroot/jails\treceived\n\
                   zroot/jails/www/data#before-upgrade\ttype\tbookmark\t-\n\
                   zroot/jails/www/data#before-upgrade\tcreatetxg\t77\t-\n\
                   zroot/jails/www/data#before-upgrade\tthinjail:managed\t-\t-\n\
                   zroot/jails/containers\ttype\tfilesystem\t-\n\
                   zroot/jails/containers\tthinjail:managed\tzroot/jails\tinherited from zroot/jails\n\
                   zroot/jails/media\ttype\tfilesystem\t-\n\
                   zroot/jails/media\tthinjail:managed\t-\t-\n";
        let ds = parse_zfs_get(out);
        let names: Vec<&str> = ds.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "zroot/jails",
                "zroot/jails/containers",
                "zroot/jails/media",
                "zroot/jails/www",
                "zroot/jails/www/data"
            ],
            "the bookmark is not a dataset"
        );
        assert_eq!(
            ds["zroot/jails/www/data"].managed.as_deref(),
            Some("zroot/jails")
        );
        assert_eq!(
            ds["zroot/jails/containers"].managed, None,
            "inherited is not its own"
        );
        assert_eq!(ds["zroot/jails/media"].managed, None);
    }

    /// `jls -d -v --libxo=json` as FreeBSD 14.2 prints it: one running jail with two
    /// addresses, one dying jail, an unnamed one, and a dying jail whose name a new
    /// one took.
    #[test]
    fn jls_json_output() {
        let out = r#"{"__version": "2", "jail-information": {"jail": [
            {"jid":3,"hostname":"www","path":"/usr/local/jails/.mountpoints/www","name":"www","state":"ACTIVE","cpusetid":5,
             "ipv4_addrs": ["192.168.1.70","192.168.1.71"], "ipv6_addrs": []},
            {"jid":4,"hostname":"old","path":"/j/with space","name":"old","state":"DYING","cpusetid":6,
             "ipv4_addrs": [], "ipv6_addrs": ["fd00::1"]},
            {"jid":5,"hostname":"","path":"/","state":"ACTIVE","cpusetid":7,"ipv4_addrs": []},
            {"jid":6,"hostname":"db","path":"/other/db","name":"db","state":"DYING","cpusetid":8},
            {"jid":9,"hostname":"db","path":"/usr/local/jails/.mountpoints/db","name":"db","state":"ACTIVE","cpusetid":9,
             "ipv4_addrs": [{"ipv4_addr": "10.0.0.2"}]}
        ]}}"#;
        let jails = parse_jls(out).unwrap();
        assert_eq!(jails["www"].jid, 3);
        assert_eq!(jails["www"].ip4, ["192.168.1.70", "192.168.1.71"]);
        assert!(!jails["www"].dying);
        assert!(jails["old"].dying);
        assert_eq!(jails["old"].path, PathBuf::from("/j/with space"));
        assert_eq!(jails["old"].ip6, ["fd00::1"]);
        assert_eq!(jails["5"].jid, 5, "an unnamed jail is known by its JID");
        assert_eq!(jails["db"].jid, 9, "the live jail wins over the dying one");
        assert_eq!(jails["db"].ip4, ["10.0.0.2"]);
        let empty = r#"{"__version": "2", "jail-information": {"jail": []}}"#;
        assert!(parse_jls(empty).unwrap().is_empty());
        assert!(
            parse_jls("jid=3 name=www").is_err(),
            "not JSON is an error, not no jails"
        );
    }

    #[test]
    fn mount_tables() {
        let bsd = "zroot/jails\t/usr/local/jails\tzfs\trw,noatime\t0 0\n/b\t/j/.mountpoints/t0\tnullfs\tro\t0 0\n";
        let mounts = parse_mount_p(bsd);
        assert_eq!(mounts.len(), 2);
        assert!(mounts[1].read_only);
        let linux = "36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n";
        let mounts = parse_proc_mountinfo(linux);
        assert_eq!(mounts[0].target, PathBuf::from("/mnt/a b"));
        assert_eq!(mounts[0].fstype, "ext3");
    }
}
