//! Which GPU targets do these files carry?
//!
//! [`inspect`] walks files, directories (recursively, in parallel) and wheels (read in
//! place), lists every device code object with `rp-codeobj`, recognises Tensile and
//! MIOpen data files by name, and, given a GPU, says which libraries it cannot run.
//! Nothing here prints.
#![deny(missing_docs)]

mod coverage;
mod kpack;
pub use kpack::{compatible_targets, runtime_archs, unit_load, KpackEnv, UnitLoad, PLACEHOLDER};
pub mod names;
mod tensile;
mod wheel;

use coverage::coverage;
pub use coverage::coverage_of;
pub use tensile::tensile_dir_by_name;
use tensile::tensile_dirs;

use memmap2::Mmap;
use rayon::prelude::*;
use rp_codeobj::{CodeObject, Options as ScanOptions, Scan};
use rp_kb::TargetId;
use rp_report::{
    CodeObjectReport, FileFormat, FileReport, InspectReport, LibraryFile, LibraryKind,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Knobs for [`inspect`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Decompress compressed bundles fully (headers of each code object, hash check).
    pub deep: bool,
    /// Answer coverage for this GPU.
    pub gpu: Option<TargetId>,
    /// Wheel members up to this size are read into memory and parsed exactly; larger
    /// ones are scanned as a stream in bounded memory. 0 means the default (64 MiB);
    /// 1 streams every member.
    pub wheel_member_in_memory: u64,
    /// The kpack archives a kpack'd binary names are opened only inside this directory
    /// (a `--sysroot`): a search path that leads out of it is reported, not followed.
    pub confine: Option<PathBuf>,
    /// The runtime's kpack variables in force (`ROCM_KPACK_PATH`, `…_PREFIX`,
    /// `…_DISABLE`): archives are searched as the runtime would search them.
    pub kpack_env: KpackEnv,
    /// Check the batch-norm kernels of each `libMIOpen*.so*` (rp-miopen; tens of
    /// milliseconds a library: `inspect` does, doctor keeps its own cached check).
    pub miopen: bool,
    /// Counters a caller may watch while [`inspect`] runs (a progress line).
    pub progress: Option<std::sync::Arc<Progress>>,
}

/// How far an [`inspect`] has come: files found (known once the walk is over) and files
/// read.
#[derive(Debug, Default)]
pub struct Progress {
    /// Files to read; 0 while the directories are still walked.
    pub files: std::sync::atomic::AtomicUsize,
    /// Files read.
    pub done: std::sync::atomic::AtomicUsize,
}

const DEFAULT_IN_MEMORY: u64 = 64 << 20;

/// Inspect every path and build the report.
pub fn inspect(paths: &[PathBuf], opts: &Options) -> InspectReport {
    let mut explicit = Vec::new();
    let mut found = Vec::new();
    let mut reports = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut found, &mut reports),
            Ok(_) => explicit.push(p.clone()),
            Err(e) => reports.push(error_report(p, format!("cannot read: {e}"))),
        }
    }
    let scan_opts = ScanOptions {
        deep: opts.deep,
        prefix: false,
    };
    let in_mem = match opts.wheel_member_in_memory {
        0 => DEFAULT_IN_MEMORY,
        n => n - 1,
    };
    use std::sync::atomic::Ordering::Relaxed;
    if let Some(p) = &opts.progress {
        p.files.store(explicit.len() + found.len(), Relaxed);
    }
    let counted = |r: Vec<FileReport>| {
        if let Some(p) = &opts.progress {
            p.done.fetch_add(1, Relaxed);
        }
        r
    };
    let per_file: Vec<Vec<FileReport>> = explicit
        .par_iter()
        .map(|p| counted(inspect_path(p, true, &scan_opts, in_mem)))
        .chain(
            found
                .par_iter()
                .map(|p| counted(inspect_path(p, false, &scan_opts, in_mem))),
        )
        .collect();
    reports.extend(per_file.into_iter().flatten());
    if opts.miopen {
        miopen_checks(&explicit, &found, opts, &mut reports);
    }
    reports.sort_by(|a, b| a.path.cmp(&b.path));
    reports.dedup_by(|a, b| a.path == b.path);
    kpack::resolve(
        &mut reports,
        opts.confine.as_deref(),
        &opts.kpack_env,
        &scan_opts,
    );
    build_report(reports, opts)
}

