#!/usr/bin/env bash
# Issue 16's speed row of docs/BENCHMARKS.md: seconds per training epoch of seed 001's networks on the
# MNIST view of MNIST-USPS (4,000 training samples, batch 256, the seed's sampler), the engine on
# `flex` and the same network in PyTorch (scripts/triplet_bench.py), both on 2 threads, alternated
# on one machine in one run. Prints one JSON line per run.
#   BIN=mvc-workbench PY=~/.cache/mvc-ref-venv/bin/python bash docs/sweeps/issue16_speed.sh DATA_DIR [EPOCHS] [ROUNDS]
set -euo pipefail
DATA=$1/MNIST_USPS.mat EPOCHS=${2:-3} ROUNDS=${3:-2}
BIN=${BIN:-mvc-workbench} PY=${PY:-python3}
STORE=$(mktemp -d)
for round in $(seq "$ROUNDS"); do
  for model in siamese-conv ae-conv; do
    secs=$(RAYON_NUM_THREADS=2 $BIN train "$DATA" --views X1 --model "$model" --epochs "$EPOCHS" --seed 1 \
      --runs "$STORE" --json | grep '"event":"epoch"' | python3 -c 'import sys,json; print([json.loads(l)["secs"] for l in sys.stdin])')
    echo "{\"engine\":\"mvc-workbench flex\",\"model\":\"$model\",\"round\":$round,\"secs_per_epoch\":$secs}"
    OMP_WAIT_POLICY=PASSIVE $PY scripts/triplet_bench.py --model "$model" --epochs "$EPOCHS" --threads 2 --seed 1 \
      --eval-every 1000 --json "$STORE/py.json" > /dev/null
    echo "{\"engine\":\"pytorch\",\"model\":\"$model\",\"round\":$round,\"secs_per_epoch\":$(python3 -c "import json; print(json.load(open('$STORE/py.json'))['secs_per_epoch'])")}"
  done
done
rm -rf "$STORE"
