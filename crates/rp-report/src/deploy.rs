//! Deploy transactions, as `deploy`, `rollback`, `recover` and `history` report them.

use serde::{Deserialize, Serialize};

vocabulary! {
    /// The state of a deploy transaction.
    TxState { #[default] /** Being applied (interrupted if found so). */ Applying = "applying", /** Applied. */ Committed = "committed", /** Being undone. */ RollingBack = "rolling-back", /** Undone. */ RolledBack = "rolled-back" }
}

vocabulary! {
    /// One kind of file change.
    ChangeKind { #[default] /** A new file. */ Add = "add", /** A file replaced. */ Replace = "replace", /** A file removed. */ Remove = "remove", /** A symbolic link. */ Symlink = "symlink", /** A directory made. */ Mkdir = "mkdir", /** A directory tree made and filled (a venv); rollback removes it. */ CreateTree = "create-tree", /** Supplementary groups added to a user; rollback removes exactly those. */ AddGroups = "add-groups" }
}

/// One deploy transaction, as `deploy`, `rollback`, `recover` and `history` report it.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TxReport {
    /// Always [`SCHEMA`](crate::SCHEMA).
    pub schema: u32,
    /// Transaction id.
    pub id: String,
    /// `applying`, `committed`, `rolling-back` or `rolled-back`.
    pub state: TxState,
    /// Unix seconds when it was made.
    pub created: u64,
    /// The command that made it.
    pub command: String,
    /// The target tree.
    pub into: String,
    /// The changes.
    pub changes: Vec<TxChange>,
    /// How it ended, when it did not commit.
    pub note: Option<String>,
    /// What the command checked or decided before changing anything (e.g. the rocBLAS
    /// versions `deploy tensile` compared).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
}

/// One file change.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TxChange {
    /// Absolute path.
    pub path: String,
    /// `add`, `replace`, `remove`, `symlink`, `mkdir`, `create-tree` or `add-groups`.
    pub change: ChangeKind,
    /// For `add-groups`: the user and the groups (the path is the group file).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

/// `rocm-patch history`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HistoryReport {
    /// Always [`SCHEMA`](crate::SCHEMA).
    pub schema: u32,
    /// The state directory.
    pub state_dir: String,
    /// Transactions, oldest first.
    pub transactions: Vec<TxReport>,
}

/// `rocm-patch recover`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RecoverReport {
    /// Always [`SCHEMA`](crate::SCHEMA).
    pub schema: u32,
    /// The transactions put back, oldest first (empty: nothing was interrupted).
    pub recovered: Vec<TxReport>,
    /// With `--abandon`: the transaction set aside.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub abandoned: Option<String>,
    /// With `--abandon`: what that record would have restored (check these by hand).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub not_restored: Vec<String>,
}
