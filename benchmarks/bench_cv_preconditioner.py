"""LogisticRegressionCV's Newton-CG: the Gram preconditioner against the Hessian's diagonal (Jacobi).

    python benchmarks/bench_cv_preconditioner.py                  # about a minute on 2 cores
    python benchmarks/bench_cv_preconditioner.py --json out.json

The evidence behind ``xlogreg.solvers.path.GRAM_PRECONDITIONER_MAX_FEATURES``. On each problem,
``LogisticRegressionCV(solver="newton-cg")`` at its other defaults (10 Cs, 5 folds, tol 1e-4,
accuracy) runs with the Gram preconditioner (the default up to that many rows of ``[X; 1]``) and with
the limit set to 0 (Jacobi's diagonal, the preconditioner before), interleaved, best of ``--repeats``;
it prints both times, their ratio (above 1: the Gram's is faster), the Hessian-vector products of
each (counted once, not timed) and whether both chose the same C. Problems: breast_cancer
(standardised), digits / 16 and ``make_classification`` shapes with 2 to 8 classes. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import warnings

import numpy as np

sys.path[:0] = [str(pathlib.Path(__file__).resolve().parents[1]), str(pathlib.Path(__file__).resolve().parent)]

import xlogreg  # noqa: E402
from xlogreg.solvers import path  # noqa: E402

SHAPES = [(569, 30, 2), (3_000, 200, 2), (20_000, 100, 2), (20_000, 40, 3), (5_000, 120, 8), (50_000, 50, 5)]


def problems():
    from sklearn.datasets import load_breast_cancer, load_digits, make_classification
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    yield "breast_cancer", StandardScaler().fit_transform(X), y
    X, y = load_digits(return_X_y=True)
    yield "digits/16", X / 16, y
    for m, n, classes in SHAPES:
        X, y = make_classification(m, n, n_informative=n // 2, n_redundant=0, n_classes=classes,
                                   n_clusters_per_class=1, flip_y=0.05, random_state=0)
        yield f"make_classification({m}, {n}, {classes} classes)", X, y


def counted_products(X, y):
    """Hessian-vector products of one fit (a spy on FoldLoss.hessian_operator)."""
    count = [0]
    real = path.FoldLoss.hessian_operator

    def counting(self, W, b):
        operator = real(self, W, b)

        class Counted:
            def __call__(self, V, vb):
                count[0] += 1
                return operator(V, vb)

            def __getattr__(self, name):
                return getattr(operator, name)

        return Counted()

    path.FoldLoss.hessian_operator = counting
    try:
        est = xlogreg.LogisticRegressionCV(solver="newton-cg").fit(X, y)
    finally:
        path.FoldLoss.hessian_operator = real
    return count[0], est


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    limit = path.GRAM_PRECONDITIONER_MAX_FEATURES
    rows = []
    warnings.simplefilter("ignore")
    for name, X, y in problems():
        times = {"gram": [], "jacobi": []}
        products, C = {}, {}
        for key, value in (("gram", limit), ("jacobi", 0)):
            path.GRAM_PRECONDITIONER_MAX_FEATURES = value
            products[key], est = counted_products(X, y)  # also the warm-up
            C[key] = float(np.ravel(est.C_)[0])
        for _ in range(args.repeats):
            for key, value in (("gram", limit), ("jacobi", 0)):
                path.GRAM_PRECONDITIONER_MAX_FEATURES = value
                start = time.perf_counter()
                xlogreg.LogisticRegressionCV(solver="newton-cg").fit(X, y)
                times[key].append(time.perf_counter() - start)
        path.GRAM_PRECONDITIONER_MAX_FEATURES = limit
        row = {"problem": name, "shape": list(X.shape), "gram_s": min(times["gram"]), "jacobi_s": min(times["jacobi"]),
               "products": products, "same_C": C["gram"] == C["jacobi"]}
        row["gain"] = row["jacobi_s"] / row["gram_s"]
        rows.append(row)
        print(f"{name:44s} gram {row['gram_s']:6.3f} s  jacobi {row['jacobi_s']:6.3f} s  x {row['gain']:4.2f}   "
              f"products {products['gram']:5d} / {products['jacobi']:5d}   same C: {row['same_C']}", flush=True)
    gains = [row["gain"] for row in rows]
    print(f"geometric mean gain of the Gram preconditioner: {float(np.exp(np.mean(np.log(gains)))):.2f}x")
    if args.json:
        from bench_core import machine

        command = " ".join(["python", "benchmarks/bench_cv_preconditioner.py", *(argv if argv is not None else sys.argv[1:])])
        args.json.write_text(json.dumps({"machine": machine(), "command": command, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
