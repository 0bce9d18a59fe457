//! Environment variables and what they do (data/env.toml).

use crate::machine::{self, EnvVar};
use crate::Kb;

pub(crate) const ENV_TOML: &str = include_str!("../data/env.toml");

/// Parse the embedded data/env.toml. The data is part of the binary and checked by this
/// crate's tests, so a parse failure is a build defect, not a user error.
pub(crate) fn load() -> machine::EnvFile {
    toml::from_str(ENV_TOML).expect("embedded data/env.toml is valid")
}

impl Kb {
    /// What an environment variable does, if the knowledge base knows it.
    pub fn env_var(&self, name: &str) -> Option<&EnvVar> {
        self.env
            .var
            .iter()
            .find(|v| !v.prefix && v.name == name)
            .or_else(|| {
                self.env
                    .var
                    .iter()
                    .find(|v| v.prefix && name.starts_with(&v.name) && name.len() > v.name.len())
            })
    }

    /// All known environment variables.
    pub fn env_vars(&self) -> &[EnvVar] {
        &self.env.var
    }
}
