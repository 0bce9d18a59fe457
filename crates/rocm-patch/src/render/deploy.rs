//! Human text for deploy transactions and history.

use rp_report::{HistoryReport, RecoverReport, TxReport};
use std::collections::BTreeMap;
use std::io::{self, Write};

fn counts(r: &TxReport) -> String {
    let mut m: BTreeMap<&str, usize> = BTreeMap::new();
    // Counted by name, in name order, as before the vocabulary was typed.
    for c in &r.changes {
        *m.entry(c.change.as_str()).or_default() += 1;
    }
    m.iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One transaction with its changes.
pub fn tx(r: &TxReport, out: &mut dyn Write) -> io::Result<()> {
    for n in &r.notes {
        writeln!(out, "{n}")?;
    }
    writeln!(
        out,
        "transaction {} {}: {} into {}",
        r.id,
        r.state,
        if r.changes.is_empty() {
            "no changes".to_string()
        } else {
            counts(r)
        },
        r.into
    )?;
    if let Some(n) = &r.note {
        writeln!(out, "  {n}")?;
    }

    for c in &r.changes {
        match &c.detail {
            Some(d) => writeln!(out, "  {:<8} {} ({d})", c.change, c.path)?,
            None => writeln!(out, "  {:<8} {}", c.change, c.path)?,
        }
    }
    Ok(())
}

/// The history table.
pub fn history(h: &HistoryReport, out: &mut dyn Write) -> io::Result<()> {
    if h.transactions.is_empty() {
        return writeln!(out, "no transactions in {}", h.state_dir);
    }
    writeln!(
        out,
        "{:>4}  {:<12}  {:<24}  INTO / COMMAND",
        "ID", "STATE", "CHANGES"
    )?;
    for t in &h.transactions {
        writeln!(
            out,
            "{:>4}  {:<12}  {:<24}  {}",
            t.id,
            t.state,
            counts(t),
            t.into
        )?;
        writeln!(out, "{:>4}  {:<12}  {:<24}  {}", "", "", "", t.command)?;
    }
    Ok(())
}

/// What `recover` put back.
pub fn recover(r: &RecoverReport, out: &mut dyn Write) -> io::Result<()> {
    if let Some(id) = &r.abandoned {
        writeln!(
            out,
            "transaction {id} set aside; nothing in the tree was changed and its stored originals are kept"
        )?;
        if !r.not_restored.is_empty() {
            writeln!(out, "check these by hand (it would have restored them):")?;
            for p in &r.not_restored {
                writeln!(out, "  {p}")?;
            }
        }
        return Ok(());
    }
    if r.recovered.is_empty() {
        return writeln!(out, "nothing to recover");
    }
    for t in &r.recovered {
        tx(t, out)?;
    }
    Ok(())
}
