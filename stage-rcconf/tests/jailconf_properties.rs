//! Property tests of the rcconf stage over generated hosts — an administrator's
//! jail.conf (globals before and after jails, `*` sections, all three comment styles,
//! bare, single- and double-quoted values, variables, `+=`, `no` prefixes,
//! `.include`, blocks an older thinjail wrote), its rc.conf (`jail_enable`,
//! `jail_list`) — × generated recipes, checked with the model of jail(8)'s reader
//! and of rc.d/jail ([`thinjail_core::jailconf`], [`thinjail_core::boot`]) on FreeBSD
//! 13.x and 14+ semantics alike. The stage either refuses (for a reason it names:
//! an include reading its files, a boot it cannot keep as it was), or after its
//! plan:
//!
//! - each of the recipe's jails gets exactly the recipe's parameters and nothing
//!   else ([`jail_gets_exactly`]) from the file `jail -f` starts it with, whatever
//!   the administrator's configuration holds — finding 4 of issue 11;
//! - at boot the administrator's jails start as before (same jails, same files, same
//!   parameters), the recipe's `start: true` jails start from their own files with
//!   exactly the recipe, `start: false` ones do not start — findings 6 and 7;
//! - the administrator's jail.conf is unchanged but for blocks an older thinjail
//!   wrote, which are gone.
//!
//! CI runs 2000 cases (a few seconds); a long run:
//! `PROPTEST_CASES=200000 cargo test --release -p thinjail-stage-rcconf --test jailconf_properties`.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use thinjail_core::boot::{self, with_freebsd_defaults, BootConf, RcConf, SystemRoot, WorldFiles};
use thinjail_core::edit::FileEdit;
use thinjail_core::jailconf::{differences, same_param, Files, JailConf, Semantics};
use thinjail_core::jailfile::block_id;
use thinjail_core::layout::Layout;
use thinjail_core::recipe::{Jail, ParamValue, Recipe};
use thinjail_core::stage::{Stage, StageContext, StageError};
use thinjail_core::validate::validate;
use thinjail_core::world::{PathState, World};
use thinjail_stage_rcconf::{jail_block, jail_params, RcConfStage};

const JAIL_CONF: &str = "/etc/jail.conf";
const INCLUDED: &str = "/etc/jail.conf.d/admin.conf";
const RC_CONF: &str = "/etc/rc.conf";

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// Checks that `jail`, read from `file` (and what it includes) with `semantics`, gets
/// exactly `expected` (as [`jail_params`] gives it) and nothing else. This is the
/// isolation property: run it on the administrator's whole configuration once each
/// thinjail jail lives in a file of its own.
pub fn jail_gets_exactly(
    files: &dyn Files,
    file: &Path,
    semantics: Semantics,
    jail: &str,
    expected: &[(String, ParamValue)],
) -> Result<(), String> {
    let conf = JailConf::load(file, semantics, files).map_err(|e| format!("{semantics}: {e}"))?;
    let params = conf
        .effective(jail)
        .map_err(|e| format!("{semantics}: {e}"))?;
    let found = differences(&params, jail, expected);
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!("{semantics}: {jail}: {}", found.join("; ")))
    }
}

// ---- generated administrator files -------------------------------------------------

const ADMIN_PARAMS: [&str; 24] = [
    "exec.prestart",
    "exec.poststart",
    "exec.created",
    "allow.raw_sockets",
    "allow.noraw_sockets",
    "allow.mount",
    "allow.nomount",
    "path",
    "enforce_statfs",
    "securelevel",
    "persist",
    "nopersist",
    "host.hostname",
    "mount.fstab",
    "mount.nofstab",
    "ip4.addr",
    "interface",
    "exec.start",
    "exec.clean",
    "exec.noclean",
    "mount.devfs",
    "devfs_ruleset",
    "osrelease",
    "children.max",
];

const ADMIN_VALUES: [&str; 16] = [
    "/jails/$name",
    "${name}.example.org",
    "10.0.0.1",
    "http://x//y",
    "a b",
    "it's",
    "say \"hi\"",
    "#x",
    "a;b, c",
    "",
    "c:\\dir",
    "caf\u{e9}",
    "1",
    "0",
    "true",
    "/bin/sh /etc/rc",
];

#[derive(Clone, Debug)]
enum Quoting {
    Bare,
    Single,
    Double,
}

#[derive(Clone, Debug)]
enum Op {
    Bare,
    Assign,
    Append,
    NameValue,
}

