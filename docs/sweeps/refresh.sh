#!/usr/bin/env bash
# Session 30's protocol (docs/RESULTS.md, "Session 30"): one pre-training per seed, then the
# contrastive phase from it with each setting, one rayon thread a run, every run in one store.
# Usage: BIN=path/to/mvc-workbench OUT=DIR SEEDS="1 3" PRE=auto bash docs/sweeps/refresh.sh handwritten
# Settings are config files (TOML) named in CONFIGS; "base" is the defaults. PRE_ARGS / CON_ARGS add
# flags to the pre-trainings / the contrastive phases (e.g. PRE_ARGS="--mse-epochs 5" for a quick try).
# Read:  mvc-workbench runs export --group-by-seed --runs DIR/store
set -u
BIN=${BIN:-mvc-workbench}
D=${DATA_DIR:-../shared/datasets}
OUT=${OUT:-out/refresh}
PRE=${PRE:-auto}
SEEDS=${SEEDS:-1 3}
CONFIGS=${CONFIGS:-base}
mkdir -p "$OUT"
export RAYON_NUM_THREADS=1
for ds in "$@"; do
  for s in $SEEDS; do
    pre=$OUT/$ds-pre-$s
    if ! { [ -s $pre.jsonl ] && grep -q '"done"' $pre.jsonl; }; then
      $BIN train $D/$ds.mat --seed $s --preprocess $PRE --con-epochs 0 --runs $OUT/pre-store \
        ${PRE_ARGS:-} --tag pre --json > $pre.jsonl 2> $pre.err || continue
    fi
    ck=$(python3 -c "import json,sys; print([json.loads(l) for l in open('$pre.jsonl')][-1]['checkpoint'])")
    for c in $CONFIGS; do
      log=$OUT/$ds-$(basename $c .toml)-$s
      [ -s $log.jsonl ] && grep -q '"done"' $log.jsonl && continue
      extra=""
      [ "$c" != base ] && extra="--config $c"
      $BIN train $D/$ds.mat --seed $s --preprocess $PRE --init-from "$ck" --mse-epochs 0 $extra ${CON_ARGS:-} \
        --runs $OUT/store --tag refresh --json > $log.jsonl 2> $log.err
    done
  done
done
echo DONE
