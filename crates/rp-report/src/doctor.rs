//! `doctor` reports: the GPUs, the driver, the environment and the ROCm installs
//! of a machine.

use crate::{exit, Finding, MiopenCheck, PythonEnv, Severity, TensileDir};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

vocabulary! {
    /// A GPU's vendor.
    Vendor { /** AMD. */ Amd = "amd", /** NVIDIA. */ Nvidia = "nvidia", /** Intel. */ Intel = "intel", #[default] /** Anyone else. */ Other = "other" }
}

vocabulary! {
    /// Where a GPU's target came from.
    TargetSource { #[default] /** KFD `gfx_target_version`. */ Kfd = "kfd", /** The KFD node's ASIC name. */ KfdName = "kfd-name", /** The PCI device id. */ DeviceId = "device-id" }
}

vocabulary! {
    /// Where a GPU's marketing name came from.
    NameSource { /** libdrm's amdgpu.ids. */ AmdgpuIds = "amdgpu.ids", /** The embedded table. */ Embedded = "embedded", /** pci.ids. */ PciIds = "pci.ids", #[default] /** Made up from the vendor and device id. */ Generic = "generic" }
}

vocabulary! {
    /// The kind of a ROCm install.
    RocmKind { #[default] /** An /opt/rocm* prefix. */ Opt = "opt", /** A distribution's library directory. */ Distro = "distro" }
}

vocabulary! {
    /// Where a ROCm version came from.
    VersionSource { #[default] /** `.info/version`. */ InfoVersion = ".info/version", /** The HIP runtime's soname. */ Soname = "soname" }
}

/// `rocm-patch doctor` result.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct DoctorReport {
    /// Always [`SCHEMA`](crate::SCHEMA).
    pub schema: u32,
    /// The root the machine was read from (`/` on a live machine).
    pub sysroot: String,
    /// GPUs: AMD GPUs in KFD node order, then other GPUs by PCI address.
    pub gpus: Vec<Gpu>,
    /// Kernel driver and device access.
    pub driver: Driver,
    /// GPU-related environment variables and what they do.
    pub environment: Environment,
    /// ROCm installs found.
    pub rocm: Vec<RocmInstall>,
    /// Python environments checked.
    pub python: Vec<PythonEnv>,
    /// What is wrong (or worth knowing), errors first.
    pub findings: Vec<Finding>,
}

/// One GPU.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Gpu {
    /// `amd`, `nvidia`, `intel` or `other`.
    pub vendor: Vendor,
    /// KFD topology node id (AMD GPUs seen by KFD).
    pub node: Option<u32>,
    /// The GPU's true target, from KFD `gfx_target_version` (or the device id).
    pub gfx_target: Option<String>,
    /// Where `gfx_target` came from: `kfd`, `kfd-name` or `device-id`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gfx_target_source: Option<TargetSource>,
    /// `vvvv:dddd`, lowercase hex.
    pub pci_id: String,
    /// PCI revision, two lowercase hex digits.
    pub revision: Option<String>,
    /// Marketing name.
    pub name: String,
    /// Where the name came from: `amdgpu.ids`, `embedded`, `pci.ids` or `generic`.
    pub name_source: NameSource,
    /// PCI address.
    pub pci_slot: Option<String>,
    /// ASIC name from KFD (`navi10`), when it gives one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub asic: Option<String>,
    /// Family from the knowledge base.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub family: Option<String>,
    /// Integrated GPU.
    pub apu: bool,
    /// Compute units (SIMDs / SIMDs per CU).
    pub compute_units: Option<u64>,
    /// SIMDs.
    pub simd_count: Option<u64>,
    /// VRAM in bytes.
    pub vram_bytes: Option<u64>,
    /// `cardN`.
    pub drm_card: Option<String>,
    /// `renderDN`.
    pub render_node: Option<String>,
    /// Kernel driver bound to the device.
    pub driver: Option<String>,
    /// PCIe atomics to the CPU (KFD io_links), when known.
    pub pcie_atomics: Option<bool>,
    /// What the ROCm runtime will see, given the environment (AMD GPUs with a KFD node).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub runtime: Option<RuntimeView>,
}

/// How the ROCm runtime sees one GPU under the current environment.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RuntimeView {
    /// The ISA the runtime reports and loads code for.
    pub isa: String,
    /// The variable that overrides it, when one does.
    pub override_var: Option<String>,
    /// Enumerated by the runtime (not hidden by *_VISIBLE_DEVICES).
    pub visible: bool,
    /// The variable that hides it.
    pub hidden_by: Option<String>,
    /// Its HIP device index (`cuda:N` in PyTorch), when visible.
    pub device_index: Option<u32>,
}

/// Driver and device-node state.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Driver {
    /// `/sys/module/amdgpu` exists.
    pub amdgpu_loaded: bool,
    /// KFD topology directory found.
    pub kfd_topology: Option<String>,
    /// The user access was checked for.
    pub user: String,
    /// `/dev/kfd` and the AMD GPUs' render nodes.
    pub device_nodes: Vec<DeviceNode>,
    /// Selected amdgpu module parameters.
    pub amdgpu_parameters: BTreeMap<String, String>,
}

/// A device node and whether the user can use it.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct DeviceNode {
    /// Path.
    pub path: String,
    /// Exists.
    pub exists: bool,
    /// Owner:group and mode, e.g. `root:render 0660`.
    pub owner: Option<String>,
    /// The user can read and write it.
    pub accessible: bool,
}

