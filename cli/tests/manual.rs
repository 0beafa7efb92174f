//! `thinjail man` and `thinjail completions` through the real binary: the pages lint
//! clean with mandoc(1), describe every subcommand, exit status and recipe field, the
//! recipe page's examples are valid recipes, and the completion scripts parse and
//! complete in their shells.
//!
//! mandoc, bash, zsh and fish must be installed (`scripts/test` installs them); a
//! missing one fails these tests, it never skips them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use thinjail_cli::manual;
use thinjail_core::recipe::{Install, Jail, Mount, Recipe, Release, StageEntry, TemplateFile};

fn thinjail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thinjail"))
        .args(args)
        .output()
        .expect("the thinjail binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `program args`, failing the test with how to install it when it is missing.
fn tool(program: &str, package: &str, args: &[&str]) -> Output {
    match Command::new(program).args(args).output() {
        Ok(output) => output,
        Err(e) => panic!(
            "cannot run {program} ({e}): install the Debian package `{package}` \
             (scripts/test does it)"
        ),
    }
}

/// `mandoc -T lint -W style` on `page`: every message is a failure except
/// "referenced manual not found", which only says that FreeBSD's own pages
/// (jail(8), jail.conf(5), ...) are not installed on this Linux machine.
fn lint(page: &Path) {
    let output = tool(
        "mandoc",
        "mandoc",
        &["-T", "lint", "-W", "style", page.to_str().unwrap()],
    );
    let stderr = text(&output.stderr);
    let stdout = text(&output.stdout);
    let problems: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| !l.contains("STYLE: referenced manual not found"))
        // About the system's own manual database, not about our page.
        .filter(|l| !l.contains("outdated mandoc.db"))
        .collect();
    assert!(
        problems.is_empty(),
        "mandoc -T lint {}:\n{}",
        page.display(),
        problems.join("\n")
    );
    assert!(
        output.status.code().is_some_and(|c| c <= 1),
        "mandoc exited {:?}: {stderr}",
        output.status
    );
}

/// mandoc's terminal output without its overstrikes (`X\bX` bold, `_\bX` underline).
fn plain(rendered: &str) -> String {
    let mut out: Vec<char> = Vec::new();
    for c in rendered.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out.into_iter().collect()
}

fn written(output: &Output) -> Vec<PathBuf> {
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    text(&output.stdout).lines().map(PathBuf::from).collect()
}

#[test]
fn man_writes_both_pages_and_they_lint_clean() {
    let dir = tempfile::tempdir().unwrap();
    let files = written(&thinjail(&["man", dir.path().to_str().unwrap()]));
    let eight = dir.path().join("man8/thinjail.8");
    let five = dir.path().join("man5/thinjail.recipe.5");
    assert_eq!(files, vec![eight.clone(), five.clone()]);
    for page in [&eight, &five] {
        lint(page);
    }
    // Rendered, the pages are what a reader gets from man(1).
    let rendered = tool(
        "mandoc",
        "mandoc",
        &["-T", "ascii", eight.to_str().unwrap()],
    );
    let rendered = plain(&text(&rendered.stdout));
    assert!(rendered.contains("THINJAIL(8)"), "{rendered}");
    assert!(rendered.contains("EXIT STATUS"), "{rendered}");
    let five_text = std::fs::read_to_string(&five).unwrap();
    assert_eq!(five_text, manual::RECIPE_PAGE);
}

#[test]
fn man_without_a_directory_prints_thinjail_8() {
    let output = thinjail(&["man"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), manual::thinjail_8().unwrap());
}

#[test]
fn thinjail_8_documents_every_command_option_and_exit_status() {
    let page = manual::thinjail_8().unwrap();
    let cmd = manual::command();
    let mut count = 0;
    for sub in manual::subcommands(&cmd) {
        count += 1;
        assert!(
            page.contains(&format!(".SS {}\n", sub.get_name())),
            "no section for {}",
            sub.get_name()
        );
        for arg in sub.get_arguments().filter(|a| !a.is_global_set()) {
            if let Some(long) = arg.get_long().filter(|l| *l != "help") {
                let escaped = format!("\\fB\\-\\-{}\\fR", long.replace('-', "\\-"));
                assert!(
                    page.contains(&escaped),
                    "thinjail {} --{long} is not documented",
                    sub.get_name()
                );
            }
        }
    }
    assert!(count >= 8, "only {count} subcommands documented");
    for (code, meaning) in thinjail_cli::exit::TABLE {
        assert!(
            page.contains(&format!(".TP\n\\fB{code}\\fR\n")),
            "exit status {code} ({meaning}) is not documented"
        );
    }
    // The files of the FreeBSD defaults.
    for file in ["/etc/jail.conf", "/usr/local/lib/thinjail/plugins"] {
        assert!(page.contains(file), "{file}");
    }
    assert!(page.contains("thinjail.recipe(5)"));
}

