//! Running one step: its own log file, progress from the build tool's output, and
//! Ctrl-C passed on to the step's process group.

use crate::{BuildError, Event, Observer};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A step ready to run.
pub struct Job<'a> {
    /// Program and arguments.
    pub argv: &'a [String],
    /// Variables set on top of `base_env`.
    pub env: &'a BTreeMap<String, String>,
    /// The environment it starts from.
    pub base_env: &'a BTreeMap<String, String>,
    /// Working directory.
    pub cwd: &'a Path,
    /// The log file (replaced).
    pub log: &'a Path,
}

/// How a step ended.
pub enum Ended {
    /// Exit status 0.
    Ok,
    /// Non-zero status or a signal, described.
    Failed(String),
    /// Ctrl-C.
    Interrupted,
}

/// `[ 57%]` (make) or `[57/120]` (ninja) at the start of a line.
pub fn progress_of(line: &str) -> Option<(u64, u64)> {
    let l = line.trim_start();
    let inner = l.strip_prefix('[')?;
    let end = inner.find(']')?;
    let inner = inner[..end].trim();
    if let Some(p) = inner.strip_suffix('%') {
        let p: u64 = p.trim().parse().ok()?;
        return (p <= 100).then_some((p, 100));
    }
    let (a, b) = inner.split_once('/')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (b > 0 && a <= b).then_some((a, b))
}

/// Run a job to its end, or until `cancel` is set (then the process group gets SIGINT,
/// then SIGKILL after 5 s). While it runs its process group is published in
/// [`rp_sys::signal::STEP_GROUP`], for a second Ctrl-C that must stop it at once.
pub fn run(job: &Job, obs: &mut dyn Observer, cancel: &AtomicBool) -> Result<Ended, BuildError> {
    let mut log = File::create(job.log).map_err(|e| BuildError::io(job.log, "cannot create", e))?;
    let _ = writeln!(
        log,
        "# rocm-patch build: {}\n# in {}",
        crate::shell_join(job.argv),
        job.cwd.display()
    );
    for (k, v) in job.env {
        let _ = writeln!(log, "# {k}={v}");
    }
    let mut cmd = Command::new(&job.argv[0]);
    cmd.args(&job.argv[1..])
        .current_dir(job.cwd)
        .env_clear()
        .envs(job.base_env)
        .envs(job.env);
    let opts = rp_sys::process::Options {
        cancel: Some(cancel),
        stop_signal: rp_sys::signal::SIGINT,
        grace: Duration::from_secs(5),
        kill_leftovers: false,
        publish_group: Some(&rp_sys::signal::STEP_GROUP),
        tick: Duration::from_millis(500),
        ..Default::default()
    };
    let ended = rp_sys::process::run_streamed(cmd, &opts, &mut |e| match e {
        rp_sys::process::Event::Line(_, line) => {
            let _ = log.write_all(line);
            if let Some((done, total)) = progress_of(&String::from_utf8_lossy(line)) {
                obs.event(Event::StepProgress { done, total });
            }
        }
        rp_sys::process::Event::Tick => obs.event(Event::Tick),
    });
    let ended = match ended {
        Ok(e) => e,
        Err(e @ rp_sys::process::RunError::Spawn { .. }) => {
            let msg = e.to_string();
            let _ = writeln!(log, "{msg}");
            return Ok(Ended::Failed(msg));
        }
        Err(rp_sys::process::RunError::Wait(e)) => {
            return Err(BuildError::Fetch(format!("waiting for the step: {e}")))
        }
    };
    if ended.stopped.is_some() || cancel.load(Ordering::Relaxed) {
        let _ = writeln!(log, "# interrupted (Ctrl-C)");
        return Ok(Ended::Interrupted);
    }
    if ended.success() {
        return Ok(Ended::Ok);
    }
    let what = match ended.exit() {
        rp_sys::process::Exit::Code(c) => format!("exit status {c}"),
        rp_sys::process::Exit::Signal(s) => format!("killed by signal {s}"),
    };
    let _ = writeln!(log, "# {what}");
    Ok(Ended::Failed(what))
}

/// The last `n` lines of a log (reads at most its last 64 KiB).
pub fn tail(log: &PathBuf, n: usize) -> Vec<String> {
    let Ok(mut f) = File::open(log) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 << 10);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    let _ = f.take(64 << 10).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("# interrupted") && !l.starts_with("# exit status"))
        .collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines() {
        assert_eq!(progress_of("[ 57%] Building HIP object"), Some((57, 100)));
        assert_eq!(progress_of("[12/340] Building CXX object"), Some((12, 340)));
        assert_eq!(progress_of("[x] no"), None);
        assert_eq!(progress_of("[5/0]"), None);
        assert_eq!(progress_of("[150%]"), None);
    }
}
