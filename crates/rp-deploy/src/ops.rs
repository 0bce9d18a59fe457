//! A plan's steps turned into journal ops: the state of every target before and after,
//! the parent directories to create, and the originals copied into the store before
//! anything is touched.

use crate::check::no_link_below;
use crate::fsx::{self, ctx, Found};
use crate::journal::{Entry, Op, StateDir};
use crate::plan::{self, Step};
use crate::DeployError;
use std::path::{Path, PathBuf};

/// The state of a path as a journal entry (hashing files).
fn entry_of(p: &Path) -> Result<Entry, DeployError> {
    Ok(match fsx::found(p)? {
        Found::Missing => Entry::Missing,
        Found::File { mode } => {
            let (sha256, size) = fsx::sha256_file(p)?;
            Entry::File { sha256, mode, size }
        }
        Found::Symlink(t) => Entry::Symlink { target: t },
        Found::Dir => Entry::Dir,
        Found::Other => {
            return Err(DeployError::Refused(format!(
                "{} is not a regular file, symlink or directory",
                p.display()
            )))
        }
    })
}

/// Turn steps into journal ops by reading the current state of every target.
pub(crate) fn build_ops(s: &StateDir, into: &Path, steps: &[Step]) -> Result<Vec<Op>, DeployError> {
    let mut ops: Vec<Op> = Vec::new();
    let mut made_dirs: Vec<PathBuf> = Vec::new();
    for st in steps {
        let rel = match st {
            Step::File { target, .. } | Step::Symlink { target, .. } | Step::Remove { target } => {
                target
            }
        };
        plan::check_relative(rel).map_err(DeployError::Plan)?;
        let path = into.join(rel);
        no_link_below(into, &path)?;
        if ops.iter().any(|o| Path::new(&o.path) == path) {
            return Err(DeployError::Plan(format!(
                "{} appears twice in the plan",
                path.display()
            )));
        }
        // Parent directories to create (recorded, so rollback removes them).
        if !matches!(st, Step::Remove { .. }) {
            let mut missing = Vec::new();
            let mut d = path.parent();
            while let Some(dir) = d {
                if dir == into || !dir.starts_with(into) {
                    break;
                }
                match fsx::found(dir)? {
                    Found::Missing if !made_dirs.contains(&dir.to_path_buf()) => {
                        missing.push(dir.to_path_buf())
                    }
                    Found::Dir | Found::Missing => break,
                    _ => {
                        return Err(DeployError::Refused(format!(
                            "{} is in the way: not a directory",
                            dir.display()
                        )))
                    }
                }
                d = dir.parent();
            }
            for dir in missing.into_iter().rev() {
                made_dirs.push(dir.clone());
                ops.push(Op {
                    path: dir.display().to_string(),
                    before: Entry::Missing,
                    after: Entry::Dir,
                    source: None,
                });
            }
        }
        let before = entry_of(&path)?;
        if before == Entry::Dir {
            return Err(DeployError::Refused(format!(
                "{} is a directory; only files and symlinks are deployed",
                path.display()
            )));
        }
        let (after, source) = match st {
            Step::File { source, mode, .. } => {
                let md = ctx(std::fs::metadata(source), source, "cannot read the source")?;
                if !md.is_file() {
                    return Err(DeployError::Plan(format!(
                        "source {} is not a file",
                        source.display()
                    )));
                }
                let (sha256, size) = fsx::sha256_file(source)?;
                let mode = mode.unwrap_or(match &before {
                    Entry::File { mode, .. } => *mode,
                    _ => std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o7777,
                });
                (
                    Entry::File { sha256, mode, size },
                    Some(source.display().to_string()),
                )
            }
            Step::Symlink { to, .. } => (Entry::Symlink { target: to.clone() }, None),
            Step::Remove { .. } => {
                if before == Entry::Missing {
                    return Err(DeployError::Plan(format!(
                        "cannot remove {}: it does not exist",
                        path.display()
                    )));
                }
                (Entry::Missing, None)
            }
        };
        if before == after {
            continue; // already in place
        }
        ops.push(Op {
            path: path.display().to_string(),
            before,
            after,
            source,
        });
    }
    // Originals into the store before anything is touched.
    for op in &ops {
        if let Entry::File { sha256, .. } = &op.before {
            s.store(Path::new(&op.path), sha256)?;
        }
    }
    Ok(ops)
}
