//! LLVM AMDGPU processors and generic targets, and which code objects a GPU can load
//! (data/targets.toml).

use crate::{Feature, Kb, TargetId};
use serde::Deserialize;
use std::fmt;

pub(crate) const TARGETS_TOML: &str = include_str!("../data/targets.toml");

/// One LLVM AMDGPU processor.
#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    /// LLVM processor name, e.g. `gfx1010`.
    pub name: String,
    /// `EF_AMDGPU_MACH` value in a code object's e_flags.
    pub mach: u8,
    /// KFD `gfx_target_version` (0 when the kernel has none).
    #[serde(default)]
    pub gfx_target_version: u32,
    /// Display family, e.g. `gfx10.1 (RDNA1)`.
    pub family: String,
    /// The generic target that covers this processor, if any.
    #[serde(default)]
    pub generic: Option<String>,
    /// The processor has the xnack feature.
    #[serde(default)]
    pub xnack: bool,
    /// The processor has the sramecc feature.
    #[serde(default)]
    pub sramecc: bool,
    /// An integrated GPU (APU).
    #[serde(default)]
    pub apu: bool,
    /// Where the facts come from.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// One generic target (code object v6).
#[derive(Debug, Clone, Deserialize)]
pub struct Generic {
    /// Generic processor name, e.g. `gfx10-1-generic`.
    pub name: String,
    /// `EF_AMDGPU_MACH` value.
    pub mach: u8,
    /// Display family.
    pub family: String,
    /// Members may pin xnack.
    #[serde(default)]
    pub xnack: bool,
    /// Members may pin sramecc.
    #[serde(default)]
    pub sramecc: bool,
    /// Where the facts come from.
    #[serde(rename = "ref")]
    pub reference: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TargetsFile {
    pub(crate) default_xnack: String,
    pub(crate) default_sramecc: String,
    pub(crate) target: Vec<Target>,
    pub(crate) generic: Vec<Generic>,
}

/// Parse the embedded data/targets.toml. The data is part of the binary and checked by this
/// crate's tests, so a parse failure is a build defect, not a user error.
pub(crate) fn load() -> TargetsFile {
    toml::from_str(TARGETS_TOML).expect("embedded data/targets.toml is valid")
}

/// What a processor name resolves to.
#[derive(Debug, Clone, Copy)]
pub enum Processor<'a> {
    /// A specific processor.
    Specific(&'a Target),
    /// A generic target.
    Generic(&'a Generic),
}

impl Processor<'_> {
    /// The processor's name.
    pub fn name(&self) -> &str {
        match self {
            Processor::Specific(t) => &t.name,
            Processor::Generic(g) => &g.name,
        }
    }
    /// The display family.
    pub fn family(&self) -> &str {
        match self {
            Processor::Specific(t) => &t.family,
            Processor::Generic(g) => &g.family,
        }
    }
}

/// A feature's runtime default as the data spells it (`on`, `off`, else any).
pub(crate) fn parse_default(s: &str) -> Feature {
    match s {
        "on" => Feature::On,
        "off" => Feature::Off,
        _ => Feature::Any,
    }
}

/// Why a code object can or cannot be loaded by a GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compat {
    /// Built for exactly this processor.
    Exact,
    /// A generic target whose family includes this processor.
    Generic,
    /// Processor matches, but a pinned feature conflicts with the GPU's mode.
    FeatureMismatch(String),
    /// Another processor.
    OtherProcessor,
}

impl Compat {
    /// The code object is loadable.
    pub fn loadable(&self) -> bool {
        matches!(self, Compat::Exact | Compat::Generic)
    }
}

impl Kb {
    /// All specific processors.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// All generic targets.
    pub fn generics(&self) -> &[Generic] {
        &self.generics
    }

