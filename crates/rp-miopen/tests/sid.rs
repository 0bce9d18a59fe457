//! Real data: Debian sid's `libmiopen1` 6.4.3 (MIOpen 3.4.0), whose `libMIOpen.so.1`
//! carries the batch-norm kernel sources as text, and a real AMDGPU compiler (Debian's
//! clang-19). These tests never skip: without `RP_SID` (the tree `scripts/fetch-sid.sh
//! DIR libmiopen1` unpacks) or `clang-19` and `patch` on `PATH` they fail, saying what is
//! missing.
//!
//! The compile proof: each recipe's batch-norm patch applied to each kernel text taken
//! from the library (its headers inlined, so the patch's hunk lands inside it), then every
//! kernel compiled for gfx1010/1011/1012 and gfx10-1-generic before (the DPP kernels fail
//! with "not a valid operand") and after (everything compiles), and preprocessed for
//! gfx1030, gfx906 and gfx90a before and after (identical text: nothing changes there).
#![cfg(feature = "real-data")]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rp_miopen::compile::{compile, CompileOutcome};
use rp_miopen::{check, scan, target_defines, Verdict};

const SID_HELP: &str = "RP_SID must name a directory where Debian sid's libmiopen1 is unpacked \
     (scripts/test.sh: scripts/fetch-sid.sh \"$data/sid\" libmiopen1)";

/// The RDNA1 targets: the three processors and the generic target that covers them.
const GFX101X: [&str; 4] = ["gfx1010", "gfx1011", "gfx1012", "gfx10-1-generic"];

const SPATIAL: [&str; 4] = [
    "MIOpenBatchNormActivBwdSpatial.cl",
    "MIOpenBatchNormActivFwdTrainSpatial.cl",
    "MIOpenBatchNormFwdTrainSpatial.cl",
    "MIOpenBatchNormBwdSpatial.cl",
];

fn sid_lib() -> Vec<u8> {
    let root = std::env::var_os("RP_SID").unwrap_or_else(|| panic!("{SID_HELP}"));
    let p = Path::new(&root).join("usr/lib/x86_64-linux-gnu/libMIOpen.so.1");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}; {SID_HELP}", p.display()))
}

fn tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not on PATH: install Debian's {package} (scripts/test.sh does)")
        })
}

fn patch_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../rp-kb/data/build/patches/miopen")
        .join(name)
}

/// The kernel texts in the library: `(file, text)`, each file once.
fn kernel_texts(lib: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for k in scan(lib).kernels {
        if !out.iter().any(|(f, _)| *f == k.file) {
            out.push((k.file, lib[k.offset..k.offset + k.len].to_vec()));
        }
    }
    out
}

#[test]
fn sid_library_keeps_the_dpp_path_on_gfx101x_only() {
    let lib = sid_lib();
    let targets = [
        "gfx1010", "gfx1011", "gfx1012", "gfx1030", "gfx1100", "gfx906", "gfx90a",
    ];
    let c = check(&lib, &targets);
    assert_eq!(c.version.as_deref(), Some("3.4.0"));
    let mut found = c.kernels_found.clone();
    found.sort();
    let mut all = rp_miopen::BN_KERNEL_FILES.to_vec();
    all.sort();
    assert_eq!(found, all, "every MIOpenBatchNorm*.cl is found");
    assert!(!c.gfx101x_fix_present);
    let mut spatial = SPATIAL.map(String::from).to_vec();
    spatial.sort();
    for t in [
        "gfx1010",
        "gfx1011",
        "gfx1012",
        "gfx1010:xnack-",
        "gfx10-1-generic",
    ] {
        let c = check(&lib, &[t]);
        match c.verdict(t) {
            Verdict::Affected { mut kernels } => {
                kernels.sort();
                assert_eq!(kernels, spatial, "{t}");
            }
            v => panic!("{t}: {v:?}"),
        }
    }
    for t in ["gfx1030", "gfx1100"] {
        assert_eq!(c.verdict(t), Verdict::Unaffected, "{t}");
    }
    // GFX9 keeps the path, and accepts it.
    for t in ["gfx906", "gfx90a"] {
        assert_eq!(c.verdict(t), Verdict::Unaffected, "{t}");
        assert!(c.dpp_path_targets().contains(&t));
    }
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["targets"][0]["verdict"]["verdict"], "affected");
}

