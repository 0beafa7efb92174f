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
