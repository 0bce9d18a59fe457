//! The ROCm install and compiler a build uses: `ROCM_PATH` when set, else the install
//! the machine layer finds (doctor's list: `/opt/rocm*` prefixes, a distribution's
//! library directory), its HIP version from `include/hip/hip_version.h`, and the
//! HIP-capable clang++ that belongs to it. Nothing here runs a program.

use rp_machine::SysRoot;
use rp_report::{RocmInstall, RocmKind, ToolchainReport};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The prefix assumed when no ROCm install is found: where a distribution's packages
/// (the ones preflight names) install.
pub const NO_ROCM_PREFIX: &str = "/usr";

/// `HIP_VERSION_MAJOR.MINOR.PATCH` from `PREFIX/include/hip/hip_version.h`.
pub fn hip_version_h(root: &SysRoot, prefix: &str) -> Option<String> {
    let text = root.text(&root.host(Path::new(prefix).join("include/hip/hip_version.h")))?;
    let get = |k: &str| -> Option<String> {
        text.lines().find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("#define") && w.next() == Some(k))
                .then(|| w.next().map(str::to_string))
                .flatten()
        })
    };
    let (ma, mi) = (get("HIP_VERSION_MAJOR")?, get("HIP_VERSION_MINOR")?);
    Some(match get("HIP_VERSION_PATCH") {
        Some(p) => format!("{ma}.{mi}.{p}"),
        None => format!("{ma}.{mi}"),
    })
}

/// The prefix of a distribution's library directory (`/usr/lib/x86_64-linux-gnu` → `/usr`).
fn distro_prefix(libdir: &str) -> String {
    let p = Path::new(libdir);
    p.ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "lib" || n == "lib64"))
        .and_then(Path::parent)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| NO_ROCM_PREFIX.into())
}

