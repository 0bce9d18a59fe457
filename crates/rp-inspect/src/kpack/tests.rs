use super::*;
use rp_kb::TargetId;
use std::collections::BTreeMap;

#[test]
fn compatible_targets_in_the_runtime_order() {
    assert_eq!(compatible_targets("gfx1030"), ["gfx1030"]);
    assert_eq!(
        compatible_targets("gfx1010:xnack-"),
        ["gfx1010:xnack-", "gfx1010"]
    );
    // Masks 3, 2, 1, 0: both, the first feature, the second, none.
    assert_eq!(
        compatible_targets("gfx942:sramecc+:xnack-"),
        [
            "gfx942:sramecc+:xnack-",
            "gfx942:sramecc+",
            "gfx942:xnack-",
            "gfx942"
        ]
    );
}

#[test]
fn runtime_archs_have_the_default_features_and_the_generic() {
    let g: TargetId = "gfx1010".parse().unwrap();
    assert_eq!(
        runtime_archs(&g),
        ["gfx1010:xnack-", "gfx10-1-generic:xnack-"]
    );
    let g: TargetId = "gfx1030".parse().unwrap();
    assert_eq!(runtime_archs(&g), ["gfx1030", "gfx10-3-generic"]);
}

#[test]
fn env_is_read_as_the_loader_reads_it() {
    let vars: BTreeMap<&str, &str> = [
        ("ROCM_KPACK_PATH", ":/a.kpack::/b.kpack:"),
        ("ROCM_KPACK_DISABLE", "0"),
        ("ROCM_KPACK_DEBUG", "yes"),
    ]
    .into();
    let e = KpackEnv::from_vars(|k| vars.get(k).map(|v| v.to_string()));
    assert_eq!(e.path, ["/a.kpack", "/b.kpack"]);
    assert!(!e.disabled);
    assert!(e.debug);
    assert!(e.path_prefix.is_empty());
    let e = KpackEnv::from_vars(|k| (k == "ROCM_KPACK_DISABLE").then(|| "1".into()));
    assert!(e.disabled);
    let e = KpackEnv::from_vars(|k| (k == "ROCM_KPACK_DISABLE").then(String::new));
    assert!(!e.disabled);
}

#[test]
fn keys() {
    assert!(key_matches("lib/a.so#0", "lib/a.so"));
    assert!(key_matches("lib/a.so", "lib/a.so"));
    assert!(!key_matches("lib/a.so.1#0", "lib/a.so"));
    assert!(!key_matches("lib/a.so#x", "lib/a.so"));
    assert_eq!(unit_of("lib/a.so#12", "lib/a.so"), Some(12));
}
