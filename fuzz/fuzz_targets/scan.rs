//! Fuzz the bundle, CCOB, AMDGPU ELF, host ELF and ar parsers through `scan`, in the
//! fast and the deep (full decompression) modes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rp_codeobj::{scan, Options};

fuzz_target!(|data: &[u8]| {
    let _ = scan(data, &Options::default());
    let _ = scan(data, &Options { deep: true, prefix: false });
    let _ = scan(data, &Options { deep: false, prefix: true });
});
