//! The machine-readable contract of rocm-patch: one data model per command, rendered
//! as JSON by the binary and as text by its human renderer. Fields are only ever
//! added; `schema` changes if one is removed or changes meaning.
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Current schema number of every report.
pub const SCHEMA: u32 = 1;

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
    pub format: Option<String>,
    /// Bundles found in the file.
    pub bundles: u32,
    /// The device code objects, in file order.
    pub code_objects: Vec<CodeObjectReport>,
    /// A GPU library data file recognised by its name (Tensile, MIOpen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library_file: Option<LibraryFile>,
    /// Other facts (kpack references, members not followed, …).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
}

/// One device code object.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct CodeObjectReport {
    /// Target id, e.g. `gfx90a:xnack-`.
    pub target_id: String,
    /// `none`, `zlib` or `zstd`.
    pub compression: String,
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
    /// Something odd about it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub warning: Option<String>,
}

/// A Tensile, TensileLite or MIOpen file recognised by name (formats.md §3).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct LibraryFile {
    /// `rocblas-tensile`, `hipblaslt` or `miopen`.
    pub library: String,
    /// `catalog`, `code-object`, `kernel-db`, `find-db`, `perf-db`, …
    pub role: String,
    /// The arch the name (or its per-arch directory) gives, when it gives one.
    pub arch: Option<String>,
}

/// A Tensile library directory.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct TensileDir {
    /// The directory.
    pub path: String,
    /// `rocblas-tensile` or `hipblaslt`.
    pub library: String,
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
}

/// A covered library.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct CoveredLibrary {
    /// File or directory.
    pub path: String,
    /// `exact` or `generic`.
    pub how: String,
}
