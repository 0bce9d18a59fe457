//! Signature coverage of the message catalogs (rp-kb data/catalogs): every error- and
//! warning-level format string, rendered into a log line (`%d`, `%s`, `0x%x` filled, behind
//! the catalog's prefix), must be classified (a cause other than `unknown`, or benign) for at
//! least the share committed below. The figures are reported in docs/explain.md.

use regex::Regex;
use rp_explain::{explain, Classifier, Context};

/// Committed floors, in percent of error and warning messages classified.
const FLOORS: &[(&str, f64)] = &[
    ("amdgpu", 95.0),
    ("amdkfd", 95.0),
    ("hip", 85.0),
    ("rocr", 50.0),
    ("miopen", 95.0),
    ("rocblas", 90.0),
    ("llvm", 100.0),
    ("pytorch", 80.0),
];

/// A format string as a log line: conversions filled with plausible values.
fn render(fmt: &str) -> String {
    let conv = Regex::new(r"(0x)?%[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|z|j|t|L)?([diouxXcspfegEG%])")
        .unwrap();
    conv.replace_all(fmt, |c: &regex::Captures| {
        let hex = c.get(1).is_some();
        match &c[2] {
            "%" => "%".to_string(),
            "d" | "i" | "u" => format!("{}3", if hex { "0x" } else { "" }),
            "x" | "X" | "o" => format!("{}1a2b", if hex { "0x" } else { "" }),
            "p" => "0x7f0012345678".to_string(),
            "s" => format!("{}foo", if hex { "0x" } else { "" }),
            "c" => "c".to_string(),
            _ => "1.5".to_string(),
        }
    })
    .into_owned()
}

/// (catalog, messages counted, classified, classified by a specific (not a family
/// fallback) signature, the unclassified lines).
fn coverage() -> Vec<(String, usize, usize, usize, Vec<String>)> {
    let c = Classifier::new();
    let kb = rp_kb::kb();
    let fallback = |id: &str| kb.signatures().iter().any(|s| s.id == id && s.fallback);
    let mut out = Vec::new();
    for cat in rp_kb::catalogs() {
        let (mut n, mut ok, mut specific, mut missed) = (0, 0, 0, Vec::new());
        for m in &cat.message {
            if m.level != "error" && m.level != "warning" {
                continue;
            }
            let prefix = m
                .prefix
                .clone()
                .unwrap_or_else(|| match &cat.warning_prefix {
                    Some(w) if m.level == "warning" => w.clone(),
                    _ => cat.prefix.clone(),
                });
            let line = format!("{prefix}{}\n", render(&m.format));
            let r = explain(
                &c,
                vec![("catalog".to_string(), Ok(line.as_bytes()))],
                &Context::default(),
            );
            n += 1;
            if r.primary_cause.as_deref().is_some_and(|p| p != "unknown") {
                ok += 1;
                if r.events.iter().any(|e| !fallback(&e.signature)) {
                    specific += 1;
                }
            } else {
                missed.push(line.trim_end().to_string());
            }
        }
        out.push((cat.name, n, ok, specific, missed));
    }
    out
}

#[test]
fn catalog_coverage_meets_the_committed_floor() {
    let mut failed = Vec::new();
    let mut table = String::new();
    for (name, n, ok, specific, missed) in coverage() {
        let pct = 100.0 * ok as f64 / n.max(1) as f64;
        let spct = 100.0 * specific as f64 / n.max(1) as f64;
        table.push_str(&format!(
            "| {name} | {n} | {ok} | {pct:.1}% | {specific} ({spct:.1}%) |\n"
        ));
        for m in &missed {
            table.push_str(&format!("    unclassified: {m}\n"));
        }
        let floor = FLOORS
            .iter()
            .find(|(c, _)| *c == name)
            .map(|(_, f)| *f)
            .unwrap_or_else(|| panic!("catalog {name} has no committed floor"));
        if pct < floor {
            failed.push(format!("{name}: {pct:.1}% < {floor}%"));
        }
    }
    // The figures for docs/explain.md: RP_COVERAGE_OUT=<file> writes them.
    if let Ok(path) = std::env::var("RP_COVERAGE_OUT") {
        std::fs::write(path, &table).unwrap();
    }
    assert!(failed.is_empty(), "below the floor: {failed:?}\n{table}");
}

#[test]
fn every_catalog_message_cites_where_it_is_printed() {
    for cat in rp_kb::catalogs() {
        assert!(
            !cat.repo.is_empty() && !cat.commit.is_empty(),
            "{}",
            cat.name
        );
        assert!(!cat.message.is_empty(), "{}", cat.name);
        for m in &cat.message {
            assert!(
                matches!(m.level.as_str(), "error" | "warning" | "info"),
                "{}: {}",
                cat.name,
                m.level
            );
            assert!(
                !m.at.is_empty() && !m.format.is_empty(),
                "{}: {:?}",
                cat.name,
                m
            );
        }
    }
}

#[test]
fn rendering_fills_conversions() {
    assert_eq!(
        render("failed to add hardware queue to MES, doorbell=0x%x"),
        "failed to add hardware queue to MES, doorbell=0x1a2b"
    );
    assert_eq!(
        render("KFD node %d ih_fifo overflow"),
        "KFD node 3 ih_fifo overflow"
    );
    assert_eq!(render("%s %lu%%"), "foo 3%");
}
