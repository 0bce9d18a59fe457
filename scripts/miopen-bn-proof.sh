#!/usr/bin/env bash
# Compile proof of a MIOpen batch-norm patch on a source checkout (the test suite's proof,
# crates/rp-miopen/tests/sid.rs, uses sid's library texts; this one takes real files):
# every src/kernels/MIOpenBatchNorm*.cl compiled with clang-19 for gfx1010/1011/1012 and
# gfx10-1-generic before
# and after the patch, and preprocessed (-E -P) for gfx1030/gfx906/gfx90a before and after
# (must be identical). Build parameters as MIOpen's solvers pass them for an FP32 NCHW
# problem (N=32 C=64 HW=1024), options as MIOpen's comgr path (src/comgr.cpp).
# Usage: scripts/miopen-bn-proof.sh SRC PATCH   (SRC: a MIOpen tree holding src/kernels)
# Exit 1 when a kernel does not behave as expected. Never changes SRC.
set -euo pipefail
src=$1; patchfile=$(realpath "$2"); clang=${CLANG:-clang-19}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/before/src" "$work/after/src"
cp -r "$src/src/kernels" "$work/before/src/"; cp -r "$src/src/kernels" "$work/after/src/"
patch -s -p1 --batch --forward -d "$work/after" -i "$patchfile"
variants() { case $1 in MIOpenBatchNormFwdTrainSpatial.cl|MIOpenBatchNormBwdSpatial.cl) echo 0 1 2 3 4;;
  MIOpenBatchNormActiv*Spatial.cl) echo 1 2 3 4;; *) echo 1;; esac; }
cc() { # DIR FILE TARGET VARIANT MODE...
  local dir=$1 f=$2 t=$3 v=$4; shift 4
  local g103=0 g110=0 g115=0 g120=0
  case $t in gfx103*) g103=1;; gfx110*) g110=1;; gfx115*) g115=1;; gfx120*) g120=1;; esac
  local cov=(); case $t in *generic*) cov=(-mcode-object-version=6);; esac
  "$clang" -x cl -cl-std=CL2.0 -target amdgcn-amd-amdhsa -mcpu="$t" "${cov[@]}" -nogpulib -O3 -D__IMAGE_SUPPORT__=1 \
    -I "$dir" -DMIOPEN_USE_FP16=0 -DMIOPEN_USE_FP32=1 -DMIOPEN_USE_FPMIX=0 -DMIOPEN_USE_BFPMIX=0 \
    -DMIO_SAVE_MEAN_VARIANCE=1 -DMIO_RUNNING_RESULT=1 -DMIO_BN_VARIANT="$v" -DMIO_BN_LDS_SIZE=256 \
    -DMIO_BN_LDSGCN_SIZE=4 -DMIO_BN_N=32 -DMIO_BN_GRP0=1 -DMIO_BN_GRP1=256 -DMIO_BN_GRP2=1 -DMIO_BN_C=64 \
    -DMIO_BN_HW=1024 -DMIO_BN_NHW=32768 -DMIO_BN_CHW=65536 -DMIO_BN_NCHW=2097152 -DMIO_BN_USESAVED=1 \
    -DMIO_BN_NGRPS=4 -DMIO_BN_NGRPS2=4 -DMIO_BN_NLOOP=4 -DMIO_BN_NLOOPM=3 -DMIO_BN_SEGMENT=256 \
    -DMIO_BN_SEGIHW=1 -DMIO_BN_REM=0 -DMIO_BN_SEG_C=1 -DMIO_BN_SEGTMP=256 -DMIO_BN_CBHW=1024 \
    -DMIO_LAYOUT_NHWC=0 -DMIOPEN_NRN_OP_ID=3 -DMIOPEN_READ_UNIT=4 -DMIOPEN_READ_TYPE=_FLOAT4 \
    -DMIO_BN_GFX103X=$g103 -DMIO_BN_GFX110X=$g110 -DMIO_BN_GFX115X=$g115 -DMIO_BN_GFX120X=$g120 \
    "$@" "$dir/$f"
}
bad=0
echo "| kernel | target | before | after (variants) |"
echo "|---|---|---|---|"
for path in "$work/before/src/kernels"/MIOpenBatchNorm*.cl; do
  f=$(basename "$path")
  for t in gfx1010 gfx1011 gfx1012 gfx10-1-generic; do
    if err=$(cc "$work/before/src/kernels" "$f" "$t" 1 -c -o /dev/null 2>&1); then b=compiles
    elif grep -q 'not a valid operand' <<<"$err"; then b="fails: not a valid operand (row_bcast)"
    else b="fails: $(grep -m1 'error:' <<<"$err" | sed 's/.*error: //')"; fi
    a=compiles
    for v in $(variants "$f"); do
      if ! err=$(cc "$work/after/src/kernels" "$f" "$t" "$v" -c -o /dev/null 2>&1); then
        a="fails (variant $v): $(grep -m1 'error:' <<<"$err" | sed 's/.*error: //')"; bad=1
      fi
    done
    echo "| $f | $t | $b | $a ($(variants "$f" | tr ' ' ',')) |"
  done
  for t in gfx1030 gfx906 gfx90a; do
    for v in $(variants "$f"); do
      cc "$work/before/src/kernels" "$f" "$t" "$v" -E -P > "$work/a" 2>/dev/null || true
      cc "$work/after/src/kernels" "$f" "$t" "$v" -E -P > "$work/b" 2>/dev/null || true
      if ! [ -s "$work/a" ] || ! cmp -s "$work/a" "$work/b"; then
        echo "| $f | $t | preprocessed text differs (variant $v) | |"; bad=1
      fi
    done
  done
done
echo
[ $bad = 0 ] && echo "gfx1030/gfx906/gfx90a: preprocessed text identical before and after for every kernel and variant"
exit $bad
