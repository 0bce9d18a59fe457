//! What `fix` does about findings, and the native-venv remedy's package indexes
//! (data/remedies.toml).

use crate::machine::{self, PackageIndex, Remedy, VenvSpec};
use crate::Kb;

pub(crate) const REMEDIES_TOML: &str = include_str!("../data/remedies.toml");

/// Parse the embedded data/remedies.toml. The data is part of the binary and checked by this
/// crate's tests, so a parse failure is a build defect, not a user error.
pub(crate) fn load() -> machine::RemediesFile {
    toml::from_str(REMEDIES_TOML).expect("embedded data/remedies.toml is valid")
}

impl Kb {
    /// The remedy for a finding, if `fix` has one.
    pub fn remedy(&self, finding: &str) -> Option<&Remedy> {
        self.remedies
            .remedy
            .iter()
            .find(|r| r.findings.iter().any(|f| f == finding))
    }

    /// Every remedy.
    pub fn remedies(&self) -> &[Remedy] {
        &self.remedies.remedy
    }

    /// The channel AMD publishes a processor's TheRock wheels to: `nightly` for the
    /// targets the remedies list as nightly-only, else `stable` (remedies.toml `[venv]`).
    pub fn default_channel(&self, gpu: &str) -> &'static str {
        if self.remedies.venv.nightly_only.iter().any(|g| g == gpu) {
            "nightly"
        } else {
            "stable"
        }
    }

    /// The package index of a processor's default channel: the one `fix`, doctor's
    /// next steps and explain all print (one source: remedies.toml).
    pub fn therock_index(&self, gpu: &str) -> &str {
        self.package_index(self.default_channel(gpu))
            .map(|i| i.url.as_str())
            .unwrap_or_default()
    }

    /// The package index of a channel (`stable`, `nightly`).
    pub fn package_index(&self, channel: &str) -> Option<&PackageIndex> {
        self.remedies.index.iter().find(|i| i.channel == channel)
    }

    /// What the native-venv remedy installs.
    pub fn venv_spec(&self) -> &VenvSpec {
        &self.remedies.venv
    }
}

#[cfg(test)]
mod tests {
    use crate::kb;
    use crate::RemedyAction;

    /// Every remedy names findings that exist, each finding has at most one remedy, the
    /// action's parameters are there, and both channels have an index.
    #[test]
    fn remedies_name_real_findings() {
        let kb = kb();
        let mut seen = std::collections::HashSet::new();
        for r in kb.remedies() {
            assert!(!r.reference.is_empty() && !r.why.is_empty());
            for f in &r.findings {
                assert!(kb.findings().iter().any(|s| &s.id == f), "no finding {f}");
                assert!(seen.insert(f.clone()), "{f} has two remedies");
            }
            match r.action {
                RemedyAction::CommentStartupLines => assert!(!r.variables.is_empty()),
                RemedyAction::AddGroups => assert!(!r.groups.is_empty()),
                RemedyAction::UserConfig => assert!(r.profile.is_some()),
                _ => {}
            }
        }
        for c in ["stable", "nightly"] {
            assert!(kb.package_index(c).unwrap().url.starts_with("https://"));
        }
        assert!(kb.venv_spec().packages[0].contains("{gpu}"));
    }
}
