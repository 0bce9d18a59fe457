//! `report`: what a bug tracker needs, in one place.

use crate::{DoctorReport, EnvReport, ExplainReport, ProbeReport};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `rocm-patch report`: what a bug tracker needs, in one place, redacted by default.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct BugReport {
    /// Always [`SCHEMA`](crate::SCHEMA).
    pub schema: u32,
    /// `rocm-patch --version`.
    pub tool: String,
    /// Installed versions.
    pub versions: SystemVersions,
    /// doctor's report.
    pub doctor: DoctorReport,
    /// Per library torch loads: its targets and whether each GPU can load it.
    pub libraries: Vec<LibraryCoverage>,
    /// The profile `env` would apply on this machine.
    pub profile: Option<EnvReport>,
    /// Why the profile could not be resolved.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub profile_error: Option<String>,
    /// The amdgpu, KFD and DRM lines of the kernel log (the last ones).
    pub kernel_log: Vec<String>,
    /// The files they came from.
    pub kernel_log_from: Vec<String>,
    /// `explain` on the logs given.
    pub logs: Option<ExplainReport>,
    /// The probe run, with `--probe`.
    pub probe: Option<ProbeReport>,
    /// Why the probe could not run.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub probe_error: Option<String>,
    /// The kinds of value replaced by placeholders (empty with `--no-redact`).
    pub redacted: Vec<String>,
    /// False with `--no-redact`.
    pub redaction: bool,
}

/// Versions a bug tracker asks for first.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct SystemVersions {
    /// Kernel release.
    pub kernel: Option<String>,
    /// Distribution (`PRETTY_NAME`).
    pub distribution: Option<String>,
    /// ROCm installs, `path version`.
    pub rocm: Vec<String>,
    /// torch per environment, `env: version (build)`.
    pub torch: Vec<String>,
}

/// One library torch loads, and each AMD GPU's verdict on it.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct LibraryCoverage {
    /// Path (machine path).
    pub path: String,
    /// Processors it carries code for (through its kpack archives when kpack'd).
    pub targets: Vec<String>,
    /// Its device code is in kpack archives.
    pub kpack: bool,
    /// Per GPU target: it has code that GPU can load.
    pub loads: BTreeMap<String, bool>,
}
