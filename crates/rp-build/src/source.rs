//! The fetch stage: the source's identity, how it is planned to be got, and getting it
//! into a fresh tree in the build directory (a downloaded tarball unpacked, a git
//! checkout, or a copy of a local checkout). The downloads themselves are
//! [`crate::fetch`]'s.

use crate::{fetch, read_bounded, sha_hex, shell_join, unpack};
use crate::{BuildError, Event, Observer, Request};
use rp_report::{SourceKind, SourceReport, SourceState};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// What the fetch stage did: the report's source is the plan with these filled in.
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    /// The source's identity, once known.
    pub identity: Option<String>,
    /// How the source was got; `None` while it is still as planned.
    pub state: Option<SourceState>,
    /// The mirror the tarball came from, when not the recipe's URL.
    pub mirror: Option<String>,
    /// Mirrors that failed before one served the tarball.
    pub notes: Vec<String>,
}

impl Fetched {
    /// The planned source with what the stage did.
    pub fn apply_to(&self, planned: &mut SourceReport) {
        if let Some(i) = &self.identity {
            planned.identity = i.clone();
        }
        if let Some(m) = &self.mirror {
            planned.location = m.clone();
        }
        if let Some(s) = self.state {
            planned.state = s;
        }
    }
}

/// Which source (and patch set, GPU and options) the tree in the build directory holds.
#[derive(serde::Serialize, serde::Deserialize, PartialEq)]
struct SourceStamp {
    key: String,
    identity: String,
}

/// The source, as planned: where it comes from and the commands that get it into
/// `src_root`.
pub(crate) fn planned(req: &Request, src_root: &Path) -> SourceReport {
    let r = &req.recipe.recipe;
    let tarball_cache = r
        .source
        .url
        .as_ref()
        .map(|u| fetch::cache_path(&req.cache, u, r.source.sha256.as_deref().unwrap_or("")));
    let unpack_to = src_root.display().to_string();
    match (&req.source, &r.source.url, &r.source.git) {
        (Some(dir), _, _) => SourceReport {
            kind: SourceKind::Local,
            location: dir.display().to_string(),
            state: SourceState::Planned,
            commands: vec![format!(
                "copy {} (without .git) to {unpack_to}; record its commit or a hash of its files",
                dir.display()
            )],
            ..Default::default()
        },
        (None, Some(u), _) => {
            let cache = tarball_cache
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            SourceReport {
                kind: SourceKind::Tarball,
                location: u.clone(),
                identity: format!("sha256:{}", r.source.sha256.as_deref().unwrap_or_default()),
                cached: Some(cache.clone()),
                state: SourceState::Planned,
                commands: vec![
                    format!("download {u} to {cache}.part (resumed with a Range request)"),
                    format!(
                        "check sha256 {}, then rename to {cache}",
                        r.source.sha256.as_deref().unwrap_or_default()
                    ),
                    format!(
                        "unpack into {unpack_to}, without the first {} director{} of each entry",
                        r.source.strip.unwrap_or(1),
                        if r.source.strip.unwrap_or(1) == 1 {
                            "y"
                        } else {
                            "ies"
                        }
                    ),
                ],
            }
        }
        (None, None, Some(g)) => SourceReport {
            kind: SourceKind::Git,
            location: g.clone(),
            identity: format!("commit {}", r.source.commit.as_deref().unwrap_or_default()),
            state: SourceState::Planned,
            commands: fetch::git_commands(
                g,
                r.source.commit.as_deref().unwrap_or_default(),
                r.source.subdir.as_deref(),
                r.source.submodules,
            )
            .iter()
            .map(|c| format!("(in {unpack_to}) git {}", shell_join(c)))
            .collect(),
            ..Default::default()
        },
        _ => unreachable!("validated recipes have a source"),
    }
}

/// The source's identity: the local checkout's commit or a hash of its files, the
/// tarball's sha256, or the git commit.
pub(crate) fn identity(req: &Request) -> Result<String, BuildError> {
    let r = &req.recipe.recipe;
    Ok(match (&req.source, &r.source.url, &r.source.git) {
        (Some(dir), _, _) => {
            if !dir.is_dir() {
                return Err(BuildError::Refused(format!(
                    "--source {}: not a directory",
                    dir.display()
                )));
            }
            fetch::local_identity(dir)?
        }
        (None, Some(_), _) => format!("sha256:{}", r.source.sha256.as_deref().unwrap_or("")),
        (None, None, Some(_)) => format!("commit {}", r.source.commit.as_deref().unwrap_or("")),
        _ => unreachable!(),
    })
}

/// The key of the patched tree: the source's identity, the patches, the GPU and options.
pub(crate) fn key(req: &Request, identity: &str, patch_bytes: &[(String, Vec<u8>)]) -> String {
    let mut parts: Vec<&[u8]> = vec![
        identity.as_bytes(),
        req.gpu.as_bytes(),
        req.recipe
            .recipe
            .source
            .subdir
            .as_deref()
            .unwrap_or("")
            .as_bytes(),
    ];
    for (f, b) in patch_bytes {
        parts.push(f.as_bytes());
        parts.push(b);
    }
    let with = req.with.join(",");
    parts.push(with.as_bytes());
    sha_hex(&parts)
}

/// The tree in `work` was made from the source and patches of `key`.
pub(crate) fn is_current(work: &Path, key: &str) -> bool {
    let old: Option<SourceStamp> = read_bounded(&work.join("source.json"), 64 << 10)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    old.as_ref().is_some_and(|o| o.key == key)
}

