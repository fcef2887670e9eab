#!/usr/bin/env python3
"""Prints each run's metric trajectory from its JSON lines (`train --json` output):
epoch:ACC of the primary reading at every evaluation, then the final ACC of the three readings.
    python3 scripts/trajectory.py out/results/*.jsonl
"""
import json
import sys

for path in sys.argv[1:]:
    events = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                events.append(json.loads(line))
    metrics = [e for e in events if e.get("event") == "metrics"]
    done = [e for e in events if e.get("event") == "done"]
    traj = " ".join("%d:%.3f" % (e["epoch"], e["acc"]) for e in metrics)
    tail = ""
    if done:
        m = done[0]["metrics"]
        tail = " | final: mean q %.3f, t %.3f, k-means on Z %.3f" % (m["acc"], m["vcf"]["acc"], m["kmeans_z"]["acc"])
    print("%s: %s%s" % (path.rsplit("/", 1)[-1], traj or "(no evaluation yet)", tail))
