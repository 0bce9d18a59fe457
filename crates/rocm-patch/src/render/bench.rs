//! Human text for `bench` and `tune`.

use super::{Align, Table};
use rp_report::{BenchCell, BenchReport, ProbeStatus, TuneReport};
use std::io::{self, Write};

/// A rate with three significant digits.
pub fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn cell_text(c: &BenchCell, first: bool) -> String {
    match (&c.metrics, c.status) {
        (Some(m), ProbeStatus::Pass) => {
            let mut s = if m.first_call {
                format!("{:.1}/{:.2} ms", m.first_call_ms, m.median_ms)
            } else {
                m.rate.map(num).unwrap_or_else(|| "-".into())
            };
            if let Some(p) = c.percent_of_peak {
                s.push_str(&format!(" ({p:.0}%)"));
            }
            if !first {
                if let Some(r) = c.time_ratio {
                    s.push_str(&format!(" {r:.2}x"));
                }
            }
            s
        }
        (_, st) => st.to_string(),
    }
}

/// `bench` report.
pub fn report(r: &BenchReport, out: &mut dyn Write) -> io::Result<()> {
    header(r, out)?;
    peak(r, out)?;
    results(r, out)?;
    legend(r, out)?;
    let skips = notes_and_failures(r, out)?;
    skipped(&skips, out)?;
    comparison(r, out)?;
    history(r, out)
}

/// The first line: torch, its build, the device and the Python that ran it.
fn header(r: &BenchReport, out: &mut dyn Write) -> io::Result<()> {
    let build = match (&r.hip, &r.cuda) {
        (Some(h), _) => format!("HIP {h}"),
        (None, Some(c)) => format!("CUDA {c}"),
        _ => "CPU only".into(),
    };
    let dev = match &r.gpu {
        Some(g) => format!(
            "{}{}",
            g.name,
            g.arch
                .as_deref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default()
        ),
        None => r.device.to_string(),
    };
    writeln!(
        out,
        "torch {} [{build}] on {dev}, python {} {}",
        r.torch, r.python, r.executable
    )
}

/// The GPU's peak figures, or that the knowledge base has none for it.
fn peak(r: &BenchReport, out: &mut dyn Write) -> io::Result<()> {
    if let Some(p) = &r.peak {
        let mut figs = vec![format!("fp32 {}", num(p.fp32))];
        for (k, v) in [("tf32", p.tf32), ("fp16", p.fp16), ("bf16", p.bf16)] {
            if let Some(v) = v {
                figs.push(format!("{k} {}", num(v)));
            }
        }
        writeln!(
            out,
            "peak: {} TFLOP/s, {} GB/s ({})",
            figs.join(", "),
            num(p.bandwidth),
            p.reference
        )?;
    } else if r.gpu.is_some() {
        writeln!(
            out,
            "peak: the knowledge base has no figures for this GPU, so no % of peak"
        )?;
    }
    Ok(())
}

/// The results table: one row per benchmark, one column per profile.
fn results(r: &BenchReport, out: &mut dyn Write) -> io::Result<()> {
    let mut heads = vec![("BENCHMARK", Align::Left), ("UNIT", Align::Left)];
    heads.extend(r.profiles.iter().map(|p| (p.as_str(), Align::Right)));
    let mut t = Table::new("", &heads);
    for row in &r.benches {
        let mut cells = vec![
            row.name.clone(),
            row.unit.map_or_else(|| "-".into(), |u| u.to_string()),
        ];
        cells.extend(
            row.cells
                .iter()
                .enumerate()
                .map(|(i, c)| cell_text(c, i == 0)),
        );
        t.row(cells);
    }
    writeln!(out)?;
    t.write(out)
}

