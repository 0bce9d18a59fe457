//! A GFX version: `major.minor.stepping`, the form of `HSA_OVERRIDE_GFX_VERSION`, of
//! KFD's `gfx_target_version` (`major * 10000 + minor * 100 + stepping`) and of a
//! processor name (`gfx` + decimal major + one hex digit each for minor and stepping).

use std::fmt;
use std::str::FromStr;

/// `major.minor.stepping` (`10.1.0` ↔ KFD `100100` ↔ `gfx1010`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GfxVersion {
    /// Major (`10`).
    pub major: u32,
    /// Minor (`1`).
    pub minor: u32,
    /// Stepping (`0`).
    pub stepping: u32,
}

/// Why a string is not an `HSA_OVERRIDE_GFX_VERSION` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a gfx version (major.minor.stepping, major at most 63, minor and stepping at most 255)")]
pub struct GfxVersionError(pub String);

impl GfxVersion {
    /// From KFD's `gfx_target_version` (`100100` → `10.1.0`).
    pub fn from_kfd(v: u32) -> GfxVersion {
        GfxVersion {
            major: v / 10000,
            minor: (v / 100) % 100,
            stepping: v % 100,
        }
    }

    /// As KFD writes it: `major * 10000 + minor * 100 + stepping`.
    pub fn kfd(self) -> u32 {
        self.major * 10000 + self.minor * 100 + self.stepping
    }

    /// Parse an `HSA_OVERRIDE_GFX_VERSION` value the way libhsakmt does (`%u.%u.%u`,
    /// major ≤ 63, minor and stepping ≤ 255; ref: ROCR-Runtime libhsakmt/src/topology.c):
    /// leading blanks are skipped, anything after the stepping is an error.
    pub fn parse_override(value: &str) -> Option<GfxVersion> {
        let mut it = value.trim_start().split('.');
        let (a, b, c) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        let p = |s: &str| -> Option<u32> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        let (major, minor, stepping) = (p(a)?, p(b)?, p(c)?);
        if major > 63 || minor > 255 || stepping > 255 {
            return None;
        }
        Some(GfxVersion {
            major,
            minor,
            stepping,
        })
    }

    /// The processor name (docs/machine.md): `gfx` + decimal major + one hex digit
    /// minor + one hex digit stepping; none for major 0 or a minor or stepping over 15.
    pub fn gfx_name(self) -> Option<String> {
        if self.major == 0 || self.minor > 15 || self.stepping > 15 {
            return None;
        }
        Some(format!(
            "gfx{}{:x}{:x}",
            self.major, self.minor, self.stepping
        ))
    }
}

impl fmt::Display for GfxVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.stepping)
    }
}

impl FromStr for GfxVersion {
    type Err = GfxVersionError;
    /// As [`GfxVersion::parse_override`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GfxVersion::parse_override(s).ok_or_else(|| GfxVersionError(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_libhsakmt() {
        let v = |s: &str| GfxVersion::parse_override(s).map(GfxVersion::kfd);
        assert_eq!(v("10.3.0"), Some(100300));
        assert_eq!(v("9.0.10"), Some(90010));
        assert_eq!(v(" 11.0.0"), Some(110000));
        assert_eq!(v("63.255.255"), Some(655755));
        for bad in [
            "11.0.0\n",
            "11.0.0 ",
            "10.3",
            "10.3.0.1",
            "a.b.c",
            "gfx1030",
            "10.3.x",
            "64.0.0",
            "10.256.0",
            "10.0.256",
            "",
            "10..0",
            "-1.0.0",
            "+1.0.0",
            "99999999999.0.0",
            "10.4294967296.0",
        ] {
            assert_eq!(GfxVersion::parse_override(bad), None, "{bad:?}");
            assert!(bad.parse::<GfxVersion>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn kfd_names_and_text() {
        let n = |v: u32| GfxVersion::from_kfd(v).gfx_name();
        assert_eq!(n(100100).as_deref(), Some("gfx1010"));
        assert_eq!(n(90010).as_deref(), Some("gfx90a"));
        assert_eq!(n(90012).as_deref(), Some("gfx90c"));
        assert_eq!(n(110501).as_deref(), Some("gfx1151"));
        assert_eq!(n(0), None);
        assert_eq!(n(91600), None, "minor over 15");
        assert_eq!(n(90016), None, "stepping over 15");
        assert_eq!(GfxVersion::from_kfd(100100).to_string(), "10.1.0");
        assert_eq!(GfxVersion::from_kfd(90010).to_string(), "9.0.10");
        let v: GfxVersion = "10.3.0".parse().unwrap();
        assert_eq!(v.gfx_name().as_deref(), Some("gfx1030"));
        assert_eq!(GfxVersion::from_kfd(v.kfd()), v);
        assert_eq!(v.to_string(), "10.3.0");
    }
}
