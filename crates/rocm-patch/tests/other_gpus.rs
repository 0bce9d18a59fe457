//! Issue 29: RDNA1's particulars (gfx101x hazards, RDNA1 patches, docs/rdna1.md) are told
//! to RDNA1 owners only. An RX 580 (Polaris 10, gfx803) and a Ryzen 7 7840U (Phoenix,
//! gfx1103) owner with the usual broken setups — a pytorch.org wheel, an override in the
//! environment and in ~/.bashrc — get doctor, fix --dry-run and explain text about their
//! own GPU; an RX 5600 XT owner in the same setups still gets the RDNA1 notes.
//! Machines are synthesized (tests/common/machine.rs); the log is a real one
//! (fixtures/logs).

mod common;

#[cfg(feature = "real-data")]
use common::machine::{torch_venv, AmdGpu, Machine};
#[cfg(feature = "real-data")]
use common::{cli, fixture, fx};
#[cfg(feature = "real-data")]
use std::path::Path;

#[cfg(feature = "real-data")]
const PYTORCH_ORG: &str = "__version__ = '2.5.1+rocm6.2'\ndebug = False\ncuda = None\ngit_version = 'a8d6afb511a69687bbb2b7e88a3cf67917e1697e'\nhip = '6.2.41133-dd7f95766'\n";

/// Everything the commands print (human and JSON) for one machine and override value.
#[cfg(feature = "real-data")]
fn outputs(dir: &Path, g: &AmdGpu, value: &str) -> String {
    let root = Machine::new(&dir.join("root"))
        .cpu_node(0, 8)
        .amd_gpu(g)
        .driver_ok()
        .file(
            "home/bob/.bashrc",
            &format!("export HSA_OVERRIDE_GFX_VERSION={value}\n"),
        )
        .finish();
    let venv = torch_venv(
        &dir.join("venv"),
        PYTORCH_ORG,
        &[("libtorch_hip.so", &fx("libtorch_like_no_gfx1010.so"))],
        None,
        &[],
    );
    let log = fixture("logs").join("fault-rx6800-forge.log");
    let mut all = String::new();
    for env in [None, Some(value)] {
        for cmd in [
            vec!["doctor"],
            vec!["doctor", "--json"],
            vec!["fix", "--dry-run", "--yes"],
            vec!["fix", "--dry-run", "--yes", "--json"],
            vec!["explain"],
            vec!["explain", "--json"],
        ] {
            let mut c = cli().env_clear().args(&cmd).arg("--sysroot").arg(&root);
            if cmd[0] == "explain" {
                c = c.arg(&log);
            } else {
                c = c.arg("--python").arg(&venv).args(["--user", "bob"]);
            }
            if let Some(v) = env {
                c = c.env("HSA_OVERRIDE_GFX_VERSION", v);
            }
            let o = c.run();
            assert!(o.signal.is_none() && o.code <= 1, "{cmd:?}: {}", o.stderr);
            all += &o.stdout;
            all += &o.stderr;
        }
    }
    all
}

/// Words that only fit an RDNA1 card.
#[cfg(feature = "real-data")]
const RDNA1_ONLY: [&str; 7] = [
    "gfx101x", "gfx1010", "RDNA1", "rdna1.md", "RX 5500", "RX 5600", "RX 5700",
];

#[cfg(feature = "real-data")]
#[test]
fn an_rx_580_and_a_7840u_owner_get_no_rdna1_text() {
    let d = tempfile::tempdir().unwrap();
    for (name, g, value) in [
        ("rx580", AmdGpu::rx580(1, 3), "10.3.0"),
        ("7840u", AmdGpu::phoenix_7840u(1, 0xc1), "11.0.0"),
    ] {
        let text = outputs(&d.path().join(name), &g, value);
        // The commands ran and spoke about this GPU.
        let own = if name == "rx580" { "gfx803" } else { "gfx1103" };
        assert!(text.contains(own), "{name}: {text}");
        assert!(text.contains("HSA_OVERRIDE_GFX_VERSION"), "{name}: {text}");
        for w in RDNA1_ONLY {
            let at: Vec<&str> = text.lines().filter(|l| l.contains(w)).collect();
            assert!(at.is_empty(), "{name}: {w:?} in:\n{}", at.join("\n"));
        }
    }
}

#[cfg(feature = "real-data")]
#[test]
fn an_rx_5600_xt_owner_still_gets_the_rdna1_notes() {
    let d = tempfile::tempdir().unwrap();
    let text = outputs(d.path(), &AmdGpu::rx5600xt(1, 3), "10.3.0");
    for w in [
        "the code lacks the gfx101x hazard workarounds",
        "docs/rdna1.md (the 10.3.0 override on RDNA1)",
        "pytorch/pytorch#132570 (pytorch.org wheels carry no gfx1010)",
        "missing hardware-bug workarounds and GFX10.3-only instructions",
    ] {
        assert!(text.contains(w), "{w:?} missing:\n{text}");
    }
}

/// A probe remedy made for RDNA1 (a gfx1010 PyTorch patch) is offered for gfx101x only.
#[test]
fn rdna1_probe_remedies_are_for_rdna1() {
    let kb = rp_kb::kb();
    let nonzero = kb.probe("nonzero").unwrap();
    assert!(nonzero
        .remedy_for(Some("gfx1010:xnack-"))
        .is_some_and(|r| r.contains("gfx1010 nonzero patch")));
    assert_eq!(nonzero.remedy_for(Some("gfx803")), None);
    assert_eq!(nonzero.remedy_for(Some("gfx1103")), None);
    assert_eq!(nonzero.remedy_for(None), None);
    // A remedy for every GPU stays.
    let int8 = kb.probe("int8_matmul").unwrap();
    assert!(int8.remedy_for(Some("gfx803")).is_some());
    // No remedy that names an RDNA1 patch is left open to every GPU.
    for p in kb.probes() {
        if p.remedy.as_deref().is_some_and(|r| r.contains("gfx1010")) {
            assert!(!p.remedy_targets.is_empty(), "{}", p.name);
            assert!(p.remedy_for(Some("gfx803")).is_none(), "{}", p.name);
        }
    }
}
