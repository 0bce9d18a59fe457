//! `probe` and `probe --list` reports.

use serde::{Deserialize, Serialize};

vocabulary! {
    /// The outcome of one probe.
    ProbeStatus { /** Matched the CPU. */ Pass = "pass", /** Ran, but the result differs from the CPU's. */ Wrong = "wrong", /** Raised an exception. */ Error = "error", /** The worker died. */ Crash = "crash", /** Did not finish in time. */ Timeout = "timeout", #[default] /** Not run. */ Skip = "skip" }
}

vocabulary! {
    /// The device probes ran on.
    ProbeDevice { /** torch.cuda (ROCm builds too). */ Cuda = "cuda", #[default] /** The CPU. */ Cpu = "cpu" }
}

/// `rocm-patch probe` result.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ProbeReport {
    /// Always [`SCHEMA`](crate::SCHEMA).
    pub schema: u32,
    /// Python version of the interpreter used.
    pub python: String,
    /// The interpreter.
    pub executable: String,
    /// torch version.
    pub torch: String,
    /// torch.version.hip.
    pub hip: Option<String>,
    /// torch.version.cuda.
    pub cuda: Option<String>,
    /// `cuda` or `cpu`.
    pub device: ProbeDevice,
    /// `torch.cuda.is_available()` in the worker.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cuda_available: Option<bool>,
    /// The profile applied to the worker's environment, if any.
    pub profile: Option<String>,
    /// Seconds to import torch in the first worker.
    pub import_seconds: f64,
    /// Times a worker was (re)started.
    pub workers_started: u32,
    /// Every probe run, in matrix order.
    pub probes: Vec<ProbeResult>,
    /// What the device means for the result: the CPU was tested (no GPU here), or torch
    /// saw no GPU although the machine has one (then the run fails).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub device_note: Option<String>,
    /// The run fails although every probe passed: a GPU test ran on the CPU.
    #[serde(default)]
    pub gpu_not_seen: bool,
}

/// One probe's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ProbeResult {
    /// Probe name.
    pub name: String,
    /// `pass`, `wrong`, `error`, `crash`, `timeout` or `skip`.
    pub status: ProbeStatus,
    /// The signal that ended a crashed probe, e.g. `SIGSEGV`.
    pub signal: Option<String>,
    /// Wall time.
    pub seconds: f64,
    /// What happened: the mismatch, the exception, the skip reason, or the probe's own note.
    pub detail: Option<String>,
    /// stderr captured while the probe ran (kept for crashes, timeouts and errors).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stderr: Option<String>,
    /// `explain`'s primary cause for that stderr, when it recognises one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cause: Option<String>,
    /// Its group (`core`, `rdna1-known`, `workloads`; null for a user probe).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub group: Option<String>,
    /// The library path it exercises (`MIOpen RNN …`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exercises: Option<String>,
    /// What to do when it fails, where the knowledge base knows.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remedy: Option<String>,
}

/// `rocm-patch probe --list`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ProbeList {
    /// Always [`SCHEMA`](crate::SCHEMA).
    pub schema: u32,
    /// Every built-in probe, in matrix order.
    pub probes: Vec<ProbeInfo>,
}

/// One built-in probe.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ProbeInfo {
    /// Name.
    pub name: String,
    /// Group.
    pub group: String,
    /// The library path it exercises.
    pub exercises: String,
    /// The remedy when it fails, where known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remedy: Option<String>,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
}
