//! Preflight: every tool, library and prerequisite GPU library a recipe needs, checked
//! before anything starts.

use crate::recipe::{GpuCode, Library, Loaded, Tool};
use crate::Vars;
use rp_report::PreflightItem;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The first file named `name` on PATH.
pub fn which(name: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path = path?;
    std::env::split_paths(path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first `N.N[.N...]` in a text.
pub fn first_version(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let v = text[start..i].trim_end_matches('.');
            if v.contains('.') {
                return Some(v.to_string());
            }
        }
        i += 1;
    }
    None
}

/// `a >= b`, comparing dotted numbers (missing parts are 0).
pub fn version_at_least(a: &str, b: &str) -> bool {
    let parts = |s: &str| -> Vec<u64> {
        s.split(['.', '-', '+'])
            .map_while(|p| p.parse::<u64>().ok())
            .collect()
    };
    let (a, b) = (parts(a), parts(b));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x > y;
        }
    }
    true
}

/// Run `tool args` for its version: 10 s and 64 KiB at most, stdin closed.
fn tool_version(tool: &Path, args: &[String]) -> Result<String, String> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = (&mut out).take(64 << 10).read_to_end(&mut s);
        let mut e = Vec::new();
        let _ = (&mut err).take(64 << 10).read_to_end(&mut e);
        s.extend(e);
        s
    });
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > Duration::from_secs(10) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} did not answer in 10 s", tool.display()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let bytes = reader.join().unwrap_or_default();
    first_version(&String::from_utf8_lossy(&bytes))
        .ok_or_else(|| format!("no version in the output of {}", tool.display()))
}

fn check_tool(t: &Tool, env_path: Option<&std::ffi::OsStr>, run_tools: bool) -> PreflightItem {
    let mut item = PreflightItem {
        kind: "tool".into(),
        name: t.name.clone(),
        min_version: t.min.clone(),
        packages: t.packages.list(),
        ..Default::default()
    };
    let Some(path) = which(&t.name, env_path) else {
        item.problem = Some(format!("{} is not on PATH", t.name));
        return item;
    };
    item.found = Some(path.display().to_string());
    let Some(min) = &t.min else {
        item.ok = true;
        return item;
    };
    if !run_tools {
        item.ok = true;
        item.found = Some(format!("{} (version not checked: dry run)", path.display()));
        return item;
    }
    let args = t
        .version_args
        .clone()
        .unwrap_or_else(|| vec!["--version".into()]);
    match tool_version(&path, &args) {
        Ok(v) if version_at_least(&v, min) => {
            item.ok = true;
            item.found = Some(format!("{} {v}", path.display()));
        }
        Ok(v) => {
            item.found = Some(format!("{} {v}", path.display()));
            item.problem = Some(format!("{} is {v}; {min} or newer is needed", t.name));
        }
        Err(e) => item.problem = Some(e),
    }
    item
}

/// Directories pkg-config files are looked for in.
fn pc_dirs(v: &Vars) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(p) = v.env("PKG_CONFIG_PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    for d in [
        "/usr/local/lib/pkgconfig",
        "/usr/local/share/pkgconfig",
        "/usr/lib/x86_64-linux-gnu/pkgconfig",
        "/usr/lib64/pkgconfig",
        "/usr/lib/pkgconfig",
        "/usr/share/pkgconfig",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(Path::new(&v.rocm).join("lib/pkgconfig"));
    dirs.push(Path::new(&v.rocm).join("share/pkgconfig"));
    dirs
}

/// Roots CMake config files are looked for under.
fn cmake_roots(v: &Vars) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(p) = v.env("CMAKE_PREFIX_PATH") {
        roots.extend(std::env::split_paths(&p));
    }
    roots.push(PathBuf::from(&v.rocm));
    roots.push("/usr/local".into());
    roots.push("/usr".into());
    roots
}

fn pc_version(path: &Path) -> Option<String> {
    let bytes = crate::read_bounded(path, 256 << 10).ok()?;
    String::from_utf8_lossy(&bytes)
        .lines()
        .find_map(|l| l.strip_prefix("Version:").map(|v| v.trim().to_string()))
}

fn check_library(l: &Library, v: &Vars) -> PreflightItem {
    let mut item = PreflightItem {
        kind: "library".into(),
        name: l.name.clone(),
        min_version: l.min.clone(),
        packages: l.packages.list(),
        ..Default::default()
    };
    if let Some(module) = &l.pkg_config {
        let found = pc_dirs(v)
            .into_iter()
            .map(|d| d.join(format!("{module}.pc")))
            .find(|p| p.is_file());
        match found {
            None => {
                item.problem = Some(format!(
                    "no pkg-config file {module}.pc (PKG_CONFIG_PATH and the usual directories)"
                ))
            }
            Some(p) => {
                let ver = pc_version(&p);
                item.found = Some(match &ver {
                    Some(ver) => format!("{} (version {ver})", p.display()),
                    None => p.display().to_string(),
                });
                match (&l.min, &ver) {
                    (Some(min), Some(ver)) if !version_at_least(ver, min) => {
                        item.problem = Some(format!("{module} is {ver}; {min} or newer is needed"))
                    }
                    _ => item.ok = true,
                }
            }
        }
        return item;
    }
    let pkg = l.cmake.as_deref().unwrap_or_default();
    let lower = pkg.to_ascii_lowercase();
    let names = [
        format!("{pkg}Config.cmake"),
        format!("{lower}-config.cmake"),
    ];
    let subdirs = [
        "lib/cmake",
        "lib/x86_64-linux-gnu/cmake",
        "lib64/cmake",
        "share/cmake",
        "share",
    ];
    for root in cmake_roots(v) {
        for sub in subdirs {
            let base = root.join(sub);
            // The package's directory, or a versioned one (`Boost-1.83.0`).
            let Ok(entries) = std::fs::read_dir(&base) else {
                continue;
            };
            for e in entries.flatten() {
                let dn = e.file_name().to_string_lossy().to_ascii_lowercase();
                if dn != lower && !dn.starts_with(&format!("{lower}-")) {
                    continue;
                }
                for n in &names {
                    let p = e.path().join(n);
                    if p.is_file() {
                        item.ok = true;
                        item.found = Some(p.display().to_string());
                        return item;
                    }
                }
            }
        }
    }
    item.problem = Some(format!(
        "no CMake package {pkg} ({}) under CMAKE_PREFIX_PATH, {}, /usr/local or /usr",
        names.join(" or "),
        v.rocm
    ));
    item
}

