//! MIOpen's batch-norm kernels on the GPUs of the machine: the kernel sources a
//! `libMIOpen.so` embeds, checked for each target by rp-miopen (the DPP `row_bcast` path
//! GFX10 rejects; MIOpen#1586). The check costs tens of milliseconds on a 28 MB library,
//! so its result is cached by the file's identity (device, inode, size, modification
//! time) and the targets asked.

use crate::SysRoot;
use rp_report::MiopenCheck;
use std::path::{Path, PathBuf};

/// Largest library read.
const MAX_LIB: u64 = 2 << 30;
/// Bump when the check's logic changes: older cache entries are then not used.
const CACHE_VERSION: u32 = 1;

/// The `libMIOpen*.so*` files in `dir` (real files, not links), private part included
/// (MIOpen's develop line splits `libMIOpen_private.so` out).
pub(crate) fn libraries_in(root: &SysRoot, dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = root
        .read_dir(dir)
        .into_iter()
        .filter(|(n, p)| n.starts_with("libMIOpen") && n.contains(".so") && !root.is_symlink(p))
        .filter_map(|(_, p)| root.resolve(&p))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Check one library (a host path) for `targets`; `None` when it cannot be read.
pub(crate) fn check(
    root: &SysRoot,
    lib: &Path,
    targets: &[String],
    cache: Option<&Path>,
) -> Option<MiopenCheck> {
    use std::os::unix::fs::MetadataExt;
    if targets.is_empty() {
        return None;
    }
    let (file, len) = rp_sys::open_regular(lib).ok()?;
    if len > MAX_LIB {
        return None;
    }
    let md = file.metadata().ok()?;
    let key = format!(
        "v{CACHE_VERSION}-{}-{}-{}-{}.{}-{}",
        md.dev(),
        md.ino(),
        len,
        md.mtime(),
        md.mtime_nsec(),
        targets.join("_").replace([':', '+', '/'], "-")
    );
    let cached = cache.map(|c| c.join("miopen-bn").join(format!("{key}.json")));
    let shown = root.machine(lib);
    if let Some(p) = &cached {
        if let Ok(buf) = rp_sys::read_regular(p, 1 << 20) {
            if let Ok(mut c) = serde_json::from_slice::<MiopenCheck>(&buf) {
                c.path = shown;
                return Some(c);
            }
        }
    }
    // A read-only private mapping of a regular file opened above; a file truncated while
    // mapped could fault, which the 28 MB libraries this reads do not do in place.
    let map = rp_sys::mmap::map(&file).ok()?;
    let asked: Vec<&str> = targets.iter().map(String::as_str).collect();
    let c = rp_miopen::check(&map, &asked);
    let out = rp_inspect::miopen_report(&shown, &c);
    if let Some(p) = cached {
        // Best effort: a cache that cannot be written only costs time.
        if let Some(dir) = p.parent() {
            if std::fs::create_dir_all(dir).is_ok() {
                let tmp = p.with_extension(format!("tmp{}", std::process::id()));
                if let Ok(json) = serde_json::to_vec(&out) {
                    if std::fs::write(&tmp, json).is_ok() {
                        let _ = std::fs::rename(&tmp, &p);
                    }
                }
            }
        }
    }
    Some(out)
}
