//! `rocm-patch bench` and `rocm-patch tune`.

use crate::cli::{BenchArgs, ProbeDevice, TuneArgs};
use crate::progress::Wait;
use crate::{exit, render};
use rp_probe::bench::{self, Column};
use rp_report::{BenchReport, ProbeStatus, TuneCandidate, TuneReport, TuneWritten};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest per-benchmark timeout (a day).
const MAX_TIMEOUT: f64 = 86_400.0;

fn device(d: ProbeDevice) -> rp_probe::Device {
    match d {
        ProbeDevice::Auto => rp_probe::Device::Auto,
        ProbeDevice::Cuda => rp_probe::Device::Cuda,
        ProbeDevice::Cpu => rp_probe::Device::Cpu,
    }
}

fn check_timeout(t: f64) -> anyhow::Result<()> {
    if !(t > 0.0 && t <= MAX_TIMEOUT) {
        anyhow::bail!(
            "--timeout {t}: must be a number of seconds above 0 and at most {MAX_TIMEOUT}"
        );
    }
    Ok(())
}

fn check_repeat(n: u32) -> anyhow::Result<()> {
    if !(1..=1000).contains(&n) {
        anyhow::bail!("--repeat {n}: must be 1 to 1000");
    }
    Ok(())
}

/// Progress of a bench or tune run (human mode): a line on stderr for each step done, so
/// stdout keeps only the report, and on a terminal a line for a wait of over 2 s that says
/// what is being waited for.
struct Progress {
    json: bool,
    /// What is running now.
    now: Arc<Mutex<String>>,
    wait: Wait,
}

impl Progress {
    fn new(json: bool, first: &str) -> Progress {
        let now = Arc::new(Mutex::new(first.to_string()));
        let wait = {
            let now = now.clone();
            Wait::start(!json, move || {
                now.lock().map(|s| s.clone()).unwrap_or_default()
            })
        };
        Progress { json, now, wait }
    }

    /// Say what runs from now on.
    fn running(&self, what: String) {
        if let Ok(mut n) = self.now.lock() {
            *n = what;
        }
    }

    /// A step done: its line, and what runs next.
    fn line(&self, line: &str, next: String) {
        if !self.json {
            self.wait.suspend(|| {
                let _ = writeln!(std::io::stderr(), "{line}");
            });
        }
        self.running(next);
    }
}

fn cell_line(
    column: &str,
    r: &rp_report::ProbeResult,
    m: Option<&rp_report::BenchMetrics>,
) -> String {
    let what = match (m, &r.detail) {
        (Some(m), _) => match m.rate {
            Some(rate) => format!(
                "{} {}, median {:.3} ms",
                render::bench::num(rate),
                m.unit,
                m.median_ms
            ),
            None => format!("median {:.3} ms", m.median_ms),
        },
        (None, Some(d)) => d.lines().next().unwrap_or("").to_string(),
        (None, None) => String::new(),
    };
    format!("  {column:<16} {:<28} {:<8} {what}", r.name, r.status)
}

/// Base options for the worker.
fn base_options(
    python: &Path,
    dev: ProbeDevice,
    only: Vec<String>,
    timeout: f64,
    extra: Option<PathBuf>,
) -> anyhow::Result<rp_probe::Options> {
    Ok(rp_probe::Options {
        python: super::settings::python_path(python)?,
        device: device(dev),
        only,
        timeout: Duration::from_secs_f64(timeout),
        startup_timeout: Duration::from_secs(300),
        probes_dir: extra,
        env: Vec::new(),
        profile: None,
        bench_repeat: None,
    })
}

/// Device note, history and comparison: everything after the measurements.
fn after_run(
    report: &mut BenchReport,
    dev: ProbeDevice,
    timeout_ms: u64,
    state_dir: Option<&Path>,
    compare: bool,
) {
    if report.device == rp_report::ProbeDevice::Cpu && !matches!(dev, ProbeDevice::Cpu) {
        let (failed, note) = super::settings::cpu_note(
            &report.torch,
            &report.executable,
            matches!(dev, ProbeDevice::Cuda),
            timeout_ms,
        );
        report.gpu_not_seen = failed;
        report.device_note = Some(note);
    }
    let Some(sd) = state_dir else { return };
    if compare {
        match bench::read_history(sd) {
            Ok((h, _)) => {
                report.compare = bench::compare(report, &h);
                if report.compare.is_none() {
                    report.compare_note = Some(format!(
                        "no earlier measurement on {} under these profiles in {}",
                        bench::device_key(report),
                        sd.join(bench::HISTORY_FILE).display()
                    ));
                }
            }
            Err(e) => report.compare_note = Some(e),
        }
    }
}

