"""
Backends side by side on the CPU, measured
==========================================

Seconds per training iteration of each backend, as a speed-up over NumPy in the same run, for
float64 and float32. Read from ``benchmarks/results/compare_backends.csv``, written by
``python scripts/compare_backends.py --repeats 2`` (the machine and the method are on the
performance page); nothing is timed here.

**No GPU figure has been measured yet**: the run recorded CuPy and torch on CUDA as skipped,
with the reason, and this page prints those reasons instead of plotting a figure.
"""

import csv
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

RESULTS = next(p for p in (Path("benchmarks/results"), Path("../../benchmarks/results")) if p.is_dir())
rows = list(csv.DictReader((RESULTS / "compare_backends.csv").open()))
measured = [r for r in rows if not r["skipped"]]
for r in rows:
    if r["skipped"]:
        print(f"not measured: {r['backend']}: {r['skipped']}")

# %%
# Shorter names for the backends, in the order of the CSV; the data sets in order of size.
def short(backend):
    return backend.split(":")[0]


backends = list(dict.fromkeys(short(r["backend"]) for r in measured))
datasets = list(dict.fromkeys(r["data"] for r in measured))
fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained", sharey=True)
for ax, dtype in zip(axes, ["float64", "float32"]):
    width = 0.8 / len(backends)
    for k, backend in enumerate(backends):
        speedup = [next((float(r["speedup"]) for r in measured if short(r["backend"]) == backend
                         and r["dtype"] == dtype and r["data"] == data), np.nan) for data in datasets]
        ax.bar(np.arange(len(datasets)) + (k - (len(backends) - 1) / 2) * width, speedup, width,
               label=backend)
    ax.axhline(1, color="grey", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(datasets)), [d.replace("synthetic ", "") for d in datasets],
                  rotation=20, fontsize=8)
    ax.set_title(dtype)
axes[0].set_ylabel("speed-up over NumPy (same dtype, same run)")
axes[1].legend(fontsize=8)
fig.suptitle("Seconds per iteration relative to NumPy, CPU only (no GPU measured)")
plt.show()

# %%
# Small problems are dominated by each call's overhead (Dask's scheduler above all); on big X,
# NumPy's compiled one-read pass (numba installed) is the fastest on the CPU.
