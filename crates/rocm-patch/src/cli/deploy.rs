//! `deploy`, `rollback`, `recover` and `history` arguments.

use super::StateArgs;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `rocm-patch deploy ...`.
#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Apply a plan: [[file]] (source, target, mode), [[symlink]] (target, to) and
    /// [[remove]] (target) tables; targets are relative to --into.
    Plan {
        /// The plan file.
        plan: PathBuf,
        /// The target tree (default: the plan's `into`).
        #[arg(long, value_name = "DIR")]
        into: Option<PathBuf>,
        #[command(flatten)]
        common: DeployCommon,
    },
    /// Replace (or add) one library in a directory, e.g. torch/lib/libMIOpen.so.
    Lib {
        /// The library.
        file: PathBuf,
        /// The directory it goes into (its file name is kept).
        #[arg(long, value_name = "DIR")]
        into: PathBuf,
        #[command(flatten)]
        common: DeployCommon,
    },
    /// Add one arch's rocBLAS Tensile files (e.g. Debian's gfx1010 files) to a torch or
    /// ROCm install, after checking that both rocBLAS builds can share them.
    Tensile {
        /// Where the files come from (a Tensile library directory or a tree holding one).
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// The arch, e.g. gfx1010.
        #[arg(long)]
        arch: String,
        /// The install: a torch package directory, a ROCm prefix, or a library directory.
        #[arg(long, value_name = "INSTALL")]
        into: PathBuf,
        /// Deploy even when the rocBLAS versions differ or are unknown.
        #[arg(long)]
        skip_version_check: bool,
        #[command(flatten)]
        common: DeployCommon,
    },
}

/// Options of every deploy.
#[derive(Debug, Args)]
pub struct DeployCommon {
    /// Allow system paths (/usr, /opt, …); you also need the permission to write there.
    #[arg(long)]
    pub system: bool,
    /// Skip checking that deployed shared libraries' dependencies resolve.
    #[arg(long)]
    pub no_load_check: bool,
    /// Allow setuid, setgid and world-writable modes in a plan.
    #[arg(long)]
    pub allow_special_modes: bool,
    /// Print the transaction as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

/// `history` arguments.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

/// `rocm-patch rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The transaction id (see `history`).
    #[arg(conflicts_with = "last")]
    pub id: Option<u64>,
    /// The most recent committed transaction.
    #[arg(long)]
    pub last: bool,
    /// Restore even files that changed after the transaction.
    #[arg(long)]
    pub force: bool,
    /// Print the transaction as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

/// `rocm-patch recover`.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// Set this transaction's record aside instead (a corrupt journal, or a store that
    /// can no longer restore it): nothing in the tree changes, the stored originals are
    /// kept, and the paths it would have restored are listed for you to check.
    #[arg(long, value_name = "ID")]
    pub abandon: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}
