//! Human text for deploy transactions and history.

use super::{Align, Table};
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
    let mut t = Table::new(
        "",
        &[
            ("ID", Align::Right),
            ("DATE (UTC)", Align::Left),
            ("STATE", Align::Left),
            ("CHANGES", Align::Left),
            ("INTO / COMMAND", Align::Left),
        ],
    );
    for x in &h.transactions {
        t.row(vec![
            x.id.to_string(),
            utc(x.created),
            x.state.to_string(),
            counts(x),
            x.into.clone(),
        ]);
        t.row(vec![
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            x.command.clone(),
        ]);
    }
    t.write(out)
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

/// Unix seconds as `YYYY-MM-DD HH:MM` (UTC), by the proleptic Gregorian calendar
/// (days-from-civil inverted, H. Hinnant's algorithm).
pub(crate) fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(super::utc(1_796_298_180), "2026-12-03 11:43");
    }
}

#[cfg(test)]
mod history_tests {
    use rp_report::{ChangeKind, HistoryReport, TxChange, TxReport};

    /// Issue 29: a transaction with many kinds of change (a count line longer than the old
    /// fixed column) keeps the INTO column in line with the header.
    #[test]
    fn history_columns_stay_in_line() {
        let ch = |path: &str, change| TxChange {
            path: path.into(),
            change,
            detail: None,
        };
        let h = HistoryReport {
            state_dir: "/s".into(),
            transactions: vec![
                TxReport {
                    id: "7".into(),
                    created: 1_764_000_000,
                    command: "rocm-patch deploy".into(),
                    into: "/venv/lib".into(),
                    changes: vec![
                        ch("/a", ChangeKind::Add),
                        ch("/b", ChangeKind::Replace),
                        ch("/c", ChangeKind::Remove),
                        ch("/d", ChangeKind::Symlink),
                        ch("/e", ChangeKind::Mkdir),
                    ],
                    ..Default::default()
                },
                TxReport {
                    id: "12345".into(),
                    created: 1_764_000_000,
                    command: "rocm-patch fix".into(),
                    into: "/home/u".into(),
                    changes: vec![ch("/f", ChangeKind::Add)],
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let mut out = Vec::new();
        super::history(&h, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        let col = s.lines().next().unwrap().find("INTO / COMMAND").unwrap();
        for (l, want) in s.lines().skip(1).zip([
            "/venv/lib",
            "rocm-patch deploy",
            "/home/u",
            "rocm-patch fix",
        ]) {
            assert_eq!(l.find(want), Some(col), "{s}");
        }
    }
}
