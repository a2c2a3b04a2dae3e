"""L1 / elastic-net logistic regression: xlogreg's proximal Newton against scikit-learn's L1 solvers, side by side.

    python benchmarks/bench_l1.py                  # minutes, on a quiet machine
    python benchmarks/bench_l1.py --quick          # seconds: small problems, one repeat (a smoke run)
    python benchmarks/bench_l1.py --json out.json  # also write the results

For each problem (breast_cancer standardised, digits / 16 with 10 classes, and
``make_classification`` problems with 10 informative features, more examples
than features and more features than examples) and each (C, l1_ratio), it fits

* ``xlogreg.LogisticRegression(C=C, l1_ratio=r)`` at its defaults (the headline: what a user gets),
* ``xlogreg.solvers.prox_newton.fit_l1`` (float64, NumPy, or ``--backend``) at tol 1e-8,
* scikit-learn's ``LogisticRegression(solver="saga", l1_ratio=r, C=C)`` and, for two
  classes at l1_ratio 1, ``solver="liblinear"``, both at scikit-learn's defaults (tol
  1e-4, max_iter 100: what a user gets) and at tol 1e-8 with max_iter 10,000 (``--tight-max-iter``),

interleaved, best of ``--repeats`` (after one warm-up fit each; scikit-learn's tol 1e-8
references, which take minutes on the wide problem, are timed once, on that first fit), and prints each
fit's time, its objective's relative gap to the best objective any of them
reached (scikit-learn's ``C sum L + (1 - r) / 2 ||W||^2 + r ||W||_1``, computed
here in NumPy from the coefficients) and its number of non-zero weights.
A summary follows: for each case, xlogreg's defaults against the faster of scikit-learn's L1
solvers at their defaults, the speed-up and whether xlogreg's gap is at most theirs, and the
geometric mean of the speed-ups. Nothing here asserts; timings taken on a loaded machine mean nothing.
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
from bench_core import machine  # noqa: E402

from xlogreg import _backends  # noqa: E402
import xlogreg  # noqa: E402
from xlogreg._loss import LogisticLoss  # noqa: E402
from xlogreg.solvers.prox_newton import fit_l1  # noqa: E402


#: The headline contender: what a user gets.
ESTIMATOR = "xlogreg LogisticRegression (defaults)"


def objective(coef, intercept, X, y, C, r):
    Z = X @ coef.T + intercept
    if coef.shape[0] == 1:
        L = np.logaddexp(0.0, Z[:, 0]) - y * Z[:, 0]
    else:
        L = np.logaddexp.reduce(Z, axis=1) - Z[np.arange(y.shape[0]), y]
    return float(C * L.sum() + (1 - r) / 2 * np.sum(coef * coef) + r * np.sum(np.abs(coef)))


def problems(quick):
    from sklearn.datasets import load_breast_cancer, load_digits, make_classification

    X, y = load_breast_cancer(return_X_y=True)
    out = {"breast_cancer": ((X - X.mean(0)) / X.std(0), y)}
    if not quick:
        X, y = load_digits(return_X_y=True)
        out["digits"] = (X / 16.0, y)
    shapes = {"tall": (2000, 100), "wide": (200, 2000)} if quick else {"tall": (50_000, 200), "wide": (500, 20_000)}
    for name, (m, n) in shapes.items():
        X, y = make_classification(n_samples=m, n_features=n, n_informative=10, n_redundant=0, random_state=0)
        out[name] = ((X - X.mean(0)) / X.std(0), y)
    return out


def main(argv=None):
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default="numpy", help="xlogreg's backend (scikit-learn runs on NumPy)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", type=pathlib.Path)
    parser.add_argument("--tight-max-iter", type=int, default=10_000,
                        help="max_iter of scikit-learn's tol 1e-8 references (saga takes minutes per 1,000 on 'wide')")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    xp, dev = _backends.resolve(args.backend, args.device)
    settings = [(0.1, 1.0), (1.0, 0.5)] if args.quick else [(0.1, 1.0), (1.0, 1.0), (0.1, 0.5), (1.0, 0.5)]
    rows = []
    for name, (X, y) in problems(args.quick).items():
        K = int(y.max()) + 1
        X_in = _backends.asarray(np.ascontiguousarray(X), xp, dev, getattr(xp, "float64"))  # the estimator's input
        Xt = _backends.asarray(np.ascontiguousarray(X.T), xp, dev, getattr(xp, "float64"))
        labels = _backends.asarray(y[None, :].astype(np.float64), xp, dev, getattr(xp, "float64"))
        for C, r in settings:
            def ours():
                res = fit_l1(LogisticLoss(Xt, labels, max(K, 2)), C, r, tol=1e-8, max_iter=200)
                w = _backends.to_numpy(res.w)  # the transfer ends the timing (and synchronises a GPU)
                return w.T, _backends.to_numpy(res.b)[:, 0]

            def sklearn(solver, tol, max_iter):
                def fit():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # ConvergenceWarning at the defaults: the gap shows it
                        est = LogisticRegression(solver=solver, l1_ratio=r, C=C, tol=tol, max_iter=max_iter).fit(X, y)
                    return est.coef_, est.intercept_
                return fit

            def estimator():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est = xlogreg.LogisticRegression(C=C, l1_ratio=r).fit(X_in, y)
                return _backends.to_numpy(est.coef_), _backends.to_numpy(est.intercept_)

            fits = {ESTIMATOR: estimator,
                    f"xlogreg prox-newton ({args.backend}, tol 1e-8)": ours,
                    "sklearn saga (defaults)": sklearn("saga", 1e-4, 100),
                    "sklearn saga (tol 1e-8)": sklearn("saga", 1e-8, args.tight_max_iter)}
            if K == 2 and r == 1.0:
                fits["sklearn liblinear (defaults)"] = sklearn("liblinear", 1e-4, 100)
                fits["sklearn liblinear (tol 1e-8)"] = sklearn("liblinear", 1e-8, args.tight_max_iter)
            times = {k: [] for k in fits}
            results = {}
            for k, f in fits.items():  # warm-up and the coefficients; the tight references are timed on it alone
                start = time.perf_counter()
                results[k] = f()
                if "tol 1e-8" in k and "sklearn" in k:
                    times[k].append(time.perf_counter() - start)
            for _ in range(repeats):
                for k, f in fits.items():  # interleaved
                    if "tol 1e-8" in k and "sklearn" in k:
                        continue
                    start = time.perf_counter()
                    f()
                    times[k].append(time.perf_counter() - start)
            objectives = {k: objective(*results[k], X, y, C, r) for k in fits}
            best = min(objectives.values())
            for k in fits:
                row = {"problem": name, "shape": list(X.shape), "classes": K, "C": C, "l1_ratio": r, "solver": k,
                       "seconds": min(times[k]), "objective": objectives[k],
                       "relative_gap": (objectives[k] - best) / abs(best), "nonzero": int(np.count_nonzero(results[k][0]))}
                rows.append(row)
                print(f"{name:14s} C={C:<4g} r={r:<4g} {k:34s} {row['seconds']:9.4f} s  gap {row['relative_gap']:9.2e}"
                      f"  nnz {row['nonzero']}", flush=True)
    summary = summarise(rows)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "quick": args.quick, "command": " ".join(sys.argv),
                                         "rows": rows, "summary": summary}, indent=1))


def summarise(rows):
    """Per (problem, C, l1_ratio): xlogreg's estimator at its defaults against scikit-learn's faster L1 solver
    at its defaults (the faster of saga and liblinear), the time ratio and whether xlogreg's gap is at most
    theirs; then the geometric mean of the ratios. Printed, and returned for the JSON file."""
    cases = {}
    for row in rows:
        cases.setdefault((row["problem"], row["C"], row["l1_ratio"]), {})[row["solver"]] = row
    print(f"\n{'problem':14s} {'C':>4s} {'r':>4s} {'faster sklearn (defaults)':28s} {'time':>8s} {'gap':>9s}"
          f" {'xlogreg (defaults)':>10s} {'gap':>9s}  speed-up  as close")
    out, logs = [], []
    for (problem, C, r), fits in cases.items():
        ours = fits[ESTIMATOR]
        theirs = min((f for k, f in fits.items() if k.startswith("sklearn") and "defaults" in k),
                     key=lambda f: f["seconds"])
        ratio = theirs["seconds"] / ours["seconds"]
        close = ours["relative_gap"] <= max(theirs["relative_gap"], 1e-12)
        logs.append(np.log(ratio))
        out.append({"problem": problem, "C": C, "l1_ratio": r, "sklearn": theirs["solver"],
                    "sklearn_seconds": theirs["seconds"], "sklearn_gap": theirs["relative_gap"],
                    "xlogreg_seconds": ours["seconds"], "xlogreg_gap": ours["relative_gap"],
                    "speed_up": ratio, "at_least_as_close": bool(close)})
        print(f"{problem:14s} {C:4g} {r:4g} {theirs['solver']:28s} {theirs['seconds']:8.4f} "
              f"{theirs['relative_gap']:9.2e} {ours['seconds']:10.4f} {ours['relative_gap']:9.2e}  "
              f"{ratio:7.2f}x  {'yes' if close else 'NO'}")
    geomean = float(np.exp(np.mean(logs))) if logs else None
    if geomean is not None:
        print(f"geometric mean speed-up of xlogreg's defaults over scikit-learn's faster L1 solver at its defaults: "
              f"{geomean:.2f}x over {len(logs)} cases", flush=True)
    return {"cases": out, "geometric_mean_speed_up": geomean}


if __name__ == "__main__":
    main()
