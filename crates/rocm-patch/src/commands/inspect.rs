//! `rocm-patch inspect`.

use crate::cli::InspectArgs;
use crate::progress::Wait;
use crate::render;
use anyhow::Context;
use rp_kb::TargetId;
use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;

pub(crate) fn run(args: InspectArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let gpu = match &args.gpu {
        Some(g) => {
            let t: TargetId = g.parse().with_context(|| format!("--gpu {g}"))?;
            if rp_kb::kb().processor(&t.processor).is_none() {
                anyhow::bail!("--gpu {g}: unknown processor {}", t.processor);
            }
            Some(t)
        }
        None => None,
    };
    let opts = rp_inspect::Options {
        deep: args.deep,
        gpu,
        wheel_member_in_memory: args.wheel_member_in_memory.unwrap_or(0),
        confine: None,
        // The variables of this shell: the runtime would search the same archives.
        kpack_env: rp_inspect::KpackEnv::from_process(),
        miopen: true,
        progress: Some(Default::default()),
    };
    // On a terminal, an inspection of over 2 s (a whole /usr/lib) shows how far it is.
    let wait = opts.progress.clone().map(|p| {
        Wait::start(!args.json, move || {
            let (done, files) = (p.done.load(Relaxed), p.files.load(Relaxed));
            if files == 0 {
                "inspect: looking for libraries".to_string()
            } else {
                format!("inspect: {done} of {files} files read")
            }
        })
    });
    let report = rp_inspect::inspect(&args.paths, &opts);
    drop(wait);
    super::emit(out, args.json, &report, |r, o| {
        render::inspect::human(r, args.verbose, o)
    })?;
    for f in &report.files {
        if let Some(e) = &f.error {
            super::error_line(&format!("{}: {e}", f.path));
        }
    }
    Ok(report.exit_code())
}
