//! The MIOpen a torch install loads, on this GPU.

use rp_machine::MachineSnapshot;
use rp_report::{Finding, FixStep, Gpu, PythonEnv, TorchInstall};

use super::mk;

/// MIOpen's batch-norm kernels keep the DPP path on this GPU (the MIOpen this torch
/// loads: its own in torch/lib or TheRock's ROCm libraries, else the ROCm install the
/// loader finds first).
pub(super) fn miopen_findings(
    m: &MachineSnapshot,
    pe: &PythonEnv,
    t: &TorchInstall,
    g: &Gpu,
    base: &[(&str, &str)],
    out: &mut Vec<Finding>,
) {
    let own = g.gfx_target.as_deref().unwrap_or("unknown");
    let checks: &[rp_report::MiopenCheck] = if t.miopen.is_empty() {
        m.rocm
            .iter()
            .find(|i| i.loader_first)
            .map(|i| i.miopen.as_slice())
            .unwrap_or_default()
    } else {
        &t.miopen
    };
    for c in checks {
        let Some(r) = c.targets.iter().find(|x| x.target == own) else {
            continue;
        };
        if r.verdict != rp_report::MiopenVerdict::Affected {
            continue;
        }
        let version = c
            .version
            .clone()
            .unwrap_or_else(|| "(version unknown)".into());
        let kernels = r.kernels.join(", ");
        let mut vars = base.to_vec();
        vars.push(("lib", &c.path));
        vars.push(("version", &version));
        vars.push(("kernels", &kernels));
        let lib_dir = c.path.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
        let fix = vec![
            FixStep::run_because(
                format!("rocm-patch build miopen --gpu {own} --dry-run"),
                "what the build needs and does: MIOpen from source with the batch-norm patch, proven by compiling the kernels for gfx101x",
            ),
            FixStep::run_because(
                format!("rocm-patch build miopen --gpu {own} --deploy-into {lib_dir}"),
                "builds it and puts the fixed library in place as one transaction (`rocm-patch rollback --last` undoes it)",
            ),
            FixStep::note(
                "or, without a build: torch.backends.cudnn.enabled = False at the start of the program — batch-norm and convolutions then take PyTorch's native kernels instead of MIOpen's (slower convolutions, no crash)",
            ),
        ];
        out.push(mk(
            "miopen-batchnorm-dpp-gfx101x",
            &vars,
            fix,
            Some(format!("{} / node {}", pe.path, g.node.unwrap_or(0))),
        ));
    }
}
