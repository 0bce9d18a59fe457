//! Human text for `build`, `build --list` and `build --show`.

use rp_report::{
    BuildCost, BuildOutcome, BuildReport, PreflightItem, RecipeList, RecipeShow, StepState,
};
use std::io::{self, Write};

/// `build --list`.
pub fn list(l: &RecipeList, out: &mut dyn Write) -> io::Result<()> {
    let w = l.recipes.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for r in &l.recipes {
        writeln!(out, "{:w$}  {}", r.id, r.summary)?;
    }
    writeln!(
        out,
        "\n`rocm-patch build --show NAME` explains one; `rocm-patch build NAME --dry-run` prints its commands."
    )
}

fn requirement(p: &PreflightItem) -> String {
    let min = p
        .min_version
        .as_ref()
        .map(|m| format!(" >= {m}"))
        .unwrap_or_default();
    let how = p
        .found
        .as_ref()
        .map(|f| format!(" ({f})"))
        .unwrap_or_default();
    let pk = if p.packages.is_empty() {
        String::new()
    } else {
        format!("  [{}]", p.packages.join(", "))
    };
    format!("{:8} {}{min}{how}{pk}", p.kind, p.name)
}

fn cost(c: &BuildCost) -> String {
    format!(
        "about {:.2} CPU-hours on one core (divide by the cores building for the wall time), {:.1} GiB of disk at its peak; {}",
        c.core_hours, c.disk_gib, c.basis
    )
}

/// `build --show`.
pub fn show(s: &RecipeShow, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}  {}", s.recipe.id, s.recipe.summary)?;
    writeln!(out, "  from {}", s.recipe.origin)?;
    writeln!(out, "\nSource\n  {}", s.source)?;
    for m in &s.mirrors {
        writeln!(out, "  mirror (same bytes): {m}")?;
    }
    if let Some(v) = &s.rocm {
        writeln!(out, "\nROCm\n  {v}")?;
    }
    if let Some(c) = &s.cost {
        writeln!(out, "\nCost\n  {}", cost(c))?;
    }
    if !s.notes.is_empty() {
        writeln!(out, "\nNotes")?;
        for n in &s.notes {
            writeln!(out, "  - {n}")?;
        }
    }
    if !s.options.is_empty() {
        writeln!(out, "\nOptions (--with)")?;
        for (n, a) in &s.options {
            writeln!(out, "  {n}: {a}")?;
        }
    }
    writeln!(out, "\nRequires")?;
    for r in &s.requires {
        writeln!(out, "  {}", requirement(r))?;
    }
    if !s.patches.is_empty() {
        writeln!(out, "\nPatches ({})", s.patches.len())?;
        for p in &s.patches {
            let when = match &p.with {
                Some(w) => format!("only with --with {w}"),
                None => "always".into(),
            };
            writeln!(out, "  {}  [{when}]", p.file)?;
            writeln!(out, "      fixes: {}", p.fixes)?;
            writeln!(out, "      ref:   {}", p.reference)?;
            for u in &p.upstream {
                writeln!(out, "      upstream {u}")?;
            }
        }
    }
    writeln!(out, "\nSteps")?;
    for st in &s.steps {
        let env = if st.env.is_empty() {
            String::new()
        } else {
            format!("{} ", st.env.join(" "))
        };
        writeln!(out, "  {}: (in {}) {env}{}", st.name, st.cwd, st.command)?;
    }
    if !s.outputs.is_empty() {
        writeln!(out, "\nOutputs (under the prefix)")?;
        for o in &s.outputs {
            let why = o
                .problem
                .as_ref()
                .map(|w| format!("  ({w})"))
                .unwrap_or_default();
            writeln!(out, "  {}  check: {}{why}", o.path, o.check)?;
        }
    }
    Ok(())
}

