//! Human text for `doctor`: sections for GPUs, driver, environment, ROCm, Python, then
//! the findings with their fixes. Colour only when asked for (a terminal, no NO_COLOR).

use rp_report::{
    DoctorReport, Driver, FixStep, Gpu, Severity, SitesFrom, TensileDir, TorchBuild, TorchInstall,
};
use std::io::{self, Write};

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn head(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn severity(&self, s: Severity) -> String {
        let padded = format!("{s:<7}");
        match s {
            Severity::Error => self.paint("1;31", &padded),
            Severity::Warning => self.paint("1;33", &padded),
            Severity::Info => self.paint("1;36", &padded),
        }
    }
}

fn gib(b: u64) -> String {
    format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
}

fn tensile(d: &TensileDir) -> String {
    format!(
        "{} ({} files; {})",
        d.path,
        d.files,
        if d.archs.is_empty() {
            "no arch catalogs".to_string()
        } else {
            d.archs.join(" ")
        }
    )
}

fn gpu_lines(g: &Gpu, out: &mut dyn Write) -> io::Result<()> {
    let node = g
        .node
        .map(|n| format!("node {n}"))
        .unwrap_or_else(|| "no KFD node".into());
    let target = match (&g.gfx_target, &g.gfx_target_source) {
        (Some(t), Some(s)) => format!("{t} (from {s})"),
        (Some(t), None) => t.clone(),
        _ => "-".into(),
    };
    writeln!(
        out,
        "  {node:<11} {}  [{}{}]  {target}",
        g.name,
        g.pci_id,
        g.revision
            .as_deref()
            .map(|r| format!(" rev {r}"))
            .unwrap_or_default()
    )?;
    let mut facts = Vec::new();
    if let Some(f) = &g.family {
        facts.push(f.clone());
    }
    if g.apu {
        facts.push("integrated".into());
    }
    if let Some(cu) = g.compute_units {
        facts.push(format!("{cu} CU"));
    }
    if let Some(v) = g.vram_bytes {
        facts.push(format!("{} VRAM", gib(v)));
    }
    if let Some(s) = &g.pci_slot {
        facts.push(s.clone());
    }
    let drm: Vec<&str> = [g.drm_card.as_deref(), g.render_node.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !drm.is_empty() {
        facts.push(drm.join(" "));
    }
    facts.push(format!(
        "driver {}",
        g.driver.as_deref().unwrap_or("none bound")
    ));
    match g.pcie_atomics {
        Some(true) => facts.push("PCIe atomics".into()),
        Some(false) => facts.push("no PCIe atomics".into()),
        None => {}
    }
    writeln!(out, "              {}", facts.join(", "))?;
    if let Some(r) = &g.runtime {
        let mut s = format!("runtime sees {}", r.isa);
        if let Some(v) = &r.override_var {
            s.push_str(&format!(" (set by {v})"));
        }
        match (&r.hidden_by, r.device_index) {
            (Some(h), _) => s.push_str(&format!(", hidden by {h}")),
            (None, Some(i)) => s.push_str(&format!(", HIP device {i}")),
            _ => {}
        }
        writeln!(out, "              {s}")?;
    }
    Ok(())
}

/// One fix step as a line a shell can take as it is: `command`, `# note`,
/// `command   # note`, or for an alternative `# or what: command`.
pub(crate) fn fix_line(s: &FixStep) -> String {
    if s.alternative {
        return match (&s.command, &s.note) {
            (Some(c), Some(n)) => format!("# or {n}: {c}"),
            (Some(c), None) => format!("# or: {c}"),
            (None, n) => format!("# or {}", n.as_deref().unwrap_or("")),
        };
    }
    match (&s.command, &s.note) {
        (Some(c), Some(n)) => format!("{c}   # {n}"),
        (Some(c), None) => c.clone(),
        (None, Some(n)) => format!("# {n}"),
        (None, None) => String::new(),
    }
}

/// Write the human report.
pub fn human(r: &DoctorReport, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let st = Style { color };
    if r.sysroot != "/" {
        writeln!(out, "machine read below {}\n", r.sysroot)?;
    }
    gpus(r, &st, out)?;
    driver(&r.driver, &st, out)?;
    environment(r, &st, out)?;
    rocm(r, &st, out)?;
    python(r, &st, out)?;
    let plan = FixPlan::of(r);
    findings(r, &plan.where_fixed, &st, out)?;
    next_steps(&plan.groups, &st, out)?;
    totals(r, out)
}

/// "GPUs": each GPU the machine has.
fn gpus(r: &DoctorReport, st: &Style, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", st.head("GPUs"))?;
    if r.gpus.is_empty() {
        writeln!(out, "  none found")?;
    }
    for g in &r.gpus {
        gpu_lines(g, out)?;
    }
    Ok(())
}

/// "Driver": amdgpu and the KFD topology, the device nodes and who can use them, and the
/// amdgpu module parameters.
fn driver(d: &Driver, st: &Style, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "\n{}", st.head("Driver"))?;
    writeln!(
        out,
        "  amdgpu {}; KFD topology {}",
        if d.amdgpu_loaded {
            "loaded"
        } else {
            "not loaded"
        },
        d.kfd_topology.as_deref().unwrap_or("absent")
    )?;
    for n in &d.device_nodes {
        let state = match (n.exists, n.accessible) {
            (false, _) => "missing".to_string(),
            (true, true) => format!("{} can read and write", d.user),
            (true, false) => format!("{} cannot read and write", d.user),
        };
        writeln!(
            out,
            "  {:<20} {:<20} {state}",
            n.path,
            n.owner.as_deref().unwrap_or("")
        )?;
    }
    if !d.amdgpu_parameters.is_empty() {
        let p: Vec<String> = d
            .amdgpu_parameters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(out, "  amdgpu parameters: {}", p.join(" "))?;
    }
    Ok(())
}

