#!/usr/bin/env bash
# Benchmark `rocm-patch doctor` (target: under 100 ms) against `python -c 'import torch'`
# on this machine: Debian's ROCm (HIP 5.2, installed by scripts/test.sh), a real PyPI
# torch venv, and a ROCm-shaped torch venv whose torch/lib holds sid's real 1 GB
# librocblas.so.4.4, its 1349 Tensile files and a hipcc-built libtorch_hip.so.
# Needs what scripts/test.sh prepares (RP_DATA, default target/testdata).
# Usage: scripts/bench-doctor.sh [N]   (TORCH_VENV=DIR reuses a venv with torch)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-15}
data=${RP_DATA:-$PWD/target/testdata}
bench=$PWD/target/bench
mkdir -p "$bench"
cargo build --release -q
rp=$PWD/target/release/rocm-patch

venv=${TORCH_VENV:-$bench/venv-torch}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch
fi

# The ROCm-shaped venv: hard links (no copies) of the real files.
rocm=$bench/venv-rocm
sid=$data/sid/usr/lib/x86_64-linux-gnu
if [ ! -d "$rocm" ]; then
  sp=$rocm/lib/python3.11/site-packages/torch
  mkdir -p "$sp/lib/rocblas"
  printf 'home = /usr/bin\nversion = 3.11.7\n' > "$rocm/pyvenv.cfg"
  : > "$sp/__init__.py"
  printf "__version__ = '2.5.1+rocm6.2'\ncuda = None\nhip = '6.2.41133-dd7f95766'\n" > "$sp/version.py"
  cp -l "$data/fixtures/libtorch_like_no_gfx1010.so" "$sp/lib/libtorch_hip.so" 2>/dev/null || cp "$data/fixtures/libtorch_like_no_gfx1010.so" "$sp/lib/libtorch_hip.so"
  cp -l "$sid/librocblas.so.4.4" "$sp/lib/librocblas.so" 2>/dev/null || cp "$sid/librocblas.so.4.4" "$sp/lib/librocblas.so"
  cp -rl "$sid"/rocblas/*/library "$sp/lib/rocblas/library" 2>/dev/null || cp -r "$sid"/rocblas/*/library "$sp/lib/rocblas/library"
fi

. scripts/bench-lib.sh

t_plain=$(median "$rp" doctor --json)
t_torch=$(median "$rp" doctor --json --python "$venv")
t_both=$(median "$rp" doctor --json --python "$venv" --python "$rocm")
t_import=$(median "$venv/bin/python" -c 'import torch')
tv=$("$venv/bin/python" -c 'import torch; print(torch.__version__)')
echo "| measurement (median of $n, warm cache) | result |"
echo "|---|---|"
echo "| rocm-patch doctor --json (live machine, python3 on PATH) | ${t_plain} s |"
echo "| rocm-patch doctor --json --python <venv with torch $tv> | ${t_torch} s |"
echo "| ... plus a ROCm-shaped venv (1 GB librocblas, 1349 Tensile files) | ${t_both} s |"
echo "| python -c 'import torch' (torch $tv) | ${t_import} s |"
echo "| import torch / doctor with both venvs | $(awk "BEGIN {printf \"%.0fx\", $t_import / $t_both}") |"
echo "(machine: $(nproc) cores, $(uname -m))"
