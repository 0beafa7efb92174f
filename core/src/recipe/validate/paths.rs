//! Paths: absolute and relative, clean, visible in a jail, and the host's system
//! directories and files thinjail never writes.

use std::path::{Component, Path};

use super::describe_char;

/// Checks a host path the recipe names: absolute, no `.`/`..`/empty components, no
/// control characters, not `/` itself.
pub fn check_absolute_path(path: &Path) -> Result<(), String> {
    let text = path
        .to_str()
        .ok_or_else(|| "the path is not valid UTF-8".to_string())?;
    if !path.is_absolute() {
        return Err(format!("{text:?} is not an absolute path"));
    }
    check_path_text(text)?;
    if path.components().count() < 2 {
        return Err("the root directory itself cannot be used".into());
    }
    Ok(())
}

/// Checks a path relative to a jail's root, such as `usr/local`.
pub fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.starts_with('/') {
        return Err(format!(
            "{path:?} must be relative to the jail's root (no leading `/`)"
        ));
    }
    check_path_text(path)?;
    if let Some(bad) = path
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.-/+".contains(*c)))
    {
        return Err(format!("{bad:?} is not allowed here"));
    }
    Ok(())
}

pub(super) fn check_path_text(text: &str) -> Result<(), String> {
    if text.chars().any(char::is_control) {
        return Err("the path contains a control character".into());
    }
    if text.len() > 1 && text.ends_with('/') {
        return Err("remove the trailing `/`".into());
    }
    if text.contains("//") {
        return Err("the path contains an empty component (`//`)".into());
    }
    for component in Path::new(text).components() {
        match component {
            Component::ParentDir => return Err("`..` is not allowed in paths".into()),
            Component::CurDir => return Err("`.` components are not allowed in paths".into()),
            _ => {}
        }
    }
    if text.split('/').any(|c| c == "." || c == "..") {
        return Err("`.` and `..` are not allowed in paths".into());
    }
    Ok(())
}

/// Checks a path that jail(8) reads from a jail's `mount.fstab` or puts into a shell
/// command line: `jails_dir`, from which every jail's root, base and fstab derive.
///
/// jail(8) reads `mount.fstab` with fgetln(3), cuts each line at the first `#` and
/// splits it on blanks, without decoding `\040` escapes (`check_intparams` in
/// usr.sbin/jail/config.c, `IP__MOUNT_FROM_FSTAB` in usr.sbin/jail/command.c); and it
/// gives an `exec.*` command holding a shell metacharacter to `sh -c` (an older jail(8)
/// even mounted devfs through `sh -c "… devfs_mount_jail PATH/dev"`). So
/// only the characters a POSIX shell reads literally in an unquoted word are allowed:
/// ASCII letters, digits and `_@%+=:,./-`.
pub fn check_jail_visible_path(path: &Path) -> Result<(), String> {
    let text = path.to_str().unwrap_or_default();
    match text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(*c)))
    {
        None => Ok(()),
        Some(bad) => Err(format!(
            "{} cannot be used here: jail(8) splits mount.fstab lines on blanks and cuts them \
             at `#` without decoding escapes, and gives commands with shell characters to sh -c; \
             use only letters, digits and _@%+=:,./-",
            describe_char(bad)
        )),
    }
}

/// Directories that must never be `jails_dir` or `cache_dir`, nor lie below either
/// of them: hier(7)'s top-level directories and those below `/usr`, `/usr/local` and
/// `/var` that the base system and packages own. `jails_dir` becomes a ZFS mountpoint
/// (mounting over one of these hides the host's own files, and `destroy` removes
/// things below it); `cache_dir` is created private to root.
pub const CRITICAL_DIRS: [&str; 38] = [
    "/",
    "/bin",
    "/boot",
    "/compat",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/libexec",
    "/media",
    "/mnt",
    "/net",
    "/proc",
    "/rescue",
    "/root",
    "/sbin",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/home",
    "/usr/include",
    "/usr/lib",
    "/usr/lib32",
    "/usr/libexec",
    "/usr/local",
    "/usr/local/bin",
    "/usr/local/etc",
    "/usr/local/lib",
    "/usr/local/sbin",
    "/usr/sbin",
    "/usr/share",
    "/usr/src",
    "/var",
    "/var/db",
    "/var/empty",
    "/var/log",
    "/var/run",
    "/var/tmp",
];

