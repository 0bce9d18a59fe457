//! Resolving a request before anything runs: the checks of its input, its directories
//! and template values, the filled steps, the selected patches, and preflight.

use crate::{preflight, recipe, steps, toolchain, work_dir, BuildError, Request, Vars};
use rp_report::{PreflightItem, ToolchainReport};
use std::path::PathBuf;

/// What a request resolves to before anything runs: its directories, the template
/// values, the filled steps, the selected patches and the toolchain.
pub(crate) struct Plan<'a> {
    pub work: PathBuf,
    pub src_root: PathBuf,
    pub src: PathBuf,
    pub prefix: PathBuf,
    pub vars: Vars,
    pub steps: Vec<steps::FilledStep>,
    pub selected: Vec<&'a recipe::Patch>,
    pub toolchain: ToolchainReport,
}

/// Refuse a `--with` the recipe has no option for, and a `--gpu` that is not a target.
pub(crate) fn check_request(req: &Request) -> Result<(), BuildError> {
    let r = &req.recipe.recipe;
    for w in &req.with {
        if !r.options.iter().any(|o| &o.name == w) {
            return Err(BuildError::Recipe(format!(
                "--with {w}: recipe {} has no such option{}",
                req.recipe.id(),
                if r.options.is_empty() {
                    " (it has none)".to_string()
                } else {
                    format!(
                        " (it has: {})",
                        r.options
                            .iter()
                            .map(|o| o.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            )));
        }
    }
    if req.gpu.parse::<rp_kb::TargetId>().is_err() {
        return Err(BuildError::Recipe(format!(
            "--gpu {}: not a GPU target (gfx1010, gfx1030, ...)",
            req.gpu
        )));
    }
    Ok(())
}

/// Resolve a request: directories, template values, filled steps, selected patches.
pub(crate) fn plan(req: &Request) -> Result<Plan<'_>, BuildError> {
    let r = &req.recipe.recipe;
    let work = work_dir(req);
    let src_root = work.join("src");
    let src = match &r.source.subdir {
        Some(sd) => src_root.join(sd),
        None => src_root.clone(),
    };
    let prefix = req.prefix.clone().unwrap_or_else(|| work.join("prefix"));
    let toolchain = toolchain::detect(&req.env);
    let vars = Vars {
        gpu: req.gpu.clone(),
        prefix: prefix.display().to_string(),
        jobs: req.jobs.to_string(),
        src: src.display().to_string(),
        build: work.join("build").display().to_string(),
        rocm: toolchain.rocm.clone(),
        cxx: toolchain.cxx.clone(),
        hipcc: toolchain.hipcc.clone(),
        python: "python3".into(),
        env: req.env.clone(),
    };
    let steps = steps::filled(req, &vars)?;
    let selected = r
        .patches
        .iter()
        .filter(|p| p.with.as_ref().is_none_or(|w| req.with.contains(w)))
        .collect();
    Ok(Plan {
        work,
        src_root,
        src,
        prefix,
        vars,
        steps,
        selected,
        toolchain,
    })
}

/// The preflight checks: the ROCm install first, then the recipe's tools, libraries and
/// GPU code, then the disk (when the recipe states its cost).
pub(crate) fn preflight_items(req: &Request, plan: &Plan) -> Vec<PreflightItem> {
    let r = &req.recipe.recipe;
    let mut items = preflight::check(&req.recipe, &plan.vars, &req.with, !req.dry_run);
    items.insert(0, preflight::check_rocm(r.rocm.as_ref(), &plan.toolchain));
    if let Some(c) = &r.cost {
        items.push(preflight::check_disk(c, &req.cache));
    }
    items
}

/// A dry run's note of what preflight would stop a real run for.
pub(crate) fn dry_run_note(preflight: &[PreflightItem]) -> Option<String> {
    let missing: Vec<String> = preflight
        .iter()
        .filter(|p| !p.ok)
        .map(|p| p.name.clone())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "preflight would stop a real run here; missing: {}",
            missing.join(", ")
        )
    })
}

/// Why preflight stops a real run, if it does.
pub(crate) fn preflight_error(preflight: &[PreflightItem]) -> Option<String> {
    let bad = preflight.iter().find(|p| !p.ok)?;
    let n = preflight.iter().filter(|p| !p.ok).count();
    Some(format!(
        "preflight: {}{}; nothing was fetched or run",
        bad.problem.clone().unwrap_or_else(|| bad.name.clone()),
        if n > 1 {
            format!(" (and {} more)", n - 1)
        } else {
            String::new()
        }
    ))
}
