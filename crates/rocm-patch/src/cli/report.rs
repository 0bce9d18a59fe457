//! `report` arguments.

use clap::Args;
use std::path::PathBuf;

/// `rocm-patch report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Write the Markdown here (a new file; an existing one is left alone) instead of
    /// stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read the machine below this directory instead of `/` (as doctor).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub sysroot: PathBuf,
    /// Check device access for this user (as doctor).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// A Python interpreter or environment directory (repeatable; as doctor). The first
    /// one runs the probe.
    #[arg(long, value_name = "PATH")]
    pub python: Vec<PathBuf>,
    /// A log to explain (repeatable).
    #[arg(long, value_name = "FILE")]
    pub log: Vec<PathBuf>,
    /// Run the probe matrix too (not with --sysroot: nothing from a tree is run).
    #[arg(long)]
    pub probe: bool,
    /// Keep user, host and machine names, serials and addresses as they are.
    #[arg(long)]
    pub no_redact: bool,
    /// Largest Markdown in bytes (GitHub's comment limit by default); longer parts are cut
    /// with a note. 0: no limit.
    #[arg(long, value_name = "BYTES", default_value_t = 65536)]
    pub max_size: usize,
    /// Deadline for each sysfs read, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Print the report as JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
}
