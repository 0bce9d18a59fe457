//! `rocm-patch probe`.

use crate::cli::{ProbeArgs, ProbeDevice};
use crate::{exit, render};
use std::io::Write;
use std::time::Duration;

pub(crate) fn run(args: ProbeArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    if args.list {
        super::emit(out, args.json, &rp_probe::list(), render::probe::list)?;
        return Ok(exit::OK);
    }
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        anyhow::bail!(
            "--timeout {}: must be a positive number of seconds",
            args.timeout
        );
    }
    let env_changes = match &args.profile {
        None => Vec::new(),
        Some(p) => super::env::profile_changes(p, args.timeout_ms)?,
    };
    let opts = rp_probe::Options {
        python: args.python,
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
    };
    let json = args.json;
    let mut first = true;
    let mut io_err = None;
    let report = rp_probe::probe(&opts, &mut |r| {
        if json || io_err.is_some() {
            return;
        }
        let res = (|| -> std::io::Result<()> {
            if first {
                render::probe::header(out)?;
                first = false;
            }
            render::probe::row(r, out)?;
            out.flush()
        })();
        if let Err(e) = res {
            io_err = Some(e);
        }
    })?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    super::emit(out, json, &report, render::probe::summary)?;
    Ok(if rp_probe::all_pass(&report) {
        exit::OK
    } else {
        exit::FINDING
    })
}
