//! The rocm-patch knowledge base.
//!
//! Device facts live in TOML files under `data/`, embedded in the binary. Every entry
//! carries a `ref` naming its source; logic elsewhere asks this crate instead of
//! hard-coding a device fact.
#![deny(missing_docs)]

use serde::Deserialize;
use std::fmt;
use std::sync::OnceLock;

mod gfx_version;
mod machine;
mod template;
pub use gfx_version::{GfxVersion, GfxVersionError};
pub use machine::{
    fill_noted, Asic, Cause, EnvVar, Family, FindingSpec, GcVersion, LibraryGap, OverrideCompat,
    PackageIndex, Peak, ProbeSpec, Remedy, RemedyAction, Runs, RunsStatus, Severity, Signature,
    Stack, StackStep, TargetNote, TuneSpec, Vendor, VenvSpec,
};
// The target id type lives in its own crate (no data), so the trace interposer can use it
// without this knowledge base; these paths keep working.
pub use rp_target_id::{Feature, TargetId, TargetIdError};
pub use template::{check_text, fill, placeholder_names, try_fill, TextKind, UnknownPlaceholder};

const TARGETS_TOML: &str = include_str!("../data/targets.toml");
const DEVICES_TOML: &str = include_str!("../data/devices.toml");
const ASICS_TOML: &str = include_str!("../data/asics.toml");
const FAMILIES_TOML: &str = include_str!("../data/families.toml");
const PROBES_TOML: &str = include_str!("../data/probes.toml");
/// libdrm's `amdgpu.ids`, embedded verbatim (data/devices.toml says which copy).
pub const AMDGPU_IDS: &str = include_str!("../data/amdgpu.ids");
const RUNTIME_TOML: &str = include_str!("../data/runtime.toml");
const ENV_TOML: &str = include_str!("../data/env.toml");
const FINDINGS_TOML: &str = include_str!("../data/findings.toml");
const CAUSES_TOML: &str = include_str!("../data/causes.toml");
const SIGNATURES_TOML: &str = include_str!("../data/signatures.toml");
const REMEDIES_TOML: &str = include_str!("../data/remedies.toml");
const BENCH_TOML: &str = include_str!("../data/bench.toml");

/// The build recipes and their patches (`rocm-patch build`), as (path under the
/// knowledge base, content). A test checks this list against `data/build/`.
pub const RECIPE_FILES: &[(&str, &str)] = &[
    (
        "build/miopen-3.2.0.toml",
        include_str!("../data/build/miopen-3.2.0.toml"),
    ),
    (
        "build/miopen-develop.toml",
        include_str!("../data/build/miopen-develop.toml"),
    ),
    (
        "build/rocblas-6.2.2.toml",
        include_str!("../data/build/rocblas-6.2.2.toml"),
    ),
    (
        "build/rocsparse-6.2.2.toml",
        include_str!("../data/build/rocsparse-6.2.2.toml"),
    ),
    (
        "build/rocsparse-6.4.3.toml",
        include_str!("../data/build/rocsparse-6.4.3.toml"),
    ),
    (
        "build/rocrand-6.2.2.toml",
        include_str!("../data/build/rocrand-6.2.2.toml"),
    ),
    (
        "build/rocrand-6.4.3.toml",
        include_str!("../data/build/rocrand-6.4.3.toml"),
    ),
    (
        "build/rocsolver-6.2.2.toml",
        include_str!("../data/build/rocsolver-6.2.2.toml"),
    ),
    (
        "build/rocsolver-6.4.3.toml",
        include_str!("../data/build/rocsolver-6.4.3.toml"),
    ),
    (
        "build/pytorch-2.15.0.toml",
        include_str!("../data/build/pytorch-2.15.0.toml"),
    ),
    (
        "build/patches/miopen/3.2.0-bn-gfx101x.patch",
        include_str!("../data/build/patches/miopen/3.2.0-bn-gfx101x.patch"),
    ),
    (
        "build/patches/miopen/develop-bn-gfx101x.patch",
        include_str!("../data/build/patches/miopen/develop-bn-gfx101x.patch"),
    ),
    (
        "build/patches/miopen/3.2.0-seed-skip-find.patch",
        include_str!("../data/build/patches/miopen/3.2.0-seed-skip-find.patch"),
    ),
    (
        "build/patches/miopen/3.2.0-seed-noncoherent.patch",
        include_str!("../data/build/patches/miopen/3.2.0-seed-noncoherent.patch"),
    ),
];

/// The built-in profiles file (parsed by rp-env with the same rules as user config).
pub const PROFILES_TOML: &str = include_str!("../data/profiles.toml");

