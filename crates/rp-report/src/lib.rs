//! The machine-readable contract of rocm-patch: one data model per command, rendered
//! as JSON by the binary and as text by its human renderer. Fields are only ever
//! added; `schema` changes if one is removed or changes meaning.
#![deny(missing_docs)]

/// Current schema number of every report.
pub const SCHEMA: u32 = 1;

/// The exit statuses of `rocm-patch`, as the README documents them. Every command's
/// status is one of these, decided by its report (`exit_code()`), or — `run` and
/// `trace` — the status of the command it ran, passed through.
pub mod exit {
    /// Nothing wrong: no error finding, every probe passed, the build verified (or was
    /// planned), everything covered, nothing left to fix.
    pub const OK: u8 = 0;
    /// The command's answer is "no": an error finding, a probe or benchmark that did not
    /// pass, a library missing the GPU's target, a build that stopped or did not verify,
    /// error findings left after `fix`.
    pub const FINDING: u8 = 1;
    /// The tool could not do its job (unreadable input, bad arguments), or the user
    /// declined `fix` (without a terminal, `--yes` is required).
    pub const TOOL_ERROR: u8 = 2;
    /// `fix`: a step failed and everything was rolled back.
    pub const ROLLED_BACK: u8 = 3;
    /// `run`, `trace`: the command was found but could not be executed (as shells do).
    pub const CANNOT_EXECUTE: u8 = 126;
    /// `run`, `trace`: the command was not found (as shells do).
    pub const NOT_FOUND: u8 = 127;
    /// `build` stopped by Ctrl-C (128 + SIGINT); run the same command again to resume.
    pub const INTERRUPTED: u8 = 130;
    /// A traced command that exited without a status (no code, no signal).
    pub const NO_STATUS: u8 = FINDING;

    /// The status of a command that was killed by signal `sig`: 128 + its number, as
    /// shells report it.
    pub fn signalled(sig: i32) -> u8 {
        (128 + sig) as u8
    }

    /// The status to pass on for a command that ran: its exit code, or 128 + the signal
    /// that ended it, or [`NO_STATUS`].
    pub fn passed_through(code: Option<i32>, signal: Option<i32>) -> u8 {
        match (signal, code) {
            (Some(sig), _) => signalled(sig),
            (None, Some(c)) => c as u8,
            (None, None) => NO_STATUS,
        }
    }

    /// `run`, `trace`: the status when the command could not be started.
    pub fn cannot_start(e: &std::io::Error) -> u8 {
        if e.kind() == std::io::ErrorKind::NotFound {
            NOT_FOUND
        } else {
            CANNOT_EXECUTE
        }
    }
}

/// A closed vocabulary: an enum whose JSON form is a fixed string.
macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v,)+
        }
        impl $name {
            /// The JSON string.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s,)+ }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok($name::$v),)+
                    _ => Err(format!("{s:?} is not a {}", stringify!($name))),
                }
            }
        }
    };
}

mod bench;
mod bugreport;
mod build;
mod deploy;
mod doctor;
mod env;
mod explain;
mod finding;
mod fix;
mod inspect;
mod miopen;
mod probe;
mod python;
pub use bench::*;
pub use bugreport::*;
pub use build::*;
pub use deploy::*;
pub use doctor::*;
pub use env::*;
pub use explain::*;
pub use finding::*;
pub use fix::*;
pub use inspect::*;
pub use miopen::*;
pub use probe::*;
pub use python::*;
