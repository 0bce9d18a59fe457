//! `completions` and `man` arguments.

use clap::Args;
use std::path::PathBuf;

/// `completions` arguments.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `man` arguments.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `rocm-patch.1` and `rocm-patch-<command>.1` here (existing files are left
    /// alone: an error names them). Without it, the main page goes to stdout.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}
