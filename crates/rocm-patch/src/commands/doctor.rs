//! `rocm-patch doctor`.

use super::settings::Settings;
use crate::cli::DoctorArgs;
use crate::{exit, render};
use std::io::{IsTerminal, Write};

pub(crate) fn run(args: DoctorArgs, s: &Settings, out: &mut dyn Write) -> anyhow::Result<u8> {
    let root = super::sysroot(&args.sysroot, args.timeout_ms)?;
    // A --python that does not exist, or is a device, FIFO or socket, is reported with
    // the rest, and makes the exit 2.
    let missing: Vec<String> = args
        .python
        .iter()
        .filter_map(|p| match std::fs::metadata(p) {
            Err(_) => Some(format!("{}: no such file or directory", p.display())),
            Ok(m) if !m.is_file() && !m.is_dir() => Some(format!(
                "{}: not an interpreter or an environment directory (a device, FIFO or socket); not read",
                p.display()
            )),
            Ok(_) => None,
        })
        .collect();
    let machine = rp_machine::snapshot(
        &root,
        &rp_machine::Options {
            pythons: args.python,
            user: args.user,
            env: s.env.clone(),
            cwd: std::env::current_dir()?,
            full: true,
            cache_dir: s.cache_dir.clone(),
        },
    )?;
    let report = rp_doctor::doctor(&machine);
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal();
    super::emit(out, args.json, &report, |r, o| {
        render::doctor::human(r, color, o)
    })?;
    for p in &missing {
        super::error_line(&format!("--python {p}"));
    }
    if !missing.is_empty() {
        return Ok(exit::TOOL_ERROR);
    }
    Ok(report.exit_code())
}
