//! Python environments with torch: found from their files (pyvenv.cfg, conda-meta,
//! lib/python*/site-packages), or, for a system interpreter, by asking it for
//! `sys.path`. torch is never imported: its version comes from `torch/version.py` and its
//! GPU targets from the inspect engine.

use rp_report::{PythonEnv, TensileDir, TorchInstall};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rp_sysfs::machine_path as machine;

/// How long a system interpreter may take to print `sys.path`.
const SYS_PATH_TIMEOUT: Duration = Duration::from_secs(5);

/// One place to look for a Python environment.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub path: PathBuf,
    pub found_by: String,
}

fn find_on_path(env: &BTreeMap<String, String>, root: &Path, exe: &str) -> Option<PathBuf> {
    env.get("PATH")?
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| rp_sysfs::under(root, d).join(exe))
        .find(|p| p.is_file())
}

/// Default candidates: `python3` on PATH, an active venv or conda env, and venvs in the
/// current directory (`.venv`, `venv`, and any child directory holding a pyvenv.cfg).
pub fn discover(env: &BTreeMap<String, String>, root: &Path, cwd: &Path) -> Vec<Candidate> {
    let mut out = Vec::new();
    for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(v) = env.get(var).filter(|v| !v.is_empty()) {
            out.push(Candidate {
                path: rp_sysfs::under(root, v),
                found_by: var.into(),
            });
        }
    }
    if let Some(p) = find_on_path(env, root, "python3") {
        out.push(Candidate {
            path: p,
            found_by: "PATH".into(),
        });
    }
    let mut local: Vec<PathBuf> = std::fs::read_dir(cwd)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("pyvenv.cfg").is_file() || p.join("conda-meta").is_dir())
                .collect()
        })
        .unwrap_or_default();
    local.sort();
    out.extend(local.into_iter().map(|p| Candidate {
        path: p,
        found_by: "cwd".into(),
    }));
    out
}

fn glob_site_packages(prefix: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(rd) = std::fs::read_dir(prefix.join(lib)) else {
            continue;
        };
        let mut v: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
            .map(|e| e.path().join("site-packages"))
            .filter(|p| p.is_dir())
            .collect();
        v.sort();
        out.extend(v);
    }
    out
}

/// Ask an interpreter for its `sys.path`, with a timeout; the child is killed if late.
fn ask_sys_path(python: &Path) -> Result<Vec<PathBuf>, String> {
    let mut child = Command::new(python)
        .args(["-c", "import sys\nfor p in sys.path: print(p)"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > SYS_PATH_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not print sys.path within {} s",
                    python.display(),
                    SYS_PATH_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!("{} exited with {}", python.display(), out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
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
/// `<pyenv root>/version`, as pyenv documents); anything else to its canonical path.
pub fn resolve_interpreter(p: &Path, vars: &BTreeMap<String, String>, cwd: &Path) -> PathBuf {
    let shim_root = p
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "shims"))
        .and_then(Path::parent)
        .filter(|r| r.join("versions").is_dir());
    if let (Some(pyenv), Some(exe)) = (shim_root, p.file_name()) {
        let from_file = |f: PathBuf| {
            std::fs::read_to_string(f)
                .ok()
                .and_then(|s| s.split_whitespace().next().map(str::to_string))
        };
        let version = vars
            .get("PYENV_VERSION")
            .and_then(|v| v.split(':').next().map(str::to_string))
            .or_else(|| {
                cwd.ancestors()
                    .find_map(|d| from_file(d.join(".python-version")))
            })
            .or_else(|| from_file(pyenv.join("version")));
        if let Some(v) = version.filter(|v| v != "system") {
            let cand = pyenv.join("versions").join(v).join("bin").join(exe);
            if cand.is_file() {
                return cand.canonicalize().unwrap_or(cand);
            }
        }
    }
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// Site directories of a system interpreter from its installation's files:
/// `<prefix>/lib/pythonX.Y/{site,dist}-packages`, Debian's `/usr/lib/python3/dist-packages`
/// and `/usr/local/lib/pythonX.Y/dist-packages`, and the user site under $HOME.
/// Empty when the layout is not recognised (then the interpreter is asked).
pub fn system_sites(real: &Path, vars: &BTreeMap<String, String>) -> Vec<PathBuf> {
    let name = real.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some(prefix) = real.parent().and_then(Path::parent) else {
        return Vec::new();
    };
    // pythonX.Y from the file name, or from the single lib/pythonX.Y directory.
    let mut versions: Vec<String> = std::fs::read_dir(prefix.join("lib"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| {
                    n.strip_prefix("python3.")
                        .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                })
                .collect()
        })
        .unwrap_or_default();
    if versions.len() > 1 {
        versions.retain(|v| name.starts_with(v.as_str()));
    }
    let [ver] = versions.as_slice() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(home) = vars.get("HOME") {
        out.push(
            Path::new(home)
                .join(".local/lib")
                .join(ver)
                .join("site-packages"),
        );
    }
    for sub in ["site-packages", "dist-packages"] {
        out.push(prefix.join("lib").join(ver).join(sub));
    }
    if prefix == Path::new("/usr") {
        out.push(
            PathBuf::from("/usr/local/lib")
                .join(ver)
                .join("dist-packages"),
        );
        out.push(PathBuf::from("/usr/lib/python3/dist-packages"));
    }
    out.retain(|p| p.is_dir());
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

fn dist_info_version(site: &Path) -> Option<String> {
    std::fs::read_dir(site)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find_map(|n| {
            n.strip_prefix("torch-")?
                .strip_suffix(".dist-info")
                .map(str::to_string)
        })
}

fn rebase(root: &Path, mut d: TensileDir) -> TensileDir {
    d.path = machine(root, Path::new(&d.path));
    d
}

/// Read torch in a site-packages directory, with the inspect report of torch/lib.
fn torch_in(site: &Path, root: &Path) -> Option<(TorchInstall, rp_report::InspectReport)> {
    let dir = site.join("torch");
    if !dir.join("__init__.py").is_file() && !dir.join("version.py").is_file() {
        return None;
    }
    let v = std::fs::read_to_string(dir.join("version.py"))
        .map(|t| parse_version_py(&t))
        .unwrap_or_default();
    let get = |k: &str| v.get(k).cloned().flatten();
    let (hip, cuda) = (get("hip"), get("cuda"));
    let build = if hip.is_some() {
        "rocm"
    } else if cuda.is_some() {
        "cuda"
    } else {
        "cpu"
    };
    let lib = dir.join("lib");
    let mut libs: Vec<PathBuf> = std::fs::read_dir(&lib)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.contains(".so"))
                })
                .collect()
        })
        .unwrap_or_default();
    libs.sort();
    let report = rp_inspect::inspect(&libs, &rp_inspect::Options::default());
    let gpu_libraries: Vec<String> = report
        .files
        .iter()
        .filter(|f| !f.code_objects.is_empty())
        .map(|f| machine(root, Path::new(&f.path)))
        .collect();
    let torch = TorchInstall {
        path: machine(root, &dir),
        version: get("__version__").or_else(|| dist_info_version(site)),
        hip,
        cuda,
        build: build.into(),
        targets: report.targets.keys().cloned().collect(),
        gpu_libraries,
        rocblas_library: rp_inspect::tensile_dir_by_name(&lib.join("rocblas/library"))
            .map(|d| rebase(root, d)),
        hipblaslt_library: rp_inspect::tensile_dir_by_name(&lib.join("hipblaslt/library"))
            .map(|d| rebase(root, d)),
        gpu_support: Vec::new(),
    };
    Some((torch, report))
}

