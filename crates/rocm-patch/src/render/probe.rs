//! Human text for `probe`: one row per probe as it finishes, then the failures' details.

use rp_report::{ProbeReport, ProbeResult};
use std::io::{self, Write};

/// The table header.
pub fn header(out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<22} {:<8} {:>8}  DETAIL",
        "PROBE", "STATUS", "SECONDS"
    )
}

/// One probe.
pub fn row(r: &ProbeResult, out: &mut dyn Write) -> io::Result<()> {
    let mut detail = r.detail.clone().unwrap_or_default();
    if let Some(s) = &r.signal {
        if !detail.contains(s.as_str()) {
            detail = format!("{s} {detail}");
        }
    }
    if let Some(c) = &r.cause {
        detail.push_str(&format!(" [explain: {c}]"));
    }
    let first_line = detail.lines().next().unwrap_or("");
    writeln!(
        out,
        "{:<22} {:<8} {:>8.2}  {}",
        r.name, r.status, r.seconds, first_line
    )
}

/// Totals, the environment, and the captured stderr of failed probes.
pub fn summary(r: &ProbeReport, out: &mut dyn Write) -> io::Result<()> {
    use rp_report::ProbeStatus as S;
    let count = |s: S| r.probes.iter().filter(|p| p.status == s).count();
    let mut parts = Vec::new();
    for s in [S::Pass, S::Skip, S::Wrong, S::Error, S::Crash, S::Timeout] {
        let n = count(s);
        if n > 0 {
            parts.push(format!("{n} {s}"));
        }
    }
    let build = match (&r.hip, &r.cuda) {
        (Some(h), _) => format!("HIP {h}"),
        (None, Some(c)) => format!("CUDA {c}"),
        _ => "CPU only".into(),
    };
    writeln!(
        out,
        "\n{}: {} (python {} {}, torch {} [{build}], device {}{}; torch import {:.1} s, {} worker start{})",
        super::count(r.probes.len(), "probe", "probes"),
        parts.join(", "),
        r.python,
        r.executable,
        r.torch,
        r.device,
        r.profile
            .as_deref()
            .map(|p| format!(", profile {p}"))
            .unwrap_or_default(),
        r.import_seconds,
        r.workers_started,
        if r.workers_started == 1 { "" } else { "s" }
    )?;
    if let Some(n) = &r.device_note {
        writeln!(out, "{n}")?;
    }
    let failed: Vec<&ProbeResult> = r
        .probes
        .iter()
        .filter(|p| !matches!(p.status, S::Pass | S::Skip))
        .collect();
    if !failed.is_empty() {
        writeln!(out, "\nFailures, by the library path each exercises:")?;
    }
    for p in &failed {
        writeln!(
            out,
            "  {} ({}): {}",
            p.name,
            p.status,
            p.exercises.as_deref().unwrap_or("a user probe")
        )?;
        if let Some(rem) = &p.remedy {
            writeln!(out, "      remedy: {rem}")?;
        }
    }
    for p in &r.probes {
        if let Some(s) = p.stderr.as_deref().filter(|s| !s.trim().is_empty()) {
            if matches!(p.status, S::Crash | S::Timeout | S::Error) {
                writeln!(out, "\n--- stderr of {} ({}) ---", p.name, p.status)?;
                let lines: Vec<&str> = s.lines().collect();
                let start = lines.len().saturating_sub(20);
                for l in &lines[start..] {
                    writeln!(out, "  {l}")?;
                }
            }
        }
    }
    Ok(())
}

/// `probe --list`.
pub fn list(l: &rp_report::ProbeList, out: &mut dyn Write) -> io::Result<()> {
    let mut t = super::Table::new(
        "",
        &[
            ("PROBE", super::Align::Left),
            ("GROUP", super::Align::Left),
            ("EXERCISES", super::Align::Left),
        ],
    )
    .gap(" ");
    for p in &l.probes {
        t.row(vec![p.name.clone(), p.group.clone(), p.exercises.clone()]);
    }
    t.write(out)?;
    Ok(())
}
