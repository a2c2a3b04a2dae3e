"""Sparse X: xlogreg.LogisticRegression against scikit-learn's default solver on the same CSR matrix.

    python benchmarks/bench_sparse.py                       # 300,000 x 200,000, ~3.6M non-zeros
    python benchmarks/bench_sparse.py --quick               # 10,000 x 10,000, ~110,000 non-zeros (minutes)
    python benchmarks/bench_sparse.py --json out.json       # also write the results as JSON

The data is TF-IDF-like and synthetic (no download): ``--rows`` documents of
about ``--terms`` term draws each, the terms Zipf-distributed over
``--columns`` (rank r drawn with probability ~ ``r^-1.1``), counts turned into
``(1 + log tf) idf`` and each row scaled to unit norm, as ``TfidfVectorizer``
does. Labels come from a planted sparse linear model (two classes, and 20
classes by the arg-max of 20 planted models plus Gumbel noise).

For each problem it first fits scikit-learn's ``LogisticRegression(C=1)``
(lbfgs) and xlogreg's to ``--reference-tol`` (1e-10) for the reference optimum f* of
``C sum_i L_i + ||W||^2 / 2`` (the objective both minimise; the lower of the two), then, interleaved
and each after the same warm-up, fits scikit-learn's default solver and
xlogreg's default solver at each ``--tols`` and records the time and the
relative gap ``(f - f*) / f*`` each reaches. "time to optimum" is the first
time at which a solver's gap is at most ``--target`` (1e-6). Peak memory is
the peak of the memory traced (``tracemalloc``: NumPy and SciPy buffers
included) during one more fit of each at its default tolerance, not timed
(tracing slows allocation), beside the matrix's own size; and the process's
maximum resident size at the end. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import resource
import sys
import time
import tracemalloc
import warnings

import numpy as np
import scipy.sparse as sp

sys.path[:0] = [str(pathlib.Path(__file__).resolve().parents[1]),  # this checkout's xlogreg
                str(pathlib.Path(__file__).resolve().parent)]
from bench_core import machine  # noqa: E402

import xlogreg  # noqa: E402


def tfidf_like(rows, columns, terms, seed=0):
    """A CSR (rows, columns) float64 matrix: Zipf-distributed terms, (1 + log tf) idf, unit-norm rows."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, columns + 1) ** 1.1
    p /= p.sum()
    lengths = rng.poisson(terms, rows) + 1
    doc = np.repeat(np.arange(rows), lengths)
    term = rng.permutation(columns)[rng.choice(columns, size=doc.shape[0], p=p)]  # frequent terms spread out
    counts = sp.coo_array((np.ones(doc.shape[0]), (doc, term)), shape=(rows, columns)).tocsr()  # adds repeats
    df = np.bincount(counts.indices, minlength=columns)
    idf = np.log((1 + rows) / (1 + df)) + 1
    counts.data = (1 + np.log(counts.data)) * idf[counts.indices]
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    return sp.csr_array(sp.diags_array(1 / norms) @ counts), rng


def planted_labels(X, classes, rng):
    """Labels of a planted sparse linear model: the sign (two classes) or the arg-max with Gumbel noise."""
    k = 1 if classes == 2 else classes
    W = rng.standard_normal((X.shape[1], k)) * (rng.random((X.shape[1], k)) < 0.05) * 8
    Z = X @ W
    if classes == 2:
        return (Z[:, 0] + rng.logistic(size=X.shape[0]) > np.median(Z)).astype(int)
    return np.argmax(Z + rng.gumbel(size=Z.shape), axis=1)


def one_hot_like(rows, fields, largest, classes, seed=0):
    """A CSR one-hot matrix of categorical features, and labels: ``(X, y)``.

    `fields` categorical columns with cardinalities spaced geometrically from 10 to `largest`, each
    value Zipf-distributed (rank r with probability ~ ``r^-1.2``), one stored 1 per field and row (as
    ``OneHotEncoder`` makes of click or survey data); labels from a planted dense model over all
    the columns plus logistic noise (two classes) or Gumbel noise (the arg-max over `classes`).
    """
    rng = np.random.default_rng(seed)
    columns, offset = [], 0
    for cardinality in np.geomspace(10, largest, fields).astype(int):
        p = 1.0 / np.arange(1, cardinality + 1) ** 1.2
        columns.append(rng.choice(cardinality, size=rows, p=p / p.sum()) + offset)
        offset += cardinality
    X = sp.csr_array((np.ones(rows * fields), np.stack(columns, axis=1).ravel(), np.arange(0, rows * fields + 1, fields)),
                     shape=(rows, offset))
    Z = X @ (rng.standard_normal((offset, 1 if classes == 2 else classes)) * 0.7)
    if classes == 2:
        return X, (Z[:, 0] + rng.logistic(size=rows) > np.median(Z)).astype(int)
    return X, np.argmax(Z + rng.gumbel(size=Z.shape), axis=1)


