#!/usr/bin/env bash
# Time the hunt of an earlier commit and of the working tree alternately, on copies of one case,
# in the same session (so that both see the same load): bench_hunt.py for each, ROUNDS times.
#
#   bash bench/ab_hunt.sh REV CASE [ROUNDS] [OUT]
#
# REV is the earlier commit (checked out into a temporary git worktree and run with PYTHONPATH
# pointing at its src/); CASE an ingested case file. Each side hunts its own copy (OUT/old.duckdb,
# OUT/new.duckdb: a case keeps what its version stored), and the first round of each resolves
# its copy if needed, so compare the later rounds or the best one. Figures: OUT/{old,new}_N.json.
set -euo pipefail
rev=${1:?usage: ab_hunt.sh REV CASE [ROUNDS] [OUT]}
case_file=${2:?usage: ab_hunt.sh REV CASE [ROUNDS] [OUT]}
rounds=${3:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${4:-$(mktemp -d)}
mkdir -p "$out"
py="$root/.venv/bin/python"
tree=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tree" >/dev/null 2>&1 || true' EXIT
git -C "$root" worktree add --detach --force "$tree" "$rev" >/dev/null
[ -f "$out/old.duckdb" ] || cp "$case_file" "$out/old.duckdb"
[ -f "$out/new.duckdb" ] || cp "$case_file" "$out/new.duckdb"
for i in $(seq 1 "$rounds"); do
  (cd "$tree" && PYTHONPATH="$tree/src" "$py" bench/bench_hunt.py --case "$out/old.duckdb" --json "$out/old_$i.json" >/dev/null)
  (cd "$root" && "$py" bench/bench_hunt.py --case "$out/new.duckdb" --json "$out/new_$i.json" >/dev/null)
done
"$py" - "$out" "$rounds" <<'EOF'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
print(f"{'side':4} {'round':>5} {'scan s':>8} {'scan CPU':>9} {'hunt s':>8} {'hunt CPU':>9} {'RSS MiB':>8} {'hunt/scan':>9}")
for side in ("old", "new"):
    for i in range(1, rounds + 1):
        d = json.load(open(f"{out}/{side}_{i}.json"))
        s, h = d["scan"], d["hunt"]
        print(f"{side:4} {i:5d} {s['seconds']:8.2f} {s['cpu']:9.2f} {h['seconds']:8.2f} {h['cpu']:9.2f} "
              f"{h['peak_rss_mb']:8.0f} {d['ratio']:9.3f}")
print(f"figures in {out}")
EOF
