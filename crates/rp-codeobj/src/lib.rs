//! Pure parsers for the containers that carry AMDGPU machine code.
//!
//! [`scan`] takes the bytes of one file and lists every device code object in it:
//! host ELF files whose `.hip_fatbin` holds uncompressed or CCOB-compressed bundles,
//! standalone bundles, standalone code objects and `ar` archives of any of these
//! (docs/code-objects.md). It reads only what it must: bundle entry tables, the ELF
//! header and notes of each blob, and for compressed bundles only as much output as it
//! takes to reach the entry table (the whole stream only with [`Options::deep`]).
//!
//! Nothing here does I/O or prints; hostile input yields an [`Error`], never a panic,
//! and allocation is bounded by constants or by the input's size.
#![deny(missing_docs)]

pub mod amdgpu;
pub mod bundle;
pub mod ccob;
pub mod kpack;

mod scanner;

pub use scanner::{scan, scan_with_release};

use std::io;

/// Parse failures. Messages are lowercase fragments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The data ends before a structure does.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// The magic is not what the format needs.
    #[error("not a {0}: bad magic")]
    BadMagic(&'static str),
    /// A count or size beyond the sanity limits.
    #[error("{what} {value} is beyond the sanity limit")]
    Limit {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// A structure points outside the data that holds it.
    #[error("{what} at offset {offset} size {size} runs past the {avail} bytes available")]
    OutOfBounds {
        /// The structure.
        what: &'static str,
        /// Its offset.
        offset: u64,
        /// Its size.
        size: u64,
        /// Bytes available.
        avail: u64,
    },
    /// A structurally invalid value.
    #[error("invalid data: {0}")]
    Invalid(&'static str),
    /// A valid but unsupported variant.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Decompression failed or the payload does not match its header.
    #[error("decompression failed: {0}")]
    Decompress(String),
    /// The host ELF or archive could not be parsed.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// ELF or archive.
        what: &'static str,
        /// The parser's reason.
        why: String,
    },
}

impl Error {
    fn from_io(e: io::Error, what: &'static str) -> Error {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Error::Truncated(what)
        } else {
            Error::Decompress(e.to_string())
        }
    }
}

/// A little-endian integer at `at`, when the data holds it (any offset type: an offset
/// beyond `usize` or past the end is `None`, never a panic).
pub(crate) fn le_bytes<const N: usize>(b: &[u8], at: impl TryInto<usize>) -> Option<[u8; N]> {
    let at: usize = at.try_into().ok()?;
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

pub(crate) fn le_u16(b: &[u8], at: impl TryInto<usize>) -> Option<u16> {
    le_bytes(b, at).map(u16::from_le_bytes)
}

pub(crate) fn le_u32(b: &[u8], at: impl TryInto<usize>) -> Option<u32> {
    le_bytes(b, at).map(u32::from_le_bytes)
}

pub(crate) fn le_u64(b: &[u8], at: impl TryInto<usize>) -> Option<u64> {
    le_bytes(b, at).map(u64::from_le_bytes)
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a file is laid out, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A host ELF (executable, shared library, relocatable).
    HostElf,
    /// An AMDGPU code object.
    CodeObject,
    /// An uncompressed offload bundle.
    Bundle,
    /// A CCOB compressed offload bundle.
    CompressedBundle,
    /// An `ar` archive.
    Archive,
    /// A kpack archive of device code split out of host binaries.
    Kpack,
}

impl Format {
    /// Stable name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::HostElf => "host-elf",
            Format::CodeObject => "code-object",
            Format::Bundle => "bundle",
            Format::CompressedBundle => "compressed-bundle",
            Format::Archive => "archive",
            Format::Kpack => "kpack",
        }
    }
}

