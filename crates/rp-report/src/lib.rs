//! The machine-readable contract of rocm-patch: one data model per command, rendered
//! as JSON by the binary and as text by its human renderer. Fields are only ever
//! added; `schema` changes if one is removed or changes meaning.
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Current schema number of every report.
pub const SCHEMA: u32 = 1;

/// The exit statuses of `rocm-patch`, as the README documents them. Every command's
/// status is one of these, decided by its report (`exit_code()`), or — `run` and
/// `trace` — the status of the command it ran, passed through.
pub mod exit {
    /// Nothing wrong: no error finding, every probe passed, the build verified (or was
    /// planned), everything covered, nothing left to fix.
    pub const OK: u8 = 0;
    /// The command's answer is "no": an error finding, a probe or benchmark that did not
    /// pass, a library missing the GPU's target, a build that stopped or did not verify,
    /// error findings left after `fix`.
    pub const FINDING: u8 = 1;
    /// The tool could not do its job (unreadable input, bad arguments), or the user
    /// declined `fix` (without a terminal, `--yes` is required).
    pub const TOOL_ERROR: u8 = 2;
    /// `fix`: a step failed and everything was rolled back.
    pub const ROLLED_BACK: u8 = 3;
    /// `run`, `trace`: the command was found but could not be executed (as shells do).
    pub const CANNOT_EXECUTE: u8 = 126;
    /// `run`, `trace`: the command was not found (as shells do).
    pub const NOT_FOUND: u8 = 127;
    /// `build` stopped by Ctrl-C (128 + SIGINT); run the same command again to resume.
    pub const INTERRUPTED: u8 = 130;
    /// A traced command that exited without a status (no code, no signal).
    pub const NO_STATUS: u8 = FINDING;

    /// The status of a command that was killed by signal `sig`: 128 + its number, as
    /// shells report it.
    pub fn signalled(sig: i32) -> u8 {
        (128 + sig) as u8
    }

    /// The status to pass on for a command that ran: its exit code, or 128 + the signal
    /// that ended it, or [`NO_STATUS`].
    pub fn passed_through(code: Option<i32>, signal: Option<i32>) -> u8 {
        match (signal, code) {
            (Some(sig), _) => signalled(sig),
            (None, Some(c)) => c as u8,
            (None, None) => NO_STATUS,
        }
    }

    /// `run`, `trace`: the status when the command could not be started.
    pub fn cannot_start(e: &std::io::Error) -> u8 {
        if e.kind() == std::io::ErrorKind::NotFound {
            NOT_FOUND
        } else {
            CANNOT_EXECUTE
        }
    }
}

/// A closed vocabulary: an enum whose JSON form is a fixed string.
macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v,)+
        }
        impl $name {
            /// The JSON string.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s,)+ }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok($name::$v),)+
                    _ => Err(format!("{s:?} is not a {}", stringify!($name))),
                }
            }
        }
    };
}

mod bench;
mod build;
pub use bench::*;
pub use build::*;

