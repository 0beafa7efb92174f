//! The jail's fstab(5) file, as thinjail writes it and as jail(8) reads it back: the
//! article's two nullfs lines (base read-only on the jail's root, data read-write on
//! its `skeleton`), then the jail's extra mounts. Used by the mount stage, the
//! lifecycle plans and the test bed.

use std::path::Path;

use crate::layout::{Layout, SKELETON_DIR};
use crate::recipe::Jail;

/// The jail's fstab: the base read-only on its root, its data read-write on the
/// root's `skeleton` — the article's two lines, written literally: jail(8) reads
/// `mount.fstab` itself, splitting lines on blanks without decoding fstab(5)'s `\040`
/// escapes (`check_intparams` in usr.sbin/jail/config.c), which is why recipe
/// validation refuses a `jails_dir` with blanks, `#` or shell characters
/// ([`crate::validate::check_jail_visible_path`]).
///
/// The jail's extra mounts ([`Jail::mounts`]) follow, each on the real directory in
/// its data below `skeleton` ([`crate::resources::mounts`]), so they are mounted
/// after the data and unmounted before it.
pub fn fstab_for(layout: &Layout<'_>, jail: &Jail) -> String {
    fstab_on_release(layout, &jail.name, &jail.release, &jail.mounts)
}

/// The fstab of jail `name` on `release`'s base with its extra `mounts`: what
/// [`fstab_for`] writes, for another release too (an upgrade keeps the mounts).
pub fn fstab_on_release(
    layout: &Layout<'_>,
    name: &str,
    release: &str,
    mounts: &[crate::resources::Mount],
) -> String {
    let root = layout.root(name);
    let mut text = fstab_text(&layout.base_dir(release), &layout.data_dir(name), &root);
    text.push_str(&crate::resources::mounts::fstab_lines(
        &root.join(SKELETON_DIR),
        mounts,
    ));
    text
}

/// The two fstab lines for a root assembled from `base` and `data`, whose paths come
/// from a validated recipe (nothing jail(8) would split or cut).
fn fstab_text(base: &Path, data: &Path, root: &Path) -> String {
    let field = |p: &Path| p.display().to_string();
    format!(
        "{}  {}  nullfs  ro  0   0\n{}  {}  nullfs  rw  0   0\n",
        field(base),
        field(root),
        field(data),
        field(&root.join(SKELETON_DIR)),
    )
}

/// The base an existing fstab mounts read-only on the jail's root (its first entry),
/// read as jail(8) reads it: each line cut at `#`, then split on blanks.
pub fn fstab_base(fstab: &str) -> Option<String> {
    fstab
        .lines()
        .filter_map(|line| line.split('#').next())
        .find_map(|line| line.split_whitespace().next())
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstab_has_the_articles_two_lines_written_literally() {
        let text = fstab_text(
            Path::new("/j/base/13.1-RELEASE-base"),
            Path::new("/j/t0/data"),
            Path::new("/j/.mountpoints/t0"),
        );
        assert_eq!(
            text,
            "/j/base/13.1-RELEASE-base  /j/.mountpoints/t0  nullfs  ro  0   0\n/j/t0/data  /j/.mountpoints/t0/skeleton  nullfs  rw  0   0\n"
        );
        // Read back as jail(8) does: no escapes decoded, comments cut at `#`.
        assert_eq!(
            fstab_base("# thinjail\n  \n/j/base/x#comment /j/r nullfs ro 0 0\n").as_deref(),
            Some("/j/base/x")
        );
        assert_eq!(
            fstab_base("/my\\040jails/b /r nullfs ro 0 0\n").as_deref(),
            Some("/my\\040jails/b")
        );
    }
}
