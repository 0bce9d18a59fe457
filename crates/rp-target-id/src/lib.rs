//! AMDGPU target ids: `processor(:feature(+|-))*` (docs/code-objects.md).
//!
//! The type alone, with no data: `rp-kb` re-exports it (`rp_kb::TargetId`), and
//! `rp-codeobj` built without the knowledge base (the trace interposer) uses it directly.
#![deny(missing_docs)]

use std::fmt;
use std::str::FromStr;

/// The setting of a target feature (xnack, sramecc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Feature {
    /// Not pinned: the code works either way.
    #[default]
    Any,
    /// Pinned on (`+`).
    On,
    /// Pinned off (`-`).
    Off,
}

impl Feature {
    /// `+`, `-` or `` (any).
    pub fn sign(self) -> &'static str {
        match self {
            Feature::Any => "",
            Feature::On => "+",
            Feature::Off => "-",
        }
    }
}

/// A target id such as `gfx90a:sramecc-:xnack+` or `gfx10-1-generic`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetId {
    /// Processor name (may contain `-` for generic targets).
    pub processor: String,
    /// xnack setting.
    pub xnack: Feature,
    /// sramecc setting.
    pub sramecc: Feature,
}

/// A target id that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid target id {text:?}: {why}")]
pub struct TargetIdError {
    /// The offending text.
    pub text: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl TargetId {
    /// A target id with no pinned features.
    pub fn bare(processor: impl Into<String>) -> Self {
        TargetId {
            processor: processor.into(),
            xnack: Feature::Any,
            sramecc: Feature::Any,
        }
    }
}

impl FromStr for TargetId {
    type Err = TargetIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| TargetIdError {
            text: s.to_string(),
            why,
        };
        let mut parts = s.split(':');
        let processor = parts.next().unwrap_or_default();
        if !processor.starts_with("gfx")
            || processor.len() < 4
            || !processor[3..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(err("processor must look like gfx1010 or gfx10-1-generic"));
        }
        let mut id = TargetId::bare(processor.to_ascii_lowercase());
        for feat in parts {
            let (name, val) = match feat.as_bytes().last() {
                Some(b'+') => (&feat[..feat.len() - 1], Feature::On),
                Some(b'-') => (&feat[..feat.len() - 1], Feature::Off),
                _ => return Err(err("a feature must end in + or -")),
            };
            match name {
                "xnack" => id.xnack = val,
                "sramecc" => id.sramecc = val,
                _ => return Err(err("only the xnack and sramecc features exist")),
            }
        }
        Ok(id)
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Features in alphabetical order (docs/code-objects.md).
        write!(f, "{}", self.processor)?;
        if self.sramecc != Feature::Any {
            write!(f, ":sramecc{}", self.sramecc.sign())?;
        }
        if self.xnack != Feature::Any {
            write!(f, ":xnack{}", self.xnack.sign())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for s in [
            "gfx1010",
            "gfx90a:xnack-",
            "gfx90a:sramecc-:xnack+",
            "gfx10-1-generic",
        ] {
            assert_eq!(s.parse::<TargetId>().unwrap().to_string(), s);
        }
        // Non-canonical order is normalised.
        assert_eq!(
            "gfx90a:xnack+:sramecc-"
                .parse::<TargetId>()
                .unwrap()
                .to_string(),
            "gfx90a:sramecc-:xnack+"
        );
    }

    #[test]
    fn rejects() {
        for s in ["", "sm_80", "gfx", "gfx90a:xnack", "gfx90a:foo+", "gfx9/0"] {
            assert!(s.parse::<TargetId>().is_err(), "{s}");
        }
    }
}
