//! Follow kpack'd host binaries to their archives as the HIP runtime does
//! (docs/code-objects.md, "Kpack"; rocm-kpack `runtime/src/loader.cpp` and
//! `runtime/src/isa_target_match.h` at e3483286).
//!
//! What the runtime does, for each translation unit `N` of a binary (its HIPK wrapper's
//! `reserved1`, passed as `co_index`):
//! 1. the list of archive paths: `ROCM_KPACK_PATH` (colon-separated) alone when set;
//!    else `ROCM_KPACK_PATH_PREFIX`'s paths, then each path of the binary's
//!    `.rocm_kpack_ref`, made absolute against the binary's directory, a path with
//!    `@GFXARCH@` expanded (its first occurrence) once for each architecture it asks
//!    about — the device's ISA name, then its generic target — and each subset of its
//!    features, most specific first (`gfx1010:xnack-`, then `gfx1010`);
//! 2. every path that is a regular file and opens is an archive, read once;
//! 3. for each architecture in order, each compatible target in order: the first
//!    archive whose `gfx_arches` holds the target is the one; the kernel is
//!    `toc["KERNEL_NAME#N"][target]` there, or the load fails — no other archive or
//!    architecture is tried once an archive matched (rocm-kpack #11).
//!
//! `ROCM_KPACK_DISABLE` (set, not empty, not starting with `0`) turns the loader off.
//!
//! Inspecting knows no GPU, so step 1 is done for every architecture at once: a
//! `@GFXARCH@` path is matched against the directory's files (or a wheel's members), and
//! each archive found is recorded with the architecture its name stands for. Steps 2–3
//! for one GPU are [`verdict`]'s, run by `coverage`.

use crate::error_report;
use rayon::prelude::*;
use rp_codeobj::Options as ScanOptions;
use rp_kb::TargetId;
use rp_report::{
    CodeObjectReport, CoverageHow, FileFormat, FileReport, KpackSearch, KpackSource, KpackStatus,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

/// The placeholder TheRock writes in search paths (`loader.cpp`, `kGfxArchPlaceholder`).
pub const PLACEHOLDER: &str = "@GFXARCH@";
/// Most directory entries looked at when matching a `@GFXARCH@` path.
const MAX_DIR_ENTRIES: usize = 16_384;
/// Most archives one `@GFXARCH@` path may match.
const MAX_MATCHES: usize = 256;

/// The runtime's kpack variables (rocm-kpack `runtime/src/loader.cpp`,
/// `kpack_cache_create`), read once as the runtime reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KpackEnv {
    /// `ROCM_KPACK_PATH`: archives searched instead of the binaries' own paths.
    pub path: Vec<String>,
    /// `ROCM_KPACK_PATH_PREFIX`: archives searched before the binaries' own paths.
    pub path_prefix: Vec<String>,
    /// `ROCM_KPACK_DISABLE` is set to something not empty that does not start with `0`.
    pub disabled: bool,
    /// `ROCM_KPACK_DEBUG` likewise: the runtime logs each step to stderr.
    pub debug: bool,
    /// Absolute paths of the variables lie under this directory (a `--sysroot`).
    pub root: Option<PathBuf>,
}

impl KpackEnv {
    /// Read the variables through `get` (the process environment, or a machine
    /// snapshot's).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> KpackEnv {
        // `flag`: set, not empty, first character not '0' (loader.cpp).
        let flag = |v: Option<String>| v.is_some_and(|v| !v.is_empty() && !v.starts_with('0'));
        // Colon-separated, empty elements dropped (loader.cpp, `split_path_list`).
        let list = |v: Option<String>| -> Vec<String> {
            v.unwrap_or_default()
                .split(':')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        };
        KpackEnv {
            path: list(get("ROCM_KPACK_PATH")),
            path_prefix: list(get("ROCM_KPACK_PATH_PREFIX")),
            disabled: flag(get("ROCM_KPACK_DISABLE")),
            debug: flag(get("ROCM_KPACK_DEBUG")),
            root: None,
        }
    }

    /// The variables of this process.
    pub fn from_process() -> KpackEnv {
        KpackEnv::from_vars(|k| std::env::var(k).ok())
    }
}