vocabulary! {
    /// How much a finding matters.
    Severity { #[default] /** Something is broken. */ Error = "error", /** Something may break. */ Warning = "warning", /** Worth knowing. */ Info = "info" }
}
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
vocabulary! {
    /// The kind of a Python environment.
    PythonKind { /** A venv (pyvenv.cfg). */ Venv = "venv", /** A conda environment. */ Conda = "conda", /** Another prefix with site-packages. */ Prefix = "prefix", /** A system interpreter. */ System = "system", #[default] /** Not read (the path does not exist). */ Unknown = "" }
}
vocabulary! {
    /// How a Python environment was found.
    FoundBy { #[default] /** Named with `--python`. */ Flag = "--python", /** `python3` on PATH. */ Path = "PATH", /** `$VIRTUAL_ENV`. */ VirtualEnv = "VIRTUAL_ENV", /** `$CONDA_PREFIX`. */ CondaPrefix = "CONDA_PREFIX", /** A venv in the current directory. */ Cwd = "cwd" }
}
vocabulary! {
    /// Where the site-packages directories of an environment came from.
    SitesFrom { #[default] /** The environment's files. */ Files = "files", /** The interpreter was run and printed `sys.path`. */ Interpreter = "interpreter", /** Nowhere: not derivable from files, and the interpreter was not run. */ Unknown = "unknown" }
}
vocabulary! {
    /// What a torch was built for.
    TorchBuild { /** ROCm (HIP). */ Rocm = "rocm", /** CUDA. */ Cuda = "cuda", #[default] /** CPU only. */ Cpu = "cpu" }
}
vocabulary! {
    /// The layout of an inspected file.
    FileFormat { /** A host ELF (executable, shared library, object) with `.hip_fatbin`. */ HostElf = "host-elf", /** An uncompressed offload bundle. */ Bundle = "bundle", /** A compressed offload bundle (CCOB). */ CompressedBundle = "compressed-bundle", #[default] /** An AMDGPU code object. */ CodeObject = "code-object", /** An `ar` archive. */ Archive = "archive", /** A Tensile or TensileLite data file known by its name. */ Tensile = "tensile", /** An MIOpen database known by its name. */ MiopenDb = "miopen-db", /** A Python wheel. */ Wheel = "wheel", /** A kpack archive of device code (AMD TheRock). */ Kpack = "kpack" }
}
vocabulary! {
    /// The library a data file or directory belongs to.
    LibraryKind { #[default] /** rocBLAS's Tensile. */ RocblasTensile = "rocblas-tensile", /** hipBLASLt's TensileLite. */ Hipblaslt = "hipblaslt", /** MIOpen. */ Miopen = "miopen" }
}
vocabulary! {
    /// What a library data file is for (docs/code-objects.md).
    LibraryRole { #[default] /** A catalog of kernels (Tensile `.dat`/`.yaml`, TensileLite). */ Catalog = "catalog", /** The master catalog the loader reads first (`TensileLibrary_lazy_<gfx>`). */ MasterCatalog = "master-catalog", /** A code object of kernels. */ CodeObject = "code-object", /** MIOpen's system find-db. */ FindDb = "find-db", /** MIOpen's user find-db. */ UserFindDb = "user-find-db", /** MIOpen's system perf-db. */ PerfDb = "perf-db", /** MIOpen's user perf-db. */ UserPerfDb = "user-perf-db", /** MIOpen's kernel cache. */ KernelDb = "kernel-db", /** MIOpen's user kernel cache. */ UserKernelDb = "user-kernel-db" }
}
vocabulary! {
    /// How a library covers a GPU.
    CoverageHow { #[default] /** Code for the GPU's own processor. */ Exact = "exact", /** A generic target the GPU belongs to. */ Generic = "generic" }
}
vocabulary! {
    /// What became of one search path of a kpack'd binary.
    KpackStatus { #[default] /** The archive exists and holds the binary's kernels. */ Found = "found", /** No archive at that path (its device package is not installed). */ Missing = "missing", /** The archive exists but has no entry for the binary. */ NoEntry = "no-entry", /** The archive could not be read or parsed. */ Unreadable = "unreadable", /** The path leads outside the tree being inspected; not opened. */ Outside = "outside" }
}
vocabulary! {
    /// Where a kpack search path came from (rocm-kpack `runtime/src/loader.cpp`).
    KpackSource { #[default] /** The binary's own `.rocm_kpack_ref`. */ Embedded = "embedded", /** `ROCM_KPACK_PATH`, which replaces the binary's paths. */ Path = "ROCM_KPACK_PATH", /** `ROCM_KPACK_PATH_PREFIX`, searched before the binary's paths. */ PathPrefix = "ROCM_KPACK_PATH_PREFIX" }
}
vocabulary! {
    /// Compression of a code object.
    Compression { #[default] /** Stored as it is. */ None = "none", /** zlib. */ Zlib = "zlib", /** zstd. */ Zstd = "zstd" }
}
vocabulary! {
    /// The outcome of one probe.
    ProbeStatus { /** Matched the CPU. */ Pass = "pass", /** Ran, but the result differs from the CPU's. */ Wrong = "wrong", /** Raised an exception. */ Error = "error", /** The worker died. */ Crash = "crash", /** Did not finish in time. */ Timeout = "timeout", #[default] /** Not run. */ Skip = "skip" }
}
vocabulary! {
    /// The device probes ran on.
    ProbeDevice { /** torch.cuda (ROCm builds too). */ Cuda = "cuda", #[default] /** The CPU. */ Cpu = "cpu" }
}
vocabulary! {
    /// The state of a deploy transaction.
    TxState { #[default] /** Being applied (interrupted if found so). */ Applying = "applying", /** Applied. */ Committed = "committed", /** Being undone. */ RollingBack = "rolling-back", /** Undone. */ RolledBack = "rolled-back" }
}
vocabulary! {
    /// One kind of file change.
    ChangeKind { #[default] /** A new file. */ Add = "add", /** A file replaced. */ Replace = "replace", /** A file removed. */ Remove = "remove", /** A symbolic link. */ Symlink = "symlink", /** A directory made. */ Mkdir = "mkdir", /** A directory tree made and filled (a venv); rollback removes it. */ CreateTree = "create-tree", /** Supplementary groups added to a user; rollback removes exactly those. */ AddGroups = "add-groups" }
}
vocabulary! {
    /// What a profile does to a variable.
    VarAction { #[default] /** Set it. */ Set = "set", /** Unset it. */ Unset = "unset", /** Keep the user's exported value. */ Kept = "kept" }
}

/// One step of a fix: a command to run, a note for the reader, or both.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct FixStep {
    /// The shell command, when the step is one; ready to paste.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub command: Option<String>,
    /// What the step does or what to do by hand.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
    /// The command needs root (it starts with `sudo`).
    #[serde(default)]
    pub needs_root: bool,
    /// Another way to the same end as the steps before it: run it instead of them, not
    /// as well.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub alternative: bool,
}

impl FixStep {
    /// A command.
    pub fn run(command: impl Into<String>) -> FixStep {
        let command = command.into();
        FixStep {
            needs_root: command.starts_with("sudo "),
            command: Some(command),
            note: None,
            alternative: false,
        }
    }
    /// Another way to the same end: `what` says which (a distribution, a source build).
    pub fn instead(command: Option<String>, what: impl Into<String>) -> FixStep {
        FixStep {
            needs_root: command.as_deref().is_some_and(|c| c.starts_with("sudo ")),
            command,
            note: Some(what.into()),
            alternative: true,
        }
    }
    /// A command with a note on what it does.
    pub fn run_because(command: impl Into<String>, note: impl Into<String>) -> FixStep {
        FixStep {
            note: Some(note.into()),
            ..FixStep::run(command)
        }
    }
    /// A note without a command.
    pub fn note(note: impl Into<String>) -> FixStep {
        FixStep {
            command: None,
            note: Some(note.into()),
            needs_root: false,
            alternative: false,
        }
    }
}

/// `rocm-patch inspect` result.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct InspectReport {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// One entry per file that carries device code, is a GPU library data file, was
    /// named explicitly, or could not be read; sorted by path.
    pub files: Vec<FileReport>,
    /// Code objects per processor name (features stripped, host entries left out).
    pub targets: BTreeMap<String, u64>,
    /// Tensile / TensileLite library directories found, with the archs they carry.
    pub tensile_dirs: Vec<TensileDir>,
    /// Present only when a GPU was named (`--gpu`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
}

/// What one file holds.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct FileReport {
    /// Path; a wheel or archive member is `outer!/member`.
    pub path: String,
    /// Why the file could not be (fully) read, or null.
    pub error: Option<String>,
    /// Layout: `host-elf`, `bundle`, `compressed-bundle`, `code-object`, `archive`,
    /// `tensile`, `miopen-db`, `wheel`, or null when unrecognised.
    pub format: Option<FileFormat>,
    /// Bundles found in the file.
    pub bundles: u32,
    /// The device code objects, in file order.
    pub code_objects: Vec<CodeObjectReport>,
    /// A GPU library data file recognised by its name (Tensile, MIOpen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library_file: Option<LibraryFile>,
    /// Other facts (members not followed, …).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
    /// For a kpack archive: what its table says of it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kpack: Option<KpackArchive>,
    /// For a kpack'd host binary: where its device code is and what was found there.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kpack_ref: Option<KpackRef>,
    /// For a `libMIOpen*.so*`: its batch-norm kernels checked for the GPU asked (`--gpu`)
    /// or, without one, for a set of representative targets.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub miopen_bn: Option<MiopenCheck>,
}

/// A kpack archive's table of contents, summarised.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct KpackArchive {
    /// `group_name` (`torch`, `rocm`, `blas_lib`, …).
    pub group_name: Option<String>,
    /// `gfx_arch_family`.
    pub gfx_arch_family: Option<String>,
    /// Every processor the archive says it covers.
    pub gfx_arches: Vec<String>,
    /// `zstd-per-kernel` or `none`.
    pub compression_scheme: String,
    /// Host binaries with kernels in it.
    pub binaries: u32,
}

/// A kpack'd host binary's `.rocm_kpack_ref`, resolved.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct KpackRef {
    /// The binary's key in the archives' tables, without its `#N` suffix.
    pub kernel_name: String,
    /// The code-object index of each translation unit (the runtime looks up
    /// `kernel_name#N` for each), from the binary's HIPK wrappers; when those could not be
    /// read (a member streamed from a wheel), from the keys its archives hold.
    #[serde(default)]
    pub units: Vec<u64>,
    /// `units` came from the archives, not from the binary's wrappers.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub units_from_archives: bool,
    /// `ROCM_KPACK_DISABLE` is in force: the runtime loads none of this code.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub disabled: bool,
    /// Each archive searched, in the runtime's order (a `@GFXARCH@` path yields one entry
    /// per archive present that it can expand to).
    pub search: Vec<KpackSearch>,
}

/// One search path of a kpack'd binary.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct KpackSearch {
    /// As the binary (or the variable) writes it: relative to the binary, maybe with the
    /// `@GFXARCH@` placeholder.
    pub path: String,
    /// Where the path came from.
    #[serde(default)]
    pub source: KpackSource,
    /// For a `@GFXARCH@` path: the architecture this archive's name puts in its place.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub arch: Option<String>,
    /// The architectures the archive's table says it covers (`gfx_arches`): what the
    /// runtime matches a GPU against.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub gfx_arches: Vec<String>,
    /// The archive it names, when resolved.
    pub archive: Option<String>,
    /// What was found there.
    pub status: KpackStatus,
    /// The processors the archive holds for this binary.
    pub targets: Vec<String>,
    /// Why the archive could not be read.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// One device code object.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct CodeObjectReport {
    /// Target id, e.g. `gfx90a:xnack-`.
    pub target_id: String,
    /// `none`, `zlib` or `zstd`.
    pub compression: Compression,
    /// CCOB version for compressed bundles, else null.
    pub ccob_version: Option<u16>,
    /// Code object version (2–6), null when the header was not read.
    pub code_object_version: Option<u8>,
    /// Size in bytes.
    pub size: u64,
    /// Offset in the file, for uncompressed code objects.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub offset: Option<u64>,
    /// Bundle entry id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bundle_id: Option<String>,
    /// Generic version of a generic target.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub generic_version: Option<u8>,
    /// The archive member holding it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub member: Option<String>,
    /// In a kpack archive: the host binary whose kernel it is (its key in the table).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub binary: Option<String>,
    /// For a kpack'd host binary: the archive it was found in.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub archive: Option<String>,
    /// In a kpack archive: the architecture its table files it under (the string the
    /// runtime looks up; it may differ from the ELF header's target id).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kpack_arch: Option<String>,
    /// Something odd about it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub warning: Option<String>,
}

/// A Tensile, TensileLite or MIOpen file recognised by name (docs/code-objects.md).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct LibraryFile {
    /// `rocblas-tensile`, `hipblaslt` or `miopen`.
    pub library: LibraryKind,
    /// `catalog`, `master-catalog`, `code-object`, `kernel-db`, `find-db`, `perf-db`, …
    pub role: LibraryRole,
    /// The arch the name (or its per-arch directory) gives, when it gives one.
    pub arch: Option<String>,
}

/// A Tensile library directory.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct TensileDir {
    /// The directory.
    pub path: String,
    /// `rocblas-tensile` or `hipblaslt`.
    pub library: LibraryKind,
    /// Processors with a master catalog (or per-arch directory) here.
    pub archs: Vec<String>,
    /// Files recognised in it.
    pub files: u64,
}

/// The answer to "can this GPU run these libraries?".
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Coverage {
    /// The GPU target asked about.
    pub gpu: String,
    /// Libraries (files or Tensile directories) that carry device code but none this
    /// GPU can load.
    pub missing: Vec<String>,
    /// Libraries that do carry loadable code, with how (`exact`, `generic`).
    pub covered: Vec<CoveredLibrary>,
    /// Kpack'd libraries whose archives hold code for some translation units but not
    /// all: the runtime fails on the first kernel of a missing one.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub partial: Vec<PartialLibrary>,
    /// Why a missing or partial library is so, when there is more to say than "no code
    /// for this GPU" (kpack: the archives searched, `ROCM_KPACK_DISABLE`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub why: BTreeMap<String, String>,
}

/// A kpack'd library with code for some of its translation units only.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct PartialLibrary {
    /// The library.
    pub path: String,
    /// The table keys with no code for the GPU (`lib/libtorch_hip.so#1`).
    pub missing_units: Vec<String>,
    /// How many translation units it has.
    pub units: u32,
}

/// A covered library.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct CoveredLibrary {
    /// File or directory.
    pub path: String,
    /// `exact` or `generic`.
    pub how: CoverageHow,
    /// For a kpack'd library: the archives its code comes from.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub archives: Vec<String>,
}

/// `rocm-patch doctor` result.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct DoctorReport {
    /// Always [`SCHEMA`].
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

/// A Python environment.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PythonEnv {
    /// The interpreter or environment directory.
    pub path: String,
    /// How it was found: `--python`, `PATH`, `VIRTUAL_ENV`, `CONDA_PREFIX` or `cwd`.
    pub found_by: FoundBy,
    /// `venv`, `conda`, `prefix` or `system` (empty when the path does not exist).
    pub kind: PythonKind,
    /// Site-packages directories searched.
    pub site_packages: Vec<String>,
    /// Where they came from: `files`, `interpreter` (it was run to print `sys.path`;
    /// never under `--sysroot`) or `unknown`.
    pub site_packages_from: SitesFrom,
    /// torch, when installed.
    pub torch: Option<TorchInstall>,
    /// The package indexes pip is configured with for this environment (files and
    /// `PIP_INDEX_URL` / `PIP_EXTRA_INDEX_URL`), credentials removed.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub pip_indexes: Vec<PipIndex>,
    /// Why the environment could not be (fully) read.
    pub error: Option<String>,
}

/// One package-index setting of pip's.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct PipIndex {
    /// The configuration file or variable that sets it.
    pub source: String,
    /// `index-url` or `extra-index-url`.
    pub key: String,
    /// The URL, without user name or password.
    pub url: String,
}

vocabulary! {
    /// What MIOpen's batch-norm kernels do on one target.
    MiopenVerdict { /** Some kernel keeps the DPP `row_bcast` path on a GFX10+ target: it fails to compile there, and batch-norm fails. */ Affected = "affected", #[default] /** No kernel keeps the path, or the target accepts it. */ Unaffected = "unaffected", /** Not decided (no kernels found, a condition not evaluated). */ Unknown = "unknown" }
}

/// MIOpen's embedded batch-norm kernels, checked for the machine's GPUs.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct MiopenCheck {
    /// The library.
    pub path: String,
    /// MIOpen's version, when the library says.
    pub version: Option<String>,
    /// The batch-norm kernel files found in it.
    pub kernels_found: Vec<String>,
    /// The kernels carry the gfx101x fix (`MIO_BN_GFX101X`).
    pub gfx101x_fix_present: bool,
    /// One result per target.
    pub targets: Vec<MiopenTarget>,
}

/// The check for one target.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct MiopenTarget {
    /// The target (`gfx1010`).
    pub target: String,
    /// The verdict.
    pub verdict: MiopenVerdict,
    /// The kernels that keep the DPP path, when affected.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub kernels: Vec<String>,
    /// Why undecided.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

/// An installed torch.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TorchInstall {
    /// Package directory.
    pub path: String,
    /// `torch.__version__`.
    pub version: Option<String>,
    /// `torch.version.hip`.
    pub hip: Option<String>,
    /// `torch.version.cuda`.
    pub cuda: Option<String>,
    /// `rocm`, `cuda` or `cpu`.
    pub build: TorchBuild,
    /// Processors its GPU libraries carry code for.
    pub targets: Vec<String>,
    /// Libraries torch loads (torch/lib, TheRock's ROCm SDK libraries) with device code
    /// or a kpack reference to it.
    pub gpu_libraries: Vec<String>,
    /// Of those, the kpack'd ones (their device code is in separate archives).
    #[serde(default)]
    pub kpack_libraries: Vec<String>,
    /// The kpack archives found beside them (TheRock's `.kpack/` directories).
    #[serde(default)]
    pub kpack_archives: Vec<String>,
    /// TheRock's per-GPU device distributions installed with it
    /// (`amd-torch-device-gfx1010`, `rocm-sdk-device-gfx1010`, …).
    #[serde(default)]
    pub device_packages: Vec<DevicePackage>,
    /// Where doctor looked for its device code.
    #[serde(default)]
    pub looked_in: Vec<String>,
    /// The bundled rocBLAS Tensile directory.
    pub rocblas_library: Option<TensileDir>,
    /// The bundled hipBLASLt directory.
    pub hipblaslt_library: Option<TensileDir>,
    /// The MIOpen it carries (torch/lib, TheRock's ROCm libraries), its batch-norm
    /// kernels checked for the machine's GPUs.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub miopen: Vec<MiopenCheck>,
    /// Per AMD GPU: can this torch run on it?
    pub gpu_support: Vec<GpuSupport>,
}

/// An installed device distribution of AMD TheRock's split wheels.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct DevicePackage {
    /// Distribution name, normalised (`amd-torch-device-gfx1010`).
    pub name: String,
    /// Its version.
    pub version: Option<String>,
    /// The processor it carries code for (`gfx1010`), from its name.
    pub target: String,
    /// The `Summary` of its METADATA.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub summary: Option<String>,
    /// Its METADATA says it is a placeholder (AMD's empty packages on PyPI, "Placeholder
    /// for …"): it holds no GPU code.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub placeholder: bool,
}

impl DevicePackage {
    /// `name version`, or the name alone.
    pub fn label(&self) -> String {
        match &self.version {
            Some(v) => format!("{} {v}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Whether a torch install can run on one GPU.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct GpuSupport {
    /// KFD node.
    pub node: u32,
    /// The target judged (the GPU's own, or what a sound override makes it).
    pub target: String,
    /// torch/lib libraries with device code but none for this GPU (kpack'd ones with
    /// code for only some of their translation units included).
    pub missing_libraries: Vec<String>,
    /// Why, for a library where there is more to say (kpack: what the runtime's search
    /// found, `ROCM_KPACK_DISABLE`, the translation units without code).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub why: BTreeMap<String, String>,
    /// The Tensile directory rocBLAS will use, and whether it has this target.
    pub rocblas_library: Option<String>,
    /// That directory has files for this target.
    pub rocblas_has_target: Option<bool>,
}

/// One finding.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct Finding {
    /// Stable id.
    pub id: String,
    /// `error`, `warning` or `info`.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// Why it matters.
    pub why: String,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
    /// What to do, step by step: `{"command": "...", "note": "...", "needs_root": bool}`
    /// (a step has a command, a note, or both).
    pub fix: Vec<FixStep>,
    /// What it is about (`node 1`, a path), when specific.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subject: Option<String>,
}

/// `rocm-patch explain` result.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ExplainReport {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// Recognised events in input order (repeats of the same message folded, with a count).
    pub events: Vec<ExplainEvent>,
    /// The most specific root cause found; null when nothing is recognised.
    pub primary_cause: Option<String>,
    /// Each cause found, most specific first, with its explanation and fix.
    pub causes: Vec<CauseReport>,
    /// Where an HSA_OVERRIDE_GFX_VERSION was seen (log line, environment, --env).
    pub override_evidence: Vec<String>,
    /// The GPUs the fixes were tailored to (from the machine), as `gfx1010 (name)`.
    pub gpus: Vec<String>,
    /// Lines read, over all inputs.
    pub lines: u64,
    /// Inputs that could not be read.
    pub errors: Vec<String>,
    /// Distinct events beyond the limit that were counted but not listed.
    pub events_dropped: u64,
    /// What `--trace` records add: the last kernel launched and whether its fat binary
    /// had code for the GPU, and what the seed policy changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace_evidence: Vec<String>,
}

/// One recognised event.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ExplainEvent {
    /// Cause id.
    pub cause: String,
    /// Signature id that matched.
    pub signature: String,
    /// Input name (`-` for stdin).
    pub file: String,
    /// 1-based line number of the first occurrence.
    pub line: u64,
    /// The matching line, cleaned of colour codes.
    pub text: String,
    /// What to do.
    pub fix: String,
    /// How many lines carried this same message (numbers and addresses ignored).
    pub count: u64,
    /// Where the signature comes from.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// One cause found in a log.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct CauseReport {
    /// Cause id.
    pub id: String,
    /// One line.
    pub title: String,
    /// Why.
    pub explanation: String,
    /// What to do.
    pub fix: String,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Harmless.
    pub benign: bool,
    /// Events with this cause.
    pub events: u64,
}

/// `rocm-patch env` / `run` resolution.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct EnvReport {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// The profile applied.
    pub profile: String,
    /// Where the profile choice came from.
    pub profile_source: String,
    /// What the profile is for.
    pub description: String,
    /// The AMD GPUs it was resolved for, as `node N gfxXXXX (name)`.
    pub gpus: Vec<String>,
    /// Variables in name order.
    pub vars: Vec<ResolvedVar>,
    /// Things the user must know (a kept user variable, a dangerous profile).
    pub warnings: Vec<String>,
}

/// One resolved variable.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct ResolvedVar {
    /// Name.
    pub name: String,
    /// The value to set; null to unset.
    pub value: Option<String>,
    /// `set`, `unset`, or `kept` (the user's exported value wins; `--force` overrides).
    pub action: VarAction,
    /// Why.
    pub reason: String,
    /// Source of the fact behind it.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Which layer decided it: `built-in profile P`, `FILE:LINE`, `command line`,
    /// `machine (node N gfxXXXX)`, or `your environment`.
    pub source: String,
    /// The value the user had exported, when any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_value: Option<String>,
}

/// `rocm-patch probe` result.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ProbeReport {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// Python version of the interpreter used.
    pub python: String,
    /// The interpreter.
    pub executable: String,
    /// torch version.
    pub torch: String,
    /// torch.version.hip.
    pub hip: Option<String>,
    /// torch.version.cuda.
    pub cuda: Option<String>,
    /// `cuda` or `cpu`.
    pub device: ProbeDevice,
    /// `torch.cuda.is_available()` in the worker.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cuda_available: Option<bool>,
    /// The profile applied to the worker's environment, if any.
    pub profile: Option<String>,
    /// Seconds to import torch in the first worker.
    pub import_seconds: f64,
    /// Times a worker was (re)started.
    pub workers_started: u32,
    /// Every probe run, in matrix order.
    pub probes: Vec<ProbeResult>,
    /// What the device means for the result: the CPU was tested (no GPU here), or torch
    /// saw no GPU although the machine has one (then the run fails).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub device_note: Option<String>,
    /// The run fails although every probe passed: a GPU test ran on the CPU.
    #[serde(default)]
    pub gpu_not_seen: bool,
}

