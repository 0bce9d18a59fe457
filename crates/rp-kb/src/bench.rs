//! GPUs' peak figures for `bench`, and what `tune` varies (data/bench.toml).

use crate::machine::{self, Peak, TuneSpec};
use crate::Kb;

pub(crate) const BENCH_TOML: &str = include_str!("../data/bench.toml");

/// Parse the embedded data/bench.toml. The data is part of the binary and checked by this
/// crate's tests, so a parse failure is a build defect, not a user error.
pub(crate) fn load() -> machine::BenchFile {
    toml::from_str(BENCH_TOML).expect("embedded data/bench.toml is valid")
}

impl Kb {
    /// Every GPU's peak figures (data/bench.toml).
    pub fn peaks(&self) -> &[Peak] {
        &self.bench.peak
    }

    /// The peak figures of the GPU torch names `name`: an exact name (ignoring case)
    /// first, else the longest listed name that `name` contains, ending at a word end.
    pub fn peak_for(&self, name: &str) -> Option<&Peak> {
        let n = name.trim().to_ascii_lowercase();
        let mut best: Option<(&Peak, usize)> = None;
        for p in &self.bench.peak {
            for cand in &p.names {
                let c = cand.to_ascii_lowercase();
                if c == n {
                    return Some(p);
                }
                let whole_word = n.find(&c).is_some_and(|i| {
                    n[i + c.len()..]
                        .chars()
                        .next()
                        .is_none_or(|ch| !ch.is_ascii_alphanumeric())
                });
                if whole_word && best.is_none_or(|(_, l)| c.len() > l) {
                    best = Some((p, c.len()));
                }
            }
        }
        best.map(|(p, _)| p)
    }

    /// What `tune` varies besides the profiles.
    pub fn tune(&self) -> &TuneSpec {
        &self.bench.tune
    }
}

#[cfg(test)]
mod tests {
    use crate::kb;

    #[test]
    fn peaks_match_by_name_and_are_cited() {
        let kb = kb();
        let name = |n: &str| kb.peak_for(n).map(|p| p.names[0].clone());
        assert_eq!(name("NVIDIA H200").as_deref(), Some("NVIDIA H200"));
        assert_eq!(name("NVIDIA H200 NVL").as_deref(), Some("NVIDIA H200 NVL"));
        assert_eq!(
            name("AMD Radeon RX 5700").as_deref(),
            Some("AMD Radeon RX 5700")
        );
        assert_eq!(
            name("amd radeon rx 5700 xt").as_deref(),
            Some("AMD Radeon RX 5700 XT")
        );
        assert_eq!(
            name("AMD Radeon RX 5600 XT (rev c1)").as_deref(),
            Some("AMD Radeon RX 5600 XT")
        );
        assert_eq!(name("NVIDIA H2000"), None);
        assert_eq!(name("cpu"), None);
        for p in kb.peaks() {
            assert!(
                !p.names.is_empty() && p.reference.len() > 20,
                "{:?}",
                p.names
            );
            assert!(p.fp32 > 0.0 && p.bandwidth > 0.0, "{:?}", p.names);
            if let Some(t) = &p.target {
                assert!(kb.processor(t).is_some(), "{t}");
            }
            for f in [p.fp16, p.bf16, p.tf32].into_iter().flatten() {
                assert!(
                    f >= p.fp32,
                    "{:?}: a tensor or half figure below fp32",
                    p.names
                );
            }
        }
        assert!(kb.tune().find_modes.contains(&"DYNAMIC_HYBRID".to_string()));
    }
}
