//! The one process runner.
//!
//! A child runs in its own process group with no input; its stdout and stderr are read
//! by two threads. [`run_bounded`] keeps up to a cap of each; [`run_streamed`] hands
//! each line to a callback on the caller's thread, in order per stream. On the deadline
//! or when the cancel flag is set the group gets the stop signal (SIGTERM unless told
//! otherwise), then SIGKILL after the grace period (at once when the grace is zero).
//! When the child has ended, what it left running in its group is killed, so the pipes
//! close (unless [`Options::kill_leftovers`] is off).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest line [`run_streamed`] delivers whole; a longer one comes in pieces.
pub const MAX_LINE: u64 = 1 << 20;

/// How a run is bounded and stopped.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    /// Stop the child this long after it started (`None`: no deadline).
    pub deadline: Option<Duration>,
    /// Stop the child once this is set.
    pub cancel: Option<&'a AtomicBool>,
    /// The first signal sent to the group to stop it.
    pub stop_signal: i32,
    /// How long the group has after the stop signal before SIGKILL; zero: SIGKILL at once.
    pub grace: Duration,
    /// Start the child in its own process group, and signal the group (else the child
    /// stays in this process's group, where a terminal's Ctrl-C reaches it too, and only
    /// the child is signalled).
    pub own_group: bool,
    /// Kill what the child left running in its group when it ends (with `own_group`).
    pub kill_leftovers: bool,
    /// Where the child's process group is published while it runs (0 before and after),
    /// e.g. [`crate::signal::STEP_GROUP`] for a signal handler.
    pub publish_group: Option<&'static AtomicI32>,
    /// How often [`Event::Tick`] is delivered by [`run_streamed`].
    pub tick: Duration,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            deadline: None,
            cancel: None,
            stop_signal: libc::SIGTERM,
            grace: Duration::from_secs(2),
            own_group: true,
            kill_leftovers: true,
            publish_group: None,
            tick: Duration::from_millis(500),
        }
    }
}

/// Why the runner stopped the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The deadline passed.
    Deadline,
    /// The cancel flag was set.
    Cancelled,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

/// A child that ended.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    /// Its wait status (its `Display` is the standard library's).
    pub status: ExitStatus,
    /// Set when the runner stopped it.
    pub stopped: Option<Stop>,
}

impl Ended {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The status, typed.
    pub fn exit(&self) -> Exit {
        match (self.status.code(), self.status.signal()) {
            (Some(c), _) => Exit::Code(c),
            (None, Some(s)) => Exit::Signal(s),
            // A stopped or continued status is never returned by wait for an ended child.
            (None, None) => Exit::Code(-1),
        }
    }
}

/// Why no child ran to its end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program as given.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// Waiting for it failed.
    #[error("{0}")]
    Wait(std::io::Error),
}

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What [`run_streamed`] hands its callback.
#[derive(Debug)]
pub enum Event<'a> {
    /// One line with its newline (the last may have none; at most [`MAX_LINE`] bytes).
    Line(Stream, &'a [u8]),
    /// [`Options::tick`] has passed.
    Tick,
}

/// What [`run_bounded`] got.
#[derive(Debug, Clone)]
pub struct Bounded {
    /// How it ended.
    pub ended: Ended,
    /// Its standard output, at most the cap.
    pub stdout: Vec<u8>,
    /// Its standard error, at most the cap.
    pub stderr: Vec<u8>,
}

/// A child started in its own process group, with its pipes.
struct Running {
    child: Child,
    /// The child's process group, when it has its own.
    pgid: Option<i32>,
    started: Instant,
    stopping: Option<(Stop, Instant)>,
}

fn start(mut cmd: Command, opts: &Options) -> Result<Running, RunError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if opts.own_group {
        cmd.process_group(0);
    }
    let child = cmd
        .spawn()
        .map_err(|source| RunError::Spawn { program, source })?;
    let pgid = opts.own_group.then_some(child.id() as i32);
    if let (Some(g), Some(pgid)) = (opts.publish_group, pgid) {
        g.store(pgid, Ordering::SeqCst);
    }
    Ok(Running {
        child,
        pgid,
        started: Instant::now(),
        stopping: None,
    })
}

impl Running {
    /// Signal the child's group, or the child alone when it has none.
    fn signal(&self, sig: i32) {
        let _ = match self.pgid {
            Some(g) => crate::os::kill_group(g, sig),
            None => crate::os::kill(self.child.id(), sig),
        };
    }