def objective(coef, intercept, X, y, C):
    """scikit-learn's ``C sum_i L_i + ||W||^2 / 2`` from the fitted coefficients (plain NumPy / SciPy)."""
    coef, intercept = xlogreg._backends.to_numpy(coef), xlogreg._backends.to_numpy(intercept)
    Z = X @ coef.T + intercept
    if coef.shape[0] == 1:
        z = Z[:, 0]
        losses = np.logaddexp(0, np.where(y == 1, -z, z))
    else:
        top = Z.max(axis=1, keepdims=True)
        log_total = top[:, 0] + np.log(np.exp(Z - top).sum(axis=1))
        losses = log_total - Z[np.arange(Z.shape[0]), y]
    return C * losses.sum() + 0.5 * float(np.sum(coef * coef))


def fitters(C):
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    return {
        "sklearn-lbfgs": lambda tol: SkLogisticRegression(C=C, tol=tol, max_iter=100_000),
        "xlogreg-auto": lambda tol: xlogreg.LogisticRegression(C=C, tol=tol, max_iter=100_000),
    }


def run_problem(X, y, classes, args):
    C = 1.0
    make = fitters(C)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        ref = make["sklearn-lbfgs"](args.reference_tol).fit(X, y)
        ref_s = time.perf_counter() - start
        ours = make["xlogreg-auto"](args.reference_tol).fit(X, y)
        references = {"sklearn-lbfgs": objective(ref.coef_, ref.intercept_, X, y, C),
                      "xlogreg-auto": objective(ours.coef_, ours.intercept_, X, y, C)}
        f_star = min(references.values())  # the lower of two independent tight fits
        print(f"  references at tol {args.reference_tol:g}: " + ", ".join(
            f"{k} {(v - f_star) / abs(f_star):.1e} above the lower" for k, v in references.items()), flush=True)
        for name, factory in make.items():  # warm-up: imports, first-call caches
            factory(1e-2).fit(X[:1000], y[:1000])
        runs = {name: [] for name in make}
        for tol in args.tols:
            for name, factory in make.items():
                start = time.perf_counter()
                est = factory(tol).fit(X, y)
                seconds = time.perf_counter() - start
                gap = (objective(est.coef_, est.intercept_, X, y, C) - f_star) / abs(f_star)
                runs[name].append({"tol": tol, "seconds": seconds, "gap": gap,
                                   "n_iter": int(np.max(xlogreg._backends.to_numpy(est.n_iter_)))})
                print(f"  {name:14s} tol {tol:7.0e}  {seconds:8.2f} s  gap {gap:9.2e}", flush=True)
        peaks = {}
        for name, factory in make.items():
            tracemalloc.start()
            factory(1e-4).fit(X, y)
            peaks[name] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    to_optimum = {name: next((r["seconds"] for r in rs if r["gap"] <= args.target), None)
                  for name, rs in runs.items()}
    row = {"classes": classes, "reference_seconds": ref_s, "f_star": f_star, "references": references, "runs": runs,
           "time_to_optimum_s": to_optimum, "peak_traced_bytes": peaks}
    for name in make:
        t = to_optimum[name]
        print(f"  {name:14s} time to gap <= {args.target:g}: {'not reached' if t is None else f'{t:.2f} s'}; "
              f"peak traced {peaks[name] / 2**20:.0f} MiB", flush=True)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--columns", type=int, default=200_000)
    parser.add_argument("--terms", type=float, default=12.0, help="mean term draws per document")
    parser.add_argument("--tols", type=float, nargs="+", default=[1e-4, 1e-6, 1e-8])
    parser.add_argument("--target", type=float, default=1e-6, help="relative objective gap for 'time to optimum'")
    parser.add_argument("--classes", type=int, nargs="+", default=[2, 20])
    parser.add_argument("--reference-tol", type=float, default=1e-10,
                        help="tol of the two reference fits (scikit-learn's lbfgs and xlogreg's); f* is the lower")
    parser.add_argument("--quick", action="store_true", help="10,000 x 10,000, tolerances 1e-4 and 1e-6")
    parser.add_argument("--json", type=pathlib.Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.columns, args.tols = 10_000, 10_000, [1e-4, 1e-6]
    X, rng = tfidf_like(args.rows, args.columns, args.terms)
    matrix_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    print(f"X: {X.shape[0]:,} x {X.shape[1]:,}, {X.nnz:,} non-zeros ({matrix_bytes / 2**20:.0f} MiB as CSR; "
          f"{X.shape[0] * X.shape[1] * 8 / 2**30:,.0f} GiB dense)", flush=True)
    problems = []
    for classes in args.classes:
        y = planted_labels(X, classes, rng)
        print(f"{classes} classes:", flush=True)
        problems.append(run_problem(X, y, classes, args))
    results = {
        "machine": machine(),
        "command": " ".join(["python", "benchmarks/bench_sparse.py", *(argv if argv is not None else sys.argv[1:])]),
        "shape": list(X.shape), "nnz": int(X.nnz), "matrix_bytes": int(matrix_bytes),
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "problems": problems,
    }
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
