//! One record: a JSON line stamped with the clock and the thread, written without the
//! formatting machinery on the hot path.

use crate::sink::{sink, OFF, POLICY_SEED, STATE};
use crate::HipError;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

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
pub(crate) fn clock_record() {
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
pub(crate) fn record<B: FnOnce(&mut String)>(ev: &str, body: B) {
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
pub(crate) fn push_u64(b: &mut String, mut v: u64) {
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
pub(crate) fn field(b: &mut String, key: &str, v: u64) {
    b.push_str(",\"");
    b.push_str(key);
    b.push_str("\":");
    push_u64(b, v);
}

/// A JSON string (control characters, quotes and backslashes escaped).
pub(crate) fn push_str(b: &mut String, s: &str) {
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

pub(crate) fn start_record() {
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

pub(crate) fn ret_field(b: &mut String, r: HipError) {
    b.push_str(",\"ret\":");
    push_i64(b, i64::from(r));
}

/// A failed call (every intercepted call that returns an error).
pub(crate) fn failed(api: &str, r: HipError) {
    if r != 0 {
        record("error", |b| {
            let _ = write!(b, ",\"api\":\"{api}\"");
            ret_field(b, r);
        });
    }
}