#[test]
fn a_library_with_the_patched_kernels_is_unaffected() {
    let lib = sid_lib();
    let tool_patch = tool("patch", "patch");
    let dir = tempfile::tempdir().unwrap();
    // The library with every kernel text replaced by its patched text.
    let mut patched_lib = Vec::with_capacity(lib.len() + (1 << 16));
    let mut at = 0;
    for k in scan(&lib).kernels {
        let before = dir.path().join("k.cl");
        let after = dir.path().join("k.patched.cl");
        std::fs::write(&before, &lib[k.offset..k.offset + k.len]).unwrap();
        apply(&tool_patch, "3.2.0-bn-gfx101x.patch", &before, &after);
        patched_lib.extend_from_slice(&lib[at..k.offset]);
        patched_lib.extend_from_slice(&std::fs::read(&after).unwrap());
        at = k.offset + k.len;
    }
    patched_lib.extend_from_slice(&lib[at..]);
    let targets = [
        "gfx1010",
        "gfx1011",
        "gfx1012",
        "gfx10-1-generic",
        "gfx1030",
        "gfx906",
    ];
    let c = check(&patched_lib, &targets);
    assert!(c.gfx101x_fix_present);
    assert_eq!(c.kernels_found.len(), 11);
    for t in targets {
        assert_eq!(c.verdict(t), Verdict::Unaffected, "{t}");
    }
    assert!(
        c.dpp_path_targets() == ["gfx906"],
        "{:?}",
        c.dpp_path_targets()
    );
}

fn apply(patch: &Path, name: &str, before: &Path, after: &Path) {
    let out = std::process::Command::new(patch)
        .args(["--batch", "--forward", "-s", "-i"])
        .arg(patch_file(name))
        .arg("-o")
        .arg(after)
        .arg(before)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name} does not apply to {}: {}{}",
        before.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The variants the solvers build a kernel with that compile at all (found with gfx906
/// before patching; `MIO_BN_VARIANT` 0 of the fused activation kernels and 4 of the
/// per-activation ones are never built with these parameters).
fn variants(file: &str) -> &'static [u32] {
    match file {
        "MIOpenBatchNormFwdTrainSpatial.cl" | "MIOpenBatchNormBwdSpatial.cl" => &[0, 1, 2, 3, 4],
        "MIOpenBatchNormActivBwdSpatial.cl" | "MIOpenBatchNormActivFwdTrainSpatial.cl" => {
            &[1, 2, 3, 4]
        }
        _ => &[1],
    }
}

/// A set of build parameters like the solvers' (`src/solver/batchnorm/*.cpp` @d62f7730,
/// e.g. `forward_spatial_single.cpp` L209-235) for an FP32 NCHW problem, N=32 C=64 HW=1024.
fn defines(target: &str, variant: u32) -> Vec<(String, String)> {
    let mut d: Vec<(String, String)> = target_defines(target)
        .into_iter()
        .filter(|(k, _)| k.starts_with("MIO"))
        .collect();
    for (k, v) in [
        ("MIO_SAVE_MEAN_VARIANCE", "1"),
        ("MIO_RUNNING_RESULT", "1"),
        ("MIO_BN_LDS_SIZE", "256"),
        ("MIO_BN_LDSGCN_SIZE", "4"),
        ("MIO_BN_N", "32"),
        ("MIO_BN_GRP0", "1"),
        ("MIO_BN_GRP1", "256"),
        ("MIO_BN_GRP2", "1"),
        ("MIO_BN_C", "64"),
        ("MIO_BN_HW", "1024"),
        ("MIO_BN_NHW", "32768"),
        ("MIO_BN_CHW", "65536"),
        ("MIO_BN_NCHW", "2097152"),
        ("MIO_BN_USESAVED", "1"),
        ("MIO_BN_NGRPS", "4"),
        ("MIO_BN_NGRPS2", "4"),
        ("MIO_BN_NLOOP", "4"),
        ("MIO_BN_NLOOPM", "3"),
        ("MIO_BN_SEGMENT", "256"),
        ("MIO_BN_SEGIHW", "1"),
        ("MIO_BN_REM", "0"),
        ("MIO_BN_SEG_C", "1"),
        ("MIO_BN_SEGTMP", "256"),
        ("MIO_BN_CBHW", "1024"),
        ("MIO_LAYOUT_NHWC", "0"),
        ("MIOPEN_NRN_OP_ID", "3"),
        ("MIOPEN_READ_UNIT", "4"),
        ("MIOPEN_READ_TYPE", "_FLOAT4"),
    ] {
        d.push((k.into(), v.into()));
    }
    d.push(("MIO_BN_VARIANT".into(), variant.to_string()));
    d
}

/// MIOpen 3.4.0's `MIOpenBatchNormActivBwdPerAct.cl` does not compile for FP32 on any
/// target (it calls `FLOAT2FLOAPREC`, a typo of `FLOAT2FLOATPREC`): upstream's bug, the
/// same before and after the patch, and not a DPP error.
const UPSTREAM_BROKEN: (&str, &str) = ("MIOpenBatchNormActivBwdPerAct.cl", "FLOAT2FLOAPREC");