/// What the table's figures mean, each later profile against the first, and the
/// device's note.
fn legend(r: &BenchReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "\nRate (% of peak), and for each later column its median time against the first column's (2.00x = twice as slow). Median of the timed repetitions, device synchronised."
    )?;
    if r.profiles.len() > 1 {
        for (p, g) in r.profiles.iter().zip(&r.geomean_ratio).skip(1) {
            if let Some(g) = g {
                let how = if *g >= 1.0 {
                    format!("{g:.2}x slower than")
                } else {
                    format!("{:.2}x faster than", 1.0 / g)
                };
                writeln!(out, "{p} is {how} {} (geometric mean)", r.profiles[0])?;
            }
        }
    }
    if let Some(n) = &r.device_note {
        writeln!(out, "{n}")?;
    }
    Ok(())
}

/// Notes (of first-call measurements) and failures, in table order; returns the skips,
/// listed after them.
fn notes_and_failures(r: &BenchReport, out: &mut dyn Write) -> io::Result<Vec<String>> {
    let mut skips = Vec::new();
    for row in &r.benches {
        for c in &row.cells {
            let label = if r.profiles.len() > 1 {
                format!("{} [{}]", row.name, c.profile)
            } else {
                row.name.clone()
            };
            match c.status {
                ProbeStatus::Pass => {
                    if let Some(n) = c.metrics.as_ref().and_then(|m| m.note.as_deref()) {
                        if c.metrics.as_ref().is_some_and(|m| m.first_call) {
                            writeln!(out, "{label}: {n}")?;
                        }
                    }
                }
                ProbeStatus::Skip => skips.push(format!(
                    "{label}: {}",
                    c.detail.as_deref().unwrap_or("skipped")
                )),
                st => failure(&label, st, c, out)?,
            }
        }
    }
    Ok(skips)
}

/// A cell that failed: its status and first line of detail, its explanation, and the
/// last lines of its stderr.
fn failure(label: &str, st: ProbeStatus, c: &BenchCell, out: &mut dyn Write) -> io::Result<()> {
    let mut d = c.detail.clone().unwrap_or_default();
    if let Some(s) = &c.signal {
        if !d.contains(s.as_str()) {
            d = format!("{s} {d}");
        }
    }
    writeln!(out, "\n{label}: {st}: {}", d.lines().next().unwrap_or(""))?;
    if let Some(cause) = &c.cause {
        writeln!(out, "  explain: {cause}")?;
    }
    if let Some(s) = c.stderr.as_deref().filter(|s| !s.trim().is_empty()) {
        let lines: Vec<&str> = s.lines().collect();
        for l in &lines[lines.len().saturating_sub(10)..] {
            writeln!(out, "  | {l}")?;
        }
    }
    Ok(())
}

/// "Skipped": each skipped cell and why.
fn skipped(skips: &[String], out: &mut dyn Write) -> io::Result<()> {
    if skips.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nSkipped:")?;
    for s in skips {
        writeln!(out, "  {s}")?;
    }
    Ok(())
}

/// `--compare`: each benchmark against its last earlier measurement, or why none.
fn comparison(r: &BenchReport, out: &mut dyn Write) -> io::Result<()> {
    if let Some(c) = &r.compare {
        writeln!(
            out,
            "\nAgainst the last earlier measurement of each (newest {} UTC, torch {}{}); (noise): the earlier time lies within this run's spread:",
            super::deploy::utc(c.since),
            c.torch,
            c.hip
                .as_deref()
                .map(|h| format!(", HIP {h}"))
                .unwrap_or_default()
        )?;
        let mut t = Table::new(
            "  ",
            &[
                ("BENCHMARK", Align::Left),
                ("PROFILE", Align::Left),
                ("THEN", Align::Right),
                ("", Align::Left),
                ("NOW", Align::Right),
                ("UNIT", Align::Left),
                ("CHANGE", Align::Right),
                ("", Align::Left),
            ],
        )
        .gap(" ");
        for ch in &c.changes {
            t.row(vec![
                ch.name.clone(),
                ch.profile.clone(),
                num(ch.then),
                "->".into(),
                num(ch.now),
                ch.unit.to_string(),
                format!(
                    "{:+.1}%{}",
                    ch.change_percent,
                    if ch.within_spread { " (noise)" } else { "" }
                ),
                format!(
                    " (since {} UTC, torch {})",
                    super::deploy::utc(ch.since),
                    ch.torch
                ),
            ]);
        }
        t.write(out)?;
    }
    if let Some(n) = &r.compare_note {
        writeln!(out, "\n--compare: {n}")?;
    }
    Ok(())
}

