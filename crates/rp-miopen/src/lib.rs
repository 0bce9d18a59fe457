//! MIOpen batch-norm on RDNA1: find the batch-norm kernel sources a `libMIOpen.so` carries
//! and decide, per AMD target, whether they keep the DPP `row_bcast` reduction that GFX10+
//! rejects ("not a valid operand"; LLVM `llvm/test/MC/AMDGPU/gfx10_unsupported_dpp.s`,
//! [MIOpen#1586](https://github.com/ROCm/MIOpen/issues/1586)).
//!
//! **How MIOpen carries its kernels.** MIOpen compiles its OpenCL kernels at run time
//! (comgr), from sources built into the library: `src/CMakeLists.txt` (ROCm/MIOpen
//! `d62f7730`, rocm-6.2.2, `inline_kernels_src`) runs its `addkernels` tool, which inlines
//! each kernel's quoted `#include`s and emits the text as a NUL-terminated character array
//! in `.rodata`, with a separate table of file names (`MIOpenBatchNormFwdTrainSpatial.cl`
//! ...). Debian sid's `libmiopen1` 6.4.3 (MIOpen 3.4.0) is laid out so: eleven
//! `MIOpenBatchNorm*.cl` texts, each with `batchnorm_functions.h` and
//! `reduction_functions.h` inlined. The scan therefore looks for NUL-delimited text blobs
//! that define a `MIOpenBatchNorm*` kernel and names each by its kernel functions (the
//! file table's pointers are relocations, not worth resolving for this). Quoted includes
//! left in a blob are resolved from other blobs (`batchnorm_functions.h`,
//! `reduction_functions.h`) when the library carries them separately.
//!
//! **The decision.** For each target the kernels are preprocessed ([`pp`], pure Rust, no
//! external tool) with what the compiler and MIOpen's solvers define for it
//! ([`target_defines`]); a kernel keeps the DPP path when an active line holds
//! `row_bcast` (the asm of `dpp_reduction` ... in `reduction_functions.h`) and an active
//! line calls a DPP reduction ([`DPP_CALL_NEEDLES`]). A target is
//! [`Verdict::Affected`] when some kernel keeps that path and the target is GFX10 or newer.
//!
//! Nothing here prints or spawns a process, except [`compile::compile`], which runs a
//! compiler the caller names.

use serde::Serialize;

pub mod compile;
pub mod pp;

/// Longest text blob considered a kernel source (the largest batch-norm kernel with its
/// headers inlined is about 90 KB in MIOpen 3.4.0).
pub const MAX_BLOB: usize = 4 << 20;

/// Known batch-norm kernel files: every kernel function in one starts with its stem
/// (ROCm/MIOpen `src/kernels/MIOpenBatchNorm*.cl` @d62f7730; the same in rocm-libraries
/// `projects/miopen` @109ded93 and MIOpen 3.4.0).
pub const BN_KERNEL_FILES: [&str; 11] = [
    "MIOpenBatchNormActivBwdPerAct.cl",
    "MIOpenBatchNormActivBwdSpatial.cl",
    "MIOpenBatchNormActivFwdTrainPerAct.cl",
    "MIOpenBatchNormActivFwdTrainSpatial.cl",
    "MIOpenBatchNormActivInfer.cl",
    "MIOpenBatchNormBwdPerAct.cl",
    "MIOpenBatchNormBwdSpatial.cl",
    "MIOpenBatchNormFwdInferPerAct.cl",
    "MIOpenBatchNormFwdInferSpatial.cl",
    "MIOpenBatchNormFwdTrainPerAct.cl",
    "MIOpenBatchNormFwdTrainSpatial.cl",
];

/// [`DPP_NEEDLE`], then [`DPP_CALL_NEEDLES`].
static NEEDLES: [&[u8]; 6] = [
    DPP_NEEDLE,
    DPP_CALL_NEEDLES[0],
    DPP_CALL_NEEDLES[1],
    DPP_CALL_NEEDLES[2],
    DPP_CALL_NEEDLES[3],
    DPP_CALL_NEEDLES[4],
];

