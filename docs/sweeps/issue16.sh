#!/usr/bin/env bash
# The issue-16 rows of docs/RESULTS.md: seed 001's metric-learning baseline on MNIST-USPS with the
# seed's settings (40 epochs, Adam 7e-4, batch 256, margin 10, 80/20 stratified split), three
# variants × the given seeds; each run's `train --json` done line (the test split's k-means
# ACC/NMI/ARI, kNN accuracy, margin violations) goes to STORE/results.jsonl, tagged with its variant.
# Evaluations every 10 epochs (the readings reported are the final epoch's, epoch 40).
#   BIN=mvc-workbench VARIANTS="ae-conv siamese cross-view" bash docs/sweeps/issue16.sh ../shared/datasets/MNIST_USPS.mat STORE_DIR [SEEDS...]
set -euo pipefail
DATA=$1 STORE=$2; shift 2
SEEDS=${*:-1 2 3}
BIN=${BIN:-mvc-workbench}
VARIANTS=${VARIANTS:-ae-conv siamese cross-view}
mkdir -p "$STORE"
printf 'eval_every = 10\n' > "$STORE/eval10.toml"
for variant in $VARIANTS; do
  for seed in $SEEDS; do
    case $variant in
      siamese) extra=(--model siamese-conv --views X1);;
      ae-conv) extra=(--model ae-conv --views X1);;
      cross-view) extra=(--model siamese-conv --positives cross-view);;
    esac
    line=$($BIN train "$DATA" "${extra[@]}" --config "$STORE/eval10.toml" --seed "$seed" --runs "$STORE" --name "$variant-$seed" \
      --tag issue16 --json | grep '"event":"done"')
    echo "{\"variant\":\"$variant\",\"seed\":$seed,\"done\":$line}" | tee -a "$STORE/results.jsonl"
  done
done
