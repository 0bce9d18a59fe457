//! Torch installs against the GPUs: whether each carries code the GPU can load, and
//! whether the rocBLAS it uses has the GPU's Tensile files.

use rp_kb::TargetId;
use rp_machine::MachineSnapshot;
use rp_report::{
    Finding, FixStep, Gpu, GpuSupport, InspectReport, PythonEnv, TorchBuild, TorchInstall,
};

use super::fix::native_stack_fix;
use super::miopen::miopen_findings;
use super::packages::device_package_findings;
use super::{acceptable, mk};

/// How one torch install fares on each AMD GPU of the machine: which of its libraries
/// carry no code the GPU can load, and whether the rocBLAS it will use has the GPU's
/// Tensile files. Empty for a CUDA or CPU build, or without an inventory.
pub fn support(
    m: &MachineSnapshot,
    t: &TorchInstall,
    inventory: Option<&InspectReport>,
) -> Vec<GpuSupport> {
    let mut out = Vec::new();
    let Some(rep) = inventory else {
        return out;
    };
    if t.build != TorchBuild::Rocm {
        return out;
    }
    let loader_rocblas = m
        .rocm
        .iter()
        .find(|i| i.loader_first)
        .and_then(|i| i.rocblas_library.clone());
    {
        for g in m.kfd_gpus() {
            let ok = acceptable(g);
            let mut missing: Option<Vec<String>> = None;
            let mut why = std::collections::BTreeMap::new();
            for target in &ok {
                let Ok(tid) = target.parse::<TargetId>() else {
                    continue;
                };
                let cov = rp_inspect::coverage_of(rep, &tid);
                let mut m: Vec<String> = cov.missing;
                for p in &cov.partial {
                    let reason = format!(
                        "{} of its {} translation units have no {target} code ({}){}",
                        p.missing_units.len(),
                        p.units,
                        p.missing_units.join(", "),
                        cov.why
                            .get(&p.path)
                            .map(|w| format!(": {w}"))
                            .unwrap_or_default()
                    );
                    why.entry(p.path.clone()).or_insert(reason);
                    m.push(p.path.clone());
                }
                for (path, w) in cov.why {
                    why.entry(path).or_insert(w);
                }
                missing = Some(match missing {
                    None => m,
                    Some(prev) => prev.into_iter().filter(|x| m.contains(x)).collect(),
                });
            }
            let missing = missing.unwrap_or_default();
            let rocblas = m
                .rocblas_env_library
                .clone()
                .or_else(|| t.rocblas_library.clone())
                .or_else(|| loader_rocblas.clone());
            why.retain(|p, _| missing.contains(p));
            out.push(GpuSupport {
                node: g.node.unwrap_or(0),
                target: ok.join(" or "),
                missing_libraries: missing,
                why,
                rocblas_has_target: rocblas
                    .as_ref()
                    .map(|d| d.archs.iter().any(|a| ok.contains(a))),
                rocblas_library: rocblas.map(|d| d.path),
            });
        }
    }
    out
}

/// Each torch install against each GPU the runtime sees.
pub(super) fn torch_findings(m: &MachineSnapshot, python: &[PythonEnv], out: &mut Vec<Finding>) {
    let gpus: Vec<&Gpu> = m
        .kfd_gpus()
        .filter(|g| g.runtime.as_ref().is_none_or(|x| x.visible))
        .collect();
    for pe in python {
        let Some(t) = &pe.torch else { continue };
        let version = t
            .version
            .clone()
            .unwrap_or_else(|| "(unknown version)".into());
        for g in &gpus {
            let own = g.gfx_target.as_deref().unwrap_or("unknown");
            let base = [
                ("torch_version", version.as_str()),
                ("env", pe.path.as_str()),
                ("gpu", own),
                ("gpu_name", g.name.as_str()),
            ];
            torch_gpu_findings(m, pe, t, g, &base, out);
        }
    }
}

/// One torch install against one GPU: no GPU code at all, its device packages, its
/// MIOpen, libraries without code for the GPU, and rocBLAS without its Tensile files.
fn torch_gpu_findings(
    m: &MachineSnapshot,
    pe: &PythonEnv,
    t: &TorchInstall,
    g: &Gpu,
    base: &[(&str, &str)],
    out: &mut Vec<Finding>,
) {
    let node = g.node.unwrap_or(0);
    if t.build != TorchBuild::Rocm {
        let detail = match (&t.cuda, t.build) {
            (Some(c), _) => format!("This is a CUDA {c} build: it has no HIP code at all."),
            _ => "This is a CPU-only build: it has no GPU code at all.".to_string(),
        };
        out.push(no_code_finding(m, pe, g, base, &detail));
        return;
    }
    device_package_findings(m, pe, t, g, base, out);
    miopen_findings(m, pe, t, g, base, out);
    if t.gpu_libraries.is_empty() {
        // A ROCm torch with no device code anywhere doctor looked: never "loads".
        let detail = format!(
            "No library it loads carries GPU code or names a kpack archive (looked in: {}).",
            if t.looked_in.is_empty() {
                "nothing readable".into()
            } else {
                t.looked_in.join(", ")
            }
        );
        out.push(no_code_finding(m, pe, g, base, &detail));
        return;
    }
    let Some(s) = t.gpu_support.iter().find(|s| s.node == node) else {
        return;
    };
    if !s.missing_libraries.is_empty() {
        out.push(missing_libraries_finding(m, pe, t, g, s, base));
    }
    if s.rocblas_has_target == Some(false) {
        out.push(rocblas_finding(m, pe, t, g, s, base));
    }
}

