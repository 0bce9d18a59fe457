//! Tensile / TensileLite library directories, known by their files' names.

use crate::{names, processor_of};
use rp_report::{FileReport, LibraryFile, LibraryKind, TensileDir};
use std::collections::BTreeMap;
use std::path::Path;

/// Summarise a Tensile / TensileLite library directory from its file names only
/// (docs/code-objects.md): which archs it has catalogs for. No file is opened, so this is cheap
/// enough for `doctor`. `None` when the directory holds no recognised file.
pub fn tensile_dir_by_name(dir: &Path) -> Option<TensileDir> {
    let files: Vec<FileReport> = walkdir::WalkDir::new(dir)
        .max_depth(2)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            let library_file = names::classify(e.path())?;
            Some(FileReport {
                path: e.path().display().to_string(),
                library_file: Some(library_file),
                ..FileReport::default()
            })
        })
        .collect();
    let want = dir.display().to_string();
    tensile_dirs(&files).into_iter().find(|d| d.path == want)
}

/// The Tensile directories of these files, each with the archs it has catalogs for.
pub(crate) fn tensile_dirs(files: &[FileReport]) -> Vec<TensileDir> {
    let mut dirs: BTreeMap<String, TensileDir> = BTreeMap::new();
    for f in files {
        let Some(LibraryFile {
            library,
            role,
            arch,
        }) = &f.library_file
        else {
            continue;
        };
        if *library == LibraryKind::Miopen {
            continue;
        }
        let Some((dir, dir_arch)) = names::tensile_dir(Path::new(&f.path)) else {
            continue;
        };
        let d = dirs
            .entry(dir.display().to_string())
            .or_insert_with(|| TensileDir {
                path: dir.display().to_string(),
                library: *library,
                ..TensileDir::default()
            });
        d.files += 1;
        // An arch counts when its master catalog or per-arch directory is present:
        // that is what the loader looks for (docs/code-objects.md).
        let arch = dir_arch.or_else(|| {
            (*role == rp_report::LibraryRole::MasterCatalog)
                .then(|| arch.clone())
                .flatten()
        });
        if let Some(a) = arch {
            let a = processor_of(&a).to_string();
            if !d.archs.contains(&a) {
                d.archs.push(a);
            }
        }
    }
    let mut out: Vec<TensileDir> = dirs.into_values().collect();
    for d in &mut out {
        d.archs.sort();
    }
    out
}
