#!/usr/bin/env bash
# Seed 001's networks, the engine beside the PyTorch peer (scripts/triplet_bench.py) on this
# machine, alternated round by round: seconds per training epoch (median of the run's epochs, and
# every epoch), 2 threads each. Give one or more engine binaries to compare builds in the same run
# (their order rotates every round; a binary may be a script that sets environment variables).
#   scripts/triplet_speed.sh ROUNDS ae-conv|siamese-conv EPOCHS BIN [BIN...]
# env: DATA (default ../shared/datasets/MNIST_USPS.mat), PY (default ~/.cache/mvc-ref-venv/bin/python,
# made by `VENV=~/.cache/mvc-ref-venv bash ../shared/ref/setup.sh`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 4 ]; then
  echo "usage: scripts/triplet_speed.sh ROUNDS ae-conv|siamese-conv EPOCHS BIN [BIN...]" >&2
  exit 2
fi
ROUNDS=$1 MODEL=$2 EPOCHS=$3
shift 3
DATA=${DATA:-../shared/datasets/MNIST_USPS.mat}
PY=${PY:-$HOME/.cache/mvc-ref-venv/bin/python}
[ -f "$DATA" ] || { echo "triplet_speed.sh: no dataset at $DATA (set DATA)" >&2; exit 2; }
[ -x "$PY" ] || { echo "triplet_speed.sh: no Python at $PY (set PY, or run ../shared/ref/setup.sh)" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
summary='import sys, statistics as st; x = [float(v) for v in sys.argv[1:]]; print("median %.3f" % st.median(x), [round(v, 3) for v in x])'
engine() {
  local runs="$TMP/runs"
  rm -rf "$runs"
  local secs
  secs=$(RAYON_NUM_THREADS=2 "$1" train "$DATA" --views X1 --model "$MODEL" --epochs "$EPOCHS" --seed 1 \
    --runs "$runs" --json | python3 -c 'import sys, json
for l in sys.stdin:
    e = json.loads(l)
    if e.get("event") == "epoch": print(e["secs"])')
  # shellcheck disable=SC2086
  python3 -c "$summary" $secs
}
torch() {
  OMP_WAIT_POLICY=PASSIVE "$PY" scripts/triplet_bench.py --model "$MODEL" --epochs "$EPOCHS" --threads 2 \
    --seed 1 --eval-every 100000 --json "$TMP/py.json" > /dev/null
  python3 -c 'import json, sys, statistics as st
x = json.load(open(sys.argv[1]))["secs_per_epoch"]
print("median %.3f" % st.median(x), [round(v, 3) for v in x])' "$TMP/py.json"
}
for r in $(seq 1 "$ROUNDS"); do
  # rotate the order: round r starts with binary (r - 1) mod n, so over n rounds each binary runs
  # once in every position (with two binaries: swapped every round)
  all=("$@") n=$#
  bins=()
  for i in $(seq 0 $((n - 1))); do bins+=("${all[$(( (r - 1 + i) % n ))]}"); done
  for b in "${bins[@]}"; do echo "round $r engine $b $MODEL: $(engine "$b")"; done
  echo "round $r pytorch $MODEL: $(torch)"
done
