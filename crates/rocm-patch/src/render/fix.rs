//! Human text for `fix`.

use rp_report::{FindingBrief, FixOutcome, FixReport, FixStepState, Severity};
use std::io::{self, Write};

fn errors(v: &[FindingBrief]) -> usize {
    v.iter().filter(|f| f.severity == Severity::Error).count()
}

/// The plan: one block per step.
pub fn plan(r: &FixReport, out: &mut dyn Write) -> io::Result<()> {
    if r.steps.is_empty() {
        return writeln!(
            out,
            "Nothing to fix: no finding on {} has a remedy ({} error findings).",
            r.sysroot,
            errors(&r.before)
        );
    }
    writeln!(out, "Plan for {} ({} steps):", r.sysroot, r.steps.len())?;
    for (i, s) in r.steps.iter().enumerate() {
        let mut flags = Vec::new();
        if s.needs_root {
            flags.push("needs root");
        }
        if s.relogin {
            flags.push("takes effect at the next login");
        }
        if s.reboot {
            flags.push("needs a reboot");
        }
        writeln!(out)?;
        writeln!(out, "{:>2}. {}  [{}]", i + 1, s.title, s.action)?;
        writeln!(out, "    for: {}", s.findings.join(", "))?;
        writeln!(out, "    why: {} ({})", s.why, s.reference)?;
        for c in &s.changes {
            writeln!(out, "    change: {c}")?;
        }
        for u in &s.untouched {
            writeln!(out, "    left alone: {u}")?;
        }
        let label = if s.state == FixStepState::Printed {
            "run yourself"
        } else {
            "runs"
        };
        for c in &s.commands {
            writeln!(out, "    {label}: {c}")?;
        }
        if !flags.is_empty() {
            writeln!(out, "    note: {}", flags.join(", "))?;
        }
        writeln!(out, "    undo: {}", s.undo)?;
        writeln!(out, "    verify: {}", s.verify)?;
        if s.state != FixStepState::Planned {
            writeln!(out, "    state: {}", s.state)?;
        }
        if let Some(d) = &s.detail {
            writeln!(out, "    detail: {d}")?;
        }
    }
    Ok(())
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The whole report: the plan with each step's state, then what changed.
pub fn human(r: &FixReport, out: &mut dyn Write) -> io::Result<()> {
    plan(r, out)?;
    writeln!(out)?;
    if let Some(t) = &r.transaction {
        writeln!(
            out,
            "Transaction {t}: `rocm-patch rollback {t}` (or `rollback --last`) undoes this fix."
        )?;
    }
    if let Some(v) = &r.venv {
        writeln!(out, "New venv: {v}")?;
    }
    match &r.after {
        Some(after) => {
            writeln!(
                out,
                "Doctor before -> after: {} -> {} error findings (read again as a new login shell would see the machine)",
                errors(&r.before),
                errors(after)
            )?;
            writeln!(out, "  fixed: {}", list(&r.fixed))?;
            writeln!(out, "  remaining: {}", list(&r.remaining))?;
            if !r.superseded.is_empty() {
                writeln!(
                    out,
                    "  superseded by the new venv, not fixed (the old environment is as it was; point your app at the new venv, see Next): {}",
                    list(&r.superseded)
                )?;
            }
        }
        None if !r.remaining.is_empty() => {
            writeln!(out, "Error findings: {}", list(&r.remaining))?;
        }
        None => {}
    }
    if let Some(p) = &r.probe {
        if p.ran {
            writeln!(
                out,
                "Probe: {}/{} passed on {} with {}{}",
                p.passed,
                p.total,
                p.device.map(|d| d.as_str()).unwrap_or("?"),
                p.python.as_deref().unwrap_or("?"),
                if p.gpu_verified {
                    " -- the GPU is verified"
                } else {
                    ""
                }
            )?;
            if !p.failed.is_empty() {
                writeln!(out, "  not passed: {}", p.failed.join(", "))?;
            }
        }
        if let Some(n) = &p.note {
            writeln!(out, "Probe: {n}")?;
        }
    }
    if !r.current_shell.is_empty() {
        writeln!(out, "This shell still has the old value; run:")?;
        for l in &r.current_shell {
            writeln!(out, "  {l}")?;
        }
    }
    if !r.next.is_empty() {
        writeln!(out, "Use the new venv (nothing else was changed):")?;
        for l in &r.next {
            writeln!(out, "  {l}")?;
        }
    }
    if let Some(e) = &r.error {
        writeln!(out, "Stopped: {e}")?;
    }
    let what = match r.outcome {
        FixOutcome::NothingToFix => "nothing to fix",
        FixOutcome::DryRun => "dry run: nothing was changed",
        FixOutcome::Declined => "nothing was changed",
        FixOutcome::Fixed => "fixed",
        FixOutcome::Incomplete => "not everything is fixed",
        FixOutcome::RolledBack => "a step failed; every change was rolled back",
    };
    writeln!(out, "Result: {what}.")
}
