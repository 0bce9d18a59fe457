//! The run matrix: the worker started once, each selected item (probe or benchmark) run
//! isolated, a hung or dead worker replaced, a failure's stderr explained, and the rest
//! skipped once the GPU looks hung.

use crate::worker::{signal_name, trim_stderr, Answer, Ready, Worker};
use crate::{bench, select, Options, ProbeError, BENCH_OPS, HANGS_BEFORE_STOP, WORKER};
use rp_report::{ProbeResult, ProbeStatus};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// Messages after which the worker's device state is not trusted: restart it.
fn device_poisoned(detail: &str) -> bool {
    [
        "CUDA error",
        "HIP error",
        "hipError",
        "HSA_STATUS",
        "device-side assert",
        "illegal memory access",
        "out of memory",
    ]
    .iter()
    .any(|p| detail.contains(p))
}

fn cause_of(stderr: &str, classifier: &rp_explain::Classifier) -> Option<String> {
    let r = rp_explain::explain(
        classifier,
        vec![("stderr".to_string(), Ok(stderr.as_bytes()))],
        &rp_explain::Context::default(),
    );
    r.primary_cause
}

/// The knowledge base's facts about a probe (group, library path, remedy), on an empty
/// result.
fn with_facts(name: &str) -> ProbeResult {
    let spec = rp_kb::kb().probe(name);
    ProbeResult {
        group: spec.map(|s| s.group.clone()),
        exercises: spec.map(|s| s.exercises.clone()),
        remedy: spec.and_then(|s| s.remedy.clone()),
        ..ProbeResult::default()
    }
}

/// One run of the worker over the selected items.
pub(crate) struct MatrixRun {
    pub(crate) ready: Ready,
    pub(crate) started: u32,
    pub(crate) results: Vec<(ProbeResult, Option<rp_report::BenchMetrics>)>,
}

/// No answer in time: the worker's process group is killed.
fn timed_out(w: &mut Worker, r: &mut ProbeResult, t: Instant, timeout: Duration) {
    w.kill();
    r.status = ProbeStatus::Timeout;
    r.seconds = t.elapsed().as_secs_f64();
    r.detail = Some(format!(
        "no answer within {} s; the worker's process group was killed",
        timeout.as_secs_f64()
    ));
    w.finish_stderr();
    r.stderr = Some(trim_stderr(&w.probe_stderr(&r.name, false)));
}

/// The worker went away during a probe: a crash by signal (named), or an exit.
fn died(w: &mut Worker, r: &mut ProbeResult, t: Instant) {
    let status = w.child.wait().ok();
    r.seconds = t.elapsed().as_secs_f64();
    w.finish_stderr();
    r.stderr = Some(trim_stderr(&w.probe_stderr(&r.name, false)));
    match status.and_then(|s| s.signal()) {
        Some(sig) => {
            r.status = ProbeStatus::Crash;
            r.signal = Some(signal_name(sig));
            r.detail = Some(format!("the worker died of {}", signal_name(sig)));
        }
        None => {
            r.status = ProbeStatus::Error;
            r.detail = Some(format!(
                "the worker exited with status {}",
                status
                    .and_then(|s| s.code())
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "unknown".into())
            ));
        }
    }
}

/// What one item came to.
enum Outcome {
    /// The worker answered, or hung and was killed; `restart`: its device state is no
    /// longer trusted.
    Done {
        r: ProbeResult,
        metrics: Option<rp_report::BenchMetrics>,
        restart: bool,
    },
    /// The worker died during the item.
    Died(ProbeResult),
}

/// The worker script (and in bench mode the benchmarks) in a temporary directory, which
/// lives as long as the returned handle.
fn write_scripts(opts: &Options) -> Result<(tempfile::TempDir, PathBuf), ProbeError> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("rp_probe_worker.py");
    std::fs::File::create(&script)?.write_all(WORKER.as_bytes())?;
    if opts.bench_repeat.is_some() {
        std::fs::File::create(dir.path().join("rp_bench_ops.py"))?
            .write_all(BENCH_OPS.as_bytes())?;
    }
    Ok((dir, script))
}

