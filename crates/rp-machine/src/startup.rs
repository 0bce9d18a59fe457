//! Lines of shell startup files that set GPU-related variables: where an override that
//! the user "removed" keeps coming back from.

use crate::SysRoot;
use rp_report::EnvSetting;
use std::path::{Path, PathBuf};

/// Startup files below the home directory, in the order shells read them (bash(1)
/// INVOCATION, zsh(1) STARTUP/SHUTDOWN FILES, fish's config.fish).
const HOME_FILES: [&str; 6] = [
    ".profile",
    ".bash_profile",
    ".bashrc",
    ".zprofile",
    ".zshrc",
    ".config/fish/config.fish",
];
/// Largest startup file read.
const MAX_STARTUP: u64 = 1 << 20;

/// Is this a variable doctor reports (known to the knowledge base, or a ROCm prefix)?
pub fn gpu_related(name: &str) -> bool {
    rp_kb::kb().env_var(name).is_some()
        || crate::runtime::REPORT_PREFIXES
            .iter()
            .any(|p| name.starts_with(p))
}

fn valid_name(n: &str) -> bool {
    let mut b = n.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q) {
            return inner.split(q).next().unwrap_or("").to_string();
        }
    }
    v.split_whitespace().next().unwrap_or("").to_string()
}

/// The assignment on one line, if any: `NAME=V`, `export NAME=V` (sh, environment.d,
/// /etc/environment), `set -x NAME V` / `set -gx NAME V` (fish).
pub fn parse_line(line: &str) -> Option<(String, String)> {
    let l = line.trim();
    if l.starts_with('#') {
        return None;
    }
    if let Some(rest) = l.strip_prefix("set ") {
        let mut words = rest.split_whitespace();
        let mut name = None;
        for w in words.by_ref() {
            if w.starts_with('-') {
                continue;
            }
            name = Some(w);
            break;
        }
        let name = name?;
        let value = words.collect::<Vec<_>>().join(" ");
        return valid_name(name).then(|| (name.to_string(), unquote(&value)));
    }
    let l = l.strip_prefix("export ").map(str::trim_start).unwrap_or(l);
    let (name, value) = l.split_once('=')?;
    valid_name(name).then(|| (name.to_string(), unquote(value)))
}

fn scan(root: &SysRoot, file: &Path, out: &mut Vec<EnvSetting>) {
    let Ok(text) = root.read_text(file, MAX_STARTUP) else {
        return;
    };
    for (i, line) in text.lines().enumerate() {
        if let Some((name, value)) = parse_line(line).filter(|(n, _)| gpu_related(n)) {
            out.push(EnvSetting {
                file: root.machine(file),
                line: i as u32 + 1,
                name,
                value,
            });
        }
    }
}

/// Every GPU-related assignment in the user's startup files (below `home`, a host path)
/// and the system's (/etc/environment, /etc/profile.d/*.sh), in reading order.
pub fn settings(root: &SysRoot, home: Option<&Path>) -> Vec<EnvSetting> {
    let mut files: Vec<PathBuf> = vec![root.host("/etc/environment")];
    files.extend(
        root.read_dir(&root.host("/etc/profile.d"))
            .into_iter()
            .filter(|(n, _)| n.ends_with(".sh"))
            .map(|(_, p)| p),
    );
    if let Some(h) = home {
        files.extend(HOME_FILES.iter().map(|f| h.join(f)));
        files.extend(
            root.read_dir(&h.join(".config/environment.d"))
                .into_iter()
                .filter(|(n, _)| n.ends_with(".conf"))
                .map(|(_, p)| p),
        );
    }
    let mut out = Vec::new();
    for f in files {
        scan(root, &f, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_forms() {
        let p = |l: &str| parse_line(l).map(|(n, v)| format!("{n}={v}"));
        assert_eq!(
            p("export HSA_OVERRIDE_GFX_VERSION=10.3.0").as_deref(),
            Some("HSA_OVERRIDE_GFX_VERSION=10.3.0")
        );
        assert_eq!(
            p("  HSA_OVERRIDE_GFX_VERSION=\"10.3.0\" # rdna"),
            Some("HSA_OVERRIDE_GFX_VERSION=10.3.0".into())
        );
        assert_eq!(
            p("set -gx HSA_OVERRIDE_GFX_VERSION '10.3.0'"),
            Some("HSA_OVERRIDE_GFX_VERSION=10.3.0".into())
        );
        assert_eq!(
            p("set -x ROCR_VISIBLE_DEVICES 0"),
            Some("ROCR_VISIBLE_DEVICES=0".into())
        );
        assert_eq!(p("# export HSA_OVERRIDE_GFX_VERSION=10.3.0"), None);
        assert_eq!(p("echo a=b"), None);
    }

    #[test]
    fn home_and_system_files() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("home/bob/.config/fish")).unwrap();
        std::fs::create_dir_all(r.join("etc/profile.d")).unwrap();
        std::fs::write(
            r.join("home/bob/.bashrc"),
            "alias x=y\nexport HSA_OVERRIDE_GFX_VERSION=10.3.0\nPATH=/x\n",
        )
        .unwrap();
        std::fs::write(
            r.join("home/bob/.config/fish/config.fish"),
            "set -gx HSA_OVERRIDE_GFX_VERSION 10.3.0\n",
        )
        .unwrap();
        std::fs::write(
            r.join("etc/profile.d/rocm.sh"),
            "export HIP_VISIBLE_DEVICES=0\n",
        )
        .unwrap();
        let root = SysRoot::open(r, std::time::Duration::from_secs(1)).unwrap();
        let s = settings(&root, Some(&root.host("/home/bob")));
        let got: Vec<String> = s
            .iter()
            .map(|e| format!("{}:{} {}", e.file, e.line, e.name))
            .collect();
        assert_eq!(
            got,
            [
                "/etc/profile.d/rocm.sh:1 HIP_VISIBLE_DEVICES",
                "/home/bob/.bashrc:2 HSA_OVERRIDE_GFX_VERSION",
                "/home/bob/.config/fish/config.fish:1 HSA_OVERRIDE_GFX_VERSION"
            ]
        );
    }
}
