//! pip's index configuration of each Python environment.

use rp_report::{Finding, FixStep, PythonEnv};

use super::mk;

/// pip configured with PyPI and AMD's index together (pip's configuration files and
/// variables, in pip's precedence: a later source's value of a key replaces an earlier
/// one's).
pub(super) fn pip_index_findings(python: &[PythonEnv], out: &mut Vec<Finding>) {
    for pe in python {
        if pe.pip_indexes.is_empty() {
            continue;
        }
        let last_of = |key: rp_report::PipIndexKey| -> Vec<&rp_report::PipIndex> {
            let Some(src) = pe
                .pip_indexes
                .iter()
                .rev()
                .find(|p| p.key == key)
                .map(|p| &p.source)
            else {
                return Vec::new();
            };
            pe.pip_indexes
                .iter()
                .filter(|p| p.key == key && &p.source == src)
                .collect()
        };
        let index = last_of(rp_report::PipIndexKey::IndexUrl);
        let extra = last_of(rp_report::PipIndexKey::ExtraIndexUrl);
        let is_amd = |u: &str| u.contains("repo.amd.com");
        let is_pypi = |u: &str| u.contains("pypi.org") || u.contains("pythonhosted.org");
        // No index-url: pip's default, PyPI.
        let pypi = index.is_empty() || index.iter().chain(&extra).any(|p| is_pypi(&p.url));
        let amd: Vec<&&rp_report::PipIndex> = index
            .iter()
            .chain(&extra)
            .filter(|p| is_amd(&p.url))
            .collect();
        if !pypi || amd.is_empty() {
            continue;
        }
        let shown: Vec<String> = index
            .iter()
            .chain(&extra)
            .map(|p| format!("{} = {} ({})", p.key, p.url, p.source))
            .collect();
        let detail = format!(
            "{}{}.",
            shown.join("; "),
            if index.is_empty() {
                "; no index-url, so PyPI is the main index"
            } else {
                ""
            }
        );
        out.push(mk(
            "pip-index-mixed",
            &[("env", &pe.path), ("detail", &detail)],
            vec![
                FixStep::note(
                    "install TheRock's packages with --index-url AMD's index alone (rocm-patch fix does), or remove the extra index from the files named above",
                ),
                FixStep::run(format!("{}/bin/python -m pip config list", pe.path)),
            ],
            Some(pe.path.clone()),
        ));
    }
}
