//! Python environments with torch: found from their files (pyvenv.cfg, conda-meta,
//! lib/python*/site-packages, pyenv's version files). torch is never imported: its
//! version comes from `torch/version.py` and its GPU targets from the inspect engine.
//! Only on the live machine, and only when the layout is not recognised, is the
//! interpreter asked for `sys.path` — in its own process group, with a deadline and a
//! cap on its output; a tree below `--sysroot` never has anything executed.

use crate::SysRoot;
use rp_report::{FoundBy, PythonEnv, PythonKind, SitesFrom, TorchBuild, TorchInstall};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long an interpreter may take to print `sys.path`.
const SYS_PATH_TIMEOUT: Duration = Duration::from_secs(5);
/// The most output read from it.
const SYS_PATH_MAX_OUTPUT: u64 = 256 * 1024;

/// One place to look for a Python environment (a host path).
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Interpreter or environment directory.
    pub path: PathBuf,
    /// How it was found.
    pub found_by: FoundBy,
}

fn find_on_path(env: &BTreeMap<String, String>, root: &SysRoot, exe: &str) -> Option<PathBuf> {
    env.get("PATH")?
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| root.host(d).join(exe))
        .find(|p| root.is_file(p))
}

/// Default candidates: `python3` on PATH, an active venv or conda env, and venvs in the
/// current directory (`cwd`, a host path; `None` when it is not on the machine).
pub fn discover(
    env: &BTreeMap<String, String>,
    root: &SysRoot,
    cwd: Option<&Path>,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (var, by) in [
        ("VIRTUAL_ENV", FoundBy::VirtualEnv),
        ("CONDA_PREFIX", FoundBy::CondaPrefix),
    ] {
        if let Some(v) = env.get(var).filter(|v| v.starts_with('/')) {
            out.push(Candidate {
                path: root.host(v),
                found_by: by,
            });
        }
    }
    if let Some(p) = find_on_path(env, root, "python3") {
        out.push(Candidate {
            path: p,
            found_by: FoundBy::Path,
        });
    }
    if let Some(cwd) = cwd {
        out.extend(
            root.read_dir(cwd)
                .into_iter()
                .map(|(_, p)| p)
                .filter(|p| {
                    root.is_file(&p.join("pyvenv.cfg")) || root.is_dir(&p.join("conda-meta"))
                })
                .map(|p| Candidate {
                    path: p,
                    found_by: FoundBy::Cwd,
                }),
        );
    }
    out
}

fn glob_site_packages(root: &SysRoot, prefix: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        out.extend(
            root.read_dir(&prefix.join(lib))
                .into_iter()
                .filter(|(n, _)| n.starts_with("python"))
                .map(|(_, p)| p.join("site-packages"))
                .filter(|p| root.is_dir(p)),
        );
    }
    out
}

