//! One journal op made in the tree (a new file under a temporary name, fsync'd and
//! renamed into place), and the check that a path holds what the op wrote.

use crate::fsx::{self, ctx, Found};
use crate::journal::{Entry, Op};
use crate::{DeployError, PathError};
use std::path::{Path, PathBuf};

pub(crate) fn tmp_for(path: &Path, seq: u64, i: usize) -> PathBuf {
    fsx::tmp_sibling(path, &format!("rp-tmp-{seq}-{i}"))
}

/// Apply one op (forward).
pub(crate) fn apply_op(op: &Op, seq: u64, i: usize) -> Result<(), DeployError> {
    let path = Path::new(&op.path);
    let dir = path.parent().unwrap_or(Path::new("/"));
    match &op.after {
        Entry::Dir => {
            if fsx::found(path)? != Found::Dir {
                ctx(std::fs::create_dir(path), path, "cannot create directory")?;
            }
            fsx::fsync_dir(dir)?;
        }
        Entry::File { mode, .. } => {
            let src = Path::new(op.source.as_deref().expect("file ops carry a source"));
            let tmp = tmp_for(path, seq, i);
            let _ = std::fs::remove_file(&tmp);
            fsx::write_new(src, &tmp, *mode).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })?;
            fsx::rename_into(&tmp, path)?;
        }
        Entry::Symlink { target } => {
            let tmp = tmp_for(path, seq, i);
            let _ = std::fs::remove_file(&tmp);
            ctx(
                std::os::unix::fs::symlink(target, &tmp),
                &tmp,
                "cannot create symlink",
            )?;
            fsx::rename_into(&tmp, path)?;
        }
        Entry::Missing => {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(PathError {
                        path: op.path.clone(),
                        what: "cannot remove",
                        err: e,
                    }
                    .into())
                }
                _ => {}
            }
            fsx::fsync_dir(dir)?;
        }
    }
    Ok(())
}

/// Does a path hold what the journal says it should after the transaction?
pub(crate) fn matches_after(op: &Op) -> Result<bool, DeployError> {
    let p = Path::new(&op.path);
    Ok(match (&op.after, fsx::found(p)?) {
        (Entry::Missing, Found::Missing) => true,
        (Entry::Dir, Found::Dir) => true,
        (Entry::Symlink { target }, Found::Symlink(t)) => &t == target,
        (Entry::File { sha256, mode, .. }, Found::File { mode: m }) => {
            m == *mode && &fsx::sha256_file(p)?.0 == sha256
        }
        _ => false,
    })
}
