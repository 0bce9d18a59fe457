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

use crate::shell::{self, Dialect};

fn dialect_of(file: &Path) -> Dialect {
    let name = file.to_string_lossy();
    if name.ends_with(".fish") {
        Dialect::Fish
    } else if name.ends_with("/etc/environment") || name.contains("/environment.d/") {
        Dialect::Plain
    } else {
        Dialect::Sh
    }
}

/// The dialect a startup file is read in (by its path).
pub fn dialect(file: &Path) -> Dialect {
    dialect_of(file)
}

/// `. FILE` or `source FILE`: the file, when it is named by a path we can follow
/// (absolute, `~/…` or `$HOME/…`).
fn sourced(root: &SysRoot, ws: &[shell::Word], home: Option<&Path>) -> Option<PathBuf> {
    let [cmd, file, ..] = ws else { return None };
    if cmd.value != "." && cmd.value != "source" {
        return None;
    }
    let f = file.value.as_str();
    if let Some(rest) = f
        .strip_prefix("~/")
        .or_else(|| f.strip_prefix("$HOME/"))
        .or_else(|| f.strip_prefix("${HOME}/"))
    {
        return home.map(|h| h.join(rest));
    }
    f.starts_with('/').then(|| root.host(f))
}

/// What [`settings`] and [`env_scripts`] found.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The assignments.
    pub settings: Vec<EnvSetting>,
    /// Startup files that exist but could not be read (too large, unreadable), with why.
    pub unread: Vec<rp_report::UnreadFile>,
}

/// The settings of one file. `home` is the home directory (a host path); `from` names the
/// line that sourced this file, if one did. Files sourced from it are read too (once).
fn scan(
    root: &SysRoot,
    file: &Path,
    home: Option<&Path>,
    from: Option<&str>,
    seen: &mut Vec<PathBuf>,
    out: &mut Found,
) {
    if seen.iter().any(|s| s == file) || seen.len() > 64 {
        return;
    }
    seen.push(file.to_path_buf());
    let text = match root.read_text(file, MAX_STARTUP) {
        Ok(t) => t,
        Err(crate::ReadError::NotFound) => return,
        Err(e) => {
            out.unread.push(rp_report::UnreadFile {
                file: root.machine(file),
                why: match e {
                    crate::ReadError::Io(m) => m,
                    crate::ReadError::Timeout => "the read did not finish in time".into(),
                    crate::ReadError::NotFound => "not found".into(),
                },
            });
            return;
        }
    };
    let d = dialect_of(file);
    let lexed = shell::lex(&text, d);
    let mut mine: Vec<EnvSetting> = Vec::new();
    for (line, t) in &lexed.heredoc_lines {
        if let Some((name, value)) = parse_line(t).filter(|(n, _)| gpu_related(n)) {
            mine.push(EnvSetting {
                file: root.machine(file),
                line: *line,
                name,
                value,
                not_editable: Some("inside a here-document (text, not a command)".into()),
                text_only: true,
                ..EnvSetting::default()
            });
        }
    }
    let mut nested = Vec::new();
    for c in &lexed.commands {
        for a in shell::assignments(d, c) {
            if !gpu_related(&a.name) {
                continue;
            }
            let reason = if let Some(f) = from {
                Some(format!("in a file sourced from {f}: edit it by hand"))
            } else if c.uncertain {
                Some(format!(
                    "the file cannot be read as its shell reads it before this line ({}): edit it by hand",
                    lexed.problem.as_deref().unwrap_or("unknown")
                ))
            } else if c.depth > 0 {
                Some(match d {
                    Dialect::Fish => "inside a block (if/function/…end)".into(),
                    _ => "inside a block (if/case/loop/function)".into(),
                })
            } else if c.shares_line {
                Some("shares its line with other commands".into())
            } else {
                None
            };
            mine.push(EnvSetting {
                file: root.machine(file),
                line: c.first_line,
                end_line: if c.last_line > c.first_line {
                    Some(c.last_line)
                } else {
                    None
                },
                name: a.name,
                value: a.value,
                not_editable: reason,
                text_only: false,
            });
        }
        if d == Dialect::Sh {
            if let Some(p) = sourced(root, &c.words, home) {
                nested.push((p, format!("{}:{}", root.machine(file), c.first_line)));
            }
        }
    }
    mine.sort_by_key(|e| e.line);
    out.settings.extend(mine);
    for (p, by) in nested {
        scan(root, &p, home, Some(&by), seen, out);
    }
}

