//! Users and groups from the machine's /etc/passwd and /etc/group, and who device
//! access is checked for: the current process, or a named user.

use crate::SysRoot;
use std::path::Path;

/// The machine's /etc/passwd and /etc/group, parsed once.
#[derive(Debug, Clone, Default)]
pub struct Users {
    passwd: Vec<Vec<String>>,
    group: Vec<Vec<String>>,
}

fn colon_lines(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').map(str::to_string).collect())
        .collect()
}

impl Users {
    /// Read both files below the root (missing files are empty).
    pub fn read(root: &SysRoot) -> Users {
        let read = |f: &str| colon_lines(&root.text(&root.host(f)).unwrap_or_default());
        Users {
            passwd: read("/etc/passwd"),
            group: read("/etc/group"),
        }
    }

    /// From the texts of /etc/passwd and /etc/group.
    pub fn parse(passwd: &str, group: &str) -> Users {
        Users {
            passwd: colon_lines(passwd),
            group: colon_lines(group),
        }
    }

    /// The name of a user id.
    pub fn user_name(&self, uid: u32) -> Option<String> {
        self.passwd
            .iter()
            .find(|f| f.len() > 2 && f[2].parse() == Ok(uid))
            .map(|f| f[0].clone())
    }

    /// The name of a group id.
    pub fn group_name(&self, gid: u32) -> Option<String> {
        self.group
            .iter()
            .find(|f| f.len() > 2 && f[2].parse() == Ok(gid))
            .map(|f| f[0].clone())
    }

    /// A user's home directory (a machine path).
    pub fn home_of(&self, uid: u32) -> Option<String> {
        self.passwd
            .iter()
            .find(|f| f.len() > 5 && f[2].parse() == Ok(uid))
            .map(|f| f[5].clone())
            .filter(|h| h.starts_with('/'))
    }
}

/// A user and their groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// User name, when known.
    pub name: Option<String>,
    /// User id.
    pub uid: u32,
    /// Primary and supplementary group ids.
    pub gids: Vec<u32>,
    /// The identity of this process: access is then checked with access(2), which also
    /// honours ACLs (e.g. systemd-logind's uaccess on render nodes).
    pub is_process: bool,
}

/// A user that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityError(pub String);

impl std::fmt::Display for IdentityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Identity {
    /// This process's user and groups; access is checked with access(2) only on the live
    /// machine.
    pub fn current(users: &Users, live: bool) -> Identity {
        let (uid, gid) = (rp_sys::os::uid(), rp_sys::os::gid());
        let mut gids = vec![gid];
        for g in rp_sys::os::groups() {
            if !gids.contains(&g) {
                gids.push(g);
            }
        }
        Identity {
            name: users.user_name(uid),
            uid,
            gids,
            is_process: live,
        }
    }

    /// A user by name from the machine's /etc/passwd and /etc/group (`passwd_shown` is
    /// how the error names the file).
    pub fn lookup(
        users: &Users,
        user: &str,
        passwd_shown: &str,
    ) -> Result<Identity, IdentityError> {
        let entry = users
            .passwd
            .iter()
            .find(|f| f.first().map(String::as_str) == Some(user) && f.len() > 3)
            .ok_or_else(|| IdentityError(format!("user {user:?} is not in {passwd_shown}")))?;
        let uid = entry[2].parse().map_err(|_| {
            IdentityError(format!("bad uid {:?} for {user} in /etc/passwd", entry[2]))
        })?;
        let gid: u32 = entry[3].parse().map_err(|_| {
            IdentityError(format!("bad gid {:?} for {user} in /etc/passwd", entry[3]))
        })?;
        let mut gids = vec![gid];
        for g in &users.group {
            if g.len() > 3 && g[3].split(',').any(|m| m == user) {
                if let Ok(id) = g[2].parse() {
                    if !gids.contains(&id) {
                        gids.push(id);
                    }
                }
            }
        }
        Ok(Identity {
            name: Some(user.to_string()),
            uid,
            gids,
            is_process: false,
        })
    }

    /// Can this identity read and write the device node at `host` with these bits?
    pub fn can_rw(&self, host: &Path, uid: u32, gid: u32, mode: u32) -> bool {
        if self.is_process {
            return rp_sys::os::access(host, rp_sys::os::Access::ReadWrite);
        }
        if self.uid == 0 {
            return true;
        }
        let bits = if uid == self.uid {
            mode >> 6
        } else if self.gids.contains(&gid) {
            mode >> 3
        } else {
            mode
        };
        bits & 0o6 == 0o6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_mode_bits() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/bash\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nvideo:x:44:alice\nrender:x:105:\nalice:x:1000:\n",
        )
        .unwrap();
        let root = SysRoot::open(d.path(), std::time::Duration::from_secs(1)).unwrap();
        let users = Users::read(&root);
        let a = Identity::lookup(&users, "alice", "/etc/passwd").unwrap();
        assert_eq!(a.gids, [1000, 44]);
        let dev = Path::new("/nonexistent");
        assert!(a.can_rw(dev, 0, 44, 0o660));
        assert!(!a.can_rw(dev, 0, 105, 0o660));
        assert!(a.can_rw(dev, 0, 105, 0o666));
        assert_eq!(users.group_name(105).as_deref(), Some("render"));
        assert_eq!(users.home_of(1000).as_deref(), Some("/home/alice"));
        let e = Identity::lookup(&users, "bob", "/etc/passwd").unwrap_err();
        assert!(e.0.contains("bob") && e.0.contains("passwd"), "{e}");
    }
}
