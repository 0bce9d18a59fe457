//! The record `rp-trace-preload` writes (JSON lines, one file per process), read back and
//! summarised for `rocm-patch trace` and `explain --trace`. Nothing here prints.
//!
//! Record fields (format 2): every line has `t` (monotonic ns or TSC ticks), `tid` and
//! `ev`: `start` (pid, ppid, exe, policy, format, clock, env: the `ROCM_KPACK_*`
//! variables), `clock` (tsc, ns), `fatbin` (fatbin id, magic, lib, targets, compressed,
//! kpack, error), `kernel` (k, name, api, fatbin), `launch` (api, k or fn, grid, block,
//! shared), `module`, `alloc` (api, size, ptr, flags, flag_names, asked, asked_names,
//! ret), `free`, `devices`, `error` (api, ret), `missing` (api), `disabled` (why), `exit`.
//!
//! A record file is read in one streaming pass through a fixed buffer, into per-process
//! state whose size does not grow with the number of calls: counters, the last launches,
//! and for each registered kernel only where its record lies in the file (its name is
//! read back once, for the kernels that were launched). A file left longer than its
//! records by a process that crashed, was killed or replaced itself (exec) is cut to its
//! records once no process holds it (format 2 writers hold an exclusive `flock` while
//! they live).
#![deny(missing_docs)]

use rp_report::{
    TraceAlloc, TraceError, TraceFatbin, TraceKernel, TraceLaunch, TracePolicy, TraceReport, SCHEMA,
};
use serde::Deserialize;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Longest record read; a longer line counts as not a record.
pub const MAX_LINE: usize = 1 << 20;
/// Registered kernels remembered per process (where each record lies: 16 bytes each).
pub const MAX_KERNELS: usize = 1 << 19;
/// The read buffer.
const BUF: usize = 1 << 20;
/// Launched addresses of unregistered kernels counted per process.
const MAX_ADDRS: usize = 4096;
/// Allocation kinds, error kinds and notes kept per process.
const MAX_KINDS: usize = 256;
const MAX_NOTES: usize = 32;
/// Fat binaries listed per process.
const MAX_FATBINS: usize = 1 << 16;
/// Distinct kernels counted over all processes.
const MAX_KERNEL_NAMES: usize = 1 << 16;
/// Launches shown.
const LAST: usize = 10;

/// One record as written (the fields the summary uses; the others are skipped). The
/// fields the interposer writes from fixed names are borrowed from the read buffer.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Record<'a> {
    t: u64,
    tid: u32,
    ev: &'a str,
    api: Option<&'a str>,
    pid: Option<u32>,
    ppid: Option<u32>,
    policy: Option<&'a str>,
    format: Option<u32>,
    fatbin: Option<u32>,
    magic: Option<String>,
    lib: Option<String>,
    targets: Option<Vec<String>>,
    compressed: Option<bool>,
    kpack: Option<serde_json::Value>,
    k: Option<u32>,
    #[serde(rename = "fn")]
    func: Option<u64>,
    grid: Option<[u32; 3]>,
    block: Option<[u32; 3]>,
    size: Option<u64>,
    flag_names: Option<&'a str>,
    asked_names: Option<&'a str>,
    ret: Option<i32>,
    error: Option<String>,
    why: Option<String>,
    clock: Option<&'a str>,
    tsc: Option<u64>,
    ns: Option<u64>,
    env: Option<BTreeMap<String, String>>,
}

/// A `kernel` record read back for its name.
#[derive(Deserialize)]
struct KernelName {
    name: Option<String>,
    fatbin: Option<u32>,
}

/// Converts a process's `t` values to CLOCK_MONOTONIC nanoseconds.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// (t, ns) at the first calibration, and ns per tick.
    at: (u64, u64),
    rate: f64,
}

impl Clock {
    /// From the `clock` records: `None` when `t` counts ticks and fewer than two
    /// calibrations were written (a process that died within 10 ms).
    fn of(p: &ProcessTrace) -> Option<Clock> {
        if !p.st.tsc {
            return Some(Clock {
                at: (0, 0),
                rate: 1.0,
            });
        }
        let (first, last) = (p.st.first_clock?, p.st.last_clock?);
        if last.0 <= first.0 || last.1 <= first.1 {
            return None;
        }
        Some(Clock {
            at: first,
            rate: (last.1 - first.1) as f64 / (last.0 - first.0) as f64,
        })
    }

    fn ns(&self, t: u64) -> f64 {
        self.at.1 as f64 + (t as f64 - self.at.0 as f64) * self.rate
    }
}

/// A registered kernel: where its record lies, and its launches.
#[derive(Debug, Clone, Copy, Default)]
struct Kernel {
    /// Offset and length of its `kernel` record (none: launched, not registered here).
    at: Option<(u64, u32)>,
    launches: u64,
}

/// One of the last launches, as read.
#[derive(Debug, Clone)]
struct Last {
    t: u64,
    tid: u32,
    api: Cow<'static, str>,
    k: Option<u32>,
    func: Option<u64>,
    grid: [u32; 3],
    block: [u32; 3],
}

