//! Kpack archives: each kernel's header, read in parallel.

use super::{code_object_from_info, Ctx};
use crate::{amdgpu, ccob, kpack, CodeObject, KpackSummary, Result};
#[cfg(feature = "parallel")]
use rayon::prelude::*;
use std::collections::BTreeSet;

thread_local! {
    /// One zstd context per thread for kpack kernels: creating one costs more than
    /// reading a kernel's header.
    static FRAMES: std::cell::RefCell<Option<kpack::Frames>> = const { std::cell::RefCell::new(None) };
}

/// How much of each kpack kernel is decompressed to read its ELF header and notes.
const KPACK_PREFIX: u64 = 16 << 10;

/// List the kernels of a kpack archive: each one's target from its own ELF header
/// (decompressing only the start of its frame), cross-checked with the processor the
/// table files it under. A deep scan decompresses every kernel and checks its size.
pub(super) fn scan_kpack(data: &[u8], file_base: u64, ctx: &mut Ctx) -> Result<()> {
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
