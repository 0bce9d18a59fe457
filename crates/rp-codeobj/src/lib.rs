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

use object::read::archive::ArchiveFile;
use object::{Object, ObjectSection};
#[cfg(feature = "parallel")]
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::io::{self, Read};

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

const MAX_DEPTH: u32 = 4;
thread_local! {
    /// One zstd context per thread for kpack kernels: creating one costs more than
    /// reading a kernel's header.
    static FRAMES: std::cell::RefCell<Option<kpack::Frames>> = const { std::cell::RefCell::new(None) };
}

/// How much of each kpack kernel is decompressed to read its ELF header and notes.
const KPACK_PREFIX: u64 = 16 << 10;
const ALIGN: usize = 4096;
/// How much of each blob a deep scan reads to parse its header and notes.
const DEEP_BLOB_PREFIX: u64 = 64 << 10;

struct Ctx<'s> {
    opts: Options,
    depth: u32,
    member: Option<String>,
    out: &'s mut Scan,
    release: &'s mut dyn FnMut(usize, usize),
}

impl Ctx<'_> {
    fn fail(&mut self, e: Error) {
        if self.out.error.is_none() {
            self.out.error = Some(e);
        }
    }
}

/// List the device code objects in `data`, one whole file.
pub fn scan(data: &[u8], opts: &Options) -> Scan {
    scan_with_release(data, opts, &mut |_, _| {})
}

/// [`scan`], calling `release(offset, len)` for each region of `data` it is done with
/// (each bundle of a `.hip_fatbin`), so a caller that mapped the file can drop those
/// pages and keep its resident memory independent of the file's size.
pub fn scan_with_release(
    data: &[u8],
    opts: &Options,
    release: &mut dyn FnMut(usize, usize),
) -> Scan {
    let mut out = Scan {
        format: sniff(data),
        ..Scan::default()
    };
    let mut ctx = Ctx {
        opts: *opts,
        depth: 0,
        member: None,
        out: &mut out,
        release,
    };
    if let Err(e) = scan_any(data, 0, &mut ctx) {
        ctx.fail(e);
    }
    out
}

// The ELF reader (object, built with its `unaligned` feature) reads headers at any
// address, so an `ar` member at an odd offset is parsed where it lies, never copied (a
// 1 GiB object inside a `.a` costs no extra memory).

fn scan_any(data: &[u8], file_base: u64, ctx: &mut Ctx) -> Result<()> {
    match sniff(data) {
        Some(Format::CodeObject) => {
            let info = amdgpu::parse(data)?;
            let co = code_object_from_info(&info, None, data.len() as u64, Some(file_base), ctx);
            ctx.out.code_objects.push(co);
            Ok(())
        }
        Some(Format::HostElf) => scan_host_elf(data, file_base, ctx),
        Some(Format::Bundle) => scan_bundle(data, file_base, ctx).map(|_| ()),
        Some(Format::CompressedBundle) => scan_ccob(data, ctx).map(|_| ()),
        Some(Format::Archive) => scan_archive(data, file_base, ctx),
        Some(Format::Kpack) => scan_kpack(data, file_base, ctx),
        None => Ok(()),
    }
}

fn code_object_from_info(
    info: &amdgpu::Info,
    entry: Option<&bundle::EntryId>,
    size: u64,
    offset: Option<u64>,
    ctx: &Ctx,
) -> CodeObject {
    let header_target = info.target.as_ref();
    let (target_id, processor) = match (entry.and_then(|e| e.target.as_ref()), header_target) {
        (Some(t), _) | (None, Some(t)) => (t.to_string(), Some(t.processor.clone())),
        (None, None) => (info.processor_text.clone(), None),
    };
    let mut warning = None;
    if let (Some(e), Some(h)) = (entry.and_then(|e| e.target.as_ref()), header_target) {
        if e.processor != h.processor {
            warning = Some(format!("bundle id says {e} but the ELF header says {h}"));
        }
    }
    if let (Some(m), Some(h)) = (&info.metadata_target, header_target) {
        if m.split(':').next() != Some(h.processor.as_str()) && warning.is_none() {
            warning = Some(format!(
                "metadata note says {m} but the ELF header says {h}"
            ));
        }
    }
    CodeObject {
        target_id,
        processor,
        bundle_id: None,
        compression: None,
        ccob_version: None,
        code_object_version: info.code_object_version,
        size,
        offset,
        generic_version: info.generic_version,
        member: ctx.member.clone(),
        binary: None,
        kpack_arch: None,
        warning,
    }
}

