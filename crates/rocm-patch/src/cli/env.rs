//! `env` and `run` arguments, and the profile options they share.

use clap::Args;
use std::path::PathBuf;

/// Options shared by `env` and `run`.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The profile (default: from the config files, else `native`).
    #[arg(long, short)]
    pub profile: Option<String>,
    /// Set a variable on top of the profile (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Apply the profile over variables you already exported.
    #[arg(long)]
    pub force: bool,
    /// Keep an exported HSA_OVERRIDE_GFX_VERSION even when it makes a GPU here run
    /// foreign machine code (by default the native profile removes it, and says so).
    #[arg(long)]
    pub keep_env: bool,
    /// Allow a profile that is known to crash (legacy-rdna1-override).
    #[arg(long)]
    pub i_know_this_crashes: bool,
    /// Read the GPUs (and /etc/rocm-patch/config.toml) below this directory.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub sysroot: PathBuf,
    /// Deadline for a sysfs read, in milliseconds (a hung GPU blocks reads).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
}

/// Output syntax of `env`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    /// `export NAME='value'`.
    Bash,
    /// As bash.
    Zsh,
    /// `set -gx NAME 'value'`.
    Fish,
    /// The resolution as JSON.
    Json,
}

/// `rocm-patch env`.
#[derive(Debug, Args)]
pub struct EnvArgs {
    #[command(flatten)]
    pub p: ProfileArgs,
    /// Output syntax.
    #[arg(long, value_enum, default_value = "bash")]
    pub shell: Shell,
    /// Show every variable with its value, where it came from and why, instead of shell code.
    #[arg(long)]
    pub explain: bool,
    /// List the profiles.
    #[arg(long)]
    pub list: bool,
    /// Print the resolution (or, with --list, the profiles) as JSON; the same as
    /// `--shell json`.
    #[arg(long)]
    pub json: bool,
}

/// `rocm-patch run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub p: ProfileArgs,
    /// Run in this venv: its bin first on PATH and VIRTUAL_ENV set (no activation
    /// needed), plus the profile.
    #[arg(long, value_name = "DIR")]
    pub venv: Option<PathBuf>,
    /// The command and its arguments (after `--`).
    #[arg(required = true, last = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}
