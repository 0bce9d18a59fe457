//! [`scan`]: one file's bytes to the device code objects in them, container by
//! container (bundles and compressed bundles in [`bundles`], host ELF files in
//! [`host_elf`], kpack archives in [`kpack_archive`], `ar` archives here).

mod bundles;
mod host_elf;
mod kpack_archive;

use crate::{amdgpu, bundle, sniff, CodeObject, Error, Format, Options, Result, Scan};
use bundles::{scan_bundle, scan_ccob};
use host_elf::scan_host_elf;
use kpack_archive::scan_kpack;
use object::read::archive::ArchiveFile;

const MAX_DEPTH: u32 = 4;

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
