//! Fetching sources: tarballs into the cache with resume and a sha256 check before
//! use, git commits, or a local directory (copied, never changed).

use crate::{BuildError, Event, Observer};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The largest download accepted when the recipe states no size.
pub const MAX_DOWNLOAD: u64 = 8 << 30;
/// Redirects followed at most.
pub const MAX_REDIRECTS: usize = 5;

/// What a download may do: where it may be redirected, how large it may be, how long a
/// silence lasts before it is given up.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Hosts a redirect may lead to besides the URL's own (the recipe's mirrors).
    pub hosts: Vec<String>,
    /// The body's size at most (the recipe's `size`, else [`MAX_DOWNLOAD`]).
    pub max_size: u64,
    /// A read that gets nothing for this long ends the download (it can be resumed).
    pub read_timeout: Duration,
    /// The whole request, body included, ends after this long.
    pub deadline: Duration,
}

impl Policy {
    /// For a recipe's source: its URL's and mirrors' hosts, its size.
    pub fn for_source(urls: &[String], size: Option<u64>) -> Policy {
        // RP_BUILD_READ_TIMEOUT_S shortens the silence allowed (tests use it).
        let read_timeout = std::env::var("RP_BUILD_READ_TIMEOUT_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(60));
        Policy {
            hosts: urls.iter().filter_map(|u| host_of(u)).collect(),
            max_size: size.unwrap_or(MAX_DOWNLOAD),
            read_timeout,
            deadline: Duration::from_secs(6 * 3600),
        }
    }
}

/// `host[:port]` of an http(s) URL.
fn host_of(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let auth = rest.split(['/', '?', '#']).next()?;
    let auth = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    (!auth.is_empty()).then(|| auth.to_ascii_lowercase())
}

/// sha256 of a file, streamed (rp-sys's hasher, the deploy engine's too).
pub fn sha256_file(p: &Path) -> Result<String, BuildError> {
    Ok(rp_sys::sha256_file(p)?.0)
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
    policy: &Policy,
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
        copy_local(Path::new(path), &part, policy, obs, cancel)?;
        Got::Downloaded
    } else if url.starts_with("http://") || url.starts_with("https://") {
        download(url, &part, policy, obs, cancel)?
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
    policy: &Policy,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<(Got, String, Vec<String>), BuildError> {
    let mut failed: Vec<String> = Vec::new();
    for url in urls {
        match tarball(url, sha256, dest, policy, obs, cancel) {
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
    policy: &Policy,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<(), BuildError> {
    let (mut f, len) = rp_sys::open_regular(src).map_err(|e| BuildError::Refused(e.to_string()))?;
    let mut out = File::create(part).map_err(|e| BuildError::io(part, "cannot create", e))?;
    copy_with_progress(
        &mut f,
        &mut out,
        0,
        Some(len),
        policy.max_size,
        part,
        obs,
        cancel,
    )
}

#[expect(clippy::too_many_arguments)]
fn copy_with_progress(
    r: &mut dyn Read,
    out: &mut File,
    mut done: u64,
    total: Option<u64>,
    max: u64,
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
        if done > max || total.is_some_and(|t| done > t) {
            let _ = std::fs::remove_file(part);
            return Err(BuildError::Refused(format!(
                "the download sent more than {} bytes: refused and removed",
                total.map_or(max, |t| t.min(max))
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
    policy: &Policy,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<Got, BuildError> {
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    // Redirects are followed here, not by the client: only to http(s), and only to the
    // URL's own host or one of the recipe's mirrors.
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(policy.read_timeout)
        .timeout(policy.deadline)
        .redirects(0)
        .user_agent(concat!("rocm-patch/", env!("CARGO_PKG_VERSION")))
        .build();
    let own = host_of(url).unwrap_or_default();
    let mut at = url.to_string();
    let mut hops = 0;
    let resp = loop {
        let mut req = agent.get(&at);
        if have > 0 {
            req = req.set("Range", &format!("bytes={have}-"));
        }
        let resp = match req.call() {
            Ok(r) => r,
            // The partial file is complete (or larger than the file): start again.
            Err(ureq::Error::Status(416, _)) => {
                let _ = std::fs::remove_file(part);
                return download(url, part, policy, obs, cancel);
            }
            Err(ureq::Error::Status(code, r)) if !(300..400).contains(&code) => {
                return Err(BuildError::Fetch(format!(
                    "{at}: HTTP {code} {}",
                    r.status_text()
                )))
            }
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(BuildError::Fetch(format!("{at}: {e}"))),
        };
        if !(300..400).contains(&resp.status()) {
            break resp;
        }
        let Some(next) = resp.header("Location").map(str::to_string) else {
            return Err(BuildError::Fetch(format!(
                "{at}: HTTP {} without a Location",
                resp.status()
            )));
        };
        // A relative Location stays on the same server.
        let next = if next.starts_with('/') {
            let base = at.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
            format!("{base}{next}")
        } else {
            next
        };
        let host = host_of(&next);
        let allowed = host
            .as_ref()
            .is_some_and(|h| *h == own || policy.hosts.contains(h));
        if !allowed {
            return Err(BuildError::Refused(format!(
                "{at} redirects to {next}: only to http(s) on {own} or a mirror the recipe lists; refused"
            )));
        }
        hops += 1;
        if hops > MAX_REDIRECTS {
            return Err(BuildError::Fetch(format!(
                "{url}: more than {MAX_REDIRECTS} redirects"
            )));
        }
        at = next;
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
    if total.is_some_and(|t| t > policy.max_size) {
        return Err(BuildError::Refused(format!(
            "{url}: {} bytes is more than the {} accepted",
            total.unwrap_or(0),
            policy.max_size
        )));
    }
    let mut reader = Watched::new(resp.into_reader(), policy.read_timeout);
    copy_with_progress(
        &mut reader,
        &mut out,
        start,
        total,
        policy.max_size,
        part,
        obs,
        cancel,
    )?;
    Ok(how)
}

/// A reader whose reads are done on a thread of their own, so that a read that gets
/// nothing for `silence` ends with an error here even when the socket's own timeout does
/// not fire (a server that sends headers and half a body, then nothing).
struct Watched {
    rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    silence: Duration,
    pending: Vec<u8>,
    done: bool,
}

impl Watched {
    fn new(mut r: Box<dyn Read + Send + Sync + 'static>, silence: Duration) -> Watched {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 256 << 10];
            loop {
                let res = r.read(&mut buf).map(|n| buf[..n].to_vec());
                let end = !matches!(&res, Ok(v) if !v.is_empty());
                if tx.send(res).is_err() || end {
                    break;
                }
            }
        });
        Watched {
            rx,
            silence,
            pending: Vec::new(),
            done: false,
        }
    }
}

impl Read for Watched {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() && !self.done {
            match self.rx.recv_timeout(self.silence) {
                Ok(Ok(v)) if v.is_empty() => self.done = true,
                Ok(Ok(v)) => self.pending = v,
                Ok(Err(e)) => return Err(e),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("nothing received for {} s", self.silence.as_secs()),
                    ))
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => self.done = true,
            }
        }
        let n = self.pending.len().min(out.len());
        out[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

fn git(args: &[&str], dir: &Path) -> Result<String, BuildError> {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0");
    // Through the one process runner (own process group, no input); a fetch may take
    // long, so no deadline. Output kept: a tree's status and diff, hashed for its
    // identity, up to 256 MiB each.
    let out = rp_sys::process::run_bounded(cmd, &rp_sys::process::Options::default(), 256 << 20)
        .map_err(|e| BuildError::Fetch(e.to_string()))?;
    if !out.ended.success() {
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
