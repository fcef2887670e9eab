#!/usr/bin/env python3
"""Reference load times: scipy.io.loadmat (v5) or h5py (v7.3) on the files `benches/load.rs` times.
Median and min of 15 runs after a warm-up, in ms; compare with `cargo bench --bench load`."""
import sys, time, pathlib
import scipy.io
shared = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
files = sys.argv[1:] or ["MNIST_USPS.mat", "Hdigit.mat", "handwritten.mat", "BDGP.mat", "CiteSeer.mat"]
print("| file | scipy median ms | scipy min ms |\n|---|---:|---:|")
for f in files:
    p = shared / f
    scipy.io.loadmat(p)
    ts = []
    for _ in range(15):
        t = time.perf_counter(); scipy.io.loadmat(p); ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    print(f"| {f} | {ts[len(ts)//2]:.1f} | {ts[0]:.1f} |")
