//! A transaction: checked up front, journaled, applied op by op, verified, committed;
//! undone on any failure.

use crate::apply::{apply_op, matches_after};
use crate::check::{check_into, is_system, no_link_below, writable};
use crate::journal::{Action, Entry, Journal, StateDir, TxState};
use crate::ops::build_ops;
use crate::plan::Step;
use crate::restore::restore;
use crate::{actions, deps, journals_if_clean, report, DeployError, DeployOptions};
use rp_report::TxReport;
use std::path::Path;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Test hook: abort the process after this many applied operations
/// (ROCM_PATCH_FAULT_AFTER_OPS), to test recovery at exact points.
fn fault_point(done: usize) {
    if let Ok(v) = std::env::var("ROCM_PATCH_FAULT_AFTER_OPS") {
        if v.parse::<usize>().ok() == Some(done) {
            std::process::abort();
        }
    }
}

/// Apply steps to a tree as one transaction.
pub fn deploy(
    state_dir: &Path,
    steps: &[Step],
    o: &DeployOptions,
) -> Result<TxReport, DeployError> {
    transact(state_dir, o, |_| Ok(steps.to_vec()), Vec::new(), |_| Ok(()))
}

/// One transaction of file steps and other actions (`fix`). `steps_for` gets the
/// transaction's id (so that edits can name it) and returns the file steps into
/// `o.into`; they are applied first, then each action is recorded, made, and handed to
/// `fill` (which fills a created tree: makes a venv, installs into it, verifies it).
/// Any failure, `fill`'s included, undoes everything: actions in reverse, then files.
pub fn transact(
    state_dir: &Path,
    o: &DeployOptions,
    steps_for: impl FnOnce(u64) -> Result<Vec<Step>, DeployError>,
    actions: Vec<Action>,
    mut fill: impl FnMut(&Action) -> Result<(), String>,
) -> Result<TxReport, DeployError> {
    let s = StateDir::open(state_dir)?;
    let _lock = s.lock()?;
    let previous = journals_if_clean(&s)?;
    let seq = previous.last().map(|j| j.seq + 1).unwrap_or(1);
    let into = check_into(&o.into, o.system)?;
    let steps = steps_for(seq)?;
    if !o.allow_special_modes {
        for st in &steps {
            if let Step::File {
                mode: Some(m),
                target,
                ..
            } = st
            {
                if m & 0o6002 != 0 {
                    return Err(DeployError::Refused(format!(
                        "mode {m:04o} of {} is setuid, setgid or world-writable: pass --allow-special-modes if that is really meant",
                        target.display()
                    )));
                }
            }
        }
    }
    let ops = build_ops(&s, &into, &steps)?;
    // A tree that holds system paths (`--into /`) needs --system for targets in them.
    if !o.system {
        if let Some(op) = ops.iter().find(|op| is_system(Path::new(&op.path))) {
            return Err(DeployError::Refused(format!(
                "{} is a system path: pass --system (and run with the permission to write there)",
                op.path
            )));
        }
    }
    // Permission to write in every directory the transaction touches, checked up front.
    for op in &ops {
        let dir = Path::new(&op.path).parent().unwrap_or(Path::new("/"));
        if dir.exists() && !writable(dir) {
            return Err(DeployError::Refused(format!(
                "permission denied: cannot write in {}",
                dir.display()
            )));
        }
    }
    for a in &actions {
        actions::check(a)?;
    }
    let mut j = Journal {
        seq,
        created: now(),
        command: o.command.clone(),
        into: into.display().to_string(),
        state: TxState::Applying,
        ops,
        actions,
        note: None,
    };
    if j.ops.is_empty() && j.actions.is_empty() {
        j.state = TxState::Committed;
        j.note = Some("nothing to change: every target already holds its content".into());
        return Ok(report(&j));
    }
    s.write(&j)?;
    for (i, op) in j.ops.iter().enumerate() {
        // Checked again as each change is made: a directory swapped for a link since
        // the plan was read stops the transaction.
        let checked = no_link_below(&into, Path::new(&op.path));
        if let Err(e) = checked.and_then(|()| apply_op(op, j.seq, i)) {
            let cause = e.to_string();
            restore(&s, &mut j, Some(format!("failed: {cause}")))?;
            return Err(DeployError::Failed { id: j.id(), cause });
        }
        fault_point(i + 1);
    }
    for (i, a) in j.actions.iter().enumerate() {
        let done = actions::apply(a, j.seq)
            .map_err(|e| e.to_string())
            .and_then(|()| fill(a));
        if let Err(cause) = done {
            restore(&s, &mut j, Some(format!("failed: {cause}")))?;
            return Err(DeployError::Failed { id: j.id(), cause });
        }
        fault_point(j.ops.len() + i + 1);
    }
    // Verify: checksums, then shared-library dependencies.
    let mut problems = Vec::new();
    for op in &j.ops {
        if !matches_after(op)? {
            problems.push(format!("{} does not hold what was written", op.path));
        }
    }
    if problems.is_empty() && !o.no_load_check {
        for op in &j.ops {
            if matches!(op.after, Entry::File { .. }) {
                for m in deps::missing(Path::new(&op.path), &o.env) {
                    problems.push(format!("missing {m}"));
                }
            }
        }
    }
    if !problems.is_empty() {
        let msg = problems.join("; ");
        let hint = if msg.contains("missing ") {
            " (--no-load-check deploys anyway)"
        } else {
            ""
        };
        restore(&s, &mut j, Some(format!("verification failed: {msg}")))?;
        return Err(DeployError::Verify {
            id: j.id(),
            problems: format!("{msg}{hint}"),
        });
    }
    j.state = TxState::Committed;
    s.write(&j)?;
    Ok(report(&j))
}
