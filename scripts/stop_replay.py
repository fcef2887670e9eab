#!/usr/bin/env python3
"""Replays the label-free stop (`stop_tolerance`) on runs that trained every epoch.

A run records, at each pseudo-label refresh, the share of samples whose pseudo label changed since
the previous refresh (`adaptive.pseudo_changed`) and the share whose cluster in the heads' own
assignment changed (`adaptive.heads_changed`), and its readings every `eval_every` epochs. The stop
ends the contrastive phase at the first refresh (contrastive epoch e > 1) where both shares are
under the tolerance, with the network as epoch e - 1 left it (runs recorded before
`heads_changed` existed are replayed on the pseudo labels alone, and marked); the epochs before the stop are the same
with or without it, so a full-length run gives both arms of the comparison. Needs `eval_every` to
divide `pseudo_refresh` (the defaults: 5 and 5), so that epoch e - 1 has a reading.

    python3 scripts/stop_replay.py [--tol 0.001] RUNS_DIR_OR_RUN_DIRS...

Prints, per run and then per dataset (mean ± sample std over its runs): the final epoch's primary
reading (the heads) at full length, the epoch the stop ends at and the primary reading there, and
k-means on `Z` for both. No reading here is label-selected.
"""
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def runs_of(paths):
    for p in map(Path, paths):
        if (p / "run.json").exists():
            yield p
        else:
            yield from sorted(d for d in p.iterdir() if (d / "run.json").exists())


def replay(run_dir, tol):
    record = json.loads((run_dir / "run.json").read_text())
    cfg = record["config"]
    lines = [json.loads(l) for l in (run_dir / "epochs.jsonl").read_text().splitlines() if l.strip()]
    mse = cfg["mse_epochs"]
    readings = {l["global_epoch"]: l for l in lines if l["kind"] == "metrics"}
    con = [l for l in lines if l["kind"] == "epoch" and l["phase"] == "contrastive"]
    if len(con) < cfg["con_epochs"]:
        return None  # unfinished, or already stopped early
    stop = None
    heads_recorded = any((l.get("adaptive") or {}).get("heads_changed") is not None for l in con)
    for l in con:
        a = l.get("adaptive") or {}
        changed = a.get("pseudo_changed")
        if heads_recorded:
            # The rule since it was made: the pseudo labels and the heads' own assignment both settled.
            changed = None if a.get("heads_changed") is None or changed is None else max(changed, a["heads_changed"])
        if changed is not None and l["epoch"] > 1 and changed < tol:
            stop = l["epoch"]
            break
    last = max(readings)
    end = mse + stop - 1 if stop else last
    if end not in readings:
        raise SystemExit(f"{run_dir}: no reading at global epoch {end} (eval_every must divide pseudo_refresh)")
    pick = lambda r: (r["mean_q"]["acc"], r["kmeans_z"]["acc"])
    weights = {l["global_epoch"]: l["view_weights"] for l in lines if l["kind"] == "epoch"}
    return {
        "rule": "pseudo labels and heads" if heads_recorded else "pseudo labels only (recorded before heads_changed)",
        "weights": (weights[max(weights)], weights[end]),
        "dataset": "%s (%d views)" % (record["dataset"]["name"], len(record["dataset"]["view_shapes"])),
        "seed": cfg["seed"],
        "con_epochs": cfg["con_epochs"],
        "full": pick(readings[last]),
        "stop": stop,
        "stopped": pick(readings[end]),
    }


def fmt(xs):
    if len(xs) < 2:
        return "%.4f" % xs[0]
    return "%.3f ± %.3f" % (statistics.mean(xs), statistics.stdev(xs))


def main(argv):
    tol = 0.001
    if argv[:1] == ["--tol"]:
        tol, argv = float(argv[1]), argv[2:]
    if not argv:
        raise SystemExit(__doc__)
    by_set = defaultdict(list)
    print("| dataset | seed | full length: primary / `Z` [view weights w] | stop at (contrastive epoch) | with the stop: primary / `Z` [w] |")
    print("|---|---|---|---|---|")
    replayed = [r for r in (replay(d, tol) for d in runs_of(argv)) if r is not None]
    for r in sorted(replayed, key=lambda r: (r["dataset"].lower(), r["seed"])):
        by_set[r["dataset"]].append(r)
        at = "%d of %d" % (r["stop"], r["con_epochs"]) if r["stop"] else "— (ran all %d)" % r["con_epochs"]
        if not r["rule"].startswith("pseudo labels and"):
            at += " [%s]" % r["rule"]
        w = ["[" + ", ".join("%.3f" % x for x in ws) + "]" for ws in r["weights"]]
        print("| %s | %d | %.4f / %.4f %s | %s | %.4f / %.4f %s |" % (r["dataset"], r["seed"], *r["full"], w[0], at, *r["stopped"], w[1]))
    print()
    print(f"Per dataset (tolerance {tol}; final epoch, primary reading; mean ± sample std over the seeds):")
    print()
    print("| dataset | seeds | full length | with the stop | `Z` full | `Z` with the stop |")
    print("|---|---|---|---|---|---|")
    for name, rs in sorted(by_set.items(), key=lambda kv: kv[0].lower()):
        seeds = ",".join(str(r["seed"]) for r in sorted(rs, key=lambda r: r["seed"]))
        col = lambda key, i: fmt([r[key][i] for r in rs])
        print(f"| {name} | {seeds} | {col('full', 0)} | {col('stopped', 0)} | {col('full', 1)} | {col('stopped', 1)} |")


if __name__ == "__main__":
    main(sys.argv[1:])
