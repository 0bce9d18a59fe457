//! Fat binary and kernel registration, module loads.

use crate::objects::{describe_fatbin, fatbins, image_targets, new_kernel, NEXT_FATBIN};
use crate::real::{missing, real};
use crate::record::{failed, push_str, record, ret_field};
use crate::{Dim3, HipError};
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::fmt::Write as _;
use std::ptr::null_mut;
use std::sync::atomic::Ordering;

versioned! {
    "rp_trace_hipRegisterFatBinary" => "__hipRegisterFatBinary" @ "hip_4.2",
    "rp_trace_hipRegisterFunction" => "__hipRegisterFunction" @ "hip_4.2",
    "rp_trace_hipModuleLoad" => "hipModuleLoad" @ "hip_4.2",
    "rp_trace_hipModuleLoadData" => "hipModuleLoadData" @ "hip_4.2",
    "rp_trace_hipModuleLoadDataEx" => "hipModuleLoadDataEx" @ "hip_4.2",
    "rp_trace_hipModuleGetFunction" => "hipModuleGetFunction" @ "hip_4.2",
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
