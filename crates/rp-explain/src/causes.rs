//! Causes: each event's cause settled once the whole log is read (an override in force,
//! a hidden GPU, MIOpen's runtime compile), its fix filled for the GPU, and the causes
//! listed most specific first.

use crate::Context;
use rp_report::{CauseReport, ExplainEvent, FixStep};

/// A cause's fix as steps (doctor's shape), `{gpu}` filled (or `<your gfx target>`).
pub fn cause_steps(cause: &str, gpu: Option<&str>) -> Vec<FixStep> {
    let g = gpu.unwrap_or("<your gfx target>");
    let fill = |s: &Option<String>| s.as_ref().map(|t| rp_kb::fill(t, &[("gpu", g)]));
    rp_kb::kb()
        .cause(cause)
        .steps
        .iter()
        .map(|s| FixStep {
            command: fill(&s.command),
            note: fill(&s.note),
            needs_root: s.needs_root,
            alternative: s.alternative,
        })
        .collect()
}

/// Steps as text, one a line: `$ command  # note`, a lone note, `or instead:` before an
/// alternative.
pub(crate) fn render_steps(steps: &[FixStep]) -> String {
    let mut out = String::new();
    for s in steps {
        if !out.is_empty() {
            out.push('\n');
        }
        if s.alternative {
            out.push_str("or instead: ");
        }
        match (&s.command, &s.note) {
            (Some(c), Some(n)) => out.push_str(&format!("$ {c}  # {n}")),
            (Some(c), None) => out.push_str(&format!("$ {c}")),
            (None, Some(n)) => out.push_str(n),
            (None, None) => {}
        }
    }
    out
}

pub(crate) fn fill_fix(cause: &str, gpu: Option<&str>, ctx: &Context) -> String {
    let kb = rp_kb::kb();
    let c = kb.cause(cause);
    let gpu = gpu
        .map(str::to_string)
        .or_else(|| ctx.gpus.first().map(|(g, _)| g.to_string()));
    let mut fix = rp_kb::fill(
        &c.fix,
        &[("gpu", gpu.as_deref().unwrap_or("<your gfx target>"))],
    );
    let steps = render_steps(&cause_steps(cause, gpu.as_deref()));
    if !steps.is_empty() {
        fix.push('\n');
        fix.push_str(&steps);
    }
    if let Some(g) = gpu.as_deref() {
        if matches!(
            cause,
            "override-foreign-isa" | "missing-code-object" | "missing-tensile-library"
        ) {
            if let Some(s) = kb.stacks_for(g).first() {
                fix.push_str(&format!("\n# {} for {g}:", s.title));
                for cmd in s.commands_for(g) {
                    fix.push('\n');
                    fix.push_str(&cmd);
                }
            }
        }
    }
    fix
}

/// Signatures that say "no GPU at all".
const NO_GPU_SIGNATURES: &[&str] = &["hip-no-device", "torch-no-hip-gpus"];
/// Signatures of a DPP row broadcast the target lacks.
const DPP_BROADCAST_SIGNATURES: &[&str] = &[
    "llvm-dpp-broadcast-gfx10",
    "asm-row-bcast",
    "llvm-not-a-valid-operand",
];

/// Each event's cause settled now the whole log is read: a memory fault with override
/// evidence is `override-foreign-isa`, "no GPU" with a visibility variable set is
/// `gpu-hidden`, a DPP broadcast rejected while MIOpen compiled is
/// `miopen-batchnorm-dpp-gfx101x`; its fix filled. Returns the GPU each event names (else
/// the machine's), for the causes' GPU-specific notes.
pub(crate) fn settle(
    events: &mut [ExplainEvent],
    evidence: &[String],
    hidden: bool,
    ctx: &Context,
) -> Vec<String> {
    // A DPP broadcast rejected while MIOpen compiled a kernel at run time: that kernel is
    // batch-norm's reduction (the only MIOpen source using row_bcast on GFX10).
    let miopen = events
        .iter()
        .any(|e| e.cause == "miopen-failure" || e.cause == "miopen-batchnorm-dpp-gfx101x");
    // The GPU each event names (else the machine's), for the causes' GPU-specific notes.
    let mut event_gpus: Vec<String> = Vec::with_capacity(events.len());
    for e in events {
        let gpu = std::mem::take(&mut e.fix);
        event_gpus.push(if gpu.is_empty() {
            ctx.gpus
                .first()
                .map(|g| g.0.processor.clone())
                .unwrap_or_default()
        } else {
            gpu.clone()
        });
        if e.cause == "memory-access-fault" && !evidence.is_empty() {
            e.cause = "override-foreign-isa".into();
        }
        if hidden && NO_GPU_SIGNATURES.contains(&e.signature.as_str()) {
            e.cause = "gpu-hidden".into();
        }
        if miopen && DPP_BROADCAST_SIGNATURES.contains(&e.signature.as_str()) {
            e.cause = "miopen-batchnorm-dpp-gfx101x".into();
        }
        e.fix = fill_fix(&e.cause, (!gpu.is_empty()).then_some(gpu.as_str()), ctx);
    }
    event_gpus
}

/// The causes of the events, each once with its count, most specific first; among
/// equals, the one seen first.
pub(crate) fn causes(events: &[ExplainEvent], event_gpus: &[String]) -> Vec<CauseReport> {
    let kb = rp_kb::kb();
    let mut causes: Vec<CauseReport> = Vec::new();
    for (e, gpu) in events.iter().zip(event_gpus) {
        match causes.iter_mut().find(|c| c.id == e.cause) {
            Some(c) => c.events += 1,
            None => {
                let k = kb.cause(&e.cause);
                let (explanation, reference) = rp_kb::fill_noted(
                    &k.explanation,
                    &k.reference,
                    &k.notes,
                    &[("gpu", gpu.as_str())],
                );
                causes.push(CauseReport {
                    id: k.id.clone(),
                    title: k.title.clone(),
                    explanation,
                    fix: e.fix.clone(),
                    reference,
                    benign: k.benign,
                    events: 1,
                });
            }
        }
    }
    // Most specific first; among equals, the one seen first.
    causes.sort_by_key(|c| std::cmp::Reverse(kb.cause(&c.id).rank));
    causes
}
