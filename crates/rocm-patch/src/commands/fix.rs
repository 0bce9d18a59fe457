//! `rocm-patch fix`: doctor, a plan, consent, one transaction, then doctor and probe
//! again.

use crate::cli::{Channel, FixArgs};
use crate::render;
use rp_report::{FixOutcome, FixProbe, FixReport, FixStepState, ProbeDevice, Severity, SCHEMA};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

fn default_venv(env: &BTreeMap<String, String>, gpu: &str) -> Option<PathBuf> {
    let data = env
        .get("XDG_DATA_HOME")
        .filter(|x| x.starts_with('/'))
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".local/share")))?;
    Some(data.join(format!("rocm-patch/venvs/torch-{gpu}")))
}

pub(crate) fn run(
    args: FixArgs,
    state_dir: Option<PathBuf>,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let root = super::sysroot(&args.sysroot, args.timeout_ms)?;
    let env = super::env_map();
    let cwd = std::env::current_dir()?;
    let read = |env: &BTreeMap<String, String>, pythons: Vec<PathBuf>| {
        rp_machine::snapshot(
            &root,
            &rp_machine::Options {
                pythons,
                user: args.user.clone(),
                env: env.clone(),
                cwd: cwd.clone(),
                full: true,
                cache_dir: super::machine_cache_dir(),
            },
        )
    };
    let machine = read(&env, args.python.clone())?;
    let doctor_before = rp_doctor::doctor(&machine);
    let gpu = machine
        .kfd_gpus()
        .find_map(|g| g.gfx_target.clone())
        .unwrap_or_default();
    let venv = match &args.venv {
        Some(v) => Some(std::path::absolute(v)?),
        None if root.is_live() => default_venv(&env, &gpu),
        None => None,
    };
    let opts = rp_fix::Options {
        ids: args.ids.clone(),
        system: args.system,
        venv,
        index_url: args.index_url.clone(),
        channel: match args.channel {
            Some(Channel::Stable) => "stable",
            Some(Channel::Nightly) => "nightly",
            None => rp_kb::kb().default_channel(&gpu),
        }
        .into(),
        venv_python: args.venv_python.clone(),
        host_path: std::env::var("PATH").unwrap_or_default(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        is_root: rp_sys::os::euid() == 0,
    };
    let mut plan = rp_fix::plan(&machine, &doctor_before, &root, &opts)?;
    let before = rp_fix::brief(&doctor_before);
    let before_errors = before.iter().any(|f| f.severity == Severity::Error);
    let mut report = FixReport {
        schema: SCHEMA,
        sysroot: root.display(),
        before: before.clone(),
        ..Default::default()
    };
    let sync = |report: &mut FixReport, plan: &rp_fix::Plan| {
        report.steps = plan.steps.iter().map(|s| s.report.clone()).collect();
    };
    sync(&mut report, &plan);
    let finish = |report: &FixReport, out: &mut dyn Write| -> anyhow::Result<()> {
        super::emit(out, args.json, report, render::fix::human)
    };
    if !plan.changes_anything() || args.dry_run {
        report.outcome = if args.dry_run {
            FixOutcome::DryRun
        } else if before_errors {
            FixOutcome::Incomplete
        } else {
            FixOutcome::NothingToFix
        };
        report.remaining = rp_fix::compare(&before, &before, &[]).remaining;
        finish(&report, out)?;
        return Ok(report.exit_code());
    }
    // Consent.
    if !args.yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            report.outcome = FixOutcome::Declined;
            report.error = Some(
                "stdin is not a terminal, so nobody can answer [y/N]: pass --yes to apply, or --dry-run to see the plan".into(),
            );
            finish(&report, out)?;
            return Ok(report.exit_code());
        }
        if !args.json {
            render::fix::plan(&report, out)?;
            out.flush()?;
        }
        let mut err = std::io::stderr();
        write!(err, "Apply this plan? [y/N] ")?;
        err.flush()?;
        let mut answer = String::new();
        stdin.lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            report.outcome = FixOutcome::Declined;
            report.error = Some("declined: nothing was changed".into());
            finish(&report, out)?;
            return Ok(report.exit_code());
        }
    }
    let sd = super::settings::state_dir(state_dir)?;
    let removed = plan.removed_vars();
    let env_after: BTreeMap<String, String> = env
        .iter()
        .filter(|(k, _)| !removed.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // On a terminal the step's last output line is the progress line (after 2 s);
    // otherwise every line goes to stderr as it comes.
    let progress_tty = std::io::stderr().is_terminal();
    let last = std::sync::Arc::new(std::sync::Mutex::new(String::from("applying the plan")));
    let wait = {
        let last = last.clone();
        crate::progress::Wait::start(true, move || {
            last.lock().map(|l| format!("fix: {l}")).unwrap_or_default()
        })
    };
    let mut progress = |line: &str| {
        if progress_tty {
            if let Ok(mut l) = last.lock() {
                *l = line.to_string();
            }
        } else {
            let mut e = std::io::stderr();
            let _ = writeln!(e, "  | {line}");
            let _ = e.flush();
        }
    };
    let mut verify_venv = |dir: &Path, gpu: &str| -> Result<(), String> {
        let m = read(&env_after, vec![dir.to_path_buf()]).map_err(|e| e.to_string())?;
        let t = m
            .python
            .first()
            .and_then(|p| p.env.torch.clone())
            .ok_or_else(|| format!("pip exited 0, but {} has no torch", dir.display()))?;
        if t.build != rp_report::TorchBuild::Rocm {
            return Err(format!(
                "the torch pip installed ({}) is not a ROCm build",
                t.version.unwrap_or_default()
            ));
        }
        if !t.targets.iter().any(|x| x == gpu) {
            return Err(format!(
                "torch {} in the new venv carries no {gpu} code (it has: {}; looked in {})",
                t.version.unwrap_or_default(),
                if t.targets.is_empty() {
                    "none".to_string()
                } else {
                    t.targets.join(", ")
                },
                t.looked_in.join(", ")
            ));
        }
        Ok(())
    };
    let applied = rp_fix::apply(&mut plan, &sd, &opts, &mut progress, &mut verify_venv);
    drop(wait);
    sync(&mut report, &plan);
    let applied = match applied {
        Ok(a) => a,
        Err(e) => {
            report.outcome = FixOutcome::RolledBack;
            report.error = Some(e.to_string());
            report.remaining = rp_fix::compare(&before, &before, &[]).remaining;
            finish(&report, out)?;
            return Ok(match e {
                rp_fix::FixError::Deploy(
                    rp_deploy::DeployError::Failed { .. } | rp_deploy::DeployError::Verify { .. },
                ) => report.exit_code(),
                // Nothing was deployed: the tool failed.
                _ => crate::exit::TOOL_ERROR,
            });
        }
    };
    report.transaction = applied.transaction.as_ref().map(|t| t.id.clone());
    let made_venv = plan.steps.iter().any(|s| {
        s.report.action == rp_report::FixAction::NativeVenv && s.report.state == FixStepState::Done
    });
    let venv = made_venv
        .then(|| plan.venv().map(Path::to_path_buf))
        .flatten();
    report.venv = venv.as_ref().map(|v| v.display().to_string());
    // After: as a new login shell would see the machine (the removed variables gone),
    // with the new venv in place of the environments it replaces.
    let pythons_after = match &venv {
        Some(v) => vec![v.clone()],
        None => args.python.clone(),
    };
    let after = rp_fix::brief(&rp_doctor::doctor(&read(&env_after, pythons_after)?));
    // The environments doctor read before and not after: a new venv replaces them for
    // the app only once the app uses it.
    let untouched: Vec<String> = if venv.is_some() {
        doctor_before
            .python
            .iter()
            .map(|p| p.path.clone())
            .collect()
    } else {
        Vec::new()
    };
    let cmp = rp_fix::compare(&before, &after, &untouched);
    report.after = Some(after);
    report.fixed = cmp.fixed;
    report.remaining = cmp.remaining;
    report.superseded = cmp.superseded;
    for v in &removed {
        if env.contains_key(v) {
            report
                .current_shell
                .push(format!("unset {v}    # fish: set -e {v}"));
        }
    }
    if let Some(v) = &venv {
        report.next = vec![
            format!("rocm-patch run --venv {} -- python app.py", v.display()),
            format!(". {}/bin/activate          # bash, zsh", v.display()),
            format!("source {}/bin/activate.fish   # fish", v.display()),
        ];
    }
    let (probe, attempted) = verify(&args, &root, &machine, venv.as_deref());
    let probe_ok = !attempted || probe.as_ref().is_some_and(|p| p.gpu_verified);
    report.probe = probe;
    report.outcome = if report.remaining.is_empty() && probe_ok {
        FixOutcome::Fixed
    } else {
        FixOutcome::Incomplete
    };
    finish(&report, out)?;
    Ok(report.exit_code())
}

