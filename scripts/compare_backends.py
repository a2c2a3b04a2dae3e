"""Train on every available backend and device, time it, and compare with NumPy.

    python scripts/compare_backends.py --quick          # well under a minute on 2 cores
    python scripts/compare_backends.py                  # up to 2,000,000 examples: several minutes
    python scripts/compare_backends.py --out out/cmp    # where the CSV and the PNG go

For each backend x device x dtype, and each data set (synthetic data of 100
features from a few thousand to a few million examples, and the course data),
the gradient-descent loop (``xlogreg.solvers.run``, the loop that
``xlogreg.train`` runs) is timed after a warm-up run, with the device
synchronised before the clock starts and after the loop ends
(``xlogreg._backends.synchronize``), several times; the table gives the best
and the median seconds per iteration and the speed-up over NumPy in the same
dtype, size and solver. Synthetic data runs ``--iterations`` iterations; the
course data runs the course's 2000 (200 with ``--quick``), so that the solver
is the one ``train`` picks for the course and the dual's one-time Gram matrix
is amortised over as many iterations as in the course (it is included in the
seconds per iteration). With ``--quick`` the course data runs ``auto`` only and
skips Dask (about 30 ms per iteration here); without it, also ``primal``.

Backends that cannot run here (CuPy or torch-cuda without a GPU, a library
that is not installed) are listed as skipped with the reason. Nothing is ever
estimated: every number printed was measured by this run.
"""

from __future__ import annotations

import argparse
import csv
import os
import pathlib
import statistics
import sys
import time

import numpy as np
from array_api_compat import array_namespace, device as get_device, is_dask_array

try:  # float64 on JAX needs x64, switched on before any JAX array exists
    import jax

    jax.config.update("jax_enable_x64", True)
except ImportError:
    pass

import xlogreg
from xlogreg import _backends, solvers
from xlogreg.data import compiled as data_compiled

DATA_DIR = pathlib.Path(os.environ.get("XLOGREG_DATA_DIR",
                                       pathlib.Path(__file__).resolve().parents[2] / "shared" / "datasets"))
N_FEATURES = 100
FULL_SIZES = [5_000, 50_000, 500_000, 2_000_000]
QUICK_SIZES = [2_000, 20_000]
GPU_BACKENDS = ("cupy", "torch-cuda")


def targets():
    """(label, backend, device) for every backend/device to run, and (label, reason) for the skipped."""
    run, skipped = [], []
    report = _backends.available_backends()
    for name in _backends.BACKENDS:
        info = report[name]
        if not info.available:
            skipped.append((name, info.reason))
            continue
        devices = _backends._devices(name, _backends._import(name))
        if name == "array_api_strict":
            devices = devices[:1]  # its other devices are test doubles of the same CPU code
        for dev in devices:
            label = name if name in ("numpy", "dask") else f"{name}:{dev}"
            run.append((label, name, dev))
        if name == "torch" and not any(getattr(d, "type", "") == "cuda" for d in devices):
            skipped.append(("torch-cuda", "no CUDA GPU visible to torch"))
    return run, skipped


def datasets(sizes):
    """(name, X, Y) on the host: synthetic (N_FEATURES, m) for each m, and the course data."""
    rng = np.random.default_rng(0)
    w_true = rng.standard_normal((N_FEATURES, 1)) / np.sqrt(N_FEATURES)
    for m in sizes:
        X = np.asfortranarray(rng.standard_normal((N_FEATURES, m), dtype=np.float32), dtype=np.float64)
        Y = (rng.random((1, m)) < 1 / (1 + np.exp(-(w_true.T @ X)))).astype(np.float64)
        yield f"synthetic {N_FEATURES} x {m}", X, Y
        del X, Y
    train, test = DATA_DIR / "train_catvnoncat.h5", DATA_DIR / "test_catvnoncat.h5"
    if train.is_file() and test.is_file():
        train_x, train_y, *_ = xlogreg.load_dataset(train, test)
        yield "course data", xlogreg.flatten_images(train_x), train_y.astype(np.float64)
    else:
        print(f"course data: skipped, not found in {DATA_DIR} (set XLOGREG_DATA_DIR)")


