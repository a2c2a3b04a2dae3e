"""``xlogreg.train`` at its defaults against one read of X, in either memory layout: ratios in one run.

    python benchmarks/bench_layouts.py                      # ~4 minutes on 2 cores
    python benchmarks/bench_layouts.py --megabytes 100 --iterations 20 --classes 2
    python benchmarks/bench_layouts.py --json out.json      # also write the results as JSON

For X of shape ``(n_x, m)`` (``--n-x``, default 200 features; m from ``--megabytes``), in C order (what
``np.array`` gives for rows of features) and in Fortran order (what ``flatten_images`` gives), float32 and
float64, it times

* ``w.T @ X``: one matrix-vector product, one read of X from memory (the limit);
* ``xlogreg.train(X, Y, num_iterations=N, learning_rate=0.01, solver="primal")`` at its defaults, the
  whole call: checks at entry, the loop, the final cost and accuracy (``train (auto)``);
* the same with ``fused=True`` and ``fused=False`` (the compiled one-read pass and the Array API loop),
  to show what ``fused="auto"`` chose between;

and prints seconds per iteration and their ratio to one ``w.T @ X`` (the issue's target: at most 1.5x),
for two classes and for K (``--classes``, default 2 and 10). Contenders run interleaved after a
warm-up (which also loads the compiled kernels), each after an idle pause; min and median of
``--repeats``. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_core import machine, ratio, side_by_side, summary  # noqa: E402

import xlogreg  # noqa: E402

from xlogreg.data import compiled as data_compiled  # noqa: E402


def problem(n_x, m, dtype, order, classes, seed=0):
    """X with standard normal entries in the given layout, labels 0 .. K-1 from a linear model."""
    rng = np.random.default_rng(seed)
    X = np.empty((n_x, m), dtype=dtype, order=order)
    step = max(1, 2**22 // n_x)
    for j in range(0, m, step):
        X[:, j:j + step] = rng.standard_normal((n_x, min(step, m - j)), dtype=np.float32)
    W = rng.standard_normal((n_x, classes)).astype(dtype) / np.sqrt(n_x)
    scores = W.T @ X
    y = (np.argmax(scores, axis=0) if classes > 2 else (scores[0] > 0)).astype(np.int64)
    return X, y


def bench(n_x, megabytes, dtype, order, classes, iterations, repeats):
    itemsize = np.dtype(dtype).itemsize
    m = int(megabytes * 2**20 / (n_x * itemsize))
    X, y = problem(n_x, m, dtype, order, classes)
    w = np.zeros((n_x, 1), dtype=dtype)
    row = {"dtype": np.dtype(dtype).name, "order": order, "n_x": n_x, "m": m, "MB": round(X.nbytes / 1e6),
           "classes": classes, "iterations": iterations}

    def train(**how):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a short run at 0.01 may warn about nothing here
                return xlogreg.train(X, y, num_iterations=iterations, learning_rate=0.01, solver="primal",
                                     n_classes=classes, **how).w
        return run

    contenders = {"w.T @ X": lambda: w.T @ X, "train (auto)": train(),
                  "train (fused=True)": train(fused=True), "train (fused=False)": train(fused=False)}
    times = side_by_side(contenders, repeats)
    row["auto_fused"] = bool(data_compiled.choose_fused(X, iterations))  # after the warm-up loaded the kernels
    matvec = summary(times["w.T @ X"])
    row["matvec_s"] = matvec
    row["GB_per_s"] = X.nbytes / matvec["min"] / 1e9
    for name in contenders:
        if name != "w.T @ X":
            s = summary(times[name], per=iterations)
            row[name] = {"s_per_iter": s, "x_matvec": ratio(s, matvec)}
    return row


def report(rows):
    print("| K | dtype | order | MB | iterations | w.T @ X ms | train (auto) | fused=True | fused=False | auto chose |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = " | ".join(f"{r[name]['x_matvec']['min']:.2f}x ({r[name]['x_matvec']['median']:.2f}x)"
                           for name in ("train (auto)", "train (fused=True)", "train (fused=False)"))
        print(f"| {r['classes']} | {r['dtype']} | {r['order']} | {r['MB']} | {r['iterations']} | "
              f"{r['matvec_s']['min'] * 1e3:.1f} | {cells} | {'compiled' if r['auto_fused'] else 'Array API'} |")
    print("\nSeconds per iteration over one w.T @ X, min (median) of the repeats.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=300, help="size of X in MiB (default 300)")
    parser.add_argument("--n-x", type=int, default=200, help="features (default 200)")
    parser.add_argument("--iterations", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--classes", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--orders", nargs="+", choices=["C", "F"], default=["C", "F"])
    parser.add_argument("--dtypes", nargs="+", choices=["float32", "float64"], default=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=pathlib.Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    rows = []
    for classes in args.classes:
        # K classes cost several times the binary iteration: their runs use the shortest iteration count
        for iterations in (args.iterations if classes == 2 else args.iterations[:1]):
            for dtype in args.dtypes:
                for order in args.orders:
                    rows.append(bench(args.n_x, args.megabytes, np.dtype(dtype), order, classes, iterations,
                                      args.repeats))
                    print(f"done: K={classes} {dtype} {order} {iterations} iterations", flush=True)
    results = {"machine": machine(), "rows": rows}
    print(json.dumps(results["machine"], indent=2))
    report(rows)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
