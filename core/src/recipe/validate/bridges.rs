//! The `members` of `host.network.bridges`: the host's interfaces thinjail adds to
//! a bridge it makes ([`crate::bridges`]).

use super::check_interface;
use crate::recipe::network::{is_thinjail_iface, Bridge, HostNetwork};

/// What is wrong with `member` as a member of `bridge`, if anything: members are
/// only for a bridge thinjail makes (`create`), each a valid interface name, not of
/// thinjail's epair form, not a bridge, listed once, in one bridge only.
pub fn member_problem(network: &HostNetwork, bridge: &Bridge, member: &str) -> Option<String> {
    if !bridge.create {
        return Some(format!(
            "members are only for a bridge thinjail makes (create: true); {} is the \
             administrator's, who adds its members",
            bridge.name
        ));
    }
    if let Err(e) = check_interface(member) {
        return Some(e);
    }
    if is_thinjail_iface(member) {
        return Some(format!(
            "{member} has the form of thinjail's epair names, which thinjail adds itself"
        ));
    }
    if network.bridge(member).is_some() {
        return Some(format!("{member} is a bridge of host.network"));
    }
    if bridge.members.iter().filter(|m| *m == member).count() > 1 {
        return Some(format!("{member} is listed twice"));
    }
    if let Some(other) = network
        .bridges
        .iter()
        .find(|b| b.name != bridge.name && b.members.iter().any(|m| m == member))
    {
        return Some(format!(
            "{member} is also a member of {}: an interface joins one bridge",
            other.name
        ));
    }
    None
}
