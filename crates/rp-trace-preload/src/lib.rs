//! `librp_trace_preload.so`: loaded with `LD_PRELOAD` by `rocm-patch trace`, it stands in
//! front of the HIP runtime's exported functions and records, as JSON lines, what the
//! program asked the GPU to do: each fat binary registered (with the targets its bundle
//! holds, read with rp-codeobj), kernel registrations and launches, module loads,
//! allocations and frees (size, flags, result), and every call that failed.
//!
//! - The real functions are found with `dlsym(RTLD_NEXT, …)`, or, when the runtime was
//!   loaded into a local scope (a Python extension's dependency), through its handle
//!   (`dlopen(…, RTLD_NOLOAD)`). The library never links `libamdhip64`.
//! - Exported symbols carry the runtime's version tags (`hipMalloc@@hip_4.2`, …; hip.map
//!   and the `.symver` lines below), so versioned references bind here.
//! - Records go into a shared file mapping of `RP_TRACE_FILE` (a child process gets
//!   `RP_TRACE_FILE.<pid>`, a process image that replaced a traced one `….<pid>.<n>`): a
//!   record is in the page cache as soon as it is copied, so a process killed by a GPU
//!   fault leaves every record up to its last call, at the cost of a copy, not a system
//!   call. Launches are recorded before the call. The file grows by use (64 KiB first,
//!   then ahead of the records by as much as was written, up to 8 MiB; the mapping
//!   reserves `RP_TRACE_MAX`, 4 GiB by default); the process holds an exclusive `flock`
//!   on it while it lives, and a reader cuts a file no process holds to its records.
//! - `RP_TRACE_POLICY=seed` applies the seed project's allocation policy: pinned host
//!   memory requested non-coherent, device memory requested as plain coarse-grained; each
//!   changed call records the flags asked for and the flags applied.
//! - Nothing here aborts the program: if the file cannot be written, tracing stops and
//!   the program runs on untouched.
#![expect(
    unsafe_code,
    reason = "the interposer stands in for C functions of the HIP runtime"
)]
#![expect(
    clippy::missing_safety_doc,
    reason = "the exported functions keep the HIP runtime's contracts"
)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::fmt::Write as _;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::RwLock;

type HipError = c_int;
/// hipErrorSharedObjectSymbolNotFound (hip_runtime_api.h): the real function is missing.
const SYMBOL_NOT_FOUND: HipError = 302;

// Flag values (HIP's include/hip/hip_runtime_api.h).
const HOST_PORTABLE: u32 = 0x1;
const HOST_MAPPED: u32 = 0x2;
const HOST_WRITE_COMBINED: u32 = 0x4;
const HOST_NUMA_USER: u32 = 0x2000_0000;
const HOST_COHERENT: u32 = 0x4000_0000;
const HOST_NON_COHERENT: u32 = 0x8000_0000;
const DEVICE_FINEGRAINED: u32 = 0x1;
const DEVICE_SIGNAL_MEMORY: u32 = 0x2;
const DEVICE_UNCACHED: u32 = 0x3;
const DEVICE_CONTIGUOUS: u32 = 0x4;

/// A dim3 as HIP passes it by value.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Dim3 {
    x: u32,
    y: u32,
    z: u32,
}

// ---- the record file -----------------------------------------------------------------

/// The largest trace (`RP_TRACE_MAX`): address space reserved for the mapping; the file
/// itself grows by use.
const DEFAULT_CAP: usize = 4 << 30;
/// The file's first length: a process that records little keeps a small file.
const INITIAL: usize = 64 << 10;
/// Room kept at the end of the mapping for the record that says the trace is full.
const TAIL: usize = 4096;
/// The unit the file grows by is a multiple of this.
const GROW_UNIT: usize = 64 << 10;

struct Sink {
    base: *mut u8,
    /// The mapping's length (the most the file may grow to).
    cap: usize,
    /// Bytes reserved so far (the next record's offset).
    pos: AtomicUsize,
    /// The file's length now: pages below it may be written.
    len: AtomicUsize,
    /// Serialises growth and the cut at exit.
    grow: std::sync::Mutex<bool>,
    fd: c_int,
}

// SAFETY: the mapping is shared memory written at offsets reserved atomically.
unsafe impl Sync for Sink {}
unsafe impl Send for Sink {}

const UNINIT: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;
const OFF: u8 = 3;
static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static SINK: AtomicPtr<Sink> = AtomicPtr::new(null_mut());
static POLICY_SEED: AtomicU8 = AtomicU8::new(0);

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Open the trace file, or disable tracing. Called once per process.
///
/// The file starts at [`INITIAL`] bytes and grows ahead of the records (a helper thread
/// keeps it ahead; a writer that outruns it grows it itself), so a process that dies
/// leaves its records and at most a few MiB of zeros, which the next reader cuts off.
/// The process holds an exclusive `flock` on the file while it lives: a reader that
/// cannot take it knows a writer may still be appending, and leaves the file's length
/// alone.
fn open_sink() -> Option<Sink> {
    let base = env("RP_TRACE_FILE")?;
    let cap = env("RP_TRACE_MAX")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(DEFAULT_CAP)
        .clamp(1 << 16, 1 << 40);
    let open = |path: &str| -> c_int {
        let Ok(c) = std::ffi::CString::new(path) else {
            return -1;
        };
        // SAFETY: a valid C string; the flags create the file only if it is new.
        unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                0o600,
            )
        }
    };
    let mut fd = open(&base);
    if fd < 0 {
        // Taken (a child of the traced process, or a second run): one file per process;
        // a process image that replaced a traced one (exec) takes `.<pid>.<n>`.
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        fd = open(&format!("{base}.{pid}"));
        let mut n = 1;
        while fd < 0 && n < 64 {
            fd = open(&format!("{base}.{pid}.{n}"));
            n += 1;
        }
    }
    if fd < 0 {
        return None;
    }
    let initial = INITIAL.min(cap);
    // SAFETY: fd is ours; the mapping is shared, read-write, and reserves `cap` bytes of
    // address space; only pages below the file's length are ever touched.
    unsafe {
        libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB);
        if libc::ftruncate(fd, initial as libc::off_t) != 0 {
            libc::close(fd);
            return None;
        }
        let p = libc::mmap(
            null_mut(),
            cap,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        );
        if p == libc::MAP_FAILED {
            let msg = b"{\"ev\":\"disabled\",\"why\":\"cannot map the trace file\"}\n";
            libc::ftruncate(fd, 0);
            libc::write(fd, msg.as_ptr().cast(), msg.len());
            libc::close(fd);
            return None;
        }
        Some(Sink {
            base: p.cast(),
            cap,
            pos: AtomicUsize::new(0),
            len: AtomicUsize::new(initial),
            grow: std::sync::Mutex::new(false),
            fd,
        })
    }
}