    /// Look up a specific or generic processor by name.
    pub fn processor(&self, name: &str) -> Option<Processor<'_>> {
        if let Some(t) = self.targets.iter().find(|t| t.name == name) {
            return Some(Processor::Specific(t));
        }
        self.generics
            .iter()
            .find(|g| g.name == name)
            .map(Processor::Generic)
    }

    /// Look up a processor by its `EF_AMDGPU_MACH` value.
    pub fn by_mach(&self, mach: u8) -> Option<Processor<'_>> {
        if let Some(t) = self.targets.iter().find(|t| t.mach == mach) {
            return Some(Processor::Specific(t));
        }
        self.generics
            .iter()
            .find(|g| g.mach == mach)
            .map(Processor::Generic)
    }

    /// Look up a processor by KFD `gfx_target_version`.
    pub fn by_gfx_target_version(&self, v: u32) -> Option<&Target> {
        if v == 0 {
            return None;
        }
        self.targets.iter().find(|t| t.gfx_target_version == v)
    }

    /// Members of a generic target.
    pub fn generic_members(&self, generic: &str) -> Vec<&Target> {
        self.targets
            .iter()
            .filter(|t| t.generic.as_deref() == Some(generic))
            .collect()
    }

    /// The mode a GPU runs a feature in when the user named none: the runtime default
    /// (`default_xnack`/`default_sramecc` in the data) for processors that have the
    /// feature, `Any` otherwise.
    pub fn gpu_mode(&self, gpu: &TargetId) -> TargetId {
        let mut out = gpu.clone();
        if let Some(Processor::Specific(t)) = self.processor(&gpu.processor) {
            if out.xnack == Feature::Any && t.xnack {
                out.xnack = self.default_xnack;
            }
            if out.sramecc == Feature::Any && t.sramecc {
                out.sramecc = self.default_sramecc;
            }
        }
        out
    }

    /// Can a GPU running as `gpu` load a code object built for `code`?
    ///
    /// The processor must match exactly, or `code` must be a generic target whose
    /// members include the GPU's processor (docs/code-objects.md). A feature pinned on
    /// (`+`) needs the GPU to run with it on, pinned off (`-`) needs it off; an
    /// unpinned feature matches both (docs/code-objects.md). The GPU's unnamed
    /// features take the runtime defaults (see [`Kb::gpu_mode`]).
    pub fn compat(&self, gpu: &TargetId, code: &TargetId) -> Compat {
        let gpu = self.gpu_mode(gpu);
        let base = if code.processor == gpu.processor {
            Compat::Exact
        } else {
            match self.processor(&gpu.processor) {
                Some(Processor::Specific(t)) if t.generic.as_deref() == Some(&code.processor) => {
                    Compat::Generic
                }
                _ => return Compat::OtherProcessor,
            }
        };
        for (name, have, want) in [
            ("xnack", gpu.xnack, code.xnack),
            ("sramecc", gpu.sramecc, code.sramecc),
        ] {
            let ok = match (want, have) {
                (Feature::Any, _) | (_, Feature::Any) => true,
                (w, h) => w == h,
            };
            if !ok {
                return Compat::FeatureMismatch(format!(
                    "code object needs {name}{} but the GPU runs {name}{}",
                    want.sign(),
                    have.sign()
                ));
            }
        }
        base
    }
}

impl fmt::Display for Compat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compat::Exact => write!(f, "exact"),
            Compat::Generic => write!(f, "generic"),
            Compat::FeatureMismatch(why) => write!(f, "feature mismatch: {why}"),
            Compat::OtherProcessor => write!(f, "other processor"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kb;
    use crate::GfxVersion;

    fn t(s: &str) -> TargetId {
        s.parse().unwrap()
    }

    #[test]
    fn data_is_consistent() {
        let kb = kb();
        assert!(kb.targets().len() > 50);
        let mut machs = std::collections::HashSet::new();
        for x in kb.targets() {
            assert!(machs.insert(x.mach), "duplicate mach {:#x}", x.mach);
            assert!(!x.reference.is_empty());
            if let Some(g) = &x.generic {
                assert!(kb.generics().iter().any(|y| &y.name == g), "{g} unknown");
            }
            if x.gfx_target_version != 0 {
                assert_eq!(
                    GfxVersion::from_kfd(x.gfx_target_version)
                        .gfx_name()
                        .unwrap(),
                    x.name
                );
            }
        }
        for g in kb.generics() {
            assert!(machs.insert(g.mach), "duplicate mach {:#x}", g.mach);
        }
    }

    #[test]
    fn rdna1_members_and_generic() {
        let kb = kb();
        let names: Vec<_> = kb
            .generic_members("gfx10-1-generic")
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["gfx1010", "gfx1011", "gfx1012", "gfx1013"]);
        assert_eq!(kb.compat(&t("gfx1010"), &t("gfx1010")), Compat::Exact);
        assert_eq!(
            kb.compat(&t("gfx1012"), &t("gfx10-1-generic")),
            Compat::Generic
        );
        assert_eq!(
            kb.compat(&t("gfx1010"), &t("gfx10-3-generic")),
            Compat::OtherProcessor
        );
        assert_eq!(
            kb.compat(&t("gfx1010"), &t("gfx1030")),
            Compat::OtherProcessor
        );
    }

    #[test]
    fn features() {
        let kb = kb();
        // Default xnack is off: an xnack+ object does not load on a bare gfx90a.
        assert!(!kb.compat(&t("gfx90a"), &t("gfx90a:xnack+")).loadable());
        assert!(kb.compat(&t("gfx90a"), &t("gfx90a:xnack-")).loadable());
        assert!(kb
            .compat(&t("gfx90a:xnack+"), &t("gfx90a:xnack+"))
            .loadable());
        assert!(kb.compat(&t("gfx90a:xnack+"), &t("gfx90a")).loadable());
        // sramecc defaults on.
        assert!(!kb
            .compat(&t("gfx90a"), &t("gfx90a:sramecc-:xnack-"))
            .loadable());
        // gfx1030 has no xnack: features never constrain it.
        assert!(kb.compat(&t("gfx1030"), &t("gfx1030")).loadable());
    }

    #[test]
    fn versions() {
        assert_eq!(kb().by_gfx_target_version(100102).unwrap().name, "gfx1012");
    }
}
