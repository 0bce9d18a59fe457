//! `rocm-patch build`: source builds from recipes (TOML data in the knowledge base,
//! `docs/build.md`). Preflight first; the source is fetched into a cache (resumed,
//! sha256-checked before use) or copied from a local checkout; patches are applied only
//! after the upstream files they touch match their recorded sha256; each step logs to
//! its own file and is skipped on a later run while its inputs are unchanged; the
//! install is checked with inspect; `--deploy-into` installs the result as one deploy
//! transaction. Nothing outside the build directory, the cache and the prefix is
//! touched before the deploy. Never prints: progress goes to an [`Observer`].

pub mod fetch;
pub mod preflight;
pub mod recipe;
pub mod run;
pub mod toolchain;
pub mod unpack;

use recipe::Loaded;
use rp_report::{
    BuildOutcome, BuildReport, OutputCheck, OutputReport, PatchReport, PatchState, PreflightKind,
    RecipeShow, RecipeSummary, SourceKind, SourceReport, SourceState, StepReport, StepState,
    SCHEMA,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ffi::OsString;
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
    rp_sys::read_regular(p, max).map_err(|e| match e {
        rp_sys::OpenError::TooLarge { len, .. } => BuildError::Recipe(format!(
            "{}: {len} bytes, more than the {max} accepted",
            p.display()
        )),
        rp_sys::OpenError::Read(e) => BuildError::io(p, "cannot read", e),
        e => BuildError::Recipe(format!("{}: {e}", p.display())),
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

/// The values of the template variables, and the environment steps start from.
#[derive(Debug, Clone)]
pub struct Vars {
    /// `{gpu}`.
    pub gpu: String,
    /// `{prefix}`.
    pub prefix: String,
    /// `{jobs}`.
    pub jobs: String,
    /// `{src}`.
    pub src: String,
    /// `{build}`.
    pub build: String,
    /// `{rocm}`: ROCM_PATH, else the install the machine layer finds ([`toolchain`]).
    pub rocm: String,
    /// `{cxx}`: that install's HIP-capable clang++.
    pub cxx: String,
    /// `{hipcc}`: that install's hipcc.
    pub hipcc: String,
    /// `{python}`: python3.
    pub python: String,
    /// The environment.
    pub env: BTreeMap<String, String>,
}

impl Vars {
    /// A variable of the environment.
    pub fn env(&self, k: &str) -> Option<OsString> {
        self.env
            .get(k)
            .filter(|v| !v.is_empty())
            .map(OsString::from)
    }

    fn get(&self, name: &str) -> Option<String> {
        Some(
            match name {
                "gpu" => &self.gpu,
                "prefix" => &self.prefix,
                "jobs" => &self.jobs,
                "src" => &self.src,
                "build" => &self.build,
                "rocm" => &self.rocm,
                "cxx" => &self.cxx,
                "hipcc" => &self.hipcc,
                "python" => &self.python,
                _ => return None,
            }
            .clone(),
        )
    }

    /// Fill a template.
    pub fn fill(&self, t: &str) -> Result<String, BuildError> {
        recipe::fill(t, &|n| self.get(n)).map_err(BuildError::Recipe)
    }

    /// Fill a template, `{jobs}` left as written (a step's identity does not depend on
    /// how many jobs built it).
    fn fill_for_key(&self, t: &str) -> String {
        recipe::fill(t, &|n| {
            if n == "jobs" {
                Some("{jobs}".into())
            } else {
                self.get(n)
            }
        })
        .unwrap_or_else(|_| t.to_string())
    }
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

/// `build --list`.
pub fn summary(l: &Loaded) -> RecipeSummary {
    RecipeSummary {
        id: l.id(),
        name: l.recipe.name.clone(),
        version: l.recipe.version.clone(),
        summary: l.recipe.summary.clone(),
        origin: l.origin_text(),
    }
}

/// How patches are applied (in the source tree).
const PATCH_ARGS: [&str; 5] = [
    "-p1",
    "--batch",
    "--forward",
    "--no-backup-if-mismatch",
    "-i",
];

fn patch_report(p: &recipe::Patch, state: PatchState) -> PatchReport {
    PatchReport {
        file: p.file.clone(),
        fixes: p.fixes.clone(),
        reference: p.reference.clone(),
        with: p.with.clone(),
        upstream: p
            .upstream
            .iter()
            .map(|(f, h)| format!("{f} sha256:{h}"))
            .collect(),
        state,
        command: None,
    }
}

fn source_text(s: &recipe::Source) -> String {
    match (&s.url, &s.git) {
        (Some(u), _) => format!("{u} sha256:{}", s.sha256.as_deref().unwrap_or_default()),
        (_, Some(g)) => format!(
            "{g} commit {}{}{}",
            s.commit.as_deref().unwrap_or_default(),
            s.tag
                .as_ref()
                .map(|t| format!(" (tag {t})"))
                .unwrap_or_default(),
            s.subdir
                .as_ref()
                .map(|d| format!(", directory {d}"))
                .unwrap_or_default()
        ),
        _ => String::new(),
    }
}

/// `build --show`.
pub fn show(l: &Loaded) -> RecipeShow {
    let r = &l.recipe;
    // Templates as written: `{src}` is not quoted (only words with blanks or quotes are).
    let template_join = |argv: &[String]| {
        argv.iter()
            .map(|a| {
                if a.is_empty() || a.contains([' ', '\t', '\'', '"', '\\', '$', '`', ';', '&', '|'])
                {
                    shell_quote(a)
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let step = |s: &recipe::StepDef| StepReport {
        name: s.name.clone(),
        command: template_join(&s.run),
        env: s.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        cwd: s.cwd.clone().unwrap_or_else(|| "{build}".into()),
        state: StepState::Recipe,
        ..Default::default()
    };
    let mut requires: Vec<rp_report::PreflightItem> = r
        .tools
        .iter()
        .map(|t| rp_report::PreflightItem {
            kind: if t.name.contains('{') {
                PreflightKind::Compiler
            } else {
                PreflightKind::Tool
            },
            name: t.name.clone(),
            min_version: t.min.clone(),
            packages: t.packages.list(),
            ..Default::default()
        })
        .collect();
    requires.extend(r.libraries.iter().map(|x| {
        rp_report::PreflightItem {
            kind: PreflightKind::Library,
            name: x.name.clone(),
            min_version: x.min.clone(),
            found: x
                .pkg_config
                .as_ref()
                .map(|p| format!("pkg-config {p}"))
                .or(x.cmake.as_ref().map(|c| format!("CMake package {c}")))
                .map(|f| match &x.header {
                    Some(h) => format!("{f}, else header {h}"),
                    None => f,
                })
                .or(x.header.as_ref().map(|h| format!("header {h}"))),
            packages: x.packages.list(),
            ..Default::default()
        }
    }));
    requires.extend(r.gpu_code.iter().map(|g| rp_report::PreflightItem {
        kind: PreflightKind::GpuCode,
        name: format!("{} with code for {{gpu}}", g.name),
        found: Some(g.library.clone()),
        packages: g.packages.list(),
        ..Default::default()
    }));
    RecipeShow {
        schema: SCHEMA,
        recipe: summary(l),
        source: source_text(&r.source),
        mirrors: r.source.mirrors.clone(),
        cost: r.cost.as_ref().map(cost_report),
        rocm: r
            .rocm
            .as_ref()
            .map(|v| format!("{} ({})", v.text(), v.reference)),
        notes: r
            .notes
            .iter()
            .map(|n| format!("{} ({})", n.text, n.reference))
            .collect(),
        options: r
            .options
            .iter()
            .map(|o| (o.name.clone(), o.about.clone()))
            .collect(),
        requires,
        patches: r
            .patches
            .iter()
            .map(|p| {
                patch_report(
                    p,
                    if p.with.is_some() {
                        PatchState::OnlyWithOption
                    } else {
                        PatchState::Always
                    },
                )
            })
            .collect(),
        steps: r.steps.iter().map(step).collect(),
        outputs: r
            .outputs
            .iter()
            .map(|o| OutputReport {
                path: match &o.with {
                    Some(w) => format!("{} (with {w})", o.path),
                    None => o.path.clone(),
                },
                check: o.check_kind(),
                problem: o.why.clone(),
                ..Default::default()
            })
            .collect(),
    }
}

fn cost_report(c: &recipe::Cost) -> rp_report::BuildCost {
    rp_report::BuildCost {
        core_hours: c.core_hours,
        disk_gib: c.disk_gib,
        basis: c.basis.clone(),
    }
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

struct Steps {
    argv: Vec<String>,
    key_argv: Vec<String>,
    env: BTreeMap<String, String>,
    cwd: PathBuf,
    creates: Vec<PathBuf>,
}

fn filled_steps(req: &Request, v: &Vars) -> Result<Vec<Steps>, BuildError> {
    let mut out = Vec::new();
    for s in &req.recipe.recipe.steps {
        let mut run = s.run.clone();
        for w in &req.with {
            if let Some(extra) = s.with_args.get(w) {
                run.extend(extra.iter().cloned());
            }
        }
        let argv = run
            .iter()
            .map(|a| v.fill(a))
            .collect::<Result<Vec<_>, _>>()?;
        let key_argv = run.iter().map(|a| v.fill_for_key(a)).collect();
        let env = s
            .env
            .iter()
            .map(|(k, x)| Ok((k.clone(), v.fill(x)?)))
            .collect::<Result<BTreeMap<_, _>, BuildError>>()?;
        let cwd = PathBuf::from(v.fill(s.cwd.as_deref().unwrap_or("{build}"))?);
        let creates = s
            .creates
            .iter()
            .map(|c| v.fill(c).map(PathBuf::from))
            .collect::<Result<_, _>>()?;
        out.push(Steps {
            argv,
            key_argv,
            env,
            cwd,
            creates,
        });
    }
    Ok(out)
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
    let r = &req.recipe.recipe;
    for w in &req.with {
        if !r.options.iter().any(|o| &o.name == w) {
            return Err(BuildError::Recipe(format!(
                "--with {w}: recipe {} has no such option{}",
                req.recipe.id(),
                if r.options.is_empty() {
                    " (it has none)".to_string()
                } else {
                    format!(
                        " (it has: {})",
                        r.options
                            .iter()
                            .map(|o| o.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            )));
        }
    }
    if req.gpu.parse::<rp_kb::TargetId>().is_err() {
        return Err(BuildError::Recipe(format!(
            "--gpu {}: not a GPU target (gfx1010, gfx1030, ...)",
            req.gpu
        )));
    }
    let work = work_dir(req);
    let src_root = work.join("src");
    let src = match &r.source.subdir {
        Some(sd) => src_root.join(sd),
        None => src_root.clone(),
    };
    let prefix = req.prefix.clone().unwrap_or_else(|| work.join("prefix"));
    let toolchain = toolchain::detect(&req.env);
    let v = Vars {
        gpu: req.gpu.clone(),
        prefix: prefix.display().to_string(),
        jobs: req.jobs.to_string(),
        src: src.display().to_string(),
        build: work.join("build").display().to_string(),
        rocm: toolchain.rocm.clone(),
        cxx: toolchain.cxx.clone(),
        hipcc: toolchain.hipcc.clone(),
        python: "python3".into(),
        env: req.env.clone(),
    };
    let steps = filled_steps(req, &v)?;
    let selected: Vec<&recipe::Patch> = r
        .patches
        .iter()
        .filter(|p| p.with.as_ref().is_none_or(|w| req.with.contains(w)))
        .collect();
    let mut rep = BuildReport {
        schema: SCHEMA,
        recipe: summary(&req.recipe),
        gpu: req.gpu.clone(),
        gpu_from: req.gpu_from.clone(),
        with: req.with.clone(),
        dry_run: req.dry_run,
        work_dir: work.display().to_string(),
        prefix: prefix.display().to_string(),
        jobs: req.jobs,
        cost: r.cost.as_ref().map(cost_report),
        patches: r
            .patches
            .iter()
            .map(|p| {
                let on = selected.iter().any(|s| std::ptr::eq(*s, p));
                patch_report(
                    p,
                    if on {
                        PatchState::Planned
                    } else {
                        PatchState::NotSelected
                    },
                )
            })
            .collect(),
        steps: r
            .steps
            .iter()
            .zip(&steps)
            .map(|(d, s)| StepReport {
                name: d.name.clone(),
                command: shell_join(&s.argv),
                env: s.env.iter().map(|(k, x)| format!("{k}={x}")).collect(),
                cwd: s.cwd.display().to_string(),
                state: if req.dry_run {
                    StepState::Planned
                } else {
                    StepState::NotRun
                },
                log: Some(
                    work.join("logs")
                        .join(format!("{}.log", d.name))
                        .display()
                        .to_string(),
                ),
                ..Default::default()
            })
            .collect(),
        outputs: active_outputs(req)
            .into_iter()
            .map(|o| OutputReport {
                path: v.fill(&o.path).unwrap_or_default(),
                check: o.check_kind(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    // Each selected patch's command, numbered as it is written into the build directory.
    let mut n = 0;
    for (p, def) in rep.patches.iter_mut().zip(&r.patches) {
        if p.state == PatchState::Planned {
            n += 1;
            let mut argv = vec!["patch".to_string()];
            argv.extend(PATCH_ARGS.iter().map(|a| a.to_string()));
            argv.push(
                work.join(format!("patches/{n:02}.patch"))
                    .display()
                    .to_string(),
            );
            p.command = Some(format!(
                "(in {}) {}  # {}",
                src.display(),
                shell_join(&argv),
                def.file
            ));
        }
    }
    // The source, as planned.
    let tarball_cache = r
        .source
        .url
        .as_ref()
        .map(|u| fetch::cache_path(&req.cache, u, r.source.sha256.as_deref().unwrap_or("")));
    let unpack_to = src_root.display().to_string();
    rep.source =
        Some(match (&req.source, &r.source.url, &r.source.git) {
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
                        if r.source.strip.unwrap_or(1) == 1 { "y" } else { "ies" }
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
        });
    rep.preflight = preflight::check(&req.recipe, &v, &req.with, !req.dry_run);
    rep.preflight
        .insert(0, preflight::check_rocm(r.rocm.as_ref(), &toolchain));
    if let Some(c) = &r.cost {
        rep.preflight.push(preflight::check_disk(c, &req.cache));
    }
    rep.install = install_commands(&rep.preflight);
    rep.toolchain = Some(toolchain);
    let finish = |mut rep: BuildReport, outcome: BuildOutcome, error: Option<String>| {
        rep.outcome = outcome;
        rep.error = error;
        rep.seconds = started.elapsed().as_secs_f64();
        rep
    };
    if req.dry_run {
        let missing: Vec<String> = rep
            .preflight
            .iter()
            .filter(|p| !p.ok)
            .map(|p| p.name.clone())
            .collect();
        if !missing.is_empty() {
            rep.notes.push(format!(
                "preflight would stop a real run here; missing: {}",
                missing.join(", ")
            ));
        }
        return Ok(finish(rep, BuildOutcome::Planned, None));
    }
    if let Some(bad) = rep.preflight.iter().find(|p| !p.ok) {
        let n = rep.preflight.iter().filter(|p| !p.ok).count();
        let e = format!(
            "preflight: {}{}; nothing was fetched or run",
            bad.problem.clone().unwrap_or_else(|| bad.name.clone()),
            if n > 1 {
                format!(" (and {} more)", n - 1)
            } else {
                String::new()
            }
        );
        return Ok(finish(rep, BuildOutcome::PreflightFailed, Some(e)));
    }
    match run_build(
        req, &v, &work, &src_root, &src, &steps, &selected, &mut rep, obs, cancel,
    ) {
        Ok(()) => {}
        // A git or patch child that Ctrl-C stopped fails with its own words: the cause
        // is the interruption.
        Err(BuildError::Interrupted)
        | Err(BuildError::Fetch(_) | BuildError::PatchFailed { .. })
            if cancel.load(std::sync::atomic::Ordering::Relaxed) =>
        {
            return Ok(finish(
                rep,
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
            return Ok(finish(rep, outcome, Some(e.to_string())));
        }
    }
    if let Some(f) = rep.steps.iter().find(|s| s.state == StepState::Failed) {
        let e = format!(
            "step {} failed ({}); whole log: {}",
            f.name,
            f.status.clone().unwrap_or_default(),
            f.log.clone().unwrap_or_default()
        );
        return Ok(finish(rep, BuildOutcome::Failed, Some(e)));
    }
    obs.event(Event::Phase("verifying"));
    verify(req, &v, &mut rep);
    if let Some(bad) = rep.outputs.iter().find(|o| !o.ok) {
        let e = bad.problem.clone().unwrap_or_default();
        return Ok(finish(rep, BuildOutcome::Unverified, Some(e)));
    }
    Ok(finish(rep, BuildOutcome::Ok, None))
}

#[derive(serde::Serialize, serde::Deserialize, PartialEq)]
struct SourceStamp {
    key: String,
    identity: String,
}

#[expect(
    clippy::too_many_arguments,
    reason = "the build's inputs, each used once"
)]
fn run_build(
    req: &Request,
    v: &Vars,
    work: &Path,
    src_root: &Path,
    src: &Path,
    steps: &[Steps],
    selected: &[&recipe::Patch],
    rep: &mut BuildReport,
    obs: &mut dyn Observer,
    cancel: &AtomicBool,
) -> Result<(), BuildError> {
    let r = &req.recipe.recipe;
    std::fs::create_dir_all(work).map_err(|e| BuildError::io(work, "cannot create", e))?;
    // One build per directory at a time.
    let lock_path = work.join(".lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| BuildError::io(&lock_path, "cannot create", e))?;
    if lock.try_lock().is_err() {
        return Err(BuildError::Refused(format!(
            "another rocm-patch build is using {}; wait for it to finish",
            work.display()
        )));
    }
    // The source's identity: what was fetched, the patches, the GPU and options.
    let identity = match (&req.source, &r.source.url, &r.source.git) {
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
    };
    let mut patch_bytes = Vec::new();
    for p in selected {
        patch_bytes.push((p.file.clone(), req.recipe.patch_bytes(&p.file)?));
    }
    let mut parts: Vec<&[u8]> = vec![
        identity.as_bytes(),
        req.gpu.as_bytes(),
        r.source.subdir.as_deref().unwrap_or("").as_bytes(),
    ];
    for (f, b) in &patch_bytes {
        parts.push(f.as_bytes());
        parts.push(b);
    }
    let with = req.with.join(",");
    parts.push(with.as_bytes());
    let key0 = sha_hex(&parts);
    let stamp_path = work.join("source.json");
    let stamps_dir = work.join("stamps");
    let logs = work.join("logs");
    let old: Option<SourceStamp> = read_bounded(&stamp_path, 64 << 10)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let source = rep.source.as_mut().expect("set above");
    source.identity = identity.clone();
    if old.as_ref().is_some_and(|o| o.key == key0) && src.is_dir() {
        source.state = SourceState::Cached;
        for p in rep
            .patches
            .iter_mut()
            .filter(|p| p.state == PatchState::Planned)
        {
            p.state = PatchState::AlreadyApplied;
        }
    } else {
        // A different source, patch set, GPU or option: start from scratch.
        for d in [
            src_root.to_path_buf(),
            work.join("build"),
            stamps_dir.clone(),
        ] {
            if d.exists() {
                std::fs::remove_dir_all(&d).map_err(|e| BuildError::io(&d, "cannot remove", e))?;
            }
        }
        let _ = std::fs::remove_file(&stamp_path);
        let tmp = work.join("src.tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| BuildError::io(&tmp, "cannot remove", e))?;
        }
        obs.event(Event::Phase("fetching"));
        match (&req.source, &r.source.url, &r.source.git) {
            (Some(dir), _, _) => {
                // A checkout of the whole repository, or of the project alone (the
                // recipe's `subdir` of a monorepo).
                let to = match &r.source.subdir {
                    Some(sd) if !dir.join(sd).is_dir() => tmp.join(sd),
                    _ => tmp.clone(),
                };
                fetch::copy_tree(dir, &to)?;
                source.state = SourceState::Local;
            }
            (None, Some(url), _) => {
                let sha = r.source.sha256.as_deref().unwrap_or("");
                let cached = fetch::cache_path(&req.cache, url, sha);
                let mut urls = vec![url.clone()];
                urls.extend(r.source.mirrors.iter().cloned());
                let policy = fetch::Policy::for_source(&urls, r.source.size);
                let (got, from, failed) =
                    fetch::tarball_from(&urls, sha, &cached, &policy, obs, cancel)?;
                if &from != url {
                    source.location = from.clone();
                }
                for f in failed {
                    rep.notes.push(format!("{f}; fetched from the next mirror"));
                }
                source.state = match got {
                    fetch::Got::Cached => SourceState::Cached,
                    fetch::Got::Downloaded => SourceState::Downloaded,
                    fetch::Got::Resumed(n) => SourceState::Resumed(n),
                };
                obs.event(Event::Phase("unpacking"));
                unpack::unpack(&cached, &tmp, r.source.strip.unwrap_or(1), cancel)?;
            }
            (None, None, Some(g)) => {
                fetch::git_checkout(
                    g,
                    r.source.commit.as_deref().unwrap_or(""),
                    r.source.subdir.as_deref(),
                    r.source.submodules,
                    &tmp,
                )?;
                source.state = SourceState::Downloaded;
            }
            _ => unreachable!(),
        }
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
        // Every upstream file of every patch is checked before any patch is applied.
        obs.event(Event::Phase("patching"));
        for p in selected {
            for (file, want) in &p.upstream {
                let path = tmp_src.join(file);
                let found = if path.is_file() {
                    fetch::sha256_file(&path)?
                } else {
                    "missing".into()
                };
                if &found != want {
                    return Err(BuildError::UpstreamChanged {
                        patch: p.file.clone(),
                        file: file.clone(),
                        expected: want.clone(),
                        found,
                    });
                }
            }
        }
        std::fs::create_dir_all(&logs).map_err(|e| BuildError::io(&logs, "cannot create", e))?;
        let pdir = work.join("patches");
        std::fs::create_dir_all(&pdir).map_err(|e| BuildError::io(&pdir, "cannot create", e))?;
        for (i, (file, bytes)) in patch_bytes.iter().enumerate() {
            let pf = pdir.join(format!("{:02}.patch", i + 1));
            std::fs::write(&pf, bytes).map_err(|e| BuildError::io(&pf, "cannot write", e))?;
            let out = std::process::Command::new("patch")
                .args([
                    "-p1",
                    "--batch",
                    "--forward",
                    "--no-backup-if-mismatch",
                    "-i",
                ])
                .arg(&pf)
                .current_dir(&tmp_src)
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| BuildError::PatchFailed {
                    patch: file.clone(),
                    detail: format!("cannot run patch: {e}"),
                })?;
            let log = logs.join(format!("patch-{:02}.log", i + 1));
            let mut text = out.stdout.clone();
            text.extend(&out.stderr);
            let _ = std::fs::write(&log, &text);
            if !out.status.success() {
                return Err(BuildError::PatchFailed {
                    patch: file.clone(),
                    detail: String::from_utf8_lossy(&text).trim().to_string(),
                });
            }
            if let Some(p) = rep.patches.iter_mut().find(|p| &p.file == file) {
                p.state = PatchState::Applied;
            }
        }
        std::fs::rename(&tmp, src_root)
            .map_err(|e| BuildError::io(src_root, "cannot rename", e))?;
        let stamp = SourceStamp {
            key: key0.clone(),
            identity,
        };
        std::fs::write(
            &stamp_path,
            serde_json::to_vec(&stamp).expect("serialisable"),
        )
        .map_err(|e| BuildError::io(&stamp_path, "cannot write", e))?;
    }
    std::fs::create_dir_all(&logs).map_err(|e| BuildError::io(&logs, "cannot create", e))?;
    std::fs::create_dir_all(&stamps_dir)
        .map_err(|e| BuildError::io(&stamps_dir, "cannot create", e))?;
    let build_dir = PathBuf::from(&v.build);
    std::fs::create_dir_all(&build_dir)
        .map_err(|e| BuildError::io(&build_dir, "cannot create", e))?;
    // Steps: skipped while their key (source, command, environment, the keys before
    // them) is unchanged and what they create exists; once one runs, the rest run.
    let mut key = key0;
    let mut ran_one = false;
    let count = steps.len();
    for (i, (def, s)) in r.steps.iter().zip(steps).enumerate() {
        let env_text: Vec<String> = def
            .env
            .iter()
            .map(|(k, x)| format!("{k}={}", v.fill_for_key(x)))
            .collect();
        let cwd_text = s.cwd.display().to_string();
        let mut parts: Vec<&[u8]> = vec![key.as_bytes(), def.name.as_bytes(), cwd_text.as_bytes()];
        parts.extend(s.key_argv.iter().map(|a| a.as_bytes()));
        parts.extend(env_text.iter().map(|e| e.as_bytes()));
        key = sha_hex(&parts);
        let stamp = stamps_dir.join(format!("{}.done", def.name));
        let done = read_bounded(&stamp, 4096).is_ok_and(|b| b == key.as_bytes());
        let log = logs.join(format!("{}.log", def.name));
        let report = &mut rep.steps[i];
        if !ran_one && done && s.creates.iter().all(|c| c.exists()) {
            report.state = StepState::Skipped;
            obs.event(Event::StepEnd {
                name: &def.name,
                state: StepState::Skipped,
            });
            continue;
        }
        ran_one = true;
        let _ = std::fs::remove_file(&stamp);
        std::fs::create_dir_all(&s.cwd).map_err(|e| BuildError::io(&s.cwd, "cannot create", e))?;
        obs.event(Event::StepStart {
            index: i + 1,
            count,
            name: &def.name,
            log: &log,
        });
        let t = Instant::now();
        let ended = run::run(
            &run::Job {
                argv: &s.argv,
                env: &s.env,
                base_env: &req.env,
                cwd: &s.cwd,
                log: &log,
            },
            obs,
            cancel,
        )?;
        report.seconds = Some(t.elapsed().as_secs_f64());
        match ended {
            run::Ended::Ok => {
                std::fs::write(&stamp, key.as_bytes())
                    .map_err(|e| BuildError::io(&stamp, "cannot write", e))?;
                report.state = StepState::Ran;
                obs.event(Event::StepEnd {
                    name: &def.name,
                    state: StepState::Ran,
                });
            }
            run::Ended::Failed(what) => {
                report.state = StepState::Failed;
                report.status = Some(what);
                report.tail = run::tail(&log, 25);
                obs.event(Event::StepEnd {
                    name: &def.name,
                    state: StepState::Failed,
                });
                return Ok(());
            }
            run::Ended::Interrupted => {
                report.state = StepState::Interrupted;
                obs.event(Event::StepEnd {
                    name: &def.name,
                    state: StepState::Interrupted,
                });
                return Err(BuildError::Interrupted);
            }
        }
    }
    Ok(())
}

/// Check the expected outputs under the prefix.
fn verify(req: &Request, v: &Vars, rep: &mut BuildReport) {
    let Ok(gpu) = req.gpu.parse::<rp_kb::TargetId>() else {
        return;
    };
    for (o, def) in rep.outputs.iter_mut().zip(active_outputs(req)) {
        let Ok(rel) = v.fill(&def.path) else {
            continue;
        };
        let path = Path::new(&v.prefix).join(&rel);
        o.path = path.display().to_string();
        // An output lies in the prefix: never an absolute path, `..`, or a link out.
        let relative = Path::new(&rel).components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
        if !relative {
            o.problem = Some(format!(
                "output {rel} is not a path inside the prefix: not checked, not deployed"
            ));
            continue;
        }
        if std::fs::symlink_metadata(&path).is_err() {
            o.problem = Some(format!("{} was not installed", path.display()));
            continue;
        }
        let real = path.canonicalize().unwrap_or(path.clone());
        let prefix_real = Path::new(&v.prefix)
            .canonicalize()
            .unwrap_or_else(|_| PathBuf::from(&v.prefix));
        if !real.starts_with(&prefix_real) {
            o.problem = Some(format!(
                "{} leads out of the prefix (to {}): not checked, not deployed",
                path.display(),
                real.display()
            ));
            continue;
        }
        match def.check_kind() {
            OutputCheck::Exists => o.ok = true,
            OutputCheck::Code => {
                let report = rp_inspect::inspect(
                    std::slice::from_ref(&real),
                    &rp_inspect::Options {
                        gpu: Some(gpu.clone()),
                        ..Default::default()
                    },
                );
                o.targets = targets_of(&report, &real);
                let cov = rp_inspect::coverage_of(&report, &gpu);
                if cov.covered.iter().any(|c| Path::new(&c.path) == real) {
                    o.ok = true;
                } else {
                    o.problem = Some(format!(
                        "{} lacks code for {} (it carries: {})",
                        path.display(),
                        req.gpu,
                        if o.targets.is_empty() {
                            "no GPU code".into()
                        } else {
                            o.targets.join(" ")
                        }
                    ));
                }
            }
            OutputCheck::Tensile => {
                let report = rp_inspect::inspect(
                    std::slice::from_ref(&real),
                    &rp_inspect::Options::default(),
                );
                let archs: Vec<String> = report
                    .tensile_dirs
                    .iter()
                    .flat_map(|d| d.archs.clone())
                    .collect();
                o.targets = archs.clone();
                if archs.iter().any(|a| a == &gpu.processor) {
                    o.ok = true;
                } else {
                    o.problem = Some(format!(
                        "{} has no Tensile library for {} (it has: {})",
                        path.display(),
                        req.gpu,
                        archs.join(" ")
                    ));
                }
            }
        }
    }
}

/// The deploy steps of a verified build into `into`, and notes: each output marked
/// `deploy` — a file's real content copied to `deploy_as` (default: its file name), a
/// Tensile directory's files for the GPU copied into the Tensile directory `into` holds
/// (rp-deploy's Tensile plan; the rocBLAS version check is skipped when the library that
/// loads them is deployed in the same transaction).
pub fn deploy_steps(
    req: &Request,
    rep: &BuildReport,
    into: &Path,
) -> Result<(Vec<rp_deploy::Step>, Vec<String>), BuildError> {
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let active = active_outputs(req);
    let library_too = active
        .iter()
        .any(|o| o.deploy && o.check_kind() == OutputCheck::Code);
    for (o, def) in rep.outputs.iter().zip(active) {
        if !def.deploy {
            continue;
        }
        let path = PathBuf::from(&o.path);
        let real = path
            .canonicalize()
            .map_err(|e| BuildError::io(&path, "cannot resolve", e))?;
        if def.check_kind() == OutputCheck::Tensile {
            let gpu = req
                .gpu
                .parse::<rp_kb::TargetId>()
                .map_err(|e| BuildError::Recipe(e.to_string()))?;
            let (_, s, n) = rp_deploy::tensile::plan(&real, &gpu.processor, into, library_too)
                .map_err(|e| BuildError::Refused(format!("{}: {e}", path.display())))?;
            steps.extend(s);
            notes.extend(n);
            continue;
        }
        let target = match &def.deploy_as {
            Some(a) => PathBuf::from(a),
            None => PathBuf::from(path.file_name().unwrap_or_default()),
        };
        steps.push(rp_deploy::Step::File {
            source: real,
            target,
            mode: None,
        });
    }
    if steps.is_empty() {
        return Err(BuildError::Refused(format!(
            "recipe {} marks no output for deploying",
            req.recipe.id()
        )));
    }
    Ok((steps, notes))
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
