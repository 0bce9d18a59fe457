#!/usr/bin/env bash
# Resume cost of `rocm-patch build` (issue: a second run with nothing changed takes under
# 5% of the first): the test project (crates/rocm-patch/tests/data/hiplib, two HIP
# kernels built with Debian's hipcc for gfx1010 and gfx1030, a unit test) is packed as a
# tarball, then built three times with its recipe (tests/data/hiplib.toml.in) in a fresh
# cache: a cold run (unpack, patch, configure, build, test, install, verify), a second run
# with nothing changed, and a run after the install prefix was removed.
# Usage: scripts/bench-build.sh [RUNS]   (default 3 rounds; prints each and the medians)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
target=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p rocm-patch
bin="$target/release/rocm-patch"
data=crates/rocm-patch/tests/data
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
mkdir -p "$w/stage"
cp -r "$data/hiplib" "$w/stage/hiplib-1.0.0"
tar -czf "$w/hiplib.tar.gz" -C "$w/stage" hiplib-1.0.0
cp "$data/hiplib-blocks.patch" "$w/"
sha=$(sha256sum "$w/hiplib.tar.gz" | cut -d' ' -f1)
up=$(sha256sum "$data/hiplib/src/hiplib.cpp" | cut -d' ' -f1)
sed -e "s|@URL@|file://$w/hiplib.tar.gz|" -e "s|@SHA256@|$sha|" -e "s|@UPSTREAM@|$up|" \
  "$data/hiplib.toml.in" > "$w/hiplib.toml"
now() { date +%s.%N; }
run() { "$bin" build "$w/hiplib.toml" --gpu gfx1010 --jobs 2 --cache-dir "$1" --json 2>/dev/null \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["outcome"]=="ok", r["error"]; print(" ".join(s["state"] for s in r["steps"]))'; }
printf '%-6s %10s %10s %8s %12s\n' round first_s second_s ratio after_rm_s
firsts=(); seconds=()
for i in $(seq "$runs"); do
  cache="$w/cache-$i"
  t0=$(now); s1=$(run "$cache"); t1=$(now); s2=$(run "$cache"); t2=$(now)
  rm -rf "$cache/build/hiplib-1.0.0-gfx1010/prefix"
  s3=$(run "$cache"); t3=$(now)
  [ "$s2" = "skipped skipped skipped skipped" ] || { echo "second run did not skip: $s2"; exit 1; }
  a=$(echo "$t1 - $t0" | bc -l); b=$(echo "$t2 - $t1" | bc -l); c=$(echo "$t3 - $t2" | bc -l)
  printf '%-6s %10.3f %10.3f %7.2f%% %12.3f   (%s | %s | %s)\n' "$i" "$a" "$b" "$(echo "100 * $b / $a" | bc -l)" "$c" "$s1" "$s2" "$s3"
  firsts+=("$a"); seconds+=("$b")
done
med() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
mf=$(med "${firsts[@]}"); ms=$(med "${seconds[@]}")
printf 'median: first %.3f s, second %.3f s, second/first %.2f%% (target: under 5%%)\n' "$mf" "$ms" "$(echo "100 * $ms / $mf" | bc -l)"