/// How far ahead of the cursor the file is kept: as much as has been written, between
/// 64 KiB and 8 MiB.
fn ahead(pos: usize) -> usize {
    pos.clamp(GROW_UNIT, 8 << 20)
}

/// The unit the helper populates.
const CHUNK: usize = 2 << 20;
/// MADV_POPULATE_WRITE (Linux 5.14, include/uapi/asm-generic/mman-common.h).
const MADV_POPULATE_WRITE: c_int = 23;

/// A helper thread that grows the file ahead of the cursor and populates its pages
/// (MADV_POPULATE_WRITE: no data changes), so the recording threads neither grow the file
/// nor take a page fault every few dozen records (without it, on an older kernel, they
/// fault as before), and writes `clock` records (at 10 ms, 100 ms, then every second) for
/// the reader's conversion of timestamps.
fn start_prefault(s: &'static Sink) {
    let _ = std::thread::Builder::new()
        .name("rp-trace-prefault".into())
        .spawn(move || {
            let mut done = 0usize;
            let mut populate = true;
            let start = std::time::Instant::now();
            let mut next_clock = std::time::Duration::from_millis(10);
            loop {
                if start.elapsed() >= next_clock {
                    clock_record();
                    next_clock =
                        (next_clock * 10).min(start.elapsed() + std::time::Duration::from_secs(1));
                }
                let pos = s.pos.load(Ordering::Relaxed);
                if pos >= s.cap {
                    return; // full or finished
                }
                s.ensure(pos + ahead(pos));
                let want = s.len.load(Ordering::Acquire);
                while populate && done < want {
                    let len = CHUNK.min(want - done);
                    // SAFETY: a range inside our mapping and below the file's length;
                    // populating does not change it.
                    let r =
                        unsafe { libc::madvise(s.base.add(done).cast(), len, MADV_POPULATE_WRITE) };
                    if r != 0 {
                        populate = false; // not supported: faults stay with the writers
                        break;
                    }
                    done += len;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
}

fn sink() -> Option<&'static Sink> {
    loop {
        match STATE.load(Ordering::Acquire) {
            READY => {
                // SAFETY: set before READY and never freed while READY.
                return unsafe { SINK.load(Ordering::Acquire).as_ref() };
            }
            OFF => return None,
            BUSY => std::hint::spin_loop(),
            _ => {
                if STATE
                    .compare_exchange(UNINIT, BUSY, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    match open_sink() {
                        Some(s) => {
                            let s: &'static Sink = Box::leak(Box::new(s));
                            SINK.store((s as *const Sink).cast_mut(), Ordering::Release);
                            STATE.store(READY, Ordering::Release);
                            start_prefault(s);
                            start_record();
                        }
                        None => STATE.store(OFF, Ordering::Release),
                    }
                }
            }
        }
    }
}

/// The record written in the tail when the trace reaches its size limit.
const FULL: &[u8] = b"{\"t\":0,\"tid\":0,\"ev\":\"disabled\",\"why\":\"the record reached its size limit (RP_TRACE_MAX); later calls were not recorded\"}\n";

impl Sink {
    fn append(&self, bytes: &[u8]) {
        let at = self.pos.fetch_add(bytes.len(), Ordering::Relaxed);
        let end = at + bytes.len();
        if end > self.cap - TAIL {
            // Full: the record that crosses the limit says so in the tail, later ones are
            // dropped.
            if at <= self.cap - TAIL && self.ensure(at + FULL.len()) {
                // SAFETY: [at, at+FULL) lies in the tail, reserved by this crossing.
                unsafe {
                    std::ptr::copy_nonoverlapping(FULL.as_ptr(), self.base.add(at), FULL.len())
                };
            }
            return;
        }
        if end > self.len.load(Ordering::Acquire) && !self.ensure(end) {
            return;
        }
        // SAFETY: [at, end) was reserved for this record and lies below the file's length.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(at), bytes.len()) };
    }

    /// Grow the file to at least `end` bytes (doubling, at most 64 MiB at a time); false
    /// when it cannot grow (a full disk, or the file already cut at exit).
    #[cold]
    fn ensure(&self, end: usize) -> bool {
        let end = end.min(self.cap);
        if end <= self.len.load(Ordering::Acquire) {
            return true;
        }
        let Ok(finished) = self.grow.lock() else {
            return false;
        };
        let len = self.len.load(Ordering::Acquire);
        if end <= len {
            return true;
        }
        if *finished {
            return false;
        }
        let want = end.max(len.saturating_mul(2).min(len + (64 << 20)));
        let want = want
            .div_ceil(GROW_UNIT)
            .saturating_mul(GROW_UNIT)
            .min(self.cap);
        // SAFETY: our descriptor; growing a file leaves its mapped pages as they are.
        if unsafe { libc::ftruncate(self.fd, want as libc::off_t) } != 0 {
            return false;
        }
        self.len.store(want, Ordering::Release);
        true
    }

    /// Cut the file to what was written (at exit; a killed process leaves zeros after
    /// its last record, which the next reader cuts off). Records reserved after this are
    /// dropped: the cursor jumps past the mapping, so no writer touches a page beyond the
    /// cut.
    fn finish(&self) {
        let Ok(mut finished) = self.grow.lock() else {
            return;
        };
        *finished = true;
        let end = self.pos.fetch_add(self.cap, Ordering::AcqRel).min(self.cap);
        let len = self.len.load(Ordering::Acquire);
        // The full-record may lie past `cap - TAIL`; keep it.
        let keep = if end > self.cap - TAIL {
            (self.cap - TAIL + FULL.len()).min(len)
        } else {
            end
        };
        // SAFETY: our descriptor; every reserved record lies below `keep`.
        unsafe { libc::ftruncate(self.fd, keep as libc::off_t) };
        self.len.store(keep, Ordering::Release);
    }
}

extern "C" fn at_exit() {
    if STATE.load(Ordering::Acquire) == READY {
        if let Some(s) = sink() {
            clock_record();
            record("exit", |_| {});
            s.finish();
        }
    }
}

extern "C" fn after_fork_in_child() {
    // The parent's mapping and cursor are not ours: the child opens its own file. Its
    // copy of the parent's descriptor would hold the parent's lock for as long as the
    // child lives; it is closed, and the parent's mapping unmapped.
    let old = SINK.swap(null_mut(), Ordering::AcqRel);
    STATE.store(UNINIT, Ordering::Release);
    // SAFETY: the parent's sink, leaked and never freed; only this thread runs here.
    if let Some(s) = unsafe { old.as_ref() } {
        unsafe {
            libc::close(s.fd);
            libc::munmap(s.base.cast(), s.cap);
        }
    }
}

/// Runs when the library is loaded.
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;

extern "C" fn init() {
    POLICY_SEED.store(
        u8::from(env("RP_TRACE_POLICY").as_deref() == Some("seed")),
        Ordering::Relaxed,
    );
    // SAFETY: registering plain functions.
    unsafe {
        libc::atexit(at_exit);
        libc::pthread_atfork(None, None, Some(after_fork_in_child));
    }
}

/// The record's timestamp: the CPU's time-stamp counter on x86-64 (invariant TSC: about
/// 10 ns to read, where clock_gettime takes 25), converted to nanoseconds by the reader
/// from the `clock` records (TSC and CLOCK_MONOTONIC read together); elsewhere
/// CLOCK_MONOTONIC nanoseconds.
#[cfg(target_arch = "x86_64")]
fn stamp() -> u64 {
    // SAFETY: RDTSC is available on every x86-64 CPU.
    unsafe { std::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
fn stamp() -> u64 {
    now_ns()
}

/// What `t` counts.
const CLOCK: &str = if cfg!(target_arch = "x86_64") {
    "tsc"
} else {
    "ns"
};

/// A `clock` record: the stamp and CLOCK_MONOTONIC read together.
fn clock_record() {
    let (t, ns) = (stamp(), now_ns());
    record("clock", |b| {
        field(b, "tsc", t);
        field(b, "ns", ns);
    });
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

thread_local! {
    static BUF: RefCell<String> = RefCell::new(String::with_capacity(512));
    // SAFETY: gettid has no preconditions.
    static TID: u32 = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
}

/// Write one record: `{"t":…,"tid":…,"ev":"<ev>"` + what `body` adds + `}`.
fn record<B: FnOnce(&mut String)>(ev: &str, body: B) {
    let Some(s) = sink() else { return };
    let fill = |b: &mut String, body: &mut Option<B>| {
        b.clear();
        // SAFETY: gettid has no preconditions (after thread-local storage is gone).
        let tid = TID
            .try_with(|t| *t)
            .unwrap_or_else(|_| unsafe { libc::syscall(libc::SYS_gettid) } as u32);
        b.push_str("{\"t\":");
        push_u64(b, stamp());
        b.push_str(",\"tid\":");
        push_u64(b, u64::from(tid));
        b.push_str(",\"ev\":\"");
        b.push_str(ev);
        b.push('"');
        if let Some(f) = body.take() {
            f(b);
        }
        b.push_str("}\n");
        s.append(b.as_bytes());
    };
    let mut body = Some(body);
    // A bug here must never end the traced program: it stops tracing, and says so.
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let done = BUF
            .try_with(|b| match b.try_borrow_mut() {
                Ok(mut b) => {
                    fill(&mut b, &mut body);
                    true
                }
                Err(_) => false,
            })
            .unwrap_or(false);
        if !done {
            // At exit (thread-local storage already torn down) or re-entered.
            fill(&mut String::new(), &mut body);
        }
    }));
    if ok.is_err() {
        STATE.store(OFF, Ordering::Release);
        s.append(b"{\"t\":0,\"tid\":0,\"ev\":\"disabled\",\"why\":\"an internal error in the interposer; the program ran on untraced\"}\n");
    }
}

/// Two decimal digits for each value below 100.
const DIGITS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// An unsigned integer, two digits at a time (the hot path: no formatting machinery).
fn push_u64(b: &mut String, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&DIGITS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&DIGITS[d..d + 2]);
    } else {
        i -= 1;
        tmp[i] = b'0' + v as u8;
    }
    // SAFETY: ASCII digits.
    b.push_str(unsafe { std::str::from_utf8_unchecked(&tmp[i..]) });
}

fn push_i64(b: &mut String, v: i64) {
    if v < 0 {
        b.push('-');
    }
    push_u64(b, v.unsigned_abs());
}

/// `,"key":` then the number.
fn field(b: &mut String, key: &str, v: u64) {
    b.push_str(",\"");
    b.push_str(key);
    b.push_str("\":");
    push_u64(b, v);
}

/// A JSON string (control characters, quotes and backslashes escaped).
fn push_str(b: &mut String, s: &str) {
    b.push('"');
    for c in s.chars() {
        match c {
            '"' => b.push_str("\\\""),
            '\\' => b.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(b, "\\u{:04x}", c as u32);
            }
            c => b.push(c),
        }
    }
    b.push('"');
}

