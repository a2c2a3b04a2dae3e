"""L-BFGS's trials from the logits (lines) against one evaluation of J and its gradient per trial.

    python benchmarks/bench_lines.py                  # ~5 minutes on 2 cores
    python benchmarks/bench_lines.py --json out.json

The evidence behind :meth:`xlogreg._loss.LogisticLoss.line` and
``xlogreg.solvers.lbfgs.C2_LINES``. On the rows of
``benchmarks/bench_workloads.py`` where L-BFGS runs, it fits
``LogisticRegression(solver="lbfgs")`` three ways, interleaved after a warm-up
(``bench_core.side_by_side``), best of ``--repeats``:

* ``lines``: as shipped (trials from the logits, ``C2_LINES``);
* ``lines, c2 0.9``: trials from the logits, the search's old curvature constant;
* ``off``: no lines (``LINE_MAX_BYTES = 0``): each trial one value and gradient, ``C2``.

and prints the time of each over ``off``, the iterations, and each fit's
objective above the best of the three (float64 NumPy, as bench_workloads).
Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import warnings


sys.path[:0] = [str(pathlib.Path(__file__).resolve().parents[1]), str(pathlib.Path(__file__).resolve().parent)]

import xlogreg  # noqa: E402
from bench_core import machine, side_by_side  # noqa: E402
from bench_workloads import objective, workloads  # noqa: E402
from xlogreg import _loss  # noqa: E402
from xlogreg.solvers import lbfgs as lbfgs_module  # noqa: E402

ROWS = ["breast_cancer", "digits", "classification_100k", "classification_50k_10_float32", "cat", "embeddings",
        "benchopt_1000x10", "benchopt_200x500", "benchopt_100000x400", "probe_1000"]


def contenders(X, y, C, fit_intercept, fitted):
    shipped = (_loss.LINE_MAX_BYTES, lbfgs_module.C2_LINES)

    def fit(name, max_bytes, c2_lines):
        def run():
            _loss.LINE_MAX_BYTES, lbfgs_module.C2_LINES = max_bytes, c2_lines
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fitted[name] = xlogreg.LogisticRegression(C=C, fit_intercept=fit_intercept, solver="lbfgs",
                                                              max_iter=1000).fit(X, y)
            finally:
                _loss.LINE_MAX_BYTES, lbfgs_module.C2_LINES = shipped
            return fitted[name].coef_
        return run

    return {"lines": fit("lines", *shipped), "lines, c2 0.9": fit("lines, c2 0.9", shipped[0], lbfgs_module.C2),
            "off": fit("off", 0, shipped[1])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=ROWS, default=ROWS)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    print("LogisticRegression(solver='lbfgs').fit: time over 'off' (below 1: faster), iterations, objective gap")
    rows = []
    for name, X, y, C, fit_intercept in workloads(args.only, quick=False):
        fitted = {}
        times = side_by_side(contenders(X, y, C, fit_intercept, fitted), args.repeats)
        best = {key: min(t) for key, t in times.items()}
        objectives = {key: objective(X, y, model.coef_, model.intercept_, C) for key, model in fitted.items()}
        low = min(objectives.values())
        row = {"workload": name, "shape": list(X.shape), "dtype": str(X.dtype), "seconds": best,
               "seconds_all": times, "iterations": {key: int(m.n_iter_[0]) for key, m in fitted.items()},
               "objective_gap": {key: v - low for key, v in objectives.items()}}
        rows.append(row)
        print(f"{name} {list(X.shape)} {X.dtype}:")
        for key in fitted:
            print(f"  {key:14} {best[key] * 1e3:9.1f} ms  {best[key] / best['off']:5.2f}x  "
                  f"{row['iterations'][key]:4d} it.  gap {row['objective_gap'][key]:+.2e}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "command": " ".join(["python"] + sys.argv),
                                         "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
