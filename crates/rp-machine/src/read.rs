//! Reading files with a deadline.
//!
//! amdgpu attribute reads can block while a GPU is hung or resetting (docs/machine.md),
//! and any file can sit on a hung mount. Reads run on a helper thread that is reused
//! from one read to the next; when a read misses its deadline the caller gets
//! [`ReadError::Timeout`], the stuck thread is left behind (it cannot be cancelled, and
//! it ends with the process) and the next read starts a fresh one. After the first
//! timeout the remaining reads get a short deadline, so one hung GPU costs one full
//! timeout, not one per file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

/// Largest sysfs file read; sysfs attributes are at most one page (docs/machine.md).
const MAX_ATTR: u64 = 64 * 1024;

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The file does not exist.
    NotFound,
    /// Another I/O error (message).
    Io(String),
    /// The read did not finish in time.
    Timeout,
}

/// A blocked or failed read, kept for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadProblem {
    /// The path as seen on the machine (without the sysroot prefix).
    pub path: String,
    /// What went wrong.
    pub error: ReadError,
}

type Job = Box<dyn FnOnce() + Send>;

/// Reads files below a sysroot with a deadline per read.
#[derive(Debug)]
pub struct Reader {
    root: PathBuf,
    timeout: Duration,
    after_timeout: Duration,
    tripped: AtomicBool,
    /// Once a read has timed out, all later reads of the command share one more
    /// `timeout` in total (a hung GPU blocks every attribute: waiting 100 ms for each of
    /// hundreds would add up); when it is spent, reads fail at once.
    budget_end: Mutex<Option<std::time::Instant>>,
    problems: Mutex<Vec<ReadProblem>>,
    /// The helper thread's queue; `None` until the first read and after a timeout.
    worker: Mutex<Option<mpsc::Sender<Job>>>,
}

fn io_error(e: std::io::Error) -> ReadError {
    match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::NotFound,
        _ => ReadError::Io(e.to_string()),
    }
}

impl Reader {
    /// A reader for `root` (`/` for the live machine).
    pub fn new(root: impl Into<PathBuf>, timeout: Duration) -> Self {
        Reader {
            root: root.into(),
            timeout,
            after_timeout: timeout.min(Duration::from_millis(100)),
            tripped: AtomicBool::new(false),
            budget_end: Mutex::new(None),
            problems: Default::default(),
            worker: Mutex::new(None),
        }
    }

