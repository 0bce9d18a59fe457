//! From an error log to its cause and fix.
//!
//! Lines are streamed (bounded memory whatever the log size), cleaned of ANSI colour codes
//! and CRs (a lone CR splits progress-bar segments), and matched against the knowledge
//! base's signatures (rp-kb data/signatures.toml) with one `RegexSet`. Repeats of the same
//! message are folded. A memory fault counts as `override-foreign-isa` when an override is
//! in force: seen anywhere in the log, in the environment, or given with `--env`. Likewise
//! "no GPU" counts as `gpu-hidden` when a device-visibility variable shows in the log, and a
//! DPP broadcast rejected inside MIOpen's runtime compile as `miopen-batchnorm-dpp-gfx101x`.
//! A cause's fix is its knowledge-base steps (doctor's shape), rendered one per line.
//! Nothing here prints.
#![deny(missing_docs)]

use rp_report::{ExplainReport, SCHEMA};
use std::io::BufRead;

mod causes;
mod classifier;
mod evidence;
mod feed;

pub use causes::cause_steps;
pub use classifier::Classifier;

/// The gated signature that says an amdgpu line reports a failure: a condition for the
/// gated fallback families (`amdgpu-ras`, `amdgpu-ring`, …), never an event itself.
pub const FAILURE_WORD: &str = "amdgpu-failure-word";

/// Signatures whose pattern begins with this (the amdgpu driver's prefix or tag) are only
/// tried on lines that contain `amdgpu`, `AMDGPU`, `[drm`, `drmn` or `kfd`: a second set, so
/// the many driver-family patterns cost nothing on other lines.
pub const AMDGPU_GATE: &str = r"(?i)(?:amdgpu|\[drm|drmn\d|kfd)";

/// Longest line kept; the rest of a longer line is skipped (binary garbage, minified
/// dumps) so memory stays bounded.
pub const MAX_LINE: usize = 64 * 1024;
/// Distinct events listed; more are counted in `events_dropped`.
pub const MAX_EVENTS: usize = 2000;

/// What is known about the machine and environment.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// AMD GPUs: (true target, display name).
    pub gpus: Vec<(rp_kb::TargetId, String)>,
    /// Overrides in force (`NAME=VALUE`), from the environment or `--env`.
    pub overrides: Vec<String>,
}

/// Classify inputs (name, reader). Unreadable inputs are reported and the rest goes on.
pub fn explain<R: BufRead>(
    c: &Classifier,
    inputs: Vec<(String, std::io::Result<R>)>,
    ctx: &Context,
) -> ExplainReport {
    let mut st = feed::State::new(c);
    let mut errors = Vec::new();
    for (name, r) in inputs {
        match r.and_then(|r| feed::feed(&mut st, &name, r)) {
            Ok(()) => {}
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    let evidence = evidence::override_evidence(c, &mut st, ctx);
    let mut events = st.events;
    // No GPU while a visibility variable is set: the variable hid it.
    let hidden = !st.visibility.is_empty();
    let event_gpus = causes::settle(&mut events, &evidence, hidden, ctx);
    let causes = causes::causes(&events, &event_gpus);
    let primary_cause = causes.first().map(|c| c.id.clone());
    ExplainReport {
        schema: SCHEMA,
        events,
        primary_cause,
        causes,
        override_evidence: evidence,
        gpus: ctx.gpus.iter().map(|(g, n)| format!("{g} ({n})")).collect(),
        lines: st.lines,
        errors,
        events_dropped: st.dropped,
        trace_evidence: Vec::new(),
    }
}

/// Exit-worthy: something recognised that is not benign.
pub fn has_problem(r: &ExplainReport) -> bool {
    r.causes.iter().any(|c| !c.benign)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(log: &str, ctx: &Context) -> ExplainReport {
        let c = Classifier::new();
        explain(&c, vec![("log".to_string(), Ok(log.as_bytes()))], ctx)
    }

    #[test]
    fn every_signature_compiles() {
        let c = Classifier::new();
        assert_eq!(c.res.len(), rp_kb::kb().signatures().len());
    }

    #[test]
    fn long_lines_and_garbage_are_bounded() {
        let mut log = vec![b'x'; MAX_LINE * 3];
        log.extend_from_slice(b"\nhipErrorNoBinaryForGpu\n\xff\xfe\x00garbage\n");
        let r = explain(
            &Classifier::new(),
            vec![("g".to_string(), Ok(&log[..]))],
            &Context::default(),
        );
        assert_eq!(r.lines, 3);
        assert_eq!(r.events[0].line, 2);
    }

    #[test]
    fn fallback_only_without_a_specific_match() {
        let r = run(
            "RuntimeError: HIP error: invalid device function\n",
            &Context::default(),
        );
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.events[0].cause, "missing-code-object");
        let r = run(
            "RuntimeError: HIP error: something new\n",
            &Context::default(),
        );
        assert_eq!(r.events[0].cause, "unknown");
    }
}
