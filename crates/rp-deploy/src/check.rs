//! Where a transaction may write: the target tree exists and is named with `--system`
//! when it holds system paths, no target lies below a symbolic link inside the tree, and
//! the user may write in every directory touched.

use crate::fsx::ctx;
use crate::DeployError;
use std::path::{Path, PathBuf};

/// Trees that need `--system`.
const SYSTEM_PREFIXES: [&str; 7] = ["/usr", "/opt", "/lib", "/lib64", "/etc", "/bin", "/sbin"];

/// Refuse a target below a symbolic link inside the tree: the link could lead anywhere,
/// and the change would land outside the tree while the report names a path inside it.
/// Every existing directory between the tree and the target's parent is checked without
/// following links (the target itself may be a link: it is what gets replaced).
pub(crate) fn no_link_below(into: &Path, path: &Path) -> Result<(), DeployError> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    let Ok(rel) = parent.strip_prefix(into) else {
        return Err(DeployError::Refused(format!(
            "{} lies outside {}",
            path.display(),
            into.display()
        )));
    };
    let mut dir = into.to_path_buf();
    for c in rel.components() {
        dir.push(c);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(DeployError::Refused(format!(
                "{} is a symbolic link: {} would be changed wherever it leads, outside the tree",
                dir.display(),
                path.display()
            )))
            }
            Ok(_) => {}
            Err(_) => break, // missing from here down: created by the plan
        }
    }
    Ok(())
}

pub(crate) fn is_system(p: &Path) -> bool {
    // The root itself holds every system tree.
    p == Path::new("/")
        || SYSTEM_PREFIXES
            .iter()
            .any(|s| p.starts_with(s) && !p.starts_with("/usr/local/home"))
}

/// The check every command that deploys makes before it does anything else (a build
/// before its hour of compiling): the target tree exists, and a system tree (`/`, `/usr`,
/// `/opt`, …) is named with `--system`.
pub fn check_into(into: &Path, system: bool) -> Result<PathBuf, DeployError> {
    let real = ctx(into.canonicalize(), into, "cannot open the target tree")?;
    if !real.is_dir() {
        return Err(DeployError::Refused(format!(
            "{} is not a directory",
            real.display()
        )));
    }
    if is_system(&real) && !system {
        return Err(DeployError::Refused(format!(
            "{} is a system path: pass --system (and run with the permission to write there)",
            real.display()
        )));
    }
    Ok(real)
}

pub(crate) fn writable(dir: &Path) -> bool {
    rp_sys::os::access(dir, rp_sys::os::Access::WriteSearch)
}