fn code_object_from_entry(entry: &bundle::Entry, id: &bundle::EntryId, ctx: &Ctx) -> CodeObject {
    let target_id = match (&id.target, &id.target_text) {
        (Some(t), _) => t.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => entry.id.clone(),
    };
    CodeObject {
        processor: id.target.as_ref().map(|t| t.processor.clone()),
        target_id,
        bundle_id: Some(entry.id.clone()),
        compression: None,
        ccob_version: None,
        code_object_version: None,
        size: entry.size,
        offset: None,
        generic_version: None,
        member: ctx.member.clone(),
        binary: None,
        kpack_arch: None,
        warning: None,
    }
}

/// Scan an uncompressed bundle at the start of `data`; returns its extent.
fn scan_bundle(data: &[u8], file_base: u64, ctx: &mut Ctx) -> Result<u64> {
    let header = bundle::read_header(&mut &data[..], data.len() as u64)?;
    ctx.out.bundles += 1;
    for entry in &header.entries {
        let id = bundle::parse_entry_id(&entry.id);
        if id.is_host() {
            continue;
        }
        // read_header checked offset + size <= data.len().
        let blob = &data[entry.offset as usize..(entry.offset + entry.size) as usize];
        let offset = Some(file_base + entry.offset);
        let mut co = match amdgpu::parse(blob) {
            Ok(info) => code_object_from_info(&info, Some(&id), entry.size, offset, ctx),
            Err(e) => {
                let mut co = code_object_from_entry(entry, &id, ctx);
                co.offset = offset;
                co.warning = Some(format!("entry is not a readable code object: {e}"));
                co
            }
        };
        co.bundle_id = Some(entry.id.clone());
        ctx.out.code_objects.push(co);
    }
    Ok(header.extent())
}

/// Scan a compressed bundle at the start of `data`; returns its extent.
fn scan_ccob(data: &[u8], ctx: &mut Ctx) -> Result<u64> {
    let h = if ctx.opts.prefix {
        ccob::parse_fields(data)?
    } else {
        ccob::parse_header(data)?
    };
    let extent = h.extent(data);
    let mut stream = ccob::HashingReader::new(h.decoder(data)?);
    let header = bundle::read_header(&mut stream, h.uncompressed_size)?;
    ctx.out.bundles += 1;
    let mut consumed: u64 = 32
        + header
            .entries
            .iter()
            .map(|e| 24 + e.id.len() as u64)
            .sum::<u64>();
    let mut found = Vec::new();
    for entry in &header.entries {
        let id = bundle::parse_entry_id(&entry.id);
        if id.is_host() {
            continue;
        }
        let mut co = code_object_from_entry(entry, &id, ctx);
        co.compression = Some(h.method);
        co.ccob_version = Some(h.version);
        found.push((entry.offset, entry.size, id, co));
    }
    if ctx.opts.deep && !ctx.opts.prefix {
        // Entries are stored in increasing offset order; read each blob's header as
        // the stream passes it, then drain the rest to check size and hash.
        found.sort_by_key(|f| f.0);
        for (offset, size, id, co) in &mut found {
            if *offset < consumed {
                continue;
            }
            skip(&mut stream, *offset - consumed)?;
            let want = (*size).min(DEEP_BLOB_PREFIX);
            let mut buf = Vec::with_capacity(want as usize);
            (&mut stream)
                .take(want)
                .read_to_end(&mut buf)
                .map_err(|e| Error::from_io(e, "blob"))?;
            consumed = *offset + buf.len() as u64;
            match amdgpu::parse(&buf) {
                Ok(info) => {
                    let mut parsed = code_object_from_info(&info, Some(id), *size, None, ctx);
                    parsed.bundle_id = co.bundle_id.take();
                    parsed.compression = co.compression;
                    parsed.ccob_version = co.ccob_version;
                    *co = parsed;
                }
                Err(e) => co.warning = Some(format!("entry is not a readable code object: {e}")),
            }
        }
        let rest = io::copy(&mut stream, &mut io::sink())
            .map_err(|e| Error::from_io(e, "CCOB payload"))?;
        consumed += rest;
        if consumed != h.uncompressed_size {
            return Err(Error::Decompress(format!(
                "payload is {consumed} bytes, header says {}",
                h.uncompressed_size
            )));
        }
        if stream.hash() != h.hash {
            return Err(Error::Decompress(format!(
                "hash mismatch: header {:#018x}, payload {:#018x}",
                h.hash,
                stream.hash()
            )));
        }
    }
    ctx.out.code_objects.extend(found.into_iter().map(|f| f.3));
    Ok(extent)
}

