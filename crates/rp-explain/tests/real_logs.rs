//! Real logs from public issue threads (fixtures/logs, sources in SOURCES.md): each must get
//! the primary cause listed in fixtures/logs/EXPECTED, and every cause in the knowledge base
//! must be covered by at least one log.

use rp_explain::{explain, Classifier, Context};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/logs")
}

fn expected() -> Vec<(String, String)> {
    std::fs::read_to_string(dir().join("EXPECTED"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (f, c) = l.split_once(' ').unwrap();
            (f.to_string(), c.trim().to_string())
        })
        .collect()
}

#[test]
fn every_real_log_gets_its_cause() {
    let c = Classifier::new();
    let mut wrong = Vec::new();
    for (file, cause) in expected() {
        let data = std::fs::read(dir().join(&file)).unwrap();
        let r = explain(&c, vec![(file.clone(), Ok(&data[..]))], &Context::default());
        let got = r.primary_cause.clone().unwrap_or_else(|| "null".into());
        if got != cause {
            let evs: Vec<String> = r
                .events
                .iter()
                .map(|e| format!("{}:{} {}", e.signature, e.cause, e.text))
                .collect();
            wrong.push(format!(
                "{file}: expected {cause}, got {got}; events {evs:#?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn at_least_thirty_logs_cover_every_cause() {
    let logs = expected();
    assert!(logs.len() >= 30, "{} logs", logs.len());
    let covered: BTreeSet<&str> = logs.iter().map(|(_, c)| c.as_str()).collect();
    let sources = std::fs::read_to_string(dir().join("SOURCES.md")).unwrap();
    for (f, _) in &logs {
        assert!(sources.contains(&format!("`{f}`")), "{f} has no source");
    }
    for cause in rp_kb::kb().causes() {
        assert!(
            covered.contains(cause.id.as_str()),
            "no real log for cause {}",
            cause.id
        );
    }
}
