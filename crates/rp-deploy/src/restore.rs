//! Undoing a transaction: every path put back to its recorded `before` state from the
//! store of originals, idempotently, so an interrupted undo is finished by running it
//! again.

use crate::apply::tmp_for;
use crate::fsx::{self, ctx, Found};
use crate::journal::{Entry, Journal, Op, StateDir, TxState};
use crate::{actions, DeployError};
use std::path::Path;

/// Test hook: abort the process after this many undone file operations of a rollback
/// (ROCM_PATCH_FAULT_AFTER_UNDO), to test recovery of an interrupted rollback at an exact
/// point.
fn undo_fault_point(done: usize) {
    if let Ok(v) = std::env::var("ROCM_PATCH_FAULT_AFTER_UNDO") {
        if v.parse::<usize>().ok() == Some(done) {
            std::process::abort();
        }
    }
}

/// Put one path back to its `before` state. Idempotent.
fn restore_op(s: &StateDir, op: &Op, seq: u64, i: usize) -> Result<(), DeployError> {
    let path = Path::new(&op.path);
    let dir = path.parent().unwrap_or(Path::new("/"));
    // Leftovers of an interrupted write.
    let tmp = tmp_for(path, seq, i);
    if fsx::found(&tmp)? != Found::Missing {
        ctx(std::fs::remove_file(&tmp), &tmp, "cannot remove")?;
    }
    let now = fsx::found(path)?;
    match &op.before {
        Entry::Dir => {}
        Entry::Missing => match now {
            Found::Missing => {}
            Found::Dir => {
                // A directory this transaction made: remove it if it is empty again.
                if matches!(op.after, Entry::Dir) {
                    match std::fs::remove_dir(path) {
                        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {}
                        r => ctx(r, path, "cannot remove directory")?,
                    }
                }
            }
            _ => ctx(std::fs::remove_file(path), path, "cannot remove")?,
        },
        Entry::File { sha256, mode, .. } => {
            let same = matches!(now, Found::File { .. }) && &fsx::sha256_file(path)?.0 == sha256;
            if same {
                if now != (Found::File { mode: *mode }) {
                    ctx(
                        std::fs::set_permissions(
                            path,
                            std::os::unix::fs::PermissionsExt::from_mode(*mode),
                        ),
                        path,
                        "cannot set mode",
                    )?;
                }
            } else {
                s.check_blob(sha256, &op.path)?;
                // Unlink first: on a full disk this frees the space the copy needs.
                if now != Found::Missing {
                    ctx(std::fs::remove_file(path), path, "cannot remove")?;
                }
                fsx::write_new(&s.blob(sha256), &tmp, *mode)?;
                fsx::rename_into(&tmp, path)?;
            }
        }
        Entry::Symlink { target } => {
            if now != Found::Symlink(target.clone()) {
                if now != Found::Missing {
                    ctx(std::fs::remove_file(path), path, "cannot remove")?;
                }
                ctx(
                    std::os::unix::fs::symlink(target, path),
                    path,
                    "cannot create symlink",
                )?;
            }
        }
    }
    fsx::fsync_dir(dir)?;
    Ok(())
}

/// Every stored original a transaction would put back is there, unchanged: checked
/// before anything is restored, so a damaged store changes nothing.
pub(crate) fn verify_store(s: &StateDir, j: &Journal) -> Result<(), DeployError> {
    for op in &j.ops {
        if let Entry::File { sha256, .. } = &op.before {
            s.check_blob(sha256, &op.path)?;
        }
    }
    Ok(())
}

/// Undo a transaction: mark it rolling-back, restore every path in reverse, mark it
/// rolled back.
pub(crate) fn restore(
    s: &StateDir,
    j: &mut Journal,
    note: Option<String>,
) -> Result<(), DeployError> {
    j.state = TxState::RollingBack;
    s.write(j)?;
    for a in j.actions.iter().rev() {
        actions::undo(a, j.seq)?;
    }
    for (n, (i, op)) in j.ops.iter().enumerate().rev().enumerate() {
        restore_op(s, op, j.seq, i)?;
        undo_fault_point(n + 1);
    }
    j.state = TxState::RolledBack;
    if note.is_some() {
        j.note = note;
    }
    s.write(j)?;
    Ok(())
}
