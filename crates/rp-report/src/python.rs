//! Python environments and the torch installed in them, as `doctor` reads them.

use crate::{MiopenCheck, TensileDir};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// The package indexes `pip install` uses in this environment, as pip resolves its
    /// configuration files and `PIP_*` variables: the `index-url` in force (none: PyPI)
    /// and the `extra-index-url`s in force, credentials removed.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub pip_indexes: Vec<PipIndex>,
    /// pip's configuration files that pip cannot load (`FILE: line N: why`): every pip
    /// command fails in this environment until they are fixed.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub pip_config_errors: Vec<String>,
    /// Why the environment could not be (fully) read.
    pub error: Option<String>,
}

vocabulary! {
    /// Which of pip's package-index settings (pip's `--index-url`, `--extra-index-url`).
    PipIndexKey { #[default] /** Replaces PyPI. */ IndexUrl = "index-url", /** Searched besides it. */ ExtraIndexUrl = "extra-index-url" }
}

/// One package-index setting of pip's.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct PipIndex {
    /// The configuration file or variable that sets it.
    pub source: String,
    /// The file's section that sets it (`global`, `install`); none for a variable.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub section: Option<String>,
    /// `index-url` or `extra-index-url`.
    pub key: PipIndexKey,
    /// The URL, without user name or password.
    pub url: String,
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
