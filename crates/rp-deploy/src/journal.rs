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
        /// Its ancestors that did not exist before (deepest first): rollback removes
        /// them too when they are empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parents: Vec<String>,
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
        /// The backups usermod writes (`etc/group-`, `etc/gshadow-`) as they were before:
        /// rollback puts them back, or removes them when there were none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        backups: Vec<Backup>,
    },
}

/// A file usermod replaces as a side effect, as it was before the transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// `etc/group-` or `etc/gshadow-`, relative to the prefix.
    pub file: String,
    /// Its content before, or null when it did not exist.
    pub before: Option<String>,
}

/// The backup files usermod(8) writes beside the files it changes (shadow-utils
/// `commonio_close`: `<file>-`).
pub const GROUP_BACKUPS: [&str; 2] = ["etc/group-", "etc/gshadow-"];

impl Action {
    /// A tree to create at `path`, with the ancestors that do not exist yet.
    pub fn tree(path: &str) -> Action {
        let mut parents = Vec::new();
        let mut p = Path::new(path).parent();
        while let Some(d) = p {
            if d.as_os_str().is_empty() || std::fs::symlink_metadata(d).is_ok() {
                break;
            }
            parents.push(d.display().to_string());
            p = d.parent();
        }
        Action::Tree {
            path: path.to_string(),
            parents,
        }
    }

    /// Groups to add, with usermod's backup files as they are now.
    pub fn groups(user: &str, groups: Vec<String>, prefix: &str) -> Action {
        let backups = GROUP_BACKUPS
            .iter()
            .map(|f| Backup {
                file: f.to_string(),
                before: crate::fsx_read_small(&Path::new(prefix).join(f)),
            })
            .collect();
        Action::Groups {
            user: user.to_string(),
            groups,
            prefix: prefix.to_string(),
            backups,
        }
    }
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

    /// The stored original `sha` is there and still hashes to `sha` (`what` names the
    /// file it would restore).
    pub fn check_blob(&self, sha: &str, what: &str) -> Result<(), crate::DeployError> {
        let b = self.blob(sha);
        let ok = fsx::sha256_file(&b).map(|(h, _)| h == sha).unwrap_or(false);
        if ok {
            Ok(())
        } else {
            Err(crate::DeployError::Refused(format!(
                "the stored original of {what} ({}) is missing or damaged (its sha256 is not {sha}): nothing was restored",
                b.display()
            )))
        }
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

/// Largest journal record read.
const MAX_JOURNAL: u64 = 64 << 20;

/// Read a small regular file without blocking on a FIFO or following a link.
pub(crate) fn read_bounded(p: &Path, cap: u64) -> Result<String, String> {
    // The callers name the file.
    let buf = rp_sys::read_regular(p, cap).map_err(|e| e.kind.to_string())?;
    String::from_utf8(buf).map_err(|_| "not UTF-8".into())
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A path the journal may name: absolute, without `..`, and below `into`.
fn path_ok(p: &str, into: &Path) -> bool {
    let p = Path::new(p);
    p.is_absolute()
        && !p
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        && p.starts_with(into)
        && p != into
}

fn entry_ok(e: &Entry) -> Result<(), String> {
    match e {
        Entry::File { sha256, mode, .. } => {
            if !is_sha256(sha256) {
                return Err(format!("sha256 {sha256:?} is not 64 hex digits"));
            }
            if *mode > 0o7777 {
                return Err(format!("mode {mode:o} is not a permission mode"));
            }
            Ok(())
        }
        Entry::Symlink { target } if target.is_empty() || target.contains('\0') => {
            Err("an empty symlink target".into())
        }
        _ => Ok(()),
    }
}

fn group_name_ok(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with('-')
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'$'))
}

/// Check a record read from disk: every hash is a sha256, every path lies below the
/// recorded tree, actions name plausible paths, users and groups.
pub(crate) fn validate(j: &Journal, seq_from_name: Option<u64>) -> Result<(), String> {
    if let Some(n) = seq_from_name {
        if n != j.seq {
            return Err(format!("it says it is transaction {}", j.seq));
        }
    }
    let into = Path::new(&j.into);
    if !into.is_absolute()
        || into
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!("its tree {:?} is not an absolute path", j.into));
    }
    for op in &j.ops {
        if !path_ok(&op.path, into) {
            return Err(format!("{:?} does not lie below {}", op.path, j.into));
        }
        entry_ok(&op.before).map_err(|e| format!("{}: {e}", op.path))?;
        entry_ok(&op.after).map_err(|e| format!("{}: {e}", op.path))?;
    }
    for a in &j.actions {
        match a {
            Action::Tree { path, parents } => {
                let p = Path::new(path);
                if !p.is_absolute()
                    || p.components().count() < 3
                    || p.components()
                        .any(|c| matches!(c, std::path::Component::ParentDir))
                {
                    return Err(format!("a created tree at {path:?}"));
                }
                // Only the tree's own ancestors, and never the root's first level.
                for q in parents {
                    let q = Path::new(q);
                    if !p.starts_with(q) || q == p || q.components().count() < 3 {
                        return Err(format!("{q:?} is not a parent of the tree {path:?}"));
                    }
                }
            }
            Action::Groups {
                user,
                groups,
                prefix,
                backups,
            } => {
                if !group_name_ok(user)
                    || groups.iter().any(|g| !group_name_ok(g))
                    || !Path::new(prefix).is_absolute()
                    || backups
                        .iter()
                        .any(|b| !GROUP_BACKUPS.contains(&b.file.as_str()))
                {
                    return Err(format!("a group change for {user:?}: {groups:?}"));
                }
            }
        }
    }
    Ok(())
}

