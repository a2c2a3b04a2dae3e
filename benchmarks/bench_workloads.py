"""Issue 27: the workloads users bring, xlogreg against scikit-learn side by side in one process.

    python benchmarks/bench_workloads.py                       # every workload, full size (long: minutes)
    python benchmarks/bench_workloads.py --only embeddings probe_1000
    python benchmarks/bench_workloads.py --quick               # tiny sizes: proves the harness runs
    python benchmarks/bench_workloads.py --json out.json       # also write the results as JSON

The workloads:

* the five problems of ``bench_solvers.py`` (its problem makers; C = 1, with intercept);
* ``embeddings``: 160,000 x 512 float32 embeddings in 10 classes (Gaussian clusters), C = 1;
* benchopt's L2 logistic regression, ``sum_i log(1 + exp(-y_i x_i.beta)) + lambda / 2 ||beta||^2``
  without intercept, ``y = sign(X beta)``: 1000 x 10 and 200 x 500 at lambda = 0.01, 100,000 x 400
  at lambda = 1 (scikit-learn's ``C = 1 / lambda``, ``fit_intercept=False``);
* ``probe_1000``: a linear probe, 20,000 x 256 float32 embeddings in 1,000 classes, C = 1; also, with
  torch installed, a full-batch ``torch.optim.LBFGS`` (strong Wolfe) on the same objective;
* sparse X, ``bench_sparse.py``'s TF-IDF-like CSR matrices (Zipf-distributed terms, unit-norm rows,
  labels from a planted sparse model), C = 1: ``tfidf_2``, 300,000 x 200,000 (3.5 million
  non-zeros) in two classes, and ``tfidf_20``, 100,000 x 50,000 (1.1 million) in 20; and
  ``bench_sparse.one_hot_like``'s one-hot categorical features (Zipf-distributed values, one stored 1
  per field and row), C = 1: ``onehot_2``, 200,000 rows of 12 fields (40,070 columns) in two
  classes, and ``onehot_5``, 100,000 rows of 8 fields (8,487 columns) in five.

The contenders on each: xlogreg's ``LogisticRegression()`` at its defaults (the headline), and
with each solver where it applies (``lbfgs``; ``newton-cg`` and, up to
:data:`CHOLESKY_MAX_PARAMETERS` parameters, ``newton-cholesky`` with an intercept; ``agd``
without); scikit-learn's ``LogisticRegression`` at its defaults (its lbfgs) and with
``newton-cholesky`` (up to the same size). All at their default ``tol`` and ``max_iter``
(a ConvergenceWarning is noted, not hidden).

Recorded per fit: the best of ``--repeats`` times (after one warm-up fit each, contenders
interleaved, each after :data:`bench_core.SETTLE_S` idle; the order rotates by one each
repeat, because a fit's place in it mattered: on the 2-vCPU VM every other fit of the probe
spent 0.2-0.3 s more in the kernel, allocating memory, whatever its solver), the objective
``J = mean_i L_i + ||W||^2 / (2 C m)`` computed here in float64 NumPy from the fit's
coefficients (scikit-learn's objective divided by ``C m``), its gap to the best objective found
(the lowest of every fit and of a tight reference fit: scikit-learn's newton-cholesky at
``tol=1e-12`` up to :data:`CHOLESKY_MAX_PARAMETERS` parameters, xlogreg's lbfgs in float64 at
``tol=1e-10`` above), and the iterations. The ratios are each fit's time over the fastest
scikit-learn fit of the same run. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import warnings

import numpy as np

# The checkout this script lives in, not whichever xlogreg the environment has installed (an
# editable install of another worktree would otherwise be what is measured).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_core import SETTLE_S, machine  # noqa: E402
from bench_solvers import NAMES as SOLVER_PROBLEMS, problems as solver_problems  # noqa: E402

import xlogreg  # noqa: E402

#: newton-cholesky (both libraries, and the reference) forms an (n_features * classes)^2 Hessian:
#: only up to this many parameters (as bench_solvers.py).
CHOLESKY_MAX_PARAMETERS = 3000

WORKLOADS = SOLVER_PROBLEMS + ("embeddings", "benchopt_1000x10", "benchopt_200x500", "benchopt_100000x400",
                               "probe_1000", "tfidf_2", "tfidf_20", "onehot_2", "onehot_5")

#: Full sizes, and the tiny ones of ``--quick``: (m, n, classes or lambda).
SIZES = {
    "embeddings": ((160_000, 512, 10), (2_000, 32, 10)),
    "benchopt_1000x10": ((1000, 10, 0.01), (200, 5, 0.01)),
    "benchopt_200x500": ((200, 500, 0.01), (50, 80, 0.01)),
    "benchopt_100000x400": ((100_000, 400, 1.0), (2_000, 40, 1.0)),
    "probe_1000": ((20_000, 256, 1000), (2_000, 32, 50)),
    "tfidf_2": ((300_000, 200_000, 2), (5_000, 2_000, 2)),
    "tfidf_20": ((100_000, 50_000, 20), (5_000, 2_000, 20)),
    "onehot_2": ((200_000, 12, 20_000, 2), (5_000, 6, 500, 2)),  # rows, fields, largest cardinality, classes
    "onehot_5": ((100_000, 8, 5_000, 5), (5_000, 4, 200, 5)),
}

#: Mean term draws per document of the TF-IDF-like matrices (bench_sparse.py's default).
TFIDF_TERMS = 12.0


def gaussian_clusters(m, n, K, seed):
    """float32 "embeddings": K Gaussian clusters, unit-variance noise around centres of norm ~ 1.5 sqrt(n)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((K, n)) * 1.5 / np.sqrt(2)
    y = rng.integers(0, K, m)
    X = centres[y] + rng.standard_normal((m, n))
    return X.astype(np.float32), y


