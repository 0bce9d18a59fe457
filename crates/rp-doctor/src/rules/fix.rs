//! Fix steps that several rules share: native code for a GPU, and where a variable is
//! set.

use rp_machine::MachineSnapshot;
use rp_report::FixStep;

/// Steps that get native code for `gpu`: the first stack in full, the others as
/// alternatives. Never an override (docs/rdna1.md).
pub(super) fn native_stack_fix(m: &MachineSnapshot, gpu: &str) -> Vec<FixStep> {
    // Only what this distribution can run (no pacman line on Debian).
    let stacks: Vec<&rp_kb::Stack> = rp_kb::kb()
        .stacks_for(gpu)
        .into_iter()
        .filter(|s| s.for_os(&m.os_ids))
        .collect();
    let mut out = Vec::new();
    for (i, s) in stacks.iter().enumerate() {
        let steps = s.steps_for(gpu);
        if i == 0 {
            out.push(FixStep::note(format!("{} ({})", s.title, s.reference)));
            if let Some(r) = &s.requires {
                out.push(FixStep::note(format!(
                    "needs {}",
                    rp_kb::fill(r, &[("gpu", gpu)])
                )));
            }
            if s.id.starts_with("therock") {
                // `rocm-patch fix` alone is the command; the same steps by hand are
                // comments, so a pasted block never answers fix's prompt with them.
                out.push(FixStep::run_because(
                    "rocm-patch fix",
                    "makes a new venv with these packages, checks what pip installed, and undoes with `rocm-patch rollback --last`",
                ));
                out.extend(steps.into_iter().map(|st| {
                    FixStep::note(match (st.command, st.note) {
                        (Some(c), Some(n)) => format!("by hand instead ({n}): {c}"),
                        (Some(c), None) => format!("by hand instead: {c}"),
                        (None, n) => n.unwrap_or_default(),
                    })
                }));
                continue;
            }
            out.extend(steps.into_iter().map(|st| match (st.command, st.note) {
                (Some(c), Some(n)) => FixStep::run_because(c, n),
                (Some(c), None) => FixStep::run(c),
                (None, n) => FixStep::note(n.unwrap_or_default()),
            }));
            continue;
        }
        let cmds: Vec<String> = steps.iter().filter_map(|st| st.command.clone()).collect();
        let notes: Vec<String> = steps.iter().filter_map(|st| st.note.clone()).collect();
        let mut what = if notes.is_empty() {
            s.title.clone()
        } else {
            notes.join("; ")
        };
        if let Some(r) = &s.requires {
            what = format!("{what} (needs {})", rp_kb::fill(r, &[("gpu", gpu)]));
        }
        out.push(FixStep::instead(
            (!cmds.is_empty()).then(|| cmds.join(" && ")),
            what,
        ));
    }
    out
}

/// Where the user's startup files set `var`, as fix steps; the generic search when none
/// is known.
pub(super) fn where_set(m: &MachineSnapshot, var: &str) -> Vec<FixStep> {
    let lines: Vec<FixStep> = m
        .environment
        .set_in_files
        .iter()
        .filter(|s| s.name == var)
        .map(|s| {
            FixStep::note(match &s.not_editable {
                None => format!(
                    "{}:{} sets {var}={}: delete that line (`rocm-patch fix` comments it out)",
                    s.file, s.line, s.value
                ),
                Some(why) => format!(
                    "{}:{} sets {var}={} ({why}): change it by hand",
                    s.file, s.line, s.value
                ),
            })
        })
        .collect();
    if !lines.is_empty() {
        return lines;
    }
    vec![FixStep::run_because(
        format!("grep -n '{var}' ~/.bashrc ~/.profile ~/.zshrc /etc/environment /etc/profile.d/* 2>/dev/null"),
        "delete it where it is set",
    )]
}
