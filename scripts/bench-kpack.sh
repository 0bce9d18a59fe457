#!/usr/bin/env bash
# Benchmark `inspect` on a TheRock-shaped site-packages whose device code is in kpack
# archives, against the same real code objects as plain fat binaries (median of N warm
# runs). The layouts come from scripts/kpack.py tree: LIBS kpack'd host libraries, each
# with one real Tensile code object (sid rocBLAS 6.4) per processor, archived once as
# zstd-per-kernel and once uncompressed; and the same libraries with the code objects in
# .hip_fatbin as a CCOB-compressed and as a plain bundle.
# Needs what scripts/test.sh prepares. Usage: scripts/bench-kpack.sh [N] [LIBS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-9}
libs=${2:-16}
data=${RP_DATA:-$PWD/target/testdata}
cargo build --release -q
rp=$PWD/target/release/rocm-patch
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
made=$(python3 scripts/kpack.py tree "$tree" "$libs" "$data/sid/usr/lib/x86_64-linux-gnu/rocblas/4.4.1/library")
rm -rf "$tree/work"

. scripts/bench-lib.sh
peak() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -n1; }
size() { du -sb "$1" | cut -f1 | awk '{printf "%.2f GB", $1 / 1e9}'; }
declare -A t
for l in kpack-zstd kpack-none plain-ccob plain-bundle; do
  t[$l]=$(median "$rp" inspect --json "$tree/$l/site-packages")
done
echo "layout: $made"
echo "| layout | on disk | inspect --json site-packages, median of $n | ratio to the same plain layout | peak RSS |"
echo "|---|---|---|---|---|"
for pair in "kpack-zstd plain-ccob" "kpack-none plain-bundle" "plain-ccob plain-ccob" "plain-bundle plain-bundle"; do
  set -- $pair
  echo "| $1 | $(size "$tree/$1") | ${t[$1]} s | $(awk "BEGIN {printf \"%.2fx\", ${t[$1]} / ${t[$2]}}") | $(peak "$rp" inspect --json "$tree/$1/site-packages") KiB |"
done
echo "(machine: $(nproc) cores, $(uname -m))"
