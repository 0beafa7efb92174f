//! The FreeBSD port skeleton (`packaging/freebsd/sysutils/thinjail`), checked here
//! because it cannot be built on Linux:
//! - its `CARGO_CRATES` lists exactly the crates of `Cargo.lock` (this file is also
//!   the generator: `THINJAIL_BLESS=1 cargo test -p thinjail-testbed --test port`
//!   rewrites the list);
//! - its `post-install` target, run here with the port framework's variables, stages
//!   exactly what `pkg-plist` lists;
//! - its version is the workspace's, and `CARGO_INSTALL_PATH` builds `thinjail`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use thinjail_cli::Environment;
use thinjail_core::recipe::HostConfig;

const BLESS_HINT: &str =
    "regenerate it with `THINJAIL_BLESS=1 cargo test -p thinjail-testbed --test port`";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn port_dir() -> PathBuf {
    workspace().join("packaging/freebsd/sysutils/thinjail")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The crates.io packages of a Cargo.lock, as `name-version`, in the lock's order
/// (the form `make cargo-crates` prints). Workspace members have no `source` and
/// are not listed; any other source is an error, because CARGO_CRATES spells git
/// dependencies differently and this generator does not write them.
fn lock_crates(lock: &str) -> Result<Vec<String>, String> {
    let mut crates = Vec::new();
    let mut package: Option<(String, String, Option<String>)> = None;
    let flush = |package: Option<(String, String, Option<String>)>,
                 crates: &mut Vec<String>|
     -> Result<(), String> {
        match package {
            Some((name, version, Some(source))) => {
                if source.starts_with("registry+https://github.com/rust-lang/crates.io-index") {
                    crates.push(format!("{name}-{version}"));
                    Ok(())
                } else {
                    Err(format!(
                        "{name} {version} comes from {source}: write its CARGO_CRATES entry by hand"
                    ))
                }
            }
            _ => Ok(()),
        }
    };
    let value = |line: &str| -> String {
        line.split_once('=')
            .map(|(_, v)| v.trim().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            flush(package.take(), &mut crates)?;
            package = Some((String::new(), String::new(), None));
        } else if line.starts_with('[') {
            flush(package.take(), &mut crates)?;
        } else if let Some((name, version, source)) = package.as_mut() {
            if line.starts_with("name = ") {
                *name = value(line);
            } else if line.starts_with("version = ") {
                *version = value(line);
            } else if line.starts_with("source = ") {
                *source = Some(value(line));
            }
        }
    }
    flush(package.take(), &mut crates)?;
    Ok(crates)
}

/// The `CARGO_CRATES=` assignment as the ports framework writes it: one crate a
/// line, tab-indented, backslash-continued.
fn render_cargo_crates(crates: &[String]) -> String {
    let mut out = String::from("CARGO_CRATES=");
    for (i, name) in crates.iter().enumerate() {
        out.push_str(if i == 0 { "\t" } else { "\t\t" });
        out.push_str(name);
        if i + 1 < crates.len() {
            out.push_str(" \\");
        }
        out.push('\n');
    }
    out
}

/// The byte range of the `CARGO_CRATES=` assignment (through its last line).
fn cargo_crates_span(makefile: &str) -> (usize, usize) {
    let start = makefile
        .find("\nCARGO_CRATES=")
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("the port's Makefile has no CARGO_CRATES; {BLESS_HINT}"));
    let mut end = start;
    for line in makefile[start..].split_inclusive('\n') {
        end += line.len();
        if !line.trim_end().ends_with('\\') {
            break;
        }
    }
    (start, end)
}

fn makefile_crates(block: &str) -> Vec<String> {
    block
        .trim_start_matches("CARGO_CRATES=")
        .split_whitespace()
        .filter(|w| *w != "\\")
        .map(String::from)
        .collect()
}

