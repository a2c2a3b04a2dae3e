"""The course's vectorization demonstration, on every available backend.

    python scripts/vectorization_demo.py             # ~30 seconds on 2 cores
    python scripts/vectorization_demo.py --n 100000  # a shorter dot product
    python scripts/vectorization_demo.py --n 1000 --synthetic 50,20 --repeats 1 --iterations 2  # a check that it runs

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

Threads, and a fair comparison. The Python loop runs on one core, so the
course's comparison is with one thread on each side: every vectorized call is
timed twice, once with its thread pools limited to one thread (threadpoolctl:
BLAS, and OpenMP where the library uses it; PyTorch's intra-op pool with
``torch.set_num_threads(1)``; JAX's XLA pool and Dask's scheduler threads
are not limited by either) and
once with the default threads, and both are reported. On a small job the
second can be the slower: a 1,000,000-element dot product is about a
millisecond of work, and OpenBLAS wakes, feeds and joins a thread per core
for it; on a machine whose cores are busy with other work a thread may also
wait for a core, and the whole call waits for its slowest thread (measured on
a shared 2-core VM: 0.54 ms with one thread, 7.4 ms with two). Threads pay on
bigger products (section 2's matrix products), on a quiet machine. Without
threadpoolctl (``pip install threadpoolctl``; it comes with scikit-learn) the
one-thread column is left out, and the script says so.
"""

from __future__ import annotations

import argparse
import contextlib
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


