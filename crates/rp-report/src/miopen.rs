//! MIOpen's batch-norm kernels, checked per target (`doctor`, `inspect`).

use serde::{Deserialize, Serialize};

vocabulary! {
    /// What MIOpen's batch-norm kernels do on one target.
    MiopenVerdict { /** Some kernel keeps the DPP `row_bcast` path on a GFX10+ target: it fails to compile there, and batch-norm fails. */ Affected = "affected", #[default] /** No kernel keeps the path, or the target accepts it. */ Unaffected = "unaffected", /** Not decided (no kernels found, a condition not evaluated). */ Unknown = "unknown" }
}

/// MIOpen's embedded batch-norm kernels, checked for the machine's GPUs.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct MiopenCheck {
    /// The library.
    pub path: String,
    /// MIOpen's version, when the library says.
    pub version: Option<String>,
    /// The batch-norm kernel files found in it.
    pub kernels_found: Vec<String>,
    /// The kernels carry the gfx101x fix (`MIO_BN_GFX101X`).
    pub gfx101x_fix_present: bool,
    /// One result per target.
    pub targets: Vec<MiopenTarget>,
}

/// The check for one target.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct MiopenTarget {
    /// The target (`gfx1010`).
    pub target: String,
    /// The verdict.
    pub verdict: MiopenVerdict,
    /// The kernels that keep the DPP path, when affected.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub kernels: Vec<String>,
    /// Why undecided.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}
