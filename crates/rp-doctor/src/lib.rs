//! `rocm-patch doctor`: pure rules over a [`MachineSnapshot`].
//!
//! The machine is read once by `rp-machine`; here each torch install is judged against
//! each GPU ([`support`]), the findings are derived from the snapshot and those
//! judgements ([`findings`]), and the report is assembled once from all three. Nothing
//! here reads a file, prints or writes; finding texts come from the knowledge base's
//! catalog.
#![deny(missing_docs)]

mod rules;

pub use rules::{findings, support};

use rp_machine::MachineSnapshot;
use rp_report::{DoctorReport, PythonEnv, SCHEMA};

/// The doctor report of a snapshot.
pub fn doctor(m: &MachineSnapshot) -> DoctorReport {
    let python: Vec<PythonEnv> = m
        .python
        .iter()
        .map(|p| {
            let mut env = p.env.clone();
            if let Some(t) = env.torch.as_mut() {
                t.gpu_support = support(m, t, p.inventory.as_ref());
            }
            env
        })
        .collect();
    let findings = findings(m, &python);
    DoctorReport {
        schema: SCHEMA,
        sysroot: m.sysroot.clone(),
        gpus: m.gpus.clone(),
        driver: m.driver.clone(),
        environment: m.environment.clone(),
        rocm: m.rocm.clone(),
        python,
        findings,
    }
}