fn check_gpu_code(g: &GpuCode, v: &Vars) -> PreflightItem {
    let mut item = PreflightItem {
        kind: "gpu-code".into(),
        name: format!("{} with code for {}", g.name, v.gpu),
        packages: g.packages.list(),
        ..Default::default()
    };
    let dirs: Vec<String> = g.dirs.iter().filter_map(|d| v.fill(d).ok()).collect();
    let Some(lib) = dirs
        .iter()
        .map(|d| Path::new(d).join(&g.library))
        .find(|p| p.exists())
    else {
        item.problem = Some(format!("{} not found in {}", g.library, dirs.join(", ")));
        return item;
    };
    item.found = Some(lib.display().to_string());
    let Ok(gpu) = v.gpu.parse::<rp_kb::TargetId>() else {
        item.problem = Some(format!("{} is not a GPU target", v.gpu));
        return item;
    };
    let real = lib.canonicalize().unwrap_or(lib.clone());
    let mut paths = vec![real.clone()];
    let tensile = g
        .tensile
        .as_ref()
        .map(|t| lib.parent().unwrap_or(Path::new("/")).join(t));
    if let Some(t) = &tensile {
        paths.push(t.clone());
    }
    let opts = rp_inspect::Options {
        gpu: Some(gpu.clone()),
        ..Default::default()
    };
    let report = rp_inspect::inspect(&paths, &opts);
    let cov = rp_inspect::coverage_of(&report, &gpu);
    let lib_ok = cov.covered.iter().any(|c| Path::new(&c.path) == real);
    let tensile_ok = match &tensile {
        None => true,
        Some(t) => report
            .tensile_dirs
            .iter()
            .any(|d| Path::new(&d.path) == t && d.archs.iter().any(|a| a == &gpu.processor)),
    };
    match (lib_ok, tensile_ok) {
        (true, true) => item.ok = true,
        (false, _) => {
            let targets = crate::targets_of(&report, &real);
            item.problem = Some(format!(
                "{} has no code for {} (it carries: {})",
                real.display(),
                v.gpu,
                if targets.is_empty() {
                    "none".into()
                } else {
                    targets.join(" ")
                }
            ))
        }
        (true, false) => {
            item.problem = Some(format!(
                "{} has no Tensile library for {}",
                tensile.map(|t| t.display().to_string()).unwrap_or_default(),
                v.gpu
            ))
        }
    }
    item
}

/// Check everything; `run_tools` false (a dry run) only looks tools up on PATH.
pub fn check(l: &Loaded, v: &Vars, with: &[String], run_tools: bool) -> Vec<PreflightItem> {
    let on = |w: &Option<String>| w.as_ref().is_none_or(|w| with.contains(w));
    let env_path = v.env("PATH");
    let mut items: Vec<PreflightItem> = l
        .recipe
        .tools
        .iter()
        .filter(|t| on(&t.with))
        .map(|t| check_tool(t, env_path.as_deref(), run_tools))
        .collect();
    // Tools the build itself runs: `patch` for patches, `git` for a git source.
    let own = |name: &str| Tool {
        name: name.into(),
        min: None,
        version_args: None,
        with: None,
        packages: crate::recipe::Packages {
            debian: Some(name.into()),
            fedora: Some(name.into()),
            arch: Some(name.into()),
        },
    };
    if l.recipe.patches.iter().any(|p| on(&p.with)) {
        items.push(check_tool(&own("patch"), env_path.as_deref(), run_tools));
    }
    if l.recipe.source.git.is_some() {
        items.push(check_tool(&own("git"), env_path.as_deref(), run_tools));
    }
    items.extend(
        l.recipe
            .libraries
            .iter()
            .filter(|x| on(&x.with))
            .map(|x| check_library(x, v)),
    );
    items.extend(l.recipe.gpu_code.iter().map(|g| check_gpu_code(g, v)));
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            first_version("cmake version 3.31.6\n").as_deref(),
            Some("3.31.6")
        );
        assert_eq!(
            first_version("HIP version: 5.2.21153-0\n").as_deref(),
            Some("5.2.21153")
        );
        assert_eq!(first_version("gfx1010 x86_64 none"), None);
        assert!(version_at_least("3.31.6", "3.16"));
        assert!(version_at_least("3.16", "3.16.0"));
        assert!(!version_at_least("3.5.1", "3.16"));
        assert!(version_at_least("10.0", "9.9.9"));
    }
}
