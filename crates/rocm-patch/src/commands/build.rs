//! `rocm-patch build`: recipes from the knowledge base (or a file), run by rp-build.

use super::settings::Settings;
use crate::cli::BuildArgs;
use crate::{exit, render};
use rp_report::{BuildOutcome, RecipeList, StepState, SCHEMA};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Said at the first Ctrl-C ([`rp_sys::signal::CtrlC`]): the step's process group gets
/// SIGINT and the build directory stays resumable; a second Ctrl-C kills the step's group
/// and rocm-patch dies of SIGINT.
const CTRL_C_NOTICE: &[u8] =
    b"\nrocm-patch: stopping (the build can be resumed); Ctrl-C again to quit at once\n";

/// `--cache-dir`, else $XDG_CACHE_HOME/rocm-patch, else ~/.cache/rocm-patch.
fn cache_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    super::user_dir(flag, "XDG_CACHE_HOME", ".cache", "cache-dir")
}

/// Progress on stderr: a line that rewrites itself on a terminal, plain lines otherwise.
struct Progress {
    tty: bool,
    step: Option<(usize, usize, String, Instant)>,
    nm: Option<(u64, u64)>,
    phase_at: Instant,
}

impl Progress {
    fn line(&self) -> String {
        match &self.step {
            Some((i, n, name, t)) => {
                let s = t.elapsed().as_secs();
                let nm = match self.nm {
                    Some((d, 100)) if d <= 100 => format!("  {d}%"),
                    Some((d, t)) => format!("  {d}/{t}"),
                    None => String::new(),
                };
                format!("[{i}/{n}] {name}  {}:{:02}{nm}", s / 60, s % 60)
            }
            None => String::new(),
        }
    }

    fn redraw(&self) {
        if self.tty {
            let _ = write!(std::io::stderr(), "\r\x1b[2K{}", self.line());
        }
    }

