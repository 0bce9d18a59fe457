//! Build metadata for `--version` (the git commit and the date of the newest change to the
//! knowledge base, `unknown` when the source is not a git checkout), and the trace
//! interposer embedded in the binary.
//!
//! The interposer is a `cdylib` (`rp-trace-preload`), which `cargo install` does not
//! install and a binary crate cannot depend on; so it is built here by a second cargo
//! (release profile, same lock file, its own target directory beside this build's) and
//! its bytes are embedded: `rocm-patch trace` writes them to the user's cache when no
//! interposer lies beside the binary, and a `cargo install` alone gives a working `trace`.
use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let o = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8(o.stdout).ok()?.trim().to_string();
    (o.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let kb = git(&["log", "-1", "--format=%cs", "--", "../rp-kb/data"])
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=RP_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=RP_KB_DATE={kb}");
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/index");
    }
    println!("cargo:rerun-if-changed=../rp-kb/data");
    embed_preload();
}

/// Build `rp-trace-preload` and copy it to `$OUT_DIR/librp_trace_preload.so`.
fn embed_preload() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let target = std::env::var("TARGET").expect("TARGET");
    let workspace = manifest.join("../..");
    for dep in ["rp-trace-preload", "rp-codeobj", "rp-target-id"] {
        println!("cargo:rerun-if-changed=../{dep}/src");
        println!("cargo:rerun-if-changed=../{dep}/Cargo.toml");
    }
    println!("cargo:rerun-if-changed=../../Cargo.lock");
    // One target directory for every build of this tree (check, build, test, clippy):
    // `<target-dir>/preload-embed`, found from OUT_DIR (`<target-dir>/[<triple>/]<profile>/build/<pkg>/out`).
    let target_dir = out
        .ancestors()
        .nth(4)
        .map(|p| p.join("preload-embed"))
        .unwrap_or_else(|| out.join("preload-embed"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut c = Command::new(cargo);
    c.arg("build")
        .arg("--release")
        .arg("--locked")
        .args(["-p", "rp-trace-preload", "--target", &target])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // Not clippy's driver, and not this build's profile settings.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("PROFILE")
        .env_remove("OPT_LEVEL")
        .env_remove("DEBUG");
    let status = c.status().expect("run cargo to build rp-trace-preload");
    assert!(
        status.success(),
        "building the trace interposer (rp-trace-preload) failed: {status}"
    );
    let built: &Path = &target_dir
        .join(&target)
        .join("release/librp_trace_preload.so");
    std::fs::copy(built, out.join("librp_trace_preload.so")).unwrap_or_else(|e| {
        panic!("{}: {e}", built.display());
    });
}