    /// One look at the child: its end, or `None` while it runs (after stopping it when
    /// its deadline passed or it was cancelled).
    fn poll(&mut self, opts: &Options) -> Result<Option<Ended>, RunError> {
        if let Some(status) = self.child.try_wait().map_err(RunError::Wait)? {
            return Ok(Some(self.ended(status, opts)));
        }
        let why = if opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            Some(Stop::Cancelled)
        } else if opts.deadline.is_some_and(|d| self.started.elapsed() > d) {
            Some(Stop::Deadline)
        } else {
            None
        };
        match (self.stopping, why) {
            (None, Some(why)) => {
                let sig = if opts.grace.is_zero() {
                    libc::SIGKILL
                } else {
                    opts.stop_signal
                };
                self.signal(sig);
                self.stopping = Some((why, Instant::now()));
            }
            (Some((_, at)), _) if at.elapsed() > opts.grace => {
                self.signal(libc::SIGKILL);
            }
            _ => {}
        }
        Ok(None)
    }

    fn ended(&mut self, status: ExitStatus, opts: &Options) -> Ended {
        if let Some(g) = opts.publish_group {
            g.store(0, Ordering::SeqCst);
        }
        if let (true, Some(g)) = (opts.kill_leftovers, self.pgid) {
            let _ = crate::os::kill_group(g, libc::SIGKILL);
        }
        Ended {
            status,
            stopped: self.stopping.map(|(why, _)| why),
        }
    }
}

fn pipes(child: &mut Child) -> [(Stream, Option<Box<dyn Read + Send>>); 2] {
    [
        (
            Stream::Stdout,
            child
                .stdout
                .take()
                .map(|r| Box::new(r) as Box<dyn Read + Send>),
        ),
        (
            Stream::Stderr,
            child
                .stderr
                .take()
                .map(|r| Box::new(r) as Box<dyn Read + Send>),
        ),
    ]
}