def time_loop(X, Y, solver, iterations, repeats, learning_rate):
    """Best and median seconds per iteration of ``solvers.run``, and the solver it ran."""
    xp = array_namespace(X)
    if not is_dask_array(X):  # a Dask X is a lazy view of host data: nothing to wait for
        _backends.synchronize(X)
        _backends.synchronize(Y)

    def once(n):
        w = xp.zeros((X.shape[0], 1), dtype=X.dtype, device=get_device(X))
        _backends.synchronize(w)
        start = time.perf_counter()
        result = solvers.run(w, 0.0, X, Y, n, learning_rate, solver=solver, record_every=max(n, 1), fused=fused)
        _backends.synchronize(result.w)
        return time.perf_counter() - start, result.solver

    if solver == "auto":  # what solvers.run would pick for this many iterations, for the warm-up too
        itemsize = xp.finfo(X.dtype).bits // 8
        solver = solvers.choose_solver(*X.shape, iterations, itemsize, lazy=is_dask_array(X))
    # The compiled primal pass is what "auto" picks for a training run long enough to pay for loading
    # it (~1 s, once per process); a timing here runs only a few iterations, so it is chosen from X alone.
    fused = True if solver == "primal" and data_compiled.choose_fused(X) else "auto"
    once(min(iterations, 3))  # warm-up: JIT compilation, memory pools, caches
    runs = [once(iterations) for _ in range(repeats)]
    seconds = [t / iterations for t, _ in runs]
    ran = runs[0][1]
    if ran == "primal" and fused is True:
        ran = "primal, compiled"  # xlogreg.data.compiled: one read of X per iteration (numba)
    return min(seconds), statistics.median(seconds), ran


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few iterations: < 1 minute")
    parser.add_argument("--iterations", type=int, help="iterations per timing (default 20, quick 5)")
    parser.add_argument("--repeats", type=int, help="timed repeats (default 3, quick 2)")
    parser.add_argument("--sizes", type=int, nargs="+", help="numbers of synthetic examples")
    parser.add_argument("--backends", nargs="+", help="only these backends (names as in xlogreg.BACKENDS)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out/compare_backends"),
                        help="prefix of the .csv and .png written (default out/compare_backends)")
    args = parser.parse_args(argv)
    iterations = args.iterations or (5 if args.quick else 20)
    repeats = args.repeats or (2 if args.quick else 3)
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)

    run, skipped = targets()
    if args.backends:
        run = [t for t in run if t[1] in args.backends]
    print(f"{len(run)} backend/device pairs to run; {iterations} iterations x {repeats} repeats per timing")
    for label, reason in skipped:
        print(f"skipped {label}: {reason}")
    if not any(label in GPU_BACKENDS or "cuda" in label for label, *_ in run):
        print("no GPU backend ran here: this run has no GPU figure")

    rows = []
    for data_name, X_host, Y_host in datasets(sizes):
        n_x, m = X_host.shape
        course = data_name == "course data"
        # The course data runs the course's 2000 iterations (200 in --quick), so that "auto" picks
        # the solver it picks for the course and the dual's Gram matrix is amortised as in the course.
        n_iter = (200 if args.quick else 2000) if course else iterations
        solvers_to_run = ["auto"] if (args.quick or not course) else ["auto", "primal"]
        for label, backend, dev in run:
            xp = _backends.get_namespace(backend)
            for dtype_name in ("float64", "float32"):
                common = dict(backend=label, dtype=dtype_name, data=data_name, n_x=n_x, m=m, iterations=n_iter)
                if course and args.quick and backend == "dask":
                    rows.append(dict(common, skipped="not in --quick (Dask: ~30 ms per iteration on the "
                                                     "course data here); run without --quick"))
                    continue
                try:
                    dtype = _backends.floating_dtype(xp, dev, dtype_name)
                except ValueError as exc:
                    rows.append(dict(common, skipped=str(exc)))
                    continue
                X = _backends.asarray(X_host, xp, dev, dtype)
                Y = _backends.asarray(Y_host, xp, dev, dtype)
                lr = 0.005 if course else 0.5
                for solver in solvers_to_run:
                    best, median, ran = time_loop(X, Y, solver, n_iter, repeats, lr)
                    rows.append(dict(common, asked=solver, solver=ran, best=best, median=median))
                    print(f"  {label:>22} {dtype_name} {data_name:>24} {solver:>6} -> {ran:<6} "
                          f"{best * 1e3:10.3f} ms/iteration ({n_iter} iterations)")
                del X, Y

    _speedups(rows)
    _table(rows, skipped)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _csv(rows, skipped, args.out.with_suffix(".csv"))
    _plot(rows, args.out.with_suffix(".png"), skipped)
    print(f"\nwrote {args.out.with_suffix('.csv')} and {args.out.with_suffix('.png')}")


def _speedups(rows):
    numpy = {(r["dtype"], r["data"], r["asked"]): r for r in rows if r["backend"] == "numpy" and "best" in r}
    for r in rows:
        base = numpy.get((r["dtype"], r["data"], r.get("asked")))
        if "best" in r and base is not None:
            r["speedup"] = base["best"] / r["best"]


def _table(rows, skipped):
    print("\n| backend | device | dtype | n_x | m | iterations | solver | s/iteration (best) "
          "| s/iteration (median) | speed-up over NumPy |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        backend, _, device = r["backend"].partition(":")
        device = device.replace("array_api_strict.Device('", "").replace("')", "") or "cpu"
        if "skipped" in r:
            print(f"| {backend} | {device} | {r['dtype']} | {r['n_x']} | {r['m']} | - | - "
                  f"| skipped: {r['skipped']} | | |")
            continue
        solver = r["solver"] if r["asked"] == "auto" else f"{r['solver']} (forced)"
        speedup = f"{r['speedup']:.2f}x" if "speedup" in r else "-"
        print(f"| {backend} | {device} | {r['dtype']} | {r['n_x']} | {r['m']} | {r['iterations']} | {solver} "
              f"| {r['best']:.3g} | {r['median']:.3g} | {speedup} |")
    for label, reason in skipped:
        print(f"| {label} | - | - | - | - | - | - | skipped: {reason} | | |")


def _csv(rows, skipped, path):
    fields = ["backend", "dtype", "data", "n_x", "m", "iterations", "asked", "solver", "best", "median", "speedup",
              "skipped"]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r.get(k, "") for k in fields})
        for label, reason in skipped:
            writer.writerow({"backend": label, "skipped": reason})


def _plot(rows, path, skipped=()):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    series = {}
    for r in rows:
        if "best" in r and r["data"].startswith("synthetic"):
            label = r["backend"].replace("array_api_strict.Device('", "").replace("')", "")
            series.setdefault(f"{label} {r['dtype']}", []).append((r["m"], r["best"]))
    for label, points in sorted(series.items()):
        points.sort()
        ax.plot(*zip(*points), marker="o", linestyle="--" if "float32" in label else "-", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"examples m (synthetic, {N_FEATURES} features)")
    ax.set_ylabel("seconds per iteration (best of the repeats)")
    ax.set_title("xlogreg gradient descent, measured on this machine")
    if skipped:
        ax.text(0.99, 0.01, "not measured: " + ", ".join(label for label, _ in skipped), fontsize=7,
                transform=ax.transAxes, ha="right", va="bottom")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
