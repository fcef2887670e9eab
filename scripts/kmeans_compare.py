#!/usr/bin/env python3
"""The side-by-side of `cargo bench --bench kmeans` (docs/BENCHMARKS.md): scikit-learn's KMeans
(Lloyd, k-means++, 10 clusters, 10 restarts, max_iter 100, tol 1e-4) on the same matrix, 2 threads,
median and best of 5 runs after a warm-up, and the inertia. Needs numpy, scikit-learn, threadpoolctl.

usage: scripts/kmeans_compare.py FEATURES.npy   (e.g. what `mvc-workbench tsne --feature z
                                                  --features-out Z.npy` wrote)
       scripts/kmeans_compare.py                the bench's default: 5,000 × 1,024 blurred blobs
                                                  (not the same random numbers as the Rust bench)
"""
import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

if len(sys.argv) > 1:
    x = np.load(sys.argv[1]).astype(np.float32)
    name = sys.argv[1]
else:
    rng = np.random.default_rng(0)
    centres = rng.random((10, 1024), dtype=np.float32)
    x = centres[np.arange(5000) % 10] + rng.random((5000, 1024), dtype=np.float32) - 0.5
    name = "blobs"
x = np.ascontiguousarray(x.reshape(x.shape[0], -1))
with threadpool_limits(2):
    km = lambda: KMeans(10, n_init=10, max_iter=100, tol=1e-4, algorithm="lloyd", random_state=0).fit(x)
    km()
    times, inertia = [], 0.0
    for _ in range(5):
        t = time.perf_counter()
        inertia = km().inertia_
        times.append(time.perf_counter() - t)
times.sort()
print(f"scikit-learn k-means on {name} ({x.shape[0]} × {x.shape[1]}, k 10, 10 restarts): "
      f"median {times[2]:.3f} s, best {times[0]:.3f} s over 5 runs; inertia {inertia:.6e}")
