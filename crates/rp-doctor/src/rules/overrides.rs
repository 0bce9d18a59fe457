//! The runtime's gfx overrides in force: invalid, foreign to the GPU, risky, or
//! unneeded.

use rp_kb::OverrideCompat;
use rp_machine::MachineSnapshot;
use rp_report::{Finding, FixStep, Gpu, PythonEnv, TorchBuild, TorchInstall};

use super::fix::{native_stack_fix, where_set};
use super::{mk, node_subject};

/// The gfx overrides in force, GPU by GPU: an invalid value, code the GPU cannot
/// execute, code it runs with caveats, or an override nothing here needs.
pub(super) fn override_findings(m: &MachineSnapshot, python: &[PythonEnv], out: &mut Vec<Finding>) {
    let kb = rp_kb::kb();
    let env = &m.env;
    let gpus: Vec<&Gpu> = m.kfd_gpus().collect();
    let mut invalid_reported = std::collections::HashSet::new();
    for g in &gpus {
        let Some(rt) = &g.runtime else { continue };
        let Some(var) = &rt.override_var else {
            continue;
        };
        let value = env.get(var).cloned().unwrap_or_default();
        let own = g.gfx_target.as_deref().unwrap_or("unknown");
        if rp_kb::GfxVersion::parse_override(&value).is_none() {
            if invalid_reported.insert(var.clone()) {
                out.push(mk(
                    "override-invalid",
                    &[("var", var), ("value", &value)],
                    vec![FixStep::run(format!("unset {var}"))],
                    None,
                ));
            }
            continue;
        }
        let code = rt.isa.as_str();
        let node = g.node.unwrap_or(0).to_string();
        let base = [
            ("var", var.as_str()),
            ("value", value.as_str()),
            ("gpu", own),
            ("gpu_name", g.name.as_str()),
            ("code", code),
            ("node", node.as_str()),
        ];
        let with = |k: &'static str, v: &str| -> Vec<(&str, String)> {
            base.iter()
                .map(|(a, b)| (*a, b.to_string()))
                .chain([(k, v.to_string())])
                .collect()
        };
        let finding = |id: &str, vars: &[(&str, String)], fix: Vec<FixStep>| {
            let refs: Vec<(&str, &str)> = vars.iter().map(|(k, s)| (*k, s.as_str())).collect();
            mk(id, &refs, fix, node_subject(g))
        };
        match kb.override_compat(own, code) {
            OverrideCompat::Foreign => {
                let mut fix = vec![FixStep::run(format!("unset {var}"))];
                let others: Vec<&&Gpu> = gpus
                    .iter()
                    .filter(|o| o.node != g.node)
                    .filter(|o| {
                        o.runtime.as_ref().and_then(|x| x.override_var.as_deref())
                            == Some(var.as_str())
                    })
                    .collect();
                let helped: Vec<&&&Gpu> = others
                    .iter()
                    .filter(|o| {
                        matches!(
                            kb.override_compat(o.gfx_target.as_deref().unwrap_or(""), code),
                            OverrideCompat::Equivalent(_) | OverrideCompat::Risky(_)
                        )
                    })
                    .collect();
                if var == "HSA_OVERRIDE_GFX_VERSION" && !helped.is_empty() {
                    for o in &helped {
                        fix.push(FixStep::run_because(
                            format!(
                                "export HSA_OVERRIDE_GFX_VERSION_{}={value}",
                                o.node.unwrap_or(0)
                            ),
                            format!(
                                "only node {} ({})",
                                o.node.unwrap_or(0),
                                o.gfx_target.as_deref().unwrap_or("")
                            ),
                        ));
                    }
                    let keep: Vec<String> = gpus
                        .iter()
                        .enumerate()
                        .filter(|(_, o)| o.node != g.node)
                        .map(|(i, _)| i.to_string())
                        .collect();
                    fix.push(FixStep::instead(
                        Some(format!("export ROCR_VISIBLE_DEVICES={}", keep.join(","))),
                        format!(
                            "keep the override and hide node {} from ROCm",
                            g.node.unwrap_or(0)
                        ),
                    ));
                } else {
                    fix.extend(where_set(m, var));
                }
                fix.extend(native_stack_fix(m, own));
                out.push(mk("override-foreign-isa", &base, fix, node_subject(g)));
            }
            OverrideCompat::Risky(runs) => {
                let v = with("caveat", runs.caveat.as_deref().unwrap_or_default());
                let mut f = finding("override-risky", &v, native_stack_fix(m, own));
                f.reference = runs.reference.clone();
                out.push(f);
            }
            OverrideCompat::Same => {
                let reason =
                    format!("{value} is {own}'s own target, so the override changes nothing.");
                let v = with("reason", &reason);
                out.push(finding(
                    "override-unneeded",
                    &v,
                    vec![FixStep::run(format!("unset {var}"))],
                ));
            }
            OverrideCompat::Equivalent(_) => {
                // Unneeded when every ROCm torch here already carries native code.
                let torches: Vec<&TorchInstall> = python
                    .iter()
                    .filter_map(|p| p.torch.as_ref())
                    .filter(|t| t.build == TorchBuild::Rocm)
                    .collect();
                let native = !torches.is_empty()
                    && torches.iter().all(|t| t.targets.iter().any(|x| x == own));
                if native {
                    let reason = format!("Every ROCm torch found here already carries {own} code.");
                    let v = with("reason", &reason);
                    out.push(finding(
                        "override-unneeded",
                        &v,
                        vec![FixStep::run(format!("unset {var}"))],
                    ));
                }
            }
        }
    }
}