/// Inspect one candidate. Returns the environment and the inspect report of its torch
/// libraries' code objects (for per-GPU coverage).
pub fn read_env(
    c: &Candidate,
    root: &Path,
    vars: &BTreeMap<String, String>,
    cwd: &Path,
) -> (PythonEnv, Option<rp_report::InspectReport>) {
    let mut env = PythonEnv {
        path: machine(root, &c.path),
        found_by: c.found_by.clone(),
        ..PythonEnv::default()
    };
    let p = &c.path;
    let prefix = if p.is_dir() {
        Some(p.clone())
    } else if p.is_file() {
        // An interpreter inside an environment: <prefix>/bin/python.
        p.parent()
            .and_then(Path::parent)
            .filter(|pre| pre.join("pyvenv.cfg").is_file() || pre.join("conda-meta").is_dir())
            .map(Path::to_path_buf)
    } else {
        env.error = Some(format!("{} does not exist", p.display()));
        return (env, None);
    };
    let sites = match &prefix {
        Some(pre) => {
            env.kind = if pre.join("pyvenv.cfg").is_file() {
                "venv"
            } else if pre.join("conda-meta").is_dir() {
                "conda"
            } else {
                "prefix"
            }
            .into();
            glob_site_packages(pre)
        }
        None => {
            env.kind = "system".into();
            let real = resolve_interpreter(p, vars, cwd);
            let from_files = system_sites(&real, vars);
            if !from_files.is_empty() {
                from_files
            } else {
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
        env.error = Some(format!("no site-packages found for {}", p.display()));
    }
    env.site_packages = sites.iter().map(|s| machine(root, s)).collect();
    let mut inspect = None;
    if let Some((t, r)) = sites.iter().find_map(|s| torch_in(s, root)) {
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
        let real = resolve_interpreter(&shim, &vars, d.path());
        assert!(
            real.ends_with("versions/3.11.7/bin/python3"),
            "{}",
            real.display()
        );
        let sites = system_sites(&real, &vars);
        assert_eq!(sites.len(), 1);
        assert!(sites[0].ends_with("3.11.7/lib/python3.11/site-packages"));
        // .python-version in the working directory beats the global file ...
        std::fs::write(d.path().join(".python-version"), "3.12.1\n").unwrap();
        assert!(resolve_interpreter(&shim, &vars, d.path()).ends_with("3.12.1/bin/python3"));
        // ... and PYENV_VERSION beats both.
        vars.insert("PYENV_VERSION".into(), "3.11.7".into());
        assert!(resolve_interpreter(&shim, &vars, d.path()).ends_with("3.11.7/bin/python3"));
        // An unknown layout yields nothing (the interpreter is asked instead).
        assert!(system_sites(&d.path().join("nowhere/bin/python3"), &vars).is_empty());
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
