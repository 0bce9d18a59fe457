//! The verify stage: each expected output must be installed inside the prefix, and
//! carry what its check asks for (any file, GPU code for the GPU, or a Tensile library
//! for it), as inspect sees it.

use crate::{active_outputs, recipe, targets_of, Request, Vars};
use rp_kb::TargetId;
use rp_report::{OutputCheck, OutputReport};
use std::path::{Path, PathBuf};

/// What checking one output found.
#[derive(Debug, Default)]
pub(crate) struct Verified {
    /// Where it is, when its path filled.
    pub path: Option<String>,
    /// It carries what it should.
    pub ok: bool,
    /// The GPU targets it carries.
    pub targets: Vec<String>,
    /// What is wrong.
    pub problem: Option<String>,
}

/// The outputs as planned, then what checking them found.
pub(crate) fn report(req: &Request, v: &Vars, checked: &[Verified]) -> Vec<OutputReport> {
    let mut out: Vec<OutputReport> = active_outputs(req)
        .into_iter()
        .map(|o| OutputReport {
            path: v.fill(&o.path).unwrap_or_default(),
            check: o.check_kind(),
            ..Default::default()
        })
        .collect();
    for (o, c) in out.iter_mut().zip(checked) {
        if let Some(p) = &c.path {
            o.path.clone_from(p);
        }
        o.ok = c.ok;
        o.targets.clone_from(&c.targets);
        o.problem.clone_from(&c.problem);
    }
    out
}

/// Check the expected outputs under the prefix, in the order of [`active_outputs`].
pub(crate) fn verify(req: &Request, v: &Vars) -> Vec<Verified> {
    let Ok(gpu) = req.gpu.parse::<TargetId>() else {
        // Not a target: every output left as planned.
        return active_outputs(req)
            .iter()
            .map(|_| Verified::default())
            .collect();
    };
    active_outputs(req)
        .into_iter()
        .map(|def| check_output(req, v, &gpu, def))
        .collect()
}

/// Check one output: it lies in the prefix, then what its check asks.
fn check_output(req: &Request, v: &Vars, gpu: &TargetId, def: &recipe::Output) -> Verified {
    let mut o = Verified::default();
    let Ok(rel) = v.fill(&def.path) else {
        return o;
    };
    let path = Path::new(&v.prefix).join(&rel);
    o.path = Some(path.display().to_string());
    let real = match inside_prefix(&rel, &path, &v.prefix) {
        Ok(real) => real,
        Err(problem) => {
            o.problem = Some(problem);
            return o;
        }
    };
    match def.check_kind() {
        OutputCheck::Exists => o.ok = true,
        OutputCheck::Code => check_code(req, gpu, &path, &real, &mut o),
        OutputCheck::Tensile => check_tensile(req, gpu, &path, &real, &mut o),
    }
    o
}

/// An output lies in the prefix: never an absolute path, `..`, or a link out. Its real
/// path, or why not.
fn inside_prefix(rel: &str, path: &Path, prefix: &str) -> Result<PathBuf, String> {
    let relative = Path::new(rel).components().all(|c| {
        matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if !relative {
        return Err(format!(
            "output {rel} is not a path inside the prefix: not checked, not deployed"
        ));
    }
    if std::fs::symlink_metadata(path).is_err() {
        return Err(format!("{} was not installed", path.display()));
    }
    let real = path.canonicalize().unwrap_or(path.to_path_buf());
    let prefix_real = Path::new(prefix)
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(prefix));
    if !real.starts_with(&prefix_real) {
        return Err(format!(
            "{} leads out of the prefix (to {}): not checked, not deployed",
            path.display(),
            real.display()
        ));
    }
    Ok(real)
}

/// A `code` output carries code objects for the GPU.
fn check_code(req: &Request, gpu: &TargetId, path: &Path, real: &PathBuf, o: &mut Verified) {
    let report = rp_inspect::inspect(
        std::slice::from_ref(real),
        &rp_inspect::Options {
            gpu: Some(gpu.clone()),
            ..Default::default()
        },
    );
    o.targets = targets_of(&report, real);
    let cov = rp_inspect::coverage_of(&report, gpu);
    if cov.covered.iter().any(|c| Path::new(&c.path) == real) {
        o.ok = true;
    } else {
        o.problem = Some(format!(
            "{} lacks code for {} (it carries: {})",
            path.display(),
            req.gpu,
            if o.targets.is_empty() {
                "no GPU code".into()
            } else {
                o.targets.join(" ")
            }
        ));
    }
}

/// A `tensile` output is a Tensile directory with a library for the GPU.
fn check_tensile(req: &Request, gpu: &TargetId, path: &Path, real: &PathBuf, o: &mut Verified) {
    let report = rp_inspect::inspect(std::slice::from_ref(real), &rp_inspect::Options::default());
    let archs: Vec<String> = report
        .tensile_dirs
        .iter()
        .flat_map(|d| d.archs.clone())
        .collect();
    o.targets = archs.clone();
    if archs.iter().any(|a| a == &gpu.processor) {
        o.ok = true;
    } else {
        o.problem = Some(format!(
            "{} has no Tensile library for {} (it has: {})",
            path.display(),
            req.gpu,
            archs.join(" ")
        ));
    }
}