/// torch-missing-target with the native stack as the fix.
fn no_code_finding(
    m: &MachineSnapshot,
    pe: &PythonEnv,
    g: &Gpu,
    base: &[(&str, &str)],
    detail: &str,
) -> Finding {
    let own = g.gfx_target.as_deref().unwrap_or("unknown");
    let mut vars = base.to_vec();
    vars.push(("detail", detail));
    mk(
        "torch-missing-target",
        &vars,
        native_stack_fix(m, own),
        Some(format!("{} / node {}", pe.path, g.node.unwrap_or(0))),
    )
}

/// torch-missing-target for the libraries of `t` with no code the GPU can load.
fn missing_libraries_finding(
    m: &MachineSnapshot,
    pe: &PythonEnv,
    t: &TorchInstall,
    g: &Gpu,
    s: &GpuSupport,
    base: &[(&str, &str)],
) -> Finding {
    let own = g.gfx_target.as_deref().unwrap_or("unknown");
    let node = g.node.unwrap_or(0);
    let names: Vec<&str> = s
        .missing_libraries
        .iter()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .collect();
    let mut detail = format!(
        "{} of its {} GPU libraries carry no code object {} can load ({}); it has code for {}.",
        names.len(),
        t.gpu_libraries.len(),
        own,
        names.join(", "),
        if t.targets.is_empty() {
            "nothing".into()
        } else {
            t.targets.join(" ")
        }
    );
    let kpackd = s
        .missing_libraries
        .iter()
        .filter(|l| t.kpack_libraries.contains(l))
        .count();
    if kpackd > 0 {
        detail.push_str(&format!(
            " {kpackd} of them are kpack'd: their device code is in separate archives, searched as the HIP runtime searches them (archives found: {}).",
            if t.kpack_archives.is_empty() { "none".into() } else { t.kpack_archives.join(", ") }
        ));
        for (lib, w) in &s.why {
            let name = lib.rsplit('/').next().unwrap_or(lib);
            detail.push_str(&format!(" {name}: {w}."));
        }
    }
    let mut vars = base.to_vec();
    vars.push(("detail", &detail));
    mk(
        "torch-missing-target",
        &vars,
        stand_in_fix(m, t, own, node),
        Some(format!("{} / node {node}", pe.path)),
    )
}

/// The native stack for `own`, after an override to a sound stand-in the torch does
/// carry, when there is one: an override to it is safe.
fn stand_in_fix(m: &MachineSnapshot, t: &TorchInstall, own: &str, node: u32) -> Vec<FixStep> {
    let kb = rp_kb::kb();
    let stand_in = kb
        .equivalent_code(own)
        .filter(|runs| t.targets.contains(&runs.code));
    match stand_in {
        Some(runs) => {
            let v = kb
                .processor(&runs.code)
                .and_then(|p| match p {
                    rp_kb::Processor::Specific(t) => Some(t.gfx_target_version),
                    _ => None,
                })
                .map(|v| rp_kb::GfxVersion::from_kfd(v).to_string())
                .unwrap_or_default();
            let mut f = vec![FixStep::run_because(
                format!("export HSA_OVERRIDE_GFX_VERSION_{node}={v}"),
                format!(
                    "{own} runs {} code correctly ({})",
                    runs.code, runs.reference
                ),
            )];
            f.extend(native_stack_fix(m, own));
            f
        }
        None => native_stack_fix(m, own),
    }
}

/// rocblas-missing-target: the rocBLAS torch will use has no Tensile files for the GPU.
fn rocblas_finding(
    m: &MachineSnapshot,
    pe: &PythonEnv,
    t: &TorchInstall,
    g: &Gpu,
    s: &GpuSupport,
    base: &[(&str, &str)],
) -> Finding {
    let own = g.gfx_target.as_deref().unwrap_or("unknown");
    let node = g.node.unwrap_or(0);
    let dir = s.rocblas_library.clone().unwrap_or_default();
    let archs = t
        .rocblas_library
        .as_ref()
        .filter(|d| d.path == dir)
        .or_else(|| {
            m.rocm
                .iter()
                .filter_map(|i| i.rocblas_library.as_ref())
                .find(|d| d.path == dir)
        })
        .map(|d| d.archs.join(" "))
        .unwrap_or_default();
    let mut vars = base.to_vec();
    vars.push(("dir", &dir));
    vars.push(("archs", &archs));
    let mut fix = Vec::new();
    if let Some(other) = m
        .rocm
        .iter()
        .filter_map(|i| i.rocblas_library.as_ref())
        .find(|d| d.archs.iter().any(|a| a == own))
    {
        fix.push(FixStep::run_because(
            format!("export ROCBLAS_TENSILE_LIBPATH={}", other.path),
            format!(
                "has {own}; its rocBLAS version must match the one torch loads (ROCm/rocBLAS#1300)"
            ),
        ));
    }
    fix.extend(native_stack_fix(m, own));
    mk(
        "rocblas-missing-target",
        &vars,
        fix,
        Some(format!("{} / node {node}", pe.path)),
    )
}

/// No torch in any Python environment doctor looked at.
pub(super) fn no_torch_findings(m: &MachineSnapshot, python: &[PythonEnv], out: &mut Vec<Finding>) {
    if python.iter().any(|p| p.torch.is_some()) {
        return;
    }
    let looked = if m.python_candidates == 0 {
        "no Python environment (none on PATH, no active venv, none in the current directory)"
            .to_string()
    } else {
        python
            .iter()
            .map(|p| p.path.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push(mk(
        "no-torch",
        &[("looked", &looked)],
        vec![FixStep::run("rocm-patch doctor --python /path/to/venv")],
        None,
    ));
}
