//! Override evidence: overrides seen in the log, the environment or `--env` that make a
//! GPU run code it cannot execute, and what only an override explains.

use crate::feed::State;
use crate::{Classifier, Context};

/// With a fault and no override in sight: what the log shows only an override does (the
/// runtime reporting a foreign target for the GPU, or a pytorch.org build running on a
/// GPU it has no code for).
pub(crate) fn inferred_override(st: &State, ctx: &Context) -> Vec<String> {
    let kb = rp_kb::kb();
    let true_targets: Vec<(String, String)> = if ctx.gpus.is_empty() {
        st.gpu_names
            .iter()
            .filter_map(|n| Some((kb.target_by_marketing_name(n)?, n.clone())))
            .collect()
    } else {
        ctx.gpus
            .iter()
            .map(|(t, n)| (t.to_string(), n.clone()))
            .collect()
    };
    let mut inferred = Vec::new();
    {
        for (t, name) in &true_targets {
            for (r, at) in &st.runtime_targets {
                if matches!(kb.override_compat(t, r), rp_kb::OverrideCompat::Foreign) {
                    inferred.push(format!(
                        "{at}: the runtime reported {r} on {name} ({t}), which only an override does"
                    ));
                }
            }
            let not_in_pytorch_org = kb.stacks_for(t).iter().all(|s| s.id != "pytorch-org");
            for (v, major, at) in &st.torch_builds {
                // pytorch.org's ROCm wheels (ROCm 6 and older here) carry no code for
                // targets outside their list (pytorch/pytorch#132570): torch only saw
                // the GPU because an override renamed it.
                if not_in_pytorch_org && *major < 7 {
                    inferred.push(format!(
                        "{at}: torch {v} (a pytorch.org ROCm build) has no {t} code for {name}, so it could only run under an override"
                    ));
                }
            }
        }
    }
    inferred
}

/// The override evidence: overrides seen in the log and those in force (`ctx.overrides`)
/// that make a known GPU run foreign code, else, after a memory fault, what only an
/// override explains. Takes the log's evidence out of `st`.
pub(crate) fn override_evidence(c: &Classifier, st: &mut State, ctx: &Context) -> Vec<String> {
    // Override evidence counts where it makes a GPU of the machine (or named in the log)
    // run code it cannot execute; one its knowledge base rates equivalent or risky for
    // the GPU (`11.0.0` on gfx1103) is not a foreign-ISA fault (issue 29: explain said
    // foreign where doctor said risky). With no GPU known, every override counts.
    let known: Vec<String> = if ctx.gpus.is_empty() {
        st.gpu_names
            .iter()
            .filter_map(|n| rp_kb::kb().target_by_marketing_name(n))
            .collect()
    } else {
        ctx.gpus.iter().map(|(t, _)| t.to_string()).collect()
    };
    let foreign = |text: &str| -> bool {
        let Some(m) = c.override_re.captures(text.as_bytes()) else {
            return true;
        };
        let value = String::from_utf8_lossy(&m[2]).into_owned();
        let Some(code) =
            rp_kb::GfxVersion::parse_override(&value).and_then(rp_kb::GfxVersion::gfx_name)
        else {
            return true;
        };
        known.is_empty()
            || known.iter().any(|t| {
                matches!(
                    rp_kb::kb().override_compat(t, &code),
                    rp_kb::OverrideCompat::Foreign
                )
            })
    };
    let mut evidence: Vec<String> = std::mem::take(&mut st.evidence)
        .into_iter()
        .filter(|e| foreign(e))
        .collect();
    for o in &ctx.overrides {
        if foreign(o) {
            evidence.push(o.clone());
        }
    }
    // What the log itself shows: the GPU it ran on (from the machine, or named in the
    // log) against the target the runtime reported, or a torch build that carries no
    // code for it. Either, with a fault, means an override was in force where the
    // program started, even if this shell has none.
    let faulted = st.events.iter().any(|e| e.cause == "memory-access-fault");
    let mut inferred = if faulted && evidence.is_empty() {
        inferred_override(st, ctx)
    } else {
        Vec::new()
    };
    if !inferred.is_empty() {
        inferred.push(
            "no override is set here: it was set where the program started (a launcher or wrapper script, a systemd service's Environment=, a container's environment, a desktop file, a notebook kernel.json, or a shell startup file: `rocm-patch doctor` lists those)".into(),
        );
        evidence.extend(inferred);
    }
    evidence
}
