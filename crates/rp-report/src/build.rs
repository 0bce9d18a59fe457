//! `build` reports: recipes, preflight, fetch, patches, steps, verification, deploy.

use crate::TxReport;
use serde::{Deserialize, Serialize};

vocabulary! {
    /// What a preflight check is about.
    PreflightKind { #[default] /** The ROCm install. */ Rocm = "rocm", /** A tool on PATH. */ Tool = "tool", /** The HIP compiler (a tool named by a variable). */ Compiler = "compiler", /** A library. */ Library = "library", /** A library with code for the GPU. */ GpuCode = "gpu-code", /** Free disk space. */ Disk = "disk" }
}
vocabulary! {
    /// Where a build's source comes from.
    SourceKind { #[default] /** A release tarball. */ Tarball = "tarball", /** A git commit. */ Git = "git", /** A local directory. */ Local = "local" }
}
vocabulary! {
    /// What became of one patch.
    PatchState { #[default] /** To be applied (or, with --dry-run, would be). */ Planned = "planned", /** Applied. */ Applied = "applied", /** Applied by an earlier run (the source tree was kept). */ AlreadyApplied = "already applied", /** Needs a `--with` option not given. */ NotSelected = "not selected", /** `build --show`: applied on every build. */ Always = "always", /** `build --show`: applied only with its `--with` option. */ OnlyWithOption = "only with its option" }
}
vocabulary! {
    /// What became of one step.
    StepState { #[default] /** As the recipe writes it (`build --show`). */ Recipe = "recipe", /** Would run (--dry-run). */ Planned = "planned", /** Not reached. */ NotRun = "not run", /** Done by an earlier run. */ Skipped = "skipped", /** Ran and succeeded. */ Ran = "ran", /** Ran and failed. */ Failed = "failed", /** Stopped by Ctrl-C. */ Interrupted = "interrupted" }
}
vocabulary! {
    /// How an expected output is checked.
    OutputCheck { #[default] /** It must carry code for the GPU. */ Code = "code", /** A Tensile library for the GPU. */ Tensile = "tensile", /** It must exist. */ Exists = "exists" }
}
vocabulary! {
    /// How a build ended.
    BuildOutcome { #[default] /** Built, installed and verified. */ Ok = "ok", /** --dry-run: nothing was run. */ Planned = "planned", /** A preflight check failed; nothing was run. */ PreflightFailed = "preflight-failed", /** The source is not what the recipe pins (checksum, upstream changed). */ Refused = "refused", /** A step or the fetch failed. */ Failed = "failed", /** Built, but an expected output is missing or wrong. */ Unverified = "unverified", /** Stopped by Ctrl-C. */ Interrupted = "interrupted", /** Built and verified, but --deploy-into failed. */ DeployFailed = "deploy-failed" }
}

impl BuildOutcome {
    /// The exit status of `build` that ended so.
    pub fn exit_code(self) -> u8 {
        match self {
            BuildOutcome::Ok | BuildOutcome::Planned => crate::exit::OK,
            BuildOutcome::Interrupted => crate::exit::INTERRUPTED,
            _ => crate::exit::FINDING,
        }
    }
}

/// Where a build's source stands. In JSON a string: `planned`, `local`, `cached`,
/// `downloaded`, `resumed at byte N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum SourceState {
    /// Would be fetched (--dry-run).
    #[default]
    Planned,
    /// A local directory, used as it is.
    Local,
    /// Already in the cache (or an earlier run's tree was kept).
    Cached,
    /// Downloaded (or cloned) now.
    Downloaded,
    /// A partial download resumed at this byte.
    Resumed(u64),
}

impl std::fmt::Display for SourceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceState::Planned => f.pad("planned"),
            SourceState::Local => f.pad("local"),
            SourceState::Cached => f.pad("cached"),
            SourceState::Downloaded => f.pad("downloaded"),
            SourceState::Resumed(n) => f.pad(&format!("resumed at byte {n}")),
        }
    }
}

impl From<SourceState> for String {
    fn from(s: SourceState) -> String {
        s.to_string()
    }
}

impl std::str::FromStr for SourceState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "planned" => SourceState::Planned,
            "local" => SourceState::Local,
            "cached" => SourceState::Cached,
            "downloaded" => SourceState::Downloaded,
            _ => match s.strip_prefix("resumed at byte ").map(str::parse) {
                Some(Ok(n)) => SourceState::Resumed(n),
                _ => return Err(format!("{s:?} is not a SourceState")),
            },
        })
    }
}

