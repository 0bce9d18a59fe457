//! Deployment plans: a TOML file, one library, or one arch's Tensile files.

use serde::Deserialize;
use std::path::{Component, Path, PathBuf};

/// One requested change, before the current state is read.
#[derive(Debug, Clone)]
pub enum Step {
    /// Copy `source` to `target` (relative to the tree), with an optional mode.
    File {
        /// Where the content comes from.
        source: PathBuf,
        /// Path inside the tree.
        target: PathBuf,
        /// Permission bits; default: the replaced file's, else the source's.
        mode: Option<u32>,
    },
    /// Make `target` a symlink to `to`.
    Symlink {
        /// Path inside the tree.
        target: PathBuf,
        /// The link's content.
        to: String,
    },
    /// Remove `target`.
    Remove {
        /// Path inside the tree.
        target: PathBuf,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    into: Option<PathBuf>,
    #[serde(default)]
    file: Vec<FileEntry>,
    #[serde(default)]
    symlink: Vec<SymlinkEntry>,
    #[serde(default)]
    remove: Vec<RemoveEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    source: PathBuf,
    target: PathBuf,
    mode: Option<toml::Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SymlinkEntry {
    target: PathBuf,
    to: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveEntry {
    target: PathBuf,
}

/// A target path must stay inside the tree.
pub fn check_relative(p: &Path) -> Result<(), String> {
    if p.as_os_str().is_empty() {
        return Err("empty target".into());
    }
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            _ => {
                return Err(format!(
                    "target {} must be a relative path inside the tree (no '..', not absolute)",
                    p.display()
                ))
            }
        }
    }
    Ok(())
}

/// Largest plan file read.
const MAX_PLAN: u64 = 4 << 20;

/// Parse a plan file. Sources are relative to the plan's directory.
pub fn parse_plan(path: &Path) -> Result<(Option<PathBuf>, Vec<Step>), crate::DeployError> {
    let text = crate::journal::read_bounded(path, MAX_PLAN)
        .map_err(|e| crate::DeployError::Plan(format!("{}: {e}", path.display())))?;
    let p: PlanFile = toml::from_str(&text).map_err(|e| {
        crate::DeployError::Plan(format!("{}: {}", path.display(), e.to_string().trim_end()))
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut steps = Vec::new();
    for f in p.file {
        check_relative(&f.target)
            .map_err(|e| crate::DeployError::Plan(format!("{}: {e}", path.display())))?;
        let mode = match &f.mode {
            None => None,
            Some(sp) => {
                let m = sp.get_ref();
                let line = text[..sp.span().start.min(text.len())]
                    .matches('\n')
                    .count()
                    + 1;
                let at = format!("{}:{line}", path.display());
                let v = u32::from_str_radix(m.trim_start_matches("0o"), 8).map_err(|_| {
                    crate::DeployError::Plan(format!(
                        "{at}: mode {m:?} of {} is not octal (e.g. \"0644\")",
                        f.target.display()
                    ))
                })?;
                if v > 0o7777 {
                    return Err(crate::DeployError::Plan(format!(
                        "{at}: mode {m:?} of {} is not a permission mode (at most 7777)",
                        f.target.display()
                    )));
                }
                Some(v)
            }
        };
        steps.push(Step::File {
            source: base.join(&f.source),
            target: f.target,
            mode,
        });
    }
    for s in p.symlink {
        check_relative(&s.target)
            .map_err(|e| crate::DeployError::Plan(format!("{}: {e}", path.display())))?;
        steps.push(Step::Symlink {
            target: s.target,
            to: s.to,
        });
    }
    for r in p.remove {
        check_relative(&r.target)
            .map_err(|e| crate::DeployError::Plan(format!("{}: {e}", path.display())))?;
        steps.push(Step::Remove { target: r.target });
    }
    if steps.is_empty() {
        return Err(crate::DeployError::Plan(format!(
            "{}: the plan has no [[file]], [[symlink]] or [[remove]] entries",
            path.display()
        )));
    }
    Ok((p.into.map(|i| base.join(i)), steps))
}
