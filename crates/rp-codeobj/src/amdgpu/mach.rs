//! `EF_AMDGPU_MACH` → processor name, and whether it is a generic target.
//!
//! With the `kb` feature (the default) the knowledge base answers
//! (`rp-kb/data/targets.toml`). Without it — the trace interposer, which must not parse
//! the knowledge base inside the traced process — a table copied from that file answers;
//! a test (run with `kb`) checks that the two agree for every value.

/// The processor a `EF_AMDGPU_MACH` value names, and whether it is a generic target.
#[cfg(feature = "kb")]
pub(super) fn by_mach(mach: u8) -> Option<(&'static str, bool)> {
    match rp_kb::kb().by_mach(mach)? {
        rp_kb::Processor::Specific(t) => Some((t.name.as_str(), false)),
        rp_kb::Processor::Generic(g) => Some((g.name.as_str(), true)),
    }
}

/// The processor a `EF_AMDGPU_MACH` value names, and whether it is a generic target.
#[cfg(not(feature = "kb"))]
pub(super) fn by_mach(mach: u8) -> Option<(&'static str, bool)> {
    from_table(mach)
}

#[cfg(any(test, not(feature = "kb")))]
fn from_table(mach: u8) -> Option<(&'static str, bool)> {
    TABLE
        .iter()
        .find(|&&(m, _, _)| m == mach)
        .map(|&(_, name, generic)| (name, generic))
}

/// `(mach, name, generic)`: the `[[target]]` then the `[[generic]]` entries of
/// `rp-kb/data/targets.toml`, in file order (each entry's source is cited there).
#[cfg(any(test, not(feature = "kb")))]
const TABLE: &[(u8, &str, bool)] = &[
    (0x20, "gfx600", false),
    (0x21, "gfx601", false),
    (0x3a, "gfx602", false),
    (0x22, "gfx700", false),
    (0x23, "gfx701", false),
    (0x24, "gfx702", false),
    (0x25, "gfx703", false),
    (0x26, "gfx704", false),
    (0x3b, "gfx705", false),
    (0x28, "gfx801", false),
    (0x29, "gfx802", false),
    (0x2a, "gfx803", false),
    (0x3c, "gfx805", false),
    (0x2b, "gfx810", false),
    (0x2c, "gfx900", false),
    (0x2d, "gfx902", false),
    (0x2e, "gfx904", false),
    (0x2f, "gfx906", false),
    (0x30, "gfx908", false),
    (0x31, "gfx909", false),
    (0x3f, "gfx90a", false),
    (0x32, "gfx90c", false),
    (0x40, "gfx940", false),
    (0x4b, "gfx941", false),
    (0x4c, "gfx942", false),
    (0x4f, "gfx950", false),
    (0x33, "gfx1010", false),
    (0x34, "gfx1011", false),
    (0x35, "gfx1012", false),
    (0x42, "gfx1013", false),
    (0x36, "gfx1030", false),
    (0x37, "gfx1031", false),
    (0x38, "gfx1032", false),
    (0x39, "gfx1033", false),
    (0x3e, "gfx1034", false),
    (0x3d, "gfx1035", false),
    (0x45, "gfx1036", false),
    (0x41, "gfx1100", false),
    (0x46, "gfx1101", false),
    (0x47, "gfx1102", false),
    (0x44, "gfx1103", false),
    (0x43, "gfx1150", false),
    (0x4a, "gfx1151", false),
    (0x55, "gfx1152", false),
    (0x58, "gfx1153", false),
    (0x57, "gfx1154", false),
    (0x5d, "gfx1170", false),
    (0x5e, "gfx1171", false),
    (0x5c, "gfx1172", false),
    (0x48, "gfx1200", false),
    (0x4e, "gfx1201", false),
    (0x49, "gfx1250", false),
    (0x5a, "gfx1251", false),
    (0x50, "gfx1310", false),
    (0x51, "gfx9-generic", true),
    (0x5f, "gfx9-4-generic", true),
    (0x52, "gfx10-1-generic", true),
    (0x53, "gfx10-3-generic", true),
    (0x54, "gfx11-generic", true),
    (0x62, "gfx11-7-generic", true),
    (0x59, "gfx12-generic", true),
    (0x5b, "gfx12-5-generic", true),
    (0x63, "gfx13-generic", true),
];

#[cfg(all(test, feature = "kb"))]
mod tests {
    #[test]
    fn table_agrees_with_the_knowledge_base() {
        for mach in 0..=u8::MAX {
            assert_eq!(
                super::from_table(mach),
                super::by_mach(mach),
                "EF_AMDGPU_MACH {mach:#04x}: update the table from rp-kb/data/targets.toml"
            );
        }
    }
}
