//! Interrupted transactions: finished by restoring their `before` state, or set aside.

use crate::journal::{self, StateDir};
use crate::restore::{restore, verify_store};
use crate::{report, DeployError};
use rp_report::TxReport;
use std::path::Path;

/// Finish every interrupted transaction by restoring its `before` state.
pub fn recover(state_dir: &Path) -> Result<Vec<TxReport>, DeployError> {
    let s = StateDir::open(state_dir)?;
    let _lock = s.lock()?;
    let mut out = Vec::new();
    for mut j in s.journals()? {
        if j.interrupted() {
            verify_store(&s, &j)?;
            restore(&s, &mut j, Some("recovered after an interruption".into()))?;
            out.push(report(&j));
        }
    }
    Ok(out)
}

/// Set a transaction record aside (`recover --abandon ID`): for a record that is corrupt
/// or cannot be recovered. Nothing in the tree is changed and the stored originals are
/// kept; the paths it would have restored come back, for the user to check by hand.
pub fn abandon(state_dir: &Path, id: &str) -> Result<Vec<String>, DeployError> {
    let s = StateDir::open(state_dir)?;
    let _lock = s.lock()?;
    journal::abandon(s.root(), id)
}
