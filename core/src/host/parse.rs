//! Parsers for what observation commands print. Pure functions, tested on samples.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::quote::unescape_fstab_field;
use crate::world::{Dataset, DatasetKind, Mount, RunningJail};

/// Parses `zfs get -H -p -r -o name,property,value type,used,referenced,mountpoint,origin,createtxg,creation POOL`.
pub fn parse_zfs_get(output: &str) -> BTreeMap<String, Dataset> {
    let mut datasets: BTreeMap<String, Dataset> = BTreeMap::new();
    for line in output.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(name), Some(property), Some(value)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let dataset = datasets.entry(name.to_string()).or_default();
        let value = value.trim_end();
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
            _ => {}
        }
    }
    datasets
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

/// Parses `jls -n -q jid name path ip4.addr ip6.addr`: one jail per line of
/// `param=value` words, values quoted when they contain spaces.
pub fn parse_jls(output: &str) -> BTreeMap<String, RunningJail> {
    let mut jails = BTreeMap::new();
    for line in output.lines() {
        let params: BTreeMap<String, String> = split_quoted_words(line)
            .into_iter()
            .filter_map(|word| {
                let (k, v) = word.split_once('=')?;
                Some((k.to_string(), v.to_string()))
            })
            .collect();
        let (Some(name), Some(jid)) = (params.get("name"), params.get("jid")) else {
            continue;
        };
        let list = |key: &str| -> Vec<String> {
            params
                .get(key)
                .map(|v| {
                    v.split(',')
                        .filter(|a| !a.is_empty() && *a != "-")
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        jails.insert(
            name.clone(),
            RunningJail {
                jid: jid.parse().unwrap_or(0),
                name: name.clone(),
                path: PathBuf::from(params.get("path").cloned().unwrap_or_default()),
                ip4: list("ip4.addr"),
                ip6: list("ip6.addr"),
            },
        );
    }
    jails
}

fn split_quoted_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zfs_get_output() {
        let out = "zroot/jails\ttype\tfilesystem\nzroot/jails\tused\t4096\nzroot/jails\tmountpoint\t/usr/local/jails\nzroot/jails\torigin\t-\n\
                   zroot/jails@x\ttype\tsnapshot\nzroot/jails@x\tmountpoint\t-\nzroot/jails@x\tcreatetxg\t42\n";
        let ds = parse_zfs_get(out);
        assert_eq!(ds["zroot/jails"].used, 4096);
        assert_eq!(
            ds["zroot/jails"].mountpoint,
            Some(PathBuf::from("/usr/local/jails"))
        );
        assert_eq!(ds["zroot/jails"].origin, None);
        assert_eq!(ds["zroot/jails@x"].kind, DatasetKind::Snapshot);
        assert_eq!(ds["zroot/jails@x"].createtxg, 42);
    }

    #[test]
    fn jls_output() {
        let out = "jid=3 name=thinjail0 path=/usr/local/jails/.mountpoints/thinjail0 ip4.addr=192.168.1.70,192.168.1.71 ip6.addr=\n\
                   jid=4 name=web path=\"/j/with space\" ip4.addr=- ip6.addr=fd00::1\n";
        let jails = parse_jls(out);
        assert_eq!(jails["thinjail0"].jid, 3);
        assert_eq!(jails["thinjail0"].ip4, ["192.168.1.70", "192.168.1.71"]);
        assert_eq!(jails["web"].path, PathBuf::from("/j/with space"));
        assert!(jails["web"].ip4.is_empty());
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