/// `explain`'s message catalogs (data/catalogs/*.toml): the error and warning format strings
/// each ROCm component prints, harvested from its source with file and commit
/// (scripts/harvest-catalogs.py). Test data for the signature coverage, not loaded by `kb()`.
pub const CATALOGS: &[(&str, &str)] = &[
    ("amdgpu", include_str!("../data/catalogs/amdgpu.toml")),
    ("amdkfd", include_str!("../data/catalogs/amdkfd.toml")),
    ("hip", include_str!("../data/catalogs/hip.toml")),
    ("rocr", include_str!("../data/catalogs/rocr.toml")),
    ("miopen", include_str!("../data/catalogs/miopen.toml")),
    ("rocblas", include_str!("../data/catalogs/rocblas.toml")),
    ("llvm", include_str!("../data/catalogs/llvm.toml")),
    ("pytorch", include_str!("../data/catalogs/pytorch.toml")),
];

/// One message catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Short name (`amdgpu`, `hip`, …).
    pub name: String,
    /// Repository the messages were read from.
    pub repo: String,
    /// Commit read (or "see each message").
    pub commit: String,
    /// What a log line carries before the message (a dmesg device prefix, `MIOpen Error: …`).
    pub prefix: String,
    /// Prefix for warning-level messages, when it differs.
    #[serde(default)]
    pub warning_prefix: Option<String>,
    /// How the messages appear in logs.
    #[serde(default)]
    pub notes: String,
    /// The messages.
    pub message: Vec<CatalogMessage>,
}

/// One printed message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogMessage {
    /// `error`, `warning` or `info`.
    pub level: String,
    /// The printf-style format string (or the literal text).
    pub format: String,
    /// Where it is printed: `path:line` at the catalog's commit, or `path@commit`.
    pub at: String,
    /// The enumerator the text belongs to (`hipErrorInvalidValue`), if any.
    #[serde(default)]
    pub name: Option<String>,
    /// A prefix for this message instead of the catalog's.
    #[serde(default)]
    pub prefix: Option<String>,
}

/// Parse the embedded catalogs. The data is checked by tests: a parse failure is a build
/// defect.
pub fn catalogs() -> Vec<Catalog> {
    CATALOGS
        .iter()
        .map(|(name, text)| {
            toml::from_str(text)
                .unwrap_or_else(|e| panic!("embedded data/catalogs/{name}.toml is valid: {e}"))
        })
        .collect()
}

/// One LLVM AMDGPU processor.
#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    /// LLVM processor name, e.g. `gfx1010`.
    pub name: String,
    /// `EF_AMDGPU_MACH` value in a code object's e_flags.
    pub mach: u8,
    /// KFD `gfx_target_version` (0 when the kernel has none).
    #[serde(default)]
    pub gfx_target_version: u32,
    /// Display family, e.g. `gfx10.1 (RDNA1)`.
    pub family: String,
    /// The generic target that covers this processor, if any.
    #[serde(default)]
    pub generic: Option<String>,
    /// The processor has the xnack feature.
    #[serde(default)]
    pub xnack: bool,
    /// The processor has the sramecc feature.
    #[serde(default)]
    pub sramecc: bool,
    /// An integrated GPU (APU).
    #[serde(default)]
    pub apu: bool,
    /// Where the facts come from.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// One generic target (code object v6).
#[derive(Debug, Clone, Deserialize)]
pub struct Generic {
    /// Generic processor name, e.g. `gfx10-1-generic`.
    pub name: String,
    /// `EF_AMDGPU_MACH` value.
    pub mach: u8,
    /// Display family.
    pub family: String,
    /// Members may pin xnack.
    #[serde(default)]
    pub xnack: bool,
    /// Members may pin sramecc.
    #[serde(default)]
    pub sramecc: bool,
    /// Where the facts come from.
    #[serde(rename = "ref")]
    pub reference: String,
}

#[derive(Debug, Deserialize)]
struct TargetsFile {
    default_xnack: String,
    default_sramecc: String,
    target: Vec<Target>,
    generic: Vec<Generic>,
}

/// The loaded knowledge base.
#[derive(Debug)]
pub struct Kb {
    targets: Vec<Target>,
    generics: Vec<Generic>,
    default_xnack: Feature,
    default_sramecc: Feature,
    devices: machine::DevicesFile,
    asics: machine::AsicsFile,
    families: machine::FamiliesFile,
    probes: machine::ProbesFile,
    amdgpu_ids: Vec<(u16, u8, String)>,
    runtime: machine::RuntimeFile,
    env: machine::EnvFile,
    findings: machine::FindingsFile,
    causes: machine::CausesFile,
    signatures: machine::SignaturesFile,
    remedies: machine::RemediesFile,
    bench: machine::BenchFile,
}

/// What a processor name resolves to.
#[derive(Debug, Clone, Copy)]
pub enum Processor<'a> {
    /// A specific processor.
    Specific(&'a Target),
    /// A generic target.
    Generic(&'a Generic),
}

impl Processor<'_> {
    /// The processor's name.
    pub fn name(&self) -> &str {
        match self {
            Processor::Specific(t) => &t.name,
            Processor::Generic(g) => &g.name,
        }
    }
    /// The display family.
    pub fn family(&self) -> &str {
        match self {
            Processor::Specific(t) => &t.family,
            Processor::Generic(g) => &g.family,
        }
    }
}

