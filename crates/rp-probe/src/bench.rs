//! `bench`: each benchmark timed in the probe worker (same isolation: a crash or hang in
//! one never ends the run), once per profile; % of the device's peak from the knowledge
//! base; a history file so that a run can be compared with the last one on the device.

use crate::matrix::run_matrix;
use crate::{Options, ProbeError};
use rp_report::{
    BenchCell, BenchChange, BenchComparison, BenchMetrics, BenchPeak, BenchReport, BenchRow,
    ProbeDevice, ProbeResult, ProbeStatus, SCHEMA,
};
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The column name of the environment as it is (no `--profile`).
pub const CURRENT: &str = "current";
/// The history file in the state directory.
pub const HISTORY_FILE: &str = "bench-history.jsonl";
/// How much of the history's end is read (whole lines).
const HISTORY_TAIL: u64 = 4 << 20;
/// A history file is cut to its last half once it is larger than this.
const HISTORY_MAX: u64 = 8 << 20;

/// The benchmarks `only` selects, in run order: names or globs, comma-separated or
/// repeated; empty selects all.
pub fn select(all: &[String], only: &[String]) -> Result<Vec<String>, ProbeError> {
    crate::select::select_matching(all, only, |_| None)
}

/// The built-in benchmarks in run order, each with what it measures (the worker's
/// python/rp_bench_ops.py defines them; a test checks that the two agree).
pub fn builtin() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for dt in ["fp32", "fp16", "bf16"] {
        for n in [1024, 4096, 8192] {
            v.push((
                format!("matmul_{dt}_{n}"),
                format!("{n}x{n} by {n}x{n} {dt} matrix product (torch.mm), TFLOP/s"),
            ));
        }
    }
    for dt in ["fp32", "fp16"] {
        for (d, what) in [
            ("fwd", "forward"),
            ("bwd", "backward (input and weight gradients)"),
        ] {
            v.push((
                format!("conv2d_{d}_{dt}"),
                format!("ResNet-50's convolution layers at batch 32, {dt}, {what}, TFLOP/s"),
            ));
        }
    }
    v.push((
        "batchnorm_fwd_fp32".into(),
        "BatchNorm2d(256) training forward at (32, 256, 56, 56), GB/s".into(),
    ));
    v.push((
        "batchnorm_bwd_fp32".into(),
        "BatchNorm2d(256) backward at (32, 256, 56, 56), GB/s".into(),
    ));
    v.push((
        "sdpa_fp16_causal".into(),
        "scaled_dot_product_attention, fp16, causal, (8, 16, 2048, 64), TFLOP/s".into(),
    ));
    v.push((
        "copy_d2d".into(),
        "device memory bandwidth: a 1 GiB copy, bytes read plus written, GB/s".into(),
    ));
    for (d, what) in [("h2d", "host to device"), ("d2h", "device to host")] {
        for kind in ["pageable", "pinned"] {
            v.push((
                format!("copy_{d}_{kind}"),
                format!("{what} copy of 256 MiB from {kind} host memory, GB/s"),
            ));
        }
    }
    v.push((
        "conv_first_call".into(),
        "a new convolution's first call (kernel choice, on ROCm MIOpen's compile) against its warm call".into(),
    ));
    v
}

/// The built-in benchmark names.
pub fn builtin_names() -> Vec<String> {
    builtin().into_iter().map(|(n, _)| n).collect()
}

/// One column: a profile's name and the environment changes it makes.
#[derive(Debug, Clone)]
pub struct Column {
    /// The name shown (`current`, a profile, `safe+MIOPEN_FIND_MODE=FAST`).
    pub name: String,
    /// Set (`Some`) or unset (`None`) in the worker's environment.
    pub env: Vec<(String, Option<String>)>,
}

