//! `build` arguments.

use super::StateArgs;
use clap::Args;
use std::path::PathBuf;

/// `build` arguments.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The recipe: a built-in name (`miopen`, `miopen@3.2.0`) or a recipe file (a path).
    #[arg(value_name = "RECIPE", required_unless_present_any = ["list", "show"])]
    pub recipe: Option<String>,
    /// The GPU target to build for (default: this machine's GPU, from KFD).
    #[arg(long, value_name = "TARGET")]
    pub gpu: Option<String>,
    /// Install prefix (default: `prefix` inside the build directory).
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<PathBuf>,
    /// Parallel jobs (default: the number of CPUs).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<u32>,
    /// Build this local checkout instead of fetching the pinned source (copied first;
    /// its commit, or a hash of its files, is recorded).
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// Turn on a recipe option (`build --show RECIPE` lists them).
    #[arg(long = "with", value_name = "OPTION")]
    pub with: Vec<String>,
    /// After the build is verified, install its libraries into DIR as one deploy
    /// transaction (`rollback --last` undoes it).
    #[arg(long, value_name = "DIR")]
    pub deploy_into: Option<PathBuf>,
    /// Allow --deploy-into a system tree (/usr, /opt, ...).
    #[arg(long)]
    pub system: bool,
    /// Print every command with its variables filled in; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// List the built-in recipes.
    #[arg(long)]
    pub list: bool,
    /// Show a recipe: source, options, requirements, patches and why, steps.
    #[arg(long, value_name = "RECIPE")]
    pub show: Option<String>,
    /// Where sources are cached and builds happen (default:
    /// $XDG_CACHE_HOME/rocm-patch, i.e. ~/.cache/rocm-patch).
    #[arg(long, env = "ROCM_PATCH_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Deadline for a sysfs read while finding the GPU, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}
