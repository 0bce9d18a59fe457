//! Allocations and frees (size, flags asked and applied, result), the seed allocation
//! policy, and the device count.

use crate::real::{missing, real};
use crate::record::{failed, field, push_str, record, ret_field};
use crate::sink::POLICY_SEED;
use crate::HipError;
use std::ffi::{c_int, c_uint, c_void};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

versioned! {
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
