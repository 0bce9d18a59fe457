//! Who doctor checks device access for: the current process, or a named user looked up
//! in the sysroot's /etc/passwd and /etc/group.

use std::path::Path;

/// A user and their groups.
#[derive(Debug, Clone, PartialEq, Eq)]
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

fn passwd_lines(root: &Path, file: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(root.join(file))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').map(str::to_string).collect())
        .collect()
}

impl Identity {
    /// This process's user and groups.
    pub fn current(root: &Path) -> Identity {
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let mut gids = vec![gid];
        // SAFETY: first call asks for the count, second fills a buffer of that size.
        unsafe {
            let n = libc::getgroups(0, std::ptr::null_mut());
            if n > 0 {
                let mut buf = vec![0 as libc::gid_t; n as usize];
                let m = libc::getgroups(n, buf.as_mut_ptr());
                if m > 0 {
                    buf.truncate(m as usize);
                    for g in buf {
                        if !gids.contains(&g) {
                            gids.push(g);
                        }
                    }
                }
            }
        }
        let name = passwd_lines(root, "etc/passwd")
            .into_iter()
            .find(|f| f.len() > 2 && f[2].parse() == Ok(uid))
            .map(|f| f[0].clone());
        Identity {
            name,
            uid,
            gids,
            is_process: root == Path::new("/"),
        }
    }

    /// A user by name from `<root>/etc/passwd` and `<root>/etc/group`.
    pub fn lookup(root: &Path, user: &str) -> Result<Identity, IdentityError> {
        let pw = passwd_lines(root, "etc/passwd");
        let entry = pw
            .iter()
            .find(|f| f.first().map(String::as_str) == Some(user) && f.len() > 3)
            .ok_or_else(|| {
                IdentityError(format!(
                    "user {user:?} is not in {}",
                    root.join("etc/passwd").display()
                ))
            })?;
        let uid = entry[2].parse().map_err(|_| {
            IdentityError(format!("bad uid {:?} for {user} in /etc/passwd", entry[2]))
        })?;
        let gid: u32 = entry[3].parse().map_err(|_| {
            IdentityError(format!("bad gid {:?} for {user} in /etc/passwd", entry[3]))
        })?;
        let mut gids = vec![gid];
        for g in passwd_lines(root, "etc/group") {
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

    /// Can this identity read and write `path` (below `root`) with these bits?
    pub fn can_rw(&self, root: &Path, abs: &str, uid: u32, gid: u32, mode: u32) -> bool {
        if self.is_process {
            let p = crate::under(root, abs);
            let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) else {
                return false;
            };
            // SAFETY: a valid NUL-terminated path.
            return unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::W_OK) } == 0;
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

/// The name of a user id from `<root>/etc/passwd`.
pub fn user_name(root: &Path, uid: u32) -> Option<String> {
    passwd_lines(root, "etc/passwd")
        .into_iter()
        .find(|f| f.len() > 2 && f[2].parse() == Ok(uid))
        .map(|f| f[0].clone())
}

/// The name of a group id from `<root>/etc/group`.
pub fn group_name(root: &Path, gid: u32) -> Option<String> {
    passwd_lines(root, "etc/group")
        .into_iter()
        .find(|f| f.len() > 2 && f[2].parse() == Ok(gid))
        .map(|f| f[0].clone())
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
        let a = Identity::lookup(d.path(), "alice").unwrap();
        assert_eq!(a.gids, [1000, 44]);
        assert!(a.can_rw(d.path(), "/dev/dri/card0", 0, 44, 0o660));
        assert!(!a.can_rw(d.path(), "/dev/dri/renderD128", 0, 105, 0o660));
        assert!(a.can_rw(d.path(), "/dev/kfd", 0, 105, 0o666));
        assert_eq!(group_name(d.path(), 105).as_deref(), Some("render"));
        let e = Identity::lookup(d.path(), "bob").unwrap_err();
        assert!(e.0.contains("bob") && e.0.contains("passwd"), "{e}");
    }
}