/// Run `python -I -c code` (`what` it does, for the error) on this host in its own
/// process group, with no input, a deadline (then the group is killed) and a cap on what
/// is read of its output ([`rp_sys::process::run_bounded`]); the output on success. Never
/// used on anything below a sysroot.
pub fn run_python(
    python: &Path,
    code: &str,
    what: &str,
    timeout: Duration,
    cap: u64,
) -> Result<String, String> {
    let mut cmd = std::process::Command::new(python);
    cmd.args(["-I", "-c", code]);
    let opts = rp_sys::process::Options {
        deadline: Some(timeout),
        grace: Duration::ZERO,
        ..Default::default()
    };
    let o = rp_sys::process::run_bounded(cmd, &opts, cap).map_err(|e| e.to_string())?;
    if o.ended.stopped.is_some() {
        return Err(format!(
            "{} did not {what} within {} s (killed)",
            python.display(),
            timeout.as_secs()
        ));
    }
    if !o.ended.success() {
        return Err(format!(
            "{} exited with {}",
            python.display(),
            o.ended.status
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Ask an interpreter on the live machine for its `sys.path` (see [`run_python`]).
fn ask_sys_path(python: &Path) -> Result<Vec<PathBuf>, String> {
    let out = run_python(
        python,
        "import sys\nfor p in sys.path: print(p)",
        "print sys.path",
        SYS_PATH_TIMEOUT,
        SYS_PATH_MAX_OUTPUT,
    )?;
    Ok(out
        .lines()
        .map(PathBuf::from)
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            (n == "site-packages" || n == "dist-packages") && p.is_dir()
        })
        .collect())
}

/// The real interpreter behind a path: a pyenv shim resolves to the selected version
/// (PYENV_VERSION, then `.python-version` from the current directory up, then
/// `<pyenv root>/version`, as pyenv documents); anything else to its resolved path.
pub fn resolve_interpreter(
    root: &SysRoot,
    p: &Path,
    vars: &BTreeMap<String, String>,
    cwd: Option<&Path>,
) -> PathBuf {
    let shim_root = p
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "shims"))
        .and_then(Path::parent)
        .filter(|r| root.is_dir(&r.join("versions")));
    if let (Some(pyenv), Some(exe)) = (shim_root, p.file_name()) {
        let from_file = |f: PathBuf| {
            root.read_text(&f, 4096)
                .ok()
                .and_then(|s| s.split_whitespace().next().map(str::to_string))
        };
        let version = vars
            .get("PYENV_VERSION")
            .and_then(|v| v.split(':').next().map(str::to_string))
            .or_else(|| {
                cwd.into_iter()
                    .flat_map(Path::ancestors)
                    .take_while(|d| root.contains(d))
                    .find_map(|d| from_file(d.join(".python-version")))
            })
            .or_else(|| from_file(pyenv.join("version")));
        if let Some(v) = version.filter(|v| v != "system" && !v.contains('/')) {
            let cand = pyenv.join("versions").join(v).join("bin").join(exe);
            if root.is_file(&cand) {
                return root.resolve(&cand).unwrap_or(cand);
            }
        }
    }
    root.resolve(p).unwrap_or_else(|| p.to_path_buf())
}

/// Site directories of a system interpreter from its installation's files:
/// `<prefix>/lib/pythonX.Y/{site,dist}-packages`, Debian's `/usr/lib/python3/dist-packages`
/// and `/usr/local/lib/pythonX.Y/dist-packages`, and the user site below `home` (a host
/// path: the machine's home directory of the user). Empty when the layout is not
/// recognised.
pub fn system_sites(root: &SysRoot, real: &Path, home: Option<&Path>) -> Vec<PathBuf> {
    let name = real.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some(prefix) = real.parent().and_then(Path::parent) else {
        return Vec::new();
    };
    // pythonX.Y from the file name, or from the single lib/pythonX.Y directory.
    let mut versions: Vec<String> = root
        .read_dir(&prefix.join("lib"))
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| {
            n.strip_prefix("python3.")
                .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    if versions.len() > 1 {
        versions.retain(|v| name.starts_with(v.as_str()));
    }
    let [ver] = versions.as_slice() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(home) = home {
        out.push(home.join(".local/lib").join(ver).join("site-packages"));
    }
    for sub in ["site-packages", "dist-packages"] {
        out.push(prefix.join("lib").join(ver).join(sub));
    }
    if root.machine(prefix) == "/usr" {
        out.push(root.host("/usr/local/lib").join(ver).join("dist-packages"));
        out.push(root.host("/usr/lib/python3/dist-packages"));
    }
    out.retain(|p| root.is_dir(p));
    out
}

/// Parse `torch/version.py`: `__version__`, `hip` and `cuda` assignments, with or
/// without type annotations; `None` values stay `None`.
pub fn parse_version_py(text: &str) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((lhs, rhs)) = line.split_once('=') else {
            continue;
        };
        let key = lhs.split(':').next().unwrap_or("").trim();
        if !matches!(key, "__version__" | "hip" | "cuda" | "git_version") {
            continue;
        }
        let rhs = rhs.trim();
        let val = if rhs == "None" {
            None
        } else {
            let q = rhs.chars().next().filter(|c| *c == '\'' || *c == '"');
            match q {
                Some(q) => rhs[1..].split(q).next().map(str::to_string),
                None => continue,
            }
        };
        out.entry(key.to_string()).or_insert(val);
    }
    out
}

