//! `explain` arguments.

use clap::Args;
use std::path::PathBuf;

/// `rocm-patch explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Log files (a traceback, dmesg or journalctl -k output, a probe's stderr); none or
    /// `-` reads stdin.
    pub files: Vec<PathBuf>,
    /// Tailor fixes to the machine below this directory (default: this machine).
    #[arg(long, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,
    /// Do not read the machine; fixes stay generic.
    #[arg(long, conflicts_with = "sysroot")]
    pub no_machine: bool,
    /// An environment variable the failing program ran with (repeatable), e.g.
    /// `--env HSA_OVERRIDE_GFX_VERSION=10.3.0`.
    #[arg(long, value_name = "K=V", value_parser = parse_kv)]
    pub env: Vec<(String, String)>,
    /// Deadline for a sysfs read, in milliseconds (a hung GPU blocks reads).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// A `rocm-patch trace -o` record of the failing run (repeatable: one with
    /// `--policy seed`, one without); a log's `LOG.trace.jsonl` is read too.
    #[arg(long, value_name = "FILE")]
    pub trace: Vec<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not NAME=VALUE")),
    }
}
