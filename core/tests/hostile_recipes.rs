//! Bad input: hostile values are refused before planning with the field named, and a
//! property-based fuzz run over the recipe parser and validator finds no panic.
//!
//! The fuzz run is short by default (CI); a long one:
//! `PROPTEST_CASES=200000 cargo test --release -p thinjail-core --test hostile_recipes`.

use proptest::prelude::*;
use thinjail_core::validate::{
    check_absolute_path, check_jail_name, check_relative_path, check_release_name,
};
use thinjail_core::Recipe;

const HOSTILE: [&str; 14] = [
    "a/b",
    "a.b",
    ".",
    "..",
    "two words",
    "it's",
    "say \"hi\"",
    "$(reboot)",
    "`reboot`",
    "line\nbreak",
    "tab\there",
    "caf\u{e9}",
    "\u{202e}evil",
    "",
];

fn recipe(release: &str, jail: &str, ip4: &str, specific: &str) -> String {
    format!(
        "(releases: [(name: {release:?})], template: (jail_specific: [{specific:?}]), \
         jails: [(name: {jail:?}, release: {release:?}, ip4: [{ip4:?}])])"
    )
}

fn refused_naming(text: &str, field: &str) {
    match Recipe::from_ron(text, "hostile") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(errors) => {
            let message = errors.to_string();
            assert!(
                message.contains(field),
                "{field} not named for:\n{text}\n{message}"
            );
        }
    }
}

#[test]
fn hostile_values_are_refused_with_their_field() {
    let long = "x".repeat(300);
    let mut names: Vec<&str> = HOSTILE.to_vec();
    names.push(&long);
    for value in &names {
        refused_naming(
            &recipe("13.1-RELEASE", value, "10.0.0.1", "etc"),
            "jails[0].name",
        );
        refused_naming(&recipe(value, "j", "10.0.0.1", "etc"), "releases[0].name");
        refused_naming(
            &recipe("13.1-RELEASE", "j", value, "etc"),
            "jails[0].ip4[0]",
        );
    }
    for path in [
        "/etc",
        "/usr/local/jails/../etc",
        "../etc",
        "etc/../../x",
        "",
        "skeleton",
        "etc\nx",
    ] {
        refused_naming(
            &recipe("13.1-RELEASE", "j", "10.0.0.1", path),
            "template.jail_specific[0]",
        );
    }
    for ip in [
        "10.0.0.256",
        "10.0.0",
        "10.0.0.1/33",
        "::1",
        "localhost",
        "10.0.0.1 ",
        "1e1.0.0.1",
    ] {
        refused_naming(&recipe("13.1-RELEASE", "j", ip, "etc"), "jails[0].ip4[0]");
    }
    for dir in [
        "relative/jails",
        "/usr/local/jails/..",
        "/",
        "/a//b",
        "/a/\n",
    ] {
        let text = format!("(host: (jails_dir: {dir:?}), releases: [(name: \"13.1-RELEASE\")])");
        refused_naming(&text, "host.jails_dir");
    }
}

/// A recipe with a string in every place a recipe has one, each named by the field
/// its error must name (a map key's field is its map's, with the key after it).
const EVERY_STRING: [(&str, &str); 32] = [
    ("host.jails_dataset", "zroot/jails"),
    ("host.jails_dir", "/usr/local/jails"),
    ("host.jail_conf", "/etc/jail.conf"),
    ("host.rc_conf", "/etc/rc.conf"),
    ("host.interface", "em0"),
    ("host.cache_dir", "/var/cache/thinjail"),
    ("host.lock_file", "/var/run/thinjail.lock"),
    ("host.plugin_dir", "/usr/local/lib/thinjail/plugins"),
    ("releases[0].name", "14.3-RELEASE"),
    ("releases[0].arch", "amd64"),
    (
        "releases[0].install.mirror",
        "https://download.freebsd.org/releases",
    ),
    ("releases[0].install.sets[0]", "base.txz"),
    (
        "releases[0].install.manifest_sha256",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ),
    ("releases[0].etcupdate", "/var/db/etcupdate-14.3.tbz"),
    ("releases[1].install.path", "/var/tmp/base.txz"),
    ("releases[1].install.manifest", "/var/tmp/MANIFEST"),
    (
        "releases[2].install.mirror",
        "https://download.freebsd.org/releases",
    ),
    ("releases[2].install.sets[0]", "base.txz"),
    ("template.jail_specific[0]", "etc"),
    ("template.rc_conf[", "default_router"),
    ("template.rc_conf[", "192.168.1.1"),
    ("jail_params[", "allow.raw_sockets"),
    ("jail_params[", "1"),
    ("jails[0].name", "www"),
    ("jails[0].release", "14.3-RELEASE"),
    ("jails[0].ip4[0]", "192.168.1.71"),
    ("jails[0].ip6[0]", "fd00::71"),
    ("jails[0].params[", "host.hostname"),
    ("jails[0].params[", "www.example.org"),
    ("stages[0].name", "pkg"),
    (
        "stages[0].plugin",
        "/usr/local/lib/thinjail/plugins/libpkg.so",
    ),
    ("stages[0].config", "nginx"),
];