/// One probe's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ProbeResult {
    /// Probe name.
    pub name: String,
    /// `pass`, `wrong`, `error`, `crash`, `timeout` or `skip`.
    pub status: ProbeStatus,
    /// The signal that ended a crashed probe, e.g. `SIGSEGV`.
    pub signal: Option<String>,
    /// Wall time.
    pub seconds: f64,
    /// What happened: the mismatch, the exception, the skip reason, or the probe's own note.
    pub detail: Option<String>,
    /// stderr captured while the probe ran (kept for crashes, timeouts and errors).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stderr: Option<String>,
    /// `explain`'s primary cause for that stderr, when it recognises one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cause: Option<String>,
    /// Its group (`core`, `rdna1-known`, `workloads`; null for a user probe).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub group: Option<String>,
    /// The library path it exercises (`MIOpen RNN …`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exercises: Option<String>,
    /// What to do when it fails, where the knowledge base knows.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remedy: Option<String>,
}

/// `rocm-patch probe --list`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ProbeList {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// Every built-in probe, in matrix order.
    pub probes: Vec<ProbeInfo>,
}

/// One built-in probe.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ProbeInfo {
    /// Name.
    pub name: String,
    /// Group.
    pub group: String,
    /// The library path it exercises.
    pub exercises: String,
    /// The remedy when it fails, where known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remedy: Option<String>,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// One deploy transaction, as `deploy`, `rollback`, `recover` and `history` report it.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TxReport {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// Transaction id.
    pub id: String,
    /// `applying`, `committed`, `rolling-back` or `rolled-back`.
    pub state: TxState,
    /// Unix seconds when it was made.
    pub created: u64,
    /// The command that made it.
    pub command: String,
    /// The target tree.
    pub into: String,
    /// The changes.
    pub changes: Vec<TxChange>,
    /// How it ended, when it did not commit.
    pub note: Option<String>,
    /// What the command checked or decided before changing anything (e.g. the rocBLAS
    /// versions `deploy tensile` compared).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
}

