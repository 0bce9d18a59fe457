//! Preflight: every tool, library and prerequisite GPU library a recipe needs, checked
//! before anything starts.

use crate::recipe::{Cost, GpuCode, Library, Loaded, RocmRange, Tool};
use crate::Vars;
use rp_report::{PreflightItem, PreflightKind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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
    let mut cmd = Command::new(tool);
    cmd.args(args);
    let opts = rp_sys::process::Options {
        deadline: Some(Duration::from_secs(10)),
        grace: Duration::ZERO,
        own_group: false,
        ..Default::default()
    };
    let o = rp_sys::process::run_bounded(cmd, &opts, 64 << 10).map_err(|e| e.to_string())?;
    if o.ended.stopped.is_some() {
        return Err(format!("{} did not answer in 10 s", tool.display()));
    }
    let mut bytes = o.stdout;
    bytes.extend(o.stderr);
    first_version(&String::from_utf8_lossy(&bytes))
        .ok_or_else(|| format!("no version in the output of {}", tool.display()))
}

/// The ROCm install in use, and its version against the recipe's range. None found is
/// a failure naming the distribution's HIP packages.
pub fn check_rocm(range: Option<&RocmRange>, t: &rp_report::ToolchainReport) -> PreflightItem {
    let mut item = PreflightItem {
        kind: PreflightKind::Rocm,
        name: match range {
            Some(r) => format!("ROCm {}", r.text()),
            None => "ROCm".into(),
        },
        min_version: range.and_then(|r| r.min.clone()),
        found: Some(format!(
            "{}{} ({})",
            t.rocm,
            t.version
                .as_ref()
                .map(|v| format!(", HIP {v}"))
                .unwrap_or_default(),
            t.from
        )),
        packages: crate::recipe::Packages {
            debian: Some("libamdhip64-dev hipcc".into()),
            fedora: Some("rocm-hip-devel".into()),
            arch: Some("rocm-hip-sdk".into()),
        }
        .list(),
        ..Default::default()
    };
    if t.from.starts_with("no ROCm") {
        item.problem = Some("no ROCm install found: no HIP runtime (libamdhip64.so) in a ROCm prefix under /opt nor in the distribution's library directories".into());
        return item;
    }
    item.packages.clear();
    let Some(r) = range else {
        item.ok = true;
        return item;
    };
    let Some(v) = &t.version else {
        item.problem = Some(format!(
            "the HIP version of {} is unknown (no include/hip/hip_version.h); this recipe needs ROCm {}",
            t.rocm,
            r.text()
        ));
        return item;
    };
    let low = r.min.as_ref().is_none_or(|m| version_at_least(v, m));
    // `max = "6.2"` admits 6.2.x: compare as many parts as it has.
    let high = r.max.as_ref().is_none_or(|m| {
        let n = m.split('.').count();
        let cut: Vec<&str> = v.split(['.', '-', '+']).take(n).collect();
        version_at_least(m, &cut.join("."))
    });
    if low && high {
        item.ok = true;
    } else {
        item.problem = Some(format!(
            "ROCm (HIP) {v} at {}; this recipe needs {} ({}): choose the recipe line for your ROCm (build --list)",
            t.rocm,
            r.text(),
            r.reference
        ));
    }
    item
}

/// Bytes free for an unprivileged user on the file system holding `path` (or its
/// nearest existing parent).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let p = path.ancestors().find(|a| a.exists())?;
    rp_sys::os::free_bytes(p)
}

/// The recipe's peak disk against the free space where the build directory goes.
pub fn check_disk(c: &Cost, cache: &Path) -> PreflightItem {
    let need = (c.disk_gib * (1u64 << 30) as f64) as u64;
    let mut item = PreflightItem {
        kind: PreflightKind::Disk,
        name: format!("{:.1} GiB free under {}", c.disk_gib, cache.display()),
        ..Default::default()
    };
    match free_bytes(cache) {
        Some(free) => {
            item.found = Some(format!("{:.1} GiB free", free as f64 / (1u64 << 30) as f64));
            if free >= need {
                item.ok = true;
            } else {
                item.problem = Some(format!(
                    "{:.1} GiB free under {}; the build needs {:.1} GiB at its peak ({}); free space or use --cache-dir",
                    free as f64 / (1u64 << 30) as f64,
                    cache.display(),
                    c.disk_gib,
                    c.basis
                ));
            }
        }
        None => item.problem = Some(format!("cannot read the free space of {}", cache.display())),
    }
    item
}

