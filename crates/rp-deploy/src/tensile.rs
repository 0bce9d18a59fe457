//! `deploy tensile`: one arch's rocBLAS Tensile files from one install into another, after
//! checking that the two rocBLAS builds can share them.

use crate::plan::Step;
use crate::DeployError;
use std::path::{Path, PathBuf};

/// Tensile library directories at or under `dir` (a library dir, a torch package, a ROCm
/// prefix, a distro root or an unpacked .deb).
pub fn find_library_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let has_tensile = |d: &Path| {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.filter_map(Result::ok).any(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with("TensileLibrary") || n.starts_with("Kernels.so-")
                })
            })
            .unwrap_or(false)
    };
    if has_tensile(dir) {
        return vec![dir.to_path_buf()];
    }
    for e in walk_dirs(dir, 6) {
        if e.file_name().is_some_and(|n| n == "library")
            && e.parent()
                .and_then(|p| {
                    p.ancestors()
                        .take(2)
                        .find(|a| a.file_name().is_some_and(|n| n == "rocblas"))
                })
                .is_some()
            && has_tensile(&e)
        {
            out.push(e);
        }
    }
    out.sort();
    out
}

fn walk_dirs(dir: &Path, depth: u32) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if depth == 0 {
        return out;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.filter_map(Result::ok) {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let p = e.path();
            out.push(p.clone());
            out.extend(walk_dirs(&p, depth - 1));
        }
    }
    out
}

/// rocBLAS version (major, minor) of a library directory: the `rocblas/<x.y.z>/library`
/// path (Debian), a `librocblas.so.X.Y…` beside the install, or the soname of
/// `librocblas.so`.
pub fn rocblas_version(libdir: &Path) -> Option<(u32, Option<u32>, String)> {
    let parse = |s: &str| -> Option<(u32, Option<u32>)> {
        let mut it = s.split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next().and_then(|m| m.parse().ok());
        Some((major, minor))
    };
    // Debian: .../rocblas/4.4.1/library
    if let Some(v) = libdir
        .parent()
        .filter(|p| {
            p.parent()
                .is_some_and(|pp| pp.file_name().is_some_and(|n| n == "rocblas"))
        })
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
    {
        if let Some((a, b)) = parse(v) {
            return Some((a, b, format!("{} (from the path)", libdir.display())));
        }
    }
    // The library beside it: <lib>/rocblas/library -> <lib>/librocblas.so.*
    for lib in libdir.ancestors().skip(1).take(3) {
        let Ok(rd) = std::fs::read_dir(lib) else {
            continue;
        };
        let mut best: Option<(u32, Option<u32>, String)> = None;
        for e in rd.filter_map(Result::ok) {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(v) = n.strip_prefix("librocblas.so.") {
                if let Some((a, b)) = parse(v) {
                    if best.as_ref().is_none_or(|x| x.1.is_none() && b.is_some()) {
                        best = Some((a, b, e.path().display().to_string()));
                    }
                }
            } else if n == "librocblas.so" && best.is_none() {
                if let Some(so) = crate::deps::soname(&e.path()) {
                    if let Some((a, b)) = so.strip_prefix("librocblas.so.").and_then(parse) {
                        best = Some((a, b, format!("{} (soname {so})", e.path().display())));
                    }
                }
            }
        }
        if best.is_some() {
            return best;
        }
    }
    None
}

fn arch_of(name: &Path) -> Option<String> {
    let lf = rp_inspect::names::classify(name)?;
    let a = lf.arch?;
    Some(a.split(':').next().unwrap_or(&a).to_string())
}

