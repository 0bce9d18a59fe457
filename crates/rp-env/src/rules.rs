//! The `native` rules: variables derived from the machine's GPUs, and which exported
//! overrides are an error on them.

use crate::resolve::Var;
use rp_report::{Gpu, Vendor};

/// Per-GPU variables of the `native` rules (knowledge-base driven): a per-device override
/// only for GPUs with no native stack that run another target's code correctly, and
/// ROCR_VISIBLE_DEVICES hiding integrated GPUs next to discrete ones.
pub(crate) fn gpu_rules(gpus: &[Gpu]) -> Vec<(String, Var)> {
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
pub(crate) fn harm(gpus: &[Gpu], name: &str, value: &str) -> Option<String> {
    let list: Vec<(u32, &str)> = gpus
        .iter()
        .filter(|g| g.vendor == Vendor::Amd)
        .filter_map(|g| Some((g.node?, g.gfx_target.as_deref()?)))
        .collect();
    rp_kb::kb().override_harm(&list, name, value)
}