fn parse_default(s: &str) -> Feature {
    match s {
        "on" => Feature::On,
        "off" => Feature::Off,
        _ => Feature::Any,
    }
}

/// The knowledge base, parsed once from the embedded data.
pub fn kb() -> &'static Kb {
    static KB: OnceLock<Kb> = OnceLock::new();
    KB.get_or_init(|| {
        // The data is part of the binary and checked by this crate's tests, so a parse
        // failure is a build defect, not a user error.
        let file: TargetsFile =
            toml::from_str(TARGETS_TOML).expect("embedded data/targets.toml is valid");
        Kb {
            default_xnack: parse_default(&file.default_xnack),
            default_sramecc: parse_default(&file.default_sramecc),
            targets: file.target,
            generics: file.generic,
            devices: toml::from_str(DEVICES_TOML).expect("embedded data/devices.toml is valid"),
            asics: toml::from_str(ASICS_TOML).expect("embedded data/asics.toml is valid"),
            families: toml::from_str(FAMILIES_TOML).expect("embedded data/families.toml is valid"),
            amdgpu_ids: parse_amdgpu_ids(AMDGPU_IDS),
            probes: toml::from_str(PROBES_TOML).expect("embedded data/probes.toml is valid"),
            runtime: toml::from_str(RUNTIME_TOML).expect("embedded data/runtime.toml is valid"),
            env: toml::from_str(ENV_TOML).expect("embedded data/env.toml is valid"),
            findings: toml::from_str(FINDINGS_TOML).expect("embedded data/findings.toml is valid"),
            causes: toml::from_str(CAUSES_TOML).expect("embedded data/causes.toml is valid"),
            signatures: toml::from_str(SIGNATURES_TOML)
                .expect("embedded data/signatures.toml is valid"),
            remedies: toml::from_str(REMEDIES_TOML).expect("embedded data/remedies.toml is valid"),
            bench: toml::from_str(BENCH_TOML).expect("embedded data/bench.toml is valid"),
        }
    })
}

/// Why a code object can or cannot be loaded by a GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compat {
    /// Built for exactly this processor.
    Exact,
    /// A generic target whose family includes this processor.
    Generic,
    /// Processor matches, but a pinned feature conflicts with the GPU's mode.
    FeatureMismatch(String),
    /// Another processor.
    OtherProcessor,
}

impl Compat {
    /// The code object is loadable.
    pub fn loadable(&self) -> bool {
        matches!(self, Compat::Exact | Compat::Generic)
    }
}

impl Kb {
    /// All specific processors.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// All generic targets.
    pub fn generics(&self) -> &[Generic] {
        &self.generics
    }

    /// Look up a specific or generic processor by name.
    pub fn processor(&self, name: &str) -> Option<Processor<'_>> {
        if let Some(t) = self.targets.iter().find(|t| t.name == name) {
            return Some(Processor::Specific(t));
        }
        self.generics
            .iter()
            .find(|g| g.name == name)
            .map(Processor::Generic)
    }

    /// Look up a processor by its `EF_AMDGPU_MACH` value.
    pub fn by_mach(&self, mach: u8) -> Option<Processor<'_>> {
        if let Some(t) = self.targets.iter().find(|t| t.mach == mach) {
            return Some(Processor::Specific(t));
        }
        self.generics
            .iter()
            .find(|g| g.mach == mach)
            .map(Processor::Generic)
    }

    /// Look up a processor by KFD `gfx_target_version`.
    pub fn by_gfx_target_version(&self, v: u32) -> Option<&Target> {
        if v == 0 {
            return None;
        }
        self.targets.iter().find(|t| t.gfx_target_version == v)
    }

    /// Members of a generic target.
    pub fn generic_members(&self, generic: &str) -> Vec<&Target> {
        self.targets
            .iter()
            .filter(|t| t.generic.as_deref() == Some(generic))
            .collect()
    }

    /// The mode a GPU runs a feature in when the user named none: the runtime default
    /// (`default_xnack`/`default_sramecc` in the data) for processors that have the
    /// feature, `Any` otherwise.
    pub fn gpu_mode(&self, gpu: &TargetId) -> TargetId {
        let mut out = gpu.clone();
        if let Some(Processor::Specific(t)) = self.processor(&gpu.processor) {
            if out.xnack == Feature::Any && t.xnack {
                out.xnack = self.default_xnack;
            }
            if out.sramecc == Feature::Any && t.sramecc {
                out.sramecc = self.default_sramecc;
            }
        }
        out
    }

    /// Can a GPU running as `gpu` load a code object built for `code`?
    ///
    /// The processor must match exactly, or `code` must be a generic target whose
    /// members include the GPU's processor (docs/code-objects.md). A feature pinned on
    /// (`+`) needs the GPU to run with it on, pinned off (`-`) needs it off; an
    /// unpinned feature matches both (docs/code-objects.md). The GPU's unnamed
    /// features take the runtime defaults (see [`Kb::gpu_mode`]).
    pub fn compat(&self, gpu: &TargetId, code: &TargetId) -> Compat {
        let gpu = self.gpu_mode(gpu);
        let base = if code.processor == gpu.processor {
            Compat::Exact
        } else {
            match self.processor(&gpu.processor) {
                Some(Processor::Specific(t)) if t.generic.as_deref() == Some(&code.processor) => {
                    Compat::Generic
                }
                _ => return Compat::OtherProcessor,
            }
        };
        for (name, have, want) in [
            ("xnack", gpu.xnack, code.xnack),
            ("sramecc", gpu.sramecc, code.sramecc),
        ] {
            let ok = match (want, have) {
                (Feature::Any, _) | (_, Feature::Any) => true,
                (w, h) => w == h,
            };
            if !ok {
                return Compat::FeatureMismatch(format!(
                    "code object needs {name}{} but the GPU runs {name}{}",
                    want.sign(),
                    have.sign()
                ));
            }
        }
        base
    }
}

