//! `explain` reports: the events and causes recognised in logs.

use serde::{Deserialize, Serialize};

/// `rocm-patch explain` result.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ExplainReport {
    /// Always [`SCHEMA`](crate::SCHEMA).
    pub schema: u32,
    /// Recognised events in input order (repeats of the same message folded, with a count).
    pub events: Vec<ExplainEvent>,
    /// The most specific root cause found; null when nothing is recognised.
    pub primary_cause: Option<String>,
    /// Each cause found, most specific first, with its explanation and fix.
    pub causes: Vec<CauseReport>,
    /// Where an HSA_OVERRIDE_GFX_VERSION was seen (log line, environment, --env).
    pub override_evidence: Vec<String>,
    /// The GPUs the fixes were tailored to (from the machine), as `gfx1010 (name)`.
    pub gpus: Vec<String>,
    /// Lines read, over all inputs.
    pub lines: u64,
    /// Inputs that could not be read.
    pub errors: Vec<String>,
    /// Distinct events beyond the limit that were counted but not listed.
    pub events_dropped: u64,
    /// What `--trace` records add: the last kernel launched and whether its fat binary
    /// had code for the GPU, and what the seed policy changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace_evidence: Vec<String>,
}

/// One recognised event.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ExplainEvent {
    /// Cause id.
    pub cause: String,
    /// Signature id that matched.
    pub signature: String,
    /// Input name (`-` for stdin).
    pub file: String,
    /// 1-based line number of the first occurrence.
    pub line: u64,
    /// The matching line, cleaned of colour codes.
    pub text: String,
    /// What to do.
    pub fix: String,
    /// How many lines carried this same message (numbers and addresses ignored).
    pub count: u64,
    /// Where the signature comes from.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// One cause found in a log.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct CauseReport {
    /// Cause id.
    pub id: String,
    /// One line.
    pub title: String,
    /// Why.
    pub explanation: String,
    /// What to do.
    pub fix: String,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Harmless.
    pub benign: bool,
    /// Events with this cause.
    pub events: u64,
}