impl TryFrom<String> for SourceState {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// One recipe in `build --list`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct RecipeSummary {
    /// `miopen`, `miopen@3.2.0`.
    pub id: String,
    /// The recipe's name.
    pub name: String,
    /// Upstream version.
    pub version: String,
    /// One line.
    pub summary: String,
    /// Where the recipe comes from: `built-in` or its file.
    pub origin: String,
}

/// `build --list`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct RecipeList {
    /// Report schema version.
    pub schema: u32,
    /// The built-in recipes.
    pub recipes: Vec<RecipeSummary>,
}

/// One preflight check.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct PreflightItem {
    /// `rocm`, `tool`, `compiler`, `library`, `gpu-code` or `disk`.
    pub kind: PreflightKind,
    /// What is needed (`cmake`, `sqlite3`, `rocBLAS for gfx1010`).
    pub name: String,
    /// The minimum version, if any.
    pub min_version: Option<String>,
    /// What was found: a path, a version.
    pub found: Option<String>,
    /// Passed.
    pub ok: bool,
    /// Why it failed.
    pub problem: Option<String>,
    /// Packages that provide it: `debian: cmake`.
    pub packages: Vec<String>,
}

/// What a build costs, as its recipe states it.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct BuildCost {
    /// CPU time: hours on one core (divide by the cores used for the wall time).
    pub core_hours: f64,
    /// Peak disk the build directory and cache take, GiB.
    pub disk_gib: f64,
    /// How the figures were obtained (measured here, or upstream's word).
    pub basis: String,
}

/// The ROCm install and compiler a build uses, as the machine layer found them.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ToolchainReport {
    /// `{rocm}`: the install's prefix.
    pub rocm: String,
    /// Its HIP version, when known.
    pub version: Option<String>,
    /// How it was chosen (`ROCM_PATH`, `doctor: /opt/rocm-6.4.0`, ...).
    pub from: String,
    /// `{cxx}`: the HIP-capable clang++.
    pub cxx: String,
    /// `{hipcc}`.
    pub hipcc: String,
}

/// Where the source came from.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct SourceReport {
    /// `tarball`, `git` or `local`.
    pub kind: SourceKind,
    /// URL or directory.
    pub location: String,
    /// The tarball's sha256, the git commit, or (local) the commit or tree hash.
    pub identity: String,
    /// The cached file or checkout.
    pub cached: Option<String>,
    /// `downloaded`, `resumed at byte N`, `cached`, `planned`, `local`.
    pub state: SourceState,
    /// With --dry-run: what fetching it runs (git commands) or does (download, check,
    /// unpack), in order.
    pub commands: Vec<String>,
}

/// One patch.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct PatchReport {
    /// The patch file (recipe-relative).
    pub file: String,
    /// What it fixes.
    pub fixes: String,
    /// Its reference.
    pub reference: String,
    /// The `--with` option it needs, if any.
    pub with: Option<String>,
    /// Upstream files it touches.
    pub upstream: Vec<String>,
    /// `applied`, `already applied`, `planned`, `not selected`; with `--show`, `always`
    /// or `only with its option`.
    pub state: PatchState,
    /// The command that applies it, in the source tree (selected patches).
    pub command: Option<String>,
}

/// One step.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct StepReport {
    /// `configure`, `build`, `install`.
    pub name: String,
    /// The command, shell-quoted, variables filled in.
    pub command: String,
    /// Variables the step sets, `NAME=value`.
    pub env: Vec<String>,
    /// The working directory.
    pub cwd: String,
    /// `recipe`, `planned`, `skipped`, `ran`, `failed`, `interrupted`, `not run`.
    pub state: StepState,
    /// Seconds it ran.
    pub seconds: Option<f64>,
    /// Its log file.
    pub log: Option<String>,
    /// Exit status, or the signal, of a failed step.
    pub status: Option<String>,
    /// Last lines of the log of a failed step.
    pub tail: Vec<String>,
    /// Causes `explain` found in the log of a failed step.
    pub explained: Vec<String>,
}

/// One expected output, checked after the install.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct OutputReport {
    /// Path under the prefix.
    pub path: String,
    /// `code` (must carry code for the GPU), `tensile`, `exists`.
    pub check: OutputCheck,
    /// Passed.
    pub ok: bool,
    /// GPU targets found.
    pub targets: Vec<String>,
    /// Why it failed.
    pub problem: Option<String>,
}

