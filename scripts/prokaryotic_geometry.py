"""Where Prokaryotic's cluster structure lives, and what per-feature scaling does to it.

For each view of a multi-view .mat file (default: ../shared/datasets/Prokaryotic.mat), the share of
a sample's 10 nearest neighbours that carry its label, with the view as stored (cosine and
Euclidean distance), min-max scaled and z-scored per feature (Euclidean, as the autoencoder's
reconstruction sees them); then k-means (10 restarts, seeds 0-2) on each view with every row divided
by its norm, and on the min-max and z-score scaled views. docs/RESULTS.md, "Session 44".

Needs numpy, scipy and scikit-learn (the PyTorch reference venv of ../shared/ref has them):
    python3 scripts/prokaryotic_geometry.py [FILE.mat]
"""

import sys

import numpy as np
import scipy.io as sio
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import MinMaxScaler, StandardScaler, normalize


def accuracy(y, p):
    k = max(y.max(), p.max()) + 1
    counts = np.zeros((k, k))
    for a, b in zip(y, p):
        counts[a, b] += 1
    rows, cols = linear_sum_assignment(-counts)
    return counts[rows, cols].sum() / len(y)


def neighbour_agreement(x, y, metric, k=10):
    _, idx = NearestNeighbors(n_neighbors=k + 1, metric=metric).fit(x).kneighbors(x)
    return (y[idx[:, 1:]] == y[:, None]).mean()


def kmeans_scores(x, y, k):
    runs = [KMeans(k, n_init=10, random_state=s).fit_predict(x) for s in range(3)]
    return np.mean([accuracy(y, p) for p in runs]), np.mean([normalized_mutual_info_score(y, p) for p in runs])


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/Prokaryotic.mat"
    mat = sio.loadmat(path)
    views = [np.asarray(v, dtype=np.float64) for v in mat["X"].ravel()]
    y = np.asarray(mat["Y"]).ravel().astype(int)
    y -= y.min()
    k = len(np.unique(y))
    sizes = np.bincount(y)
    print(f"{path}: {len(y)} samples, classes {sizes.tolist()} (largest share {sizes.max() / len(y):.3f})")
    print(f"chance agreement of two random samples' labels: {((sizes / len(y)) ** 2).sum():.3f}")
    print("view  dims  10-NN label agreement: cosine / Euclidean as stored / min-max / z-score")
    for i, v in enumerate(views):
        scaled = [MinMaxScaler().fit_transform(v), StandardScaler().fit_transform(v)]
        a = [neighbour_agreement(v, y, "cosine"), neighbour_agreement(v, y, "euclidean")]
        a += [neighbour_agreement(s, y, "euclidean") for s in scaled]
        print(f"{i + 1:4d} {v.shape[1]:5d}  " + " / ".join(f"{x:.3f}" for x in a))
    print("view  k-means ACC (NMI): rows divided by their norm / min-max / z-score")
    for i, v in enumerate(views):
        cells = [kmeans_scores(x, y, k) for x in (normalize(v), MinMaxScaler().fit_transform(v), StandardScaler().fit_transform(v))]
        print(f"{i + 1:4d}  " + " / ".join(f"{a:.3f} ({n:.3f})" for a, n in cells))


if __name__ == "__main__":
    main()
