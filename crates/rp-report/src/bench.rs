//! `bench` and `tune` reports.

use crate::{ProbeDevice, ProbeStatus};
use serde::{Deserialize, Serialize};

vocabulary! {
    /// How a benchmark was timed.
    BenchTimer { #[default] /** CUDA/HIP events, on the GPU. */ Events = "events", /** Python's `time.perf_counter`, on the CPU. */ PerfCounter = "perf_counter" }
}
vocabulary! {
    /// The wrapper a registered fat binary came in (the compiler's `__hip_fatbin_wrapper`
    /// magic, as `rp-trace-preload` records it).
    FatbinMagic { #[default] /** `HIPF`: the wrapper points at an offload bundle. */ Hipf = "HIPF", /** `HIPK`: a kpack reference (the device code lies in kpack archives). */ Hipk = "HIPK" }
}
vocabulary! {
    /// The allocation policy a trace ran under (`trace --policy`).
    TracePolicy { #[default] /** Allocation flags as the program asks. */ None = "none", /** Fine-grained (coherent) allocations forced: `--policy seed`. */ Seed = "seed" }
}

vocabulary! {
    /// The unit of a benchmark's rate (the worker's `h.measure` accepts these two).
    RateUnit { #[default] /** FLOPs per second, in 10^12. */ TflopPerS = "TFLOP/s", /** Bytes moved per second, in 10^9. */ GbPerS = "GB/s" }
}
vocabulary! {
    /// Which peak figure of the GPU (data/bench.toml) a rate is compared with.
    PeakKind { #[default] /** FP32 FLOPs. */ Fp32 = "fp32", /** TF32 tensor FLOPs. */ Tf32 = "tf32", /** FP16 FLOPs. */ Fp16 = "fp16", /** BF16 FLOPs. */ Bf16 = "bf16", /** Memory bandwidth. */ Bandwidth = "bandwidth" }
}

/// The GPU torch used, as the worker saw it.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct BenchGpu {
    /// `torch.cuda.get_device_name`.
    pub name: String,
    /// The ISA (`gfx1010`) on ROCm, `sm_90` on CUDA.
    pub arch: Option<String>,
    /// Total device memory, bytes.
    pub memory: Option<u64>,
}

/// One benchmark's measurements, as the worker reports them.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct BenchMetrics {
    /// `TFLOP/s` or `GB/s`.
    pub unit: RateUnit,
    /// FLOPs or bytes per call.
    pub work: f64,
    /// Which peak figure it is compared with (`fp32`, `tf32`, `fp16`, `bf16`,
    /// `bandwidth`), if any.
    pub peak: Option<PeakKind>,
    /// Median time per call, milliseconds.
    pub median_ms: f64,
    /// Fastest repetition, per call.
    pub min_ms: f64,
    /// Slowest repetition, per call.
    pub max_ms: f64,
    /// Timed repetitions.
    pub reps: u32,
    /// Calls per repetition.
    pub inner: u32,
    /// The first call (kernel choice, compilation, allocation), milliseconds.
    pub first_call_ms: f64,
    /// Achieved rate at the median, in `unit`.
    pub rate: Option<f64>,
    /// `events` (CUDA/HIP events) or `perf_counter`.
    pub timer: BenchTimer,
    /// What the figure counts, or the first-call comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// This benchmark reports the first call against the warm one.
    #[serde(default)]
    pub first_call: bool,
}

/// One benchmark under one profile.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct BenchCell {
    /// The profile (`current` for the environment as it is).
    pub profile: String,
    /// `pass` (measured), `skip`, `error`, `crash`, `timeout`.
    pub status: ProbeStatus,
    /// The signal that ended a crashed benchmark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Wall time of the whole benchmark, seconds.
    pub seconds: f64,
    /// The skip reason, the error, or the benchmark's note.
    pub detail: Option<String>,
    /// The measurements, when it ran.
    pub metrics: Option<BenchMetrics>,
    /// Achieved rate as a percentage of the device's peak, where both are known.
    pub percent_of_peak: Option<f64>,
    /// Median time against the first profile's (2.0 = twice as slow).
    pub time_ratio: Option<f64>,
    /// stderr of a failed benchmark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// `explain`'s cause for that stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// One benchmark across the profiles.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct BenchRow {
    /// Benchmark name (`matmul_fp16_4096`).
    pub name: String,
    /// `TFLOP/s` or `GB/s`, from the first cell that ran.
    pub unit: Option<RateUnit>,
    /// One cell per profile, in `profiles` order.
    pub cells: Vec<BenchCell>,
}

/// A device's peak figures from the knowledge base.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct BenchPeak {
    /// The name matched.
    pub name: String,
    /// fp32 TFLOP/s.
    pub fp32: f64,
    /// TF32 tensor TFLOP/s (dense).
    pub tf32: Option<f64>,
    /// fp16 TFLOP/s (dense).
    pub fp16: Option<f64>,
    /// bf16 TFLOP/s (dense).
    pub bf16: Option<f64>,
    /// Memory bandwidth, GB/s.
    pub bandwidth: f64,
    /// The source.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// One benchmark's change since the previous run.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct BenchChange {
    /// Benchmark.
    pub name: String,
    /// Profile.
    pub profile: String,
    /// Unit of both rates.
    pub unit: RateUnit,
    /// Rate then.
    pub then: f64,
    /// Rate now.
    pub now: f64,
    /// `now / then - 1`, in percent (positive is faster).
    pub change_percent: f64,
    /// When the earlier measurement was (seconds since the Unix epoch).
    pub since: u64,
    /// Its torch version.
    pub torch: String,
    /// The earlier median time lies between this run's fastest and slowest repetition:
    /// the change is within run-to-run noise.
    pub within_spread: bool,
}

/// `bench --compare`: each benchmark against its last earlier measurement on the same
/// device under the same profile.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct BenchComparison {
    /// The newest earlier run compared with (seconds since the Unix epoch).
    pub since: u64,
    /// Its torch version.
    pub torch: String,
    /// Its HIP version.
    pub hip: Option<String>,
    /// Benchmarks measured before under the same profile.
    pub changes: Vec<BenchChange>,
}