fn start_record() {
    let exe = std::fs::read_link("/proc/self/exe")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    // SAFETY: getpid and getppid have no preconditions.
    let (pid, ppid) = unsafe { (libc::getpid(), libc::getppid()) };
    let seed = POLICY_SEED.load(Ordering::Relaxed) == 1;
    // The kpack loader's variables as this process has them when it first calls the
    // runtime (rocm-kpack runtime/src/loader.cpp reads them then).
    let kpack: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
        .filter(|(k, _)| k.starts_with("ROCM_KPACK_"))
        .take(16)
        .collect();
    record("start", |b| {
        let _ = write!(b, ",\"pid\":{pid},\"ppid\":{ppid},\"exe\":");
        push_str(b, &exe);
        b.push_str(",\"policy\":");
        push_str(b, if seed { "seed" } else { "none" });
        b.push_str(",\"format\":2,\"clock\":\"");
        b.push_str(CLOCK);
        b.push('"');
        b.push_str(",\"env\":{");
        for (i, (k, v)) in kpack.iter().enumerate() {
            if i > 0 {
                b.push(',');
            }
            push_str(b, k);
            b.push(':');
            push_str(b, &v.chars().take(4096).collect::<String>());
        }
        b.push('}');
    });
    clock_record();
}

// ---- the real functions -----------------------------------------------------------------

