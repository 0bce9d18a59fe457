//! The real functions of the HIP runtime: `dlsym(RTLD_NEXT, …)`, or through the runtime's
//! handle when it was loaded into a local scope.

use crate::record::{push_str, record};
use crate::{HipError, SYMBOL_NOT_FOUND};
use std::ffi::{c_int, c_void, CStr};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};

/// The HIP runtime's handle when it was loaded into a local scope (found once).
fn runtime_handle() -> *mut c_void {
    static H: AtomicPtr<c_void> = AtomicPtr::new(null_mut());
    let h = H.load(Ordering::Acquire);
    if !h.is_null() {
        return h;
    }
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: the loader passes a valid info; data is our String.
        let name = unsafe { (*info).dlpi_name };
        if name.is_null() {
            return 0;
        }
        // SAFETY: a C string from the loader.
        let n = unsafe { CStr::from_ptr(name) }.to_string_lossy();
        if n.contains("libamdhip64.so") {
            // SAFETY: data points at the caller's String.
            unsafe { *(data as *mut String) = n.into_owned() };
            return 1;
        }
        0
    }
    let mut path = String::new();
    // SAFETY: the callback only reads what the loader passes.
    unsafe { libc::dl_iterate_phdr(Some(each), (&mut path as *mut String).cast()) };
    if path.is_empty() {
        return null_mut();
    }
    let Ok(c) = std::ffi::CString::new(path) else {
        return null_mut();
    };
    // SAFETY: RTLD_NOLOAD only returns a handle to an object already loaded.
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
    H.store(h, Ordering::Release);
    h
}

pub(crate) fn lookup(name: &CStr) -> *mut c_void {
    // SAFETY: dlsym with a valid name.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    if !p.is_null() {
        return p;
    }
    let h = runtime_handle();
    if h.is_null() {
        return null_mut();
    }
    // SAFETY: a handle from dlopen.
    unsafe { libc::dlsym(h, name.as_ptr()) }
}

/// The real function `$name` of type `$ty`, or `None` if no runtime provides it.
macro_rules! real {
    ($name:literal, $ty:ty) => {{
        static P: ::std::sync::atomic::AtomicPtr<::std::ffi::c_void> =
            ::std::sync::atomic::AtomicPtr::new(::std::ptr::null_mut());
        let mut p = P.load(::std::sync::atomic::Ordering::Relaxed);
        if p.is_null() {
            p = $crate::real::lookup(
                ::std::ffi::CStr::from_bytes_with_nul(concat!($name, "\0").as_bytes())
                    .expect("literal"),
            );
            P.store(p, ::std::sync::atomic::Ordering::Relaxed);
        }
        if p.is_null() {
            None
        } else {
            // SAFETY: the runtime's symbol of that name has this C signature
            // (hip_runtime_api.h).
            Some(unsafe { ::std::mem::transmute::<*mut ::std::ffi::c_void, $ty>(p) })
        }
    }};
}
pub(crate) use real;

pub(crate) fn missing(api: &str) -> HipError {
    record("missing", |b| {
        b.push_str(",\"api\":");
        push_str(b, api);
    });
    SYMBOL_NOT_FOUND
}
