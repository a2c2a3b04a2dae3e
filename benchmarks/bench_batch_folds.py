"""LogisticRegressionCV: the folds of one C batched against one fold at a time, by shape.

    python benchmarks/bench_batch_folds.py                      # ~2 minutes on 2 cores
    python benchmarks/bench_batch_folds.py --json out.json
    python benchmarks/bench_batch_folds.py --shapes 20000x20x5 5000x50x5   # other shapes (m x n x classes)

The evidence behind ``xlogreg.estimator_cv.choose_batch_folds`` (``batch_folds="auto"``) for the
Newton-Cholesky path on the CPU. For each shape (``make_classification``, ``random_state=0``,
half the features informative, 5% of the labels flipped) it fits ``LogisticRegressionCV()`` at its
defaults (10 Cs, 5 folds, accuracy; ``"auto"`` picks Newton-Cholesky up to 100 parameters,
Newton-CG above, whose folds the rule always batches) with
``batch_folds=True`` and ``False``, interleaved after a warm-up fit of each (``bench_core.side_by_side``),
best of ``--repeats`` each, and prints the ratio (one fold at
a time over batched: above 1, batching pays), the Newton iterations of each (the same: the same
solver on the same objectives) and what the rule chooses. The shapes under "derived" are those the
rule was read from; those under "checked" were measured after it was written. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import warnings

import numpy as np

sys.path[:0] = [str(pathlib.Path(__file__).resolve().parents[1]), str(pathlib.Path(__file__).resolve().parent)]

import xlogreg  # noqa: E402
from bench_core import side_by_side  # noqa: E402
from xlogreg import estimator_cv  # noqa: E402

#: (examples, features, classes)
DERIVED = [(569, 30, 2), (2_000, 30, 2), (5_000, 30, 2), (5_000, 60, 2), (10_000, 60, 2), (20_000, 30, 2),
           (50_000, 50, 2), (20_000, 100, 2), (3_000, 200, 2), (20_000, 20, 5), (20_000, 10, 4), (3_000, 12, 6)]
CHECKED = [(10_000, 150, 2), (8_000, 40, 2), (40_000, 120, 2), (4_000, 80, 2)]


def main(argv=None):
    from sklearn.datasets import make_classification

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=pathlib.Path)
    parser.add_argument("--shapes", nargs="+", metavar="MxNxK",
                        help="measure these shapes instead (examples x features x classes, e.g. 20000x20x5)")
    args = parser.parse_args(argv)
    rows = []
    groups = (("derived", DERIVED), ("checked", CHECKED))
    if args.shapes:
        groups = (("asked", [tuple(int(v) for v in shape.lower().split("x")) for shape in args.shapes]),)
    for group, shapes in groups:
        print(f"{group}:", flush=True)
        for m, n, classes in shapes:
            X, y = make_classification(m, n, n_informative=n // 2, n_redundant=0, n_classes=classes,
                                       n_clusters_per_class=1, flip_y=0.05, random_state=0)
            k = 1 if classes == 2 else classes
            method = estimator_cv.choose_path_newton(n, k)
            fitted = {}

            def fit(batch_folds):
                fitted[batch_folds] = xlogreg.LogisticRegressionCV(batch_folds=batch_folds).fit(X, y)
                return fitted[batch_folds].coef_

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                times = side_by_side({True: lambda: fit(True), False: lambda: fit(False)}, args.repeats)
            batched_s, single_s = min(times[True]), min(times[False])
            batched, single = fitted[True], fitted[False]
            row = {"group": group, "examples": m, "features": n, "classes": classes, "method": method,
                   "batched_s": batched_s, "one_fold_at_a_time_s": single_s, "gain": single_s / batched_s,
                   "iterations": [int(np.sum(batched.n_iter_)), int(np.sum(single.n_iter_))],
                   "rule_batches": estimator_cv.choose_batch_folds(method, m, k)}
            rows.append(row)
            print(f"  {m:7,d} x {n:4d}, {classes} classes ({method}): batched {batched_s:6.3f} s, one fold at a time "
                  f"{single_s:6.3f} s, gain {row['gain']:5.2f}; iterations {row['iterations'][0]} / "
                  f"{row['iterations'][1]}; the rule: {'batched' if row['rule_batches'] else 'one at a time'}",
                  flush=True)
    if args.json:
        from bench_core import machine

        command = " ".join(["python", "benchmarks/bench_batch_folds.py", *(argv if argv is not None else sys.argv[1:])])
        args.json.write_text(json.dumps({"machine": machine(), "command": command, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
