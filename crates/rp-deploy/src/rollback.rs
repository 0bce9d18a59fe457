//! Rolling a committed transaction back.

use crate::apply::matches_after;
use crate::journal::{Entry, StateDir, TxState};
use crate::restore::{restore, verify_store};
use crate::{journals_if_clean, report, DeployError};
use rp_report::TxReport;
use std::path::Path;

/// Which transaction to roll back.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    /// By id.
    Id(u64),
    /// The most recent committed one.
    Last,
}

/// Roll a committed transaction back. Refused, naming the files, when they changed since
/// (by hand or by a later transaction), unless `force`.
pub fn rollback(state_dir: &Path, which: Which, force: bool) -> Result<TxReport, DeployError> {
    let s = StateDir::open(state_dir)?;
    let _lock = s.lock()?;
    let all = journals_if_clean(&s)?;
    let mut j = match which {
        Which::Id(id) => all.iter().find(|j| j.seq == id).cloned().ok_or_else(|| {
            DeployError::Refused(format!("no transaction {id} (see `rocm-patch history`)"))
        })?,
        Which::Last => all
            .iter()
            .rev()
            .find(|j| j.state == TxState::Committed)
            .cloned()
            .ok_or_else(|| DeployError::Refused("no committed transaction to roll back".into()))?,
    };
    if j.state != TxState::Committed {
        return Err(DeployError::Refused(format!(
            "transaction {} is {}, not committed",
            j.id(),
            report(&j).state
        )));
    }
    if !force {
        let mut changed = Vec::new();
        for op in &j.ops {
            if matches!(op.after, Entry::Dir) {
                continue;
            }
            if !matches_after(op)? {
                let by = all
                    .iter()
                    .filter(|l| l.seq > j.seq && l.state == TxState::Committed)
                    .find(|l| l.ops.iter().any(|o| o.path == op.path))
                    .map(|l| format!(" (by transaction {}: roll it back first)", l.id()))
                    .unwrap_or_default();
                changed.push(format!("{}{by}", op.path));
            }
        }
        if !changed.is_empty() {
            return Err(DeployError::Refused(format!(
                "transaction {}: these files changed after it; --force restores them anyway: {}",
                j.id(),
                changed.join(", ")
            )));
        }
    }
    verify_store(&s, &j)?;
    restore(&s, &mut j, Some("rolled back".into()))?;
    Ok(report(&j))
}
