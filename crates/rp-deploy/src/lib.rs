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
pub mod deps;
/// The durable file steps (rp-sys).
mod fsx {
    pub use rp_sys::durable::*;
    pub use rp_sys::hash::sha256_file;
}
mod journal;
pub mod plan;
pub mod tensile;

pub use actions::{members as group_members, MARKER};
pub use journal::{Action, Entry, Journal, Op, StateDir, TxState};
pub use plan::Step;
pub use rp_sys::PathError;

use fsx::{ctx, Found};
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

/// Trees that need `--system`.
const SYSTEM_PREFIXES: [&str; 7] = ["/usr", "/opt", "/lib", "/lib64", "/etc", "/bin", "/sbin"];

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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

/// The state of a path as a journal entry (hashing files).
fn entry_of(p: &Path) -> Result<Entry, DeployError> {
    Ok(match fsx::found(p)? {
        Found::Missing => Entry::Missing,
        Found::File { mode } => {
            let (sha256, size) = fsx::sha256_file(p)?;
            Entry::File { sha256, mode, size }
        }
        Found::Symlink(t) => Entry::Symlink { target: t },
        Found::Dir => Entry::Dir,
        Found::Other => {
            return Err(DeployError::Refused(format!(
                "{} is not a regular file, symlink or directory",
                p.display()
            )))
        }
    })
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

/// Test hook: abort the process after this many undone file operations of a rollback
/// (ROCM_PATCH_FAULT_AFTER_UNDO), to test recovery of an interrupted rollback at an exact
/// point.
fn undo_fault_point(done: usize) {
    if let Ok(v) = std::env::var("ROCM_PATCH_FAULT_AFTER_UNDO") {
        if v.parse::<usize>().ok() == Some(done) {
            std::process::abort();
        }
    }
}

fn tmp_for(path: &Path, seq: u64, i: usize) -> PathBuf {
    fsx::tmp_sibling(path, &format!("rp-tmp-{seq}-{i}"))
}

/// Apply one op (forward).
fn apply_op(op: &Op, seq: u64, i: usize) -> Result<(), DeployError> {
    let path = Path::new(&op.path);
    let dir = path.parent().unwrap_or(Path::new("/"));
    match &op.after {
        Entry::Dir => {
            if fsx::found(path)? != Found::Dir {
                ctx(std::fs::create_dir(path), path, "cannot create directory")?;
            }
            fsx::fsync_dir(dir)?;
        }
        Entry::File { mode, .. } => {
            let src = Path::new(op.source.as_deref().expect("file ops carry a source"));
            let tmp = tmp_for(path, seq, i);
            let _ = std::fs::remove_file(&tmp);
            fsx::write_new(src, &tmp, *mode).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })?;
            fsx::rename_into(&tmp, path)?;
        }
        Entry::Symlink { target } => {
            let tmp = tmp_for(path, seq, i);
            let _ = std::fs::remove_file(&tmp);
            ctx(
                std::os::unix::fs::symlink(target, &tmp),
                &tmp,
                "cannot create symlink",
            )?;
            fsx::rename_into(&tmp, path)?;
        }
        Entry::Missing => {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(PathError {
                        path: op.path.clone(),
                        what: "cannot remove",
                        err: e,
                    }
                    .into())
                }
                _ => {}
            }
            fsx::fsync_dir(dir)?;
        }
    }
    Ok(())
}

