"""Wide problems (more features than examples): the estimator's default against Newton-CG on the Gram matrix.

    python benchmarks/bench_wide.py          # seconds

Why ``solver="auto"`` does not run Newton-CG in the examples' coordinates (``newton_cg(gram=True)``,
what ``solver="newton-cg"`` does from zero when X has more features than examples) on every wide
problem: on the course's cat pictures it takes 22 ms against the default's 141-172 ms
(``bench_workloads.py``), but on these synthetic, well-conditioned problems (Gaussian X, labels
from a logistic model; with an intercept but for one) L-BFGS ends in 11-15 iterations and the Gram
matrix, ``m^2`` to form, can cost more than it saves. Interleaved after a warm-up fit of each, best of 3
(``bench_core.side_by_side``); nothing here asserts.
"""

from __future__ import annotations

import pathlib
import sys
import warnings

import numpy as np

sys.path[:0] = [str(pathlib.Path(__file__).resolve().parents[1]), str(pathlib.Path(__file__).resolve().parent)]

import xlogreg  # noqa: E402
from bench_core import side_by_side  # noqa: E402

SHAPES = [(200, 1000, True), (200, 2000, True), (200, 5000, True), (1000, 5000, True), (1000, 20000, True),
          (500, 2000, False), (300, 1200, True), (2000, 4000, True)]


def main():
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    for m, n, intercept in SHAPES:
        X = rng.standard_normal((m, n))
        y = (X @ (rng.standard_normal(n) / np.sqrt(n) * 3) + rng.logistic(size=m) > 0).astype(int)
        fitted = {}

        def fit(solver):
            fitted[solver] = xlogreg.LogisticRegression(solver=solver, fit_intercept=intercept).fit(X, y)
            return fitted[solver].coef_

        times = side_by_side({"auto": lambda: fit("auto"), "newton-cg": lambda: fit("newton-cg")}, 3)
        auto_s, gram_s = min(times["auto"]), min(times["newton-cg"])
        auto, gram = fitted["auto"], fitted["newton-cg"]
        print(f"{m:5d} x {n:6d} (n / m {n / m:5.1f}{'' if intercept else ', no intercept'}): default "
              f"{auto_s * 1e3:7.1f} ms ({int(auto.n_iter_[0])} it.)  newton-cg on the Gram {gram_s * 1e3:7.1f} ms "
              f"({int(gram.n_iter_[0])} it.)  Gram over default {gram_s / auto_s:.2f}", flush=True)


if __name__ == "__main__":
    main()