/// The DPP row broadcasts GFX10+ rejects (`reduction_functions.h`, `dpp_reduction` ...).
pub const DPP_NEEDLE: &[u8] = b"row_bcast";

/// Calls of the DPP reductions from kernel code: `gcn_reduce2(&mean, ...)` and the like
/// (`src/kernels/MIOpenBatchNorm*Spatial.cl` @d62f7730). The reductions' own definitions
/// and their internal calls (`dpp_interleaved_reduction(x, y)`) take no address, so a
/// kernel that includes `reduction_functions.h` without calling it (3.2.0's
/// `MIOpenBatchNormActivBwdPerAct.cl`) is not counted: clang never emits the asm of an
/// unused `static inline` function, so it compiles.
pub const DPP_CALL_NEEDLES: [&[u8]; 5] = [
    b"gcn_reduce2(&",
    b"gcn_reduce(&",
    b"dpp_reduction(&",
    b"dpp_interleaved_reduction(&",
    b"dpp_triple_reduction(&",
];

/// A marker of `batchnorm_functions.h` (its comment before the `MIOPEN_USE_AMDGCN` block).
const BN_HEADER_MARK: &[u8] = b"MIOPEN_USE_AMDGCN may be defined before this header";
/// `reduction_functions.h`'s include guard.
const RED_HEADER_MARK: &[u8] = b"GUARD_REDUCTION_FUNCTIONS_H";
/// The macro the rocm-patch fix introduces.
const FIX_MARK: &[u8] = b"MIO_BN_GFX101X";

/// One batch-norm kernel source found in the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelSource {
    /// File name, from the kernel functions it defines.
    pub file: String,
    /// `MIOpenBatchNorm*` kernel functions it defines, in order.
    pub kernels: Vec<String>,
    /// Byte offset of the text in the library.
    pub offset: usize,
    /// Its length in bytes (to the NUL or the end of the input).
    pub len: usize,
    /// Ends at the end of the input instead of a NUL (a truncated file).
    pub truncated: bool,
    /// `batchnorm_functions.h` is inlined in it.
    pub header_inlined: bool,
    /// It mentions `MIO_BN_GFX101X` (the rocm-patch fix, or an upstream one).
    pub mentions_gfx101x: bool,
}

/// What a scan of a library found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BnScan {
    /// MIOpen's version (`, MIOpen version X.Y.Z.` in `src/execution_context.cpp`'s log
    /// line, ROCm/MIOpen @d62f7730 L184).
    pub version: Option<String>,
    /// The batch-norm kernel sources, in library order (a file may appear twice).
    pub kernels: Vec<KernelSource>,
    /// Separately embedded headers found: `(name, offset, len)`.
    pub headers: Vec<(String, usize, usize)>,
}

/// Per-target decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// These kernels keep the DPP `row_bcast` path on a GFX10+ target: they fail to
    /// compile there, and batch-norm fails.
    Affected { kernels: Vec<String> },
    /// No kernel keeps the path on this target, or the target accepts it (GFX9 and
    /// older).
    Unaffected,
    /// Not decided: no batch-norm kernels found, or a kernel's conditions could not be
    /// evaluated.
    Unknown { reason: String },
}

/// The result for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetCheck {
    /// The target as asked (`gfx1010`, `gfx1010:xnack-`, ...).
    pub target: String,
    /// Kernels (files) whose active text keeps `row_bcast` and calls it on this target.
    pub dpp_kernels: Vec<String>,
    /// The target rejects DPP row broadcasts (GFX10 and newer).
    pub rejects_row_bcast: bool,
    /// The decision.
    pub verdict: Verdict,
}

/// The whole check: scan plus one result per target asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BnCheck {
    pub version: Option<String>,
    /// File names of the batch-norm kernels found (each once).
    pub kernels_found: Vec<String>,
    /// Some kernel carries the `MIO_BN_GFX101X` fix.
    pub gfx101x_fix_present: bool,
    /// Where each kernel text lies in the library.
    pub sources: Vec<KernelSource>,
    pub targets: Vec<TargetCheck>,
}

