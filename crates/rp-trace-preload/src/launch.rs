//! Kernel launches, recorded before the call (a launch that faults the GPU is the last
//! record).

use crate::objects::kernel_id;
use crate::real::{missing, real};
use crate::record::{failed, field, push_u64, record};
use crate::{Dim3, HipError};
use std::ffi::{c_int, c_uint, c_void};

versioned! {
    "rp_trace_hipLaunchKernel" => "hipLaunchKernel" @ "hip_4.2",
    "rp_trace_hipModuleLaunchKernel" => "hipModuleLaunchKernel" @ "hip_4.2",
    "rp_trace_hipExtLaunchKernel" => "hipExtLaunchKernel" @ "hip_4.2",
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
