//! Findings (`doctor`, `fix`): what is wrong, how much it matters, and the steps
//! that fix it.

use serde::{Deserialize, Serialize};

vocabulary! {
    /// How much a finding matters.
    Severity { #[default] /** Something is broken. */ Error = "error", /** Something may break. */ Warning = "warning", /** Worth knowing. */ Info = "info" }
}

/// One step of a fix: a command to run, a note for the reader, or both.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct FixStep {
    /// The shell command, when the step is one; ready to paste.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub command: Option<String>,
    /// What the step does or what to do by hand.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
    /// The command needs root (it starts with `sudo`).
    #[serde(default)]
    pub needs_root: bool,
    /// Another way to the same end as the steps before it: run it instead of them, not
    /// as well.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub alternative: bool,
}

impl FixStep {
    /// A command.
    pub fn run(command: impl Into<String>) -> FixStep {
        let command = command.into();
        FixStep {
            needs_root: command.starts_with("sudo "),
            command: Some(command),
            note: None,
            alternative: false,
        }
    }
    /// Another way to the same end: `what` says which (a distribution, a source build).
    pub fn instead(command: Option<String>, what: impl Into<String>) -> FixStep {
        FixStep {
            needs_root: command.as_deref().is_some_and(|c| c.starts_with("sudo ")),
            command,
            note: Some(what.into()),
            alternative: true,
        }
    }
    /// A command with a note on what it does.
    pub fn run_because(command: impl Into<String>, note: impl Into<String>) -> FixStep {
        FixStep {
            note: Some(note.into()),
            ..FixStep::run(command)
        }
    }
    /// A note without a command.
    pub fn note(note: impl Into<String>) -> FixStep {
        FixStep {
            command: None,
            note: Some(note.into()),
            needs_root: false,
            alternative: false,
        }
    }
}

/// One finding.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct Finding {
    /// Stable id.
    pub id: String,
    /// `error`, `warning` or `info`.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// Why it matters.
    pub why: String,
    /// Source.
    #[serde(rename = "ref")]
    pub reference: String,
    /// What to do, step by step: `{"command": "...", "note": "...", "needs_root": bool}`
    /// (a step has a command, a note, or both).
    pub fix: Vec<FixStep>,
    /// What it is about (`node 1`, a path), when specific.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subject: Option<String>,
}