/// The verification probe: whether it ran, and whether a failure to verify counts
/// against the fix (it does when it was attempted: a GPU to test, or an interpreter
/// named with --probe-python).
fn verify(
    args: &FixArgs,
    root: &rp_machine::SysRoot,
    machine: &rp_machine::MachineSnapshot,
    venv: Option<&Path>,
) -> (Option<FixProbe>, bool) {
    let not_run = |note: String| {
        Some(FixProbe {
            ran: false,
            note: Some(note),
            ..Default::default()
        })
    };
    if args.no_verify {
        return (not_run("not run (--no-verify)".into()), false);
    }
    let gpu = machine.kfd_gpus().find_map(|g| g.gfx_target.clone());
    let python = match (&args.probe_python, venv) {
        (Some(p), _) => p.clone(),
        (None, Some(v)) => v.join("bin/python"),
        (None, None) => return (None, false),
    };
    if args.probe_python.is_none() {
        if !root.is_live() {
            return (
                not_run(format!(
                    "not run: the GPU is in the --sysroot tree {}, not on this machine; on that machine run `rocm-patch probe --python {}`",
                    root.display(),
                    python.display()
                )),
                false,
            );
        }
        if gpu.is_none() {
            return (
                not_run("not run: this machine has no AMD GPU that ROCm sees".into()),
                false,
            );
        }
    }
    if !root.is_live() && python.starts_with(root.dir()) {
        return (
            not_run(
                "not run: the interpreter lies inside the --sysroot tree, and nothing there is run"
                    .into(),
            ),
            true,
        );
    }
    let env = if root.is_live() {
        super::settings::profile_changes("native", args.timeout_ms).unwrap_or_default()
    } else {
        Vec::new()
    };
    let opts = rp_probe::Options {
        python: python.clone(),
        device: rp_probe::Device::Auto,
        only: Vec::new(),
        timeout: std::time::Duration::from_secs(120),
        startup_timeout: std::time::Duration::from_secs(300),
        probes_dir: None,
        env,
        profile: root.is_live().then(|| "native".to_string()),
        bench_repeat: None,
    };
    let r = match rp_probe::probe(&opts, &mut |_| {}) {
        Ok(r) => r,
        Err(e) => {
            return (
                Some(FixProbe {
                    ran: false,
                    python: Some(python.display().to_string()),
                    note: Some(format!("did not run: {e}")),
                    ..Default::default()
                }),
                true,
            )
        }
    };
    let passed = r
        .probes
        .iter()
        .filter(|p| p.status == rp_report::ProbeStatus::Pass)
        .count() as u32;
    let failed: Vec<String> = r
        .probes
        .iter()
        .filter(|p| {
            !matches!(
                p.status,
                rp_report::ProbeStatus::Pass | rp_report::ProbeStatus::Skip
            )
        })
        .map(|p| format!("{} ({})", p.name, p.status))
        .collect();
    let on_cpu = r.device == ProbeDevice::Cpu;
    let note = if on_cpu {
        Some(match &gpu {
            Some(g) => format!(
                "ran on the CPU: torch {} saw no GPU although the machine has {g}, so this is not a GPU verification",
                r.torch
            ),
            None => format!(
                "ran on the CPU (torch {}; no GPU here): not a GPU verification",
                r.torch
            ),
        })
    } else {
        None
    };
    (
        Some(FixProbe {
            ran: true,
            note,
            python: Some(r.executable.clone()),
            device: Some(r.device),
            passed,
            total: r.probes.len() as u32,
            gpu_verified: !on_cpu && failed.is_empty(),
            failed,
        }),
        true,
    )
}
