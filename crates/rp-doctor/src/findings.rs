//! Findings: each one's text comes from the knowledge base catalog
//! (rp-kb data/findings.toml); this module decides when each applies and builds the fix
//! as structured steps. Every function here is pure: a snapshot in, values out.

use rp_kb::{fill, OverrideCompat, TargetId};
use rp_machine::{MachineSnapshot, ReadError};
use rp_report::{
    Finding, FixStep, Gpu, GpuSupport, InspectReport, PythonEnv, TorchBuild, TorchInstall, Vendor,
};

fn mk(id: &str, vars: &[(&str, &str)], fix: Vec<FixStep>, subject: Option<String>) -> Finding {
    let spec = rp_kb::kb().finding(id);
    let (why, reference) = rp_kb::fill_noted(&spec.why, &spec.reference, &spec.notes, vars);
    Finding {
        id: id.to_string(),
        severity: spec.severity,
        title: fill(&spec.title, vars),
        why,
        reference,
        fix,
        subject,
    }
}

fn node_subject(g: &Gpu) -> Option<String> {
    g.node.map(|n| format!("node {n}"))
}

/// Targets whose code runs soundly on `g`: its own, plus what the knowledge base says it
/// executes correctly when an override to it is in force.
fn acceptable(g: &Gpu) -> Vec<String> {
    let own = g.gfx_target.clone().unwrap_or_default();
    let mut v = vec![own.clone()];
    if let Some(r) = &g.runtime {
        if r.override_var.is_some() && r.isa != own {
            if let OverrideCompat::Equivalent(_) = rp_kb::kb().override_compat(&own, &r.isa) {
                v.push(r.isa.clone());
            }
        }
    }
    v
}

/// Steps that get native code for `gpu`: the first stack in full, the others as
/// alternatives. Never an override (docs/rdna1.md).
fn native_stack_fix(m: &MachineSnapshot, gpu: &str) -> Vec<FixStep> {
    // Only what this distribution can run (no pacman line on Debian).
    let stacks: Vec<&rp_kb::Stack> = rp_kb::kb()
        .stacks_for(gpu)
        .into_iter()
        .filter(|s| s.for_os(&m.os_ids))
        .collect();
    let mut out = Vec::new();
    for (i, s) in stacks.iter().enumerate() {
        let steps = s.steps_for(gpu);
        if i == 0 {
            out.push(FixStep::note(format!("{} ({})", s.title, s.reference)));
            if let Some(r) = &s.requires {
                out.push(FixStep::note(format!(
                    "needs {}",
                    rp_kb::fill(r, &[("gpu", gpu)])
                )));
            }
            if s.id.starts_with("therock") {
                // `rocm-patch fix` alone is the command; the same steps by hand are
                // comments, so a pasted block never answers fix's prompt with them.
                out.push(FixStep::run_because(
                    "rocm-patch fix",
                    "makes a new venv with these packages, checks what pip installed, and undoes with `rocm-patch rollback --last`",
                ));
                out.extend(steps.into_iter().map(|st| {
                    FixStep::note(match (st.command, st.note) {
                        (Some(c), Some(n)) => format!("by hand instead ({n}): {c}"),
                        (Some(c), None) => format!("by hand instead: {c}"),
                        (None, n) => n.unwrap_or_default(),
                    })
                }));
                continue;
            }
            out.extend(steps.into_iter().map(|st| match (st.command, st.note) {
                (Some(c), Some(n)) => FixStep::run_because(c, n),
                (Some(c), None) => FixStep::run(c),
                (None, n) => FixStep::note(n.unwrap_or_default()),
            }));
            continue;
        }
        let cmds: Vec<String> = steps.iter().filter_map(|st| st.command.clone()).collect();
        let notes: Vec<String> = steps.iter().filter_map(|st| st.note.clone()).collect();
        let mut what = if notes.is_empty() {
            s.title.clone()
        } else {
            notes.join("; ")
        };
        if let Some(r) = &s.requires {
            what = format!("{what} (needs {})", rp_kb::fill(r, &[("gpu", gpu)]));
        }
        out.push(FixStep::instead(
            (!cmds.is_empty()).then(|| cmds.join(" && ")),
            what,
        ));
    }
    out
}

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

