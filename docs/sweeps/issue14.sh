#!/usr/bin/env bash
# The session-15 rows of docs/RESULTS.md (issue 14, the seeds' related methods) on one dataset:
# per seed one pre-training, then each option's contrastive phase from it, then `eval --json`
# (final-epoch readings and the error rate per uncertainty decile).
#   bash docs/sweeps/issue14.sh ../shared/datasets/Synthetic3d.mat STORE_DIR [SEEDS...]
#   PRESET=Prokaryotic bash docs/sweeps/issue14.sh ../shared/datasets/Prokaryotic.mat STORE_DIR 1 2 3
#   PRESET=MNIST-USPS CON_EPOCHS=30 bash docs/sweeps/issue14.sh ../shared/datasets/MNIST_USPS.mat STORE_DIR 1
# (CON_EPOCHS shortens every contrastive phase; the pre-training keeps the preset's or default length)
# OPTS picks the settings (default: base and issue 14's five options; `sinkhorn` = SwAV's balancing,
# --sinkhorn-iters 3, on request). Issue 13's ablation switches
# one mechanism off from the same pre-training: no-weights (adaptive_weights = false: the plain mean,
# no w*), no-refresh (pseudo_refresh = 0), no-centring (view_centring = false), no-centre-refresh
# (refresh_centres = false), scope-all (centring_scope = "all", the default before session 24):
#   OPTS="base no-weights no-refresh no-centring no-centre-refresh" bash docs/sweeps/issue14.sh DATA STORE 1 2 3
# PRE_STORE=DIR reuses the pre-training of an earlier invocation's store (one seed per store).
# The table over seeds, from the stores (each seed's continuations group as one setting):
#   mvc-workbench runs export --group-by-seed --tag issue14 --runs STORE_1 --also STORE_2 --also STORE_3
# (one STORE_DIR per concurrent invocation: each run is found as the store's newest folder)
set -euo pipefail
DATA=$1 STORE=$2; shift 2
SEEDS=${*:-1 2}
BIN=${BIN:-mvc-workbench}
preset=(${PRESET:+--preset "$PRESET"})
con=(${CON_EPOCHS:+--con-epochs "$CON_EPOCHS"})
cfgdir=$(mktemp -d)
trap 'rm -rf "$cfgdir"' EXIT
echo 'adaptive_weights = false' > "$cfgdir/no-weights.toml"
echo 'pseudo_refresh = 0' > "$cfgdir/no-refresh.toml"
echo 'view_centring = false' > "$cfgdir/no-centring.toml"
echo 'refresh_centres = false' > "$cfgdir/no-centre-refresh.toml"
for seed in $SEEDS; do
  if [ -n "${PRE_STORE:-}" ]; then
    # Reuse the pre-training of an earlier invocation (its store's oldest run: pre-$seed).
    pre=$(ls -d "$PRE_STORE"/*/ | sort | head -1)
    grep -q "\"pre-$seed\"" "$pre/run.json" || { echo "$pre is not pre-$seed" >&2; exit 2; }
  else
    $BIN train "$DATA" "${preset[@]}" --seed "$seed" --con-epochs 0 --runs "$STORE" --name "pre-$seed" --json > /dev/null
    pre=$(ls -td "$STORE"/*/ | head -1)
  fi
  for opt in ${OPTS:-base uncertainty zh h pcl knn}; do
    case $opt in
      base) extra=();;
      uncertainty) extra=(--uncertainty-weighting);;
      zh) extra=(--cluster-space zh);;
      h) extra=(--cluster-space h);;
      pcl) extra=(--pcl-temperature 0.1);;
      knn) extra=(--knn-targets 10);;
      sinkhorn) extra=(--sinkhorn-iters 3);;
      no-weights) extra=(--config "$cfgdir/no-weights.toml");;
      no-refresh) extra=(--config "$cfgdir/no-refresh.toml");;
      no-centring) extra=(--config "$cfgdir/no-centring.toml");;
      no-centre-refresh) extra=(--config "$cfgdir/no-centre-refresh.toml");;
      scope-all) extra=(--centring-scope all);;
      *) echo "unknown setting $opt" >&2; exit 2;;
    esac
    $BIN train "$DATA" "${preset[@]}" --seed "$seed" --init-from "$pre" --mse-epochs 0 "${con[@]}" "${extra[@]}" \
      --runs "$STORE" --name "$opt-$seed" --tag "${TAG:-issue14}" --json > /dev/null
    $BIN eval --checkpoint "$(ls -td "$STORE"/*/ | head -1)" "$DATA" --json
  done
done
