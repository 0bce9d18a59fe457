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
    let s = settings::Settings::read(command_state_dir(&cli.command).or(cli.state_dir.clone()));
    let s = &s;
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
        if let Some(id) = s
            .state_dir()
            .ok()
            .and_then(|sd| rp_deploy::interrupted(&sd))
        {
            warning_line(&format!(
                "deploy transaction {id} was interrupted and the tree may be half-changed; run `rocm-patch recover`"
            ));
        }
    }
    match cli.command {
        Command::Deploy(c) => deploy::deploy(c, s, out),
        Command::Rollback(a) => deploy::rollback(a, s, out),
        Command::History(a) => deploy::history(a, s, out),
        Command::Recover(a) => deploy::recover(a, s, out),
        Command::Doctor(args) => doctor::run(args, s, out),
        Command::Fix(args) => fix::run(args, s, out),
        Command::Explain(args) => explain::run(args, s, out),
        Command::Env(args) => env::env(args, s, out),
        Command::Probe(args) => probe::run(args, s, out),
        Command::Bench(args) => bench::bench(args, s, out),
        Command::Tune(args) => bench::tune(args, s, out),
        Command::Trace(args) => trace::run(args, s, out),
        Command::Build(args) => build::run(args, s, out),
        Command::Run(args) => env::run(args, s),
        Command::Inspect(args) => inspect::run(args, out),
        Command::Report(args) => report::run(args, s, out),
        Command::Trust(args) => trust(args, s, out),
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
fn trust_store(env: &BTreeMap<String, String>) -> Option<std::path::PathBuf> {
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
fn trust(
    args: crate::cli::TrustArgs,
    s: &settings::Settings,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let store = s
        .trust_store
        .clone()
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
fn env_map() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// The GPU a command works for: `--gpu` (a target the knowledge base knows), else the
/// true target of the first KFD node with one (never an override), with where it came
/// from; `None` when there is neither.
pub(crate) fn gpu_target(
    s: &settings::Settings,
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
            env: s.env.clone(),
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

/// A per-user directory: the flag, else `$VAR/rocm-patch`, else `~/HOME_REL/rocm-patch`.
fn user_dir(
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
