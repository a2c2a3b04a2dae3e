"""Passes over X, Dask computations and tasks of the Newton and L-BFGS fits on a Dask X: counted, not timed.

    python benchmarks/count_dask_passes.py                      # 200,000 x 100, chunks of 25,000, C=1
    python benchmarks/count_dask_passes.py --quick              # 20,000 x 20, chunks of 2,500
    PYTHONPATH=/path/to/other/checkout python benchmarks/count_dask_passes.py --quick   # another version

X is a NumPy array behind a wrapper that counts its reads, opened with
``dask.array.from_array`` in chunks of examples (as ``open_lazy`` opens an
HDF5 file: every read of a chunk is one call of the wrapper's
``__getitem__``); each fit runs through ``xlogreg.LogisticRegression`` on
the single-threaded scheduler. Reported per solver: the Newton (or L-BFGS)
iterations, the chunk reads divided by the number of chunks (passes over X,
the input check and the end's gradient included), the Dask computations
(``dask.compute`` / ``persist`` and scalar reads) and the tasks they ran,
and the objective reached (from NumPy, in float64). Deterministic: no
timing, so it can run on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


class CountingArray:
    """A NumPy array whose reads are counted: one ``__getitem__`` per chunk that Dask reads."""

    def __init__(self, array):
        self.array, self.shape, self.dtype, self.ndim = array, array.shape, array.dtype, array.ndim
        self.reads = 0

    def __getitem__(self, index):
        self.reads += 1
        return self.array[index]


def problem(m, n_x, seed=0):
    """A seeded binary problem: X of shape (m, n_x), standard normal; labels from a logistic model."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n_x))
    w = rng.standard_normal(n_x) / np.sqrt(n_x) * 3
    y = (rng.random(m) < 1 / (1 + np.exp(-(X @ w + 0.5)))).astype(np.float64)
    return X, y


def objective(coef, intercept, X, y, C):
    """scikit-learn's ``C * sum(log-loss) + ||w||^2 / 2`` divided by ``C m`` (xlogreg's J), in NumPy."""
    z = X @ coef.ravel() + intercept[0]
    losses = np.logaddexp(0, z) - y * z
    return float(losses.mean() + coef.ravel() @ coef.ravel() / (2 * C * X.shape[0]))


def count(solver, X, y, chunk, C, tol):
    import dask
    import dask.array as da
    from dask.callbacks import Callback

    from xlogreg import LogisticRegression

    source = CountingArray(X)
    Xd = da.from_array(source, chunks=(chunk, X.shape[1]), meta=np.empty((0, 0), X.dtype))
    tally = {"computations": 0, "tasks": 0}

    class Counter(Callback):
        def _start(self, dsk):
            tally["computations"] += 1

        def _pretask(self, key, dsk, state):
            tally["tasks"] += 1

    with dask.config.set(scheduler="synchronous"), Counter():
        model = LogisticRegression(solver=solver, C=C, tol=tol, max_iter=200).fit(Xd, y)
    coef, intercept = (np.asarray(a) for a in (model.coef_, model.intercept_))
    chunks = Xd.numblocks[0]
    return {"solver": solver, "iterations": int(np.max(np.asarray(model.n_iter_))), "chunks": chunks,
            "chunk_reads": source.reads, "passes_over_X": source.reads / chunks, **tally,
            "objective": objective(coef, intercept, X, y, C)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 x 20, chunks of 2,500")
    parser.add_argument("--solvers", default="newton-cg,newton-cholesky,lbfgs")
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--json", help="also write the counts to this JSON file")
    args = parser.parse_args(argv)
    m, n_x, chunk = (20_000, 20, 2_500) if args.quick else (200_000, 100, 25_000)
    X, y = problem(m, n_x)
    rows = [count(solver, X, y, chunk, 1.0, args.tol) for solver in args.solvers.split(",")]
    import xlogreg

    print(f"xlogreg from {xlogreg.__file__}; X {m} x {n_x}, chunks of {chunk} examples, C=1, tol={args.tol}")
    print(f"{'solver':<16} {'iterations':>10} {'passes over X':>14} {'computations':>13} {'tasks':>8}  objective")
    for r in rows:
        print(f"{r['solver']:<16} {r['iterations']:>10} {r['passes_over_X']:>14.1f} {r['computations']:>13} "
              f"{r['tasks']:>8}  {r['objective']:.12f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": "python " + " ".join(sys.argv), "m": m, "n_x": n_x, "chunk": chunk,
                       "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
