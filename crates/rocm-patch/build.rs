//! Build metadata for `--version`: the git commit and the date of the newest change to the
//! knowledge base, `unknown` when the source is not a git checkout.
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
}
