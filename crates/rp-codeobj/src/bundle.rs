//! Clang offload bundles, uncompressed (`__CLANG_OFFLOAD_BUNDLE__`), docs/code-objects.md–1.2.
//!
//! The entry table is read through [`std::io::Read`] so the same code serves an
//! in-memory bundle and the front of a decompressing stream (a CCOB payload): only the
//! table is ever read, never the blobs.

use crate::{Error, Result};
use rp_target_id::TargetId;
use std::io::Read;

/// The 24-byte magic of an uncompressed bundle.
pub const MAGIC: &[u8; 24] = b"__CLANG_OFFLOAD_BUNDLE__";

/// Most entries a bundle may declare. Real bundles have tens; the limit keeps a
/// hostile count from driving allocation (docs/code-objects.md step 3).
pub const MAX_ENTRIES: u64 = 4096;
/// Longest entry id accepted. Real ids are under 80 bytes.
pub const MAX_ID_LEN: u64 = 1024;

/// One entry of a bundle's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Bundle entry id, e.g. `hipv4-amdgcn-amd-amdhsa--gfx1010`.
    pub id: String,
    /// Offset of the blob from the start of the bundle (the magic).
    pub offset: u64,
    /// Blob size in bytes (0 for the host entry of HIP bundles).
    pub size: u64,
}

/// The parsed entry table of a bundle.
#[derive(Debug, Clone)]
pub struct Header {
    /// The entries, in file order.
    pub entries: Vec<Entry>,
}

impl Header {
    /// The bundle's extent: there is no size field, so it is the largest
    /// `offset + size` over the entries (docs/code-objects.md).
    pub fn extent(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| e.offset + e.size)
            .max()
            .unwrap_or(0)
    }
}

fn read_u64(r: &mut impl Read, what: &'static str) -> Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b).map_err(|e| Error::from_io(e, what))?;
    Ok(u64::from_le_bytes(b))
}

/// Read a bundle's entry table from `r`, positioned at the magic.
///
/// `avail` is the number of bytes the bundle may occupy (the rest of the section or
/// file, or a CCOB's declared uncompressed size); every entry must lie inside it.
pub fn read_header(r: &mut impl Read, avail: u64) -> Result<Header> {
    let mut magic = [0u8; 24];
    r.read_exact(&mut magic)
        .map_err(|e| Error::from_io(e, "bundle magic"))?;
    if &magic != MAGIC {
        return Err(Error::BadMagic("offload bundle"));
    }
    let n = read_u64(r, "bundle entry count")?;
    // Each entry record needs at least 24 bytes.
    if n > MAX_ENTRIES || n.saturating_mul(24).saturating_add(32) > avail {
        return Err(Error::Limit {
            what: "bundle entry count",
            value: n,
        });
    }
    let mut entries = Vec::with_capacity(n as usize);
    let mut table_end: u64 = 32;
    for _ in 0..n {
        let offset = read_u64(r, "bundle entry offset")?;
        let size = read_u64(r, "bundle entry size")?;
        let id_len = read_u64(r, "bundle entry id length")?;
        if id_len > MAX_ID_LEN {
            return Err(Error::Limit {
                what: "bundle entry id length",
                value: id_len,
            });
        }
        table_end += 24 + id_len;
        if table_end > avail {
            return Err(Error::Truncated("bundle entry table"));
        }
        let mut id = vec![0u8; id_len as usize];
        r.read_exact(&mut id)
            .map_err(|e| Error::from_io(e, "bundle entry id"))?;
        let id =
            String::from_utf8(id).map_err(|_| Error::Invalid("bundle entry id is not UTF-8"))?;
        let end = offset
            .checked_add(size)
            .ok_or(Error::Invalid("bundle entry offset overflows"))?;
        if end > avail {
            return Err(Error::OutOfBounds {
                what: "bundle entry",
                offset,
                size,
                avail,
            });
        }
        entries.push(Entry { id, offset, size });
    }
    for e in &entries {
        if e.size > 0 && e.offset < table_end {
            return Err(Error::Invalid("bundle entry overlaps the entry table"));
        }
    }
    Ok(Header { entries })
}

/// What a bundle entry id says (docs/code-objects.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryId {
    /// Offload kind: `host`, `hip`, `hipv4`, `openmp`, …
    pub kind: String,
    /// The AMDGPU target id, for device entries.
    pub target: Option<TargetId>,
    /// The raw target text after the triple (also for unparseable ids).
    pub target_text: Option<String>,
}

impl EntryId {
    /// Host entries carry no device code.
    pub fn is_host(&self) -> bool {
        self.kind == "host"
    }
}

/// Parse a bundle entry id with the robust rule of docs/code-objects.md: the kind is the
/// text before the first `-`; for AMDGPU ids the target id follows `amdgcn-amd-amdhsa-`,
/// after dropping one environment component that does not start with `gfx`.
pub fn parse_entry_id(id: &str) -> EntryId {
    let kind = id.split('-').next().unwrap_or_default().to_string();
    let target_text = id.find("amdgcn-amd-amdhsa").map(|pos| {
        let rest = &id[pos + "amdgcn-amd-amdhsa".len()..];
        let rest = rest.strip_prefix('-').unwrap_or(rest);
        if rest.starts_with("gfx") {
            rest.to_string()
        } else {
            // Drop the environment component ("", "unknown", "gnu", …).
            match rest.find('-') {
                Some(i) => rest[i + 1..].to_string(),
                None => rest.to_string(),
            }
        }
    });
    let target = target_text.as_deref().and_then(|t| t.parse().ok());
    EntryId {
        kind,
        target,
        target_text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids() {
        let cases = [
            ("host-x86_64-unknown-linux", "host", None),
            ("host-x86_64-unknown-linux--", "host", None),
            ("hipv4-amdgcn-amd-amdhsa--gfx1030", "hipv4", Some("gfx1030")),
            (
                "hipv4-amdgcn-amd-amdhsa-unknown-gfx942",
                "hipv4",
                Some("gfx942"),
            ),
            ("hip-amdgcn-amd-amdhsa-gfx906", "hip", Some("gfx906")),
            ("openmp-amdgcn-amd-amdhsa--gfx90a", "openmp", Some("gfx90a")),
            (
                "hipv4-amdgcn-amd-amdhsa--gfx90a:sramecc-:xnack+",
                "hipv4",
                Some("gfx90a:sramecc-:xnack+"),
            ),
            (
                "hipv4-amdgcn-amd-amdhsa--gfx10-1-generic",
                "hipv4",
                Some("gfx10-1-generic"),
            ),
        ];
        for (id, kind, target) in cases {
            let e = parse_entry_id(id);
            assert_eq!(e.kind, kind, "{id}");
            assert_eq!(e.target.map(|t| t.to_string()).as_deref(), target, "{id}");
        }
    }

    #[test]
    fn hostile_counts() {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            read_header(&mut &b[..], b.len() as u64),
            Err(Error::Limit { .. })
        ));
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&0x1000u64.to_le_bytes());
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        assert!(read_header(&mut &b[..], b.len() as u64).is_err());
    }
}