/// [`EVERY_STRING`]'s recipe with `values` in its places, each written as a RON string.
fn every_string_recipe(values: &[String]) -> String {
    let v: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!(
        "(host: (jails_dataset: {}, jails_dir: {}, jail_conf: {}, rc_conf: {}, interface: {}, \
                 cache_dir: {}, lock_file: {}, plugin_dir: {}),
          releases: [
            (name: {}, arch: {}, install: Fetch(mirror: {}, sets: [{}], manifest_sha256: {}), etcupdate: {}),
            (name: \"14.2-RELEASE\", install: Archive(path: {}, manifest: {})),
            (name: \"14.1-RELEASE\", install: Bsdinstall(mirror: {}, sets: [{}])),
          ],
          template: (jail_specific: [{}], rc_conf: {{{}: {}}}),
          jail_params: {{{}: {}}},
          jails: [(name: {}, release: {}, ip4: [{}], ip6: [{}], params: {{{}: [{}]}})],
          stages: [(name: {}, plugin: {}, config: (packages: [{}]))])",
        v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13],
        v[14], v[15], v[16], v[17], v[18], v[19], v[20], v[21], v[22], v[23], v[24], v[25], v[26],
        v[27], v[28], v[29], v[30], v[31]
    )
}

fn clean_values() -> Vec<String> {
    EVERY_STRING.iter().map(|(_, v)| v.to_string()).collect()
}

#[test]
fn the_recipe_with_every_string_is_valid_when_clean() {
    let text = every_string_recipe(&clean_values());
    if let Err(e) = Recipe::from_ron(&text, "clean") {
        panic!("{e}\n{text}");
    }
}

/// C0 and C1 controls (with tab, newline, CR, ESC, NUL, DEL), bidirectional
/// overrides, isolates and marks, and the Unicode line separators.
fn unsafe_char() -> impl Strategy<Value = char> {
    prop_oneof![
        (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('\0')),
        (0x7fu32..0xa0).prop_map(|c| char::from_u32(c).unwrap_or('\0')),
        proptest::sample::select(vec![
            '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}', '\u{2028}', '\u{2029}',
        ]),
    ]
}

/// `(host: (HOST), releases: [RELEASES], jails: [JAILS])`, with a default release
/// and jail when none is given.
fn with(host: &str, releases: &str, jails: &str) -> String {
    let releases = if releases.is_empty() {
        r#"(name: "14.3-RELEASE")"#
    } else {
        releases
    };
    let jails = if jails.is_empty() {
        r#"(name: "j", release: "14.3-RELEASE", ip4: ["10.0.0.1"])"#
    } else {
        jails
    };
    format!("(host: ({host}), releases: [{releases}], jails: [{jails}])")
}

#[test]
fn jails_dir_must_be_readable_by_jail_8_and_not_a_system_directory() {
    for dir in [
        "/my jails",
        "/jails\tx",
        "/jails#1",
        "/jails\\040x",
        "/jails'x",
        "/jails\"x",
        "/jails$x",
        "/jails`x`",
        "/jails;reboot",
        "/jails&x",
        "/jails|x",
        "/jails(x)",
        "/jails*",
        "/jails?",
        "/jails[1]",
        "/jails~",
        "/jails<x",
        "/",
        "/usr",
        "/var",
        "/etc",
        "/boot",
        "/bin",
        "/usr/local",
        "/usr/lib/jails",
    ] {
        refused_naming(
            &with(&format!("jails_dir: {dir:?}"), "", ""),
            "host.jails_dir",
        );
    }
    for dataset in ["zroot/my jails", "zroot/jails#1", "zroot/$x", "zroot/a'b"] {
        refused_naming(
            &with(&format!("jails_dataset: {dataset:?}"), "", ""),
            "host.jails_dataset",
        );
    }
}

