//! pip's index configuration of each Python environment.

use rp_report::{Finding, FixStep, PythonEnv};

use super::mk;

/// pip configured with PyPI and AMD's index together (the settings in force, as the
/// machine layer resolved pip's files, sections and variables), and configuration files
/// pip cannot load.
pub(super) fn pip_index_findings(python: &[PythonEnv], out: &mut Vec<Finding>) {
    for pe in python {
        for e in &pe.pip_config_errors {
            out.push(mk(
                "pip-config-unloadable",
                &[("env", &pe.path), ("reason", e)],
                vec![FixStep::note(
                    "fix or remove the line named (pip reads its files with Python's configparser)",
                )],
                Some(pe.path.clone()),
            ));
        }
        if pe.pip_indexes.is_empty() {
            continue;
        }
        let of = |key: rp_report::PipIndexKey| -> Vec<&rp_report::PipIndex> {
            pe.pip_indexes.iter().filter(|p| p.key == key).collect()
        };
        let index = of(rp_report::PipIndexKey::IndexUrl);
        let extra = of(rp_report::PipIndexKey::ExtraIndexUrl);
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
            .map(|p| match &p.section {
                Some(section) => format!("{} = {} ({} [{section}])", p.key, p.url, p.source),
                None => format!("{} = {} ({})", p.key, p.url, p.source),
            })
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
