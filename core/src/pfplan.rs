//! Planning thinjail's pf anchor: the recipe's NAT and port forwards
//! ([`crate::recipe::network::Pf`]) written to `host.network.pf.anchor_file` and
//! loaded into the anchor `thinjail/jails` with `pfctl -a thinjail/jails -f FILE`.
//! Pure: it reads the observed world (pf's status and loaded rules, pf.conf and the
//! anchor file) and returns actions. pf.conf is never written.
//!
//! - **Up to date** means both: the file says what the recipe says, and the kernel
//!   holds the same rules (`pfctl -P -a thinjail/jails -s nat`, read back with
//!   [`crate::network::pf::loaded_matches`]). The kernel is what translates
//!   packets, and after a reboot it holds what pf.conf's `load anchor` line read
//!   from the file — or nothing, when pf was not running: comparing with the file
//!   alone would call a rebooted host without pf up to date. So a file that matches
//!   with an anchor that does not is loaded again.
//! - **Refused** (exit 78, nothing changed) while there are rules to load and pf is
//!   not running (disabled or not in the kernel: NAT and forwards would do nothing),
//!   or pf.conf lacks a line of [`crate::network::pf::required_pf_conf_lines`] (pf would never
//!   evaluate the anchor, or would lose it at the next boot). The refusal names the
//!   exact lines; thinjail does not add them itself. "pf.conf" is the file rc.d/pf
//!   loads, `pf_rules` in rc.conf ([`crate::pf_rules`]); one that cannot be told (a
//!   computed or empty `pf_rules`) is refused too, and so is an `anchor_file` that
//!   is that file.
//! - **No rule left** (the last forward and NAT removed, or the last jail with them
//!   destroyed): the anchor is flushed (`-F nat`) and the file removed — unless
//!   pf.conf still has the `load anchor` line, which fails the whole pf.conf when
//!   its file is missing: then the file stays, with no rule, and the plan says to
//!   take the lines out of pf.conf first.

use std::collections::BTreeSet;

use crate::action::Action;
use crate::network::pf::{
    loaded_matches, missing_lines, names_anchor_file, pf_conf_path, rules_of, PfStatus,
};
use crate::network::{pf_anchor_rules, Ip4, PF_ANCHOR};
use crate::recipe::Recipe;
use crate::stage::Planned;
use crate::world::World;

/// The anchor text for `recipe`, as if jail `leaving` were gone (for `destroy`):
/// its forwards dropped, and a NAT entry dropped when no other VNET jail has a
/// static address in its network.
pub fn anchor_text(recipe: &Recipe, leaving: Option<&str>) -> String {
    let mut pf = recipe.host.network.pf.clone();
    let staying: Vec<&crate::recipe::Jail> = recipe
        .jails
        .iter()
        .filter(|j| Some(j.name.as_str()) != leaving)
        .collect();
    if leaving.is_some() {
        pf.forwards.retain(|f| Some(f.jail.as_str()) != leaving);
        let addresses: Vec<std::net::Ipv4Addr> = staying
            .iter()
            .filter_map(|j| j.vnet.as_ref())
            .flat_map(|v| v.static_ip4())
            .filter_map(|a| a.split('/').next()?.parse().ok())
            .collect();
        pf.nat.retain(|nat| {
            addresses
                .iter()
                .any(|a| in_network(*a, &nat.from).unwrap_or(true))
        });
    }
    let jail_ip4 = |name: &str| -> Option<String> {
        let vnet = staying.iter().find(|j| j.name == name)?.vnet.as_ref()?;
        match &vnet.ip4 {
            Some(Ip4::Static(list)) => list
                .first()
                .map(|a| a.split('/').next().unwrap_or(a).to_string()),
            _ => None,
        }
    };
    let jail_ip6 = |name: &str| -> Option<String> {
        let vnet = staying.iter().find(|j| j.name == name)?.vnet.as_ref()?;
        vnet.static_ip6().first().cloned()
    };
    let mut text = pf_anchor_rules(&pf, &jail_ip4);
    text.push_str(&crate::pf_inet6::forward_rules(&pf, &jail_ip6));
    text
}

fn in_network(addr: std::net::Ipv4Addr, network: &str) -> Option<bool> {
    let (base, prefix) = network.split_once('/')?;
    let base: std::net::Ipv4Addr = base.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX.checked_shl(32 - prefix.min(32))?
    };
    Some(u32::from(addr) & mask == u32::from(base) & mask)
}