/// Targets a `libMIOpen` is checked for when no GPU is named: RDNA1, the RDNA2/3 targets
/// its kernels treat apart, and two GFX9 ones (which accept the DPP path).
const MIOPEN_DEFAULT_TARGETS: [&str; 7] = [
    "gfx1010", "gfx1011", "gfx1012", "gfx1030", "gfx1100", "gfx906", "gfx90a",
];

/// MIOpen's batch-norm kernels in each `libMIOpen*.so*` named or walked (rp-miopen).
fn miopen_checks(
    explicit: &[PathBuf],
    found: &[PathBuf],
    opts: &Options,
    reports: &mut Vec<FileReport>,
) {
    let targets: Vec<String> = match &opts.gpu {
        Some(g) => vec![g.processor.clone()],
        None => MIOPEN_DEFAULT_TARGETS
            .iter()
            .map(|t| t.to_string())
            .collect(),
    };
    let asked: Vec<&str> = targets.iter().map(String::as_str).collect();
    let libs: Vec<&PathBuf> = explicit
        .iter()
        .chain(found)
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libMIOpen") && n.contains(".so"))
        })
        .collect();
    let checks: Vec<(String, Option<rp_report::MiopenCheck>)> = libs
        .par_iter()
        .map(|p| {
            let shown = p.display().to_string();
            let check = rp_machine_free_map(p).map(|map| {
                let c = rp_miopen::check(&map, &asked);
                miopen_report(&shown, &c)
            });
            (shown, check)
        })
        .collect();
    for (path, check) in checks {
        let Some(check) = check else { continue };
        match reports.iter_mut().find(|r| r.path == path) {
            Some(r) => r.miopen_bn = Some(check),
            None => reports.push(FileReport {
                path,
                format: Some(FileFormat::HostElf),
                miopen_bn: Some(check),
                ..FileReport::default()
            }),
        }
    }
}

/// A regular file mapped read-only (non-blocking open; FIFOs and devices refused).
fn rp_machine_free_map(p: &Path) -> Option<Mmap> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    map_file(&f).ok()
}

/// rp-miopen's check as the report's type.
pub fn miopen_report(path: &str, c: &rp_miopen::BnCheck) -> rp_report::MiopenCheck {
    use rp_report::{MiopenTarget, MiopenVerdict};
    rp_report::MiopenCheck {
        path: path.to_string(),
        version: c.version.clone(),
        kernels_found: c.kernels_found.clone(),
        gfx101x_fix_present: c.gfx101x_fix_present,
        targets: c
            .targets
            .iter()
            .map(|t| {
                let (verdict, kernels, reason) = match &t.verdict {
                    rp_miopen::Verdict::Affected { kernels } => {
                        (MiopenVerdict::Affected, kernels.clone(), None)
                    }
                    rp_miopen::Verdict::Unaffected => (MiopenVerdict::Unaffected, Vec::new(), None),
                    rp_miopen::Verdict::Unknown { reason } => {
                        (MiopenVerdict::Unknown, Vec::new(), Some(reason.clone()))
                    }
                };
                MiopenTarget {
                    target: t.target.clone(),
                    verdict,
                    kernels,
                    reason,
                }
            })
            .collect(),
    }
}

fn walk(root: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<FileReport>) {
    // Symbolic links are not followed inside directories: a library's soname links
    // would count it twice, and link loops cannot trap the walk.
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        match entry {
            Ok(e) if e.file_type().is_file() => out.push(e.into_path()),
            Ok(_) => {}
            Err(e) => {
                let path = e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.to_path_buf());
                errors.push(error_report(&path, format!("cannot read: {e}")));
            }
        }
    }
}

fn error_report(path: &Path, error: String) -> FileReport {
    FileReport {
        path: path.display().to_string(),
        error: Some(error),
        ..FileReport::default()
    }
}

