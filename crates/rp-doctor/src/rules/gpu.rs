//! The GPUs and their driver: amdgpu, the KFD device nodes, PCIe atomics, GPUs hidden
//! from the runtime, libraries without support for the GPU, and sysfs reads that hung.

use rp_machine::{MachineSnapshot, ReadError};
use rp_report::{Finding, FixStep, Gpu, TorchBuild, TorchInstall, Vendor};

use super::{mk, node_subject};

/// sysfs reads that hung: the GPU (or its driver) is stuck.
pub(super) fn sysfs_timeout_findings(m: &MachineSnapshot, out: &mut Vec<Finding>) {
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
}

/// The driver's side: no AMD GPU, amdgpu not bound, device nodes the user cannot open,
/// GPUs without PCIe atomics or hidden from the runtime, hipBLASLt without the GPU.
pub(super) fn driver_findings(m: &MachineSnapshot, out: &mut Vec<Finding>) {
    let amd: Vec<&Gpu> = m.gpus.iter().filter(|g| g.vendor == Vendor::Amd).collect();
    if amd.is_empty() {
        out.push(mk("no-amd-gpu", &[], Vec::new(), None));
        return;
    }
    for g in &amd {
        amdgpu_not_loaded_findings(m, g, out);
    }
    kfd_inaccessible_findings(m, out);
    for g in m.kfd_gpus() {
        pcie_atomics_findings(g, out);
        hidden_findings(g, out);
    }
    hipblaslt_findings(m, out);
}

/// amdgpu not loaded, or not bound to this AMD GPU.
fn amdgpu_not_loaded_findings(m: &MachineSnapshot, g: &Gpu, out: &mut Vec<Finding>) {
    let cmdline = &m.kernel_cmdline;
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

/// One finding for every device node the user cannot open.
fn kfd_inaccessible_findings(m: &MachineSnapshot, out: &mut Vec<Finding>) {
    let user = m.driver.user.clone();
    let with_user = m
        .identity
        .name
        .clone()
        .unwrap_or_else(|| "$USER".to_string());
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
}

/// A GPU whose PCIe link lacks atomics.
fn pcie_atomics_findings(g: &Gpu, out: &mut Vec<Finding>) {
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
}

/// A GPU that a visibility variable hides from the runtime.
fn hidden_findings(g: &Gpu, out: &mut Vec<Finding>) {
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

/// hipBLASLt without support for a GPU here.
fn hipblaslt_findings(m: &MachineSnapshot, out: &mut Vec<Finding>) {
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
