//! `probe`: each GPU operation tested in isolation.
//!
//! A Python worker (python/rp_probe_worker.py, embedded) imports torch once and runs one
//! probe per request. The worker is its own process group; a probe that hangs past its
//! timeout gets the group SIGTERM, then SIGKILL; a probe that kills the worker (a signal)
//! is a `crash` named by that signal. Either way the worker is restarted and the matrix
//! goes on with the next probe, so one failure never hides the others and torch is only
//! imported again after a failure. stderr is captured per probe (the worker writes a
//! marker before each) and a failed probe's stderr goes through `explain`.
//! Nothing here prints; progress is reported through a callback.
#![deny(missing_docs)]

use rp_report::ProbeStatus;
use rp_report::{ProbeReport, ProbeResult, SCHEMA};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The worker script.
pub const WORKER: &str = include_str!("../python/rp_probe_worker.py");
/// The benchmarks, imported by the worker in bench mode.
pub const BENCH_OPS: &str = include_str!("../python/rp_bench_ops.py");

pub mod bench;
pub mod tune;
const MARKER: &str = "##rp-probe-begin ";
/// Written by the worker after a probe, before its answer.
const END_MARKER: &str = "##rp-probe-end ";
/// stderr kept per probe.
const MAX_STDERR: usize = 64 * 1024;

/// Which device to test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// `cuda` when torch sees one (ROCm builds use `cuda` too), else `cpu`.
    Auto,
    /// torch.cuda (ROCm or CUDA).
    Cuda,
    /// The CPU.
    Cpu,
}

impl Device {
    fn arg(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cuda => "cuda",
            Device::Cpu => "cpu",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Python interpreter.
    pub python: PathBuf,
    /// The device.
    pub device: Device,
    /// Only these probes: names, globs (`conv*`) or groups (`core`, `rdna1-known`,
    /// `workloads`); empty means all.
    pub only: Vec<String>,
    /// Per-probe timeout.
    pub timeout: Duration,
    /// How long torch may take to import.
    pub startup_timeout: Duration,
    /// Extra probe files.
    pub probes_dir: Option<PathBuf>,
    /// Environment changes for the worker (from a profile): set or unset.
    pub env: Vec<(String, Option<String>)>,
    /// The profile's name, for the report.
    pub profile: Option<String>,
    /// Run benchmarks (python/rp_bench_ops.py) instead of probes, each timed this many
    /// repetitions.
    pub bench_repeat: Option<u32>,
}

/// Why probing could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The worker did not start (no such Python, no torch, import hang).
    #[error("{0}")]
    Worker(String),
    /// `--only` is not a glob.
    #[error("--only {0:?}: {1}")]
    BadGlob(String, String),
    /// `--only` matches nothing.
    #[error("--only {0:?} matches no probe; probes: {1}")]
    NoMatch(String, String),
    /// A temporary file for the worker script.
    #[error("cannot write the worker script: {0}")]
    Io(#[from] std::io::Error),
}

/// The name of a signal number.
pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("signal {sig}"),
    }
    .to_string()
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    results: Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
}

/// What the worker said when it came up.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct Ready {
    pub(crate) python: String,
    pub(crate) executable: String,
    pub(crate) torch: String,
    pub(crate) hip: Option<String>,
    pub(crate) cuda: Option<String>,
    pub(crate) device: rp_report::ProbeDevice,
    pub(crate) import_seconds: f64,
    pub(crate) probes: Vec<String>,
    #[serde(default)]
    pub(crate) gpu: Option<rp_report::BenchGpu>,
    #[serde(default)]
    pub(crate) cuda_available: Option<bool>,
}

#[derive(Debug, serde::Deserialize)]
struct Answer {
    probe: String,
    status: rp_report::ProbeStatus,
    detail: Option<String>,
    seconds: f64,
    #[serde(default)]
    metrics: Option<rp_report::BenchMetrics>,
}

