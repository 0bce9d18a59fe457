//! `fix`: from doctor's findings to a plan of remedies, applied as one deploy
//! transaction and verified.
//!
//! Which remedy answers which finding is data (rp-kb `data/remedies.toml`); this crate
//! knows how to carry out each kind of action once: comment out startup-file lines, make
//! and verify a venv, add groups, write the user's config layer, or print steps. Every
//! change is part of one transaction of the deploy engine (files byte-exact, the venv
//! and the groups as recorded actions), so `rollback` undoes a fix and `recover`
//! finishes one that was interrupted. Nothing here prints.
#![deny(missing_docs)]

mod apply;
mod compare;
pub mod edit;
mod plan;
pub mod run;
pub mod venv;

pub use apply::{apply, Applied};
pub use compare::{compare, Comparison};
pub use plan::plan;

use rp_deploy::DeployError;
use rp_report::{DoctorReport, FindingBrief, FixPlanStep};
use std::path::{Path, PathBuf};

/// What `fix` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these findings (empty: every finding with a remedy).
    pub ids: Vec<String>,
    /// Also change system files (/etc) and groups.
    pub system: bool,
    /// The new venv (a host path); default below the user's data directory (live only).
    pub venv: Option<PathBuf>,
    /// The package index (default: the channel's, from the knowledge base).
    pub index_url: Option<String>,
    /// `stable` or `nightly`.
    pub channel: String,
    /// The interpreter the venv is made from (default: the newest supported on PATH).
    pub venv_python: Option<PathBuf>,
    /// `PATH` to search for that interpreter (on this host).
    pub host_path: String,
    /// The command line, for the journal.
    pub command: String,
    /// This process runs as root.
    pub is_root: bool,
}

/// Why no plan could be made or applied.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    /// Bad input (an unknown finding id, a venv directory in use…).
    #[error("{0}")]
    Usage(String),
    /// The transaction could not be made.
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// The machine could not be read (before or after the fix).
    #[error("{0}")]
    Machine(String),
}

/// One edit of a startup file: lines (1-based) and their text as read.
#[derive(Debug, Clone)]
struct FileEdit {
    host: PathBuf,
    /// First line of each command to edit, with its text when planned.
    lines: Vec<(u32, String)>,
    /// The variables taken out of those commands.
    names: Vec<String>,
}

#[derive(Debug, Clone)]
enum Work {
    Comment(Vec<FileEdit>),
    Venv {
        dir: PathBuf,
        python: PathBuf,
        gpu: String,
        index: String,
        packages: Vec<String>,
        device_packages: Vec<String>,
    },
    Groups {
        user: String,
        groups: Vec<String>,
        prefix: String,
    },
    Config {
        host: PathBuf,
        profile: String,
    },
    Nothing,
}

/// One step of the plan: what the report shows and what will be done.
#[derive(Debug, Clone)]
pub struct Planned {
    /// As reported.
    pub report: FixPlanStep,
    work: Work,
}

/// The plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Steps in the order they are applied.
    pub steps: Vec<Planned>,
    /// The root's host directory (`/` on this machine).
    root_dir: PathBuf,
    /// The user's home (host path).
    home: Option<PathBuf>,
}

impl Plan {
    /// Something would be changed (not only printed).
    pub fn changes_anything(&self) -> bool {
        self.steps.iter().any(|s| !matches!(s.work, Work::Nothing))
    }
    /// The venv it makes.
    pub fn venv(&self) -> Option<&Path> {
        self.steps.iter().find_map(|s| match &s.work {
            Work::Venv { dir, .. } => Some(dir.as_path()),
            _ => None,
        })
    }
    /// Variables whose startup lines it comments out.
    pub fn removed_vars(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .steps
            .iter()
            .filter(|s| matches!(s.work, Work::Comment(_)))
            .flat_map(|s| s.report.changes.iter())
            .filter_map(|c| c.split_once(" sets ").map(|(_, r)| r))
            .filter_map(|r| r.split_once('=').map(|(n, _)| n.to_string()))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// A finding, briefly.
pub fn brief(r: &DoctorReport) -> Vec<FindingBrief> {
    r.findings
        .iter()
        .map(|f| FindingBrief {
            id: f.id.clone(),
            severity: f.severity,
            subject: f.subject.clone(),
            title: f.title.clone(),
        })
        .collect()
}
