//! Kernels and fat binaries: the ids records use for them, and what a registered fat
//! binary or a loaded image holds (read with rp-codeobj, built without the knowledge base).

use crate::record::{push_str, record};
use std::collections::HashMap;
use std::ffi::{c_int, c_void, CStr};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::RwLock;

static NEXT_KERNEL: AtomicU32 = AtomicU32::new(0);
pub(crate) static NEXT_FATBIN: AtomicU32 = AtomicU32::new(0);

fn kernels() -> &'static RwLock<HashMap<usize, u32>> {
    static K: std::sync::OnceLock<RwLock<HashMap<usize, u32>>> = std::sync::OnceLock::new();
    K.get_or_init(|| RwLock::new(HashMap::new()))
}

pub(crate) fn fatbins() -> &'static RwLock<HashMap<usize, u32>> {
    static F: std::sync::OnceLock<RwLock<HashMap<usize, u32>>> = std::sync::OnceLock::new();
    F.get_or_init(|| RwLock::new(HashMap::new()))
}

pub(crate) fn kernel_id(key: usize) -> Option<u32> {
    kernels().read().ok()?.get(&key).copied()
}

pub(crate) fn new_kernel(key: usize, name: &str, fatbin: Option<u32>, api: &str) {
    let id = NEXT_KERNEL.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut k) = kernels().write() {
        k.insert(key, id);
    }
    record("kernel", |b| {
        let _ = write!(b, ",\"k\":{id},\"api\":\"{api}\",\"name\":");
        push_str(b, name);
        if let Some(f) = fatbin {
            let _ = write!(b, ",\"fatbin\":{f}");
        }
    });
}

/// The loaded object containing `p`, and the end of the segment holding it.
fn segment_of(p: usize) -> Option<(String, usize)> {
    struct Q {
        p: usize,
        found: Option<(String, usize)>,
    }
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _s: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: valid pointers from the loader and our Q.
        let (info, q) = unsafe { (&*info, &mut *(data as *mut Q)) };
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: dlpi_phdr has dlpi_phnum entries.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type != libc::PT_LOAD {
                continue;
            }
            let start = info.dlpi_addr as usize + ph.p_vaddr as usize;
            let end = start + ph.p_memsz as usize;
            if q.p >= start && q.p < end {
                let name = if info.dlpi_name.is_null() {
                    String::new()
                } else {
                    // SAFETY: a C string from the loader.
                    unsafe { CStr::from_ptr(info.dlpi_name) }
                        .to_string_lossy()
                        .into_owned()
                };
                // The main program has an empty name.
                let name = if name.is_empty() {
                    std::fs::read_link("/proc/self/exe")
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                } else {
                    name
                };
                q.found = Some((name, end));
                return 1;
            }
        }
        0
    }
    let mut q = Q { p, found: None };
    // SAFETY: the callback only reads what the loader passes.
    unsafe { libc::dl_iterate_phdr(Some(each), (&mut q as *mut Q).cast()) };
    q.found
}

/// What a registered fat binary holds: `"targets":[…]` and where it came from.
pub(crate) fn describe_fatbin(b: &mut String, wrapper: *const c_void) {
    if wrapper.is_null() {
        b.push_str(",\"error\":\"null wrapper\"");
        return;
    }
    // SAFETY: the compiler's wrapper record: magic u32, version u32, pointer.
    let (magic, blob) = unsafe {
        let w = wrapper as *const u32;
        (
            w.read_unaligned(),
            (w.add(2) as *const *const u8).read_unaligned(),
        )
    };
    let kind = match magic {
        0x4849_5046 => "HIPF",
        0x4B50_4948 => "HIPK",
        _ => {
            let _ = write!(b, ",\"error\":\"unknown wrapper magic {magic:#x}\"");
            return;
        }
    };
    let _ = write!(b, ",\"magic\":\"{kind}\"");
    let Some((lib, end)) = segment_of(blob as usize) else {
        b.push_str(",\"error\":\"the bundle is not inside a loaded object\"");
        return;
    };
    b.push_str(",\"lib\":");
    push_str(b, &lib);
    // SAFETY: [blob, end) is inside one loaded segment of that object.
    let data = unsafe { std::slice::from_raw_parts(blob, end - blob as usize) };
    if kind == "HIPK" {
        match rp_codeobj::kpack::parse_ref(data) {
            Ok(r) => {
                b.push_str(",\"kpack\":{\"kernel_name\":");
                push_str(b, &r.kernel_name);
                b.push_str(",\"search\":[");
                for (i, s) in r.kpack_search_paths.iter().enumerate() {
                    if i > 0 {
                        b.push(',');
                    }
                    push_str(b, s);
                }
                b.push_str("]}");
            }
            Err(e) => {
                b.push_str(",\"error\":");
                push_str(b, &e.to_string());
            }
        }
        return;
    }
    let scan = rp_codeobj::scan(data, &rp_codeobj::Options::default());
    let compressed = scan.format == Some(rp_codeobj::Format::CompressedBundle);
    let _ = write!(b, ",\"compressed\":{compressed},\"targets\":[");
    for (i, c) in scan.code_objects.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        push_str(b, &c.target_id);
    }
    b.push(']');
    if let Some(e) = &scan.error {
        b.push_str(",\"error\":");
        push_str(b, &e.to_string());
    }
}

pub(crate) fn image_targets(b: &mut String, image: *const c_void) {
    if image.is_null() {
        return;
    }
    if let Some((lib, end)) = segment_of(image as usize) {
        b.push_str(",\"lib\":");
        push_str(b, &lib);
        // SAFETY: inside one loaded segment.
        let data = unsafe { std::slice::from_raw_parts(image as *const u8, end - image as usize) };
        let scan = rp_codeobj::scan(data, &rp_codeobj::Options::default());
        b.push_str(",\"targets\":[");
        for (i, c) in scan.code_objects.iter().enumerate() {
            if i > 0 {
                b.push(',');
            }
            push_str(b, &c.target_id);
        }
        b.push(']');
    }
}