def one_thread(backend):
    """A context that runs `backend`'s vectorized calls on one thread, or None where it cannot."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None

    @contextlib.contextmanager
    def limited():
        torch = None
        if backend == "torch":
            import torch
        before = torch.get_num_threads() if torch is not None else None
        with threadpool_limits(limits=1):
            if torch is not None:
                torch.set_num_threads(1)
            try:
                yield
            finally:
                if torch is not None:
                    torch.set_num_threads(before)

    return limited


def timed_both_ways(f, repeats, backend, sync=None):
    """Best seconds of f() with one thread (None where that cannot be set) and with the default threads."""
    limited = one_thread(backend)
    single = None
    if limited is not None:
        with limited():
            single, _ = best_of(f, repeats, sync)
    default, _ = best_of(f, repeats, sync)
    return single, default


def _cells(loop_s, seconds):
    """'seconds | speed-up' table cells, or dashes when not measured."""
    if seconds is None:
        return "- | -"
    ratio = loop_s / seconds
    return f"{seconds:.3g} | " + (f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2g}x")


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


def course_or_synthetic(shape=None):
    train, test = DATA_DIR / "train_catvnoncat.h5", DATA_DIR / "test_catvnoncat.h5"
    if shape is None and train.is_file() and test.is_file():
        train_x, train_y, *_ = xlogreg.load_dataset(train, test)
        return "course data", xlogreg.flatten_images(train_x), train_y.astype(np.float64)
    n_x, m = (int(k) for k in shape.split(",")) if shape else (12288, 209)
    rng = np.random.default_rng(0)
    X = rng.random((n_x, m))
    why = "as asked" if shape else "course data not found"
    return f"synthetic data ({why})", X, (rng.random((1, m)) > 0.5).astype(np.float64)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="vector length for the dot product")
    parser.add_argument("--loop-iterations", type=int, default=1, help="iterations of the explicit loops")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of each vectorized call")
    parser.add_argument("--iterations", type=int, default=20,
                        help="vectorized iterations per timing of section 2 (default: 20)")
    parser.add_argument("--synthetic", metavar="N_X,M", help="section 2 on synthetic data of this shape "
                        "instead of the course data (e.g. 100,50 for a quick check)")
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
    if one_thread("numpy") is None:
        print("threadpoolctl is not installed: the one-thread columns are not measured (pip install threadpoolctl)")
    print("| backend | device | one thread: seconds (best) | speed-up over the Python loop "
          "| default threads: seconds (best) | speed-up | relative difference from the loop |")
    print("|---|---|---|---|---|---|---|")
    print(f"| Python loop (lists, one core) | cpu | {loop_s:.4g} | 1 | | | 0 |")
    numpy_times = None
    for label, backend, dev in run:
        xp = _backends.get_namespace(backend)
        a = _backends.asarray(x1, xp, dev)
        b = _backends.asarray(x2, xp, dev)
        single, default = timed_both_ways(lambda: a @ b, args.repeats, backend, _backends.synchronize)
        if backend == "numpy":
            numpy_times = single, default
        err = abs(float(a @ b) - dot) / abs(dot)
        name, _, device = label.partition(":")
        device = device.replace("array_api_strict.Device('", "").replace("')", "")
        print(f"| {name} | {device or 'cpu'} | {_cells(loop_s, single)} | {_cells(loop_s, default)} | {err:.1e} |")
    explain_threads(numpy_times, args.n)

    # 2. logistic regression iteration
    data_name, X, Y = course_or_synthetic(args.synthetic)
    n_x, m = X.shape
    lr = 0.005
    X_rows, Y_list = X.T.tolist(), Y.ravel().tolist()
    w_loop, b_loop = [0.0] * n_x, 0.0
    start = time.perf_counter()
    for _ in range(args.loop_iterations):
        w_loop, b_loop, _cost = loop_iteration(w_loop, b_loop, X_rows, Y_list, lr)
    loop_s = (time.perf_counter() - start) / args.loop_iterations
    print(f"\n2. one iteration of logistic regression on the {data_name} ({n_x} features x {m} examples)")
    print("| backend | device | one thread: seconds per iteration (best) | speed-up over the explicit loops "
          "| default threads: seconds per iteration (best) | speed-up "
          "| max. difference of w from the loops' (relative) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| explicit Python loops (one core) | cpu | {loop_s:.4g} | 1 | | | 0 |")
    for label, backend, dev in run:
        xp = _backends.get_namespace(backend)
        Xb = _backends.asarray(X, xp, dev)
        Yb = _backends.asarray(Y, xp, dev)

        def vectorized(k):
            w = xp.zeros((n_x, 1), dtype=Xb.dtype, device=get_device(Xb))
            return solvers.run(w, 0.0, Xb, Yb, k, lr, solver="primal", record_every=k + 1).w

        single, default = timed_both_ways(lambda: vectorized(args.iterations), max(1, args.repeats // 2),
                                          backend, _backends.synchronize)
        w_vec = _backends.to_numpy(vectorized(args.loop_iterations)).ravel()
        err = np.max(np.abs(w_vec - np.asarray(w_loop))) / np.max(np.abs(w_loop))
        name, _, device = label.partition(":")
        device = device.replace("array_api_strict.Device('", "").replace("')", "")
        per = [None if t is None else t / args.iterations for t in (single, default)]
        print(f"| {name} | {device or 'cpu'} | {_cells(loop_s, per[0])} | {_cells(loop_s, per[1])} | {err:.1e} |")


def explain_threads(numpy_times, n):
    """Say in words what the two NumPy columns of the dot product show."""
    if numpy_times is None or numpy_times[0] is None:
        return
    single, default = numpy_times
    threads = _blas_threads()
    print(f"\nThe Python loop runs on one core: with one thread, NumPy's dot product is the course's "
          f"comparison. With the default threads ({threads or 'several'}), it took {default / single:.2g}x "
          "the one-thread time.")
    if default > single:
        print(f"For {n:,} elements (about {2 * n * 8 / 2**20:.0f} MiB read, a millisecond of work), waking, "
              "feeding and joining a BLAS thread per core costs more than it saves, and on a machine whose "
              "cores are busy a thread can wait for one: the call waits for its slowest thread. Threads pay "
              "on bigger jobs (section 2), on a quiet machine.")


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return max(counts) if counts else None


if __name__ == "__main__":
    main()