/// The environment doctor saw.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Environment {
    /// GPU-related variables that are set, in name order.
    pub variables: Vec<EnvVarReport>,
    /// Lines of the user's shell startup files (and, for the whole system,
    /// /etc/environment and /etc/profile.d) that set a GPU-related variable.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub set_in_files: Vec<EnvSetting>,
    /// Startup files that exist but were not read (over 1 MiB, unreadable), with why:
    /// what they set is unknown.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub unread_files: Vec<UnreadFile>,
}

/// A file that exists but was not read.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct UnreadFile {
    /// The file (machine path).
    pub file: String,
    /// Why.
    pub why: String,
}

/// A line of a startup file that sets a variable.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct EnvSetting {
    /// The file (machine path).
    pub file: String,
    /// 1-based line number (of the command's first line).
    pub line: u32,
    /// The command's last line, when it spans several (a backslash at a line's end, a
    /// quote that spans lines).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end_line: Option<u32>,
    /// The variable.
    pub name: String,
    /// The value as written (quotes removed).
    pub value: String,
    /// Why `fix` leaves this line alone (inside an `if` or a here-document, sharing its
    /// line with other commands, in a file sourced from another): it is named, and
    /// changed by hand. Null when it is a plain assignment `fix` can comment out.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub not_editable: Option<String>,
    /// The line is text inside a here-document: no shell that reads the file sets the
    /// variable (it is named, never counted as set).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub text_only: bool,
}

/// One environment variable.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct EnvVarReport {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
    /// What it does in general.
    pub meaning: String,
    /// What it does to each GPU here.
    pub effects: Vec<String>,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// A ROCm install.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RocmInstall {
    /// Prefix (`/opt/rocm-6.4.0`) or library directory for distro installs.
    pub path: String,
    /// `opt` or `distro`.
    pub kind: RocmKind,
    /// Version, when found.
    pub version: Option<String>,
    /// Where the version came from: `.info/version` or `soname`.
    pub version_source: Option<VersionSource>,
    /// The HIP runtime library.
    pub hip_runtime: Option<String>,
    /// The rocBLAS Tensile library directory and its archs.
    pub rocblas_library: Option<TensileDir>,
    /// Its MIOpen's batch-norm kernels, checked for the machine's GPUs.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub miopen: Vec<MiopenCheck>,
    /// The dynamic loader finds this install's HIP runtime first.
    pub loader_first: bool,
}

impl DoctorReport {
    /// The exit status of `doctor`: 1 with an error finding, else 0 (2, a `--python`
    /// that does not exist, is decided before the report).
    pub fn exit_code(&self) -> u8 {
        if self.findings.iter().any(|f| f.severity == Severity::Error) {
            exit::FINDING
        } else {
            exit::OK
        }
    }
}
