//! Command implementations: each builds a report and hands it to a renderer.

mod bench;
mod build;
mod deploy;
mod doctor;
mod env;
mod explain;
mod fix;
mod inspect;
mod manual;
mod probe;
mod report;
mod settings;
mod trace;

use crate::cli::{Cli, Command};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Run the parsed command line, writing to `out`; returns the exit code.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<u8> {
    // The command's own --state-dir (or ROCM_PATCH_STATE_DIR), else one given before it.
    let state_dir = command_state_dir(&cli.command).or(cli.state_dir.clone());
    // Commands that do not change files still say when a deploy was interrupted.
    if !matches!(
        cli.command,
        Command::Deploy(_)
            | Command::Fix(_)
            | Command::Tune(_)
            | Command::Rollback(_)
            | Command::History(_)
            | Command::Recover(_)
            | Command::Completions(_)
            | Command::Trust(_)
            | Command::Man(_)
    ) {
        if let Some(id) = settings::state_dir(state_dir.clone())
            .ok()
            .and_then(|sd| rp_deploy::interrupted(&sd))
        {
            warning_line(&format!(
                "deploy transaction {id} was interrupted and the tree may be half-changed; run `rocm-patch recover`"
            ));
        }
    }
    match cli.command {
        Command::Deploy(c) => deploy::deploy(c, state_dir, out),
        Command::Rollback(a) => deploy::rollback(a, state_dir, out),
        Command::History(a) => deploy::history(a, state_dir, out),
        Command::Recover(a) => deploy::recover(a, state_dir, out),
        Command::Doctor(args) => doctor::run(args, out),
        Command::Fix(args) => fix::run(args, state_dir, out),
        Command::Explain(args) => explain::run(args, out),
        Command::Env(args) => env::env(args, out),
        Command::Probe(args) => probe::run(args, out),
        Command::Bench(args) => bench::bench(args, state_dir, out),
        Command::Tune(args) => bench::tune(args, state_dir, out),
        Command::Trace(args) => trace::run(args, out),
        Command::Build(args) => build::run(args, state_dir, out),
        Command::Run(args) => env::run(args),
        Command::Inspect(args) => inspect::run(args, out),
        Command::Report(args) => report::run(args, out),
        Command::Trust(args) => trust(args, out),
        Command::Completions(args) => manual::completions(args, out),
        Command::Man(args) => manual::man(args, out),
    }
}

/// `--state-dir` of the commands that take one.
fn command_state_dir(c: &Command) -> Option<std::path::PathBuf> {
    use crate::cli::DeployCommand as D;
    let s = match c {
        Command::Deploy(D::Plan { common, .. })
        | Command::Deploy(D::Lib { common, .. })
        | Command::Deploy(D::Tensile { common, .. }) => &common.state,
        Command::Rollback(a) => &a.state,
        Command::History(a) => &a.state,
        Command::Recover(a) => &a.state,
        Command::Fix(a) => &a.state,
        Command::Bench(a) => &a.state,
        Command::Tune(a) => &a.state,
        Command::Build(a) => &a.state,
        _ => return None,
    };
    s.state_dir.clone()
}

/// Where trusted project files are recorded: `$XDG_DATA_HOME/rocm-patch/trusted`
/// (default `~/.local/share/rocm-patch/trusted`).
pub(crate) fn trust_store(env: &BTreeMap<String, String>) -> Option<std::path::PathBuf> {
    let data = env
        .get("XDG_DATA_HOME")
        .filter(|x| x.starts_with('/'))
        .map(std::path::PathBuf::from)
        .or_else(|| {
            env.get("HOME")
                .filter(|h| h.starts_with('/'))
                .map(|h| std::path::Path::new(h).join(".local/share"))
        })?;
    Some(data.join("rocm-patch/trusted"))
}

/// `rocm-patch trust [DIR] [--remove]`.
fn trust(args: crate::cli::TrustArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let store = trust_store(&env_map())
        .ok_or_else(|| anyhow::anyhow!("no XDG_DATA_HOME or HOME to keep the record in"))?;
    let dir = match args.dir {
        Some(d) => d,
        None => std::env::current_dir()?,
    };
    let t = rp_env::trust::trust(&store, &dir, args.remove).map_err(|e| anyhow::anyhow!(e))?;
    match t.sha256 {
        Some(h) => writeln!(
            out,
            "trusted {} (sha256 {h}); a change to it needs `rocm-patch trust` again",
            t.path.display()
        )?,
        None => writeln!(out, "{} is no longer trusted", t.path.display())?,
    }
    Ok(crate::exit::OK)
}

