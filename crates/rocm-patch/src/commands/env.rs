//! `rocm-patch env` and `rocm-patch run`.

use super::settings::Settings;
use crate::cli::{EnvArgs, RunArgs, Shell};
use crate::{exit, render};
use std::io::Write;

pub(crate) fn env(args: EnvArgs, s: &Settings, out: &mut dyn Write) -> anyhow::Result<u8> {
    let o = super::settings::profile_options(s, &args.p)?;
    let json = args.json || matches!(args.shell, Shell::Json);
    if args.list {
        let list = rp_report::ProfileList {
            schema: rp_report::SCHEMA,
            profiles: rp_env::list(&o)?
                .into_iter()
                .map(|(name, description)| rp_report::ProfileInfo { name, description })
                .collect(),
        };
        super::emit(out, json, &list, render::env::list)?;
        return Ok(exit::OK);
    }
    let report = rp_env::resolve(&o)?;
    if args.explain {
        render::env::explain(&report, out)?;
        return Ok(exit::OK);
    }
    super::settings::warn(&report);
    super::emit(out, json, &report, |r, o| match args.shell {
        Shell::Fish => render::env::fish(r, o),
        Shell::Bash | Shell::Zsh | Shell::Json => render::env::posix(r, o),
    })?;
    Ok(exit::OK)
}

/// Replace this process with the command: same pid, so signals reach it directly and its
/// exit status is ours. Returns only if exec fails.
pub(crate) fn run(args: RunArgs, s: &Settings) -> anyhow::Result<u8> {
    use std::os::unix::process::CommandExt;
    let o = super::settings::profile_options(s, &args.p)?;
    let report = rp_env::resolve(&o)?;
    super::settings::warn(&report);
    let (prog, rest) = args
        .command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no command given after --"))?;
    let mut cmd = std::process::Command::new(prog);
    cmd.args(rest);
    if let Some(v) = &args.venv {
        let v = std::path::absolute(v)?;
        if !v.join("bin/python").exists() || !v.join("pyvenv.cfg").is_file() {
            anyhow::bail!(
                "--venv {}: not a venv (no pyvenv.cfg and bin/python)",
                v.display()
            );
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![v.join("bin")];
        dirs.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs)?)
            .env("VIRTUAL_ENV", &v)
            .env_remove("PYTHONHOME");
    }
    for (k, v) in rp_env::changes(&report) {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let e = cmd.exec();
    super::error_line(&format!("cannot run {}: {e}", prog.to_string_lossy()));
    // As shells do: 127 when the command is not found, 126 when it cannot be executed.
    Ok(exit::cannot_start(&e))
}
