//! `fix` arguments.

use super::StateArgs;
use clap::Args;
use std::path::PathBuf;

/// Package channel of `fix`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Channel {
    /// AMD's stable index.
    Stable,
    /// AMD's nightly index.
    Nightly,
}

/// `rocm-patch fix`.
#[derive(Debug, Args)]
pub struct FixArgs {
    /// Only the findings with these ids (default: every finding that has a remedy).
    #[arg(value_name = "FINDING-ID")]
    pub ids: Vec<String>,
    /// Fix the machine below this directory instead of `/` (a test tree): every file
    /// read or changed lies inside it; the venv and the state directory only go where
    /// --venv and --state-dir say.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub sysroot: PathBuf,
    /// A Python interpreter or environment directory for doctor to check (repeatable).
    #[arg(long, value_name = "PATH")]
    pub python: Vec<PathBuf>,
    /// Fix for this user (home directory and groups from the tree's /etc/passwd).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Where the new venv goes (must not exist, or be empty). Default:
    /// $XDG_DATA_HOME/rocm-patch/venvs/torch-<gfx>.
    #[arg(long, value_name = "DIR")]
    pub venv: Option<PathBuf>,
    /// The Python the venv is made from (default: the newest python3.10 to 3.14 on PATH).
    #[arg(long, value_name = "PATH")]
    pub venv_python: Option<PathBuf>,
    /// The package index (a mirror); default: the channel's index from the knowledge
    /// base. Never used as an extra index: only this one is searched.
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,
    /// The channel of AMD's index (default: stable, or nightly for the GPUs published
    /// only there).
    #[arg(long, value_enum)]
    pub channel: Option<Channel>,
    /// Also change system files (/etc/environment, /etc/profile.d) and group membership
    /// (needs root).
    #[arg(long)]
    pub system: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply without asking (needed when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Do not run the probe afterwards.
    #[arg(long)]
    pub no_verify: bool,
    /// Run the verification probe with this interpreter (default: the new venv's).
    #[arg(long, value_name = "PATH")]
    pub probe_python: Option<PathBuf>,
    /// Deadline for each sysfs read, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}
