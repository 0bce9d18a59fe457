//! The native-venv remedy: a Python that TheRock supports, a new venv, pip against one
//! index, and verification that trusts nothing from pip's exit code.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long an interpreter may take to say its version.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// `(major, minor)` of `3.10`.
pub fn parse_minor(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.trim().split_once('.')?;
    Some((a.parse().ok()?, b.split('.').next()?.parse().ok()?))
}

/// Run a host interpreter for its version (bounded: [`rp_machine::run_python`]).
pub fn python_version(python: &Path) -> Result<(u32, u32), String> {
    let out = rp_machine::run_python(
        python,
        "import sys; print('%d.%d' % sys.version_info[:2])",
        "say its version",
        VERSION_TIMEOUT,
        64,
    )?;
    parse_minor(&out).ok_or_else(|| format!("{} is not a Python interpreter", python.display()))
}

/// The newest supported interpreter on `path` (a `PATH` value): `python3.14` … down to
/// the oldest supported, then `python3`. Each candidate and its version, for the report
/// when none fits.
pub fn find_python(
    path: &str,
    min: (u32, u32),
    max: (u32, u32),
) -> Result<(PathBuf, (u32, u32)), String> {
    let mut names: Vec<String> = (min.1..=max.1)
        .rev()
        .map(|m| format!("python{}.{m}", min.0))
        .collect();
    names.push("python3".into());
    let mut seen = Vec::new();
    for n in &names {
        for dir in path.split(':').filter(|d| d.starts_with('/')) {
            let p = Path::new(dir).join(n);
            if !p.is_file() {
                continue;
            }
            match python_version(&p) {
                Ok(v) if v >= min && v <= max => return Ok((p, v)),
                Ok(v) => seen.push(format!("{} is {}.{}", p.display(), v.0, v.1)),
                Err(e) => seen.push(e),
            }
            break;
        }
    }
    Err(format!(
        "no Python {}.{} to {}.{} found on PATH{}",
        min.0,
        min.1,
        max.0,
        max.1,
        if seen.is_empty() {
            String::new()
        } else {
            format!(" ({})", seen.join("; "))
        }
    ))
}

/// Run a command, handing each line of its output (stdout and stderr) to `progress`;
/// the last lines come back in the error when it fails.
pub fn stream(c: Command, what: &str, progress: &mut dyn FnMut(&str)) -> Result<(), String> {
    // In this process's group: a Ctrl-C at the terminal reaches the child too.
    let opts = rp_sys::process::Options {
        own_group: false,
        ..Default::default()
    };
    let mut tail: Vec<String> = Vec::new();
    let st = rp_sys::process::run_streamed(c, &opts, &mut |e| {
        if let rp_sys::process::Event::Line(_, line) = e {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let mut l = String::from_utf8_lossy(line).into_owned();
            l.truncate(l.trim_end().len().min(400));
            progress(&l);
            tail.push(l);
            if tail.len() > 12 {
                tail.remove(0);
            }
        }
    })
    .map_err(|e| match e {
        rp_sys::process::RunError::Spawn { source, .. } => format!("cannot run {what}: {source}"),
        rp_sys::process::RunError::Wait(e) => format!("{what}: {e}"),
    })?
    .status;
    if st.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({st}); its last lines:\n  {}",
            tail.join("\n  ")
        ))
    }
}

/// Site-packages directories of a venv.
pub fn site_packages(venv: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        if let Ok(rd) = std::fs::read_dir(venv.join(lib)) {
            for e in rd.flatten() {
                let p = e.path().join("site-packages");
                if e.file_name().to_string_lossy().starts_with("python") && p.is_dir() {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Installed distributions of a venv: normalized name (PEP 503) and version, from the
/// `.dist-info` directory names.
pub fn installed(venv: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for sp in site_packages(venv) {
        for e in std::fs::read_dir(&sp).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(stem) = n.strip_suffix(".dist-info") {
                if let Some((name, ver)) = stem.split_once('-') {
                    out.push((normalize(name), ver.to_string()));
                }
            }
        }
    }
    out
}

/// PEP 503 name normalization.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions() {
        assert_eq!(
            normalize("amd_torch_device_gfx1010"),
            "amd-torch-device-gfx1010"
        );
        assert_eq!(normalize("Torch.Vision"), "torch-vision");
        assert_eq!(parse_minor("3.11\n"), Some((3, 11)));
        assert_eq!(parse_minor("3.14.1"), Some((3, 14)));
        assert_eq!(parse_minor("x"), None);
    }
}
