//! Human text for `trace`.

use rp_report::TraceReport;
use std::io::{self, Write};

fn bytes(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// The summary.
pub fn human(r: &TraceReport, out: &mut dyn Write) -> io::Result<()> {
    let cmd = if r.command.is_empty() {
        r.files.join(", ")
    } else {
        r.command.join(" ")
    };
    let ended = match &r.exit {
        Some(e) => match (&e.signal, e.code) {
            (Some(s), _) => format!("killed by {s}"),
            (None, Some(c)) => format!("exit status {c}"),
            _ => "ended".into(),
        },
        None if r.ended_abnormally => "ended without its exit record".into(),
        None => "exited".into(),
    };
    writeln!(out, "trace of {cmd}: {ended}; policy {}", r.policy)?;
    match (&r.gpu, &r.gpu_source) {
        (Some(g), Some(s)) => writeln!(out, "GPU: {g} ({s})")?,
        (Some(g), None) => writeln!(out, "GPU: {g}")?,
        _ => writeln!(
            out,
            "GPU: none known (give --gpu TARGET to check the fat binaries)"
        )?,
    }
    writeln!(out, "\nFat binaries registered: {}", r.fatbins.len())?;
    for f in &r.fatbins {
        let runs = match f.runs_here {
            Some(true) => "  runs here",
            Some(false) => "  NO CODE FOR THIS GPU",
            None => "",
        };
        let what = match (&f.kpack, f.targets.is_empty()) {
            (Some(k), _) => format!("kpack reference: {k}"),
            (None, true) => "no targets read".into(),
            (None, false) => f.targets.join(", "),
        };
        writeln!(
            out,
            "  #{:<3} {}{}: {what}{runs}",
            f.id,
            f.lib.as_deref().unwrap_or("?"),
            if f.compressed { " (compressed)" } else { "" },
        )?;
        if let Some(e) = &f.error {
            writeln!(out, "        error: {e}")?;
        }
    }
    if r.fatbins
        .iter()
        .any(|f| f.kpack.is_some() && f.runs_here != Some(true))
    {
        writeln!(
            out,
            "  A kpack'd binary's code is read from archives at load time: run again with ROCM_KPACK_DEBUG=1 to see each archive the kpack loader opens and each kernel it looks up (rocm-kpack runtime/src/loader.cpp)."
        )?;
    }
    writeln!(out, "\nKernel launches: {}", r.launches)?;
    for k in &r.kernels {
        writeln!(out, "  {:>8}  {}", k.launches, k.name)?;
    }
    if !r.last_launches.is_empty()
        && (r.ended_abnormally || r.exit.as_ref().is_some_and(|e| e.signal.is_some()))
    {
        writeln!(out, "\nLast launches before the end:")?;
        for l in &r.last_launches {
            writeln!(
                out,
                "  {:>13}  tid {}  {}  grid {:?} block {:?}{}",
                l.ms.map(|m| format!("{m:.3} ms"))
                    .unwrap_or_else(|| "-".into()),
                l.tid,
                l.kernel,
                l.grid,
                l.block,
                l.lib
                    .as_deref()
                    .map(|x| format!("  ({x})"))
                    .unwrap_or_default()
            )?;
        }
    }
    writeln!(out, "\nAllocations:")?;
    if r.allocations.is_empty() {
        writeln!(out, "  none")?;
    }
    for a in &r.allocations {
        writeln!(
            out,
            "  {:<22} {:<28} {:>6} calls {:>12}{}{}",
            a.api,
            a.flags.as_deref().unwrap_or("-"),
            a.count,
            bytes(a.bytes),
            if a.failed > 0 {
                format!(", {} failed", a.failed)
            } else {
                String::new()
            },
            a.asked
                .as_deref()
                .map(|x| format!(" (asked {x})"))
                .unwrap_or_default()
        )?;
    }
    writeln!(out, "  frees: {}", r.frees)?;
    if r.changed_by_policy > 0 {
        writeln!(
            out,
            "  the {} policy changed the flags of {} calls",
            r.policy, r.changed_by_policy
        )?;
    }
    if !r.errors.is_empty() {
        writeln!(out, "\nFailed calls:")?;
        for e in &r.errors {
            writeln!(
                out,
                "  {:<24} {} ({}) x{}",
                e.api,
                e.code,
                e.name.as_deref().unwrap_or("?"),
                e.count
            )?;
        }
    }
    for n in &r.notes {
        writeln!(out, "\nnote: {n}")?;
    }
    if r.bad_lines > 0 {
        writeln!(
            out,
            "\n{} line(s) were not records (cut off when the process ended)",
            r.bad_lines
        )?;
    }
    if !r.files.is_empty() {
        writeln!(
            out,
            "\nRecords: {} (`rocm-patch explain --trace {} LOG` adds them to a log's diagnosis)",
            r.files.join(", "),
            r.files[0]
        )?;
    }
    Ok(())
}
