//! The state directory: lock, write-ahead journal, content-addressed store of originals.

use crate::fsx::{self, ctx, PathError};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

/// What a path holds before or after a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Entry {
    /// Nothing.
    Missing,
    /// A regular file (content in the store for `before` entries).
    File {
        /// SHA-256, hex.
        sha256: String,
        /// Permission bits.
        mode: u32,
        /// Size in bytes.
        size: u64,
    },
    /// A symbolic link.
    Symlink {
        /// Where it points.
        target: String,
    },
    /// A directory this transaction created.
    Dir,
}

/// One change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Op {
    /// Absolute path.
    pub path: String,
    /// Before the transaction.
    pub before: Entry,
    /// After it.
    pub after: Entry,
    /// For file writes: the source the content is copied from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Op {
    /// `add`, `replace`, `remove`, `symlink` or `mkdir`.
    pub fn change(&self) -> rp_report::ChangeKind {
        use rp_report::ChangeKind;
        match (&self.before, &self.after) {
            (_, Entry::Dir) => ChangeKind::Mkdir,
            (_, Entry::Symlink { .. }) => ChangeKind::Symlink,
            (_, Entry::Missing) => ChangeKind::Remove,
            (Entry::Missing, _) => ChangeKind::Add,
            _ => ChangeKind::Replace,
        }
    }
}

/// A change that is not a file write: recorded in the journal before it is made, so
/// that rollback and recovery undo exactly it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// A directory tree the transaction creates and fills (a Python venv). It holds a
    /// marker file naming the transaction; rollback removes the tree only when the marker
    /// is there (or the directory is still empty).
    Tree {
        /// Absolute path.
        path: String,
    },
    /// Supplementary groups added to a user with `usermod -aG` (the ones the user was
    /// not in); rollback removes exactly these with `usermod -rG`.
    Groups {
        /// The login name.
        user: String,
        /// Groups added.
        groups: Vec<String>,
        /// `usermod --prefix` (the tree whose etc/group is changed), `/` for this machine.
        prefix: String,
    },
}

/// Where a transaction is (the report's vocabulary, stored in the journal as is).
pub use rp_report::TxState;

/// One transaction record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    /// Sequence number (its id).
    pub seq: u64,
    /// Unix seconds at creation.
    pub created: u64,
    /// What made it (`deploy lib …`).
    pub command: String,
    /// The target tree.
    pub into: String,
    /// State.
    pub state: TxState,
    /// Changes in apply order.
    pub ops: Vec<Op>,
    /// Changes that are not file writes, made after `ops`, undone before them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    /// How it ended, when it did not commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Journal {
    /// The id users type: the sequence number.
    pub fn id(&self) -> String {
        self.seq.to_string()
    }
    /// Interrupted (needs `recover`).
    pub fn interrupted(&self) -> bool {
        matches!(self.state, TxState::Applying | TxState::RollingBack)
    }
}

/// The state directory.
pub struct StateDir {
    root: PathBuf,
}

/// An exclusive lock on the state directory, released on drop.
pub struct Lock {
    _file: File,
}

impl StateDir {
    /// Open (and create) a state directory.
    pub fn open(root: &Path) -> Result<StateDir, PathError> {
        for sub in ["journal", "store"] {
            ctx(
                std::fs::create_dir_all(root.join(sub)),
                &root.join(sub),
                "cannot create the state directory",
            )?;
        }
        Ok(StateDir {
            root: root.to_path_buf(),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Take the lock, or say who holds it.
    pub fn lock(&self) -> Result<Lock, crate::DeployError> {
        let p = self.root.join("lock");
        let f = ctx(
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&p),
            &p,
            "cannot open the lock file",
        )?;
        match f.try_lock() {
            Ok(()) => Ok(Lock { _file: f }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(crate::DeployError::Locked(self.root.display().to_string()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(PathError {
                path: p.display().to_string(),
                what: "cannot lock",
                err: e,
            }
            .into()),
        }
    }

    fn journal_path(&self, seq: u64) -> PathBuf {
        self.root.join("journal").join(format!("{seq:06}.json"))
    }

    /// Every transaction, oldest first. Unparsable records are reported by name.
    pub fn journals(&self) -> Result<Vec<Journal>, crate::DeployError> {
        read_journals(&self.root)
    }

    /// Write a journal record durably (atomic replace).
    pub fn write(&self, j: &Journal) -> Result<(), PathError> {
        let bytes = serde_json::to_vec_pretty(j).expect("journal serialises");
        fsx::write_atomic(&self.journal_path(j.seq), &bytes)
    }

    /// Where a stored original lives.
    pub fn blob(&self, sha: &str) -> PathBuf {
        self.root.join("store").join(&sha[..2]).join(sha)
    }

    /// Keep a copy of `src` (whose hash is `sha`) in the store, durably.
    pub fn store(&self, src: &Path, sha: &str) -> Result<(), PathError> {
        let dst = self.blob(sha);
        if dst.exists() {
            return Ok(());
        }
        let dir = dst.parent().expect("blob has a parent");
        ctx(std::fs::create_dir_all(dir), dir, "cannot create")?;
        let tmp = fsx::tmp_sibling(&dst, "part");
        let _ = std::fs::remove_file(&tmp);
        fsx::write_new(src, &tmp, 0o444)?;
        let (got, _) = fsx::sha256_file(&tmp)?;
        if got != sha {
            let _ = std::fs::remove_file(&tmp);
            return Err(PathError {
                path: src.display().to_string(),
                what: "changed while it was being stored",
                err: std::io::Error::other("hash mismatch"),
            });
        }
        fsx::rename_into(&tmp, &dst)
    }
}

/// The transaction records of a state directory, oldest first (without creating it).
pub fn read_journals(root: &Path) -> Result<Vec<Journal>, crate::DeployError> {
    let dir = root.join("journal");
    let mut out = Vec::new();
    for e in ctx(std::fs::read_dir(&dir), &dir, "cannot list")? {
        let e = ctx(e, &dir, "cannot list")?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue; // temp files of an interrupted journal write
        }
        let text = ctx(
            std::fs::read_to_string(e.path()),
            &e.path(),
            "cannot read the journal",
        )?;
        let j: Journal = serde_json::from_str(&text)
            .map_err(|err| crate::DeployError::Corrupt(format!("{}: {err}", e.path().display())))?;
        out.push(j);
    }
    out.sort_by_key(|j| j.seq);
    Ok(out)
}