/// A different source, patch set, GPU or option: start from scratch (the tree, the
/// build tree, the step stamps, the source stamp and any half-made tree go).
pub(crate) fn clear(work: &Path, src_root: &Path) -> Result<(), BuildError> {
    for d in [
        src_root.to_path_buf(),
        work.join("build"),
        work.join("stamps"),
    ] {
        if d.exists() {
            std::fs::remove_dir_all(&d).map_err(|e| BuildError::io(&d, "cannot remove", e))?;
        }
    }
    let _ = std::fs::remove_file(work.join("source.json"));
    let tmp = work.join("src.tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| BuildError::io(&tmp, "cannot remove", e))?;
    }
    Ok(())
}

/// Get the source into `tmp`: a copy of `--source`, the tarball (from the cache, else
/// downloaded from the URL or a mirror) unpacked, or a git checkout.
pub(crate) fn fetch_into(
    req: &Request,
    tmp: &Path,
    fetched: &mut Fetched,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<(), BuildError> {
    let r = &req.recipe.recipe;
    match (&req.source, &r.source.url, &r.source.git) {
        (Some(dir), _, _) => {
            // A checkout of the whole repository, or of the project alone (the
            // recipe's `subdir` of a monorepo).
            let to = match &r.source.subdir {
                Some(sd) if !dir.join(sd).is_dir() => tmp.join(sd),
                _ => tmp.to_path_buf(),
            };
            fetch::copy_tree(dir, &to)?;
            fetched.state = Some(SourceState::Local);
        }
        (None, Some(url), _) => fetch_tarball(req, url, tmp, fetched, obs, cancel)?,
        (None, None, Some(g)) => {
            fetch::git_checkout(
                g,
                r.source.commit.as_deref().unwrap_or(""),
                r.source.subdir.as_deref(),
                r.source.submodules,
                tmp,
            )?;
            fetched.state = Some(SourceState::Downloaded);
        }
        _ => unreachable!(),
    }
    Ok(())
}

/// The tarball from the cache, else downloaded (resumed) from `url` or a mirror,
/// unpacked into `tmp`.
fn fetch_tarball(
    req: &Request,
    url: &String,
    tmp: &Path,
    fetched: &mut Fetched,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<(), BuildError> {
    let r = &req.recipe.recipe;
    let sha = r.source.sha256.as_deref().unwrap_or("");
    let cached = fetch::cache_path(&req.cache, url, sha);
    let mut urls = vec![url.clone()];
    urls.extend(r.source.mirrors.iter().cloned());
    let policy = fetch::Policy::for_source(&urls, r.source.size);
    let (got, from, failed) = fetch::tarball_from(&urls, sha, &cached, &policy, obs, cancel)?;
    if &from != url {
        fetched.mirror = Some(from.clone());
    }
    for f in failed {
        fetched
            .notes
            .push(format!("{f}; fetched from the next mirror"));
    }
    fetched.state = Some(match got {
        fetch::Got::Cached => SourceState::Cached,
        fetch::Got::Downloaded => SourceState::Downloaded,
        fetch::Got::Resumed(n) => SourceState::Resumed(n),
    });
    obs.event(Event::Phase("unpacking"));
    unpack::unpack(&cached, tmp, r.source.strip.unwrap_or(1), cancel)?;
    Ok(())
}

/// Record that the tree in `work` holds the source and patches of `key`.
pub(crate) fn write_stamp(work: &Path, key: &str, identity: &str) -> Result<(), BuildError> {
    let stamp_path = work.join("source.json");
    let stamp = SourceStamp {
        key: key.to_string(),
        identity: identity.to_string(),
    };
    std::fs::write(
        &stamp_path,
        serde_json::to_vec(&stamp).expect("serialisable"),
    )
    .map_err(|e| BuildError::io(&stamp_path, "cannot write", e))
}

/// Most files a `--source` tree may hold (PyTorch with its submodules has about 120,000).
pub const MAX_SOURCE_FILES: u64 = 1_000_000;
/// Most bytes a `--source` tree may hold.
pub const MAX_SOURCE_BYTES: u64 = 64 << 30;

/// Refuse a `--source` tree that is not a project before anything reads it whole: the
/// root directory, the build cache (or a tree holding it), or a tree over
/// [`MAX_SOURCE_FILES`] files or [`MAX_SOURCE_BYTES`] bytes (counted, stopping at the
/// limit: nothing is hashed).
pub fn check_source(src: &Path, cache: &Path) -> Result<(), BuildError> {
    let real = src
        .canonicalize()
        .map_err(|e| BuildError::io(src, "cannot open", e))?;
    if real.parent().is_none() {
        return Err(BuildError::Refused(
            "the root directory is not a source tree".into(),
        ));
    }
    if let Ok(c) = cache.canonicalize() {
        if real.starts_with(&c) || c.starts_with(&real) {
            return Err(BuildError::Refused(format!(
                "it is, or holds, the build cache {}",
                c.display()
            )));
        }
    }
    let (mut files, mut bytes) = (0u64, 0u64);
    for e in walkdir::WalkDir::new(&real).follow_links(false) {
        let Ok(e) = e else { continue };
        if e.file_type().is_file() {
            files += 1;
            bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            if files > MAX_SOURCE_FILES || bytes > MAX_SOURCE_BYTES {
                return Err(BuildError::Refused(format!(
                    "more than {MAX_SOURCE_FILES} files or {MAX_SOURCE_BYTES} bytes: not a project's source tree"
                )));
            }
        }
    }
    Ok(())
}