/// Run every selected benchmark under each column. `base` gives the interpreter, the
/// device, the selection, the timeout and extra benchmark files; `progress` gets each
/// result with its column.
pub fn bench(
    base: &Options,
    columns: &[Column],
    repeat: u32,
    progress: &mut dyn FnMut(&str, &ProbeResult, Option<&BenchMetrics>),
) -> Result<BenchReport, ProbeError> {
    let mut report = BenchReport {
        schema: SCHEMA,
        time: now(),
        ..Default::default()
    };
    let mut rows: Vec<BenchRow> = Vec::new();
    for (ci, col) in columns.iter().enumerate() {
        let opts = Options {
            env: col.env.clone(),
            profile: Some(col.name.clone()),
            bench_repeat: Some(repeat.max(1)),
            ..base.clone()
        };
        let mut prog = |r: &ProbeResult, m: Option<&BenchMetrics>| progress(&col.name, r, m);
        let run = match run_matrix(&opts, &mut prog) {
            Ok(r) => r,
            // A column whose worker does not start (a profile that breaks torch's import)
            // is reported in every row; the first column failing ends the run.
            Err(e) if ci > 0 => {
                for row in &mut rows {
                    row.cells.push(BenchCell {
                        profile: col.name.clone(),
                        status: ProbeStatus::Error,
                        detail: Some(format!("the worker did not start: {e}")),
                        ..Default::default()
                    });
                }
                report.profiles.push(col.name.clone());
                continue;
            }
            Err(e) => return Err(e),
        };
        if ci == 0 {
            report.python = run.ready.python.clone();
            report.executable = run.ready.executable.clone();
            report.torch = run.ready.torch.clone();
            report.hip = run.ready.hip.clone();
            report.cuda = run.ready.cuda.clone();
            report.device = run.ready.device;
            report.gpu = run.ready.gpu.clone();
        }
        report.workers_started += run.started;
        report.profiles.push(col.name.clone());
        for (r, m) in run.results {
            let cell = BenchCell {
                profile: col.name.clone(),
                status: r.status,
                signal: r.signal,
                seconds: r.seconds,
                detail: r.detail,
                metrics: m,
                stderr: r.stderr,
                cause: r.cause,
                ..Default::default()
            };
            match rows.iter_mut().find(|row| row.name == r.name) {
                Some(row) => row.cells.push(cell),
                None => {
                    // Earlier columns did not have it (a benchmark file that changed).
                    let mut cells: Vec<BenchCell> = report.profiles[..ci]
                        .iter()
                        .map(|p| BenchCell {
                            profile: p.clone(),
                            status: ProbeStatus::Skip,
                            detail: Some("not run under this profile".into()),
                            ..Default::default()
                        })
                        .collect();
                    cells.push(cell);
                    rows.push(BenchRow {
                        name: r.name.clone(),
                        unit: None,
                        cells,
                    });
                }
            }
        }
        for row in &mut rows {
            if row.cells.len() < ci + 1 {
                row.cells.push(BenchCell {
                    profile: col.name.clone(),
                    status: ProbeStatus::Skip,
                    detail: Some("not run under this profile".into()),
                    ..Default::default()
                });
            }
        }
    }
    report.benches = rows;
    finish(&mut report);
    Ok(report)
}

