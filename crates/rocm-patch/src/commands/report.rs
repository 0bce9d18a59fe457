//! `rocm-patch report`: doctor, the library inventory, the profile, versions, kernel log
//! lines, explain and (optionally) the probe in one Markdown file for a bug tracker,
//! redacted by default.

use super::settings::Settings;
use crate::cli::ReportArgs;
use crate::{exit, render};
use rp_bugreport::Redactor;
use rp_report::{BugReport, LibraryCoverage, SystemVersions};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) fn run(args: ReportArgs, s: &Settings, out: &mut dyn Write) -> anyhow::Result<u8> {
    let live = args.sysroot == Path::new("/");
    if args.probe && !live {
        anyhow::bail!("--probe runs torch, and nothing from a --sysroot tree is ever run");
    }
    if let Some(o) = &args.output {
        if o.symlink_metadata().is_ok() {
            anyhow::bail!("{}: already exists, left alone", o.display());
        }
    }
    // What the command waits for, shown on a terminal after 2 s.
    let stage = Arc::new(Mutex::new("reading the machine"));
    let wait = {
        let stage = stage.clone();
        crate::progress::Wait::start(true, move || {
            stage.lock().map(|s| s.to_string()).unwrap_or_default()
        })
    };
    let set_stage = |s: &'static str| {
        if let Ok(mut g) = stage.lock() {
            *g = s;
        }
    };
    let root = super::sysroot(&args.sysroot, args.timeout_ms)?;
    let env = s.env.clone();
    let cwd = std::env::current_dir()?;
    let machine = rp_machine::snapshot(
        &root,
        &rp_machine::Options {
            pythons: args.python.clone(),
            user: args.user.clone(),
            env: env.clone(),
            cwd: cwd.clone(),
            full: true,
            cache_dir: s.cache_dir.clone(),
        },
    )?;
    let doctor = rp_doctor::doctor(&machine);
    let v = rp_bugreport::versions(&root);
    let versions = SystemVersions {
        kernel: v.kernel,
        distribution: v.distribution,
        rocm: machine
            .rocm
            .iter()
            .map(|i| {
                format!(
                    "{} {}",
                    i.path,
                    i.version.as_deref().unwrap_or("(version unknown)")
                )
            })
            .collect(),
        torch: machine
            .python
            .iter()
            .filter_map(|p| {
                let t = p.env.torch.as_ref()?;
                Some(format!(
                    "{}: torch {} ({})",
                    p.env.path,
                    t.version.as_deref().unwrap_or("(version unknown)"),
                    t.build
                ))
            })
            .collect(),
    };
    let targets: Vec<String> = machine
        .kfd_gpus()
        .filter_map(|g| g.gfx_target.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let libraries = libraries(&machine, &targets);
    set_stage("resolving the profile");
    let (profile, profile_error) = match rp_env::resolve(&rp_env::Options {
        sysroot: args.sysroot.clone(),
        env: env.clone(),
        cwd,
        profile: None,
        sets: Vec::new(),
        force: false,
        keep_env: false,
        i_know_this_crashes: false,
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        trust_store: s.trust_store.clone(),
    }) {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e.to_string())),
    };
    set_stage("reading the kernel log");
    let classifier = rp_explain::Classifier::new();
    let (all_lines, kernel_log_from) = rp_bugreport::kernel_log(&root, usize::MAX);
    let kernel_log = recognised(&classifier, all_lines, 60);
    set_stage("reading the logs");
    let logs = (!args.log.is_empty()).then(|| explain(&classifier, &args.log, &machine, &env));
    set_stage("running the probe (torch)");
    let (probe, probe_error) = if args.probe {
        match run_probe(&args.python) {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        }
    } else {
        (None, None)
    };
    let mut report = BugReport {
        schema: rp_report::SCHEMA,
        tool: format!("rocm-patch {}", crate::cli::LONG_VERSION),
        versions,
        doctor,
        libraries,
        profile,
        profile_error,
        kernel_log,
        kernel_log_from,
        logs,
        probe,
        probe_error,
        redacted: Vec::new(),
        redaction: !args.no_redact,
    };
    drop(wait);
    let redactor = (!args.no_redact).then(|| Redactor::for_machine(&root, &machine));
    if let Some(r) = &redactor {
        let mut value = serde_json::to_value(&report)?;
        redact_value(r, &mut value);
        report = serde_json::from_value(value)?;
    }
    if let Some(r) = &redactor {
        report.redacted = r.kinds();
    }
    // Redaction changes lengths after the cut: render again with less room if needed.
    let mut budget = args.max_size;
    let text = loop {
        let text = finish(&report, args.json, budget, redactor.as_ref())?;
        if args.json || args.max_size == 0 || text.len() <= args.max_size || budget < 1024 {
            break text;
        }
        budget = budget.saturating_sub(text.len() - args.max_size + 256);
    };
    match &args.output {
        Some(p) => {
            super::write_new(p, text.as_bytes())?;
            writeln!(out, "{}", p.display())?;
        }
        None => out.write_all(text.as_bytes())?,
    }
    Ok(exit::OK)
}

