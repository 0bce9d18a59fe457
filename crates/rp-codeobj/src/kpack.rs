//! Kpack: device code split out of host binaries (AMD TheRock; docs/code-objects.md,
//! "Kpack").
//!
//! A `.kpack` archive is a 16-byte header (`KPAK`, a `u32` version, the `u64` offset of
//! the table of contents), padding to 64 bytes, the kernel blob, and a MessagePack table
//! of contents mapping each host binary's key (its path in the install tree) and
//! processor to a kernel ordinal. The `zstd-per-kernel` blob is a `u32` kernel count
//! and, per kernel, a `u32` frame size and one zstd frame; the `none` scheme lists each
//! kernel's absolute offset and size in the table. A kpack'd host binary carries a
//! `.rocm_kpack_ref` section: a MessagePack map with its key and the archives to search.
//!
//! Reading is bounded: the table is decoded from the bytes that follow its offset (no
//! larger than the file), frame indexes cost 16 bytes per kernel and are capped by the
//! blob's size, and a kernel is decompressed alone, up to the size it declares.

use crate::{le_u16, le_u32, le_u64, Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The 4-byte magic of an archive.
pub const MAGIC: &[u8; 4] = b"KPAK";
/// The only archive version there is.
pub const VERSION: u32 = 1;
/// The name of the section of a kpack'd host binary that names its archives.
pub const REF_SECTION: &str = ".rocm_kpack_ref";
/// Largest table of contents read, in bytes.
pub const MAX_TOC: u64 = 256 << 20;
/// Largest kernel decompressed whole.
pub const MAX_KERNEL: u64 = 1 << 30;
/// Deepest MessagePack nesting accepted.
pub const MAX_NESTING: usize = 64;
/// Largest ratio of a kernel's declared size to its compressed frame (a bomb beyond).
pub const MAX_RATIO: u64 = 4096;
/// Most search paths a `.rocm_kpack_ref` may name. TheRock writes one
/// (`../.kpack/{group}_@GFXARCH@.kpack`, rocm-kpack `python/rocm_kpack/elf/kpack_transform.py`);
/// the runtime has no limit, but thousands only cost time here.
pub const MAX_SEARCH_PATHS: usize = 64;
/// Most keys (one per host binary and translation unit) and most entries (keys times
/// architectures) a table of contents may hold; refused before they are stored.
pub const MAX_TOC_ENTRIES: usize = 1 << 18;

/// How an archive stores its kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// One zstd frame per kernel, addressed by ordinal.
    ZstdPerKernel,
    /// Kernels stored as they are, at offsets the table lists.
    None,
}

impl Scheme {
    /// The name the table of contents uses.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::ZstdPerKernel => "zstd-per-kernel",
            Scheme::None => "none",
        }
    }
}

/// One kernel the table lists: a host binary's code object for one processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The host binary's key (its path in the install tree, e.g. `lib/libtorch_hip.so`).
    pub binary: String,
    /// The processor the table files it under (e.g. `gfx1010`).
    pub processor: String,
    /// The entry's type (`hsaco` for code objects).
    pub kind: Option<String>,
    /// Index of the kernel in the blob.
    pub ordinal: u64,
    /// Size of the kernel when decompressed, when the table says.
    pub original_size: Option<u64>,
}

/// A parsed archive: its header, its table, and the index of its kernels.
#[derive(Debug, Clone)]
pub struct Archive {
    /// Header version.
    pub version: u32,
    /// Offset of the table of contents.
    pub toc_offset: u64,
    /// `format_version` of the table.
    pub format_version: Option<u64>,
    /// `group_name` (`torch`, `rocm`, `blas_lib`, …).
    pub group_name: Option<String>,
    /// `gfx_arch_family` (`gfx1010`, `gfx100X`, …).
    pub gfx_arch_family: Option<String>,
    /// Every processor the archive says it covers.
    pub gfx_arches: Vec<String>,
    /// How kernels are stored.
    pub scheme: Scheme,
    /// Every kernel the table lists, sorted by binary and processor.
    pub entries: Vec<Entry>,
    /// Per ordinal: absolute offset and size of the stored kernel (frame or raw bytes).
    frames: Vec<(u64, u64)>,
}