/// This process's environment (variables whose name or value is not UTF-8 are left out).
pub(crate) fn env_map() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// The GPU a command works for: `--gpu` (a target the knowledge base knows), else the
/// true target of the first KFD node with one (never an override), with where it came
/// from; `None` when there is neither.
pub(crate) fn gpu_target(
    flag: Option<&str>,
    timeout_ms: u64,
) -> anyhow::Result<Option<(rp_kb::TargetId, String)>> {
    if let Some(g) = flag {
        match g.parse::<rp_kb::TargetId>() {
            Ok(t) if rp_kb::kb().processor(g).is_some() => return Ok(Some((t, "--gpu".into()))),
            _ => anyhow::bail!(
                "--gpu {g:?}: not a GPU target the knowledge base knows (e.g. gfx1010)"
            ),
        }
    }
    let root = rp_machine::SysRoot::live(std::time::Duration::from_millis(timeout_ms.max(1)));
    let m = rp_machine::snapshot(
        &root,
        &rp_machine::Options {
            env: env_map(),
            ..Default::default()
        },
    )
    .ok();
    Ok(m.as_ref().and_then(|m| {
        m.kfd_gpus().find_map(|g| {
            let t = g.gfx_target.as_deref()?.parse().ok()?;
            let node = g.node.map(|n| n.to_string()).unwrap_or_default();
            Some((t, format!("KFD node {node} ({})", g.name)))
        })
    }))
}

/// The per-user cache directory, when there is one (`$XDG_CACHE_HOME/rocm-patch`, else
/// `~/.cache/rocm-patch`): doctor keeps slow checks' results there.
pub(crate) fn machine_cache_dir() -> Option<std::path::PathBuf> {
    user_dir(None, "XDG_CACHE_HOME", ".cache", "cache-dir").ok()
}

/// A per-user directory: the flag, else `$VAR/rocm-patch`, else `~/HOME_REL/rocm-patch`.
pub(crate) fn user_dir(
    flag: Option<std::path::PathBuf>,
    var: &str,
    home_rel: &str,
    what: &str,
) -> anyhow::Result<std::path::PathBuf> {
    if let Some(d) = flag {
        return Ok(d);
    }
    if let Some(x) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Ok(std::path::PathBuf::from(x).join("rocm-patch"));
    }
    let home =
        std::env::var_os("HOME").ok_or_else(|| anyhow::anyhow!("no --{what}, {var} or HOME"))?;
    Ok(std::path::PathBuf::from(home)
        .join(home_rel)
        .join("rocm-patch"))
}

/// The one output contract: `--json` prints the report as it is (pretty JSON and a
/// newline), otherwise the command's human renderer writes it.
pub(crate) fn emit<T: Serialize>(
    out: &mut dyn Write,
    json: bool,
    report: &T,
    human: impl FnOnce(&T, &mut dyn Write) -> io::Result<()>,
) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, report)?;
        writeln!(out)?;
    } else {
        human(report, out)?;
    }
    Ok(())
}

/// An error about one input that does not stop the command: on stderr, with the prefix
/// every error has.
pub(crate) fn error_line(msg: &str) {
    let _ = writeln!(io::stderr(), "rocm-patch: error: {msg}");
}

/// A warning on stderr.
pub(crate) fn warning_line(msg: &str) {
    let _ = writeln!(io::stderr(), "rocm-patch: warning: {msg}");
}

/// The sysroot, opened with the deadline of one read.
pub(crate) fn sysroot(
    dir: &std::path::Path,
    timeout_ms: u64,
) -> anyhow::Result<rp_machine::SysRoot> {
    Ok(rp_machine::SysRoot::open(
        dir,
        std::time::Duration::from_millis(timeout_ms.max(1)),
    )?)
}

/// Create a file that must not exist yet (never follows a link or replaces anything: an
/// output the user names is new, the user's own files are left alone).
pub(crate) fn write_new(path: &std::path::Path, data: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| path.display().to_string())?;
    f.write_all(data)
        .with_context(|| path.display().to_string())?;
    Ok(())
}