pub(crate) fn bench(
    args: BenchArgs,
    state_dir: Option<PathBuf>,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    if args.list {
        let l = rp_report::ProbeList {
            schema: rp_report::SCHEMA,
            probes: bench::builtin()
                .into_iter()
                .map(|(name, what)| rp_report::ProbeInfo {
                    group: name.split('_').next().unwrap_or("").to_string(),
                    name,
                    exercises: what,
                    ..Default::default()
                })
                .collect(),
        };
        super::emit(out, args.json, &l, render::bench::list)?;
        return Ok(exit::OK);
    }
    check_timeout(args.timeout)?;
    check_repeat(args.repeat)?;
    let base = base_options(
        &args.python,
        args.device,
        args.only.clone(),
        args.timeout,
        args.benches_dir.clone(),
    )?;
    let mut columns = Vec::new();
    if args.profile.is_empty() {
        columns.push(Column {
            name: bench::CURRENT.into(),
            env: Vec::new(),
        });
    }
    for p in &args.profile {
        columns.push(Column {
            name: p.clone(),
            env: super::settings::profile_changes(p, args.timeout_ms)?,
        });
    }
    let progress = Progress::new(args.json, "bench: starting the worker (importing torch)");
    let report = bench::bench(&base, &columns, args.repeat, &mut |c, r, m| {
        progress.line(
            &cell_line(c, r, m),
            format!("bench: after {} ({c})", r.name),
        )
    });
    drop(progress);
    let mut report = report?;
    let sd = super::settings::state_dir(state_dir).ok();
    after_run(
        &mut report,
        args.device,
        args.timeout_ms,
        sd.as_deref(),
        args.compare,
    );
    if !args.no_history {
        match &sd {
            Some(sd) => match bench::record(sd, &bench::entry(&report)) {
                Ok(p) => report.history = Some(p.display().to_string()),
                Err(e) => report.history_error = Some(e),
            },
            None => report.history_error = Some("no state directory (set --state-dir)".into()),
        }
    }
    super::emit(out, args.json, &report, render::bench::report)?;
    Ok(report.exit_code())
}

/// The user's config file: `$XDG_CONFIG_HOME/rocm-patch/config.toml`, else
/// `~/.config/...`; with the directory deploy writes into.
fn user_config() -> anyhow::Result<(PathBuf, PathBuf)> {
    let env = super::env_map();
    let base = env
        .get("XDG_CONFIG_HOME")
        .filter(|x| x.starts_with('/'))
        .map(PathBuf::from)
        .or_else(|| {
            env.get("HOME")
                .filter(|h| h.starts_with('/'))
                .map(|h| Path::new(h).join(".config"))
        })
        .ok_or_else(|| {
            anyhow::anyhow!("no XDG_CONFIG_HOME or HOME: nowhere to write the config")
        })?;
    Ok((base.clone(), base.join("rocm-patch/config.toml")))
}

/// A candidate must beat the baseline by more than this fraction to replace it.
const NOISE: f64 = 0.03;

/// The name `--write` gives a find-mode variant.
const TUNED: &str = "tuned";

fn write_best(c: &TuneCandidate, state_dir: Option<PathBuf>) -> anyhow::Result<TuneWritten> {
    let (into, file) = user_config()?;
    let old = rp_fix::edit::read_small(&file).map_err(|e| anyhow::anyhow!(e))?;
    let text = String::from_utf8(old.clone().unwrap_or_default())
        .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", file.display()))?;
    let vars: Vec<(String, String)> = c
        .find_mode
        .iter()
        .map(|m| ("MIOPEN_FIND_MODE".to_string(), m.clone()))
        .collect();
    let define = rp_env::write::Define {
        name: TUNED,
        extends: &c.profile,
        description: "written by `rocm-patch tune`: the fastest correct profile on this machine",
        vars: &vars,
    };
    let (profile, def) = match &c.find_mode {
        Some(_) => (TUNED, Some(&define)),
        None => (c.profile.as_str(), None),
    };
    let new = rp_env::write::with_default_profile(&text, profile, def)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    std::fs::create_dir_all(&into)?;
    let scratch = tempfile::tempdir()?;
    let src = scratch.path().join("config.toml");
    std::fs::write(&src, new)?;
    let sd = super::settings::state_dir(state_dir)?;
    let tx = rp_deploy::deploy(
        &sd,
        &[rp_deploy::Step::File {
            source: src,
            target: PathBuf::from("rocm-patch/config.toml"),
            mode: None,
        }],
        &rp_deploy::DeployOptions {
            into,
            system: false,
            no_load_check: true,
            allow_special_modes: false,
            command: std::env::args().collect::<Vec<_>>().join(" "),
            env: Default::default(),
        },
    )?;
    Ok(TuneWritten {
        file: file.display().to_string(),
        profile: profile.to_string(),
        transaction: tx.id.to_string(),
    })
}