/// Inspect one file; a wheel yields one report per interesting member.
fn inspect_path(path: &Path, explicit: bool, opts: &ScanOptions, in_mem: u64) -> Vec<FileReport> {
    let library_file = names::classify(path);
    let mut head = [0u8; 64];
    // Never blocks on a FIFO and never reads a device: only regular files are opened
    // for reading (O_NONBLOCK makes opening a FIFO return at once).
    let opened = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
    };
    let mut file = match opened {
        Ok(f) => f,
        Err(e) => return vec![error_report(path, format!("cannot open: {e}"))],
    };
    match file.metadata() {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return vec![error_report(
                path,
                "not a regular file (a FIFO, socket or device): not read".into(),
            )]
        }
        Err(e) => return vec![error_report(path, format!("cannot read: {e}"))],
    }
    let n = match read_head(&mut file, &mut head) {
        Ok(n) => n,
        Err(e) => return vec![error_report(path, format!("cannot read: {e}"))],
    };
    let head = &head[..n];
    let is_wheel = head.starts_with(b"PK\x03\x04")
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("whl") || e.eq_ignore_ascii_case("zip"));
    if is_wheel {
        return wheel::inspect_wheel(path, file, opts, in_mem);
    }
    let format = rp_codeobj::sniff(head);
    if format.is_none() && library_file.is_none() && !explicit {
        return Vec::new();
    }
    let mut report = FileReport {
        path: path.display().to_string(),
        library_file: library_file.clone(),
        ..FileReport::default()
    };
    if format.is_some() {
        // Mapped, not read: only headers and entry tables are touched (see map_file).
        let map = match map_file(&file) {
            Ok(m) => m,
            Err(e) => return vec![error_report(path, format!("cannot map: {e}"))],
        };
        let guard = rp_sys::mmap::guard(&map);
        #[cfg(test)]
        if let Some(f) = BEFORE_SCAN.lock().expect("hook").as_ref() {
            f(path)
        }
        let scan = rp_codeobj::scan_with_release(&map, opts, &mut |off, len| {
            rp_sys::mmap::release(&map, off, len)
        });
        if guard.truncated() {
            // What was read past the new end was zeros: nothing of this scan is trusted.
            return vec![error_report(
                path,
                "the file was truncated while it was read (another process changed it); inspect it again".into(),
            )];
        }
        fill(&mut report, scan);
    }
    if report.format.is_none() {
        report.format = library_file.as_ref().map(library_format);
    }
    // A host ELF without device code is not worth a row unless it was named.
    if !explicit
        && report.code_objects.is_empty()
        && report.error.is_none()
        && report.library_file.is_none()
        && report.notes.is_empty()
        && report.kpack_ref.is_none()
    {
        return Vec::new();
    }
    vec![report]
}

