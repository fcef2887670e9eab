#!/usr/bin/env python3
"""PyTorch peer of the workbench's metric-learning baseline (seed 001, ../shared/seeds/001_*.txt).

Trains the seed's `Siamese` network or its `AutoEDcoder` encoder with the triplet loss on one
view of MNIST-USPS, the way the Rust side does (`--model siamese-conv|ae-conv`), so the two can be
timed and scored side by side on the same machine:

- data: one view (`--view X1|X2`, default X1, 784 features = one 28x28 grey image, row-major)
  of `MNIST_USPS.mat`, each feature scaled min-max to [0, 1] over the whole dataset (a constant
  feature becomes 0), as `--preprocess minmax`; `--scaling seed` instead maps the stored pixels
  (0..1) to [-1, 1] as the seed's `Normalize([0.5], [0.5])` does (one map for every feature);
- a stratified 80/20 train/test split (sklearn `train_test_split(stratify=Y, random_state=seed)`;
  the Rust split draws its own rows, so the rows differ, the class counts do not);
- the seed's networks, Adam (lr 7e-4), batch 256, shuffled each epoch; the seed's sampler: for
  each anchor a uniformly random *other* training sample of its class and a uniformly random
  training sample of another class; triplet loss
  `relu(F.pairwise_distance(a, p) - F.pairwise_distance(a, n) + 10).mean()`; anchors, positives
  and negatives go through the network as ONE batch of 3B rows (as the Rust side does, so batch
  norm sees all three);
- per epoch: the mean batch loss and the seconds of the epoch (training only: sampling, forward,
  backward, Adam; evaluation excluded);
- evaluation (eval mode) every `--eval-every` epochs and at the end: embeddings of both splits;
  kNN accuracy of the test split (k=5, Euclidean, fitted on the train embeddings); k-means on the
  test embeddings (k=10, n_init=10, random_state=seed) scored by ACC (Hungarian), NMI and ARI.

Set up the reference venv once (see ../shared/ref/README.md), then, from the repository root:

    VENV=$HOME/.cache/mvc-ref-venv bash ../shared/ref/setup.sh        # once
    OMP_WAIT_POLICY=PASSIVE $HOME/.cache/mvc-ref-venv/bin/python scripts/triplet_bench.py \\
        --model siamese-conv --epochs 40 --threads 2 --json siamese.json
    OMP_WAIT_POLICY=PASSIVE $HOME/.cache/mvc-ref-venv/bin/python scripts/triplet_bench.py \\
        --model ae-conv --epochs 40 --threads 2 --json ae.json

`--json FILE` writes {"model", "epochs", "threads", "secs_per_epoch": [...],
"median_secs_per_epoch", "knn_acc", "kmeans": {"acc", "nmi", "ari"}} (plus a few descriptive
extras: view, seed, split sizes, per-epoch losses, intermediate evaluations, versions).
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import scipy.io
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - the reference venv has it
    threadpool_limits = None

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MAT = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "datasets", "MNIST_USPS.mat"))
if not os.path.exists(DEFAULT_MAT):
    DEFAULT_MAT = "/work/shared/datasets/MNIST_USPS.mat"

LEARNING_RATE = 7e-4
BATCH_SIZE = 256
MARGIN = 10.0


# ---------------------------------------------------------------------------------------------
# The seed's networks (verbatim layer order).
# ---------------------------------------------------------------------------------------------
class Siamese(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, kernel_size=3, padding=1, stride=1),
            nn.ReLU(),
            nn.BatchNorm2d(4),
            nn.Conv2d(4, 8, kernel_size=3, padding=1, stride=1),
            nn.ReLU(),
            nn.BatchNorm2d(8),
            nn.Conv2d(8, 16, kernel_size=3, padding=1, stride=1),
            nn.ReLU(),
            nn.BatchNorm2d(16),
            nn.Conv2d(16, 4, kernel_size=3, padding=1, stride=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(3136, out_features=4096),
        )

    def forward(self, x):
        return self.features(x)


class AutoEDcoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels=1, out_channels=3, kernel_size=3, stride=2, padding=1),
            nn.BatchNorm2d(3),
            nn.LeakyReLU(),
            nn.Conv2d(3, 9, 3, 2, 1),
            nn.BatchNorm2d(9),
            nn.LeakyReLU(),
            nn.Conv2d(9, 18, 3, 2, 1),
            nn.BatchNorm2d(18),
            nn.LeakyReLU(),
            nn.Flatten(),
            nn.Linear(18 * 4 * 4, 512),
            nn.Linear(512, 1024),
        )

    def forward(self, x):
        return self.encoder(x)


MODELS = {"siamese-conv": Siamese, "ae-conv": AutoEDcoder}


def triplet_loss(anchor, positive, negative, margin=MARGIN):
    distance_positive = F.pairwise_distance(anchor, positive, p=2)
    distance_negative = F.pairwise_distance(anchor, negative, p=2)
    return F.relu(distance_positive - distance_negative + margin).mean()


# ---------------------------------------------------------------------------------------------
# Data.
# ---------------------------------------------------------------------------------------------
def load_view(path, view, scaling="minmax"):
    mat = scipy.io.loadmat(path)
    x = np.asarray(mat[view], dtype=np.float64)
    y = np.asarray(mat["Y"]).reshape(-1).astype(np.int64)
    if x.shape[0] != y.shape[0]:
        x = x.T
    if x.shape[1] != 28 * 28:
        sys.exit(f"{view} has {x.shape[1]} features; the conv encoders read 28x28 (784) images")
    if scaling == "seed":
        # The seed's transform: ToTensor (pixels to 0..1, as stored here), Normalize(0.5, 0.5).
        return np.ascontiguousarray((x - 0.5) / 0.5, dtype=np.float32), y
    # Min-max per feature over the whole dataset; a constant feature becomes 0.
    lo, hi = x.min(axis=0), x.max(axis=0)
    span = hi - lo
    scaled = np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 0.0)
    return np.ascontiguousarray(scaled, dtype=np.float32), y


class Sampler:
    """The seed's triplets: for each anchor a uniformly random other sample of its class and a
    uniformly random sample of another class, both drawn from the whole training split."""

    def __init__(self, y, rng):
        self.y = y
        self.rng = rng
        classes = np.unique(y)
        self.same = {c: np.flatnonzero(y == c) for c in classes}
        self.other = {c: np.flatnonzero(y != c) for c in classes}
        # Position of each sample inside its class's list (to skip the anchor itself).
        self.pos_in_class = np.empty(len(y), dtype=np.int64)
        for c, rows in self.same.items():
            self.pos_in_class[rows] = np.arange(len(rows))

    def __call__(self, anchors):
        y = self.y[anchors]
        pos = np.empty_like(anchors)
        neg = np.empty_like(anchors)
        for c in np.unique(y):
            m = y == c
            k = int(m.sum())
            same, other = self.same[c], self.other[c]
            # Uniform over the class minus the anchor: draw in [0, n-1), shift past the anchor.
            r = self.rng.integers(0, len(same) - 1, size=k)
            r = r + (r >= self.pos_in_class[anchors[m]])
            pos[m] = same[r]
            neg[m] = other[self.rng.integers(0, len(other), size=k)]
        return pos, neg


# ---------------------------------------------------------------------------------------------
# Evaluation.
# ---------------------------------------------------------------------------------------------
@torch.no_grad()
def embed(model, images, batch=1000):
    model.eval()
    out = [model(images[i : i + batch]) for i in range(0, len(images), batch)]
    model.train()
    return torch.cat(out).numpy()


def cluster_acc(y_true, y_pred):
    k = max(y_true.max(), y_pred.max()) + 1
    w = np.zeros((k, k), dtype=np.int64)
    np.add.at(w, (y_pred, y_true), 1)
    rows, cols = linear_sum_assignment(-w)
    return w[rows, cols].sum() / len(y_true)


def evaluate(model, x_train, y_train, x_test, y_test, seed):
    t0 = time.perf_counter()
    e_train, e_test = embed(model, x_train), embed(model, x_test)
    knn = KNeighborsClassifier(n_neighbors=5, metric="euclidean").fit(e_train, y_train)
    knn_acc = float((knn.predict(e_test) == y_test).mean())
    pred = KMeans(n_clusters=10, n_init=10, random_state=seed).fit_predict(e_test)
    km = {
        "acc": float(cluster_acc(y_test, pred)),
        "nmi": float(normalized_mutual_info_score(y_test, pred)),
        "ari": float(adjusted_rand_score(y_test, pred)),
    }
    return {"knn_acc": knn_acc, "kmeans": km, "eval_secs": time.perf_counter() - t0}


def fmt_eval(e):
    k = e["kmeans"]
    return (
        f"kNN(k=5) acc {e['knn_acc']:.4f} | k-means ACC {k['acc']:.4f} NMI {k['nmi']:.4f} "
        f"ARI {k['ari']:.4f} | eval {e['eval_secs']:.1f}s"
    )


# ---------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(MODELS), default="siamese-conv")
    ap.add_argument("--view", choices=["X1", "X2"], default="X1")
    ap.add_argument("--mat", default=DEFAULT_MAT, help="MNIST_USPS.mat (default: %(default)s)")
    ap.add_argument("--scaling", choices=["minmax", "seed"], default="minmax",
                    help="per-feature min-max (the engine's default) or the seed's (x - 0.5) / 0.5")
    ap.add_argument("--forward", choices=["joint", "separate"], default="joint",
                    help="anchors, positives and negatives through the network as one batch of 3B rows "
                    "(the engine's default) or as three forward passes, as the seed does (batch norm "
                    "then normalises each role's batch by its own statistics)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (and sklearn's pools)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=0, help="also evaluate every K epochs (0: only at the end)")
    ap.add_argument("--json", help="write the timings and final metrics here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    limits = threadpool_limits(limits=args.threads) if threadpool_limits else None
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    x, y = load_view(args.mat, args.view, args.scaling)
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=0.2, stratify=y, random_state=args.seed)
    images = torch.from_numpy(x).reshape(-1, 1, 28, 28)  # row-major 28x28
    x_train, x_test = images[tr].contiguous(), images[te].contiguous()
    y_train, y_test = y[tr], y[te]
    n = len(tr)

    model = MODELS[args.model]()
    n_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    sampler = Sampler(y_train, rng)
    print(
        f"{args.model} on {args.view}: train {n}, test {len(te)}, {n_params} parameters | torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, seed {args.seed}",
        flush=True,
    )

    secs, losses, evals = [], [], []
    model.train()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        order = rng.permutation(n)
        total, batches = 0.0, 0
        for s in range(0, n, BATCH_SIZE):
            a = order[s : s + BATCH_SIZE]
            p, ng = sampler(a)
            b = len(a)
            if args.forward == "joint":
                e = model(x_train[np.concatenate([a, p, ng])])  # one forward of 3B rows
                loss = triplet_loss(e[:b], e[b : 2 * b], e[2 * b :])
            else:  # the seed's pred1 = model(x1); pred2 = model(x2); pred3 = model(x3)
                loss = triplet_loss(model(x_train[a]), model(x_train[p]), model(x_train[ng]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        dt = time.perf_counter() - t0
        mean = total / max(batches, 1)
        secs.append(dt)
        losses.append(mean)
        print(f"epoch {epoch}/{args.epochs}  loss {mean:.4f}  {dt:.2f}s", flush=True)
        if args.eval_every and epoch < args.epochs and epoch % args.eval_every == 0:
            ev = evaluate(model, x_train, y_train, x_test, y_test, args.seed)
            evals.append({"epoch": epoch, **ev})
            print(f"  eval @ {epoch}: {fmt_eval(ev)}", flush=True)

    final = evaluate(model, x_train, y_train, x_test, y_test, args.seed)
    evals.append({"epoch": args.epochs, **final})
    median = statistics.median(secs) if secs else 0.0
    print(f"final @ {args.epochs}: {fmt_eval(final)}")
    print(f"median {median:.2f}s per epoch over {len(secs)} epochs")

    if args.json:
        out = {
            "model": args.model,
            "epochs": args.epochs,
            "threads": args.threads,
            "scaling": args.scaling,
            "forward": args.forward,
            "secs_per_epoch": secs,
            "median_secs_per_epoch": median,
            "knn_acc": final["knn_acc"],
            "kmeans": final["kmeans"],
            "view": args.view,
            "seed": args.seed,
            "n_train": int(n),
            "n_test": int(len(te)),
            "losses": losses,
            "evals": evals,
            "torch": torch.__version__,
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
        print(f"wrote {args.json}")
    if limits is not None:
        limits.restore_original_limits()


if __name__ == "__main__":
    main()