/// Run `cmd` (its program, arguments, environment and directory as the caller set
/// them; stdin, stdout, stderr and the process group are the runner's) to its end and
/// keep at most `cap` bytes of each output; the rest is read and dropped, so the child
/// never blocks on a full pipe.
pub fn run_bounded(cmd: Command, opts: &Options, cap: u64) -> Result<Bounded, RunError> {
    let mut run = start(cmd, opts)?;
    let [out, err] = pipes(&mut run.child).map(|(_, r)| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = (&mut r).take(cap).read_to_end(&mut buf);
                let _ = std::io::copy(&mut r, &mut std::io::sink());
            }
            buf
        })
    });
    let ended = loop {
        match run.poll(opts) {
            Ok(Some(e)) => break e,
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => {
                run.signal(libc::SIGKILL);
                let _ = run.child.wait();
                return Err(e);
            }
        }
    };
    Ok(Bounded {
        ended,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// Run `cmd` (as [`run_bounded`] does) and hand `on` each line of its stdout and
/// stderr, in order per stream, and a [`Event::Tick`] every [`Options::tick`]; `on`
/// runs on the caller's thread. Returns once the child has ended and both outputs are
/// delivered.
pub fn run_streamed(
    cmd: Command,
    opts: &Options,
    on: &mut dyn FnMut(Event),
) -> Result<Ended, RunError> {
    let mut run = start(cmd, opts)?;
    let (tx, rx) = mpsc::channel::<(Stream, Vec<u8>)>();
    let readers: Vec<_> = pipes(&mut run.child)
        .into_iter()
        .filter_map(|(s, r)| Some((s, r?)))
        .map(|(s, r)| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(r);
                loop {
                    let mut line = Vec::new();
                    match (&mut r).take(MAX_LINE).read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    if tx.send((s, line)).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let poll_every = Duration::from_millis(50).min(opts.tick);
    let mut last_tick = Instant::now();
    let ended = loop {
        match rx.recv_timeout(poll_every) {
            Ok((s, line)) => on(Event::Line(s, &line)),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // Both outputs closed: the child is about to end (or has left them to others).
            Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(poll_every),
        }
        match run.poll(opts) {
            Ok(Some(e)) => break e,
            Ok(None) => {}
            Err(e) => {
                run.signal(libc::SIGKILL);
                let _ = run.child.wait();
                return Err(e);
            }
        }
        if last_tick.elapsed() >= opts.tick {
            on(Event::Tick);
            last_tick = Instant::now();
        }
    };
    for (s, line) in rx {
        on(Event::Line(s, &line));
    }
    for r in readers {
        let _ = r.join();
    }
    Ok(ended)
}

/// Wait up to `grace` for `child` to end (polling); its status, or `None` while it runs.
pub fn wait_for(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    let t = Instant::now();
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if t.elapsed() >= grace {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    fn alive(pid: u32) -> bool {
        crate::os::kill(pid, 0).is_ok()
    }

    #[test]
    fn the_deadline_kills_the_child_and_its_grandchild() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("pid");
        let opts = Options {
            deadline: Some(Duration::from_millis(300)),
            ..Options::default()
        };
        let t = Instant::now();
        let r = run_bounded(
            sh(&format!("sleep 30 & echo $! > {}; wait", pidfile.display())),
            &opts,
            1024,
        )
        .unwrap();
        assert!(t.elapsed() < Duration::from_secs(10));
        assert_eq!(r.ended.stopped, Some(Stop::Deadline));
        assert_eq!(r.ended.exit(), Exit::Signal(libc::SIGTERM));
        let grandchild: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild is gone (or a zombie of init's for an instant).
        let t = Instant::now();
        while alive(grandchild) && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(grandchild));
    }

    #[test]
    fn a_term_ignoring_child_is_killed_after_the_grace() {
        let opts = Options {
            deadline: Some(Duration::from_millis(200)),
            grace: Duration::from_millis(300),
            ..Options::default()
        };
        let t = Instant::now();
        let r = run_bounded(
            sh("trap '' TERM; echo ready; while :; do sleep 0.05; done"),
            &opts,
            1024,
        )
        .unwrap();
        assert!(t.elapsed() >= Duration::from_millis(500));
        assert!(t.elapsed() < Duration::from_secs(10));
        assert_eq!(r.ended.exit(), Exit::Signal(libc::SIGKILL));
        assert_eq!(r.stdout, b"ready\n");
    }

    #[test]
    fn the_output_cap_truncates() {
        let r = run_bounded(
            sh("head -c 100000 /dev/zero; echo err >&2"),
            &Options::default(),
            10,
        )
        .unwrap();
        assert!(r.ended.success());
        assert_eq!(r.stdout.len(), 10);
        assert_eq!(r.stderr, b"err\n");
        assert_eq!(r.ended.exit(), Exit::Code(0));
    }

    #[test]
    fn streamed_lines_come_in_order_and_the_exit_is_typed() {
        let mut lines = Vec::new();
        let ended = run_streamed(
            sh("for i in 1 2 3 4 5; do echo $i; done; echo oops >&2; printf last; exit 3"),
            &Options::default(),
            &mut |e| {
                if let Event::Line(s, l) = e {
                    lines.push((s, String::from_utf8_lossy(l).into_owned()));
                }
            },
        )
        .unwrap();
        assert_eq!(ended.exit(), Exit::Code(3));
        assert_eq!(ended.stopped, None);
        let out: Vec<&str> = lines
            .iter()
            .filter(|(s, _)| *s == Stream::Stdout)
            .map(|(_, l)| l.as_str())
            .collect();
        assert_eq!(out, ["1\n", "2\n", "3\n", "4\n", "5\n", "last"]);
        assert!(lines.contains(&(Stream::Stderr, "oops\n".into())));
    }

    #[test]
    fn cancel_sends_the_stop_signal() {
        let cancel = AtomicBool::new(false);
        let opts = Options {
            cancel: Some(&cancel),
            stop_signal: libc::SIGINT,
            grace: Duration::from_secs(5),
            ..Options::default()
        };
        let mut n = 0;
        let ended = run_streamed(
            sh("trap 'echo got-int; exit 7' INT; echo go; while :; do sleep 0.05; done"),
            &opts,
            &mut |e| {
                if let Event::Line(_, l) = e {
                    n += 1;
                    if l == b"go\n" {
                        cancel.store(true, Ordering::Relaxed);
                    }
                }
            },
        )
        .unwrap();
        assert_eq!(ended.stopped, Some(Stop::Cancelled));
        assert_eq!(ended.exit(), Exit::Code(7));
        assert_eq!(n, 2);
    }

    #[test]
    fn a_bad_program_is_named() {
        let e =
            run_bounded(Command::new("/no/such/program-rp"), &Options::default(), 10).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot run /no/such/program-rp: "),
            "{e}"
        );
    }
}
