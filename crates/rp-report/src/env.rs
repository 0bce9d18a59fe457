//! `env`, `run` and `env --list` reports: profiles and the variables they resolve to.

use serde::{Deserialize, Serialize};

vocabulary! {
    /// What a profile does to a variable.
    VarAction { #[default] /** Set it. */ Set = "set", /** Unset it. */ Unset = "unset", /** Keep the user's exported value. */ Kept = "kept" }
}

/// `rocm-patch env` / `run` resolution.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct EnvReport {
    /// Always [`SCHEMA`](crate::SCHEMA).
    pub schema: u32,
    /// The profile applied.
    pub profile: String,
    /// Where the profile choice came from.
    pub profile_source: String,
    /// What the profile is for.
    pub description: String,
    /// The AMD GPUs it was resolved for, as `node N gfxXXXX (name)`.
    pub gpus: Vec<String>,
    /// Variables in name order.
    pub vars: Vec<ResolvedVar>,
    /// Things the user must know (a kept user variable, a dangerous profile).
    pub warnings: Vec<String>,
}

/// One resolved variable.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct ResolvedVar {
    /// Name.
    pub name: String,
    /// The value to set; null to unset.
    pub value: Option<String>,
    /// `set`, `unset`, or `kept` (the user's exported value wins; `--force` overrides).
    pub action: VarAction,
    /// Why.
    pub reason: String,
    /// Source of the fact behind it.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Which layer decided it: `built-in profile P`, `FILE:LINE`, `command line`,
    /// `machine (node N gfxXXXX)`, or `your environment`.
    pub source: String,
    /// The value the user had exported, when any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_value: Option<String>,
}

/// `rocm-patch env --list`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ProfileList {
    /// Always [`SCHEMA`](crate::SCHEMA).
    pub schema: u32,
    /// Every profile, built-in and from the config files.
    pub profiles: Vec<ProfileInfo>,
}

/// One profile.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ProfileInfo {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
}
