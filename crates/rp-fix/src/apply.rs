//! Applying a plan: one deploy transaction (files byte-exact; the venv and the groups
//! as recorded actions), rolled back as a whole when a step fails.

use crate::{edit, venv, FixError, Options, Plan, Work};
use rp_deploy::{Action, DeployError, DeployOptions, Step};
use rp_report::{FixStepState, TxReport};
use std::collections::BTreeMap;
use std::path::Path;

/// What applying did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The transaction (none when nothing needed changing).
    pub transaction: Option<TxReport>,
}

/// Where the files go: into the home directory, or the whole root when system files
/// change; and whether they do.
fn target_dir(plan: &Plan) -> (std::path::PathBuf, bool) {
    let system_files = plan.steps.iter().any(|s| match &s.work {
        Work::Comment(edits) => edits
            .iter()
            .any(|e| plan.home.as_ref().is_none_or(|h| !e.host.starts_with(h))),
        _ => false,
    });
    let has_files = plan
        .steps
        .iter()
        .any(|s| matches!(s.work, Work::Comment(_) | Work::Config { .. }));
    let into = match &plan.home {
        Some(h) if has_files && !system_files && h.is_dir() => h.clone(),
        _ => plan.root_dir.clone(),
    };
    (into, system_files)
}

/// The recorded actions (a venv's tree, groups) and the step each belongs to.
fn recorded_actions(works: &[(usize, Work)]) -> (Vec<Action>, Vec<usize>) {
    let mut actions = Vec::new();
    let mut action_step = Vec::new();
    for (i, w) in works {
        match w {
            Work::Venv { dir, .. } => {
                let abs = if dir.is_absolute() {
                    dir.clone()
                } else {
                    std::env::current_dir().unwrap_or_default().join(dir)
                };
                actions.push(Action::tree(&abs.display().to_string()));
                action_step.push(*i);
            }
            Work::Groups {
                user,
                groups,
                prefix,
            } => {
                actions.push(Action::groups(user, groups.clone(), prefix));
                action_step.push(*i);
            }
            _ => {}
        }
    }
    (actions, action_step)
}

