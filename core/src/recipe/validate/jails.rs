//! The `jails` section (and the jail.conf parameters every jail gets).

use std::collections::BTreeSet;

use super::{
    address_without_prefix, check_ip4, check_ip6, check_jail_name, check_param_name, is_loopback,
    Collector,
};
use crate::jailconf::same_param;
use crate::recipe::{ParamValue, Recipe};

/// Each jail: a unique valid name, a defined release, its addresses and parameters.
pub(super) fn check_jails(recipe: &Recipe, release_names: &BTreeSet<&str>, c: &mut Collector) {
    let mut jail_names = BTreeSet::new();
    let mut addresses: BTreeSet<String> = BTreeSet::new();
    for (i, jail) in recipe.jails.iter().enumerate() {
        let field = format!("jails[{i}]");
        c.check(
            format!("{field}.name"),
            &jail.name,
            check_jail_name(&jail.name),
        );
        if !jail_names.insert(jail.name.as_str()) {
            c.check(
                format!("{field}.name"),
                &jail.name,
                Err(format!("jail {} is defined twice", jail.name)),
            );
        }
        if !release_names.contains(jail.release.as_str()) {
            c.check(
                format!("{field}.release"),
                &jail.release,
                Err(format!(
                    "release {:?} is not defined in `releases`",
                    jail.release
                )),
            );
        }
        check_addresses(recipe, jail, &field, &mut addresses, c);
        check_params(c, &format!("{field}.params"), &jail.params);
        super::resources::check_jail_resources(recipe, jail, &field, c);
    }
    let depends: Vec<(&str, &[String])> = recipe
        .jails
        .iter()
        .map(|j| (j.name.as_str(), j.depend.as_slice()))
        .collect();
    super::resources::check_depend(c, &depends);
}

/// A jail's addresses: valid, its own (each used once in the recipe), and no
/// loopback address added to an interface that is not a loopback one.
pub(super) fn check_addresses(
    recipe: &Recipe,
    jail: &crate::recipe::Jail,
    field: &str,
    addresses: &mut BTreeSet<String>,
    c: &mut Collector,
) {
    let interface = recipe.host.interface.as_deref();
    let lists = [
        (
            "ip4",
            &jail.ip4,
            check_ip4 as fn(&str) -> Result<(), String>,
        ),
        ("ip6", &jail.ip6, check_ip6),
    ];
    for (family, list, check) in lists {
        for (k, addr) in list.iter().enumerate() {
            let field = format!("{field}.{family}[{k}]");
            c.check(&field, addr, check(addr));
            // One spelling per address: `fd00::1` and `fd00:0::1` are the same.
            let canonical = match address_without_prefix(addr).parse::<std::net::IpAddr>() {
                Ok(ip) => ip.to_string(),
                Err(_) => addr.clone(),
            };
            if !addresses.insert(canonical) {
                c.check(&field, addr, Err(format!("address {addr} is used twice")));
            }
            if let Some(interface) = interface.filter(|i| !i.starts_with("lo")) {
                if is_loopback(addr) {
                    c.check(
                        &field,
                        addr,
                        Err(format!(
                            "a loopback address cannot be added to {interface}, which is not a \
                             loopback interface (use a cloned lo1, or no interface)"
                        )),
                    );
                }
            }
        }
    }
}

pub(super) fn check_params(
    c: &mut Collector,
    field: &str,
    params: &std::collections::BTreeMap<String, ParamValue>,
) {
    for (name, value) in params {
        let field = format!("{field}[{name:?}]");
        c.check(&field, name, check_param_name(name));
        if let Some(other) = params
            .keys()
            .find(|other| *other < name && same_param(other, name))
        {
            c.check(
                &field,
                name,
                Err(format!(
                    "`{other}` and `{name}` are one parameter for jail(8) (a `no` prefix negates or names the same parameter); keep one"
                )),
            );
        }
        if matches!(value, ParamValue::List(items) if items.is_empty()) {
            c.check(
                &field,
                name,
                Err("an empty list cannot be written to jail.conf (`name = ;` is a syntax error, and jail(8) then refuses the whole file); leave the parameter out, or set false for a flag".into()),
            );
        }
        let texts: Vec<&str> = match value {
            ParamValue::Text(s) => vec![s.as_str()],
            ParamValue::List(items) => items.iter().map(String::as_str).collect(),
            ParamValue::Flag(_) | ParamValue::Number(_) => vec![],
        };
        for text in texts {
            if text.contains('\0') {
                c.check(&field, text, Err("values cannot contain NUL".into()));
            }
        }
    }
}