/// The actions that bring thinjail's pf anchor to what `recipe` says (as if jail
/// `leaving` were gone), or why not (a message for exit 78).
pub fn plan(recipe: &Recipe, world: &World, leaving: Option<&str>) -> Result<Vec<Planned>, String> {
    let pf = &recipe.host.network.pf;
    let file = &pf.anchor_file;
    // The file rc.d/pf loads (`pf_rules`), where pf.conf's lines must be.
    let pf_conf = crate::pf_rules::pf_conf(recipe, world);
    let pf_conf_text = pf_conf
        .as_ref()
        .ok()
        .and_then(|p| world.file_contents(p))
        .unwrap_or("");
    let pf_conf_name = match &pf_conf {
        Ok(path) => path.display().to_string(),
        Err(_) => "pf.conf".to_string(),
    };
    let text = anchor_text(recipe, leaving);
    // A jail that leaves nothing behind in the anchor (no forward, no NAT only it
    // needs; or not the recipe's, like a pruned orphan) changes nothing here: the
    // recipe's own apply keeps the anchor.
    if leaving.is_some() && text == anchor_text(recipe, None) {
        return Ok(Vec::new());
    }
    let rules = rules_of(&text);
    let file_now = world.file_contents(file);
    let loaded: &[String] = world
        .pf
        .as_ref()
        .map(|p| p.loaded.as_slice())
        .unwrap_or(&[]);
    let mut out = Vec::new();
    if rules.is_empty() {
        if !loaded.is_empty() {
            out.push(Planned::noted(
                Action::FlushPfAnchor {
                    anchor: PF_ANCHOR.into(),
                },
                "no NAT or port forward is left: thinjail's pf anchor is emptied",
            ));
        }
        if file_now.is_some() {
            // When pf_rules cannot be told, the file is kept: pf.conf may load it.
            if pf_conf.is_err() || names_anchor_file(pf_conf_text, file) {
                if file_now != Some(text.as_str()) {
                    out.push(Planned::noted(
                        Action::WriteFile {
                            path: file.clone(),
                            contents: text,
                            mode: 0o644,
                        },
                        format!(
                            "{pf_conf_name} still loads this file (load anchor), and fails as a whole without it: the file \
                             stays, with no rule; take thinjail's lines out of pf.conf, then the next apply \
                             removes it"
                        ),
                    ));
                }
            } else {
                out.push(Planned::noted(
                    Action::Remove { path: file.clone() },
                    "no NAT or port forward is left",
                ));
            }
        }
        return Ok(out);
    }
    // Taking a jail's rules out (`destroy`) needs neither pf running nor pf.conf's lines.
    if world.observed && leaving.is_none() {
        match world.pf.as_ref().map(|p| p.status) {
            Some(PfStatus::Enabled) => {}
            Some(PfStatus::Disabled) => {
                return Err(
                    "pf is disabled, so thinjail's NAT and port forwards would do nothing: enable it \
                     (sysrc pf_enable=YES; service pf start) and run apply again"
                        .into(),
                )
            }
            Some(PfStatus::Absent) => {
                return Err(
                    "pf is not in the kernel (pfctl cannot open /dev/pf), so thinjail's NAT and port \
                     forwards would do nothing: load and enable it (sysrc pf_enable=YES; service pf \
                     start) and run apply again"
                        .into(),
                )
            }
            None => {}
        }
        let pf_conf = pf_conf?;
        if &pf_conf == file {
            return Err(format!(
                "host.network.pf.anchor_file {} is the file rc.d/pf loads the main ruleset from \
                 (pf_rules): thinjail would overwrite your pf.conf; give its anchor a file of its own",
                file.display()
            ));
        }
        let named_by = if pf_conf == pf_conf_path(&recipe.host.system_root) {
            String::new()
        } else {
            " (the file rc.d/pf loads: pf_rules in rc.conf)".to_string()
        };
        let missing = missing_lines(pf_conf_text, file);
        if !missing.is_empty() {
            return Err(format!(
                "{}{named_by} lacks these lines, without which pf never evaluates thinjail's anchor or loses it at \
                 the next boot (thinjail never edits pf.conf):\n{}\nadd them (the anchors with your other \
                 translation rules), then run apply again: it writes {} and loads it; `service pf reload` \
                 is not needed",
                pf_conf.display(),
                missing
                    .iter()
                    .map(|l| format!("    {l}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                file.display()
            ));
        }
    }
    let file_changed = file_now != Some(text.as_str());
    if file_changed {
        out.push(Planned::noted(
            Action::WriteFile {
                path: file.clone(),
                contents: text.clone(),
                mode: 0o644,
            },
            format!(
                "thinjail's pf anchor; pf.conf loads it at boot ({})",
                crate::network::pf::load_anchor_line(file)
            ),
        ));
    }
    if file_changed || !loaded_matches(loaded, &text) {
        out.push(Planned::noted(
            Action::LoadPfAnchor {
                anchor: PF_ANCHOR.into(),
                file: file.clone(),
            },
            format!(
                "rdr without pass: your filter rules still decide what gets in. Rules:\n{}",
                rules
                    .iter()
                    .map(|r| format!("  {r}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        ));
    }
    Ok(out)
}

/// Files the plan reads: pf.conf and the anchor file.
pub fn probed_files(recipe: &Recipe) -> BTreeSet<std::path::PathBuf> {
    BTreeSet::from([
        pf_conf_path(&recipe.host.system_root),
        recipe.host.network.pf.anchor_file.clone(),
    ])
}

/// Whether `recipe` needs pf observed: it has NAT or forwards, or VNET jails (which
/// forwards may have pointed at).
pub fn wanted(recipe: &Recipe) -> bool {
    !recipe.host.network.pf.has_no_rules() || recipe.jails.iter().any(|j| j.vnet.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::pf::{ObservedPf, PfStatus};
    use crate::world::PathState;

    fn recipe() -> Recipe {
        Recipe::from_ron(
            r#"(host: (network: (bridges: [(name: "br0", ip4: ["10.0.0.1/24"])],
                  pf: (nat: [(from: "10.0.0.0/24", interface: "em0")],
                       forwards: [(proto: Tcp, interface: "em0", port: 8080, jail: "www", jail_port: 80)]))),
                releases: [(name: "14.3-RELEASE")],
                jails: [(name: "www", release: "14.3-RELEASE",
                         vnet: (bridge: "br0", ip4: Static(["10.0.0.2/24"]), gateway4: "10.0.0.1"))])"#,
            "test",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    const LINES: &str = "nat-anchor \"thinjail/*\"\nrdr-anchor \"thinjail/*\"\n\
                         load anchor \"thinjail/jails\" from \"/etc/pf.thinjail.conf\"\npass all\n";

    fn world(pf_conf: &str, status: PfStatus) -> World {
        let mut world = World::empty();
        world.observed = true;
        world.pf = Some(ObservedPf {
            status,
            loaded: vec![],
        });
        world.set_path(
            std::path::Path::new("/etc/pf.conf"),
            PathState::File {
                contents: Some(pf_conf.into()),
            },
        );
        world
    }

    fn kinds(plan: &[Planned]) -> Vec<&'static str> {
        plan.iter()
            .map(|p| match &p.action {
                Action::WriteFile { .. } => "write",
                Action::LoadPfAnchor { .. } => "load",
                Action::FlushPfAnchor { .. } => "flush",
                Action::Remove { .. } => "remove",
                _ => "other",
            })
            .collect()
    }

    #[test]
    fn the_anchor_is_written_and_loaded_then_nothing_is_left_to_do() {
        let recipe = recipe();
        let world = world(LINES, PfStatus::Enabled);
        let plan = plan(&recipe, &world, None).unwrap();
        assert_eq!(kinds(&plan), ["write", "load"]);
        let note = plan[1].note.as_deref().unwrap_or_default();
        assert!(
            note.contains(
                "rdr on em0 inet proto tcp from any to (em0) port 8080 -> 10.0.0.2 port 80"
            ),
            "{note}"
        );
        let after = world.after_planned(&plan);
        assert!(plan_is_empty(&recipe, &after));
        // The kernel lost the rules (a reboot without pf.conf loading them): loaded again.
        let mut rebooted = after.clone();
        rebooted.pf.as_mut().unwrap().loaded.clear();
        assert_eq!(
            kinds(&super::plan(&recipe, &rebooted, None).unwrap()),
            ["load"]
        );
    }

    fn plan_is_empty(recipe: &Recipe, world: &World) -> bool {
        plan(recipe, world, None).unwrap().is_empty()
    }

    #[test]
    fn a_host_where_nat_would_not_work_is_refused_naming_what_to_do() {
        let recipe = recipe();
        let error = plan(&recipe, &world("pass all\n", PfStatus::Enabled), None).unwrap_err();
        for line in LINES.lines().take(3) {
            assert!(error.contains(line), "{line} in {error}");
        }
        let error = plan(&recipe, &world(LINES, PfStatus::Disabled), None).unwrap_err();
        assert!(error.contains("pf is disabled"), "{error}");
        let error = plan(&recipe, &world(LINES, PfStatus::Absent), None).unwrap_err();
        assert!(error.contains("/dev/pf"), "{error}");
    }

    #[test]
    fn the_lines_are_looked_for_in_the_file_pf_rules_names() {
        let recipe = recipe();
        let set = |world: &mut World, path: &str, text: &str| {
            world.set_path(
                std::path::Path::new(path),
                PathState::File {
                    contents: Some(text.into()),
                },
            )
        };
        // The lines only in /etc/pf.conf while rc.d/pf loads /etc/pf.other: refused,
        // naming /etc/pf.other.
        let mut world = world(LINES, PfStatus::Enabled);
        set(
            &mut world,
            "/etc/rc.conf",
            "pf_enable=YES\npf_rules=\"/etc/pf.other\"\n",
        );
        set(&mut world, "/etc/pf.other", "pass all\n");
        let error = plan(&recipe, &world, None).unwrap_err();
        assert!(
            error.starts_with("/etc/pf.other (the file rc.d/pf loads: pf_rules in rc.conf) lacks"),
            "{error}"
        );
        // The lines in /etc/pf.other: planned as with /etc/pf.conf.
        set(&mut world, "/etc/pf.other", LINES);
        set(&mut world, "/etc/pf.conf", "pass all\n");
        assert_eq!(
            kinds(&plan(&recipe, &world, None).unwrap()),
            ["write", "load"]
        );
        // The anchor's own file may not be the one rc.d/pf loads.
        let mut same = recipe.clone();
        same.host.network.pf.anchor_file = "/etc/pf.other".into();
        let error = plan(&same, &world, None).unwrap_err();
        assert!(
            error.contains("thinjail would overwrite your pf.conf"),
            "{error}"
        );
        // A pf_rules the shell computes: refused, saying where.
        set(&mut world, "/etc/rc.conf", "pf_rules=`cat /etc/which`\n");
        let error = plan(&recipe, &world, None).unwrap_err();
        assert!(
            error.contains("computed by the shell (/etc/rc.conf:1)"),
            "{error}"
        );
    }

    #[test]
    fn the_last_rule_gone_flushes_the_anchor_and_the_file_goes_unless_pf_conf_loads_it() {
        let mut recipe = recipe();
        let loaded = world(LINES, PfStatus::Enabled);
        let loaded = loaded.after_planned(&plan(&recipe, &loaded, None).unwrap());
        // destroy www: its forward and the NAT no other jail needs go.
        let destroy = plan(&recipe, &loaded, Some("www")).unwrap();
        assert_eq!(
            kinds(&destroy),
            ["flush", "write"],
            "pf.conf still loads the file"
        );
        assert!(anchor_text(&recipe, Some("www"))
            .lines()
            .all(|l| l.starts_with('#')));
        recipe.host.network.pf.nat.clear();
        recipe.host.network.pf.forwards.clear();
        let mut without_lines = loaded.clone();
        without_lines.set_path(
            std::path::Path::new("/etc/pf.conf"),
            PathState::File {
                contents: Some("pass all\n".into()),
            },
        );
        assert_eq!(
            kinds(&plan(&recipe, &without_lines, None).unwrap()),
            ["flush", "remove"]
        );
        // Taking rules out needs neither pf running nor pf.conf's lines.
        without_lines.pf.as_mut().unwrap().status = PfStatus::Disabled;
        assert!(plan(&recipe, &without_lines, None).is_ok());
        // A jail that has nothing in the anchor (a pruned orphan) changes nothing.
        let recipe = super::tests::recipe();
        assert!(plan(&recipe, &without_lines, Some("orphan"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn confinement_allows_thinjails_anchor_and_file_only() {
        let recipe = recipe();
        let layout = crate::layout::Layout::new(&recipe);
        let world = world(LINES, PfStatus::Enabled);
        let check =
            |action: Action| crate::confine::check_planned(&layout, &world, &action, &|_| true);
        for planned in plan(&recipe, &world, None).unwrap() {
            check(planned.action).unwrap();
        }
        check(Action::FlushPfAnchor {
            anchor: PF_ANCHOR.into(),
        })
        .unwrap();
        let other = check(Action::FlushPfAnchor {
            anchor: "admin/rules".into(),
        })
        .unwrap_err();
        assert!(other.contains("not thinjail's"), "{other}");
        let elsewhere = check(Action::LoadPfAnchor {
            anchor: PF_ANCHOR.into(),
            file: "/etc/pf.conf".into(),
        })
        .unwrap_err();
        assert!(elsewhere.contains("/etc/pf.conf"), "{elsewhere}");
        let write_pf_conf = check(Action::WriteFile {
            path: "/etc/pf.conf".into(),
            contents: String::new(),
            mode: 0o644,
        });
        assert!(write_pf_conf.is_err(), "pf.conf is never written");
    }
}
