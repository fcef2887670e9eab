#!/usr/bin/env bash
# Feature scaling: full runs (the defaults' 200 + 50 epochs, or a preset with PRESET=NAME) with each
# --preprocess choice, three seeds, one rayon thread a run, every run recorded in one store.
# Usage: BIN=path/to/mvc-workbench OUT=DIR PRE="minmax zscore" bash docs/sweeps/preprocess.sh CESC ORL
# Read:  mvc-workbench runs export --tag preprocess --group-by-seed --runs DIR/store
set -u
BIN=${BIN:-mvc-workbench}
D=${DATA_DIR:-../shared/datasets}
OUT=${OUT:-out/preprocess}
PRE=${PRE:-minmax zscore}
SEEDS=${SEEDS:-1 2 3}
mkdir -p "$OUT"
export RAYON_NUM_THREADS=1
for ds in "$@"; do
  for s in $SEEDS; do
    for p in $PRE; do
      log=$OUT/$ds-$p-$s
      [ -s $log.jsonl ] && grep -q '"done"' $log.jsonl && continue
      $BIN train $D/$ds.mat --seed $s --preprocess $p ${PRESET:+--preset $PRESET} --runs $OUT/store \
        --tag preprocess --json > $log.jsonl 2> $log.err
    done
  done
done
echo DONE
