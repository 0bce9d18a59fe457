//! Hostile kpack references, on a host library AMD's splitter made
//! (fixtures/kpack/installed/main-gfx1010) whose `.rocm_kpack_ref` is replaced with
//! objcopy: placeholders that repeat or loop through links, a directory of thousands of
//! would-be archives. Each is a bounded, per-file answer, never a hang or a crash.

use rp_inspect::{inspect, Options};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "../../rp-codeobj/tests/support/kpack_writer.rs"]
mod kpack_writer;

fn genuine() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/kpack/installed/main-gfx1010/site-packages")
}

/// A copy of the genuine tree whose libtorch_hip.so names `paths`.
fn tree_with_ref(dir: &Path, paths: &[&str]) -> PathBuf {
    let sp = dir.join("site-packages");
    assert!(Command::new("cp")
        .arg("-a")
        .arg(genuine())
        .arg(&sp)
        .status()
        .unwrap()
        .success());
    let lib = sp.join("torch/lib/libtorch_hip.so");
    let r = dir.join("ref.bin");
    // The section keeps its size: pad the new reference to the original's length.
    let mut data = kpack_writer::kpack_ref("lib/libtorch_hip.so", paths);
    let orig = Command::new("objcopy")
        .args(["-O", "binary", "--only-section=.rocm_kpack_ref"])
        .arg(&lib)
        .arg(dir.join("orig.bin"))
        .status()
        .unwrap();
    assert!(orig.success());
    let want = std::fs::metadata(dir.join("orig.bin")).unwrap().len() as usize;
    if data.len() < want {
        data.resize(want, 0);
    }
    std::fs::write(&r, &data).unwrap();
    let o = Command::new("objcopy")
        .arg("--update-section")
        .arg(format!(".rocm_kpack_ref={}", r.display()))
        .arg(&lib)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    sp
}

fn check(sp: &Path) -> rp_report::InspectReport {
    let t = Instant::now();
    let rep = inspect(
        &[sp.join("torch/lib/libtorch_hip.so")],
        &Options {
            gpu: Some("gfx1010".parse().unwrap()),
            ..Options::default()
        },
    );
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t.elapsed()
    );
    rep
}

#[test]
fn repeated_placeholders_and_link_loops() {
    let d = tempfile::tempdir().unwrap();
    // Only the first @GFXARCH@ is expanded (loader.cpp): the second stays literal.
    let sp = tree_with_ref(d.path(), &["../.kpack/torch_@GFXARCH@_@GFXARCH@.kpack"]);
    let rep = check(&sp);
    let c = rep.coverage.unwrap();
    assert_eq!(c.missing.len(), 1, "{c:?}");
    // An archive name that is a link loop: missing, not followed forever.
    let d2 = tempfile::tempdir().unwrap();
    let sp = tree_with_ref(d2.path(), &["../.kpack/loop_@GFXARCH@.kpack"]);
    let k = sp.join("torch/.kpack");
    std::os::unix::fs::symlink("loop_gfx1010:xnack-.kpack", k.join("loop_gfx1010.kpack")).unwrap();
    std::os::unix::fs::symlink("loop_gfx1010.kpack", k.join("loop_gfx1010:xnack-.kpack")).unwrap();
    let rep = check(&sp);
    let c = rep.coverage.unwrap();
    assert_eq!(c.missing.len(), 1, "{c:?}");
}

#[test]
fn a_directory_of_thousands_of_candidates_is_bounded() {
    let d = tempfile::tempdir().unwrap();
    let sp = tree_with_ref(d.path(), &["../.kpack/torch_@GFXARCH@.kpack"]);
    let k = sp.join("torch/.kpack");
    for i in 0..20_000 {
        std::fs::write(k.join(format!("torch_x{i}.kpack")), b"not an archive").unwrap();
    }
    let rep = check(&sp);
    let f = rep
        .files
        .iter()
        .find(|f| f.path.ends_with("libtorch_hip.so"))
        .unwrap();
    let n = f.kpack_ref.as_ref().unwrap().search.len();
    assert!(n <= 256, "{n} archives followed");
    // The real archive is still found among them, or the library is reported missing —
    // never a crash; with the real gfx1010 archive sorted early it is covered.
    let c = rep.coverage.unwrap();
    assert_eq!(c.covered.len() + c.missing.len() + c.partial.len(), 1);
}

#[test]
fn thousands_of_search_paths_are_an_error_for_that_file() {
    let d = tempfile::tempdir().unwrap();
    let paths: Vec<String> = (0..5000)
        .map(|i| format!("../.kpack/t{i}_@GFXARCH@.kpack"))
        .collect();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    // Too large for the section: the library is rebuilt with objcopy's add-section.
    let sp = d.path().join("site-packages");
    assert!(Command::new("cp")
        .arg("-a")
        .arg(genuine())
        .arg(&sp)
        .status()
        .unwrap()
        .success());
    let lib = sp.join("torch/lib/libtorch_hip.so");
    let r = d.path().join("ref.bin");
    std::fs::write(&r, kpack_writer::kpack_ref("lib/libtorch_hip.so", &refs)).unwrap();
    let o = Command::new("objcopy")
        .args(["--remove-section", ".rocm_kpack_ref", "--add-section"])
        .arg(format!(".rocm_kpack_ref={}", r.display()))
        .arg(&lib)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rep = check(&sp);
    let f = rep
        .files
        .iter()
        .find(|f| f.path.ends_with("libtorch_hip.so"))
        .unwrap();
    assert!(
        f.error
            .as_deref()
            .unwrap_or_default()
            .contains("search paths"),
        "{:?}",
        f.error
    );
}