/// The file steps of transaction `seq`: each startup file with its lines commented
/// out, the config file with the default profile on top.
fn file_steps(
    works: &[(usize, Work)],
    scratch: &tempfile::TempDir,
    into: &Path,
    seq: u64,
) -> Result<Vec<Step>, DeployError> {
    let mut out = Vec::new();
    for (n, (_, w)) in works.iter().enumerate() {
        match w {
            Work::Comment(edits) => {
                for (k, e) in edits.iter().enumerate() {
                    let shown = e.host.display().to_string();
                    let data = edit::read_small(&e.host)
                        .map_err(DeployError::Plan)?
                        .ok_or_else(|| {
                            DeployError::Plan(format!("{shown} is gone; run fix again"))
                        })?;
                    let new = edit::remove_settings(
                        &data,
                        &e.host,
                        &e.lines,
                        &e.names,
                        &format!("# rocm-patch fix (transaction {seq}; `rocm-patch rollback {seq}` restores): "),
                        &shown,
                    )
                    .map_err(DeployError::Plan)?;
                    out.push(source_step(scratch, n * 1000 + k, into, &e.host, &new)?);
                }
            }
            Work::Config { host, profile } => {
                let old = edit::read_small(host).map_err(DeployError::Plan)?;
                let mut new = format!(
                    "# Written by `rocm-patch fix` (transaction {seq}): the default profile.\nprofile = \"{profile}\"\n"
                )
                .into_bytes();
                if let Some(old) = old {
                    new.push(b'\n');
                    new.extend_from_slice(&old);
                }
                out.push(source_step(scratch, n * 1000, into, host, &new)?);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Apply the plan as one transaction in `state_dir`. `progress` gets each line of the
/// long-running commands (pip). `verify_venv` checks a filled venv (device packages
/// are checked here; the code objects by the caller, with the machine layer).
/// On failure the plan's steps say which failed and why; everything is rolled back.
pub fn apply(
    plan: &mut Plan,
    state_dir: &Path,
    o: &Options,
    progress: &mut dyn FnMut(&str),
    verify_venv: &mut dyn FnMut(&Path, &str) -> Result<(), String>,
) -> Result<Applied, FixError> {
    if !plan.changes_anything() {
        return Ok(Applied::default());
    }
    let (into, system_files) = target_dir(plan);
    let scratch = tempfile::tempdir()
        .map_err(|e| FixError::Usage(format!("cannot make a temporary directory: {e}")))?;
    let works: Vec<(usize, Work)> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.work.clone()))
        .collect();
    let (actions, action_step) = recorded_actions(&works);
    let mut failed: Option<(usize, String)> = None;
    let steps_for = |seq: u64| file_steps(&works, &scratch, &into, seq);
    let mut next_action = 0usize;
    let mut fill = |a: &Action| -> Result<(), String> {
        let idx = action_step[next_action];
        next_action += 1;
        let r = match (&works[idx].1, a) {
            (
                Work::Venv {
                    python,
                    index,
                    packages,
                    device_packages,
                    gpu,
                    ..
                },
                Action::Tree { path, .. },
            ) => fill_venv(
                Path::new(path),
                python,
                index,
                packages,
                device_packages,
                gpu,
                progress,
                verify_venv,
            ),
            _ => Ok(()),
        };
        if let Err(e) = &r {
            failed = Some((idx, e.clone()));
        }
        r
    };
    let res = rp_deploy::transact(
        state_dir,
        &DeployOptions {
            into: into.clone(),
            system: system_files && o.system,
            no_load_check: true,
            allow_special_modes: false,
            command: o.command.clone(),
            env: BTreeMap::new(),
        },
        steps_for,
        actions,
        &mut fill,
    );
    settle(plan, res, failed)
}

/// Mark the plan's steps done, or the one that failed (the failing action's step, else
/// the first file step) with why.
fn settle(
    plan: &mut Plan,
    res: Result<TxReport, DeployError>,
    failed: Option<(usize, String)>,
) -> Result<Applied, FixError> {
    match res {
        Ok(tx) => {
            for s in plan.steps.iter_mut() {
                if s.report.state == FixStepState::Planned && !matches!(s.work, Work::Nothing) {
                    s.report.state = FixStepState::Done;
                }
            }
            Ok(Applied {
                transaction: Some(tx),
            })
        }
        Err(e) => {
            let cause = e.to_string();
            let (idx, detail) = failed.unwrap_or_else(|| {
                let i = plan
                    .steps
                    .iter()
                    .position(|s| matches!(s.work, Work::Comment(_) | Work::Config { .. }))
                    .unwrap_or(0);
                (i, cause.clone())
            });
            if let Some(s) = plan.steps.get_mut(idx) {
                s.report.state = FixStepState::Failed;
                s.report.detail = Some(detail);
            }
            Err(e.into())
        }
    }
}

/// A file step whose new content is written to the scratch directory first.
fn source_step(
    scratch: &tempfile::TempDir,
    n: usize,
    into: &Path,
    host: &Path,
    data: &[u8],
) -> Result<Step, DeployError> {
    let src = scratch.path().join(format!("content-{n}"));
    std::fs::write(&src, data).map_err(|e| DeployError::Plan(format!("{}: {e}", src.display())))?;
    let target = host
        .strip_prefix(into)
        .map_err(|_| {
            DeployError::Plan(format!(
                "{} lies outside {}",
                host.display(),
                into.display()
            ))
        })?
        .to_path_buf();
    Ok(Step::File {
        source: src,
        target,
        mode: None,
    })
}

/// Make the venv, install into it from one index, and verify what arrived.
#[expect(
    clippy::too_many_arguments,
    reason = "the plan's inputs, each used once"
)]
fn fill_venv(
    dir: &Path,
    python: &Path,
    index: &str,
    packages: &[String],
    device_packages: &[String],
    gpu: &str,
    progress: &mut dyn FnMut(&str),
    verify_venv: &mut dyn FnMut(&Path, &str) -> Result<(), String>,
) -> Result<(), String> {
    let mut c = std::process::Command::new(python);
    c.arg("-m").arg("venv").arg(dir);
    venv::stream(c, "python -m venv", progress)?;
    // AMD's index alone: `--isolated` drops the user's files and the `PIP_*` variables,
    // but pip still reads the global files (`/etc/pip.conf`, `$XDG_CONFIG_DIRS`), whose
    // `extra-index-url` would mix PyPI's placeholders back in; `PIP_CONFIG_FILE=/dev/null`
    // makes it load no file at all (pip `configuration.py` `_load_config_files`, read at
    // 23.2.1 and 26.3; both checked in tests/pip_config.rs).
    let mut c = std::process::Command::new(dir.join("bin/python"));
    c.env("PIP_CONFIG_FILE", "/dev/null");
    c.args([
        "-m",
        "pip",
        "--isolated",
        "--disable-pip-version-check",
        "--no-input",
        "install",
        "--index-url",
        index,
    ])
    .args(packages)
    .env_remove("PIP_EXTRA_INDEX_URL")
    .env_remove("PIP_INDEX_URL")
    .env_remove("PYTHONPATH");
    venv::stream(c, "pip install", progress)?;
    let have = venv::installed(dir);
    let missing: Vec<&String> = device_packages
        .iter()
        .filter(|d| !have.iter().any(|(n, _)| n == &venv::normalize(d)))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "pip exited 0, but {} is not installed: the index has no device-{gpu} extra for these packages (pip only warns about a missing extra; TheRock #5347)",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    verify_venv(dir, gpu)
}
