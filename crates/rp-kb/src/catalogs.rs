//! `explain`'s message catalogs (data/catalogs/*.toml).

use serde::Deserialize;

/// `explain`'s message catalogs (data/catalogs/*.toml): the error and warning format strings
/// each ROCm component prints, harvested from its source with file and commit
/// (scripts/harvest-catalogs.py). Test data for the signature coverage, not loaded by `kb()`.
pub const CATALOGS: &[(&str, &str)] = &[
    ("amdgpu", include_str!("../data/catalogs/amdgpu.toml")),
    ("amdkfd", include_str!("../data/catalogs/amdkfd.toml")),
    ("hip", include_str!("../data/catalogs/hip.toml")),
    ("rocr", include_str!("../data/catalogs/rocr.toml")),
    ("miopen", include_str!("../data/catalogs/miopen.toml")),
    ("rocblas", include_str!("../data/catalogs/rocblas.toml")),
    ("llvm", include_str!("../data/catalogs/llvm.toml")),
    ("pytorch", include_str!("../data/catalogs/pytorch.toml")),
];

/// One message catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Short name (`amdgpu`, `hip`, …).
    pub name: String,
    /// Repository the messages were read from.
    pub repo: String,
    /// Commit read (or "see each message").
    pub commit: String,
    /// What a log line carries before the message (a dmesg device prefix, `MIOpen Error: …`).
    pub prefix: String,
    /// Prefix for warning-level messages, when it differs.
    #[serde(default)]
    pub warning_prefix: Option<String>,
    /// How the messages appear in logs.
    #[serde(default)]
    pub notes: String,
    /// The messages.
    pub message: Vec<CatalogMessage>,
}

/// One printed message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogMessage {
    /// `error`, `warning` or `info`.
    pub level: String,
    /// The printf-style format string (or the literal text).
    pub format: String,
    /// Where it is printed: `path:line` at the catalog's commit, or `path@commit`.
    pub at: String,
    /// The enumerator the text belongs to (`hipErrorInvalidValue`), if any.
    #[serde(default)]
    pub name: Option<String>,
    /// A prefix for this message instead of the catalog's.
    #[serde(default)]
    pub prefix: Option<String>,
}

/// Parse the embedded catalogs. The data is checked by tests: a parse failure is a build
/// defect.
pub fn catalogs() -> Vec<Catalog> {
    CATALOGS
        .iter()
        .map(|(name, text)| {
            toml::from_str(text)
                .unwrap_or_else(|e| panic!("embedded data/catalogs/{name}.toml is valid: {e}"))
        })
        .collect()
}
