//! ZFS snapshot names: [`Snapshot`], written `dataset@name` wherever a snapshot is
//! named (zfs(8) arguments, the world's dataset map, descriptions), so that spelling
//! lives in one place.

use std::fmt;

/// A ZFS snapshot: the dataset it belongs to and its name. Its [`Display`](fmt::Display)
/// is `dataset@name`, the one way zfs(8) names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Snapshot<'a> {
    /// The snapshotted dataset (`zroot/jails/www/data`).
    pub dataset: &'a str,
    /// The snapshot's own name, after the `@`.
    pub name: &'a str,
}

impl<'a> Snapshot<'a> {
    /// The snapshot `name` of `dataset`.
    pub fn new(dataset: &'a str, name: &'a str) -> Self {
        Snapshot { dataset, name }
    }
}

impl fmt::Display for Snapshot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.dataset, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_written_dataset_at_name() {
        let snapshot = Snapshot::new("zroot/jails/base/14.3-RELEASE", "installed");
        assert_eq!(
            snapshot.to_string(),
            "zroot/jails/base/14.3-RELEASE@installed"
        );
        assert_eq!(
            format!("clone {snapshot}"),
            "clone zroot/jails/base/14.3-RELEASE@installed"
        );
    }
}
