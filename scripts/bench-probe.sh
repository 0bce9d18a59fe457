#!/usr/bin/env bash
# The cost of isolation: the full probe matrix through `rocm-patch probe` (a restartable
# worker in its own process group, a round trip per probe) against the same probes run
# unisolated in one Python process (`rp_probe_worker.py --all`). Target: at most 1.5x.
# Usage: scripts/bench-probe.sh [PYTHON] [DEVICE] [N]
#   PYTHON defaults to $RP_TORCH_PYTHON or target/testdata/torch-venv/bin/python.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${1:-${RP_TORCH_PYTHON:-$PWD/target/testdata/torch-venv/bin/python}}
dev=${2:-auto}
n=${3:-3}
rp=${RP_BIN:-}
if [ -z "$rp" ]; then cargo build --release -q; rp=$PWD/target/release/rocm-patch; fi
worker=crates/rp-probe/python/rp_probe_worker.py
. scripts/bench-lib.sh
warmup=0 digits=2   # a warm-up would cost a whole matrix
"$py" -c 'import torch' >/dev/null 2>&1   # warm the page cache
t_uni=$(median "$py" "$worker" --all --device "$dev")
t_iso=$(median "$rp" probe --python "$py" --device "$dev")
echo "| measurement (median of $n, device $dev) | seconds |"
echo "|---|---|"
echo "| unisolated: one process, every probe (rp_probe_worker.py --all) | $t_uni |"
echo "| isolated: rocm-patch probe (worker restartable, per-probe timeout) | $t_iso |"
echo "| ratio (target <= 1.5) | $(awk "BEGIN {printf \"%.2f\", $t_iso / $t_uni}") |"
echo "(machine: $(nproc) cores, $(uname -m))"
