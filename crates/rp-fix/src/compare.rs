//! Before and after: what became of the error findings.

use rp_report::{FindingBrief, Severity};

/// What became of the error findings of `before`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Gone after the fix.
    pub fixed: Vec<String>,
    /// Still there after it.
    pub remaining: Vec<String>,
    /// About an environment in `untouched` (one the fix left alone and the second
    /// doctor did not read): neither fixed nor known to remain.
    pub superseded: Vec<String>,
}

/// Error findings of `before` that are not in `after` (by id and subject), those still
/// in `after`, and those about an environment in `untouched` (a finding's subject
/// names its environment first: `/home/u/venv / node 1`).
pub fn compare(
    before: &[FindingBrief],
    after: &[FindingBrief],
    untouched: &[String],
) -> Comparison {
    let key = |f: &FindingBrief| match &f.subject {
        Some(s) => format!("{} ({s})", f.id),
        None => f.id.clone(),
    };
    let errs = |v: &[FindingBrief]| -> Vec<(String, Option<String>)> {
        v.iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| (key(f), f.subject.clone()))
            .collect()
    };
    let of_untouched = |s: &Option<String>| {
        s.as_deref().is_some_and(|s| {
            untouched
                .iter()
                .any(|e| s == e || s.starts_with(&format!("{e} / ")))
        })
    };
    let (b, a) = (errs(before), errs(after));
    let after_keys: Vec<&String> = a.iter().map(|(k, _)| k).collect();
    let mut out = Comparison {
        remaining: a.iter().map(|(k, _)| k.clone()).collect(),
        ..Comparison::default()
    };
    for (k, subject) in &b {
        if after_keys.contains(&k) {
            continue;
        }
        if of_untouched(subject) {
            out.superseded.push(k.clone());
        } else {
            out.fixed.push(k.clone());
        }
    }
    out
}
