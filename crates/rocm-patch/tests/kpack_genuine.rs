//! TheRock's layout as AMD's own tools make it (fixtures/kpack: host and device wheels
//! split by rocm-systems' `rocm_kpack` wheel splitter from real hipcc-built libraries,
//! and the trees real `pip` installs from them; provenance in fixtures/kpack/SOURCES.md):
//! `inspect` and `doctor` on them, with the kpack variables and PyPI's placeholder.

mod common;
use common::machine::rx5600xt;
use common::*;
use rp_report::{Coverage, DoctorReport, InspectReport, Severity};
use std::path::{Path, PathBuf};
use std::process::Command;

fn kfx(rel: &str) -> PathBuf {
    fixture(&format!("kpack/{rel}"))
}

fn cov(v: &InspectReport) -> &Coverage {
    v.coverage.as_ref().expect("coverage (--gpu)")
}

#[test]
fn inspect_follows_the_genuine_layout_per_translation_unit() {
    let main = kfx("installed/main-gfx1010/site-packages");
    // A correct install: every library has code for the RX 5600 XT's gfx1010.
    let (code, v) = inspect_json(&["--gpu", "gfx1010", s(&main)]);
    assert_eq!(code, 0, "{:?}", cov(&v));
    let covered: Vec<&str> = cov(&v).covered.iter().map(|c| c.path.as_str()).collect();
    assert!(
        covered
            .iter()
            .any(|p| p.ends_with("torch/lib/libtorch_hip.so")),
        "{covered:?}"
    );
    assert!(
        covered
            .iter()
            .any(|p| p.ends_with("torch/lib/libc10_hip.so")),
        "{covered:?}"
    );
    let hip = v
        .files
        .iter()
        .find(|f| f.path.ends_with("libtorch_hip.so"))
        .unwrap();
    // Two HIPK wrappers, one search path with the placeholder, as AMD's splitter writes.
    let kref = hip.kpack_ref.as_ref().unwrap();
    assert_eq!(kref.units, [0, 1]);
    assert_eq!(kref.kernel_name, "lib/libtorch_hip.so");
    let s0 = &kref.search[0];
    assert_eq!(s0.path, "../.kpack/torch_@GFXARCH@.kpack");
    assert_eq!(s0.arch.as_deref(), Some("gfx1010"));
    assert_eq!(s0.gfx_arches, ["gfx1010"]);
    assert!(s0
        .archive
        .as_deref()
        .unwrap()
        .ends_with("torch/.kpack/torch_gfx1010.kpack"));
    // The same install for an MI210 (gfx90a): nothing there.
    let (code, v) = inspect_json(&["--gpu", "gfx90a", s(&main)]);
    assert_eq!(code, 1);
    assert!(cov(&v).missing.len() >= 2, "{:?}", cov(&v));
    let (code, out, _) = rp(&["inspect", "--gpu", "gfx90a", s(&main)]);
    assert_eq!(code, 1);
    assert!(
        out.contains("MISSING") && out.contains("no archive the runtime opens covers gfx90a"),
        "{out}"
    );

    // The `none` scheme and the ROCm library overlay (its key is a build-tree path).
    for tree in [
        "installed/none-gfx1010/site-packages",
        "rocm-sdk/installed/site-packages",
    ] {
        let (code, v) = inspect_json(&["--gpu", "gfx1010", s(&kfx(tree))]);
        assert_eq!(code, 0, "{tree}: {:?}", cov(&v));
    }
    // A device wheel for another GPU, or none: missing.
    for tree in [
        "installed/wrong-gpu-gfx90a/site-packages",
        "installed/host-only/site-packages",
    ] {
        let (code, v) = inspect_json(&["--gpu", "gfx1010", s(&kfx(tree))]);
        assert_eq!(code, 1, "{tree}: {:?}", cov(&v));
    }
    let (code, _) = inspect_json(&[
        "--gpu",
        "gfx90a",
        s(&kfx("installed/wrong-gpu-gfx90a/site-packages")),
    ]);
    assert_eq!(code, 0);
}

#[test]
fn a_translation_unit_missing_from_every_archive_is_partial() {
    let tree = kfx("installed/partial-gfx1010/site-packages");
    let (code, v) = inspect_json(&["--gpu", "gfx1010", s(&tree)]);
    assert_eq!(code, 1);
    let partial = &cov(&v).partial;
    let hip = partial
        .iter()
        .find(|p| p.path.ends_with("libtorch_hip.so"))
        .unwrap_or_else(|| panic!("{:?}", cov(&v)));
    assert_eq!(hip.missing_units, ["lib/libtorch_hip.so#1"]);
    assert_eq!(hip.units, 2);
    let (_, out, _) = rp(&["inspect", "--gpu", "gfx1010", s(&tree)]);
    assert!(
        out.contains("PARTIAL") && out.contains("lib/libtorch_hip.so#1"),
        "{out}"
    );
}