fn skip(r: &mut impl Read, n: u64) -> Result<()> {
    let got =
        io::copy(&mut r.take(n), &mut io::sink()).map_err(|e| Error::from_io(e, "CCOB payload"))?;
    if got != n {
        return Err(Error::Truncated("CCOB payload"));
    }
    Ok(())
}

const HIPF: u32 = 0x4849_5046;
const HIPK: u32 = 0x4B50_4948;

fn scan_host_elf(data: &[u8], file_base: u64, ctx: &mut Ctx) -> Result<()> {
    let file = object::File::parse(data).map_err(|e| Error::Malformed {
        what: "ELF",
        why: e.to_string(),
    })?;
    // Wrapper records give bundle addresses (docs/code-objects.md); pointers left as 0
    // (relocatables, lld) are found by the section walk instead.
    let mut wrapper_ptrs = Vec::new();
    let mut kpack = 0usize;
    let mut units = Vec::new();
    if let Some(seg) = file.section_by_name(".hipFatBinSegment") {
        if let Ok(d) = seg.data() {
            for rec in d.chunks_exact(24) {
                let magic = u32::from_le_bytes(rec[0..4].try_into().expect("4 bytes"));
                let ptr = u64::from_le_bytes(rec[8..16].try_into().expect("8 bytes"));
                let reserved1 = u64::from_le_bytes(rec[16..24].try_into().expect("8 bytes"));
                match magic {
                    HIPF if ptr != 0 => wrapper_ptrs.push(ptr),
                    HIPK => {
                        kpack += 1;
                        units.push(reserved1);
                    }
                    _ => {}
                }
            }
        }
    }
    units.sort_unstable();
    units.dedup();
    ctx.out.kpack_units = units;
    match file.section_by_name(kpack::REF_SECTION).map(|s| s.data()) {
        Some(Ok(d)) => match kpack::parse_ref(d) {
            Ok(r) => ctx.out.kpack_ref = Some(r),
            Err(e) => ctx.fail(e),
        },
        Some(Err(e)) => ctx.fail(Error::Malformed {
            what: "ELF",
            why: format!("{}: {e}", kpack::REF_SECTION),
        }),
        None if kpack > 0 => ctx.out.notes.push(format!(
            "{kpack} HIPK wrapper(s) but no {} section: the runtime cannot find this binary's device code",
            kpack::REF_SECTION
        )),
        None => {}
    }
    if let Some(fb) = file.section_by_name(".hip_fatbin") {
        if let Some((off, size)) = fb.file_range() {
            let end = off
                .checked_add(size)
                .filter(|&e| e <= data.len() as u64)
                .ok_or(Error::OutOfBounds {
                    what: ".hip_fatbin section",
                    offset: off,
                    size,
                    avail: data.len() as u64,
                })?;
            let sec = &data[off as usize..end as usize];
            let addr = fb.address();
            let hinted: BTreeSet<u64> = wrapper_ptrs
                .iter()
                .filter(|&&p| p >= addr && p < addr + size)
                .map(|&p| p - addr)
                .collect();
            walk_fatbin(sec, off as usize, file_base + off, &hinted, ctx);
        }
    }
    for section in file.sections() {
        let Ok(name) = section.name() else { continue };
        let Some(id) = name.strip_prefix("__CLANG_OFFLOAD_BUNDLE__") else {
            continue;
        };
        let eid = bundle::parse_entry_id(id);
        if eid.is_host() {
            continue;
        }
        let (Ok(d), Some((off, _))) = (section.data(), section.file_range()) else {
            continue;
        };
        let entry = bundle::Entry {
            id: id.to_string(),
            offset: off,
            size: d.len() as u64,
        };
        let mut co = match amdgpu::parse(d) {
            Ok(info) => {
                code_object_from_info(&info, Some(&eid), entry.size, Some(file_base + off), ctx)
            }
            Err(_) => code_object_from_entry(&entry, &eid, ctx),
        };
        co.bundle_id = Some(entry.id);
        ctx.out.code_objects.push(co);
    }
    if file.section_by_name(".llvm.offloading").is_some() {
        ctx.out.notes.push(
            "has an .llvm.offloading section (clang new offload driver); not inspected".into(),
        );
    }
    Ok(())
}