/// Where the user's startup files set `var`, as fix steps; the generic search when none
/// is known.
fn where_set(m: &MachineSnapshot, var: &str) -> Vec<FixStep> {
    let lines: Vec<FixStep> = m
        .environment
        .set_in_files
        .iter()
        .filter(|s| s.name == var)
        .map(|s| {
            FixStep::note(match &s.not_editable {
                None => format!(
                    "{}:{} sets {var}={}: delete that line (`rocm-patch fix` comments it out)",
                    s.file, s.line, s.value
                ),
                Some(why) => format!(
                    "{}:{} sets {var}={} ({why}): change it by hand",
                    s.file, s.line, s.value
                ),
            })
        })
        .collect();
    if !lines.is_empty() {
        return lines;
    }
    vec![FixStep::run_because(
        format!("grep -n '{var}' ~/.bashrc ~/.profile ~/.zshrc /etc/environment /etc/profile.d/* 2>/dev/null"),
        "delete it where it is set",
    )]
}

fn override_findings(m: &MachineSnapshot, python: &[PythonEnv], out: &mut Vec<Finding>) {
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

/// Overrides that startup files set but the environment doctor ran with does not have:
/// the next shell gets them. Each line is one finding when its value breaks a GPU here.
fn startup_override_findings(m: &MachineSnapshot, out: &mut Vec<Finding>) {
    let kb = rp_kb::kb();
    // Text inside a here-document sets nothing.
    for s in m.environment.set_in_files.iter().filter(|s| !s.text_only) {
        let node: Option<u32> = match s.name.strip_prefix("HSA_OVERRIDE_GFX_VERSION") {
            Some("") => None,
            Some(n) => match n.strip_prefix('_').and_then(|n| n.parse().ok()) {
                Some(n) => Some(n),
                None => continue,
            },
            None => continue,
        };
        if m.env.get(&s.name) == Some(&s.value) {
            continue; // in force now: the override findings name this line
        }
        let code =
            rp_kb::GfxVersion::parse_override(&s.value).and_then(rp_kb::GfxVersion::gfx_name);
        let line = s.line.to_string();
        let mut fix = vec![FixStep::note(match &s.not_editable {
            None => format!(
                "{}:{}: delete that line (`rocm-patch fix` comments it out)",
                s.file, s.line
            ),
            Some(why) => format!("{}:{}: {why}; change it by hand", s.file, s.line),
        })];
        for g in m.kfd_gpus().filter(|g| node.is_none() || g.node == node) {
            let own = g.gfx_target.as_deref().unwrap_or("unknown");
            let (code, detail) = match &code {
                None => (
                    "no".to_string(),
                    format!("{} is not a valid gfx version: the runtime fails to start.", s.value),
                ),
                Some(c) if matches!(kb.override_compat(own, c), OverrideCompat::Foreign) => (
                    c.clone(),
                    format!("{own} cannot execute {c} code: memory access faults (see override-foreign-isa)."),
                ),
                Some(_) => continue,
            };
            fix.extend(native_stack_fix(m, own));
            out.push(mk(
                "override-in-startup-file",
                &[
                    ("file", &s.file),
                    ("line", &line),
                    ("var", &s.name),
                    ("value", &s.value),
                    ("gpu", own),
                    ("gpu_name", &g.name),
                    ("code", &code),
                    ("detail", &detail),
                ],
                fix,
                Some(format!("{}:{}", s.file, s.line)),
            ));
            break;
        }
    }
}

fn torch_findings(m: &MachineSnapshot, python: &[PythonEnv], out: &mut Vec<Finding>) {
    let kb = rp_kb::kb();
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
            let node = g.node.unwrap_or(0);
            let base = [
                ("torch_version", version.as_str()),
                ("env", pe.path.as_str()),
                ("gpu", own),
                ("gpu_name", g.name.as_str()),
            ];
            // torch-missing-target with the native stack as the fix.
            let no_code = |detail: &str, out: &mut Vec<Finding>| {
                let mut vars = base.to_vec();
                vars.push(("detail", detail));
                out.push(mk(
                    "torch-missing-target",
                    &vars,
                    native_stack_fix(m, own),
                    Some(format!("{} / node {node}", pe.path)),
                ));
            };
            if t.build != TorchBuild::Rocm {
                let detail = match (&t.cuda, t.build) {
                    (Some(c), _) => format!("This is a CUDA {c} build: it has no HIP code at all."),
                    _ => "This is a CPU-only build: it has no GPU code at all.".to_string(),
                };
                no_code(&detail, out);
                continue;
            }
            device_package_findings(m, pe, t, g, &base, out);
            miopen_findings(m, pe, t, g, &base, out);
            if t.gpu_libraries.is_empty() {
                // A ROCm torch with no device code anywhere doctor looked: never "loads".
                let detail = format!(
                    "No library it loads carries GPU code or names a kpack archive (looked in: {}).",
                    if t.looked_in.is_empty() { "nothing readable".into() } else { t.looked_in.join(", ") }
                );
                no_code(&detail, out);
                continue;
            }
            let Some(s) = t.gpu_support.iter().find(|s| s.node == node) else {
                continue;
            };
            if !s.missing_libraries.is_empty() {
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
                    if t.targets.is_empty() { "nothing".into() } else { t.targets.join(" ") }
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
                // A sound stand-in the torch does carry: an override to it is safe.
                let stand_in = kb
                    .equivalent_code(own)
                    .filter(|runs| t.targets.contains(&runs.code));
                let fix = match stand_in {
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
                };
                out.push(mk(
                    "torch-missing-target",
                    &vars,
                    fix,
                    Some(format!("{} / node {node}", pe.path)),
                ));
            }
            if s.rocblas_has_target == Some(false) {
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
                        format!("has {own}; its rocBLAS version must match the one torch loads (ROCm/rocBLAS#1300)"),
                    ));
                }
                fix.extend(native_stack_fix(m, own));
                out.push(mk(
                    "rocblas-missing-target",
                    &vars,
                    fix,
                    Some(format!("{} / node {node}", pe.path)),
                ));
            }
        }
    }
}

