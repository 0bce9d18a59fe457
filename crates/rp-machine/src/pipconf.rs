//! Which package indexes `pip install` uses in an environment, resolved as pip resolves
//! them (pip `src/pip/_internal/configuration.py`, `cli/parser.py` and `utils/appdirs.py`,
//! read at 23.2.1 and 26.3; `tests/pip_config.rs` asks both pips the same questions):
//!
//! - Files, lowest precedence first: the global ones (each absolute directory of
//!   `$XDG_CONFIG_DIRS`, default `/etc/xdg`, with `pip/pip.conf`, then `/etc/pip.conf`); the
//!   user ones (`~/.pip/pip.conf`, then `pip/pip.conf` in `$XDG_CONFIG_HOME` when it is
//!   absolute, else in `~/.config`),
//!   skipped when `PIP_CONFIG_FILE` names a file that exists; the site one
//!   (`<prefix>/pip.conf`); then the file `PIP_CONFIG_FILE` names.
//!   `PIP_CONFIG_FILE=/dev/null` loads no file at all.
//! - A later file's value of a `section.key` replaces an earlier one's; an empty value
//!   clears it.
//! - Then the sections: `[install]` over `[global]`, and `PIP_*` variables over both (a
//!   key set in `[install]` of the global file beats `[global]` of the venv's own file).
//!   `extra-index-url` is a whitespace-separated list, `index-url` one value.
//!
//! Each file is read as Python's `configparser.RawConfigParser` reads it (section names
//! are case-sensitive, `[DEFAULT]` applies to every section, a value continues on lines
//! indented deeper than its key, `#` and `;` start whole-line comments only); a file it
//! cannot parse makes every pip command fail, and is reported.
//!
//! Any password or token in a URL is removed (reports leak no secrets).

use crate::SysRoot;
use rp_report::{PipIndex, PipIndexKey};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest pip configuration file read.
const MAX_CONF: u64 = 256 << 10;

/// `os.devnull`: as `PIP_CONFIG_FILE`, pip loads no configuration file.
const DEV_NULL: &str = "/dev/null";

/// The sections `pip install` reads, lowest precedence first (`parser.py`
/// `_get_ordered_configuration_items`: global, the command's name, then the variables).
const SECTIONS: [&str; 3] = ["global", "install", ENV_SECTION];

/// The section pip files `PIP_*` variables under.
const ENV_SECTION: &str = ":env:";

/// What pip's configuration gives `pip install` in one environment.
#[derive(Debug, Default)]
pub(crate) struct PipConfig {
    /// The index settings in force, `index-url` first.
    pub indexes: Vec<PipIndex>,
    /// Files pip cannot load (it then refuses to run): `FILE: line N: why`.
    pub errors: Vec<String>,
}

/// One value and where it came from.
#[derive(Debug, Clone)]
struct Setting {
    value: String,
    /// A machine path, or the variable's name.
    source: String,
}

/// pip's configuration for an environment at `prefix` (a venv or conda prefix; `None` for
/// a system interpreter), for a user whose home is `home` (host path) and whose
/// environment is `vars`.
pub(crate) fn resolve(
    root: &SysRoot,
    prefix: Option<&Path>,
    home: Option<&Path>,
    vars: &BTreeMap<String, String>,
) -> PipConfig {
    let mut out = PipConfig::default();
    // (section, key) → the value of the last file that sets it.
    let mut merged: BTreeMap<(String, String), Setting> = BTreeMap::new();
    for host in files(root, prefix, home, vars) {
        let shown = root.machine(&host);
        let Ok(text) = root.read_text(&host, MAX_CONF) else {
            // configparser's read() skips a file it cannot open.
            continue;
        };
        match parse(&text) {
            Ok(sections) => {
                for (section, keys) in sections {
                    for (key, value) in keys {
                        merged.insert(
                            (section.clone(), key),
                            Setting {
                                value,
                                source: shown.clone(),
                            },
                        );
                    }
                }
            }
            Err(e) => out.errors.push(format!("{shown}: {e}")),
        }
    }
    // The variables: `PIP_` then the name, lower-cased (`configuration.py`
    // `get_environ_vars`), normalised as the files' keys are.
    for (var, value) in vars {
        if let Some(name) = var.strip_prefix("PIP_") {
            merged.insert(
                (ENV_SECTION.to_string(), normalize(name)),
                Setting {
                    value: value.clone(),
                    source: var.clone(),
                },
            );
        }
    }
    for key in [PipIndexKey::IndexUrl, PipIndexKey::ExtraIndexUrl] {
        let in_force = SECTIONS.iter().rev().find_map(|s| {
            merged
                .get(&(s.to_string(), key.as_str().to_string()))
                .filter(|v| !v.value.is_empty())
                .map(|v| (*s, v))
        });
        let Some((section, setting)) = in_force else {
            continue;
        };
        let section = (section != ENV_SECTION).then(|| section.to_string());
        let urls: Vec<&str> = match key {
            PipIndexKey::IndexUrl => vec![setting.value.as_str()],
            // An `append` option: the value split on whitespace (`_update_defaults`).
            PipIndexKey::ExtraIndexUrl => setting.value.split_whitespace().collect(),
        };
        for url in urls {
            out.indexes.push(PipIndex {
                source: setting.source.clone(),
                section: section.clone(),
                key,
                url: redact(url),
            });
        }
    }
    out
}

