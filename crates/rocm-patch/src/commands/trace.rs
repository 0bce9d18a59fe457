//! `rocm-patch trace`.

use crate::cli::{TraceArgs, TracePolicy};
use crate::{exit, render};
use std::io::{IsTerminal, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The interposer's file name.
pub(crate) const PRELOAD: &str = "librp_trace_preload.so";

/// The interposer: `$RP_TRACE_LIB`, else beside this binary, else in `../lib/rocm-patch`.
fn preload_lib() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("RP_TRACE_LIB").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            anyhow::bail!("RP_TRACE_LIB={}: no such file", p.display());
        }
        return Ok(p);
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    for c in [
        dir.join(PRELOAD),
        dir.join("../lib/rocm-patch").join(PRELOAD),
    ] {
        if c.is_file() {
            return Ok(c);
        }
    }
    anyhow::bail!(
        "{PRELOAD} is not beside {} (build it with `cargo build --release -p rp-trace-preload` and copy it there, or set RP_TRACE_LIB)",
        exe.display()
    )
}

/// Read every record file of a trace, with a progress line on a terminal when it takes
/// long.
fn read_all(base: &Path) -> (Vec<rp_trace::ProcessTrace>, Vec<String>) {
    let mut procs = Vec::new();
    let mut errs = Vec::new();
    let files = rp_trace::files(base);
    let total: u64 = files
        .iter()
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    let (done, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let n = files.len();
    let _wait = {
        let (done, bytes) = (done.clone(), bytes.clone());
        Waiting::start(move || {
            format!(
                "reading trace records: {} of {n} files, {} of {} MiB",
                done.load(Ordering::Relaxed),
                bytes.load(Ordering::Relaxed) >> 20,
                total >> 20
            )
        })
    };
    for f in files {
        match rp_trace::read_counting(&f, Some(&bytes)) {
            Ok(p) => procs.push(p),
            Err(e) => errs.push(e),
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    (procs, errs)
}

/// A line on stderr, on a terminal only, while a wait lasts longer than 2 s
/// (`RP_PROGRESS_AFTER_MS` changes that): what is waited for and for how long, rewritten
/// four times a second and erased when the wait ends (when the value is dropped).
pub(crate) struct Waiting {
    shared: Arc<(Mutex<bool>, Condvar)>,
    shown: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    label: Arc<dyn Fn() -> String + Send + Sync>,
    start: Instant,
    after: Duration,
}

impl Waiting {
    pub(crate) fn start(label: impl Fn() -> String + Send + Sync + 'static) -> Waiting {
        let after = std::env::var("RP_PROGRESS_AFTER_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(2));
        let label: Arc<dyn Fn() -> String + Send + Sync> = Arc::new(label);
        let shared = Arc::new((Mutex::new(false), Condvar::new()));
        let shown = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let thread = std::io::stderr().is_terminal().then(|| {
            let (shared, shown, label) = (shared.clone(), shown.clone(), label.clone());
            std::thread::spawn(move || {
                let (stop, cv) = &*shared;
                let mut wait = after;
                let Ok(mut stopped) = stop.lock() else { return };
                loop {
                    let Ok((s, _)) = cv.wait_timeout_while(stopped, wait, |s| !*s) else {
                        return;
                    };
                    stopped = s;
                    if *stopped {
                        return;
                    }
                    show(&label(), start);
                    shown.store(true, Ordering::Relaxed);
                    wait = Duration::from_millis(250);
                }
            })
        });
        Waiting {
            shared,
            shown,
            thread,
            label,
            start,
            after,
        }
    }
}

/// The progress line, in place.
fn show(label: &str, start: Instant) {
    let _ = write!(
        std::io::stderr(),
        "\r\x1b[Krocm-patch: {label} ({} s)",
        start.elapsed().as_secs()
    );
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let Some(t) = self.thread.take() else { return };
        if let Ok(mut s) = self.shared.0.lock() {
            *s = true;
        }
        self.shared.1.notify_all();
        let _ = t.join();
        // A wait that ended between two lines still shows its last state, once.
        if !self.shown.load(Ordering::Relaxed) && self.start.elapsed() >= self.after {
            show(&(self.label)(), self.start);
            self.shown.store(true, Ordering::Relaxed);
        }
        if self.shown.load(Ordering::Relaxed) {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

pub(crate) fn run(args: TraceArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    // The target fat binaries are checked against, and where it came from.
    let (gpu, gpu_source) = match super::gpu_target(args.gpu.as_deref(), args.timeout_ms)? {
        Some((g, from)) => (Some(g), Some(from)),
        None => (None, None),
    };
    if let Some(file) = &args.read {
        if !file.exists() {
            anyhow::bail!("--read {}: no such file", file.display());
        }
        let (procs, errs) = read_all(file);
        for e in &errs {
            super::error_line(e);
        }
        let mut r = rp_trace::summarize(&procs, gpu.as_deref());
        r.gpu_source = gpu_source;
        super::emit(out, args.json, &r, render::trace::human)?;
        return Ok(if errs.is_empty() {
            exit::OK
        } else {
            exit::TOOL_ERROR
        });
    }
    let Some((program, rest)) = args.command.split_first() else {
        anyhow::bail!("no command: put `--` before the command to trace, e.g. `rocm-patch trace -- python3 train.py`");
    };
    let lib = preload_lib()?;
    let scratch = tempfile::tempdir()?;
    let file = match &args.output {
        Some(f) => {
            if f.exists() {
                anyhow::bail!(
                    "-o {}: the file exists (a trace never replaces a file); choose another name",
                    f.display()
                );
            }
            f.clone()
        }
        None => scratch.path().join("trace.jsonl"),
    };
    // The interposer goes first; what the user preloads stays after it.
    let preload = match std::env::var("LD_PRELOAD") {
        Ok(p) if !p.is_empty() => format!("{} {p}", lib.display()),
        _ => lib.display().to_string(),
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest)
        .env("LD_PRELOAD", preload)
        .env("RP_TRACE_FILE", &file);
    match args.policy {
        Some(TracePolicy::Seed) => cmd.env("RP_TRACE_POLICY", "seed"),
        None => cmd.env_remove("RP_TRACE_POLICY"),
    };
    // While the command runs, Ctrl-C and Ctrl-\ are for it (the terminal sends them to
    // both); this process waits to write the summary, as `time` does.
    let ignored = rp_sys::signal::ignore(&[rp_sys::signal::SIGINT, rp_sys::signal::SIGQUIT]);
    let status = cmd.status();
    drop(ignored);
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            super::error_line(&format!("cannot run {program}: {e}"));
            return Ok(if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
    };
    let (procs, errs) = read_all(&file);
    for e in &errs {
        super::error_line(e);
    }
    let mut r = rp_trace::summarize(&procs, gpu.as_deref());
    r.gpu_source = gpu_source;
    r.command = args.command.clone();
    if args.output.is_some() {
        r.files = rp_trace::files(&file)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
    } else {
        r.files.clear();
    }
    r.exit = Some(rp_report::TraceExit {
        code: status.code(),
        signal: status.signal().map(rp_probe::signal_name),
    });
    if procs.is_empty() {
        r.notes.push(
            "no records: the command never loaded the HIP interposer (a static binary, or one that clears LD_PRELOAD)".into(),
        );
    }
    for (k, v) in super::env_map() {
        if k.starts_with("HSA_OVERRIDE_GFX_VERSION") {
            r.notes.push(format!(
                "{k}={v} was set: the runtime picked code for the target it names, not for the GPU's own"
            ));
        }
    }
    super::emit(out, args.json, &r, render::trace::human)?;
    out.flush()?;
    if let Some(sig) = status.signal() {
        // Pass the signal on, as the command received it.
        rp_sys::signal::raise_default(sig);
        return Ok((128 + sig) as u8);
    }
    Ok(status.code().unwrap_or(1) as u8)
}
