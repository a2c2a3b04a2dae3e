"""Newton-CG's work, counted: Hessian-vector products and Newton iterations, with and without the Jacobi
preconditioner, on the problems of bench_solvers.py. Counts, not timings: the same on any machine.

    python benchmarks/count_products.py                 # ~2 minutes on 2 cores
    python benchmarks/count_products.py --json out.json

For each problem (C = 1, so ``l2 = 1``) and ``tol`` 1e-4 (the estimator's default) and 1e-5, it runs
:func:`xlogreg.solvers.newton.newton_cg` from zero with ``precondition`` False and True, and prints the
iterations, the Hessian-vector products, the passes over X in all (each product two, each gradient two,
each Newton iteration's probabilities one, each diagonal one) and the gap of the objective (float64) to
a tight optimum (newton-cg at tol 1e-11, float64). The course data runs on the Gram matrix, where no
preconditioner is used, and is left out.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_solvers import problems  # noqa: E402

from xlogreg import _loss  # noqa: E402
from xlogreg.solvers import newton  # noqa: E402

NAMES = ("breast_cancer", "digits", "classification_100k", "classification_50k_10_float32")


class Counter:
    """Counts the Hessian operator's products and diagonals, and the loss's gradients."""

    def __init__(self):
        self.products = self.diagonals = self.gradients = self.operators = 0
        op, loss = _loss._HessianOperator, _loss.LogisticLoss
        self._saved = [(op, "__call__", op.__call__), (op, "diagonal", op.diagonal),
                       (loss, "value_and_gradient", loss.value_and_gradient),
                       (loss, "hessian_operator", loss.hessian_operator)]
        counter = self

        def counted(name, real):
            def wrapper(*args, **kwargs):
                setattr(counter, name, getattr(counter, name) + 1)
                return real(*args, **kwargs)
            return wrapper

        for (owner, attr, real), name in zip(self._saved, ("products", "diagonals", "gradients", "operators")):
            setattr(owner, attr, counted(name, real))

    def restore(self):
        for owner, attr, real in self._saved:
            setattr(owner, attr, real)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=NAMES, default=NAMES)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    rows = []
    for name, X, y in problems(args.only):
        k = len(np.unique(y))
        Xt, labels = X.T, y.reshape(1, -1).astype(X.dtype)
        exact = _loss.LogisticLoss(Xt.astype(np.float64), labels.astype(np.float64), k, l2=1.0)
        best = newton.newton_cg(exact, *exact.zeros(), tol=1e-11, max_iter=200)
        J_best = float(exact.value(best.w, best.b))
        loss = _loss.LogisticLoss(Xt, labels, k, l2=1.0)
        for tol in (1e-4, 1e-5):
            for precondition in (False, True):
                counter = Counter()
                try:
                    result = newton.newton_cg(loss, *loss.zeros(), tol=tol, max_iter=200, precondition=precondition)
                finally:
                    counter.restore()
                gap = float(exact.value(result.w.astype(np.float64), result.b.astype(np.float64))) - J_best
                passes = 2 * counter.products + 2 * counter.gradients + counter.operators + counter.diagonals
                row = {"problem": name, "shape": list(X.shape), "dtype": str(X.dtype), "classes": k, "tol": tol,
                       "precondition": precondition, "iterations": result.iterations,
                       "hessian_products": counter.products, "passes_over_X": passes, "gap": gap}
                rows.append(row)
                print(f"{name:<31} tol {tol:g}  precondition {str(precondition):<5}  {result.iterations:2d} "
                      f"iterations  {counter.products:4d} products  {passes:4d} passes over X  gap {gap:+.2e}",
                      flush=True)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"command": "python benchmarks/count_products.py",
                                                       "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
