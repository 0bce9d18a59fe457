//! MIOpen's batch-norm bug found in a real installed MIOpen: Debian sid's `libmiopen1`
//! 6.4.3 (MIOpen 3.4.0, unpacked by scripts/test.sh, never installed) in torch/lib of a
//! synthesized machine. Its kernels keep the DPP `row_bcast` path on gfx101x (MIOpen#1586);
//! an RX 5600 XT (gfx1010) gets the error, an RX 6700 XT (gfx1031) does not.
#![cfg(feature = "real-data")]

mod common;
use common::machine::{torch_venv, AmdGpu, Machine};
use common::*;
use rp_report::{DoctorReport, MiopenCheck, MiopenVerdict, Severity};
use std::path::Path;
use std::time::Instant;

const ROCM_TORCH: &str =
    "__version__ = '2.5.1+rocm6.2'\ndebug = False\ncuda = None\nhip = '6.2.41133-dd7f95766'\n";

fn sid_miopen() -> std::path::PathBuf {
    let p = input("RP_SID").join("usr/lib/x86_64-linux-gnu/libMIOpen.so.1.0");
    assert!(
        p.is_file(),
        "{} missing: rerun scripts/test.sh (it unpacks sid's libmiopen1)",
        p.display()
    );
    p
}

fn doctor(root: &Path, venv: &Path, cache: &Path) -> (i32, String, DoctorReport, f64) {
    let t0 = Instant::now();
    // (The time is measured in scripts/bench-doctor.sh, not asserted here.)
    let run = |json: bool| {
        let c = cli()
            .env_clear()
            .env("XDG_CACHE_HOME", cache)
            .current_dir(root)
            .args(["doctor", "--sysroot"])
            .arg(root)
            .arg("--python")
            .arg(venv);
        if json {
            c.arg("--json").run()
        } else {
            c.run()
        }
    };
    let j = run(true);
    let secs = t0.elapsed().as_secs_f64();
    let h = run(false);
    (h.code, h.stdout, j.json(), secs)
}

/// The MIOpen check of the first environment's torch.
fn torch_miopen(v: &DoctorReport) -> &MiopenCheck {
    &v.python[0].torch.as_ref().unwrap().miopen[0]
}

fn machine(root: &Path, gpu: &AmdGpu) -> std::path::PathBuf {
    Machine::new(root)
        .cpu_node(0, 12)
        .amd_gpu(gpu)
        .driver_ok()
        .finish()
}

#[test]
fn doctor_finds_the_batch_norm_bug_in_sids_miopen_on_rdna1_only() {
    let lib = sid_miopen();
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");

    // RX 5600 XT, torch/lib holding the real library.
    let root = machine(&d.path().join("rdna1"), &AmdGpu::rx5600xt(1, 3));
    let venv = torch_venv(
        &root.join("home/bob/venv"),
        ROCM_TORCH,
        &[("libMIOpen.so", &lib)],
        None,
        &[],
    );
    let (code, human, v, _) = doctor(&root, &venv, &cache);
    assert_eq!(code, 1, "{human}");
    let f = finding(&v, "miopen-batchnorm-dpp-gfx101x");
    assert_eq!(f.severity, Severity::Error);
    let title = &f.title;
    assert!(
        title.contains("3.4.0") && title.contains("gfx1010"),
        "{title}"
    );
    let why = &f.why;
    assert!(why.contains("MIOpenBatchNormFwdTrainSpatial.cl"), "{why}");
    assert!(why.contains("miopenStatusUnknownError"), "{why}");
    let fix = serde_json::to_string(&f.fix).unwrap();
    assert!(
        fix.contains("rocm-patch build miopen --gpu gfx1010"),
        "{fix}"
    );
    assert!(
        fix.contains("torch.backends.cudnn.enabled = False"),
        "{fix}"
    );
    let t = torch_miopen(&v);
    assert_eq!(t.version.as_deref(), Some("3.4.0"));
    assert_eq!(t.targets[0].verdict, MiopenVerdict::Affected);
    // A second run reads the cached check (same file identity).
    let (_, _, v2, _) = doctor(&root, &venv, &cache);
    assert_eq!(v2.findings, v.findings);
    assert!(
        std::fs::read_dir(cache.join("rocm-patch/miopen-bn"))
            .unwrap()
            .count()
            >= 1
    );

    // RX 6700 XT (gfx1031): the kernels take the GFX103x path there.
    let rx6700 = AmdGpu {
        gfx_target_version: 100301,
        device: 0x73df,
        revision: 0xc1,
        asic: "navi22",
        simd_count: 80,
        vram: 12 << 30,
        ..AmdGpu::rx5600xt(1, 3)
    };
    let root = machine(&d.path().join("rdna2"), &rx6700);
    let venv = torch_venv(
        &root.join("home/bob/venv"),
        ROCM_TORCH,
        &[("libMIOpen.so", &lib)],
        None,
        &[],
    );
    let (_, human, v, _) = doctor(&root, &venv, &cache);
    assert!(
        !ids(&v).contains(&"miopen-batchnorm-dpp-gfx101x".to_string()),
        "{human}"
    );
    assert_eq!(
        torch_miopen(&v).targets[0].verdict,
        MiopenVerdict::Unaffected
    );
}

#[test]
fn a_patched_or_foreign_libmiopen_is_not_blamed() {
    let d = tempfile::tempdir().unwrap();
    let root = machine(&d.path().join("rdna1"), &AmdGpu::rx5600xt(1, 3));
    // Not MIOpen at all (a hipcc-built library named like it): no kernels, no finding.
    let venv = torch_venv(
        &root.join("home/bob/venv"),
        ROCM_TORCH,
        &[("libMIOpen.so", &fx("libtorch_like_no_gfx1010.so"))],
        None,
        &[],
    );
    let (_, human, v, _) = doctor(&root, &venv, &d.path().join("cache"));
    assert!(
        !ids(&v).contains(&"miopen-batchnorm-dpp-gfx101x".to_string()),
        "{human}"
    );
    let m = torch_miopen(&v);
    assert!(m.kernels_found.is_empty(), "{m:?}");
    assert_eq!(m.targets[0].verdict, MiopenVerdict::Unknown, "{m:?}");
}

#[test]
fn inspect_reports_the_check_per_library() {
    let lib = sid_miopen();
    let (code, v) = inspect_json(&[s(&lib)]);
    assert_eq!(code, 0, "{v:#?}");
    let m = v.files[0].miopen_bn.as_ref().unwrap();
    assert_eq!(m.version.as_deref(), Some("3.4.0"), "{m:?}");
    assert_eq!(m.kernels_found.len(), 11, "{m:?}");
    let verdict = |t: &str| {
        m.targets
            .iter()
            .find(|x| x.target == t)
            .map(|x| x.verdict)
            .unwrap()
    };
    for t in ["gfx1010", "gfx1011", "gfx1012"] {
        assert_eq!(verdict(t), MiopenVerdict::Affected, "{t}");
    }
    for t in ["gfx1030", "gfx1100", "gfx906", "gfx90a"] {
        assert_eq!(verdict(t), MiopenVerdict::Unaffected, "{t}");
    }
    let (_, v) = inspect_json(&["--gpu", "gfx1031", s(&lib)]);
    let t = &v.files[0].miopen_bn.as_ref().unwrap().targets;
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].verdict, MiopenVerdict::Unaffected);
    let (_, out, _) = rp(&["inspect", "--gpu", "gfx1010", s(&lib)]);
    assert!(
        out.contains("MIOpen batch-norm kernels") && out.contains("affected"),
        "{out}"
    );
}
