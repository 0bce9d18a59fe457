//! Offload bundles, uncompressed and CCOB-compressed.

use super::{code_object_from_entry, code_object_from_info, Ctx};
use crate::{amdgpu, bundle, ccob, Error, Result};
use std::io::{self, Read};

/// How much of each blob a deep scan reads to parse its header and notes.
const DEEP_BLOB_PREFIX: u64 = 64 << 10;

/// Scan an uncompressed bundle at the start of `data`; returns its extent.
pub(super) fn scan_bundle(data: &[u8], file_base: u64, ctx: &mut Ctx) -> Result<u64> {
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
pub(super) fn scan_ccob(data: &[u8], ctx: &mut Ctx) -> Result<u64> {
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
