#!/usr/bin/env bash
# The test command (README, CI). Installs what the tests need, prepares the real test
# data, then runs the whole suite and a short fuzzing session:
#   - Debian packages: hipcc (HIP 5.2, roc-obj-ls), clang-19 + lld-19 (compressed
#     bundles), librocsparse0 (a 1.3 GB fat library), binutils, time (peak-RSS tests),
#     man-db and groff-base (man pages rendered with man -l), gcc (host libraries),
#     cmake, make, patch, git and tar (build's end-to-end tests);
#   - sid's librocblas4 (ROCm 6.4), unpacked with dpkg -x, never installed;
#   - a real ROCm wheel from PyPI (torch-scatter-rocm), and real torch from PyPI in a venv
#     (for probe, run on the CPU); setuptools and wheel in a venv (fix's test wheels);
#   - fixtures compiled with those toolchains (scripts/build-fixtures.sh);
# then the guard-rails (scripts/lint.sh: rustfmt, clippy -D warnings, unused
# dependencies, rust-version), the tests, and a short fuzzing session. The small real
# files in fixtures/ (provenance: fixtures/SOURCES.md) come with the repository.
# Two tiers: the fast tier (`cargo test --workspace`: no downloads, no test data; the fake
# probe worker of crates/rp-testkit stands in for torch) runs first, right after the Debian
# tools are installed and before any test data is fetched; the full suite (`--features rocm-patch/real-data,rp-miopen/real-data`) runs
# after the data is prepared and the guard-rails pass.
# Env: RP_DATA (default target/testdata), RP_FUZZ_SECONDS (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${RP_DATA:-$PWD/target/testdata}
mkdir -p "$data"

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
pkgs=(hipcc libamdhip64-dev clang-19 lld-19 librocsparse0 binutils zstd ca-certificates time coreutils man-db groff-base bash gcc passwd cmake make patch git tar)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The fast tier: no test data (nothing downloaded but crates; only the Debian tools above,
# such as man and gcc, which a few of its tests run).
echo "== fast tier: cargo test --workspace --release (no test data)"
fast_start=$(date +%s)
env -u RP_FIXTURES -u RP_SID -u RP_WHEELS -u RP_ROCSPARSE -u RP_TORCH_PYTHON \
  -u RP_NO_TORCH_PYTHON -u RP_BUILD_PYTHON -u RP_PIP_PYTHONS cargo test --workspace --release
echo "fast tier: $(( $(date +%s) - fast_start )) s"

if [ ! -e "$data/sid/usr/lib/x86_64-linux-gnu/librocblas.so.4.4" ]; then
  echo "== downloading sid librocblas4 (not installed: unpacked into $data/sid)"
  scripts/fetch-sid.sh "$data/sid" librocblas4
fi
if [ ! -e "$data/sid/usr/lib/x86_64-linux-gnu/libMIOpen.so.1" ]; then
  echo "== downloading sid libmiopen1 (not installed: unpacked into $data/sid)"
  scripts/fetch-sid.sh "$data/sid" libmiopen1
fi
if ! ls "$data/wheels"/torch_scatter_rocm-*.whl >/dev/null 2>&1; then
  echo "== downloading a ROCm wheel from PyPI"
  python3 -m pip download -q --no-deps -d "$data/wheels" "torch-scatter-rocm==2.1.2.post7"
fi
# AMD's placeholder of a TheRock device package, as PyPI serves it.
if ! ls "$data/wheels"/amd_torch_device_gfx1010-0.0.1.dev0-*.whl >/dev/null 2>&1; then
  python3 -m pip download -q --no-deps -d "$data/wheels" "amd-torch-device-gfx1010==0.0.1.dev0"
fi
# What the host torch wheel of AMD's split requires (fix's package index serves them).
if ! ls "$data/wheels"/rocm_bootstrap-0.3.0-*.whl "$data/wheels"/filelock-*.whl >/dev/null 2>&1; then
  python3 -m pip download -q --no-deps -d "$data/wheels" "rocm-bootstrap==0.3.0" "filelock==4.3.2"
fi
# Real torch from PyPI for `probe` (its Linux wheels pull the CUDA libraries: about 2
# minutes and 5 GB), and an empty venv as a Python without torch.
if ! "$data/torch-venv/bin/python" -c 'import torch' >/dev/null 2>&1; then
  echo "== installing torch from PyPI into $data/torch-venv"
  python3 -m venv "$data/torch-venv"
  "$data/torch-venv/bin/pip" install -q --disable-pip-version-check torch numpy
fi
[ -x "$data/empty-venv/bin/python" ] || python3 -m venv --without-pip "$data/empty-venv"
# setuptools and wheel from PyPI, for the stand-in wheels `fix`'s tests build with
# `pip wheel` and serve from a package index on 127.0.0.1.
if ! "$data/build-venv/bin/python" -c 'import setuptools, wheel' >/dev/null 2>&1; then
  echo "== installing setuptools and wheel into $data/build-venv"
  python3 -m venv "$data/build-venv"
  "$data/build-venv/bin/pip" install -q --disable-pip-version-check setuptools wheel
fi
# pip itself, as the oldest and the newest pip whose configuration rules
# rp-machine/src/pipconf.rs follows (tests/pip_config.rs asks each what `pip install`
# would use): a venv each, the pip pinned.
pip_pythons=()
for v in 23.2.1 26.3; do
  if ! "$data/pip-$v/bin/python" -m pip --version 2>/dev/null | grep -q "^pip $v "; then
    echo "== installing pip $v from PyPI into $data/pip-$v"
    rm -rf "$data/pip-$v"
    python3 -m venv "$data/pip-$v"
    "$data/pip-$v/bin/python" -m pip install -q --disable-pip-version-check "pip==$v"
  fi
  pip_pythons+=("$data/pip-$v/bin/python")
done
echo "== building fixtures with hipcc and clang-19"
scripts/build-fixtures.sh "$data/fixtures"

export RP_FIXTURES="$data/fixtures" RP_SID="$data/sid" RP_WHEELS="$data/wheels"
export RP_ROCSPARSE=/usr/lib/x86_64-linux-gnu/librocsparse.so.0.1
export RP_TORCH_PYTHON="$data/torch-venv/bin/python" RP_NO_TORCH_PYTHON="$data/empty-venv/bin/python"
export RP_BUILD_PYTHON="$data/build-venv/bin/python"
RP_PIP_PYTHONS=$(IFS=:; echo "${pip_pythons[*]}")
export RP_PIP_PYTHONS
scripts/lint.sh
full=(--features rocm-patch/real-data,rp-miopen/real-data)
echo "== cargo build (the trace interposer, a cdylib, lands beside the binary)"
cargo build --workspace --release "${full[@]}"
echo "== cargo test (full suite: the real-data tests too)"
cargo test --workspace --release "${full[@]}" 2>&1 | tee "$data/cargo-test.log"
echo "== fuzzing the parsers for ${RP_FUZZ_SECONDS:-60}s"
scripts/fuzz.sh "${RP_FUZZ_SECONDS:-60}" 2>&1 | tail -n 3
# One closing line with the totals of every cargo test binary of the full suite.
awk '/^test result:/ {p += $4; f += $6} END {print "tests: " p " passed, " f " failed"}' "$data/cargo-test.log"