/// What one process's records add up to: fixed in size whatever the number of calls.
#[derive(Debug, Clone, Default)]
struct State {
    policy: Option<TracePolicy>,
    format: Option<u32>,
    kpack_env: Vec<(String, String)>,
    tsc: bool,
    first_clock: Option<(u64, u64)>,
    last_clock: Option<(u64, u64)>,
    t_first: Option<u64>,
    last_ev_exit: bool,
    fatbins: Vec<TraceFatbin>,
    /// Local fat binary ids seen (the next process's ids start after them).
    max_fatbin: u32,
    kernels: HashMap<u32, Kernel>,
    addrs: HashMap<u64, u64>,
    last: VecDeque<Last>,
    launches: u64,
    allocs: Vec<TraceAlloc>,
    frees: u64,
    changed_by_policy: u64,
    errors: Vec<TraceError>,
    notes: Vec<String>,
    /// Something was left out to keep the state bounded.
    capped: Vec<&'static str>,
}

/// One process's records, summed up as they were read.
#[derive(Debug, Clone, Default)]
pub struct ProcessTrace {
    /// The file.
    pub file: PathBuf,
    /// Records read.
    pub records: u64,
    /// Lines that did not parse.
    pub bad_lines: u64,
    /// It ends with an `exit` record.
    pub exited: bool,
    /// The process (`start` record).
    pub pid: Option<u32>,
    /// Its parent, whose kernels a forked child inherits.
    pub ppid: Option<u32>,
    /// The file was longer than its records (a process that died, was killed or exec'd)
    /// and was cut: (length found, length now).
    pub cut: Option<(u64, u64)>,
    /// The bytes, for a trace parsed from memory (read back for kernel names).
    data: Option<Arc<[u8]>>,
    st: State,
}

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
    let (f, len) = rp_sys::open_regular(path).map_err(|e| format!("{}: {e}", path.display()))?;
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
fn stream(
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

/// The APIs that launch, kept without an allocation per launch.
const LAUNCH_APIS: [&str; 3] = [
    "hipLaunchKernel",
    "hipExtLaunchKernel",
    "hipModuleLaunchKernel",
];

fn launch_api(api: &str) -> Cow<'static, str> {
    match LAUNCH_APIS.iter().find(|a| **a == api) {
        Some(a) => Cow::Borrowed(a),
        None => Cow::Owned(api.chars().take(64).collect()),
    }
}

