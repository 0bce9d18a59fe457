#!/usr/bin/env bash
# Benchmark `rocm-patch inspect` against roc-obj-ls (warm cache, median of N runs) and
# record peak memory for files of very different sizes. Needs what scripts/test.sh
# prepares (RP_DATA, default target/testdata). Usage: scripts/bench-inspect.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-15}
data=${RP_DATA:-$PWD/target/testdata}
cargo build --release -q
rp=$PWD/target/release/rocm-patch
sparse=/usr/lib/x86_64-linux-gnu/librocsparse.so.0.1
sid=$data/sid/usr/lib/x86_64-linux-gnu
small=$data/fixtures/libone_tu.so

. scripts/bench-lib.sh
peak() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -n1; }

t_roc=$(median roc-obj-ls "$sparse")
t_rp=$(median "$rp" inspect --json "$sparse")
t_sid=$(median "$rp" inspect --json "$sid/librocblas.so.4.4" "$sid/rocblas")
nfiles=$(find "$sid/rocblas" -type f | wc -l)
echo "| measurement | result |"
echo "|---|---|"
echo "| roc-obj-ls librocsparse.so.0.1 (1.3 GB), median of $n | ${t_roc} s |"
echo "| rocm-patch inspect --json librocsparse.so.0.1, median of $n | ${t_rp} s |"
echo "| speed-up | $(awk "BEGIN {printf \"%.0fx\", $t_roc / $t_rp}") |"
echo "| rocm-patch inspect --json sid librocblas.so.4.4 (1.0 GB) + $nfiles Tensile files, median of $n | ${t_sid} s |"
echo "| peak RSS, libone_tu.so ($(stat -c %s "$small") B) | $(peak "$rp" inspect --json "$small") KiB |"
echo "| peak RSS, librocsparse.so.0.1 ($(stat -c %s "$sparse") B) | $(peak "$rp" inspect --json "$sparse") KiB |"
echo "| peak RSS, sid librocblas.so.4.4 ($(stat -c %s "$sid/librocblas.so.4.4") B) + Tensile dir | $(peak "$rp" inspect --json "$sid/librocblas.so.4.4" "$sid/rocblas") KiB |"
echo "(machine: $(nproc) cores, $(uname -m))"
