"""Newton and L-BFGS on Dask: xlogreg against dask-ml's LogisticRegression, in memory and out of core from HDF5.

    python benchmarks/bench_dask_newton.py                    # 200,000 x 100 float64, chunks of 25,000, 3 repeats
    python benchmarks/bench_dask_newton.py --quick            # 20,000 x 20, chunks of 2,500, 1 repeat: a smoke run
    python benchmarks/bench_dask_newton.py --json out.json    # the results (machine, command, every run) as JSON

One seeded binary problem (X standard normal with feature scales 0.5-3,
labels drawn from a logistic model, so the data are not separable) is
written to a temporary directory as a ``.npy`` file and as an HDF5 file
(dataset ``X`` of shape (m, n_x), HDF5-chunked as Dask reads it). Every fit
runs in a fresh child process, which opens X either **in memory** (the
``.npy`` loaded, then ``dask.array.from_array`` in chunks of ``--chunk``
examples) or **out of core** (``dask.array.from_array`` on the h5py
dataset: each task reads its chunk from the file), fits, and reports the
seconds of the fit alone, its peak resident memory (the kernel's ``VmHWM``, and
the same just before the fit: the imports, and in memory X itself) and the
coefficients. Contenders run interleaved, round by round (``--repeats``
rounds); reported: the best time, the largest peak, and the objective gap
``J(fit) - J(reference)`` with J scikit-learn's objective divided by
``C m`` (``mean log-loss + ||w||^2 / (2 C m)``, the intercept not
penalised), the reference a scikit-learn ``newton-cholesky`` fit in memory
to ``tol=1e-12``.

Contenders, on the same chunks:

* ``xlogreg newton-cg``, ``xlogreg newton-cholesky``, ``xlogreg lbfgs``:
  ``xlogreg.LogisticRegression(solver=..., C=C, tol=tol, max_iter=max_iter)``
  on the Dask X (stops at a Euclidean gradient norm of J at most `tol`);
* ``dask-ml lbfgs`` (if dask-ml is installed): ``dask_ml.linear_model.LogisticRegression(solver="lbfgs")``.
* ``dask-ml newton`` (if installed): ``solver="newton"``.

**How dask-ml's conventions are mapped** (read from dask-ml 2025.1's
``linear_model/glm.py`` and dask-glm's ``algorithms.py``, ``families.py``,
``regularizers.py``, ``utils.py``). dask-ml appends a column of ones to X
for the intercept (the last coefficient) and calls dask-glm with
``lamduh = 1 / C``. dask-glm's L-BFGS minimises
``f(beta) = sum_i log-loss_i + lamduh * R(beta)`` with the ``l2`` regulariser
``R = ||beta||^2 / 2`` over *all* of beta, the intercept included, and its
solvers by default standardise the columns of X first (``normalize=True``:
the penalty then acts on the standardised coefficients). Neither matches
scikit-learn's ``C sum_i log-loss_i + ||w||^2 / 2``, so the benchmark passes
``penalty=`` a regulariser written here, ``R = ||beta[:-1]||^2 / 2`` (the
intercept left out), and ``solver_kwargs={"normalize": False}``: then
``f = m J`` exactly, the same minimiser. dask-glm's L-BFGS stops when the
largest entry of f's gradient is at most its ``tol`` (SciPy's ``pgtol``);
``m * tol`` is passed, so that it stops at ``max |dJ| <= tol``, a little
looser than xlogreg's ``||dJ||_2 <= tol``. dask-glm's ``newton`` ignores the
penalty altogether (dask-ml drops ``lamduh`` for it): it minimises the
unpenalised log-loss, takes full Newton steps without a line search, and
stops when no coefficient moves by more than ``tol``. It is therefore run on
the unpenalised problem (``C = inf``), beside xlogreg's two Newton solvers
with ``C=numpy.inf``, and its gap is to the unpenalised reference.

Not a test: nothing here asserts. The timings need a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shlex
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
spec = json.loads(sys.argv[1])
import numpy as np
import dask
import dask.array as da

def peak():
    # VmHWM: this process image's own peak (ru_maxrss would carry over the parent's from before the exec)
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) * 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

y = np.load(spec["y"])
m, chunk = y.shape[0], spec["chunk"]
if spec["mode"] == "memory":
    X = da.from_array(np.load(spec["npy"]), chunks=(chunk, -1))
else:
    import h5py
    handle = h5py.File(spec["h5"], "r")
    X = da.from_array(handle["X"], chunks=(chunk, -1))
C = float(spec["C"])
if spec["library"] == "xlogreg":
    import xlogreg
    model = xlogreg.LogisticRegression(solver=spec["solver"], C=C, tol=spec["tol"], max_iter=spec["max_iter"])
    target = y
else:
    from dask_glm.regularizers import Regularizer
    from dask_ml.linear_model import LogisticRegression

    class L2WithoutIntercept(Regularizer):
        # scikit-learn's penalty: ||w||^2 / 2, the intercept (dask-ml's last coefficient) left out
        name = "l2_without_intercept"

        def f(self, beta):
            return (beta[:-1] ** 2).sum() / 2

        def gradient(self, beta):
            return np.concatenate([beta[:-1], np.zeros(1, dtype=beta.dtype)])

        def hessian(self, beta):
            h = np.eye(len(beta))
            h[-1, -1] = 0.0
            return h

        def proximal_operator(self, beta, t):
            return np.concatenate([beta[:-1] / (1 + t), beta[-1:]])

    options = dict(solver=spec["solver"], max_iter=spec["max_iter"], solver_kwargs={"normalize": False})
    if spec["solver"] == "lbfgs":
        options.update(penalty=L2WithoutIntercept(), C=C, tol=spec["tol"] * m)
    else:  # dask-glm's newton: no penalty (C is not used), tol on the change of the coefficients
        options.update(tol=spec["tol"])
    model = LogisticRegression(**options)
    target = da.from_array(y, chunks=(chunk,))
before = peak()
with dask.config.set(scheduler="threads"):
    start = time.perf_counter()
    model.fit(X, target)
    seconds = time.perf_counter() - start
coef = np.asarray(model.coef_, dtype=np.float64).ravel()
intercept = float(np.asarray(model.intercept_, dtype=np.float64).ravel()[0])
print("RESULT " + json.dumps({"seconds": seconds, "peak_rss": peak(), "rss_before_fit": before,
                              "coef": coef.tolist(), "intercept": intercept}))
"""


