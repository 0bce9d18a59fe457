//! What a trace says about a crash, for `explain --trace`.

use rp_report::{TraceFatbin, TracePolicy, TraceReport};

/// What a trace says about a crash, as sentences for `explain`: the last kernel launched
/// and whether its fat binary had code for the GPU; whether the seed policy changed the
/// outcome, when traces with and without it are given.
pub fn evidence(reports: &[TraceReport]) -> Vec<String> {
    let mut out = Vec::new();
    for r in reports {
        let file = r.files.first().cloned().unwrap_or_default();
        let ended = if r.ended_abnormally {
            "ended without its exit record (it was killed or faulted)"
        } else {
            "exited normally"
        };
        out.push(format!(
            "trace {file} (policy {}): {} records, {} launches; the process {ended}",
            r.policy, r.records, r.launches
        ));
        if let Some(l) = r.last_launches.last() {
            let fb = r.fatbins.iter().find(|f| f.lib.is_some() && f.lib == l.lib);
            let code = match (fb, &r.gpu) {
                (Some(f), Some(g)) => match f.runs_here {
                    Some(true) => format!(", whose fat binary has code for {g} ({})", f.targets.join(", ")),
                    Some(false) => format!(
                        ", whose fat binary had no code for {g} (it holds {}): the GPU ran another target's machine code",
                        if f.targets.is_empty() { "nothing".into() } else { f.targets.join(", ") }
                    ),
                    None => String::new(),
                },
                _ => String::new(),
            };
            out.push(format!(
                "the last kernel launched was `{}`{}{}",
                l.kernel,
                l.lib
                    .as_deref()
                    .map(|x| format!(" from {x}"))
                    .unwrap_or_default(),
                code
            ));
        }
        let foreign: Vec<&TraceFatbin> = r
            .fatbins
            .iter()
            .filter(|f| f.runs_here == Some(false))
            .collect();
        if !foreign.is_empty() {
            if let Some(g) = &r.gpu {
                out.push(format!(
                    "{} of {} registered fat binaries have no code for {g}",
                    foreign.len(),
                    r.fatbins.len()
                ));
            }
        }
    }
    let seed = reports.iter().find(|r| r.policy == TracePolicy::Seed);
    let plain = reports.iter().find(|r| r.policy != TracePolicy::Seed);
    if let (Some(s), Some(p)) = (seed, plain) {
        match (s.ended_abnormally, p.ended_abnormally) {
            (true, true) => out.push(
                "a fault with --policy seed as without it: not a memory-coherence problem".into(),
            ),
            (false, true) => out.push(
                "the fault is gone with --policy seed: allocation flags (coherence) are involved"
                    .into(),
            ),
            _ => {}
        }
    }
    out
}