/// The HIP runtime's handle when it was loaded into a local scope (found once).
fn runtime_handle() -> *mut c_void {
    static H: AtomicPtr<c_void> = AtomicPtr::new(null_mut());
    let h = H.load(Ordering::Acquire);
    if !h.is_null() {
        return h;
    }
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: the loader passes a valid info; data is our String.
        let name = unsafe { (*info).dlpi_name };
        if name.is_null() {
            return 0;
        }
        // SAFETY: a C string from the loader.
        let n = unsafe { CStr::from_ptr(name) }.to_string_lossy();
        if n.contains("libamdhip64.so") {
            // SAFETY: data points at the caller's String.
            unsafe { *(data as *mut String) = n.into_owned() };
            return 1;
        }
        0
    }
    let mut path = String::new();
    // SAFETY: the callback only reads what the loader passes.
    unsafe { libc::dl_iterate_phdr(Some(each), (&mut path as *mut String).cast()) };
    if path.is_empty() {
        return null_mut();
    }
    let Ok(c) = std::ffi::CString::new(path) else {
        return null_mut();
    };
    // SAFETY: RTLD_NOLOAD only returns a handle to an object already loaded.
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
    H.store(h, Ordering::Release);
    h
}

fn lookup(name: &CStr) -> *mut c_void {
    // SAFETY: dlsym with a valid name.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    if !p.is_null() {
        return p;
    }
    let h = runtime_handle();
    if h.is_null() {
        return null_mut();
    }
    // SAFETY: a handle from dlopen.
    unsafe { libc::dlsym(h, name.as_ptr()) }
}

/// The real function `$name` of type `$ty`, or `None` if no runtime provides it.
macro_rules! real {
    ($name:literal, $ty:ty) => {{
        static P: AtomicPtr<c_void> = AtomicPtr::new(null_mut());
        let mut p = P.load(Ordering::Relaxed);
        if p.is_null() {
            p = lookup(
                CStr::from_bytes_with_nul(concat!($name, "\0").as_bytes()).expect("literal"),
            );
            P.store(p, Ordering::Relaxed);
        }
        if p.is_null() {
            None
        } else {
            // SAFETY: the runtime's symbol of that name has this C signature
            // (hip_runtime_api.h).
            Some(unsafe { std::mem::transmute::<*mut c_void, $ty>(p) })
        }
    }};
}

fn missing(api: &str) -> HipError {
    record("missing", |b| {
        b.push_str(",\"api\":");
        push_str(b, api);
    });
    SYMBOL_NOT_FOUND
}

// ---- kernels --------------------------------------------------------------------------

static NEXT_KERNEL: AtomicU32 = AtomicU32::new(0);
static NEXT_FATBIN: AtomicU32 = AtomicU32::new(0);

fn kernels() -> &'static RwLock<HashMap<usize, u32>> {
    static K: std::sync::OnceLock<RwLock<HashMap<usize, u32>>> = std::sync::OnceLock::new();
    K.get_or_init(|| RwLock::new(HashMap::new()))
}

fn fatbins() -> &'static RwLock<HashMap<usize, u32>> {
    static F: std::sync::OnceLock<RwLock<HashMap<usize, u32>>> = std::sync::OnceLock::new();
    F.get_or_init(|| RwLock::new(HashMap::new()))
}

fn kernel_id(key: usize) -> Option<u32> {
    kernels().read().ok()?.get(&key).copied()
}

fn new_kernel(key: usize, name: &str, fatbin: Option<u32>, api: &str) {
    let id = NEXT_KERNEL.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut k) = kernels().write() {
        k.insert(key, id);
    }
    record("kernel", |b| {
        let _ = write!(b, ",\"k\":{id},\"api\":\"{api}\",\"name\":");
        push_str(b, name);
        if let Some(f) = fatbin {
            let _ = write!(b, ",\"fatbin\":{f}");
        }
    });
}

/// The loaded object containing `p`, and the end of the segment holding it.
fn segment_of(p: usize) -> Option<(String, usize)> {
    struct Q {
        p: usize,
        found: Option<(String, usize)>,
    }
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _s: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: valid pointers from the loader and our Q.
        let (info, q) = unsafe { (&*info, &mut *(data as *mut Q)) };
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: dlpi_phdr has dlpi_phnum entries.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type != libc::PT_LOAD {
                continue;
            }
            let start = info.dlpi_addr as usize + ph.p_vaddr as usize;
            let end = start + ph.p_memsz as usize;
            if q.p >= start && q.p < end {
                let name = if info.dlpi_name.is_null() {
                    String::new()
                } else {
                    // SAFETY: a C string from the loader.
                    unsafe { CStr::from_ptr(info.dlpi_name) }
                        .to_string_lossy()
                        .into_owned()
                };
                // The main program has an empty name.
                let name = if name.is_empty() {
                    std::fs::read_link("/proc/self/exe")
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                } else {
                    name
                };
                q.found = Some((name, end));
                return 1;
            }
        }
        0
    }
    let mut q = Q { p, found: None };
    // SAFETY: the callback only reads what the loader passes.
    unsafe { libc::dl_iterate_phdr(Some(each), (&mut q as *mut Q).cast()) };
    q.found
}