    fn clear(&self) {
        if self.tty {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

impl rp_build::Observer for Progress {
    fn event(&mut self, e: rp_build::Event<'_>) {
        use rp_build::Event as E;
        match e {
            E::Phase(p) => {
                self.clear();
                self.phase_at = Instant::now();
                let _ = writeln!(std::io::stderr(), "rocm-patch: {p}");
            }
            E::Download { done, total } => {
                if self.tty && self.phase_at.elapsed() > Duration::from_millis(200) {
                    let t = total
                        .map(|t| format!(" of {} MiB", t >> 20))
                        .unwrap_or_default();
                    let _ = write!(std::io::stderr(), "\r\x1b[2K  {} MiB{t}", done >> 20);
                }
            }
            E::StepStart {
                index,
                count,
                name,
                log,
            } => {
                self.clear();
                let _ = writeln!(
                    std::io::stderr(),
                    "rocm-patch: [{index}/{count}] {name} (log: {})",
                    log.display()
                );
                self.step = Some((index, count, name.to_string(), Instant::now()));
                self.nm = None;
                self.redraw();
            }
            E::StepProgress { done, total } => {
                self.nm = Some((done, total));
                self.redraw();
            }
            E::Tick => self.redraw(),
            E::StepEnd { name, state } => {
                self.clear();
                let took = match &self.step {
                    Some((_, _, n, t)) if n == name => {
                        let s = t.elapsed().as_secs();
                        format!(" in {}:{:02}", s / 60, s % 60)
                    }
                    _ => String::new(),
                };
                let _ = writeln!(std::io::stderr(), "rocm-patch: {name}: {state}{took}");
                self.step = None;
            }
        }
    }
}

/// Classify a failed step's log with explain (the GPU built for as the machine's):
/// the causes it names, once each.
fn explain_log(log: &str, gpu: &str) -> Vec<String> {
    let c = rp_explain::Classifier::new();
    let f = std::fs::File::open(log).map(std::io::BufReader::new);
    let ctx = rp_explain::Context {
        gpus: gpu
            .parse()
            .ok()
            .map(|t| (t, gpu.to_string()))
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let r = rp_explain::explain(&c, vec![(log.to_string(), f)], &ctx);
    let mut seen = std::collections::BTreeSet::new();
    r.events
        .iter()
        // The log's own header lines (`# ...`) repeat the command, not its output.
        .filter(|e| !e.text.starts_with("# "))
        .filter(|e| seen.insert(e.signature.clone()))
        .map(|e| {
            format!(
                "{} (line {}, {}): {}",
                e.cause,
                e.line,
                e.signature,
                e.fix.lines().next().unwrap_or("")
            )
        })
        .collect()
}

pub(crate) fn run(args: BuildArgs, s: &Settings, out: &mut dyn Write) -> anyhow::Result<u8> {
    if args.list {
        let mut recipes = Vec::new();
        for r in rp_build::recipe::builtin() {
            recipes.push(rp_build::summary(&r?));
        }
        let l = RecipeList {
            schema: SCHEMA,
            recipes,
        };
        super::emit(out, args.json, &l, render::build::list)?;
        return Ok(exit::OK);
    }
    if let Some(spec) = &args.show {
        let l = rp_build::recipe::load(spec)?;
        super::emit(out, args.json, &rp_build::show(&l), render::build::show)?;
        return Ok(exit::OK);
    }
    let spec = args.recipe.clone().expect("clap requires RECIPE");
    let recipe = rp_build::recipe::load(&spec)?;
    // Checked before an hour of building, not after.
    for (flag, dir) in [
        ("--source", &args.source),
        ("--deploy-into", &args.deploy_into),
    ] {
        if let Some(d) = dir {
            if !d.is_dir() {
                anyhow::bail!("{flag} {}: not a directory", d.display());
            }
        }
    }
    if let Some(into) = &args.deploy_into {
        rp_deploy::check_into(into, args.system)
            .map_err(|e| anyhow::anyhow!("--deploy-into {}: {e}", into.display()))?;
    }
    if let Some(src) = &args.source {
        let cache = cache_dir(args.cache_dir.clone())?;
        rp_build::check_source(src, &cache)
            .map_err(|e| anyhow::anyhow!("--source {}: {e}", src.display()))?;
    }
    if args.deploy_into.is_some() && !recipe.recipe.outputs.iter().any(|o| o.deploy) {
        anyhow::bail!(
            "--deploy-into: recipe {} marks no output for deploying",
            recipe.id()
        );
    }
    let (gpu, gpu_from) =
        super::gpu_target(s, args.gpu.as_deref(), args.timeout_ms)?.ok_or_else(|| {
            anyhow::anyhow!(
                "no AMD GPU found in KFD; name the target with --gpu (e.g. --gpu gfx1010)"
            )
        })?;
    let gpu = gpu.to_string();

    if args.jobs == Some(0) {
        anyhow::bail!("--jobs 0: at least one job");
    }
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    });
    let abs = |p: &PathBuf| -> anyhow::Result<PathBuf> {
        Ok(if p.is_absolute() {
            p.clone()
        } else {
            std::env::current_dir()?.join(p)
        })
    };
    let req = rp_build::Request {
        recipe,
        gpu,
        gpu_from,
        prefix: args.prefix.as_ref().map(abs).transpose()?,
        jobs,
        source: args.source.as_ref().map(abs).transpose()?,
        with: args.with.clone(),
        dry_run: args.dry_run,
        cache: abs(&cache_dir(args.cache_dir.clone())?)?,
        env: s.env.clone(),
    };
    let mut progress = Progress {
        tty: s.stderr_tty && !args.json,
        step: None,
        nm: None,
        phase_at: Instant::now(),
    };
    let guard = rp_sys::signal::CtrlC::install(CTRL_C_NOTICE);
    let result = rp_build::build(&req, &mut progress, guard.flag());
    drop(guard);
    progress.clear();
    let mut rep = result?;
    for s in rep
        .steps
        .iter_mut()
        .filter(|s| s.state == StepState::Failed)
    {
        if let Some(log) = &s.log {
            s.explained = explain_log(log, &rep.gpu);
        }
    }
    if let (true, Some(into)) = (rep.dry_run, &args.deploy_into) {
        let active = rp_build::active_outputs(&req);
        for (o, def) in rep.outputs.iter().zip(active) {
            if def.deploy {
                let name = def.deploy_as.clone().unwrap_or_else(|| {
                    std::path::Path::new(&o.path)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                });
                rep.notes.push(format!(
                    "after verification: {}/{} would be copied to {} as one deploy transaction",
                    rep.prefix,
                    o.path,
                    into.join(name).display()
                ));
            }
        }
    }
    if rep.outcome == BuildOutcome::Ok {
        if let Some(into) = &args.deploy_into {
            let r = rp_build::deploy_steps(&req, &rep, into)
                .map_err(anyhow::Error::from)
                .and_then(|(steps, notes)| {
                    rep.notes.extend(notes);
                    let opts = rp_deploy::DeployOptions {
                        into: into.clone(),
                        system: args.system,
                        command: std::env::args().collect::<Vec<_>>().join(" "),
                        env: s.env.clone(),
                        ..Default::default()
                    };
                    let sd = s.state_dir()?;
                    Ok(rp_deploy::deploy(&sd, &steps, &opts)?)
                });
            match r {
                Ok(tx) => rep.deploy = Some(tx),
                Err(e) => {
                    rep.outcome = BuildOutcome::DeployFailed;
                    rep.error = Some(format!(
                        "deploy into {}: {e:#} (the build is kept in {})",
                        into.display(),
                        rep.prefix
                    ));
                }
            }
        }
    }
    super::emit(out, args.json, &rep, render::build::report)?;
    Ok(rep.outcome.exit_code())
}