impl ProcessTrace {
    /// One line of the file, at offset `at`, `raw` bytes long in the file.
    fn line(&mut self, at: u64, raw: u64, line: &[u8]) {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        if line.len() > MAX_LINE {
            self.bad_lines += 1;
            return;
        }
        let Ok(rec) = serde_json::from_slice::<Record>(line) else {
            self.bad_lines += 1;
            return;
        };
        self.records += 1;
        let st = &mut self.st;
        if st.t_first.is_none() {
            st.t_first = Some(rec.t);
        }
        st.last_ev_exit = rec.ev == "exit";
        match rec.ev {
            "start" => {
                if let Some(pol) = rec.policy.and_then(|p| p.parse().ok()) {
                    st.policy = Some(pol);
                }
                self.pid = rec.pid.or(self.pid);
                self.ppid = rec.ppid.or(self.ppid);
                st.format = rec.format.or(st.format);
                st.tsc = rec.clock == Some("tsc");
                if let Some(env) = rec.env {
                    st.kpack_env = env
                        .into_iter()
                        .filter(|(k, _)| k.starts_with("ROCM_KPACK_"))
                        .take(16)
                        .map(|(k, v)| (k, v.chars().take(4096).collect()))
                        .collect();
                }
            }
            "clock" => {
                if let (Some(t), Some(ns)) = (rec.tsc, rec.ns) {
                    if st.first_clock.is_none() {
                        st.first_clock = Some((t, ns));
                    }
                    st.last_clock = Some((t, ns));
                }
            }
            "fatbin" => {
                let id = rec.fatbin.unwrap_or(0);
                st.max_fatbin = st.max_fatbin.max(id.saturating_add(1));
                if st.fatbins.len() >= MAX_FATBINS {
                    cap(&mut st.capped, "fat binaries");
                    return;
                }
                st.fatbins.push(TraceFatbin {
                    id,
                    lib: rec.lib,
                    magic: rec.magic,
                    runs_here: None,
                    targets: rec.targets.unwrap_or_default(),
                    compressed: rec.compressed.unwrap_or(false),
                    kpack: rec.kpack.as_ref().map(kpack_line),
                    error: rec.error,
                });
            }
            "kernel" => {
                let k = rec.k.unwrap_or(u32::MAX);
                let place = Some((at, raw.min(MAX_LINE as u64) as u32));
                let room = st.kernels.len() < MAX_KERNELS;
                match st.kernels.get_mut(&k) {
                    Some(e) => e.at = place,
                    None if room => {
                        st.kernels.insert(
                            k,
                            Kernel {
                                at: place,
                                launches: 0,
                            },
                        );
                    }
                    None => cap(&mut st.capped, "kernel registrations"),
                }
            }
            "launch" => {
                st.launches += 1;
                let room = (st.kernels.len() < MAX_KERNELS, st.addrs.len() < MAX_ADDRS);
                match (rec.k, rec.func) {
                    (Some(k), _) => match st.kernels.get_mut(&k) {
                        Some(e) => e.launches += 1,
                        None if room.0 => {
                            st.kernels.insert(
                                k,
                                Kernel {
                                    at: None,
                                    launches: 1,
                                },
                            );
                        }
                        None => cap(&mut st.capped, "kernel registrations"),
                    },
                    (None, f) => {
                        let f = f.unwrap_or(0);
                        match st.addrs.get_mut(&f) {
                            Some(n) => *n += 1,
                            None if room.1 => {
                                st.addrs.insert(f, 1);
                            }
                            None => cap(&mut st.capped, "unregistered kernel addresses"),
                        }
                    }
                }
                if st.last.len() == LAST {
                    st.last.pop_front();
                }
                st.last.push_back(Last {
                    t: rec.t,
                    tid: rec.tid,
                    api: launch_api(rec.api.unwrap_or_default()),
                    k: rec.k,
                    func: rec.func,
                    grid: rec.grid.unwrap_or_default(),
                    block: rec.block.unwrap_or_default(),
                });
            }
            "alloc" => {
                let api = rec.api.unwrap_or_default();
                let (flags, asked) = (rec.flag_names, rec.asked_names);
                let i = match st.allocs.iter().position(|a| {
                    a.api == api && a.flags.as_deref() == flags && a.asked.as_deref() == asked
                }) {
                    Some(i) => Some(i),
                    None if st.allocs.len() < MAX_KINDS => {
                        st.allocs.push(TraceAlloc {
                            api: api.to_string(),
                            flags: flags.map(String::from),
                            asked: asked.map(String::from),
                            ..Default::default()
                        });
                        Some(st.allocs.len() - 1)
                    }
                    None => {
                        cap(&mut st.capped, "allocation kinds");
                        None
                    }
                };
                if let Some(a) = i.map(|i| &mut st.allocs[i]) {
                    a.count += 1;
                    if rec.ret.unwrap_or(0) == 0 {
                        a.bytes = a.bytes.saturating_add(rec.size.unwrap_or(0));
                    } else {
                        a.failed += 1;
                    }
                }
                if asked.is_some() {
                    st.changed_by_policy += 1;
                }
            }
            "free" => st.frees += 1,
            "error" => {
                let (api, code) = (rec.api.unwrap_or_default(), rec.ret.unwrap_or(0));
                let room = st.errors.len() < MAX_KINDS;
                match st.errors.iter_mut().find(|e| e.api == api && e.code == code) {
                    Some(e) => e.count += 1,
                    None if room => st.errors.push(TraceError {
                        api: api.to_string(),
                        code,
                        name: hip_error_name(code).map(String::from),
                        count: 1,
                    }),
                    None => cap(&mut st.capped, "error kinds"),
                }
            }
            "missing" => note(
                st,
                format!(
                    "{}: no HIP runtime provides it (the program's call failed with hipErrorSharedObjectSymbolNotFound)",
                    rec.api.unwrap_or("?")
                ),
            ),
            "disabled" => note(
                st,
                format!(
                    "tracing was disabled: {}",
                    rec.why.as_deref().unwrap_or("?")
                ),
            ),
            _ => {}
        }
    }

    fn finish(&mut self) {
        self.exited = self.st.last_ev_exit;
    }

    /// The bytes of one record of this file (`file`: this file, opened once by the
    /// caller).
    fn record_at(&self, file: Option<&std::fs::File>, at: u64, len: u32) -> Option<Vec<u8>> {
        let mut v = match (&self.data, file) {
            (Some(d), _) => d
                .get(at as usize..(at as usize).checked_add(len as usize)?)?
                .to_vec(),
            (None, Some(f)) => {
                let mut v = vec![0u8; len as usize];
                f.read_exact_at(&mut v, at).ok()?;
                v
            }
            (None, None) => return None,
        };
        v.retain(|&b| b != 0);
        Some(v)
    }
}

/// A note, once.
fn note(st: &mut State, n: String) {
    if st.notes.len() < MAX_NOTES && !st.notes.contains(&n) {
        st.notes.push(n);
    }
}

fn cap(capped: &mut Vec<&'static str>, what: &'static str) {
    if !capped.contains(&what) {
        capped.push(what);
    }
}

/// hipError_t names (HIP's include/hip/hip_runtime_api.h, enum hipError_t).
pub fn hip_error_name(code: i32) -> Option<&'static str> {
    Some(match code {
        0 => "hipSuccess",
        1 => "hipErrorInvalidValue",
        2 => "hipErrorOutOfMemory",
        3 => "hipErrorNotInitialized",
        4 => "hipErrorDeinitialized",
        9 => "hipErrorInvalidConfiguration",
        17 => "hipErrorInvalidDevicePointer",
        35 => "hipErrorInsufficientDriver",
        52 => "hipErrorMissingConfiguration",
        53 => "hipErrorPriorLaunchFailure",
        98 => "hipErrorInvalidDeviceFunction",
        100 => "hipErrorNoDevice",
        101 => "hipErrorInvalidDevice",
        200 => "hipErrorInvalidImage",
        201 => "hipErrorInvalidContext",
        209 => "hipErrorNoBinaryForGpu",
        218 => "hipErrorInvalidKernelFile",
        301 => "hipErrorFileNotFound",
        302 => "hipErrorSharedObjectSymbolNotFound",
        303 => "hipErrorSharedObjectInitFailed",
        304 => "hipErrorOperatingSystem",
        400 => "hipErrorInvalidHandle",
        500 => "hipErrorNotFound",
        600 => "hipErrorNotReady",
        700 => "hipErrorIllegalAddress",
        701 => "hipErrorLaunchOutOfResources",
        702 => "hipErrorLaunchTimeOut",
        710 => "hipErrorAssert",
        801 => "hipErrorNotSupported",
        999 => "hipErrorUnknown",
        1052 => "hipErrorRuntimeMemory",
        1053 => "hipErrorRuntimeOther",
        _ => return None,
    })
}

