"""Time to scikit-learn's objective: where scikit-learn's default stops early, how long xlogreg takes to get as close.

    python benchmarks/time_to_objective.py                       # embeddings, benchopt_200x500, probe_1000
    python benchmarks/time_to_objective.py --only probe_1000
    python benchmarks/time_to_objective.py --quick               # tiny sizes: proves the script runs

``bench_workloads.py`` times each library at its default ``tol``; the two
bound different norms of the gradient (xlogreg its Euclidean norm,
scikit-learn's lbfgs its largest entry), so at the same ``tol`` scikit-learn may
stop far from the optimum. Here, on the workloads of ``bench_workloads.py``,
scikit-learn's ``LogisticRegression()`` at its defaults is fitted and timed
(best of ``--repeats``), and its objective ``J_sk`` computed (float64 NumPy,
``bench_workloads.objective``). Then ``xlogreg.LogisticRegression()`` at its
defaults is fitted with ``max_iter = 1, 2, ...`` (every fit from the start, so
each one's time is that of its first i iterations; ``solver="auto"`` runs the
same iterates whatever ``max_iter``, up to its hand-over to Newton-CG) until its
objective is at most ``J_sk``. Reported: that fit's time (best of
``--repeats``) and iterations, against scikit-learn's. Nothing here asserts.

One default fit of xlogreg comes first, untimed, as ``bench_workloads``'
warm-up: with ``max_iter = i`` small, the estimator would not load the compiled
kernels in a process that has not (``xlogreg.data.compiled.choose_fused_softmax``
weighs the load against the evaluations ``max_iter`` allows), so without it the
short fits would time another pass than the default fit runs.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_core import SETTLE_S, machine  # noqa: E402
from bench_workloads import objective, workloads  # noqa: E402

import xlogreg  # noqa: E402

DEFAULT = ("embeddings", "benchopt_200x500", "probe_1000")


def best_time(fit, repeats, settle):
    times, result = [], None
    for _ in range(repeats):
        time.sleep(settle)
        start = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - start)
    return min(times), result


def run(name, X, y, C, fit_intercept, repeats, settle, max_iter):
    from sklearn.linear_model import LogisticRegression

    def sk_fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return LogisticRegression(C=C, fit_intercept=fit_intercept).fit(X, y)

    sk_fit()  # warm-up
    sk_seconds, sk = best_time(sk_fit, repeats, settle)
    J_sk = objective(X, y, sk.coef_, sk.intercept_, C)
    row = {"workload": name, "shape": list(X.shape), "sklearn_seconds": sk_seconds,
           "sklearn_iterations": int(np.max(sk.n_iter_)), "sklearn_objective": J_sk}
    with warnings.catch_warnings():  # warm-up: the default fit, which loads the compiled kernels where it uses them
        warnings.simplefilter("ignore")
        xlogreg.LogisticRegression(C=C, fit_intercept=fit_intercept).fit(X, y)
    for i in range(1, max_iter + 1):
        def fit(i=i):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return xlogreg.LogisticRegression(C=C, fit_intercept=fit_intercept, max_iter=i).fit(X, y)

        est = fit()
        J = objective(X, y, est.coef_, est.intercept_, C)
        if J <= J_sk:
            seconds, _ = best_time(fit, repeats, settle)
            row.update(xlogreg_seconds=seconds, xlogreg_iterations=i, xlogreg_objective=J,
                       speed_up=sk_seconds / seconds)
            break
    else:
        row.update(xlogreg_seconds=None, xlogreg_iterations=None, xlogreg_objective=None, speed_up=None)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", default=list(DEFAULT))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-iter", type=int, default=60, help="xlogreg's iterations tried at most")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    settle = 0.0 if args.quick else SETTLE_S
    rows = []
    for name, X, y, C, fit_intercept in workloads(args.only, args.quick):
        r = run(name, X, y, C, fit_intercept, 1 if args.quick else args.repeats, settle, args.max_iter)
        rows.append(r)
        xl = ("not reached" if r["xlogreg_seconds"] is None else
              f"{r['xlogreg_seconds'] * 1e3:9.1f} ms ({r['xlogreg_iterations']} iterations)   speed-up "
              f"{r['speed_up']:.2f}x")
        print(f"{name:22s} scikit-learn {r['sklearn_seconds'] * 1e3:9.1f} ms ({r['sklearn_iterations']} iterations,"
              f" J = {r['sklearn_objective']:.10g})   xlogreg to that J {xl}", flush=True)
    if args.json:
        info = machine()
        pathlib.Path(args.json).write_text(json.dumps(
            {"machine": info, "command": " ".join(["python", *sys.argv]), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