/// Where one path leads.
enum Target {
    /// A report already in the list (wheel members, files named or walked).
    Report(usize),
    /// A file to read.
    File(PathBuf),
    /// Nothing readable there: the status and the path shown.
    Nothing(KpackStatus, String),
}

/// One archive a binary may load from, before it is read.
struct Want {
    binary: usize,
    path: String,
    source: KpackSource,
    arch: Option<String>,
    target: Target,
}

pub(crate) fn resolve(
    reports: &mut [FileReport],
    confine: Option<&Path>,
    env: &KpackEnv,
    opts: &ScanOptions,
) {
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
    let members: Vec<(usize, &str, &str)> = reports
        .iter()
        .enumerate()
        .filter(|(_, r)| r.format == Some(FileFormat::Kpack))
        .filter_map(|(i, r)| r.path.split_once("!/").map(|(w, m)| (i, w, m)))
        .collect();
    let mut wanted: Vec<Want> = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        let Some(k) = &r.kpack_ref else { continue };
        let direct = |path: &str, source| {
            let target = locate_env(path, env, &known, confine.as_deref());
            Want {
                binary: i,
                path: path.to_string(),
                source,
                arch: None,
                target,
            }
        };
        if !env.path.is_empty() {
            wanted.extend(env.path.iter().map(|p| direct(p, KpackSource::Path)));
            continue;
        }
        wanted.extend(
            env.path_prefix
                .iter()
                .map(|p| direct(p, KpackSource::PathPrefix)),
        );
        for s in &k.search {
            let found = locate(&r.path, &s.path, &known, &members, confine.as_deref());
            wanted.extend(found.into_iter().map(|(arch, target)| Want {
                binary: i,
                path: s.path.clone(),
                source: KpackSource::Embedded,
                arch,
                target,
            }));
        }
    }
    // Read each archive not yet read once, in parallel.
    let files: BTreeSet<&PathBuf> = wanted
        .iter()
        .filter_map(|w| match &w.target {
            Target::File(p) => Some(p),
            _ => None,
        })
        .collect();
    let read: BTreeMap<PathBuf, FileReport> = files
        .into_par_iter()
        .map(|p| (p.clone(), read_archive(p, opts)))
        .collect();
    // Each binary's searches are rebuilt from what was found.
    let mut searches: BTreeMap<usize, Vec<KpackSearch>> = BTreeMap::new();
    let mut found_objects: BTreeMap<usize, Vec<CodeObjectReport>> = BTreeMap::new();
    for w in wanted {
        let mut s = KpackSearch {
            path: w.path.clone(),
            source: w.source,
            arch: w.arch.clone(),
            ..KpackSearch::default()
        };
        let (archive_path, archive) = match &w.target {
            Target::Report(a) => (reports[*a].path.clone(), Some(&reports[*a])),
            Target::File(p) => (p.display().to_string(), read.get(p)),
            Target::Nothing(status, shown) => {
                s.status = *status;
                s.archive = Some(shown.clone());
                searches.entry(w.binary).or_default().push(s);
                continue;
            }
        };
        let key = reports[w.binary]
            .kpack_ref
            .as_ref()
            .map(|k| k.kernel_name.clone())
            .unwrap_or_default();
        s.archive = Some(archive_path.clone());
        match archive {
            Some(a) if a.format == Some(FileFormat::Kpack) && a.error.is_none() => {
                s.gfx_arches = a
                    .kpack
                    .as_ref()
                    .map(|k| k.gfx_arches.clone())
                    .unwrap_or_default();
                let mine: Vec<CodeObjectReport> = a
                    .code_objects
                    .iter()
                    .filter(|c| c.binary.as_deref().is_some_and(|b| key_matches(b, &key)))
                    .cloned()
                    .map(|mut c| {
                        c.archive = Some(archive_path.clone());
                        c
                    })
                    .collect();
                s.status = if mine.is_empty() {
                    KpackStatus::NoEntry
                } else {
                    KpackStatus::Found
                };
                s.targets = mine
                    .iter()
                    .map(|c| c.kpack_arch.clone().unwrap_or_else(|| c.target_id.clone()))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let objs = found_objects.entry(w.binary).or_default();
                for c in mine {
                    if !objs.contains(&c) {
                        objs.push(c);
                    }
                }
            }
            Some(a) => {
                s.status = KpackStatus::Unreadable;
                s.error = Some(
                    a.error
                        .clone()
                        .unwrap_or_else(|| "not a kpack archive (no KPAK magic)".into()),
                );
            }
            None => {
                s.status = KpackStatus::Unreadable;
                s.error = Some("not read".into());
            }
        }
        searches.entry(w.binary).or_default().push(s);
    }
    for (i, r) in reports.iter_mut().enumerate() {
        let Some(k) = &mut r.kpack_ref else { continue };
        k.search = searches.remove(&i).unwrap_or_default();
        k.disabled = env.disabled;
        let objs = found_objects.remove(&i).unwrap_or_default();
        if k.units.is_empty() {
            // Streamed without its wrappers: the units its archives know of.
            let from: BTreeSet<u64> = objs
                .iter()
                .filter_map(|c| unit_of(c.binary.as_deref()?, &k.kernel_name))
                .collect();
            k.units = from.into_iter().collect();
            k.units_from_archives = true;
        }
        r.code_objects.extend(objs);
        note_missing(r);
    }
}