/// Put one path back to its `before` state. Idempotent.
fn restore_op(s: &StateDir, op: &Op, seq: u64, i: usize) -> Result<(), DeployError> {
    let path = Path::new(&op.path);
    let dir = path.parent().unwrap_or(Path::new("/"));
    // Leftovers of an interrupted write.
    let tmp = tmp_for(path, seq, i);
    if fsx::found(&tmp)? != Found::Missing {
        ctx(std::fs::remove_file(&tmp), &tmp, "cannot remove")?;
    }
    let now = fsx::found(path)?;
    match &op.before {
        Entry::Dir => {}
        Entry::Missing => match now {
            Found::Missing => {}
            Found::Dir => {
                // A directory this transaction made: remove it if it is empty again.
                if matches!(op.after, Entry::Dir) {
                    match std::fs::remove_dir(path) {
                        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {}
                        r => ctx(r, path, "cannot remove directory")?,
                    }
                }
            }
            _ => ctx(std::fs::remove_file(path), path, "cannot remove")?,
        },
        Entry::File { sha256, mode, .. } => {
            let same = matches!(now, Found::File { .. }) && &fsx::sha256_file(path)?.0 == sha256;
            if same {
                if now != (Found::File { mode: *mode }) {
                    ctx(
                        std::fs::set_permissions(
                            path,
                            std::os::unix::fs::PermissionsExt::from_mode(*mode),
                        ),
                        path,
                        "cannot set mode",
                    )?;
                }
            } else {
                s.check_blob(sha256, &op.path)?;
                // Unlink first: on a full disk this frees the space the copy needs.
                if now != Found::Missing {
                    ctx(std::fs::remove_file(path), path, "cannot remove")?;
                }
                fsx::write_new(&s.blob(sha256), &tmp, *mode)?;
                fsx::rename_into(&tmp, path)?;
            }
        }
        Entry::Symlink { target } => {
            if now != Found::Symlink(target.clone()) {
                if now != Found::Missing {
                    ctx(std::fs::remove_file(path), path, "cannot remove")?;
                }
                ctx(
                    std::os::unix::fs::symlink(target, path),
                    path,
                    "cannot create symlink",
                )?;
            }
        }
    }
    fsx::fsync_dir(dir)?;
    Ok(())
}

/// Every stored original a transaction would put back is there, unchanged: checked
/// before anything is restored, so a damaged store changes nothing.
fn verify_store(s: &StateDir, j: &Journal) -> Result<(), DeployError> {
    for op in &j.ops {
        if let Entry::File { sha256, .. } = &op.before {
            s.check_blob(sha256, &op.path)?;
        }
    }
    Ok(())
}

/// Undo a transaction: mark it rolling-back, restore every path in reverse, mark it
/// rolled back.
fn restore(s: &StateDir, j: &mut Journal, note: Option<String>) -> Result<(), DeployError> {
    j.state = TxState::RollingBack;
    s.write(j)?;
    for a in j.actions.iter().rev() {
        actions::undo(a, j.seq)?;
    }
    for (n, (i, op)) in j.ops.iter().enumerate().rev().enumerate() {
        restore_op(s, op, j.seq, i)?;
        undo_fault_point(n + 1);
    }
    j.state = TxState::RolledBack;
    if note.is_some() {
        j.note = note;
    }
    s.write(j)?;
    Ok(())
}

/// Does a path hold what the journal says it should after the transaction?
fn matches_after(op: &Op) -> Result<bool, DeployError> {
    let p = Path::new(&op.path);
    Ok(match (&op.after, fsx::found(p)?) {
        (Entry::Missing, Found::Missing) => true,
        (Entry::Dir, Found::Dir) => true,
        (Entry::Symlink { target }, Found::Symlink(t)) => &t == target,
        (Entry::File { sha256, mode, .. }, Found::File { mode: m }) => {
            m == *mode && &fsx::sha256_file(p)?.0 == sha256
        }
        _ => false,
    })
}

/// Refuse a target below a symbolic link inside the tree: the link could lead anywhere,
/// and the change would land outside the tree while the report names a path inside it.
/// Every existing directory between the tree and the target's parent is checked without
/// following links (the target itself may be a link: it is what gets replaced).
fn no_link_below(into: &Path, path: &Path) -> Result<(), DeployError> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    let Ok(rel) = parent.strip_prefix(into) else {
        return Err(DeployError::Refused(format!(
            "{} lies outside {}",
            path.display(),
            into.display()
        )));
    };
    let mut dir = into.to_path_buf();
    for c in rel.components() {
        dir.push(c);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(DeployError::Refused(format!(
                "{} is a symbolic link: {} would be changed wherever it leads, outside the tree",
                dir.display(),
                path.display()
            )))
            }
            Ok(_) => {}
            Err(_) => break, // missing from here down: created by the plan
        }
    }
    Ok(())
}

fn is_system(p: &Path) -> bool {
    // The root itself holds every system tree.
    p == Path::new("/")
        || SYSTEM_PREFIXES
            .iter()
            .any(|s| p.starts_with(s) && !p.starts_with("/usr/local/home"))
}