/// The sequence number a journal file name says (`000012.json` is 12).
fn seq_of(name: &str) -> Option<u64> {
    name.strip_suffix(".json")?.parse().ok()
}

fn corrupt(path: &Path, name: &str, why: &str) -> crate::DeployError {
    let id = seq_of(name)
        .map(|n| n.to_string())
        .unwrap_or_else(|| name.to_string());
    crate::DeployError::Corrupt(format!(
        "{}: {why}; `rocm-patch recover --abandon {id}` sets this record aside (the stored originals are kept) so the other commands work again",
        path.display()
    ))
}

/// The transaction records of a state directory, oldest first (without creating it).
/// A record that cannot be read, does not parse or does not validate is an error that
/// names it and the way out.
pub fn read_journals(root: &Path) -> Result<Vec<Journal>, crate::DeployError> {
    let dir = root.join("journal");
    let mut out = Vec::new();
    for e in ctx(std::fs::read_dir(&dir), &dir, "cannot list")? {
        let e = ctx(e, &dir, "cannot list")?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue; // temp files of an interrupted journal write, abandoned records
        }
        let path = e.path();
        let text = read_bounded(&path, MAX_JOURNAL).map_err(|w| corrupt(&path, &name, &w))?;
        let j: Journal =
            serde_json::from_str(&text).map_err(|err| corrupt(&path, &name, &err.to_string()))?;
        validate(&j, seq_of(&name)).map_err(|w| corrupt(&path, &name, &w))?;
        out.push(j);
    }
    out.sort_by_key(|j| j.seq);
    Ok(out)
}

/// Set a record aside (renamed to `*.abandoned`, never deleted, the store kept): the way
/// out of a corrupt or unrecoverable journal. Returns what it says it would have
/// restored, when it can still be read.
pub fn abandon(root: &Path, id: &str) -> Result<Vec<String>, crate::DeployError> {
    let dir = root.join("journal");
    let seq: u64 = id.parse().map_err(|_| {
        crate::DeployError::Refused(format!("{id:?} is not a transaction id (a number)"))
    })?;
    let name = format!("{seq:06}.json");
    let path = dir.join(&name);
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(crate::DeployError::Refused(format!(
            "no transaction record {}",
            path.display()
        )));
    }
    let left: Vec<String> = read_bounded(&path, MAX_JOURNAL)
        .ok()
        .and_then(|t| serde_json::from_str::<Journal>(&t).ok())
        .map(|j| {
            j.ops
                .iter()
                .map(|o| o.path.clone())
                .chain(j.actions.iter().map(|a| match a {
                    Action::Tree { path, .. } => path.clone(),
                    Action::Groups { user, groups, .. } => {
                        format!("groups {} of {user}", groups.join(","))
                    }
                }))
                .collect()
        })
        .unwrap_or_default();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let to = dir.join(format!("{name}.abandoned-{stamp}"));
    ctx(std::fs::rename(&path, &to), &path, "cannot set aside")?;
    fsx::fsync_dir(&dir)?;
    Ok(left)
}