/// `lib/a.so#3` or `lib/a.so` (the bare name, an older table's key) for `lib/a.so`.
fn key_matches(key: &str, name: &str) -> bool {
    key == name || unit_of(key, name).is_some()
}

/// The `N` of `name#N`.
fn unit_of(key: &str, name: &str) -> Option<u64> {
    key.strip_prefix(name)?.strip_prefix('#')?.parse().ok()
}

/// A path from one of the variables: used as it is, an absolute one under the root.
fn locate_env(
    path: &str,
    env: &KpackEnv,
    known: &HashMap<String, usize>,
    confine: Option<&Path>,
) -> Target {
    let p = Path::new(path);
    let on_disk = match (&env.root, p.is_absolute()) {
        (Some(root), true) => root.join(p.strip_prefix("/").unwrap_or(p)),
        // Relative to the current directory of a process on another machine: unknown.
        (Some(_), false) => return Target::Nothing(KpackStatus::Missing, path.to_string()),
        (None, _) => p.to_path_buf(),
    };
    file_target(&on_disk, path, path, known, confine)
}

fn file_target(
    on_disk: &Path,
    shown: &str,
    written: &str,
    known: &HashMap<String, usize>,
    confine: Option<&Path>,
) -> Target {
    let Ok(real) = std::fs::canonicalize(on_disk) else {
        return Target::Nothing(KpackStatus::Missing, shown.to_string());
    };
    if confine.is_some_and(|c| !real.starts_with(c)) {
        // Shown as the binary writes it: where it leads is no business of the report.
        return Target::Nothing(KpackStatus::Outside, written.to_string());
    }
    match known.get(&real.display().to_string()) {
        Some(&i) => Target::Report(i),
        None if real.is_file() => Target::File(real),
        None => Target::Nothing(KpackStatus::Missing, shown.to_string()),
    }
}

