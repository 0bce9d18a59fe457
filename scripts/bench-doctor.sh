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

# AMD's layout (fixtures/kpack: host and device wheels split by AMD's own splitter, as pip
# installs them), grown to over 1 GB of archives with scripts/kpack.py big; and the same
# venv without them (the archives removed: nothing for doctor to read but the libraries).
genuine=$bench/venv-genuine
if [ ! -d "$genuine" ]; then
  sp=$genuine/lib/python3.11/site-packages
  mkdir -p "$sp"
  printf 'home = /usr/bin\nversion = 3.11.7\n' > "$genuine/pyvenv.cfg"
  cp -a fixtures/kpack/installed/main-gfx1010/site-packages/. "$sp/"
  printf "__version__ = '2.9.1+rocm7.10.0'\ncuda = None\nhip = '7.10.0'\n" > "$sp/torch/version.py"
  python3 scripts/kpack.py big "$sp" 1100
fi
plain=$bench/venv-genuine-plain
if [ ! -d "$plain" ]; then
  cp -a "$genuine" "$plain"
  rm -rf "$plain/lib/python3.11/site-packages/torch/.kpack"
fi
# MIOpen: sid's real 28 MB libMIOpen.so.1 in torch/lib of the ROCm-shaped venv, checked
# for an RX 5600 XT's gfx1010 (a synthesized sysroot): first run, then the cached check.
miopen_root=$bench/root-rx5600xt
if [ ! -d "$miopen_root" ]; then
  mkdir -p "$miopen_root/sys/class/kfd/kfd/topology/nodes/1" "$miopen_root/opt"
  printf 'gfx_target_version 100100\nsimd_count 72\nvendor_id 4098\ndevice_id 29471\nlocation_id 768\n' > "$miopen_root/sys/class/kfd/kfd/topology/nodes/1/properties"
  echo navi10 > "$miopen_root/sys/class/kfd/kfd/topology/nodes/1/name"
  for v in venv venv-no-miopen; do
    sp=$miopen_root/opt/$v/lib/python3.11/site-packages/torch
    mkdir -p "$sp/lib"
    printf 'home = /usr/bin\nversion = 3.11.7\n' > "$miopen_root/opt/$v/pyvenv.cfg"
    : > "$sp/__init__.py"
    printf "__version__ = '2.5.1+rocm6.2'\ncuda = None\nhip = '6.2.41133-dd7f95766'\n" > "$sp/version.py"
  done
  cp "$sid/libMIOpen.so.1.0" "$miopen_root/opt/venv/lib/python3.11/site-packages/torch/lib/libMIOpen.so"
fi

. scripts/bench-lib.sh

t_plain=$(median "$rp" doctor --json)
t_torch=$(median "$rp" doctor --json --python "$venv")
t_both=$(median "$rp" doctor --json --python "$venv" --python "$rocm")
t_import=$(median "$venv/bin/python" -c 'import torch')
t_genuine=$(median "$rp" doctor --json --python "$genuine")
t_plain_genuine=$(median "$rp" doctor --json --python "$plain")
gsize=$(du -sm "$genuine/lib/python3.11/site-packages/torch/.kpack" | cut -f1)
cache=$(mktemp -d)
s=${EPOCHREALTIME/./}; XDG_CACHE_HOME=$cache "$rp" doctor --json --sysroot "$miopen_root" --python "$miopen_root/opt/venv" >/dev/null 2>&1 || true; e=${EPOCHREALTIME/./}
t_miopen_first=$(awk -v d=$((e - s)) 'BEGIN {printf "%.4f", d / 1e6}')
t_miopen_cached=$(XDG_CACHE_HOME=$cache median "$rp" doctor --json --sysroot "$miopen_root" --python "$miopen_root/opt/venv")
t_miopen_none=$(median "$rp" doctor --json --sysroot "$miopen_root" --python "$miopen_root/opt/venv-no-miopen")
rm -rf "$cache"
tv=$("$venv/bin/python" -c 'import torch; print(torch.__version__)')
echo "| measurement (median of $n, warm cache) | result |"
echo "|---|---|"
echo "| rocm-patch doctor --json (live machine, python3 on PATH) | ${t_plain} s |"
echo "| rocm-patch doctor --json --python <venv with torch $tv> | ${t_torch} s |"
echo "| ... plus a ROCm-shaped venv (1 GB librocblas, 1349 Tensile files) | ${t_both} s |"
echo "| python -c 'import torch' (torch $tv) | ${t_import} s |"
echo "| import torch / doctor with both venvs | $(awk "BEGIN {printf \"%.0fx\", $t_import / $t_both}") |"
echo "| rocm-patch doctor --json --python <AMD's kpack layout, ${gsize} MB of archives> | ${t_genuine} s |"
echo "| ... the same venv without its archives | ${t_plain_genuine} s |"
echo "| kpack venv / plain venv | $(awk "BEGIN {printf \"%.2fx\", $t_genuine / $t_plain_genuine}") |"
echo "| doctor --sysroot (RX 5600 XT) --python <torch/lib with sid's 28 MB libMIOpen.so>, first run | ${t_miopen_first} s |"
echo "| ... again (MIOpen check cached by file identity) | ${t_miopen_cached} s |"
echo "| ... the same venv without libMIOpen.so | ${t_miopen_none} s |"
echo "(machine: $(nproc) cores, $(uname -m))"
