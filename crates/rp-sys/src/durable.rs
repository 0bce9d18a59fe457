//! Durable file-system steps: temp file + fsync + rename + directory fsync, with errors
//! that name their path.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// An I/O error with the path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {what}: {err}")]
pub struct PathError {
    /// The path.
    pub path: String,
    /// The step that failed.
    pub what: &'static str,
    /// The cause (not a `source`: the message already carries it).
    pub err: io::Error,
}

/// Attach the path and the step to an I/O result.
pub fn ctx<T>(r: io::Result<T>, path: &Path, what: &'static str) -> Result<T, PathError> {
    r.map_err(|err| PathError {
        path: path.display().to_string(),
        what,
        err,
    })
}

/// fsync a directory so a rename or unlink in it is durable.
pub fn fsync_dir(d: &Path) -> Result<(), PathError> {
    if !d.exists() {
        // Nothing in it to make durable (a directory the transaction never created).
        return Ok(());
    }
    let f = ctx(File::open(d), d, "cannot open directory")?;
    ctx(f.sync_all(), d, "cannot sync directory")
}

/// Copy `src` to a new file `tmp` (which must not exist), fsync it and set `mode`.
pub fn write_new(src: &Path, tmp: &Path, mode: u32) -> Result<(), PathError> {
    let mut input = ctx(File::open(src), src, "cannot open")?;
    let mut out = ctx(
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp),
        tmp,
        "cannot create",
    )?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let k = ctx(input.read(&mut buf), src, "cannot read")?;
        if k == 0 {
            break;
        }
        ctx(out.write_all(&buf[..k]), tmp, "cannot write")?;
    }
    ctx(
        out.set_permissions(std::fs::Permissions::from_mode(mode)),
        tmp,
        "cannot set mode",
    )?;
    ctx(out.sync_all(), tmp, "cannot sync")
}

/// Write bytes to `path` atomically: `path.tmp`, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PathError> {
    let tmp = tmp_sibling(path, "tmp");
    let _ = std::fs::remove_file(&tmp);
    {
        let mut f = ctx(
            OpenOptions::new().write(true).create_new(true).open(&tmp),
            &tmp,
            "cannot create",
        )?;
        ctx(f.write_all(bytes), &tmp, "cannot write")?;
        ctx(f.sync_all(), &tmp, "cannot sync")?;
    }
    rename_into(&tmp, path)
}

/// `.<name>.<tag>` next to `path`.
pub fn tmp_sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{tag}"))
}

/// What is at a path, without following a final symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Nothing.
    Missing,
    /// A regular file with these permission bits.
    File {
        /// `st_mode & 0o7777`.
        mode: u32,
    },
    /// A symbolic link to this target.
    Symlink(String),
    /// A directory.
    Dir,
    /// A FIFO, socket or device.
    Other,
}

/// What is at `p` (see [`Found`]).
pub fn found(p: &Path) -> Result<Found, PathError> {
    match std::fs::symlink_metadata(p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Found::Missing),
        Err(e) => Err(PathError {
            path: p.display().to_string(),
            what: "cannot stat",
            err: e,
        }),
        Ok(m) if m.file_type().is_symlink() => Ok(Found::Symlink(
            ctx(std::fs::read_link(p), p, "cannot read link")?
                .to_string_lossy()
                .into_owned(),
        )),
        Ok(m) if m.is_file() => Ok(Found::File {
            mode: m.mode() & 0o7777,
        }),
        Ok(m) if m.is_dir() => Ok(Found::Dir),
        Ok(_) => Ok(Found::Other),
    }
}

/// Rename a finished temporary file (or link) over `path` and make it durable.
pub fn rename_into(tmp: &Path, path: &Path) -> Result<(), PathError> {
    ctx(std::fs::rename(tmp, path), path, "cannot rename into place")?;
    fsync_dir(path.parent().unwrap_or(Path::new("/")))
}
