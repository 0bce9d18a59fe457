//! Command-line argument types (clap derive only; no logic).
//!
//! One file per command family; every type is re-exported here, so `crate::cli::X`
//! names it wherever it lives.

mod build;
mod deploy;
mod doctor;
mod env;
mod explain;
mod fix;
mod inspect;
mod manual;
mod probe;
mod report;
mod trace;
mod trust;

pub use build::BuildArgs;
pub use deploy::{DeployCommand, DeployCommon, HistoryArgs, RecoverArgs, RollbackArgs};
pub use doctor::DoctorArgs;
pub use env::{EnvArgs, ProfileArgs, RunArgs, Shell};
pub use explain::ExplainArgs;
pub use fix::{Channel, FixArgs};
pub use inspect::InspectArgs;
pub use manual::{CompletionsArgs, ManArgs};
pub use probe::{BenchArgs, ProbeArgs, ProbeDevice, TuneArgs, TUNE_BENCHES};
pub use report::ReportArgs;
pub use trace::{TraceArgs, TracePolicy};
pub use trust::TrustArgs;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// `--version`: the version, the commit it was built from and the date of the newest
/// knowledge-base change (both from git at build time, `unknown` outside a checkout).
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("RP_GIT_COMMIT"),
    ", knowledge base ",
    env!("RP_KB_DATE"),
    ")"
);

const EXAMPLES: &str = "Examples:
  rocm-patch doctor                          what is wrong with this machine, why, and the fix
  rocm-patch probe --python ~/venvs/torch/bin/python
                                             test each GPU operation against the CPU
  rocm-patch inspect --gpu gfx1010 ~/venvs/torch/lib/python3.12/site-packages/torch/lib
                                             which libraries carry code for the GPU

Start with `rocm-patch doctor`.";

/// Make PyTorch GPU acceleration work on AMD GPUs that ROCm does not support.
#[derive(Debug, Parser)]
#[command(name = "rocm-patch", version, long_version = LONG_VERSION, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    /// The state directory, before the command (kept for scripts that pass it there; the
    /// commands that use one take `--state-dir` themselves).
    #[arg(long, hide = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read the machine: GPUs, driver, environment, ROCm installs, Python environments
    /// with torch. Say what is wrong, why, and the fix. Exit 1 on an error finding.
    Doctor(DoctorArgs),
    /// Fix what doctor found: a plan of remedies (stop exporting an override, a new venv
    /// with a torch that carries code for the GPU, device-node groups, the default
    /// profile), applied after you agree as one transaction, then verified by doctor and
    /// probe. `rollback --last` undoes it. Exit 0 nothing left to fix, 1 error findings
    /// remain (or the probe failed), 2 the tool failed or you declined, 3 a step failed
    /// and everything was rolled back.
    Fix(FixArgs),
    /// Print the environment of a profile for this machine's GPUs, for a shell to eval.
    Env(EnvArgs),
    /// Run a command with a profile's environment (no shell in between; the exit status
    /// and signals pass through).
    Run(RunArgs),
    /// Test each GPU operation (allocation, copies, matmul, convolution, normalisation,
    /// attention, RNG, FFT, linalg, training) in isolation against the CPU. Exit 1 unless
    /// all pass.
    Probe(ProbeArgs),
    /// Measure speed the way probe tests correctness, each benchmark in isolation: matmul,
    /// ResNet-50 convolutions, batch-norm, attention, memory bandwidth, host-device copies,
    /// a convolution's first call; median and spread, TFLOP/s or GB/s and % of the
    /// device's peak; one column per --profile. Each run is kept in the state directory
    /// for --compare. Exit 1 when a benchmark failed.
    Bench(BenchArgs),
    /// Find the fastest profile that is still correct: probe and bench each profile (and,
    /// on ROCm torch, each MIOpen find mode on top), drop any with a failing probe, rank
    /// the rest by the geometric mean of their time ratios. --write makes the winner your
    /// default profile as a deploy transaction (`rollback --last` undoes it).
    Tune(TuneArgs),
    /// Run a command with the HIP interposer preloaded and summarise what it asked the
    /// GPU to do: the fat binaries registered and whether they carry code for this GPU,
    /// kernels launched (the last ones before a crash), allocations by flags, failed
    /// calls. The command's exit status and signal pass through.
    Trace(TraceArgs),
    /// Build a library from source for one GPU from a recipe (miopen, rocblas, rocsparse,
    /// rocrand, rocsolver, pytorch, or a recipe file): preflight, pinned and checksummed
    /// sources, patches checked against upstream hashes, logged steps that resume, the
    /// result checked for code for the GPU, and --deploy-into as one deploy transaction.
    /// Exit 0 built and verified (or planned), 1 the build stopped or did not verify, 2 bad
    /// input, 130 interrupted (run it again to resume).
    Build(BuildArgs),
    /// Change an install as one crash-safe, reversible transaction.
    #[command(subcommand)]
    Deploy(DeployCommand),
    /// Undo a deploy transaction, restoring byte-identical files, modes and symlinks.
    Rollback(RollbackArgs),
    /// List deploy transactions.
    History(HistoryArgs),
    /// Bring the tree back after an interrupted deploy or rollback (kill -9, power loss).
    Recover(RecoverArgs),
    /// Read an error log (files or stdin): each recognised event, its cause and the fix.
    /// Exit 1 when a non-benign cause is found.
    Explain(ExplainArgs),
    /// Which GPU targets every library (file, directory, wheel) was built for.
    Inspect(InspectArgs),
    /// One Markdown report for a bug tracker: doctor, the libraries torch loads and their
    /// coverage, the profile, versions, kernel log lines, explain on logs, optionally the
    /// probe. User, host, machine-id, serials, MAC and IP addresses are redacted.
    Report(ReportArgs),
    /// Trust this directory's rocm-patch.toml as it is now (a project's config is ignored
    /// until you do, and again after every change: it can set variables that load code).
    Trust(TrustArgs),
    /// Print the shell completion script (bash: `source <(rocm-patch completions bash)`).
    Completions(CompletionsArgs),
    /// Print the manual page, or write one page per command into DIR.
    Man(ManArgs),
}

/// The state directory, on the commands that use one.
#[derive(Debug, Args, Default)]
pub struct StateArgs {
    /// Where deploy keeps its journal, lock and store of originals, and bench its history
    /// (default: $XDG_STATE_HOME/rocm-patch, i.e. ~/.local/state/rocm-patch).
    #[arg(long, env = "ROCM_PATCH_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}
