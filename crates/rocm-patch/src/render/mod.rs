//! Human renderers. JSON is the report serialised as it is.

pub mod bench;
pub mod build;
pub mod deploy;
pub mod doctor;
pub mod env;
pub mod explain;
pub mod fix;
pub mod inspect;
pub mod probe;
pub mod report;
pub mod trace;

use std::io::{self, Write};

/// How a column's cells sit in it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Align {
    Left,
    Right,
}

/// A table whose columns are as wide as their widest cell, header included, so a long
/// path, profile name or count never pushes the columns after it out of line. The last
/// column is not padded; columns are two spaces apart unless `gap` says otherwise.
pub struct Table {
    indent: &'static str,
    gap: &'static str,
    heads: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(indent: &'static str, heads: &[(&str, Align)]) -> Table {
        Table {
            indent,
            gap: "  ",
            heads: heads.iter().map(|(h, a)| (h.to_string(), *a)).collect(),
            rows: Vec::new(),
        }
    }

    /// Columns `gap` apart.
    pub fn gap(mut self, gap: &'static str) -> Table {
        self.gap = gap;
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Each column's width, in characters.
    fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.heads.iter().map(|(h, _)| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                if let Some(x) = w.get_mut(i) {
                    *x = (*x).max(c.chars().count());
                }
            }
        }
        w
    }

    fn line(&self, cells: &[String], w: &[usize], out: &mut dyn Write) -> io::Result<()> {
        let mut s = String::from(self.indent);
        let last = cells.len().saturating_sub(1);
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str(self.gap);
            }
            let width = w.get(i).copied().unwrap_or(0);
            let pad = width.saturating_sub(c.chars().count());
            let align = self.heads.get(i).map_or(Align::Left, |h| h.1);
            if align == Align::Right {
                s.extend(std::iter::repeat_n(' ', pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                if i < last {
                    s.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        writeln!(out, "{}", s.trim_end())
    }

    /// The header and every row.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let w = self.widths();
        let heads: Vec<String> = self.heads.iter().map(|(h, _)| h.clone()).collect();
        self.line(&heads, &w, out)?;
        for r in &self.rows {
            self.line(r, &w, out)?;
        }
        Ok(())
    }
}

/// `1 library`, `2 libraries`: a count with its noun in the right number.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod table_tests {
    use super::{Align, Table};

    #[test]
    fn columns_fit_their_widest_cell() {
        let mut t = Table::new(
            "  ",
            &[
                ("NAME", Align::Left),
                ("N", Align::Right),
                ("NOTE", Align::Left),
            ],
        );
        t.row(vec![
            "a-very-long-profile+MIOPEN_FIND_MODE=FAST".into(),
            "12345".into(),
            "x".into(),
        ]);
        t.row(vec!["b".into(), "1".into(), "".into()]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        // The third column starts at the same place on every line.
        let at: Vec<usize> = lines
            .iter()
            .map(|l| l.find("NOTE").or_else(|| l.find('x')).unwrap_or(0))
            .collect();
        assert_eq!(at[0], at[1], "{s}");
        assert_eq!(
            lines[2], "  b                                              1",
            "{s}"
        );
        assert!(lines[1].contains("  12345  x"), "{s}");
    }
}

#[cfg(test)]
mod count_tests {
    #[test]
    fn singular_and_plural() {
        assert_eq!(super::count(1, "probe", "probes"), "1 probe");
        assert_eq!(super::count(0, "note", "notes"), "0 notes");
        assert_eq!(super::count(2, "library", "libraries"), "2 libraries");
    }
}
