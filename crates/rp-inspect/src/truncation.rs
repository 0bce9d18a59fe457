//! A file truncated by another process while `inspect` has it mapped must be an error for
//! that file, not the end of the process: a read past the file's new end raises SIGBUS
//! (mmap(2): "Attempted access to a portion of the buffer that does not correspond to the
//! file"). Each mapping is registered here while it is scanned; a SIGBUS handler that finds
//! the faulting address in a registered mapping puts an anonymous zero page in place of the
//! missing one, marks the mapping truncated, and returns, so the read completes with zeros.
//! The scan's result for that file is then discarded for an error. A SIGBUS anywhere else
//! goes to the handler that was installed before (Rust's own, then the default action).
#![allow(unsafe_code)]

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

#[allow(clippy::declare_interior_mutable_const)]
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

/// A mapping registered while it is read.
pub(crate) struct Registration {
    slot: Option<usize>,
}

/// Register `len` bytes at `ptr` (a mapping of a file) for the duration of the result.
pub(crate) fn register(ptr: *const u8, len: usize) -> Registration {
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
    pub(crate) fn truncated(&self) -> bool {
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
        let map = crate::map_file(&f).unwrap();
        let reg = register(map.as_ptr(), map.len());
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

    /// inspect's own path: a library truncated between mapping and scanning is an
    /// error for that file, and the other file in the same call is still reported.
    #[test]
    fn inspect_reports_a_truncated_file_and_goes_on() {
        let d = tempfile::tempdir().unwrap();
        let co = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/codeobj/codeobj_co6_gfx1010.co");
        let good = d.path().join("good.co");
        std::fs::copy(&co, &good).unwrap();
        let bad = d.path().join("bad.co");
        let mut data = std::fs::read(&co).unwrap();
        data.resize(1 << 20, 0);
        std::fs::write(&bad, &data).unwrap();
        let victim = bad.clone();
        *crate::BEFORE_SCAN.lock().unwrap() = Some(Box::new(move |p: &std::path::Path| {
            if p == victim {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(p)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
            }
        }));
        let opts = crate::Options::default();
        let r = crate::inspect(&[good.clone(), bad.clone()], &opts);
        let by = |p: &std::path::Path| {
            r.files
                .iter()
                .find(|f| f.path == p.display().to_string())
                .unwrap()
                .clone()
        };
        let b = by(&bad);
        assert!(
            b.error
                .as_deref()
                .unwrap()
                .contains("truncated while it was read"),
            "{b:?}"
        );
        assert!(b.code_objects.is_empty());
        assert_eq!(by(&good).code_objects.len(), 1);
    }
}
