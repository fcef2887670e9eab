#!/usr/bin/env bash
# Full-length runs with the seed's presets over several seeds; prints a Markdown table of
# mean ± std (ACC/NMI/ARI/PUR, primary reading) for docs/RESULTS.md.
#   scripts/results.sh [SEEDS] [DATASET:PRESET ...]
#   scripts/results.sh "1 2 3" Synthetic3d.mat:- Prokaryotic.mat:Prokaryotic
# TAG=name puts the runs under out/results/<dataset>-<name>-seed<N> (e.g. other settings via EXTRA).
# Several invocations may run at once (e.g. RAYON_NUM_THREADS=1 each: two one-thread processes
# get more done on 2 cores than one two-thread process).
# Each run's JSON lines are kept in out/results/<dataset>-seed<N>.jsonl.
# PRE=dir shares the pre-training between settings: the first run of a dataset and seed pre-trains
# into dir/<dataset>-seed<N> (--con-epochs 0), and every run starts its contrastive phase from that
# checkpoint (--init-from, --mse-epochs 0).
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
    if [ -n "${PRE:-}" ]; then
      mkdir -p "$PRE"; pre="$PRE/${file%.mat}-seed$seed"
      if [ ! -f "$pre/checkpoint/meta.json" ]; then
        pargs=(train "$SHARED/$file" --seed "$seed" --json --out "$pre" --con-epochs 0)
        [ "$preset" = "-" ] || pargs+=(--preset "$preset")
        echo "== $file seed $seed: pre-training into $pre" >&2
        "$BIN" "${pargs[@]}" > "$pre.jsonl"
      fi
      args+=(--mse-epochs 0 --init-from "$pre/checkpoint")
    fi
    echo "== $file seed $seed (${preset})" >&2
    "$BIN" "${args[@]}" > "$log"
  done
done
python3 scripts/results_table.py out/results
