//! Trusted project files: a project's `rocm-patch.toml` is used only after the user
//! said so for exactly its current content (as `direnv allow` and `mise trust` do). The
//! record is a text file of `sha256  path` lines, replaced atomically.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Largest record read.
const MAX_STORE: u64 = 4 << 20;

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn read_store(store: &Path) -> Vec<(String, String)> {
    let Ok(text) =
        rp_machine::SysRoot::live(std::time::Duration::from_secs(2)).read_text(store, MAX_STORE)
    else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(h, p)| (h.to_string(), p.to_string()))
        .collect()
}

/// The file at `path` (absolute) with this content was trusted.
pub fn is_trusted(store: Option<&Path>, path: &Path, content: &str) -> bool {
    let Some(store) = store else { return false };
    let key = path.display().to_string();
    let h = sha256(content.as_bytes());
    read_store(store)
        .iter()
        .any(|(sh, p)| *p == key && *sh == h)
}

/// What `trust` did.
#[derive(Debug, Clone)]
pub struct Trusted {
    /// The file.
    pub path: PathBuf,
    /// Its sha256 as trusted (none when the trust was removed).
    pub sha256: Option<String>,
}

/// Trust `dir/rocm-patch.toml` as it is now (or, with `remove`, stop trusting it).
pub fn trust(store: &Path, dir: &Path, remove: bool) -> Result<Trusted, String> {
    let dir = std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("rocm-patch.toml");
    let key = path.display().to_string();
    if key.contains('\n') {
        return Err(format!("{key:?}: a path with a newline cannot be recorded"));
    }
    let mut entries: Vec<(String, String)> = read_store(store)
        .into_iter()
        .filter(|(_, p)| *p != key)
        .collect();
    let sha = if remove {
        None
    } else {
        let text = rp_machine::SysRoot::live(std::time::Duration::from_secs(2))
            .read_text(&path, crate::layers::MAX_CONFIG)
            .map_err(|e| format!("{}: cannot read: {e:?}", path.display()))?;
        let h = sha256(text.as_bytes());
        entries.push((h.clone(), key));
        Some(h)
    };
    let body: String = entries.iter().map(|(h, p)| format!("{h}  {p}\n")).collect();
    let parent = store.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let tmp = store.with_extension("tmp");
    std::fs::write(&tmp, body).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, store).map_err(|e| format!("{}: {e}", store.display()))?;
    Ok(Trusted { path, sha256: sha })
}