/// Build the steps, or say why the two installs cannot share files.
pub fn plan(
    from: &Path,
    arch: &str,
    into: &Path,
    skip_version_check: bool,
) -> Result<(PathBuf, Vec<Step>, Vec<String>), DeployError> {
    let refuse = |s: String| Err(DeployError::Refused(s));
    let src_dirs = find_library_dirs(from);
    let [src] = src_dirs.as_slice() else {
        return refuse(if src_dirs.is_empty() {
            format!("no rocBLAS Tensile library directory in {}", from.display())
        } else {
            format!(
                "{} holds several Tensile library directories ({}); name one with --from",
                from.display(),
                src_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    };
    let dst_dirs = find_library_dirs(into);
    let dst = match dst_dirs.as_slice() {
        [d] => d.clone(),
        [] => {
            return refuse(format!(
                "no rocBLAS Tensile library directory in {} (looked for lib/rocblas/library and rocblas/*/library)",
                into.display()
            ))
        }
        many => {
            return refuse(format!(
                "{} holds several Tensile library directories ({}); name one with --into",
                into.display(),
                many.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(src)
        .map_err(|e| DeployError::Refused(format!("{}: {e}", src.display())))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && arch_of(p).as_deref() == Some(arch))
        .collect();
    files.sort();
    if files.is_empty() {
        let mut have: Vec<String> = std::fs::read_dir(src)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| arch_of(&e.path()))
            .collect();
        have.sort();
        have.dedup();
        return refuse(format!(
            "{} has no {arch} files (it has: {})",
            src.display(),
            have.join(" ")
        ));
    }
    let mut notes = Vec::new();
    // Catalog layout: lazy-loading installs look for TensileLibrary_lazy_<arch>.dat
    // (Tensile #1862/#1897; docs/code-objects.md).
    let lazy = |d: &Path| {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("TensileLibrary_lazy_")
            })
    };
    let src_lazy = files.iter().any(|f| {
        f.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("TensileLibrary_lazy_"))
    });
    if lazy(&dst) && !src_lazy {
        return refuse(format!(
            "{} uses lazy loading (TensileLibrary_lazy_<arch>.dat) but {} has no TensileLibrary_lazy_{arch}.dat: rocBLAS would not find the files (Tensile #1862)",
            dst.display(),
            src.display()
        ));
    }
    if !skip_version_check {
        let sv = rocblas_version(src);
        let dv = rocblas_version(&dst);
        match (&sv, &dv) {
            (Some((sa, sb, sw)), Some((da, db, dw))) => {
                // A side known only by its major version (a `librocblas.so.4` soname)
                // cannot be said to match: releases within a major differ too.
                if sa == da && (sb.is_none() || db.is_none()) {
                    let (which, w) = if sb.is_none() { (src, sw) } else { (&dst, dw) };
                    return refuse(format!(
                        "only the major version of rocBLAS is known for {} ({w}: {sa}.x), so it cannot be checked that both sides are the same release; Tensile files are built for one release. Use a tree that names its version (rocblas/<x.y.z>/library or librocblas.so.X.Y), or --skip-version-check",
                        which.display()
                    ));
                }
                let minor_ok = sb == db;
                if sa != da || !minor_ok {
                    return refuse(format!(
                        "rocBLAS versions differ: {} is {}.{} ({sw}) but {} is {}.{} ({dw}); Tensile files are built for one rocBLAS release (their kernel argument layouts and solution indices change between releases). Use files from the same rocBLAS version, or --skip-version-check",
                        src.display(), sa, sb.map(|x| x.to_string()).unwrap_or("x".into()),
                        dst.display(), da, db.map(|x| x.to_string()).unwrap_or("x".into())
                    ));
                }
                notes.push(format!(
                    "rocBLAS {}.{} on both sides ({sw}; {dw})",
                    sa,
                    sb.map(|x| x.to_string()).unwrap_or("x".into())
                ));
            }
            _ => {
                return refuse(format!(
                    "cannot tell the rocBLAS version of {}; Tensile files must come from the same rocBLAS release as the library that loads them. --skip-version-check deploys anyway",
                    if sv.is_none() { src.display() } else { dst.display() }
                ))
            }
        }
    } else {
        notes.push("rocBLAS version check skipped (--skip-version-check)".into());
    }
    let rel = dst
        .strip_prefix(into)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let steps = files
        .into_iter()
        .map(|f| Step::File {
            target: rel.join(f.file_name().expect("file name")),
            source: f,
            mode: Some(0o644),
        })
        .collect();
    Ok((dst, steps, notes))
}
