"""The course's vectorization demonstration, on every available backend.

    python scripts/vectorization_demo.py             # ~30 seconds on 2 cores
    python scripts/vectorization_demo.py --n 100000  # a shorter dot product

1. The dot product of two vectors of 1,000,000 elements: a Python ``for`` loop
   over the elements (on Python lists, as in the course) against one
   vectorized call (``x1 @ x2``) on each backend and device.
2. One iteration of the course's logistic regression (forward pass, cost,
   gradients, update) with explicit Python loops over the examples and the
   features, against the vectorized primal iteration of xlogreg on each backend
   (the same algorithm; the dual solver would be a different one), on the
   course data (12288 features, 209 examples) when it is there, synthetic data
   of that shape otherwise. The loop's weights are checked against the
   vectorized ones.

Each vectorized timing follows a warm-up call and synchronises the device
before and after (``xlogreg._backends.synchronize``). GPU backends that cannot
run here are listed as skipped with the reason: no figure is made up.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import statistics
import time

import numpy as np
from array_api_compat import device as get_device

try:  # float64 on JAX
    import jax

    jax.config.update("jax_enable_x64", True)
except ImportError:
    pass

import xlogreg
from xlogreg import _backends, solvers

DATA_DIR = pathlib.Path(os.environ.get("XLOGREG_DATA_DIR",
                                       pathlib.Path(__file__).resolve().parents[2] / "shared" / "datasets"))


def targets():
    """(label, backend, device) that can run here, and (label, reason) for those that cannot."""
    run, skipped = [], []
    for name, info in _backends.available_backends().items():
        if not info.available:
            skipped.append((name, info.reason))
            continue
        devices = _backends._devices(name, _backends._import(name))
        if name == "array_api_strict":
            devices = devices[:1]
        run += [(name if name in ("numpy", "dask") else f"{name}:{d}", name, d) for d in devices]
        if name == "torch" and not any(getattr(d, "type", "") == "cuda" for d in devices):
            skipped.append(("torch-cuda", "no CUDA GPU visible to torch"))
    return run, skipped


def best_of(f, repeats, sync=None):
    """Best and median seconds of f() over `repeats` calls after one warm-up call."""
    out = f()
    if sync:
        sync(out)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = f()
        if sync:
            sync(out)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


# --- 1. dot product ------------------------------------------------------------------------------

def loop_dot(x1, x2):
    """The course's classic dot product, one element at a time."""
    dot = 0.0
    for i in range(len(x1)):
        dot += x1[i] * x2[i]
    return dot


# --- 2. logistic regression with explicit loops --------------------------------------------------

def loop_iteration(w, b, X, Y, learning_rate):
    """One gradient-descent iteration with Python loops over examples (j) and features (i).

    X is a list of m examples, each a list of n_x features; w a list of n_x floats.
    """
    n_x, m = len(w), len(X)
    dw, db, cost = [0.0] * n_x, 0.0, 0.0
    for j in range(m):
        z = b
        for i in range(n_x):
            z += w[i] * X[j][i]
        a = 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))
        cost += -(Y[j] * math.log(a) + (1 - Y[j]) * math.log(1 - a)) if 0 < a < 1 else 0.0
        dz = a - Y[j]
        for i in range(n_x):
            dw[i] += X[j][i] * dz
        db += dz
    w = [w[i] - learning_rate * dw[i] / m for i in range(n_x)]
    return w, b - learning_rate * db / m, cost / m


def course_or_synthetic():
    train, test = DATA_DIR / "train_catvnoncat.h5", DATA_DIR / "test_catvnoncat.h5"
    if train.is_file() and test.is_file():
        train_x, train_y, *_ = xlogreg.load_dataset(train, test)
        return "course data", xlogreg.flatten_images(train_x), train_y.astype(np.float64)
    rng = np.random.default_rng(0)
    X = rng.random((12288, 209))
    return "synthetic data (course data not found)", X, (rng.random((1, 209)) > 0.5).astype(np.float64)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="vector length for the dot product")
    parser.add_argument("--loop-iterations", type=int, default=1, help="iterations of the explicit loops")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of each vectorized call")
    args = parser.parse_args(argv)
    run, skipped = targets()
    for label, reason in skipped:
        print(f"skipped {label}: {reason}")
    if not any("cuda" in label or label.startswith("cupy") for label, *_ in run):
        print("no GPU backend ran here: every figure below is from the CPU")

    # 1. dot product
    rng = np.random.default_rng(0)
    x1, x2 = rng.random(args.n), rng.random(args.n)
    l1, l2 = x1.tolist(), x2.tolist()
    start = time.perf_counter()
    dot = loop_dot(l1, l2)
    loop_s = time.perf_counter() - start
    print(f"\n1. dot product of two vectors of {args.n:,} float64 elements")
    print("| backend | device | seconds (best) | speed-up over the Python loop | relative difference from the loop |")
    print("|---|---|---|---|---|")
    print(f"| Python loop (lists) | cpu | {loop_s:.4g} | 1 | 0 |")
    for label, backend, dev in run:
        xp = _backends.get_namespace(backend)
        a = _backends.asarray(x1, xp, dev)
        b = _backends.asarray(x2, xp, dev)
        best, _ = best_of(lambda: a @ b, args.repeats, _backends.synchronize)
        err = abs(float(a @ b) - dot) / abs(dot)
        name, _, device = label.partition(":")
        device = device.replace("array_api_strict.Device('", "").replace("')", "")
        print(f"| {name} | {device or 'cpu'} | {best:.3g} | {loop_s / best:,.0f}x | {err:.1e} |")

    # 2. logistic regression iteration
    data_name, X, Y = course_or_synthetic()
    n_x, m = X.shape
    lr = 0.005
    X_rows, Y_list = X.T.tolist(), Y.ravel().tolist()
    w_loop, b_loop = [0.0] * n_x, 0.0
    start = time.perf_counter()
    for _ in range(args.loop_iterations):
        w_loop, b_loop, _cost = loop_iteration(w_loop, b_loop, X_rows, Y_list, lr)
    loop_s = (time.perf_counter() - start) / args.loop_iterations
    print(f"\n2. one iteration of logistic regression on the {data_name} ({n_x} features x {m} examples)")
    print("| backend | device | seconds per iteration (best) | speed-up over the explicit loops "
          "| max. difference of w from the loops' (relative) |")
    print("|---|---|---|---|---|")
    print(f"| explicit Python loops | cpu | {loop_s:.4g} | 1 | 0 |")
    iterations = 20
    for label, backend, dev in run:
        xp = _backends.get_namespace(backend)
        Xb = _backends.asarray(X, xp, dev)
        Yb = _backends.asarray(Y, xp, dev)

        def vectorized(k):
            w = xp.zeros((n_x, 1), dtype=Xb.dtype, device=get_device(Xb))
            return solvers.run(w, 0.0, Xb, Yb, k, lr, solver="primal", record_every=k + 1).w

        best, _ = best_of(lambda: vectorized(iterations), max(1, args.repeats // 2), _backends.synchronize)
        w_vec = _backends.to_numpy(vectorized(args.loop_iterations)).ravel()
        err = np.max(np.abs(w_vec - np.asarray(w_loop))) / np.max(np.abs(w_loop))
        name, _, device = label.partition(":")
        device = device.replace("array_api_strict.Device('", "").replace("')", "")
        per_iteration = best / iterations
        print(f"| {name} | {device or 'cpu'} | {per_iteration:.3g} | {loop_s / per_iteration:,.0f}x | {err:.1e} |")


if __name__ == "__main__":
    main()