/// A build's report.
pub fn report(r: &BuildReport, out: &mut dyn Write) -> io::Result<()> {
    let what = if r.dry_run { "Dry run" } else { "Build" };
    writeln!(
        out,
        "{what}: {} for {} (GPU from {}){}",
        r.recipe.id,
        r.gpu,
        r.gpu_from,
        if r.with.is_empty() {
            String::new()
        } else {
            format!(", with {}", r.with.join(", "))
        }
    )?;
    writeln!(out, "  build directory {}", r.work_dir)?;
    writeln!(out, "  prefix          {}", r.prefix)?;
    writeln!(out, "  jobs            {}", r.jobs)?;
    if let Some(t) = &r.toolchain {
        writeln!(
            out,
            "  ROCm            {}{} ({})",
            t.rocm,
            t.version
                .as_ref()
                .map(|v| format!(", HIP {v}"))
                .unwrap_or_default(),
            t.from
        )?;
        writeln!(out, "  compiler        {} (hipcc: {})", t.cxx, t.hipcc)?;
    }
    if let Some(c) = &r.cost {
        writeln!(out, "  cost            {}", cost(c))?;
    }
    writeln!(out, "\nPreflight")?;
    for p in &r.preflight {
        let mark = if p.ok { "ok     " } else { "MISSING" };
        let detail = if p.ok {
            p.found.clone().unwrap_or_default()
        } else {
            let pk = if p.packages.is_empty() {
                String::new()
            } else {
                format!("; install: {}", p.packages.join(", "))
            };
            format!("{}{pk}", p.problem.clone().unwrap_or_default())
        };
        writeln!(out, "  {mark} {:8} {}  {detail}", p.kind, p.name)?;
    }
    if !r.install.is_empty() {
        writeln!(
            out,
            "\nTo install what is missing (one command per distribution)"
        )?;
        for i in &r.install {
            writeln!(out, "  {i}")?;
        }
    }
    if let Some(s) = &r.source {
        writeln!(out, "\nSource ({}, {})", s.kind, s.state)?;
        writeln!(out, "  {}", s.location)?;
        if !s.identity.is_empty() {
            writeln!(out, "  {}", s.identity)?;
        }
        if let Some(c) = &s.cached {
            writeln!(out, "  cache: {c}")?;
        }
        if r.dry_run {
            for c in &s.commands {
                writeln!(out, "      {c}")?;
            }
        }
    }
    if !r.patches.is_empty() {
        writeln!(out, "\nPatches")?;
        for p in &r.patches {
            writeln!(out, "  {:16} {}  ({})", p.state, p.file, p.fixes)?;
            if let (true, Some(c)) = (r.dry_run, &p.command) {
                writeln!(out, "      {c}")?;
            }
        }
    }
    writeln!(out, "\nSteps")?;
    for s in &r.steps {
        let took = s
            .seconds
            .map(|t| format!(" ({t:.1} s)"))
            .unwrap_or_default();
        writeln!(out, "  {:11} {}{took}", s.state, s.name)?;
        if r.dry_run || s.state == StepState::Failed {
            writeln!(out, "      cd {}", s.cwd)?;
            let env = if s.env.is_empty() {
                String::new()
            } else {
                format!("{} ", s.env.join(" "))
            };
            writeln!(out, "      {env}{}", s.command)?;
        }
        if s.state == StepState::Failed {
            writeln!(
                out,
                "      {}; last lines of {}:",
                s.status.clone().unwrap_or_default(),
                s.log.clone().unwrap_or_default()
            )?;
            for l in &s.tail {
                writeln!(out, "      | {l}")?;
            }
            for e in &s.explained {
                writeln!(out, "      explain: {e}")?;
            }
        }
    }
    if !r.dry_run && r.outputs.iter().any(|o| o.ok || o.problem.is_some()) {
        writeln!(out, "\nOutputs")?;
        for o in &r.outputs {
            let t = if o.targets.is_empty() {
                String::new()
            } else {
                format!("  [{}]", o.targets.join(" "))
            };
            let mark = if o.ok { "ok  " } else { "FAIL" };
            writeln!(out, "  {mark} {} ({}){t}", o.path, o.check)?;
        }
    }
    if let Some(tx) = &r.deploy {
        writeln!(
            out,
            "\nDeployed as transaction {} into {} ({} changes); undo: rocm-patch rollback {}",
            tx.id,
            tx.into,
            tx.changes.len(),
            tx.id
        )?;
    }
    for n in &r.notes {
        writeln!(out, "\nnote: {n}")?;
    }
    match (&r.error, r.outcome) {
        (Some(e), _) => writeln!(out, "\n{}: {e}", r.outcome)?,
        (None, BuildOutcome::Planned) => writeln!(out, "\nplanned: nothing was run")?,
        (None, o) => writeln!(out, "\n{o}: built in {:.1} s, verified", r.seconds)?,
    }
    Ok(())
}
