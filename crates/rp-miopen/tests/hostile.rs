//! Hostile and synthetic input: truncated, garbage, huge, malformed directives, includes
//! carried separately. Never a panic; `Unknown` when the conditions cannot be evaluated.

use rp_miopen::{check, scan, Verdict};

/// A kernel text shaped like MIOpen's (`MIOpenBatchNormFwdTrainSpatial.cl` @d62f7730 L35-42
/// and `reduction_functions.h`), small and written here.
const KERNEL: &str = "#define MIOPEN_USE_AMDGCN 0
#if defined(__AMDGCN__) && !(MIO_BN_GFX103X || MIO_BN_GFX110X)
#undef MIOPEN_USE_AMDGCN
#define MIOPEN_USE_AMDGCN 1
#endif
#include \"batchnorm_functions.h\"
#include \"reduction_functions.h\"
#if(MIO_BN_VARIANT == 1)
__kernel void
MIOpenBatchNormFwdTrainSpatial(global float* in)
{
#if !MIOPEN_USE_AMDGCN
    lds_reduce2(&mean, &variance);
#else
    gcn_reduce2(&mean, &variance);
#endif
}
#endif
";

const BN_HEADER: &str = "// MIOPEN_USE_AMDGCN may be defined before this header.
#ifndef MIOPEN_USE_AMDGCN
#define MIOPEN_USE_AMDGCN 1
#endif
#ifndef MIO_BN_VARIANT
#define MIO_BN_VARIANT 255
#endif
";

const RED_HEADER: &str = "#ifndef GUARD_REDUCTION_FUNCTIONS_H
#define GUARD_REDUCTION_FUNCTIONS_H
#if MIOPEN_USE_AMDGCN
static inline void dpp_reduction(float* t)
{
    __asm__ volatile(\"v_add_f32 %0 %0 %0 row_bcast:15 row_mask:0xa\\n\" : \"=v\"(*t) : \"0\"(*t));
}
#endif
#endif
";

/// A fake library: junk, then NUL-terminated texts.
fn fake_lib(texts: &[&str]) -> Vec<u8> {
    let mut lib = b"\x7fELF\x02\x01\x01\0junk\0\xff\xfe, MIOpen version 9.8.7.\0".to_vec();
    for t in texts {
        lib.extend_from_slice(t.as_bytes());
        lib.push(0);
        lib.extend_from_slice(b"\x01\x02\x03\0");
    }
    lib
}

#[test]
fn includes_carried_separately_are_resolved() {
    let lib = fake_lib(&[BN_HEADER, KERNEL, RED_HEADER]);
    let c = check(&lib, &["gfx1010", "gfx1030", "gfx906"]);
    assert_eq!(c.version.as_deref(), Some("9.8.7"));
    assert_eq!(c.kernels_found, ["MIOpenBatchNormFwdTrainSpatial.cl"]);
    assert_eq!(
        c.verdict("gfx1010"),
        Verdict::Affected {
            kernels: vec!["MIOpenBatchNormFwdTrainSpatial.cl".into()]
        }
    );
    assert_eq!(c.verdict("gfx1030"), Verdict::Unaffected);
    assert_eq!(c.verdict("gfx906"), Verdict::Unaffected);
    assert_eq!(c.dpp_path_targets(), ["gfx1010", "gfx906"]);
    assert!(matches!(c.verdict("gfx1200"), Verdict::Unknown { .. }));
}

#[test]
fn a_missing_reduction_header_is_unknown_not_unaffected() {
    let lib = fake_lib(&[BN_HEADER, KERNEL]);
    let c = check(&lib, &["gfx1010"]);
    assert!(
        matches!(c.verdict("gfx1010"), Verdict::Unknown { ref reason } if reason.contains("reduction_functions.h")),
        "{:?}",
        c.verdict("gfx1010")
    );
}

#[test]
fn malformed_conditions_are_unknown() {
    let bad = KERNEL.replace("#if(MIO_BN_VARIANT == 1)", "#if(MIO_BN_VARIANT == 1) + (");
    let lib = fake_lib(&[BN_HEADER, &bad, RED_HEADER]);
    assert!(matches!(
        check(&lib, &["gfx1010"]).verdict("gfx1010"),
        Verdict::Unknown { .. }
    ));
    let unbalanced = format!("{KERNEL}#if 1\n");
    let lib = fake_lib(&[BN_HEADER, &unbalanced, RED_HEADER]);
    assert!(matches!(
        check(&lib, &["gfx1011"]).verdict("gfx1011"),
        Verdict::Unknown { .. }
    ));
    // An include cycle stops at the depth limit.
    let cyc = "#define MIO_X 1\n#include \"batchnorm_functions.h\"\n// MIOPEN_USE_AMDGCN may be defined before this header.\n";
    let lib = fake_lib(&[cyc, KERNEL, RED_HEADER]);
    assert!(matches!(
        check(&lib, &["gfx1010"]).verdict("gfx1010"),
        Verdict::Unknown { .. }
    ));
}

#[test]
fn a_scan_of_other_bytes_is_unknown() {
    let lib = fake_lib(&[BN_HEADER, KERNEL, RED_HEADER]);
    let s = scan(&lib);
    let c = rp_miopen::check_scanned(&lib[..lib.len() / 2], &s, &["gfx1010"]);
    assert!(matches!(c.verdict("gfx1010"), Verdict::Unknown { .. }));
    let c = rp_miopen::check_scanned(&lib, &s, &["gfx1010"]);
    assert!(matches!(c.verdict("gfx1010"), Verdict::Affected { .. }));
    assert_eq!(c.sources.len(), 1);
}

#[test]
fn garbage_and_empty_input() {
    assert!(scan(b"").kernels.is_empty());
    let c = check(b"", &["gfx1010"]);
    assert!(matches!(c.verdict("gfx1010"), Verdict::Unknown { .. }));
    // xorshift noise with the needle sprinkled in.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut junk = Vec::with_capacity(8 << 20);
    while junk.len() < 8 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        junk.extend_from_slice(&x.to_le_bytes());
        if x.is_multiple_of(4096) {
            junk.extend_from_slice(b"void MIOpenBatchNormFwdTrainSpatial(");
        }
    }
    let c = check(&junk, &["gfx1010"]);
    assert!(c.kernels_found.is_empty());
    assert!(c.version.is_none());
}

#[test]
fn truncated_and_huge_input() {
    let lib = fake_lib(&[BN_HEADER, KERNEL, RED_HEADER]);
    for cut in 0..lib.len() {
        let c = check(&lib[..cut], &["gfx1010"]);
        // A cut kernel text is still read; a verdict may be anything but a panic.
        let _ = c.verdict("gfx1010");
    }
    // 64 MiB of text without a NUL: no blob is bounded, nothing found, quickly.
    let mut huge = vec![b'a'; 64 << 20];
    huge[32 << 20..][..36].copy_from_slice(b"void MIOpenBatchNormFwdTrainSpatial(");
    let t = std::time::Instant::now();
    let s = scan(&huge);
    assert!(s.kernels.is_empty());
    assert!(t.elapsed().as_secs() < 20);
    // Deep nesting is refused, not recursed into.
    let deep = format!(
        "{}{KERNEL}{}",
        "#if 1\n".repeat(10_000),
        "#endif\n".repeat(10_000)
    );
    let lib = fake_lib(&[BN_HEADER, &deep, RED_HEADER]);
    assert!(matches!(
        check(&lib, &["gfx1010"]).verdict("gfx1010"),
        Verdict::Unknown { .. }
    ));
}