/// Resolve `search` relative to the binary at `binary` (a file path or a wheel member
/// `wheel!/member`): one target, or for a `@GFXARCH@` path each archive present that
/// it can expand to, with the architecture its name stands for.
fn locate(
    binary: &str,
    search: &str,
    known: &HashMap<String, usize>,
    members: &[(usize, &str, &str)],
    confine: Option<&Path>,
) -> Vec<(Option<String>, Target)> {
    if let Some((wheel, member)) = binary.split_once("!/") {
        return locate_in_wheels(wheel, member, search, known, members);
    }
    let dir = Path::new(binary).parent().unwrap_or(Path::new("."));
    let joined = if Path::new(search).is_absolute() {
        PathBuf::from(search)
    } else {
        dir.join(search)
    };
    let shown = normalize(&joined).unwrap_or_else(|| joined.clone());
    let text = shown.display().to_string();
    let Some((before, after)) = text.split_once(PLACEHOLDER) else {
        return vec![(None, file_target(&joined, &text, search, known, confine))];
    };
    // The placeholder's component: the directory before it is listed, its name matched
    // as `prefix ARCH suffix`, and what follows it is appended.
    let (parent, prefix) = match before.rfind('/') {
        Some(i) => (&before[..i.max(1)], &before[i + 1..]),
        None => (".", before),
    };
    let (suffix, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    let mut out = Vec::new();
    let listing = std::fs::read_dir(parent).map(|d| {
        d.filter_map(Result::ok)
            .take(MAX_DIR_ENTRIES)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect::<Vec<_>>()
    });
    let mut names = listing.unwrap_or_default();
    names.sort();
    for name in names {
        let Some(arch) = name
            .strip_prefix(prefix)
            .and_then(|n| n.strip_suffix(suffix))
            .filter(|a| !a.is_empty())
        else {
            continue;
        };
        let path = format!("{parent}/{name}{rest}");
        match file_target(Path::new(&path), &path, search, known, confine) {
            Target::Nothing(KpackStatus::Missing, _) => {}
            t => out.push((Some(arch.to_string()), t)),
        }
        if out.len() >= MAX_MATCHES {
            break;
        }
    }
    if out.is_empty() {
        out.push((None, Target::Nothing(KpackStatus::Missing, text)));
    }
    out
}

/// A wheel member's search path, among the members of every wheel inspected: pip
/// installs a host wheel and its device wheels into one site-packages, so an archive
/// of a device wheel lies where the host wheel's binary looks (TheRock splits torch
/// that way; docs/code-objects.md, "Kpack"). The binary's own wheel comes first.
fn locate_in_wheels(
    wheel: &str,
    member: &str,
    search: &str,
    known: &HashMap<String, usize>,
    members: &[(usize, &str, &str)],
) -> Vec<(Option<String>, Target)> {
    let dir = Path::new(member).parent().unwrap_or(Path::new(""));
    let Some(m) = normalize(&dir.join(search)) else {
        return vec![(
            None,
            Target::Nothing(KpackStatus::Outside, format!("{wheel}!/{search}")),
        )];
    };
    let m = m.display().to_string();
    let shown = format!("{wheel}!/{m}");
    let Some((before, after)) = m.split_once(PLACEHOLDER) else {
        if let Some(&i) = known.get(&shown) {
            return vec![(None, Target::Report(i))];
        }
        return match members.iter().find(|(_, _, mm)| *mm == m) {
            Some((i, _, _)) => vec![(None, Target::Report(*i))],
            None => vec![(None, Target::Nothing(KpackStatus::Missing, shown))],
        };
    };
    let mut hits: Vec<(bool, &str, String, usize)> = members
        .iter()
        .filter_map(|(i, w, mm)| {
            let arch = mm.strip_prefix(before)?.strip_suffix(after)?;
            (!arch.is_empty() && !arch.contains('/'))
                .then(|| (*w != wheel, *mm, arch.to_string(), *i))
        })
        .collect();
    hits.sort();
    hits.truncate(MAX_MATCHES);
    if hits.is_empty() {
        return vec![(None, Target::Nothing(KpackStatus::Missing, shown))];
    }
    hits.into_iter()
        .map(|(_, _, arch, i)| (Some(arch), Target::Report(i)))
        .collect()
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

/// The architectures the HIP runtime asks the kpack loader for, in order: the device's
/// ISA name (its processor with the features it runs in), then its generic target with
/// the same features (ROCm clr `hipamd/src/hip_fatbin.cpp`, kpack branch: `isaName()`
/// then `TargetToGeneric`).
pub fn runtime_archs(gpu: &TargetId) -> Vec<String> {
    let kb = rp_kb::kb();
    let mode = kb.gpu_mode(gpu);
    let mut out = vec![mode.to_string()];
    if let Some(rp_kb::Processor::Specific(t)) = kb.processor(&mode.processor) {
        if let Some(g) = &t.generic {
            let mut gen = mode.clone();
            gen.processor = g.clone();
            out.push(gen.to_string());
        }
    }
    out
}

/// Each target a runtime architecture matches, most specific first: the processor with
/// every subset of its features, in the order of the subsets' bit masks counting down
/// (rocm-kpack `runtime/src/isa_target_match.h`, `for_each_compatible_target`).
pub fn compatible_targets(arch: &str) -> Vec<String> {
    let mut parts = arch.split(':');
    let processor = parts.next().unwrap_or_default();
    let features: Vec<&str> = parts.filter(|f| !f.is_empty()).collect();
    let n = features.len().min(8);
    let mut out = Vec::with_capacity(1 << n);
    for mask in (0u32..(1 << n)).rev() {
        let mut t = processor.to_string();
        for (i, f) in features.iter().take(n).enumerate() {
            if mask & (1 << (n - 1 - i)) != 0 {
                t.push(':');
                t.push_str(f);
            }
        }
        out.push(t);
    }
    out
}

/// What a kpack'd binary gives one GPU.
pub(crate) enum Verdict {
    /// Every unit has code: how, the archives it comes from, and a warning worth
    /// showing beside it.
    Covered(CoverageHow, Vec<String>, Option<String>),
    /// Some units have none: the missing keys, the number of units, and why.
    Partial(Vec<String>, u32, String),
    /// No unit has code, and why.
    Missing(String),
}

/// How the runtime fares with one translation unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitLoad {
    /// Loaded from this archive, for this architecture.
    Found {
        /// The archive.
        archive: String,
        /// The architecture matched (`gfx1010`, `gfx1010:xnack-`).
        arch: String,
        /// A runtime without rocm-systems #9953 (one that stops at the first archive with
        /// a compatible architecture) would not find it.
        old_loader_fails: bool,
    },
    /// An archive covers the GPU but holds no such kernel (`KPACK_ERROR_KERNEL_NOT_FOUND`).
    KernelMissing {
        /// The archives tried.
        tried: Vec<String>,
    },
    /// No archive the runtime opens covers the GPU (`KPACK_ERROR_ARCHIVE_NOT_FOUND` or
    /// `KPACK_ERROR_ARCH_NOT_FOUND`).
    NoArchive,
    /// `ROCM_KPACK_DISABLE` (`KPACK_ERROR_NOT_IMPLEMENTED`).
    Disabled,
}

/// The archives the runtime would open for `archs`, in its order (module docs, step 1):
/// each entry of `k.search` that opened, the `@GFXARCH@` ones only when their
/// architecture is one the runtime expands to.
fn pool<'a>(k: &'a rp_report::KpackRef, archs: &[String]) -> Vec<&'a KpackSearch> {
    let expansions: Vec<String> = archs.iter().flat_map(|a| compatible_targets(a)).collect();
    let mut order: Vec<(usize, usize, &KpackSearch)> = Vec::new();
    let mut embedded_index = 0usize;
    let mut last_path: Option<&str> = None;
    for (n, s) in k.search.iter().enumerate() {
        if s.source == KpackSource::Embedded && last_path != Some(s.path.as_str()) {
            embedded_index += 1;
            last_path = Some(s.path.as_str());
        }
        if !matches!(s.status, KpackStatus::Found | KpackStatus::NoEntry) {
            continue;
        }
        let rank = match &s.arch {
            None => n,
            Some(a) => match expansions.iter().position(|e| e == a) {
                Some(p) => p,
                None => continue,
            },
        };
        let group = if s.source == KpackSource::Embedded {
            embedded_index
        } else {
            0
        };
        order.push((group, rank, s));
    }
    order.sort_by_key(|(g, r, _)| (*g, *r));
    let mut seen = BTreeSet::new();
    order
        .into_iter()
        .filter(|(_, _, s)| seen.insert(s.archive.clone()))
        .map(|(_, _, s)| s)
        .collect()
}

