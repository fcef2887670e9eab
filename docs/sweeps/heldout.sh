#!/usr/bin/env bash
# Held-out datasets: `all` (the old default) against today's default `contrast`, from one pre-training per seed.
# Usage: BIN=path/to/mvc-workbench OUT=DIR bash docs/sweeps/heldout.sh WebKB 3sources (dataset names under ../shared/datasets)
set -u
BIN=${BIN:-mvc-workbench}
D=${DATA_DIR:-../shared/datasets}
OUT=${OUT:-out/heldout}
mkdir -p "$OUT"
export RAYON_NUM_THREADS=1
for ds in "$@"; do
  for s in 1 2 3; do
    pre=$OUT/pre-$ds-$s
    [ -d $pre ] || $BIN train $D/$ds.mat --seed $s --con-epochs 0 --out $pre --runs $OUT/store --json > $OUT/pre-$ds-$s.jsonl 2> $OUT/pre-$ds-$s.err
    $BIN train $D/$ds.mat --seed $s --init-from $pre --mse-epochs 0 --runs $OUT/store --tag heldout --centring-scope all --json > $OUT/$ds-all-$s.jsonl 2> $OUT/$ds-all-$s.err
    $BIN train $D/$ds.mat --seed $s --init-from $pre --mse-epochs 0 --runs $OUT/store --tag heldout --json > $OUT/$ds-con-$s.jsonl 2> $OUT/$ds-con-$s.err
  done
done
echo DONE