impl Worker {
    fn start(opts: &Options, script: &std::path::Path) -> Result<(Worker, Ready), ProbeError> {
        let mut cmd = Command::new(&opts.python);
        cmd.arg("-u")
            .arg(script)
            .arg("--device")
            .arg(opts.device.arg())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("PYTHONUNBUFFERED", "1")
            .process_group(0);
        if let Some(d) = &opts.probes_dir {
            cmd.arg("--probes-dir").arg(d);
        }
        if opts.bench_repeat.is_some() {
            cmd.arg("--bench");
        }
        for (k, v) in &opts.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let mut child = cmd.spawn().map_err(|e| {
            ProbeError::Worker(format!("cannot run {}: {e}", opts.python.display()))
        })?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        let stderr_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match err_pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut s = sink.lock().expect("stderr lock");
                        s.extend_from_slice(&buf[..n]);
                        // Bound the buffer: keep the tail.
                        if s.len() > 8 * MAX_STDERR {
                            let cut = s.len() - 4 * MAX_STDERR;
                            s.drain(..cut);
                        }
                    }
                }
            }
        });
        let mut w = Worker {
            child,
            stdin,
            results: rx,
            stderr,
            stderr_thread: Some(stderr_thread),
        };
        let first = w.results.recv_timeout(opts.startup_timeout);
        let line = match first {
            Ok(l) => l,
            Err(RecvTimeoutError::Timeout) => {
                w.kill();
                return Err(ProbeError::Worker(format!(
                    "{} did not import torch within {} s",
                    opts.python.display(),
                    opts.startup_timeout.as_secs()
                )));
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = w.child.wait().ok();
                let err = w.finish_stderr();
                return Err(ProbeError::Worker(format!(
                    "the worker exited ({}) before it was ready: {}",
                    status.map(|s| s.to_string()).unwrap_or_default(),
                    err.trim()
                )));
            }
        };
        let v: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| ProbeError::Worker(format!("bad worker greeting {line:?}: {e}")))?;
        if let Some(f) = v.get("fatal").and_then(|f| f.as_str()) {
            w.kill();
            return Err(ProbeError::Worker(f.to_string()));
        }
        let ready: Ready = serde_json::from_value(v)
            .map_err(|e| ProbeError::Worker(format!("bad worker greeting {line:?}: {e}")))?;
        Ok((w, ready))
    }

    /// SIGTERM to the worker's process group, SIGKILL after a grace period (what is
    /// left in the group is killed either way).
    fn kill(&mut self) {
        let pgid = self.child.id() as i32;
        let _ = rp_sys::os::kill_group(pgid, rp_sys::signal::SIGTERM);
        let ended = rp_sys::process::wait_for(&mut self.child, Duration::from_secs(2));
        let _ = rp_sys::os::kill_group(pgid, rp_sys::signal::SIGKILL);
        if ended.is_none() {
            let _ = self.child.wait();
        }
    }

    /// Wait for the stderr reader to drain, then return everything captured.
    fn finish_stderr(&mut self) -> String {
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr lock")).into_owned()
    }

    /// The stderr written since the marker of `name` (up to its end marker, which
    /// the worker writes before it answers: waited for briefly, since stderr is read
    /// by another thread and can arrive after the answer).
    fn probe_stderr(&self, name: &str, wait: bool) -> String {
        let end = format!("{END_MARKER}{name}\n");
        let t = Instant::now();
        if wait {
            loop {
                let done = {
                    let all = self.stderr.lock().expect("stderr lock");
                    String::from_utf8_lossy(&all).contains(&end)
                };
                if done || t.elapsed() > Duration::from_secs(2) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let all = self.stderr.lock().expect("stderr lock");
        let text = String::from_utf8_lossy(&all);
        let marker = format!("{MARKER}{name}\n");
        let tail = match text.rfind(&marker) {
            Some(i) => &text[i + marker.len()..],
            None => &text[..],
        };
        let tail = match tail.find(&end) {
            Some(i) => &tail[..i],
            None => tail,
        };
        tail.to_string()
    }

    fn stop(mut self) {
        drop(self.stdin);
        if rp_sys::process::wait_for(&mut self.child, Duration::from_secs(5)).is_some() {
            return;
        }
        let _ = rp_sys::os::kill_group(self.child.id() as i32, rp_sys::signal::SIGKILL);
        let _ = self.child.wait();
    }
}

fn trim_stderr(s: &str) -> String {
    let s = s.trim_end();
    if s.len() <= MAX_STDERR {
        return s.to_string();
    }
    let mut cut = s.len() - MAX_STDERR;
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    format!("[... {} bytes cut]\n{}", cut, &s[cut..])
}

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

/// The probes `only` selects, in matrix order: each entry (comma-separated lists too) is
/// a group name, an exact name or a glob; empty selects all.
pub fn select(all: &[String], only: &[String]) -> Result<Vec<String>, ProbeError> {
    let kb = rp_kb::kb();
    select_matching(all, only, |w| {
        kb.probes()
            .iter()
            .any(|p| p.group == w)
            .then(|| Box::new(move |n: &str| kb.probe(n).is_some_and(|p| p.group == w)) as _)
    })
}

/// Names that `only` selects, in `all`'s order: each entry (comma-separated lists too)
/// is what `group` makes of it (a set of names), else an exact name or a glob; an entry
/// that selects nothing is an error naming the choices; empty selects all.
pub(crate) fn select_matching<'w>(
    all: &[String],
    only: &'w [String],
    group: impl Fn(&'w str) -> Option<Box<dyn Fn(&str) -> bool + 'w>>,
) -> Result<Vec<String>, ProbeError> {
    let wanted: Vec<&str> = only
        .iter()
        .flat_map(|o| split_list(o))
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    if wanted.is_empty() {
        return Ok(all.to_vec());
    }
    let mut keep = vec![false; all.len()];
    for w in wanted {
        let hit: Box<dyn Fn(&str) -> bool> = match group(w) {
            Some(in_group) => in_group,
            None => {
                let m = globset::Glob::new(w)
                    .map_err(|e| ProbeError::BadGlob(w.to_string(), e.to_string()))?
                    .compile_matcher();
                Box::new(move |n: &str| m.is_match(n))
            }
        };
        let mut any = false;
        for (i, n) in all.iter().enumerate() {
            if hit(n) {
                keep[i] = true;
                any = true;
            }
        }
        if !any {
            return Err(ProbeError::NoMatch(w.to_string(), all.join(", ")));
        }
    }
    Ok(all
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(n, _)| n.clone())
        .collect())
}

