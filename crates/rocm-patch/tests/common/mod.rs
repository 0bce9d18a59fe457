//! Shared helpers for the CLI tests: locating the real test data and running the binary.
//!
//! The data comes from `scripts/test.sh` (which installs the Debian packages, downloads
//! sid's rocBLAS and a PyPI ROCm wheel, and builds fixtures with hipcc/clang-19). A
//! missing input is a test failure with instructions, never a skip.
#![allow(
    dead_code,
    unused_imports,
    reason = "included by several test binaries, each using a part: an expect would be unfulfilled in those that use all of it"
)]

pub use rp_testkit::machine;
pub use rp_testkit::{FakeWorker, Home, Output, Rp, FAKE_PYTHON};

use rp_report::{DoctorReport, Finding, InspectReport};
use std::path::{Path, PathBuf};

/// A directory or file named by an environment variable that scripts/test.sh sets.
pub fn input(var: &str) -> PathBuf {
    let v = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests through scripts/test.sh, which prepares the real test data")
    });
    let p = PathBuf::from(v);
    assert!(
        p.exists(),
        "{var}={} does not exist: rerun scripts/test.sh",
        p.display()
    );
    p
}

/// The fixtures built by scripts/build-fixtures.sh.
pub fn fx(name: &str) -> PathBuf {
    input("RP_FIXTURES").join(name)
}

/// A fixture committed in the repository (`fixtures/`, provenance in
/// `fixtures/SOURCES.md`).
pub fn fixture(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    assert!(p.exists(), "{} missing from the repository", p.display());
    p
}

/// A command line for this crate's binary (rp_testkit's builder).
pub fn cli() -> Rp {
    Rp::new(env!("CARGO_BIN_EXE_rocm-patch"))
}

/// Run rocm-patch; returns (exit code, stdout, stderr).
pub fn rp(args: &[&str]) -> (i32, String, String) {
    cli().args(args).run().triple()
}

/// Run `rocm-patch inspect --json ARGS`; returns (exit code, report).
pub fn inspect_json(args: &[&str]) -> (i32, InspectReport) {
    cli().args(["inspect", "--json"]).args(args).json()
}

/// Sorted target ids of all code objects in a report.
pub fn target_ids(report: &InspectReport) -> Vec<String> {
    let mut v: Vec<String> = report
        .files
        .iter()
        .flat_map(|f| &f.code_objects)
        .map(|c| c.target_id.clone())
        .collect();
    v.sort();
    v
}

/// Sorted target ids of one file's code objects.
pub fn file_targets(report: &InspectReport, path_suffix: &str) -> Vec<String> {
    let f = report
        .files
        .iter()
        .find(|f| f.path.ends_with(path_suffix))
        .unwrap_or_else(|| panic!("no file ending {path_suffix} in report"));
    let mut v: Vec<String> = f.code_objects.iter().map(|c| c.target_id.clone()).collect();
    v.sort();
    v
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The finding ids of a doctor report, in order.
pub fn ids(r: &DoctorReport) -> Vec<String> {
    r.findings.iter().map(|f| f.id.clone()).collect()
}

/// One finding of a doctor report by id.
pub fn finding<'a>(r: &'a DoctorReport, id: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no {id} in {:#?}", r.findings))
}

/// Everything about a tree that deploy must restore: type, mode, content, link target.
pub fn tree_snapshot(root: &Path) -> std::collections::BTreeMap<String, String> {
    let mut m = std::collections::BTreeMap::new();
    for e in walkdir::WalkDir::new(root).follow_links(false) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().display().to_string();
        let md = e.path().symlink_metadata().unwrap();
        use std::os::unix::fs::MetadataExt;
        let v = if md.file_type().is_symlink() {
            format!("link {}", std::fs::read_link(e.path()).unwrap().display())
        } else if md.is_dir() {
            format!("dir {:o}", md.mode() & 0o7777)
        } else {
            let data = std::fs::read(e.path()).unwrap();
            format!(
                "file {:o} {:x}",
                md.mode() & 0o7777,
                <md5::Md5 as md5::Digest>::digest(&data)
            )
        };
        m.insert(rel, v);
    }
    m
}
