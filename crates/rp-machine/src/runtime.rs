//! What the environment does to each GPU: overrides and device visibility
//! (ROCR-Runtime libhsakmt topology.c; HIP/ROCm GPU isolation docs; docs/rdna1.md).

use rp_kb::OverrideCompat;
use rp_report::{EnvVarReport, Environment, Gpu, RuntimeView, Vendor};
use std::collections::BTreeMap;

/// Variable name prefixes reported even when the knowledge base has no entry.
pub(crate) const REPORT_PREFIXES: [&str; 8] = [
    "ROCM_KPACK_",
    "HSA_",
    "HIP_",
    "ROCR_",
    "MIOPEN_",
    "ROCBLAS_",
    "HIPBLASLT_",
    "TENSILE_",
];

/// The override in force for a KFD node: the per-node variable wins over the global one
/// (libhsakmt topology.c).
pub fn override_for(env: &BTreeMap<String, String>, node: u32) -> Option<(String, String)> {
    let per = format!("HSA_OVERRIDE_GFX_VERSION_{node}");
    env.get(&per).map(|v| (per.clone(), v.clone())).or_else(|| {
        env.get("HSA_OVERRIDE_GFX_VERSION")
            .map(|v| ("HSA_OVERRIDE_GFX_VERSION".to_string(), v.clone()))
    })
}

/// Parse a visibility list: indices, or `GPU-<hex>` UUIDs matched against `uuids`.
/// Parsing stops at the first entry that names no device, as the runtimes do (HIP docs,
/// GPU isolation: devices after an invalid index are ignored).
fn visible_list(value: &str, count: usize, uuids: &[Option<String>]) -> Vec<usize> {
    let mut out = Vec::new();
    for tok in value.split(',').map(str::trim) {
        let idx = if let Ok(i) = tok.parse::<usize>() {
            (i < count).then_some(i)
        } else {
            uuids
                .iter()
                .position(|u| u.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(tok)))
        };
        match idx {
            Some(i) if !out.contains(&i) => out.push(i),
            Some(_) => {}
            None => break,
        }
    }
    out
}

/// Fill each AMD KFD GPU's [`RuntimeView`].
pub fn apply(gpus: &mut [Gpu], unique_ids: &BTreeMap<u32, u64>, env: &BTreeMap<String, String>) {
    let kfd: Vec<usize> = (0..gpus.len())
        .filter(|&i| gpus[i].vendor == Vendor::Amd && gpus[i].node.is_some())
        .collect();
    let uuids: Vec<Option<String>> = kfd
        .iter()
        .map(|&i| {
            unique_ids
                .get(&gpus[i].node.unwrap_or(0))
                .map(|u| format!("GPU-{u:016x}"))
        })
        .collect();
    // ROCr enumerates GPU agents in KFD node order; HIP indexes what ROCr exposes.
    let mut order: Vec<usize> = (0..kfd.len()).collect();
    let mut hidden_by: Vec<Option<String>> = vec![None; kfd.len()];
    if let Some(v) = env.get("ROCR_VISIBLE_DEVICES") {
        let vis = visible_list(v, kfd.len(), &uuids);
        for (k, h) in hidden_by.iter_mut().enumerate() {
            if !vis.contains(&k) {
                *h = Some(format!("ROCR_VISIBLE_DEVICES={v}"));
            }
        }
        order = vis;
    }
    let hip_var = ["HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"]
        .into_iter()
        .find(|k| env.contains_key(*k));
    if let Some(k) = hip_var {
        let v = &env[k];
        let sub_uuids: Vec<Option<String>> = order.iter().map(|&i| uuids[i].clone()).collect();
        let vis = visible_list(v, order.len(), &sub_uuids);
        let kept: Vec<usize> = vis.iter().map(|&j| order[j]).collect();
        for &i in &order {
            if !kept.contains(&i) {
                hidden_by[i] = Some(format!("{k}={v}"));
            }
        }
        order = kept;
    }
    for (k, &gi) in kfd.iter().enumerate() {
        let g = &mut gpus[gi];
        let native = g.gfx_target.clone().unwrap_or_else(|| "unknown".into());
        let node = g.node.unwrap_or(0);
        let (isa, override_var) = match override_for(env, node) {
            Some((var, val)) => {
                match rp_kb::GfxVersion::parse_override(&val).and_then(rp_kb::GfxVersion::gfx_name)
                {
                    Some(isa) => (isa, Some(var)),
                    None => (native.clone(), Some(var)),
                }
            }
            None => (native.clone(), None),
        };
        let device_index = order.iter().position(|&x| x == k).map(|p| p as u32);
        g.runtime = Some(RuntimeView {
            isa,
            override_var,
            visible: device_index.is_some(),
            hidden_by: hidden_by[k].clone(),
            device_index,
        });
    }
}

