//! Wheels (`.whl` zip files), read in place: nothing is unpacked to disk.
//!
//! A member up to the in-memory limit is decompressed into memory and parsed exactly.
//! A larger one (a 1 GB `libtorch_hip.so`) is scanned as a stream in bounded memory:
//! bundles sit at 4096-aligned offsets of the ELF file (docs/code-objects.md), so each
//! aligned block is checked for a bundle magic; a bundle's entry table and the first
//! bytes of each blob are read as the stream passes them.

use crate::{fill, library_format, names};
use rp_codeobj::{amdgpu, bundle, ccob, CodeObject, Options as ScanOptions, Scan};
use rp_report::FileReport;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

const BLOCK: u64 = 4096;
/// Bytes of each blob read in stream mode: enough for the ELF header and notes.
const BLOB_PREFIX: u64 = 64 << 10;
/// Largest entry table read in stream mode.
const MAX_TABLE: usize = 2 << 20;
/// Largest compressed-bundle capture in stream mode (the table is at its start).
const MAX_CCOB_CAPTURE: u64 = 8 << 20;

pub(crate) fn inspect_wheel(
    path: &Path,
    file: File,
    opts: &ScanOptions,
    in_mem: u64,
) -> Vec<FileReport> {
    let shown = path.display().to_string();
    let mut zip = match zip::ZipArchive::new(file) {
        Ok(z) => z,
        Err(e) => {
            return vec![FileReport {
                path: shown,
                error: Some(format!("cannot read wheel: {e}")),
                format: Some(rp_report::FileFormat::Wheel),
                ..FileReport::default()
            }]
        }
    };
    // Entries whose data overlap (many central-directory entries pointing at one member:
    // a zip bomb's shape) are refused before anything is decompressed.
    let mut spans: Vec<(u64, u64, usize)> = Vec::new();
    for i in 0..zip.len() {
        if let Ok(m) = zip.by_index_raw(i) {
            spans.push((m.header_start(), m.data_start() + m.compressed_size(), i));
        }
    }
    spans.sort_unstable();
    if let Some(w) = spans.windows(2).find(|w| w[1].0 < w[0].1) {
        return vec![FileReport {
            path: shown,
            error: Some(format!(
                "entries {} and {} overlap in the file (a zip bomb's shape): not read",
                w[0].2, w[1].2
            )),
            format: Some(rp_report::FileFormat::Wheel),
            ..FileReport::default()
        }];
    }
    // A budget for everything decompressed from one wheel: real wheels inflate a few
    // times over (torch: ~3x); a hundred times the file plus 1 GiB is never reached by one.
    let mut budget: u64 = spans
        .iter()
        .map(|s| s.1.saturating_sub(s.0))
        .sum::<u64>()
        .saturating_mul(100)
        .saturating_add(1 << 30);
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut member = match zip.by_index(i) {
            Ok(m) => m,
            Err(e) => {
                out.push(FileReport {
                    path: format!("{shown}!/#{i}"),
                    error: Some(format!("cannot read wheel member: {e}")),
                    ..FileReport::default()
                });
                continue;
            }
        };
        if member.is_dir() {
            continue;
        }
        let name = member.name().to_string();
        let member_path = format!("{shown}!/{name}");
        if member.size() > budget {
            out.push(FileReport {
                path: member_path,
                error: Some(
                    "the wheel's decompression budget is spent (it inflates over a hundred times its size): this member and the rest are not read".into(),
                ),
                ..FileReport::default()
            });
            break;
        }
        budget -= member.size();
        let library_file = names::classify(Path::new(&name));
        let size = member.size();
        let mut report = FileReport {
            path: member_path,
            library_file: library_file.clone(),
            ..FileReport::default()
        };
        let result = if size <= in_mem {
            let mut buf = Vec::with_capacity(size as usize);
            match (&mut member).take(size).read_to_end(&mut buf) {
                Ok(_) if rp_codeobj::sniff(&buf).is_some() => {
                    Ok(Some(rp_codeobj::scan(&buf, opts)))
                }
                Ok(_) => Ok(None),
                Err(e) => Err(e),
            }
        } else if name.ends_with(".kpack") {
            // A kpack archive's table is at its end: it cannot be read as a stream.
            spill(&mut member).map(|map| Some(rp_codeobj::scan(&map, opts)))
        } else {
            scan_stream(&mut member, size).map(Some)
        };
        match result {
            Ok(Some(scan)) => fill(&mut report, scan),
            Ok(None) => {}
            Err(e) => report.error = Some(format!("cannot read wheel member: {e}")),
        }
        if report.format.is_none() {
            report.format = library_file.as_ref().map(library_format);
        }
        if report.code_objects.is_empty()
            && report.error.is_none()
            && report.library_file.is_none()
            && report.kpack_ref.is_none()
        {
            continue;
        }
        out.push(report);
    }
    out
}

