//! The rocm-patch command-line tool: argument types, commands and renderers.
//!
//! Every command returns a report from `rp-report`; [`render`] turns it into human
//! text or JSON. Only this crate writes to the terminal.

pub mod cli;
pub mod commands;
mod progress;
pub mod render;

use clap::Parser;
use std::io::{self, Write};
use std::process::ExitCode;

/// Exit codes shared by all commands: the contract's.
pub use rp_report::exit;

/// Run the tool and return its exit code.
pub fn main_entry() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::TOOL_ERROR
            } else {
                exit::OK
            };
            let _ = e.print();
            // `run CMD` without `--`: say how to write it.
            if e.kind() == clap::error::ErrorKind::UnknownArgument
                && std::env::args().nth(1).as_deref() == Some("run")
            {
                let _ = writeln!(
                    io::stderr(),
                    "rocm-patch: put `--` before the command: rocm-patch run [OPTIONS] -- CMD ARGS..."
                );
            }
            return ExitCode::from(code);
        }
    };
    let mut out = io::stdout().lock();
    match commands::run(cli, &mut out) {
        Ok(code) => {
            let _ = out.flush();
            ExitCode::from(code)
        }
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<io::Error>()
                    .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::from(exit::OK);
            }
            let _ = writeln!(io::stderr(), "rocm-patch: error: {e:#}");
            ExitCode::from(exit::TOOL_ERROR)
        }
    }
}