fn gpu_label(g: &Gpu) -> String {
    format!(
        "node {} {} ({})",
        g.node.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
        g.name,
        g.gfx_target.as_deref().unwrap_or("unknown target")
    )
}

/// Report the GPU-related variables that are set and what each does to each GPU.
pub fn report(gpus: &[Gpu], env: &BTreeMap<String, String>) -> Environment {
    let kb = rp_kb::kb();
    let amd: Vec<&Gpu> = gpus
        .iter()
        .filter(|g| g.vendor == Vendor::Amd && g.node.is_some())
        .collect();
    let mut variables = Vec::new();
    for (name, value) in env {
        let known = kb.env_var(name);
        if known.is_none() && !REPORT_PREFIXES.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let mut effects = Vec::new();
        match known.map(|k| k.kind.as_str()) {
            Some("override") | Some("override-node") => {
                let target =
                    rp_kb::GfxVersion::parse_override(value).and_then(rp_kb::GfxVersion::gfx_name);
                let affected: Vec<&&Gpu> = amd
                    .iter()
                    .filter(|g| {
                        g.runtime.as_ref().and_then(|r| r.override_var.as_deref())
                            == Some(name.as_str())
                    })
                    .collect();
                if target.is_none() {
                    effects.push(format!(
                        "invalid value: the runtime fails to start ({value:?} is not major.minor.stepping)"
                    ));
                } else if affected.is_empty() {
                    effects.push(if name == "HSA_OVERRIDE_GFX_VERSION" {
                        "no effect: every GPU has its own per-node override, or there is no AMD GPU"
                            .into()
                    } else {
                        "no effect: no KFD GPU node has this id".into()
                    });
                }
                if let Some(t) = &target {
                    for g in affected {
                        let own = g.gfx_target.as_deref().unwrap_or("unknown");
                        let verdict = match kb.override_compat(own, t) {
                            OverrideCompat::Same => "its own target: no change".to_string(),
                            OverrideCompat::Equivalent(_) => {
                                format!("runs {t} code, which {own} executes correctly")
                            }
                            OverrideCompat::Risky(r) => format!(
                                "runs {t} code: risky ({})",
                                r.caveat.as_deref().unwrap_or("documented failures")
                            ),
                            OverrideCompat::Foreign => {
                                format!("runs {t} code that {own} cannot execute (foreign ISA)")
                            }
                        };
                        effects.push(format!("{}: reported as {t}; {verdict}", gpu_label(g)));
                    }
                }
            }
            Some("visible-rocr") | Some("visible-hip") => {
                for g in &amd {
                    let Some(r) = &g.runtime else { continue };
                    let e = match (&r.hidden_by, r.device_index) {
                        (Some(h), _) if h.starts_with(&format!("{name}=")) => "hidden".to_string(),
                        (Some(h), _) => format!("hidden (by {h})"),
                        (None, Some(i)) => format!("visible as device {i}"),
                        (None, None) => "hidden".to_string(),
                    };
                    effects.push(format!("{}: {e}", gpu_label(g)));
                }
            }
            Some("info") if name == "HSA_XNACK" => {
                for g in &amd {
                    let has = g
                        .gfx_target
                        .as_deref()
                        .and_then(|t| kb.processor(t))
                        .is_some_and(|p| matches!(p, rp_kb::Processor::Specific(t) if t.xnack));
                    if !has {
                        effects.push(format!("{}: no XNACK, no effect", gpu_label(g)));
                    }
                }
            }
            _ => {}
        }
        variables.push(EnvVarReport {
            name: name.clone(),
            value: value.clone(),
            meaning: known
                .map(|k| k.effect.clone())
                .unwrap_or_else(|| "not in the knowledge base".into()),
            effects,
            reference: known.map(|k| k.reference.clone()).unwrap_or_default(),
        });
    }
    Environment {
        variables,
        set_in_files: Vec::new(),
        unread_files: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_lists() {
        let u = vec![Some("GPU-00000000000000aa".to_string()), None];
        assert_eq!(visible_list("1,0", 2, &u), [1, 0]);
        assert_eq!(visible_list("0,5,1", 2, &u), [0]);
        assert_eq!(visible_list("GPU-00000000000000AA", 2, &u), [0]);
        assert!(visible_list("", 2, &u).is_empty());
        assert!(visible_list("-1", 2, &u).is_empty());
    }
}