/// Split a comma-separated list, leaving commas inside a glob's `{a,b}` alone.
pub(crate) fn split_list(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Every built-in probe with its group and library path.
pub fn list() -> rp_report::ProbeList {
    rp_report::ProbeList {
        schema: SCHEMA,
        probes: rp_kb::kb()
            .probes()
            .iter()
            .map(|p| rp_report::ProbeInfo {
                name: p.name.clone(),
                group: p.group.clone(),
                exercises: p.exercises.clone(),
                remedy: p.remedy.clone(),
                reference: p.reference.clone(),
            })
            .collect(),
    }
}

/// Run the matrix. `progress` is called after each probe.
pub fn probe(
    opts: &Options,
    progress: &mut dyn FnMut(&ProbeResult),
) -> Result<ProbeReport, ProbeError> {
    let mut run = run_matrix(opts, &mut |r, _| progress(r))?;
    // A remedy made for other GPUs is not offered (RDNA1's patches to an RX 580 owner).
    let arch = run.ready.gpu.as_ref().and_then(|g| g.arch.clone());
    for (r, _) in &mut run.results {
        if let Some(spec) = rp_kb::kb().probe(&r.name) {
            r.remedy = spec.remedy_for(arch.as_deref()).map(str::to_string);
        }
    }
    Ok(ProbeReport {
        schema: SCHEMA,
        python: run.ready.python,
        executable: run.ready.executable,
        torch: run.ready.torch,
        hip: run.ready.hip,
        cuda: run.ready.cuda,
        device: run.ready.device,
        cuda_available: run.ready.cuda_available,
        profile: opts.profile.clone(),
        import_seconds: run.ready.import_seconds,
        workers_started: run.started,
        probes: run.results.into_iter().map(|(r, _)| r).collect(),
        ..Default::default()
    })
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

/// Start the worker, select, and run each item isolated (probes or benchmarks).
pub(crate) fn run_matrix(
    opts: &Options,
    progress: &mut dyn FnMut(&ProbeResult, Option<&rp_report::BenchMetrics>),
) -> Result<MatrixRun, ProbeError> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("rp_probe_worker.py");
    std::fs::File::create(&script)?.write_all(WORKER.as_bytes())?;
    if opts.bench_repeat.is_some() {
        std::fs::File::create(dir.path().join("rp_bench_ops.py"))?
            .write_all(BENCH_OPS.as_bytes())?;
    }
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
            name: name.clone(),
            ..with_facts(name)
        };
        let mut restart = false;
        let mut metrics = None;
        match answer {
            Ok(line) => match serde_json::from_str::<Answer>(&line) {
                Ok(a) if &a.probe == name => {
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
                timed_out(&mut w, &mut r, t, opts.timeout);
                restart = true;
            }
            Err(RecvTimeoutError::Disconnected) => {
                died(&mut w, &mut r, t);
                // Already dead: nothing to stop; the next probe starts a new worker.
                r.cause = r.stderr.as_deref().and_then(|s| cause_of(s, &classifier));
                progress(&r, None);
                results.push((r, None));
                continue;
            }
        }
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
    if let Some(w) = alive {
        w.stop();
    }
    Ok(MatrixRun {
        ready,
        started,
        results,
    })
}

/// Probes that time out one after another before the rest are skipped.
pub const HANGS_BEFORE_STOP: usize = 3;

/// Every probe passed or was skipped.
pub fn all_pass(r: &ProbeReport) -> bool {
    !r.gpu_not_seen
        && r.probes
            .iter()
            .all(|p| p.status == ProbeStatus::Pass || p.status == ProbeStatus::Skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_have_names() {
        assert_eq!(signal_name(11), "SIGSEGV");
        assert_eq!(signal_name(6), "SIGABRT");
        assert_eq!(signal_name(64), "signal 64");
    }

    /// Every probe of the worker has a knowledge-base entry (group, library path) and
    /// every entry names a probe the worker has.
    #[test]
    fn the_worker_and_the_knowledge_base_agree() {
        let worker: Vec<&str> = WORKER
            .lines()
            .filter_map(|l| l.strip_prefix("def probe_"))
            .filter_map(|l| l.split('(').next())
            .collect();
        let kb = rp_kb::kb();
        for n in &worker {
            let p = kb
                .probe(n)
                .unwrap_or_else(|| panic!("{n} has no entry in probes.toml"));
            assert!(
                ["core", "rdna1-known", "workloads"].contains(&p.group.as_str()),
                "{n}"
            );
        }
        for p in kb.probes() {
            assert!(
                worker.contains(&p.name.as_str()),
                "{} is not in the worker",
                p.name
            );
        }
        assert_eq!(worker.len(), kb.probes().len());
    }

    #[test]
    fn only_takes_names_globs_groups_and_lists() {
        let all: Vec<String> = [
            "device_init",
            "conv2d_fwd_bwd",
            "lstm_fwd_bwd",
            "unet_block",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let sel = |o: &[&str]| select(&all, &o.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(sel(&[]).unwrap().len(), 4);
        assert_eq!(sel(&["conv*"]).unwrap(), ["conv2d_fwd_bwd"]);
        assert_eq!(sel(&["rdna1-known"]).unwrap(), ["lstm_fwd_bwd"]);
        assert_eq!(
            sel(&["workloads,device_init", "lstm*"]).unwrap(),
            ["device_init", "lstm_fwd_bwd", "unet_block"]
        );
        assert!(matches!(sel(&["nothing*"]), Err(ProbeError::NoMatch(..))));
        assert_eq!(
            sel(&["{lstm,unet}*"]).unwrap(),
            ["lstm_fwd_bwd", "unet_block"]
        );
    }

    #[test]
    fn stderr_is_trimmed_from_the_front() {
        let s = "x".repeat(MAX_STDERR + 10) + "END";
        let t = trim_stderr(&s);
        assert!(t.ends_with("END") && t.starts_with("[... 13 bytes cut]"));
    }
}
