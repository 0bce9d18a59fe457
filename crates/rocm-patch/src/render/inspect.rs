//! Human text for `inspect`: a per-target summary, then a per-file table.

use rp_report::{
    CodeObjectReport, Compression, Coverage, FileFormat, FileReport, InspectReport, KpackArchive,
    KpackRef, LibraryKind, MiopenCheck,
};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Write the human report.
pub fn human(r: &InspectReport, verbose: bool, out: &mut dyn Write) -> io::Result<()> {
    header(r, out)?;
    targets(r, out)?;
    files(r, verbose, out)?;
    tensile_libraries(r, out)?;
    miopen_databases(r, out)?;
    miopen_batch_norm(r, out)?;
    coverage(r, verbose, out)?;
    unread_files(r, out)
}

/// The first line: how many code objects, in how many files.
fn header(r: &InspectReport, out: &mut dyn Write) -> io::Result<()> {
    let n_co: u64 = r.targets.values().sum();
    let with_code = r
        .files
        .iter()
        .filter(|f| !f.code_objects.is_empty())
        .count();
    writeln!(
        out,
        "{n_co} code objects in {with_code} files ({} files listed)",
        r.files.len()
    )
}

/// "Targets": code objects per processor.
fn targets(r: &InspectReport, out: &mut dyn Write) -> io::Result<()> {
    if r.targets.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nTargets (code objects per processor):")?;
    let mut t = super::Table::new(
        "  ",
        &[
            ("TARGET", super::Align::Left),
            ("CODE OBJECTS", super::Align::Right),
        ],
    );
    for (target, n) in &r.targets {
        t.row(vec![target.to_string(), n.to_string()]);
    }
    t.write(out)
}

