//! Machine-level knowledge: PCI identity, override compatibility, native stacks, library
//! gaps, environment variables and the finding catalog (data/devices.toml,
//! data/runtime.toml, data/env.toml, data/findings.toml).

use crate::fill;
use serde::Deserialize;

/// A PCI vendor of GPUs.
#[derive(Debug, Clone, Deserialize)]
pub struct Vendor {
    /// PCI vendor id.
    pub id: u16,
    /// Short key used in reports (`amd`, `nvidia`, `intel`).
    pub key: String,
    /// Display name.
    pub name: String,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// An AMD ASIC: its KFD name, its gfx target and the PCI i/// An AMD ASIC: the PCI device ids amdgpu binds to it, and its KFD target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asic {
    /// Lowercase ASIC name as KFD reports it on older kernels (`navi10`).
    pub name: String,
    /// The KFD target (`gfx_target_version` as a processor); `None` when KFD has no case
    /// for this ASIC (then `kfd` is false).
    pub gfx: Option<String>,
    /// KFD supports it (a GPU node, ROCm can use it).
    #[serde(default = "yes")]
    pub kfd: bool,
    /// Its GC (graphics) IP version, where kfd_device.c names it.
    pub gc: Option<String>,
    /// An APU (`AMD_IS_APU` in pciidlist).
    #[serde(default)]
    pub apu: bool,
    /// PCI device ids.
    pub ids: Vec<u16>,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}

fn yes() -> bool {
    true
}

/// A GC IP version and the KFD target of GPUs that have it (IP-discovery GPUs).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcVersion {
    /// `major.minor.revision`.
    pub version: String,
    /// The processor.
    pub gfx: String,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// A run of NVIDIA or Intel device ids that belong to one GPU chip or family.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    /// `nvidia` or `intel`.
    pub vendor: String,
    /// First device id.
    pub first: u16,
    /// Last device id.
    pub last: u16,
    /// The chip and architecture (`GH100 (Hopper)`).
    pub name: String,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// How sound it is for GPUs to run another processor's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunsStatus {
    /// The GPUs execute that code correctly.
    Equivalent,
    /// Works for many, with documented failures.
    Risky,
}

/// GPUs that can run code built for another processor.
#[derive(Debug, Clone, Deserialize)]
pub struct Runs {
    /// The GPUs.
    pub gpu: Vec<String>,
    /// The processor whose code they run.
    pub code: String,
    /// How sound that is.
    pub status: RunsStatus,
    /// What goes wrong, for risky entries.
    #[serde(default)]
    pub caveat: Option<String>,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// What an override to `code` does on a GPU.
#[derive(Debug, Clone, Copy)]
pub enum OverrideCompat<'a> {
    /// The override names the GPU's own processor.
    Same,
    /// The GPU executes that code correctly.
    Equivalent(&'a Runs),
    /// Works for many, with documented failures.
    Risky(&'a Runs),
    /// The GPU cannot execute that code.
    Foreign,
}

/// A software stack that carries native code for some targets.
#[derive(Debug, Clone, Deserialize)]
pub struct Stack {
    /// Stable id.
    pub id: String,
    /// Display title.
    pub title: String,
    /// Targets it ships (`*` for any: a source build).
    pub targets: Vec<String>,
    /// What to do, in order; `{gpu}` stands for the processor.
    pub steps: Vec<StackStep>,
    /// What must be there first (`{gpu}` as above).
    #[serde(default)]
    pub requires: Option<String>,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// One step of installing a stack: a command, a note, or both.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StackStep {
    /// The shell command.
    pub command: Option<String>,
    /// When it applies or what it does.
    pub note: Option<String>,
    /// The distributions it is for (os-release `ID`s); empty: any.
    #[serde(default)]
    pub os: Vec<String>,
}

impl Stack {
    /// Whether the stack is for a machine whose os-release `ID` and `ID_LIKE` are
    /// `os` (unknown: empty, and then every stack is).
    pub fn for_os(&self, os: &[String]) -> bool {
        os.is_empty()
            || self
                .steps
                .iter()
                .all(|s| s.os.is_empty() || s.os.iter().any(|o| os.contains(o)))
    }

    /// The steps for one processor: `{gpu}` is the processor, `{therock_index}` AMD's
    /// package index of its default channel (remedies.toml, the one `fix` uses).
    pub fn steps_for(&self, gpu: &str) -> Vec<StackStep> {
        let index = crate::kb().therock_index(gpu);
        self.steps
            .iter()
            .map(|s| StackStep {
                command: s
                    .command
                    .as_ref()
                    .map(|c| crate::fill(c, &[("gpu", gpu), ("therock_index", index)])),
                note: s.note.as_ref().map(|c| crate::fill(c, &[("gpu", gpu)])),
                os: s.os.clone(),
            })
            .collect()
    }

    /// The steps for one processor as shell lines (a note alone is a `#` comment; a
    /// command with a note is `# note: command`).
    pub fn commands_for(&self, gpu: &str) -> Vec<String> {
        self.steps_for(gpu)
            .into_iter()
            .map(|s| match (s.command, s.note) {
                (Some(c), None) => c,
                (Some(c), Some(n)) => format!("# {n}: {c}"),
                (None, Some(n)) => format!("# {n}"),
                (None, None) => String::new(),
            })
            .collect()
    }
}

/// A library that leaves targets out on purpose.
#[derive(Debug, Clone, Deserialize)]
pub struct LibraryGap {
    /// Library name.
    pub library: String,
    /// Targets it has no code for.
    pub targets: Vec<String>,
    /// What users see.
    pub effect: String,
    /// What to do.
    pub fix: String,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// An environment variable and what it does.
#[derive(Debug, Clone, Deserialize)]
pub struct EnvVar {
    /// Name, or prefix when `prefix` is set.
    pub name: String,
    /// `name` is a prefix (`HSA_OVERRIDE_GFX_VERSION_` covers `_1`, `_2`, …).
    #[serde(default, rename = "match", deserialize_with = "de_match")]
    pub prefix: bool,
    /// Category (`override`, `override-node`, `visible-rocr`, `visible-hip`, `miopen`, …).
    pub kind: String,
    /// What it does.
    pub effect: String,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}

fn de_match<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "prefix" => Ok(true),
        "exact" => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "match must be \"prefix\" or \"exact\", not {other:?}"
        ))),
    }
}