/// One file change.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TxChange {
    /// Absolute path.
    pub path: String,
    /// `add`, `replace`, `remove`, `symlink`, `mkdir`, `create-tree` or `add-groups`.
    pub change: ChangeKind,
    /// For `add-groups`: the user and the groups (the path is the group file).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

/// `rocm-patch history`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HistoryReport {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// The state directory.
    pub state_dir: String,
    /// Transactions, oldest first.
    pub transactions: Vec<TxReport>,
}

/// `rocm-patch recover`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RecoverReport {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// The transactions put back, oldest first (empty: nothing was interrupted).
    pub recovered: Vec<TxReport>,
    /// With `--abandon`: the transaction set aside.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub abandoned: Option<String>,
    /// With `--abandon`: what that record would have restored (check these by hand).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub not_restored: Vec<String>,
}

/// `rocm-patch env --list`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ProfileList {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// Every profile, built-in and from the config files.
    pub profiles: Vec<ProfileInfo>,
}

/// One profile.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ProfileInfo {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
}

/// `rocm-patch report`: what a bug tracker needs, in one place, redacted by default.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct BugReport {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// `rocm-patch --version`.
    pub tool: String,
    /// Installed versions.
    pub versions: SystemVersions,
    /// doctor's report.
    pub doctor: DoctorReport,
    /// Per library torch loads: its targets and whether each GPU can load it.
    pub libraries: Vec<LibraryCoverage>,
    /// The profile `env` would apply on this machine.
    pub profile: Option<EnvReport>,
    /// Why the profile could not be resolved.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub profile_error: Option<String>,
    /// The amdgpu, KFD and DRM lines of the kernel log (the last ones).
    pub kernel_log: Vec<String>,
    /// The files they came from.
    pub kernel_log_from: Vec<String>,
    /// `explain` on the logs given.
    pub logs: Option<ExplainReport>,
    /// The probe run, with `--probe`.
    pub probe: Option<ProbeReport>,
    /// Why the probe could not run.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub probe_error: Option<String>,
    /// The kinds of value replaced by placeholders (empty with `--no-redact`).
    pub redacted: Vec<String>,
    /// False with `--no-redact`.
    pub redaction: bool,
}

