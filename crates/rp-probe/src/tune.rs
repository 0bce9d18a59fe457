//! `tune`: probe each candidate profile, try MIOpen's find modes on top of each correct
//! one (on a ROCm torch), benchmark the correct ones against the first, and pick the
//! fastest that beats the baseline by more than run-to-run noise.

use crate::bench::{self, Column};
use crate::{Options, ProbeError};
use rp_report::{BenchMetrics, BenchReport, ProbeResult, ProbeStatus, TuneCandidate, TuneReport};

/// A candidate must beat the baseline by more than this fraction to replace it.
pub const NOISE: f64 = 0.03;

/// A profile to try, with its environment changes (or why they could not be made).
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The profile's name.
    pub name: String,
    /// Its environment changes, or why the profile could not be resolved.
    pub env: Result<Vec<(String, Option<String>)>, String>,
}

/// How to probe and benchmark.
#[derive(Debug, Clone)]
pub struct TuneOptions {
    /// The probe run for each candidate (interpreter, device, selection, timeout).
    pub probe: Options,
    /// The benchmark run over the correct candidates.
    pub bench: Options,
    /// Timed runs per benchmark.
    pub repeat: u32,
}

/// What tune is doing, for a progress display.
#[derive(Debug)]
pub enum TuneEvent<'a> {
    /// Probing this candidate.
    Probing(&'a str),
    /// The candidate's probes are done.
    Verdict {
        /// The candidate.
        name: &'a str,
        /// Every probe passed.
        correct: bool,
    },
    /// Benchmarking the correct candidates starts.
    Benchmarking,
    /// One benchmark result of one candidate.
    Cell {
        /// The candidate.
        column: &'a str,
        /// The result.
        result: &'a ProbeResult,
        /// Its measurements.
        metrics: Option<&'a BenchMetrics>,
    },
}

/// A candidate to probe: its name, profile, find mode and environment changes.
#[derive(Debug, Clone)]
struct Tried {
    name: String,
    profile: String,
    find_mode: Option<String>,
    env: Vec<(String, Option<String>)>,
}

fn not_passed(r: &ProbeResult) -> bool {
    !matches!(r.status, ProbeStatus::Pass | ProbeStatus::Skip)
}

/// Probe, rank and choose. The report's `bench` holds the benchmark run, when a
/// candidate passed every probe.
pub fn tune(
    o: &TuneOptions,
    candidates: Vec<Candidate>,
    events: &mut dyn FnMut(TuneEvent),
) -> Result<TuneReport, ProbeError> {
    let mut report = TuneReport {
        schema: rp_report::SCHEMA,
        ..Default::default()
    };
    let mut tried = Vec::new();
    let mut not_tried = Vec::new();
    for c in candidates {
        match c.env {
            Ok(env) => tried.push(Tried {
                profile: c.name.clone(),
                name: c.name,
                find_mode: None,
                env,
            }),
            Err(e) => not_tried.push(TuneCandidate {
                profile: c.name.clone(),
                name: c.name,
                note: Some(format!("not tried: {e}")),
                ..Default::default()
            }),
        }
    }
    let mut columns: Vec<Column> = Vec::new();
    let mut is_rocm = None;
    let mut i = 0;
    while i < tried.len() {
        let t = tried[i].clone();
        i += 1;
        events(TuneEvent::Probing(&t.name));
        let Some((cand, hip)) = probe_candidate(&o.probe, &t, &mut report) else {
            continue;
        };
        events(TuneEvent::Verdict {
            name: &t.name,
            correct: cand.correct,
        });
        is_rocm.get_or_insert(hip);
        // On a ROCm torch, MIOpen's find modes on top of each correct profile.
        if cand.correct && t.find_mode.is_none() && is_rocm == Some(true) {
            tried.extend(find_mode_variants(&t));
        }
        if cand.correct {
            columns.push(Column {
                name: t.name.clone(),
                env: t.env,
            });
        }
        report.candidates.push(cand);
    }
    report.candidates.extend(not_tried);
    if is_rocm == Some(false) {
        report.notes.push(format!(
            "torch {} is not a ROCm build: MIOpen find modes were not tried ({})",
            report.torch,
            rp_kb::kb().tune().find_modes_ref
        ));
    }
    if columns.is_empty() {
        report
            .notes
            .push("no candidate passed every probe: nothing to rank".into());
        return Ok(report);
    }
    events(TuneEvent::Benchmarking);
    let b = bench::bench(&o.bench, &columns, o.repeat, &mut |c, r, m| {
        events(TuneEvent::Cell {
            column: c,
            result: r,
            metrics: m,
        })
    })?;
    rank(&mut report, b);
    Ok(report)
}

