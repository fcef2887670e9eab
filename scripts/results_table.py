#!/usr/bin/env python3
"""Markdown tables of the finished runs in out/results/ (as written by scripts/results.sh):
mean ± std over seeds of ACC/NMI/ARI/PUR for each of the three readings, and s/epoch.
   python3 scripts/results_table.py [out/results]"""
import collections, glob, json, os, re, statistics, sys

root = sys.argv[1] if len(sys.argv) > 1 else "out/results"
runs = collections.defaultdict(list)  # (dataset, tag) -> [(seed, done, started)]
for path in sorted(glob.glob(os.path.join(root, "*.jsonl"))):
    m = re.match(r"(.+)-seed(\d+)\.jsonl$", os.path.basename(path))
    if not m:
        continue
    done = started = None
    for line in open(path):
        if not line.startswith("{"):
            continue
        e = json.loads(line)
        if e.get("event") == "done":
            done = e
        elif e.get("event") == "started":
            started = e
    if done and done.get("metrics"):
        runs[m.group(1)].append((int(m.group(2)), done, started))

def ms(xs):
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.3f} ± {sd:.3f}"

print("| dataset (run) | seeds | reading | ACC | NMI | ARI | PUR |")
print("|---|---|---|---|---|---|---|")
for name, rs in sorted(runs.items()):
    rs.sort(key=lambda r: r[0])
    seeds = ",".join(str(r[0]) for r in rs)
    for label, get in [("mean q (primary)", lambda d: d["metrics"]),
                       ("t (VCF)", lambda d: d["metrics"]["vcf"]),
                       ("k-means on Z", lambda d: d["metrics"]["kmeans_z"])]:
        cols = [ms([get(d)[k] for _, d, _ in rs]) for k in ("acc", "nmi", "ari", "purity")]
        print(f"| {name} | {seeds} | {label} | " + " | ".join(cols) + " |")
print()
print("| dataset (run) | device | s/epoch pre-training | s/epoch contrastive |")
print("|---|---|---|---|")
for name, rs in sorted(runs.items()):
    # A run started from a pre-trained checkpoint (--init-from, --mse-epochs 0) has no pre-training.
    pre = [x for _, d, _ in rs if (x := d["secs_per_epoch"]["pretrain"])]
    con = [x for _, d, _ in rs if (x := d["secs_per_epoch"]["contrastive"]) is not None]
    dev = (rs[0][2] or {}).get("device", "?")
    fmt = lambda xs: f"{statistics.mean(xs):.2f}" if xs else "— (from a checkpoint)"
    print(f"| {name} | {dev} | {fmt(pre)} | {fmt(con)} |")