/// The closing line: where the run was recorded, or why it was not.
fn history(r: &BenchReport, out: &mut dyn Write) -> io::Result<()> {
    match (&r.history, &r.history_error) {
        (Some(h), _) => writeln!(
            out,
            "\nRecorded in {h} (`rocm-patch bench --compare` next time)."
        )?,
        (None, Some(e)) => writeln!(out, "\nNot recorded: {e}")?,
        _ => {}
    }
    Ok(())
}

/// `bench --list`.
pub fn list(l: &rp_report::ProbeList, out: &mut dyn Write) -> io::Result<()> {
    let mut t = Table::new("", &[("BENCHMARK", Align::Left), ("MEASURES", Align::Left)]).gap(" ");
    for p in &l.probes {
        t.row(vec![p.name.clone(), p.exercises.clone()]);
    }
    t.write(out)
}

/// `tune` report.
pub fn tune(r: &TuneReport, out: &mut dyn Write) -> io::Result<()> {
    if let Some(b) = &r.bench {
        report(b, out)?;
        writeln!(out)?;
    }
    let mut t = Table::new(
        "",
        &[
            ("CANDIDATE", Align::Left),
            ("CORRECT", Align::Left),
            ("TIME", Align::Right),
            ("NOTE", Align::Left),
        ],
    );
    for c in &r.candidates {
        let time = c
            .geomean_ratio
            .map(|g| format!("{g:.2}x"))
            .unwrap_or_else(|| "-".into());
        let best = if r.best.as_deref() == Some(c.name.as_str()) {
            "fastest"
        } else {
            ""
        };
        let note = match (&c.note, best) {
            (Some(n), _) => n.clone(),
            (None, b) => b.to_string(),
        };
        t.row(vec![
            c.name.clone(),
            if c.correct { "yes" } else { "no" }.into(),
            time,
            note,
        ]);
    }
    t.write(out)?;
    writeln!(
        out,
        "\nTIME: geometric mean of median times against the first correct candidate (lower is faster)."
    )?;
    for n in &r.notes {
        writeln!(out, "{n}")?;
    }
    match (&r.best, &r.written) {
        (Some(b), Some(w)) => writeln!(
            out,
            "\nFastest correct: {b}. Written to {} as the default profile `{}` (transaction {}; `rocm-patch rollback --last` undoes it).",
            w.file, w.profile, w.transaction
        )?,
        (Some(b), None) => writeln!(
            out,
            "\nFastest correct: {b}. `rocm-patch tune --write` makes it your default profile."
        )?,
        (None, _) => writeln!(out, "\nNo candidate is both correct and measured.")?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rp_report::{TuneCandidate, TuneReport};

    /// Issue 29: a candidate name longer than the old 40-character column (a profile with
    /// a find mode) keeps CORRECT, TIME and NOTE in line.
    #[test]
    fn tune_columns_stay_in_line() {
        let c = |name: &str, ratio| TuneCandidate {
            name: name.into(),
            correct: true,
            geomean_ratio: Some(ratio),
            ..Default::default()
        };
        let r = TuneReport {
            candidates: vec![
                c("native", 1.0),
                c("my-very-long-user-profile+MIOPEN_FIND_MODE=NORMAL", 12.5),
            ],
            best: Some("native".into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        super::tune(&r, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = s.lines().take(3).collect();
        let time_end = lines[0].find("TIME").unwrap() + "TIME".len();
        assert_eq!(lines[1].find("1.00x").map(|i| i + 5), Some(time_end), "{s}");
        assert_eq!(
            lines[2].find("12.50x").map(|i| i + 6),
            Some(time_end),
            "{s}"
        );
        let correct = lines[0].find("CORRECT").unwrap();
        assert_eq!(lines[2].find("yes"), Some(correct), "{s}");
    }
}
