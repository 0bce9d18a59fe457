//! Human text for `explain`: the primary cause with its fix, then every event.

use rp_report::ExplainReport;
use std::io::{self, Write};

/// Write the human report.
pub fn human(r: &ExplainReport, out: &mut dyn Write) -> io::Result<()> {
    // Unreadable inputs are errors on stderr (the command prints them).
    if !r.trace_evidence.is_empty() {
        writeln!(out, "trace evidence:")?;
        for l in &r.trace_evidence {
            writeln!(out, "  {l}")?;
        }
        writeln!(out)?;
    }
    if r.causes.is_empty() {
        writeln!(out, "nothing recognised in {} lines", r.lines)?;
        return Ok(());
    }
    for (i, c) in r.causes.iter().enumerate() {
        let head = if i == 0 { "primary cause" } else { "also" };
        writeln!(
            out,
            "{head}: {}{}  ({} event{})",
            c.id,
            if c.benign { " (benign)" } else { "" },
            c.events,
            if c.events == 1 { "" } else { "s" }
        )?;
        writeln!(out, "  {}", c.title)?;
        writeln!(out, "  why: {}", c.explanation)?;
        writeln!(out, "  fix:")?;
        for l in c.fix.lines() {
            writeln!(out, "    {l}")?;
        }
        writeln!(out, "  ref: {}", c.reference)?;
        writeln!(out)?;
    }
    if !r.override_evidence.is_empty() {
        writeln!(out, "override in force: {}", r.override_evidence.join("; "))?;
    }
    if !r.gpus.is_empty() {
        writeln!(out, "GPUs on this machine: {}", r.gpus.join(", "))?;
    }
    writeln!(out, "\nevents ({} lines read):", r.lines)?;
    for e in &r.events {
        let times = if e.count > 1 {
            format!(" (x{})", e.count)
        } else {
            String::new()
        };
        writeln!(
            out,
            "  {}:{}  {}  [{}]{times}",
            e.file, e.line, e.cause, e.signature
        )?;
        writeln!(out, "      {}", e.text)?;
    }
    if r.events_dropped > 0 {
        writeln!(
            out,
            "  ... {} more distinct events not listed",
            r.events_dropped
        )?;
    }
    Ok(())
}
