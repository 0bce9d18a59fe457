//! `rocm-patch probe`.

use crate::cli::{ProbeArgs, ProbeDevice};
use crate::progress::Wait;
use crate::{exit, render};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest per-probe timeout (a day).
const MAX_TIMEOUT: f64 = 86_400.0;

/// The first AMD GPU that ROCm sees on this machine, by name and target.
fn amd_gpu_here(timeout_ms: u64) -> Option<String> {
    let root = rp_machine::SysRoot::live(Duration::from_millis(timeout_ms.max(1)));
    let m = rp_machine::snapshot(
        &root,
        &rp_machine::Options {
            env: super::env_map(),
            ..Default::default()
        },
    )
    .ok()?;
    let gpu = m.kfd_gpus().next().map(|g| {
        format!(
            "{} ({})",
            g.name,
            g.gfx_target.as_deref().unwrap_or("unknown target")
        )
    });
    gpu
}

/// `--python`: an interpreter, or a venv or conda directory as doctor takes it.
pub(crate) fn python_path(p: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    if p.is_dir() {
        let bin = p.join("bin/python");
        if !bin.exists() {
            anyhow::bail!("--python {}: a directory without bin/python", p.display());
        }
        return Ok(bin);
    }
    Ok(p.to_path_buf())
}

/// The note for a run on the CPU: no GPU here, or torch does not see the one there is
/// (then `true`: the run fails).
pub(crate) fn cpu_note(
    torch: &str,
    executable: &str,
    wants_gpu: bool,
    timeout_ms: u64,
) -> (bool, String) {
    let gpu = amd_gpu_here(timeout_ms);
    let failed = wants_gpu || gpu.is_some();
    let note = match gpu {
        Some(g) => format!(
            "FAILED: this machine has {g}, but torch {torch} sees no GPU, so the CPU was tested. Causes: no code for the GPU in this torch, no access to /dev/kfd, or a CPU build of torch; run `rocm-patch doctor --python {executable}`."
        ),
        None if wants_gpu => format!(
            "FAILED: --device cuda, but torch {torch} sees no GPU; the CPU was tested instead."
        ),
        None => "No GPU here: the CPU was tested.".to_string(),
    };
    (failed, note)
}

pub(crate) fn run(args: ProbeArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
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
    let python = python_path(&args.python)?;
    let env_changes = match &args.profile {
        None => Vec::new(),
        Some(p) => super::env::profile_changes(p, args.timeout_ms)?,
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
        let (failed, note) = cpu_note(
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