/// "Environment": the GPU-related variables set, what each means and does, and the
/// startup files that set them.
fn environment(r: &DoctorReport, st: &Style, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "\n{}", st.head("Environment"))?;
    if r.environment.variables.is_empty() {
        writeln!(out, "  no GPU-related variables set")?;
    }
    for v in &r.environment.variables {
        writeln!(out, "  {}={}", v.name, v.value)?;
        writeln!(out, "      {}", v.meaning)?;
        for e in &v.effects {
            writeln!(out, "      -> {e}")?;
        }
    }
    if !r.environment.set_in_files.is_empty() {
        writeln!(out, "  set by startup files:")?;
        for s in &r.environment.set_in_files {
            let text = if s.text_only {
                "  (text in a here-document: sets nothing)"
            } else {
                ""
            };
            writeln!(
                out,
                "      {}:{}  {}={}{text}",
                s.file, s.line, s.name, s.value
            )?;
        }
    }
    Ok(())
}

/// "ROCm": each install found, its version, and its rocBLAS library.
fn rocm(r: &DoctorReport, st: &Style, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "\n{}", st.head("ROCm"))?;
    if r.rocm.is_empty() {
        writeln!(
            out,
            "  no install found in /opt/rocm* or the distro library directories"
        )?;
    }
    for i in &r.rocm {
        writeln!(
            out,
            "  {} ({}) {}{}",
            i.path,
            i.kind,
            i.version.as_deref().unwrap_or("version unknown"),
            if i.loader_first {
                "  <- the loader finds this HIP runtime first"
            } else {
                ""
            }
        )?;
        if let Some(t) = &i.rocblas_library {
            writeln!(out, "      rocBLAS library: {}", tensile(t))?;
        }
    }
    Ok(())
}

/// "Python": each environment checked and the torch in it.
fn python(r: &DoctorReport, st: &Style, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "\n{}", st.head("Python"))?;
    if r.python.is_empty() {
        writeln!(out, "  no environment checked")?;
    }
    for p in &r.python {
        writeln!(out, "  {} ({}, found by {})", p.path, p.kind, p.found_by)?;
        if let Some(e) = &p.error {
            writeln!(out, "      {e}")?;
        }
        if p.site_packages_from == SitesFrom::Interpreter {
            writeln!(
                out,
                "      site-packages from running the interpreter (sys.path)"
            )?;
        }
        match &p.torch {
            None if p.error.is_none() => writeln!(out, "      no torch")?,
            None => {}
            Some(t) => torch(t, out)?,
        }
    }
    Ok(())
}

/// The torch of a Python environment: its build, the GPU code it carries, kpack, device
/// packages, its BLAS libraries, then what each GPU here gets from it.
fn torch(t: &TorchInstall, out: &mut dyn Write) -> io::Result<()> {
    let build = match (&t.hip, &t.cuda) {
        (Some(h), _) => format!("HIP {h}"),
        (None, Some(c)) => format!("CUDA {c}"),
        _ => "CPU only".into(),
    };
    writeln!(
        out,
        "      torch {} ({build})",
        t.version.as_deref().unwrap_or("(unknown version)")
    )?;
    if t.build == TorchBuild::Rocm {
        writeln!(
            out,
            "      GPU code for: {} ({})",
            if t.targets.is_empty() {
                "nothing".into()
            } else {
                t.targets.join(" ")
            },
            super::count(t.gpu_libraries.len(), "library", "libraries")
        )?;
    }
    torch_kpack(t, out)?;
    if !t.device_packages.is_empty() {
        let names: Vec<String> = t.device_packages.iter().map(|d| d.label()).collect();
        writeln!(out, "      device packages: {}", names.join(", "))?;
    }
    if let Some(d) = &t.rocblas_library {
        writeln!(out, "      rocBLAS library: {}", tensile(d))?;
    }
    if let Some(d) = &t.hipblaslt_library {
        writeln!(out, "      hipBLASLt library: {}", tensile(d))?;
    }
    torch_gpu_support(t, out)
}