/// The kpack reference of a fat binary, as one line.
fn kpack_line(v: &serde_json::Value) -> String {
    let name = v["kernel_name"].as_str().unwrap_or("?");
    let search: Vec<&str> = v["search"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    format!("{name} in {}", search.join(", "))
}

/// Whether any of `targets` runs on `gpu`.
fn runs_on(gpu: &rp_kb::TargetId, targets: &[String]) -> bool {
    let kb = rp_kb::kb();
    targets.iter().any(|t| {
        t.parse::<rp_kb::TargetId>()
            .is_ok_and(|c| kb.compat(gpu, &c).loadable())
    })
}

/// What the kpack loader's variables do (rocm-kpack runtime/src/loader.cpp).
fn kpack_effect(name: &str, value: &str) -> &'static str {
    match name {
        "ROCM_KPACK_DISABLE" if value.starts_with('0') => "set to 0: the loader stays on",
        "ROCM_KPACK_DISABLE" => "the HIP runtime loaded no kpack'd GPU code",
        "ROCM_KPACK_PATH" => "kpack'd libraries read GPU code only from these archives, not from the .kpack/ directories beside them",
        "ROCM_KPACK_PATH_PREFIX" => "these archives were searched before the .kpack/ directories beside each library",
        "ROCM_KPACK_DEBUG" => "the kpack loader logged every archive and kernel lookup to stderr",
        _ => "a kpack loader variable",
    }
}

/// Resolves kernel ids to (name, library), in a process or the parent it was forked
/// from (a child inherits its parent's registrations and ids).
struct Names<'a> {
    procs: &'a [ProcessTrace],
    by_pid: HashMap<u32, usize>,
    /// Each process's file, opened once when a name is first read from it.
    open: RefCell<HashMap<usize, Option<std::fs::File>>>,
}

impl Names<'_> {
    fn get(&self, mut i: usize, k: u32) -> Option<(String, Option<String>)> {
        for _ in 0..32 {
            let p = &self.procs[i];
            if let Some((at, len)) = p.st.kernels.get(&k).and_then(|e| e.at) {
                let mut open = self.open.borrow_mut();
                let f = open.entry(i).or_insert_with(|| {
                    if p.data.is_some() {
                        return None;
                    }
                    rp_sys::open_regular(&p.file).ok().map(|(f, _)| f)
                });
                let rec = p.record_at(f.as_ref(), at, len)?;
                drop(open);
                let kn: KernelName = serde_json::from_slice(&rec).ok()?;
                let lib = kn.fatbin.and_then(|f| self.lib(i, f));
                return Some((kn.name.unwrap_or_default(), lib));
            }
            i = *self.by_pid.get(&p.ppid?)?;
        }
        None
    }

    /// The library of fat binary `f` of process `i` (or of its parents).
    fn lib(&self, mut i: usize, f: u32) -> Option<String> {
        for _ in 0..32 {
            let p = &self.procs[i];
            if let Some(fb) = p.st.fatbins.iter().rev().find(|x| x.id == f) {
                return fb.lib.clone();
            }
            i = *self.by_pid.get(&p.ppid?)?;
        }
        None
    }
}

