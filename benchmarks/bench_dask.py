"""Seconds per iteration: NumPy in memory vs Dask in memory vs Dask out of core from HDF5.

    python benchmarks/bench_dask.py                        # 0.5 GiB of pixels, X of 4 GiB: ~5 minutes
    python benchmarks/bench_dask.py --examples 87382       # 1 GiB of pixels, X of 8 GiB
    python benchmarks/bench_dask.py --json out.json        # the results elsewhere

The results (machine, command, load, every per-iteration time) are written to
``benchmarks/results/bench_dask.json`` unless ``--json`` names another file
(``--json ''``: none).

One synthetic course-format file (``scripts/make_dataset.py``: 64 x 64 x 3
uint8 images) is written to a temporary directory. The same primal gradient
descent then runs on three inputs, interleaved round by round so that a slow
spell of the machine hits all three:

* **numpy**: X = pixels / 255 held in memory as NumPy float64 (Fortran order,
  as ``flatten_images`` makes it), the plain in-memory path;
* **dask in memory**: the same NumPy X wrapped as a Dask array (chunks of the
  default size, threaded scheduler);
* **dask out of core**: ``xlogreg.datasets.open_lazy`` on the file: every
  iteration reads the file chunk by chunk, flattens and scales each chunk,
  and forgets it.

Each contender runs ``--iterations`` iterations per round through
``xlogreg.solvers.run`` (the loop ``xlogreg.train`` uses, without its entry
checks and accuracy pass), and the time between consecutive iterations is
recorded through its callback. Reported: the median and minimum seconds per
iteration and their ratios to NumPy. Not a test: nothing here asserts.

Measured with ``python benchmarks/bench_dask.py`` (2026-11-22, before it wrote a
results file: these two runs have no raw file and are to be re-run) on an AMD EPYC
virtual machine with 2 usable cores, 23.5 GiB of memory, OpenBLAS 0.3.31
(scipy-openblas, 2 threads), Python 3.11.7, NumPy 2.4.6, Dask 2026.8.0, h5py
3.16.0. Data: 43690 examples of 64x64x3 (12288 features), a 0.50 GiB file,
X of 4.00 GiB in float64; chunks of 682 examples in memory (65 chunks), 1365
out of core (33 chunks). The machine was shared with other work; two runs,
seconds per iteration, median of 9 (minimum):

    run (load average)        numpy          dask in memory        dask out of core
    1 (1.4 -> 1.5)            0.261 (0.191)  0.413 (0.354) 1.58x   0.929 (0.799) 3.56x
    2 (3.0 -> 4.3)            0.705 (0.647)  1.269 (0.771) 1.80x   3.073 (2.124) 4.36x

Out of core, each iteration reads the 0.5 GiB file (from the page cache here:
the machine has the memory to keep it) and turns it into 4 GiB of floats
again; that extra work per iteration is the gap to the in-memory run. A file
that is not cached adds its read time from disk.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import make_dataset  # noqa: E402

import xlogreg  # noqa: E402
from xlogreg import _backends, _machine, datasets, solvers  # noqa: E402
from xlogreg.core import zeros_like_params  # noqa: E402


def machine():
    """What the numbers depend on: CPU, cores, memory, disk, versions, load."""
    cpu, cores = _machine.cpu_name(), _machine.usable_cores()  # as the tuning reads them
    versions = {"python": platform.python_version(), "xlogreg": xlogreg.__version__}
    for name in ("numpy", "dask", "h5py", "distributed"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    blas = ""
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{i['internal_api']} {i.get('version') or ''} ({i['num_threads']} threads)"
                         for i in threadpool_info())
    except ImportError:
        pass
    return {
        "cpu": cpu, "usable_cores": cores,
        "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(), "blas": blas, "versions": versions,
    }


def per_iteration_times(X, Y, iterations, learning_rate=0.005):
    """Seconds between consecutive iterations of the primal loop on (X, Y)."""
    stamps = []
    w, b = zeros_like_params(X)
    start = time.perf_counter()
    solvers.run(w, b, X, Y, iterations, learning_rate, solver="primal", record_every=iterations,
                callback=lambda i, cost: stamps.append(time.perf_counter()))
    return list(np.diff([start, *stamps]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=43690, help="m (default 43690: 0.5 GiB of pixels)")
    parser.add_argument("--size", type=int, default=64, help="images are SIZE x SIZE x 3 (default 64)")
    parser.add_argument("--iterations", type=int, default=3, help="iterations per contender per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", help="where to write the data file (default: a temporary directory)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "bench_dask.json"),
                        help="write the results to this JSON file (default: benchmarks/results/bench_dask.json; "
                             "'' for none)")
    args = parser.parse_args(argv)

    info = {"machine": machine(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *sys.argv[1:]]),
            "load_average_start": os.getloadavg()}
    for key, value in info["machine"].items():
        print(f"{key}: {value}")
    print(f"load average at start: {info['load_average_start']}")

    directory = pathlib.Path(args.dir or tempfile.mkdtemp(prefix="xlogreg-bench-"))
    path = directory / "bench.h5"
    shape = (args.size, args.size, 3)
    try:
        t = time.perf_counter()
        make_dataset.write(path, args.examples, shape, seed=0)
        n_x = int(np.prod(shape))
        file_gib = path.stat().st_size / 2**30
        x_gib = n_x * args.examples * 8 / 2**30
        print(f"data: {args.examples} examples of {'x'.join(map(str, shape))} ({n_x} features); "
              f"file {file_gib:.2f} GiB; X in float64 {x_gib:.2f} GiB (written in {time.perf_counter() - t:.0f} s)")

        import dask
        import dask.array as da

        X_lazy, Y_lazy, _ = datasets.open_lazy(path)
        Y_lazy = Y_lazy.astype(np.float64)
        # The in-memory X, filled chunk by chunk (flatten_images would hold two copies at once).
        t = time.perf_counter()
        X = np.empty(X_lazy.shape, dtype=np.float64, order="F")
        da.store(X_lazy, X, lock=False)
        Y = np.asarray(Y_lazy.compute())
        xp = _backends.get_namespace("dask")
        X_dask, Y_dask = _backends.asarray(X, xp, "cpu"), _backends.asarray(Y, xp, "cpu")
        print(f"loaded X into memory in {time.perf_counter() - t:.0f} s; chunks: in memory "
              f"{X_dask.chunksize[1]} examples ({X_dask.numblocks[1]} chunks), out of core "
              f"{X_lazy.chunksize[1]} examples ({X_lazy.numblocks[1]} chunks)")

        contenders = {"numpy": (X, Y), "dask in memory": (X_dask, Y_dask), "dask out of core": (X_lazy, Y_lazy)}
        times = {name: [] for name in contenders}
        with dask.config.set(scheduler="threads"):
            for name, (A, B) in contenders.items():  # warm-up: imports, caches, the file in the page cache
                per_iteration_times(A, B, 1)
            for r in range(args.rounds):
                for name, (A, B) in contenders.items():
                    got = per_iteration_times(A, B, args.iterations)
                    times[name] += got
                    print(f"round {r + 1}: {name:17s} " + " ".join(f"{s:.2f}" for s in got) + " s/iteration",
                          flush=True)
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)

    info["load_average_end"] = os.getloadavg()
    base = statistics.median(times["numpy"])
    results = {}
    print(f"\nseconds per iteration ({args.rounds} rounds x {args.iterations} iterations; load average at end "
          f"{info['load_average_end']}):")
    print(f"{'':18s} {'median':>8s} {'min':>8s} {'vs numpy':>9s}")
    for name, values in times.items():
        median = statistics.median(values)
        results[name] = {"median_s": median, "min_s": min(values), "ratio_to_numpy": median / base,
                         "all_s": values}
        print(f"{name:18s} {median:8.3f} {min(values):8.3f} {median / base:8.2f}x")
    print(f"\nreproduce: {info['command']}")
    info.update(data={"examples": args.examples, "image_shape": shape, "file_gib": file_gib,
                      "x_float64_gib": x_gib},
                results=results)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(info, indent=2) + "\n")


if __name__ == "__main__":
    main()