/// The kpack line of a torch: how many libraries keep their code in archives, and which
/// archives were found.
fn torch_kpack(t: &TorchInstall, out: &mut dyn Write) -> io::Result<()> {
    if t.kpack_libraries.is_empty() && t.kpack_archives.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "      kpack: {} {} GPU code in archives; {} found{}",
        super::count(t.kpack_libraries.len(), "library", "libraries"),
        if t.kpack_libraries.len() == 1 {
            "keeps its"
        } else {
            "keep their"
        },
        super::count(t.kpack_archives.len(), "archive", "archives"),
        if t.kpack_archives.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                t.kpack_archives
                    .iter()
                    .map(|a| a.rsplit('/').next().unwrap_or(a))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    )
}

/// One line per GPU node: whether torch's code loads on it, and whether rocBLAS has it.
fn torch_gpu_support(t: &TorchInstall, out: &mut dyn Write) -> io::Result<()> {
    for s in &t.gpu_support {
        let libs = if t.gpu_libraries.is_empty() || t.targets.is_empty() {
            "no GPU code found".to_string()
        } else if s.missing_libraries.is_empty() {
            let via = if t.kpack_libraries.is_empty() {
                ""
            } else {
                " (from the kpack archives)"
            };
            format!("code loads{via}")
        } else {
            format!("{} libraries lack code", s.missing_libraries.len())
        };
        let blas = match s.rocblas_has_target {
            Some(true) => ", rocBLAS has it",
            Some(false) => ", rocBLAS lacks it",
            None => "",
        };
        writeln!(out, "      node {} as {}: {libs}{blas}", s.node, s.target)?;
    }
    Ok(())
}

/// Every fix step once, in the order the findings need them: one block to paste.
struct FixPlan {
    /// The new steps of each finding, under its label; a finding with none new is left out.
    groups: Vec<(String, Vec<String>)>,
    /// Per finding: the group under which its first step is found (none when it has no fix).
    where_fixed: Vec<Option<String>>,
}

impl FixPlan {
    fn of(r: &DoctorReport) -> Self {
        let mut steps: Vec<String> = Vec::new();
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        let mut where_fixed: Vec<Option<String>> = Vec::new();
        for f in &r.findings {
            let label = match &f.subject {
                Some(s) => format!("{} ({s})", f.id),
                None => f.id.clone(),
            };
            let lines: Vec<String> = f
                .fix
                .iter()
                .map(fix_line)
                .filter(|l| !l.is_empty())
                .collect();
            let new: Vec<String> = lines
                .iter()
                .filter(|l| !steps.contains(l))
                .cloned()
                .collect();
            let first_group = lines.first().and_then(|l| {
                groups
                    .iter()
                    .find(|(_, g)| g.contains(l))
                    .map(|(name, _)| name.clone())
            });
            if !new.is_empty() {
                steps.extend(new.iter().cloned());
                groups.push((label.clone(), new));
            }
            where_fixed.push(if lines.is_empty() {
                None
            } else {
                Some(first_group.unwrap_or(label))
            });
        }
        FixPlan {
            groups,
            where_fixed,
        }
    }
}

/// "Findings": each with why, its reference, and where in Next steps its fix is.
fn findings(
    r: &DoctorReport,
    where_fixed: &[Option<String>],
    st: &Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "\n{}", st.head("Findings"))?;
    for (f, w) in r.findings.iter().zip(where_fixed) {
        writeln!(out, "  {} {}  {}", st.severity(f.severity), f.id, f.title)?;
        writeln!(out, "          why: {}", f.why)?;
        writeln!(out, "          ref: {}", f.reference)?;
        if let Some(w) = w {
            writeln!(out, "          fix: see Next steps, {w}")?;
        }
    }
    Ok(())
}

/// "Next steps": the fix steps, grouped under the finding that first needs them.
fn next_steps(groups: &[(String, Vec<String>)], st: &Style, out: &mut dyn Write) -> io::Result<()> {
    if groups.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\n{} (each step once; `#` lines are notes, so a block can be pasted)",
        st.head("Next steps")
    )?;
    for (name, lines) in groups {
        writeln!(out, "  # -- {name}")?;
        for l in lines {
            writeln!(out, "  {l}")?;
        }
    }
    Ok(())
}

/// The closing line: how many errors, warnings and notes.
fn totals(r: &DoctorReport, out: &mut dyn Write) -> io::Result<()> {
    let count = |s: Severity| r.findings.iter().filter(|f| f.severity == s).count();
    writeln!(
        out,
        "\n{} error(s), {} warning(s), {} note(s)",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    )
}