/// What a registered fat binary holds: `"targets":[…]` and where it came from.
fn describe_fatbin(b: &mut String, wrapper: *const c_void) {
    if wrapper.is_null() {
        b.push_str(",\"error\":\"null wrapper\"");
        return;
    }
    // SAFETY: the compiler's wrapper record: magic u32, version u32, pointer.
    let (magic, blob) = unsafe {
        let w = wrapper as *const u32;
        (
            w.read_unaligned(),
            (w.add(2) as *const *const u8).read_unaligned(),
        )
    };
    let kind = match magic {
        0x4849_5046 => "HIPF",
        0x4B50_4948 => "HIPK",
        _ => {
            let _ = write!(b, ",\"error\":\"unknown wrapper magic {magic:#x}\"");
            return;
        }
    };
    let _ = write!(b, ",\"magic\":\"{kind}\"");
    let Some((lib, end)) = segment_of(blob as usize) else {
        b.push_str(",\"error\":\"the bundle is not inside a loaded object\"");
        return;
    };
    b.push_str(",\"lib\":");
    push_str(b, &lib);
    // SAFETY: [blob, end) is inside one loaded segment of that object.
    let data = unsafe { std::slice::from_raw_parts(blob, end - blob as usize) };
    if kind == "HIPK" {
        match rp_codeobj::kpack::parse_ref(data) {
            Ok(r) => {
                b.push_str(",\"kpack\":{\"kernel_name\":");
                push_str(b, &r.kernel_name);
                b.push_str(",\"search\":[");
                for (i, s) in r.kpack_search_paths.iter().enumerate() {
                    if i > 0 {
                        b.push(',');
                    }
                    push_str(b, s);
                }
                b.push_str("]}");
            }
            Err(e) => {
                b.push_str(",\"error\":");
                push_str(b, &e.to_string());
            }
        }
        return;
    }
    let scan = rp_codeobj::scan(data, &rp_codeobj::Options::default());
    let compressed = scan.format == Some(rp_codeobj::Format::CompressedBundle);
    let _ = write!(b, ",\"compressed\":{compressed},\"targets\":[");
    for (i, c) in scan.code_objects.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        push_str(b, &c.target_id);
    }
    b.push(']');
    if let Some(e) = &scan.error {
        b.push_str(",\"error\":");
        push_str(b, &e.to_string());
    }
}

// ---- exported functions ------------------------------------------------------------------

/// Bind each exported function to its version node.
macro_rules! versioned {
    ($($internal:literal => $public:literal @ $ver:literal),* $(,)?) => {
        std::arch::global_asm!($(concat!(".symver ", $internal, ", ", $public, "@@", $ver)),*);
    };
}

versioned! {
    "rp_trace_hipRegisterFatBinary" => "__hipRegisterFatBinary" @ "hip_4.2",
    "rp_trace_hipRegisterFunction" => "__hipRegisterFunction" @ "hip_4.2",
    "rp_trace_hipModuleLoad" => "hipModuleLoad" @ "hip_4.2",
    "rp_trace_hipModuleLoadData" => "hipModuleLoadData" @ "hip_4.2",
    "rp_trace_hipModuleLoadDataEx" => "hipModuleLoadDataEx" @ "hip_4.2",
    "rp_trace_hipModuleGetFunction" => "hipModuleGetFunction" @ "hip_4.2",
    "rp_trace_hipLaunchKernel" => "hipLaunchKernel" @ "hip_4.2",
    "rp_trace_hipModuleLaunchKernel" => "hipModuleLaunchKernel" @ "hip_4.2",
    "rp_trace_hipExtLaunchKernel" => "hipExtLaunchKernel" @ "hip_4.2",
    "rp_trace_hipMalloc" => "hipMalloc" @ "hip_4.2",
    "rp_trace_hipMallocAsync" => "hipMallocAsync" @ "hip_5.1",
    "rp_trace_hipExtMallocWithFlags" => "hipExtMallocWithFlags" @ "hip_4.2",
    "rp_trace_hipHostMalloc" => "hipHostMalloc" @ "hip_4.2",
    "rp_trace_hipHostAlloc" => "hipHostAlloc" @ "hip_4.2",
    "rp_trace_hipExtHostAlloc" => "hipExtHostAlloc" @ "hip_6.3",
    "rp_trace_hipMallocManaged" => "hipMallocManaged" @ "hip_4.2",
    "rp_trace_hipFree" => "hipFree" @ "hip_4.2",
    "rp_trace_hipHostFree" => "hipHostFree" @ "hip_4.2",
    "rp_trace_hipFreeAsync" => "hipFreeAsync" @ "hip_5.1",
    "rp_trace_hipGetDeviceCount" => "hipGetDeviceCount" @ "hip_4.2",
}

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipRegisterFatBinary(data: *const c_void) -> *mut *mut c_void {
    type F = unsafe extern "C" fn(*const c_void) -> *mut *mut c_void;
    let id = NEXT_FATBIN.fetch_add(1, Ordering::Relaxed);
    record("fatbin", |b| {
        let _ = write!(b, ",\"fatbin\":{id}");
        describe_fatbin(b, data);
    });
    let Some(f) = real!("__hipRegisterFatBinary", F) else {
        missing("__hipRegisterFatBinary");
        return null_mut();
    };
    // SAFETY: forwarding the caller's arguments.
    let h = unsafe { f(data) };
    if let Ok(mut m) = fatbins().write() {
        m.insert(h as usize, id);
    }
    h
}

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipRegisterFunction(
    modules: *mut *mut c_void,
    host_function: *const c_void,
    device_function: *mut c_char,
    device_name: *const c_char,
    thread_limit: c_uint,
    tid: *mut c_void,
    bid: *mut c_void,
    block_dim: *mut Dim3,
    grid_dim: *mut Dim3,
    w_size: *mut c_int,
) {
    type F = unsafe extern "C" fn(
        *mut *mut c_void,
        *const c_void,
        *mut c_char,
        *const c_char,
        c_uint,
        *mut c_void,
        *mut c_void,
        *mut Dim3,
        *mut Dim3,
        *mut c_int,
    );
    let name = if device_name.is_null() {
        String::new()
    } else {
        // SAFETY: the compiler passes the kernel's name as a C string.
        unsafe { CStr::from_ptr(device_name) }
            .to_string_lossy()
            .into_owned()
    };
    let fatbin = fatbins()
        .read()
        .ok()
        .and_then(|m| m.get(&(modules as usize)).copied());
    new_kernel(
        host_function as usize,
        &name,
        fatbin,
        "__hipRegisterFunction",
    );
    match real!("__hipRegisterFunction", F) {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe {
            f(
                modules,
                host_function,
                device_function,
                device_name,
                thread_limit,
                tid,
                bid,
                block_dim,
                grid_dim,
                w_size,
            )
        },
        None => {
            missing("__hipRegisterFunction");
        }
    }
}

