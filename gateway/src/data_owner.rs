//! Who owns the data directory, and who acts on it.
//!
//! The administrator's commands (`room`, `token`, `audit`, `report`) act as
//! the owner of the data directory, and every command refuses a directory
//! that belongs to another user than the one it runs as.
//!
//! On a packaged gateway the service runs as the `samsyn` user and owns
//! `/var/lib/samsyn` (mode 0700); IT runs `samsyn-gateway room create` as
//! root. Files root wrote there (a new room list, the audit trail's next
//! file) would be root's, mode 0600, and the service could no longer read
//! them. So a command started as root on a data directory that belongs to
//! another user becomes that user before it touches anything, as `runuser
//! -u samsyn` would. Run by anyone else, or on a directory root owns, the
//! commands run as they were started.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::Context;

/// Who the command went on as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActingAs {
    /// The user that started it: not root, or no data directory owned by
    /// another user.
    Caller,
    /// Root, changed to the data directory's owner.
    Owner { uid: u32, gid: u32 },
}

/// Becomes the owner of `data_dir` when running as root and the directory
/// belongs to someone else; otherwise changes nothing.
///
/// Started by another user than root or the owner, it refuses: the files
/// it would write could not be read by the service (and the directory,
/// 0700, cannot be read by the caller anyway).
pub fn act_as_owner_of(data_dir: &Path) -> anyhow::Result<ActingAs> {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    #[allow(unsafe_code, reason = "libc: the effective user id")]
    let caller = unsafe { libc::geteuid() };
    if caller != 0 {
        return match std::fs::metadata(data_dir) {
            Ok(metadata) if metadata.uid() != caller => {
                let owner =
                    user_name(metadata.uid()).unwrap_or_else(|| format!("uid {}", metadata.uid()));
                anyhow::bail!(
                    "the data directory {dir} belongs to {owner}; run this command as root (it \
                     then acts as {owner}) or as {owner}: runuser -u {owner} -- samsyn-gateway …",
                    dir = data_dir.display(),
                )
            }
            _ => Ok(ActingAs::Caller),
        };
    }
    let metadata = match std::fs::metadata(data_dir) {
        Ok(metadata) => metadata,
        // A first run makes the directory, as root: nothing to share yet.
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(ActingAs::Caller),
        Err(err) => {
            return Err(err)
                .with_context(|| format!("cannot read the data directory {}", data_dir.display()));
        }
    };
    let (uid, gid) = (metadata.uid(), metadata.gid());
    if uid == 0 {
        return Ok(ActingAs::Caller);
    }
    become_user(uid, gid).with_context(|| {
        format!(
            "cannot act as the owner (uid {uid}) of the data directory {}; \
             run the command as that user: runuser -u <user> -- samsyn-gateway …",
            data_dir.display()
        )
    })?;
    Ok(ActingAs::Owner { uid, gid })
}

/// Drops root for good: no supplementary groups, then the group, then the
/// user (in that order: after setuid there is no right left to change the
/// groups).
fn become_user(uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain system calls on integers; an empty group list is valid
    // with a null pointer and a length of 0.
    #[allow(unsafe_code, reason = "libc: std cannot change the process's user")]
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::setgid(gid) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::setuid(uid) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Refuses a data directory that belongs to another user than the one this
/// process runs as: its private files (0600) would be unreadable, and what
/// the gateway wrote there unreadable for the owner. Says whose it is and
/// the `chown` that gives it back.
pub fn check_owned_by_self(data_dir: &Path) -> anyhow::Result<()> {
    let metadata = std::fs::metadata(data_dir)
        .with_context(|| format!("cannot read the data directory {}", data_dir.display()))?;
    // SAFETY: geteuid(2)/getegid(2) have no preconditions and cannot fail.
    #[allow(unsafe_code, reason = "libc: the effective user and group ids")]
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if metadata.uid() == uid {
        return Ok(());
    }
    let user = user_name(uid).unwrap_or_else(|| uid.to_string());
    let group = group_name(gid).unwrap_or_else(|| gid.to_string());
    let owner = user_name(metadata.uid()).unwrap_or_else(|| format!("uid {}", metadata.uid()));
    anyhow::bail!(
        "the data directory {dir} belongs to {owner}, not to {user} that samsyn-gateway runs as; \
         give it back with `chown -R {user}:{group} {dir}`, or set data_dir (--data-dir) to a \
         directory of {user}'s",
        dir = data_dir.display(),
    )
}

/// The name of user `uid` in `/etc/passwd`, if it has one there.
fn user_name(uid: u32) -> Option<String> {
    name_in_database("/etc/passwd", uid)
}

/// The name of group `gid` in `/etc/group`, if it has one there.
fn group_name(gid: u32) -> Option<String> {
    name_in_database("/etc/group", gid)
}

/// The first field of the line whose third field is `id`, in a file laid
/// out as `/etc/passwd` and `/etc/group` are (`name:x:id:…`). Only for
/// messages: a name from NSS (LDAP, sssd) shows as the number instead.
fn name_in_database(path: &str, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id_field = fields.nth(1)?;
        (id_field.parse() == Ok(id)).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_of_ones_own_passes() {
        let dir = tempfile::tempdir().unwrap();
        check_owned_by_self(dir.path()).unwrap();
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not-there");
        let err = check_owned_by_self(&missing).unwrap_err();
        assert!(format!("{err:#}").contains("not-there"), "{err:#}");
    }

    #[test]
    fn root_has_a_name() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(group_name(0).as_deref(), Some("root"));
        assert_eq!(name_in_database("/etc/passwd", u32::MAX - 7), None);
    }
}
