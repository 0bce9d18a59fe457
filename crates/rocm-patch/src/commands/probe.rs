//! `rocm-patch probe`.

use super::settings::Settings;
use crate::cli::{ProbeArgs, ProbeDevice};
use crate::progress::Wait;
use crate::{exit, render};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest per-probe timeout (a day).
const MAX_TIMEOUT: f64 = 86_400.0;

pub(crate) fn run(args: ProbeArgs, s: &Settings, out: &mut dyn Write) -> anyhow::Result<u8> {
    if args.list {
        super::emit(out, args.json, &rp_probe::list(), render::probe::list)?;
        return Ok(exit::OK);
    }
    if !(args.timeout > 0.0 && args.timeout <= MAX_TIMEOUT) {
        anyhow::bail!(
            "--timeout {}: must be a number of seconds above 0 and at most {MAX_TIMEOUT}",
            args.timeout
        );
    }
    let python = super::settings::python_path(&args.python)?;
    let env_changes = match &args.profile {
        None => Vec::new(),
        Some(p) => super::settings::profile_changes(s, p, args.timeout_ms)?,
    };
    let opts = rp_probe::Options {
        python,
        device: match args.device {
            ProbeDevice::Auto => rp_probe::Device::Auto,
            ProbeDevice::Cuda => rp_probe::Device::Cuda,
            ProbeDevice::Cpu => rp_probe::Device::Cpu,
        },
        only: args.only,
        timeout: Duration::from_secs_f64(args.timeout),
        startup_timeout: Duration::from_secs(300),
        probes_dir: args.probes_dir,
        env: env_changes,
        profile: args.profile,
        bench_repeat: None,
    };
    let json = args.json;
    let wants_gpu = matches!(args.device, ProbeDevice::Cuda);
    let mut first = true;
    let mut io_err = None;
    // On a terminal, a wait of over 2 s (importing torch, a slow probe) shows a line.
    let state = Arc::new(Mutex::new((0usize, String::new())));
    let wait = {
        let state = state.clone();
        Wait::start(!json, move || match state.lock().as_deref() {
            Ok((0, _)) | Err(_) => "starting the probe worker (importing torch)".to_string(),
            Ok((n, last)) => format!("probing: {n} done (last: {last}), running the next"),
        })
    };
    let report = rp_probe::probe(&opts, &mut |r| {
        if let Ok(mut s) = state.lock() {
            s.0 += 1;
            s.1 = format!("{} {}", r.name, r.status);
        }
        if json || io_err.is_some() {
            return;
        }
        let res = wait.suspend(|| -> std::io::Result<()> {
            if first {
                render::probe::header(out)?;
                first = false;
            }
            render::probe::row(r, out)?;
            out.flush()
        });
        if let Err(e) = res {
            io_err = Some(e);
        }
    });
    drop(wait);
    let report = report?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    let mut report = report;
    // `--device cuda` and torch sees no GPU: every probe skips, which is no pass.
    let cuda_unseen = wants_gpu && report.cuda_available == Some(false);
    if cuda_unseen
        || (report.device == rp_report::ProbeDevice::Cpu
            && !matches!(args.device, ProbeDevice::Cpu))
    {
        let (failed, note) = super::settings::cpu_note(
            s,
            &report.torch,
            &report.executable,
            wants_gpu,
            args.timeout_ms,
        );
        report.gpu_not_seen = failed;
        report.device_note = Some(note);
    }
    super::emit(out, json, &report, render::probe::summary)?;
    Ok(if rp_probe::all_pass(&report) {
        exit::OK
    } else {
        exit::FINDING
    })
}
