//! The user's startup files: overrides the next shell gets, and files doctor could not
//! read.

use rp_kb::OverrideCompat;
use rp_machine::MachineSnapshot;
use rp_report::{Finding, FixStep};

use super::fix::native_stack_fix;
use super::mk;

/// Overrides that startup files set but the environment doctor ran with does not have:
/// the next shell gets them. Each line is one finding when its value breaks a GPU here.
pub(super) fn startup_override_findings(m: &MachineSnapshot, out: &mut Vec<Finding>) {
    let kb = rp_kb::kb();
    // Text inside a here-document sets nothing.
    for s in m.environment.set_in_files.iter().filter(|s| !s.text_only) {
        let node: Option<u32> = match s.name.strip_prefix("HSA_OVERRIDE_GFX_VERSION") {
            Some("") => None,
            Some(n) => match n.strip_prefix('_').and_then(|n| n.parse().ok()) {
                Some(n) => Some(n),
                None => continue,
            },
            None => continue,
        };
        if m.env.get(&s.name) == Some(&s.value) {
            continue; // in force now: the override findings name this line
        }
        let code =
            rp_kb::GfxVersion::parse_override(&s.value).and_then(rp_kb::GfxVersion::gfx_name);
        let line = s.line.to_string();
        let mut fix = vec![FixStep::note(match &s.not_editable {
            None => format!(
                "{}:{}: delete that line (`rocm-patch fix` comments it out)",
                s.file, s.line
            ),
            Some(why) => format!("{}:{}: {why}; change it by hand", s.file, s.line),
        })];
        for g in m.kfd_gpus().filter(|g| node.is_none() || g.node == node) {
            let own = g.gfx_target.as_deref().unwrap_or("unknown");
            let (code, detail) = match &code {
                None => (
                    "no".to_string(),
                    format!("{} is not a valid gfx version: the runtime fails to start.", s.value),
                ),
                Some(c) if matches!(kb.override_compat(own, c), OverrideCompat::Foreign) => (
                    c.clone(),
                    format!("{own} cannot execute {c} code: memory access faults (see override-foreign-isa)."),
                ),
                Some(_) => continue,
            };
            fix.extend(native_stack_fix(m, own));
            out.push(mk(
                "override-in-startup-file",
                &[
                    ("file", &s.file),
                    ("line", &line),
                    ("var", &s.name),
                    ("value", &s.value),
                    ("gpu", own),
                    ("gpu_name", &g.name),
                    ("code", &code),
                    ("detail", &detail),
                ],
                fix,
                Some(format!("{}:{}", s.file, s.line)),
            ));
            break;
        }
    }
}

/// Startup files doctor could not read: what they set is unknown.
pub(super) fn unread_file_findings(m: &MachineSnapshot, out: &mut Vec<Finding>) {
    for u in &m.environment.unread_files {
        out.push(mk(
            "startup-file-unread",
            &[("file", &u.file), ("why", &u.why)],
            vec![FixStep::run(format!(
                "grep -nE 'HSA_OVERRIDE_GFX_VERSION|ROCR_VISIBLE_DEVICES|HIP_VISIBLE_DEVICES|ROCM_KPACK' {}",
                u.file
            ))],
            Some(u.file.clone()),
        ));
    }
}
