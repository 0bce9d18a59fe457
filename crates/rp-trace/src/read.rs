//! Reading a record file: the files of a trace, one streaming pass through a fixed
//! buffer, and the cut of a file left longer than its records.

use crate::{ProcessTrace, BUF, MAX_LINE};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The record files of a trace: `FILE`, `FILE.<pid>` (children) and `FILE.<pid>.<n>`
/// (a process image that replaced a traced one), in name order.
pub fn files(base: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if base.exists() {
        v.push(base.to_path_buf());
    }
    let (Some(dir), Some(name)) = (base.parent(), base.file_name()) else {
        return v;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut kids: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_prefix(&prefix).is_some_and(|rest| {
                    let mut parts = rest.splitn(2, '.');
                    let pid = parts.next().unwrap_or_default();
                    digits(pid) && parts.next().is_none_or(digits)
                })
            })
            .map(|e| e.path())
            .collect();
        kids.sort();
        v.extend(kids);
    }
    v
}

/// Read one record file: a regular file, opened without blocking, in one streaming pass;
/// zeros left by a process that died are skipped, and cut off once no process holds the
/// file.
pub fn read(path: &Path) -> Result<ProcessTrace, String> {
    read_counting(path, None)
}

/// [`read`], adding the bytes read to `progress` as it goes.
pub fn read_counting(path: &Path, progress: Option<&AtomicU64>) -> Result<ProcessTrace, String> {
    let (f, len) = rp_sys::open_regular(path).map_err(|e| e.to_string())?;
    let mut p = ProcessTrace {
        file: path.to_path_buf(),
        ..Default::default()
    };
    let end = stream(&f, progress, &mut |at, raw, line| p.line(at, raw, line))
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    p.finish();
    // Only a format 2 writer locks its file: an older one may still be writing.
    if end < len && p.st.format.is_some_and(|f| f >= 2) && cut(&f, len, end) {
        p.cut = Some((len, end));
    }
    Ok(p)
}

/// Cut a record file to `end` (its last record) when no writer holds it and it has not
/// grown since it was read.
fn cut(f: &std::fs::File, len: u64, end: u64) -> bool {
    use std::os::fd::AsRawFd;
    if f.try_lock().is_err() {
        return false; // a process still writes it
    }
    let ok = f.metadata().is_ok_and(|m| m.len() == len)
        && std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", f.as_raw_fd()))
            .and_then(|w| w.set_len(end))
            .is_ok();
    let _ = f.unlock();
    ok
}

/// Parse record bytes.
pub fn parse(path: &Path, data: &[u8]) -> ProcessTrace {
    let mut p = ProcessTrace {
        file: path.to_path_buf(),
        data: Some(Arc::from(data)),
        ..Default::default()
    };
    // Reading from memory cannot fail.
    let _ = stream(data, None, &mut |at, raw, line| p.line(at, raw, line));
    p.finish();
    p
}

/// Feed `r` line by line to `f(offset, raw length, line without NULs)` through one
/// buffer; lines longer than [`MAX_LINE`] are passed cut (and then fail to parse).
/// Returns the offset just after the last byte that is not NUL.
pub(crate) fn stream(
    mut r: impl Read,
    progress: Option<&AtomicU64>,
    f: &mut dyn FnMut(u64, u64, &[u8]),
) -> std::io::Result<u64> {
    let mut buf = vec![0u8; BUF];
    // A line that spans reads: its start, raw length and bytes (NULs dropped).
    let mut carry: Vec<u8> = Vec::new();
    let mut carry_at = 0u64;
    let mut carry_raw = 0u64;
    let mut off = 0u64;
    let mut content_end = 0u64;
    let push = |carry: &mut Vec<u8>, seg: &[u8]| {
        let room = MAX_LINE + 1 - carry.len().min(MAX_LINE + 1);
        if seg.contains(&0) {
            carry.extend(seg.iter().copied().filter(|&b| b != 0).take(room));
        } else {
            carry.extend_from_slice(&seg[..seg.len().min(room)]);
        }
    };
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(p) = progress {
            p.fetch_add(n as u64, Ordering::Relaxed);
        }
        let chunk = &buf[..n];
        if let Some(p) = chunk.iter().rposition(|&b| b != 0) {
            content_end = off + p as u64 + 1;
        }
        let mut i = 0;
        while i < n {
            match chunk[i..].iter().position(|&b| b == b'\n') {
                Some(j) => {
                    let seg = &chunk[i..i + j];
                    if carry_raw == 0 {
                        if seg.contains(&0) {
                            let mut clean = Vec::new();
                            push(&mut clean, seg);
                            f(off + i as u64, j as u64, &clean);
                        } else {
                            f(off + i as u64, j as u64, seg);
                        }
                    } else {
                        push(&mut carry, seg);
                        f(carry_at, carry_raw + j as u64, &carry);
                        carry.clear();
                        carry_raw = 0;
                    }
                    i += j + 1;
                }
                None => {
                    if carry_raw == 0 {
                        carry_at = off + i as u64;
                    }
                    push(&mut carry, &chunk[i..]);
                    carry_raw += (n - i) as u64;
                    i = n;
                }
            }
        }
        off += n as u64;
    }
    if carry_raw > 0 {
        f(carry_at, carry_raw, &carry);
    }
    Ok(content_end)
}