/// Directories no file thinjail writes (`jail_conf`, `rc_conf`, `lock_file`) and no
/// cache may be in: what the base system installs and an upgrade replaces (hier(7):
/// programs, libraries, `/boot`, device and process file systems), and the `/etc`
/// directories whose every file is read as a command or a policy (rc.d, periodic,
/// pam.d, cron.d, defaults, ssh, ssl, mtree).
pub const SYSTEM_DIRS: [&str; 23] = [
    "/bin",
    "/boot",
    "/dev",
    "/lib",
    "/libexec",
    "/proc",
    "/rescue",
    "/sbin",
    "/usr/bin",
    "/usr/include",
    "/usr/lib",
    "/usr/lib32",
    "/usr/libexec",
    "/usr/sbin",
    "/usr/share",
    "/etc/cron.d",
    "/etc/defaults",
    "/etc/mtree",
    "/etc/pam.d",
    "/etc/periodic",
    "/etc/rc.d",
    "/etc/ssh",
    "/etc/ssl",
];

/// Files that `jail_conf`, `rc_conf` and `lock_file` may never be: those that decide
/// who can log in and with what privilege (the password and group databases,
/// login.conf, login.access, shells, ttys), what is mounted and run at boot (fstab,
/// sysctl.conf, rc, rc.subr, rc.shutdown, devfs.conf, devfs.rules; loader.conf is in
/// `/boot`), what runs on a schedule (crontab) and how names resolve (hosts,
/// resolv.conf, nsswitch.conf). thinjail edits its files in place and creates its
/// lock; aimed at one of these, either would damage the host.
pub const SYSTEM_FILES: [&str; 22] = [
    "/etc/passwd",
    "/etc/master.passwd",
    "/etc/group",
    "/etc/pwd.db",
    "/etc/spwd.db",
    "/etc/login.conf",
    "/etc/login.conf.db",
    "/etc/login.access",
    "/etc/shells",
    "/etc/ttys",
    "/etc/fstab",
    "/etc/sysctl.conf",
    "/etc/rc",
    "/etc/rc.subr",
    "/etc/rc.shutdown",
    "/etc/devfs.conf",
    "/etc/devfs.rules",
    "/etc/crontab",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/localtime",
];

/// Checks a file thinjail writes on the host (`jail_conf`, `rc_conf`, `lock_file`):
/// not one of [`SYSTEM_FILES`], not in one of [`SYSTEM_DIRS`].
pub fn check_host_file(path: &Path) -> Result<(), String> {
    if SYSTEM_FILES.iter().any(|f| path == Path::new(f)) {
        return Err(format!(
            "{} is a system file (it decides logins, boot, scheduled jobs or name \
             resolution); thinjail must never write it",
            path.display()
        ));
    }
    check_outside_system_dirs(path)
}

pub(super) fn check_outside_system_dirs(path: &Path) -> Result<(), String> {
    match SYSTEM_DIRS.iter().find(|d| path.starts_with(d)) {
        Some(dir) => Err(format!(
            "{} is inside {dir}, which the base system owns; thinjail must never write there",
            path.display()
        )),
        None => Ok(()),
    }
}

/// Checks a directory that becomes a mountpoint or a private cache (`jails_dir`,
/// `cache_dir`): neither one of [`CRITICAL_DIRS`] nor a parent of one, nor inside
/// one of [`SYSTEM_DIRS`].
pub fn check_host_dir(path: &Path) -> Result<(), String> {
    if let Some(critical) = CRITICAL_DIRS
        .iter()
        .find(|d| Path::new(d).starts_with(path))
    {
        return Err(if Path::new(critical) == path {
            format!("{critical} is a system directory; use a directory of thinjail's own")
        } else {
            format!(
                "{} contains the system directory {critical}; use a directory of thinjail's own",
                path.display()
            )
        });
    }
    check_outside_system_dirs(path)
}