/// Peak, percentages, ratios, geometric means: everything computed from the cells.
pub fn finish(report: &mut BenchReport) {
    let peak = report
        .gpu
        .as_ref()
        .filter(|_| report.device == ProbeDevice::Cuda)
        .and_then(|g| rp_kb::kb().peak_for(&g.name));
    report.peak = peak.map(|p| BenchPeak {
        name: p.names[0].clone(),
        fp32: p.fp32,
        tf32: p.tf32,
        fp16: p.fp16,
        bf16: p.bf16,
        bandwidth: p.bandwidth,
        reference: p.reference.clone(),
    });
    let ncols = report.profiles.len();
    let mut logs: Vec<Vec<f64>> = vec![Vec::new(); ncols];
    for row in &mut report.benches {
        row.unit = row
            .cells
            .iter()
            .find_map(|c| c.metrics.as_ref().map(|m| m.unit));
        let first = row
            .cells
            .first()
            .and_then(|c| c.metrics.as_ref())
            .map(|m| m.median_ms)
            .filter(|t| *t > 0.0);
        for (i, c) in row.cells.iter_mut().enumerate() {
            let Some(m) = &c.metrics else { continue };
            c.percent_of_peak = match (peak, &m.peak, m.rate) {
                (Some(p), Some(kind), Some(rate)) => p
                    .figure(kind.as_str())
                    .filter(|f| *f > 0.0)
                    .map(|f| rate / f * 100.0),
                _ => None,
            };
            if let Some(f) = first {
                if m.median_ms > 0.0 && !m.first_call {
                    let ratio = m.median_ms / f;
                    c.time_ratio = Some(ratio);
                    if i < ncols {
                        logs[i].push(ratio.ln());
                    }
                }
            }
        }
    }
    report.geomean_ratio = logs
        .iter()
        .map(|l| {
            if l.is_empty() {
                None
            } else {
                Some((l.iter().sum::<f64>() / l.len() as f64).exp())
            }
        })
        .collect();
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One run as the history keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryEntry {
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// The device: the GPU's name, or `cpu`.
    pub device: String,
    /// The interpreter.
    pub executable: String,
    /// torch version.
    pub torch: String,
    /// HIP version.
    pub hip: Option<String>,
    /// Each measured benchmark.
    pub results: Vec<HistoryResult>,
}

/// One measured benchmark in the history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryResult {
    /// Benchmark.
    pub name: String,
    /// Profile (column).
    pub profile: String,
    /// Unit.
    pub unit: rp_report::RateUnit,
    /// Rate.
    pub rate: f64,
    /// Median milliseconds.
    pub median_ms: f64,
    /// Fastest repetition, milliseconds per call.
    #[serde(default)]
    pub min_ms: f64,
    /// Slowest repetition.
    #[serde(default)]
    pub max_ms: f64,
}

/// The device key of a report: the GPU's name, or `cpu`.
pub fn device_key(r: &BenchReport) -> String {
    match (&r.gpu, r.device) {
        (Some(g), ProbeDevice::Cuda) => g.name.clone(),
        _ => "cpu".into(),
    }
}

/// The history entry for a report (measured benchmarks only).
pub fn entry(r: &BenchReport) -> HistoryEntry {
    HistoryEntry {
        time: r.time,
        device: device_key(r),
        executable: r.executable.clone(),
        torch: r.torch.clone(),
        hip: r.hip.clone(),
        results: r
            .benches
            .iter()
            .flat_map(|row| {
                row.cells.iter().filter_map(move |c| {
                    let m = c.metrics.as_ref()?;
                    Some(HistoryResult {
                        name: row.name.clone(),
                        profile: c.profile.clone(),
                        unit: m.unit,
                        rate: m.rate?,
                        median_ms: m.median_ms,
                        min_ms: m.min_ms,
                        max_ms: m.max_ms,
                    })
                })
            })
            .collect(),
    }
}

/// The history file opened for reading, or `None` when there is none yet.
fn open_history(p: &Path) -> Result<Option<(std::fs::File, u64)>, String> {
    match rp_sys::open_regular(p) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// The entries of the history's last [`HISTORY_TAIL`] bytes, oldest first; lines that do
/// not parse are counted, not fatal.
pub fn read_history(state_dir: &Path) -> Result<(Vec<HistoryEntry>, usize), String> {
    let p = state_dir.join(HISTORY_FILE);
    let Some((mut f, len)) = open_history(&p)? else {
        return Ok((Vec::new(), 0));
    };
    let start = len.saturating_sub(HISTORY_TAIL);
    f.seek(SeekFrom::Start(start))
        .map_err(|e| format!("{}: {e}", p.display()))?;
    let mut buf = Vec::new();
    f.take(HISTORY_TAIL)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{}: cannot read: {e}", p.display()))?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.lines();
    if start > 0 {
        lines.next(); // a partial line
    }
    let (mut out, mut bad) = (Vec::new(), 0);
    for l in lines.filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<HistoryEntry>(l) {
            Ok(e) => out.push(e),
            Err(_) => bad += 1,
        }
    }
    Ok((out, bad))
}

