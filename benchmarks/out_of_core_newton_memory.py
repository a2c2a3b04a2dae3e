"""Peak resident memory of Newton-CG, Newton-Cholesky and L-BFGS fits on a Dask X read out of core from HDF5.

    python benchmarks/out_of_core_newton_memory.py                 # 500,000 x 512 float32 (1.0 GiB file)
    python benchmarks/out_of_core_newton_memory.py --examples 50000 --max-iter 1     # a quick look
    python benchmarks/out_of_core_newton_memory.py --xlogreg /path/to/other/checkout  # another version

A seeded float32 HDF5 file (dataset ``X`` of shape (m, n_x), HDF5-chunked by
``--chunk`` examples, and labels ``y`` from a logistic model) is written to a
temporary directory, chunk by chunk, and deleted at the end. Each solver
then fits ``xlogreg.LogisticRegression(solver=..., C=1, max_iter=...)`` in a
child process on ``dask.array.from_array`` of that dataset (each task reads
its chunk from the file), and the child reports its peak resident memory
(the kernel's ``VmHWM`` of the child) and its resident memory just before the fit (imports,
labels). A fit that holds X in memory shows a peak near the file's size; a
fit that streams X shows a few chunks per thread. ``primal`` (gradient
descent through ``xlogreg.train``) is the streaming yardstick. Nothing is
timed; the fits stop after ``--max-iter`` iterations (peak memory is reached
in the first ones).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, warnings
spec = json.loads(sys.argv[1])
import h5py
import numpy as np
import dask.array as da
import xlogreg

def peak():
    # VmHWM: this process image's own peak (ru_maxrss would carry over the parent's from before the exec)
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) * 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

handle = h5py.File(spec["path"], "r")
y = handle["y"][...]
X = da.from_array(handle["X"], chunks=(spec["chunk"], -1))
before = peak()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    if spec["solver"] == "primal":
        model = xlogreg.train(X.T, y[None, :].astype(np.float32), backend="dask", solver="primal",
                              num_iterations=spec["max_iter"], learning_rate=0.1)
    else:
        model = xlogreg.LogisticRegression(solver=spec["solver"], C=1.0, max_iter=spec["max_iter"]).fit(X, y)
print("RESULT " + json.dumps({"peak_rss": peak(), "rss_before_fit": before, "xlogreg": xlogreg.__file__}))
"""


def write_file(path, m, n_x, chunk, seed=0):
    """The seeded float32 file, written chunk by chunk; returns its size in bytes."""
    import h5py

    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n_x).astype(np.float32) / np.sqrt(n_x)
    with h5py.File(path, "w") as f:
        X = f.create_dataset("X", shape=(m, n_x), dtype=np.float32, chunks=(min(chunk, m), n_x))
        y = f.create_dataset("y", shape=(m,), dtype=np.float64)
        for start in range(0, m, chunk):
            block = rng.standard_normal((min(chunk, m - start), n_x), dtype=np.float32)
            X[start:start + block.shape[0]] = block
            y[start:start + block.shape[0]] = rng.random(block.shape[0]) < 1 / (1 + np.exp(-(block @ w)))
    return path.stat().st_size


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=500_000)
    parser.add_argument("--features", type=int, default=512)
    parser.add_argument("--chunk", type=int, default=25_000)
    parser.add_argument("--max-iter", type=int, default=3)
    parser.add_argument("--solvers", default="primal,newton-cg,newton-cholesky,lbfgs")
    parser.add_argument("--xlogreg", default=str(ROOT), help="the checkout the children import xlogreg from")
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="xlogreg-newton-memory-", dir="/tmp") as directory:
        path = pathlib.Path(directory) / "X.h5"
        size = write_file(path, args.examples, args.features, args.chunk)
        print(f"file {size / 2**30:.2f} GiB ({args.examples} x {args.features} float32, chunks of {args.chunk}); "
              f"xlogreg from {args.xlogreg}; max_iter={args.max_iter}")
        env = {**os.environ, "PYTHONPATH": args.xlogreg}
        for solver in args.solvers.split(","):
            spec = {"path": str(path), "chunk": args.chunk, "solver": solver, "max_iter": args.max_iter}
            try:
                done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True,
                                      text=True, env=env, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                print(f"{solver:<16} did not finish within {args.timeout:g} s")
                rows.append({"solver": solver, "error": "timeout"})
                continue
            if "RESULT " not in done.stdout:
                print(f"{solver:<16} failed: {done.stderr.strip().splitlines()[-1:]}")
                rows.append({"solver": solver, "error": done.stderr[-2000:]})
                continue
            result = json.loads(done.stdout.split("RESULT ", 1)[1].splitlines()[0])
            rows.append({"solver": solver, **result})
            print(f"{solver:<16} peak {result['peak_rss'] / 1e6:7.0f} MB  (before the fit "
                  f"{result['rss_before_fit'] / 1e6:5.0f} MB)")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"command": " ".join(sys.argv), "file_bytes": size,
                                                       "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
