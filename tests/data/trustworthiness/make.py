#!/usr/bin/env python3
"""Writes cases.json: trustworthiness of seeded point sets and their low-dimensional layouts as
scikit-learn computes it (sklearn.manifold.trustworthiness), for src/analysis/trust.rs's test.
Run from this folder: python3 make.py (needs numpy and scikit-learn)."""
import json

import numpy as np
import sklearn
from sklearn.manifold import trustworthiness

rng = np.random.default_rng(18)
cases = []
for n, d, out_dims, noise in [(150, 8, 2, 0.3), (120, 20, 3, 1.0), (60, 5, 2, 3.0)]:
    centres = rng.normal(size=(4, d)) * 3
    x = centres[rng.integers(0, 4, size=n)] + rng.normal(size=(n, d))
    rot, _ = np.linalg.qr(rng.normal(size=(d, d)))
    y = (x @ rot)[:, :out_dims] + noise * rng.normal(size=(n, out_dims))
    x, y = x.astype(np.float32), y.astype(np.float32)
    values = {str(k): float(trustworthiness(x, y, n_neighbors=k)) for k in (5, 12)}
    cases.append({"n": n, "dim": d, "out_dims": out_dims, "x": x.ravel().tolist(), "y": y.ravel().tolist(),
                  "trustworthiness": values})
with open("cases.json", "w") as f:
    json.dump({"sklearn_version": sklearn.__version__, "cases": cases}, f)
