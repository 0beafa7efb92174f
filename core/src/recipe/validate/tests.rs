use std::path::Path;

use super::strings::check_stage_config;
use super::*;
use crate::recipe::TemplateFile;

#[test]
fn jail_names() {
    assert!(check_jail_name("thinjail0").is_ok());
    assert!(check_jail_name("web-1_a").is_ok());
    for bad in [
        "",
        "a.b",
        "a/b",
        "..",
        "a b",
        "a'b",
        "$(x)",
        "a\nb",
        "123",
        "-x",
        "base",
        "é",
        &"x".repeat(64),
    ] {
        assert!(check_jail_name(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn release_names() {
    for good in [
        "13.1-RELEASE",
        "14.0-RC2",
        "15.0-CURRENT",
        "14.1-BETA",
        "13.2-RELEASE-p4",
        "14-STABLE".replace("14-", "14.0-").as_str(),
    ] {
        assert!(check_release_name(good).is_ok(), "{good} refused");
    }
    for bad in [
        "13.1",
        "RELEASE",
        "13.1-release",
        "13.1-RELEASE/x",
        "../13.1-RELEASE",
        "13.1-RC2-p1",
    ] {
        assert!(check_release_name(bad).is_err(), "{bad} accepted");
    }
}

#[test]
fn datasets_and_paths() {
    assert!(check_dataset_name("zroot/jails").is_ok());
    for bad in [
        "",
        "zroot//jails",
        "zroot/../x",
        "1pool/x",
        "zroot/a b",
        "zroot/a@b",
    ] {
        assert!(check_dataset_name(bad).is_err(), "{bad} accepted");
    }
    assert!(check_absolute_path(Path::new("/usr/local/jails")).is_ok());
    for bad in ["usr/local", "/", "/a/../b", "/a/./b", "/a//b", "/a/\n"] {
        assert!(
            check_absolute_path(Path::new(bad)).is_err(),
            "{bad:?} accepted"
        );
    }
    assert!(check_relative_path("usr/local").is_ok());
    assert!(check_relative_path("/etc").is_err());
    assert!(check_relative_path("../etc").is_err());
}

#[test]
fn derived_params_are_refused_in_every_spelling() {
    for bad in [
        "name",
        "noname",
        "path",
        "nopath",
        "mount.fstab",
        "mount.nofstab",
        "nomount.fstab",
        "jid",
        "nojid",
        "nohost.hostname",
        "host.nohostname",
        "ip4.noaddr",
        "noip6.addr",
        "nointerface",
    ] {
        assert!(check_param_name(bad).is_err(), "{bad} accepted");
    }
    for good in [
        "host.hostname",
        "ip4.addr",
        "interface",
        "allow.noraw_sockets",
        "exec.noclean",
        "mount.nodevfs",
        "paths",
    ] {
        assert!(check_param_name(good).is_ok(), "{good} refused");
    }
}

#[test]
fn params_refuse_empty_lists_and_two_spellings_of_one_parameter() {
    let recipe = |params: &str| {
        format!(
            r#"(releases: [(name: "14.3-RELEASE")], jail_params: {{"allow.raw_sockets": true}},
                jails: [(name: "www", release: "14.3-RELEASE", params: {params})])"#
        )
    };
    let problems = |params: &str| match Recipe::from_ron(&recipe(params), "t") {
        Ok(_) => vec![],
        Err(e) => e.errors,
    };
    let empty = problems(r#"{"exec.poststart": []}"#);
    assert_eq!(empty.len(), 1, "{empty:?}");
    assert_eq!(empty[0].field, r#"jails[0].params["exec.poststart"]"#);
    assert!(
        empty[0].problem.contains("empty list"),
        "{}",
        empty[0].problem
    );
    let twice = problems(r#"{"allow.mount": true, "allow.nomount": true}"#);
    assert_eq!(twice.len(), 1, "{twice:?}");
    assert!(
        twice[0].problem.contains("one parameter"),
        "{}",
        twice[0].problem
    );
    // The jail's own spelling may differ from jail_params': it replaces it.
    assert!(problems(r#"{"allow.noraw_sockets": true}"#).is_empty());
    for derived in ["mount.nofstab", "nopath", "nojid", "nohost.hostname"] {
        let found = problems(&format!(r#"{{"{derived}": "x"}}"#));
        assert_eq!(found.len(), 1, "{derived}: {found:?}");
        assert_eq!(found[0].field, format!(r#"jails[0].params["{derived}"]"#));
    }
}

#[test]
fn addresses() {
    assert!(check_ip4("192.168.1.70").is_ok());
    assert!(check_ip4("192.168.1.70/24").is_ok());
    assert!(check_ip4("192.168.1.70/32").is_ok());
    assert!(
        check_ip4("127.0.0.2").is_ok(),
        "loopback is checked per interface"
    );
    assert!(check_ip4("192.168.1.700").is_err());
    assert!(check_ip4("192.168.1.7/33").is_err());
    assert!(check_ip6("fd00::1/64").is_ok());
    assert!(check_ip6("fd00::1/128").is_ok());
    assert!(check_ip6("fd00::g").is_err());
    for unspecified in ["0.0.0.0", "0.0.0.0/8", "0.0.0.0/32"] {
        assert!(check_ip4(unspecified).is_err(), "{unspecified} accepted");
    }
    for unspecified in ["::", "::/64", "0:0::0"] {
        assert!(check_ip6(unspecified).is_err(), "{unspecified} accepted");
    }
    assert!(check_ip4("10.0.0.1/0").is_err());
    assert!(check_ip6("fd00::1/0").is_err());
    assert!(is_loopback("127.0.0.1") && is_loopback("127.255.0.9/8"));
    assert!(is_loopback("::1") && is_loopback("::1/128"));
    assert!(!is_loopback("10.0.0.1") && !is_loopback("fd00::1"));
}

#[test]
fn installable_releases_are_those_the_release_mirrors_carry() {
    for (good, arch) in [
        ("13.1-RELEASE", "amd64"),
        ("14.3-RELEASE", "i386"),
        ("15.0-BETA3", "arm64"),
        ("15.0-RC1", "riscv64"),
        ("15.1-RELEASE", "armv7"),
        ("16.0-RELEASE", "powerpc64le"),
    ] {
        assert!(
            check_installable_release(good, arch).is_ok(),
            "{good} {arch} refused"
        );
    }
    for (bad, arch, why) in [
        ("15.0-CURRENT", "amd64", "snapshots"),
        ("14.3-STABLE", "amd64", "snapshots"),
        ("14.0-PRERELEASE", "amd64", "snapshots"),
        ("15.0-ALPHA2", "amd64", "snapshots"),
        ("14.1-BETA", "amd64", "snapshots"),
        ("14.1-RC0", "amd64", "snapshots"),
        ("13.2-RELEASE-p4", "amd64", "patch levels"),
        ("15.0-RELEASE", "i386", "retired"),
        ("16.1-RC2", "i386", "retired"),
        ("13.1", "amd64", "expected"),
    ] {
        let problem = check_installable_release(bad, arch).unwrap_err();
        assert!(problem.contains(why), "{bad} {arch}: {problem}");
    }
    // The cli still accepts those names for a base that is already there.
    assert!(check_release_name("15.0-CURRENT").is_ok());
}

#[test]
fn terminal_unsafe_characters() {
    for c in [
        '\0', '\t', '\n', '\r', '\u{1b}', '\u{7f}', '\u{85}', '\u{9b}', '\u{202a}', '\u{202e}',
        '\u{2066}', '\u{2069}', '\u{200f}', '\u{2028}',
    ] {
        assert!(is_terminal_unsafe(c), "{c:?}");
        let text = format!("a{c}b");
        assert!(check_terminal_safe(&text).is_err());
        let escaped = escape_for_terminal(&text);
        assert!(!escaped.chars().any(is_terminal_unsafe), "{escaped:?}");
        assert!(escaped.contains(&format!("\\u{{{:x}}}", u32::from(c))));
    }
    for fine in ["plain", "caf\u{e9}", "\u{65e5}\u{672c}", "a b"] {
        assert!(check_terminal_safe(fine).is_ok(), "{fine:?}");
        assert_eq!(escape_for_terminal(fine), fine);
    }
    // The problem text never carries the character itself.
    let problem = check_terminal_safe("x\u{1b}[8m").unwrap_err();
    assert!(problem.contains("U+001B") && !problem.contains('\u{1b}'));
}

#[test]
fn jail_visible_paths() {
    assert!(check_jail_visible_path(Path::new("/usr/local/jails")).is_ok());
    assert!(check_jail_visible_path(Path::new("/srv/jails-2_a.b+c@d%e=f:g,h")).is_ok());
    for bad in [
        "/my jails",
        "/a\tb",
        "/a#b",
        "/a\\040b",
        "/a'b",
        "/a\"b",
        "/a$b",
        "/a`b`",
        "/a;b",
        "/a&b",
        "/a|b",
        "/a(b",
        "/a*b",
        "/a?b",
        "/a[b",
        "/a~b",
        "/a<b",
        "/a!b",
        "/j\u{e4}ils",
    ] {
        assert!(
            check_jail_visible_path(Path::new(bad)).is_err(),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn system_directories_and_files() {
    for good in [
        "/usr/local/jails",
        "/var/jails",
        "/jails",
        "/usr/local/jails/x",
    ] {
        assert!(check_host_dir(Path::new(good)).is_ok(), "{good} refused");
    }
    for bad in [
        "/",
        "/usr",
        "/var",
        "/etc",
        "/boot",
        "/usr/local",
        "/usr/bin/x",
        "/boot/jails",
    ] {
        assert!(check_host_dir(Path::new(bad)).is_err(), "{bad} accepted");
    }
    for good in [
        "/etc/jail.conf",
        "/etc/rc.conf",
        "/etc/rc.conf.local",
        "/etc/jail.conf.d/a.conf",
        "/var/run/thinjail.lock",
    ] {
        assert!(check_host_file(Path::new(good)).is_ok(), "{good} refused");
    }
    for bad in [
        "/etc/passwd",
        "/etc/master.passwd",
        "/etc/group",
        "/etc/pwd.db",
        "/etc/fstab",
        "/etc/crontab",
        "/boot/loader.conf",
        "/etc/rc.d/thinjail",
        "/etc/pam.d/sshd",
        "/bin/sh",
    ] {
        assert!(check_host_file(Path::new(bad)).is_err(), "{bad} accepted");
    }
}

#[test]
fn mirrors_and_pins() {
    assert!(is_authenticated_url(
        "https://download.freebsd.org/releases"
    ));
    assert!(is_authenticated_url("file:///srv/mirror"));
    assert!(!is_authenticated_url("http://ftp-archive.freebsd.org/x"));
    assert!(!is_authenticated_url("ftp://ftp.freebsd.org/x"));
    assert!(check_sha256(&"a".repeat(64)).is_ok());
    assert!(check_sha256(&"A0".repeat(32)).is_ok());
    for bad in ["", "abc", &"g".repeat(64), &"a".repeat(63), &"a".repeat(65)] {
        assert!(check_sha256(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn stage_configs_may_be_laid_out_but_hold_no_control_characters() {
    let mut c = Collector(Vec::new());
    check_stage_config(&mut c, "stages[0].config", "(\n\tpackages: [\"a\"],\r\n)");
    check_stage_config(&mut c, "stages[0].config", "Named(x: {\"k\": Some(\"v\")})");
    assert!(c.0.is_empty(), "{:?}", c.0);
    for bad in [
        "(a: \"\\u{1b}[8m\")",
        "(a: [\"ok\", \"tab\\there\"])",
        "(m: {\"\\u{202e}k\": 1})",
        "(a: '\\n')",
        "(a: 1) // \u{202e}",
        "(a: 1)\u{7}",
        "Named(a: Some(\"\\u{1b}\"))",
    ] {
        let mut c = Collector(Vec::new());
        check_stage_config(&mut c, "stages[0].config", bad);
        assert!(!c.0.is_empty(), "{bad:?} accepted");
        assert_eq!(c.0[0].field, "stages[0].config");
    }
}
#[test]
fn template_files_lie_in_jail_specific_paths_and_copy_host_files_only() {
    let recipe = |files: &str| {
        Recipe::from_ron(
            &format!(r#"(releases: [(name: "14.3-RELEASE")], template: (files: {files}))"#),
            "test",
        )
    };
    let ok = recipe(
        r#"{"etc/resolv.conf": Contents("nameserver 192.0.2.53\n"), "etc/localtime": Host("/etc/localtime")}"#,
    )
    .unwrap();
    assert_eq!(ok.template.files.len(), 2);
    assert!(recipe("{}").unwrap().template.files.is_empty());
    // The defaults are skipped, not refused, when etc stays in the base.
    assert!(Recipe::from_ron(
        r#"(releases: [(name: "14.3-RELEASE")], template: (jail_specific: ["var"]))"#,
        "test"
    )
    .is_ok());
    let defaults = Recipe::from_ron(r#"(releases: [(name: "14.3-RELEASE")])"#, "test").unwrap();
    assert_eq!(
        defaults.template.files.get("etc/resolv.conf"),
        Some(&TemplateFile::Host("/etc/resolv.conf".into()))
    );
    let mut hidden = defaults.clone();
    hidden.template.files.insert(
        "etc/motd.template".into(),
        TemplateFile::Contents("hello\u{1b}[8m\tworld\n".into()),
    );
    let errors = validate(&hidden);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, r#"template.files["etc/motd.template"]"#);
    assert!(errors[0].problem.contains("U+001B"), "{errors:?}");
    for (files, field, problem) in [
        (
            r#"{"boot/loader.conf": Contents("x")}"#,
            r#"template.files["boot/loader.conf"]"#,
            "not inside a jail-specific path",
        ),
        (
            r#"{"etc": Contents("x")}"#,
            r#"template.files["etc"]"#,
            "not inside a jail-specific path",
        ),
        (
            r#"{"etc/../boot/x": Contents("x")}"#,
            r#"template.files["etc/../boot/x"]"#,
            "`..`",
        ),
        (
            r#"{"etc/resolv.conf": Host("resolv.conf")}"#,
            r#"template.files["etc/resolv.conf"]"#,
            "not an absolute path",
        ),
        (
            r#"{"etc/resolv.conf": Host("/usr/local/jails/www/data/etc/resolv.conf")}"#,
            r#"template.files["etc/resolv.conf"]"#,
            "must not be inside host.jails_dir",
        ),
    ] {
        let errors = recipe(files).unwrap_err().to_string();
        assert!(
            errors.contains(field) && errors.contains(problem),
            "{files}: {errors}"
        );
    }
}