#[test]
fn split_wheels_are_resolved_across_host_and_device_wheels() {
    let dir = kfx("wheels/main");
    let wheels: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    let host = wheels
        .iter()
        .find(|w| {
            w.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("torch-")
        })
        .unwrap();
    let dev = wheels
        .iter()
        .find(|w| {
            w.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("amd_torch_device_gfx1010-")
        })
        .unwrap();
    let (code, v) = inspect_json(&["--gpu", "gfx1010", s(host), s(dev)]);
    assert_eq!(code, 0, "{:?}", cov(&v));
    // The host wheel alone has no code for any GPU.
    let (code, v) = inspect_json(&["--gpu", "gfx1010", s(host)]);
    assert_eq!(code, 1, "{:?}", cov(&v));
}

#[test]
fn kpack_variables_change_where_code_comes_from() {
    let main = kfx("installed/main-gfx1010/site-packages");
    let run = |env: &[(&str, String)]| {
        cli()
            .env_remove("ROCM_KPACK_PATH")
            .env_remove("ROCM_KPACK_PATH_PREFIX")
            .env_remove("ROCM_KPACK_DISABLE")
            .args(["inspect", "--json", "--gpu", "gfx1010"])
            .arg(&main)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .json::<InspectReport>()
    };
    let (code, v) = run(&[("ROCM_KPACK_DISABLE", "1".into())]);
    assert_eq!(code, 1, "{:?}", cov(&v));
    assert!(serde_json::to_string(cov(&v))
        .unwrap()
        .contains("ROCM_KPACK_DISABLE"));
    assert_eq!(run(&[("ROCM_KPACK_DISABLE", "0".into())]).0, 0);
    // ROCM_KPACK_PATH replaces the library's own paths: the gfx90a archive alone.
    let gfx90a = kfx("installed/wrong-gpu-gfx90a/site-packages/torch/.kpack/torch_gfx90a.kpack");
    let (code, v) = run(&[("ROCM_KPACK_PATH", s(&gfx90a).to_string())]);
    assert_eq!(code, 1, "{:?}", cov(&v));
    // ROCM_KPACK_PATH_PREFIX puts a gfx1010 archive first for the wrong-GPU tree.
    let good = kfx("installed/none-gfx1010/site-packages/torch/.kpack/torch_gfx1010.kpack");
    let wrong = kfx("installed/wrong-gpu-gfx90a/site-packages");
    let o = cli()
        .env(
            "ROCM_KPACK_PATH_PREFIX",
            format!("/nonexistent.kpack:{}", s(&good)),
        )
        .args(["inspect", "--json", "--gpu", "gfx1010"])
        .arg(&wrong)
        .run();
    assert_eq!(o.code, 0, "{}", o.stdout);
}

/// The genuine tree as a venv: AMD's split of our stand-in torch, plus a `version.py`
/// that says ROCm (the stand-in has none).
fn genuine_venv(dir: &Path, tree: &str) -> PathBuf {
    let sp = dir.join("lib/python3.11/site-packages");
    std::fs::create_dir_all(&sp).unwrap();
    std::fs::write(
        dir.join("pyvenv.cfg"),
        "home = /usr/bin\nversion = 3.11.7\n",
    )
    .unwrap();
    let o = Command::new("cp")
        .arg("-a")
        .arg(kfx(&format!("installed/{tree}/site-packages")).join("."))
        .arg(&sp)
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::write(
        sp.join("torch/version.py"),
        "__version__ = '2.9.1+rocm7.10.0'\ndebug = False\ncuda = None\nhip = '7.10.0'\n",
    )
    .unwrap();
    dir.to_path_buf()
}

/// Doctor on the tree, human and `--json`: (exit, human text, the JSON run).
fn doctor_run(root: &Path, venv: &Path, env: &[(&str, &str)]) -> (i32, String, Output) {
    let run = |json: bool| {
        let c = cli()
            .env_clear()
            .current_dir(root)
            .args(["doctor", "--sysroot"])
            .arg(root)
            .arg("--python")
            .arg(venv)
            .envs(env.iter().copied());
        if json {
            c.arg("--json").run()
        } else {
            c.run()
        }
    };
    let (h, j) = (run(false), run(true));
    (h.code, h.stdout, j)
}

fn doctor(root: &Path, venv: &Path, env: &[(&str, &str)]) -> (i32, String, DoctorReport) {
    let (code, human, j) = doctor_run(root, venv, env);
    (code, human, j.json())
}

fn errors(v: &DoctorReport) -> Vec<String> {
    v.findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.id.clone())
        .collect()
}