fn align_up(x: usize) -> usize {
    x.div_ceil(ALIGN).saturating_mul(ALIGN)
}

/// Walk a `.hip_fatbin` section (docs/code-objects.md): bundles sit at 4096-aligned offsets
/// with zero padding between them. Wrapper hints are parsed too if the walk missed
/// them. An unreadable bundle is recorded and the walk goes on.
fn walk_fatbin(sec: &[u8], sec_off: usize, base: u64, hinted: &BTreeSet<u64>, ctx: &mut Ctx) {
    let mut done = BTreeSet::new();
    let mut p = 0usize;
    // CCOB v1 has no size: it runs to the next bundle, found by a magic scan.
    let next_magic = |from: usize| {
        let mut q = align_up(from);
        while q + 4 <= sec.len() {
            if sec[q..].starts_with(bundle::MAGIC) || sec[q..].starts_with(ccob::MAGIC) {
                return q;
            }
            q += ALIGN;
        }
        sec.len()
    };
    let one = |p: usize, ctx: &mut Ctx| -> Option<usize> {
        let rest = &sec[p..];
        let r = if rest.starts_with(bundle::MAGIC) {
            scan_bundle(rest, base + p as u64, ctx).map(|e| e as usize)
        } else if rest.starts_with(ccob::MAGIC) {
            let end = match ccob::parse_header(rest) {
                Ok(h) if h.total_size.is_none() => next_magic(p + 1),
                _ => sec.len(),
            };
            scan_ccob(&sec[p..end], ctx).map(|e| e as usize)
        } else {
            return None;
        };
        match r {
            Ok(extent) => Some(extent.max(1)),
            Err(e) => {
                ctx.fail(e);
                Some(1)
            }
        }
    };
    while p + 4 <= sec.len() {
        match one(p, ctx) {
            Some(extent) => {
                done.insert(p as u64);
                if ctx.depth == 0 {
                    (ctx.release)(sec_off + p, extent.min(sec.len() - p));
                }
                p = align_up(p.saturating_add(extent));
            }
            None => p = align_up(p + 1),
        }
    }
    for &h in hinted {
        if !done.contains(&h) && (h as usize) < sec.len() {
            one(h as usize, ctx);
        }
    }
}

fn scan_archive(data: &[u8], file_base: u64, ctx: &mut Ctx) -> Result<()> {
    if ctx.depth >= MAX_DEPTH {
        return Err(Error::Limit {
            what: "archive nesting depth",
            value: ctx.depth as u64,
        });
    }
    let archive = ArchiveFile::parse(data).map_err(|e| Error::Malformed {
        what: "ar archive",
        why: e.to_string(),
    })?;
    let outer = ctx.member.clone();
    for member in archive.members() {
        let member = member.map_err(|e| Error::Malformed {
            what: "ar archive",
            why: e.to_string(),
        })?;
        let name = String::from_utf8_lossy(member.name()).into_owned();
        let path = match &outer {
            Some(o) => format!("{o}/{name}"),
            None => name,
        };
        if member.is_thin() {
            ctx.out.notes.push(format!(
                "thin archive member {path} (external file) not followed"
            ));
            continue;
        }
        let (off, _) = member.file_range();
        let Ok(d) = member.data(data) else {
            ctx.fail(Error::Truncated("ar member"));
            continue;
        };
        let mut sub = Ctx {
            opts: ctx.opts,
            depth: ctx.depth + 1,
            member: Some(path),
            out: ctx.out,
            release: ctx.release,
        };
        if let Err(e) = scan_any(d, file_base + off, &mut sub) {
            sub.fail(e);
        }
    }
    Ok(())
}

