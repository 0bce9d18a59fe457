//! Opening and reading regular files without blocking: a FIFO, socket or device at a
//! path the tool keeps or edits is refused at once, never opened for a blocking read.

use std::path::{Path, PathBuf};

/// Why a file could not be opened or read, with its path.
#[derive(Debug)]
pub struct OpenError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: OpenErrorKind,
}

/// What went wrong opening or reading a file.
#[derive(Debug)]
pub enum OpenErrorKind {
    /// open(2) failed (`NotFound` included: see [`OpenError::is_not_found`]).
    Open(std::io::Error),
    /// fstat failed.
    Stat(std::io::Error),
    /// A FIFO, socket, device or directory.
    NotRegular,
    /// Larger than the caller reads ([`read_regular`]).
    TooLarge {
        /// Its size.
        len: u64,
        /// What the caller reads at most.
        cap: u64,
    },
    /// read(2) failed ([`read_regular`]).
    Read(std::io::Error),
}

impl OpenError {
    fn new(path: &Path, kind: OpenErrorKind) -> OpenError {
        OpenError {
            path: path.to_path_buf(),
            kind,
        }
    }

    /// The path does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(&self.kind, OpenErrorKind::Open(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

impl std::fmt::Display for OpenErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenErrorKind::Open(e) => write!(f, "cannot open: {e}"),
            OpenErrorKind::Stat(e) => write!(f, "cannot read: {e}"),
            OpenErrorKind::NotRegular => f.write_str("not a regular file"),
            OpenErrorKind::TooLarge { len, cap } => {
                write!(f, "{len} bytes, more than the {cap} read")
            }
            OpenErrorKind::Read(e) => write!(f, "cannot read: {e}"),
        }
    }
}

/// `PATH: what went wrong`.
impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.kind)
    }
}

impl std::error::Error for OpenError {}

/// Open a host file for reading without blocking (a FIFO opens at once) or following a
/// final symbolic link, and check that it is a regular file; with its size. Every reader
/// of a file the tool keeps or edits (journals, bench history, startup files, trace
/// records) starts here; what it then reads is bounded by the caller.
pub fn open_regular(p: &Path) -> Result<(std::fs::File, u64), OpenError> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(p)
        .map_err(|e| OpenError::new(p, OpenErrorKind::Open(e)))?;
    let md = f
        .metadata()
        .map_err(|e| OpenError::new(p, OpenErrorKind::Stat(e)))?;
    if !md.is_file() {
        return Err(OpenError::new(p, OpenErrorKind::NotRegular));
    }
    Ok((f, md.len()))
}

/// The bytes of a regular file of at most `cap` bytes, opened as [`open_regular`] opens
/// it (a FIFO or device is refused, never read).
pub fn read_regular(p: &Path, cap: u64) -> Result<Vec<u8>, OpenError> {
    use std::io::Read;
    let (f, len) = open_regular(p)?;
    if len > cap {
        return Err(OpenError::new(p, OpenErrorKind::TooLarge { len, cap }));
    }
    let mut buf = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| OpenError::new(p, OpenErrorKind::Read(e)))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_and_a_large_file_too() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        crate::os::mkfifo(&fifo, 0o600).unwrap();
        assert!(matches!(
            read_regular(&fifo, 10),
            Err(OpenError {
                kind: OpenErrorKind::NotRegular,
                ..
            })
        ));
        let f = d.path().join("f");
        std::fs::write(&f, b"hello").unwrap();
        assert_eq!(read_regular(&f, 5).unwrap(), b"hello");
        assert!(matches!(
            read_regular(&f, 4),
            Err(OpenError {
                kind: OpenErrorKind::TooLarge { len: 5, cap: 4 },
                ..
            })
        ));
        // The error names its file.
        assert_eq!(
            read_regular(&fifo, 10).unwrap_err().to_string(),
            format!("{}: not a regular file", fifo.display())
        );
        assert!(read_regular(&d.path().join("nope"), 4)
            .unwrap_err()
            .is_not_found());
    }
}
