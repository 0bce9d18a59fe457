//! `trace` arguments.

use clap::Args;
use std::path::PathBuf;

/// `trace --policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TracePolicy {
    /// The seed project's allocation policy: pinned host memory non-coherent, device
    /// memory plain coarse-grained.
    Seed,
}

/// `trace` arguments.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Apply an allocation policy to the traced program (an experiment: does the fault
    /// depend on memory coherence?).
    #[arg(long, value_enum)]
    pub policy: Option<TracePolicy>,
    /// Keep the records in FILE (JSON lines; a child process writes FILE.<pid>). Without
    /// it they go to a temporary file that is removed after the summary.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The GPU target the fat binaries are checked against (default: this machine's
    /// first AMD GPU, from the KFD topology, never from an override).
    #[arg(long, value_name = "TARGET")]
    pub gpu: Option<String>,
    /// Summarise an existing record instead of running a command.
    #[arg(long, value_name = "FILE", conflicts_with = "command")]
    pub read: Option<PathBuf>,
    /// Deadline for a sysfs read, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments (after `--`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}
