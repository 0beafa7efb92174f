//! One `mount.fstab` line of a jail, carried out on Linux the way FreeBSD's
//! mount(8) would carry it out for jail(8) (`IP__MOUNT_FROM_FSTAB` in
//! `usr.sbin/jail/command.c` runs `mount -t FSTYPE [-o OPTIONS] SOURCE TARGET`):
//!
//! - `nullfs` → `mount --bind SOURCE TARGET`, then `mount -o remount,bind,ro TARGET`
//!   when the options say `ro`, so a write fails with "Read-only file system" as it
//!   does through a read-only nullfs;
//! - `tmpfs` → `mount -t tmpfs -o OPTIONS,mode=M,uid=U,gid=G tmpfs TARGET`: FreeBSD's
//!   tmpfs gives its root directory the mode, owner and group of the mount point
//!   unless the options say otherwise (`tmpfs_mount` in
//!   `sys/fs/tmpfs/tmpfs_vfsops.c`), where Linux's would make it 1777 root; the
//!   test bed passes the mount point's own, so a jail's tmpfs is not more open here
//!   than on FreeBSD. `size=` is read by both in bytes.
//!
//! Any other file system is refused (the test bed cannot mount it), and so is an
//! option the test bed does not carry over (only `ro`/`rw` for nullfs; `rw`,
//! `size`, `mode`, `uid`, `gid` for tmpfs) — refusing is never kinder.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use thinjail_core::host::HostError;

/// The Linux commands that mount one fstab line's `source` on `target`.
pub fn linux_commands(
    source: &str,
    target: &str,
    fstype: &str,
    options: Option<&str>,
) -> Result<Vec<Vec<String>>, HostError> {
    let options: Vec<&str> = options
        .map(|o| o.split(',').filter(|o| !o.is_empty()).collect())
        .unwrap_or_default();
    let argv = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    match fstype {
        "nullfs" => {
            if let Some(other) = options.iter().find(|o| !matches!(**o, "ro" | "rw")) {
                return Err(HostError::Unsupported(format!(
                    "the test bed mounts nullfs with ro or rw only, not {other}"
                )));
            }
            let mut commands = vec![argv(&["mount", "--bind", source, target])];
            if options.contains(&"ro") {
                commands.push(argv(&["mount", "-o", "remount,bind,ro", target]));
            }
            Ok(commands)
        }
        "tmpfs" => {
            let mut kept: Vec<String> = Vec::new();
            for option in &options {
                let name = option.split('=').next().unwrap_or_default();
                if !matches!(name, "rw" | "size" | "mode" | "uid" | "gid") {
                    return Err(HostError::Unsupported(format!(
                        "the test bed mounts tmpfs with rw, size, mode, uid and gid only, not {option}"
                    )));
                }
                kept.push(option.to_string());
            }
            let point = std::fs::symlink_metadata(Path::new(target))
                .map_err(|e| HostError::io(format!("look at {target}"), e))?;
            let given = |name: &str| options.iter().any(|o| o.starts_with(&format!("{name}=")));
            if !given("mode") {
                kept.push(format!("mode={:o}", point.mode() & 0o7777));
            }
            if !given("uid") {
                kept.push(format!("uid={}", point.uid()));
            }
            if !given("gid") {
                kept.push(format!("gid={}", point.gid()));
            }
            let joined = kept.join(",");
            Ok(vec![argv(&[
                "mount", "-t", "tmpfs", "-o", &joined, source, target,
            ])])
        }
        other => Err(HostError::Unsupported(format!(
            "the test bed mounts only nullfs and tmpfs, not {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn nullfs_and_tmpfs_lines_become_linux_mounts() {
        assert_eq!(
            linux_commands("/srv", "/j/r/skeleton/srv", "nullfs", Some("ro")).unwrap(),
            [
                vec!["mount", "--bind", "/srv", "/j/r/skeleton/srv"],
                vec!["mount", "-o", "remount,bind,ro", "/j/r/skeleton/srv"],
            ]
        );
        assert_eq!(
            linux_commands("/srv", "/j/r", "nullfs", Some("rw")).unwrap(),
            [vec!["mount", "--bind", "/srv", "/j/r"]]
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
        let target = dir.path().display().to_string();
        let meta = std::fs::metadata(dir.path()).unwrap();
        assert_eq!(
            linux_commands("tmpfs", &target, "tmpfs", Some("rw,size=8388608")).unwrap(),
            [vec![
                "mount".to_string(),
                "-t".into(),
                "tmpfs".into(),
                "-o".into(),
                format!(
                    "rw,size=8388608,mode=750,uid={},gid={}",
                    meta.uid(),
                    meta.gid()
                ),
                "tmpfs".into(),
                target.clone(),
            ]]
        );
        assert!(linux_commands("/srv", "/j", "nullfs", Some("ro,noexec")).is_err());
        assert!(linux_commands("tmpfs", &target, "tmpfs", Some("nosuid")).is_err());
        assert!(linux_commands("/dev/ada0", "/j", "ufs", None).is_err());
    }
}
