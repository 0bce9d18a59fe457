//! Fetching sources: tarballs into the cache with resume and a sha256 check before
//! use, git commits, or a local directory (copied, never changed).

use crate::{BuildError, Event, Observer};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The largest download accepted.
pub const MAX_DOWNLOAD: u64 = 16 << 30;

/// sha256 of a file, streamed (the deploy engine's hasher).
pub fn sha256_file(p: &Path) -> Result<String, BuildError> {
    Ok(rp_deploy::sha256_file(p)?.0)
}

/// The cache file of a tarball: `<cache>/sources/<sha256>-<name>`.
pub fn cache_path(cache: &Path, url: &str, sha256: &str) -> PathBuf {
    let name = url
        .rsplit('/')
        .next()
        .unwrap_or("source")
        .split(['?', '#'])
        .next()
        .unwrap_or("source");
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    cache
        .join("sources")
        .join(format!("{}-{}", &sha256[..16], name))
}

/// How a tarball was obtained.
pub enum Got {
    /// Already in the cache (checksum verified).
    Cached,
    /// Downloaded from the start.
    Downloaded,
    /// Resumed from a partial download.
    Resumed(u64),
}

/// Fetch `url` into `dest` (a cache path), resuming `dest.part`; the sha256 is checked
/// before the file takes its final name. A mismatch removes the download.
pub fn tarball(
    url: &str,
    sha256: &str,
    dest: &Path,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<Got, BuildError> {
    if dest.is_file() {
        let got = sha256_file(dest)?;
        if got == sha256 {
            return Ok(Got::Cached);
        }
        // A cached file that no longer matches is not used.
        let _ = std::fs::remove_file(dest);
    }
    let dir = dest.parent().expect("cache path has a parent");
    std::fs::create_dir_all(dir).map_err(|e| BuildError::io(dir, "cannot create", e))?;
    let part = dest.with_extension("part");
    let how = if let Some(path) = url.strip_prefix("file://") {
        copy_local(Path::new(path), &part, obs, cancel)?;
        Got::Downloaded
    } else if url.starts_with("http://") || url.starts_with("https://") {
        download(url, &part, obs, cancel)?
    } else {
        return Err(BuildError::Refused(format!(
            "source URL {url}: only http://, https:// and file:// are fetched"
        )));
    };
    let got = sha256_file(&part)?;
    if got != sha256 {
        let _ = std::fs::remove_file(&part);
        return Err(BuildError::Checksum {
            url: url.to_string(),
            expected: sha256.to_string(),
            found: got,
        });
    }
    std::fs::rename(&part, dest).map_err(|e| BuildError::io(dest, "cannot rename into", e))?;
    Ok(how)
}

/// [`tarball`] from the first URL that answers: a download that fails (an HTTP error,
/// no connection) goes on with the next mirror, resuming what the last one sent; a
/// checksum mismatch or Ctrl-C stops at once. Returns how, the URL that served it, and
/// why the ones before it failed.
pub fn tarball_from(
    urls: &[String],
    sha256: &str,
    dest: &Path,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<(Got, String, Vec<String>), BuildError> {
    let mut failed: Vec<String> = Vec::new();
    for url in urls {
        match tarball(url, sha256, dest, obs, cancel) {
            Ok(got) => return Ok((got, url.clone(), failed)),
            Err(BuildError::Fetch(e)) if !cancel.load(std::sync::atomic::Ordering::Relaxed) => {
                failed.push(e)
            }
            Err(e) => return Err(e),
        }
    }
    Err(BuildError::Fetch(failed.join("; ")))
}

fn copy_local(
    src: &Path,
    part: &Path,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<(), BuildError> {
    let (mut f, len) = rp_machine::open_regular(src)
        .map_err(|e| BuildError::Refused(format!("{}: {e}", src.display())))?;
    let mut out = File::create(part).map_err(|e| BuildError::io(part, "cannot create", e))?;
    copy_with_progress(&mut f, &mut out, 0, Some(len), part, obs, cancel)
}

fn copy_with_progress(
    r: &mut dyn Read,
    out: &mut File,
    mut done: u64,
    total: Option<u64>,
    part: &Path,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<(), BuildError> {
    let mut buf = vec![0u8; 256 << 10];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(BuildError::Interrupted);
        }
        let n = r.read(&mut buf).map_err(|e| {
            BuildError::Fetch(format!(
                "reading the download into {} stopped after {done} bytes: {e} (run again to resume)",
                part.display()
            ))
        })?;
        if n == 0 {
            break;
        }
        done += n as u64;
        if done > MAX_DOWNLOAD {
            return Err(BuildError::Fetch(format!(
                "download larger than {MAX_DOWNLOAD} bytes refused"
            )));
        }
        out.write_all(&buf[..n])
            .map_err(|e| BuildError::io(part, "cannot write", e))?;
        obs.event(Event::Download { done, total });
    }
    out.sync_all()
        .map_err(|e| BuildError::io(part, "cannot write", e))?;
    if let Some(t) = total {
        if done < t {
            return Err(BuildError::Fetch(format!(
                "the download stopped at {done} of {t} bytes (kept in {}; run again to resume)",
                part.display()
            )));
        }
    }
    Ok(())
}

fn download(
    url: &str,
    part: &Path,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<Got, BuildError> {
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .user_agent(concat!("rocm-patch/", env!("CARGO_PKG_VERSION")))
        .build();
    let mut req = agent.get(url);
    if have > 0 {
        req = req.set("Range", &format!("bytes={have}-"));
    }
    let resp = match req.call() {
        Ok(r) => r,
        // The partial file is complete (or larger than the file): start again.
        Err(ureq::Error::Status(416, _)) => {
            let _ = std::fs::remove_file(part);
            return download(url, part, obs, cancel);
        }
        Err(ureq::Error::Status(code, r)) => {
            return Err(BuildError::Fetch(format!(
                "{url}: HTTP {code} {}",
                r.status_text()
            )))
        }
        Err(e) => return Err(BuildError::Fetch(format!("{url}: {e}"))),
    };
    let len: Option<u64> = resp.header("Content-Length").and_then(|v| v.parse().ok());
    let (mut out, start, how) = if have > 0 && resp.status() == 206 {
        let f = OpenOptions::new()
            .append(true)
            .open(part)
            .map_err(|e| BuildError::io(part, "cannot append to", e))?;
        (f, have, Got::Resumed(have))
    } else {
        let f = File::create(part).map_err(|e| BuildError::io(part, "cannot create", e))?;
        (f, 0, Got::Downloaded)
    };
    let total = len.map(|l| l + start);
    if total.is_some_and(|t| t > MAX_DOWNLOAD) {
        return Err(BuildError::Fetch(format!(
            "{url}: {} bytes is more than the {MAX_DOWNLOAD} accepted",
            total.unwrap_or(0)
        )));
    }
    let mut reader = resp.into_reader();
    copy_with_progress(&mut reader, &mut out, start, total, part, obs, cancel)?;
    Ok(how)
}

fn git(args: &[&str], dir: &Path) -> Result<String, BuildError> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BuildError::Fetch(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(BuildError::Fetch(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The git commands that check out `commit` of `url` in an empty directory, in order
/// (also what a dry run prints).
pub fn git_commands(
    url: &str,
    commit: &str,
    subdir: Option<&str>,
    submodules: bool,
) -> Vec<Vec<String>> {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut c = vec![v(&["init", "-q"])];
    if let Some(sd) = subdir {
        c.push(v(&["sparse-checkout", "set", "--no-cone", sd]));
    }
    c.push(v(&["fetch", "-q", "--depth", "1", url, commit]));
    c.push(v(&["checkout", "-q", "--detach", "FETCH_HEAD"]));
    if submodules {
        c.push(v(&[
            "submodule",
            "update",
            "-q",
            "--init",
            "--recursive",
            "--depth",
            "1",
        ]));
    }
    c
}

/// Check out `commit` of `url` into `dest` (created), optionally only `subdir`, with
/// submodules; the commit checked out is verified.
pub fn git_checkout(
    url: &str,
    commit: &str,
    subdir: Option<&str>,
    submodules: bool,
    dest: &Path,
) -> Result<(), BuildError> {
    std::fs::create_dir_all(dest).map_err(|e| BuildError::io(dest, "cannot create", e))?;
    let commands = git_commands(url, commit, subdir, submodules);
    let (checkout, after) = commands.split_at(commands.len() - usize::from(submodules));
    for c in checkout {
        git(&c.iter().map(String::as_str).collect::<Vec<_>>(), dest)?;
    }
    let head = git(&["rev-parse", "HEAD"], dest)?;
    if !head.eq_ignore_ascii_case(commit) {
        return Err(BuildError::Checksum {
            url: url.to_string(),
            expected: commit.to_string(),
            found: head,
        });
    }
    for c in after {
        git(&c.iter().map(String::as_str).collect::<Vec<_>>(), dest)?;
    }
    Ok(())
}

/// The identity of a local source directory: its git commit (with a hash of local
/// changes when there are any), else a sha256 over every file's path and content.
pub fn local_identity(dir: &Path) -> Result<String, BuildError> {
    if dir.join(".git").exists() {
        if let Ok(head) = git(&["rev-parse", "HEAD"], dir) {
            let status = git(&["status", "--porcelain=v1", "--untracked-files=all"], dir)?;
            if status.is_empty() {
                return Ok(format!("git {head}"));
            }
            let diff = git(&["diff", "HEAD"], dir)?;
            let mut h = Sha256::new();
            h.update(status.as_bytes());
            h.update(diff.as_bytes());
            // Untracked files count with their content.
            for line in status.lines().filter(|l| l.starts_with("?? ")) {
                let p = dir.join(&line[3..]);
                if p.is_file() {
                    h.update(sha256_file(&p)?.as_bytes());
                }
            }
            return Ok(format!(
                "git {head} with local changes sha256:{}",
                &format!("{:x}", h.finalize())[..16]
            ));
        }
    }
    let mut h = Sha256::new();
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() || e.file_type().is_symlink())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    for f in files {
        let rel = f.strip_prefix(dir).unwrap_or(&f);
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update([0]);
        if f.is_symlink() {
            let t = std::fs::read_link(&f).map_err(|e| BuildError::io(&f, "cannot read", e))?;
            h.update(t.as_os_str().as_encoded_bytes());
        } else {
            h.update(sha256_file(&f)?.as_bytes());
        }
        h.update([0]);
    }
    Ok(format!("tree sha256:{:x}", h.finalize()))
}

/// Copy a local source tree (without `.git`) into `dest`, keeping symlinks and modes.
pub fn copy_tree(src: &Path, dest: &Path) -> Result<(), BuildError> {
    for e in walkdir::WalkDir::new(src)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
    {
        let e = e.map_err(|e| BuildError::Refused(format!("{}: {e}", src.display())))?;
        let rel = e.path().strip_prefix(src).unwrap_or(e.path());
        let to = dest.join(rel);
        let ft = e.file_type();
        if ft.is_dir() {
            std::fs::create_dir_all(&to).map_err(|x| BuildError::io(&to, "cannot create", x))?;
        } else if ft.is_symlink() {
            let t = std::fs::read_link(e.path())
                .map_err(|x| BuildError::io(e.path(), "cannot read", x))?;
            std::os::unix::fs::symlink(&t, &to)
                .map_err(|x| BuildError::io(&to, "cannot create", x))?;
        } else if ft.is_file() {
            std::fs::copy(e.path(), &to).map_err(|x| BuildError::io(&to, "cannot copy to", x))?;
        }
    }
    Ok(())
}
