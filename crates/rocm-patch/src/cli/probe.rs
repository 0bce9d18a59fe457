//! `probe`, `bench` and `tune` arguments.

use super::StateArgs;
use clap::Args;
use std::path::PathBuf;

/// Device for `probe`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ProbeDevice {
    /// cuda when torch sees a GPU (ROCm builds use cuda too), else cpu.
    Auto,
    /// torch.cuda.
    Cuda,
    /// The CPU.
    Cpu,
}

/// `rocm-patch probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The Python interpreter with torch.
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// The device to test.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: ProbeDevice,
    /// Only these probes: a name, a glob ('conv*') or a group (core, rdna1-known,
    /// workloads); repeatable and comma-separated.
    #[arg(long, value_name = "PROBES")]
    pub only: Vec<String>,
    /// List the built-in probes with their group and the library path each exercises.
    #[arg(long)]
    pub list: bool,
    /// Seconds each probe may take before it counts as a hang.
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Run the worker with this profile's environment (see `env`), to compare profiles.
    #[arg(long, short)]
    pub profile: Option<String>,
    /// Add probes: functions probe_<name>(torch, device) in the .py files of DIR.
    #[arg(long, value_name = "DIR")]
    pub probes_dir: Option<PathBuf>,
    /// Deadline for a sysfs read while resolving --profile, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `bench` arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The Python interpreter with torch (or a venv directory).
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// The device to measure.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: ProbeDevice,
    /// A profile's environment as a column (repeatable; the first is the baseline the
    /// others are compared with). Default: the environment as it is.
    #[arg(long, short, value_name = "PROFILE")]
    pub profile: Vec<String>,
    /// Only these benchmarks: names or globs ('matmul_*'), repeatable, comma-separated.
    #[arg(long, value_name = "BENCHES")]
    pub only: Vec<String>,
    /// Timed repetitions per benchmark (1 to 1000).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub repeat: u32,
    /// Seconds one benchmark may take before it counts as a hang.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Add benchmarks: functions bench_<name>(torch, device, h) in the .py files of DIR.
    #[arg(long, value_name = "DIR")]
    pub benches_dir: Option<PathBuf>,
    /// Compare with the last run on this device from the history.
    #[arg(long)]
    pub compare: bool,
    /// Do not add this run to the history.
    #[arg(long)]
    pub no_history: bool,
    /// List the benchmarks and exit.
    #[arg(long)]
    pub list: bool,
    /// Deadline for a sysfs read while resolving --profile, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

/// The benchmarks `tune` runs unless --only says otherwise.
pub const TUNE_BENCHES: &str =
    "matmul_fp32_4096,matmul_fp16_4096,conv2d_*,batchnorm_*,sdpa_fp16_causal";

/// `tune` arguments.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// The Python interpreter with torch (or a venv directory).
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// The device.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: ProbeDevice,
    /// Candidates (repeatable). Default: every profile the configuration knows; a
    /// dangerous one is tried only when named here.
    #[arg(long, short, value_name = "PROFILE")]
    pub profile: Vec<String>,
    /// The benchmarks that rank the candidates.
    #[arg(long, value_name = "BENCHES", default_value = TUNE_BENCHES)]
    pub only: Vec<String>,
    /// The probes that must pass (names, globs or groups; default: all).
    #[arg(long, value_name = "PROBES")]
    pub probe_only: Vec<String>,
    /// Timed repetitions per benchmark.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub repeat: u32,
    /// Seconds one probe or benchmark may take.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Extra probes (probe_<name> functions in DIR/*.py).
    #[arg(long, value_name = "DIR")]
    pub probes_dir: Option<PathBuf>,
    /// Extra benchmarks (bench_<name> functions in DIR/*.py).
    #[arg(long, value_name = "DIR")]
    pub benches_dir: Option<PathBuf>,
    /// Make the winner the default profile in your config file, as a deploy transaction.
    #[arg(long)]
    pub write: bool,
    /// Deadline for a sysfs read while resolving profiles, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}
