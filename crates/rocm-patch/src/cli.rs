//! Command-line argument types (clap derive only; no logic).

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

/// The state directory, on the commands that use one.
#[derive(Debug, Args, Default)]
pub struct StateArgs {
    /// Where deploy keeps its journal, lock and store of originals, and bench its history
    /// (default: $XDG_STATE_HOME/rocm-patch, i.e. ~/.local/state/rocm-patch).
    #[arg(long, env = "ROCM_PATCH_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

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

/// `history` arguments.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
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

/// `rocm-patch explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Log files (a traceback, dmesg or journalctl -k output, a probe's stderr); none or
    /// `-` reads stdin.
    pub files: Vec<PathBuf>,
    /// Tailor fixes to the machine below this directory (default: this machine).
    #[arg(long, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,
    /// Do not read the machine; fixes stay generic.
    #[arg(long, conflicts_with = "sysroot")]
    pub no_machine: bool,
    /// An environment variable the failing program ran with (repeatable), e.g.
    /// `--env HSA_OVERRIDE_GFX_VERSION=10.3.0`.
    #[arg(long, value_name = "K=V", value_parser = parse_kv)]
    pub env: Vec<(String, String)>,
    /// Deadline for a sysfs read, in milliseconds (a hung GPU blocks reads).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// A `rocm-patch trace -o` record of the failing run (repeatable: one with
    /// `--policy seed`, one without); a log's `LOG.trace.jsonl` is read too.
    #[arg(long, value_name = "FILE")]
    pub trace: Vec<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

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

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not NAME=VALUE")),
    }
}

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

/// `rocm-patch inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Files, directories (walked recursively) and wheels to inspect.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Answer for this GPU (e.g. gfx1010, gfx90a:xnack-): list the libraries that carry
    /// device code but none it can load. Exit 1 if any.
    #[arg(long, value_name = "TARGET")]
    pub gpu: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Decompress compressed bundles fully: read each code object's header and check
    /// the bundle's size and hash (slower).
    #[arg(long)]
    pub deep: bool,
    /// List every code object, not only a per-file summary.
    #[arg(long, short)]
    pub verbose: bool,
    /// Wheel members larger than this many bytes are scanned as a stream instead of
    /// being read into memory (default 64 MiB; for tests).
    #[arg(long, hide = true, value_name = "BYTES")]
    pub wheel_member_in_memory: Option<u64>,
}

/// `rocm-patch report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Write the Markdown here (a new file; an existing one is left alone) instead of
    /// stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read the machine below this directory instead of `/` (as doctor).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub sysroot: PathBuf,
    /// Check device access for this user (as doctor).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// A Python interpreter or environment directory (repeatable; as doctor). The first
    /// one runs the probe.
    #[arg(long, value_name = "PATH")]
    pub python: Vec<PathBuf>,
    /// A log to explain (repeatable).
    #[arg(long, value_name = "FILE")]
    pub log: Vec<PathBuf>,
    /// Run the probe matrix too (not with --sysroot: nothing from a tree is run).
    #[arg(long)]
    pub probe: bool,
    /// Keep user, host and machine names, serials and addresses as they are.
    #[arg(long)]
    pub no_redact: bool,
    /// Largest Markdown in bytes (GitHub's comment limit by default); longer parts are cut
    /// with a note. 0: no limit.
    #[arg(long, value_name = "BYTES", default_value_t = 65536)]
    pub max_size: usize,
    /// Deadline for each sysfs read, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Print the report as JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
}