impl Kb {
    /// A GPU vendor by PCI id.
    pub fn vendor(&self, id: u16) -> Option<&Vendor> {
        self.devices.vendor.iter().find(|v| v.id == id)
    }

    /// The AMD ASIC the amdgpu driver binds to a PCI device id.
    pub fn asic_by_device(&self, device: u16) -> Option<&Asic> {
        self.asics.asic.iter().find(|a| a.ids.contains(&device))
    }

    /// Every ASIC of amdgpu's device table.
    pub fn asics(&self) -> &[Asic] {
        &self.asics.asic
    }

    /// The KFD target of a GC IP version (`10.3.0`).
    pub fn gc_target(&self, version: &str) -> Option<&GcVersion> {
        self.asics.gc.iter().find(|g| g.version == version)
    }

    /// Every GC IP version KFD knows.
    pub fn gc_versions(&self) -> &[GcVersion] {
        &self.asics.gc
    }

    /// What each built-in probe stands for.
    pub fn probes(&self) -> &[ProbeSpec] {
        &self.probes.probe
    }

    /// One probe's entry.
    pub fn probe(&self, name: &str) -> Option<&ProbeSpec> {
        self.probes.probe.iter().find(|p| p.name == name)
    }

    /// The chip family of an NVIDIA or Intel device id.
    pub fn family(&self, vendor: u16, device: u16) -> Option<&Family> {
        let key = self.vendor(vendor)?.key.as_str();
        self.families
            .family
            .iter()
            .find(|f| f.vendor == key && (f.first..=f.last).contains(&device))
    }

    /// The AMD ASIC with this KFD node name (`navi10`).
    pub fn asic_by_name(&self, name: &str) -> Option<&Asic> {
        self.asics
            .asic
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The marketing name of an AMD (device, revision) in the embedded amdgpu.ids.
    pub fn marketing_name(&self, device: u16, revision: u8) -> Option<&str> {
        self.amdgpu_ids
            .iter()
            .find(|(d, r, _)| *d == device && *r == revision)
            .map(|(_, _, n)| n.as_str())
    }

    /// The processor of a GPU named as libdrm's amdgpu.ids names it (`AMD Radeon RX 5600
    /// XT` is gfx1010), when the name is unambiguous.
    pub fn target_by_marketing_name(&self, name: &str) -> Option<String> {
        let mut found: Option<String> = None;
        for (dev, _, n) in &self.amdgpu_ids {
            if !n.eq_ignore_ascii_case(name.trim()) {
                continue;
            }
            let t = self.asic_by_device(*dev)?.gfx.clone()?;
            match &found {
                Some(f) if *f != t => return None,
                _ => found = Some(t),
            }
        }
        found
    }

    /// What overriding a `gpu` to `code` does (data/runtime.toml `[[runs]]`).
    pub fn override_compat(&self, gpu: &str, code: &str) -> OverrideCompat<'_> {
        if gpu == code {
            return OverrideCompat::Same;
        }
        match self
            .runtime
            .runs
            .iter()
            .find(|r| r.code == code && r.gpu.iter().any(|g| g == gpu))
        {
            Some(r) if r.status == RunsStatus::Equivalent => OverrideCompat::Equivalent(r),
            Some(r) => OverrideCompat::Risky(r),
            None => OverrideCompat::Foreign,
        }
    }

    /// Why setting override variable `name` to `value` is an error on a machine whose KFD
    /// GPUs are `gpus` (node, processor): an invalid value, or one that makes a GPU it
    /// applies to run foreign machine code. `None` when it is sound (or not an override).
    pub fn override_harm(&self, gpus: &[(u32, &str)], name: &str, value: &str) -> Option<String> {
        let node: Option<u32> = match name.strip_prefix("HSA_OVERRIDE_GFX_VERSION") {
            Some("") => None,
            Some(n) => Some(n.strip_prefix('_')?.parse().ok()?),
            None => return None,
        };
        let Some(code) = GfxVersion::parse_override(value).and_then(GfxVersion::gfx_name) else {
            return Some(format!("{value} is not a valid gfx version"));
        };
        gpus.iter()
            .filter(|(n, _)| node.is_none_or(|x| x == *n))
            .find(|(_, g)| matches!(self.override_compat(g, &code), OverrideCompat::Foreign))
            .map(|(n, g)| {
                format!("it makes node {n} ({g}) run {code} machine code, which it cannot execute")
            })
    }

