//! [`SysRoot`]: the one place that maps machine paths to host paths and reads them.
//!
//! A machine is either this one (`/`) or a tree someone handed us (`--sysroot DIR`: a
//! capture, a test machine, a mounted disk). Every path the machine itself names — a
//! symbolic link target, `PATH`, `LD_LIBRARY_PATH`, a home directory from `/etc/passwd` —
//! is a *machine path* and is mapped below the root; symbolic links are resolved the way
//! the machine would resolve them (an absolute target starts at the root, `..` stops at
//! it), so nothing in the tree can send a read outside it. Every file read is bounded in
//! size and in time (see [`crate::Reader`]). Nothing here writes or executes.

use crate::read::{ReadError, Reader};
use std::ffi::OsString;
use std::fs::FileType;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// Most symbolic links followed while resolving one path (Linux's MAXSYMLINKS is 40).
const MAX_LINKS: u32 = 40;

/// Largest configuration or text file read outside sysfs (`/etc/passwd`, `pci.ids`,
/// `torch/version.py`, `ld.so.conf`…). `pci.ids` is about 1.4 MB today.
pub const MAX_TEXT: u64 = 8 << 20;

/// The root a machine is read from.
#[derive(Debug)]
pub struct SysRoot {
    dir: PathBuf,
    live: bool,
    reader: Reader,
}

/// Why a root cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// Not a directory.
    #[error("sysroot {0} is not a directory")]
    NotADirectory(String),
}

impl SysRoot {
    /// This machine, with `timeout` as the deadline for the first blocked read.
    pub fn live(timeout: Duration) -> SysRoot {
        SysRoot {
            dir: PathBuf::from("/"),
            live: true,
            reader: Reader::new("/", timeout),
        }
    }

    /// The machine below `dir` (`/` is this machine).
    pub fn open(dir: &Path, timeout: Duration) -> Result<SysRoot, RootError> {
        let real = std::fs::canonicalize(dir)
            .ok()
            .filter(|d| d.is_dir())
            .ok_or_else(|| RootError::NotADirectory(dir.display().to_string()))?;
        if real == Path::new("/") {
            return Ok(SysRoot::live(timeout));
        }
        Ok(SysRoot {
            reader: Reader::new(&real, timeout),
            dir: real,
            live: false,
        })
    }

    /// This machine (not a tree below a sysroot): only then may a program be run.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// The host directory of the root.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root as shown in reports (`/` for this machine).
    pub fn display(&self) -> String {
        self.dir.display().to_string()
    }

    /// The reader that enforces the deadlines (sysfs attributes and every other file).
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// The deadline of one read.
    pub fn timeout(&self) -> Duration {
        self.reader.timeout()
    }

    /// The host path of a machine path, lexically (`/opt/rocm` is `DIR/opt/rocm`); `..`
    /// never climbs above the root. Symbolic links are not followed: see [`Self::resolve`].
    pub fn host(&self, machine: impl AsRef<Path>) -> PathBuf {
        let mut out = self.dir.clone();
        let base_len = out.components().count();
        for c in machine.as_ref().components() {
            match c {
                Component::Normal(n) => out.push(n),
                Component::ParentDir if out.components().count() > base_len => {
                    out.pop();
                }
                _ => {}
            }
        }
        out
    }

