//! The recipe views: `build --list` and `build --show`.

use crate::recipe::{self, Loaded};
use crate::shell_quote;
use rp_report::{
    OutputReport, PatchReport, PatchState, PreflightKind, RecipeShow, RecipeSummary, StepReport,
    StepState, SCHEMA,
};

/// `build --list`.
pub fn summary(l: &Loaded) -> RecipeSummary {
    RecipeSummary {
        id: l.id(),
        name: l.recipe.name.clone(),
        version: l.recipe.version.clone(),
        summary: l.recipe.summary.clone(),
        origin: l.origin_text(),
    }
}

/// A patch as the report shows it, in `state`.
pub(crate) fn patch_report(p: &recipe::Patch, state: PatchState) -> PatchReport {
    PatchReport {
        file: p.file.clone(),
        fixes: p.fixes.clone(),
        reference: p.reference.clone(),
        with: p.with.clone(),
        upstream: p
            .upstream
            .iter()
            .map(|(f, h)| format!("{f} sha256:{h}"))
            .collect(),
        state,
        command: None,
    }
}

/// Where the source comes from and what pins it, in one line.
fn source_text(s: &recipe::Source) -> String {
    match (&s.url, &s.git) {
        (Some(u), _) => format!("{u} sha256:{}", s.sha256.as_deref().unwrap_or_default()),
        (_, Some(g)) => format!(
            "{g} commit {}{}{}",
            s.commit.as_deref().unwrap_or_default(),
            s.tag
                .as_ref()
                .map(|t| format!(" (tag {t})"))
                .unwrap_or_default(),
            s.subdir
                .as_ref()
                .map(|d| format!(", directory {d}"))
                .unwrap_or_default()
        ),
        _ => String::new(),
    }
}

/// `build --show`.
pub fn show(l: &Loaded) -> RecipeShow {
    let r = &l.recipe;
    // Templates as written: `{src}` is not quoted (only words with blanks or quotes are).
    let template_join = |argv: &[String]| {
        argv.iter()
            .map(|a| {
                if a.is_empty() || a.contains([' ', '\t', '\'', '"', '\\', '$', '`', ';', '&', '|'])
                {
                    shell_quote(a)
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let step = |s: &recipe::StepDef| StepReport {
        name: s.name.clone(),
        command: template_join(&s.run),
        env: s.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        cwd: s.cwd.clone().unwrap_or_else(|| "{build}".into()),
        state: StepState::Recipe,
        ..Default::default()
    };
    let mut requires: Vec<rp_report::PreflightItem> = r
        .tools
        .iter()
        .map(|t| rp_report::PreflightItem {
            kind: if t.name.contains('{') {
                PreflightKind::Compiler
            } else {
                PreflightKind::Tool
            },
            name: t.name.clone(),
            min_version: t.min.clone(),
            packages: t.packages.list(),
            ..Default::default()
        })
        .collect();
    requires.extend(r.libraries.iter().map(|x| {
        rp_report::PreflightItem {
            kind: PreflightKind::Library,
            name: x.name.clone(),
            min_version: x.min.clone(),
            found: x
                .pkg_config
                .as_ref()
                .map(|p| format!("pkg-config {p}"))
                .or(x.cmake.as_ref().map(|c| format!("CMake package {c}")))
                .map(|f| match &x.header {
                    Some(h) => format!("{f}, else header {h}"),
                    None => f,
                })
                .or(x.header.as_ref().map(|h| format!("header {h}"))),
            packages: x.packages.list(),
            ..Default::default()
        }
    }));
    requires.extend(r.gpu_code.iter().map(|g| rp_report::PreflightItem {
        kind: PreflightKind::GpuCode,
        name: format!("{} with code for {{gpu}}", g.name),
        found: Some(g.library.clone()),
        packages: g.packages.list(),
        ..Default::default()
    }));
    RecipeShow {
        schema: SCHEMA,
        recipe: summary(l),
        source: source_text(&r.source),
        mirrors: r.source.mirrors.clone(),
        cost: r.cost.as_ref().map(cost_report),
        rocm: r
            .rocm
            .as_ref()
            .map(|v| format!("{} ({})", v.text(), v.reference)),
        notes: r
            .notes
            .iter()
            .map(|n| format!("{} ({})", n.text, n.reference))
            .collect(),
        options: r
            .options
            .iter()
            .map(|o| (o.name.clone(), o.about.clone()))
            .collect(),
        requires,
        patches: r
            .patches
            .iter()
            .map(|p| {
                patch_report(
                    p,
                    if p.with.is_some() {
                        PatchState::OnlyWithOption
                    } else {
                        PatchState::Always
                    },
                )
            })
            .collect(),
        steps: r.steps.iter().map(step).collect(),
        outputs: r
            .outputs
            .iter()
            .map(|o| OutputReport {
                path: match &o.with {
                    Some(w) => format!("{} (with {w})", o.path),
                    None => o.path.clone(),
                },
                check: o.check_kind(),
                problem: o.why.clone(),
                ..Default::default()
            })
            .collect(),
    }
}

/// The recipe's build cost as the report shows it.
pub(crate) fn cost_report(c: &recipe::Cost) -> rp_report::BuildCost {
    rp_report::BuildCost {
        core_hours: c.core_hours,
        disk_gib: c.disk_gib,
        basis: c.basis.clone(),
    }
}
