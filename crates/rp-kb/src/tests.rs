//! Checks that span several data files.

use super::*;
use crate::{
    asics::ASICS_TOML, families::FAMILIES_TOML, probes::PROBES_TOML, remedies::REMEDIES_TOML,
    targets::TARGETS_TOML,
};

/// Every `ref` in the data cites something a user can open: not empty, and no
/// document outside the repository (a project document is cited by its path under
/// `docs/`, and that file exists).
#[test]
fn refs_stand_alone() {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (name, text) in [
        ("targets", TARGETS_TOML),
        ("devices", include_str!("../data/devices.toml")),
        ("asics", ASICS_TOML),
        ("families", FAMILIES_TOML),
        ("probes", PROBES_TOML),
        ("runtime", include_str!("../data/runtime.toml")),
        ("env", include_str!("../data/env.toml")),
        ("findings", include_str!("../data/findings.toml")),
        ("causes", include_str!("../data/causes.toml")),
        ("signatures", include_str!("../data/signatures.toml")),
        ("remedies", REMEDIES_TOML),
        ("profiles", PROFILES_TOML),
    ] {
        // Documents outside the repository, spelled so that this file names none.
        let outside: Vec<String> = ["domain", "formats"]
            .iter()
            .map(|n| format!("{n}.md"))
            .chain([format!("{}/", "shared"), "seed project".into()])
            .collect();
        for (i, line) in text.lines().enumerate() {
            for bad in &outside {
                assert!(
                    !line.contains(bad),
                    "{name}.toml:{}: cites {bad}: {line}",
                    i + 1
                );
            }
            // A project document: `docs/` not inside another path (llvm/docs/…).
            let parts = line.split("docs/").collect::<Vec<_>>();
            for w in parts.windows(2) {
                if w[0].ends_with(|c: char| c == '/' || c.is_ascii_alphanumeric()) {
                    continue;
                }
                let file: String = w[1]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
                    .collect();
                let file = file.trim_end_matches('.');
                assert!(
                    docs.join("docs").join(file).is_file(),
                    "{name}.toml:{}: docs/{file} does not exist",
                    i + 1
                );
            }
            if let Some(r) = line.split("ref = \"").nth(1) {
                assert!(!r.starts_with('"'), "{name}.toml:{}: empty ref", i + 1);
            }
        }
    }
}

#[test]
fn machine_data_is_consistent() {
    let kb = kb();
    let known = |n: &str| kb.targets().iter().any(|t| t.name == n);
    for a in kb.asics() {
        assert!(a.gfx.as_deref().is_none_or(known), "{:?}", a.gfx);
        assert!(!a.reference.is_empty());
    }
    for r in &kb.runtime.runs {
        assert!(known(&r.code));
        for g in &r.gpu {
            assert!(known(g), "{g}");
        }
        assert!(r.status == RunsStatus::Equivalent || r.caveat.is_some());
    }
    for s in &kb.runtime.stack {
        for g in &s.targets {
            assert!(g == "*" || known(g), "{g}");
        }
    }
    for l in &kb.runtime.library_gap {
        for g in &l.targets {
            assert!(known(g), "{g}");
        }
    }
    for v in kb.env_vars() {
        assert!(!v.reference.is_empty() && !v.effect.is_empty());
    }
    for s in kb.signatures() {
        assert!(
            kb.causes().iter().any(|c| c.id == s.cause),
            "{}: {}",
            s.id,
            s.cause
        );
        assert!(!s.reference.is_empty());
    }
    let mut ids = std::collections::HashSet::new();
    for f in kb.findings() {
        assert!(ids.insert(f.id.clone()), "duplicate finding {}", f.id);
    }
}

#[test]
fn machine_lookups() {
    let kb = kb();
    let gfx = |d: u16| kb.asic_by_device(d).unwrap().gfx.as_deref();
    assert_eq!(gfx(0x731f), Some("gfx1010"));
    assert_eq!(gfx(0x7340), Some("gfx1012"));
    assert_eq!(gfx(0x6860), Some("gfx900"));
    assert_eq!(gfx(0x15dd), Some("gfx902")); // Raven (APU)
    assert!(kb.asic_by_device(0x15dd).unwrap().apu);
    assert_eq!(gfx(0x67df), Some("gfx803")); // Polaris 10 (RX 480/580)
    assert_eq!(gfx(0x6780), None); // Tahiti: no KFD
    assert!(!kb.asic_by_device(0x6780).unwrap().kfd);
    assert_eq!(
        kb.asic_by_name("NAVI14").unwrap().gfx.as_deref(),
        Some("gfx1012")
    );
    assert_eq!(kb.gc_target("10.3.0").unwrap().gfx, "gfx1030");
    assert_eq!(kb.gc_target("11.0.3").unwrap().gfx, "gfx1101");
    assert_eq!(
        kb.marketing_name(0x731f, 0xca),
        Some("AMD Radeon RX 5600 XT")
    );
    assert_eq!(kb.family(0x10de, 0x2335).unwrap().name, "GH100 (Hopper)");
    assert!(kb.family(0x1002, 0x731f).is_none());
    assert!(matches!(
        kb.override_compat("gfx1010", "gfx1030"),
        OverrideCompat::Foreign
    ));
    assert!(matches!(
        kb.override_compat("gfx1031", "gfx1030"),
        OverrideCompat::Equivalent(_)
    ));
    assert!(matches!(
        kb.override_compat("gfx1012", "gfx1010"),
        OverrideCompat::Equivalent(_)
    ));
    assert!(matches!(
        kb.override_compat("gfx90c", "gfx900"),
        OverrideCompat::Risky(_)
    ));
    assert!(matches!(
        kb.override_compat("gfx942", "gfx1030"),
        OverrideCompat::Foreign
    ));
    let stacks: Vec<_> = kb
        .stacks_for("gfx1010")
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(stacks, ["therock", "distro", "source"]);
    assert!(kb.stacks_for("gfx1010").iter().all(|s| s
        .commands_for("gfx1010")
        .iter()
        .all(|c| !c.contains("10.3.0"))));
    assert_eq!(
        kb.env_var("HSA_OVERRIDE_GFX_VERSION_2").unwrap().kind,
        "override-node"
    );
    assert_eq!(
        kb.env_var("HSA_OVERRIDE_GFX_VERSION").unwrap().kind,
        "override"
    );
    assert!(kb.env_var("HSA_OVERRIDE_GFX_VERSION_").is_none());
    assert_eq!(kb.library_gaps("gfx1010")[0].library, "hipBLASLt");
    assert!(kb.library_gaps("gfx942").is_empty());
}