    /// The processor whose code a GPU runs as a sound stand-in, if any.
    pub fn equivalent_code(&self, gpu: &str) -> Option<&Runs> {
        self.runtime
            .runs
            .iter()
            .find(|r| r.status == RunsStatus::Equivalent && r.gpu.iter().any(|g| g == gpu))
    }

    /// Stacks with native code for `gpu`, most specific first (`*` entries last).
    pub fn stacks_for(&self, gpu: &str) -> Vec<&Stack> {
        let mut out: Vec<&Stack> = self
            .runtime
            .stack
            .iter()
            .filter(|s| s.targets.iter().any(|t| t == gpu))
            .collect();
        out.extend(
            self.runtime
                .stack
                .iter()
                .filter(|s| s.targets.iter().any(|t| t == "*")),
        );
        out
    }

    /// Libraries that leave `gpu` out on purpose.
    pub fn library_gaps(&self, gpu: &str) -> Vec<&LibraryGap> {
        self.runtime
            .library_gap
            .iter()
            .filter(|l| l.targets.iter().any(|t| t == gpu))
            .collect()
    }

    /// What an environment variable does, if the knowledge base knows it.
    pub fn env_var(&self, name: &str) -> Option<&EnvVar> {
        self.env
            .var
            .iter()
            .find(|v| !v.prefix && v.name == name)
            .or_else(|| {
                self.env
                    .var
                    .iter()
                    .find(|v| v.prefix && name.starts_with(&v.name) && name.len() > v.name.len())
            })
    }

    /// All known environment variables.
    pub fn env_vars(&self) -> &[EnvVar] {
        &self.env.var
    }

    /// A finding's catalog entry. Unknown ids are a programming error.
    pub fn finding(&self, id: &str) -> &FindingSpec {
        self.findings
            .finding
            .iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("finding id {id:?} is not in data/findings.toml"))
    }

    /// The whole finding catalog.
    pub fn findings(&self) -> &[FindingSpec] {
        &self.findings.finding
    }

    /// Root causes `explain` reports.
    pub fn causes(&self) -> &[Cause] {
        &self.causes.cause
    }

    /// A cause by id. Unknown ids are a programming error.
    pub fn cause(&self, id: &str) -> &Cause {
        self.causes
            .cause
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("cause {id:?} is not in data/causes.toml"))
    }

    /// Log signatures.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures.signature
    }

    /// The remedy for a finding, if `fix` has one.
    pub fn remedy(&self, finding: &str) -> Option<&Remedy> {
        self.remedies
            .remedy
            .iter()
            .find(|r| r.findings.iter().any(|f| f == finding))
    }

    /// Every remedy.
    pub fn remedies(&self) -> &[Remedy] {
        &self.remedies.remedy
    }

    /// The channel AMD publishes a processor's TheRock wheels to: `nightly` for the
    /// targets the remedies list as nightly-only, else `stable` (remedies.toml `[venv]`).
    pub fn default_channel(&self, gpu: &str) -> &'static str {
        if self.remedies.venv.nightly_only.iter().any(|g| g == gpu) {
            "nightly"
        } else {
            "stable"
        }
    }

    /// The package index of a processor's default channel: the one `fix`, doctor's
    /// next steps and explain all print (one source: remedies.toml).
    pub fn therock_index(&self, gpu: &str) -> &str {
        self.package_index(self.default_channel(gpu))
            .map(|i| i.url.as_str())
            .unwrap_or_default()
    }

    /// The package index of a channel (`stable`, `nightly`).
    pub fn package_index(&self, channel: &str) -> Option<&PackageIndex> {
        self.remedies.index.iter().find(|i| i.channel == channel)
    }

    /// Every GPU's peak figures (data/bench.toml).
    pub fn peaks(&self) -> &[Peak] {
        &self.bench.peak
    }

    /// The peak figures of the GPU torch names `name`: an exact name (ignoring case)
    /// first, else the longest listed name that `name` contains, ending at a word end.
    pub fn peak_for(&self, name: &str) -> Option<&Peak> {
        let n = name.trim().to_ascii_lowercase();
        let mut best: Option<(&Peak, usize)> = None;
        for p in &self.bench.peak {
            for cand in &p.names {
                let c = cand.to_ascii_lowercase();
                if c == n {
                    return Some(p);
                }
                let whole_word = n.find(&c).is_some_and(|i| {
                    n[i + c.len()..]
                        .chars()
                        .next()
                        .is_none_or(|ch| !ch.is_ascii_alphanumeric())
                });
                if whole_word && best.is_none_or(|(_, l)| c.len() > l) {
                    best = Some((p, c.len()));
                }
            }
        }
        best.map(|(p, _)| p)
    }

    /// What `tune` varies besides the profiles.
    pub fn tune(&self) -> &TuneSpec {
        &self.bench.tune
    }

    /// What the native-venv remedy installs.
    pub fn venv_spec(&self) -> &VenvSpec {
        &self.remedies.venv
    }
}