/// The check every command that deploys makes before it does anything else (a build
/// before its hour of compiling): the target tree exists, and a system tree (`/`, `/usr`,
/// `/opt`, …) is named with `--system`.
pub fn check_into(into: &Path, system: bool) -> Result<PathBuf, DeployError> {
    let real = ctx(into.canonicalize(), into, "cannot open the target tree")?;
    if !real.is_dir() {
        return Err(DeployError::Refused(format!(
            "{} is not a directory",
            real.display()
        )));
    }
    if is_system(&real) && !system {
        return Err(DeployError::Refused(format!(
            "{} is a system path: pass --system (and run with the permission to write there)",
            real.display()
        )));
    }
    Ok(real)
}

fn writable(dir: &Path) -> bool {
    rp_sys::os::access(dir, rp_sys::os::Access::WriteSearch)
}

/// Turn steps into journal ops by reading the current state of every target.
fn build_ops(s: &StateDir, into: &Path, steps: &[Step]) -> Result<Vec<Op>, DeployError> {
    let mut ops: Vec<Op> = Vec::new();
    let mut made_dirs: Vec<PathBuf> = Vec::new();
    for st in steps {
        let rel = match st {
            Step::File { target, .. } | Step::Symlink { target, .. } | Step::Remove { target } => {
                target
            }
        };
        plan::check_relative(rel).map_err(DeployError::Plan)?;
        let path = into.join(rel);
        no_link_below(into, &path)?;
        if ops.iter().any(|o| Path::new(&o.path) == path) {
            return Err(DeployError::Plan(format!(
                "{} appears twice in the plan",
                path.display()
            )));
        }
        // Parent directories to create (recorded, so rollback removes them).
        if !matches!(st, Step::Remove { .. }) {
            let mut missing = Vec::new();
            let mut d = path.parent();
            while let Some(dir) = d {
                if dir == into || !dir.starts_with(into) {
                    break;
                }
                match fsx::found(dir)? {
                    Found::Missing if !made_dirs.contains(&dir.to_path_buf()) => {
                        missing.push(dir.to_path_buf())
                    }
                    Found::Dir | Found::Missing => break,
                    _ => {
                        return Err(DeployError::Refused(format!(
                            "{} is in the way: not a directory",
                            dir.display()
                        )))
                    }
                }
                d = dir.parent();
            }
            for dir in missing.into_iter().rev() {
                made_dirs.push(dir.clone());
                ops.push(Op {
                    path: dir.display().to_string(),
                    before: Entry::Missing,
                    after: Entry::Dir,
                    source: None,
                });
            }
        }
        let before = entry_of(&path)?;
        if before == Entry::Dir {
            return Err(DeployError::Refused(format!(
                "{} is a directory; only files and symlinks are deployed",
                path.display()
            )));
        }
        let (after, source) = match st {
            Step::File { source, mode, .. } => {
                let md = ctx(std::fs::metadata(source), source, "cannot read the source")?;
                if !md.is_file() {
                    return Err(DeployError::Plan(format!(
                        "source {} is not a file",
                        source.display()
                    )));
                }
                let (sha256, size) = fsx::sha256_file(source)?;
                let mode = mode.unwrap_or(match &before {
                    Entry::File { mode, .. } => *mode,
                    _ => std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o7777,
                });
                (
                    Entry::File { sha256, mode, size },
                    Some(source.display().to_string()),
                )
            }
            Step::Symlink { to, .. } => (Entry::Symlink { target: to.clone() }, None),
            Step::Remove { .. } => {
                if before == Entry::Missing {
                    return Err(DeployError::Plan(format!(
                        "cannot remove {}: it does not exist",
                        path.display()
                    )));
                }
                (Entry::Missing, None)
            }
        };
        if before == after {
            continue; // already in place
        }
        ops.push(Op {
            path: path.display().to_string(),
            before,
            after,
            source,
        });
    }
    // Originals into the store before anything is touched.
    for op in &ops {
        if let Entry::File { sha256, .. } = &op.before {
            s.store(Path::new(&op.path), sha256)?;
        }
    }
    Ok(ops)
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