/// Summarise the processes' records. `gpu` is the target fat binaries are checked
/// against.
pub fn summarize(procs: &[ProcessTrace], gpu: Option<&rp_kb::TargetId>) -> TraceReport {
    let mut r = TraceReport {
        schema: SCHEMA,
        policy: TracePolicy::None,
        gpu: gpu.map(|g| g.to_string()),
        ..Default::default()
    };
    let clocks: Vec<Option<Clock>> = procs.iter().map(Clock::of).collect();
    let t0 = procs
        .iter()
        .zip(&clocks)
        .filter_map(|(p, c)| Some(c.as_ref()?.ns(p.st.t_first?)))
        .fold(f64::INFINITY, f64::min);
    let names = Names {
        procs,
        by_pid: procs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((p.pid?, i)))
            .collect(),
        open: RefCell::new(HashMap::new()),
    };
    let mut launches: VecDeque<TraceLaunch> = VecDeque::new();
    let mut kernel_counts: HashMap<(String, Option<String>), u64> = HashMap::new();
    let mut allocs: Vec<TraceAlloc> = Vec::new();
    let mut errors: BTreeMap<(String, i32), u64> = BTreeMap::new();
    let mut kpack_env: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut capped: Vec<&'static str> = Vec::new();
    let mut cuts: Vec<(&std::ffi::OsStr, u64, u64)> = Vec::new();
    let mut fatbin_base = 0u32;
    for (i, (p, clock)) in procs.iter().zip(&clocks).enumerate() {
        let st = &p.st;
        r.files.push(p.file.display().to_string());
        r.records += p.records;
        r.bad_lines += p.bad_lines;
        if !p.exited && p.records > 0 {
            r.ended_abnormally = true;
        }
        if let Some(pol) = st.policy {
            r.policy = pol;
        }
        for (k, v) in &st.kpack_env {
            *kpack_env.entry((k.clone(), v.clone())).or_default() += 1;
        }
        for f in &st.fatbins {
            let mut f = f.clone();
            f.id = fatbin_base.saturating_add(f.id);
            f.runs_here = match (gpu, &f.kpack) {
                (Some(g), None) => Some(runs_on(g, &f.targets)),
                _ => None,
            };
            r.fatbins.push(f);
        }
        fatbin_base = fatbin_base.saturating_add(st.max_fatbin);
        // Each launched kernel's name, read back once.
        let mut resolved: HashMap<u32, (String, Option<String>)> = HashMap::new();
        let mut name_of = |k: u32| {
            resolved
                .entry(k)
                .or_insert_with(|| {
                    names.get(i, k).unwrap_or_else(|| {
                        (
                            format!("kernel #{k} (its registration was not recorded)"),
                            None,
                        )
                    })
                })
                .clone()
        };
        let mut add = |key: (String, Option<String>), n: u64| {
            if let Some(c) = kernel_counts.get_mut(&key) {
                *c += n;
            } else if kernel_counts.len() < MAX_KERNEL_NAMES {
                kernel_counts.insert(key, n);
            } else {
                cap(&mut capped, "kernel names");
            }
        };
        r.launches += st.launches;
        let mut launched: Vec<(&u32, &Kernel)> =
            st.kernels.iter().filter(|(_, e)| e.launches > 0).collect();
        launched.sort_by_key(|(k, _)| **k);
        for (k, e) in launched {
            add(name_of(*k), e.launches);
        }
        for (f, n) in &st.addrs {
            add((format!("unregistered kernel at {f:#x}"), None), *n);
        }
        for l in &st.last {
            let (kernel, lib) = match (l.k, l.func) {
                (Some(k), _) => name_of(k),
                (None, f) => (
                    format!("unregistered kernel at {:#x}", f.unwrap_or(0)),
                    None,
                ),
            };
            if launches.len() == LAST {
                launches.pop_front();
            }
            launches.push_back(TraceLaunch {
                ms: clock.map(|c| (c.ns(l.t) - t0) / 1e6),
                tid: l.tid,
                api: l.api.to_string(),
                kernel,
                lib,
                grid: l.grid,
                block: l.block,
            });
        }
        for a in &st.allocs {
            match allocs
                .iter_mut()
                .find(|x| x.api == a.api && x.flags == a.flags && x.asked == a.asked)
            {
                Some(x) => {
                    x.count += a.count;
                    x.bytes = x.bytes.saturating_add(a.bytes);
                    x.failed += a.failed;
                }
                None => allocs.push(a.clone()),
            }
        }
        r.frees += st.frees;
        r.changed_by_policy += st.changed_by_policy;
        for e in &st.errors {
            *errors.entry((e.api.clone(), e.code)).or_default() += e.count;
        }
        r.notes.extend(st.notes.iter().cloned());
        for c in &st.capped {
            cap(&mut capped, c);
        }
        if let Some((from, to)) = p.cut {
            cuts.push((p.file.file_name().unwrap_or_default(), from, to));
        }
    }
    match cuts.as_slice() {
        [] => {}
        [(name, from, to)] => r.notes.push(format!(
            "{}: the process did not end its record (it crashed, was killed, left with _exit or exec'd); the file was cut from {from} to {to} bytes, its records",
            name.to_string_lossy()
        )),
        all => r.notes.push(format!(
            "{} processes did not end their records (they crashed, were killed, left with _exit or exec'd); their files were cut from {} to {} bytes in all, their records",
            all.len(),
            all.iter().map(|c| c.1).sum::<u64>(),
            all.iter().map(|c| c.2).sum::<u64>()
        )),
    }
    let with_start = procs.iter().filter(|p| p.st.format.is_some()).count() as u64;
    for ((k, v), n) in &kpack_env {
        let in_how_many = if *n < with_start {
            format!(" (in {n} of {with_start} processes)")
        } else {
            String::new()
        };
        r.notes.push(format!(
            "{k}={v} was in force{in_how_many}: {}",
            kpack_effect(k, v)
        ));
    }
    if kpack_env.is_empty() && r.fatbins.iter().any(|f| f.magic.as_deref() == Some("HIPK")) {
        r.notes.push("no ROCM_KPACK_* variable was in force: kpack'd code was searched for in the archives each library names".into());
    }
    if !capped.is_empty() {
        r.notes.push(format!(
            "more {} than the summary keeps: counts of the ones left out are not shown",
            capped.join(", ")
        ));
    }
    r.notes.dedup();
    r.last_launches = launches.into();
    let mut ks: Vec<TraceKernel> = kernel_counts
        .into_iter()
        .map(|((name, lib), launches)| TraceKernel {
            name,
            lib,
            launches,
        })
        .collect();
    ks.sort_by(|a, b| {
        b.launches
            .cmp(&a.launches)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.lib.cmp(&b.lib))
    });
    ks.truncate(20);
    r.kernels = ks;
    allocs.sort_by(|a, b| (&a.api, &a.flags, &a.asked).cmp(&(&b.api, &b.flags, &b.asked)));
    r.allocations = allocs;
    r.errors = errors
        .into_iter()
        .map(|((api, code), count)| TraceError {
            name: hip_error_name(code).map(String::from),
            api,
            code,
            count,
        })
        .collect();
    r
}

