//! Progress on a terminal for waits that last: one line on stderr, shown only when
//! stderr is a terminal and the wait has lasted longer than 2 s (`RP_PROGRESS_AFTER_MS`
//! changes the threshold), rewritten as the wait goes on and erased when it ends.
//!
//! Drawn by `indicatif` (a label too long for the terminal is cut, the time in seconds
//! stays at the right edge); what the line says comes from a label function asked four times a
//! second, so a command only keeps its counters up to date. Output that goes to the same
//! terminal while the line is shown (a probe's row on stdout) is written through
//! [`Wait::suspend`], which takes the line away, writes, and lets it come back.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The label function: what is waited for, in a few words.
type Label = Arc<dyn Fn() -> String + Send + Sync>;

/// How often the line is rewritten.
const TICK: Duration = Duration::from_millis(250);

/// A wait with a progress line; the line goes when the value is dropped.
pub(crate) struct Wait {
    bar: ProgressBar,
    /// `true` once the wait is over (shared with the thread that shows the line).
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The threshold: 2 s, or `RP_PROGRESS_AFTER_MS`.
fn threshold() -> Duration {
    std::env::var("RP_PROGRESS_AFTER_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(2))
}

impl Wait {
    /// A wait whose line says `rocm-patch: LABEL … Ns`. Nothing is drawn unless stderr
    /// is a terminal and `show` is true (commands pass `!json`).
    pub(crate) fn start(show: bool, label: impl Fn() -> String + Send + Sync + 'static) -> Wait {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = (show && std::io::stderr().is_terminal()).then(|| {
            let label: Label = Arc::new(label);
            let (bar, stop) = (bar.clone(), stop.clone());
            std::thread::spawn(move || watch(&bar, &stop, &label))
        });
        Wait { bar, stop, thread }
    }

    /// Run `f` (which writes to the terminal) with the line taken away.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }
}

/// The thread behind a shown line: wait out the threshold, then keep the line current
/// until the wait is over.
fn watch(bar: &ProgressBar, stop: &(Mutex<bool>, Condvar), label: &Label) {
    let (lock, cv) = stop;
    let start = std::time::Instant::now();
    let after = threshold();
    let Ok(stopped) = lock.lock() else { return };
    let Ok((mut stopped, _)) = cv.wait_timeout_while(stopped, after, |s| !*s) else {
        return;
    };
    // A wait that ended just as the threshold passed still shows its state, once.
    if *stopped && start.elapsed() < after {
        return;
    }
    let style = ProgressStyle::with_template("rocm-patch: {wide_msg} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_message(label());
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.tick();
    while !*stopped {
        bar.set_message(label());
        let Ok((s, _)) = cv.wait_timeout_while(stopped, TICK, |s| !*s) else {
            return;
        };
        stopped = s;
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Ok(mut s) = self.stop.0.lock() {
            *s = true;
        }
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}
