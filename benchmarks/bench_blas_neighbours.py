"""The compiled primal pass next to BLAS calls: why ``train`` keeps BLAS out of the compiled loop.

    python benchmarks/bench_blas_neighbours.py            # ~1 minute on 2 cores
    python benchmarks/bench_blas_neighbours.py --json out.json

For X of 315 MB in C order (200 features, float32 and float64) it times, in one run:

* ``w.T @ X`` alone (BLAS, one read of X: the limit);
* the compiled pass (:class:`xlogreg.data.compiled.PrimalPass`) back to back, as ``train``'s loop calls it;
* the compiled pass right after a ``w.T @ X``, and ``w.T @ X`` right after a compiled pass, alternating;
* ``PrimalPass.logits`` (the compiled ``W.T X + b``) right after a compiled pass.

BLAS's worker threads (OpenBLAS) and numba's (OpenMP) both keep spinning a while after their call
returns, so a call of the other kind that follows soon shares the cores with them. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_core import machine  # noqa: E402
from bench_layouts import problem  # noqa: E402

from xlogreg.data import compiled as data_compiled  # noqa: E402


def seconds(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def bench(dtype, megabytes=315, n_x=200, repeats=6):
    m = int(megabytes * 2**20 / (n_x * np.dtype(dtype).itemsize))
    X, y = problem(n_x, m, dtype, "C", 2)
    rng = np.random.default_rng(1)
    W = (rng.standard_normal((n_x, 1)) * 0.05).astype(dtype)
    b = np.full((1, 1), 0.1, dtype)
    one_pass = data_compiled.PrimalPass(X, y.reshape(1, m).astype(dtype), None, False)
    matvec = lambda: W.T @ X  # noqa: E731
    compiled = lambda: one_pass(W, b)  # noqa: E731
    logits = lambda: one_pass.logits(W, b)  # noqa: E731
    for f in (matvec, compiled, logits):
        f()
    time.sleep(1)
    alone = [seconds(matvec) for _ in range(repeats)]
    time.sleep(1)
    back_to_back = [seconds(compiled) for _ in range(repeats)]
    time.sleep(1)
    after_blas, blas_after = [], []
    for _ in range(repeats):
        blas_after.append(seconds(matvec))  # after the previous compiled pass (or the pause)
        after_blas.append(seconds(compiled))
    time.sleep(1)
    logits_after = []
    for _ in range(repeats):
        compiled()
        logits_after.append(seconds(logits))
    ref = min(alone)
    row = {"dtype": np.dtype(dtype).name, "MB": round(X.nbytes / 1e6), "matvec_alone_s": ref}
    for name, times in (("compiled pass, back to back", back_to_back), ("compiled pass after w.T @ X", after_blas),
                        ("w.T @ X after a compiled pass", blas_after[1:]),
                        ("PrimalPass.logits after a compiled pass", logits_after)):
        row[name] = {"min_x": min(times) / ref, "median_x": float(np.median(times)) / ref}
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    if not data_compiled.available():
        sys.exit("numba is not installed: pip install 'xlogreg[fast]'")
    rows = [bench(dtype) for dtype in (np.float32, np.float64)]
    print("times over one w.T @ X alone, min (median) of 6")
    for row in rows:
        print(f"{row['dtype']} ({row['MB']} MB, w.T @ X alone {row['matvec_alone_s'] * 1e3:.1f} ms):")
        for name, r in row.items():
            if isinstance(r, dict):
                print(f"  {name:42s} {r['min_x']:.2f}x ({r['median_x']:.2f}x)")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
