//! The record file: a shared mapping of `RP_TRACE_FILE`, grown ahead of the records by a
//! helper thread, cut to its records at exit; opened on the first record, and again in
//! a forked child.

use crate::env;
use crate::record::{clock_record, record, start_record};
use std::ffi::c_int;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

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

pub(crate) struct Sink {
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
pub(crate) const OFF: u8 = 3;
pub(crate) static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static SINK: AtomicPtr<Sink> = AtomicPtr::new(null_mut());
pub(crate) static POLICY_SEED: AtomicU8 = AtomicU8::new(0);

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

pub(crate) fn sink() -> Option<&'static Sink> {
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
    pub(crate) fn append(&self, bytes: &[u8]) {
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
