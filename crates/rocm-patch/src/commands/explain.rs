//! `rocm-patch explain`.

use super::settings::Settings;
use crate::cli::ExplainArgs;
use crate::{exit, render};
use std::io::IsTerminal;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) fn run(args: ExplainArgs, s: &Settings, out: &mut dyn Write) -> anyhow::Result<u8> {
    let mut env = s.env.clone();
    for (k, v) in &args.env {
        env.insert(k.clone(), v.clone());
    }
    let (gpus, set_in_files) = if args.no_machine {
        (Vec::new(), Vec::new())
    } else {
        let root = super::sysroot(
            args.sysroot.as_deref().unwrap_or(Path::new("/")),
            args.timeout_ms,
        )?;
        let m = rp_machine::snapshot(
            &root,
            &rp_machine::Options {
                env: env.clone(),
                cwd: std::env::current_dir()?,
                ..Default::default()
            },
        )?;
        (m.gpus, m.environment.set_in_files)
    };
    let mut ctx = super::settings::context(&gpus, &env);
    // An override only a startup file sets is in force in every new shell (issue 29:
    // explain on a tree whose override was only in .bashrc did not use it).
    for s in set_in_files
        .iter()
        .filter(|s| s.name.starts_with("HSA_OVERRIDE_GFX_VERSION") && !s.text_only)
    {
        ctx.overrides.push(format!(
            "{}:{} sets {}={} (every new shell has it)",
            s.file, s.line, s.name, s.value
        ));
    }
    let stdin_only = args.files.is_empty();
    let reads_stdin = stdin_only || args.files.iter().any(|p| p.as_os_str() == "-");
    if reads_stdin && std::io::stdin().is_terminal() {
        let _ = writeln!(
            std::io::stderr(),
            "rocm-patch: paste the log, then press Ctrl-D on a line of its own"
        );
    }
    let inputs: Vec<(String, std::io::Result<Box<dyn BufRead>>)> = if stdin_only {
        vec![(
            "-".to_string(),
            Ok(Box::new(BufReader::with_capacity(1 << 16, std::io::stdin())) as Box<dyn BufRead>),
        )]
    } else {
        args.files
            .iter()
            .map(|p| {
                let name = p.display().to_string();
                if name == "-" {
                    let r: Box<dyn BufRead> =
                        Box::new(BufReader::with_capacity(1 << 16, std::io::stdin()));
                    return (name, Ok(r));
                }
                let r = std::fs::File::open(p)
                    .map(|f| Box::new(BufReader::with_capacity(1 << 16, f)) as Box<dyn BufRead>);
                (name, r)
            })
            .collect()
    };
    // A progress line on a terminal for long input: which input, how much read.
    let read = Arc::new(AtomicU64::new(0));
    let reading = Arc::new(Mutex::new(String::new()));
    let wait = {
        let (read, reading) = (read.clone(), reading.clone());
        let start = std::time::Instant::now();
        crate::progress::Wait::start(true, move || {
            let n = read.load(Ordering::Relaxed) >> 20;
            let secs = start.elapsed().as_secs_f64().max(1e-3);
            let name = reading.lock().map(|s| s.clone()).unwrap_or_default();
            format!(
                "explain: {name}: {n} MiB read ({:.0} MiB/s)",
                n as f64 / secs
            )
        })
    };
    let inputs: Vec<(String, std::io::Result<Box<dyn BufRead>>)> = inputs
        .into_iter()
        .map(|(n, r)| {
            let r = r.map(|r| {
                Box::new(Counted {
                    inner: r,
                    name: n.clone(),
                    read: read.clone(),
                    reading: reading.clone(),
                    named: false,
                }) as Box<dyn BufRead>
            });
            (n, r)
        })
        .collect();
    let classifier = rp_explain::Classifier::new();
    let mut report = rp_explain::explain(&classifier, inputs, &ctx);
    // Trace records: named with --trace, or beside a log as LOG.trace.jsonl.
    let mut traces: Vec<std::path::PathBuf> = args.trace.clone();
    for f in &args.files {
        let beside = std::path::PathBuf::from(format!("{}.trace.jsonl", f.display()));
        if f.as_os_str() != "-" && beside.is_file() && !traces.contains(&beside) {
            traces.push(beside);
        }
    }
    let gpu = ctx.gpus.first().map(|(t, _)| t.clone());
    let mut summaries = Vec::new();
    for t in &traces {
        if !t.exists() {
            report
                .errors
                .push(format!("{}: no such trace file", t.display()));
            continue;
        }
        let mut procs = Vec::new();
        for f in rp_trace::files(t) {
            match rp_trace::read(&f) {
                Ok(p) => procs.push(p),
                Err(e) => report.errors.push(e),
            }
        }
        summaries.push(rp_trace::summarize(&procs, gpu.as_ref()));
    }
    report.trace_evidence = rp_trace::evidence(&summaries);
    if !report.override_evidence.is_empty()
        && report
            .trace_evidence
            .iter()
            .any(|l| l.contains("had no code for"))
    {
        report.trace_evidence.push(format!(
            "an override was in force ({}): the runtime took the code of the target it names for this GPU",
            report.override_evidence.join("; ")
        ));
    }
    drop(wait);
    for e in &report.errors {
        super::error_line(&format!("cannot read {e}"));
    }
    super::emit(out, args.json, &report, render::explain::human)?;
    Ok(if !report.errors.is_empty() {
        exit::TOOL_ERROR
    } else if rp_explain::has_problem(&report) {
        exit::FINDING
    } else {
        exit::OK
    })
}

/// A reader that counts what is read, for the progress line.
struct Counted<R> {
    inner: R,
    name: String,
    read: Arc<AtomicU64>,
    reading: Arc<Mutex<String>>,
    named: bool,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        // Inputs are read one after another: an input names itself at its first read.
        if !self.named {
            self.named = true;
            if let Ok(mut r) = self.reading.lock() {
                r.clone_from(&self.name);
            }
        }
        self.inner.consume(n)
    }
}
