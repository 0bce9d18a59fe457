//! Memory maps of files, read-only and private.
//!
//! A file truncated by another process while it is mapped (inspect scans mapped files) must be an error for
//! that file, not the end of the process: a read past the file's new end raises SIGBUS
//! (mmap(2): "Attempted access to a portion of the buffer that does not correspond to the
//! file"). Each mapping is registered here while it is scanned; a SIGBUS handler that finds
//! the faulting address in a registered mapping puts an anonymous zero page in place of the
//! missing one, marks the mapping truncated, and returns, so the read completes with zeros.
//! The scan's result for that file is then discarded for an error. A SIGBUS anywhere else
//! goes to the handler that was installed before (Rust's own, then the default action).

#![expect(
    unsafe_code,
    reason = "memory maps and the SIGBUS handler that guards them; each use is commented"
)]

use memmap2::Mmap;
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Mappings scanned at once (rayon's threads); beyond this a mapping is scanned
/// unprotected, as before.
const SLOTS: usize = 256;

struct Slot {
    start: AtomicUsize,
    end: AtomicUsize,
    hit: AtomicBool,
}

#[expect(
    clippy::declare_interior_mutable_const,
    reason = "a const initialiser for the static table, each element a fresh value"
)]
const EMPTY: Slot = Slot {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    hit: AtomicBool::new(false),
};

static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
static PAGE: AtomicUsize = AtomicUsize::new(4096);

/// The disposition SIGBUS had before ours (kept to chain to it).
struct Previous(libc::sigaction);
// SAFETY: a plain C struct written once, before the handler that reads it is installed.
unsafe impl Sync for Previous {}
// SAFETY: as above.
unsafe impl Send for Previous {}
static PREVIOUS: OnceLock<Option<Previous>> = OnceLock::new();

extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for s in &TABLE {
        let (start, end) = (
            s.start.load(Ordering::Acquire),
            s.end.load(Ordering::Acquire),
        );
        if start != 0 && addr >= start && addr < end {
            let at = addr & !(page - 1);
            // SAFETY: `at` is a page inside a live, registered read-only mapping of ours;
            // MAP_FIXED replaces just that page. mmap is a plain system call here (no lock
            // is taken), so calling it from a signal handler is sound on Linux.
            let r = unsafe {
                libc::mmap(
                    at as *mut libc::c_void,
                    page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if r != libc::MAP_FAILED {
                s.hit.store(true, Ordering::Release);
                return;
            }
        }
    }
    // Not a registered mapping: put the previous disposition back and return; the access
    // faults again and that disposition handles it.
    let prev = PREVIOUS.get().and_then(|p| p.as_ref());
    // SAFETY: sigaction is async-signal-safe; the pointers are valid or null.
    unsafe {
        match prev {
            Some(p) => libc::sigaction(libc::SIGBUS, &p.0, std::ptr::null_mut()),
            None => {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
                0
            }
        };
    }
}

fn install() {
    PREVIOUS.get_or_init(|| {
        // SAFETY: sysconf and sigaction with valid arguments.
        unsafe {
            let p = libc::sysconf(libc::_SC_PAGESIZE);
            if p > 0 {
                PAGE.store(p as usize, Ordering::Relaxed);
            }
            let mut new: libc::sigaction = std::mem::zeroed();
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                on_sigbus;
            new.sa_sigaction = handler as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut new.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, &new, &mut old) == 0 {
                Some(Previous(old))
            } else {
                None
            }
        }
    });
}

/// A mapping registered while it is read (see [`guard`]).
#[derive(Debug)]
pub struct Registration {
    slot: Option<usize>,
}

/// Register a mapping for the duration of the result: a read past the end of its file
/// (truncated since it was mapped) reads zeros and sets [`Registration::truncated`],
/// instead of killing the process with SIGBUS.
pub fn guard(map: &Mmap) -> Registration {
    register(map.as_ptr(), map.len())
}

fn register(ptr: *const u8, len: usize) -> Registration {
    if len == 0 {
        return Registration { slot: None };
    }
    install();
    let start = ptr as usize;
    for (i, s) in TABLE.iter().enumerate() {
        if s.start
            .compare_exchange(0, start, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            s.hit.store(false, Ordering::Release);
            s.end.store(start + len, Ordering::Release);
            return Registration { slot: Some(i) };
        }
    }
    Registration { slot: None }
}

impl Registration {
    /// A read went past the file's end since registration: the file was truncated.
    pub fn truncated(&self) -> bool {
        self.slot
            .is_some_and(|i| TABLE[i].hit.load(Ordering::Acquire))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            TABLE[i].end.store(0, Ordering::Release);
            TABLE[i].start.store(0, Ordering::Release);
        }
    }
}

/// Map a file read-only and private, for parsing.
///
/// A concurrent truncation is the risk every ELF reader (ld.so included) takes: a read
/// past the new end raises SIGBUS unless the mapping is registered with [`guard`].
pub fn map(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: the mapping is read-only and private to this process; see above for a
    // file truncated while mapped.
    unsafe { Mmap::map(file) }
}

/// [`map`], with random-access advice: only headers and tables are read, scattered over
/// the file, so read-ahead and fault-around must not pull in (and count) whole regions.
pub fn map_random(file: &File) -> std::io::Result<Mmap> {
    let map = map(file)?;
    let _ = map.advise(memmap2::Advice::Random);
    Ok(map)
}

/// Drop the pages of a parsed region `off..off + len` from this process's mapping (only
/// whole pages inside it).
pub fn release(map: &Mmap, off: usize, len: usize) {
    const PAGE: usize = 4096;
    let start = off.div_ceil(PAGE) * PAGE;
    let end = (off + len) / PAGE * PAGE;
    if end > start {
        // SAFETY: the mapping is private and read-only; MADV_DONTNEED only drops our
        // page table entries, and a later read of the range faults the file's pages
        // back in from the page cache. Nothing in the range is borrowed any more: the
        // caller calls this after it has finished with the region.
        let _ = unsafe {
            map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_read_past_a_truncated_end_is_zeros_and_flagged() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lib.so");
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(&vec![0xabu8; 1 << 20]).unwrap();
        drop(f);
        let f = std::fs::File::open(&p).unwrap();
        let map = map_random(&f).unwrap();
        let reg = guard(&map);
        assert_eq!(map[100], 0xab);
        assert!(!reg.truncated());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(0)
            .unwrap();
        // Without the handler this read kills the process with SIGBUS.
        // SAFETY: in bounds of the mapping.
        let v = unsafe { std::ptr::read_volatile(map.as_ptr().add(512 << 10)) };
        assert_eq!(v, 0);
        assert!(reg.truncated());
        drop(reg);
        drop(map);
    }
}
