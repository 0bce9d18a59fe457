//! ROCm installs: /opt/rocm* prefixes and distro library directories, their versions,
//! their rocBLAS Tensile libraries, and which one the dynamic loader finds first.

use rp_report::RocmInstall;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Distro library directories (Debian/Ubuntu multiarch, Fedora/SUSE, Arch).
const DISTRO_LIBDIRS: [&str; 3] = ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"];
/// The loader's trusted directories after ld.so.cache (ld.so(8)).
const DEFAULT_LIBDIRS: [&str; 6] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];
const HIP_RUNTIME: &str = "libamdhip64.so";

use rp_sysfs::{machine_path as machine, under};

/// The HIP runtime file with the longest version suffix in a directory.
fn hip_runtime(dir: &Path) -> Option<PathBuf> {
    let mut best: Option<(usize, PathBuf)> = None;
    for e in std::fs::read_dir(dir).ok()?.filter_map(Result::ok) {
        let n = e.file_name().to_string_lossy().into_owned();
        if let Some(rest) = n.strip_prefix(HIP_RUNTIME) {
            if rest.is_empty() || rest.starts_with('.') {
                let score = rest.len() + 1;
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, e.path()));
                }
            }
        }
    }
    best.map(|(_, p)| p)
}

fn soname_version(p: &Path) -> Option<String> {
    let n = p.file_name()?.to_str()?;
    let v = n.strip_prefix(HIP_RUNTIME)?.strip_prefix('.')?;
    (!v.is_empty()).then(|| v.to_string())
}

fn rocblas_library(libdir: &Path) -> Option<PathBuf> {
    let direct = libdir.join("rocblas/library");
    if direct.is_dir() {
        return Some(direct);
    }
    // Debian: rocblas/<version>/library.
    let mut v: Vec<PathBuf> = std::fs::read_dir(libdir.join("rocblas"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("library"))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v.pop()
}

/// Directories from ld.so.conf and its `include` globs, in order.
fn ld_so_conf(root: &Path, file: &Path, depth: u32, out: &mut Vec<String>) {
    if depth > 4 {
        return;
    }
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pat) = line.strip_prefix("include") {
            let pat = pat.trim();
            let pat_path = if pat.starts_with('/') {
                pat.to_string()
            } else {
                format!("/etc/{pat}")
            };
            let (dir, glob) = pat_path.rsplit_once('/').unwrap_or(("/etc", pat));
            let (pre, post) = glob.split_once('*').unwrap_or((glob, ""));
            let mut files: Vec<PathBuf> = std::fs::read_dir(under(root, dir))
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .filter(|e| {
                            let n = e.file_name().to_string_lossy().into_owned();
                            if glob.contains('*') {
                                n.starts_with(pre) && n.ends_with(post)
                            } else {
                                n == glob
                            }
                        })
                        .map(|e| e.path())
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            for f in files {
                ld_so_conf(root, &f, depth + 1, out);
            }
        } else if line.starts_with('/') {
            out.push(line.to_string());
        }
    }
}

