//! The kpack loader's environment variables.

use rp_machine::MachineSnapshot;
use rp_report::{Finding, FixStep, PythonEnv};

use super::fix::where_set;
use super::mk;

/// The kpack loader's variables (rocm-kpack `runtime/src/loader.cpp`): disabled, or
/// archives searched elsewhere than beside each library.
pub(super) fn kpack_env_findings(
    m: &MachineSnapshot,
    python: &[PythonEnv],
    out: &mut Vec<Finding>,
) {
    let env = rp_inspect::KpackEnv::from_vars(|k| m.env.get(k).cloned());
    let kpackd: Vec<&str> = python
        .iter()
        .filter_map(|p| p.torch.as_ref())
        .flat_map(|t| t.kpack_libraries.iter().map(String::as_str))
        .collect();
    if env.disabled {
        let value = m.env.get("ROCM_KPACK_DISABLE").cloned().unwrap_or_default();
        let libraries = if kpackd.is_empty() {
            String::new()
        } else {
            format!(" (here: {})", kpackd.join(", "))
        };
        let mut fix = vec![FixStep::run("unset ROCM_KPACK_DISABLE")];
        fix.extend(where_set(m, "ROCM_KPACK_DISABLE"));
        out.push(mk(
            "kpack-disabled",
            &[("value", &value), ("libraries", &libraries)],
            fix,
            None,
        ));
    }
    for (var, effect) in [
        (
            "ROCM_KPACK_PATH",
            "reads kpack'd GPU code only from the archives it names",
        ),
        (
            "ROCM_KPACK_PATH_PREFIX",
            "searches the archives it names before those beside each library",
        ),
    ] {
        let Some(value) = m.env.get(var).filter(|v| !v.is_empty()) else {
            continue;
        };
        let detail = if kpackd.is_empty() {
            String::new()
        } else {
            format!(" for {}", kpackd.join(", "))
        };
        let mut fix = vec![FixStep::run_because(
            format!("unset {var}"),
            "unless you put those archives there on purpose",
        )];
        fix.extend(where_set(m, var));
        fix.push(FixStep::run_because(
            "ROCM_KPACK_DEBUG=1 python3 -c 'import torch; torch.ones(1, device=\"cuda\")'",
            "the loader then logs each archive it opens and each kernel it looks up",
        ));
        out.push(mk(
            "kpack-path-set",
            &[
                ("var", var),
                ("value", value),
                ("effect", effect),
                ("detail", &detail),
            ],
            fix,
            None,
        ));
    }
}
