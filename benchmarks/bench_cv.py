"""Choosing C by cross-validation: xlogreg's LogisticRegressionCV against scikit-learn's, and the folds
batched against one fold at a time. One run of each, side by side.

    python benchmarks/bench_cv.py --quick                      # seconds: small problems, a smoke run
    python benchmarks/bench_cv.py --json out.json               # the full table
    python benchmarks/bench_cv.py --backend torch --device cuda # the search on a GPU (X moved there once)
    python benchmarks/bench_cv.py --solver lbfgs                # xlogreg's batched L-BFGS instead of "auto"

Problems: breast_cancer (standardised), digits / 16, and two ``make_classification`` problems
(two classes and five, ``--examples`` examples, 50 features). Both estimators at their defaults
(``Cs=10``, 5 stratified folds, ``tol=1e-4``; scikit-learn's ``solver="lbfgs"``, xlogreg's
``"auto"`` or ``--solver``), the same ``--scoring`` (default scikit-learn 1.9's, accuracy). Their ``tol`` means
different stopping rules (scikit-learn: the largest gradient entry; xlogreg: the gradient's norm), so
the table also shows whether they chose the same C and the largest difference of their ``scores_``.

Section two times xlogreg alone, ``batch_folds=True`` (the folds of one C as one problem on the whole
X) against ``batch_folds=False`` (each fold on its own rows, the same solver), with the Newton
iterations each took. Each timing ends with the coefficients on the host (a GPU synchronised); a
warm-up fit on a small problem comes first. Nothing here asserts.
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
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import xlogreg  # noqa: E402
from xlogreg import _backends  # noqa: E402


def problems(examples, quick):
    from sklearn.datasets import load_breast_cancer, load_digits, make_classification
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    yield "breast_cancer", StandardScaler().fit_transform(X), y
    X, y = load_digits(return_X_y=True)
    yield ("digits/16 (first 500)" if quick else "digits/16"), (X[:500] if quick else X) / 16, y[:500] if quick else y
    for classes in (2, 5):
        X, y = make_classification(examples, 50, n_informative=25, n_redundant=0, n_classes=classes,
                                   n_clusters_per_class=1, flip_y=0.05, random_state=0)
        yield f"make_classification({examples}, 50, {classes} classes)", X, y


def machine_info():
    try:
        from bench_core import machine

        return machine()
    except Exception as exc:  # bench_core's machine() needs its own optional packages
        return {"error": repr(exc)}


def timed(fit):
    """Seconds of ``fit()`` up to its coefficients on the host (which synchronises a GPU), and the estimator."""
    start = time.perf_counter()
    est = fit()
    _backends.to_numpy(est.coef_)
    return time.perf_counter() - start, est


def main(argv=None):
    from sklearn.linear_model import LogisticRegressionCV as SkLogisticRegressionCV

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small problems (2,000 examples, Cs=5): a smoke run")
    parser.add_argument("--examples", type=int, default=None, help="examples of the synthetic problems (50,000)")
    parser.add_argument("--scoring", default=None, help="both estimators' scoring (default: accuracy)")
    parser.add_argument("--backend", default=None, help="a name of xlogreg.BACKENDS for xlogreg (default NumPy)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--solver", "--xlogreg-solver", default="auto",
                        choices=("auto", "lbfgs", "newton-cholesky", "newton-cg"),
                        help="xlogreg's solver (default 'auto'; scikit-learn runs its default, lbfgs)")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    examples = args.examples or (2_000 if args.quick else 50_000)
    Cs = 5 if args.quick else 10

    def ours(X, y, **params):
        if args.backend is not None:
            xp, dev = _backends.resolve(args.backend, args.device)
            X, y = _backends.asarray(X, xp, dev), _backends.asarray(y, xp, dev)
        return xlogreg.LogisticRegressionCV(Cs=Cs, scoring=args.scoring, solver=args.solver, **params).fit(X, y)

    def theirs(X, y):
        return SkLogisticRegressionCV(Cs=Cs, scoring=args.scoring, l1_ratios=(0,),
                                      use_legacy_attributes=True).fit(X, y)

    rows, batching = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X0, y0 = next(problems(200, True))[1:]
        ours(X0[:200], y0[:200])  # warm-up: imports, kernels, a device's start
        for name, X, y in problems(examples, args.quick):
            t_ours, a = timed(lambda: ours(X, y))
            t_theirs, b = timed(lambda: theirs(X, y))
            key = list(b.scores_)[0]
            row = {"problem": name, "shape": list(X.shape), "classes": int(len(np.unique(y))),
                   "xlogreg_s": t_ours, "sklearn_s": t_theirs, "ratio": t_theirs / t_ours,
                   "xlogreg_iterations": int(np.sum(_backends.to_numpy(a.n_iter_))),
                   "same_C": bool(float(_backends.to_numpy(a.C_)[0]) == float(b.C_[0])),
                   "max_score_difference": float(np.max(np.abs(np.asarray(_backends.to_numpy(a.scores_[key]))
                                                               - b.scores_[key][..., 0])))}
            rows.append(row)
            print(f"{name:42s} xlogreg {t_ours:8.3f} s   scikit-learn {t_theirs:8.3f} s   x{row['ratio']:6.2f}   "
                  f"same C: {row['same_C']}   scores within {row['max_score_difference']:.1e}", flush=True)
        geomean = float(np.exp(np.mean([np.log(r["ratio"]) for r in rows])))
        print(f"geometric mean speed-up over scikit-learn's LogisticRegressionCV: {geomean:.2f}x "
              f"over {len(rows)} problems\n", flush=True)
        for name, X, y in problems(examples, args.quick):
            t_batched, a = timed(lambda: ours(X, y, batch_folds=True))
            t_single, b = timed(lambda: ours(X, y, batch_folds=False))
            row = {"problem": name, "batched_s": t_batched, "one_fold_at_a_time_s": t_single,
                   "ratio": t_single / t_batched,
                   "newton_iterations_batched": int(np.sum(_backends.to_numpy(a.n_iter_))),
                   "newton_iterations_one_at_a_time": int(np.sum(_backends.to_numpy(b.n_iter_)))}
            batching.append(row)
            print(f"{name:42s} batched {t_batched:8.3f} s   one fold at a time {t_single:8.3f} s   "
                  f"x{row['ratio']:6.2f}   iterations {row['newton_iterations_batched']} / "
                  f"{row['newton_iterations_one_at_a_time']}", flush=True)
    batch_geomean = float(np.exp(np.mean([np.log(r["ratio"]) for r in batching])))
    print(f"geometric mean gain of batched folds over one fold at a time: {batch_geomean:.2f}x", flush=True)
    results = {"machine": machine_info(), "geometric_mean_speed_up": geomean,
               "batched_geometric_mean_gain": batch_geomean, "command": " ".join(["python", "benchmarks/bench_cv.py", *(argv or
                                                                                                  sys.argv[1:])]),
               "Cs": Cs, "scoring": args.scoring, "solver": args.solver, "backend": args.backend, "device": args.device,
               "against_sklearn": rows, "batched_against_one_fold_at_a_time": batching}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