/// torch's version from its `.dist-info` directory, in a site-packages listing.
fn dist_info_version(site: &[(String, PathBuf)]) -> Option<String> {
    site.iter().find_map(|(n, _)| {
        n.strip_prefix("torch-")?
            .strip_suffix(".dist-info")
            .map(str::to_string)
    })
}

/// TheRock's device distributions in a site-packages directory, from their
/// `.dist-info` directories: `amd_torch_device_gfx1010-2.12.0.dist-info` is
/// `amd-torch-device-gfx1010` 2.12.0 (docs/code-objects.md, "Kpack"), with the
/// `Summary` of its METADATA. AMD's placeholder packages on PyPI (`rocm-sdk-libraries-
/// gfx101x-dgpu` too, which is not a device package) say "Placeholder for …" there.
fn device_packages(root: &SysRoot, site: &[(String, PathBuf)]) -> Vec<rp_report::DevicePackage> {
    let mut out: Vec<rp_report::DevicePackage> = site
        .iter()
        .filter_map(|(n, p)| {
            let stem = n.strip_suffix(".dist-info")?;
            let (name, version) = match stem.split_once('-') {
                Some((a, b)) => (a, Some(b.to_string())),
                None => (stem, None),
            };
            let name = name.to_ascii_lowercase().replace(['_', '.'], "-");
            let target = match name.split_once("-device-") {
                Some((_, t)) => t.to_string(),
                None => name.strip_prefix("rocm-sdk-libraries-")?.to_string(),
            };
            let known = [
                "amd-torch-",
                "amd-torchvision-",
                "amd-torchaudio-",
                "rocm-sdk-",
            ];
            if !known.iter().any(|k| name.starts_with(k)) || !target.starts_with("gfx") {
                return None;
            }
            let summary = metadata_summary(root, &p.join("METADATA"));
            let placeholder = summary
                .as_deref()
                .is_some_and(|s| s.to_ascii_lowercase().starts_with("placeholder"));
            if !name.contains("-device-") && !placeholder {
                return None;
            }
            Some(rp_report::DevicePackage {
                target,
                name,
                version,
                summary,
                placeholder,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The `Summary:` header of a METADATA file (its headers end at the first blank line).
fn metadata_summary(root: &SysRoot, path: &Path) -> Option<String> {
    let text = root.read_text(path, 256 << 10).ok()?;
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix("Summary:"))
        .map(|s| s.trim().chars().take(200).collect())
}

/// The `.kpack` archives in TheRock's places: a `.kpack/` directory in a package
/// directory of site-packages, in its `lib/`, or beside the libraries read.
fn kpack_archives_in(
    root: &SysRoot,
    site: &Path,
    listing: &[(String, PathBuf)],
    lib_dirs: &[PathBuf],
) -> Vec<String> {
    let mut dirs: Vec<PathBuf> = vec![site.join(".kpack")];
    for (_, p) in listing {
        if root.is_dir(p) {
            dirs.push(p.join(".kpack"));
            dirs.push(p.join("lib/.kpack"));
        }
    }
    dirs.extend(lib_dirs.iter().map(|d| d.join(".kpack")));
    let mut out: Vec<String> = dirs
        .iter()
        .filter(|d| root.is_dir(d))
        .flat_map(|d| root.read_dir(d))
        .filter(|(n, _)| n.ends_with(".kpack"))
        .map(|(_, p)| root.machine(&p))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Read torch in a site-packages directory, with the inspect report of torch/lib.
fn torch_in(
    root: &SysRoot,
    site: &Path,
    l: &Look,
) -> Option<(TorchInstall, rp_report::InspectReport)> {
    let vars = l.vars;
    let dir = site.join("torch");
    if !root.is_file(&dir.join("__init__.py")) && !root.is_file(&dir.join("version.py")) {
        return None;
    }
    let v = root
        .read_text(&dir.join("version.py"), 1 << 20)
        .map(|t| parse_version_py(&t))
        .unwrap_or_default();
    let get = |k: &str| v.get(k).cloned().flatten();
    let (hip, cuda) = (get("hip"), get("cuda"));
    let build = if hip.is_some() {
        TorchBuild::Rocm
    } else if cuda.is_some() {
        TorchBuild::Cuda
    } else {
        TorchBuild::Cpu
    };
    let lib = dir.join("lib");
    // The libraries torch loads: its own, and TheRock's ROCm SDK libraries beside it.
    // The site-packages directory, listed once for everything below.
    let listing = root.read_dir(site);
    let mut lib_dirs = vec![lib.clone()];
    lib_dirs.extend(
        listing
            .iter()
            .filter(|(n, p)| n.starts_with("_rocm_sdk") && root.is_dir(p))
            .map(|(_, p)| p.join("lib"))
            .filter(|p| root.is_dir(p)),
    );
    // Each library where it really lies inside the root (a link cannot lead out of it).
    let libs: Vec<PathBuf> = lib_dirs
        .iter()
        .flat_map(|d| root.read_dir(d))
        .filter(|(n, p)| n.contains(".so") && !root.is_symlink(p))
        .filter_map(|(_, p)| root.resolve(&p))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        .collect();
    let opts = rp_inspect::Options {
        // Under --sysroot a kpack'd library's archives are opened only inside the tree
        // (or, for an environment named outside it, inside its site-packages).
        confine: match (root.is_live(), root.contains(site)) {
            (true, _) => None,
            (false, true) => Some(root.host(Path::new("/"))),
            (false, false) => Some(site.to_path_buf()),
        },
        // The archives the runtime would search in this environment
        // (`ROCM_KPACK_PATH`, `…_PREFIX`, `…_DISABLE`; an absolute path of a variable
        // lies inside the tree).
        kpack_env: rp_inspect::KpackEnv {
            root: (!root.is_live()).then(|| root.host(Path::new("/"))),
            ..rp_inspect::KpackEnv::from_vars(|k| vars.get(k).cloned())
        },
        ..rp_inspect::Options::default()
    };
    let mut report = rp_inspect::inspect(&libs, &opts);
    // The inventory names machine paths, as every report does.
    let mut searched = Vec::new();
    for f in &mut report.files {
        f.path = root.machine(Path::new(&f.path));
        for c in &mut f.code_objects {
            if let Some(a) = &c.archive {
                c.archive = Some(root.machine(Path::new(a)));
            }
        }
        if let Some(k) = &mut f.kpack_ref {
            for s in &mut k.search {
                if let Some(a) = &s.archive {
                    s.archive = Some(root.machine(Path::new(a)));
                    searched.push(s.archive.clone().unwrap_or_default());
                }
            }
        }
    }
    for d in &mut report.tensile_dirs {
        d.path = root.machine(Path::new(&d.path));
    }
    let gpu_libraries: Vec<String> = report
        .files
        .iter()
        .filter(|f| !f.code_objects.is_empty() || f.kpack_ref.is_some())
        .map(|f| f.path.clone())
        .collect();
    let kpack_libraries: Vec<String> = report
        .files
        .iter()
        .filter(|f| f.kpack_ref.is_some())
        .map(|f| f.path.clone())
        .collect();
    let kpack_archives = kpack_archives_in(root, site, &listing, &lib_dirs);
    let mut looked_in: Vec<String> = lib_dirs.iter().map(|d| root.machine(d)).collect();
    looked_in.extend(searched);
    looked_in.extend(kpack_archives.iter().cloned());
    looked_in.sort();
    looked_in.dedup();
    let torch = TorchInstall {
        path: root.machine(&dir),
        version: get("__version__").or_else(|| dist_info_version(&listing)),
        hip,
        cuda,
        build,
        targets: report.targets.keys().cloned().collect(),
        gpu_libraries,
        kpack_libraries,
        kpack_archives,
        device_packages: device_packages(root, &listing),
        miopen: lib_dirs
            .iter()
            .flat_map(|d| crate::miopen::libraries_in(root, d))
            .filter_map(|p| crate::miopen::check(root, &p, l.gpu_targets, l.cache_dir))
            .collect(),
        looked_in,
        rocblas_library: crate::rocm::tensile_dir(root, &lib.join("rocblas/library")),
        hipblaslt_library: crate::rocm::tensile_dir(root, &lib.join("hipblaslt/library")),
        gpu_support: Vec::new(),
    };
    Some((torch, report))
}

/// Where to look and what may be done to learn `sys.path`.
pub struct Look<'a> {
    /// The root.
    pub root: &'a SysRoot,
    /// The environment.
    pub vars: &'a BTreeMap<String, String>,
    /// The current directory, when it is on the machine.
    pub cwd: Option<&'a Path>,
    /// The user's home directory (host path), for the user site.
    pub home: Option<&'a Path>,
    /// The GPUs' targets (MIOpen's kernels are checked for them).
    pub gpu_targets: &'a [String],
    /// Where slow checks keep their results.
    pub cache_dir: Option<&'a Path>,
}

/// Inspect one candidate. Returns the environment and the inspect report of its torch
/// libraries' code objects (for per-GPU coverage).
pub fn read_env(c: &Candidate, l: &Look) -> (PythonEnv, Option<rp_report::InspectReport>) {
    let root = l.root;
    let mut env = PythonEnv {
        path: root.machine(&c.path),
        found_by: c.found_by,
        ..PythonEnv::default()
    };
    let p = &c.path;
    let prefix = if root.is_dir(p) {
        Some(p.clone())
    } else if root.is_file(p) {
        // An interpreter inside an environment: <prefix>/bin/python.
        p.parent()
            .and_then(Path::parent)
            .filter(|pre| {
                root.is_file(&pre.join("pyvenv.cfg")) || root.is_dir(&pre.join("conda-meta"))
            })
            .map(Path::to_path_buf)
    } else {
        env.error = Some(match std::fs::symlink_metadata(p) {
            // A FIFO, a socket, a device (`/dev/zero`): never read, and said so.
            Ok(m) if !m.is_dir() && !m.is_file() && !m.file_type().is_symlink() => format!(
                "{} is not an interpreter or an environment directory (a device, FIFO or socket): not read",
                env.path
            ),
            _ => format!("{} does not exist", env.path),
        });
        return (env, None);
    };
    let sites = match &prefix {
        Some(pre) => {
            env.kind = if root.is_file(&pre.join("pyvenv.cfg")) {
                PythonKind::Venv
            } else if root.is_dir(&pre.join("conda-meta")) {
                PythonKind::Conda
            } else {
                PythonKind::Prefix
            };
            glob_site_packages(root, pre)
        }
        None => {
            env.kind = PythonKind::System;
            let real = resolve_interpreter(root, p, l.vars, l.cwd);
            let from_files = system_sites(root, &real, l.home);
            if !from_files.is_empty() {
                from_files
            } else if !root.is_live() {
                env.site_packages_from = SitesFrom::Unknown;
                env.error = Some(format!(
                    "the site-packages of {} cannot be derived from its files, and programs below --sysroot are never run; pass its environment directory with --python",
                    env.path
                ));
                Vec::new()
            } else {
                env.site_packages_from = SitesFrom::Interpreter;
                match ask_sys_path(&real) {
                    Ok(s) => s,
                    Err(e) => {
                        env.error = Some(e);
                        Vec::new()
                    }
                }
            }
        }
    };
    if sites.is_empty() && env.error.is_none() {
        env.error = Some(format!("no site-packages found for {}", env.path));
    }
    env.site_packages = sites.iter().map(|s| root.machine(s)).collect();
    let pip = crate::pipconf::resolve(root, prefix.as_deref(), l.home, l.vars);
    env.pip_indexes = pip.indexes;
    env.pip_config_errors = pip.errors;
    let mut inspect = None;
    if let Some((t, r)) = sites.iter().find_map(|s| torch_in(root, s, l)) {
        env.torch = Some(t);
        inspect = Some(r);
    }
    (env, inspect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyenv_shims_and_system_layouts() {
        let d = tempfile::tempdir().unwrap();
        let py = d.path().join(".pyenv");
        std::fs::create_dir_all(py.join("shims")).unwrap();
        std::fs::write(
            py.join("shims/python3"),
            "#!/usr/bin/env bash\nexec pyenv exec python3\n",
        )
        .unwrap();
        for v in ["3.11.7", "3.12.1"] {
            let bin = py.join("versions").join(v).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::write(bin.join("python3"), "").unwrap();
            let minor = &v[..v.rfind('.').unwrap()];
            std::fs::create_dir_all(
                py.join("versions")
                    .join(v)
                    .join("lib")
                    .join(format!("python{minor}"))
                    .join("site-packages"),
            )
            .unwrap();
        }
        std::fs::write(py.join("version"), "3.11.7\n").unwrap();
        let shim = py.join("shims/python3");
        let mut vars = BTreeMap::new();
        let root = SysRoot::live(Duration::from_secs(1));
        let cwd = Some(d.path());
        let real = resolve_interpreter(&root, &shim, &vars, cwd);
        assert!(
            real.ends_with("versions/3.11.7/bin/python3"),
            "{}",
            real.display()
        );
        let sites = system_sites(&root, &real, None);
        assert_eq!(sites.len(), 1);
        assert!(sites[0].ends_with("3.11.7/lib/python3.11/site-packages"));
        // .python-version in the working directory beats the global file ...
        std::fs::write(d.path().join(".python-version"), "3.12.1\n").unwrap();
        assert!(resolve_interpreter(&root, &shim, &vars, cwd).ends_with("3.12.1/bin/python3"));
        // ... and PYENV_VERSION beats both.
        vars.insert("PYENV_VERSION".into(), "3.11.7".into());
        assert!(resolve_interpreter(&root, &shim, &vars, cwd).ends_with("3.11.7/bin/python3"));
        // An unknown layout yields nothing (the interpreter is asked instead).
        assert!(system_sites(&root, &d.path().join("nowhere/bin/python3"), None).is_empty());
    }

    #[test]
    fn version_py_forms() {
        let old = "__version__ = '2.5.1+rocm6.2'\ndebug = False\ncuda = None\ngit_version = 'abc'\nhip = '6.2.41133-dd7f95766'\n";
        let v = parse_version_py(old);
        assert_eq!(v["__version__"].as_deref(), Some("2.5.1+rocm6.2"));
        assert_eq!(v["hip"].as_deref(), Some("6.2.41133-dd7f95766"));
        assert_eq!(v["cuda"], None);
        let new = "from typing import Optional\n__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip']\n__version__ = \"2.9.1+cu128\"\ncuda: Optional[str] = \"12.8\"\nhip: Optional[str] = None\n";
        let v = parse_version_py(new);
        assert_eq!(v["__version__"].as_deref(), Some("2.9.1+cu128"));
        assert_eq!(v["cuda"].as_deref(), Some("12.8"));
        assert_eq!(v["hip"], None);
    }
}
