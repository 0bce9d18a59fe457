//! Resolution: the profile's extends chain, its variables layer over layer, each against
//! the user's environment (with warnings), and the changes `run` applies.

use crate::layers::{layers_and_notices, profiles, Layer, ProfileDef, VarDef};
use crate::rules::{gpu_rules, harm};
use crate::{valid_name, EnvError, Options, CODE_LOADING, DEFAULT_PROFILE};
use rp_report::{EnvReport, Gpu, ResolvedVar, VarAction, Vendor, SCHEMA};
use std::collections::BTreeMap;

/// A variable a profile sets, with why and where from.
pub(crate) struct Var {
    pub(crate) value: Option<String>,
    pub(crate) reason: String,
    pub(crate) reference: String,
    pub(crate) source: String,
}

fn cache_dir(env: &BTreeMap<String, String>) -> String {
    env.get("XDG_CACHE_HOME")
        .filter(|s| !s.is_empty())
        .cloned()
        .or_else(|| env.get("HOME").map(|h| format!("{h}/.cache")))
        .unwrap_or_else(|| "/tmp".into())
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
