//! Safe wrappers over the libc calls the tool makes: identity, access(2), free space,
//! FIFOs, and signals to process groups.
#![expect(
    unsafe_code,
    reason = "the safe wrappers over libc live here; each call is commented"
)]

use std::ffi::CString;
use std::io;
use std::path::Path;

fn c_path(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the path"))
}

/// The real user id.
pub fn uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// The effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// The real group id.
pub fn gid() -> u32 {
    // SAFETY: getgid cannot fail.
    unsafe { libc::getgid() }
}

/// The supplementary groups of this process (getgroups(2)); empty when unknown.
pub fn groups() -> Vec<u32> {
    // SAFETY: the first call asks for the count, the second fills a buffer of that size.
    unsafe {
        let n = libc::getgroups(0, std::ptr::null_mut());
        if n <= 0 {
            return Vec::new();
        }
        let mut buf = vec![0 as libc::gid_t; n as usize];
        let m = libc::getgroups(n, buf.as_mut_ptr());
        if m <= 0 {
            return Vec::new();
        }
        buf.truncate(m as usize);
        buf
    }
}

/// What [`access`] asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read and write (a device node).
    ReadWrite,
    /// Write and search (a directory to create files in).
    WriteSearch,
}

/// access(2) for this process's real ids; false for a path it cannot name.
pub fn access(p: &Path, what: Access) -> bool {
    let Ok(c) = c_path(p) else { return false };
    let mode = match what {
        Access::ReadWrite => libc::R_OK | libc::W_OK,
        Access::WriteSearch => libc::W_OK | libc::X_OK,
    };
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), mode) == 0 }
}

/// Bytes free for an unprivileged user on the file system holding `p` (statvfs(3)).
pub fn free_bytes(p: &Path) -> Option<u64> {
    let c = c_path(p).ok()?;
    // SAFETY: a valid C string and a zeroed statvfs the call fills.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Make a FIFO at `p` (mkfifo(3)).
pub fn mkfifo(p: &Path, mode: u32) -> io::Result<()> {
    let c = c_path(p)?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), mode as libc::mode_t) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Send `sig` to process `pid` (kill(2)); a `pid` of 0 or less is refused (it would
/// name a group or every process).
pub fn kill(pid: u32, sig: i32) -> io::Result<()> {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return Err(io::ErrorKind::InvalidInput.into());
    };
    if pid <= 0 {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    // SAFETY: kill has no memory effects.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Send `sig` to the process group `pgid` (killpg(3)); async-signal-safe. A `pgid` of
/// 0 or less is refused (it would name this process's own group).
pub fn kill_group(pgid: i32, sig: i32) -> io::Result<()> {
    if pgid <= 0 {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    // SAFETY: kill has no memory effects.
    if unsafe { libc::kill(-pgid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_access() {
        let _ = (uid(), euid());
        let d = tempfile::tempdir().unwrap();
        assert!(access(d.path(), Access::WriteSearch));
        assert!(!access(&d.path().join("no"), Access::ReadWrite));
        assert!(free_bytes(d.path()).is_some());
        assert!(kill_group(0, libc::SIGKILL).is_err());
        assert!(kill(0, libc::SIGKILL).is_err());
        let _ = (gid(), groups());
    }
}
