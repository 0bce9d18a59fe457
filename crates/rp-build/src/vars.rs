//! The template variables of a build and the environment its steps start from.

use crate::{recipe, BuildError};
use std::collections::BTreeMap;
use std::ffi::OsString;

/// The values of the template variables, and the environment steps start from.
#[derive(Debug, Clone)]
pub struct Vars {
    /// `{gpu}`.
    pub gpu: String,
    /// `{prefix}`.
    pub prefix: String,
    /// `{jobs}`.
    pub jobs: String,
    /// `{src}`.
    pub src: String,
    /// `{build}`.
    pub build: String,
    /// `{rocm}`: ROCM_PATH, else the install the machine layer finds
    /// ([`toolchain`](crate::toolchain)).
    pub rocm: String,
    /// `{cxx}`: that install's HIP-capable clang++.
    pub cxx: String,
    /// `{hipcc}`: that install's hipcc.
    pub hipcc: String,
    /// `{python}`: python3.
    pub python: String,
    /// The environment.
    pub env: BTreeMap<String, String>,
}

impl Vars {
    /// A variable of the environment.
    pub fn env(&self, k: &str) -> Option<OsString> {
        self.env
            .get(k)
            .filter(|v| !v.is_empty())
            .map(OsString::from)
    }

    fn get(&self, name: &str) -> Option<String> {
        Some(
            match name {
                "gpu" => &self.gpu,
                "prefix" => &self.prefix,
                "jobs" => &self.jobs,
                "src" => &self.src,
                "build" => &self.build,
                "rocm" => &self.rocm,
                "cxx" => &self.cxx,
                "hipcc" => &self.hipcc,
                "python" => &self.python,
                _ => return None,
            }
            .clone(),
        )
    }

    /// Fill a template.
    pub fn fill(&self, t: &str) -> Result<String, BuildError> {
        recipe::fill(t, &|n| self.get(n)).map_err(BuildError::Recipe)
    }

    /// Fill a template, `{jobs}` left as written (a step's identity does not depend on
    /// how many jobs built it).
    pub(crate) fn fill_for_key(&self, t: &str) -> String {
        recipe::fill(t, &|n| {
            if n == "jobs" {
                Some("{jobs}".into())
            } else {
                self.get(n)
            }
        })
        .unwrap_or_else(|_| t.to_string())
    }
}
