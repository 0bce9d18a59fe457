//! Follow kpack'd host binaries to their archives (docs/code-objects.md, "Kpack").
//!
//! Each search path of a binary's `.rocm_kpack_ref` is resolved relative to the binary
//! (inside a wheel: relative to the member, among the wheel's members). An archive that
//! was inspected already is reused; any other is read once, however many binaries name
//! it. The binary then lists the code objects its archives hold for its key, each
//! marked with the archive it came from.

use crate::error_report;
use rayon::prelude::*;
use rp_codeobj::Options as ScanOptions;
use rp_report::{FileFormat, FileReport, KpackStatus};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

/// Where one search path leads.
enum Target {
    /// A report already in the list (wheel members, files named or walked).
    Report(usize),
    /// A file to read.
    File(PathBuf),
    /// Nothing readable there: the status and the path shown.
    Nothing(KpackStatus, String),
}

pub(crate) fn resolve(reports: &mut [FileReport], confine: Option<&Path>, opts: &ScanOptions) {
    let confine = confine.and_then(|c| std::fs::canonicalize(c).ok());
    // Archives already read, by the path they were reported under and, for files, by
    // their canonical path.
    let mut known: HashMap<String, usize> = HashMap::new();
    for (i, r) in reports.iter().enumerate() {
        if r.format == Some(FileFormat::Kpack) {
            known.insert(r.path.clone(), i);
            if !r.path.contains("!/") {
                if let Ok(c) = std::fs::canonicalize(&r.path) {
                    known.insert(c.display().to_string(), i);
                }
            }
        }
    }
    let mut wanted: Vec<(usize, usize, Target)> = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        let Some(k) = &r.kpack_ref else { continue };
        for (j, s) in k.search.iter().enumerate() {
            wanted.push((i, j, locate(&r.path, &s.path, &known, confine.as_deref())));
        }
    }
    // Read each archive not yet read once, in parallel.
    let files: BTreeSet<&PathBuf> = wanted
        .iter()
        .filter_map(|w| match &w.2 {
            Target::File(p) => Some(p),
            _ => None,
        })
        .collect();
    let read: BTreeMap<PathBuf, FileReport> = files
        .into_par_iter()
        .map(|p| (p.clone(), read_archive(p, opts)))
        .collect();
    for (i, j, target) in wanted {
        let (archive_path, archive) = match &target {
            Target::Report(a) => (reports[*a].path.clone(), Some(reports[*a].clone())),
            Target::File(p) => (p.display().to_string(), read.get(p).cloned()),
            Target::Nothing(status, shown) => {
                let s = &mut reports[i].kpack_ref.as_mut().expect("has a ref").search[j];
                s.status = *status;
                s.archive = Some(shown.clone());
                continue;
            }
        };
        let r = &mut reports[i];
        let key = r.kpack_ref.as_ref().expect("has a ref").kernel_name.clone();
        let mut found = Vec::new();
        let (status, error) = match archive {
            Some(a) if a.format == Some(FileFormat::Kpack) && a.error.is_none() => {
                found = a
                    .code_objects
                    .into_iter()
                    .filter(|c| c.binary.as_deref() == Some(key.as_str()))
                    .collect::<Vec<_>>();
                if found.is_empty() {
                    (KpackStatus::NoEntry, None)
                } else {
                    (KpackStatus::Found, None)
                }
            }
            Some(a) => (
                KpackStatus::Unreadable,
                Some(
                    a.error
                        .unwrap_or_else(|| "not a kpack archive (no KPAK magic)".into()),
                ),
            ),
            None => (KpackStatus::Unreadable, Some("not read".into())),
        };
        let s = &mut r.kpack_ref.as_mut().expect("has a ref").search[j];
        s.status = status;
        s.error = error;
        s.archive = Some(archive_path.clone());
        s.targets = found
            .iter()
            .map(|c| c.target_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        r.code_objects.extend(found.into_iter().map(|mut c| {
            c.archive = Some(archive_path.clone());
            c
        }));
    }
    for r in reports.iter_mut() {
        note_missing(r);
    }
}

/// Resolve `search` relative to the binary at `binary` (a file path or a wheel member
/// `wheel!/member`).
fn locate(
    binary: &str,
    search: &str,
    known: &HashMap<String, usize>,
    confine: Option<&Path>,
) -> Target {
    if let Some((wheel, member)) = binary.split_once("!/") {
        let dir = Path::new(member).parent().unwrap_or(Path::new(""));
        let Some(m) = normalize(&dir.join(search)) else {
            return Target::Nothing(KpackStatus::Outside, format!("{wheel}!/{search}"));
        };
        let shown = format!("{wheel}!/{}", m.display());
        return match known.get(&shown) {
            Some(&i) => Target::Report(i),
            None => Target::Nothing(KpackStatus::Missing, shown),
        };
    }
    let dir = Path::new(binary).parent().unwrap_or(Path::new("."));
    let joined = dir.join(search);
    let shown = normalize(&joined).unwrap_or_else(|| joined.clone());
    let Ok(real) = std::fs::canonicalize(&joined) else {
        return Target::Nothing(KpackStatus::Missing, shown.display().to_string());
    };
    if confine.is_some_and(|c| !real.starts_with(c)) {
        // Shown as the binary writes it: where it leads is no business of the report.
        return Target::Nothing(KpackStatus::Outside, search.to_string());
    }
    match known.get(&real.display().to_string()) {
        Some(&i) => Target::Report(i),
        None if real.is_file() => Target::File(real),
        None => Target::Nothing(KpackStatus::Missing, shown.display().to_string()),
    }
}

/// `a/b/../c` → `a/c`, lexically; `None` when `..` climbs above the start.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    Some(out)
}

/// An archive no inspected path reached, read the way `inspect` reads a named file.
fn read_archive(path: &Path, opts: &ScanOptions) -> FileReport {
    crate::inspect_path(path, true, opts, crate::DEFAULT_IN_MEMORY)
        .into_iter()
        .next()
        .unwrap_or_else(|| error_report(path, "nothing read".into()))
}

/// A kpack'd binary whose archives hold nothing for it says where its code should be.
fn note_missing(r: &mut FileReport) {
    let Some(k) = &r.kpack_ref else { return };
    if k.search.iter().any(|s| s.status == KpackStatus::Found) {
        return;
    }
    let names: Vec<String> = k
        .search
        .iter()
        .map(|s| {
            let a = s.archive.as_deref().unwrap_or(&s.path);
            format!("{a} ({})", s.status.as_str())
        })
        .collect();
    let names = if names.is_empty() {
        "no search paths".to_string()
    } else {
        names.join(", ")
    };
    r.notes.push(format!(
        "kpack'd: its device code is in separate archives (device packages), and none holds {}: {names}",
        k.kernel_name
    ));
}
