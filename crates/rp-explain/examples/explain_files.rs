//! Classify files (or stdin) with the library alone and print the primary cause, the
//! number of events and lines: `scripts/bench-explain.sh` times this without building
//! the whole CLI.
use std::io::{BufReader, Write};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let c = rp_explain::Classifier::new();
    let inputs: Vec<(String, std::io::Result<Box<dyn std::io::BufRead>>)> = if args.is_empty() {
        vec![(
            "-".to_string(),
            Ok(
                Box::new(BufReader::with_capacity(1 << 16, std::io::stdin()))
                    as Box<dyn std::io::BufRead>,
            ),
        )]
    } else {
        args.iter()
            .map(|a| {
                let r = std::fs::File::open(a).map(|f| {
                    Box::new(BufReader::with_capacity(1 << 16, f)) as Box<dyn std::io::BufRead>
                });
                (a.clone(), r)
            })
            .collect()
    };
    let r = rp_explain::explain(&c, inputs, &rp_explain::Context::default());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{} events={} lines={}",
        r.primary_cause.as_deref().unwrap_or("none"),
        r.events.len(),
        r.lines
    );
}
