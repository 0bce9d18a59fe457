//! ROCm installs: /opt/rocm* prefixes and distro library directories, their versions,
//! their rocBLAS Tensile libraries, and which one the dynamic loader finds first.

use crate::SysRoot;
use rp_report::{RocmInstall, RocmKind, VersionSource};
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
/// Most files ld.so.conf may include, over all levels (glibc has no limit, but a tree
/// can include itself).
const MAX_LD_CONF_FILES: usize = 256;

/// The HIP runtime file with the longest version suffix in a directory.
fn hip_runtime(root: &SysRoot, dir: &Path) -> Option<PathBuf> {
    let mut best: Option<(usize, PathBuf)> = None;
    for (n, path) in root.read_dir(dir) {
        if let Some(rest) = n.strip_prefix(HIP_RUNTIME) {
            if rest.is_empty() || rest.starts_with('.') {
                let score = rest.len() + 1;
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, path));
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

fn rocblas_library(root: &SysRoot, libdir: &Path) -> Option<PathBuf> {
    let direct = libdir.join("rocblas/library");
    if root.is_dir(&direct) {
        return Some(direct);
    }
    // Debian: rocblas/<version>/library.
    let mut v: Vec<PathBuf> = root
        .read_dir(&libdir.join("rocblas"))
        .into_iter()
        .map(|(_, p)| p.join("library"))
        .filter(|p| root.is_dir(p))
        .collect();
    v.sort();
    v.pop()
}

/// The Tensile directory at a host path, inventoried where it really lies inside the
/// root, and named by the path as given.
pub(crate) fn tensile_dir(root: &SysRoot, dir: &Path) -> Option<rp_report::TensileDir> {
    let real = root.resolve(dir)?;
    let mut d = rp_inspect::tensile_dir_by_name(&real)?;
    d.path = root.machine(dir);
    Some(d)
}

/// Directories from ld.so.conf and its `include` globs, in order; each file is read once.
fn ld_so_conf(root: &SysRoot, file: &Path, seen: &mut Vec<PathBuf>, out: &mut Vec<String>) {
    let real = root.resolve(file).unwrap_or_else(|| file.to_path_buf());
    if seen.contains(&real) || seen.len() >= MAX_LD_CONF_FILES {
        return;
    }
    seen.push(real);
    let Some(text) = root.text(file) else {
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
            let files: Vec<PathBuf> = root
                .read_dir(&root.host(dir))
                .into_iter()
                .filter(|(n, _)| {
                    if glob.contains('*') {
                        n.starts_with(pre) && n.ends_with(post)
                    } else {
                        n == glob
                    }
                })
                .map(|(_, p)| p)
                .collect();
            for f in files {
                ld_so_conf(root, &f, seen, out);
            }
        } else if line.starts_with('/') {
            out.push(line.to_string());
        }
    }
}

/// The loader's search order for a program without RPATH: LD_LIBRARY_PATH, the
/// directories ld.so.cache is built from (/etc/ld.so.conf), then the defaults (ld.so(8)).
pub fn loader_dirs(root: &SysRoot, env: &BTreeMap<String, String>) -> Vec<String> {
    let mut dirs: Vec<String> = env
        .get("LD_LIBRARY_PATH")
        .map(|v| {
            v.split(':')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    ld_so_conf(
        root,
        &root.host("/etc/ld.so.conf"),
        &mut Vec::new(),
        &mut dirs,
    );
    dirs.extend(DEFAULT_LIBDIRS.iter().map(|s| s.to_string()));
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

/// ROCm installs below the root, and which one the loader finds first under `env`.
pub fn collect(root: &SysRoot, env: &BTreeMap<String, String>) -> Vec<RocmInstall> {
    let mut out: Vec<RocmInstall> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut opt: Vec<PathBuf> = root
        .read_dir(&root.host("/opt"))
        .into_iter()
        .filter(|(n, _)| n == "rocm" || n.starts_with("rocm-"))
        .map(|(_, p)| p)
        .collect();
    // Real directories before the /opt/rocm link to one of them.
    opt.sort_by_key(|p| (root.is_symlink(p), p.clone()));
    for p in opt {
        let Some(real) = root.resolve(&p) else {
            continue;
        };
        if !seen.insert(real) || !root.is_dir(&p) {
            continue;
        }
        let lib = p.join("lib");
        let hip = hip_runtime(root, &lib);
        let info = root
            .text(&p.join(".info/version"))
            .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
            .filter(|s| !s.is_empty());
        let (version, version_source) = match (&info, hip.as_deref().and_then(soname_version)) {
            (Some(v), _) => (Some(v.clone()), Some(VersionSource::InfoVersion)),
            (None, Some(v)) => (Some(v), Some(VersionSource::Soname)),
            _ => (None, None),
        };
        out.push(RocmInstall {
            path: root.machine(&p),
            kind: RocmKind::Opt,
            version,
            version_source,
            hip_runtime: hip.as_deref().map(|h| root.machine(h)),
            rocblas_library: rocblas_library(root, &lib).and_then(|d| tensile_dir(root, &d)),
            miopen: Vec::new(),
            loader_first: false,
        });
    }
    for d in DISTRO_LIBDIRS {
        let dir = root.host(d);
        let Some(hip) = hip_runtime(root, &dir) else {
            continue;
        };
        let Some(real) = root.resolve(&dir) else {
            continue;
        };
        if !seen.insert(real) {
            continue;
        }
        let v = soname_version(&hip);
        out.push(RocmInstall {
            path: d.to_string(),
            kind: RocmKind::Distro,
            version_source: v.as_ref().map(|_| VersionSource::Soname),
            version: v,
            hip_runtime: Some(root.machine(&hip)),
            rocblas_library: rocblas_library(root, &dir).and_then(|t| tensile_dir(root, &t)),
            miopen: Vec::new(),
            loader_first: false,
        });
    }
    // Which install's HIP runtime the loader finds first (compared by real path, so
    // /opt/rocm/lib finds /opt/rocm-6.4.0).
    for d in loader_dirs(root, env) {
        let dir = root.host(&d);
        if hip_runtime(root, &dir).is_none() {
            continue;
        }
        let real = root.resolve(&dir);
        for i in out.iter_mut() {
            let hip_dir = i
                .hip_runtime
                .as_deref()
                .and_then(|h| h.rsplit_once('/'))
                .map(|(d, _)| root.resolve(&root.host(d)));
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
        std::fs::write(
            r.join("etc/ld.so.conf.d/30-self.conf"),
            "include /etc/ld.so.conf\n",
        )
        .unwrap();
        let root = SysRoot::open(r, std::time::Duration::from_secs(1)).unwrap();
        let dirs = loader_dirs(&root, &env);
        assert_eq!(
            &dirs[..5],
            ["/a", "/b", "/opt/x/lib", "/opt/rocm/lib", "/usr/local/lib"]
        );
        assert_eq!(dirs.last().unwrap(), "/usr/lib");
    }
}
