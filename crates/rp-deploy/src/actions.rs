//! Changes that are not file writes: a directory tree the transaction creates (a venv),
//! and supplementary groups added to a user. Each is recorded in the journal before it
//! is made; undoing is idempotent, so recovery after a crash at any point is safe.

use crate::fsx::{ctx, PathError};
use crate::journal::Action;
use crate::DeployError;
use std::path::Path;
use std::process::Command;

/// The file inside a created tree that names the transaction that created it.
pub const MARKER: &str = ".rocm-patch-transaction";

fn marker_text(seq: u64) -> String {
    format!("created by rocm-patch transaction {seq}; `rocm-patch rollback {seq}` removes this directory\n")
}

/// Check, before the journal is written, that an action can be made: a tree's directory
/// must not exist or be empty.
pub(crate) fn check(a: &Action) -> Result<(), DeployError> {
    match a {
        Action::Tree { path, .. } => {
            let p = Path::new(path);
            match std::fs::symlink_metadata(p) {
                Err(_) => Ok(()),
                Ok(m) if m.is_dir() => {
                    let empty = ctx(std::fs::read_dir(p), p, "cannot list")?
                        .next()
                        .is_none();
                    if empty {
                        Ok(())
                    } else {
                        Err(DeployError::Refused(format!(
                            "{path} exists and is not empty: name a new directory"
                        )))
                    }
                }
                Ok(_) => Err(DeployError::Refused(format!(
                    "{path} exists and is not a directory"
                ))),
            }
        }
        Action::Groups { groups, user, .. } => {
            if groups.is_empty() || user.is_empty() {
                return Err(DeployError::Plan(
                    "a group change names a user and groups".into(),
                ));
            }
            Ok(())
        }
    }
}

/// Make the recorded change (the tree: its directory and marker; the caller fills it).
pub(crate) fn apply(a: &Action, seq: u64) -> Result<(), DeployError> {
    match a {
        Action::Tree { path, .. } => {
            let p = Path::new(path);
            ctx(std::fs::create_dir_all(p), p, "cannot create directory")?;
            let m = p.join(MARKER);
            ctx(std::fs::write(&m, marker_text(seq)), &m, "cannot write")?;
            Ok(())
        }
        Action::Groups {
            user,
            groups,
            prefix,
            ..
        } => usermod(prefix, "-aG", &groups.join(","), user),
    }
}

/// Undo a recorded change; a change that was never made (or already undone) is fine.
pub(crate) fn undo(a: &Action, seq: u64) -> Result<(), DeployError> {
    match a {
        Action::Tree { path, parents } => {
            let p = Path::new(path);
            // The directories made for it go too, when nothing else is in them.
            let remove_parents = || {
                for q in parents {
                    if std::fs::remove_dir(q).is_err() {
                        break;
                    }
                }
            };
            if std::fs::symlink_metadata(p).is_err() {
                remove_parents();
                return Ok(());
            }
            let marker = std::fs::read_to_string(p.join(MARKER)).ok();
            if marker.as_deref() == Some(marker_text(seq).as_str()) {
                ctx(std::fs::remove_dir_all(p), p, "cannot remove")?;
                remove_parents();
                return Ok(());
            }
            // Created but the marker not yet written: only an empty directory is removed.
            match std::fs::remove_dir(p) {
                Ok(()) => {
                    remove_parents();
                    Ok(())
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
                    Err(DeployError::Refused(format!(
                        "{path} does not hold this transaction's marker ({MARKER}) and is not empty: left in place, remove it by hand if it is not yours"
                    )))
                }
                Err(e) => Err(PathError {
                    path: path.clone(),
                    what: "cannot remove",
                    err: e,
                }
                .into()),
            }
        }
        Action::Groups {
            user,
            groups,
            prefix,
            backups,
        } => {
            let now = members(prefix, user)?;
            for g in groups.iter().filter(|g| now.contains(*g)) {
                usermod(prefix, "-rG", g, user)?;
            }
            // usermod leaves `<file>-` backups behind: put back what was there.
            for b in backups {
                let f = Path::new(prefix).join(&b.file);
                match &b.before {
                    Some(text) => ctx(std::fs::write(&f, text), &f, "cannot restore")?,
                    None => match std::fs::remove_file(&f) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(PathError {
                                path: f.display().to_string(),
                                what: "cannot remove",
                                err: e,
                            }
                            .into())
                        }
                        _ => {}
                    },
                }
            }
            Ok(())
        }
    }
}

/// Groups whose member list in `{prefix}/etc/group` names `user`.
pub fn members(prefix: &str, user: &str) -> Result<Vec<String>, DeployError> {
    let p = Path::new(prefix).join("etc/group");
    let timeout = std::time::Duration::from_secs(2);
    let root = if prefix == "/" {
        rp_machine::SysRoot::live(timeout)
    } else {
        rp_machine::SysRoot::open(Path::new(prefix), timeout)
            .map_err(|e| DeployError::Refused(e.to_string()))?
    };
    let text = root
        .read_text(&p, 4 << 20)
        .map_err(|e| DeployError::Refused(format!("{}: {e:?}", p.display())))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() == 4 && f[3].split(',').any(|m| m == user)).then(|| f[0].to_string())
        })
        .collect())
}

/// `usermod [--prefix P] FLAG GROUPS USER`.
fn usermod(prefix: &str, flag: &str, groups: &str, user: &str) -> Result<(), DeployError> {
    let mut c = Command::new("usermod");
    if prefix != "/" {
        c.args(["--prefix", prefix]);
    }
    c.args([flag, groups, "--", user]);
    let opts = rp_sys::process::Options {
        deadline: Some(std::time::Duration::from_secs(60)),
        ..Default::default()
    };
    let out = rp_sys::process::run_bounded(c, &opts, 1 << 20)
        .map_err(|e| DeployError::Refused(e.to_string()))?;
    if !out.ended.success() {
        return Err(DeployError::Refused(format!(
            "usermod {flag} {groups} {user} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
