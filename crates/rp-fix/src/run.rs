//! The whole of `fix` in three stages, so the binary only reads settings, asks for
//! consent and emits: [`prepare`] (doctor, the plan, the report so far),
//! [`Prepared::apply`] (one deploy transaction) and [`Applied::verify`] (doctor again,
//! as a new login shell would see the machine, then the verification probe).

use crate::{brief, compare, FixError, Options, Plan};
use rp_machine::{MachineSnapshot, SysRoot};
use rp_report::{
    exit, DoctorReport, FindingBrief, FixAction, FixOutcome, FixProbe, FixReport, FixStepState,
    ProbeDevice, ProbeStatus, Severity, SCHEMA,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `fix` was asked to do, with what it reads the machine with.
#[derive(Debug)]
pub struct Request {
    /// The machine (or `--sysroot` tree).
    pub root: SysRoot,
    /// The environment of this process.
    pub env: BTreeMap<String, String>,
    /// The working directory (for relative paths in startup files).
    pub cwd: PathBuf,
    /// `--user`.
    pub user: Option<String>,
    /// `--python`: the environments doctor reads.
    pub pythons: Vec<PathBuf>,
    /// The machine layer's cache directory.
    pub cache_dir: Option<PathBuf>,
    /// The plan's options. `venv`: the `--venv` flag (absolute), or `None` for the
    /// default below the user's data directory (on this machine only). `channel`: empty
    /// for the knowledge base's default for the GPU.
    pub options: Options,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--no-verify`.
    pub no_verify: bool,
    /// `--probe-python`.
    pub probe_python: Option<PathBuf>,
}

/// Doctor's view of the machine and the plan, before anything is changed.
#[derive(Debug)]
pub struct Prepared {
    req: Request,
    machine: MachineSnapshot,
    doctor_before: DoctorReport,
    plan: Plan,
    before: Vec<FindingBrief>,
    report: FixReport,
}

/// A report and the exit status it ends with.
#[derive(Debug)]
pub struct Finished {
    /// The report to emit.
    pub report: FixReport,
    /// The exit status (`rp_report::exit`).
    pub exit: u8,
}

impl Finished {
    fn new(report: FixReport) -> Finished {
        let exit = report.exit_code();
        Finished { report, exit }
    }
}

/// The venv `fix` makes when none is named: `$XDG_DATA_HOME/rocm-patch/venvs/torch-GPU`,
/// else `~/.local/share/...`.
fn default_venv(env: &BTreeMap<String, String>, gpu: &str) -> Option<PathBuf> {
    let data = env
        .get("XDG_DATA_HOME")
        .filter(|x| x.starts_with('/'))
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".local/share")))?;
    Some(data.join(format!("rocm-patch/venvs/torch-{gpu}")))
}

impl Request {
    /// Read the machine under `env`, with these environments.
    fn read(
        &self,
        env: &BTreeMap<String, String>,
        pythons: Vec<PathBuf>,
    ) -> Result<MachineSnapshot, FixError> {
        rp_machine::snapshot(
            &self.root,
            &rp_machine::Options {
                pythons,
                user: self.user.clone(),
                env: env.clone(),
                cwd: self.cwd.clone(),
                full: true,
                cache_dir: self.cache_dir.clone(),
            },
        )
        .map_err(|e| FixError::Machine(e.to_string()))
    }
}

/// Doctor, then the plan; the report holds the findings before and the planned steps.
pub fn prepare(mut req: Request) -> Result<Prepared, FixError> {
    let machine = req.read(&req.env, req.pythons.clone())?;
    let doctor_before = rp_doctor::doctor(&machine);
    let gpu = machine
        .kfd_gpus()
        .find_map(|g| g.gfx_target.clone())
        .unwrap_or_default();
    if req.options.venv.is_none() && req.root.is_live() {
        req.options.venv = default_venv(&req.env, &gpu);
    }
    if req.options.channel.is_empty() {
        req.options.channel = rp_kb::kb().default_channel(&gpu).into();
    }
    let plan = crate::plan(&machine, &doctor_before, &req.root, &req.options)?;
    let before = brief(&doctor_before);
    let mut report = FixReport {
        schema: SCHEMA,
        sysroot: req.root.display(),
        before: before.clone(),
        ..Default::default()
    };
    report.steps = steps(&plan);
    Ok(Prepared {
        req,
        machine,
        doctor_before,
        plan,
        before,
        report,
    })
}

fn steps(plan: &Plan) -> Vec<rp_report::FixPlanStep> {
    plan.steps.iter().map(|s| s.report.clone()).collect()
}

impl Prepared {
    /// The report so far (the plan, for the consent prompt).
    pub fn report(&self) -> &FixReport {
        &self.report
    }

    /// Nothing to apply: `--dry-run`, or a plan that changes nothing.
    pub fn apply_nothing(&self) -> bool {
        !self.plan.changes_anything() || self.req.dry_run
    }

    /// The report when nothing is applied: a dry run, nothing to fix, or incomplete.
    pub fn without_applying(mut self) -> Finished {
        let before_errors = self.before.iter().any(|f| f.severity == Severity::Error);
        self.report.outcome = if self.req.dry_run {
            FixOutcome::DryRun
        } else if before_errors {
            FixOutcome::Incomplete
        } else {
            FixOutcome::NothingToFix
        };
        self.report.remaining = compare(&self.before, &self.before, &[]).remaining;
        Finished::new(self.report)
    }

    /// The report when the user did not consent; `why` says so.
    pub fn declined(mut self, why: String) -> Finished {
        self.report.outcome = FixOutcome::Declined;
        self.report.error = Some(why);
        Finished::new(self.report)
    }

    /// The environment as a new login shell will see it: the variables whose startup
    /// lines the plan comments out are gone.
    fn env_after(&self) -> BTreeMap<String, String> {
        let removed = self.plan.removed_vars();
        self.req
            .env
            .iter()
            .filter(|(k, _)| !removed.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Apply the plan as one transaction in `state_dir`; `progress` gets each line of the
    /// long-running commands. On failure everything is rolled back and the report says
    /// which step failed (exit 3 when the transaction ran, 2 when none could be made).
    pub fn apply(
        mut self,
        state_dir: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Applied, Box<Finished>> {
        let env_after = self.env_after();
        let req = &self.req;
        let mut verify_venv = |dir: &Path, gpu: &str| -> Result<(), String> {
            let m = req
                .read(&env_after, vec![dir.to_path_buf()])
                .map_err(|e| e.to_string())?;
            venv_carries(&m, dir, gpu)
        };
        let applied = crate::apply(
            &mut self.plan,
            state_dir,
            &req.options,
            progress,
            &mut verify_venv,
        );
        self.report.steps = steps(&self.plan);
        match applied {
            Ok(a) => {
                self.report.transaction = a.transaction.as_ref().map(|t| t.id.clone());
                Ok(Applied {
                    prepared: self,
                    env_after,
                })
            }
            Err(e) => {
                self.report.outcome = FixOutcome::RolledBack;
                self.report.error = Some(e.to_string());
                self.report.remaining = compare(&self.before, &self.before, &[]).remaining;
                let exit = match e {
                    FixError::Deploy(
                        rp_deploy::DeployError::Failed { .. }
                        | rp_deploy::DeployError::Verify { .. },
                    ) => self.report.exit_code(),
                    // Nothing was deployed: the tool failed.
                    _ => exit::TOOL_ERROR,
                };
                Err(Box::new(Finished {
                    report: self.report,
                    exit,
                }))
            }
        }
    }
}

/// Does the new venv hold a ROCm torch with code for `gpu`?
fn venv_carries(m: &MachineSnapshot, dir: &Path, gpu: &str) -> Result<(), String> {
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
}

/// A plan applied: what is left is to look again.
#[derive(Debug)]
pub struct Applied {
    prepared: Prepared,
    env_after: BTreeMap<String, String>,
}

impl Applied {
    /// Doctor again (as a new login shell would see the machine, with the new venv in
    /// place of the environments it replaces), the next steps, and the verification
    /// probe. `probe_env` gives the environment changes the probe runs under (the
    /// `native` profile on this machine).
    pub fn verify(
        self,
        probe_env: &mut dyn FnMut() -> Vec<(String, Option<String>)>,
    ) -> Result<Finished, FixError> {
        let Applied {
            prepared: p,
            env_after,
        } = self;
        let mut report = p.report;
        let made_venv = p.plan.steps.iter().any(|s| {
            s.report.action == FixAction::NativeVenv && s.report.state == FixStepState::Done
        });
        let venv = made_venv
            .then(|| p.plan.venv().map(Path::to_path_buf))
            .flatten();
        report.venv = venv.as_ref().map(|v| v.display().to_string());
        let pythons_after = match &venv {
            Some(v) => vec![v.clone()],
            None => p.req.pythons.clone(),
        };
        let after = brief(&rp_doctor::doctor(&p.req.read(&env_after, pythons_after)?));
        // The environments doctor read before and not after: a new venv replaces them for
        // the app only once the app uses it.
        let untouched: Vec<String> = if venv.is_some() {
            p.doctor_before
                .python
                .iter()
                .map(|x| x.path.clone())
                .collect()
        } else {
            Vec::new()
        };
        let cmp = compare(&p.before, &after, &untouched);
        report.after = Some(after);
        report.fixed = cmp.fixed;
        report.remaining = cmp.remaining;
        report.superseded = cmp.superseded;
        for v in &p.plan.removed_vars() {
            if p.req.env.contains_key(v) {
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
        let (probe, attempted) = verify_probe(&p.req, &p.machine, venv.as_deref(), probe_env);
        let probe_ok = !attempted || probe.as_ref().is_some_and(|x| x.gpu_verified);
        report.probe = probe;
        report.outcome = if report.remaining.is_empty() && probe_ok {
            FixOutcome::Fixed
        } else {
            FixOutcome::Incomplete
        };
        Ok(Finished::new(report))
    }
}

/// A probe that did not run, with why.
fn not_run(note: String) -> Option<FixProbe> {
    Some(FixProbe {
        ran: false,
        note: Some(note),
        ..Default::default()
    })
}

/// The interpreter to verify with, or why the probe is not run: `Err((probe, attempted))`.
fn probe_python(
    req: &Request,
    gpu: Option<&str>,
    venv: Option<&Path>,
) -> Result<PathBuf, (Option<FixProbe>, bool)> {
    if req.no_verify {
        return Err((not_run("not run (--no-verify)".into()), false));
    }
    let python = match (&req.probe_python, venv) {
        (Some(p), _) => p.clone(),
        (None, Some(v)) => v.join("bin/python"),
        (None, None) => return Err((None, false)),
    };
    let root = &req.root;
    if req.probe_python.is_none() {
        if !root.is_live() {
            return Err((
                not_run(format!(
                    "not run: the GPU is in the --sysroot tree {}, not on this machine; on that machine run `rocm-patch probe --python {}`",
                    root.display(),
                    python.display()
                )),
                false,
            ));
        }
        if gpu.is_none() {
            return Err((
                not_run("not run: this machine has no AMD GPU that ROCm sees".into()),
                false,
            ));
        }
    }
    if !root.is_live() && python.starts_with(root.dir()) {
        return Err((
            not_run(
                "not run: the interpreter lies inside the --sysroot tree, and nothing there is run"
                    .into(),
            ),
            true,
        ));
    }
    Ok(python)
}

/// The verification probe: whether it ran, and whether a failure to verify counts
/// against the fix (it does when it was attempted: a GPU to test, or an interpreter
/// named with --probe-python).
fn verify_probe(
    req: &Request,
    machine: &MachineSnapshot,
    venv: Option<&Path>,
    probe_env: &mut dyn FnMut() -> Vec<(String, Option<String>)>,
) -> (Option<FixProbe>, bool) {
    let gpu = machine.kfd_gpus().find_map(|g| g.gfx_target.clone());
    let python = match probe_python(req, gpu.as_deref(), venv) {
        Ok(p) => p,
        Err(not) => return not,
    };
    let live = req.root.is_live();
    let opts = rp_probe::Options {
        python: python.clone(),
        device: rp_probe::Device::Auto,
        only: Vec::new(),
        timeout: std::time::Duration::from_secs(120),
        startup_timeout: std::time::Duration::from_secs(300),
        probes_dir: None,
        env: if live { probe_env() } else { Vec::new() },
        profile: live.then(|| "native".to_string()),
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
    (Some(probe_summary(&r, gpu.as_deref())), true)
}

/// What the verification probe found.
fn probe_summary(r: &rp_report::ProbeReport, gpu: Option<&str>) -> FixProbe {
    let passed = r
        .probes
        .iter()
        .filter(|p| p.status == ProbeStatus::Pass)
        .count() as u32;
    let failed: Vec<String> = r
        .probes
        .iter()
        .filter(|p| !matches!(p.status, ProbeStatus::Pass | ProbeStatus::Skip))
        .map(|p| format!("{} ({})", p.name, p.status))
        .collect();
    let on_cpu = r.device == ProbeDevice::Cpu;
    let note = on_cpu.then(|| match gpu {
        Some(g) => format!(
            "ran on the CPU: torch {} saw no GPU although the machine has {g}, so this is not a GPU verification",
            r.torch
        ),
        None => format!(
            "ran on the CPU (torch {}; no GPU here): not a GPU verification",
            r.torch
        ),
    });
    FixProbe {
        ran: true,
        note,
        python: Some(r.executable.clone()),
        device: Some(r.device),
        passed,
        total: r.probes.len() as u32,
        gpu_verified: !on_cpu && failed.is_empty(),
        failed,
    }
}
