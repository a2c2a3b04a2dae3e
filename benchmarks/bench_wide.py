"""Wide problems (more features than examples): the estimator's default against Newton-CG on the Gram matrix.

    python benchmarks/bench_wide.py          # seconds

Why ``solver="auto"`` does not run Newton-CG in the examples' coordinates (``newton_cg(gram=True)``,
what ``solver="newton-cg"`` does from zero when X has more features than examples) on every wide
problem: on the course's cat pictures it takes 22 ms against the default's 141-172 ms
(``bench_workloads.py``), but on these synthetic, well-conditioned problems (Gaussian X, labels
from a logistic model; with an intercept but for one) L-BFGS ends in 11-15 iterations and the Gram
matrix, ``m^2`` to form, can cost more than it saves. Best of 3 each; nothing here asserts.
"""

from __future__ import annotations

import pathlib
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import xlogreg  # noqa: E402

SHAPES = [(200, 1000, True), (200, 2000, True), (200, 5000, True), (1000, 5000, True), (1000, 20000, True),
          (500, 2000, False), (300, 1200, True), (2000, 4000, True)]


def best(fit, repeats=3):
    times, est = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        est = fit()
        times.append(time.perf_counter() - start)
    return min(times), est


def main():
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    for m, n, intercept in SHAPES:
        X = rng.standard_normal((m, n))
        y = (X @ (rng.standard_normal(n) / np.sqrt(n) * 3) + rng.logistic(size=m) > 0).astype(int)
        auto_s, auto = best(lambda: xlogreg.LogisticRegression(fit_intercept=intercept).fit(X, y))
        gram_s, gram = best(lambda: xlogreg.LogisticRegression(solver="newton-cg", fit_intercept=intercept).fit(X, y))
        print(f"{m:5d} x {n:6d} (n / m {n / m:5.1f}{'' if intercept else ', no intercept'}): default "
              f"{auto_s * 1e3:7.1f} ms ({int(auto.n_iter_[0])} it.)  newton-cg on the Gram {gram_s * 1e3:7.1f} ms "
              f"({int(gram.n_iter_[0])} it.)  Gram over default {gram_s / auto_s:.2f}", flush=True)


if __name__ == "__main__":
    main()