    /// The machine path of a host path below the root (`DIR/usr/lib` is `/usr/lib`); a
    /// path outside it (a `--python` named on the command line) is shown as it is.
    pub fn machine(&self, host: &Path) -> String {
        if self.live {
            return host.display().to_string();
        }
        match host.strip_prefix(&self.dir) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => host.display().to_string(),
        }
    }

    /// A host path lies below the root.
    pub fn contains(&self, host: &Path) -> bool {
        self.live || host.starts_with(&self.dir)
    }

    /// Resolve every symbolic link in a host path the way the machine would. For a path
    /// below the root, an absolute link target starts at the root and `..` stops there;
    /// a path outside the root (named on the command line) resolves as on this host.
    /// `None` when a component is missing or links loop.
    pub fn resolve(&self, host: &Path) -> Option<PathBuf> {
        if self.live || !host.starts_with(&self.dir) {
            return std::fs::canonicalize(host).ok();
        }
        let rel = host.strip_prefix(&self.dir).ok()?;
        // Components still to walk, last first.
        let mut todo: Vec<OsString> = rel
            .components()
            .rev()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect();
        let mut cur = self.dir.clone();
        let base_len = cur.components().count();
        let mut links = 0;
        while let Some(name) = todo.pop() {
            if name == ".." {
                if cur.components().count() > base_len {
                    cur.pop();
                }
                continue;
            }
            let next = cur.join(&name);
            let md = std::fs::symlink_metadata(&next).ok()?;
            if !md.file_type().is_symlink() {
                cur = next;
                continue;
            }
            links += 1;
            if links > MAX_LINKS {
                return None;
            }
            let target = std::fs::read_link(&next).ok()?;
            if target.is_absolute() {
                cur = self.dir.clone();
            }
            for c in target.components().rev() {
                match c {
                    Component::Normal(n) => todo.push(n.to_os_string()),
                    Component::ParentDir => todo.push(OsString::from("..")),
                    _ => {}
                }
            }
        }
        Some(cur)
    }

    /// The type of what a host path resolves to.
    pub fn file_type(&self, host: &Path) -> Option<FileType> {
        self.metadata(host).map(|m| m.file_type())
    }

    /// Metadata of what a host path resolves to. On this machine (or for a path outside
    /// the root) the kernel follows the links; below a root they are resolved inside it.
    pub fn metadata(&self, host: &Path) -> Option<std::fs::Metadata> {
        if self.live || !host.starts_with(&self.dir) {
            return std::fs::metadata(host).ok();
        }
        std::fs::symlink_metadata(self.resolve(host)?).ok()
    }

    /// A directory (after resolving links inside the root).
    pub fn is_dir(&self, host: &Path) -> bool {
        self.file_type(host).is_some_and(|t| t.is_dir())
    }

    /// A regular file (after resolving links inside the root).
    pub fn is_file(&self, host: &Path) -> bool {
        self.file_type(host).is_some_and(|t| t.is_file())
    }

    /// A symbolic link itself (not followed).
    pub fn is_symlink(&self, host: &Path) -> bool {
        std::fs::symlink_metadata(host).is_ok_and(|m| m.file_type().is_symlink())
    }

    /// The entries of a directory as (name, host path below the directory as named),
    /// sorted by name; empty when it cannot be read.
    pub fn read_dir(&self, host: &Path) -> Vec<(String, PathBuf)> {
        let real = if self.live || !host.starts_with(&self.dir) {
            host.to_path_buf()
        } else {
            match self.resolve(host) {
                Some(r) => r,
                None => return Vec::new(),
            }
        };
        let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(real)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| {
                        let n = e.file_name();
                        (n.to_string_lossy().into_owned(), host.join(&n))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The target of a symbolic link (not resolved).
    pub fn read_link(&self, host: &Path) -> Option<PathBuf> {
        std::fs::read_link(host).ok()
    }

    /// Read a regular file as text, at most `cap` bytes (larger is an error), under the
    /// read deadline; a FIFO, a device or a directory is an error, never a hang.
    pub fn read_text(&self, host: &Path, cap: u64) -> Result<String, ReadError> {
        let real = if self.live || !host.starts_with(&self.dir) {
            host.to_path_buf()
        } else {
            self.resolve(host).ok_or(ReadError::NotFound)?
        };
        self.reader.file(&real, cap, &self.machine(host))
    }

    /// [`Self::read_text`] with [`MAX_TEXT`], `None` on any failure.
    pub fn text(&self, host: &Path) -> Option<String> {
        self.read_text(host, MAX_TEXT).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host").unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("opt/rocm-6.4.0/lib")).unwrap();
        std::fs::write(r.join("opt/rocm-6.4.0/lib/x"), "tree").unwrap();
        symlink("/opt/rocm-6.4.0", r.join("opt/rocm")).unwrap();
        symlink("../../../../../..", r.join("opt/up")).unwrap();
        symlink(outside.path(), r.join("opt/out")).unwrap();
        symlink("loop2", r.join("loop1")).unwrap();
        symlink("loop1", r.join("loop2")).unwrap();
        let s = SysRoot::open(r, Duration::from_secs(1)).unwrap();
        let real = s.resolve(&s.host("/opt/rocm/lib/x")).unwrap();
        assert_eq!(s.machine(&real), "/opt/rocm-6.4.0/lib/x");
        assert_eq!(s.text(&s.host("/opt/rocm/lib/x")).as_deref(), Some("tree"));
        // `..` stops at the root; an absolute link to a host directory stays inside.
        assert_eq!(s.resolve(&s.host("/opt/up")).unwrap(), s.dir());
        assert_eq!(s.text(&s.host("/opt/out/secret")), None);
        assert_eq!(s.resolve(&s.host("/loop1")), None);
        assert_eq!(s.host("/../../etc/passwd"), s.dir().join("etc/passwd"));
        assert_eq!(s.machine(&s.dir().join("usr/lib")), "/usr/lib");
    }

    #[test]
    fn reads_are_bounded() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::write(r.join("big"), vec![b'x'; 100]).unwrap();
        let fifo = r.join("fifo");
        rp_sys::os::mkfifo(&fifo, 0o600).unwrap();
        symlink("/dev/zero", r.join("zero")).unwrap();
        let s = SysRoot::open(r, Duration::from_millis(500)).unwrap();
        assert!(matches!(
            s.read_text(&r.join("big"), 10),
            Err(ReadError::Io(m)) if m.contains("larger than 10 bytes")
        ));
        let t = std::time::Instant::now();
        assert!(
            matches!(s.read_text(&fifo, 10), Err(ReadError::Io(m)) if m.contains("not a regular file"))
        );
        assert!(t.elapsed() < Duration::from_millis(400));
        // /dev/zero inside the tree is <root>/dev/zero: missing, not the host's.
        assert_eq!(s.read_text(&r.join("zero"), 10), Err(ReadError::NotFound));
    }
}