fn check_tool(
    t: &Tool,
    v: Option<&Vars>,
    env_path: Option<&std::ffi::OsStr>,
    run_tools: bool,
) -> PreflightItem {
    // A path template (`{cxx}`) is the compiler of the ROCm in use.
    let name = v
        .and_then(|v| v.fill(&t.name).ok())
        .unwrap_or_else(|| t.name.clone());
    let mut item = PreflightItem {
        kind: if t.name.contains('{') {
            PreflightKind::Compiler
        } else {
            PreflightKind::Tool
        },
        name: name.clone(),
        min_version: t.min.clone(),
        packages: t.packages.list(),
        ..Default::default()
    };
    let Some(path) = which(&name, env_path) else {
        item.problem = Some(if name.contains('/') {
            format!("{name} does not exist (or is not executable)")
        } else {
            format!("{name} is not on PATH")
        });
        return item;
    };
    item.found = Some(path.display().to_string());
    // The compiler's version is always read in a real run (and reported).
    let compiler = t.name.contains('{');
    if t.min.is_none() && !compiler {
        item.ok = true;
        return item;
    }
    if !run_tools {
        item.ok = true;
        item.found = Some(format!("{} (version not checked: dry run)", path.display()));
        return item;
    }
    let args = t
        .version_args
        .clone()
        .unwrap_or_else(|| vec!["--version".into()]);
    let min = t.min.clone().unwrap_or_default();
    match tool_version(&path, &args) {
        Ok(v) if version_at_least(&v, &min) => {
            item.ok = true;
            item.found = Some(format!("{} {v}", path.display()));
        }
        Ok(v) => {
            item.found = Some(format!("{} {v}", path.display()));
            item.problem = Some(format!("{name} is {v}; {min} or newer is needed"));
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
    for r in [v.rocm.as_str(), "/usr/local", "/usr"] {
        if !roots.iter().any(|x| x == Path::new(r)) {
            roots.push(r.into());
        }
    }
    roots
}

/// The roots searched, as a list for messages.
fn roots_text(v: &Vars) -> String {
    cmake_roots(v)
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn pc_version(path: &Path) -> Option<String> {
    let bytes = crate::read_bounded(path, 256 << 10).ok()?;
    String::from_utf8_lossy(&bytes)
        .lines()
        .find_map(|l| l.strip_prefix("Version:").map(|v| v.trim().to_string()))
}

fn check_library(l: &Library, v: &Vars) -> PreflightItem {
    let mut item = PreflightItem {
        kind: PreflightKind::Library,
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
            None if l.header.is_some() => return check_header(l, v, item, Some(module)),
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
    if l.cmake.is_none() {
        return check_header(l, v, item, None);
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
                // CMake's `<name>*` matches case-insensitively on Linux too.
                if !dn.starts_with(&lower) {
                    continue;
                }
                // `<prefix>/share/<name>*/` and `<prefix>/share/<name>*/cmake/`
                // (Debian's rocm-cmake: /usr/share/rocm/cmake/ROCMConfig.cmake).
                for p in names
                    .iter()
                    .flat_map(|n| [e.path().join(n), e.path().join("cmake").join(n)])
                {
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
        "no CMake package {pkg} ({}) under {}",
        names.join(" or "),
        roots_text(v)
    ));
    item
}

/// A header and a library found where CMake's `find_path`/`find_library` look on
/// Linux: `CMAKE_PREFIX_PATH`, `{rocm}`, `/usr/local`, `/usr` (`include`; `lib`,
/// the multiarch directory, `lib64`).
fn check_header(l: &Library, v: &Vars, mut item: PreflightItem, pc: Option<&str>) -> PreflightItem {
    let header = l.header.as_deref().unwrap_or_default();
    let roots = cmake_roots(v);
    let inc = roots
        .iter()
        .flat_map(|r| [r.join("include"), r.join("include/x86_64-linux-gnu")])
        .map(|d| d.join(header))
        .find(|p| p.is_file());
    // None: no library asked for; Some(None): asked for and not found.
    let lib = l.lib.as_ref().map(|name| {
        roots
            .iter()
            .flat_map(|r| {
                [
                    r.join("lib"),
                    r.join("lib/x86_64-linux-gnu"),
                    r.join("lib64"),
                ]
            })
            .flat_map(|d| {
                [
                    d.join(format!("lib{name}.so")),
                    d.join(format!("lib{name}.a")),
                ]
            })
            .find(|p| p.exists())
    });
    let pc_note = pc.map(|m| format!("no {m}.pc; ")).unwrap_or_default();
    match (inc, lib) {
        (Some(h), None) => {
            item.ok = true;
            item.found = Some(format!("{pc_note}{}", h.display()));
        }
        (Some(h), Some(Some(so))) => {
            item.ok = true;
            item.found = Some(format!("{pc_note}{} and {}", h.display(), so.display()));
        }
        (h, lib) => {
            let mut missing = Vec::new();
            if h.is_none() {
                missing.push(format!("header {header}"));
            }
            if let (Some(None), Some(n)) = (lib, &l.lib) {
                missing.push(format!("library lib{n}.so or lib{n}.a"));
            }
            item.problem = Some(format!(
                "{pc_note}no {} under {}",
                missing.join(" and "),
                roots_text(v)
            ));
        }
    }
    item
}

fn check_gpu_code(g: &GpuCode, v: &Vars) -> PreflightItem {
    let mut item = PreflightItem {
        kind: PreflightKind::GpuCode,
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
        .map(|t| check_tool(t, Some(v), env_path.as_deref(), run_tools))
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
        items.push(check_tool(
            &own("patch"),
            None,
            env_path.as_deref(),
            run_tools,
        ));
    }
    if l.recipe.source.git.is_some() {
        items.push(check_tool(
            &own("git"),
            None,
            env_path.as_deref(),
            run_tools,
        ));
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
