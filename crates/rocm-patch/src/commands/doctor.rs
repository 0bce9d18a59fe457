//! `rocm-patch doctor`.

use crate::cli::DoctorArgs;
use crate::{exit, render};
use std::io::{IsTerminal, Write};
use std::time::Duration;

pub(crate) fn run(args: DoctorArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let opts = rp_doctor::Options {
        sysroot: args.sysroot,
        pythons: args.python,
        user: args.user,
        env: super::env_map(),
        cwd: std::env::current_dir()?,
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
    };
    let report = rp_doctor::doctor(&opts)?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stdout().is_terminal();
        render::doctor::human(&report, color, out)?;
    }
    Ok(if report.findings.iter().any(|f| f.severity == "error") {
        exit::FINDING
    } else {
        exit::OK
    })
}