/// Finding severity (the report's vocabulary).
pub use rp_report::Severity;

/// One entry of the finding catalog.
#[derive(Debug, Clone, Deserialize)]
pub struct FindingSpec {
    /// Stable id.
    pub id: String,
    /// Severity.
    pub severity: Severity,
    /// Title template.
    pub title: String,
    /// Explanation template.
    pub why: String,
    /// Source template.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Sentences that apply to some GPUs only.
    #[serde(default, rename = "note")]
    pub notes: Vec<TargetNote>,
}

/// A sentence (and its source) that applies only to some GPUs, and, where `code` is
/// given, only when they run code built for one of those targets (an override): RDNA1's
/// particulars are told to RDNA1 owners, not to an RX 580's or a 7840U's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetNote {
    /// The GPUs' processors (`gfx1010`).
    pub targets: Vec<String>,
    /// The code's processors; empty: any.
    #[serde(default)]
    pub code: Vec<String>,
    /// Appended to the explanation (may be empty: a source only).
    #[serde(default)]
    pub why: String,
    /// Appended to the source.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// `why` and `reference` with the notes that apply to `vars`' `gpu` (and `code`)
/// appended, every placeholder filled.
pub fn fill_noted(
    why: &str,
    reference: &str,
    notes: &[TargetNote],
    vars: &[(&str, &str)],
) -> (String, String) {
    let var = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let (mut w, mut r) = (why.to_string(), reference.to_string());
    // Processors: a target id's features (`gfx1010:xnack-`) do not change the family.
    fn processor(v: Option<&str>) -> &str {
        v.unwrap_or_default().split(':').next().unwrap_or_default()
    }
    let gpu = processor(var("gpu"));
    let code = processor(var("code"));
    for n in notes {
        let applies = n.targets.iter().any(|t| t == gpu)
            && (n.code.is_empty() || n.code.iter().any(|c| c == code));
        if applies {
            if !n.why.is_empty() {
                w = format!("{w} {}", n.why);
            }
            r = format!("{r}; {}", n.reference);
        }
    }
    (fill(&w, vars), fill(&r, vars))
}

#[derive(Debug, Deserialize)]
pub(crate) struct DevicesFile {
    pub vendor: Vec<Vendor>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AsicsFile {
    pub asic: Vec<Asic>,
    pub gc: Vec<GcVersion>,
}

/// What a built-in probe stands for (data/probes.toml).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// Probe name.
    pub name: String,
    /// `core`, `rdna1-known` or `workloads`.
    pub group: String,
    /// The library path it exercises.
    pub exercises: String,
    /// What to do when it fails, where known.
    pub remedy: Option<String>,
    /// The GPUs (processors) the remedy is for; empty: every GPU. A remedy made for one
    /// family (RDNA1's patches) is not offered to another's owner.
    #[serde(default)]
    pub remedy_targets: Vec<String>,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}