/// Does `archive` hold the kernel `key` (or, in an older table, the bare name) for
/// `arch`?
fn holds(f: &FileReport, k: &rp_report::KpackRef, archive: &str, arch: &str, key: &str) -> bool {
    f.code_objects.iter().any(|c| {
        c.archive.as_deref() == Some(archive)
            && c.kpack_arch.as_deref() == Some(arch)
            && (c.binary.as_deref() == Some(key)
                || c.binary.as_deref() == Some(k.kernel_name.as_str()))
    })
}

/// Step 3 of the module docs for one unit and the architectures the runtime asks for,
/// as rocm-systems #9953 does it (every archive with a compatible architecture is tried,
/// most specific architecture first, then the next asked architecture), noting where
/// the loader before it (it stopped at the first archive with a compatible
/// architecture) would fail.
pub fn unit_load(f: &FileReport, archs: &[String], unit: u64) -> Option<UnitLoad> {
    let k = f.kpack_ref.as_ref()?;
    Some(load_from(f, k, &pool(k, archs), archs, unit))
}

/// [`unit_load`] with the archive pool built once for all of a library's units.
fn load_from(
    f: &FileReport,
    k: &rp_report::KpackRef,
    pool: &[&KpackSearch],
    archs: &[String],
    unit: u64,
) -> UnitLoad {
    if k.disabled {
        return UnitLoad::Disabled;
    }
    let key = format!("{}#{unit}", k.kernel_name);
    let mut tried = Vec::new();
    let mut first_candidate_fails: Option<bool> = None;
    for a in archs {
        let mut old_decided = false;
        for t in compatible_targets(a) {
            for s in pool.iter().filter(|s| s.gfx_arches.contains(&t)) {
                let archive = s.archive.clone().unwrap_or_default();
                let ok = holds(f, k, &archive, &t, &key);
                if !old_decided {
                    // The old loader's one candidate for this architecture.
                    old_decided = true;
                    first_candidate_fails.get_or_insert(!ok);
                }
                if ok {
                    return UnitLoad::Found {
                        archive,
                        arch: t,
                        old_loader_fails: first_candidate_fails == Some(true),
                    };
                }
                tried.push(archive);
            }
        }
    }
    if tried.is_empty() {
        UnitLoad::NoArchive
    } else {
        tried.dedup();
        UnitLoad::KernelMissing { tried }
    }
}