/// `rocm-patch bench`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct BenchReport {
    /// Always [`crate::SCHEMA`].
    pub schema: u32,
    /// When it ran (seconds since the Unix epoch).
    pub time: u64,
    /// Python version.
    pub python: String,
    /// The interpreter.
    pub executable: String,
    /// torch version.
    pub torch: String,
    /// torch.version.hip.
    pub hip: Option<String>,
    /// torch.version.cuda.
    pub cuda: Option<String>,
    /// `cuda` or `cpu`.
    pub device: ProbeDevice,
    /// The GPU, when one was used.
    pub gpu: Option<BenchGpu>,
    /// Its peak figures, where the knowledge base has them.
    pub peak: Option<BenchPeak>,
    /// The profiles, one column each (`current` is the environment as it is).
    pub profiles: Vec<String>,
    /// Every benchmark, in run order.
    pub benches: Vec<BenchRow>,
    /// Workers started in all.
    pub workers_started: u32,
    /// The geometric mean of each profile's time ratio to the first (1.0 for the first).
    pub geomean_ratio: Vec<Option<f64>>,
    /// What the device means for the result (CPU tested, or a GPU torch does not see).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_note: Option<String>,
    /// The CPU was measured although the machine has a GPU.
    #[serde(default)]
    pub gpu_not_seen: bool,
    /// The history file this run was appended to.
    pub history: Option<String>,
    /// Why the run could not be recorded in the history, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_error: Option<String>,
    /// `--compare`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<BenchComparison>,
    /// `--compare` found no earlier run on this device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare_note: Option<String>,
}

/// One candidate of `tune`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct TuneCandidate {
    /// Its name: a profile, or `profile+MIOPEN_FIND_MODE=FAST`.
    pub name: String,
    /// The profile.
    pub profile: String,
    /// The MIOpen find mode set on top of it, if any.
    pub find_mode: Option<String>,
    /// Every probe passed.
    pub correct: bool,
    /// The probes that did not pass, with their status.
    pub failed_probes: Vec<String>,
    /// Benchmarks measured.
    pub measured: u32,
    /// Geometric mean of the time ratio to the first correct candidate, over benchmarks
    /// both measured (lower is faster).
    pub geomean_ratio: Option<f64>,
    /// Not tried, or rejected, and why.
    pub note: Option<String>,
}

/// `rocm-patch tune`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct TuneReport {
    /// Always [`crate::SCHEMA`].
    pub schema: u32,
    /// torch version.
    pub torch: String,
    /// torch.version.hip.
    pub hip: Option<String>,
    /// `cuda` or `cpu`.
    pub device: ProbeDevice,
    /// The GPU.
    pub gpu: Option<BenchGpu>,
    /// Every candidate, in the order tried.
    pub candidates: Vec<TuneCandidate>,
    /// The fastest correct candidate.
    pub best: Option<String>,
    /// The benchmarks behind it (candidates as columns).
    pub bench: Option<BenchReport>,
    /// `--write`: the profile written as the user's default, and the transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<TuneWritten>,
    /// Why nothing was written, or other notes.
    pub notes: Vec<String>,
}

/// What `tune --write` changed.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct TuneWritten {
    /// The config file.
    pub file: String,
    /// The profile it now names.
    pub profile: String,
    /// The deploy transaction (`rocm-patch rollback --last` undoes it).
    pub transaction: String,
}

