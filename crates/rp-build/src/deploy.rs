//! The deploy stage: what `--deploy-into` installs from a verified build.

use crate::{active_outputs, BuildError, Request};
use rp_report::{BuildReport, OutputCheck};
use std::path::{Path, PathBuf};

/// The deploy steps of a verified build into `into`, and notes: each output marked
/// `deploy` — a file's real content copied to `deploy_as` (default: its file name), a
/// Tensile directory's files for the GPU copied into the Tensile directory `into` holds
/// (rp-deploy's Tensile plan; the rocBLAS version check is skipped when the library that
/// loads them is deployed in the same transaction).
pub fn deploy_steps(
    req: &Request,
    rep: &BuildReport,
    into: &Path,
) -> Result<(Vec<rp_deploy::Step>, Vec<String>), BuildError> {
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let active = active_outputs(req);
    let library_too = active
        .iter()
        .any(|o| o.deploy && o.check_kind() == OutputCheck::Code);
    for (o, def) in rep.outputs.iter().zip(active) {
        if !def.deploy {
            continue;
        }
        let path = PathBuf::from(&o.path);
        let real = path
            .canonicalize()
            .map_err(|e| BuildError::io(&path, "cannot resolve", e))?;
        if def.check_kind() == OutputCheck::Tensile {
            let gpu = req
                .gpu
                .parse::<rp_kb::TargetId>()
                .map_err(|e| BuildError::Recipe(e.to_string()))?;
            let (_, s, n) = rp_deploy::tensile::plan(&real, &gpu.processor, into, library_too)
                .map_err(|e| BuildError::Refused(format!("{}: {e}", path.display())))?;
            steps.extend(s);
            notes.extend(n);
            continue;
        }
        let target = match &def.deploy_as {
            Some(a) => PathBuf::from(a),
            None => PathBuf::from(path.file_name().unwrap_or_default()),
        };
        steps.push(rp_deploy::Step::File {
            source: real,
            target,
            mode: None,
        });
    }
    if steps.is_empty() {
        return Err(BuildError::Refused(format!(
            "recipe {} marks no output for deploying",
            req.recipe.id()
        )));
    }
    Ok((steps, notes))
}