/// Every string of a JSON value, keys too, redacted.
fn redact_value(r: &Redactor, v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => *s = r.redact(s),
        Value::Array(a) => a.iter_mut().for_each(|x| redact_value(r, x)),
        Value::Object(o) => {
            let old = std::mem::take(o);
            for (k, mut x) in old {
                redact_value(r, &mut x);
                o.insert(r.redact(&k), x);
            }
        }
        _ => {}
    }
}

/// The libraries torch loads with device code, and whether each GPU can load them.
fn libraries(m: &rp_machine::MachineSnapshot, targets: &[String]) -> Vec<LibraryCoverage> {
    let mut out = Vec::new();
    for p in &m.python {
        let Some(inv) = &p.inventory else { continue };
        let covered: BTreeMap<&String, BTreeSet<String>> = targets
            .iter()
            .filter_map(|t| Some((t, t.parse::<rp_kb::TargetId>().ok()?)))
            .map(|(t, tid)| {
                let c = rp_inspect::coverage_of(inv, &tid);
                (t, c.covered.into_iter().map(|c| c.path).collect())
            })
            .collect();
        for f in &inv.files {
            if f.code_objects.is_empty() && f.kpack_ref.is_none() {
                continue;
            }
            out.push(LibraryCoverage {
                path: f.path.clone(),
                targets: f
                    .code_objects
                    .iter()
                    .map(|c| {
                        c.target_id
                            .split(':')
                            .next()
                            .unwrap_or_default()
                            .to_string()
                    })
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                kpack: f.kpack_ref.is_some(),
                loads: covered
                    .iter()
                    .map(|(t, paths)| ((*t).clone(), paths.contains(&f.path)))
                    .collect(),
            });
        }
    }
    out
}

/// The last `max` kernel-log lines that explain recognises (a signature of the knowledge
/// base matches them); the others are left out of a report, whatever they carry.
fn recognised(c: &rp_explain::Classifier, lines: Vec<String>, max: usize) -> Vec<String> {
    let ctx = rp_explain::Context::default();
    let mut kept: Vec<String> = lines
        .into_iter()
        .filter(|l| {
            let r = rp_explain::explain(c, vec![(String::new(), Ok(l.as_bytes()))], &ctx);
            !r.events.is_empty()
        })
        .collect();
    let skip = kept.len().saturating_sub(max);
    kept.split_off(skip)
}

fn explain(
    c: &rp_explain::Classifier,
    files: &[PathBuf],
    m: &rp_machine::MachineSnapshot,
    env: &BTreeMap<String, String>,
) -> rp_report::ExplainReport {
    let ctx = super::settings::context(&m.gpus, env);
    let inputs: Vec<(String, std::io::Result<Box<dyn BufRead>>)> = files
        .iter()
        .map(|p| {
            let r = std::fs::File::open(p)
                .map(|f| Box::new(BufReader::with_capacity(1 << 16, f)) as Box<dyn BufRead>);
            (p.display().to_string(), r)
        })
        .collect();
    rp_explain::explain(c, inputs, &ctx)
}

fn run_probe(pythons: &[PathBuf]) -> anyhow::Result<rp_report::ProbeReport> {
    let python = match pythons.first() {
        Some(p) if p.is_dir() => p.join("bin/python"),
        Some(p) => p.clone(),
        None => PathBuf::from("python3"),
    };
    let opts = rp_probe::Options {
        python,
        device: rp_probe::Device::Auto,
        only: Vec::new(),
        timeout: Duration::from_secs(120),
        startup_timeout: Duration::from_secs(300),
        probes_dir: None,
        env: Vec::new(),
        profile: None,
        bench_repeat: None,
    };
    Ok(rp_probe::probe(&opts, &mut |_| {})?)
}

/// The report as JSON or Markdown within `budget` bytes, redacted once more as a whole.
fn finish(
    report: &BugReport,
    json: bool,
    budget: usize,
    redactor: Option<&Redactor>,
) -> anyhow::Result<String> {
    let mut text = if json {
        serde_json::to_string_pretty(report)? + "\n"
    } else {
        let mut md = Vec::new();
        render::report::markdown(report, budget, &mut md)?;
        String::from_utf8(md)?
    };
    if let Some(r) = redactor {
        // Once more over the finished text: renderers join values into new strings.
        text = r.redact(&text);
        let kinds = r.kinds();
        if !json && !kinds.is_empty() {
            text = text.replacen(
                render::report::REDACTED_MARK,
                &format!(
                    "Redacted (stable placeholders such as `<user>`): {}.",
                    kinds.join(", ")
                ),
                1,
            );
        }
    }
    Ok(text.replacen(
        render::report::REDACTED_MARK,
        "Nothing needed redacting.",
        1,
    ))
}