def benchopt_problem(m, n, seed):
    """benchopt's simulated L2 problem: X Gaussian, y = sign(X beta) (as 0 / 1 labels)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    y = (X @ rng.standard_normal(n) > 0).astype(int)
    return X, y


def workloads(names, quick):
    """``(name, X, y, C, fit_intercept)`` for each workload named."""
    small = [n for n in names if n in SOLVER_PROBLEMS]
    if quick:  # of bench_solvers' five, the two small bundled ones
        small = [n for n in small if n in ("breast_cancer", "digits")]
    for name, X, y in solver_problems(small):
        yield name, X, y, 1.0, True
    for name in names:
        if name not in SIZES:
            continue
        if name.startswith("onehot"):
            from bench_sparse import one_hot_like

            X, y = one_hot_like(*SIZES[name][1 if quick else 0], seed=0)
            yield name, X, y, 1.0, True
            continue
        m, n, extra = SIZES[name][1 if quick else 0]
        if name.startswith("benchopt"):
            X, y = benchopt_problem(m, n, seed=0)
            yield name, X, y, 1 / extra, False
        elif name.startswith("tfidf"):
            from bench_sparse import planted_labels, tfidf_like

            X, rng = tfidf_like(m, n, TFIDF_TERMS, seed=0)
            yield name, X, planted_labels(X, extra, rng), 1.0, True
        else:
            X, y = gaussian_clusters(m, n, extra, seed=1 if name == "embeddings" else 2)
            yield name, X, y, 1.0, True


def objective(X, y, coef, intercept, C):
    """``J = mean_i L_i + ||W||^2 / (2 C m)``, float64, plain NumPy (SciPy's product for a sparse X);
    coef (k, n), intercept (k,)."""
    coef = np.asarray(coef, dtype=np.float64)
    m = X.shape[0]
    total = 0.0
    for start in range(0, m, 20_000):  # in blocks: Z of 160,000 x 1,000 would not need to exist at once
        Xb, yb = _float64(X[start:start + 20_000]), y[start:start + 20_000]
        Z = Xb @ coef.T + np.asarray(intercept, dtype=np.float64)
        if Z.shape[1] == 1:
            total += np.sum(np.logaddexp(0, np.where(yb == 1, -Z[:, 0], Z[:, 0])))
        else:
            top = Z.max(axis=1, keepdims=True)
            total += np.sum(top[:, 0] + np.log(np.exp(Z - top).sum(axis=1)) - Z[np.arange(len(yb)), yb])
    return float(total / m + np.sum(coef ** 2) / (2 * C * m))


def _float64(X):
    """X in float64: a sparse matrix stays sparse."""
    return X.astype(np.float64) if hasattr(X, "tocsr") else np.asarray(X, dtype=np.float64)


def _warned(caught):
    return any("converge" in str(w.message).lower() for w in caught)


def xlogreg_fit(X, y, C, fit_intercept, solver=None, **kwargs):
    options = {} if solver is None else {"solver": solver}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = xlogreg.LogisticRegression(C=C, fit_intercept=fit_intercept, **options, **kwargs).fit(X, y)
    return est.coef_, est.intercept_, {"iterations": int(np.max(est.n_iter_)), "convergence_warning": _warned(caught)}


def sklearn_fit(X, y, C, fit_intercept, solver=None, **kwargs):
    from sklearn.linear_model import LogisticRegression

    options = {} if solver is None else {"solver": solver}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sk = LogisticRegression(C=C, fit_intercept=fit_intercept, **options, **kwargs).fit(X, y)
    return sk.coef_, sk.intercept_, {"iterations": int(np.max(sk.n_iter_)), "convergence_warning": _warned(caught)}


def torch_lbfgs_fit(X, y, C, max_iter=100, tol=1e-4):
    """Full-batch ``torch.optim.LBFGS`` (strong Wolfe) on ``J``, with intercept, X's dtype, CPU."""
    import torch

    Xt, yt = torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(y)
    m, n = Xt.shape
    K = int(y.max()) + 1
    W = torch.zeros((n, K), dtype=Xt.dtype, requires_grad=True)
    b = torch.zeros(K, dtype=Xt.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=max_iter, tolerance_grad=tol, tolerance_change=0,
                            history_size=10, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        J = torch.nn.functional.cross_entropy(Xt @ W + b, yt) + (W * W).sum() / (2 * C * m)
        J.backward()
        return J

    opt.step(closure)
    state = opt.state[opt._params[0]]
    return W.detach().numpy().T, b.detach().numpy(), {"iterations": int(state.get("n_iter", 0)),
                                                      "convergence_warning": False}


def contenders(X, y, C, fit_intercept, with_torch):
    K = len(np.unique(y))
    n_params = X.shape[1] * (K if K > 2 else 1)
    fits = {
        "xlogreg default": lambda: xlogreg_fit(X, y, C, fit_intercept),
        "xlogreg lbfgs": lambda: xlogreg_fit(X, y, C, fit_intercept, "lbfgs"),
        "sklearn default": lambda: sklearn_fit(X, y, C, fit_intercept),
    }
    fits["xlogreg newton-cg"] = lambda: xlogreg_fit(X, y, C, fit_intercept, "newton-cg")
    if not fit_intercept:  # accelerated gradient descent: the course's family, where it is defined without one
        fits["xlogreg agd"] = lambda: xlogreg_fit(X, y, C, fit_intercept, "agd")
    if n_params <= CHOLESKY_MAX_PARAMETERS:
        if fit_intercept:
            fits["xlogreg newton-cholesky"] = lambda: xlogreg_fit(X, y, C, fit_intercept, "newton-cholesky")
        fits["sklearn newton-cholesky"] = lambda: sklearn_fit(X, y, C, fit_intercept, "newton-cholesky")
    if with_torch and fit_intercept and K > 2:
        fits["torch LBFGS"] = lambda: torch_lbfgs_fit(X, y, C)
        # torch's tolerance_grad bounds the largest |g_j|; at tol / sqrt(parameters) it implies xlogreg's
        # ||g|| <= tol (at 1e-4 on 257,000 parameters, torch's own rule stops far from the optimum)
        n_all = (X.shape[1] + 1) * K
        fits["torch LBFGS, xlogreg's tol"] = lambda: torch_lbfgs_fit(X, y, C, max_iter=1000,
                                                                     tol=1e-4 / np.sqrt(n_all))
    return fits, n_params


def reference(X, y, C, fit_intercept, n_params):
    """A tight fit: ``(coef, intercept, how)``."""
    if n_params <= CHOLESKY_MAX_PARAMETERS:
        coef, intercept, _ = sklearn_fit(X, y, C, fit_intercept, "newton-cholesky", tol=1e-12, max_iter=1000)
        return coef, intercept, "sklearn newton-cholesky tol=1e-12"
    coef, intercept, _ = xlogreg_fit(_float64(X), y, C, fit_intercept, "lbfgs", tol=1e-10,
                                     max_iter=20_000)
    return coef, intercept, "xlogreg lbfgs float64 tol=1e-10"


def bench(name, X, y, C, fit_intercept, repeats, settle, with_torch, without=()):
    fits, n_params = contenders(X, y, C, fit_intercept, with_torch and name == "probe_1000")
    left_out = [key for key in fits if f"{key}@{name}" in without or key in without]
    fits = {key: fit for key, fit in fits.items() if key not in left_out}
    times = {k: [] for k in fits}
    results = {}
    for fit in fits.values():  # warm-up: imports and first-call costs
        fit()
    keys = list(fits)
    for repeat in range(repeats):  # the order rotates by one each repeat: a fit's place in it matters (below)
        for key in keys[repeat % len(keys):] + keys[:repeat % len(keys)]:
            fit = fits[key]
            time.sleep(settle)
            start = time.perf_counter()
            results[key] = fit()
            times[key].append(time.perf_counter() - start)
    coef, intercept, how = reference(X, y, C, fit_intercept, n_params)
    objectives = {key: objective(X, y, W, b, C) for key, (W, b, _) in results.items()}
    best = min([objective(X, y, coef, intercept, C), *objectives.values()])
    rows = {key: {"seconds_best": min(times[key]), "seconds_all": times[key], "objective": objectives[key],
                  "objective_gap": objectives[key] - best, **info}
            for key, (_, _, info) in results.items()}
    fastest_sk = min((k for k in rows if k.startswith("sklearn")), key=lambda k: rows[k]["seconds_best"])
    for row in rows.values():
        row["time_over_fastest_sklearn"] = row["seconds_best"] / rows[fastest_sk]["seconds_best"]
        row["time_over_sklearn_default"] = row["seconds_best"] / rows["sklearn default"]["seconds_best"]
    return {"workload": name, "left_out": left_out, "shape": list(X.shape), "dtype": str(X.dtype), "classes": int(len(np.unique(y))),
            "C": C, "fit_intercept": fit_intercept, "parameters": n_params, "best_objective": best,
            "reference": how, "fastest_sklearn": fastest_sk, "fits": rows}


def report(results):
    print(json.dumps(results["machine"], indent=2))
    print(f"command: {results['command']}\nxlogreg: {results['xlogreg']}")
    print("columns: best time; time over scikit-learn's default; over the fastest scikit-learn fit; "
          "objective gap to the best found; iterations")
    for r in results["workloads"]:
        print(f"\n{r['workload']} {r['shape']} {r['dtype']}, {r['classes']} classes, C = {r['C']:g}, "
              f"{'with' if r['fit_intercept'] else 'without'} intercept (reference: {r['reference']}):")
        for key, f in r["fits"].items():
            extra = ", ConvergenceWarning" if f.get("convergence_warning") else ""
            print(f"  {key:<28} {f['seconds_best'] * 1e3:10.1f} ms  {f['time_over_sklearn_default']:7.2f}x  "
                  f"{f['time_over_fastest_sklearn']:7.2f}x  gap {f['objective_gap']:+.2e}  "
                  f"({f['iterations']} iterations{extra})")
        if r.get("left_out"):
            print(f"  left out (--without): {', '.join(r['left_out'])}")
    for over, what in (("sklearn_default", "scikit-learn's default (lbfgs)"),
                       ("fastest_sklearn", "the fastest scikit-learn solver")):
        ratios = [r["fits"]["xlogreg default"][f"time_over_{over}"] for r in results["workloads"]]
        if ratios:
            print(f"geometric mean, xlogreg default's time over {what}: "
                  f"{float(np.exp(np.mean(np.log(ratios)))):.2f}x (speed-up {float(np.exp(-np.mean(np.log(ratios)))):.2f}x)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=WORKLOADS, default=WORKLOADS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: proves the harness runs")
    parser.add_argument("--no-torch", action="store_true", help="leave out torch.optim.LBFGS on the probe")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--without", nargs="+", default=[], metavar="CONTENDER[@WORKLOAD]",
                        help="leave out a contender (everywhere, or on one workload), e.g. "
                             "'xlogreg newton-cg@probe_1000'")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401
        with_torch = not args.no_torch
    except ImportError:
        with_torch = False
    repeats, settle = (1, 0.0) if args.quick else (args.repeats, SETTLE_S)
    results = {"machine": machine(), "command": " ".join(["python", *sys.argv]), "xlogreg": xlogreg.__file__,
               "quick": args.quick,
               "repeats": repeats, "workloads": []}
    for name, X, y, C, fit_intercept in workloads(args.only, args.quick):
        results["workloads"].append(bench(name, X, y, C, fit_intercept, repeats, settle, with_torch,
                                         args.without))
        print(f"done: {name}", flush=True)
    report(results)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