/// What a trace says about a crash, as sentences for `explain`: the last kernel launched
/// and whether its fat binary had code for the GPU; whether the seed policy changed the
/// outcome, when traces with and without it are given.
pub fn evidence(reports: &[TraceReport]) -> Vec<String> {
    let mut out = Vec::new();
    for r in reports {
        let file = r.files.first().cloned().unwrap_or_default();
        let ended = if r.ended_abnormally {
            "ended without its exit record (it was killed or faulted)"
        } else {
            "exited normally"
        };
        out.push(format!(
            "trace {file} (policy {}): {} records, {} launches; the process {ended}",
            r.policy, r.records, r.launches
        ));
        if let Some(l) = r.last_launches.last() {
            let fb = r.fatbins.iter().find(|f| f.lib.is_some() && f.lib == l.lib);
            let code = match (fb, &r.gpu) {
                (Some(f), Some(g)) => match f.runs_here {
                    Some(true) => format!(", whose fat binary has code for {g} ({})", f.targets.join(", ")),
                    Some(false) => format!(
                        ", whose fat binary had no code for {g} (it holds {}): the GPU ran another target's machine code",
                        if f.targets.is_empty() { "nothing".into() } else { f.targets.join(", ") }
                    ),
                    None => String::new(),
                },
                _ => String::new(),
            };
            out.push(format!(
                "the last kernel launched was `{}`{}{}",
                l.kernel,
                l.lib
                    .as_deref()
                    .map(|x| format!(" from {x}"))
                    .unwrap_or_default(),
                code
            ));
        }
        let foreign: Vec<&TraceFatbin> = r
            .fatbins
            .iter()
            .filter(|f| f.runs_here == Some(false))
            .collect();
        if !foreign.is_empty() {
            if let Some(g) = &r.gpu {
                out.push(format!(
                    "{} of {} registered fat binaries have no code for {g}",
                    foreign.len(),
                    r.fatbins.len()
                ));
            }
        }
    }
    let seed = reports.iter().find(|r| r.policy == TracePolicy::Seed);
    let plain = reports.iter().find(|r| r.policy != TracePolicy::Seed);
    if let (Some(s), Some(p)) = (seed, plain) {
        match (s.ended_abnormally, p.ended_abnormally) {
            (true, true) => out.push(
                "a fault with --policy seed as without it: not a memory-coherence problem".into(),
            ),
            (false, true) => out.push(
                "the fault is gone with --policy seed: allocation flags (coherence) are involved"
                    .into(),
            ),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = concat!(
        "{\"t\":1000,\"tid\":1,\"ev\":\"start\",\"pid\":1,\"exe\":\"/x\",\"policy\":\"none\",\"format\":1,\"clock\":\"tsc\"}\n",
        "{\"t\":1000,\"tid\":1,\"ev\":\"clock\",\"tsc\":1000,\"ns\":500}\n",
        "{\"t\":3000,\"tid\":2,\"ev\":\"clock\",\"tsc\":3000,\"ns\":1500}\n",
        "{\"t\":2000,\"tid\":1,\"ev\":\"fatbin\",\"fatbin\":0,\"magic\":\"HIPF\",\"lib\":\"/l/libtorch_hip.so\",\"compressed\":true,\"targets\":[\"gfx1030\",\"gfx1100\"]}\n",
        "{\"t\":3000,\"tid\":1,\"ev\":\"kernel\",\"k\":0,\"api\":\"__hipRegisterFunction\",\"name\":\"_Z3addPf\",\"fatbin\":0}\n",
        "{\"t\":4000,\"tid\":1,\"ev\":\"alloc\",\"api\":\"hipHostMalloc\",\"size\":64,\"ptr\":9,\"flags\":2147483648,\"flag_names\":\"NonCoherent\",\"asked\":0,\"asked_names\":\"Default\",\"ret\":0}\n",
        "{\"t\":5000,\"tid\":1,\"ev\":\"launch\",\"api\":\"hipLaunchKernel\",\"k\":0,\"grid\":[1,1,1],\"block\":[64,1,1],\"shared\":0}\n",
        "{\"t\":6000,\"tid\":1,\"ev\":\"error\",\"api\":\"hipMalloc\",\"ret\":2}\n",
        "{\"t\":7000,\"tid\":1,\"ev\":\"launch\",\"api\":\"hipLaunchKernel\",\"k\":0,\"grid\":[2,1,1],\"block\":[64,1,1],\"shared\":0}\n",
    );

    #[test]
    fn a_killed_process_is_summarised_up_to_its_last_record() {
        let mut data = TRACE.as_bytes().to_vec();
        // What a killed process leaves: a half-copied record and zeros.
        data.extend_from_slice(b"{\"t\":8000,\"tid\":1,\"ev\":\"lau");
        data.extend_from_slice(&[0u8; 64]);
        let p = parse(Path::new("tr"), &data);
        assert_eq!((p.records, p.bad_lines, p.exited), (9, 1, false));
        let r = summarize(&[p], Some(&"gfx1010".parse().unwrap()));
        assert!(r.ended_abnormally);
        assert_eq!(r.launches, 2);
        assert_eq!(r.kernels[0].name, "_Z3addPf");
        assert_eq!(r.kernels[0].launches, 2);
        assert_eq!(r.last_launches.last().unwrap().grid, [2, 1, 1]);
        // Ticks at 0.5 ns each: the launch at t=7000 is 3000 ns after the start.
        assert_eq!(r.last_launches.last().unwrap().ms, Some(0.003));
        assert_eq!(r.fatbins[0].runs_here, Some(false));
        assert_eq!(r.changed_by_policy, 1);
        assert_eq!(r.errors[0].name.as_deref(), Some("hipErrorOutOfMemory"));
        let ev = evidence(std::slice::from_ref(&r));
        assert!(
            ev.iter().any(|l| l.contains("`_Z3addPf` from /l/libtorch_hip.so, whose fat binary had no code for gfx1010 (it holds gfx1030, gfx1100)")),
            "{ev:?}"
        );
        let mut seeded = r.clone();
        seeded.policy = TracePolicy::Seed;
        let ev = evidence(&[r, seeded]);
        assert!(ev
            .iter()
            .any(|l| l.contains("not a memory-coherence problem")));
    }

    #[test]
    fn gfx1030_code_runs_on_gfx1030_and_not_on_gfx1010() {
        let t = vec!["gfx1030".to_string()];
        let g = |s: &str| s.parse::<rp_kb::TargetId>().unwrap();
        assert!(runs_on(&g("gfx1030"), &t));
        assert!(!runs_on(&g("gfx1010"), &t));
    }

    #[test]
    fn children_files_are_found() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("tr.jsonl");
        for n in ["tr.jsonl", "tr.jsonl.123", "tr.jsonl.x", "tr.jsonl.99"] {
            std::fs::write(d.path().join(n), "").unwrap();
        }
        let f: Vec<String> = files(&base)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(f, ["tr.jsonl", "tr.jsonl.123", "tr.jsonl.99"]);
        // A process image that replaced a traced one (exec) writes `.<pid>.<n>`.
        std::fs::write(d.path().join("tr.jsonl.123.1"), "").unwrap();
        std::fs::write(d.path().join("tr.jsonl.123.x"), "").unwrap();
        assert_eq!(files(&base).len(), 4);
    }

    /// Lines that span the read buffer, zeros inside and after records, and a line
    /// longer than the limit: every record is read once, the limit holds, and the end of
    /// the content is where the last record ends.
    #[test]
    fn streaming_reads_lines_across_buffers_and_skips_zeros() {
        let mut data = Vec::new();
        let mut n = 0;
        while data.len() < 3 * BUF {
            data.extend_from_slice(
                format!("{{\"t\":{n},\"tid\":1,\"ev\":\"free\",\"api\":\"hipFree\",\"ptr\":0,\"ret\":0}}\n")
                    .as_bytes(),
            );
            n += 1;
        }
        // A record whose copy was cut short by a kill: zeros inside it.
        data.extend_from_slice(b"{\"t\":1,\"tid\":1,\"ev\":\"fr\0\0ee\"}\n");
        // A line over the limit, then the zeros a dead writer leaves.
        data.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        data.push(b'\n');
        let content = data.len() as u64;
        data.extend(std::iter::repeat_n(0u8, 2 * BUF + 17));
        let mut lines = 0;
        let mut longest = 0;
        let end = stream(&data[..], None, &mut |_, _, l| {
            lines += 1;
            longest = longest.max(l.len());
        })
        .unwrap();
        assert_eq!(end, content);
        assert_eq!(
            lines,
            n + 3,
            "records, the zeroed one, the long one, the zeros"
        );
        assert_eq!(longest, MAX_LINE + 1);
        let p = parse(Path::new("z"), &data);
        assert_eq!(p.records, n as u64 + 1);
        assert_eq!(p.bad_lines, 1);
        let r = summarize(&[p], None);
        assert_eq!(r.frees, n as u64 + 1);
    }

    /// A forked child inherits its parent's kernel ids: its launches are named from the
    /// parent's registration; a kernel registered nowhere says so.
    #[test]
    fn a_childs_launches_are_named_from_its_parents_registrations() {
        let parent = concat!(
            "{\"t\":1,\"tid\":1,\"ev\":\"start\",\"pid\":100,\"ppid\":1,\"policy\":\"none\",\"format\":2,\"clock\":\"ns\",\"env\":{\"ROCM_KPACK_DEBUG\":\"1\"}}\n",
            "{\"t\":2,\"tid\":1,\"ev\":\"fatbin\",\"fatbin\":0,\"magic\":\"HIPF\",\"lib\":\"/l/libk.so\",\"targets\":[\"gfx1030\"]}\n",
            "{\"t\":3,\"tid\":1,\"ev\":\"kernel\",\"k\":0,\"api\":\"__hipRegisterFunction\",\"name\":\"_Z1kv\",\"fatbin\":0}\n",
            "{\"t\":4,\"tid\":1,\"ev\":\"launch\",\"api\":\"hipLaunchKernel\",\"k\":0,\"grid\":[1,1,1],\"block\":[1,1,1],\"shared\":0}\n",
            "{\"t\":5,\"tid\":1,\"ev\":\"exit\"}\n",
        );
        let child = concat!(
            "{\"t\":10,\"tid\":2,\"ev\":\"start\",\"pid\":101,\"ppid\":100,\"policy\":\"none\",\"format\":2,\"clock\":\"ns\",\"env\":{}}\n",
            "{\"t\":11,\"tid\":2,\"ev\":\"launch\",\"api\":\"hipLaunchKernel\",\"k\":0,\"grid\":[2,1,1],\"block\":[1,1,1],\"shared\":0}\n",
            "{\"t\":12,\"tid\":2,\"ev\":\"launch\",\"api\":\"hipLaunchKernel\",\"k\":7,\"grid\":[3,1,1],\"block\":[1,1,1],\"shared\":0}\n",
        );
        let procs = [
            parse(Path::new("tr"), parent.as_bytes()),
            parse(Path::new("tr.101"), child.as_bytes()),
        ];
        let r = summarize(&procs, Some(&"gfx1030".parse().unwrap()));
        assert_eq!(r.launches, 3);
        assert_eq!(r.kernels[0].name, "_Z1kv");
        assert_eq!(r.kernels[0].lib.as_deref(), Some("/l/libk.so"));
        assert_eq!(r.kernels[0].launches, 2);
        assert_eq!(
            r.last_launches.last().unwrap().kernel,
            "kernel #7 (its registration was not recorded)"
        );
        assert_eq!(r.last_launches[1].grid, [2, 1, 1]);
        assert_eq!(r.last_launches[1].lib.as_deref(), Some("/l/libk.so"));
        assert!(r.ended_abnormally);
        assert!(
            r.notes.iter().any(|n| n
                == "ROCM_KPACK_DEBUG=1 was in force (in 1 of 2 processes): the kpack loader logged every archive and kernel lookup to stderr"),
            "{:?}",
            r.notes
        );
    }

    /// Per-process state stays bounded: more allocation kinds than the limit are not
    /// kept, and the summary says so.
    #[test]
    fn per_process_state_is_bounded() {
        let mut data = String::new();
        for i in 0..(MAX_KINDS + 50) {
            data.push_str(&format!(
                "{{\"t\":{i},\"tid\":1,\"ev\":\"alloc\",\"api\":\"hipExtMallocWithFlags\",\"size\":1,\"flag_names\":\"0x{i:x}\",\"ret\":0}}\n"
            ));
        }
        for i in 0..(MAX_ADDRS as u64 + 10) {
            data.push_str(&format!(
                "{{\"t\":1,\"tid\":1,\"ev\":\"launch\",\"api\":\"hipLaunchKernel\",\"fn\":{i},\"grid\":[1,1,1],\"block\":[1,1,1]}}\n"
            ));
        }
        let p = parse(Path::new("b"), data.as_bytes());
        assert_eq!(p.st.allocs.len(), MAX_KINDS);
        assert_eq!(p.st.addrs.len(), MAX_ADDRS);
        let r = summarize(&[p], None);
        assert_eq!(r.launches, MAX_ADDRS as u64 + 10);
        assert!(
            r.notes.iter().any(|n| n.starts_with(
                "more allocation kinds, unregistered kernel addresses than the summary keeps"
            )),
            "{:?}",
            r.notes
        );
    }

    /// A record file of a format 2 writer that died is cut to its records once no
    /// process holds its lock; while one does, it is left alone.
    #[test]
    fn a_dead_writers_file_is_cut_and_a_live_ones_is_not() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("tr.jsonl");
        let recs = "{\"t\":1,\"tid\":1,\"ev\":\"start\",\"pid\":5,\"format\":2,\"clock\":\"ns\"}\n{\"t\":2,\"tid\":1,\"ev\":\"free\"}\n";
        let mut data = recs.as_bytes().to_vec();
        data.extend(std::iter::repeat_n(0u8, 65536));
        std::fs::write(&f, &data).unwrap();
        // A live writer: holds the lock.
        let w = std::fs::File::open(&f).unwrap();
        w.lock().unwrap();
        let p = read(&f).unwrap();
        assert_eq!((p.records, p.cut), (2, None));
        assert_eq!(std::fs::metadata(&f).unwrap().len(), data.len() as u64);
        drop(w);
        let p = read(&f).unwrap();
        assert_eq!(p.cut, Some((data.len() as u64, recs.len() as u64)));
        assert_eq!(std::fs::read_to_string(&f).unwrap(), recs);
        // A format 1 writer never locked: its file is never cut.
        let old = d.path().join("old.jsonl");
        let mut data = b"{\"t\":1,\"tid\":1,\"ev\":\"start\",\"format\":1}\n".to_vec();
        data.extend(std::iter::repeat_n(0u8, 4096));
        std::fs::write(&old, &data).unwrap();
        assert_eq!(read(&old).unwrap().cut, None);
        assert_eq!(std::fs::metadata(&old).unwrap().len(), data.len() as u64);
    }
}
