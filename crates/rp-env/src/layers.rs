//! Configuration layers: the built-in profiles, then the system, user and project files
//! (the project's only once trusted), each parsed and checked, and the profiles they name.

use crate::{trust, valid_name, EnvError, Options};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Largest configuration file read.
pub(crate) const MAX_CONFIG: u64 = 4 << 20;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    pub(crate) profile: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) profiles: BTreeMap<String, ProfileDef>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileDef {
    pub(crate) extends: Option<String>,
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) gpu_rules: bool,
    pub(crate) dangerous: Option<String>,
    #[serde(default)]
    pub(crate) vars: BTreeMap<String, Spanned<VarDef>>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub(crate) enum VarDef {
    Value(String),
    Full(FullVar),
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct FullVar {
    pub(crate) value: Option<String>,
    #[serde(default)]
    pub(crate) unset: bool,
    pub(crate) reason: Option<String>,
    #[serde(rename = "ref")]
    pub(crate) reference: Option<String>,
}

/// One configuration layer.
pub(crate) struct Layer {
    /// `built-in` or the file path.
    name: String,
    builtin: bool,
    /// Offsets where lines start (line numbers for `source`, in O(log n) each).
    line_starts: Vec<usize>,
    pub(crate) file: ConfigFile,
}

impl Layer {
    fn parse(name: String, builtin: bool, text: String) -> Result<Layer, EnvError> {
        let file: ConfigFile = toml::from_str(&text).map_err(|e| EnvError::Config {
            path: name.clone(),
            message: e.to_string().trim_end().to_string(),
        })?;
        for (pname, p) in &file.profiles {
            for (vname, v) in &p.vars {
                if !valid_name(vname) {
                    return Err(EnvError::Config {
                        path: name.clone(),
                        message: format!(
                            "line {}: {vname:?} in profiles.{pname:?}.vars is not a variable name (letters, digits and _, not starting with a digit)",
                            line_of(&text, v.span().start)
                        ),
                    });
                }
                let value = match v.get_ref() {
                    VarDef::Value(s) => Some(s),
                    VarDef::Full(f) => f.value.as_ref(),
                };
                // An environment cannot hold a NUL: `run` could not start the program and
                // `env` would print what no shell can hold.
                if value.is_some_and(|s| s.contains('\0')) {
                    return Err(EnvError::Config {
                        path: name.clone(),
                        message: format!(
                            "line {}: the value of {vname} in profiles.{pname:?}.vars holds a NUL byte, which no environment variable can hold",
                            line_of(&text, v.span().start)
                        ),
                    });
                }
                if let VarDef::Full(f) = v.get_ref() {
                    if f.unset == f.value.is_some() {
                        return Err(EnvError::Config {
                            path: name.clone(),
                            message: format!(
                                "line {}: profiles.{pname}.vars.{vname} needs exactly one of value = \"...\" or unset = true",
                                line_of(&text, v.span().start)
                            ),
                        });
                    }
                }
            }
        }
        let line_starts = std::iter::once(0).chain(memchr_lines(&text)).collect();
        Ok(Layer {
            name,
            builtin,
            line_starts,
            file,
        })
    }

    pub(crate) fn source(&self, profile: &str, offset: usize) -> String {
        if self.builtin {
            format!("built-in profile {profile}")
        } else {
            format!(
                "{}:{}",
                self.name,
                self.line_starts.partition_point(|&s| s <= offset)
            )
        }
    }
}

/// Offsets just after each newline.
fn memchr_lines(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.bytes()
        .enumerate()
        .filter(|&(_, b)| b == b'\n')
        .map(|(i, _)| i + 1)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The configuration files, lowest precedence first: system, user, project.
pub fn config_paths(o: &Options, root: &rp_machine::SysRoot) -> Vec<PathBuf> {
    let mut v = vec![root.host("/etc/rocm-patch/config.toml")];
    let xdg = o
        .env
        .get("XDG_CONFIG_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| o.env.get("HOME").map(|h| Path::new(h).join(".config")));
    if let Some(x) = xdg {
        v.push(x.join("rocm-patch/config.toml"));
    }
    v.push(o.cwd.join("rocm-patch.toml"));
    v
}

fn layers(o: &Options) -> Result<Vec<Layer>, EnvError> {
    layers_and_notices(o).map(|(l, _)| l)
}

/// The layers, and a notice for each project file left out because it is not trusted.
pub(crate) fn layers_and_notices(o: &Options) -> Result<(Vec<Layer>, Vec<String>), EnvError> {
    let mut out = vec![Layer::parse(
        "built-in".into(),
        true,
        rp_kb::PROFILES_TOML.to_string(),
    )?];
    let mut notices = Vec::new();
    let root = rp_machine::SysRoot::open(&o.sysroot, o.timeout)?;
    let project = o.cwd.join("rocm-patch.toml");
    for p in config_paths(o, &root) {
        match root.read_text(&p, MAX_CONFIG) {
            Ok(text) if p == project && !trust::is_trusted(o.trust_store.as_deref(), &p, &text) => {
                notices.push(format!(
                    "{} is ignored: a project's config can set variables that load code, so it is used only once you trust it (`rocm-patch trust {}`; again after every change)",
                    p.display(),
                    o.cwd.display()
                ));
            }
            Ok(text) => out.push(Layer::parse(p.display().to_string(), false, text)?),
            Err(rp_machine::ReadError::NotFound) => {}
            Err(e) => {
                return Err(EnvError::Config {
                    path: p.display().to_string(),
                    message: match e {
                        rp_machine::ReadError::Io(m) => m,
                        rp_machine::ReadError::Timeout => "the read did not finish in time".into(),
                        rp_machine::ReadError::NotFound => unreachable!(),
                    },
                })
            }
        }
    }
    Ok((out, notices))
}

/// Every profile name known to the layers, with its description.
pub fn list(o: &Options) -> Result<Vec<(String, String)>, EnvError> {
    Ok(profiles(&layers(o)?))
}

pub(crate) fn profiles(ls: &[Layer]) -> Vec<(String, String)> {
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    for l in ls {
        for (n, p) in &l.file.profiles {
            let e = m.entry(n.clone()).or_default();
            if let Some(d) = &p.description {
                *e = d.clone();
            }
        }
    }
    m.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse_and_carry_refs() {
        let l = Layer::parse("built-in".into(), true, rp_kb::PROFILES_TOML.into()).unwrap();
        for name in ["native", "safe", "debug", "legacy-rdna1-override"] {
            let p = &l.file.profiles[name];
            for (k, v) in &p.vars {
                match v.get_ref() {
                    VarDef::Full(f) => {
                        assert!(f.reference.is_some() && f.reason.is_some(), "{name}.{k}")
                    }
                    VarDef::Value(_) => panic!("{name}.{k} needs a reason and a ref"),
                }
            }
        }
    }

    #[test]
    fn line_numbers() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
    }
}
