//! `rocm-patch trace`.

use super::settings::Settings;
use crate::cli::{TraceArgs, TracePolicy};
use crate::{exit, render};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The interposer's file name.
pub(crate) const PRELOAD: &str = "librp_trace_preload.so";

/// The interposer: `$RP_TRACE_LIB`, else beside this binary, else in `../lib/rocm-patch`,
/// else the one built into this binary.
fn preload_lib(cache_dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
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
    embedded_preload(cache_dir)
}

/// The interposer this binary was built with (build.rs), for an install that has none
/// beside it (`cargo install` alone).
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/librp_trace_preload.so"));

/// The embedded interposer as a file in the user's cache
/// (`~/.cache/rocm-patch/librp_trace_preload-<size>.so`), written when missing or
/// different (atomically: a new file renamed over the old).
fn embedded_preload(cache_dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = cache_dir.ok_or_else(|| {
        anyhow::anyhow!("{PRELOAD} is not beside this binary and there is no cache directory (HOME, XDG_CACHE_HOME) to write the built-in one to; set RP_TRACE_LIB")
    })?;
    let path = dir.join(format!("librp_trace_preload-{}.so", EMBEDDED.len()));
    let same =
        rp_sys::file::read_regular(&path, EMBEDDED.len() as u64 + 1).is_ok_and(|b| b == EMBEDDED);
    if !same {
        std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        tmp.write_all(EMBEDDED)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.error))?;
    }
    Ok(path)
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
        crate::progress::Wait::start(true, move || {
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

pub(crate) fn run(args: TraceArgs, s: &Settings, out: &mut dyn Write) -> anyhow::Result<u8> {
    // The target fat binaries are checked against, and where it came from.
    let (gpu, gpu_source) = match super::gpu_target(s, args.gpu.as_deref(), args.timeout_ms)? {
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
        let mut r = rp_trace::summarize(&procs, gpu.as_ref());
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
    let lib = preload_lib(s.cache_dir.clone())?;
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
            return Ok(exit::cannot_start(&e));
        }
    };
    let (procs, errs) = read_all(&file);
    for e in &errs {
        super::error_line(e);
    }
    let mut r = rp_trace::summarize(&procs, gpu.as_ref());
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
    for (k, v) in &s.env {
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
    }
    Ok(exit::passed_through(status.code(), status.signal()))
}
