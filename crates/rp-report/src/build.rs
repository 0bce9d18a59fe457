//! `build` reports: recipes, preflight, fetch, patches, steps, verification, deploy.

use crate::TxReport;
use serde::{Deserialize, Serialize};

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
    /// `rocm`, `tool`, `library`, `gpu-code` or `disk`.
    pub kind: String,
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
    pub kind: String,
    /// URL or directory.
    pub location: String,
    /// The tarball's sha256, the git commit, or (local) the commit or tree hash.
    pub identity: String,
    /// The cached file or checkout.
    pub cached: Option<String>,
    /// `downloaded`, `resumed`, `cached`, `planned`, `local`.
    pub state: String,
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
    /// `applied`, `already applied`, `planned`, `not selected`.
    pub state: String,
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
    /// `planned`, `skipped`, `ran`, `failed`, `interrupted`, `not run`.
    pub state: String,
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
    pub check: String,
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
    /// `interrupted`.
    pub outcome: String,
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