/// "Files": the per-file table, each row followed by its kpack details, notes and (with
/// `verbose`) its code objects.
fn files(r: &InspectReport, verbose: bool, out: &mut dyn Write) -> io::Result<()> {
    // Tensile and MIOpen files are summarised per directory below; -v lists them.
    let rows: Vec<_> = r
        .files
        .iter()
        .filter(|f| {
            f.error.is_some()
                || (f.library_file.is_none() || (verbose && !f.code_objects.is_empty()))
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nFiles:")?;
    let w = rows
        .iter()
        .map(|f| shown(&f.path).len())
        .max()
        .unwrap_or(0)
        .max("PATH".len());
    writeln!(
        out,
        "  {:<w$}  {:<17}  {:>7}  TARGETS",
        "PATH", "FORMAT", "BUNDLES"
    )?;
    for f in rows {
        file_row(f, w, out)?;
        if let Some(k) = &f.kpack {
            kpack_archive(k, w, out)?;
        }
        if let Some(k) = &f.kpack_ref {
            kpack_ref(k, w, out)?;
        }
        // Its error goes to stderr (the command prints it).
        for n in &f.notes {
            writeln!(out, "  {:<w$}  note: {n}", "")?;
        }
        if verbose {
            code_objects(&f.code_objects, out)?;
        }
    }
    Ok(())
}

/// One row of the file table: path, format, bundle count and its targets (with
/// compression and a count when repeated).
fn file_row(f: &FileReport, w: usize, out: &mut dyn Write) -> io::Result<()> {
    let mut per: BTreeMap<(&str, Compression), usize> = BTreeMap::new();
    for c in &f.code_objects {
        *per.entry((c.target_id.as_str(), c.compression))
            .or_default() += 1;
    }
    let targets: Vec<String> = per
        .iter()
        .map(|((t, comp), n)| {
            let comp = if *comp == Compression::None {
                String::new()
            } else {
                format!(" [{comp}]")
            };
            if *n > 1 {
                format!("{t}{comp} x{n}")
            } else {
                format!("{t}{comp}")
            }
        })
        .collect();
    let fmt = f.format.map_or("-", FileFormat::as_str);
    writeln!(
        out,
        "  {:<w$}  {:<17}  {:>7}  {}",
        shown(&f.path),
        fmt,
        f.bundles,
        targets.join(", ")
    )
}

/// The line under a file that is itself a kpack archive.
fn kpack_archive(k: &KpackArchive, w: usize, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "  {:<w$}  kpack archive: group {}, family {}, {} binaries, {}",
        "",
        k.group_name.as_deref().unwrap_or("-"),
        k.gfx_arch_family.as_deref().unwrap_or("-"),
        k.binaries,
        k.compression_scheme
    )
}

/// The lines under a file whose code was kpack'd: its kernel name, units, and where the
/// runtime searches for its archives.
fn kpack_ref(k: &KpackRef, w: usize, out: &mut dyn Write) -> io::Result<()> {
    let units = match (k.units.len(), k.units_from_archives) {
        (n, false) => format!("{n} translation unit{}", if n == 1 { "" } else { "s" }),
        (n, true) => format!("{n} translation unit(s) known from its archives"),
    };
    writeln!(out, "  {:<w$}  kpack'd as {} ({units}):", "", k.kernel_name)?;
    if k.disabled {
        writeln!(
            out,
            "  {:<w$}    ROCM_KPACK_DISABLE is set: the runtime loads none of it",
            ""
        )?;
    }
    for s in &k.search {
        let targets = if s.targets.is_empty() {
            String::new()
        } else {
            format!(": {}", s.targets.join(" "))
        };
        let from = match s.source {
            rp_report::KpackSource::Embedded => String::new(),
            other => format!(" [{other}]"),
        };
        writeln!(
            out,
            "  {:<w$}    {}{from} -> {} ({}){targets}",
            "",
            s.path,
            s.archive.as_deref().unwrap_or("?"),
            s.status
        )?;
    }
    Ok(())
}

/// With `verbose`: one line per code object of a file (and its warning, if any).
fn code_objects(cos: &[CodeObjectReport], out: &mut dyn Write) -> io::Result<()> {
    for c in cos {
        let cov = c
            .code_object_version
            .map_or("-".to_string(), |v| format!("v{v}"));
        let ccob = c
            .ccob_version
            .map_or(String::new(), |v| format!(" ccob v{v}"));
        let at = c.offset.map_or(String::new(), |o| format!(" @{o:#x}"));
        let mem = c
            .member
            .as_deref()
            .or(c.archive.as_deref())
            .map_or(String::new(), |m| format!(" in {m}"));
        let mem = match &c.binary {
            Some(b) if c.archive.is_none() => format!("{mem} for {b}"),
            _ => mem,
        };
        let tw = cos.iter().map(|c| c.target_id.len()).max().unwrap_or(0);
        writeln!(
            out,
            "      {:<tw$} {} code object {cov}, {} bytes{ccob}{at}{mem}",
            c.target_id, c.compression, c.size
        )?;
        if let Some(w) = &c.warning {
            writeln!(out, "      warning: {w}")?;
        }
    }
    Ok(())
}

/// "Tensile libraries": one line per directory, with the archs it has a catalog for.
fn tensile_libraries(r: &InspectReport, out: &mut dyn Write) -> io::Result<()> {
    if r.tensile_dirs.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nTensile libraries (archs with a master catalog):")?;
    for d in &r.tensile_dirs {
        writeln!(
            out,
            "  {} ({}, {} files): {}",
            d.path,
            d.library,
            d.files,
            d.archs.join(" ")
        )?;
    }
    Ok(())
}

/// "MIOpen databases": MIOpen files that carry no code, with their role and arch.
fn miopen_databases(r: &InspectReport, out: &mut dyn Write) -> io::Result<()> {
    let others: Vec<_> = r
        .files
        .iter()
        .filter(|f| {
            f.code_objects.is_empty()
                && f.error.is_none()
                && f.library_file
                    .as_ref()
                    .is_some_and(|l| l.library == LibraryKind::Miopen)
        })
        .collect();
    if others.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nMIOpen databases:")?;
    for f in others {
        let l = f.library_file.as_ref().expect("filtered");
        writeln!(
            out,
            "  {} ({}, {})",
            shown(&f.path),
            l.role,
            l.arch.as_deref().unwrap_or("?")
        )?;
    }
    Ok(())
}

/// "MIOpen batch-norm kernels": per MIOpen library, the verdict for each target.
fn miopen_batch_norm(r: &InspectReport, out: &mut dyn Write) -> io::Result<()> {
    let miopen: Vec<&MiopenCheck> = r
        .files
        .iter()
        .filter_map(|f| f.miopen_bn.as_ref())
        .collect();
    if miopen.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\nMIOpen batch-norm kernels (DPP row_bcast path, MIOpen#1586):"
    )?;
    for m in miopen {
        writeln!(
            out,
            "  {} (MIOpen {}, {} kernels{})",
            m.path,
            m.version.as_deref().unwrap_or("?"),
            m.kernels_found.len(),
            if m.gfx101x_fix_present {
                ", gfx101x fix present"
            } else {
                ""
            }
        )?;
        for t in &m.targets {
            let detail = match (&t.reason, t.kernels.is_empty()) {
                (Some(r), _) => format!(": {r}"),
                (None, false) => format!(": {}", t.kernels.join(", ")),
                _ => String::new(),
            };
            let w = m.targets.iter().map(|t| t.target.len()).max().unwrap_or(0);
            writeln!(out, "    {:<w$} {}{detail}", t.target, t.verdict)?;
        }
    }
    Ok(())
}

/// "Coverage for GPU": which libraries can run on it, which cannot, which only in part.
fn coverage(r: &InspectReport, verbose: bool, out: &mut dyn Write) -> io::Result<()> {
    let Some(c) = &r.coverage else {
        return Ok(());
    };
    if c.covered.is_empty() && c.missing.is_empty() && c.partial.is_empty() {
        return writeln!(
            out,
            "\nCoverage for {}: no file here carries GPU code or names a kpack archive: nothing here runs on the GPU",
            c.gpu
        );
    }
    let partly = if c.partial.is_empty() {
        String::new()
    } else {
        format!(", {} only in part", c.partial.len())
    };
    writeln!(
        out,
        "\nCoverage for {}: {} can run it, {} cannot{partly}",
        c.gpu,
        super::count(c.covered.len(), "library", "libraries"),
        c.missing.len()
    )?;
    coverage_gaps(c, out)?;
    if verbose {
        for k in &c.covered {
            let from = if k.archives.is_empty() {
                String::new()
            } else {
                format!(" from {}", k.archives.join(", "))
            };
            writeln!(out, "  ok ({}) {}{from}", k.how, k.path)?;
        }
    }
    Ok(())
}

/// The MISSING and PARTIAL lines of the coverage section, each with its reason.
fn coverage_gaps(c: &Coverage, out: &mut dyn Write) -> io::Result<()> {
    for m in &c.missing {
        writeln!(out, "  MISSING {m}")?;
        if let Some(w) = c.why.get(m) {
            writeln!(out, "          {w}")?;
        }
    }
    for p in &c.partial {
        writeln!(
            out,
            "  PARTIAL {} ({} of {} translation units have no code: {})",
            p.path,
            p.missing_units.len(),
            p.units,
            p.missing_units.join(", ")
        )?;
        if let Some(w) = c.why.get(&p.path) {
            writeln!(out, "          {w}")?;
        }
    }
    Ok(())
}

/// The closing line: how many files could not be read completely.
fn unread_files(r: &InspectReport, out: &mut dyn Write) -> io::Result<()> {
    let errors = r.files.iter().filter(|f| f.error.is_some()).count();
    if errors > 0 {
        writeln!(out, "\n{errors} file(s) could not be read completely")?;
    }
    Ok(())
}

/// A path as a terminal may show it: control characters (a wheel member can be named
/// with any) escaped, never sent to the terminal.
pub(crate) fn shown(p: &str) -> std::borrow::Cow<'_, str> {
    if !p.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(p);
    }
    std::borrow::Cow::Owned(
        p.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}
