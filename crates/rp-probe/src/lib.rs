//! `probe`: each GPU operation tested in isolation.
//!
//! A Python worker (python/rp_probe_worker.py, embedded) imports torch once and runs one
//! probe per request. The worker is its own process group; a probe that hangs past its
//! timeout gets the group SIGTERM, then SIGKILL; a probe that kills the worker (a signal)
//! is a `crash` named by that signal. Either way the worker is restarted and the matrix
//! goes on with the next probe, so one failure never hides the others and torch is only
//! imported again after a failure. stderr is captured per probe (the worker writes a
//! marker before each) and a failed probe's stderr goes through `explain`.
//! Nothing here prints; progress is reported through a callback.
#![deny(missing_docs)]

use rp_report::ProbeStatus;
use rp_report::{ProbeReport, ProbeResult, SCHEMA};
use std::path::PathBuf;
use std::time::Duration;

/// The worker script.
pub const WORKER: &str = include_str!("../python/rp_probe_worker.py");
/// The benchmarks, imported by the worker in bench mode.
pub const BENCH_OPS: &str = include_str!("../python/rp_bench_ops.py");

pub mod bench;
mod matrix;
mod select;
pub mod tune;
mod worker;

pub use select::{list, select};
pub use worker::signal_name;

/// Which device to test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// `cuda` when torch sees one (ROCm builds use `cuda` too), else `cpu`.
    Auto,
    /// torch.cuda (ROCm or CUDA).
    Cuda,
    /// The CPU.
    Cpu,
}

impl Device {
    pub(crate) fn arg(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cuda => "cuda",
            Device::Cpu => "cpu",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Python interpreter.
    pub python: PathBuf,
    /// The device.
    pub device: Device,
    /// Only these probes: names, globs (`conv*`) or groups (`core`, `rdna1-known`,
    /// `workloads`); empty means all.
    pub only: Vec<String>,
    /// Per-probe timeout.
    pub timeout: Duration,
    /// How long torch may take to import.
    pub startup_timeout: Duration,
    /// Extra probe files.
    pub probes_dir: Option<PathBuf>,
    /// Environment changes for the worker (from a profile): set or unset.
    pub env: Vec<(String, Option<String>)>,
    /// The profile's name, for the report.
    pub profile: Option<String>,
    /// Run benchmarks (python/rp_bench_ops.py) instead of probes, each timed this many
    /// repetitions.
    pub bench_repeat: Option<u32>,
}

/// Why probing could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The worker did not start (no such Python, no torch, import hang).
    #[error("{0}")]
    Worker(String),
    /// `--only` is not a glob.
    #[error("--only {0:?}: {1}")]
    BadGlob(String, String),
    /// `--only` matches nothing.
    #[error("--only {0:?} matches no probe; probes: {1}")]
    NoMatch(String, String),
    /// A temporary file for the worker script.
    #[error("cannot write the worker script: {0}")]
    Io(#[from] std::io::Error),
}

/// Run the matrix. `progress` is called after each probe.
pub fn probe(
    opts: &Options,
    progress: &mut dyn FnMut(&ProbeResult),
) -> Result<ProbeReport, ProbeError> {
    let mut run = matrix::run_matrix(opts, &mut |r, _| progress(r))?;
    // A remedy made for other GPUs is not offered (RDNA1's patches to an RX 580 owner).
    let arch = run.ready.gpu.as_ref().and_then(|g| g.arch.clone());
    for (r, _) in &mut run.results {
        if let Some(spec) = rp_kb::kb().probe(&r.name) {
            r.remedy = spec.remedy_for(arch.as_deref()).map(str::to_string);
        }
    }
    Ok(ProbeReport {
        schema: SCHEMA,
        python: run.ready.python,
        executable: run.ready.executable,
        torch: run.ready.torch,
        hip: run.ready.hip,
        cuda: run.ready.cuda,
        device: run.ready.device,
        cuda_available: run.ready.cuda_available,
        profile: opts.profile.clone(),
        import_seconds: run.ready.import_seconds,
        workers_started: run.started,
        probes: run.results.into_iter().map(|(r, _)| r).collect(),
        ..Default::default()
    })
}

/// Probes that time out one after another before the rest are skipped.
pub const HANGS_BEFORE_STOP: usize = 3;

/// Every probe passed or was skipped.
pub fn all_pass(r: &ProbeReport) -> bool {
    !r.gpu_not_seen
        && r.probes
            .iter()
            .all(|p| p.status == ProbeStatus::Pass || p.status == ProbeStatus::Skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every probe of the worker has a knowledge-base entry (group, library path) and
    /// every entry names a probe the worker has.
    #[test]
    fn the_worker_and_the_knowledge_base_agree() {
        let worker: Vec<&str> = WORKER
            .lines()
            .filter_map(|l| l.strip_prefix("def probe_"))
            .filter_map(|l| l.split('(').next())
            .collect();
        let kb = rp_kb::kb();
        for n in &worker {
            let p = kb
                .probe(n)
                .unwrap_or_else(|| panic!("{n} has no entry in probes.toml"));
            assert!(
                ["core", "rdna1-known", "workloads"].contains(&p.group.as_str()),
                "{n}"
            );
        }
        for p in kb.probes() {
            assert!(
                worker.contains(&p.name.as_str()),
                "{} is not in the worker",
                p.name
            );
        }
        assert_eq!(worker.len(), kb.probes().len());
    }
}
