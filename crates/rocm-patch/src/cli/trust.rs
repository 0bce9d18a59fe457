//! `trust` arguments.

use clap::Args;
use std::path::PathBuf;

/// `trust` arguments.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// The directory holding rocm-patch.toml (default: the current directory).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Stop trusting it.
    #[arg(long)]
    pub remove: bool,
}