/// List the kernels of a kpack archive: each one's target from its own ELF header
/// (decompressing only the start of its frame), cross-checked with the processor the
/// table files it under. A deep scan decompresses every kernel and checks its size.
fn scan_kpack(data: &[u8], file_base: u64, ctx: &mut Ctx) -> Result<()> {
    let archive = kpack::parse(data)?;
    // Each kernel's header, read on every core (the first zstd block of each frame is
    // the whole cost); only the parsed headers are kept.
    let deep = ctx.opts.deep;
    #[cfg(feature = "parallel")]
    let entries = archive.entries.par_iter();
    // Without `parallel` (the trace interposer: no thread pool in the traced process),
    // one after the other.
    #[cfg(not(feature = "parallel"))]
    let entries = archive.entries.iter();
    let infos: Vec<Result<amdgpu::Info>> = entries
        .map(|e| {
            FRAMES.with(|f| {
                let mut f = f.borrow_mut();
                if f.is_none() {
                    *f = Some(kpack::Frames::new()?);
                }
                let frames = f.as_mut().expect("set above");
                let head = if deep {
                    archive.kernel(frames, data, e)
                } else {
                    archive.prefix_with(frames, data, e.ordinal, KPACK_PREFIX)
                };
                head.and_then(|h| amdgpu::parse(&h))
            })
        })
        .collect();
    let mut binaries = BTreeSet::new();
    for (e, info) in archive.entries.iter().zip(infos) {
        binaries.insert(e.binary.as_str());
        let (off, stored) = archive.stored(e.ordinal).unwrap_or_default();
        let (size, offset, compression) = match archive.scheme {
            kpack::Scheme::None => (stored, Some(file_base + off), None),
            kpack::Scheme::ZstdPerKernel => (
                e.original_size.unwrap_or(stored),
                None,
                Some(ccob::Method::Zstd),
            ),
        };
        let mut co = match info {
            Ok(info) => {
                let mut co = code_object_from_info(&info, None, size, offset, ctx);
                if co.processor.as_deref() != Some(e.processor.as_str()) {
                    co.warning.get_or_insert(format!(
                        "the table files it under {} but its ELF header says {}",
                        e.processor, co.target_id
                    ));
                }
                co
            }
            Err(err) => CodeObject {
                target_id: e.processor.clone(),
                processor: e
                    .processor
                    .parse::<rp_target_id::TargetId>()
                    .ok()
                    .map(|t| t.processor),
                bundle_id: None,
                compression: None,
                ccob_version: None,
                code_object_version: None,
                size,
                offset,
                generic_version: None,
                member: ctx.member.clone(),
                binary: None,
                kpack_arch: None,
                warning: Some(format!(
                    "kernel {} is not a readable code object: {err}",
                    e.ordinal
                )),
            },
        };
        co.compression = compression;
        co.binary = Some(e.binary.clone());
        co.kpack_arch = Some(e.processor.clone());
        if e.kind.as_deref().is_some_and(|k| k != "hsaco") {
            co.warning.get_or_insert(format!(
                "entry type {} is not a code object",
                e.kind.as_deref().unwrap_or_default()
            ));
        }
        ctx.out.code_objects.push(co);
    }
    ctx.out.kpack = Some(KpackSummary {
        group_name: archive.group_name.clone(),
        gfx_arch_family: archive.gfx_arch_family.clone(),
        gfx_arches: archive.gfx_arches.clone(),
        scheme: archive.scheme,
        binaries: binaries.len() as u32,
    });
    Ok(())
}
