//! `rocm-patch bench` and `rocm-patch tune`.

use super::settings::Settings;
use crate::cli::{BenchArgs, ProbeDevice, TuneArgs};
use crate::progress::Wait;
use crate::{exit, render};
use rp_probe::bench::{self, Column};
use rp_probe::tune::TuneEvent;
use rp_report::{BenchReport, TuneCandidate, TuneWritten};
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
    s: &Settings,
    report: &mut BenchReport,
    dev: ProbeDevice,
    timeout_ms: u64,
    state_dir: Option<&Path>,
    compare: bool,
) {
    if report.device == rp_report::ProbeDevice::Cpu && !matches!(dev, ProbeDevice::Cpu) {
        let (failed, note) = super::settings::cpu_note(
            s,
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

pub(crate) fn bench(args: BenchArgs, s: &Settings, out: &mut dyn Write) -> anyhow::Result<u8> {
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
            env: super::settings::profile_changes(s, p, args.timeout_ms)?,
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
    let sd = s.state_dir().ok();
    after_run(
        s,
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
fn user_config(s: &Settings) -> anyhow::Result<(PathBuf, PathBuf)> {
    let env = &s.env;
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

/// The name `--write` gives a find-mode variant.
const TUNED: &str = "tuned";

fn write_best(c: &TuneCandidate, s: &Settings) -> anyhow::Result<TuneWritten> {
    let (into, file) = user_config(s)?;
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
    let sd = s.state_dir()?;
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

/// The candidates: the profiles named, else every profile with the default first (the
/// baseline the others are measured against), each with its environment changes.
fn candidates(args: &TuneArgs, s: &Settings) -> anyhow::Result<Vec<rp_probe::tune::Candidate>> {
    let names: Vec<(String, bool)> = if args.profile.is_empty() {
        let o = super::settings::profile_options(
            s,
            &crate::cli::ProfileArgs {
                profile: None,
                sets: Vec::new(),
                force: false,
                keep_env: false,
                i_know_this_crashes: false,
                sysroot: "/".into(),
                timeout_ms: args.timeout_ms,
            },
        )?;
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
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, (name, named))| rp_probe::tune::Candidate {
            // Warnings about the user's environment once, not per candidate.
            env: super::settings::profile_changes_with(s, &name, args.timeout_ms, named, i == 0)
                .map_err(|e| e.to_string()),
            name,
        })
        .collect())
}

pub(crate) fn tune(args: TuneArgs, s: &Settings, out: &mut dyn Write) -> anyhow::Result<u8> {
    check_timeout(args.timeout)?;
    check_repeat(args.repeat)?;
    let candidates = candidates(&args, s)?;
    let opts = rp_probe::tune::TuneOptions {
        probe: base_options(
            &args.python,
            args.device,
            args.probe_only.clone(),
            args.timeout,
            args.probes_dir.clone(),
        )?,
        bench: base_options(
            &args.python,
            args.device,
            args.only.clone(),
            args.timeout,
            args.benches_dir.clone(),
        )?,
        repeat: args.repeat,
    };
    let progress = Progress::new(args.json, "tune: starting");
    let report = rp_probe::tune::tune(&opts, candidates, &mut |e| match e {
        TuneEvent::Probing(name) => progress.line(
            &format!("tune: probing {name}"),
            format!("tune: probing {name} (every probe under this profile)"),
        ),
        TuneEvent::Verdict { name, correct } => progress.line(
            &format!(
                "tune: {name}: {}",
                if correct {
                    "every probe passed"
                } else {
                    "rejected"
                }
            ),
            format!("tune: after {name}"),
        ),
        TuneEvent::Benchmarking => {
            progress.running("tune: benchmarking the correct profiles".into());
        }
        TuneEvent::Cell {
            column,
            result,
            metrics,
        } => progress.line(
            &cell_line(column, result, metrics),
            format!("tune: after {} ({column})", result.name),
        ),
    });
    drop(progress);
    let mut report = report?;
    if let Some(b) = report.bench.as_mut() {
        after_run(s, b, args.device, args.timeout_ms, None, false);
    }
    if args.write && report.bench.is_some() {
        match report
            .best
            .clone()
            .and_then(|n| report.candidates.iter().find(|c| c.name == n).cloned())
        {
            Some(c) => report.written = Some(write_best(&c, s)?),
            None => report
                .notes
                .push("--write: no candidate was measured, nothing written".into()),
        }
    }
    super::emit(out, args.json, &report, render::bench::tune)?;
    Ok(report.exit_code())
}
