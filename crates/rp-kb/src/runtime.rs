//! Override compatibility, native stacks and library gaps (data/runtime.toml).

use crate::machine::{self, LibraryGap, OverrideCompat, Runs, RunsStatus, Stack};
use crate::{GfxVersion, Kb};

pub(crate) const RUNTIME_TOML: &str = include_str!("../data/runtime.toml");

/// Parse the embedded data/runtime.toml. The data is part of the binary and checked by this
/// crate's tests, so a parse failure is a build defect, not a user error.
pub(crate) fn load() -> machine::RuntimeFile {
    toml::from_str(RUNTIME_TOML).expect("embedded data/runtime.toml is valid")
}

impl Kb {
    /// What overriding a `gpu` to `code` does (data/runtime.toml `[[runs]]`).
    pub fn override_compat(&self, gpu: &str, code: &str) -> OverrideCompat<'_> {
        if gpu == code {
            return OverrideCompat::Same;
        }
        match self
            .runtime
            .runs
            .iter()
            .find(|r| r.code == code && r.gpu.iter().any(|g| g == gpu))
        {
            Some(r) if r.status == RunsStatus::Equivalent => OverrideCompat::Equivalent(r),
            Some(r) => OverrideCompat::Risky(r),
            None => OverrideCompat::Foreign,
        }
    }

    /// Why setting override variable `name` to `value` is an error on a machine whose KFD
    /// GPUs are `gpus` (node, processor): an invalid value, or one that makes a GPU it
    /// applies to run foreign machine code. `None` when it is sound (or not an override).
    pub fn override_harm(&self, gpus: &[(u32, &str)], name: &str, value: &str) -> Option<String> {
        let node: Option<u32> = match name.strip_prefix("HSA_OVERRIDE_GFX_VERSION") {
            Some("") => None,
            Some(n) => Some(n.strip_prefix('_')?.parse().ok()?),
            None => return None,
        };
        let Some(code) = GfxVersion::parse_override(value).and_then(GfxVersion::gfx_name) else {
            return Some(format!("{value} is not a valid gfx version"));
        };
        gpus.iter()
            .filter(|(n, _)| node.is_none_or(|x| x == *n))
            .find(|(_, g)| matches!(self.override_compat(g, &code), OverrideCompat::Foreign))
            .map(|(n, g)| {
                format!("it makes node {n} ({g}) run {code} machine code, which it cannot execute")
            })
    }

    /// The processor whose code a GPU runs as a sound stand-in, if any.
    pub fn equivalent_code(&self, gpu: &str) -> Option<&Runs> {
        self.runtime
            .runs
            .iter()
            .find(|r| r.status == RunsStatus::Equivalent && r.gpu.iter().any(|g| g == gpu))
    }

    /// Stacks with native code for `gpu`, most specific first (`*` entries last).
    pub fn stacks_for(&self, gpu: &str) -> Vec<&Stack> {
        let mut out: Vec<&Stack> = self
            .runtime
            .stack
            .iter()
            .filter(|s| s.targets.iter().any(|t| t == gpu))
            .collect();
        out.extend(
            self.runtime
                .stack
                .iter()
                .filter(|s| s.targets.iter().any(|t| t == "*")),
        );
        out
    }

    /// Libraries that leave `gpu` out on purpose.
    pub fn library_gaps(&self, gpu: &str) -> Vec<&LibraryGap> {
        self.runtime
            .library_gap
            .iter()
            .filter(|l| l.targets.iter().any(|t| t == gpu))
            .collect()
    }
}