/// The LLVM major version a distribution's hipcc calls: `llvm-N/bin` (Debian sid's
/// hipcc 7 binary) or `clang++-N` (Debian 12's hipcc.pl, `$HIP_CLANG_PATH/clang++-15`)
/// in `PREFIX/bin/hipcc` or `PREFIX/bin/hipcc.pl`.
fn hipcc_llvm(root: &SysRoot, prefix: &str) -> Option<u32> {
    for f in ["bin/hipcc", "bin/hipcc.pl"] {
        let p = root.host(Path::new(prefix).join(f));
        let Ok(bytes) = crate::read_bounded(&p, 16 << 20) else {
            continue;
        };
        for pat in [&b"llvm-"[..], &b"clang++-"[..]] {
            let mut i = 0;
            while let Some(at) = bytes[i..].windows(pat.len()).position(|w| w == pat) {
                let start = i + at + pat.len();
                let digits: String = bytes[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .map(|&b| b as char)
                    .collect();
                let after = bytes.get(start + digits.len()).copied();
                let ok = if pat == b"llvm-" {
                    after == Some(b'/')
                } else {
                    !after.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.')
                };
                if ok {
                    if let Ok(n) = digits.parse() {
                        return Some(n);
                    }
                }
                i = start;
            }
        }
    }
    None
}

/// A distribution's HIP-capable clang++: the `PREFIX/lib/llvm-N/bin/clang++` its hipcc
/// calls, else the newest `llvm-N` whose clang has the AMDGPU device libraries
/// (`lib/clang/*/amdgcn/bitcode`), else the newest with a clang++, else
/// `PREFIX/bin/clang++`.
fn distro_cxx(root: &SysRoot, prefix: &str) -> PathBuf {
    let lib = Path::new(prefix).join("lib");
    if let Some(n) = hipcc_llvm(root, prefix) {
        return lib.join(format!("llvm-{n}/bin/clang++"));
    }
    let mut llvms: Vec<(u32, PathBuf)> = root
        .read_dir(&root.host(&lib))
        .into_iter()
        .filter_map(|(n, _)| {
            let v: u32 = n.strip_prefix("llvm-")?.parse().ok()?;
            Some((v, lib.join(&n)))
        })
        .filter(|(_, d)| root.is_file(&root.host(d.join("bin/clang++"))))
        .collect();
    llvms.sort();
    let has_device_libs = |d: &Path| {
        root.read_dir(&root.host(d.join("lib/clang")))
            .into_iter()
            .any(|(_, v)| {
                root.is_dir(&v.join("lib/amdgcn/bitcode")) || root.is_dir(&v.join("amdgcn/bitcode"))
            })
    };
    llvms
        .iter()
        .rev()
        .find(|(_, d)| has_device_libs(d))
        .or(llvms.last())
        .map(|(_, d)| d.join("bin/clang++"))
        .unwrap_or_else(|| Path::new(prefix).join("bin/clang++"))
}

/// The compiler paths that go with a ROCm prefix: `llvm/bin/clang++` of a ROCm
/// prefix, `lib/llvm/bin/clang++` of TheRock's SDK, a distribution's `lib/llvm-N`.
fn compilers(root: &SysRoot, rocm: &str, opt: bool) -> (String, String) {
    let r = Path::new(rocm);
    let llvm = r.join("llvm/bin/clang++");
    // TheRock's SDK (a Python package's `_rocm_sdk_devel`) keeps it in lib/llvm.
    let lib_llvm = r.join("lib/llvm/bin/clang++");
    let distro = !opt && (rocm == "/usr" || rocm == "/usr/local");
    let cxx = if root.is_file(&root.host(&llvm)) || opt {
        llvm
    } else if root.is_file(&root.host(&lib_llvm)) {
        lib_llvm
    } else if distro {
        distro_cxx(root, rocm)
    } else {
        llvm
    };
    (
        cxx.display().to_string(),
        r.join("bin/hipcc").display().to_string(),
    )
}

/// Choose the install: `ROCM_PATH`, else the one whose HIP runtime the loader finds
/// first, else the first `/opt/rocm*`, else the first distribution directory; none
/// found: [`NO_ROCM_PREFIX`], said so in `from`.
pub fn choose(
    root: &SysRoot,
    env: &BTreeMap<String, String>,
    installs: &[RocmInstall],
) -> ToolchainReport {
    if let Some(p) = env.get("ROCM_PATH").filter(|p| !p.is_empty()) {
        let p = p.trim_end_matches('/').to_string();
        let p = if p.is_empty() { "/".into() } else { p };
        let (cxx, hipcc) = compilers(root, &p, false);
        return ToolchainReport {
            version: hip_version_h(root, &p),
            from: "ROCM_PATH".into(),
            rocm: p,
            cxx,
            hipcc,
        };
    }
    let pick = installs
        .iter()
        .find(|i| i.loader_first)
        .or_else(|| installs.iter().find(|i| i.kind == RocmKind::Opt))
        .or_else(|| installs.first());
    let Some(i) = pick else {
        let (cxx, hipcc) = compilers(root, NO_ROCM_PREFIX, false);
        return ToolchainReport {
            rocm: NO_ROCM_PREFIX.into(),
            version: None,
            from: "no ROCm install found (no libamdhip64.so in a ROCm prefix under /opt nor in the distribution's library directories); assuming the distribution's packages in /usr"
                .into(),
            cxx,
            hipcc,
        };
    };
    let opt = i.kind == RocmKind::Opt;
    let rocm = if opt {
        i.path.clone()
    } else {
        distro_prefix(&i.path)
    };
    let (cxx, hipcc) = compilers(root, &rocm, opt);
    ToolchainReport {
        version: hip_version_h(root, &rocm).or_else(|| i.version.clone()),
        from: format!(
            "the machine's ROCm install {} ({})",
            i.path,
            if i.loader_first {
                "the loader finds it first"
            } else if opt {
                "an /opt/rocm prefix"
            } else {
                "the distribution's"
            }
        ),
        rocm,
        cxx,
        hipcc,
    }
}

/// [`choose`] on this machine, with doctor's list of installs.
pub fn detect(env: &BTreeMap<String, String>) -> ToolchainReport {
    let root = SysRoot::live(std::time::Duration::from_secs(2));
    let installs = if env.get("ROCM_PATH").is_some_and(|p| !p.is_empty()) {
        Vec::new()
    } else {
        rp_machine::rocm_installs(&root, env)
    };
    choose(&root, env, &installs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, p: &str, text: &str) {
        let p = root.join(p.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn debian_hip_in_usr_gets_the_llvm_with_device_libs() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        touch(r, "/usr/lib/x86_64-linux-gnu/libamdhip64.so.6.4.43484", "");
        touch(
            r,
            "/usr/include/hip/hip_version.h",
            "#define HIP_VERSION_MAJOR 6\n#define HIP_VERSION_MINOR 4\n#define HIP_VERSION_PATCH 43484\n",
        );
        touch(r, "/usr/lib/llvm-21/bin/clang++", "");
        touch(
            r,
            "/usr/lib/llvm-21/lib/clang/21/lib/amdgcn/bitcode/ocml.bc",
            "",
        );
        // A newer clang without the device libraries is not the HIP compiler.
        touch(r, "/usr/lib/llvm-22/bin/clang++", "");
        let root = SysRoot::open(r, std::time::Duration::from_secs(1)).unwrap();
        let env = BTreeMap::new();
        let installs = rp_machine::rocm_installs(&root, &env);
        let t = choose(&root, &env, &installs);
        assert_eq!(t.rocm, "/usr");
        assert_eq!(t.cxx, "/usr/lib/llvm-21/bin/clang++");
        // The clang Debian 12's hipcc.pl names wins over any guess.
        touch(
            r,
            "/usr/bin/hipcc.pl",
            "$HIPCC=\"$HIP_CLANG_PATH/clang++-15\" . $execExtension;\n",
        );
        assert_eq!(
            choose(&root, &env, &installs).cxx,
            "/usr/lib/llvm-15/bin/clang++"
        );
        assert_eq!(t.hipcc, "/usr/bin/hipcc");
        assert_eq!(t.version.as_deref(), Some("6.4.43484"));
        assert!(t.from.contains("/usr/lib/x86_64-linux-gnu"), "{}", t.from);
    }

    #[test]
    fn opt_rocm_and_no_rocm() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let root = SysRoot::open(r, std::time::Duration::from_secs(1)).unwrap();
        let env = BTreeMap::new();
        let t = choose(&root, &env, &rp_machine::rocm_installs(&root, &env));
        assert_eq!(t.rocm, "/usr");
        assert!(t.from.starts_with("no ROCm install found"));
        assert!(!t.cxx.contains("/opt/rocm") && !t.from.contains("/opt/rocm"));
        let item = crate::preflight::check_rocm(None, &t);
        assert!(
            !item.ok && !format!("{item:?}").contains("/opt/rocm"),
            "{item:?}"
        );
        assert!(item
            .packages
            .iter()
            .any(|p| p == "debian: libamdhip64-dev hipcc"));
        touch(r, "/opt/rocm-6.4.0/lib/libamdhip64.so.6", "");
        touch(r, "/opt/rocm-6.4.0/.info/version", "6.4.0-47\n");
        let t = choose(&root, &env, &rp_machine::rocm_installs(&root, &env));
        assert_eq!(t.rocm, "/opt/rocm-6.4.0");
        assert_eq!(t.cxx, "/opt/rocm-6.4.0/llvm/bin/clang++");
        assert_eq!(t.version.as_deref(), Some("6.4.0-47"));
        let env = BTreeMap::from([("ROCM_PATH".to_string(), "/srv/rocm/".to_string())]);
        let t = choose(&root, &env, &[]);
        assert_eq!(
            (t.rocm.as_str(), t.from.as_str()),
            ("/srv/rocm", "ROCM_PATH")
        );
        assert_eq!(t.cxx, "/srv/rocm/llvm/bin/clang++");
        // TheRock's SDK in a venv keeps its clang in lib/llvm.
        let sdk = "/venv/lib/python3.12/site-packages/_rocm_sdk_devel";
        touch(r, &format!("{sdk}/lib/llvm/bin/clang++"), "");
        let env = BTreeMap::from([("ROCM_PATH".to_string(), sdk.to_string())]);
        assert_eq!(
            choose(&root, &env, &[]).cxx,
            format!("{sdk}/lib/llvm/bin/clang++")
        );
    }
}
