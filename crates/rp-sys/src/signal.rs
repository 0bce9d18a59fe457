//! Guards over signal dispositions: while a guard lives its disposition holds, and the
//! one before comes back when it is dropped.
#![expect(
    unsafe_code,
    reason = "sigaction, signal and raise; each call is commented"
)]

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering};

/// Ctrl-C for a command that runs steps in their own process groups ([`CtrlC`]).
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The process group of the step that runs now (0: none), killed at a second Ctrl-C. A
/// runner publishes its child's group here ([`crate::process::Options::publish_group`]).
pub static STEP_GROUP: AtomicI32 = AtomicI32::new(0);
static NOTICE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static NOTICE_LEN: AtomicUsize = AtomicUsize::new(0);

/// First Ctrl-C: [`CtrlC::flag`] is set and the notice written to stderr. Second: the
/// step's group ([`STEP_GROUP`]) is killed and this process dies of SIGINT. Only
/// async-signal-safe calls.
extern "C" fn on_sigint(_: libc::c_int) {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        let group = STEP_GROUP.load(Ordering::SeqCst);
        if group > 0 {
            let _ = crate::os::kill_group(group, libc::SIGKILL);
        }
        // SAFETY: signal and raise are async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::raise(libc::SIGINT);
        }
        return;
    }
    let (p, n) = (
        NOTICE.load(Ordering::SeqCst),
        NOTICE_LEN.load(Ordering::SeqCst),
    );
    if !p.is_null() {
        // SAFETY: write(2) is async-signal-safe; `p` points to a `'static` slice of
        // `n` bytes; a failed write changes nothing.
        unsafe {
            libc::write(2, p.cast(), n);
        }
    }
}

/// While it lives, Ctrl-C (SIGINT) stops a command at its next safe point instead of
/// killing it: the first sets [`CtrlC::flag`] and writes a notice to stderr, the second
/// kills the step's process group ([`STEP_GROUP`]) and then this process, with SIGINT's
/// default action. The previous disposition comes back on drop.
pub struct CtrlC(libc::sigaction);

impl std::fmt::Debug for CtrlC {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CtrlC")
    }
}

impl CtrlC {
    /// Install the handler, with the flag cleared; `notice` is written to stderr at the
    /// first Ctrl-C.
    pub fn install(notice: &'static [u8]) -> CtrlC {
        INTERRUPTED.store(false, Ordering::SeqCst);
        NOTICE_LEN.store(notice.len(), Ordering::SeqCst);
        NOTICE.store(notice.as_ptr().cast_mut(), Ordering::SeqCst);
        // SAFETY: a handler that only touches atomics and async-signal-safe calls; the
        // old action is kept for drop.
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_sigint as *const () as usize;
            libc::sigemptyset(&mut new.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGINT, &new, &mut old);
            CtrlC(old)
        }
    }

    /// Set at the first Ctrl-C.
    pub fn flag(&self) -> &'static AtomicBool {
        &INTERRUPTED
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        // SAFETY: restoring the action saved by install.
        unsafe {
            libc::sigaction(libc::SIGINT, &self.0, std::ptr::null_mut());
        }
    }
}

/// Signals ignored while it lives ([`ignore`]).
#[derive(Debug)]
pub struct Ignored(Vec<(i32, libc::sighandler_t)>);

/// Ignore `signals` (e.g. SIGINT and SIGQUIT while a foreground child runs, as `time`
/// does) until the guard is dropped.
pub fn ignore(signals: &[i32]) -> Ignored {
    Ignored(
        signals
            .iter()
            // SAFETY: setting a disposition to ignore; restored on drop.
            .map(|&s| (s, unsafe { libc::signal(s, libc::SIG_IGN) }))
            .collect(),
    )
}

impl Drop for Ignored {
    fn drop(&mut self) {
        for &(s, old) in self.0.iter().rev() {
            // SAFETY: restoring the disposition saved by `ignore`.
            unsafe {
                libc::signal(s, old);
            }
        }
    }
}

/// Die of `sig` as a child did: default disposition, then the signal to this process.
/// Returns only when the signal's default action does not end the process.
pub fn raise_default(sig: i32) {
    // SAFETY: default disposition, then the signal to ourselves.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// The signal numbers the callers name.
pub use libc::{SIGINT, SIGKILL, SIGQUIT, SIGTERM};