impl BnCheck {
    /// The verdict for `target` (as it was asked), `Unknown` if it was not asked.
    pub fn verdict(&self, target: &str) -> Verdict {
        self.targets
            .iter()
            .find(|t| t.target == target)
            .map(|t| t.verdict.clone())
            .unwrap_or(Verdict::Unknown {
                reason: format!("{target} was not checked"),
            })
    }

    /// Targets on which some kernel keeps the DPP path (whether or not they reject it).
    pub fn dpp_path_targets(&self) -> Vec<&str> {
        self.targets
            .iter()
            .filter(|t| !t.dpp_kernels.is_empty())
            .map(|t| t.target.as_str())
            .collect()
    }
}

/// Finds MIOpen's version and its batch-norm kernel sources in `lib` (any bytes: a
/// truncated or foreign file gives an empty scan, never a panic). Linear in `lib`'s size:
/// one `memmem` pass per needle.
pub fn scan(lib: &[u8]) -> BnScan {
    let mut kernels: Vec<KernelSource> = Vec::new();
    let mut headers = Vec::new();
    let mut last_end = 0usize;
    for hit in memchr::memmem::find_iter(lib, b"MIOpenBatchNorm") {
        if hit < last_end {
            continue;
        }
        let Some((start, end, truncated)) = blob_around(lib, hit) else {
            continue;
        };
        last_end = end;
        let text = &lib[start..end];
        if !is_source_text(text) {
            continue;
        }
        let names = kernel_functions(text);
        let Some(file) = names.first().map(|n| file_for_kernel(n)) else {
            continue;
        };
        kernels.push(KernelSource {
            file,
            kernels: names,
            offset: start,
            len: end - start,
            truncated,
            header_inlined: memchr::memmem::find(text, BN_HEADER_MARK).is_some(),
            mentions_gfx101x: memchr::memmem::find(text, FIX_MARK).is_some(),
        });
    }
    for (name, mark) in [
        ("batchnorm_functions.h", BN_HEADER_MARK),
        ("reduction_functions.h", RED_HEADER_MARK),
    ] {
        let mut last_end = 0usize;
        for hit in memchr::memmem::find_iter(lib, mark) {
            if hit < last_end {
                continue;
            }
            let Some((start, end, _)) = blob_around(lib, hit) else {
                continue;
            };
            last_end = end;
            let inside_kernel = kernels
                .iter()
                .any(|k| start >= k.offset && start < k.offset + k.len);
            if !inside_kernel && is_source_text(&lib[start..end]) {
                headers.push((name.to_string(), start, end - start));
                break;
            }
        }
    }
    BnScan {
        version: version(lib),
        kernels,
        headers,
    }
}

/// Scans `lib` and decides for each of `targets`.
pub fn check(lib: &[u8], targets: &[&str]) -> BnCheck {
    check_scanned(lib, &scan(lib), targets)
}

/// Decides for each of `targets` from a scan `s` of the same `lib` (to scan once and
/// decide for several targets at different times). A scan of other bytes gives `Unknown`,
/// never a panic.
pub fn check_scanned(lib: &[u8], s: &BnScan, targets: &[&str]) -> BnCheck {
    let mut kernels_found: Vec<String> = Vec::new();
    for k in &s.kernels {
        if !kernels_found.contains(&k.file) {
            kernels_found.push(k.file.clone());
        }
    }
    let header = |name: &str| -> Option<&[u8]> {
        s.headers
            .iter()
            .find(|(n, _, _)| n == name)
            .and_then(|(_, o, l)| lib.get(*o..o.saturating_add(*l)))
    };
    let targets = targets
        .iter()
        .map(|t| check_target(lib, s, t, &header))
        .collect();
    BnCheck {
        version: s.version.clone(),
        kernels_found,
        gfx101x_fix_present: s.kernels.iter().any(|k| k.mentions_gfx101x),
        sources: s.kernels.clone(),
        targets,
    }
}

