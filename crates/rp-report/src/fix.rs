//! `fix` reports: the plan, each step's state, and the findings before and after.

use crate::{exit, ProbeDevice, Severity};
use serde::{Deserialize, Serialize};

vocabulary! {
    /// The kind of one `fix` step (a remedy's action, from the knowledge base).
    FixAction { #[default] /** Comment out the lines of startup files that set a variable. */ CommentStartupLines = "comment-startup-lines", /** A new venv with a stack that carries code for the GPU. */ NativeVenv = "native-venv", /** Add the user to the device nodes' groups. */ AddGroups = "add-groups", /** Write the user's config layer. */ UserConfig = "user-config", /** Steps printed for the user to take; nothing changed. */ Print = "print" }
}
vocabulary! {
    /// What became of one `fix` step.
    FixStepState { #[default] /** Planned (a dry run, or declined). */ Planned = "planned", /** Done and verified. */ Done = "done", /** Failed; everything the fix changed was undone. */ Failed = "failed", /** Printed for the user; nothing changed. */ Printed = "printed", /** Not done: it depends on something that cannot be done here (said in `detail`). */ Skipped = "skipped" }
}
vocabulary! {
    /// How a `fix` ended (its exit code follows from it).
    FixOutcome { #[default] /** Nothing to fix: no finding has a remedy (exit 0). */ NothingToFix = "nothing-to-fix", /** The plan was shown, nothing changed (`--dry-run`). */ DryRun = "dry-run", /** The user declined, or no terminal and no `--yes` (exit 2). */ Declined = "declined", /** Applied; no error finding remains and the probe passed (exit 0). */ Fixed = "fixed", /** Applied, but error findings remain or the probe did not pass (exit 1). */ Incomplete = "incomplete", /** A step failed and everything was rolled back (exit 3). */ RolledBack = "rolled-back" }
}

/// One step of `fix`'s plan.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct FixPlanStep {
    /// The remedy's action.
    pub action: FixAction,
    /// One line.
    pub title: String,
    /// The findings it addresses.
    pub findings: Vec<String>,
    /// Why this remedy (from the knowledge base).
    pub why: String,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
    /// What it changes: files (`path:line`), packages, groups, directories.
    pub changes: Vec<String>,
    /// What it leaves alone on purpose, with the reason (lines it cannot safely edit).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub untouched: Vec<String>,
    /// Commands it runs, or (for `print`) the commands for the user.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub commands: Vec<String>,
    /// It needs root (or `--system`).
    pub needs_root: bool,
    /// It takes effect at the next login.
    pub relogin: bool,
    /// It takes effect after a reboot.
    pub reboot: bool,
    /// How it is undone.
    pub undo: String,
    /// How it is verified.
    pub verify: String,
    /// What became of it.
    pub state: FixStepState,
    /// What happened, when it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

/// A finding, briefly (before/after in `fix`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct FindingBrief {
    /// Finding id.
    pub id: String,
    /// Severity.
    pub severity: Severity,
    /// Its subject (`node 1`, `file:line`), when it has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subject: Option<String>,
    /// Title.
    pub title: String,
}

/// The probe run that verifies a fix, or why none ran.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct FixProbe {
    /// The probe ran.
    pub ran: bool,
    /// Why it did not run, or why its result does not count as a GPU pass.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
    /// The interpreter it ran with.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub python: Option<String>,
    /// `cuda` or `cpu`, when it ran.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub device: Option<ProbeDevice>,
    /// Probes that passed.
    pub passed: u32,
    /// Probes run.
    pub total: u32,
    /// Names of the probes that did not pass.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub failed: Vec<String>,
    /// It ran on the GPU and every probe passed.
    pub gpu_verified: bool,
}

/// `rocm-patch fix` result.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct FixReport {
    /// Always [`SCHEMA`](crate::SCHEMA).
    pub schema: u32,
    /// The root the machine was read from.
    pub sysroot: String,
    /// How it ended.
    pub outcome: FixOutcome,
    /// Findings before.
    pub before: Vec<FindingBrief>,
    /// The plan, with each step's state.
    pub steps: Vec<FixPlanStep>,
    /// The deploy transaction that holds every change (`rollback ID` undoes the fix).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub transaction: Option<String>,
    /// The new venv, when one was made.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub venv: Option<String>,
    /// Findings after, read again as a new login shell would see the machine (null when
    /// nothing was applied).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub after: Option<Vec<FindingBrief>>,
    /// Error findings of `before` that are gone.
    pub fixed: Vec<String>,
    /// Error findings still there after.
    pub remaining: Vec<String>,
    /// Error findings of environments the fix did not touch (it made a new venv
    /// instead): not fixed, superseded — they stay until the app uses the new venv.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub superseded: Vec<String>,
    /// The verification probe.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub probe: Option<FixProbe>,
    /// Lines for the current shell (`unset …`): a fix cannot change the shell it runs in.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub current_shell: Vec<String>,
    /// How to use what was made (the venv with `rocm-patch run --venv`, activate lines).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub next: Vec<String>,
    /// Why it stopped, when it failed or was declined.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl FixReport {
    /// The exit status of `fix` that ended so: 0 nothing left to fix (a dry run: no error
    /// finding), 1 error findings remain or the probe did not pass, 2 declined, 3 rolled
    /// back.
    pub fn exit_code(&self) -> u8 {
        match self.outcome {
            FixOutcome::NothingToFix | FixOutcome::Fixed => exit::OK,
            FixOutcome::DryRun => {
                if self.before.iter().any(|f| f.severity == Severity::Error) {
                    exit::FINDING
                } else {
                    exit::OK
                }
            }
            FixOutcome::Incomplete => exit::FINDING,
            FixOutcome::Declined => exit::TOOL_ERROR,
            FixOutcome::RolledBack => exit::ROLLED_BACK,
        }
    }
}
