//! `rocm-patch fix`: doctor, a plan, consent, one transaction, then doctor and probe
//! again.

use super::settings::Settings;
use crate::cli::{Channel, FixArgs};
use crate::render;
use std::io::{BufRead, IsTerminal, Write};

pub(crate) fn run(args: FixArgs, s: &Settings, out: &mut dyn Write) -> anyhow::Result<u8> {
    let root = super::sysroot(&args.sysroot, args.timeout_ms)?;
    let req = rp_fix::run::Request {
        env: s.env.clone(),
        cwd: std::env::current_dir()?,
        user: args.user.clone(),
        pythons: args.python.clone(),
        cache_dir: s.cache_dir.clone(),
        options: rp_fix::Options {
            ids: args.ids.clone(),
            system: args.system,
            venv: args.venv.as_deref().map(std::path::absolute).transpose()?,
            index_url: args.index_url.clone(),
            channel: match args.channel {
                Some(Channel::Stable) => "stable".into(),
                Some(Channel::Nightly) => "nightly".into(),
                None => String::new(),
            },
            venv_python: args.venv_python.clone(),
            host_path: std::env::var("PATH").unwrap_or_default(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            is_root: rp_sys::os::euid() == 0,
        },
        dry_run: args.dry_run,
        no_verify: args.no_verify,
        probe_python: args.probe_python.clone(),
        root,
    };
    let prepared = rp_fix::run::prepare(req)?;
    let finished = if prepared.apply_nothing() {
        prepared.without_applying()
    } else {
        match consent(&args, prepared.report(), out)? {
            Err(why) => prepared.declined(why),
            Ok(()) => {
                let sd = s.state_dir()?;
                let applied = apply(prepared, &sd, s.stderr_tty);
                match applied {
                    Ok(a) => a.verify(&mut || {
                        super::settings::profile_changes(s, "native", args.timeout_ms)
                            .unwrap_or_default()
                    })?,
                    Err(f) => *f,
                }
            }
        }
    };
    super::emit(out, args.json, &finished.report, render::fix::human)?;
    Ok(finished.exit)
}

/// The user's consent to the plan: `--yes`, else `y` on a terminal; `Err(why)` when
/// none was given.
fn consent(
    args: &FixArgs,
    report: &rp_report::FixReport,
    out: &mut dyn Write,
) -> anyhow::Result<Result<(), String>> {
    if args.yes {
        return Ok(Ok(()));
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Ok(Err(
            "stdin is not a terminal, so nobody can answer [y/N]: pass --yes to apply, or --dry-run to see the plan".into(),
        ));
    }
    if !args.json {
        render::fix::plan(report, out)?;
        out.flush()?;
    }
    let mut err = std::io::stderr();
    write!(err, "Apply this plan? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
        Ok(())
    } else {
        Err("declined: nothing was changed".into())
    })
}

/// Apply with progress: on a terminal the step's last output line is the progress line
/// (after 2 s); otherwise every line goes to stderr as it comes.
fn apply(
    prepared: rp_fix::run::Prepared,
    state_dir: &std::path::Path,
    progress_tty: bool,
) -> Result<rp_fix::run::Applied, Box<rp_fix::run::Finished>> {
    let last = std::sync::Arc::new(std::sync::Mutex::new(String::from("applying the plan")));
    let _wait = {
        let last = last.clone();
        crate::progress::Wait::start(true, move || {
            last.lock().map(|l| format!("fix: {l}")).unwrap_or_default()
        })
    };
    let mut progress = |line: &str| {
        if progress_tty {
            if let Ok(mut l) = last.lock() {
                *l = line.to_string();
            }
        } else {
            let mut e = std::io::stderr();
            let _ = writeln!(e, "  | {line}");
            let _ = e.flush();
        }
    };
    prepared.apply(state_dir, &mut progress)
}
