"""Softmax regression (K classes) benchmarks: ratios measured side by side in one run.

    python benchmarks/bench_multiclass.py                   # both, ~3 minutes on 2 cores
    python benchmarks/bench_multiclass.py --only primal     # one of them
    python benchmarks/bench_multiclass.py --json out.json   # also write the results as JSON

(primal) Seconds per iteration of the multinomial primal loop (K = 10,
    ``xlogreg.solvers.run`` as ``train`` calls it, the cost recorded once per
    timing) against one product ``W.T @ X`` with W of shape (n_x, 10) over the
    same X: one read of X from memory, the limit. X of a few hundred MB, C and
    Fortran order, float32 and float64. The binary iteration (K = 2) is timed
    beside it for reference.
(dual) The dual (Gram-matrix) loop for K classes against the primal loop on
    a problem with more features than examples (12288 x 209, the course data's
    shape, random data with K = 3 and 10 labels, L2): seconds per iteration
    (the Gram product is counted once, in the total of 2000 iterations), and
    the largest difference of their weights (the same iterates).

Contenders run interleaved (A, B, A, B, ...) after a warm-up, with idle time
before each timing (bench_core.SETTLE_S), and report the minimum and the
median. Nothing here asserts; it prints what it measured, with the machine.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_core import _fmt, machine, ratio, side_by_side, summary  # noqa: E402

from xlogreg import _loss, solvers  # noqa: E402
from xlogreg.solvers import dual  # noqa: E402


def _problem(n_x, m, K, dtype, order, seed=0):
    rng = np.random.default_rng(seed)
    X = np.asarray(rng.standard_normal((n_x, m), dtype=np.float64).astype(dtype), order=order)
    labels = rng.integers(0, K, (1, m)).astype(dtype)
    return X, labels


def _run(X, labels, K, iterations, learning_rate=0.1, l2=0.0, solver="primal"):
    loss = _loss.LogisticLoss(X, labels, K, l2=l2)
    W, b = loss.zeros()
    if K == 2:
        b = b.reshape(())
    return solvers.run(W, b, X, labels, iterations, learning_rate, solver=solver, record_every=iterations,
                       loss=loss)


def bench_primal(repeats, megabytes, n_x, iterations):
    rows = []
    for dtype in (np.float32, np.float64):
        m = int(megabytes * 2**20 / (n_x * np.dtype(dtype).itemsize))
        for order in ("F", "C"):
            X, labels = _problem(n_x, m, 10, dtype, order)
            labels2 = (labels > 4).astype(dtype)
            W = np.zeros((n_x, 10), dtype=dtype)
            contenders = {
                "W.T @ X (one read)": lambda: W.T @ X,
                "K=10 iteration": lambda: _run(X, labels, 10, iterations).w,
                "K=2 iteration": lambda: _run(X, labels2, 2, iterations).w,
            }
            times = side_by_side(contenders, repeats)
            read = summary(times["W.T @ X (one read)"])
            k10 = summary(times["K=10 iteration"], iterations)
            k2 = summary(times["K=2 iteration"], iterations)
            rows.append({"dtype": np.dtype(dtype).name, "order": order, "shape": [n_x, m],
                         "megabytes": round(X.nbytes / 2**20), "iterations": iterations,
                         "read_s": read, "k10_s": k10, "k2_s": k2,
                         "k10_over_read": ratio(k10, read), "k2_over_read": ratio(k2, read)})
            del X
    return rows


def bench_dual(repeats, iterations):
    rows = []
    for K in (3, 10):
        X, labels = _problem(12288, 209, K, np.float64, "F", seed=1)
        X = X / 100.0
        primal = _run(X, labels, K, iterations, learning_rate=0.005, l2=1.0, solver="primal")
        dual = _run(X, labels, K, iterations, learning_rate=0.005, l2=1.0, solver="dual")
        difference = float(np.max(np.abs(primal.w - dual.w)) / np.max(np.abs(primal.w)))
        times = side_by_side({
            "primal": lambda: _run(X, labels, K, iterations, learning_rate=0.005, l2=1.0, solver="primal").w,
            "dual": lambda: _run(X, labels, K, iterations, learning_rate=0.005, l2=1.0, solver="dual").w,
        }, repeats)
        p, d = summary(times["primal"], iterations), summary(times["dual"], iterations)
        rows.append({"K": K, "shape": list(X.shape), "iterations": iterations, "primal_s": p, "dual_s": d,
                     "primal_over_dual": ratio(p, d), "relative_w_difference": difference})
    return rows


def report(results):
    print(json.dumps(results["machine"], indent=2))
    for row in results.get("primal", []):
        print(f"(primal) {row['dtype']} {row['order']} {row['shape'][0]} x {row['shape'][1]} "
              f"({row['megabytes']} MB): W.T@X {_fmt(row['read_s'])} ms; per iteration K=10 "
              f"{_fmt(row['k10_s'])} ms = "
              f"{row['k10_over_read']['min']:.2f} / {row['k10_over_read']['median']:.2f} reads; K=2 "
              f"{row['k2_over_read']['min']:.2f} / {row['k2_over_read']['median']:.2f} reads (min / median)")
    for row in results.get("dual", []):
        print(f"(dual) K={row['K']} {row['shape'][0]} x {row['shape'][1]}, {row['iterations']} iterations: "
              f"primal {_fmt(row['primal_s'])} ms, dual {_fmt(row['dual_s'])} ms per iteration; "
              f"dual {row['primal_over_dual']['min']:.1f} / {row['primal_over_dual']['median']:.1f}x faster "
              f"(min / median); weights agree to {row['relative_w_difference']:.1e} (relative)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=("primal", "dual"), default=("primal", "dual"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--megabytes", type=float, default=300.0, help="size of X in (primal)")
    parser.add_argument("--n-x", type=int, default=100, help="features of X in (primal)")
    parser.add_argument("--iterations", type=int, default=10, help="iterations per timing in (primal)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    results = {"machine": machine()}
    if "primal" in args.only:
        results["primal"] = bench_primal(args.repeats, args.megabytes, args.n_x, args.iterations)
    if "dual" in args.only:
        results["dual"] = bench_dual(args.repeats, 200)
    results["machine"]["load_average_after"] = [round(x, 2) for x in __import__("os").getloadavg()]
    report(results)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