#[test]
fn compile_proof_with_clang_on_sid_kernel_texts() {
    let lib = sid_lib();
    let clang = tool("clang-19", "clang-19");
    let patch = tool("patch", "patch");
    let dir = tempfile::tempdir().unwrap();
    let (before_dir, after_dir) = (dir.path().join("before"), dir.path().join("after"));
    std::fs::create_dir_all(&before_dir).unwrap();
    std::fs::create_dir_all(&after_dir).unwrap();
    let texts = kernel_texts(&lib);
    assert_eq!(texts.len(), 11);
    for (file, text) in &texts {
        let before = before_dir.join(file);
        std::fs::write(&before, text).unwrap();
        // Both recipes' patches insert the same lines at the same place.
        let dev = dir.path().join(format!("{file}.develop"));
        apply(
            &patch,
            "3.2.0-bn-gfx101x.patch",
            &before,
            &after_dir.join(file),
        );
        apply(&patch, "develop-bn-gfx101x.patch", &before, &dev);
        assert_eq!(
            std::fs::read(after_dir.join(file)).unwrap(),
            std::fs::read(&dev).unwrap(),
            "{file}: the 3.2.0 and develop patches give the same text"
        );
    }

    // Jobs: (file, target, variant, after?, preprocess?)
    let mut jobs = Vec::new();
    for (file, _) in &texts {
        for t in GFX101X {
            jobs.push((file.clone(), t, 1, false, false));
            for &v in variants(file) {
                jobs.push((file.clone(), t, v, true, false));
            }
        }
        for t in ["gfx1030", "gfx906", "gfx90a"] {
            for &v in variants(file) {
                jobs.push((file.clone(), t, v, false, true));
                jobs.push((file.clone(), t, v, true, true));
            }
        }
    }
    type Row = (
        String,
        &'static str,
        u32,
        bool,
        bool,
        CompileOutcome,
        Vec<u8>,
    );
    let results: Mutex<Vec<Row>> = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((file, t, v, after, pp)) = jobs.get(i).cloned() else {
                    break;
                };
                let d = if after { &after_dir } else { &before_dir };
                let (o, text) =
                    compile(&clang, &d.join(&file), d, t, &defines(t, v), pp).expect("run clang");
                results
                    .lock()
                    .unwrap()
                    .push((file, t, v, after, pp, o, text));
            });
        }
    });
    let results = results.into_inner().unwrap();
    let find = |file: &str, t: &str, v: u32, after: bool, pp: bool| {
        results
            .iter()
            .find(|r| r.0 == file && r.1 == t && r.2 == v && r.3 == after && r.4 == pp)
            .expect("job ran")
    };
    let mut table = String::new();
    let mut failures = Vec::new();
    for (file, _) in &texts {
        for t in GFX101X {
            let b = &find(file, t, 1, false, false).5;
            let dpp = SPATIAL.contains(&file.as_str());
            let broken = file == UPSTREAM_BROKEN.0;
            let before_ok = if dpp {
                !b.ok && b.dpp_rejected()
            } else if broken {
                !b.ok && !b.dpp_rejected()
            } else {
                b.ok
            };
            let mut after_ok = true;
            for &v in variants(file) {
                let a = &find(file, t, v, true, false).5;
                let ok = if broken {
                    !a.dpp_rejected() && a.errors.iter().all(|e| e.contains(UPSTREAM_BROKEN.1))
                } else {
                    a.ok
                };
                after_ok &= ok;
            }
            let row = format!(
                "{file} {t}: before {} / after {}",
                describe(b),
                if after_ok {
                    "as expected"
                } else {
                    "UNEXPECTED"
                }
            );
            if !(before_ok && after_ok) {
                failures.push(row.clone());
            }
            table.push_str(&row);
            table.push('\n');
        }
        for t in ["gfx1030", "gfx906", "gfx90a"] {
            for &v in variants(file) {
                let (b, a) = (find(file, t, v, false, true), find(file, t, v, true, true));
                if !(b.5.ok && a.5.ok && !b.6.is_empty() && b.6 == a.6) {
                    failures.push(format!("{file} {t} variant {v}: preprocessed text differs"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}\n{table}");
}

fn describe(o: &CompileOutcome) -> String {
    if o.ok {
        "compiles".into()
    } else if o.dpp_rejected() {
        "fails: not a valid operand (row_bcast)".into()
    } else {
        format!("fails: {}", o.errors.first().map_or("", |e| e.as_str()))
    }
}
