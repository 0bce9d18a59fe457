//! `doctor` arguments.

use clap::Args;
use std::path::PathBuf;

/// `rocm-patch doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Read the machine below this directory instead of `/` (a captured or test tree).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub sysroot: PathBuf,
    /// A Python interpreter or environment directory to check (repeatable). Without it,
    /// doctor checks python3 on PATH, the active venv or conda env, and venvs in the
    /// current directory.
    #[arg(long, value_name = "PATH")]
    pub python: Vec<PathBuf>,
    /// Check /dev/kfd and render-node access for this user (looked up in the sysroot's
    /// /etc/passwd and /etc/group) instead of the current one.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Deadline for each sysfs read, in milliseconds; a read that blocks longer (a hung
    /// GPU) becomes a finding.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}
