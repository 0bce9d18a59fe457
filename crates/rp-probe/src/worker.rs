//! The probe worker: a Python process in its own process group, started with the
//! profile's environment, answering one JSON line per request; its stderr captured (the
//! tail kept) and cut per probe at the markers it writes; stopped, or its group killed.

use crate::{Options, ProbeError};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Written by the worker before a probe.
const MARKER: &str = "##rp-probe-begin ";
/// Written by the worker after a probe, before its answer.
const END_MARKER: &str = "##rp-probe-end ";
/// stderr kept per probe.
const MAX_STDERR: usize = 64 * 1024;

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

/// A running worker.
pub(crate) struct Worker {
    pub(crate) child: Child,
    pub(crate) stdin: ChildStdin,
    /// Its stdout, a line each.
    pub(crate) results: Receiver<String>,
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

/// The worker's answer to one request.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Answer {
    pub(crate) probe: String,
    pub(crate) status: rp_report::ProbeStatus,
    pub(crate) detail: Option<String>,
    pub(crate) seconds: f64,
    #[serde(default)]
    pub(crate) metrics: Option<rp_report::BenchMetrics>,
}

impl Worker {
    pub(crate) fn start(
        opts: &Options,
        script: &std::path::Path,
    ) -> Result<(Worker, Ready), ProbeError> {
        let mut child = command(opts, script).spawn().map_err(|e| {
            ProbeError::Worker(format!("cannot run {}: {e}", opts.python.display()))
        })?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let err_pipe = child.stderr.take().expect("piped stderr");
        let results = read_lines(stdout);
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stderr_thread = capture(err_pipe, stderr.clone());
        let mut w = Worker {
            child,
            stdin,
            results,
            stderr,
            stderr_thread: Some(stderr_thread),
        };
        let ready = w.greeting(opts)?;
        Ok((w, ready))
    }

    /// The worker's first line: its greeting, or why it did not come up (its group is
    /// killed when it hangs or reports a fatal error).
    fn greeting(&mut self, opts: &Options) -> Result<Ready, ProbeError> {
        let first = self.results.recv_timeout(opts.startup_timeout);
        let line = match first {
            Ok(l) => l,
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                return Err(ProbeError::Worker(format!(
                    "{} did not import torch within {} s",
                    opts.python.display(),
                    opts.startup_timeout.as_secs()
                )));
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().ok();
                let err = self.finish_stderr();
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
            self.kill();
            return Err(ProbeError::Worker(f.to_string()));
        }
        serde_json::from_value(v)
            .map_err(|e| ProbeError::Worker(format!("bad worker greeting {line:?}: {e}")))
    }

    /// SIGTERM to the worker's process group, SIGKILL after a grace period (what is
    /// left in the group is killed either way).
    pub(crate) fn kill(&mut self) {
        let pgid = self.child.id() as i32;
        let _ = rp_sys::os::kill_group(pgid, rp_sys::signal::SIGTERM);
        let ended = rp_sys::process::wait_for(&mut self.child, Duration::from_secs(2));
        let _ = rp_sys::os::kill_group(pgid, rp_sys::signal::SIGKILL);
        if ended.is_none() {
            let _ = self.child.wait();
        }
    }

    /// Wait for the stderr reader to drain, then return everything captured.
    pub(crate) fn finish_stderr(&mut self) -> String {
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr lock")).into_owned()
    }

    /// The stderr written since the marker of `name` (up to its end marker, which
    /// the worker writes before it answers: waited for briefly, since stderr is read
    /// by another thread and can arrive after the answer).
    pub(crate) fn probe_stderr(&self, name: &str, wait: bool) -> String {
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

    pub(crate) fn stop(mut self) {
        drop(self.stdin);
        if rp_sys::process::wait_for(&mut self.child, Duration::from_secs(5)).is_some() {
            return;
        }
        let _ = rp_sys::os::kill_group(self.child.id() as i32, rp_sys::signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// A probe's stderr, its tail kept within the limit.
pub(crate) fn trim_stderr(s: &str) -> String {
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

/// The worker's command line and environment: unbuffered, its own process group, the
/// profile's changes applied.
fn command(opts: &Options, script: &std::path::Path) -> Command {
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
    cmd
}

/// The worker's stdout, one line a message, read by a thread onto a channel.
fn read_lines(stdout: ChildStdout) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The worker's stderr, read by a thread into `sink` (bounded: the tail is kept).
fn capture(mut err_pipe: ChildStderr, sink: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
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
    })
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

    #[test]
    fn stderr_is_trimmed_from_the_front() {
        let s = "x".repeat(MAX_STDERR + 10) + "END";
        let t = trim_stderr(&s);
        assert!(t.ends_with("END") && t.starts_with("[... 13 bytes cut]"));
    }
}