def problem(m, n_x, seed=0, dtype="float64"):
    """The seeded binary problem: X (m, n_x) and labels 0 / 1 from a logistic model."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((m, n_x)) * rng.uniform(0.5, 3.0, n_x)).astype(dtype)
    w = rng.standard_normal(n_x) / np.sqrt(n_x)
    y = (rng.random(m) < 1 / (1 + np.exp(-(X @ w + 0.3)))).astype(np.float64)
    return X, y


def objective(coef, intercept, X, y, C):
    """scikit-learn's objective divided by ``C m``: mean log-loss + ``||w||^2 / (2 C m)`` (float64)."""
    z = X.astype(np.float64) @ coef + intercept
    value = float(np.mean(np.logaddexp(0, z) - y * z))
    return value + (0.0 if np.isinf(C) else float(coef @ coef) / (2 * C * X.shape[0]))


def reference(X, y, C):
    """A tight scikit-learn fit: ``(coef, intercept, J)``."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X.astype(np.float64), y)
    coef, intercept = model.coef_.ravel(), float(model.intercept_[0])
    return coef, intercept, objective(coef, intercept, X, y, C)


def contenders(C, with_dask_ml):
    """``(name, library, solver, C)`` for each fit, the unpenalised problem for dask-ml's Newton."""
    rows = [(f"xlogreg {s}", "xlogreg", s, C) for s in ("newton-cg", "newton-cholesky", "lbfgs")]
    if with_dask_ml:
        rows.append(("dask-ml lbfgs", "dask-ml", "lbfgs", C))
        rows += [(f"xlogreg {s} (C=inf)", "xlogreg", s, np.inf) for s in ("newton-cg", "newton-cholesky")]
        rows.append(("dask-ml newton (C=inf)", "dask-ml", "newton", np.inf))
    return rows


