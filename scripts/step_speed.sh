#!/usr/bin/env bash
# Issue 13's speed bar, measured the only way that means anything on these shared VMs: the engine's
# `bench` and the PyTorch reference's step benchmark (../shared/ref/tools/step_bench.py) on this
# machine, alternated round by round, 2 threads each. Seconds per optimisation step (forward,
# backward, Adam) of each phase on the MNIST-USPS shapes (2 × 784 features, batch 256): the engine's
# median of EPOCHS epochs (÷ steps per epoch), PyTorch's median of 6 steps; "+ ref." adds the
# engine's pseudo-label refreshes (one every `pseudo_refresh` epochs) to its contrastive epoch.
# Give several engine binaries to compare builds in the same run (their order rotates every round;
# a binary may be a script that sets environment variables and execs one).
#   scripts/step_speed.sh ROUNDS EPOCHS BIN [BIN...]
# env: PY (default ~/.cache/mvc-ref-venv/bin/python, made by ../shared/ref/setup.sh),
#      REF (default ../shared/ref).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then
  echo "usage: scripts/step_speed.sh ROUNDS EPOCHS BIN [BIN...]" >&2
  exit 2
fi
ROUNDS=$1 EPOCHS=$2
shift 2
PY=${PY:-$HOME/.cache/mvc-ref-venv/bin/python}
REF=${REF:-../shared/ref}
[ -x "$PY" ] || { echo "step_speed.sh: no Python at $PY (set PY, or run $REF/setup.sh)" >&2; exit 2; }
[ -f "$REF/tools/step_bench.py" ] || { echo "step_speed.sh: no $REF/tools/step_bench.py (set REF)" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
engine() {
  RAYON_NUM_THREADS=2 "$1" bench --epochs "$EPOCHS" --json | python3 -c 'import sys, json
for l in sys.stdin:
    e = json.loads(l)
    if e.get("event") != "bench": continue
    s, n = e["secs_per_step"], e["steps_per_epoch"]
    print("pre %.4f con %.4f +ref. %.4f (steps/epoch %d)" % (s["pretrain"], s["contrastive"],
          e["secs_per_epoch_contrastive_with_refreshes"] / n, n))'
}
torch() {
  OMP_WAIT_POLICY=PASSIVE "$PY" "$REF/tools/step_bench.py" --threads 2 --reps 6 --configs MNIST-USPS \
    --json "$TMP/py.json" > /dev/null
  python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["rows"][0]
print("pre %.4f con %.4f" % (r["pretrain_median"], r["contrastive_median"]))' "$TMP/py.json"
}
for r in $(seq 1 "$ROUNDS"); do
  # rotate the order: round r starts with binary (r - 1) mod n, so over n rounds each binary runs
  # once in every position (with two binaries: swapped every round)
  all=("$@") n=$#
  bins=()
  for i in $(seq 0 $((n - 1))); do bins+=("${all[$(( (r - 1 + i) % n ))]}"); done
  for b in "${bins[@]}"; do echo "round $r engine $b: $(engine "$b")"; done
  echo "round $r pytorch: $(torch)"
done