#[derive(Clone, Debug)]
struct Statement {
    name: &'static str,
    variable: bool,
    op: Op,
    values: Vec<(&'static str, Quoting)>,
}

#[derive(Clone, Debug)]
enum Item {
    Global(Statement),
    Jail(&'static str, Vec<Statement>),
    Wildcard(Vec<Statement>),
    Comment(u8),
    Include,
    /// `.include` of a pattern: thinjail's own files (`true`) or another directory.
    IncludeGlob(bool),
    /// A block an older thinjail wrote for the recipe's jail of this index.
    Legacy(usize),
}

fn statement() -> impl Strategy<Value = Statement> {
    let quoting = prop_oneof![
        Just(Quoting::Bare),
        Just(Quoting::Single),
        Just(Quoting::Double)
    ];
    let value = (proptest::sample::select(&ADMIN_VALUES[..]), quoting);
    let op = prop_oneof![
        3 => Just(Op::Assign),
        1 => Just(Op::Bare),
        1 => Just(Op::Append),
        1 => Just(Op::NameValue),
    ];
    (
        proptest::sample::select(&ADMIN_PARAMS[..]),
        proptest::bool::weighted(0.1),
        op,
        proptest::collection::vec(value, 1..3),
    )
        .prop_map(|(name, variable, op, values)| Statement {
            name: if variable { "myvar" } else { name },
            variable,
            op,
            values,
        })
}

fn item() -> impl Strategy<Value = Item> {
    let statements = || proptest::collection::vec(statement(), 0..4);
    prop_oneof![
        4 => statement().prop_map(Item::Global),
        4 => (proptest::sample::select(&["adm1", "adm2", "adm-3", "adm4.sub"][..]), statements())
            .prop_map(|(name, body)| Item::Jail(name, body)),
        2 => statements().prop_map(Item::Wildcard),
        2 => (0u8..4).prop_map(Item::Comment),
        1 => Just(Item::Include),
        1 => proptest::bool::weighted(0.3).prop_map(Item::IncludeGlob),
        1 => (0usize..3).prop_map(Item::Legacy),
    ]
}

fn is_atom(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_!%&()-.:<>?@[]^`|~".contains(&b))
}

fn render_value(text: &str, quoting: &Quoting) -> String {
    match quoting {
        Quoting::Bare if is_atom(text) => text.to_string(),
        Quoting::Single => format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'")),
        // Double quotes keep `$name` a variable, as an administrator writes it.
        _ => format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

fn render_statement(s: &Statement) -> String {
    let name = if s.variable {
        format!("${}", s.name)
    } else {
        s.name.to_string()
    };
    let values: Vec<String> = s.values.iter().map(|(t, q)| render_value(t, q)).collect();
    match s.op {
        Op::Bare => format!("{name};"),
        Op::Assign => format!("{name} = {};", values.join(", ")),
        Op::Append => format!("{name} += {};", values.join(",")),
        Op::NameValue => format!("{name} {};", values.join(", ")),
    }
}

fn render_admin(items: &[Item], recipe: &Recipe) -> String {
    let mut out = String::new();
    let mut legacy = Vec::new();
    for item in items {
        match item {
            Item::Global(s) => out.push_str(&render_statement(s)),
            Item::Jail(name, body) => out.push_str(&render_section(name, body)),
            Item::Wildcard(body) => out.push_str(&render_section("*", body)),
            Item::Comment(0) => out.push_str("# a comment { with; \"quotes\n"),
            Item::Comment(1) => out.push_str("// path = \"/nowhere\";"),
            Item::Comment(2) => out.push_str("/* multi\n   line; } */"),
            Item::Comment(_) => out.push_str("\n\t;"),
            Item::Include => out.push_str(&format!(".include \"{INCLUDED}\";")),
            Item::IncludeGlob(true) => out.push_str(".include \"/etc/jail.conf.d/*.conf\";"),
            Item::IncludeGlob(false) => out.push_str(".include \"/etc/jail.d/*.conf\";"),
            Item::Legacy(index) => {
                let Some(jail) = recipe.jails.get(*index) else {
                    continue;
                };
                if legacy.contains(index) {
                    continue;
                }
                legacy.push(*index);
                out = FileEdit::SetBlock {
                    id: block_id(&jail.name),
                    content: jail_block(recipe, jail),
                }
                .apply(&out);
                continue;
            }
        }
        out.push('\n');
    }
    out
}

fn render_section(name: &str, body: &[Statement]) -> String {
    let name = if name.contains('*') || name.contains('.') {
        format!("\"{name}\"")
    } else {
        name.to_string()
    };
    let mut out = format!("{name} {{\n");
    for s in body {
        out.push('\t');
        out.push_str(&render_statement(s));
        out.push('\n');
    }
    out.push('}');
    out
}

// ---- generated recipes ---------------------------------------------------------------

/// Parameters a recipe may set, each with its other spelling (chosen at random).
const RECIPE_PARAMS: [(&str, &str); 10] = [
    ("allow.raw_sockets", "allow.noraw_sockets"),
    ("allow.mount", "allow.nomount"),
    ("exec.clean", "exec.noclean"),
    ("mount.devfs", "mount.nodevfs"),
    ("persist", "nopersist"),
    ("securelevel", "securelevel"),
    ("exec.poststart", "exec.poststart"),
    ("enforce_statfs", "enforce_statfs"),
    ("host.hostname", "host.hostname"),
    ("sysvshm", "sysvshm"),
];

const RECIPE_TEXTS: [&str; 8] = [
    "http://pkg.example.org/x",
    "/bin/sh -c \"echo $HOME; exit 0\"",
    "a # b // c /* d */",
    "it's ${name}",
    "back\\slash\\n",
    "semi; colon, comma",
    "caf\u{e9}",
    "",
];

fn param_value() -> impl Strategy<Value = ParamValue> {
    let text = proptest::sample::select(&RECIPE_TEXTS[..]).prop_map(String::from);
    prop_oneof![
        proptest::bool::ANY.prop_map(ParamValue::Flag),
        (-3i64..5).prop_map(ParamValue::Number),
        text.clone().prop_map(ParamValue::Text),
        proptest::collection::vec(text, 1..4).prop_map(ParamValue::List),
    ]
}

fn params() -> impl Strategy<Value = BTreeMap<String, ParamValue>> {
    proptest::collection::vec(
        (0..RECIPE_PARAMS.len(), proptest::bool::ANY, param_value()),
        0..4,
    )
    .prop_map(|chosen| {
        let mut map = BTreeMap::new();
        for (index, other, value) in chosen {
            let (name, no) = RECIPE_PARAMS[index];
            // One spelling per parameter in one map (validation refuses two).
            map.retain(|k: &String, _| !same_param(k, name));
            map.insert((if other { no } else { name }).to_string(), value);
        }
        map
    })
}

fn recipe() -> impl Strategy<Value = Recipe> {
    let jail = (
        proptest::sample::select(&["web", "db", "j0", "mail"][..]),
        0usize..3,
        params(),
        proptest::bool::weighted(0.8),
    );
    (
        params(),
        proptest::collection::vec(jail, 1..3),
        proptest::option::of(Just("em0")),
    )
        .prop_map(|(jail_params, jails, interface)| {
            let mut recipe =
                Recipe::from_ron(r#"(releases: [(name: "14.3-RELEASE")])"#, "generated").unwrap();
            recipe.host.interface = interface.map(String::from);
            recipe.jail_params = jail_params;
            let mut seen = Vec::new();
            for (name, addresses, params, start) in jails {
                if seen.contains(&name) {
                    continue;
                }
                seen.push(name);
                let index = seen.len();
                recipe.jails.push(Jail {
                    name: name.to_string(),
                    release: "14.3-RELEASE".into(),
                    ip4: (0..addresses)
                        .map(|k| format!("10.0.{index}.{}/24", k + 5))
                        .collect(),
                    ip6: vec![],
                    params,
                    start,
                    mounts: vec![],
                    limits: vec![],
                    cpuset: None,
                    depend: vec![],
                    priority: 0,
                    vnet: None,
                    datasets: vec![],
                });
            }
            recipe
        })
}

/// rc.conf as an administrator may have it.
fn rc_conf() -> impl Strategy<Value = String> {
    let enable = proptest::sample::select(
        &[
            "",
            "jail_enable=\"YES\"\n",
            "jail_enable=\"NO\"\n",
            "jail_enable=YES # on\n",
        ][..],
    );
    let list = proptest::sample::select(
        &[
            "",
            "jail_list=\"\"\n",
            "jail_list=\"adm1\"\n",
            "jail_list=\"adm1 adm2\"\n",
            "jail_list=\"web adm2\"\n",
            "jail_list=\"adm-3\"\n",
        ][..],
    );
    (enable, list, proptest::bool::ANY).prop_map(|(enable, list, list_first)| {
        if list_first {
            format!("{list}{enable}")
        } else {
            format!("{enable}{list}")
        }
    })
}

fn host(admin: &str, included: &str, rc: &str) -> World {
    let mut world = World::empty();
    for (path, text) in [(JAIL_CONF, admin), (INCLUDED, included), (RC_CONF, rc)] {
        world.set_path(
            Path::new(path),
            PathState::File {
                contents: Some(text.to_string()),
            },
        );
    }
    for dir in ["/etc/jail.conf.d", "/etc/jail.d"] {
        world.set_path(Path::new(dir), PathState::Directory);
        world.listed.insert(dir.into());
    }
    world
}

/// Where each jail boots from and with which parameters (or why it fails).
type Booted = Vec<(
    String,
    BootConf,
    Result<thinjail_core::jailconf::Params, String>,
)>;

fn booted(world: &World, semantics: Semantics) -> Booted {
    let root = SystemRoot::new("/");
    let base = WorldFiles::new(world, &root);
    let files = with_freebsd_defaults(&base);
    let rc = RcConf::load(&files, "jail");
    boot::boot(&rc, &files, semantics)
        .unwrap()
        .jails
        .into_iter()
        .map(|j| {
            let params = j.params(&files, semantics);
            (j.name, j.conf, params)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn our_jails_get_exactly_the_recipe_and_the_administrators_boot_as_before(
        items in proptest::collection::vec(item(), 0..10),
        included in proptest::collection::vec(item(), 0..4),
        recipe in recipe(),
        rc in rc_conf(),
    ) {
        prop_assert!(validate(&recipe).is_empty(), "{:?}", validate(&recipe));
        // The included file includes nothing itself, and holds no older blocks.
        let included: Vec<Item> = included
            .into_iter()
            .filter(|i| !matches!(i, Item::Include | Item::IncludeGlob(_) | Item::Legacy(_)))
            .collect();
        let admin = render_admin(&items, &recipe);
        let included_text = render_admin(&included, &recipe);
        let world = host(&admin, &included_text, &rc);
        let ours: Vec<&str> = recipe.jails.iter().map(|j| j.name.as_str()).collect();
        let reads_ours = items.iter().any(|i| matches!(i, Item::IncludeGlob(true)));
        let planned = RcConfStage.plan(&StageContext::new(&recipe), &world);
        let planned = match planned {
            Ok(planned) => planned,
            Err(StageError::Conflict(why)) => {
                // Refused, for a reason the stage names.
                let known = (reads_ours && why.contains("` reads /etc/jail.conf.d/"))
                    || why.contains("change how the administrator's jails boot");
                prop_assert!(known, "unexpected refusal: {}\n{}\n{}", why, admin, rc);
                return Ok(());
            }
            Err(other) => { prop_assert!(false, "{}", other); unreachable!() }
        };
        prop_assert!(!reads_ours, "an include of thinjail's files was not refused\n{}", admin);
        let after = world.after_planned(&planned);
        // jail.conf: the administrator's text, older blocks gone.
        let mut expected_admin = admin.clone();
        for jail in &recipe.jails {
            expected_admin = FileEdit::RemoveBlock { id: block_id(&jail.name) }.apply(&expected_admin);
        }
        prop_assert_eq!(after.file_contents(Path::new(JAIL_CONF)), Some(expected_admin.as_str()));
        let layout = Layout::new(&recipe);
        for semantics in Semantics::ALL {
            let before_text = JailConf::load(JAIL_CONF, semantics, &WorldFiles::new(&world, &SystemRoot::new("/")));
            let uses_include = admin.contains(".include");
            if before_text.is_err() || (semantics == Semantics::Freebsd13 && uses_include) {
                // jail(8) of this generation refuses the file (a 14+ host's file).
                continue;
            }
            // Every jail of the recipe, started with `jail -f ITS_FILE -c NAME`.
            for jail in &recipe.jails {
                let file = layout.jail_conf_file(&jail.name);
                let root = SystemRoot::new("/");
                let exact = jail_gets_exactly(&WorldFiles::new(&after, &root), &file, semantics, &jail.name, &jail_params(&recipe, jail));
                prop_assert!(exact.is_ok(), "{}\n{:?}", exact.unwrap_err(), after.file_contents(&file));
            }
            // At boot.
            let was = booted(&world, semantics);
            let will = booted(&after, semantics);
            let theirs = |b: &Booted| -> Booted {
                b.iter().filter(|(n, _, _)| !ours.contains(&n.as_str())).cloned().collect()
            };
            prop_assert_eq!(theirs(&was), theirs(&will), "{}\n{}\n{}\n{:?}", semantics, admin, rc, after.file_contents(Path::new(RC_CONF)));
            for jail in &recipe.jails {
                let started = will.iter().find(|(n, _, _)| *n == jail.name);
                match (jail.start, started) {
                    (true, Some((_, BootConf::File(file), Ok(params)))) => {
                        prop_assert_eq!(file, &layout.jail_conf_file(&jail.name));
                        let found = differences(params, &jail.name, &jail_params(&recipe, jail));
                        prop_assert!(found.is_empty(), "{}: {:?}", jail.name, found);
                    }
                    (false, None) => {}
                    (start, other) => prop_assert!(false, "{} (start: {}) at boot: {:?}\n{:?}", jail.name, start, other, after.file_contents(Path::new(RC_CONF))),
                }
            }
        }
        // Planned again on the result: nothing left to do.
        let again = RcConfStage.plan(&StageContext::new(&recipe), &after).unwrap();
        prop_assert!(
            again.iter().all(|p| matches!(p.action, thinjail_core::Action::StartJail { .. })),
            "{:?}", again
        );
    }
}