/// Append a run to the history (one JSON line; the file is cut to its newer half once
/// it passes [`HISTORY_MAX`]). Returns the file.
pub fn record(state_dir: &Path, e: &HistoryEntry) -> Result<PathBuf, String> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(state_dir)
        .map_err(|err| format!("{}: cannot create: {err}", state_dir.display()))?;
    let p = state_dir.join(HISTORY_FILE);
    if let Some((_, len)) = open_history(&p)? {
        if len > HISTORY_MAX {
            let (keep, _) = read_history(state_dir)?;
            let tmp = state_dir.join(format!("{HISTORY_FILE}.tmp"));
            let mut text = String::new();
            for k in keep.iter().skip(keep.len() / 2) {
                text.push_str(&serde_json::to_string(k).map_err(|e| e.to_string())?);
                text.push('\n');
            }
            std::fs::write(&tmp, text).map_err(|err| format!("{}: {err}", tmp.display()))?;
            std::fs::rename(&tmp, &p).map_err(|err| format!("{}: {err}", p.display()))?;
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .mode(0o644)
        .open(&p)
        .map_err(|err| format!("{}: cannot open: {err}", p.display()))?;
    let md = f
        .metadata()
        .map_err(|err| format!("{}: {err}", p.display()))?;
    if !md.is_file() {
        return Err(format!("{}: not a regular file", p.display()));
    }
    let mut line = serde_json::to_string(e).map_err(|err| err.to_string())? + "\n";
    // A history whose last line was cut (a run killed while writing it) gets the new
    // line on a line of its own, so this entry is read back whole.
    if md.len() > 0 {
        let mut last = [0u8; 1];
        let mut r = std::fs::File::open(&p).map_err(|err| format!("{}: {err}", p.display()))?;
        r.seek(SeekFrom::Start(md.len() - 1))
            .and_then(|_| r.read_exact(&mut last))
            .map_err(|err| format!("{}: cannot read: {err}", p.display()))?;
        if last[0] != b'\n' {
            line.insert(0, '\n');
        }
    }
    f.write_all(line.as_bytes())
        .map_err(|err| format!("{}: cannot write: {err}", p.display()))?;
    Ok(p)
}

/// Each benchmark of this run against its last earlier measurement on the same device
/// under the same profile and unit; `None` when there is none at all.
pub fn compare(now: &BenchReport, history: &[HistoryEntry]) -> Option<BenchComparison> {
    let key = device_key(now);
    let earlier: Vec<&HistoryEntry> = history
        .iter()
        .filter(|e| e.device == key && e.time <= now.time)
        .collect();
    let mut newest: Option<&HistoryEntry> = None;
    let changes: Vec<BenchChange> = entry(now)
        .results
        .iter()
        .filter_map(|n| {
            let (e, t) = earlier.iter().rev().find_map(|e| {
                e.results
                    .iter()
                    .find(|t| {
                        t.name == n.name
                            && t.profile == n.profile
                            && t.unit == n.unit
                            && t.rate > 0.0
                    })
                    .map(|t| (*e, t))
            })?;
            if newest.is_none_or(|x| e.time > x.time) {
                newest = Some(e);
            }
            Some(BenchChange {
                name: n.name.clone(),
                profile: n.profile.clone(),
                unit: n.unit,
                then: t.rate,
                now: n.rate,
                change_percent: (n.rate / t.rate - 1.0) * 100.0,
                since: e.time,
                torch: e.torch.clone(),
                within_spread: n.min_ms <= t.median_ms && t.median_ms <= n.max_ms,
            })
        })
        .collect();
    let then = newest?;
    Some(BenchComparison {
        since: then.time,
        torch: then.torch.clone(),
        hip: then.hip.clone(),
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(profile: &str, ms: f64, rate: f64) -> BenchCell {
        BenchCell {
            profile: profile.into(),
            status: ProbeStatus::Pass,
            metrics: Some(BenchMetrics {
                unit: rp_report::RateUnit::TflopPerS,
                peak: Some(rp_report::PeakKind::Fp16),
                median_ms: ms,
                rate: Some(rate),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The Rust list is the worker's: python3 imports rp_bench_ops.py (it needs no torch
    /// to be imported) and prints its names in order.
    #[test]
    fn the_builtin_list_is_the_workers() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("rp_bench_ops.py"), crate::BENCH_OPS).unwrap();
        let out = std::process::Command::new("python3")
            .current_dir(d.path())
            .args([
                "-c",
                "import rp_bench_ops\nfor n, _ in rp_bench_ops.BENCHES: print(n)",
            ])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let names: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(names, builtin_names());
    }

    #[test]
    fn ratios_geomeans_and_peaks() {
        let mut r = BenchReport {
            device: ProbeDevice::Cuda,
            gpu: Some(rp_report::BenchGpu {
                name: "NVIDIA H200".into(),
                ..Default::default()
            }),
            profiles: vec!["a".into(), "b".into()],
            benches: vec![
                BenchRow {
                    name: "x".into(),
                    cells: vec![cell("a", 1.0, 494.75), cell("b", 2.0, 247.375)],
                    ..Default::default()
                },
                BenchRow {
                    name: "y".into(),
                    cells: vec![cell("a", 4.0, 1.0), cell("b", 8.0, 0.5)],
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        finish(&mut r);
        assert_eq!(r.peak.as_ref().unwrap().name, "NVIDIA H200");
        let c = &r.benches[0].cells;
        assert!((c[0].percent_of_peak.unwrap() - 50.0).abs() < 1e-9);
        assert_eq!(c[1].time_ratio, Some(2.0));
        assert!((r.geomean_ratio[1].unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(r.geomean_ratio[0], Some(1.0));
    }

    #[test]
    fn history_round_trip_and_compare() {
        let d = tempfile::tempdir().unwrap();
        let mut r = BenchReport {
            time: 100,
            profiles: vec![CURRENT.into()],
            torch: "2.5".into(),
            benches: vec![BenchRow {
                name: "x".into(),
                cells: vec![cell(CURRENT, 1.0, 10.0)],
                ..Default::default()
            }],
            ..Default::default()
        };
        record(d.path(), &entry(&r)).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(d.path().join(HISTORY_FILE))
            .unwrap()
            .write_all(b"not json\n")
            .unwrap();
        r.time = 200;
        r.torch = "2.6".into();
        r.benches[0].cells[0] = cell(CURRENT, 0.5, 12.5);
        let (h, bad) = read_history(d.path()).unwrap();
        assert_eq!((h.len(), bad), (1, 1));
        let c = compare(&r, &h).unwrap();
        assert_eq!((c.since, c.torch.as_str()), (100, "2.5"));
        assert!((c.changes[0].change_percent - 25.0).abs() < 1e-9);
        // A profile measured before only under another name has nothing to compare.
        r.benches[0].cells[0].profile = "safe".into();
        assert!(compare(&r, &h).is_none());
        r.benches[0].cells[0].profile = CURRENT.into();
        // Another device has no earlier run.
        r.device = ProbeDevice::Cuda;
        r.gpu = Some(rp_report::BenchGpu {
            name: "NVIDIA H200".into(),
            ..Default::default()
        });
        assert!(compare(&r, &h).is_none());
    }

    #[test]
    fn a_cut_last_line_does_not_swallow_the_next_entry() {
        let d = tempfile::tempdir().unwrap();
        let e = HistoryEntry {
            time: 1,
            device: "cpu".into(),
            executable: "py".into(),
            torch: "2".into(),
            hip: None,
            results: Vec::new(),
        };
        record(d.path(), &e).unwrap();
        // A run killed in the middle of its line.
        let p = d.path().join(HISTORY_FILE);
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("{\"time\": 2, \"dev");
        std::fs::write(&p, text).unwrap();
        record(d.path(), &HistoryEntry { time: 3, ..e }).unwrap();
        let (got, bad) = read_history(d.path()).unwrap();
        assert_eq!(got.iter().map(|h| h.time).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(bad, 1);
    }

    #[test]
    fn a_fifo_as_history_is_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(HISTORY_FILE);
        rp_sys::os::mkfifo(&p, 0o600).unwrap();
        assert!(read_history(d.path())
            .unwrap_err()
            .contains("not a regular file"));
        assert!(record(d.path(), &entry(&BenchReport::default()))
            .unwrap_err()
            .contains("not a regular file"));
    }
}