fn ret_field(b: &mut String, r: HipError) {
    b.push_str(",\"ret\":");
    push_i64(b, i64::from(r));
}

/// A failed call (every intercepted call that returns an error).
fn failed(api: &str, r: HipError) {
    if r != 0 {
        record("error", |b| {
            let _ = write!(b, ",\"api\":\"{api}\"");
            ret_field(b, r);
        });
    }
}

fn module_loaded(api: &str, module: *mut *mut c_void, r: HipError, what: impl FnOnce(&mut String)) {
    let m = if module.is_null() || r != 0 {
        0
    } else {
        // SAFETY: the runtime filled the caller's out-parameter.
        unsafe { *module as usize }
    };
    record("module", |b| {
        let _ = write!(b, ",\"api\":\"{api}\",\"module\":{m}");
        what(b);
        ret_field(b, r);
    });
    failed(api, r);
}

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipModuleLoad(
    module: *mut *mut c_void,
    fname: *const c_char,
) -> HipError {
    type F = unsafe extern "C" fn(*mut *mut c_void, *const c_char) -> HipError;
    let Some(f) = real!("hipModuleLoad", F) else {
        return missing("hipModuleLoad");
    };
    // SAFETY: forwarding.
    let r = unsafe { f(module, fname) };
    let name = if fname.is_null() {
        String::new()
    } else {
        // SAFETY: the caller's C string.
        unsafe { CStr::from_ptr(fname) }
            .to_string_lossy()
            .into_owned()
    };
    module_loaded("hipModuleLoad", module, r, |b| {
        b.push_str(",\"file\":");
        push_str(b, &name);
    });
    r
}

fn image_targets(b: &mut String, image: *const c_void) {
    if image.is_null() {
        return;
    }
    if let Some((lib, end)) = segment_of(image as usize) {
        b.push_str(",\"lib\":");
        push_str(b, &lib);
        // SAFETY: inside one loaded segment.
        let data = unsafe { std::slice::from_raw_parts(image as *const u8, end - image as usize) };
        let scan = rp_codeobj::scan(data, &rp_codeobj::Options::default());
        b.push_str(",\"targets\":[");
        for (i, c) in scan.code_objects.iter().enumerate() {
            if i > 0 {
                b.push(',');
            }
            push_str(b, &c.target_id);
        }
        b.push(']');
    }
}

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipModuleLoadData(
    module: *mut *mut c_void,
    image: *const c_void,
) -> HipError {
    type F = unsafe extern "C" fn(*mut *mut c_void, *const c_void) -> HipError;
    let Some(f) = real!("hipModuleLoadData", F) else {
        return missing("hipModuleLoadData");
    };
    // SAFETY: forwarding.
    let r = unsafe { f(module, image) };
    module_loaded("hipModuleLoadData", module, r, |b| image_targets(b, image));
    r
}

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipModuleLoadDataEx(
    module: *mut *mut c_void,
    image: *const c_void,
    n: c_uint,
    options: *mut c_void,
    values: *mut *mut c_void,
) -> HipError {
    type F = unsafe extern "C" fn(
        *mut *mut c_void,
        *const c_void,
        c_uint,
        *mut c_void,
        *mut *mut c_void,
    ) -> HipError;
    let Some(f) = real!("hipModuleLoadDataEx", F) else {
        return missing("hipModuleLoadDataEx");
    };
    // SAFETY: forwarding.
    let r = unsafe { f(module, image, n, options, values) };
    module_loaded("hipModuleLoadDataEx", module, r, |b| {
        image_targets(b, image)
    });
    r
}

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipModuleGetFunction(
    function: *mut *mut c_void,
    module: *mut c_void,
    kname: *const c_char,
) -> HipError {
    type F = unsafe extern "C" fn(*mut *mut c_void, *mut c_void, *const c_char) -> HipError;
    let Some(f) = real!("hipModuleGetFunction", F) else {
        return missing("hipModuleGetFunction");
    };
    // SAFETY: forwarding.
    let r = unsafe { f(function, module, kname) };
    if r == 0 && !function.is_null() && !kname.is_null() {
        // SAFETY: filled by the runtime; the caller's C string.
        let (h, name) = unsafe { (*function as usize, CStr::from_ptr(kname).to_string_lossy()) };
        new_kernel(h, &name, None, "hipModuleGetFunction");
    }
    failed("hipModuleGetFunction", r);
    r
}