/// How a traced command ended.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct TraceExit {
    /// Its exit status, when it exited.
    pub code: Option<i32>,
    /// The signal that ended it (`SIGSEGV`), when one did.
    pub signal: Option<String>,
}

/// One fat binary the program registered.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct TraceFatbin {
    /// Registration order.
    pub id: u32,
    /// The loaded object it lives in.
    pub lib: Option<String>,
    /// `HIPF` (a bundle) or `HIPK` (a kpack reference).
    pub magic: Option<FatbinMagic>,
    /// The code-object targets its bundle holds.
    pub targets: Vec<String>,
    /// A compressed (CCOB) bundle.
    pub compressed: bool,
    /// For a kpack reference: the binary's key and the archives the runtime searches.
    pub kpack: Option<String>,
    /// One of the targets runs on the GPU (null: no GPU known, or a kpack reference).
    pub runs_here: Option<bool>,
    /// What could not be read.
    pub error: Option<String>,
}

/// Launches of one kernel.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct TraceKernel {
    /// The kernel's (mangled) name, or the launched address when it was not registered.
    pub name: String,
    /// The library of the fat binary it was registered from.
    pub lib: Option<String>,
    /// Launches.
    pub launches: u64,
}

/// One launch.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct TraceLaunch {
    /// Milliseconds since the trace started (null when the process died before its
    /// clock was calibrated).
    pub ms: Option<f64>,
    /// Thread.
    pub tid: u32,
    /// The API called.
    pub api: String,
    /// The kernel.
    pub kernel: String,
    /// The library of its fat binary.
    pub lib: Option<String>,
    /// Grid and block.
    pub grid: [u32; 3],
    /// Block.
    pub block: [u32; 3],
}

/// Allocations of one kind.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct TraceAlloc {
    /// The API.
    pub api: String,
    /// The flags applied, by name.
    pub flags: Option<String>,
    /// The flags asked for, where a policy changed them.
    pub asked: Option<String>,
    /// Calls.
    pub count: u64,
    /// Bytes of the calls that succeeded.
    pub bytes: u64,
    /// Calls that failed.
    pub failed: u64,
}

/// Calls that failed, by API and error.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct TraceError {
    /// The API.
    pub api: String,
    /// The hipError_t value.
    pub code: i32,
    /// Its name (`hipErrorNoDevice`) where known.
    pub name: Option<String>,
    /// Calls.
    pub count: u64,
}

/// `rocm-patch trace`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct TraceReport {
    /// Always [`crate::SCHEMA`].
    pub schema: u32,
    /// The command traced.
    pub command: Vec<String>,
    /// The record files read (one per process).
    pub files: Vec<String>,
    /// How it ended (null when the report was made from a file alone).
    pub exit: Option<TraceExit>,
    /// `none` or `seed`.
    pub policy: TracePolicy,
    /// The GPU's target the fat binaries were checked against.
    pub gpu: Option<String>,
    /// Where that target came from.
    pub gpu_source: Option<String>,
    /// Every registered fat binary.
    pub fatbins: Vec<TraceFatbin>,
    /// Kernel launches in all.
    pub launches: u64,
    /// The most launched kernels (at most 20).
    pub kernels: Vec<TraceKernel>,
    /// The last launches (at most 10), oldest first.
    pub last_launches: Vec<TraceLaunch>,
    /// Allocations by API and flags.
    pub allocations: Vec<TraceAlloc>,
    /// Frees.
    pub frees: u64,
    /// Calls whose flags the policy changed.
    pub changed_by_policy: u64,
    /// Failed calls.
    pub errors: Vec<TraceError>,
    /// A process's record ends without its exit record: it died (a fault, a kill).
    pub ended_abnormally: bool,
    /// Records read.
    pub records: u64,
    /// Lines that were not records (a record cut by a kill).
    pub bad_lines: u64,
    /// Notes: tracing disabled, a full file, real functions missing.
    pub notes: Vec<String>,
}

impl BenchReport {
    /// The exit status of `bench`: 1 when a benchmark did not pass (or was not skipped),
    /// or the CPU was measured although the machine has a GPU; else 0.
    pub fn exit_code(&self) -> u8 {
        let failed = self.gpu_not_seen
            || self.benches.iter().any(|r| {
                r.cells
                    .iter()
                    .any(|c| !matches!(c.status, ProbeStatus::Pass | ProbeStatus::Skip))
            });
        if failed {
            crate::exit::FINDING
        } else {
            crate::exit::OK
        }
    }
}

impl TuneReport {
    /// The exit status of `tune`: 0 when a candidate was found best, else 1.
    pub fn exit_code(&self) -> u8 {
        if self.best.is_some() {
            crate::exit::OK
        } else {
            crate::exit::FINDING
        }
    }
}
