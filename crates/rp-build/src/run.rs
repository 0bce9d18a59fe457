//! Running one step: its own log file, progress from the build tool's output, and
//! Ctrl-C passed on to the step's process group.

use crate::{BuildError, Event, Observer};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The process group of the step that runs now (0: none), for a signal handler that
/// must stop it at once (a second Ctrl-C).
pub static CURRENT_GROUP: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

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

fn pump(r: impl Read, log: Arc<Mutex<File>>, tx: mpsc::Sender<(u64, u64)>) {
    let mut r = BufReader::new(r);
    let mut line = Vec::new();
    loop {
        line.clear();
        // Bounded lines: a tool that prints no newline cannot grow this without end.
        match (&mut r).take(1 << 20).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if let Ok(mut f) = log.lock() {
            let _ = f.write_all(&line);
        }
        if let Some(p) = progress_of(&String::from_utf8_lossy(&line)) {
            let _ = tx.send(p);
        }
    }
}

/// Run a job to its end, or until `cancel` is set (then the process group gets SIGINT,
/// then SIGKILL after 5 s).
pub fn run(job: &Job, obs: &mut dyn Observer, cancel: &AtomicBool) -> Result<Ended, BuildError> {
    let mut logf =
        File::create(job.log).map_err(|e| BuildError::io(job.log, "cannot create", e))?;
    let _ = writeln!(
        logf,
        "# rocm-patch build: {}\n# in {}",
        crate::shell_join(job.argv),
        job.cwd.display()
    );
    for (k, v) in job.env {
        let _ = writeln!(logf, "# {k}={v}");
    }
    let log = Arc::new(Mutex::new(logf));
    let mut cmd = Command::new(&job.argv[0]);
    cmd.args(&job.argv[1..])
        .current_dir(job.cwd)
        .env_clear()
        .envs(job.base_env)
        .envs(job.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("cannot run {}: {e}", job.argv[0]);
            if let Ok(mut f) = log.lock() {
                let _ = writeln!(f, "{msg}");
            }
            return Ok(Ended::Failed(msg));
        }
    };
    let pgid = child.id() as i32;
    CURRENT_GROUP.store(pgid, Ordering::SeqCst);
    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|r| {
        let (log, tx) = (log.clone(), tx.clone());
        std::thread::spawn(move || pump(r, log, tx))
    })
    .collect();
    drop(tx);
    let mut last_tick = Instant::now();
    let mut interrupted_at: Option<Instant> = None;
    let status = loop {
        while let Ok((done, total)) = rx.try_recv() {
            obs.event(Event::StepProgress { done, total });
        }
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(BuildError::Fetch(format!("waiting for the step: {e}"))),
        }
        if cancel.load(Ordering::Relaxed) {
            match interrupted_at {
                None => {
                    // SAFETY: signalling the step's own process group.
                    unsafe { libc::kill(-pgid, libc::SIGINT) };
                    interrupted_at = Some(Instant::now());
                }
                Some(t) if t.elapsed() > Duration::from_secs(5) => {
                    // SAFETY: as above.
                    unsafe { libc::kill(-pgid, libc::SIGKILL) };
                }
                _ => {}
            }
        }
        if last_tick.elapsed() >= Duration::from_millis(500) {
            obs.event(Event::Tick);
            last_tick = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    CURRENT_GROUP.store(0, Ordering::SeqCst);
    for t in threads {
        let _ = t.join();
    }
    while let Ok((done, total)) = rx.try_recv() {
        obs.event(Event::StepProgress { done, total });
    }
    if interrupted_at.is_some() || cancel.load(Ordering::Relaxed) {
        if let Ok(mut f) = log.lock() {
            let _ = writeln!(f, "# interrupted (Ctrl-C)");
        }
        return Ok(Ended::Interrupted);
    }
    if status.success() {
        return Ok(Ended::Ok);
    }
    let what = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "failed".into(),
    };
    if let Ok(mut f) = log.lock() {
        let _ = writeln!(f, "# {what}");
    }
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
