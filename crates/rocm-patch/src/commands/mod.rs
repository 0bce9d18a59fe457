//! Command implementations: each builds a report and hands it to a renderer.

mod doctor;
mod env;
mod explain;
mod inspect;
mod probe;

use crate::cli::{Cli, Command};
use std::io::Write;

/// Run the parsed command line, writing to `out`; returns the exit code.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<u8> {
    match cli.command {
        Command::Doctor(args) => doctor::run(args, out),
        Command::Explain(args) => explain::run(args, out),
        Command::Env(args) => env::env(args, out),
        Command::Probe(args) => probe::run(args, out),
        Command::Run(args) => env::run(args),
        Command::Inspect(args) => inspect::run(args, out),
    }
}