/// Recognise a file from its first bytes (at least 24 for bundles, 20 for ELF).
pub fn sniff(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"\x7fELF") {
        Some(if amdgpu::is_amdgpu_elf(head) {
            Format::CodeObject
        } else {
            Format::HostElf
        })
    } else if head.starts_with(bundle::MAGIC) {
        Some(Format::Bundle)
    } else if head.starts_with(ccob::MAGIC) {
        Some(Format::CompressedBundle)
    } else if head.starts_with(b"!<arch>\n") || head.starts_with(b"!<thin>\n") {
        Some(Format::Archive)
    } else if head.starts_with(kpack::MAGIC) {
        Some(Format::Kpack)
    } else {
        None
    }
}

/// One device code object found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeObject {
    /// Target id, e.g. `gfx90a:xnack-`, or the raw text when it is not a valid id.
    pub target_id: String,
    /// The processor part of the target id, when known.
    pub processor: Option<String>,
    /// The bundle entry id, when the code object came from a bundle.
    pub bundle_id: Option<String>,
    /// `None` for uncompressed data, else the CCOB method.
    pub compression: Option<ccob::Method>,
    /// CCOB format version, for compressed bundles.
    pub ccob_version: Option<u16>,
    /// Code object version from the ELF header, when the header was read.
    pub code_object_version: Option<u8>,
    /// Size of the code object in bytes.
    pub size: u64,
    /// Offset of the code object in the file, when it is stored uncompressed.
    pub offset: Option<u64>,
    /// Generic version, for generic targets.
    pub generic_version: Option<u8>,
    /// The `ar` member holding it, if any.
    pub member: Option<String>,
    /// The host binary a kpack archive files it under (its key in the table,
    /// `lib/libtorch_hip.so#0`).
    pub binary: Option<String>,
    /// The architecture a kpack archive's table files it under (`gfx1010`,
    /// `gfx90a:xnack-`): the string the runtime looks up, which may differ from the ELF
    /// header's target id.
    pub kpack_arch: Option<String>,
    /// Something odd about this code object (id and header disagree, …).
    pub warning: Option<String>,
}

/// Knobs for [`scan`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Decompress compressed bundles completely: read each code object's header and
    /// verify the CCOB size and hash. Off by default (only entry tables are read).
    pub deep: bool,
    /// The data may be only a prefix of a compressed bundle (a bounded capture from a
    /// stream): sizes are not checked against it, and only the entry table is read.
    pub prefix: bool,
}

/// Everything [`scan`] found in one file.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The file's layout, when recognised.
    pub format: Option<Format>,
    /// The device code objects, in file order.
    pub code_objects: Vec<CodeObject>,
    /// Bundles found (uncompressed and compressed).
    pub bundles: u32,
    /// Facts worth telling that are not code objects.
    pub notes: Vec<String>,
    /// For a kpack archive: what its table says of it.
    pub kpack: Option<KpackSummary>,
    /// For a kpack'd host binary: its key and the archives that hold its device code.
    pub kpack_ref: Option<kpack::KpackRef>,
    /// For a kpack'd host binary: the code-object index of each HIPK wrapper (its
    /// `reserved1` field, which TheRock's kpacker sets to the wrapper's position and
    /// the HIP runtime passes on as `co_index`: one per translation unit), sorted,
    /// without repeats (rocm-kpack `python/rocm_kpack/elf/kpack_transform.py`,
    /// rewrite of the wrappers; docs/code-objects.md, "Kpack").
    pub kpack_units: Vec<u64>,
    /// The first error met. Code objects found before and after it are kept: a bad
    /// bundle does not hide the good ones.
    pub error: Option<Error>,
}

/// What a kpack archive's table says of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpackSummary {
    /// `group_name`.
    pub group_name: Option<String>,
    /// `gfx_arch_family`.
    pub gfx_arch_family: Option<String>,
    /// `gfx_arches`.
    pub gfx_arches: Vec<String>,
    /// The compression scheme.
    pub scheme: kpack::Scheme,
    /// Host binaries with kernels in it.
    pub binaries: u32,
}
