//! Steps 2–3 of the module docs: which archive the runtime loads each translation
//! unit from, for one GPU.

use super::unit_of;
use rp_kb::TargetId;
use rp_report::{CoverageHow, FileReport, KpackSearch, KpackSource, KpackStatus};
use std::collections::BTreeSet;

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