/// Start the worker, select, and run each item isolated (probes or benchmarks).
pub(crate) fn run_matrix(
    opts: &Options,
    progress: &mut dyn FnMut(&ProbeResult, Option<&rp_report::BenchMetrics>),
) -> Result<MatrixRun, ProbeError> {
    let (_dir, script) = write_scripts(opts)?;
    let (worker, ready) = Worker::start(opts, &script)?;
    let mut started = 1;
    let selected = if opts.bench_repeat.is_some() {
        bench::select(&ready.probes, &opts.only)
    } else {
        select(&ready.probes, &opts.only)
    };
    let names = match selected {
        Ok(v) => v,
        Err(e) => {
            worker.stop();
            return Err(e);
        }
    };
    let classifier = rp_explain::Classifier::new();
    let mut results: Vec<(ProbeResult, Option<rp_report::BenchMetrics>)> = Vec::new();
    let mut alive = Some(worker);
    let mut hung_in_a_row = 0;
    for name in &names {
        if hung_in_a_row >= HANGS_BEFORE_STOP {
            // The device is most likely hung: waiting out every remaining probe would
            // only cost `timeout` each.
            let r = ProbeResult {
                name: name.clone(),
                status: ProbeStatus::Skip,
                detail: Some(format!(
                    "not run: {HANGS_BEFORE_STOP} probes in a row hung, so the GPU is probably hung (check `sudo dmesg`, reset or reboot, then probe again)"
                )),
                ..with_facts(name)
            };
            progress(&r, None);
            results.push((r, None));
            continue;
        }
        let mut w = match alive.take() {
            Some(w) => w,
            None => match Worker::start(opts, &script) {
                Ok((w, _)) => {
                    started += 1;
                    w
                }
                Err(e) => {
                    // The worker no longer starts (a hung GPU, say): every remaining
                    // probe reports it.
                    let r = ProbeResult {
                        name: name.clone(),
                        status: ProbeStatus::Error,
                        detail: Some(format!("worker restart failed: {e}")),
                        ..with_facts(name)
                    };
                    progress(&r, None);
                    results.push((r, None));
                    continue;
                }
            },
        };
        match run_one(&mut w, opts, name) {
            Outcome::Died(mut r) => {
                // Already dead: nothing to stop; the next probe starts a new worker.
                r.cause = r.stderr.as_deref().and_then(|s| cause_of(s, &classifier));
                progress(&r, None);
                results.push((r, None));
            }
            Outcome::Done {
                mut r,
                metrics,
                restart,
            } => {
                if r.status != ProbeStatus::Pass && r.status != ProbeStatus::Skip {
                    r.cause = r.stderr.as_deref().and_then(|s| cause_of(s, &classifier));
                }
                hung_in_a_row = if r.status == ProbeStatus::Timeout {
                    hung_in_a_row + 1
                } else {
                    0
                };
                progress(&r, metrics.as_ref());
                results.push((r, metrics));
                if !restart {
                    alive = Some(w);
                } else if !matches!(w.child.try_wait(), Ok(Some(_))) {
                    w.stop();
                }
            }
        }
    }
    if let Some(w) = alive {
        w.stop();
    }
    Ok(MatrixRun {
        ready,
        started,
        results,
    })
}

/// One item on the worker: the request sent, its answer read (or its hang or death
/// recorded), a failure's stderr kept.
fn run_one(w: &mut Worker, opts: &Options, name: &str) -> Outcome {
    let t = Instant::now();
    let request = match opts.bench_repeat {
        Some(n) => serde_json::json!({ "probe": name, "repeat": n }),
        None => serde_json::json!({ "probe": name }),
    };
    let sent = writeln!(w.stdin, "{request}").and_then(|_| w.stdin.flush());
    let answer = if sent.is_err() {
        Err(RecvTimeoutError::Disconnected)
    } else {
        w.results.recv_timeout(opts.timeout)
    };
    let mut r = ProbeResult {
        name: name.to_string(),
        ..with_facts(name)
    };
    let mut restart = false;
    let mut metrics = None;
    match answer {
        Ok(line) => match serde_json::from_str::<Answer>(&line) {
            Ok(a) if a.probe == name => {
                r.status = a.status;
                r.detail = a.detail;
                r.seconds = a.seconds;
                metrics = a.metrics;
                if matches!(r.status, ProbeStatus::Error | ProbeStatus::Wrong) {
                    r.stderr = Some(trim_stderr(&w.probe_stderr(name, true)));
                    restart = r.detail.as_deref().is_some_and(device_poisoned);
                }
            }
            _ => {
                r.status = ProbeStatus::Error;
                r.detail = Some(format!("unexpected worker answer: {line}"));
                restart = true;
            }
        },
        Err(RecvTimeoutError::Timeout) => {
            timed_out(w, &mut r, t, opts.timeout);
            restart = true;
        }
        Err(RecvTimeoutError::Disconnected) => {
            died(w, &mut r, t);
            return Outcome::Died(r);
        }
    }
    Outcome::Done {
        r,
        metrics,
        restart,
    }
}