/// The loader's search order for a program without RPATH: LD_LIBRARY_PATH, the
/// directories ld.so.cache is built from (/etc/ld.so.conf), then the defaults.
pub fn loader_dirs(root: &Path, env: &BTreeMap<String, String>) -> Vec<String> {
    let mut dirs: Vec<String> = env
        .get("LD_LIBRARY_PATH")
        .map(|v| {
            v.split(':')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    ld_so_conf(root, &under(root, "/etc/ld.so.conf"), 0, &mut dirs);
    dirs.extend(DEFAULT_LIBDIRS.iter().map(|s| s.to_string()));
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

pub fn collect(root: &Path, env: &BTreeMap<String, String>) -> Vec<RocmInstall> {
    let mut out: Vec<RocmInstall> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut opt: Vec<PathBuf> = std::fs::read_dir(under(root, "/opt"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n == "rocm" || n.starts_with("rocm-"))
                })
                .collect()
        })
        .unwrap_or_default();
    // Real directories before the /opt/rocm link to one of them.
    opt.sort_by_key(|p| (p.is_symlink(), p.clone()));
    for p in opt {
        let Ok(real) = p.canonicalize() else { continue };
        if !seen.insert(real) || !p.is_dir() {
            continue;
        }
        let lib = p.join("lib");
        let hip = hip_runtime(&lib);
        let info = std::fs::read_to_string(p.join(".info/version"))
            .ok()
            .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
            .filter(|s| !s.is_empty());
        let (version, version_source) = match (&info, hip.as_deref().and_then(soname_version)) {
            (Some(v), _) => (Some(v.clone()), Some(".info/version".to_string())),
            (None, Some(v)) => (Some(v), Some("soname".to_string())),
            _ => (None, None),
        };
        out.push(RocmInstall {
            path: machine(root, &p),
            kind: "opt".into(),
            version,
            version_source,
            hip_runtime: hip.as_deref().map(|h| machine(root, h)),
            rocblas_library: rocblas_library(&lib)
                .and_then(|d| rp_inspect::tensile_dir_by_name(&d))
                .map(|mut d| {
                    d.path = machine(root, Path::new(&d.path));
                    d
                }),
            loader_first: false,
        });
    }
    for d in DISTRO_LIBDIRS {
        let dir = under(root, d);
        let Some(hip) = hip_runtime(&dir) else {
            continue;
        };
        let Ok(real) = dir.canonicalize() else {
            continue;
        };
        if !seen.insert(real) {
            continue;
        }
        let v = soname_version(&hip);
        out.push(RocmInstall {
            path: d.to_string(),
            kind: "distro".into(),
            version_source: v.as_ref().map(|_| "soname".to_string()),
            version: v,
            hip_runtime: Some(machine(root, &hip)),
            rocblas_library: rocblas_library(&dir)
                .and_then(|d| rp_inspect::tensile_dir_by_name(&d))
                .map(|mut t| {
                    t.path = machine(root, Path::new(&t.path));
                    t
                }),
            loader_first: false,
        });
    }
    // Which install's HIP runtime the loader finds first (compared by real path, so
    // /opt/rocm/lib finds /opt/rocm-6.4.0).
    for d in loader_dirs(root, env) {
        let dir = under(root, &d);
        if hip_runtime(&dir).is_none() {
            continue;
        }
        let real = dir.canonicalize().ok();
        for i in out.iter_mut() {
            let hip_dir = i
                .hip_runtime
                .as_deref()
                .and_then(|h| h.rsplit_once('/'))
                .map(|(d, _)| under(root, d).canonicalize().ok());
            if hip_dir.is_some() && hip_dir.flatten() == real {
                i.loader_first = true;
            }
        }
        break;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_order_follows_ld_so_conf_includes() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("etc/ld.so.conf.d")).unwrap();
        std::fs::write(
            r.join("etc/ld.so.conf"),
            "# comment\ninclude /etc/ld.so.conf.d/*.conf\n/usr/local/lib\n",
        )
        .unwrap();
        std::fs::write(r.join("etc/ld.so.conf.d/20-rocm.conf"), "/opt/rocm/lib\n").unwrap();
        std::fs::write(r.join("etc/ld.so.conf.d/10-x.conf"), "/opt/x/lib # x\n").unwrap();
        std::fs::write(r.join("etc/ld.so.conf.d/skip.txt"), "/nope\n").unwrap();
        let env = BTreeMap::from([("LD_LIBRARY_PATH".to_string(), "/a::/b".to_string())]);
        let dirs = loader_dirs(r, &env);
        assert_eq!(
            &dirs[..5],
            ["/a", "/b", "/opt/x/lib", "/opt/rocm/lib", "/usr/local/lib"]
        );
        assert_eq!(dirs.last().unwrap(), "/usr/lib");
    }
}