/// GPU-related assignments in a Python environment's activation scripts (`prefix` a
/// host path): a venv's `bin/activate` (and `activate.fish`), conda's
/// `etc/conda/activate.d/*.sh`. Each runs when the environment is activated.
pub fn env_scripts(root: &SysRoot, prefix: &Path, home: Option<&Path>) -> Found {
    let mut files = vec![
        prefix.join("bin/activate"),
        prefix.join("bin/activate.fish"),
    ];
    files.extend(
        root.read_dir(&prefix.join("etc/conda/activate.d"))
            .into_iter()
            .filter(|(n, _)| n.ends_with(".sh") || n.ends_with(".fish"))
            .map(|(_, p)| p),
    );
    let mut out = Found::default();
    let mut seen = Vec::new();
    for f in files {
        scan(root, &f, home, None, &mut seen, &mut out);
    }
    out
}

/// Every GPU-related assignment in the user's startup files (below `home`, a host path)
/// and the system's (/etc/environment, /etc/profile.d/*.sh), in reading order, then
/// those of files they source.
pub fn settings(root: &SysRoot, home: Option<&Path>) -> Found {
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
    let mut out = Found::default();
    let mut seen = Vec::new();
    for f in files {
        scan(root, &f, home, None, &mut seen, &mut out);
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
        let s = settings(&root, Some(&root.host("/home/bob"))).settings;
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

    #[test]
    fn lines_fix_must_not_touch_are_named() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("home/bob/.config/fish")).unwrap();
        std::fs::write(
            r.join("home/bob/.bashrc"),
            "export HSA_OVERRIDE_GFX_VERSION=10.3.0\n\
             if [ -e /dev/kfd ]; then\n  export HSA_OVERRIDE_GFX_VERSION=10.3.0\nfi\n\
             cat > /tmp/x <<'EOF'\nexport HSA_OVERRIDE_GFX_VERSION=9.0.0\nEOF\n\
             export A=1; export HSA_OVERRIDE_GFX_VERSION_1=10.3.0\n\
             rocm() {\n  export HSA_OVERRIDE_GFX_VERSION=10.3.0\n}\n\
             . ~/.rocmrc\n\
             export HIP_VISIBLE_DEVICES=0\n",
        )
        .unwrap();
        std::fs::write(
            r.join("home/bob/.rocmrc"),
            "export HSA_OVERRIDE_GFX_VERSION=10.3.0\n",
        )
        .unwrap();
        std::fs::write(
            r.join("home/bob/.config/fish/config.fish"),
            "if status is-interactive\n    set -gx HSA_OVERRIDE_GFX_VERSION 10.3.0\nend\nset -gx HSA_OVERRIDE_GFX_VERSION 10.3.0\n",
        )
        .unwrap();
        let root = SysRoot::open(r, std::time::Duration::from_secs(1)).unwrap();
        let s = settings(&root, Some(&root.host("/home/bob"))).settings;
        let got: Vec<String> = s
            .iter()
            .map(|e| {
                format!(
                    "{}:{} {}",
                    e.file.rsplit('/').next().unwrap(),
                    e.line,
                    e.not_editable.as_deref().unwrap_or("editable")
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ".bashrc:1 editable",
                ".bashrc:3 inside a block (if/case/loop/function)",
                ".bashrc:6 inside a here-document (text, not a command)",
                ".bashrc:8 shares its line with other commands",
                ".bashrc:10 inside a block (if/case/loop/function)",
                ".bashrc:13 editable",
                ".rocmrc:1 in a file sourced from /home/bob/.bashrc:12: edit it by hand",
                "config.fish:2 inside a block (if/function/…end)",
                "config.fish:4 editable",
            ]
        );
    }
}
