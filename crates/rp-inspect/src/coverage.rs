//! Which libraries one GPU can run: by the code objects they carry, the archives the
//! kpack loader reaches, and the catalogs of their Tensile directories.

use crate::{kpack, names};
use rp_kb::{Compat, TargetId};
use rp_report::{Coverage, CoveredLibrary, FileFormat, FileReport, InspectReport, TensileDir};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Which of a report's libraries `gpu` can and cannot run.
pub fn coverage_of(report: &InspectReport, gpu: &TargetId) -> Coverage {
    coverage(gpu, &report.files, &report.tensile_dirs)
}

/// [`coverage_of`] over these files and Tensile directories.
pub(crate) fn coverage(gpu: &TargetId, files: &[FileReport], dirs: &[TensileDir]) -> Coverage {
    let kb = rp_kb::kb();
    let mut missing = BTreeSet::new();
    let mut covered = Vec::new();
    let mut partial = Vec::new();
    let mut why = BTreeMap::new();
    let tensile_paths: BTreeSet<&str> = dirs.iter().map(|d| d.path.as_str()).collect();
    for f in files {
        // A kpack'd binary is judged by what its archives hold, even when they hold
        // nothing; an archive itself is not a library (its binaries are judged).
        if (f.code_objects.is_empty() && f.kpack_ref.is_none())
            || f.format == Some(FileFormat::Kpack)
        {
            continue;
        }
        // Files of a Tensile directory are judged with their directory.
        if names::tensile_dir(Path::new(&f.path))
            .is_some_and(|(d, _)| tensile_paths.contains(d.to_str().unwrap_or_default()))
        {
            continue;
        }
        // As the runtime's kpack loader decides (`kpack::verdict`).
        match kpack::verdict(f, gpu) {
            Some(kpack::Verdict::Covered(how, archives, note)) => {
                if let Some(n) = note {
                    why.insert(f.path.clone(), n);
                }
                covered.push(CoveredLibrary {
                    path: f.path.clone(),
                    how,
                    archives,
                });
                continue;
            }
            Some(kpack::Verdict::Partial(units, n, reason)) => {
                why.insert(f.path.clone(), reason);
                partial.push(rp_report::PartialLibrary {
                    path: f.path.clone(),
                    missing_units: units,
                    units: n,
                });
                continue;
            }
            Some(kpack::Verdict::Missing(reason)) => {
                why.insert(f.path.clone(), reason);
                missing.insert(f.path.clone());
                continue;
            }
            None => {}
        }
        let best = f
            .code_objects
            .iter()
            .filter_map(|c| c.target_id.parse::<TargetId>().ok())
            .map(|t| kb.compat(gpu, &t))
            .filter(Compat::loadable)
            .min_by_key(|c| if *c == Compat::Exact { 0 } else { 1 });
        match best {
            Some(c) => covered.push(CoveredLibrary {
                path: f.path.clone(),
                how: if c == Compat::Exact {
                    rp_report::CoverageHow::Exact
                } else {
                    rp_report::CoverageHow::Generic
                },
                archives: Vec::new(),
            }),
            None => {
                missing.insert(f.path.clone());
            }
        }
    }
    for d in dirs {
        // Tensile picks its catalog by exact processor name (docs/code-objects.md).
        if d.archs.iter().any(|a| a == &gpu.processor) {
            covered.push(CoveredLibrary {
                path: d.path.clone(),
                how: rp_report::CoverageHow::Exact,
                archives: Vec::new(),
            });
        } else {
            missing.insert(d.path.clone());
        }
    }
    covered.sort_by(|a, b| a.path.cmp(&b.path));
    Coverage {
        gpu: gpu.to_string(),
        missing: missing.into_iter().collect(),
        covered,
        partial,
        why,
    }
}