#[test]
fn cargo_crates_match_cargo_lock_exactly() {
    let lock = read(&workspace().join("Cargo.lock"));
    let crates = lock_crates(&lock).unwrap_or_else(|e| panic!("{e}"));
    assert!(crates.len() > 10, "{crates:?}");
    let makefile_path = port_dir().join("Makefile");
    let makefile = read(&makefile_path);
    let (start, end) = cargo_crates_span(&makefile);
    let expected = render_cargo_crates(&crates);
    if makefile[start..end] == expected {
        return;
    }
    if std::env::var_os("THINJAIL_BLESS").is_some() {
        let updated = format!("{}{expected}{}", &makefile[..start], &makefile[end..]);
        std::fs::write(&makefile_path, updated).unwrap();
        eprintln!(
            "rewrote CARGO_CRATES in {} ({} crates)",
            makefile_path.display(),
            crates.len()
        );
        return;
    }
    let listed = makefile_crates(&makefile[start..end]);
    let in_lock: BTreeSet<&String> = crates.iter().collect();
    let in_makefile: BTreeSet<&String> = listed.iter().collect();
    let missing: Vec<_> = in_lock.difference(&in_makefile).collect();
    let extra: Vec<_> = in_makefile.difference(&in_lock).collect();
    panic!(
        "CARGO_CRATES in {} does not match Cargo.lock\n  missing: {missing:?}\n  not in Cargo.lock: {extra:?}\n{}\n{BLESS_HINT}",
        makefile_path.display(),
        if missing.is_empty() && extra.is_empty() {
            "  (same crates, different order or layout)"
        } else {
            ""
        }
    );
}

#[test]
fn the_crate_list_generator_reads_a_lock_file() {
    let lock = r#"
version = 4

[[package]]
name = "anyhow"
version = "1.0.100"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "00"

[[package]]
name = "thinjail-cli"
version = "0.1.0"
dependencies = [
 "anyhow",
]

[[package]]
name = "zmij"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;
    let crates = lock_crates(lock).unwrap();
    assert_eq!(crates, ["anyhow-1.0.100", "zmij-1.0.0"]);
    assert_eq!(
        render_cargo_crates(&crates),
        "CARGO_CRATES=\tanyhow-1.0.100 \\\n\t\tzmij-1.0.0\n"
    );
    let git = "[[package]]\nname = \"x\"\nversion = \"1.0.0\"\nsource = \"git+https://example.org/x#abc\"\n";
    assert!(lock_crates(git).unwrap_err().contains("by hand"));
}

/// The `post-install:` recipe lines of the Makefile, continuations joined.
fn post_install(makefile: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_target = false;
    let mut current = String::new();
    for line in makefile.lines() {
        if line.starts_with("post-install:") {
            in_target = true;
            continue;
        }
        if !in_target {
            continue;
        }
        if !line.starts_with('\t') && current.is_empty() {
            break;
        }
        let part = line.trim();
        match part.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head.trim_end());
                current.push(' ');
            }
            None => {
                current.push_str(part);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    lines
}

/// Every file and empty directory under `root`, relative to it.
fn staged(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    let mut empty = true;
    for entry in std::fs::read_dir(dir).unwrap() {
        empty = false;
        let path = entry.unwrap().path();
        if path.is_dir() {
            staged(root, &path, out);
        } else {
            out.insert(path.strip_prefix(root).unwrap().display().to_string());
        }
    }
    if empty && dir != root {
        out.insert(format!(
            "@dir {}",
            dir.strip_prefix(root).unwrap().display()
        ));
    }
}

