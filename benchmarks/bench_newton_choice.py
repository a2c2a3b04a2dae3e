"""Newton-Cholesky against Newton-CG by the number of parameters: the evidence behind the estimator's
``solver="auto"`` (``xlogreg.estimator.CHOLESKY_MAX_PARAMETERS``). Ratios in one run.

    python benchmarks/bench_newton_choice.py                 # ~3 minutes on 2 cores
    python benchmarks/bench_newton_choice.py --json out.json

For ``make_classification`` problems of ``--examples`` examples (default 50,000; half the features
informative, ``flip_y=0.05``), two classes with 25 to 800 features and ten classes with 10 to 200,
float64, it fits ``xlogreg.LogisticRegression(C=1, solver=S)`` with S ``"newton-cholesky"`` and
``"newton-cg"`` (each after a warm-up fit, interleaved, best of ``--repeats``) and prints the time of
each, their ratio and the parameters ``(n_features + 1) k``. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_core import SETTLE_S, machine  # noqa: E402

import xlogreg  # noqa: E402

SHAPES = [(2, 25), (2, 100), (2, 200), (2, 400), (2, 800), (10, 10), (10, 25), (10, 50), (10, 100), (10, 200)]


def main(argv=None):
    from sklearn.datasets import make_classification

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    rows = []
    for classes, features in SHAPES:
        X, y = make_classification(args.examples, features, n_informative=max(2, features // 2),
                                   n_redundant=0, n_classes=classes, n_clusters_per_class=1, flip_y=0.05,
                                   random_state=0)
        fits = {s: (lambda s=s: xlogreg.LogisticRegression(solver=s).fit(X, y))
                for s in ("newton-cholesky", "newton-cg")}
        times = {s: [] for s in fits}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for fit in fits.values():
                fit()
            for _ in range(args.repeats):
                for s, fit in fits.items():
                    time.sleep(SETTLE_S)
                    start = time.perf_counter()
                    fit()
                    times[s].append(time.perf_counter() - start)
        k = classes if classes > 2 else 1
        row = {"classes": classes, "features": features, "parameters": (features + 1) * k,
               "examples": args.examples, **{s: min(t) for s, t in times.items()}}
        row["cholesky_over_cg"] = row["newton-cholesky"] / row["newton-cg"]
        rows.append(row)
        print(f"K={classes:2d}  features {features:4d}  parameters {row['parameters']:5d}  "
              f"newton-cholesky {row['newton-cholesky'] * 1e3:8.1f} ms  newton-cg {row['newton-cg'] * 1e3:8.1f} ms  "
              f"cholesky / cg {row['cholesky_over_cg']:.2f}", flush=True)
    results = {"machine": machine(), "command": " ".join(["python", "benchmarks/bench_newton_choice.py",
                                                          *(argv if argv is not None else sys.argv[1:])]),
               "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