#[test]
fn host_files_are_distinct_outside_jails_dir_and_not_system_files() {
    let inside = [
        ("lock_file", "/usr/local/jails/thinjail.lock"),
        ("cache_dir", "/usr/local/jails/cache"),
        ("plugin_dir", "/usr/local/jails/plugins"),
        ("jail_conf", "/usr/local/jails/jail.conf"),
        ("rc_conf", "/usr/local/jails/j/data/etc/rc.conf"),
    ];
    for (field, path) in inside {
        refused_naming(
            &with(&format!("{field}: {path:?}"), "", ""),
            &format!("host.{field}"),
        );
    }
    for (field, path) in [
        ("jail_conf", "/etc/passwd"),
        ("rc_conf", "/etc/master.passwd"),
        ("lock_file", "/etc/spwd.db"),
        ("jail_conf", "/etc/group"),
        ("rc_conf", "/boot/loader.conf"),
        ("jail_conf", "/etc/fstab"),
        ("rc_conf", "/etc/sysctl.conf"),
        ("jail_conf", "/etc/crontab"),
        ("rc_conf", "/etc/login.conf"),
        ("lock_file", "/etc/rc.conf.lock"),
        ("lock_file", "/usr/local/etc/thinjail.lock"),
        ("jail_conf", "/etc/rc.d/thinjail"),
        ("cache_dir", "/var"),
        ("cache_dir", "/usr/local"),
        ("cache_dir", "/boot/cache"),
    ] {
        refused_naming(
            &with(&format!("{field}: {path:?}"), "", ""),
            &format!("host.{field}"),
        );
    }
    refused_naming(
        &with(r#"lock_file: "/etc/jail.conf""#, "", ""),
        "host.lock_file",
    );
    refused_naming(
        &with(r#"rc_conf: "/etc/jail.conf""#, "", ""),
        "host.rc_conf",
    );
    let jails_dir = "/usr/local/jails";
    for release in [
        format!(
            r#"(name: "14.3-RELEASE", install: Archive(path: "{jails_dir}/j/data/tmp/base.txz"))"#
        ),
        format!(
            r#"(name: "14.3-RELEASE", install: Archive(path: "/var/tmp/base.txz", manifest: "{jails_dir}/j/data/MANIFEST"))"#
        ),
        format!(r#"(name: "14.3-RELEASE", etcupdate: "{jails_dir}/j/data/etc.tbz")"#),
    ] {
        refused_naming(&with("", &release, ""), "releases[0]");
    }
    let text = format!(
        r#"(releases: [(name: "14.3-RELEASE")], stages: [(name: "x", plugin: "{jails_dir}/j/data/lib.so")])"#
    );
    refused_naming(&text, "stages[0].plugin");
    // thinjail's own jail files are named after jails in jail_conf_dir; the system
    // whose boot configuration it edits holds its files.
    refused_naming(
        &with(r#"jail_conf: "/etc/jail.conf.d/j.conf""#, "", ""),
        "host.jail_conf",
    );
    refused_naming(&with(r#"system_root: "/mnt/sys""#, "", ""), "host.rc_conf");
    refused_naming(
        &with(r#"jail_conf_dir: "/usr/local/jails/conf""#, "", ""),
        "host.jail_conf_dir",
    );
    // The defaults, and the usual alternatives, are fine.
    let fine = with(
        r#"jail_conf: "/etc/jails.conf", jail_conf_dir: "/usr/local/etc/jail.conf.d", rc_conf: "/etc/rc.conf.local", lock_file: "/var/run/thinjail.lock""#,
        "",
        "",
    );
    Recipe::from_ron(&fine, "fine").unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn mirrors_must_authenticate_what_they_serve() {
    let pin = "a".repeat(64);
    for install in [
        r#"Fetch(mirror: "http://mirror.example.org/releases")"#.to_string(),
        r#"Fetch(mirror: "ftp://ftp.freebsd.org/pub/FreeBSD/releases")"#.to_string(),
        r#"Bsdinstall(mirror: "http://ftp-archive.freebsd.org/pub/FreeBSD-Archive/old-releases")"#
            .to_string(),
    ] {
        let text = with(
            "",
            &format!(r#"(name: "14.3-RELEASE", install: {install})"#),
            "",
        );
        refused_naming(&text, "releases[0].install.mirror");
    }
    for install in [
        r#"Fetch(mirror: "https://mirror.example.org/releases")"#.to_string(),
        r#"Fetch(mirror: "file:///srv/mirror")"#.to_string(),
        r#"Fetch(mirror: "http://mirror.example.org/releases", insecure: true)"#.to_string(),
        format!(r#"Fetch(mirror: "http://mirror.example.org/releases", manifest_sha256: "{pin}")"#),
        r#"Bsdinstall(mirror: "http://mirror.example.org/releases", insecure: true)"#.to_string(),
        format!(
            r#"Bsdinstall(mirror: "http://mirror.example.org/releases", manifest_sha256: "{pin}")"#
        ),
        r#"Bsdinstall()"#.to_string(),
        r#"Fetch()"#.to_string(),
    ] {
        let text = with(
            "",
            &format!(r#"(name: "14.3-RELEASE", install: {install})"#),
            "",
        );
        Recipe::from_ron(&text, "fine").unwrap_or_else(|e| panic!("{install}: {e}"));
    }
    // A pin must be a SHA-256, for Bsdinstall (which downloads and verifies as Fetch
    // does before bsdinstall runs) as for Fetch.
    for form in ["Fetch", "Bsdinstall"] {
        let text = with(
            "",
            &format!(r#"(name: "14.3-RELEASE", install: {form}(manifest_sha256: "abc"))"#),
            "",
        );
        refused_naming(&text, "releases[0].install.manifest_sha256");
    }
}

#[test]
fn releases_must_be_on_the_release_mirrors() {
    for (name, arch) in [
        ("15.0-CURRENT", "amd64"),
        ("14.3-STABLE", "amd64"),
        ("14.0-PRERELEASE", "amd64"),
        ("15.0-ALPHA1", "amd64"),
        ("14.3-RELEASE-p4", "amd64"),
        ("15.0-RELEASE", "i386"),
        ("15.1-RC1", "i386"),
    ] {
        let release = format!(r#"(name: "{name}", arch: "{arch}")"#);
        let jail = format!(r#"(name: "j", release: "{name}")"#);
        refused_naming(&with("", &release, &jail), "releases[0].name");
    }
    for arch in ["armv6", "powerpc", "sparc64", "x86_64"] {
        let release = format!(r#"(name: "14.3-RELEASE", arch: "{arch}")"#);
        refused_naming(&with("", &release, ""), "releases[0].arch");
    }
    for (name, arch) in [
        ("14.3-RELEASE", "i386"),
        ("15.0-BETA2", "amd64"),
        ("15.0-RC1", "arm64"),
    ] {
        let release = format!(r#"(name: "{name}", arch: "{arch}")"#);
        let jail = format!(r#"(name: "j", release: "{name}")"#);
        Recipe::from_ron(&with("", &release, &jail), "fine")
            .unwrap_or_else(|e| panic!("{name} {arch}: {e}"));
    }
}

#[test]
fn addresses_are_the_jails_own() {
    for (host, jails, field) in [
        (
            "",
            r#"(name: "j", release: "14.3-RELEASE", ip4: ["0.0.0.0"])"#,
            "jails[0].ip4[0]",
        ),
        (
            "",
            r#"(name: "j", release: "14.3-RELEASE", ip6: ["::"])"#,
            "jails[0].ip6[0]",
        ),
        (
            "",
            r#"(name: "j", release: "14.3-RELEASE", ip4: ["10.0.0.1/0"])"#,
            "jails[0].ip4[0]",
        ),
        (
            "",
            r#"(name: "j", release: "14.3-RELEASE", ip6: ["fd00::1/0"])"#,
            "jails[0].ip6[0]",
        ),
        (
            r#"interface: "em0""#,
            r#"(name: "j", release: "14.3-RELEASE", ip4: ["127.0.0.2"])"#,
            "jails[0].ip4[0]",
        ),
        (
            r#"interface: "vtnet0""#,
            r#"(name: "j", release: "14.3-RELEASE", ip6: ["::1"])"#,
            "jails[0].ip6[0]",
        ),
        (
            "",
            r#"(name: "a", release: "14.3-RELEASE", ip4: ["10.0.0.1/24"]), (name: "b", release: "14.3-RELEASE", ip4: ["10.0.0.1"])"#,
            "jails[1].ip4[0]",
        ),
        (
            "",
            r#"(name: "a", release: "14.3-RELEASE", ip6: ["fd00::1"]), (name: "b", release: "14.3-RELEASE", ip6: ["fd00:0:0::1/64"])"#,
            "jails[1].ip6[0]",
        ),
    ] {
        refused_naming(&with(host, "", jails), field);
    }
    // Loopback addresses belong on a loopback interface, or on none.
    for host in [r#"interface: "lo1""#, ""] {
        let text = with(
            host,
            "",
            r#"(name: "j", release: "14.3-RELEASE", ip4: ["127.0.1.1"], ip6: ["::1"])"#,
        );
        Recipe::from_ron(&text, "fine").unwrap_or_else(|e| panic!("{host}: {e}"));
    }
}

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(HOSTILE.to_vec()).prop_map(String::from),
        "\\PC{0,40}",
        "[a-z0-9._/-]{0,20}",
        ".{0,300}",
    ]
}

proptest! {
    // 256 cases unless PROPTEST_CASES says otherwise.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn a_control_character_anywhere_in_any_string_is_refused_with_its_field(
        slot in 0..EVERY_STRING.len(),
        c in unsafe_char(),
        at in 0usize..100,
    ) {
        let mut values = clean_values();
        let value = &mut values[slot];
        let at = value.char_indices().map(|(i, _)| i).chain([value.len()]).nth(at % (value.chars().count() + 1)).unwrap_or(0);
        value.insert(at, c);
        let text = every_string_recipe(&values);
        let (field, _) = EVERY_STRING[slot];
        let code = format!("U+{:04X}", u32::from(c));
        match Recipe::from_ron(&text, "fuzz") {
            Ok(_) => prop_assert!(false, "{c:?} in {field} accepted:\n{text}"),
            Err(errors) => {
                let message = errors.to_string();
                prop_assert!(
                    message.lines().any(|l| l.contains(field) && l.contains(&code)),
                    "{c:?} in {field} not refused by name:\n{message}"
                );
                prop_assert!(!message.chars().any(|c| c != '\n' && thinjail_core::validate::is_terminal_unsafe(c)),
                    "the report itself carries a control character: {message:?}");
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = Recipe::from_ron(&text, "fuzz");
    }

    #[test]
    fn mutated_recipes_never_panic_and_accepted_ones_are_sound(
        release in hostile_string(),
        jail in hostile_string(),
        ip4 in hostile_string(),
        specific in hostile_string(),
    ) {
        if let Ok(recipe) = Recipe::from_ron(&recipe(&release, &jail, &ip4, &specific), "fuzz") {
            prop_assert!(check_jail_name(&recipe.jails[0].name).is_ok());
            prop_assert!(check_release_name(&recipe.releases[0].name).is_ok());
            prop_assert!(check_relative_path(&recipe.template.jail_specific[0]).is_ok());
            prop_assert!(check_absolute_path(&recipe.host.jails_dir).is_ok());
            prop_assert!(recipe.jails[0].ip4[0].parse::<std::net::Ipv4Addr>().is_ok() || recipe.jails[0].ip4[0].contains('/'));
        }
    }

    #[test]
    fn recipes_with_random_structure_never_panic(
        words in proptest::collection::vec(prop_oneof![
            Just("(".to_string()), Just(")".to_string()), Just("[".to_string()), Just("]".to_string()),
            Just(",".to_string()), Just(":".to_string()), Just("releases".to_string()), Just("jails".to_string()),
            Just("name".to_string()), Just("\"13.1-RELEASE\"".to_string()), Just("Some".to_string()),
            Just("stages".to_string()), Just("config".to_string()), Just("{".to_string()), Just("}".to_string()),
            hostile_string().prop_map(|s| format!("{s:?}")),
        ], 0..60)
    ) {
        let _ = Recipe::from_ron(&words.join(" "), "fuzz");
    }
}