#[test]
fn doctor_on_an_rx5600xt_with_the_genuine_install() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    let venv = genuine_venv(&root.join("home/bob/venvs/rock"), "main-gfx1010");
    let (code, human, v) = doctor(&root, &venv, &[]);
    assert_eq!(errors(&v), Vec::<String>::new(), "{human}");
    assert_eq!(code, 0, "{human}");
    assert!(human.contains("code loads"), "{human}");

    // ROCM_KPACK_DISABLE: an error that names it.
    let (code, human, v) = doctor(&root, &venv, &[("ROCM_KPACK_DISABLE", "1")]);
    assert_eq!(code, 1);
    let f = finding(&v, "kpack-disabled");
    assert!(f.title.contains("ROCM_KPACK_DISABLE=1"), "{human}");
    assert!(human.contains("unset ROCM_KPACK_DISABLE"), "{human}");
    // Shown with the other variables.
    assert!(
        v.environment
            .variables
            .iter()
            .any(|x| x.name == "ROCM_KPACK_DISABLE"),
        "{:?}",
        v.environment
    );

    // ROCM_KPACK_PATH to the gfx90a archive: a warning, and the code does not load.
    let gfx90a = root.join("opt/torch_gfx90a.kpack");
    std::fs::create_dir_all(gfx90a.parent().unwrap()).unwrap();
    std::fs::copy(
        kfx("installed/wrong-gpu-gfx90a/site-packages/torch/.kpack/torch_gfx90a.kpack"),
        &gfx90a,
    )
    .unwrap();
    let (code, human, v) = doctor(
        &root,
        &venv,
        &[("ROCM_KPACK_PATH", "/opt/torch_gfx90a.kpack")],
    );
    assert_eq!(code, 1, "{human}");
    assert_eq!(finding(&v, "kpack-path-set").severity, Severity::Warning);
    assert!(
        errors(&v).contains(&"torch-missing-target".to_string()),
        "{human}"
    );
}

#[cfg(feature = "real-data")]
#[test]
fn pypis_placeholder_is_named_not_counted() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    let venv = genuine_venv(&root.join("home/bob/venvs/rock"), "host-only");
    // AMD's real placeholder from PyPI, installed with real pip.
    let wheel = std::fs::read_dir(input("RP_WHEELS"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("amd_torch_device_gfx1010-0.0.1.dev0")
        })
        .expect("scripts/test.sh downloads amd-torch-device-gfx1010 0.0.1.dev0 from PyPI");
    let o = Command::new(input("RP_BUILD_PYTHON"))
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--target",
        ])
        .arg(venv.join("lib/python3.11/site-packages"))
        .arg(&wheel)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (code, human, v) = doctor(&root, &venv, &[]);
    assert_eq!(code, 1);
    let f = finding(&v, "device-package-placeholder");
    assert!(
        f.title.contains("amd-torch-device-gfx1010 0.0.1.dev0"),
        "{human}"
    );
    assert!(
        f.why.contains("Placeholder for amd-torch-device-gfx1010"),
        "{human}"
    );
    assert!(
        human.contains("pip uninstall -y amd-torch-device-gfx1010"),
        "{human}"
    );
    // Not taken for a real device package.
    assert!(
        !errors(&v).contains(&"device-package-version-mismatch".to_string()),
        "{human}"
    );

    // pip configured with AMD's index as an extra beside PyPI: a warning.
    std::fs::write(
        venv.join("pip.conf"),
        "[global]\nextra-index-url = https://user:s3cret@stable.repo.amd.com/rocm/whl-next/\n",
    )
    .unwrap();
    let (_, human, j) = doctor_run(&root, &venv, &[]);
    let v: DoctorReport = j.json();
    let f = finding(&v, "pip-index-mixed");
    assert_eq!(f.severity, Severity::Warning);
    // The JSON as printed, all of it.
    assert!(!j.stdout.contains("s3cret"), "a password leaked");
    assert!(!human.contains("s3cret"));
}

#[test]
fn doctor_names_the_device_package_the_gpu_needs() {
    let d = tempfile::tempdir().unwrap();
    let root = rx5600xt(&d.path().join("root"));
    // The device wheel for an MI210 only.
    let venv = genuine_venv(&root.join("home/bob/venvs/wrong"), "wrong-gpu-gfx90a");
    let (code, human, v) = doctor(&root, &venv, &[]);
    assert_eq!(code, 1);
    assert!(!human.contains("code loads"), "{human}");
    let f = finding(&v, "device-package-mismatch");
    assert!(f.title.contains("amd-torch-device-gfx1010"), "{f:?}");
    let t = finding(&v, "torch-missing-target");
    assert!(
        t.why.contains("searched as the HIP runtime searches them"),
        "{t:?}"
    );
    // No device wheel at all: the host wheel alone never "loads".
    let venv = genuine_venv(&root.join("home/bob/venvs/host"), "host-only");
    let (code, human, v) = doctor(&root, &venv, &[]);
    assert_eq!(code, 1);
    assert!(!human.contains("code loads"), "{human}");
    let t = finding(&v, "torch-missing-target");
    assert!(t.why.contains("kpack'd"), "{t:?}");
}