/// A recipe that uses every field, so its JSON form names all of them.
fn full_recipe() -> Recipe {
    let mut recipe = Recipe::from_ron(
        r#"(releases: [(name: "14.3-RELEASE")], jails: [(name: "a", release: "14.3-RELEASE")])"#,
        "test",
    )
    .unwrap();
    let release = recipe.releases[0].clone();
    recipe.releases = vec![
        Release {
            install: Install::Fetch {
                mirror: Some("https://example.org".into()),
                sets: vec!["base.txz".into()],
                insecure: false,
                manifest_sha256: Some("0".repeat(64)),
            },
            ..release.clone()
        },
        Release {
            name: "14.2-RELEASE".into(),
            install: Install::Archive {
                path: "/var/tmp/base.txz".into(),
                manifest: Some("/var/tmp/MANIFEST".into()),
            },
            ..release.clone()
        },
        Release {
            name: "14.1-RELEASE".into(),
            install: Install::Bsdinstall {
                mirror: None,
                sets: vec!["base.txz".into()],
                insecure: true,
                manifest_sha256: Some("1".repeat(64)),
            },
            ..release
        },
    ];
    recipe.host.interface = Some("em0".into());
    recipe.host.start_parallel = std::num::NonZeroU32::new(4);
    recipe.template.files.insert(
        "etc/motd.template".into(),
        TemplateFile::Contents("welcome\n".into()),
    );
    recipe.jails = vec![Jail {
        ip4: vec!["192.0.2.1".into()],
        ip6: vec!["2001:db8::1".into()],
        mounts: vec![
            Mount::Nullfs {
                host: "/srv/www".into(),
                path: "/usr/local/www".into(),
                writable: false,
            },
            Mount::Tmpfs {
                path: "/tmp".into(),
                size: "256m".into(),
            },
            Mount::NullfsFile {
                host: "/srv/app.conf".into(),
                path: "/usr/local/etc/app.conf".into(),
                writable: false,
            },
        ],
        limits: vec!["memoryuse:deny=1g".into()],
        cpuset: Some("0-1".into()),
        depend: vec!["db".into()],
        priority: 10,
        ..recipe.jails[0].clone()
    }];
    recipe.host.network.bridges = vec![thinjail_core::network::Bridge {
        name: "bridge0".into(),
        ip4: vec!["10.0.0.1/24".into()],
        ip6: vec!["fd00::1/64".into()],
        create: true,
        members: vec!["em0".into()],
    }];
    recipe.host.network.pf = thinjail_core::network::Pf {
        nat: vec![thinjail_core::network::Nat {
            from: "10.0.0.0/24".into(),
            interface: "em0".into(),
        }],
        forwards: vec![thinjail_core::network::Forward {
            proto: thinjail_core::network::Proto::Tcp,
            interface: "em0".into(),
            address: Some("192.0.2.10".into()),
            port: 8080,
            jail: "b".into(),
            jail_port: Some(80),
        }],
        anchor_file: "/etc/pf.thinjail.conf".into(),
    };
    recipe.jails.push(Jail {
        name: "b".into(),
        vnet: Some(thinjail_core::network::Vnet {
            bridge: "bridge0".into(),
            ip4: Some(thinjail_core::network::Ip4::Static(vec![
                "10.0.0.2/24".into()
            ])),
            ip6: Some(thinjail_core::network::Ip6::Static(vec![
                "fd00::2/64".into()
            ])),
            gateway4: Some("10.0.0.1".into()),
            gateway6: Some("fd00::1".into()),
            mac: Some("02:00:00:00:00:02".into()),
        }),
        ip4: vec![],
        ip6: vec![],
        ..recipe.jails[0].clone()
    });
    recipe.stages = vec![StageEntry {
        name: "x".into(),
        plugin: Some("/usr/local/lib/thinjail/plugins/x.so".into()),
        config: None,
    }];
    recipe
}

/// Every struct field and enum variant name in `value`, not looking into maps
/// whose keys are the recipe's own data (parameters, rc.conf variables).
fn field_names(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                names.push(key.clone());
                if key == "files" {
                    // Its keys are paths; its values are variants to describe.
                    if let Value::Object(files) = inner {
                        for file in files.values() {
                            field_names(file, names);
                        }
                    }
                } else if !matches!(key.as_str(), "jail_params" | "params" | "rc_conf") {
                    field_names(inner, names);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                field_names(item, names);
            }
        }
        _ => {}
    }
}