#[derive(Deserialize)]
struct RawToc {
    #[serde(default)]
    format_version: Option<u64>,
    #[serde(default)]
    group_name: Option<String>,
    #[serde(default)]
    gfx_arch_family: Option<String>,
    #[serde(default)]
    gfx_arches: Vec<String>,
    #[serde(default)]
    compression_scheme: Option<String>,
    #[serde(default)]
    zstd_offset: Option<u64>,
    #[serde(default)]
    zstd_size: Option<u64>,
    #[serde(default)]
    blobs: Vec<RawBlob>,
    #[serde(default)]
    toc: BoundedToc,
}

/// The `toc` map, refused when it declares (or holds) more than [`MAX_TOC_ENTRIES`]
/// keys or entries: MessagePack maps state their length first, so a table of a million
/// keys is rejected before anything is stored.
#[derive(Default)]
struct BoundedToc(BTreeMap<String, BTreeMap<String, RawEntry>>);

impl<'de> Deserialize<'de> for BoundedToc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = BoundedToc;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of host binaries to architectures")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<BoundedToc, A::Error> {
                let too_many = || {
                    serde::de::Error::custom(format!(
                        "table of contents has more than {MAX_TOC_ENTRIES} entries"
                    ))
                };
                if map.size_hint().unwrap_or(0) > MAX_TOC_ENTRIES {
                    return Err(too_many());
                }
                let mut out = BTreeMap::new();
                let mut entries = 0usize;
                while let Some((k, v)) = map.next_entry::<String, BoundedArches>()? {
                    entries += v.0.len().max(1);
                    if entries > MAX_TOC_ENTRIES {
                        return Err(too_many());
                    }
                    out.insert(k, v.0);
                }
                Ok(BoundedToc(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// One binary's architectures, bounded like [`BoundedToc`].
struct BoundedArches(BTreeMap<String, RawEntry>);

impl<'de> Deserialize<'de> for BoundedArches {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = BoundedArches;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of architectures to kernels")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<BoundedArches, A::Error> {
                if map.size_hint().unwrap_or(0) > MAX_TOC_ENTRIES {
                    return Err(serde::de::Error::custom(format!(
                        "table of contents has more than {MAX_TOC_ENTRIES} entries"
                    )));
                }
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, RawEntry>()? {
                    out.insert(k, v);
                    if out.len() > MAX_TOC_ENTRIES {
                        return Err(serde::de::Error::custom("too many architectures"));
                    }
                }
                Ok(BoundedArches(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct RawBlob {
    offset: u64,
    size: u64,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    ordinal: Option<u64>,
    #[serde(default)]
    original_size: Option<u64>,
}

/// What a kpack'd host binary's `.rocm_kpack_ref` section says.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KpackRef {
    /// The binary's key in the archives' tables.
    pub kernel_name: String,
    /// Archives to search, relative to the binary, in the runtime's order.
    pub kpack_search_paths: Vec<String>,
}

/// Decode one MessagePack value from the start of `data` (trailing bytes are allowed:
/// sections are padded). Nesting is limited by the decoder's depth limit.
fn msgpack<'de, T: Deserialize<'de>>(data: &'de [u8], what: &'static str) -> Result<T> {
    let mut de = rmp_serde::Deserializer::from_read_ref(data);
    // Tables are four levels deep, kernel-database metadata a few more.
    de.set_max_depth(MAX_NESTING);
    T::deserialize(&mut de).map_err(|e| Error::Malformed {
        what,
        why: e.to_string(),
    })
}

/// Decode a `.rocm_kpack_ref` section.
pub fn parse_ref(section: &[u8]) -> Result<KpackRef> {
    let r: KpackRef = msgpack(section, "kpack reference")?;
    if r.kernel_name.is_empty() {
        return Err(Error::Invalid("kpack reference has an empty kernel_name"));
    }
    if r.kpack_search_paths.len() > MAX_SEARCH_PATHS {
        return Err(Error::Limit {
            what: "kpack search paths",
            value: r.kpack_search_paths.len() as u64,
        });
    }
    Ok(r)
}

/// Parse an archive: header, table of contents and kernel index. No kernel is
/// decompressed.
pub fn parse(data: &[u8]) -> Result<Archive> {
    if !data.starts_with(MAGIC) {
        return Err(Error::BadMagic("kpack archive"));
    }
    let version = le_u32(data, 4).ok_or(Error::Truncated("kpack header"))?;
    let toc_offset = le_u64(data, 8).ok_or(Error::Truncated("kpack header"))?;
    if version != VERSION {
        return Err(Error::Unsupported(format!("kpack version {version}")));
    }
    let len = data.len() as u64;
    if toc_offset < 16 || toc_offset >= len {
        return Err(Error::OutOfBounds {
            what: "kpack table of contents",
            offset: toc_offset,
            size: 1,
            avail: len,
        });
    }
    if len - toc_offset > MAX_TOC {
        return Err(Error::Limit {
            what: "kpack table of contents size",
            value: len - toc_offset,
        });
    }
    let raw: RawToc = msgpack(&data[toc_offset as usize..], "kpack table of contents")?;
    let scheme = match raw.compression_scheme.as_deref() {
        Some("zstd-per-kernel") => Scheme::ZstdPerKernel,
        Some("none") | None => Scheme::None,
        Some(other) => return Err(Error::Unsupported(format!("kpack compression {other}"))),
    };
    let frames = match scheme {
        Scheme::ZstdPerKernel => {
            let (Some(off), Some(size)) = (raw.zstd_offset, raw.zstd_size) else {
                return Err(Error::Invalid(
                    "zstd-per-kernel archive without zstd_offset/zstd_size",
                ));
            };
            frame_index(data, off, size, toc_offset)?
        }
        Scheme::None => {
            let mut f = Vec::with_capacity(raw.blobs.len());
            for b in &raw.blobs {
                check_range(b.offset, b.size, toc_offset, "kpack kernel")?;
                f.push((b.offset, b.size));
            }
            f
        }
    };
    let mut entries = Vec::new();
    for (binary, per) in raw.toc.0 {
        for (processor, e) in per {
            let Some(ordinal) = e.ordinal else {
                return Err(Error::Invalid("kpack table entry without an ordinal"));
            };
            if ordinal >= frames.len() as u64 {
                return Err(Error::Limit {
                    what: "kpack kernel ordinal",
                    value: ordinal,
                });
            }
            entries.push(Entry {
                binary: binary.clone(),
                processor,
                kind: e.kind,
                ordinal,
                original_size: e.original_size,
            });
        }
    }
    Ok(Archive {
        version,
        toc_offset,
        format_version: raw.format_version,
        group_name: raw.group_name,
        gfx_arch_family: raw.gfx_arch_family,
        gfx_arches: raw.gfx_arches,
        scheme,
        entries,
        frames,
    })
}

fn check_range(offset: u64, size: u64, limit: u64, what: &'static str) -> Result<()> {
    match offset.checked_add(size) {
        Some(end) if offset >= 16 && end <= limit => Ok(()),
        _ => Err(Error::OutOfBounds {
            what,
            offset,
            size,
            avail: limit,
        }),
    }
}

/// Walk the frame sizes of a zstd-per-kernel blob (it must end before the table).
fn frame_index(data: &[u8], off: u64, size: u64, limit: u64) -> Result<Vec<(u64, u64)>> {
    check_range(off, size, limit, "kpack zstd blob")?;
    let end = off + size;
    let n = le_u32(data, off).ok_or(Error::Truncated("kpack kernel count"))? as u64;
    // Each kernel takes at least its 4-byte size field.
    if n > (size.saturating_sub(4)) / 4 {
        return Err(Error::Limit {
            what: "kpack kernel count",
            value: n,
        });
    }
    let mut frames = Vec::with_capacity(n as usize);
    let mut p = off + 4;
    for _ in 0..n {
        let fs = le_u32(data, p).ok_or(Error::Truncated("kpack frame size"))? as u64;
        let start = p + 4;
        if start + fs > end {
            return Err(Error::OutOfBounds {
                what: "kpack zstd frame",
                offset: start,
                size: fs,
                avail: end,
            });
        }
        frames.push((start, fs));
        p = start + fs;
    }
    Ok(frames)
}

impl Archive {
    /// Number of kernels stored.
    pub fn kernels(&self) -> usize {
        self.frames.len()
    }

    /// Where kernel `ordinal` is stored: absolute offset and stored size.
    pub fn stored(&self, ordinal: u64) -> Option<(u64, u64)> {
        self.frames.get(usize::try_from(ordinal).ok()?).copied()
    }

    /// The first `max` bytes of a kernel, decompressing only its own frame and only as far
    /// as needed (enough for its ELF header and notes), with a decompression context used
    /// again for every kernel (creating one per kernel costs more than reading a header).
    pub fn prefix_with(
        &self,
        frames: &mut Frames,
        data: &[u8],
        ordinal: u64,
        max: u64,
    ) -> Result<Vec<u8>> {
        let (off, size) = self.stored(ordinal).ok_or(Error::Limit {
            what: "kpack kernel ordinal",
            value: ordinal,
        })?;
        let stored = data
            .get(off as usize..(off + size) as usize)
            .ok_or(Error::Truncated("kpack kernel"))?;
        match self.scheme {
            Scheme::None => Ok(stored[..stored.len().min(max as usize)].to_vec()),
            Scheme::ZstdPerKernel => frames
                .prefix(stored, max)
                .map_err(|e| Error::Decompress(format!("kpack kernel {ordinal}: {e}"))),
        }
    }

    /// A whole kernel, checked against the size the table declares. A declared size
    /// beyond [`MAX_KERNEL`] or [`MAX_RATIO`] times the frame is refused (a bomb).
    pub fn kernel(&self, frames: &mut Frames, data: &[u8], entry: &Entry) -> Result<Vec<u8>> {
        let (_, size) = self.stored(entry.ordinal).ok_or(Error::Limit {
            what: "kpack kernel ordinal",
            value: entry.ordinal,
        })?;
        let cap = match self.scheme {
            Scheme::None => size,
            Scheme::ZstdPerKernel => {
                let cap = entry
                    .original_size
                    .unwrap_or(size.saturating_mul(MAX_RATIO));
                if cap > MAX_KERNEL || cap > size.saturating_mul(MAX_RATIO).max(1 << 16) {
                    return Err(Error::Limit {
                        what: "kpack kernel size",
                        value: cap,
                    });
                }
                cap
            }
        };
        // One byte past the cap tells a kernel that outgrows its declared size.
        let out = self.prefix_with(frames, data, entry.ordinal, cap + 1)?;
        if out.len() as u64 > cap {
            return Err(Error::Decompress(format!(
                "kpack kernel {} is larger than the {cap} bytes declared",
                entry.ordinal
            )));
        }
        if let Some(want) = entry.original_size {
            if self.scheme == Scheme::ZstdPerKernel && out.len() as u64 != want {
                return Err(Error::Decompress(format!(
                    "kpack kernel {} is {} bytes, the table says {want}",
                    entry.ordinal,
                    out.len()
                )));
            }
        }
        Ok(out)
    }
}

/// The `.rocm_kpack_ref` of a host ELF known only by its first bytes (`head`) and its
/// last ones (`tail`, ending at `total`): for files read as a stream. Linkers and
/// TheRock's kpacker put the section header table, the section names and the added
/// marker at the end of the file. `Ok(None)` when the file has no marker; an error
/// when the structures it needs are not inside `tail`.
pub fn ref_in_tail(head: &[u8], tail: &[u8], total: u64) -> Result<Option<KpackRef>> {
    let start = total
        .checked_sub(tail.len() as u64)
        .ok_or(Error::Invalid("tail longer than the file"))?;
    let u16_at = |b: &[u8], at: usize| le_u16(b, at).map(u64::from);
    let (Some(shoff), Some(shentsize), Some(shnum), Some(shstrndx)) = (
        le_u64(head, 0x28),
        u16_at(head, 0x3a),
        u16_at(head, 0x3c),
        u16_at(head, 0x3e),
    ) else {
        return Err(Error::Truncated("ELF header"));
    };
    if head.get(4) != Some(&2) || head.get(5) != Some(&1) || shentsize < 64 {
        return Err(Error::Unsupported("only 64-bit little-endian ELF".into()));
    }
    // A range of the file, if the tail holds it.
    let in_tail = |off: u64, size: u64| -> Result<&[u8]> {
        let end = off.checked_add(size).filter(|&e| e <= total);
        match end {
            Some(end) if off >= start => Ok(&tail[(off - start) as usize..(end - start) as usize]),
            _ => Err(Error::OutOfBounds {
                what: "section beyond the part of a streamed file kept",
                offset: off,
                size,
                avail: total,
            }),
        }
    };
    let table = in_tail(shoff, shentsize.saturating_mul(shnum))?;
    let sh = |i: u64| -> Option<(u32, u64, u64)> {
        let at = (i * shentsize) as usize;
        let name = u32::from_le_bytes(table.get(at..at + 4)?.try_into().ok()?);
        Some((name, le_u64(table, at + 0x18)?, le_u64(table, at + 0x20)?))
    };
    let (_, stroff, strsize) = sh(shstrndx).ok_or(Error::Truncated("section headers"))?;
    let names = in_tail(stroff, strsize)?;
    for i in 0..shnum {
        let Some((name, off, size)) = sh(i) else {
            break;
        };
        let n = names.get(name as usize..).unwrap_or_default();
        let n = &n[..n.iter().position(|&b| b == 0).unwrap_or(n.len())];
        if n == REF_SECTION.as_bytes() {
            return parse_ref(in_tail(off, size)?).map(Some);
        }
    }
    Ok(None)
}

/// A zstd decompression context, reset for each frame.
pub struct Frames {
    dec: zstd::stream::raw::Decoder<'static>,
}

impl Frames {
    /// A new context.
    pub fn new() -> Result<Frames> {
        Ok(Frames {
            dec: zstd::stream::raw::Decoder::new().map_err(|e| Error::Decompress(e.to_string()))?,
        })
    }

    /// Up to `max` bytes of the one frame in `frame`; decoding stops once they are out.
    pub fn prefix(&mut self, frame: &[u8], max: u64) -> std::io::Result<Vec<u8>> {
        use zstd::stream::raw::{InBuffer, Operation, OutBuffer};
        self.dec.reinit()?;
        let mut out = Vec::with_capacity(max.min(1 << 20) as usize);
        let mut chunk = vec![0u8; (max as usize).clamp(1, 64 << 10)];
        let mut input = InBuffer::around(frame);
        while (out.len() as u64) < max {
            let room = ((max - out.len() as u64) as usize).min(chunk.len());
            let mut o = OutBuffer::around(&mut chunk[..room]);
            let hint = self.dec.run(&mut input, &mut o)?;
            let n = o.pos();
            out.extend_from_slice(&chunk[..n]);
            if hint == 0 {
                break; // the frame is complete
            }
            if n == 0 && input.pos() == frame.len() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "zstd frame ends early",
                ));
            }
        }
        Ok(out)
    }
}
