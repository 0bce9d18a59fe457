//! The settings layer shared by the commands: what several commands take from the
//! environment and the machine in the same way (state and cache directories, a profile's
//! variables, the Python to run, the GPU context of explain). Command modules call these,
//! never each other.

use crate::cli::ProfileArgs;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

/// What every command takes from its surroundings, read once before the command runs
/// (Args → Settings → command): the environment, the state, cache and trust directories,
/// and whether stderr is a terminal.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// This process's environment (variables whose name or value is not UTF-8 are left
    /// out).
    pub(crate) env: BTreeMap<String, String>,
    /// The deploy state directory, or why there is none.
    state_dir: Result<PathBuf, String>,
    /// The per-user cache directory (`$XDG_CACHE_HOME/rocm-patch`, else
    /// `~/.cache/rocm-patch`): doctor keeps slow checks' results there.
    pub(crate) cache_dir: Option<PathBuf>,
    /// Where trusted project files are recorded.
    pub(crate) trust_store: Option<PathBuf>,
    /// stderr is a terminal (progress and prompts go there).
    pub(crate) stderr_tty: bool,
}

impl Settings {
    /// Read the surroundings; `state_flag` is the command's `--state-dir` (or the one
    /// given before it).
    pub(crate) fn read(state_flag: Option<PathBuf>) -> Settings {
        let env = super::env_map();
        Settings {
            state_dir: super::user_dir(state_flag, "XDG_STATE_HOME", ".local/state", "state-dir")
                .map_err(|e| e.to_string()),
            cache_dir: super::user_dir(None, "XDG_CACHE_HOME", ".cache", "cache-dir").ok(),
            trust_store: super::trust_store(&env),
            stderr_tty: std::io::stderr().is_terminal(),
            env,
        }
    }

    /// The deploy state directory: the flag, else `$XDG_STATE_HOME/rocm-patch`, else
    /// `~/.local/state/rocm-patch`.
    pub(crate) fn state_dir(&self) -> anyhow::Result<PathBuf> {
        self.state_dir.clone().map_err(anyhow::Error::msg)
    }
}

pub(crate) fn profile_options(s: &Settings, p: &ProfileArgs) -> anyhow::Result<rp_env::Options> {
    Ok(rp_env::Options {
        sysroot: p.sysroot.clone(),
        env: s.env.clone(),
        cwd: std::env::current_dir()?,
        profile: p.profile.clone(),
        sets: p.sets.clone(),
        force: p.force,
        keep_env: p.keep_env,
        i_know_this_crashes: p.i_know_this_crashes,
        timeout: std::time::Duration::from_millis(p.timeout_ms.max(1)),
        trust_store: s.trust_store.clone(),
    })
}

/// The environment changes of a profile on this machine, as `run` applies them (for
/// `probe --profile`); warnings go to stderr.
pub(crate) fn profile_changes(
    s: &Settings,
    profile: &str,
    timeout_ms: u64,
) -> anyhow::Result<Vec<(String, Option<String>)>> {
    profile_changes_with(s, profile, timeout_ms, false, true)
}

/// A profile's changes; `dangerous_ok` resolves a dangerous profile (tune, when the
/// user named it), `warn` prints the resolver's warnings.
pub(crate) fn profile_changes_with(
    s: &Settings,
    profile: &str,
    timeout_ms: u64,
    dangerous_ok: bool,
    warn_too: bool,
) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let o = profile_options(
        s,
        &ProfileArgs {
            profile: Some(profile.to_string()),
            sets: Vec::new(),
            force: false,
            keep_env: false,
            i_know_this_crashes: dangerous_ok,
            sysroot: "/".into(),
            timeout_ms,
        },
    )?;
    let report = rp_env::resolve(&o)?;
    if warn_too {
        warn(&report);
    }
    Ok(rp_env::changes(&report))
}

pub(crate) fn warn(report: &rp_report::EnvReport) {
    for w in &report.warnings {
        super::warning_line(w);
    }
}

/// The first AMD GPU that ROCm sees on this machine, by name and target.
fn amd_gpu_here(s: &Settings, timeout_ms: u64) -> Option<String> {
    let root = rp_machine::SysRoot::live(Duration::from_millis(timeout_ms.max(1)));
    let m = rp_machine::snapshot(
        &root,
        &rp_machine::Options {
            env: s.env.clone(),
            ..Default::default()
        },
    )
    .ok()?;
    let gpu = m.kfd_gpus().next().map(|g| {
        format!(
            "{} ({})",
            g.name,
            g.gfx_target.as_deref().unwrap_or("unknown target")
        )
    });
    gpu
}

/// `--python`: an interpreter, or a venv or conda directory as doctor takes it.
pub(crate) fn python_path(p: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    if p.is_dir() {
        let bin = p.join("bin/python");
        if !bin.exists() {
            anyhow::bail!("--python {}: a directory without bin/python", p.display());
        }
        return Ok(bin);
    }
    Ok(p.to_path_buf())
}

/// The note for a run on the CPU: no GPU here, or torch does not see the one there is
/// (then `true`: the run fails).
pub(crate) fn cpu_note(
    s: &Settings,
    torch: &str,
    executable: &str,
    wants_gpu: bool,
    timeout_ms: u64,
) -> (bool, String) {
    let gpu = amd_gpu_here(s, timeout_ms);
    let failed = wants_gpu || gpu.is_some();
    let note = match gpu {
        Some(g) => format!(
            "FAILED: this machine has {g}, but torch {torch} sees no GPU, so the CPU was tested. Causes: no code for the GPU in this torch, no access to /dev/kfd, or a CPU build of torch; run `rocm-patch doctor --python {executable}`."
        ),
        None if wants_gpu => format!(
            "FAILED: --device cuda, but torch {torch} sees no GPU; the CPU was tested instead."
        ),
        None => "No GPU here: the CPU was tested.".to_string(),
    };
    (failed, note)
}

/// What explain knows of the machine: its AMD GPUs (true target, name) and the overrides
/// in force.
pub(crate) fn context(
    gpus: &[rp_report::Gpu],
    env: &std::collections::BTreeMap<String, String>,
) -> rp_explain::Context {
    rp_explain::Context {
        gpus: gpus
            .iter()
            .filter(|g| g.vendor == rp_report::Vendor::Amd)
            .filter_map(|g| Some((g.gfx_target.as_deref()?.parse().ok()?, g.name.clone())))
            .collect(),
        overrides: env
            .iter()
            .filter(|(k, _)| k.starts_with("HSA_OVERRIDE_GFX_VERSION"))
            .map(|(k, v)| format!("environment: {k}={v}"))
            .collect(),
    }
}