#[test]
fn the_recipe_page_describes_every_recipe_field() {
    let recipe = full_recipe();
    let value = serde_json::to_value(&recipe).unwrap();
    let mut names = Vec::new();
    field_names(&value, &mut names);
    names.sort();
    names.dedup();
    for variant in [
        "Fetch",
        "Archive",
        "Bsdinstall",
        "Host",
        "Contents",
        "Nullfs",
        "Tmpfs",
    ] {
        assert!(names.contains(&variant.to_string()), "{names:?}");
    }
    let page = manual::RECIPE_PAGE;
    let missing: Vec<&String> = names
        .iter()
        .filter(|name| {
            !page.contains(&format!(".It Ic {name}\n"))
                && !page.contains(&format!(".It Ic {name} "))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "thinjail.recipe(5) (docs/man/thinjail.recipe.5) does not describe {missing:?}; \
         add an `.It Ic NAME` entry for each"
    );
}

/// The `.Bd -literal` blocks of `page` that hold a recipe, with mdoc escapes undone.
fn literal_recipes(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in page.lines() {
        if line.starts_with(".Bd -literal") {
            current = Some(String::new());
        } else if line == ".Ed" {
            if let Some(block) = current.take() {
                if block.starts_with('(') {
                    out.push(block);
                }
            }
        } else if let Some(block) = current.as_mut() {
            block.push_str(&line.replace("\\e", "\\").replace("\\&", ""));
            block.push('\n');
        }
    }
    out
}

#[test]
fn the_recipe_pages_examples_are_valid_recipes() {
    let examples = literal_recipes(manual::RECIPE_PAGE);
    assert!(examples.len() >= 2, "{examples:?}");
    for (n, example) in examples.iter().enumerate() {
        let recipe = Recipe::from_ron(example, &format!("thinjail.recipe(5) example {}", n + 1))
            .unwrap_or_else(|e| panic!("{e}\n{example}"));
        assert!(!recipe.jails.is_empty());
    }
}

fn completion_dir() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let files = written(&thinjail(&[
        "completions",
        "--dir",
        dir.path().to_str().unwrap(),
    ]));
    (dir, files)
}

#[test]
fn completions_are_written_for_bash_zsh_and_fish_and_name_every_command() {
    let (dir, files) = completion_dir();
    let expected: Vec<PathBuf> = ["thinjail.bash", "_thinjail", "thinjail.fish"]
        .iter()
        .map(|f| dir.path().join(f))
        .collect();
    assert_eq!(files, expected);
    let cmd = manual::command();
    for (file, shell) in files.iter().zip(["bash", "zsh", "fish"]) {
        let script = std::fs::read_to_string(file).unwrap();
        assert!(!script.trim().is_empty(), "{} is empty", file.display());
        for sub in manual::subcommands(&cmd) {
            assert!(
                script.contains(sub.get_name()),
                "{} does not mention {}",
                file.display(),
                sub.get_name()
            );
        }
        // The same script on standard output.
        let printed = thinjail(&["completions", shell]);
        assert_eq!(printed.status.code(), Some(0));
        assert_eq!(text(&printed.stdout), script, "{shell}");
    }
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let (_dir, files) = completion_dir();
    let path = |i: usize| files[i].to_str().unwrap().to_string();
    for (program, args) in [
        ("bash", vec!["-n".to_string(), path(0)]),
        ("zsh", vec!["-n".to_string(), path(1)]),
        ("fish", vec!["--no-execute".to_string(), path(2)]),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = tool(program, program, &args);
        assert!(
            output.status.success(),
            "{program} {args:?}: {}",
            text(&output.stderr)
        );
    }
}

#[test]
fn bash_and_fish_complete_commands_and_values() {
    let (_dir, files) = completion_dir();
    let bash = files[0].to_str().unwrap();
    let script = format!(
        "source '{bash}'
COMP_WORDS=(thinjail pl); COMP_CWORD=1; _thinjail thinjail pl thinjail
echo \"commands: ${{COMPREPLY[*]}}\"
COMP_WORDS=(thinjail plan --format ''); COMP_CWORD=3; _thinjail thinjail '' --format
echo \"formats: ${{COMPREPLY[*]}}\""
    );
    let output = tool("bash", "bash", &["-c", &script]);
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("commands: plan\n"),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("formats: sh text json\n"), "{stdout}");

    let fish = files[2].to_str().unwrap();
    let output = tool(
        "fish",
        "fish",
        &[
            "-c",
            &format!("source '{fish}'; complete -C 'thinjail app'"),
        ],
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("apply\t"),
        "{stdout}{}",
        text(&output.stderr)
    );
}

#[test]
fn completions_need_a_shell_or_a_directory() {
    let output = thinjail(&["completions"]);
    assert_eq!(output.status.code(), Some(64), "{}", text(&output.stderr));
    let output = thinjail(&["completions", "sh"]);
    assert_eq!(output.status.code(), Some(64), "{}", text(&output.stderr));
}