/// Probe one candidate; `None` when the probe did not run (the candidate is recorded as
/// rejected). Otherwise the candidate and whether torch is a ROCm build. A failure is
/// probed once more alone: one that does not repeat is called flaky (and still
/// rejects: a GPU that answers wrongly now and then is not correct).
fn probe_candidate(
    base: &Options,
    t: &Tried,
    report: &mut TuneReport,
) -> Option<(TuneCandidate, bool)> {
    let opts = Options {
        env: t.env.clone(),
        profile: Some(t.name.clone()),
        ..base.clone()
    };
    let mut cand = TuneCandidate {
        name: t.name.clone(),
        profile: t.profile.clone(),
        find_mode: t.find_mode.clone(),
        ..Default::default()
    };
    let p = match crate::probe(&opts, &mut |_| {}) {
        Ok(p) => p,
        Err(e) => {
            cand.note = Some(format!("rejected: the probe did not run: {e}"));
            report.candidates.push(cand);
            return None;
        }
    };
    if report.torch.is_empty() {
        report.torch = p.torch.clone();
        report.hip = p.hip.clone();
        report.device = p.device;
    }
    let failed: Vec<String> = p
        .probes
        .iter()
        .filter(|r| not_passed(r))
        .map(|r| {
            let d = r
                .detail
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("");
            let d: String = d.chars().take(160).collect();
            format!("{} ({}): {d}", r.name, r.status)
        })
        .collect();
    cand.correct = failed.is_empty() && !p.gpu_not_seen;
    if !failed.is_empty() {
        let names: Vec<String> = p
            .probes
            .iter()
            .filter(|r| not_passed(r))
            .map(|r| r.name.clone())
            .collect();
        cand.note = Some(again(&opts, names));
    }
    cand.failed_probes = failed;
    Some((cand, p.hip.is_some()))
}

/// Run the failed probes once more, alone: the rejection note.
fn again(opts: &Options, names: Vec<String>) -> String {
    let again = crate::probe(
        &Options {
            only: names.clone(),
            ..opts.clone()
        },
        &mut |_| {},
    );
    let repeated = match &again {
        Ok(a) => a.probes.iter().filter(|r| not_passed(r)).count(),
        Err(_) => names.len(),
    };
    if repeated == 0 {
        format!(
            "rejected: {} failed, then passed when run again (flaky)",
            names.join(", ")
        )
    } else {
        format!(
            "rejected: {} failed (again when run a second time)",
            names.join(", ")
        )
    }
}

/// The candidate with each MIOpen find mode on top (those it does not set already).
fn find_mode_variants(t: &Tried) -> Vec<Tried> {
    let mut out = Vec::new();
    for m in &rp_kb::kb().tune().find_modes {
        if t.env
            .iter()
            .any(|(k, v)| k == "MIOPEN_FIND_MODE" && v.as_deref() == Some(m))
        {
            continue;
        }
        let mut e = t.env.clone();
        e.retain(|(k, _)| k != "MIOPEN_FIND_MODE");
        e.push(("MIOPEN_FIND_MODE".into(), Some(m.clone())));
        out.push(Tried {
            name: format!("{}+MIOPEN_FIND_MODE={m}", t.profile),
            profile: t.profile.clone(),
            find_mode: Some(m.clone()),
            env: e,
        });
    }
    out
}

/// Each candidate's ratio to the baseline from the benchmark run, and the best: the
/// baseline stays unless another candidate beats it by more than run-to-run noise.
fn rank(report: &mut TuneReport, b: BenchReport) {
    report.gpu = b.gpu.clone();
    for (col, g) in b.profiles.iter().zip(&b.geomean_ratio) {
        if let Some(c) = report.candidates.iter_mut().find(|c| &c.name == col) {
            c.geomean_ratio = *g;
            c.measured = b
                .benches
                .iter()
                .filter_map(|r| r.cells.iter().find(|x| &x.profile == col))
                .filter(|x| x.metrics.is_some())
                .count() as u32;
        }
    }
    let measured: Vec<&TuneCandidate> = report
        .candidates
        .iter()
        .filter(|c| c.correct && c.geomean_ratio.is_some())
        .collect();
    let fastest = measured
        .iter()
        .min_by(|a, b| {
            a.geomean_ratio
                .partial_cmp(&b.geomean_ratio)
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .copied();
    let mut note = None;
    let best = match (measured.first(), fastest) {
        (Some(base), Some(f)) => {
            let (b, fr) = (
                base.geomean_ratio.unwrap_or(1.0),
                f.geomean_ratio.unwrap_or(1.0),
            );
            if f.name != base.name && fr > b * (1.0 - NOISE) {
                note = Some(format!(
                    "{} is within {:.0}% of {}, which is run-to-run noise: {} is kept",
                    f.name,
                    NOISE * 100.0,
                    base.name,
                    base.name
                ));
                Some(base.name.clone())
            } else {
                Some(f.name.clone())
            }
        }
        _ => None,
    };
    report.notes.extend(note);
    report.best = best;
    report.bench = Some(b);
}
