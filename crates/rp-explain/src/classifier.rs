//! The compiled signatures: one `RegexSet` for most lines, one with the amdgpu-gated
//! signatures for lines that name the driver, the amdgpu families, and the side patterns
//! (overrides, visibility variables, runtime targets, torch builds, GPU names).

use crate::{AMDGPU_GATE, FAILURE_WORD};
use regex::bytes::{Regex, RegexSet, RegexSetBuilder};
use rp_kb::Signature;

/// Literals looked for on every line, each a prebuilt searcher (building one per call
/// costs more than the search).
#[derive(Clone, Copy)]
pub(crate) enum Lit {
    Gfx,
    Rocm,
    Radeon,
    Override,
    Visible,
    Ordinal,
    Amdgpu,
    AmdgpuUpper,
    Drm,
    Drmn,
    Kfd,
}
const LITS: [&[u8]; 11] = [
    b"gfx",
    b"+rocm",
    b"Radeon",
    b"HSA_OVERRIDE_GFX_VERSION",
    b"VISIBLE_DEVICES",
    b"GPU_DEVICE_ORDINAL",
    b"amdgpu",
    b"AMDGPU",
    b"[drm",
    b"drmn",
    b"kfd",
];
/// A line with one of these is tried against the amdgpu-gated set.
pub(crate) const GATE_LITS: [Lit; 5] =
    [Lit::Amdgpu, Lit::AmdgpuUpper, Lit::Drm, Lit::Drmn, Lit::Kfd];

/// Compiled signatures.
pub struct Classifier {
    pub(crate) lits: Vec<memchr::memmem::Finder<'static>>,
    pub(crate) set: RegexSet,
    /// How many amdgpu signatures (patterns that begin with [`AMDGPU_GATE`]) but the families
    /// tried only on lines that name the driver; their indices in `res`/`sigs` follow the
    /// main set's.
    pub(crate) n_gated: usize,
    /// The main and the gated signatures in one set (same indices): a line that names the
    /// driver is searched once, not twice.
    pub(crate) both: RegexSet,
    /// The amdgpu families (gated fallbacks), tried only when the gated set found the
    /// failure word and nothing specific; indices follow the gated set's.
    pub(crate) families: RegexSet,
    pub(crate) res: Vec<Regex>,
    pub(crate) sigs: Vec<&'static Signature>,
    pub(crate) ansi: Regex,
    pub(crate) override_re: Regex,
    pub(crate) visibility_re: Regex,
    pub(crate) number: Regex,
    pub(crate) runtime_target: Regex,
    pub(crate) torch_build: Regex,
    pub(crate) gpu_name: Regex,
}

impl Classifier {
    /// Compile the knowledge base's signatures.
    pub fn new() -> Classifier {
        let kb = rp_kb::kb();
        // Main signatures first, then the amdgpu-gated ones, then the amdgpu families: one
        // index space for the three sets.
        let (gated_sigs, main_sigs): (Vec<&'static Signature>, Vec<&'static Signature>) = kb
            .signatures()
            .iter()
            .partition(|s| s.pattern.starts_with(AMDGPU_GATE));
        let (family_sigs, gated_sigs): (Vec<&'static Signature>, Vec<&'static Signature>) =
            gated_sigs
                .into_iter()
                .partition(|s| s.fallback && s.id != FAILURE_WORD);
        let (n_main, n_gated) = (main_sigs.len(), gated_sigs.len());
        let sigs: Vec<&'static Signature> = main_sigs
            .into_iter()
            .chain(gated_sigs)
            .chain(family_sigs)
            .collect();
        // Matched on bytes with ASCII-only classes and case folding: log messages are
        // ASCII, and Unicode classes make the matcher about 100x slower on lines that
        // are not (a UTF-8 character every 60 bytes, or binary garbage).
        let pats: Vec<String> = sigs.iter().map(|s| format!("(?-u){}", s.pattern)).collect();
        // The patterns are embedded data checked by tests: failing here is a build defect.
        let build = |p: &[String]| {
            RegexSetBuilder::new(p)
                .dfa_size_limit(64 << 20)
                .build()
                .expect("signature patterns compile")
        };
        // The sets run without a literal prefilter (a leading `(?s:.)*?` leaves the
        // literal extractor nothing to use): on log lines the signatures' common words keep
        // finding candidates that the DFA then rejects, and one DFA pass is cheaper.
        let unfiltered: Vec<String> = pats.iter().map(|p| format!("(?s-u:.)*?(?:{p})")).collect();
        let set = build(&unfiltered[..n_main]);
        let both = build(&unfiltered[..n_main + n_gated]);
        let families = build(&pats[n_main + n_gated..]);
        let res = pats
            .iter()
            .map(|p| Regex::new(p).expect("signature pattern compiles"))
            .collect();
        Classifier {
            lits: LITS.iter().map(|l| memchr::memmem::Finder::new(*l)).collect(),
            set,
            n_gated,
            both,
            families,
            res,
            sigs,
            ansi: Regex::new(
                r"(?-u)\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-Z\\-_]",
            )
            .expect("ansi pattern"),
            override_re: Regex::new(
                r#"(?-u)(HSA_OVERRIDE_GFX_VERSION(?:_\d+)?)\s*[=:]\s*["']?(\d+\.\d+\.\d+)"#,
            )
            .expect("override pattern"),
            visibility_re: Regex::new(
                r#"(?-u)\b((?:HIP|ROCR|CUDA)_VISIBLE_DEVICES|GPU_DEVICE_ORDINAL)\b\s*[=:]\s*["']?([0-9,]*)"#,
            )
            .expect("visibility pattern"),
            number: Regex::new(r"(?-u)0x[0-9a-fA-F]+|\d+").expect("number pattern"),
            // What the runtime reports as the GPU's target: rocminfo's `Name: gfx…` and
            // the ISA name, torch's `gcnArchName`.
            runtime_target: Regex::new(
                r"(?-u)(?:gcnArchName\W+|amdgcn-amd-amdhsa--|^\s*Name:\s+)(gfx[0-9a-f]{3,4})\b",
            )
            .expect("target pattern"),
            torch_build: Regex::new(r"(?-u)\b(\d+\.\d+\.\d+(?:\.dev\d+)?)\+rocm(\d+)\.(\d+)")
                .expect("torch pattern"),
            gpu_name: Regex::new(
                r"(?-u)AMD Radeon (?:RX|Pro|PRO) [A-Z]?\d{3,4}[A-Za-z ]{0,8}?(?: XT| XTX)?\b",
            )
            .expect("gpu name pattern"),
        }
    }
}

impl Default for Classifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Classifier {
    /// The line holds the literal `lit`.
    pub(crate) fn has(&self, seg: &[u8], lit: Lit) -> bool {
        self.lits[lit as usize].find(seg).is_some()
    }
}