fn launch(api: &str, key: usize, grid: Dim3, block: Dim3, shared: usize) {
    let k = kernel_id(key);
    record("launch", |b| {
        b.push_str(",\"api\":\"");
        b.push_str(api);
        b.push('"');
        match k {
            Some(k) => field(b, "k", u64::from(k)),
            None => field(b, "fn", key as u64),
        }
        b.push_str(",\"grid\":[");
        for (i, v) in [grid.x, grid.y, grid.z, block.x, block.y, block.z]
            .into_iter()
            .enumerate()
        {
            match i {
                0 => {}
                3 => b.push_str("],\"block\":["),
                _ => b.push(','),
            }
            push_u64(b, u64::from(v));
        }
        b.push(']');
        field(b, "shared", shared as u64);
    });
}

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipLaunchKernel(
    function: *const c_void,
    grid: Dim3,
    block: Dim3,
    args: *mut *mut c_void,
    shared: usize,
    stream: *mut c_void,
) -> HipError {
    type F = unsafe extern "C" fn(
        *const c_void,
        Dim3,
        Dim3,
        *mut *mut c_void,
        usize,
        *mut c_void,
    ) -> HipError;
    launch("hipLaunchKernel", function as usize, grid, block, shared);
    let Some(f) = real!("hipLaunchKernel", F) else {
        return missing("hipLaunchKernel");
    };
    // SAFETY: forwarding.
    let r = unsafe { f(function, grid, block, args, shared, stream) };
    failed("hipLaunchKernel", r);
    r
}

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipExtLaunchKernel(
    function: *const c_void,
    grid: Dim3,
    block: Dim3,
    args: *mut *mut c_void,
    shared: usize,
    stream: *mut c_void,
    start: *mut c_void,
    stop: *mut c_void,
    flags: c_int,
) -> HipError {
    type F = unsafe extern "C" fn(
        *const c_void,
        Dim3,
        Dim3,
        *mut *mut c_void,
        usize,
        *mut c_void,
        *mut c_void,
        *mut c_void,
        c_int,
    ) -> HipError;
    launch("hipExtLaunchKernel", function as usize, grid, block, shared);
    let Some(f) = real!("hipExtLaunchKernel", F) else {
        return missing("hipExtLaunchKernel");
    };
    // SAFETY: forwarding.
    let r = unsafe {
        f(
            function, grid, block, args, shared, stream, start, stop, flags,
        )
    };
    failed("hipExtLaunchKernel", r);
    r
}

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipModuleLaunchKernel(
    f_: *mut c_void,
    gx: c_uint,
    gy: c_uint,
    gz: c_uint,
    bx: c_uint,
    by: c_uint,
    bz: c_uint,
    shared: c_uint,
    stream: *mut c_void,
    params: *mut *mut c_void,
    extra: *mut *mut c_void,
) -> HipError {
    type F = unsafe extern "C" fn(
        *mut c_void,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        *mut c_void,
        *mut *mut c_void,
        *mut *mut c_void,
    ) -> HipError;
    launch(
        "hipModuleLaunchKernel",
        f_ as usize,
        Dim3 {
            x: gx,
            y: gy,
            z: gz,
        },
        Dim3 {
            x: bx,
            y: by,
            z: bz,
        },
        shared as usize,
    );
    let Some(f) = real!("hipModuleLaunchKernel", F) else {
        return missing("hipModuleLaunchKernel");
    };
    // SAFETY: forwarding.
    let r = unsafe { f(f_, gx, gy, gz, bx, by, bz, shared, stream, params, extra) };
    failed("hipModuleLaunchKernel", r);
    r
}

/// Flag names for the record.
fn host_flag_names(f: u32) -> String {
    let mut v = Vec::new();
    for (bit, n) in [
        (HOST_PORTABLE, "Portable"),
        (HOST_MAPPED, "Mapped"),
        (HOST_WRITE_COMBINED, "WriteCombined"),
        (HOST_NUMA_USER, "NumaUser"),
        (HOST_COHERENT, "Coherent"),
        (HOST_NON_COHERENT, "NonCoherent"),
    ] {
        if f & bit != 0 {
            v.push(n);
        }
    }
    let rest = f & !(HOST_PORTABLE
        | HOST_MAPPED
        | HOST_WRITE_COMBINED
        | HOST_NUMA_USER
        | HOST_COHERENT
        | HOST_NON_COHERENT);
    let mut s = if v.is_empty() {
        "Default".to_string()
    } else {
        v.join("|")
    };
    if rest != 0 {
        let _ = write!(s, "|{rest:#x}");
    }
    s
}

fn device_flag_name(f: u32) -> String {
    match f {
        0 => "Default".into(),
        DEVICE_FINEGRAINED => "Finegrained".into(),
        DEVICE_SIGNAL_MEMORY => "SignalMemory".into(),
        DEVICE_UNCACHED => "Uncached".into(),
        DEVICE_CONTIGUOUS => "Contiguous".into(),
        other => format!("{other:#x}"),
    }
}

fn seed() -> bool {
    POLICY_SEED.load(Ordering::Relaxed) == 1
}

/// The seed policy for pinned host memory: non-coherent, never coherent.
fn seed_host(f: u32) -> u32 {
    (f & !HOST_COHERENT) | HOST_NON_COHERENT
}

/// The seed policy for device memory: plain coarse-grained (fine-grained and uncached
/// requests become the default).
fn seed_device(f: u32) -> u32 {
    match f {
        DEVICE_FINEGRAINED | DEVICE_UNCACHED => 0,
        other => other,
    }
}