/// TheRock's split wheels: each kind of device package installed must be there for
/// this GPU (`amd-torch-device-gfx1030` is no use to a gfx1010).
fn device_package_findings(
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

/// MIOpen's batch-norm kernels keep the DPP path on this GPU (the MIOpen this torch
/// loads: its own in torch/lib or TheRock's ROCm libraries, else the ROCm install the
/// loader finds first).
fn miopen_findings(
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

/// The kpack loader's variables (rocm-kpack `runtime/src/loader.cpp`): disabled, or
/// archives searched elsewhere than beside each library.
fn kpack_env_findings(m: &MachineSnapshot, python: &[PythonEnv], out: &mut Vec<Finding>) {
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

/// pip configured with PyPI and AMD's index together (pip's configuration files and
/// variables, in pip's precedence: a later source's value of a key replaces an earlier
/// one's).
fn pip_index_findings(python: &[PythonEnv], out: &mut Vec<Finding>) {
    for pe in python {
        if pe.pip_indexes.is_empty() {
            continue;
        }
        let last_of = |key: &str| -> Vec<&rp_report::PipIndex> {
            let Some(src) = pe
                .pip_indexes
                .iter()
                .rev()
                .find(|p| p.key == key)
                .map(|p| &p.source)
            else {
                return Vec::new();
            };
            pe.pip_indexes
                .iter()
                .filter(|p| p.key == key && &p.source == src)
                .collect()
        };
        let index = last_of("index-url");
        let extra = last_of("extra-index-url");
        let is_amd = |u: &str| u.contains("repo.amd.com");
        let is_pypi = |u: &str| u.contains("pypi.org") || u.contains("pythonhosted.org");
        // No index-url: pip's default, PyPI.
        let pypi = index.is_empty() || index.iter().chain(&extra).any(|p| is_pypi(&p.url));
        let amd: Vec<&&rp_report::PipIndex> = index
            .iter()
            .chain(&extra)
            .filter(|p| is_amd(&p.url))
            .collect();
        if !pypi || amd.is_empty() {
            continue;
        }
        let shown: Vec<String> = index
            .iter()
            .chain(&extra)
            .map(|p| format!("{} = {} ({})", p.key, p.url, p.source))
            .collect();
        let detail = format!(
            "{}{}.",
            shown.join("; "),
            if index.is_empty() {
                "; no index-url, so PyPI is the main index"
            } else {
                ""
            }
        );
        out.push(mk(
            "pip-index-mixed",
            &[("env", &pe.path), ("detail", &detail)],
            vec![
                FixStep::note(
                    "install TheRock's packages with --index-url AMD's index alone (rocm-patch fix does), or remove the extra index from the files named above",
                ),
                FixStep::run(format!("{}/bin/python -m pip config list", pe.path)),
            ],
            Some(pe.path.clone()),
        ));
    }
}

fn driver_findings(m: &MachineSnapshot, out: &mut Vec<Finding>) {
    let amd: Vec<&Gpu> = m.gpus.iter().filter(|g| g.vendor == Vendor::Amd).collect();
    if amd.is_empty() {
        out.push(mk("no-amd-gpu", &[], Vec::new(), None));
        return;
    }
    let cmdline = &m.kernel_cmdline;
    for g in &amd {
        let bound = g.driver.as_deref() == Some("amdgpu");
        if g.node.is_none() && (!m.driver.amdgpu_loaded || !bound) {
            let detail = match (&g.driver, m.driver.amdgpu_loaded) {
                (Some(d), _) if d != "amdgpu" => format!("The device is bound to {d}."),
                (_, false) => "/sys/module/amdgpu does not exist.".to_string(),
                _ => "amdgpu is loaded but did not bind this device (see dmesg).".to_string(),
            };
            let mut fix = vec![
                FixStep::run("sudo modprobe amdgpu"),
                FixStep::run("sudo dmesg | grep -iE 'amdgpu|kfd'"),
            ];
            for bad in ["nomodeset", "modprobe.blacklist=amdgpu", "amdgpu.blacklist"] {
                if cmdline
                    .split_whitespace()
                    .any(|w| w == bad || w.starts_with(bad))
                {
                    fix.push(FixStep::note(format!(
                        "the kernel command line has '{bad}': remove it from GRUB_CMDLINE_LINUX and run sudo update-grub"
                    )));
                }
            }
            out.push(mk(
                "amdgpu-not-loaded",
                &[("gpu_name", &g.name), ("detail", &detail)],
                fix,
                g.pci_slot.clone(),
            ));
        }
    }
    let user = m.driver.user.clone();
    let with_user = m
        .identity
        .name
        .clone()
        .unwrap_or_else(|| "$USER".to_string());
    // One finding for every device node the user cannot open.
    let mut paths = Vec::new();
    let mut details = Vec::new();
    let mut fix: Vec<FixStep> = Vec::new();
    for d in &m.driver.device_nodes {
        if d.accessible {
            continue;
        }
        // Only when the kernel side exists; a missing /dev/kfd without KFD is amdgpu's.
        if m.sysfs.topology.is_none() && !d.exists {
            continue;
        }
        paths.push(d.path.clone());
        if d.exists {
            details.push(format!(
                "{} is {} and {user} is not its owner, not in its group, and has no rw for others.",
                d.path,
                d.owner.as_deref().unwrap_or("?")
            ));
            let step = FixStep::run(format!("sudo usermod -aG render,video {with_user}"));
            if !fix.contains(&step) {
                fix.push(step);
                fix.push(FixStep::note(
                    "then log out and back in (or run: newgrp render)",
                ));
            }
        } else {
            details.push(format!(
                "{} does not exist although the KFD topology does.",
                d.path
            ));
            let step = FixStep::run("sudo dmesg | grep -iE 'kfd|amdgpu'");
            if !fix.contains(&step) {
                fix.push(step);
            }
        }
    }
    if !paths.is_empty() {
        let shown = paths.join(" and ");
        out.push(mk(
            "kfd-inaccessible",
            &[
                ("user", &user),
                ("path", &shown),
                ("detail", &details.join(" ")),
            ],
            fix,
            Some(paths[0].clone()),
        ));
    }
    for g in m.kfd_gpus() {
        if g.pcie_atomics == Some(false) {
            let node = g.node.unwrap_or(0).to_string();
            out.push(mk(
                "pcie-atomics-missing",
                &[
                    ("gpu_name", &g.name),
                    ("gpu", g.gfx_target.as_deref().unwrap_or("")),
                    ("node", &node),
                ],
                vec![
                    FixStep::note("put the card in a CPU-attached PCIe slot (no chipset lanes, risers or switches without atomics)"),
                    FixStep::run(format!("grep flags /sys/class/kfd/kfd/topology/nodes/{node}/io_links/*/properties")),
                ],
                node_subject(g),
            ));
        }
        if let Some(rt) = &g.runtime {
            if let Some(h) = rt.hidden_by.as_ref() {
                let (var, value) = h.split_once('=').unwrap_or((h, ""));
                let node = g.node.unwrap_or(0).to_string();
                out.push(mk(
                    "gpu-hidden",
                    &[
                        ("gpu_name", &g.name),
                        ("gpu", g.gfx_target.as_deref().unwrap_or("")),
                        ("var", var),
                        ("value", value),
                        ("node", &node),
                    ],
                    vec![FixStep::run_because(
                        format!("unset {var}"),
                        "or list this GPU in it",
                    )],
                    node_subject(g),
                ));
            }
        }
    }
    // The hipBLASLt note matters for a ROCm torch (or one still to be installed), not for
    // a CUDA or CPU build.
    let torches: Vec<&TorchInstall> = m
        .python
        .iter()
        .filter_map(|p| p.env.torch.as_ref())
        .collect();
    let rocm_torch = torches.is_empty() || torches.iter().any(|t| t.build == TorchBuild::Rocm);
    let mut gaps_seen = std::collections::HashSet::new();
    for g in m.kfd_gpus().filter(|_| rocm_torch) {
        let own = g.gfx_target.clone().unwrap_or_default();
        for gap in rp_kb::kb().library_gaps(&own) {
            if gap.library != "hipBLASLt" || !gaps_seen.insert(own.clone()) {
                continue;
            }
            out.push(mk(
                "hipblaslt-unsupported",
                &[
                    ("gpu", &own),
                    ("effect", &gap.effect),
                    ("library_ref", &gap.reference),
                ],
                vec![FixStep::run(gap.fix.clone())],
                Some(own.clone()),
            ));
        }
    }
}

/// Every finding of a snapshot whose Python environments were judged into `python`,
/// errors first.
pub fn findings(m: &MachineSnapshot, python: &[PythonEnv]) -> Vec<Finding> {
    let mut out = Vec::new();
    let ms = m.timeout.as_millis().to_string();
    for p in &m.sysfs.problems {
        if p.error == ReadError::Timeout {
            out.push(mk(
                "sysfs-timeout",
                &[("path", &p.path), ("timeout_ms", &ms)],
                vec![
                    FixStep::run("sudo dmesg | grep -iE 'amdgpu|ring .* timeout|reset'"),
                    FixStep::note("reset the GPU (or reboot) before using ROCm"),
                ],
                Some(p.path.clone()),
            ));
        }
    }
    override_findings(m, python, &mut out);
    startup_override_findings(m, &mut out);
    for u in &m.environment.unread_files {
        out.push(mk(
            "startup-file-unread",
            &[("file", &u.file), ("why", &u.why)],
            vec![FixStep::run(format!(
                "grep -nE 'HSA_OVERRIDE_GFX_VERSION|ROCR_VISIBLE_DEVICES|HIP_VISIBLE_DEVICES|ROCM_KPACK' {}",
                u.file
            ))],
            Some(u.file.clone()),
        ));
    }
    torch_findings(m, python, &mut out);
    kpack_env_findings(m, python, &mut out);
    pip_index_findings(python, &mut out);
    driver_findings(m, &mut out);
    if !python.iter().any(|p| p.torch.is_some()) {
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
    out.sort_by(|a, b| (a.severity, &a.id, &a.subject).cmp(&(b.severity, &b.id, &b.subject)));
    out.dedup();
    out
}
