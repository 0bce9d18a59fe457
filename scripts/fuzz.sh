#!/usr/bin/env bash
# Run the cargo-fuzz target for SECONDS (default 60), seeded with the repository's fixtures.
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
set -euo pipefail
secs=${1:-60}
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p fuzz/corpus/scan
cp -n fixtures/codeobj/* fuzz/corpus/scan/
python3 scripts/kpack.py seed fuzz/corpus/scan
RUSTC_BOOTSTRAP=1 cargo fuzz run scan fuzz/corpus/scan -- -max_total_time="$secs" -rss_limit_mb=1024 -max_len=262144
