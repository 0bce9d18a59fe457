//! `rocm-patch explain`.

use crate::cli::ExplainArgs;
use crate::{exit, render};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

pub(crate) fn run(args: ExplainArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let mut env = super::env_map();
    for (k, v) in &args.env {
        env.insert(k.clone(), v.clone());
    }
    let gpus = if args.no_machine {
        Vec::new()
    } else {
        let root = super::sysroot(
            args.sysroot.as_deref().unwrap_or(Path::new("/")),
            args.timeout_ms,
        )?;
        rp_machine::snapshot(
            &root,
            &rp_machine::Options {
                env: env.clone(),
                cwd: std::env::current_dir()?,
                ..Default::default()
            },
        )?
        .gpus
    };
    let ctx = context(&gpus, &env);
    let stdin_only = args.files.is_empty();
    let inputs: Vec<(String, std::io::Result<Box<dyn BufRead>>)> = if stdin_only {
        vec![(
            "-".to_string(),
            Ok(Box::new(BufReader::with_capacity(1 << 16, std::io::stdin())) as Box<dyn BufRead>),
        )]
    } else {
        args.files
            .iter()
            .map(|p| {
                let name = p.display().to_string();
                if name == "-" {
                    let r: Box<dyn BufRead> =
                        Box::new(BufReader::with_capacity(1 << 16, std::io::stdin()));
                    return (name, Ok(r));
                }
                let r = std::fs::File::open(p)
                    .map(|f| Box::new(BufReader::with_capacity(1 << 16, f)) as Box<dyn BufRead>);
                (name, r)
            })
            .collect()
    };
    let classifier = rp_explain::Classifier::new();
    let report = rp_explain::explain(&classifier, inputs, &ctx);
    for e in &report.errors {
        super::error_line(&format!("cannot read {e}"));
    }
    super::emit(out, args.json, &report, render::explain::human)?;
    Ok(if !report.errors.is_empty() {
        exit::TOOL_ERROR
    } else if rp_explain::has_problem(&report) {
        exit::FINDING
    } else {
        exit::OK
    })
}

/// What explain knows of the machine: its AMD GPUs (true target, name) and the overrides
/// in force.
pub(crate) fn context(
    gpus: &[rp_report::Gpu],
    env: &std::collections::BTreeMap<String, String>,
) -> rp_explain::Context {
    rp_explain::Context {
        gpus: gpus
            .iter()
            .filter(|g| g.vendor == rp_report::Vendor::Amd)
            .filter_map(|g| Some((g.gfx_target.clone()?, g.name.clone())))
            .collect(),
        overrides: env
            .iter()
            .filter(|(k, _)| k.starts_with("HSA_OVERRIDE_GFX_VERSION"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
    }
}
