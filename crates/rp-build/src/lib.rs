//! `rocm-patch build`: source builds from recipes (TOML data in the knowledge base,
//! `docs/build.md`). Preflight first; the source is fetched into a cache (resumed,
//! sha256-checked before use) or copied from a local checkout; patches are applied only
//! after the upstream files they touch match their recorded sha256; each step logs to
//! its own file and is skipped on a later run while its inputs are unchanged; the
//! install is checked with inspect; `--deploy-into` installs the result as one deploy
//! transaction. Nothing outside the build directory, the cache and the prefix is
//! touched before the deploy. Never prints: progress goes to an [`Observer`].

mod deploy;
pub mod fetch;
mod patch;
mod plan;
pub mod preflight;
pub mod recipe;
pub mod run;
mod show;
mod source;
mod steps;
pub mod toolchain;
pub mod unpack;
mod vars;
mod verify;

pub use deploy::deploy_steps;
pub use show::{show, summary};
pub use source::{check_source, MAX_SOURCE_BYTES, MAX_SOURCE_FILES};
pub use vars::Vars;

use plan::Plan;
use recipe::Loaded;
use rp_report::{BuildOutcome, BuildReport, PreflightItem, SourceState, StepState, SCHEMA};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Why a build could not go on.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A recipe is malformed or missing.
    #[error("{0}")]
    Recipe(String),
    /// An I/O step failed (the path is named).
    #[error(transparent)]
    Io(#[from] rp_sys::PathError),
    /// Refused, with the reason.
    #[error("{0}")]
    Refused(String),
    /// A download failed.
    #[error("{0}")]
    Fetch(String),
    /// The source is not what the recipe pins.
    #[error("checksum mismatch for {url}: the recipe pins {expected}, the download is {found}; nothing was unpacked or run")]
    Checksum {
        /// The URL.
        url: String,
        /// The pinned sha256 or commit.
        expected: String,
        /// What arrived.
        found: String,
    },
    /// An upstream file a patch touches changed.
    #[error("patch {patch}: upstream file {file} changed (sha256 {found}, the patch was made against {expected}); no patch was applied and nothing was built")]
    UpstreamChanged {
        /// The patch.
        patch: String,
        /// The file.
        file: String,
        /// The recorded sha256.
        expected: String,
        /// The file's sha256 now (or `missing`).
        found: String,
    },
    /// A patch did not apply.
    #[error("patch {patch} did not apply: {detail}")]
    PatchFailed {
        /// The patch.
        patch: String,
        /// patch's output.
        detail: String,
    },
    /// Ctrl-C.
    #[error("interrupted")]
    Interrupted,
}

impl BuildError {
    /// An I/O error on a path.
    pub fn io(p: &Path, what: &'static str, err: std::io::Error) -> BuildError {
        BuildError::Io(rp_sys::PathError {
            path: p.display().to_string(),
            what,
            err,
        })
    }
}

/// Read a regular file of at most `max` bytes (no FIFO, no device, no symlink loop).
pub fn read_bounded(p: &Path, max: u64) -> Result<Vec<u8>, BuildError> {
    rp_sys::read_regular(p, max).map_err(|e| match e.kind {
        rp_sys::OpenErrorKind::TooLarge { len, .. } => BuildError::Recipe(format!(
            "{}: {len} bytes, more than the {max} accepted",
            p.display()
        )),
        rp_sys::OpenErrorKind::Read(err) => BuildError::io(p, "cannot read", err),
        _ => BuildError::Recipe(e.to_string()),
    })
}