impl ProbeSpec {
    /// The remedy for a run on `arch` (the device's ISA as the worker reports it,
    /// `gfx1010:xnack-`; `None` when it is not an AMD GPU or unknown).
    pub fn remedy_for(&self, arch: Option<&str>) -> Option<&str> {
        let processor = arch.map(|a| a.split(':').next().unwrap_or(a));
        let fits = self.remedy_targets.is_empty()
            || processor.is_some_and(|p| self.remedy_targets.iter().any(|t| t == p));
        self.remedy.as_deref().filter(|_| fits)
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProbesFile {
    pub probe: Vec<ProbeSpec>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FamiliesFile {
    pub family: Vec<Family>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RuntimeFile {
    pub runs: Vec<Runs>,
    pub stack: Vec<Stack>,
    pub library_gap: Vec<LibraryGap>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct EnvFile {
    pub var: Vec<EnvVar>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FindingsFile {
    pub finding: Vec<FindingSpec>,
}

/// A root cause `explain` can report.
#[derive(Debug, Clone, Deserialize)]
pub struct Cause {
    /// Stable id.
    pub id: String,
    /// Higher is more specific; the highest found is the primary cause.
    pub rank: u32,
    /// A harmless warning.
    #[serde(default)]
    pub benign: bool,
    /// One line.
    pub title: String,
    /// Why it happens.
    pub explanation: String,
    /// What to do, in one line; `{gpu}` is filled when known.
    pub fix: String,
    /// What to do, step by step (doctor's shape); `{gpu}` is filled when known.
    #[serde(default, rename = "step")]
    pub steps: Vec<rp_report::FixStep>,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Sentences that apply to some GPUs only (when explain knows the GPU).
    #[serde(default, rename = "note")]
    pub notes: Vec<TargetNote>,
}

/// A log-line signature.
#[derive(Debug, Clone, Deserialize)]
pub struct Signature {
    /// Stable id.
    pub id: String,
    /// The cause it indicates.
    pub cause: String,
    /// Rust regex over one normalised line; a named group `gpu` captures a target.
    pub pattern: String,
    /// Only counts when no other signature matched the line.
    #[serde(default)]
    pub fallback: bool,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CausesFile {
    pub cause: Vec<Cause>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignaturesFile {
    pub signature: Vec<Signature>,
}

/// The kind of action a remedy takes (data/remedies.toml).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RemedyAction {
    /// Comment out the startup-file lines that set the variables.
    CommentStartupLines,
    /// A new venv with a stack that carries code for the GPU.
    NativeVenv,
    /// Add the user to the device nodes' groups.
    AddGroups,
    /// Write the user's config layer.
    UserConfig,
    /// Print the finding's steps; change nothing.
    Print,
}

/// What `fix` does about some findings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remedy {
    /// The finding ids it addresses.
    pub findings: Vec<String>,
    /// The action.
    pub action: RemedyAction,
    /// One line (`{gpu}`, `{user}` filled in).
    pub title: String,
    /// Why this is the remedy.
    pub why: String,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
    /// For comment-startup-lines: the variables (a name also covers `NAME_<n>`).
    #[serde(default)]
    pub variables: Vec<String>,
    /// For add-groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// For user-config.
    pub profile: Option<String>,
    /// Sentences that apply to some GPUs only.
    #[serde(default, rename = "note")]
    pub notes: Vec<TargetNote>,
}

/// A package index of the native-venv remedy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageIndex {
    /// `stable` or `nightly`.
    pub channel: String,
    /// The PEP 503 index URL.
    pub url: String,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// What the native-venv remedy installs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenvSpec {
    /// Oldest supported Python (`3.10`).
    pub python_min: String,
    /// Newest supported Python.
    pub python_max: String,
    /// Requirements for pip (`{gpu}` is the processor).
    pub packages: Vec<String>,
    /// Distributions that must be installed afterwards (`{gpu}` as above).
    pub device_packages: Vec<String>,
    /// Targets published only to the nightly channel.
    #[serde(default)]
    pub nightly_only: Vec<String>,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemediesFile {
    pub remedy: Vec<Remedy>,
    pub index: Vec<PackageIndex>,
    pub venv: VenvSpec,
}

/// A GPU's peak figures for `bench` (data/bench.toml).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Peak {
    /// The names torch reports for it.
    pub names: Vec<String>,
    /// Its LLVM target, where it is an AMD GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Peak fp32 TFLOP/s.
    pub fp32: f64,
    /// Peak TF32 tensor TFLOP/s (dense).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tf32: Option<f64>,
    /// Peak fp16 TFLOP/s (dense).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp16: Option<f64>,
    /// Peak bf16 TFLOP/s (dense).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bf16: Option<f64>,
    /// Memory bandwidth, GB/s.
    pub bandwidth: f64,
    /// The source.
    #[serde(rename = "ref")]
    pub reference: String,
}

impl Peak {
    /// The figure for a kind named by a benchmark (`fp32`, `tf32`, `fp16`, `bf16`,
    /// `bandwidth`).
    pub fn figure(&self, kind: &str) -> Option<f64> {
        match kind {
            "fp32" => Some(self.fp32),
            "tf32" => self.tf32,
            "fp16" => self.fp16,
            "bf16" => self.bf16,
            "bandwidth" => Some(self.bandwidth),
            _ => None,
        }
    }
}

/// What `tune` varies besides the profiles.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuneSpec {
    /// MIOpen find modes tried on a ROCm torch.
    pub find_modes: Vec<String>,
    /// The source.
    pub find_modes_ref: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BenchFile {
    pub(crate) peak: Vec<Peak>,
    pub(crate) tune: TuneSpec,
}
