//! Host ELF files: the `.hip_fatbin` section and its wrapper records, the kpack
//! reference, and bundles stored as sections.

use super::bundles::{scan_bundle, scan_ccob};
use super::{code_object_from_entry, code_object_from_info, Ctx};
use crate::{amdgpu, bundle, ccob, kpack, Error, Result};
use object::{Object, ObjectSection};
use std::collections::BTreeSet;

const ALIGN: usize = 4096;
const HIPF: u32 = 0x4849_5046;
const HIPK: u32 = 0x4B50_4948;

pub(super) fn scan_host_elf(data: &[u8], file_base: u64, ctx: &mut Ctx) -> Result<()> {
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