/// The configuration files pip reads (host paths), lowest precedence first.
fn files(
    root: &SysRoot,
    prefix: Option<&Path>,
    home: Option<&Path>,
    vars: &BTreeMap<String, String>,
) -> Vec<PathBuf> {
    let env_file = vars.get("PIP_CONFIG_FILE");
    if env_file.is_some_and(|f| f == DEV_NULL) {
        return Vec::new();
    }
    // A relative path is relative to pip's working directory, unknown here.
    let machine = |p: &str| Path::new(p).is_absolute().then(|| root.host(p));
    // platformdirs (`_xdg.py` at pip 26.3): a variable's entries trimmed, absolute ones
    // only, else the default; then pip's own `/etc`.
    let xdg = |name: &str| -> Vec<PathBuf> {
        vars.get(name)
            .map(|v| v.split(':').filter_map(|p| machine(p.trim())).collect())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    let mut global = xdg("XDG_CONFIG_DIRS");
    if global.is_empty() {
        global.push(root.host("/etc/xdg"));
    }
    out.extend(global.iter().map(|d| d.join("pip/pip.conf")));
    out.push(root.host("/etc/pip.conf"));
    let env_file_exists = env_file
        .filter(|f| !f.is_empty())
        .and_then(|f| machine(f))
        .is_some_and(|f| root.metadata(&f).is_some());
    if !env_file_exists {
        if let Some(h) = home {
            out.push(h.join(".pip/pip.conf"));
        }
        let config_home = vars
            .get("XDG_CONFIG_HOME")
            .and_then(|v| machine(v.trim()))
            .or_else(|| home.map(|h| h.join(".config")));
        out.extend(config_home.map(|d| d.join("pip/pip.conf")));
    }
    if let Some(p) = prefix {
        out.push(p.join("pip.conf"));
    }
    out.extend(env_file.and_then(|f| machine(f)));
    out
}

/// pip's name for a key (`_normalize_name`): lower case, `_` as `-`, no leading `--`.
fn normalize(name: &str) -> String {
    let n = name.to_lowercase().replace('_', "-");
    n.strip_prefix("--").map(str::to_string).unwrap_or(n)
}

/// One INI file read as `configparser.RawConfigParser` reads it (strict, no interpolation,
/// no inline comments), as pip's sections: section → normalised key → value, with
/// `[DEFAULT]`'s keys in every section. An error names the line.
fn parse(text: &str) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    /// Where the lines being read go.
    #[derive(Clone, Copy, PartialEq)]
    enum Dest {
        Nowhere,
        Defaults,
        Section(usize),
    }
    /// A section's keys in file order, each value as its lines.
    type Keys = Vec<(String, Vec<String>)>;
    let mut defaults: Keys = Vec::new();
    let mut sections: Vec<(String, Keys)> = Vec::new();
    let mut into = Dest::Nowhere;
    // The key a continuation line extends, and the indentation of its line.
    let mut key: Option<usize> = None;
    let mut indent = usize::MAX;
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let value = line.trim();
        if value.starts_with(['#', ';']) {
            continue;
        }
        let keys = match into {
            Dest::Nowhere => None,
            Dest::Defaults => Some(&mut defaults),
            Dest::Section(i) => Some(&mut sections[i].1),
        };
        if value.is_empty() {
            // An empty line inside a value is part of it (trailing ones are dropped).
            if let (Some(keys), Some(k)) = (keys, key) {
                keys[k].1.push(String::new());
            }
            continue;
        }
        let this_indent = line.len() - line.trim_start().len();
        if let (Some(keys), Some(k)) = (keys, key) {
            if this_indent > indent {
                keys[k].1.push(value.to_string());
                continue;
            }
        }
        indent = this_indent;
        // `\[(?P<header>.+)\]`, matched at the start: up to the last `]`.
        if let Some(end) = value
            .rfind(']')
            .filter(|&e| value.starts_with('[') && e > 1)
        {
            let name = &value[1..end];
            key = None;
            if name == "DEFAULT" {
                into = Dest::Defaults;
            } else if sections.iter().any(|(s, _)| s == name) {
                return Err(format!("line {}: section [{name}] appears twice", n + 1));
            } else {
                sections.push((name.to_string(), Vec::new()));
                into = Dest::Section(sections.len() - 1);
            }
            continue;
        }
        let keys = match into {
            Dest::Nowhere => {
                return Err(format!(
                    "line {}: a setting before any [section] header",
                    n + 1
                ))
            }
            Dest::Defaults => &mut defaults,
            Dest::Section(i) => &mut sections[i].1,
        };
        match value.split_once(['=', ':']) {
            Some((k, v)) if !k.trim().is_empty() => {
                let k = normalize(k.trim_end());
                if keys.iter().any(|(have, _)| *have == k) {
                    return Err(format!("line {}: {k} is set twice in its section", n + 1));
                }
                keys.push((k, vec![v.trim().to_string()]));
                key = Some(keys.len() - 1);
            }
            _ => {
                bad.push(n + 1);
                key = None;
            }
        }
    }
    if let Some(n) = bad.first() {
        return Err(format!("line {n}: neither a [section] nor a key = value"));
    }
    let join = |v: &[String]| v.join("\n").trim_end().to_string();
    let mut out = BTreeMap::new();
    for (name, keys) in &sections {
        let mut m: BTreeMap<String, String> =
            defaults.iter().map(|(k, v)| (k.clone(), join(v))).collect();
        m.extend(keys.iter().map(|(k, v)| (k.clone(), join(v))));
        out.insert(name.clone(), m);
    }
    Ok(out)
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

    fn get<'a>(p: &'a BTreeMap<String, BTreeMap<String, String>>, s: &str, k: &str) -> &'a str {
        p[s][k].as_str()
    }

    #[test]
    fn ini_as_configparser_reads_it() {
        let t = "[DEFAULT]\ntimeout = 5\n[global]\nindex-url = https://pypi.org/simple\n  ; a comment\n[install]\nExtra_Index_URL =\n    https://a.example/\n\n    https://b.example/\n\n  trusted-host: h\n[freeze]\n  a = 1\n  b = 2\n[Global]\nindex-url=https://x/ # not a comment\n";
        let p = parse(t).unwrap();
        assert_eq!(get(&p, "global", "index-url"), "https://pypi.org/simple");
        assert_eq!(get(&p, "global", "timeout"), "5");
        // A value continues on every line indented deeper than its key, blank lines
        // included (an empty first line stays: pip splits the list on whitespace).
        assert_eq!(
            get(&p, "install", "extra-index-url"),
            "\nhttps://a.example/\n\nhttps://b.example/\n\ntrusted-host: h"
        );
        // Indented no deeper than the key's line: a key of its own.
        assert_eq!(get(&p, "freeze", "a"), "1");
        assert_eq!(get(&p, "freeze", "b"), "2");
        // Section names are case-sensitive; `#` after a value is part of it.
        assert_eq!(get(&p, "Global", "index-url"), "https://x/ # not a comment");
    }

    #[test]
    fn what_configparser_refuses() {
        for (t, want) in [
            ("index-url = x\n", "line 1: a setting before"),
            (
                "[global]\na = 1\n[global]\n",
                "line 3: section [global] appears twice",
            ),
            (
                "[global]\nindex_url = 1\nindex-url = 2\n",
                "line 3: index-url is set twice",
            ),
            ("[global]\njust words\n", "line 2: neither"),
            ("[global]\n= x\n", "line 2: neither"),
        ] {
            let e = parse(t).unwrap_err();
            assert!(e.starts_with(want), "{t:?}: {e}");
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("https://a:b@h.x/p?q"), "https://h.x/p?q");
        assert_eq!(redact("https://h.x/p@q"), "https://h.x/p@q");
        assert_eq!(redact("not a url"), "not a url");
    }
}