/// A reader that knows its position.
struct Pos<R> {
    r: R,
    pos: u64,
}

impl<R: Read> Pos<R> {
    fn fill(&mut self, buf: &mut Vec<u8>, n: u64) -> io::Result<u64> {
        let got = (&mut self.r).take(n).read_to_end(buf)? as u64;
        self.pos += got;
        Ok(got)
    }
    fn skip_to(&mut self, at: u64) -> io::Result<bool> {
        if at < self.pos {
            return Ok(false);
        }
        let want = at - self.pos;
        let got = io::copy(&mut (&mut self.r).take(want), &mut io::sink())?;
        self.pos += got;
        Ok(got == want)
    }
}

/// Scan a member as a stream (see the module docs).
/// Keeps the last [`TAIL`] bytes that pass through it.
struct Tail<R> {
    r: R,
    head: Vec<u8>,
    buf: Vec<u8>,
}

/// How much of a streamed member's end is kept to read its section headers (and a
/// kpack marker) from.
const TAIL: usize = 4 << 20;

impl<R: Read> Read for Tail<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(out)?;
        let want = 64usize.saturating_sub(self.head.len()).min(n);
        self.head.extend_from_slice(&out[..want]);
        self.buf.extend_from_slice(&out[..n]);
        if self.buf.len() > 2 * TAIL {
            self.buf.drain(..self.buf.len() - TAIL);
        }
        Ok(n)
    }
}

pub(crate) fn scan_stream(r: &mut impl Read, size: u64) -> io::Result<Scan> {
    let mut tail = Tail {
        r,
        head: Vec::new(),
        buf: Vec::new(),
    };
    let mut scan = scan_stream_inner(&mut tail, size)?;
    if scan.format == Some(rp_codeobj::Format::HostElf) {
        io::copy(&mut tail, &mut io::sink())?;
        let keep = tail.buf.len().min(TAIL);
        let t = &tail.buf[tail.buf.len() - keep..];
        match rp_codeobj::kpack::ref_in_tail(&tail.head, t, size) {
            Ok(r) => scan.kpack_ref = r,
            Err(e) => scan.notes.push(format!(
                "streamed without its section headers ({e}): a kpack reference would not be seen; rerun with a larger --wheel-member-in-memory"
            )),
        }
    }
    Ok(scan)
}

fn scan_stream_inner(r: &mut impl Read, size: u64) -> io::Result<Scan> {
    let mut s = Pos { r, pos: 0 };
    let mut scan = Scan::default();
    let mut first = Vec::with_capacity(BLOCK as usize);
    s.fill(&mut first, BLOCK)?;
    scan.format = rp_codeobj::sniff(&first);
    if scan.format == Some(rp_codeobj::Format::CodeObject) {
        s.fill(&mut first, BLOB_PREFIX - BLOCK)?;
        match amdgpu::parse(&first) {
            Ok(info) => scan
                .code_objects
                .push(from_info(&info, None, size, Some(0))),
            Err(e) => scan.error = Some(e),
        }
        return Ok(scan);
    }
    let mut block = first;
    let mut p = 0u64;
    loop {
        if block.starts_with(bundle::MAGIC) {
            let next = stream_bundle(&mut s, &mut block, p, size, &mut scan)?;
            p = next.div_ceil(BLOCK) * BLOCK;
        } else if block.starts_with(ccob::MAGIC) {
            let next = stream_ccob(&mut s, &mut block, p, &mut scan)?;
            p = next.div_ceil(BLOCK) * BLOCK;
        } else {
            p += BLOCK;
        }
        if p >= size || !s.skip_to(p)? {
            break;
        }
        block.clear();
        if s.fill(&mut block, BLOCK)? < 24 {
            break;
        }
    }
    Ok(scan)
}