/// What happens, for a progress line.
pub enum Event<'a> {
    /// A phase begins: `fetching`, `unpacking`, `patching`, `verifying`.
    Phase(&'a str),
    /// Bytes downloaded so far.
    Download {
        /// Bytes so far.
        done: u64,
        /// Expected total.
        total: Option<u64>,
    },
    /// A step starts.
    StepStart {
        /// 1-based.
        index: usize,
        /// Steps in all.
        count: usize,
        /// Its name.
        name: &'a str,
        /// Its log.
        log: &'a Path,
    },
    /// The build tool reported N/M (or a percentage as N/100).
    StepProgress {
        /// Done.
        done: u64,
        /// Total.
        total: u64,
    },
    /// About twice a second while a step runs.
    Tick,
    /// A step ended (or was skipped).
    StepEnd {
        /// Its name.
        name: &'a str,
        /// `ran`, `skipped`, `failed`, `interrupted`.
        state: StepState,
    },
}

/// Receives progress.
pub trait Observer {
    /// One event.
    fn event(&mut self, e: Event<'_>);
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {
    fn event(&mut self, _: Event<'_>) {}
}

/// A shell word, quoted when it needs to be.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%^".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A command line, quoted for a shell.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// GPU targets of one file in an inspect report.
pub fn targets_of(r: &rp_report::InspectReport, path: &Path) -> Vec<String> {
    let mut t: Vec<String> = r
        .files
        .iter()
        .filter(|f| Path::new(&f.path) == path)
        .flat_map(|f| f.code_objects.iter().map(|c| c.target_id.clone()))
        .collect();
    t.sort();
    t.dedup();
    t
}

/// What `build` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    /// The recipe.
    pub recipe: Loaded,
    /// `{gpu}`.
    pub gpu: String,
    /// Where the GPU came from.
    pub gpu_from: String,
    /// `--prefix` (default: `prefix` in the build directory).
    pub prefix: Option<PathBuf>,
    /// `{jobs}`.
    pub jobs: u32,
    /// `--source DIR`.
    pub source: Option<PathBuf>,
    /// `--with` options.
    pub with: Vec<String>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// The cache (downloads under `sources/`, build directories under `build/`).
    pub cache: PathBuf,
    /// The environment steps start from.
    pub env: BTreeMap<String, String>,
}

/// One install command per distribution for the packages of every failed check, in
/// the order they were checked: `debian: apt install ...`.
pub fn install_commands(items: &[rp_report::PreflightItem]) -> Vec<String> {
    let mut per: Vec<(&str, &str, Vec<String>)> = vec![
        ("debian", "apt install", Vec::new()),
        ("fedora", "dnf install", Vec::new()),
        ("arch", "pacman -S --needed", Vec::new()),
    ];
    for i in items.iter().filter(|i| !i.ok) {
        for p in &i.packages {
            let Some((d, names)) = p.split_once(": ") else {
                continue;
            };
            if let Some((_, _, v)) = per.iter_mut().find(|(x, _, _)| *x == d) {
                for n in names.split_whitespace() {
                    if !v.iter().any(|x| x == n) {
                        v.push(n.to_string());
                    }
                }
            }
        }
    }
    per.into_iter()
        .filter(|(_, _, v)| !v.is_empty())
        .map(|(d, cmd, v)| format!("{d}: {cmd} {}", v.join(" ")))
        .collect()
}

/// The sha256 of length-prefixed parts: the key of a source tree or of a step.
fn sha_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    format!("{:x}", h.finalize())
}

/// The outputs of a request: those without an option, and those of its options.
pub fn active_outputs(req: &Request) -> Vec<&recipe::Output> {
    req.recipe
        .recipe
        .outputs
        .iter()
        .filter(|o| o.with.as_ref().is_none_or(|w| req.with.contains(w)))
        .collect()
}

/// The build directory of a request.
pub fn work_dir(req: &Request) -> PathBuf {
    req.cache.join("build").join(format!(
        "{}-{}-{}",
        req.recipe.recipe.name, req.recipe.recipe.version, req.gpu
    ))
}

/// What the stages did, as typed state; the report is built from it (and the plan) at
/// the end.
#[derive(Default)]
struct Progress {
    source: source::Fetched,
    patches: patch::Patched,
    steps: Vec<steps::StepRun>,
    outputs: Vec<verify::Verified>,
    notes: Vec<String>,
}

/// Run (or, with `dry_run`, plan) a build. Bad input (an unknown `--with`, a recipe
/// whose templates do not fill) is an error; everything else is in the report's
/// `outcome` and `error`.
pub fn build(
    req: &Request,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    plan::check_request(req)?;
    let plan = plan::plan(req)?;
    let preflight = plan::preflight_items(req, &plan);
    let mut done = Progress::default();
    let (outcome, error) = if req.dry_run {
        done.notes.extend(plan::dry_run_note(&preflight));
        (BuildOutcome::Planned, None)
    } else if let Some(e) = plan::preflight_error(&preflight) {
        (BuildOutcome::PreflightFailed, Some(e))
    } else {
        execute(req, &plan, &mut done, obs, cancel)?
    };
    let mut rep = report(req, &plan, &preflight, &done);
    rep.outcome = outcome;
    rep.error = error;
    rep.seconds = started.elapsed().as_secs_f64();
    Ok(rep)
}

/// Run the stages, then verify: the outcome and what stopped the build. A recipe error
/// is an error.
fn execute(
    req: &Request,
    plan: &Plan,
    done: &mut Progress,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<(BuildOutcome, Option<String>), BuildError> {
    match run_stages(req, plan, done, obs, cancel) {
        Ok(()) => {}
        // A git or patch child that Ctrl-C stopped fails with its own words: the cause
        // is the interruption.
        Err(BuildError::Interrupted)
        | Err(BuildError::Fetch(_) | BuildError::PatchFailed { .. })
            if cancel.load(std::sync::atomic::Ordering::Relaxed) =>
        {
            return Ok((
                BuildOutcome::Interrupted,
                Some("interrupted (Ctrl-C); run the same command again to resume".into()),
            ))
        }
        Err(e @ BuildError::Recipe(_)) => return Err(e),
        Err(e) => {
            let outcome = match &e {
                BuildError::Checksum { .. } | BuildError::UpstreamChanged { .. } => {
                    BuildOutcome::Refused
                }
                _ => BuildOutcome::Failed,
            };
            return Ok((outcome, Some(e.to_string())));
        }
    }
    if let Some(e) = failed_step(req, plan, done) {
        return Ok((BuildOutcome::Failed, Some(e)));
    }
    obs.event(Event::Phase("verifying"));
    done.outputs = verify::verify(req, &plan.vars);
    if let Some(bad) = done.outputs.iter().find(|o| !o.ok) {
        return Ok((
            BuildOutcome::Unverified,
            Some(bad.problem.clone().unwrap_or_default()),
        ));
    }
    Ok((BuildOutcome::Ok, None))
}

/// The error of the step that failed, if one did.
fn failed_step(req: &Request, plan: &Plan, done: &Progress) -> Option<String> {
    let (def, run) = req
        .recipe
        .recipe
        .steps
        .iter()
        .zip(&done.steps)
        .find(|(_, s)| s.state == StepState::Failed)?;
    Some(format!(
        "step {} failed ({}); whole log: {}",
        def.name,
        run.status.clone().unwrap_or_default(),
        steps::log_path(&plan.work, &def.name).display()
    ))
}

/// The stages of a real run: the build directory locked, the patched source tree
/// reused or made afresh (fetch, then patch), then the steps.
fn run_stages(
    req: &Request,
    plan: &Plan,
    done: &mut Progress,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<(), BuildError> {
    let work = &plan.work;
    std::fs::create_dir_all(work).map_err(|e| BuildError::io(work, "cannot create", e))?;
    let _lock = lock(work)?;
    // The source's identity: what was fetched, the patches, the GPU and options.
    let identity = source::identity(req)?;
    let patch_bytes = patch::load(req, &plan.selected)?;
    let key = source::key(req, &identity, &patch_bytes);
    done.source.identity = Some(identity.clone());
    if source::is_current(work, &key) && plan.src.is_dir() {
        done.source.state = Some(SourceState::Cached);
        done.patches.already_applied = true;
    } else {
        let tree = Tree {
            identity: &identity,
            key: &key,
            patch_bytes: &patch_bytes,
        };
        fresh_tree(req, plan, &tree, done, obs, cancel)?;
    }
    steps::run_all(
        req,
        &plan.vars,
        work,
        key,
        &plan.steps,
        &mut done.steps,
        obs,
        cancel,
    )
}

/// One build per directory at a time: the lock is held while the returned file is open.
fn lock(work: &Path) -> Result<std::fs::File, BuildError> {
    let lock_path = work.join(".lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| BuildError::io(&lock_path, "cannot create", e))?;
    if lock.try_lock().is_err() {
        return Err(BuildError::Refused(format!(
            "another rocm-patch build is using {}; wait for it to finish",
            work.display()
        )));
    }
    Ok(lock)
}

/// The patched tree a build needs: the source's identity, its key, and the patches.
struct Tree<'a> {
    identity: &'a str,
    key: &'a str,
    patch_bytes: &'a [(String, Vec<u8>)],
}

/// A fresh patched tree: the old one cleared, the source fetched into `src.tmp`, every
/// upstream file checked, the patches applied, then renamed into place and stamped.
fn fresh_tree(
    req: &Request,
    plan: &Plan,
    tree: &Tree,
    done: &mut Progress,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<(), BuildError> {
    let work = &plan.work;
    source::clear(work, &plan.src_root)?;
    let tmp = work.join("src.tmp");
    obs.event(Event::Phase("fetching"));
    source::fetch_into(req, &tmp, &mut done.source, obs, cancel)?;
    let r = &req.recipe.recipe;
    let tmp_src = match &r.source.subdir {
        Some(sd) => tmp.join(sd),
        None => tmp.clone(),
    };
    if !tmp_src.is_dir() {
        return Err(BuildError::Refused(format!(
            "the source has no directory {}",
            r.source.subdir.as_deref().unwrap_or(".")
        )));
    }
    obs.event(Event::Phase("patching"));
    patch::check_upstream(&plan.selected, &tmp_src)?;
    patch::apply(tree.patch_bytes, work, &tmp_src, &mut done.patches)?;
    std::fs::rename(&tmp, &plan.src_root)
        .map_err(|e| BuildError::io(&plan.src_root, "cannot rename", e))?;
    source::write_stamp(work, tree.key, tree.identity)
}

/// The report: the plan, with what the stages did.
fn report(req: &Request, plan: &Plan, preflight: &[PreflightItem], done: &Progress) -> BuildReport {
    let r = &req.recipe.recipe;
    let mut source = source::planned(req, &plan.src_root);
    done.source.apply_to(&mut source);
    BuildReport {
        schema: SCHEMA,
        recipe: summary(&req.recipe),
        gpu: req.gpu.clone(),
        gpu_from: req.gpu_from.clone(),
        with: req.with.clone(),
        dry_run: req.dry_run,
        work_dir: plan.work.display().to_string(),
        prefix: plan.prefix.display().to_string(),
        jobs: req.jobs,
        toolchain: Some(plan.toolchain.clone()),
        cost: r.cost.as_ref().map(show::cost_report),
        preflight: preflight.to_vec(),
        install: install_commands(preflight),
        source: Some(source),
        patches: patch::report(r, &plan.selected, &plan.work, &plan.src, &done.patches),
        steps: steps::report(req, &plan.steps, &plan.work, &done.steps),
        outputs: verify::report(req, &plan.vars, &done.outputs),
        notes: done
            .source
            .notes
            .iter()
            .chain(&done.notes)
            .cloned()
            .collect(),
        ..Default::default()
    }
}