/// `build`: what was (or, with --dry-run, would be) done.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct BuildReport {
    /// Report schema version.
    pub schema: u32,
    /// The recipe.
    pub recipe: RecipeSummary,
    /// The GPU target built for.
    pub gpu: String,
    /// Where `{gpu}` came from (`--gpu`, `kfd node 1`).
    pub gpu_from: String,
    /// `--with` options in force.
    pub with: Vec<String>,
    /// Nothing was run.
    pub dry_run: bool,
    /// The build directory (source, build tree, logs, stamps).
    pub work_dir: String,
    /// The install prefix.
    pub prefix: String,
    /// Parallel jobs.
    pub jobs: u32,
    /// The ROCm install and compiler used.
    pub toolchain: Option<ToolchainReport>,
    /// What the build costs (the recipe's figures).
    pub cost: Option<BuildCost>,
    /// Preflight checks.
    pub preflight: Vec<PreflightItem>,
    /// One command per distribution that installs every missing package
    /// (`debian: apt install ...`).
    pub install: Vec<String>,
    /// The source.
    pub source: Option<SourceReport>,
    /// Patches in order.
    pub patches: Vec<PatchReport>,
    /// Steps in order.
    pub steps: Vec<StepReport>,
    /// Expected outputs.
    pub outputs: Vec<OutputReport>,
    /// The deploy transaction, with --deploy-into.
    pub deploy: Option<TxReport>,
    /// `ok`, `planned`, `preflight-failed`, `refused`, `failed`, `unverified`,
    /// `interrupted`, `deploy-failed`.
    pub outcome: BuildOutcome,
    /// What stopped the build.
    pub error: Option<String>,
    /// Notes.
    pub notes: Vec<String>,
    /// Seconds for the whole run.
    pub seconds: f64,
}

/// `build --show`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct RecipeShow {
    /// Report schema version.
    pub schema: u32,
    /// The recipe.
    pub recipe: RecipeSummary,
    /// The source: URL and sha256, or git URL and commit.
    pub source: String,
    /// Other URLs serving the same bytes.
    pub mirrors: Vec<String>,
    /// What the build costs.
    pub cost: Option<BuildCost>,
    /// The ROCm versions the recipe builds against (`6.3 or newer`).
    pub rocm: Option<String>,
    /// Notes, each with its reference.
    pub notes: Vec<String>,
    /// `--with` options: name and what it does.
    pub options: Vec<(String, String)>,
    /// Preflight requirements.
    pub requires: Vec<PreflightItem>,
    /// Patches.
    pub patches: Vec<PatchReport>,
    /// Steps, with `{gpu}` and the other variables as written.
    pub steps: Vec<StepReport>,
    /// Expected outputs.
    pub outputs: Vec<OutputReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j<T: Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn vocabularies_serialize_as_before() {
        assert_eq!(j(&SourceState::Resumed(42)), "\"resumed at byte 42\"");
        assert_eq!(j(&SourceState::Downloaded), "\"downloaded\"");
        assert_eq!(j(&PatchState::AlreadyApplied), "\"already applied\"");
        assert_eq!(j(&StepState::NotRun), "\"not run\"");
        assert_eq!(j(&PreflightKind::GpuCode), "\"gpu-code\"");
        assert_eq!(j(&BuildOutcome::PreflightFailed), "\"preflight-failed\"");
        for s in [
            "planned",
            "local",
            "cached",
            "downloaded",
            "resumed at byte 7",
        ] {
            let v: SourceState = serde_json::from_str(&format!("{s:?}")).unwrap();
            assert_eq!(v.to_string(), s);
        }
        assert!("resumed at byte x".parse::<SourceState>().is_err());
        assert_eq!(format!("{:9}|", StepState::Ran), "ran      |");
    }

    #[test]
    fn build_exit_codes() {
        assert_eq!(BuildOutcome::Ok.exit_code(), 0);
        assert_eq!(BuildOutcome::Planned.exit_code(), 0);
        assert_eq!(BuildOutcome::Interrupted.exit_code(), 130);
        assert_eq!(BuildOutcome::DeployFailed.exit_code(), 1);
        assert_eq!(BuildOutcome::PreflightFailed.exit_code(), 1);
    }
}
