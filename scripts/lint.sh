#!/usr/bin/env bash
# Guard-rails run by scripts/test.sh (and so by CI): formatting, clippy with warnings as
# errors (the workspace denies print_stdout/print_stderr in libraries and checks std APIs
# against rust-version), no unused dependencies, and a workspace rust-version that is
# at least every dependency's own.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings (too_many_lines included)"
# With the real-data tests compiled in (they are behind a feature), and no function over
# the 150 lines clippy.toml allows (issue 30).
cargo clippy --workspace --all-targets --release --features rocm-patch/real-data,rp-miopen/real-data -- -D warnings -W clippy::too_many_lines
echo "== no source file over 600 lines of code (its unit tests not counted; issue 30)"
python3 - <<'PY'
import pathlib, sys
over = []
for f in sorted(pathlib.Path("crates").glob("*/src/**/*.rs")):
    if f.name == "tests.rs":
        continue  # a module's unit tests, moved out of it
    n = 0
    for line in f.read_text().splitlines():
        if line.startswith("#[cfg(test)]"):
            break
        n += 1
    if n > 600:
        over.append(f"{f}: {n} lines")
if over:
    sys.exit("split these by job:\n" + "\n".join(over))
print("every source file is at most 600 lines")
PY
echo "== unused dependencies (cargo-machete)"
command -v cargo-machete >/dev/null || cargo install cargo-machete --locked -q
cargo machete
echo "== rust-version covers every dependency"
cargo metadata --format-version 1 | python3 -c '
import json, sys, re
m = json.load(sys.stdin)
ws = set(m["workspace_members"])
v = lambda s: tuple(int(x) for x in s.split("."))
own = {p["rust_version"] for p in m["packages"] if p["id"] in ws}
assert len(own) == 1 and None not in own, f"every crate inherits one rust-version: {own}"
own = own.pop()
worse = [(p["name"], p["rust_version"]) for p in m["packages"]
         if p["id"] not in ws and p.get("rust_version") and v(p["rust_version"]) > v(own)]
if worse:
    sys.exit(f"rust-version {own} is below what dependencies need: {worse}")
print(f"rust-version {own}: ok")
'