impl fmt::Display for Compat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compat::Exact => write!(f, "exact"),
            Compat::Generic => write!(f, "generic"),
            Compat::FeatureMismatch(why) => write!(f, "feature mismatch: {why}"),
            Compat::OtherProcessor => write!(f, "other processor"),
        }
    }
}

/// Parse amdgpu.ids: comments, a version line, then `DEVICE, REVISION, name` records.
pub fn parse_amdgpu_ids(text: &str) -> Vec<(u16, u8, String)> {
    let mut out = Vec::new();
    let mut seen_version = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !seen_version {
            seen_version = true;
            if !line.contains(',') {
                continue;
            }
        }
        let mut parts = line.splitn(3, ',');
        let (Some(d), Some(r), Some(n)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(d), Ok(r)) = (
            u16::from_str_radix(d.trim(), 16),
            u8::from_str_radix(r.trim(), 16),
        ) else {
            continue;
        };
        out.push((d, r, n.trim().to_string()));
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn recipe_files_list_every_file_under_data_build() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let mut on_disk: Vec<String> = Vec::new();
        let mut dirs = vec![root.join("build")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    on_disk.push(p.strip_prefix(&root).unwrap().display().to_string());
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<String> = RECIPE_FILES.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(listed, on_disk);
    }

    #[test]
    fn peaks_match_by_name_and_are_cited() {
        let kb = kb();
        let name = |n: &str| kb.peak_for(n).map(|p| p.names[0].clone());
        assert_eq!(name("NVIDIA H200").as_deref(), Some("NVIDIA H200"));
        assert_eq!(name("NVIDIA H200 NVL").as_deref(), Some("NVIDIA H200 NVL"));
        assert_eq!(
            name("AMD Radeon RX 5700").as_deref(),
            Some("AMD Radeon RX 5700")
        );
        assert_eq!(
            name("amd radeon rx 5700 xt").as_deref(),
            Some("AMD Radeon RX 5700 XT")
        );
        assert_eq!(
            name("AMD Radeon RX 5600 XT (rev c1)").as_deref(),
            Some("AMD Radeon RX 5600 XT")
        );
        assert_eq!(name("NVIDIA H2000"), None);
        assert_eq!(name("cpu"), None);
        for p in kb.peaks() {
            assert!(
                !p.names.is_empty() && p.reference.len() > 20,
                "{:?}",
                p.names
            );
            assert!(p.fp32 > 0.0 && p.bandwidth > 0.0, "{:?}", p.names);
            if let Some(t) = &p.target {
                assert!(kb.processor(t).is_some(), "{t}");
            }
            for f in [p.fp16, p.bf16, p.tf32].into_iter().flatten() {
                assert!(
                    f >= p.fp32,
                    "{:?}: a tensor or half figure below fp32",
                    p.names
                );
            }
        }
        assert!(kb.tune().find_modes.contains(&"DYNAMIC_HYBRID".to_string()));
    }

    use super::*;

    fn t(s: &str) -> TargetId {
        s.parse().unwrap()
    }

    #[test]
    fn data_is_consistent() {
        let kb = kb();
        assert!(kb.targets().len() > 50);
        let mut machs = std::collections::HashSet::new();
        for x in kb.targets() {
            assert!(machs.insert(x.mach), "duplicate mach {:#x}", x.mach);
            assert!(!x.reference.is_empty());
            if let Some(g) = &x.generic {
                assert!(kb.generics().iter().any(|y| &y.name == g), "{g} unknown");
            }
            if x.gfx_target_version != 0 {
                assert_eq!(
                    GfxVersion::from_kfd(x.gfx_target_version)
                        .gfx_name()
                        .unwrap(),
                    x.name
                );
            }
        }
        for g in kb.generics() {
            assert!(machs.insert(g.mach), "duplicate mach {:#x}", g.mach);
        }
    }

    /// Every `ref` in the data cites something a user can open: not empty, and no
    /// document outside the repository (a project document is cited by its path under
    /// `docs/`, and that file exists).
    #[test]
    fn refs_stand_alone() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for (name, text) in [
            ("targets", TARGETS_TOML),
            ("devices", include_str!("../data/devices.toml")),
            ("asics", ASICS_TOML),
            ("families", FAMILIES_TOML),
            ("probes", PROBES_TOML),
            ("runtime", include_str!("../data/runtime.toml")),
            ("env", include_str!("../data/env.toml")),
            ("findings", include_str!("../data/findings.toml")),
            ("causes", include_str!("../data/causes.toml")),
            ("signatures", include_str!("../data/signatures.toml")),
            ("remedies", REMEDIES_TOML),
            ("profiles", PROFILES_TOML),
        ] {
            // Documents outside the repository, spelled so that this file names none.
            let outside: Vec<String> = ["domain", "formats"]
                .iter()
                .map(|n| format!("{n}.md"))
                .chain([format!("{}/", "shared"), "seed project".into()])
                .collect();
            for (i, line) in text.lines().enumerate() {
                for bad in &outside {
                    assert!(
                        !line.contains(bad),
                        "{name}.toml:{}: cites {bad}: {line}",
                        i + 1
                    );
                }
                // A project document: `docs/` not inside another path (llvm/docs/…).
                let parts = line.split("docs/").collect::<Vec<_>>();
                for w in parts.windows(2) {
                    if w[0].ends_with(|c: char| c == '/' || c.is_ascii_alphanumeric()) {
                        continue;
                    }
                    let file: String = w[1]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
                        .collect();
                    let file = file.trim_end_matches('.');
                    assert!(
                        docs.join("docs").join(file).is_file(),
                        "{name}.toml:{}: docs/{file} does not exist",
                        i + 1
                    );
                }
                if let Some(r) = line.split("ref = \"").nth(1) {
                    assert!(!r.starts_with('"'), "{name}.toml:{}: empty ref", i + 1);
                }
            }
        }
    }

    #[test]
    fn rdna1_members_and_generic() {
        let kb = kb();
        let names: Vec<_> = kb
            .generic_members("gfx10-1-generic")
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["gfx1010", "gfx1011", "gfx1012", "gfx1013"]);
        assert_eq!(kb.compat(&t("gfx1010"), &t("gfx1010")), Compat::Exact);
        assert_eq!(
            kb.compat(&t("gfx1012"), &t("gfx10-1-generic")),
            Compat::Generic
        );
        assert_eq!(
            kb.compat(&t("gfx1010"), &t("gfx10-3-generic")),
            Compat::OtherProcessor
        );
        assert_eq!(
            kb.compat(&t("gfx1010"), &t("gfx1030")),
            Compat::OtherProcessor
        );
    }

    #[test]
    fn features() {
        let kb = kb();
        // Default xnack is off: an xnack+ object does not load on a bare gfx90a.
        assert!(!kb.compat(&t("gfx90a"), &t("gfx90a:xnack+")).loadable());
        assert!(kb.compat(&t("gfx90a"), &t("gfx90a:xnack-")).loadable());
        assert!(kb
            .compat(&t("gfx90a:xnack+"), &t("gfx90a:xnack+"))
            .loadable());
        assert!(kb.compat(&t("gfx90a:xnack+"), &t("gfx90a")).loadable());
        // sramecc defaults on.
        assert!(!kb
            .compat(&t("gfx90a"), &t("gfx90a:sramecc-:xnack-"))
            .loadable());
        // gfx1030 has no xnack: features never constrain it.
        assert!(kb.compat(&t("gfx1030"), &t("gfx1030")).loadable());
    }

    #[test]
    fn machine_data_is_consistent() {
        let kb = kb();
        let known = |n: &str| kb.targets().iter().any(|t| t.name == n);
        for a in kb.asics() {
            assert!(a.gfx.as_deref().is_none_or(known), "{:?}", a.gfx);
            assert!(!a.reference.is_empty());
        }
        for r in &kb.runtime.runs {
            assert!(known(&r.code));
            for g in &r.gpu {
                assert!(known(g), "{g}");
            }
            assert!(r.status == RunsStatus::Equivalent || r.caveat.is_some());
        }
        for s in &kb.runtime.stack {
            for g in &s.targets {
                assert!(g == "*" || known(g), "{g}");
            }
        }
        for l in &kb.runtime.library_gap {
            for g in &l.targets {
                assert!(known(g), "{g}");
            }
        }
        for v in kb.env_vars() {
            assert!(!v.reference.is_empty() && !v.effect.is_empty());
        }
        for s in kb.signatures() {
            assert!(
                kb.causes().iter().any(|c| c.id == s.cause),
                "{}: {}",
                s.id,
                s.cause
            );
            assert!(!s.reference.is_empty());
        }
        let mut ids = std::collections::HashSet::new();
        for f in kb.findings() {
            assert!(ids.insert(f.id.clone()), "duplicate finding {}", f.id);
        }
    }

    /// Every remedy names findings that exist, each finding has at most one remedy, the
    /// action's parameters are there, and both channels have an index.
    #[test]
    fn remedies_name_real_findings() {
        let kb = kb();
        let mut seen = std::collections::HashSet::new();
        for r in kb.remedies() {
            assert!(!r.reference.is_empty() && !r.why.is_empty());
            for f in &r.findings {
                assert!(kb.findings().iter().any(|s| &s.id == f), "no finding {f}");
                assert!(seen.insert(f.clone()), "{f} has two remedies");
            }
            match r.action {
                RemedyAction::CommentStartupLines => assert!(!r.variables.is_empty()),
                RemedyAction::AddGroups => assert!(!r.groups.is_empty()),
                RemedyAction::UserConfig => assert!(r.profile.is_some()),
                _ => {}
            }
        }
        for c in ["stable", "nightly"] {
            assert!(kb.package_index(c).unwrap().url.starts_with("https://"));
        }
        assert!(kb.venv_spec().packages[0].contains("{gpu}"));
    }

    /// The device table covers amdgpu's whole pciidlist: ids are unique, every ASIC has
    /// a KFD target the knowledge base knows or says KFD does not support it, and every
    /// GC version maps to a known processor.
    #[test]
    fn every_amdgpu_device_has_an_asic_and_a_target_or_none() {
        let kb = kb();
        assert!(kb.asics().len() >= 35, "{}", kb.asics().len());
        let mut seen = std::collections::HashSet::new();
        for a in kb.asics() {
            assert!(!a.ids.is_empty(), "{}", a.name);
            for id in &a.ids {
                assert!(seen.insert(*id), "device id {id:#06x} listed twice");
            }
            match &a.gfx {
                Some(g) => {
                    assert!(a.kfd, "{}", a.name);
                    assert!(kb.processor(g).is_some(), "{}: {g} unknown", a.name);
                }
                None => assert!(!a.kfd, "{}: no target and not marked kfd = false", a.name),
            }
            assert!(a.reference.contains("amdgpu_drv.c"), "{}", a.name);
        }
        assert!(seen.len() > 300);
        for g in kb.gc_versions() {
            assert!(kb.processor(&g.gfx).is_some(), "{}: {}", g.version, g.gfx);
        }
        // The embedded amdgpu.ids keeps its version line and parses whole.
        assert!(AMDGPU_IDS.lines().any(|l| l.trim() == "1.0.0"));
        assert!(parse_amdgpu_ids(AMDGPU_IDS).len() > 400);
    }

    #[test]
    fn machine_lookups() {
        let kb = kb();
        let gfx = |d: u16| kb.asic_by_device(d).unwrap().gfx.as_deref();
        assert_eq!(gfx(0x731f), Some("gfx1010"));
        assert_eq!(gfx(0x7340), Some("gfx1012"));
        assert_eq!(gfx(0x6860), Some("gfx900"));
        assert_eq!(gfx(0x15dd), Some("gfx902")); // Raven (APU)
        assert!(kb.asic_by_device(0x15dd).unwrap().apu);
        assert_eq!(gfx(0x67df), Some("gfx803")); // Polaris 10 (RX 480/580)
        assert_eq!(gfx(0x6780), None); // Tahiti: no KFD
        assert!(!kb.asic_by_device(0x6780).unwrap().kfd);
        assert_eq!(
            kb.asic_by_name("NAVI14").unwrap().gfx.as_deref(),
            Some("gfx1012")
        );
        assert_eq!(kb.gc_target("10.3.0").unwrap().gfx, "gfx1030");
        assert_eq!(kb.gc_target("11.0.3").unwrap().gfx, "gfx1101");
        assert_eq!(
            kb.marketing_name(0x731f, 0xca),
            Some("AMD Radeon RX 5600 XT")
        );
        assert_eq!(kb.family(0x10de, 0x2335).unwrap().name, "GH100 (Hopper)");
        assert!(kb.family(0x1002, 0x731f).is_none());
        assert!(matches!(
            kb.override_compat("gfx1010", "gfx1030"),
            OverrideCompat::Foreign
        ));
        assert!(matches!(
            kb.override_compat("gfx1031", "gfx1030"),
            OverrideCompat::Equivalent(_)
        ));
        assert!(matches!(
            kb.override_compat("gfx1012", "gfx1010"),
            OverrideCompat::Equivalent(_)
        ));
        assert!(matches!(
            kb.override_compat("gfx90c", "gfx900"),
            OverrideCompat::Risky(_)
        ));
        assert!(matches!(
            kb.override_compat("gfx942", "gfx1030"),
            OverrideCompat::Foreign
        ));
        let stacks: Vec<_> = kb
            .stacks_for("gfx1010")
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(stacks, ["therock", "distro", "source"]);
        assert!(kb.stacks_for("gfx1010").iter().all(|s| s
            .commands_for("gfx1010")
            .iter()
            .all(|c| !c.contains("10.3.0"))));
        assert_eq!(
            kb.env_var("HSA_OVERRIDE_GFX_VERSION_2").unwrap().kind,
            "override-node"
        );
        assert_eq!(
            kb.env_var("HSA_OVERRIDE_GFX_VERSION").unwrap().kind,
            "override"
        );
        assert!(kb.env_var("HSA_OVERRIDE_GFX_VERSION_").is_none());
        assert_eq!(kb.library_gaps("gfx1010")[0].library, "hipBLASLt");
        assert!(kb.library_gaps("gfx942").is_empty());
    }

    #[test]
    fn versions() {
        assert_eq!(kb().by_gfx_target_version(100102).unwrap().name, "gfx1012");
    }
}
