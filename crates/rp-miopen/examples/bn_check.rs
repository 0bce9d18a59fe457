//! `cargo run -p rp-miopen --release --example bn_check -- LIB [TARGET...]`: the check as
//! JSON, and how long the scan and the check took (min of 20 runs) on stderr.
#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example program that prints its findings"
)]

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: bn_check LIB [TARGET...]");
        std::process::exit(2);
    };
    let lib = std::fs::read(path).expect("read the library");
    let mut targets: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    if targets.is_empty() {
        targets = vec![
            "gfx1010", "gfx1011", "gfx1012", "gfx1030", "gfx1100", "gfx906", "gfx90a",
        ];
    }
    let (mut scan_t, mut check_t) = (Duration::MAX, Duration::MAX);
    for _ in 0..20 {
        let t = Instant::now();
        std::hint::black_box(rp_miopen::scan(&lib));
        scan_t = scan_t.min(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(rp_miopen::check(&lib, &targets));
        check_t = check_t.min(t.elapsed());
    }
    let c = rp_miopen::check(&lib, &targets);
    println!("{}", serde_json::to_string_pretty(&c).expect("serialize"));
    eprintln!(
        "{} bytes: scan {:.2} ms, check ({} targets) {:.2} ms",
        lib.len(),
        scan_t.as_secs_f64() * 1e3,
        targets.len(),
        check_t.as_secs_f64() * 1e3
    );
}