fn from_info(
    info: &amdgpu::Info,
    id: Option<&bundle::EntryId>,
    size: u64,
    offset: Option<u64>,
) -> CodeObject {
    let t = id
        .and_then(|i| i.target.clone())
        .or_else(|| info.target.clone());
    CodeObject {
        target_id: t
            .as_ref()
            .map_or_else(|| info.processor_text.clone(), |t| t.to_string()),
        processor: t.map(|t| t.processor),
        bundle_id: None,
        compression: None,
        ccob_version: None,
        code_object_version: info.code_object_version,
        size,
        offset,
        generic_version: info.generic_version,
        member: None,
        binary: None,
        kpack_arch: None,
        warning: None,
    }
}

/// A bundle starts at `p`; `buf` holds the bytes from `p` up to the stream position.
/// Returns the bundle's end.
fn stream_bundle<R: Read>(
    s: &mut Pos<R>,
    buf: &mut Vec<u8>,
    p: u64,
    size: u64,
    scan: &mut Scan,
) -> io::Result<u64> {
    let header = loop {
        match bundle::read_header(&mut &buf[..], size - p) {
            Ok(h) => break h,
            Err(rp_codeobj::Error::Truncated(_)) if buf.len() < MAX_TABLE => {
                if s.fill(buf, BLOCK)? == 0 {
                    scan.error
                        .get_or_insert(rp_codeobj::Error::Truncated("bundle entry table"));
                    return Ok(p + 1);
                }
            }
            Err(e) => {
                scan.error.get_or_insert(e);
                return Ok(p + 1);
            }
        }
    };
    scan.bundles += 1;
    let mut entries: Vec<_> = header.entries.iter().filter(|e| e.size > 0).collect();
    entries.sort_by_key(|e| e.offset);
    for e in entries {
        let id = bundle::parse_entry_id(&e.id);
        if id.is_host() {
            continue;
        }
        let at = p + e.offset;
        let want = e.size.min(BLOB_PREFIX);
        let blob: Vec<u8> = if at + want <= s.pos {
            buf[e.offset as usize..(e.offset + want) as usize].to_vec()
        } else if s.skip_to(at)? {
            let mut b = Vec::with_capacity(want as usize);
            s.fill(&mut b, want)?;
            b
        } else {
            Vec::new()
        };
        let mut co = match amdgpu::parse(&blob) {
            Ok(info) => from_info(&info, Some(&id), e.size, Some(at)),
            Err(err) => {
                let mut co = from_info(&dummy_info(), Some(&id), e.size, Some(at));
                co.warning = Some(format!("entry is not a readable code object: {err}"));
                co
            }
        };
        co.bundle_id = Some(e.id.clone());
        scan.code_objects.push(co);
    }
    Ok(p + header.extent().max(1))
}

fn dummy_info() -> amdgpu::Info {
    amdgpu::Info {
        osabi: 0,
        code_object_version: None,
        e_flags: 0,
        mach: 0,
        target: None,
        processor_text: "unknown".into(),
        generic_version: None,
        metadata_target: None,
    }
}

/// A compressed bundle starts at `p`: capture a bounded prefix and decode its table.
fn stream_ccob<R: Read>(
    s: &mut Pos<R>,
    buf: &mut Vec<u8>,
    p: u64,
    scan: &mut Scan,
) -> io::Result<u64> {
    let h = match ccob::parse_fields(buf) {
        Ok(h) => h,
        Err(e) => {
            scan.error.get_or_insert(e);
            return Ok(p + 1);
        }
    };
    let total = h.total_size.unwrap_or(MAX_CCOB_CAPTURE);
    let have = buf.len() as u64;
    if total > have {
        s.fill(buf, total.min(MAX_CCOB_CAPTURE) - have.min(total))?;
    }
    let sub = rp_codeobj::scan(
        buf,
        &ScanOptions {
            deep: false,
            prefix: true,
        },
    );
    scan.bundles += sub.bundles;
    scan.code_objects.extend(sub.code_objects);
    if let Some(e) = sub.error {
        scan.error.get_or_insert(e);
    }
    Ok(p + h.total_size.unwrap_or(buf.len() as u64).max(1))
}

/// Copy a wheel member into an anonymous temporary file and map it: for members too
/// large for memory that cannot be read as a stream.
fn spill(member: &mut impl Read) -> io::Result<memmap2::Mmap> {
    let mut f = tempfile::tempfile()?;
    io::copy(member, &mut f)?;
    crate::map_file(&f)
}
