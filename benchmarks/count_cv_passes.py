"""LogisticRegressionCV's work, counted: iterations and products with X, per solver, on bench_cv.py's problems.
Counts, not timings: the same on any machine.

    python benchmarks/count_cv_passes.py                      # the four problems of bench_cv.py
    python benchmarks/count_cv_passes.py --quick --json out.json

For each problem, at the estimators' defaults (``Cs=10``, 5 stratified folds, ``tol=1e-4``, accuracy),
it fits xlogreg's ``LogisticRegressionCV`` with ``solver="auto"`` (whatever it chooses, with its
``batch_folds="auto"``) and with each ``--solvers`` name, and prints: the iterations of every fit summed
(``n_iter_``: Newton or L-BFGS iterations), and the products with X of the whole fit (the path and the
refit), from the data interface (``xlogreg.data.dense``): ``forward`` (``W.T X``), ``backward``
(``X R.T``), ``squares_backward`` (Newton-CG's Jacobi diagonal) and ``weighted_gram`` (Newton-Cholesky's
Hessians formed fold by fold; batched dense Hessians are formed by a matmul outside the interface,
counted as ``hessians``). ``passes`` is forward + backward + squares_backward: reads of X (of all of it
when the folds are batched, of a fold's training rows one fold at a time). A gradient evaluation is one
forward and one backward.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import xlogreg  # noqa: E402
from xlogreg import _backends, data  # noqa: E402
from xlogreg.data import dense  # noqa: E402
from xlogreg.solvers import path  # noqa: E402

COUNTED = ("forward", "backward", "squares_backward", "weighted_gram")


class Counter:
    """Counts the calls of the dense data interface's products, and of the batched Hessians."""

    def __init__(self):
        self.calls = dict.fromkeys(COUNTED + ("hessians",), 0)
        self._saved = [(dense, name, getattr(dense, name)) for name in COUNTED]
        self._saved.append((path.FoldLoss, "hessian_matrices", path.FoldLoss.hessian_matrices))
        counter = self

        def counted(name, real):
            def wrapper(*args, **kwargs):
                counter.calls[name] += 1
                return real(*args, **kwargs)
            return wrapper

        for owner, name, real in self._saved:
            setattr(owner, name, counted("hessians" if name == "hessian_matrices" else name, real))

    def restore(self):
        for owner, name, real in self._saved:
            setattr(owner, name, real)


def main(argv=None):
    from bench_cv import problems

    from xlogreg import estimator_cv

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="bench_cv.py's small problems")
    parser.add_argument("--examples", type=int, default=None)
    parser.add_argument("--solvers", nargs="+", default=["lbfgs"])
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    examples = args.examples or (2_000 if args.quick else 50_000)
    Cs = 5 if args.quick else 10
    assert data.operations(np.zeros((2, 2))) is dense
    rows = []
    for name, X, y in problems(examples, args.quick):
        for solver in ("auto", *args.solvers):
            counter = Counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est = xlogreg.LogisticRegressionCV(Cs=Cs, solver=solver).fit(X, y)
            finally:
                counter.restore()
            calls = counter.calls
            n_features, k = X.shape[1], len(np.unique(y))
            chose = (estimator_cv.choose_path_newton(n_features, k if k > 2 else 1)
                     if solver == "auto" else solver)
            row = {"problem": name, "solver": solver, "ran": chose,
                   "iterations": int(np.sum(_backends.to_numpy(est.n_iter_))),
                   "passes": calls["forward"] + calls["backward"] + calls["squares_backward"], **calls}
            rows.append(row)
            print(f"{name:42s} {solver:6s} ({chose:15s}) iterations {row['iterations']:5d}   passes "
                  f"{row['passes']:5d} (forward {calls['forward']}, backward {calls['backward']}, "
                  f"diagonals {calls['squares_backward']})   Hessians {calls['hessians']} batched, "
                  f"{calls['weighted_gram']} weighted Grams", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(["python", "benchmarks/count_cv_passes.py",
                                                              *(argv or sys.argv[1:])]), "rows": rows}, indent=2)
                             + "\n")
    return rows


if __name__ == "__main__":
    main()