fn check_target<'l>(
    lib: &'l [u8],
    s: &BnScan,
    target: &str,
    header: &'l dyn Fn(&str) -> Option<&'l [u8]>,
) -> TargetCheck {
    let rejects = rejects_row_bcast(target);
    let mut dpp_kernels: Vec<String> = Vec::new();
    let mut unknown: Option<String> = None;
    for k in &s.kernels {
        // A scan of another library: its ranges may not fit this one.
        let Some(text) = lib.get(k.offset..k.offset.saturating_add(k.len)) else {
            unknown.get_or_insert(format!("{}: not in this library", k.file));
            continue;
        };
        match kernel_keeps_dpp(text, target, header) {
            Ok(true) => {
                if !dpp_kernels.contains(&k.file) {
                    dpp_kernels.push(k.file.clone());
                }
            }
            Ok(false) => {}
            Err(e) => {
                unknown.get_or_insert(format!("{}: {e}", k.file));
            }
        }
    }
    let verdict = if s.kernels.is_empty() {
        Verdict::Unknown {
            reason: "no MIOpenBatchNorm kernel sources found".into(),
        }
    } else if rejects && !dpp_kernels.is_empty() {
        Verdict::Affected {
            kernels: dpp_kernels.clone(),
        }
    } else if let Some(reason) = unknown.filter(|_| rejects) {
        Verdict::Unknown { reason }
    } else {
        Verdict::Unaffected
    };
    TargetCheck {
        target: target.to_string(),
        dpp_kernels,
        rejects_row_bcast: rejects,
        verdict,
    }
}

/// Variants the solvers choose (`MIO_BN_VARIANT`, `src/solver/batchnorm/*.cpp` @d62f7730:
/// 0 to 4; unset, the header's default 255).
const VARIANTS: [Option<&str>; 6] = [None, Some("0"), Some("1"), Some("2"), Some("3"), Some("4")];

