//! Which package indexes pip would use in an environment: its configuration files and
//! variables, read as pip reads them (pip `src/pip/_internal/configuration.py`: the
//! global files `/etc/xdg/pip/pip.conf` and `/etc/pip.conf`, the user files
//! `~/.pip/pip.conf` and `~/.config/pip/pip.conf`, the site file `<venv>/pip.conf`, then
//! `PIP_*` variables; `[global]` then `[install]`, later ones overriding).
//!
//! Only `index-url` and `extra-index-url` are kept, with any password or token in a URL
//! removed (reports leak no secrets).

use crate::SysRoot;
use rp_report::{PipIndex, PipIndexKey};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest pip configuration file read.
const MAX_CONF: u64 = 256 << 10;

/// The index settings in force for an environment at `prefix` (a venv or conda
/// prefix; `None` for a system interpreter), in pip's order of precedence, lowest first.
pub(crate) fn indexes(
    root: &SysRoot,
    prefix: Option<&Path>,
    home: Option<&Path>,
    vars: &BTreeMap<String, String>,
) -> Vec<PipIndex> {
    // Host paths: the global files are the machine's.
    let mut files: Vec<PathBuf> = vec![
        root.host("/etc/xdg/pip/pip.conf"),
        root.host("/etc/pip.conf"),
    ];
    if let Some(h) = home {
        files.push(h.join(".pip/pip.conf"));
        files.push(h.join(".config/pip/pip.conf"));
    }
    if let Some(p) = prefix {
        files.push(p.join("pip.conf"));
    }
    let mut out = Vec::new();
    for host in files {
        let Ok(text) = root.read_text(&host, MAX_CONF) else {
            continue;
        };
        out.extend(parse(&text, &root.machine(&host)));
    }
    for (var, key) in [
        ("PIP_INDEX_URL", PipIndexKey::IndexUrl),
        ("PIP_EXTRA_INDEX_URL", PipIndexKey::ExtraIndexUrl),
    ] {
        if let Some(v) = vars.get(var) {
            // pip splits list variables on whitespace.
            for url in v.split_whitespace() {
                out.push(PipIndex {
                    source: var.to_string(),
                    key,
                    url: redact(url),
                });
            }
        }
    }
    out
}

/// The `index-url` / `extra-index-url` values of `[global]` and `[install]` in one
/// INI file; a value may continue on indented lines (configparser).
fn parse(text: &str, source: &str) -> Vec<PipIndex> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut current: Option<PipIndexKey> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) && !t.is_empty() {
            if let Some(key) = current {
                out.push(PipIndex {
                    source: source.to_string(),
                    key,
                    url: redact(t),
                });
            }
            continue;
        }
        current = None;
        if let Some(s) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.trim().to_ascii_lowercase();
            continue;
        }
        if section != "global" && section != "install" {
            continue;
        }
        let Some((k, v)) = t.split_once(['=', ':']) else {
            continue;
        };
        let Ok(key) = k
            .trim()
            .to_ascii_lowercase()
            .replace('_', "-")
            .parse::<PipIndexKey>()
        else {
            continue;
        };
        current = Some(key);
        for url in v.split_whitespace() {
            out.push(PipIndex {
                source: source.to_string(),
                key,
                url: redact(url),
            });
        }
    }
    out
}

/// A URL without the user information (`https://user:token@host/` → `https://host/`).
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{path}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_values_sections_and_continuations() {
        let t = "[global]\nindex-url = https://pypi.org/simple\n[install]\nextra_index_url =\n    https://u:secret@repo.example/a\n    https://b.example/\n[freeze]\nindex-url=https://x/\n";
        let got = parse(t, "pip.conf");
        let urls: Vec<(&str, &str)> = got
            .iter()
            .map(|p| (p.key.as_str(), p.url.as_str()))
            .collect();
        assert_eq!(
            urls,
            [
                ("index-url", "https://pypi.org/simple"),
                ("extra-index-url", "https://repo.example/a"),
                ("extra-index-url", "https://b.example/"),
            ]
        );
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("https://a:b@h.x/p?q"), "https://h.x/p?q");
        assert_eq!(redact("https://h.x/p@q"), "https://h.x/p@q");
        assert_eq!(redact("not a url"), "not a url");
    }
}
