//! `rocm-patch explain`.

use crate::cli::ExplainArgs;
use crate::{exit, render};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

pub(crate) fn run(args: ExplainArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let mut env = super::env_map();
    for (k, v) in &args.env {
        env.insert(k.clone(), v.clone());
    }
    let overrides: Vec<String> = env
        .iter()
        .filter(|(k, _)| k.starts_with("HSA_OVERRIDE_GFX_VERSION"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let gpus = if args.no_machine {
        Vec::new()
    } else {
        let root = args.sysroot.as_deref().unwrap_or(Path::new("/"));
        rp_doctor::gpus(root, &env, Duration::from_secs(2))?
    };
    let ctx = rp_explain::Context {
        gpus: gpus
            .iter()
            .filter(|g| g.vendor == "amd")
            .filter_map(|g| Some((g.gfx_target.clone()?, g.name.clone())))
            .collect(),
        overrides,
    };
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
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        render::explain::human(&report, out)?;
    }
    Ok(if !report.errors.is_empty() {
        exit::TOOL_ERROR
    } else if rp_explain::has_problem(&report) {
        exit::FINDING
    } else {
        exit::OK
    })
}
