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

mod evidence;
mod process;
mod read;
mod summary;
#[cfg(test)]
mod tests;

pub use evidence::evidence;
pub use process::ProcessTrace;
pub use read::{files, parse, read, read_counting};
pub use summary::summarize;

/// Longest record read; a longer line counts as not a record.
pub const MAX_LINE: usize = 1 << 20;
/// Registered kernels remembered per process (where each record lies: 16 bytes each).
pub const MAX_KERNELS: usize = 1 << 19;
/// The read buffer.
pub(crate) const BUF: usize = 1 << 20;
/// Launched addresses of unregistered kernels counted per process.
pub(crate) const MAX_ADDRS: usize = 4096;
/// Allocation kinds, error kinds and notes kept per process.
pub(crate) const MAX_KINDS: usize = 256;
pub(crate) const MAX_NOTES: usize = 32;
/// Fat binaries listed per process.
pub(crate) const MAX_FATBINS: usize = 1 << 16;
/// Distinct kernels counted over all processes.
pub(crate) const MAX_KERNEL_NAMES: usize = 1 << 16;
/// Launches shown.
pub(crate) const LAST: usize = 10;

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