pub(crate) fn tune(
    args: TuneArgs,
    state_dir: Option<PathBuf>,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    check_timeout(args.timeout)?;
    check_repeat(args.repeat)?;
    let json = args.json;
    let names: Vec<(String, bool)> = if args.profile.is_empty() {
        let o = super::settings::profile_options(&crate::cli::ProfileArgs {
            profile: None,
            sets: Vec::new(),
            force: false,
            keep_env: false,
            i_know_this_crashes: false,
            sysroot: "/".into(),
            timeout_ms: args.timeout_ms,
        })?;
        // The default profile first: the baseline the others are measured against.
        let default = rp_env::resolve(&o)
            .map(|r| r.profile)
            .unwrap_or_else(|_| "native".into());
        let mut v: Vec<(String, bool)> = rp_env::list(&o)?
            .into_iter()
            .map(|(n, _)| (n, false))
            .collect();
        v.sort_by_key(|(n, _)| *n != default);
        v
    } else {
        args.profile.iter().map(|p| (p.clone(), true)).collect()
    };
    let mut report = TuneReport {
        schema: rp_report::SCHEMA,
        ..Default::default()
    };
    // Probe each profile.
    let probe_base = base_options(
        &args.python,
        args.device,
        args.probe_only.clone(),
        args.timeout,
        args.probes_dir.clone(),
    )?;
    let mut columns: Vec<Column> = Vec::new();
    // (name, profile, find mode, environment changes), in the order tried.
    type Tried = (
        String,
        String,
        Option<String>,
        Vec<(String, Option<String>)>,
    );
    let mut tried: Vec<Tried> = Vec::new();
    let mut not_tried = Vec::new();
    for (i, (name, named)) in names.iter().enumerate() {
        // Warnings about the user's environment once, not per candidate.
        match super::settings::profile_changes_with(name, args.timeout_ms, *named, i == 0) {
            Ok(env) => tried.push((name.clone(), name.clone(), None, env)),
            Err(e) => not_tried.push(TuneCandidate {
                name: name.clone(),
                profile: name.clone(),
                note: Some(format!("not tried: {e}")),
                ..Default::default()
            }),
        }
    }
    let progress = Progress::new(json, "tune: starting");
    let mut is_rocm = None;
    let mut i = 0;
    while i < tried.len() {
        let (name, profile, find_mode, env) = tried[i].clone();
        i += 1;
        progress.line(
            &format!("tune: probing {name}"),
            format!("tune: probing {name} (every probe under this profile)"),
        );
        let opts = rp_probe::Options {
            env: env.clone(),
            profile: Some(name.clone()),
            ..probe_base.clone()
        };
        let mut cand = TuneCandidate {
            name: name.clone(),
            profile: profile.clone(),
            find_mode: find_mode.clone(),
            ..Default::default()
        };
        let p = match rp_probe::probe(&opts, &mut |_| {}) {
            Ok(p) => p,
            Err(e) => {
                cand.note = Some(format!("rejected: the probe did not run: {e}"));
                report.candidates.push(cand);
                continue;
            }
        };
        if report.torch.is_empty() {
            report.torch = p.torch.clone();
            report.hip = p.hip.clone();
            report.device = p.device;
        }
        let failed: Vec<String> = p
            .probes
            .iter()
            .filter(|r| !matches!(r.status, ProbeStatus::Pass | ProbeStatus::Skip))
            .map(|r| {
                let d = r
                    .detail
                    .as_deref()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("");
                let d: String = d.chars().take(160).collect();
                format!("{} ({}): {d}", r.name, r.status)
            })
            .collect();
        cand.correct = failed.is_empty() && !p.gpu_not_seen;
        if !failed.is_empty() {
            let names: Vec<String> = p
                .probes
                .iter()
                .filter(|r| !matches!(r.status, ProbeStatus::Pass | ProbeStatus::Skip))
                .map(|r| r.name.clone())
                .collect();
            // Once more, the failed probes alone: a failure that does not repeat is flaky,
            // which is said (and still rejects: a GPU that answers wrongly now and then is
            // not correct).
            let again = rp_probe::probe(
                &rp_probe::Options {
                    only: names.clone(),
                    ..opts.clone()
                },
                &mut |_| {},
            );
            let repeated = match &again {
                Ok(a) => a
                    .probes
                    .iter()
                    .filter(|r| !matches!(r.status, ProbeStatus::Pass | ProbeStatus::Skip))
                    .count(),
                Err(_) => names.len(),
            };
            cand.note = Some(if repeated == 0 {
                format!(
                    "rejected: {} failed, then passed when run again (flaky)",
                    names.join(", ")
                )
            } else {
                format!(
                    "rejected: {} failed (again when run a second time)",
                    names.join(", ")
                )
            });
        }
        cand.failed_probes = failed;
        progress.line(
            &format!(
                "tune: {name}: {}",
                if cand.correct {
                    "every probe passed"
                } else {
                    "rejected"
                }
            ),
            format!("tune: after {name}"),
        );
        is_rocm.get_or_insert(p.hip.is_some());
        // On a ROCm torch, MIOpen's find modes on top of each correct profile.
        if cand.correct && find_mode.is_none() && is_rocm == Some(true) {
            for m in &rp_kb::kb().tune().find_modes {
                if env
                    .iter()
                    .any(|(k, v)| k == "MIOPEN_FIND_MODE" && v.as_deref() == Some(m))
                {
                    continue;
                }
                let mut e = env.clone();
                e.retain(|(k, _)| k != "MIOPEN_FIND_MODE");
                e.push(("MIOPEN_FIND_MODE".into(), Some(m.clone())));
                tried.push((
                    format!("{profile}+MIOPEN_FIND_MODE={m}"),
                    profile.clone(),
                    Some(m.clone()),
                    e,
                ));
            }
        }
        if cand.correct {
            columns.push(Column {
                name: name.clone(),
                env,
            });
        }
        report.candidates.push(cand);
    }
    report.candidates.extend(not_tried);
    if is_rocm == Some(false) {
        report.notes.push(format!(
            "torch {} is not a ROCm build: MIOpen find modes were not tried ({})",
            report.torch,
            rp_kb::kb().tune().find_modes_ref
        ));
    }
    if columns.is_empty() {
        report
            .notes
            .push("no candidate passed every probe: nothing to rank".into());
        super::emit(out, json, &report, render::bench::tune)?;
        return Ok(report.exit_code());
    }
    let bench_base = base_options(
        &args.python,
        args.device,
        args.only.clone(),
        args.timeout,
        args.benches_dir.clone(),
    )?;
    progress.running("tune: benchmarking the correct profiles".into());
    let b = bench::bench(&bench_base, &columns, args.repeat, &mut |c, r, m| {
        progress.line(&cell_line(c, r, m), format!("tune: after {} ({c})", r.name))
    });
    drop(progress);
    let mut b = b?;
    after_run(&mut b, args.device, args.timeout_ms, None, false);
    report.gpu = b.gpu.clone();
    for (col, g) in b.profiles.iter().zip(&b.geomean_ratio) {
        if let Some(c) = report.candidates.iter_mut().find(|c| &c.name == col) {
            c.geomean_ratio = *g;
            c.measured = b
                .benches
                .iter()
                .filter_map(|r| r.cells.iter().find(|x| &x.profile == col))
                .filter(|x| x.metrics.is_some())
                .count() as u32;
        }
    }
    let measured: Vec<&TuneCandidate> = report
        .candidates
        .iter()
        .filter(|c| c.correct && c.geomean_ratio.is_some())
        .collect();
    let fastest = measured
        .iter()
        .min_by(|a, b| {
            a.geomean_ratio
                .partial_cmp(&b.geomean_ratio)
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .copied();
    // The baseline stays unless another candidate beats it by more than run-to-run noise.
    report.best = match (measured.first(), fastest) {
        (Some(base), Some(f)) => {
            let (b, fr) = (
                base.geomean_ratio.unwrap_or(1.0),
                f.geomean_ratio.unwrap_or(1.0),
            );
            if f.name != base.name && fr > b * (1.0 - NOISE) {
                report.notes.push(format!(
                    "{} is within {:.0}% of {}, which is run-to-run noise: {} is kept",
                    f.name,
                    NOISE * 100.0,
                    base.name,
                    base.name
                ));
                Some(base.name.clone())
            } else {
                Some(f.name.clone())
            }
        }
        _ => None,
    };
    report.bench = Some(b);
    if args.write {
        match report
            .best
            .clone()
            .and_then(|n| report.candidates.iter().find(|c| c.name == n).cloned())
        {
            Some(c) => report.written = Some(write_best(&c, state_dir)?),
            None => report
                .notes
                .push("--write: no candidate was measured, nothing written".into()),
        }
    }
    super::emit(out, json, &report, render::bench::tune)?;
    Ok(report.exit_code())
}