fn read_head(file: &mut File, head: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
type BeforeScan = Option<Box<dyn Fn(&Path) + Send>>;

/// Tests: run between mapping a file and scanning it (to truncate it there).
#[cfg(test)]
pub(crate) static BEFORE_SCAN: std::sync::Mutex<BeforeScan> = std::sync::Mutex::new(None);

/// Map a file for a scan (rp-sys: read-only, private, random-access advice). If another
/// process truncates the file while we read it, reads past the new end raise SIGBUS: the
/// caller registers the mapping with [`rp_sys::mmap::guard`], which turns that into an
/// error for this file.
fn map_file(file: &File) -> std::io::Result<Mmap> {
    rp_sys::mmap::map_random(file)
}

/// The report format of a file known only by its name.
pub(crate) fn library_format(l: &LibraryFile) -> FileFormat {
    if l.library == LibraryKind::Miopen {
        FileFormat::MiopenDb
    } else {
        FileFormat::Tensile
    }
}

/// The report's name for a format the parsers recognise.
fn report_format(f: rp_codeobj::Format) -> FileFormat {
    match f {
        rp_codeobj::Format::HostElf => FileFormat::HostElf,
        rp_codeobj::Format::CodeObject => FileFormat::CodeObject,
        rp_codeobj::Format::Bundle => FileFormat::Bundle,
        rp_codeobj::Format::CompressedBundle => FileFormat::CompressedBundle,
        rp_codeobj::Format::Archive => FileFormat::Archive,
        rp_codeobj::Format::Kpack => FileFormat::Kpack,
    }
}

/// Copy a scan into a report.
pub(crate) fn fill(report: &mut FileReport, scan: Scan) {
    report.format = scan.format.map(report_format);
    report.bundles = scan.bundles;
    report.error = scan.error.map(|e| e.to_string());
    report.notes = scan.notes;
    report.kpack = scan.kpack.map(|k| rp_report::KpackArchive {
        group_name: k.group_name,
        gfx_arch_family: k.gfx_arch_family,
        gfx_arches: k.gfx_arches,
        compression_scheme: match k.scheme {
            rp_codeobj::kpack::Scheme::ZstdPerKernel => rp_report::KpackScheme::ZstdPerKernel,
            rp_codeobj::kpack::Scheme::None => rp_report::KpackScheme::None,
        },
        binaries: k.binaries,
    });
    // Search paths are resolved once every file is read (`kpack::resolve`).
    let units = scan.kpack_units;
    report.kpack_ref = scan.kpack_ref.map(|r| rp_report::KpackRef {
        kernel_name: r.kernel_name,
        units,
        search: r
            .kpack_search_paths
            .into_iter()
            .map(|path| rp_report::KpackSearch {
                path,
                status: rp_report::KpackStatus::Missing,
                ..Default::default()
            })
            .collect(),
        ..rp_report::KpackRef::default()
    });
    report.code_objects = scan
        .code_objects
        .into_iter()
        .map(code_object_report)
        .collect();
}

fn code_object_report(c: CodeObject) -> CodeObjectReport {
    CodeObjectReport {
        target_id: c.target_id,
        compression: match c.compression {
            None => rp_report::Compression::None,
            Some(rp_codeobj::ccob::Method::Zlib) => rp_report::Compression::Zlib,
            Some(rp_codeobj::ccob::Method::Zstd) => rp_report::Compression::Zstd,
        },
        ccob_version: c.ccob_version,
        code_object_version: c.code_object_version,
        size: c.size,
        offset: c.offset,
        bundle_id: c.bundle_id,
        generic_version: c.generic_version,
        member: c.member,
        binary: c.binary,
        kpack_arch: c.kpack_arch,
        archive: None,
        warning: c.warning,
    }
}

/// The processor part of a target id (`gfx90a:xnack-` → `gfx90a`).
pub(crate) fn processor_of(target_id: &str) -> &str {
    target_id.split(':').next().unwrap_or(target_id)
}

fn build_report(files: Vec<FileReport>, opts: &Options) -> InspectReport {
    let mut targets: BTreeMap<String, u64> = BTreeMap::new();
    // A kpack'd binary's code objects are counted with their archive when the archive
    // is in the report too.
    let archives: BTreeSet<&str> = files
        .iter()
        .filter(|f| f.format == Some(FileFormat::Kpack))
        .map(|f| f.path.as_str())
        .collect();
    for f in &files {
        for c in &f.code_objects {
            if c.archive.as_deref().is_some_and(|a| archives.contains(a)) {
                continue;
            }
            *targets
                .entry(processor_of(&c.target_id).to_string())
                .or_default() += 1;
        }
    }
    let tensile_dirs = tensile_dirs(&files);
    let coverage = opts
        .gpu
        .as_ref()
        .map(|gpu| coverage(gpu, &files, &tensile_dirs));
    InspectReport {
        schema: rp_report::SCHEMA,
        files,
        targets,
        tensile_dirs,
        coverage,
    }
}

#[cfg(test)]
mod truncation_tests {
    /// inspect's own path: a library truncated between mapping and scanning is an
    /// error for that file, and the other file in the same call is still reported.
    #[test]
    fn inspect_reports_a_truncated_file_and_goes_on() {
        let d = tempfile::tempdir().unwrap();
        let co = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/codeobj/codeobj_co6_gfx1010.co");
        let good = d.path().join("good.co");
        std::fs::copy(&co, &good).unwrap();
        let bad = d.path().join("bad.co");
        let mut data = std::fs::read(&co).unwrap();
        data.resize(1 << 20, 0);
        std::fs::write(&bad, &data).unwrap();
        let victim = bad.clone();
        *crate::BEFORE_SCAN.lock().unwrap() = Some(Box::new(move |p: &std::path::Path| {
            if p == victim {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(p)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
            }
        }));
        let opts = crate::Options::default();
        let r = crate::inspect(&[good.clone(), bad.clone()], &opts);
        let by = |p: &std::path::Path| {
            r.files
                .iter()
                .find(|f| f.path == p.display().to_string())
                .unwrap()
                .clone()
        };
        let b = by(&bad);
        assert!(
            b.error
                .as_deref()
                .unwrap()
                .contains("truncated while it was read"),
            "{b:?}"
        );
        assert!(b.code_objects.is_empty());
        assert_eq!(by(&good).code_objects.len(), 1);
    }
}