/// Whether one kernel text keeps the DPP path on `target` for some variant: `row_bcast`
/// active and a DPP reduction called.
fn kernel_keeps_dpp<'l>(
    text: &'l [u8],
    target: &str,
    header: &'l dyn Fn(&str) -> Option<&'l [u8]>,
) -> Result<bool, String> {
    for variant in VARIANTS {
        let mut macros: pp::Macros = target_defines(target)
            .into_iter()
            .map(|(n, v)| (n, pp::Macro::Object(v)))
            .collect();
        if let Some(v) = variant {
            macros.insert("MIO_BN_VARIANT".into(), pp::Macro::Object(v.into()));
        }
        let (r, _) = pp::scan(text, macros, &NEEDLES, header).map_err(|e| e.to_string())?;
        if r.needle_lines[0] == 0 {
            if r.unresolved_includes
                .iter()
                .any(|i| i.contains("reduction"))
            {
                return Err(format!(
                    "includes {} which the library does not carry separately",
                    r.unresolved_includes.join(", ")
                ));
            }
            // The DPP asm does not depend on the variant: inactive here, inactive in all.
            return Ok(false);
        }
        if r.needle_lines[1..].iter().any(|n| *n > 0) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The processor name of a target id: `gfx1010:xnack-` → `gfx1010`.
pub fn processor(target: &str) -> &str {
    target.split(':').next().unwrap_or(target)
}

/// The GFX major version of a target: `gfx1010` and `gfx10-1-generic` → 10, `gfx906`,
/// `gfx90a` and `gfx9-generic` → 9; `None` for anything else.
pub fn gfx_major(target: &str) -> Option<u32> {
    let num = processor(target).strip_prefix("gfx")?;
    let digits = num.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &num[digits..];
    // Named processors: 3 characters below GFX10 (906, 90a), 4 from GFX10 on (1010, 1201);
    // generic targets: the major then `-` (9-generic, 10-1-generic).
    let major_len = if rest.starts_with('-') {
        digits
    } else if num.len() >= 4 {
        2
    } else {
        1
    };
    num.get(..major_len)?.parse().ok()
}

/// GFX10 and newer reject DPP row broadcasts: LLVM's AMDGPU assembler says "broadcasts
/// are not supported on GFX10+" (llvm-project `llvm/lib/Target/AMDGPU/AsmParser/
/// AMDGPUAsmParser.cpp`, `llvm/test/MC/AMDGPU/gfx10_unsupported_dpp.s`).
pub fn rejects_row_bcast(target: &str) -> bool {
    gfx_major(target).is_some_and(|m| m >= 10)
}

/// What a batch-norm kernel is compiled with for `target` (FP32, MIOpen's defaults):
///
/// - the compiler's own macros for an AMDGCN OpenCL compile: `__AMDGCN__`, `__<gpu>__`
///   (`__gfx1010__`), `__GFX<n>__` (clang `clang/lib/Basic/Targets/AMDGPU.cpp`; checked
///   with `clang-19 -dM -E -mcpu=gfx1010`), `__AMDGCN_WAVEFRONT_SIZE`;
/// - MIOpen's comgr options: `__OPENCL_VERSION__=200`, `__IMAGE_SUPPORT__=1`
///   (`src/comgr.cpp` `AddCompilerOptions`, ROCm/MIOpen @d62f7730 L196-222);
/// - the solvers' target flags: `MIO_BN_GFX103X`/`110X` (`src/solver/batchnorm/*.cpp`
///   @d62f7730, e.g. `forward_spatial_single.cpp` L226-227: `StartsWith(device,
///   "gfx103")`), `115X`/`120X` in later lines (rocm-libraries `projects/miopen` @109ded93);
///   passing a flag a line's kernels never read changes nothing;
/// - `MIOPEN_USE_FP32=1` (FP16 turns DPP off by itself through `MIO_BN_NODPP`).
pub fn target_defines(target: &str) -> Vec<(String, String)> {
    let p = processor(target).to_ascii_lowercase();
    let mut d: Vec<(String, String)> = vec![
        ("__AMDGCN__".into(), "1".into()),
        ("__OPENCL_VERSION__".into(), "200".into()),
        ("__IMAGE_SUPPORT__".into(), "1".into()),
        ("MIOPEN_USE_FP32".into(), "1".into()),
        ("MIOPEN_USE_FP16".into(), "0".into()),
        ("MIOPEN_USE_FPMIX".into(), "0".into()),
        ("MIOPEN_USE_BFPMIX".into(), "0".into()),
    ];
    if let Some(major) = gfx_major(&p) {
        // clang: `__gfx1010__`, `__gfx10_1_generic__` (`-` becomes `_`), `__GFX10__`.
        d.push((format!("__{}__", p.replace('-', "_")), "1".into()));
        d.push((format!("__GFX{major}__"), "1".into()));
        let wave = if major >= 10 { "32" } else { "64" };
        d.push(("__AMDGCN_WAVEFRONT_SIZE".into(), wave.into()));
    }
    for (flag, prefix) in [
        ("MIO_BN_GFX103X", "gfx103"),
        ("MIO_BN_GFX110X", "gfx110"),
        ("MIO_BN_GFX115X", "gfx115"),
        ("MIO_BN_GFX120X", "gfx120"),
    ] {
        let on = if p.starts_with(prefix) { "1" } else { "0" };
        d.push((flag.into(), on.into()));
    }
    d
}

/// `(start, end, truncated)` of the NUL-delimited region around `pos`, at most
/// [`MAX_BLOB`] bytes each way; `None` when no NUL bounds it on the left within that.
fn blob_around(lib: &[u8], pos: usize) -> Option<(usize, usize, bool)> {
    let lo = pos.saturating_sub(MAX_BLOB);
    let start = match memchr::memrchr(0, &lib[lo..pos]) {
        Some(i) => lo + i + 1,
        None if lo == 0 => 0,
        None => return None,
    };
    let hi = (pos + MAX_BLOB).min(lib.len());
    match memchr::memchr(0, &lib[pos..hi]) {
        Some(i) => Some((start, pos + i, false)),
        None if hi == lib.len() => Some((start, hi, true)),
        None => None,
    }
}

/// Text of a C source: printable ASCII, tabs and line ends, a kernel keyword.
fn is_source_text(text: &[u8]) -> bool {
    text.len() >= 64
        && text
            .iter()
            .all(|&b| b == b'\n' || b == b'\t' || b == b'\r' || (0x20..0x7f).contains(&b))
        && (memchr::memmem::find(text, b"__kernel").is_some()
            || memchr::memmem::find(text, b"#define").is_some())
}

/// `MIOpenBatchNorm*` names that follow `void` (kernel definitions), in order, each once.
fn kernel_functions(text: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for hit in memchr::memmem::find_iter(text, b"MIOpenBatchNorm") {
        let before = text[..hit].trim_ascii_end();
        if !before.ends_with(b"void") || hit == before.len() {
            continue;
        }
        let len = text[hit..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        let after = text[hit + len..].trim_ascii_start();
        if !after.starts_with(b"(") {
            continue;
        }
        let name = String::from_utf8_lossy(&text[hit..hit + len]).into_owned();
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// The file a kernel function comes from: the longest known stem it starts with, else the
/// function's own name with `.cl`.
fn file_for_kernel(kernel: &str) -> String {
    BN_KERNEL_FILES
        .iter()
        .filter(|f| kernel.starts_with(f.trim_end_matches(".cl")))
        .max_by_key(|f| f.len())
        .map(|f| f.to_string())
        .unwrap_or_else(|| format!("{kernel}.cl"))
}

/// `X.Y.Z` from `, MIOpen version X.Y.Z.` (at most 32 characters read).
fn version(lib: &[u8]) -> Option<String> {
    const MARK: &[u8] = b", MIOpen version ";
    let at = memchr::memmem::find(lib, MARK)? + MARK.len();
    let tail = &lib[at..(at + 32).min(lib.len())];
    let n = tail
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .count();
    let v = std::str::from_utf8(&tail[..n]).ok()?.trim_end_matches('.');
    (!v.is_empty()).then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert!(rejects_row_bcast("gfx1010:xnack-"));
        assert!(rejects_row_bcast("gfx1201"));
        assert!(!rejects_row_bcast("gfx906"));
        assert!(!rejects_row_bcast("gfx90a:sramecc+"));
        assert!(!rejects_row_bcast("sm_80"));
        assert!(rejects_row_bcast("gfx10-1-generic"));
        assert!(!rejects_row_bcast("gfx9-generic"));
        assert_eq!(gfx_major("gfx940"), Some(9));
        assert_eq!(gfx_major("gfx1151"), Some(11));
        assert_eq!(gfx_major("gfx"), None);
        assert_eq!(gfx_major("gfxzz"), None);
        let d = target_defines("gfx10-1-generic");
        assert!(d.contains(&("__gfx10_1_generic__".into(), "1".into())));
        assert!(d.contains(&("__GFX10__".into(), "1".into())));
        let d = target_defines("gfx1031");
        assert!(d.contains(&("MIO_BN_GFX103X".into(), "1".into())));
        assert!(d.contains(&("__gfx1031__".into(), "1".into())));
        assert!(d.contains(&("__GFX10__".into(), "1".into())));
        let d = target_defines("gfx90a:xnack+");
        assert!(d.contains(&("__gfx90a__".into(), "1".into())));
        assert!(d.contains(&("__GFX9__".into(), "1".into())));
    }

    #[test]
    fn names() {
        assert_eq!(
            file_for_kernel("MIOpenBatchNormBwdSpatialFinalMeanVariance"),
            "MIOpenBatchNormBwdSpatial.cl"
        );
        assert_eq!(
            file_for_kernel("MIOpenBatchNormActivBwdPerActivation"),
            "MIOpenBatchNormActivBwdPerAct.cl"
        );
        assert_eq!(
            file_for_kernel("MIOpenBatchNormActivInferSpatialEst"),
            "MIOpenBatchNormActivInfer.cl"
        );
        assert_eq!(
            file_for_kernel("MIOpenBatchNormNew"),
            "MIOpenBatchNormNew.cl"
        );
    }

    #[test]
    fn version_string() {
        assert_eq!(
            version(b"\0, HIP version 6.4.43484\0, MIOpen version 3.4.0.\0"),
            Some("3.4.0".into())
        );
        assert_eq!(version(b", MIOpen version "), None);
    }
}
