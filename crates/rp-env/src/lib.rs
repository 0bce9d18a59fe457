//! Environment profiles: named sets of variables, each with a reason and a `ref`, layered
//! from the built-in knowledge base, /etc/rocm-patch/config.toml,
//! $XDG_CONFIG_HOME/rocm-patch/config.toml, ./rocm-patch.toml and the command line, and
//! resolved against the machine's GPUs. Nothing here prints or runs anything.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

mod layers;
mod resolve;
mod rules;
pub mod trust;
pub mod write;

pub use layers::{config_paths, list};
pub use resolve::{changes, resolve};

/// Variables that make a program load code from where they point (ld.so(8), python(1)).
pub const CODE_LOADING: [&str; 8] = [
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "BASH_ENV",
];

/// The default profile.
pub const DEFAULT_PROFILE: &str = "native";

/// Why a resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A config file does not parse; the message names the line.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// No such profile.
    #[error("unknown profile {name:?}; known profiles: {}", known.join(", "))]
    UnknownProfile {
        /// What was asked for.
        name: String,
        /// What exists.
        known: Vec<String>,
    },
    /// `extends` loops.
    #[error("profile {0:?} extends itself (through {1})")]
    Cycle(String, String),
    /// A profile that is known to crash, without the acknowledgement flag.
    #[error("profile {profile:?} is only applied with --i-know-this-crashes: {why}")]
    Dangerous {
        /// The profile.
        profile: String,
        /// Why it crashes.
        why: String,
    },
    /// `--set` without `=`, or with a name no shell can set.
    #[error("--set {0:?}: expected NAME=VALUE, NAME of letters, digits and _, not starting with a digit")]
    BadSet(String),
    /// The machine could not be read.
    #[error(transparent)]
    Machine(#[from] rp_machine::MachineError),
    /// The sysroot is not a directory.
    #[error(transparent)]
    Root(#[from] rp_machine::RootError),
}

/// A name a shell can set: `[A-Za-z_][A-Za-z0-9_]*` (POSIX "Name"; fish accepts the same).
pub fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// A profile name `write` accepts: letters, digits, `-`, `_`, `.` and `+`.
pub fn valid_profile_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
}

/// What to resolve.
#[derive(Debug, Clone)]
pub struct Options {
    /// Root of the machine.
    pub sysroot: PathBuf,
    /// The user's environment.
    pub env: BTreeMap<String, String>,
    /// Directory holding the project config (`rocm-patch.toml`).
    pub cwd: PathBuf,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--set NAME=VALUE`, in order.
    pub sets: Vec<String>,
    /// Apply the profile over variables the user exported.
    pub force: bool,
    /// Keep an exported override even when it is an error on this machine.
    pub keep_env: bool,
    /// Allow a dangerous profile.
    pub i_know_this_crashes: bool,
    /// Deadline of one sysfs read.
    pub timeout: Duration,
    /// The record of trusted project files (`rocm-patch trust`); none: nothing trusted.
    pub trust_store: Option<PathBuf>,
}