def run_child(spec, timeout):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True,
                          env=env, timeout=timeout)
    if done.returncode != 0 or "RESULT " not in done.stdout:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:] or ["exit %d" % done.returncode]}
    return json.loads(done.stdout.split("RESULT ", 1)[1].splitlines()[0])


def has_dask_ml():
    try:
        import dask_ml.linear_model  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 x 20, chunks of 2,500, one repeat")
    parser.add_argument("--examples", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=25_000, help="examples per Dask chunk")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per fit at most")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.examples, args.features, args.chunk, args.repeats = 20_000, 20, 2_500, 1

    X, y = problem(args.examples, args.features, dtype=args.dtype)
    with_dask_ml = has_dask_ml()
    rows = contenders(args.C, with_dask_ml)
    references = {C: reference(X, y, C) for C in {C for *_, C in rows}}
    results = {(name, mode): [] for name, *_ in rows for mode in ("memory", "hdf5")}
    with tempfile.TemporaryDirectory(prefix="xlogreg-dask-newton-") as directory:
        directory = pathlib.Path(directory)
        np.save(directory / "X.npy", X)
        np.save(directory / "y.npy", y)
        import h5py

        with h5py.File(directory / "X.h5", "w") as f:
            f.create_dataset("X", data=X, chunks=(min(args.chunk, args.examples), args.features))
        for _ in range(args.repeats):
            for name, library, solver, C in rows:
                for mode in ("memory", "hdf5"):
                    spec = {"library": library, "solver": solver, "C": C, "mode": mode, "chunk": args.chunk,
                            "tol": args.tol, "max_iter": args.max_iter, "npy": str(directory / "X.npy"),
                            "h5": str(directory / "X.h5"), "y": str(directory / "y.npy")}
                    results[name, mode].append(run_child(spec, args.timeout))

    print(f"X {args.examples} x {args.features} {args.dtype}, chunks of {args.chunk} examples, C={args.C:g}, "
          f"tol={args.tol:g}, best of {args.repeats}" + ("" if with_dask_ml else "; dask-ml not installed"))
    print(f"{'contender':<32} {'X':<7} {'seconds':>9} {'peak MB':>8} {'before fit MB':>13} {'objective gap':>14}")
    table = []
    for (name, mode), runs in results.items():
        C = next(c for n, *_, c in rows if n == name)
        good = [r for r in runs if "error" not in r]
        if not good:
            print(f"{name:<32} {mode:<7} failed: {runs[-1]['error']}")
            table.append({"contender": name, "mode": mode, "error": runs[-1]["error"]})
            continue
        gap = objective(np.asarray(good[-1]["coef"]), good[-1]["intercept"], X, y, C) - references[C][2]
        row = {"contender": name, "mode": mode, "C": C if np.isfinite(C) else "inf",
               "best_seconds": min(r["seconds"] for r in good), "seconds": [r["seconds"] for r in good],
               "peak_rss_bytes": max(r["peak_rss"] for r in good),
               "rss_before_fit_bytes": max(r["rss_before_fit"] for r in good), "objective_gap": gap}
        table.append(row)
        print(f"{name:<32} {mode:<7} {row['best_seconds']:>9.3f} {row['peak_rss_bytes'] / 1e6:>8.0f} "
              f"{row['rss_before_fit_bytes'] / 1e6:>13.0f} {gap:>14.3e}")
    if args.json:
        import dask

        versions = {"python": platform.python_version(), "numpy": np.__version__, "dask": dask.__version__}
        if with_dask_ml:
            import dask_ml

            versions["dask_ml"] = dask_ml.__version__
        command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *sys.argv[1:]])
        info = {"command": command, "date": datetime.date.today().isoformat(), "platform": platform.platform(),
                "load_average": os.getloadavg(), "versions": versions, "examples": args.examples,
                "features": args.features, "chunk": args.chunk, "dtype": args.dtype, "C": args.C, "tol": args.tol,
                "max_iter": args.max_iter, "repeats": args.repeats,
                "references": {("inf" if np.isinf(C) else str(C)): r[2] for C, r in references.items()},
                "rows": table}
        pathlib.Path(args.json).write_text(json.dumps(info, indent=2) + "\n")


if __name__ == "__main__":
    main()