/// Versions a bug tracker asks for first.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct SystemVersions {
    /// Kernel release.
    pub kernel: Option<String>,
    /// Distribution (`PRETTY_NAME`).
    pub distribution: Option<String>,
    /// ROCm installs, `path version`.
    pub rocm: Vec<String>,
    /// torch per environment, `env: version (build)`.
    pub torch: Vec<String>,
}

/// One library torch loads, and each AMD GPU's verdict on it.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct LibraryCoverage {
    /// Path (machine path).
    pub path: String,
    /// Processors it carries code for (through its kpack archives when kpack'd).
    pub targets: Vec<String>,
    /// Its device code is in kpack archives.
    pub kpack: bool,
    /// Per GPU target: it has code that GPU can load.
    pub loads: BTreeMap<String, bool>,
}

vocabulary! {
    /// The kind of one `fix` step (a remedy's action, from the knowledge base).
    FixAction { #[default] /** Comment out the lines of startup files that set a variable. */ CommentStartupLines = "comment-startup-lines", /** A new venv with a stack that carries code for the GPU. */ NativeVenv = "native-venv", /** Add the user to the device nodes' groups. */ AddGroups = "add-groups", /** Write the user's config layer. */ UserConfig = "user-config", /** Steps printed for the user to take; nothing changed. */ Print = "print" }
}
vocabulary! {
    /// What became of one `fix` step.
    FixStepState { #[default] /** Planned (a dry run, or declined). */ Planned = "planned", /** Done and verified. */ Done = "done", /** Failed; everything the fix changed was undone. */ Failed = "failed", /** Printed for the user; nothing changed. */ Printed = "printed", /** Not done: it depends on something that cannot be done here (said in `detail`). */ Skipped = "skipped" }
}
vocabulary! {
    /// How a `fix` ended (its exit code follows from it).
    FixOutcome { #[default] /** Nothing to fix: no finding has a remedy (exit 0). */ NothingToFix = "nothing-to-fix", /** The plan was shown, nothing changed (`--dry-run`). */ DryRun = "dry-run", /** The user declined, or no terminal and no `--yes` (exit 2). */ Declined = "declined", /** Applied; no error finding remains and the probe passed (exit 0). */ Fixed = "fixed", /** Applied, but error findings remain or the probe did not pass (exit 1). */ Incomplete = "incomplete", /** A step failed and everything was rolled back (exit 3). */ RolledBack = "rolled-back" }
}

/// One step of `fix`'s plan.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct FixPlanStep {
    /// The remedy's action.
    pub action: FixAction,
    /// One line.
    pub title: String,
    /// The findings it addresses.
    pub findings: Vec<String>,
    /// Why this remedy (from the knowledge base).
    pub why: String,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
    /// What it changes: files (`path:line`), packages, groups, directories.
    pub changes: Vec<String>,
    /// What it leaves alone on purpose, with the reason (lines it cannot safely edit).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub untouched: Vec<String>,
    /// Commands it runs, or (for `print`) the commands for the user.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub commands: Vec<String>,
    /// It needs root (or `--system`).
    pub needs_root: bool,
    /// It takes effect at the next login.
    pub relogin: bool,
    /// It takes effect after a reboot.
    pub reboot: bool,
    /// How it is undone.
    pub undo: String,
    /// How it is verified.
    pub verify: String,
    /// What became of it.
    pub state: FixStepState,
    /// What happened, when it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

/// A finding, briefly (before/after in `fix`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct FindingBrief {
    /// Finding id.
    pub id: String,
    /// Severity.
    pub severity: Severity,
    /// Its subject (`node 1`, `file:line`), when it has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subject: Option<String>,
    /// Title.
    pub title: String,
}

/// The probe run that verifies a fix, or why none ran.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct FixProbe {
    /// The probe ran.
    pub ran: bool,
    /// Why it did not run, or why its result does not count as a GPU pass.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
    /// The interpreter it ran with.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub python: Option<String>,
    /// `cuda` or `cpu`, when it ran.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub device: Option<ProbeDevice>,
    /// Probes that passed.
    pub passed: u32,
    /// Probes run.
    pub total: u32,
    /// Names of the probes that did not pass.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub failed: Vec<String>,
    /// It ran on the GPU and every probe passed.
    pub gpu_verified: bool,
}

/// `rocm-patch fix` result.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct FixReport {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// The root the machine was read from.
    pub sysroot: String,
    /// How it ended.
    pub outcome: FixOutcome,
    /// Findings before.
    pub before: Vec<FindingBrief>,
    /// The plan, with each step's state.
    pub steps: Vec<FixPlanStep>,
    /// The deploy transaction that holds every change (`rollback ID` undoes the fix).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub transaction: Option<String>,
    /// The new venv, when one was made.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub venv: Option<String>,
    /// Findings after, read again as a new login shell would see the machine (null when
    /// nothing was applied).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub after: Option<Vec<FindingBrief>>,
    /// Error findings of `before` that are gone.
    pub fixed: Vec<String>,
    /// Error findings still there after.
    pub remaining: Vec<String>,
    /// Error findings of environments the fix did not touch (it made a new venv
    /// instead): not fixed, superseded — they stay until the app uses the new venv.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub superseded: Vec<String>,
    /// The verification probe.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub probe: Option<FixProbe>,
    /// Lines for the current shell (`unset …`): a fix cannot change the shell it runs in.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub current_shell: Vec<String>,
    /// How to use what was made (the venv with `rocm-patch run --venv`, activate lines).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub next: Vec<String>,
    /// Why it stopped, when it failed or was declined.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl FixReport {
    /// The exit status of `fix` that ended so: 0 nothing left to fix (a dry run: no error
    /// finding), 1 error findings remain or the probe did not pass, 2 declined, 3 rolled
    /// back.
    pub fn exit_code(&self) -> u8 {
        match self.outcome {
            FixOutcome::NothingToFix | FixOutcome::Fixed => exit::OK,
            FixOutcome::DryRun => {
                if self.before.iter().any(|f| f.severity == Severity::Error) {
                    exit::FINDING
                } else {
                    exit::OK
                }
            }
            FixOutcome::Incomplete => exit::FINDING,
            FixOutcome::Declined => exit::TOOL_ERROR,
            FixOutcome::RolledBack => exit::ROLLED_BACK,
        }
    }
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

impl InspectReport {
    /// The exit status of `inspect`: 2 when a file could not be read, 1 when a GPU was
    /// named and a library lacks it (or nothing has GPU code at all), else 0.
    pub fn exit_code(&self) -> u8 {
        if self.files.iter().any(|f| f.error.is_some()) {
            exit::TOOL_ERROR
        } else if self.coverage.as_ref().is_some_and(|c| {
            !c.missing.is_empty()
                || !c.partial.is_empty()
                // Nothing with GPU code at all: nothing runs on the GPU named.
                || c.covered.is_empty()
        }) {
            exit::FINDING
        } else {
            exit::OK
        }
    }
}
