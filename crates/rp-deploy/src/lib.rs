//! Crash-safe, byte-exact reversible changes to installs.
//!
//! A transaction is a list of file operations into one tree. Before the tree is touched,
//! every original is copied into a content-addressed store (sha256) and the whole
//! transaction — each path's state before and after — is written to a write-ahead journal
//! in the state directory. Each new file is written under a temporary name in its target
//! directory, fsync'd and renamed into place; the journal is marked committed last. A
//! journal found in `applying` or `rolling-back` state was interrupted: `recover` puts
//! every path back to its recorded `before` state (idempotently, so a crash during
//! recovery is recovered by running it again). A lock keeps invocations apart.
//! Nothing here prints.
#![deny(missing_docs)]

mod actions;
mod apply;
mod check;
pub mod deps;
/// The durable file steps (rp-sys).
mod fsx {
    pub use rp_sys::durable::*;
    pub use rp_sys::hash::sha256_file;
}
mod journal;
mod ops;
pub mod plan;
mod recover;
mod restore;
mod rollback;
pub mod tensile;
mod transact;

pub use actions::{members as group_members, MARKER};
pub use check::check_into;
pub use journal::{Action, Entry, Journal, Op, StateDir, TxState};
pub use plan::Step;
pub use recover::{abandon, recover};
pub use rollback::{rollback, Which};
pub use rp_sys::PathError;
pub use transact::{deploy, transact};

use rp_report::{TxChange, TxReport, SCHEMA};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a command could not do its job. Nothing in the target tree is left changed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// An I/O step failed (the path is named).
    #[error(transparent)]
    Io(#[from] PathError),
    /// Another invocation holds the lock.
    #[error(
        "another rocm-patch is changing files with the state directory {0}; wait for it to finish"
    )]
    Locked(String),
    /// An interrupted transaction must be recovered first.
    #[error("transaction {0} was interrupted; run `rocm-patch recover` first")]
    Interrupted(String),
    /// A journal record does not parse.
    #[error("corrupt journal record {0}")]
    Corrupt(String),
    /// The plan is malformed.
    #[error("{0}")]
    Plan(String),
    /// Refused, with the reason.
    #[error("{0}")]
    Refused(String),
    /// Verification failed; the transaction was rolled back.
    #[error("verification failed, transaction {id} rolled back: {problems}")]
    Verify {
        /// The transaction.
        id: String,
        /// What failed.
        problems: String,
    },
    /// A step failed while applying; the transaction was rolled back.
    #[error("{cause}; transaction {id} was rolled back, the tree is unchanged")]
    Failed {
        /// The transaction.
        id: String,
        /// What failed.
        cause: String,
    },
}

/// Options of a deploy.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// The target tree.
    pub into: PathBuf,
    /// Allow system paths.
    pub system: bool,
    /// Skip the shared-library dependency check.
    pub no_load_check: bool,
    /// Allow setuid, setgid and world-writable modes in a plan.
    pub allow_special_modes: bool,
    /// The command line, for the journal.
    pub command: String,
    /// The environment (LD_LIBRARY_PATH for the dependency check).
    pub env: BTreeMap<String, String>,
}

/// The report of a journal.
pub fn report(j: &Journal) -> TxReport {
    TxReport {
        schema: SCHEMA,
        id: j.id(),
        state: j.state,
        created: j.created,
        command: j.command.clone(),
        into: j.into.clone(),
        changes: j
            .ops
            .iter()
            .map(|o| TxChange {
                path: o.path.clone(),
                change: o.change(),
                detail: None,
            })
            .chain(j.actions.iter().map(|a| match a {
                Action::Tree { path, .. } => TxChange {
                    path: path.clone(),
                    change: rp_report::ChangeKind::CreateTree,
                    detail: None,
                },
                Action::Groups {
                    user,
                    groups,
                    prefix,
                    ..
                } => TxChange {
                    path: Path::new(prefix).join("etc/group").display().to_string(),
                    change: rp_report::ChangeKind::AddGroups,
                    detail: Some(format!("{user}: {}", groups.join(", "))),
                },
            }))
            .collect(),
        note: j.note.clone(),
        notes: Vec::new(),
    }
}

/// Every transaction record, or the refusal to go on while one is interrupted.
fn journals_if_clean(s: &StateDir) -> Result<Vec<Journal>, DeployError> {
    let all = s.journals()?;
    if let Some(j) = all.iter().find(|j| j.interrupted()) {
        return Err(DeployError::Interrupted(j.id()));
    }
    Ok(all)
}

/// The id of an interrupted transaction in `state_dir`, if any. Read-only and quiet:
/// a missing or unreadable state directory is `None`.
pub fn interrupted(state_dir: &Path) -> Option<String> {
    journal::read_journals(state_dir)
        .ok()?
        .iter()
        .find(|j| j.interrupted())
        .map(Journal::id)
}

/// Every transaction, oldest first; refused while one is interrupted.
/// A state directory that does not exist yet has no history, and is not created.
pub fn history(state_dir: &Path) -> Result<Vec<TxReport>, DeployError> {
    if !state_dir.join("journal").is_dir() {
        return Ok(Vec::new());
    }
    let all = journal::read_journals(state_dir)?;
    if let Some(j) = all.iter().find(|j| j.interrupted()) {
        return Err(DeployError::Interrupted(j.id()));
    }
    Ok(all.iter().map(report).collect())
}

/// A small regular file's text (usermod's backups), `None` when absent or unreadable.
pub(crate) fn fsx_read_small(p: &std::path::Path) -> Option<String> {
    rp_sys::read_regular(p, 16 << 20)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}
