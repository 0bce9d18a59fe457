//! `inspect` reports: what device code files hold, Tensile directories, and
//! whether a GPU can load them.

use crate::{exit, MiopenCheck};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

vocabulary! {
    /// How a kpack archive stores its kernels (rocm-kpack's `compression_scheme`).
    KpackScheme { #[default] /** Each kernel its own zstd frame. */ ZstdPerKernel = "zstd-per-kernel", /** Stored as they are. */ None = "none" }
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

/// `rocm-patch inspect` result.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct InspectReport {
    /// Always [`SCHEMA`](crate::SCHEMA).
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
    pub compression_scheme: KpackScheme,
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
