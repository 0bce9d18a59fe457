//! Markdown for `report`: a summary a maintainer reads first, the findings, then the long
//! parts in collapsible sections, cut to a size limit with a note.

use rp_report::{BugReport, DoctorReport, Severity};
use std::io::{self, Write};

/// Where the command puts the line that says what was redacted.
pub const REDACTED_MARK: &str = "<!-- rocm-patch: redaction -->";

/// One section: a heading, text shown, and a long part in a `<details>` block.
struct Section {
    title: String,
    shown: String,
    details: Option<(String, String)>,
}

/// A fenced block that its content cannot close.
fn fenced(lang: &str, body: &str) -> String {
    let mut fence = "```".to_string();
    while body.contains(&fence) {
        fence.push('`');
    }
    format!("{fence}{lang}\n{}\n{fence}\n", body.trim_end())
}

fn text_of(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<String> {
    let mut v = Vec::new();
    f(&mut v)?;
    Ok(String::from_utf8_lossy(&v).into_owned())
}

/// Write the report. `max` is the size limit in bytes (0: none).
pub fn markdown(r: &BugReport, max: usize, out: &mut dyn Write) -> io::Result<()> {
    let head = head(r);
    let mut sections = vec![
        summary(r),
        findings(&r.doctor),
        libraries(r),
        profile(r)?,
        machine(&r.doctor)?,
        kernel_log(r),
    ];
    if let Some(s) = logs(r)? {
        sections.push(s);
    }
    if let Some(s) = probe(r)? {
        sections.push(s);
    }
    let md = cut_to_size(&head, &mut sections, max);
    out.write_all(md.as_bytes())
}

/// The title, the tool and sysroot, and the redaction mark (or that it is not redacted).
fn head(r: &BugReport) -> String {
    let mut head = String::new();
    head.push_str("# rocm-patch report\n\n");
    head.push_str(&format!(
        "{} · machine read from `{}`\n\n",
        r.tool, r.doctor.sysroot
    ));
    if r.redaction {
        head.push_str(&format!("{REDACTED_MARK}\n\n"));
    } else {
        head.push_str("Not redacted (`--no-redact`).\n\n");
    }
    head
}

/// "Summary": GPUs, kernel and distribution, ROCm, torch, finding counts and the probe.
fn summary(r: &BugReport) -> Section {
    let d = &r.doctor;
    let mut s = String::new();
    for g in &d.gpus {
        s.push_str(&format!(
            "- GPU: {} ({}{}{})\n",
            g.name,
            g.gfx_target.as_deref().unwrap_or("no target"),
            g.node
                .map(|n| format!(", KFD node {n}"))
                .unwrap_or_default(),
            if g.pci_id.is_empty() {
                String::new()
            } else {
                format!(", {}", g.pci_id)
            },
        ));
    }
    if d.gpus.is_empty() {
        s.push_str("- GPU: none found\n");
    }
    let v = &r.versions;
    s.push_str(&format!(
        "- Kernel: {}; distribution: {}\n",
        v.kernel.as_deref().unwrap_or("unknown"),
        v.distribution.as_deref().unwrap_or("unknown")
    ));
    s.push_str(&format!(
        "- ROCm: {}\n",
        if v.rocm.is_empty() {
            "none found".into()
        } else {
            v.rocm.join("; ")
        }
    ));
    s.push_str(&format!(
        "- torch: {}\n",
        if v.torch.is_empty() {
            "none found".into()
        } else {
            v.torch.join("; ")
        }
    ));
    let count = |sev: Severity| d.findings.iter().filter(|f| f.severity == sev).count();
    s.push_str(&format!(
        "- Findings: {}, {}, {}\n",
        super::count(count(Severity::Error), "error", "errors"),
        super::count(count(Severity::Warning), "warning", "warnings"),
        super::count(count(Severity::Info), "note", "notes")
    ));
    if let Some(p) = &r.probe {
        let pass = p
            .probes
            .iter()
            .filter(|x| x.status == rp_report::ProbeStatus::Pass)
            .count();
        s.push_str(&format!(
            "- Probe: {pass} of {} pass (torch {}, device {})\n",
            p.probes.len(),
            p.torch,
            p.device
        ));
    }
    Section {
        title: "Summary".into(),
        shown: s,
        details: None,
    }
}

/// "Findings": each with why, its reference and its fix as a shell block.
fn findings(d: &DoctorReport) -> Section {
    let mut s = String::new();
    if d.findings.is_empty() {
        s.push_str("None.\n");
    }
    for f in &d.findings {
        s.push_str(&format!("- **{} `{}`**: {}\n", f.severity, f.id, f.title));
        s.push_str(&format!("  - why: {}\n", f.why));
        s.push_str(&format!("  - ref: {}\n", f.reference));
        let fix: Vec<String> = f.fix.iter().map(super::doctor::fix_line).collect();
        if !fix.is_empty() {
            s.push_str(&format!(
                "  - fix:\n\n{}\n",
                fenced("sh", &fix.join("\n"))
                    .lines()
                    .map(|l| format!("    {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    Section {
        title: "Findings".into(),
        shown: s,
        details: None,
    }
}

/// "Libraries torch loads": a table of libraries against the GPUs here, collapsed.
fn libraries(r: &BugReport) -> Section {
    let table = if r.libraries.is_empty() {
        "No torch library with GPU code was found.\n".to_string()
    } else {
        library_table(r)
    };
    Section {
        title: "Libraries torch loads".into(),
        shown: String::new(),
        details: Some((format!("{} libraries", r.libraries.len()), table)),
    }
}

/// The table of the libraries section: one row per library, one column per GPU, and a
/// pointer to `ROCM_KPACK_DEBUG` when a kpack'd library has no code for one.
fn library_table(r: &BugReport) -> String {
    let gpus: Vec<String> = r
        .libraries
        .iter()
        .flat_map(|l| l.loads.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut table = String::new();
    table.push_str("| library | targets | kpack |");
    for g in &gpus {
        table.push_str(&format!(" {g} |"));
    }
    table.push_str("\n|---|---|---|");
    table.push_str(&"---|".repeat(gpus.len()));
    table.push('\n');
    for l in &r.libraries {
        table.push_str(&format!(
            "| `{}` | {} | {} |",
            l.path.replace('|', "\\|"),
            if l.targets.is_empty() {
                "none".into()
            } else {
                l.targets.join(" ")
            },
            if l.kpack { "yes" } else { "no" }
        ));
        for g in &gpus {
            let ok = l.loads.get(g).copied().unwrap_or(false);
            table.push_str(if ok { " loads |" } else { " **no code** |" });
        }
        table.push('\n');
    }
    let kpack_missing = r.libraries.iter().any(|l| {
        l.kpack
            && gpus
                .iter()
                .any(|g| !l.loads.get(g).copied().unwrap_or(false))
    });
    if kpack_missing {
        table.push_str(
            "\nA kpack'd library has no code for a GPU here. Run the failing program once with `ROCM_KPACK_DEBUG=1`: the kpack loader then prints each archive it opens and each kernel it looks up (rocm-kpack `runtime/src/loader.cpp`).\n",
        );
    }
    table
}

/// "Profile": the environment `rocm-patch env` applies, or why it could not be resolved.
fn profile(r: &BugReport) -> io::Result<Section> {
    let profile = match (&r.profile, &r.profile_error) {
        (Some(p), _) => text_of(|o| super::env::explain(p, o))?,
        (None, Some(e)) => format!("could not be resolved: {e}\n"),
        (None, None) => String::new(),
    };
    Ok(Section {
        title: "Profile".into(),
        shown: String::new(),
        details: Some((
            "the environment `rocm-patch env` applies".into(),
            fenced("text", &profile),
        )),
    })
}

/// "Machine": the machine as doctor reads it.
fn machine(d: &DoctorReport) -> io::Result<Section> {
    let doctor = text_of(|o| super::doctor::human(d, false, o))?;
    Ok(Section {
        title: "Machine".into(),
        shown: String::new(),
        details: Some(("`rocm-patch doctor`".into(), fenced("text", &doctor))),
    })
}

/// "Kernel log": the amdgpu/KFD/DRM lines `explain` recognises, or where none were found.
fn kernel_log(r: &BugReport) -> Section {
    let kl = if r.kernel_log.is_empty() {
        format!(
            "No amdgpu line that `rocm-patch explain` recognises found{}.\n",
            if r.kernel_log_from.is_empty() {
                " (no readable kernel log in /var/log)".to_string()
            } else {
                format!(" in {}", r.kernel_log_from.join(", "))
            }
        )
    } else {
        fenced("text", &r.kernel_log.join("\n"))
    };
    Section {
        title: "Kernel log".into(),
        shown: String::new(),
        details: Some((
            format!(
                "{} amdgpu/KFD/DRM lines that `rocm-patch explain` recognises (the others are left out)",
                r.kernel_log.len()
            ),
            kl,
        )),
    }
}

/// "Logs": what `explain` made of the logs given, if any.
fn logs(r: &BugReport) -> io::Result<Option<Section>> {
    let Some(l) = &r.logs else {
        return Ok(None);
    };
    let t = text_of(|o| super::explain::human(l, o))?;
    Ok(Some(Section {
        title: "Logs".into(),
        shown: String::new(),
        details: Some(("`rocm-patch explain`".into(), fenced("text", &t))),
    }))
}

/// "Probe": the probe table, or why the probe could not run; none when it was not asked.
fn probe(r: &BugReport) -> io::Result<Option<Section>> {
    if r.probe.is_none() && r.probe_error.is_none() {
        return Ok(None);
    }
    let t = match (&r.probe, &r.probe_error) {
        (Some(p), _) => text_of(|o| {
            super::probe::header(o)?;
            for x in &p.probes {
                super::probe::row(x, o)?;
            }
            super::probe::summary(p, o)
        })?,
        (None, Some(e)) => format!("the probe could not run: {e}"),
        _ => String::new(),
    };
    Ok(Some(Section {
        title: "Probe".into(),
        shown: String::new(),
        details: Some(("`rocm-patch probe`".into(), fenced("text", &t))),
    }))
}

/// The whole markdown: the head, then each section with its collapsed part.
fn render(head: &str, sections: &[Section]) -> String {
    let mut md = head.to_string();
    for s in sections {
        md.push_str(&format!("## {}\n\n{}", s.title, s.shown));
        if let Some((summary, body)) = &s.details {
            md.push_str(&format!(
                "<details><summary>{summary}</summary>\n\n{}\n</details>\n",
                body.trim_end()
            ));
        }
        md.push('\n');
    }
    md
}

/// The markdown within `max` bytes (0: no limit).
fn cut_to_size(head: &str, sections: &mut [Section], max: usize) -> String {
    let mut md = render(head, sections);
    // Too long: cut the longest collapsible part, again and again.
    while max > 0 && md.len() > max {
        let Some(longest) = sections
            .iter_mut()
            .filter_map(|s| s.details.as_mut())
            .filter(|(_, b)| b.len() > 200)
            .max_by_key(|(_, b)| b.len())
        else {
            break;
        };
        let over = md.len() - max;
        let keep = longest.1.len().saturating_sub(over + 200).max(100);
        let mut cut = keep.min(longest.1.len());
        while !longest.1.is_char_boundary(cut) {
            cut -= 1;
        }
        let dropped = longest.1.len() - cut;
        let mut kept = longest.1[..cut].to_string();
        // A cut inside a fence must close it.
        if kept.matches("```").count() % 2 == 1 {
            kept.push_str("\n```");
        }
        longest.1 = format!(
            "{kept}\n\n*(cut: {dropped} more bytes; `rocm-patch report --max-size 0` keeps everything)*\n"
        );
        md = render(head, sections);
    }
    md
}
