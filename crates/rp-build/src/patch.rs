//! The patch stage: every upstream file a selected patch touches must match its
//! recorded sha256 before any patch is applied; then the patches are applied in order
//! (`patch -p1` in the source tree), each logged to its own file.

use crate::show::patch_report;
use crate::{fetch, recipe, shell_join, BuildError, Request};
use rp_report::{PatchReport, PatchState};
use std::path::Path;

/// How `patch` runs: through the one process runner, in its own process group, stopped
/// after ten minutes (a patch applies in well under a second).
fn patch_run() -> rp_sys::process::Options<'static> {
    rp_sys::process::Options {
        deadline: Some(std::time::Duration::from_secs(600)),
        ..Default::default()
    }
}

/// The most of `patch`'s stdout and of its stderr kept for the log.
const PATCH_OUTPUT: u64 = 4 << 20;

/// How patches are applied (in the source tree).
const PATCH_ARGS: [&str; 5] = [
    "-p1",
    "--batch",
    "--forward",
    "--no-backup-if-mismatch",
    "-i",
];

/// What the patch stage did: the report's patches are the plan with these filled in.
#[derive(Debug, Default)]
pub(crate) struct Patched {
    /// The tree was already patched (a later run with the same source and patches).
    pub already_applied: bool,
    /// The patches applied by this run, by file, in order.
    pub applied: Vec<String>,
}

/// The recipe's patches as planned (selected or not), each selected patch with its
/// command, numbered as it is written into the build directory; then what the stage
/// did.
pub(crate) fn report(
    r: &recipe::Recipe,
    selected: &[&recipe::Patch],
    work: &Path,
    src: &Path,
    done: &Patched,
) -> Vec<PatchReport> {
    let mut out: Vec<PatchReport> = r
        .patches
        .iter()
        .map(|p| {
            let on = selected.iter().any(|s| std::ptr::eq(*s, p));
            patch_report(
                p,
                if on {
                    PatchState::Planned
                } else {
                    PatchState::NotSelected
                },
            )
        })
        .collect();
    // Each selected patch's command, numbered as it is written into the build directory.
    let mut n = 0;
    for (p, def) in out.iter_mut().zip(&r.patches) {
        if p.state == PatchState::Planned {
            n += 1;
            let mut argv = vec!["patch".to_string()];
            argv.extend(PATCH_ARGS.iter().map(|a| a.to_string()));
            argv.push(
                work.join(format!("patches/{n:02}.patch"))
                    .display()
                    .to_string(),
            );
            p.command = Some(format!(
                "(in {}) {}  # {}",
                src.display(),
                shell_join(&argv),
                def.file
            ));
        }
    }
    if done.already_applied {
        for p in out.iter_mut().filter(|p| p.state == PatchState::Planned) {
            p.state = PatchState::AlreadyApplied;
        }
    }
    for file in &done.applied {
        if let Some(p) = out.iter_mut().find(|p| &p.file == file) {
            p.state = PatchState::Applied;
        }
    }
    out
}

/// The selected patches' bytes, by file.
pub(crate) fn load(
    req: &Request,
    selected: &[&recipe::Patch],
) -> Result<Vec<(String, Vec<u8>)>, BuildError> {
    let mut patch_bytes = Vec::new();
    for p in selected {
        patch_bytes.push((p.file.clone(), req.recipe.patch_bytes(&p.file)?));
    }
    Ok(patch_bytes)
}

/// Every upstream file of every patch is checked before any patch is applied.
pub(crate) fn check_upstream(selected: &[&recipe::Patch], tree: &Path) -> Result<(), BuildError> {
    for p in selected {
        for (file, want) in &p.upstream {
            let path = tree.join(file);
            let found = if path.is_file() {
                fetch::sha256_file(&path)?
            } else {
                "missing".into()
            };
            if &found != want {
                return Err(BuildError::UpstreamChanged {
                    patch: p.file.clone(),
                    file: file.clone(),
                    expected: want.clone(),
                    found,
                });
            }
        }
    }
    Ok(())
}

/// Apply the patches to `tree` in order: each is written to `work/patches/NN.patch`
/// and logged to `work/logs/patch-NN.log`; the first that does not apply stops.
pub(crate) fn apply(
    patch_bytes: &[(String, Vec<u8>)],
    work: &Path,
    tree: &Path,
    done: &mut Patched,
) -> Result<(), BuildError> {
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| BuildError::io(&logs, "cannot create", e))?;
    let pdir = work.join("patches");
    std::fs::create_dir_all(&pdir).map_err(|e| BuildError::io(&pdir, "cannot create", e))?;
    for (i, (file, bytes)) in patch_bytes.iter().enumerate() {
        let pf = pdir.join(format!("{:02}.patch", i + 1));
        std::fs::write(&pf, bytes).map_err(|e| BuildError::io(&pf, "cannot write", e))?;
        let mut cmd = std::process::Command::new("patch");
        cmd.args(PATCH_ARGS).arg(&pf).current_dir(tree);
        let out = rp_sys::process::run_bounded(cmd, &patch_run(), PATCH_OUTPUT).map_err(|e| {
            BuildError::PatchFailed {
                patch: file.clone(),
                detail: e.to_string(),
            }
        })?;
        let log = logs.join(format!("patch-{:02}.log", i + 1));
        let mut text = out.stdout.clone();
        text.extend(&out.stderr);
        let _ = std::fs::write(&log, &text);
        if !out.ended.success() {
            return Err(BuildError::PatchFailed {
                patch: file.clone(),
                detail: String::from_utf8_lossy(&text).trim().to_string(),
            });
        }
        done.applied.push(file.clone());
    }
    Ok(())
}
