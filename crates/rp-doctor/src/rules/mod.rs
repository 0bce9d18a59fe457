//! Findings: each one's text comes from the knowledge base catalog
//! (rp-kb data/findings.toml); this module decides when each applies and builds the fix
//! as structured steps. Every function here is pure: a snapshot in, values out.
//!
//! One file per family of findings: the GPUs and their driver ([`gpu`]), the runtime's
//! overrides in force ([`overrides`]), the user's startup files ([`startup`]), torch
//! against each GPU ([`torch`], with its device packages in [`packages`] and its MIOpen
//! in [`miopen`]), the kpack loader's variables ([`kpack`]) and pip's indexes ([`pip`]);
//! fix steps more than one family gives are in [`fix`].

mod fix;
mod gpu;
mod kpack;
mod miopen;
mod overrides;
mod packages;
mod pip;
mod startup;
mod torch;

pub use torch::support;

use rp_kb::{fill, OverrideCompat};
use rp_machine::MachineSnapshot;
use rp_report::{Finding, FixStep, Gpu, PythonEnv};

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

/// Every finding of a snapshot whose Python environments were judged into `python`,
/// errors first.
pub fn findings(m: &MachineSnapshot, python: &[PythonEnv]) -> Vec<Finding> {
    let mut out = Vec::new();
    gpu::sysfs_timeout_findings(m, &mut out);
    overrides::override_findings(m, python, &mut out);
    startup::startup_override_findings(m, &mut out);
    startup::unread_file_findings(m, &mut out);
    torch::torch_findings(m, python, &mut out);
    kpack::kpack_env_findings(m, python, &mut out);
    pip::pip_index_findings(python, &mut out);
    gpu::driver_findings(m, &mut out);
    torch::no_torch_findings(m, python, &mut out);
    out.sort_by(|a, b| (a.severity, &a.id, &a.subject).cmp(&(b.severity, &b.id, &b.subject)));
    out.dedup();
    out
}