/// Steps 2–3 of the module docs for one GPU, every unit.
pub(crate) fn verdict(f: &FileReport, gpu: &TargetId) -> Option<Verdict> {
    let k = f.kpack_ref.as_ref()?;
    let archs = runtime_archs(gpu);
    let pool = pool(k, &archs);
    let units: Vec<u64> = if k.units.is_empty() {
        vec![0]
    } else {
        k.units.clone()
    };
    let searched: Vec<String> = k
        .search
        .iter()
        .map(|s| s.archive.clone().unwrap_or_else(|| s.path.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut missing = Vec::new();
    let mut used = BTreeSet::new();
    let mut how = CoverageHow::Exact;
    let mut why = String::new();
    let mut old_fails = Vec::new();
    let mut matched_arch = None;
    for &n in &units {
        let key = format!("{}#{n}", k.kernel_name);
        match load_from(f, k, &pool, &archs, n) {
            UnitLoad::Disabled => {
                return Some(Verdict::Missing(
                    "ROCM_KPACK_DISABLE is set: the runtime loads no kpack'd device code".into(),
                ))
            }
            UnitLoad::Found {
                archive,
                arch,
                old_loader_fails,
            } => {
                if arch.split(':').next() != Some(gpu.processor.as_str()) {
                    how = CoverageHow::Generic;
                }
                if old_loader_fails {
                    old_fails.push(key);
                }
                used.insert(archive);
                matched_arch = Some(arch);
            }
            UnitLoad::KernelMissing { tried } => {
                why = format!(
                    "{} covers {} but holds no {key}",
                    tried.join(", "),
                    archs.join(" or ")
                );
                missing.push(key);
            }
            UnitLoad::NoArchive => {
                why = format!(
                    "no archive the runtime opens covers {} (searched: {})",
                    archs.join(" or "),
                    if searched.is_empty() {
                        "nothing".to_string()
                    } else {
                        searched.join(", ")
                    }
                );
                missing.push(key);
            }
        }
    }
    if missing.is_empty() {
        let mut note = None;
        if !old_fails.is_empty() {
            note = Some(format!(
                "{} load only with a kpack loader that tries every archive (rocm-systems #9953, 2026-08); older runtimes stop at the first archive with a compatible architecture and fail",
                old_fails.join(", ")
            ));
        }
        // Keys are numbered per architecture by the splitter but looked up by wrapper
        // index (rocm-systems #7069 reverted the fix): more keys than wrappers, or fewer,
        // means a unit may get another unit's code.
        if let Some(arch) = matched_arch {
            let keys: BTreeSet<&str> = f
                .code_objects
                .iter()
                .filter(|c| c.kpack_arch.as_deref() == Some(arch.as_str()))
                .filter_map(|c| c.binary.as_deref())
                .filter(|b| unit_of(b, &k.kernel_name).is_some())
                .collect();
            if !k.units_from_archives && !keys.is_empty() && keys.len() != units.len() {
                note = Some(format!(
                    "its archives hold {} keys for {arch} but it has {} translation units: keys are numbered per architecture, so a unit may load another unit's code",
                    keys.len(),
                    units.len()
                ));
            }
        }
        Some(Verdict::Covered(how, used.into_iter().collect(), note))
    } else if missing.len() == units.len() {
        Some(Verdict::Missing(why))
    } else {
        // AMD's splitter numbers each architecture's code objects on their own
        // (rocm-systems wheel_splitter.py, `code_object_index[arch]`; #6943 reverted by
        // #7069): with a unit lacking code, the later units' keys shift down by one and
        // the units that do load may get another unit's code.
        let why = format!(
            "{why}; keys are numbered per architecture, so the units that do load may get another unit's code"
        );
        Some(Verdict::Partial(missing, units.len() as u32, why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatible_targets_in_the_runtime_order() {
        assert_eq!(compatible_targets("gfx1030"), ["gfx1030"]);
        assert_eq!(
            compatible_targets("gfx1010:xnack-"),
            ["gfx1010:xnack-", "gfx1010"]
        );
        // Masks 3, 2, 1, 0: both, the first feature, the second, none.
        assert_eq!(
            compatible_targets("gfx942:sramecc+:xnack-"),
            [
                "gfx942:sramecc+:xnack-",
                "gfx942:sramecc+",
                "gfx942:xnack-",
                "gfx942"
            ]
        );
    }

    #[test]
    fn runtime_archs_have_the_default_features_and_the_generic() {
        let g: TargetId = "gfx1010".parse().unwrap();
        assert_eq!(
            runtime_archs(&g),
            ["gfx1010:xnack-", "gfx10-1-generic:xnack-"]
        );
        let g: TargetId = "gfx1030".parse().unwrap();
        assert_eq!(runtime_archs(&g), ["gfx1030", "gfx10-3-generic"]);
    }

    #[test]
    fn env_is_read_as_the_loader_reads_it() {
        let vars: BTreeMap<&str, &str> = [
            ("ROCM_KPACK_PATH", ":/a.kpack::/b.kpack:"),
            ("ROCM_KPACK_DISABLE", "0"),
            ("ROCM_KPACK_DEBUG", "yes"),
        ]
        .into();
        let e = KpackEnv::from_vars(|k| vars.get(k).map(|v| v.to_string()));
        assert_eq!(e.path, ["/a.kpack", "/b.kpack"]);
        assert!(!e.disabled);
        assert!(e.debug);
        assert!(e.path_prefix.is_empty());
        let e = KpackEnv::from_vars(|k| (k == "ROCM_KPACK_DISABLE").then(|| "1".into()));
        assert!(e.disabled);
        let e = KpackEnv::from_vars(|k| (k == "ROCM_KPACK_DISABLE").then(String::new));
        assert!(!e.disabled);
    }

    #[test]
    fn keys() {
        assert!(key_matches("lib/a.so#0", "lib/a.so"));
        assert!(key_matches("lib/a.so", "lib/a.so"));
        assert!(!key_matches("lib/a.so.1#0", "lib/a.so"));
        assert!(!key_matches("lib/a.so#x", "lib/a.so"));
        assert_eq!(unit_of("lib/a.so#12", "lib/a.so"), Some(12));
    }
}
