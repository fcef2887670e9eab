#!/usr/bin/env bash
# Full-length runs with the seed's presets over several seeds; prints a Markdown table of
# mean ± std (ACC/NMI/ARI/PUR, primary reading) for docs/RESULTS.md.
#   scripts/results.sh [SEEDS] [DATASET:PRESET ...]
#   scripts/results.sh "1 2 3" Synthetic3d.mat:- Prokaryotic.mat:Prokaryotic
# TAG=name puts the runs under out/results/<dataset>-<name>-seed<N> (e.g. other settings via EXTRA).
# Several invocations may run at once (e.g. RAYON_NUM_THREADS=1 each: two one-thread processes
# get more done on 2 cores than one two-thread process).
# Each run's JSON lines are kept in out/results/<dataset>-seed<N>.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvc-workbench/target}"
SHARED="${SHARED:-../shared/datasets}"
SEEDS="${1:-1 2 3}"; shift || true
SETS=("$@")
[ ${#SETS[@]} -gt 0 ] || SETS=(MNIST_USPS.mat:MNIST-USPS BDGP.mat:BDGP Synthetic3d.mat:- Prokaryotic.mat:Prokaryotic handwritten.mat:-)
# BIN=path runs a fixed copy of the binary (so a rebuild during a long sweep changes nothing).
if [ -z "${BIN:-}" ]; then
  cargo build -q --bin mvc-workbench
  BIN="$CARGO_TARGET_DIR/debug/mvc-workbench"
fi
mkdir -p out/results
for entry in "${SETS[@]}"; do
  file="${entry%%:*}"; preset="${entry##*:}"
  for seed in $SEEDS; do
    stem="${file%.mat}${TAG:+-$TAG}"
    log="out/results/$stem-seed$seed.jsonl"
    args=(train "$SHARED/$file" --seed "$seed" --json --out "out/results/$stem-seed$seed")
    [ "$preset" = "-" ] || args+=(--preset "$preset")
    [ -n "${EXTRA:-}" ] && args+=($EXTRA)
    echo "== $file seed $seed (${preset})" >&2
    "$BIN" "${args[@]}" > "$log"
  done
done
python3 scripts/results_table.py out/results
