#!/usr/bin/env python3
"""The side-by-side of `mvc-workbench tsne` (docs/BENCHMARKS.md): openTSNE's Barnes-Hut (and FFT)
on the same features as `mvc-workbench tsne DATA --feature raw` (the views side by side, each
feature min-max scaled over all samples, a constant feature 0), 2 threads, perplexity 30,
750 iterations (250 early exaggeration + 500), PCA initialisation; trustworthiness (k = 12) by
scikit-learn. Needs numpy, scipy, scikit-learn, openTSNE.

usage: scripts/tsne_compare.py FILE.mat VAR [VAR ...]   e.g. MNIST_USPS.mat X1 X2
       scripts/tsne_compare.py FEATURES.npy                the matrix `mvc-workbench tsne --features-out`
                                                          wrote (e.g. a network's Z), used as it is
"""
import json
import sys
import time

import numpy as np
import scipy.io
from openTSNE import TSNE
from sklearn.manifold import trustworthiness


def minmax(v):
    v = np.asarray(v, dtype=np.float64)
    lo, hi = v.min(axis=0), v.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.where(hi > lo, (v - lo) / span, 0.0)


path, names = sys.argv[1], sys.argv[2:]
if path.endswith(".npy"):
    x = np.load(path).astype(np.float32)
else:
    mat = scipy.io.loadmat(path)
    x = np.hstack([minmax(mat[n]) for n in names]).astype(np.float32)
for method in ("bh", "fft"):
    tsne = TSNE(n_components=2, perplexity=30, n_iter=500, early_exaggeration_iter=250, initialization="pca",
                negative_gradient_method=method, n_jobs=2, random_state=7, verbose=False)
    started = time.perf_counter()
    y = np.asarray(tsne.fit(x))
    secs = time.perf_counter() - started
    t = trustworthiness(x, y, n_neighbors=12)
    print(json.dumps({"tool": "openTSNE", "method": method, "n": x.shape[0], "dim": x.shape[1], "seconds": secs,
                      "trustworthiness": t}))
