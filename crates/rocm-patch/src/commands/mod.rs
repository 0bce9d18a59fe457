//! Command implementations: each builds a report and hands it to a renderer.

mod deploy;
mod doctor;
mod env;
mod explain;
mod inspect;
mod probe;

use crate::cli::{Cli, Command};
use std::collections::BTreeMap;
use std::io::Write;

/// Run the parsed command line, writing to `out`; returns the exit code.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<u8> {
    let state_dir = cli.state_dir.clone();
    // Commands that do not change files still say when a deploy was interrupted.
    if !matches!(
        cli.command,
        Command::Deploy(_) | Command::Rollback(_) | Command::History(_) | Command::Recover(_)
    ) {
        if let Some(id) = deploy::state_dir(state_dir.clone())
            .ok()
            .and_then(|sd| rp_deploy::interrupted(&sd))
        {
            let _ = writeln!(
                std::io::stderr(),
                "rocm-patch: warning: deploy transaction {id} was interrupted and the tree may be half-changed; run `rocm-patch recover`"
            );
        }
    }
    match cli.command {
        Command::Deploy(c) => deploy::deploy(c, state_dir, out),
        Command::Rollback(a) => deploy::rollback(a, state_dir, out),
        Command::History(a) => deploy::history(a, state_dir, out),
        Command::Recover(a) => deploy::recover(a, state_dir, out),
        Command::Doctor(args) => doctor::run(args, out),
        Command::Explain(args) => explain::run(args, out),
        Command::Env(args) => env::env(args, out),
        Command::Probe(args) => probe::run(args, out),
        Command::Run(args) => env::run(args),
        Command::Inspect(args) => inspect::run(args, out),
    }
}

/// This process's environment (variables whose name or value is not UTF-8 are left out).
pub(crate) fn env_map() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}
