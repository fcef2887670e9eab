#!/usr/bin/env bash
# Full-length runs with the seed's presets over several seeds; prints a Markdown table of
# mean ± std (ACC/NMI/ARI/PUR, primary reading) for docs/RESULTS.md.
#   scripts/results.sh [SEEDS] [DATASET:PRESET ...]
#   scripts/results.sh "1 2 3" Synthetic3d.mat:- Prokaryotic.mat:Prokaryotic
# Each run's JSON lines are kept in out/results/<dataset>-seed<N>.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mvc-workbench/target}"
SHARED="${SHARED:-../shared/datasets}"
SEEDS="${1:-1 2 3}"; shift || true
SETS=("$@")
[ ${#SETS[@]} -gt 0 ] || SETS=(MNIST_USPS.mat:MNIST-USPS BDGP.mat:BDGP Synthetic3d.mat:- Prokaryotic.mat:Prokaryotic handwritten.mat:-)
cargo build -q --bin mvc-workbench
BIN="$CARGO_TARGET_DIR/debug/mvc-workbench"
mkdir -p out/results
for entry in "${SETS[@]}"; do
  file="${entry%%:*}"; preset="${entry##*:}"
  for seed in $SEEDS; do
    log="out/results/${file%.mat}-seed$seed.jsonl"
    args=(train "$SHARED/$file" --seed "$seed" --json --out "out/results/${file%.mat}-seed$seed")
    [ "$preset" = "-" ] || args+=(--preset "$preset")
    [ -n "${EXTRA:-}" ] && args+=($EXTRA)
    echo "== $file seed $seed (${preset})" >&2
    "$BIN" "${args[@]}" > "$log"
  done
done
python3 - "$SEEDS" "${SETS[@]}" <<'PY'
import json, statistics, sys
seeds = sys.argv[1].split()
print("| dataset | preset | seeds | ACC | NMI | ARI | PUR | s/epoch (pre / con) |")
print("|---|---|---|---|---|---|---|---|")
for entry in sys.argv[2:]:
    f, preset = entry.split(":")
    rows = []
    for s in seeds:
        done = [json.loads(l) for l in open(f"out/results/{f[:-4]}-seed{s}.jsonl") if '"done"' in l][-1]
        rows.append(done)
    def ms(key):
        xs = [r["metrics"][key] for r in rows]
        sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
        return f"{statistics.mean(xs):.3f} ± {sd:.3f}"
    spe = rows[0]["secs_per_epoch"]
    print(f"| {f[:-4]} | {preset} | {' '.join(seeds)} | {ms('acc')} | {ms('nmi')} | {ms('ari')} | {ms('purity')} | {spe['pretrain']:.2f} / {spe['contrastive']:.2f} |")
PY