#[test]
fn post_install_stages_exactly_what_pkg_plist_lists() {
    let makefile = read(&port_dir().join("Makefile"));
    let scratch = tempfile::tempdir().unwrap();
    let stagedir = scratch.path().join("stage");
    let wrkdir = scratch.path().join("work");
    std::fs::create_dir_all(&wrkdir).unwrap();
    let prefix = "/usr/local";
    let staged_prefix = stagedir.join(prefix.trim_start_matches('/'));

    // do-install (USES=cargo): `cargo install --path cli` puts the binary in bin/.
    std::fs::create_dir_all(staged_prefix.join("bin")).unwrap();
    std::fs::write(staged_prefix.join("bin/thinjail"), "").unwrap();

    let commands = post_install(&makefile);
    assert!(commands.len() >= 4, "{commands:?}");
    for line in commands {
        let line = line
            .replace("${STAGEDIR}", &stagedir.display().to_string())
            .replace("${PREFIX}", prefix)
            .replace("${WRKDIR}", &wrkdir.display().to_string());
        let words: Vec<&str> = line.split_whitespace().collect();
        let thinjail = format!("{}/bin/thinjail", staged_prefix.display());
        match words.as_slice() {
            [program, args @ ..] if *program == thinjail => {
                // The staged binary is the thinjail command; run the same code in-process.
                let argv = std::iter::once("thinjail").chain(args.iter().copied());
                let code = thinjail_cli::run(&Environment::freebsd(), argv);
                assert_eq!(code, 0, "{line}");
            }
            ["${MKDIR}", dirs @ ..] => {
                for dir in dirs {
                    std::fs::create_dir_all(dir).unwrap();
                }
            }
            ["${INSTALL_DATA}", from, to] => {
                std::fs::copy(from, to).unwrap_or_else(|e| panic!("{line}: {e}"));
            }
            _ => panic!("post-install runs something this test does not know: {line}"),
        }
    }

    let mut files = BTreeSet::new();
    staged(&staged_prefix, &staged_prefix, &mut files);
    // The ports framework compresses manual pages while staging.
    let files: BTreeSet<String> = files
        .into_iter()
        .map(|f| {
            if f.starts_with("share/man/") {
                format!("{f}.gz")
            } else {
                f
            }
        })
        .collect();
    let plist: BTreeSet<String> = read(&port_dir().join("pkg-plist"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        // `@sample F.sample` installs F.sample (and copies it to F if absent).
        .map(|l| l.strip_prefix("@sample ").unwrap_or(l).to_string())
        .collect();
    assert_eq!(
        files, plist,
        "what post-install stages (left) differs from pkg-plist (right)"
    );

    // The sample is the recipe thinjail reads by default, once copied into place.
    let sample = staged_prefix.join("etc/thinjail.ron.sample");
    assert_eq!(
        Path::new(prefix).join("etc/thinjail.ron"),
        Path::new(thinjail_cli::recipes::SYSTEM_RECIPE)
    );
    thinjail_core::Recipe::from_ron(&read(&sample), "thinjail.ron.sample")
        .unwrap_or_else(|e| panic!("{e}"));

    // The plugin directory is the one thinjail looks in by default.
    let plugin_dir = HostConfig::default().plugin_dir;
    let relative = plugin_dir
        .strip_prefix(prefix)
        .unwrap()
        .display()
        .to_string();
    assert!(plist.contains(&format!("@dir {relative}")), "{plist:?}");
}

#[test]
fn the_port_builds_the_workspaces_version_of_thinjail() {
    let makefile = read(&port_dir().join("Makefile"));
    let assignment = |name: &str| -> String {
        makefile
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in the Makefile"))
            .trim()
            .to_string()
    };
    let manifest = read(&workspace().join("Cargo.toml"));
    let version = manifest
        .lines()
        .skip_while(|l| l.trim() != "[workspace.package]")
        .find_map(|l| l.strip_prefix("version = "))
        .unwrap()
        .trim_matches('"');
    assert_eq!(assignment("DISTVERSION"), version);
    assert_eq!(assignment("USES"), "cargo");
    let install_path = assignment("CARGO_INSTALL_PATH");
    let crate_manifest = read(&workspace().join(&install_path).join("Cargo.toml"));
    assert!(
        crate_manifest.contains("[[bin]]\nname = \"thinjail\""),
        "{install_path}/Cargo.toml does not build the thinjail binary"
    );
    let descr = read(&port_dir().join("pkg-descr"));
    assert!(
        descr.lines().all(|l| l.len() <= 80),
        "pkg-descr lines <= 80"
    );
    let comment = assignment("COMMENT");
    assert!(comment.len() <= 70 && !comment.ends_with('.'), "{comment}");
}
