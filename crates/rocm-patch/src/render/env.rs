//! Shell code and the `--explain` table for `env`.

use rp_report::EnvReport;
use std::io::{self, Write};

fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn fish_q(s: &str) -> String {
    format!("'{}'", s.replace('\\', r"\\").replace('\'', r"\'"))
}

/// Text safe inside a shell comment: one line, no control characters (a newline in a
/// config file's reason, a profile name or a warning quoting the user's environment would
/// otherwise end the comment and run the rest).
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn header(r: &EnvReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "# rocm-patch profile {} ({})",
        comment(&r.profile),
        comment(&r.profile_source)
    )?;
    for g in &r.gpus {
        writeln!(out, "# GPU {}", comment(g))?;
    }
    for w in &r.warnings {
        writeln!(out, "# warning: {}", comment(w))?;
    }
    Ok(())
}

/// Shell code: a header, then one line a variable, written by `set` / `unset`.
fn shell(
    r: &EnvReport,
    out: &mut dyn Write,
    set: fn(&str, &str) -> String,
    unset: fn(&str) -> String,
) -> io::Result<()> {
    header(r, out)?;
    for v in &r.vars {
        // Names are checked where they are read; one that is not a name is never code.
        if !rp_env::valid_name(&v.name) {
            writeln!(out, "# skipped: {:?} is not a variable name", v.name)?;
            continue;
        }
        let why = comment(&v.reason);
        match (v.action, &v.value) {
            (rp_report::VarAction::Kept, _) => {
                writeln!(out, "# {} kept from your environment", v.name)?
            }
            (_, Some(val)) => writeln!(out, "{}   # {why}", set(&v.name, val))?,
            (_, None) => writeln!(out, "{}   # {why}", unset(&v.name))?,
        }
    }
    Ok(())
}

/// bash / zsh.
pub fn posix(r: &EnvReport, out: &mut dyn Write) -> io::Result<()> {
    shell(
        r,
        out,
        |k, v| format!("export {k}={}", sq(v)),
        |k| format!("unset {k}"),
    )
}

/// fish.
pub fn fish(r: &EnvReport, out: &mut dyn Write) -> io::Result<()> {
    shell(
        r,
        out,
        |k, v| format!("set -gx {k} {}", fish_q(v)),
        |k| format!("set -e {k}"),
    )
}

/// Every variable with its value, action, source, reason and ref.
pub fn explain(r: &EnvReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "profile {} (chosen by {})",
        r.profile, r.profile_source
    )?;
    if !r.description.is_empty() {
        writeln!(out, "  {}", r.description)?;
    }
    for g in &r.gpus {
        writeln!(out, "GPU {g}")?;
    }
    writeln!(out)?;
    for v in &r.vars {
        let val = v
            .value
            .as_deref()
            .map(str::to_string)
            .unwrap_or_else(|| "(unset)".into());
        writeln!(out, "{}={}  [{}]", v.name, val, v.action)?;
        writeln!(out, "    from: {}", v.source)?;
        writeln!(out, "    why:  {}", v.reason)?;
        writeln!(out, "    ref:  {}", v.reference)?;
        if let Some(u) = &v.user_value {
            writeln!(out, "    your environment had: {u}")?;
        }
    }
    for w in &r.warnings {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}

/// `env --list`.
pub fn list(l: &rp_report::ProfileList, out: &mut dyn Write) -> io::Result<()> {
    for p in &l.profiles {
        writeln!(out, "{:<24} {}", p.name, p.description)?;
    }
    Ok(())
}
