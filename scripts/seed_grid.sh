#!/usr/bin/env bash
# Trains one (small) configuration over seeds 1-10 and prints each run's final ACC of the
# primary reading / of k-means on Z, and how many reached 1.0. The debugging loop of
# docs/RESULTS.md's ablation (about 25 s on one core with scripts/gauss3-small.toml):
#   scripts/seed_grid.sh gauss3-noise "all on" --config scripts/gauss3-small.toml
#   scripts/seed_grid.sh gauss3-noise "no L_A" --config scripts/gauss3-small.toml --loss-weights 1,1,0,1
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvc-workbench/target}"
if [ -z "${BIN:-}" ]; then
  cargo build -q --bin mvc-workbench
  BIN="$CARGO_TARGET_DIR/debug/mvc-workbench"
fi
data=$1; label=$2; shift 2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=""
for s in 1 2 3 4 5 6 7 8 9 10; do
  a=$("$BIN" train "$data" --seed "$s" --json --out "$tmp/s$s" "$@" 2>/dev/null | python3 -c "
import sys, json
for l in sys.stdin:
    e = json.loads(l)
    if e['event'] == 'done':
        m = e['metrics']; print('%.2f/%.2f' % (m['acc'], m['kmeans_z']['acc']))
")
  out="$out $a"
done
n=$(echo $out | tr ' ' '\n' | grep -c '^1.00/' || true)
echo "$label: $n of 10 reach 1.0 (primary/k-means on Z):$out"
