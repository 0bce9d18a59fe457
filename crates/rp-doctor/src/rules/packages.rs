//! TheRock's split device packages of a torch install.

use rp_machine::MachineSnapshot;
use rp_report::{Finding, FixStep, Gpu, PythonEnv, TorchInstall};

use super::fix::native_stack_fix;
use super::{acceptable, mk};

/// TheRock's split wheels: each kind of device package installed must be there for
/// this GPU (`amd-torch-device-gfx1030` is no use to a gfx1010).
pub(super) fn device_package_findings(
    m: &MachineSnapshot,
    pe: &PythonEnv,
    t: &TorchInstall,
    g: &Gpu,
    base: &[(&str, &str)],
    out: &mut Vec<Finding>,
) {
    let ok = acceptable(g);
    let own = g.gfx_target.as_deref().unwrap_or("unknown");
    let subject = Some(format!("{} / node {}", pe.path, g.node.unwrap_or(0)));
    // The pip lines of the native stack, for the packages below.
    let reinstall = native_stack_fix(m, own);
    for d in &t.device_packages {
        let label = d.label();
        let mut vars = base.to_vec();
        vars.push(("package", &label));
        vars.push(("name", &d.name));
        let summary = d.summary.clone().unwrap_or_default();
        vars.push(("summary", &summary));
        if d.placeholder {
            let mut fix = vec![FixStep::run_because(
                format!("{}/bin/python -m pip uninstall -y {}", pe.path, d.name),
                "it holds no code and blocks the real package",
            )];
            fix.extend(reinstall.iter().cloned());
            out.push(mk(
                "device-package-placeholder",
                &vars,
                fix,
                subject.clone(),
            ));
            continue;
        }
        if let (Some(dv), Some(tv)) = (d.version.as_deref(), t.version.as_deref()) {
            if d.name.starts_with("amd-torch-device-") && !same_build(dv, tv) {
                let mut fix = vec![FixStep::note(format!(
                    "install the device package of this very torch build: {}=={}, from the index torch came from",
                    d.name,
                    t.version.as_deref().unwrap_or_default()
                ))];
                fix.extend(reinstall.iter().cloned());
                out.push(mk(
                    "device-package-version-mismatch",
                    &vars,
                    fix,
                    subject.clone(),
                ));
            }
        }
    }
    let mut kinds: Vec<&str> = t
        .device_packages
        .iter()
        .filter(|d| d.name.contains("-device-") && !d.placeholder)
        .filter_map(|d| d.name.strip_suffix(d.target.as_str()))
        .collect();
    kinds.sort();
    kinds.dedup();
    let wanted: Vec<String> = kinds
        .iter()
        .filter(|k| {
            !t.device_packages
                .iter()
                .any(|d| d.name.starts_with(**k) && ok.contains(&d.target) && !d.placeholder)
        })
        .map(|k| format!("{k}{own}"))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let installed: Vec<String> = t.device_packages.iter().map(|d| d.label()).collect();
    let (installed, wanted) = (installed.join(", "), wanted.join(", "));
    let mut vars = base.to_vec();
    vars.push(("installed", &installed));
    vars.push(("wanted", &wanted));
    out.push(mk(
        "device-package-mismatch",
        &vars,
        native_stack_fix(m, own),
        Some(format!("{} / node {}", pe.path, g.node.unwrap_or(0))),
    ));
}

/// Two versions of one build: equal as PEP 440 compares them (case and a leading `v`
/// aside); when only one carries a local part (`+rocm7.14.0`, which a `.dist-info`
/// name may drop), the public parts decide.
fn same_build(a: &str, b: &str) -> bool {
    let norm = |v: &str| v.trim().trim_start_matches('v').to_ascii_lowercase();
    let (a, b) = (norm(a), norm(b));
    match (a.split_once('+'), b.split_once('+')) {
        (Some(_), Some(_)) | (None, None) => a == b,
        (Some((pa, _)), None) => pa == b,
        (None, Some((pb, _))) => a == pb,
    }
}
