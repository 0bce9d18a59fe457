//! Environment profiles: named sets of variables, each with a reason and a `ref`, layered
//! from the built-in knowledge base, /etc/rocm-patch/config.toml,
//! $XDG_CONFIG_HOME/rocm-patch/config.toml, ./rocm-patch.toml and the command line, and
//! resolved against the machine's GPUs. Nothing here prints or runs anything.
#![deny(missing_docs)]

use rp_report::{EnvReport, Gpu, ResolvedVar, VarAction, Vendor, SCHEMA};

/// Largest configuration file read.
const MAX_CONFIG: u64 = 4 << 20;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

pub mod trust;
pub mod write;

/// Variables that make a program load code from where they point (ld.so(8), python(1)).
pub const CODE_LOADING: [&str; 8] = [
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "BASH_ENV",
];

/// The default profile.
pub const DEFAULT_PROFILE: &str = "native";

/// Why a resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A config file does not parse; the message names the line.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// No such profile.
    #[error("unknown profile {name:?}; known profiles: {}", known.join(", "))]
    UnknownProfile {
        /// What was asked for.
        name: String,
        /// What exists.
        known: Vec<String>,
    },
    /// `extends` loops.
    #[error("profile {0:?} extends itself (through {1})")]
    Cycle(String, String),
    /// A profile that is known to crash, without the acknowledgement flag.
    #[error("profile {profile:?} is only applied with --i-know-this-crashes: {why}")]
    Dangerous {
        /// The profile.
        profile: String,
        /// Why it crashes.
        why: String,
    },
    /// `--set` without `=`, or with a name no shell can set.
    #[error("--set {0:?}: expected NAME=VALUE, NAME of letters, digits and _, not starting with a digit")]
    BadSet(String),
    /// The machine could not be read.
    #[error(transparent)]
    Machine(#[from] rp_machine::MachineError),
    /// The sysroot is not a directory.
    #[error(transparent)]
    Root(#[from] rp_machine::RootError),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    profile: Option<Spanned<String>>,
    #[serde(default)]
    profiles: BTreeMap<String, ProfileDef>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct ProfileDef {
    extends: Option<String>,
    description: Option<String>,
    #[serde(default)]
    gpu_rules: bool,
    dangerous: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, Spanned<VarDef>>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
enum VarDef {
    Value(String),
    Full(FullVar),
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct FullVar {
    value: Option<String>,
    #[serde(default)]
    unset: bool,
    reason: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
}

/// One configuration layer.
struct Layer {
    /// `built-in` or the file path.
    name: String,
    builtin: bool,
    /// Offsets where lines start (line numbers for `source`, in O(log n) each).
    line_starts: Vec<usize>,
    file: ConfigFile,
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

    fn source(&self, profile: &str, offset: usize) -> String {
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

/// A name a shell can set: `[A-Za-z_][A-Za-z0-9_]*` (POSIX "Name"; fish accepts the same).
pub fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// A profile name `write` accepts: letters, digits, `-`, `_`, `.` and `+`.
pub fn valid_profile_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
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

/// What to resolve.
#[derive(Debug, Clone)]
pub struct Options {
    /// Root of the machine.
    pub sysroot: PathBuf,
    /// The user's environment.
    pub env: BTreeMap<String, String>,
    /// Directory holding the project config (`rocm-patch.toml`).
    pub cwd: PathBuf,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--set NAME=VALUE`, in order.
    pub sets: Vec<String>,
    /// Apply the profile over variables the user exported.
    pub force: bool,
    /// Keep an exported override even when it is an error on this machine.
    pub keep_env: bool,
    /// Allow a dangerous profile.
    pub i_know_this_crashes: bool,
    /// Deadline of one sysfs read.
    pub timeout: Duration,
    /// The record of trusted project files (`rocm-patch trust`); none: nothing trusted.
    pub trust_store: Option<PathBuf>,
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
fn layers_and_notices(o: &Options) -> Result<(Vec<Layer>, Vec<String>), EnvError> {
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

fn profiles(ls: &[Layer]) -> Vec<(String, String)> {
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

struct Var {
    value: Option<String>,
    reason: String,
    reference: String,
    source: String,
}

fn cache_dir(env: &BTreeMap<String, String>) -> String {
    env.get("XDG_CACHE_HOME")
        .filter(|s| !s.is_empty())
        .cloned()
        .or_else(|| env.get("HOME").map(|h| format!("{h}/.cache")))
        .unwrap_or_else(|| "/tmp".into())
}

/// Per-GPU variables of the `native` rules (knowledge-base driven): a per-device override
/// only for GPUs with no native stack that run another target's code correctly, and
/// ROCR_VISIBLE_DEVICES hiding integrated GPUs next to discrete ones.
fn gpu_rules(gpus: &[Gpu]) -> Vec<(String, Var)> {
    let kb = rp_kb::kb();
    let amd: Vec<&Gpu> = gpus
        .iter()
        .filter(|g| g.vendor == Vendor::Amd && g.node.is_some() && g.gfx_target.is_some())
        .collect();
    let mut out = Vec::new();
    for g in &amd {
        let t = g.gfx_target.as_deref().unwrap_or_default();
        let node = g.node.unwrap_or(0);
        let has_native = kb.stacks_for(t).iter().any(|s| s.id != "source");
        if has_native {
            continue;
        }
        if let Some(runs) = kb.equivalent_code(t) {
            let Some(rp_kb::Processor::Specific(code)) = kb.processor(&runs.code) else {
                continue;
            };
            let v = rp_kb::GfxVersion::from_kfd(code.gfx_target_version);
            out.push((
                format!("HSA_OVERRIDE_GFX_VERSION_{node}"),
                Var {
                    value: Some(v.to_string()),
                    reason: format!(
                        "node {node} ({t}) has no native builds; it runs {} code correctly",
                        runs.code
                    ),
                    reference: runs.reference.clone(),
                    source: format!("machine: node {node} {t}"),
                },
            ));
        }
    }
    let igpus: Vec<&&Gpu> = amd.iter().filter(|g| g.apu).collect();
    let dgpus: Vec<usize> = amd
        .iter()
        .enumerate()
        .filter(|(_, g)| !g.apu)
        .map(|(i, _)| i)
        .collect();
    if !igpus.is_empty() && !dgpus.is_empty() {
        let hidden: Vec<String> = igpus
            .iter()
            .map(|g| {
                format!(
                    "node {} ({})",
                    g.node.unwrap_or(0),
                    g.gfx_target.as_deref().unwrap_or("")
                )
            })
            .collect();
        out.push((
            "ROCR_VISIBLE_DEVICES".into(),
            Var {
                value: Some(
                    dgpus
                        .iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                reason: format!(
                    "hide the integrated GPU {} so device 0 is the discrete GPU",
                    hidden.join(", ")
                ),
                reference: "ROCm GPU isolation docs; ROCm/legacy-rocm-build#6137 (docs/rdna1.md)"
                    .into(),
                source: format!("machine: {}", hidden.join(", ")),
            },
        ));
    }
    out
}

/// Why an exported override is an error on this machine, if it is.
fn harm(gpus: &[Gpu], name: &str, value: &str) -> Option<String> {
    let list: Vec<(u32, &str)> = gpus
        .iter()
        .filter(|g| g.vendor == Vendor::Amd)
        .filter_map(|g| Some((g.node?, g.gfx_target.as_deref()?)))
        .collect();
    rp_kb::kb().override_harm(&list, name, value)
}

/// The extends chain of `profile`, base first.
fn extends_chain(ls: &[Layer], profile: &str, known: &[String]) -> Result<Vec<String>, EnvError> {
    let mut chain = vec![profile.to_string()];
    loop {
        let cur = chain.last().expect("non-empty").clone();
        if !known.contains(&cur) {
            return Err(EnvError::UnknownProfile {
                name: cur,
                known: known.to_vec(),
            });
        }
        let parent = ls
            .iter()
            .rev()
            .find_map(|l| l.file.profiles.get(&cur).and_then(|p| p.extends.clone()));
        match parent {
            Some(p) if chain.contains(&p) => {
                return Err(EnvError::Cycle(p, chain.join(" -> ")));
            }
            Some(p) => chain.push(p),
            None => break,
        }
    }
    chain.reverse();
    Ok(chain)
}

/// The variables the chain's profiles set, layer over layer (and the GPU rules where a
/// profile asks for them).
fn profile_vars(
    ls: &[Layer],
    chain: &[String],
    gpus: &[Gpu],
    cache: &str,
) -> BTreeMap<String, Var> {
    let mut vars: BTreeMap<String, Var> = BTreeMap::new();
    for name in chain {
        for l in ls {
            let Some(p) = l.file.profiles.get(name) else {
                continue;
            };
            for (k, v) in &p.vars {
                let (value, reason, reference) = match v.get_ref() {
                    VarDef::Value(s) => (Some(s.clone()), None, None),
                    VarDef::Full(f) => (
                        f.value.clone().filter(|_| !f.unset),
                        f.reason.clone(),
                        f.reference.clone(),
                    ),
                };
                let source = l.source(name, v.span().start);
                vars.insert(
                    k.clone(),
                    Var {
                        value: value.map(|s| rp_kb::fill(&s, &[("cache", cache)])),
                        reason: reason.unwrap_or_else(|| format!("set in {source}")),
                        reference: reference.unwrap_or_else(|| source.clone()),
                        source,
                    },
                );
            }
        }
        if ls
            .iter()
            .any(|l| l.file.profiles.get(name).is_some_and(|p| p.gpu_rules))
        {
            for (k, v) in gpu_rules(gpus) {
                vars.insert(k, v);
            }
        }
    }
    vars
}

/// Each variable against the user's environment: kept, replaced (`--force`) or not
/// kept (a harmful override), with a warning each time they differ.
fn against_environment(
    vars: BTreeMap<String, Var>,
    o: &Options,
    gpus: &[Gpu],
    warnings: &mut Vec<String>,
) -> Vec<ResolvedVar> {
    let mut out = Vec::new();
    for (name, v) in vars {
        let user = o.env.get(&name).cloned();
        let mut action = if v.value.is_some() {
            VarAction::Set
        } else {
            VarAction::Unset
        };
        match (&user, &v.value) {
            (Some(u), Some(val)) if u == val => {}
            (None, None) => {}
            (Some(u), _) if !o.keep_env && harm(gpus, &name, u).is_some() => {
                warnings.push(format!(
                    "{name}={u} from your environment is not kept: {} (docs/rdna1.md); --keep-env keeps it",
                    harm(gpus, &name, u).unwrap_or_default()
                ));
            }
            (Some(u), _) if !o.force => {
                action = VarAction::Kept;
                warnings.push(format!(
                    "{name}={u} from your environment wins over {} ({}); `env`/`run --force` applies the profile",
                    v.source,
                    v.value
                        .as_deref()
                        .map(|x| format!("{name}={x}"))
                        .unwrap_or_else(|| format!("unset {name}"))
                ));
            }
            (Some(u), _) => warnings.push(format!(
                "{name}={u} from your environment is replaced (--force)"
            )),
            _ => {}
        }
        out.push(ResolvedVar {
            name,
            value: if action == VarAction::Kept {
                user.clone()
            } else {
                v.value
            },
            action,
            reason: v.reason,
            reference: v.reference,
            source: v.source,
            user_value: user,
        });
    }
    out
}

/// What is said out loud: code-loading variables set by a config file, and the kpack
/// loader's variables inherited from the environment.
fn loud_warnings(out: &[ResolvedVar], o: &Options, warnings: &mut Vec<String>) {
    // Variables that make programs load code, from a config file: said out loud.
    for v in out {
        if v.action == VarAction::Set
            && CODE_LOADING.contains(&v.name.as_str())
            && !v.source.starts_with("built-in")
        {
            warnings.push(format!(
                "{} is set by {}: every program run with this profile loads code from {}",
                v.name,
                v.source,
                v.value.as_deref().unwrap_or_default()
            ));
        }
    }
    // The kpack loader's variables, inherited: they decide where (and whether) TheRock's
    // GPU code is read (rocm-kpack runtime/src/loader.cpp).
    let kpack = [
        ("ROCM_KPACK_DISABLE", "the HIP runtime loads no kpack'd GPU code (TheRock's torch and ROCm wheels keep all of theirs in kpack archives)"),
        ("ROCM_KPACK_PATH", "kpack'd libraries read GPU code only from these archives, not from the .kpack/ directories beside them"),
        ("ROCM_KPACK_PATH_PREFIX", "these archives are searched before the .kpack/ directories beside each library"),
        ("ROCM_KPACK_DEBUG", "the kpack loader logs every archive and kernel lookup to stderr"),
    ];
    for (name, effect) in kpack {
        if let Some(v) = o.env.get(name).filter(|v| !v.is_empty()) {
            if name == "ROCM_KPACK_DISABLE" && v.starts_with('0') {
                continue;
            }
            warnings.push(format!("{name}={v} is set in your environment: {effect}"));
        }
    }
}

/// Resolve a profile for the machine and environment.
pub fn resolve(o: &Options) -> Result<EnvReport, EnvError> {
    let (ls, notices) = layers_and_notices(o)?;
    // The profile: command line, else the highest layer naming one, else the default.
    let (profile, profile_source) = match &o.profile {
        Some(p) => (p.clone(), "command line".to_string()),
        None => ls
            .iter()
            .rev()
            .find_map(|l| {
                l.file
                    .profile
                    .as_ref()
                    .map(|p| (p.get_ref().clone(), l.source("", p.span().start)))
            })
            .unwrap_or_else(|| (DEFAULT_PROFILE.to_string(), "default".to_string())),
    };
    let known: Vec<String> = profiles(&ls).into_iter().map(|(n, _)| n).collect();
    let chain = extends_chain(&ls, &profile, &known)?;
    let def = |name: &str, f: &dyn Fn(&ProfileDef) -> Option<String>| {
        ls.iter()
            .rev()
            .find_map(|l| l.file.profiles.get(name).and_then(f))
    };
    let dangerous = def(&profile, &|p| p.dangerous.clone());
    let mut warnings = notices;
    if let Some(why) = &dangerous {
        if !o.i_know_this_crashes {
            return Err(EnvError::Dangerous {
                profile,
                why: why.clone(),
            });
        }
        warnings.push(format!("profile {profile} is known to crash: {why}"));
    }
    let description = def(&profile, &|p| p.description.clone()).unwrap_or_default();
    // The GPUs as the hardware reports them (no environment applied): the report lists
    // them, and profiles with gpu_rules derive variables from them.
    let root = rp_machine::SysRoot::open(&o.sysroot, o.timeout)?;
    let gpus = rp_machine::snapshot(
        &root,
        &rp_machine::Options {
            cwd: o.cwd.clone(),
            ..Default::default()
        },
    )?
    .gpus;
    let cache = cache_dir(&o.env);
    let mut vars = profile_vars(&ls, &chain, &gpus, &cache);
    for s in &o.sets {
        let (k, v) = s
            .split_once('=')
            .filter(|(k, _)| valid_name(k))
            .ok_or_else(|| EnvError::BadSet(s.clone()))?;
        vars.insert(
            k.to_string(),
            Var {
                value: Some(v.to_string()),
                reason: "given with --set".into(),
                reference: "command line".into(),
                source: "command line".into(),
            },
        );
    }
    let out = against_environment(vars, o, &gpus, &mut warnings);
    loud_warnings(&out, o, &mut warnings);
    Ok(EnvReport {
        schema: SCHEMA,
        profile,
        profile_source,
        description,
        gpus: gpus
            .iter()
            .filter(|g| g.vendor == Vendor::Amd)
            .map(|g| {
                format!(
                    "node {} {} ({})",
                    g.node.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
                    g.gfx_target.as_deref().unwrap_or("unknown"),
                    g.name
                )
            })
            .collect(),
        vars: out,
        warnings,
    })
}

/// The changes a resolution makes to a process environment: (name, Some(value)) to set,
/// (name, None) to unset. Kept variables are left alone.
pub fn changes(r: &EnvReport) -> Vec<(String, Option<String>)> {
    r.vars
        .iter()
        .filter(|v| v.action != VarAction::Kept)
        .filter(|v| !(v.action == VarAction::Unset && v.user_value.is_none()))
        .filter(|v| !(v.action == VarAction::Set && v.user_value.as_deref() == v.value.as_deref()))
        .map(|v| (v.name.clone(), v.value.clone()))
        .collect()
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