    /// The per-read deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn machine_path(&self, p: &Path) -> String {
        match p.strip_prefix(&self.root) {
            Ok(rel) if self.root != Path::new("/") => format!("/{}", rel.display()),
            _ => p.display().to_string(),
        }
    }

    /// Run `read` on the helper thread under the deadline; a timeout is recorded as a
    /// problem for `shown`.
    fn with_deadline<T: Send + 'static>(
        &self,
        shown: &str,
        read: impl FnOnce() -> Result<T, ReadError> + Send + 'static,
    ) -> Result<T, ReadError> {
        let deadline = if self.tripped.load(Ordering::Relaxed) {
            let end = *self.budget_end.lock().expect("budget lock");
            let left = end
                .map(|e| e.saturating_duration_since(std::time::Instant::now()))
                .unwrap_or(self.after_timeout);
            if left.is_zero() {
                self.problems
                    .lock()
                    .expect("problem list lock")
                    .push(ReadProblem {
                        path: shown.to_string(),
                        error: ReadError::Timeout,
                    });
                return Err(ReadError::Timeout);
            }
            self.after_timeout.min(left)
        } else {
            self.timeout
        };
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(read());
        });
        let mut worker = self.worker.lock().expect("reader worker lock");
        let job = match worker.as_ref() {
            Some(w) => w.send(job).err().map(|mpsc::SendError(j)| j),
            None => Some(job),
        };
        if let Some(job) = job {
            let (jtx, jrx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("deadline-read".into())
                .spawn(move || {
                    for j in jrx {
                        j();
                    }
                })
                .map_err(|e| ReadError::Io(format!("cannot start a reader thread: {e}")))?;
            jtx.send(job)
                .map_err(|_| ReadError::Io("the reader thread ended".into()))?;
            *worker = Some(jtx);
        }
        drop(worker);
        match rx.recv_timeout(deadline) {
            Ok(r) => r,
            Err(_) => {
                if !self.tripped.swap(true, Ordering::Relaxed) {
                    *self.budget_end.lock().expect("budget lock") =
                        Some(std::time::Instant::now() + self.timeout);
                }
                // That thread is stuck: the next read gets a new one.
                *self.worker.lock().expect("reader worker lock") = None;
                self.problems
                    .lock()
                    .expect("problem list lock")
                    .push(ReadProblem {
                        path: shown.to_string(),
                        error: ReadError::Timeout,
                    });
                Err(ReadError::Timeout)
            }
        }
    }

    /// Read a text attribute. Missing files are `Err(NotFound)` and are not recorded;
    /// other failures are recorded as problems.
    pub fn text(&self, p: &Path) -> Result<String, ReadError> {
        let owned = p.to_path_buf();
        let shown = self.machine_path(p);
        let result = self.with_deadline(&shown, move || {
            let f = std::fs::File::open(&owned).map_err(io_error)?;
            let mut s = Vec::new();
            f.take(MAX_ATTR).read_to_end(&mut s).map_err(io_error)?;
            Ok(String::from_utf8_lossy(&s).into_owned())
        });
        if let Err(ReadError::Io(_)) = &result {
            self.problems
                .lock()
                .expect("problem list lock")
                .push(ReadProblem {
                    path: shown,
                    error: result.clone().unwrap_err(),
                });
        }
        result
    }

    /// Read a regular file (not a sysfs attribute) of at most `cap` bytes under the
    /// deadline. It is opened without blocking and must be a regular file, so a FIFO, a
    /// device node or a directory is an error at once; a file over `cap` is an error, not
    /// a truncated read. `shown` is the path as the report names it.
    pub fn file(&self, p: &Path, cap: u64, shown: &str) -> Result<String, ReadError> {
        use std::os::unix::fs::OpenOptionsExt;
        // What is missing or not a regular file needs no helper thread (the directory
        // walks that found the path already looked at it from this thread).
        match std::fs::metadata(p) {
            Err(e) => return Err(io_error(e)),
            Ok(m) if !m.file_type().is_file() => {
                return Err(ReadError::Io("not a regular file".into()))
            }
            Ok(_) => {}
        }
        let owned = p.to_path_buf();
        let bytes = self.with_deadline(shown, move || {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
                .open(&owned)
                .map_err(io_error)?;
            let md = f.metadata().map_err(io_error)?;
            if !md.file_type().is_file() {
                return Err(ReadError::Io("not a regular file".into()));
            }
            let mut s = Vec::new();
            f.take(cap + 1).read_to_end(&mut s).map_err(io_error)?;
            if s.len() as u64 > cap {
                return Err(ReadError::Io(format!("larger than {cap} bytes")));
            }
            Ok(s)
        })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Read a text attribute, trimmed; `None` when missing or failed.
    pub fn attr(&self, p: &Path) -> Option<String> {
        self.text(p).ok().map(|s| s.trim().to_string())
    }

    /// Problems recorded so far.
    pub fn problems(&self) -> Vec<ReadProblem> {
        self.problems.lock().expect("problem list lock").clone()
    }
}

/// Parse `0x%04x`-style PCI attributes (docs/machine.md).
pub fn parse_hex(s: &str) -> Option<u32> {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u32::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex() {
        assert_eq!(parse_hex("0x731f\n"), Some(0x731f));
        assert_eq!(parse_hex("0xCA"), Some(0xca));
        assert_eq!(parse_hex("zz"), None);
    }

    #[test]
    fn a_blocking_read_times_out_and_later_reads_are_short() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("blocked");
        rp_sys::os::mkfifo(&fifo, 0o600).unwrap();
        let r = Reader::new(dir.path(), Duration::from_millis(300));
        let t = std::time::Instant::now();
        assert_eq!(r.text(&fifo), Err(ReadError::Timeout));
        assert!(t.elapsed() >= Duration::from_millis(300));
        let t = std::time::Instant::now();
        assert_eq!(r.text(&fifo), Err(ReadError::Timeout));
        assert!(t.elapsed() < Duration::from_millis(300));
        assert_eq!(r.problems().len(), 2);
        assert_eq!(r.problems()[0].path, "/blocked");
        assert_eq!(r.text(&dir.path().join("nope")), Err(ReadError::NotFound));
        assert_eq!(r.problems().len(), 2);
    }
}
