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
//!   and each module's `versioned!` lines), so versioned references bind here.
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

/// Bind each exported function to its version node (hip.map): `.symver` lines, invoked
/// in the module that defines the functions (the directive must be assembled with the
/// symbol's definition, in the same codegen unit).
macro_rules! versioned {
    ($($internal:literal => $public:literal @ $ver:literal),* $(,)?) => {
        std::arch::global_asm!($(concat!(".symver ", $internal, ", ", $public, "@@", $ver)),*);
    };
}

mod launch;
mod memory;
mod modules;
mod objects;
mod real;
mod record;
mod sink;

use std::ffi::c_int;

type HipError = c_int;
/// hipErrorSharedObjectSymbolNotFound (hip_runtime_api.h): the real function is missing.
const SYMBOL_NOT_FOUND: HipError = 302;

/// A dim3 as HIP passes it by value.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Dim3 {
    x: u32,
    y: u32,
    z: u32,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