fn alloc_record(
    api: &str,
    ptr: *mut *mut c_void,
    size: usize,
    flags: Option<(u32, u32, bool)>,
    r: HipError,
) {
    let p = if ptr.is_null() || r != 0 {
        0
    } else {
        // SAFETY: the runtime filled the out-parameter.
        unsafe { *ptr as usize }
    };
    record("alloc", |b| {
        b.push_str(",\"api\":\"");
        b.push_str(api);
        b.push('"');
        field(b, "size", size as u64);
        field(b, "ptr", p as u64);
        if let Some((asked, applied, host)) = flags {
            let name = |f| {
                if host {
                    host_flag_names(f)
                } else {
                    device_flag_name(f)
                }
            };
            let _ = write!(b, ",\"flags\":{applied},\"flag_names\":");
            push_str(b, &name(applied));
            if asked != applied {
                let _ = write!(b, ",\"asked\":{asked},\"asked_names\":");
                push_str(b, &name(asked));
            }
        }
        ret_field(b, r);
    });
    failed(api, r);
}

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipMalloc(ptr: *mut *mut c_void, size: usize) -> HipError {
    type F = unsafe extern "C" fn(*mut *mut c_void, usize) -> HipError;
    let Some(f) = real!("hipMalloc", F) else {
        return missing("hipMalloc");
    };
    // SAFETY: forwarding.
    let r = unsafe { f(ptr, size) };
    alloc_record("hipMalloc", ptr, size, None, r);
    r
}

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipMallocAsync(
    ptr: *mut *mut c_void,
    size: usize,
    stream: *mut c_void,
) -> HipError {
    type F = unsafe extern "C" fn(*mut *mut c_void, usize, *mut c_void) -> HipError;
    let Some(f) = real!("hipMallocAsync", F) else {
        return missing("hipMallocAsync");
    };
    // SAFETY: forwarding.
    let r = unsafe { f(ptr, size, stream) };
    alloc_record("hipMallocAsync", ptr, size, None, r);
    r
}

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipExtMallocWithFlags(
    ptr: *mut *mut c_void,
    size: usize,
    flags: c_uint,
) -> HipError {
    type F = unsafe extern "C" fn(*mut *mut c_void, usize, c_uint) -> HipError;
    let Some(f) = real!("hipExtMallocWithFlags", F) else {
        return missing("hipExtMallocWithFlags");
    };
    let applied = if seed() { seed_device(flags) } else { flags };
    // SAFETY: forwarding.
    let r = unsafe { f(ptr, size, applied) };
    alloc_record(
        "hipExtMallocWithFlags",
        ptr,
        size,
        Some((flags, applied, false)),
        r,
    );
    r
}

/// The host allocators share one signature: (ptr, size, flags).
macro_rules! host_alloc {
    ($fn:ident, $name:literal) => {
        #[no_mangle]
        pub unsafe extern "C" fn $fn(
            ptr: *mut *mut c_void,
            size: usize,
            flags: c_uint,
        ) -> HipError {
            type F = unsafe extern "C" fn(*mut *mut c_void, usize, c_uint) -> HipError;
            let Some(f) = real!($name, F) else {
                return missing($name);
            };
            let applied = if seed() { seed_host(flags) } else { flags };
            // SAFETY: forwarding.
            let r = unsafe { f(ptr, size, applied) };
            alloc_record($name, ptr, size, Some((flags, applied, true)), r);
            r
        }
    };
}

host_alloc!(rp_trace_hipHostMalloc, "hipHostMalloc");
host_alloc!(rp_trace_hipHostAlloc, "hipHostAlloc");
// hipExtHostAlloc (HIP 6.3, `hip_6.3`) is taken to have hipHostAlloc's signature
// (ptr, size, flags); no HIP 6.3 header was at hand to check it.
host_alloc!(rp_trace_hipExtHostAlloc, "hipExtHostAlloc");

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipMallocManaged(
    ptr: *mut *mut c_void,
    size: usize,
    flags: c_uint,
) -> HipError {
    type F = unsafe extern "C" fn(*mut *mut c_void, usize, c_uint) -> HipError;
    let Some(f) = real!("hipMallocManaged", F) else {
        return missing("hipMallocManaged");
    };
    // SAFETY: forwarding.
    let r = unsafe { f(ptr, size, flags) };
    alloc_record(
        "hipMallocManaged",
        ptr,
        size,
        Some((flags, flags, false)),
        r,
    );
    r
}

fn free_record(api: &str, p: *mut c_void, r: HipError) {
    record("free", |b| {
        b.push_str(",\"api\":\"");
        b.push_str(api);
        b.push('"');
        field(b, "ptr", p as u64);
        ret_field(b, r);
    });
    failed(api, r);
}

/// The frees that take only the pointer.
macro_rules! free_fn {
    ($fn:ident, $name:literal) => {
        #[no_mangle]
        pub unsafe extern "C" fn $fn(p: *mut c_void) -> HipError {
            type F = unsafe extern "C" fn(*mut c_void) -> HipError;
            let Some(f) = real!($name, F) else {
                return missing($name);
            };
            // SAFETY: forwarding.
            let r = unsafe { f(p) };
            free_record($name, p, r);
            r
        }
    };
}

free_fn!(rp_trace_hipFree, "hipFree");
free_fn!(rp_trace_hipHostFree, "hipHostFree");

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipFreeAsync(p: *mut c_void, stream: *mut c_void) -> HipError {
    type F = unsafe extern "C" fn(*mut c_void, *mut c_void) -> HipError;
    let Some(f) = real!("hipFreeAsync", F) else {
        return missing("hipFreeAsync");
    };
    // SAFETY: forwarding.
    let r = unsafe { f(p, stream) };
    free_record("hipFreeAsync", p, r);
    r
}

#[no_mangle]
pub unsafe extern "C" fn rp_trace_hipGetDeviceCount(count: *mut c_int) -> HipError {
    type F = unsafe extern "C" fn(*mut c_int) -> HipError;
    let Some(f) = real!("hipGetDeviceCount", F) else {
        return missing("hipGetDeviceCount");
    };
    // SAFETY: forwarding.
    let r = unsafe { f(count) };
    let n = if count.is_null() || r != 0 {
        -1
    } else {
        // SAFETY: filled by the runtime.
        unsafe { *count }
    };
    record("devices", |b| {
        let _ = write!(b, ",\"count\":{n}");
        ret_field(b, r);
    });
    failed("hipGetDeviceCount", r);
    r
}
