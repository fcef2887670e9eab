#!/usr/bin/env bash
# Issue 18's t-SNE side-by-side (docs/BENCHMARKS.md): `mvc-workbench tsne` and openTSNE's Barnes-Hut
# alternated on the same matrices, 3 seeds each, 2 threads each.
# usage: docs/sweeps/issue18_tsne.sh BIN DATA.mat CHECKPOINT_DIR OUT_DIR
#   BIN: a built mvc-workbench; CHECKPOINT_DIR: a trained run of DATA (for its Z);
#   python: $PY (default ~/.cache/mvc-ref-venv/bin/python, from ../shared/ref/setup.sh + openTSNE).
set -euo pipefail
BIN=$1 DATA=$2 CK=$3 OUT=$4
PY=${PY:-$HOME/.cache/mvc-ref-venv/bin/python}
mkdir -p "$OUT"
"$BIN" tsne "$DATA" --feature z --checkpoint "$CK" --iterations 2 --features-out "$OUT/z.npy" --json >/dev/null
"$BIN" tsne "$DATA" --feature raw --iterations 2 --features-out "$OUT/raw.npy" --json >/dev/null
for feature in z raw; do
  args=(--feature "$feature"); [ "$feature" = z ] && args+=(--checkpoint "$CK")
  for seed in 1 2 3; do
    "$BIN" tsne "$DATA" "${args[@]}" --seed "$seed" --json | tee -a "$OUT/ours.jsonl"
    "$PY" - "$OUT/$feature.npy" "$seed" "$feature" <<'PYEOF' | tee -a "$OUT/opentsne.jsonl"
import json, sys, time
import numpy as np
from openTSNE import TSNE
from sklearn.manifold import trustworthiness
x = np.load(sys.argv[1]).astype(np.float32)
t = TSNE(n_components=2, perplexity=30, n_iter=500, early_exaggeration_iter=250, initialization="pca",
         negative_gradient_method="bh", n_jobs=2, random_state=int(sys.argv[2]))
s = time.perf_counter(); y = np.asarray(t.fit(x)); secs = time.perf_counter() - s
print(json.dumps({"tool": "openTSNE", "feature": sys.argv[3], "seed": int(sys.argv[2]), "n": x.shape[0],
                  "dim": x.shape[1], "seconds": secs, "trustworthiness": trustworthiness(x, y, n_neighbors=12)}))
PYEOF
  done
done
