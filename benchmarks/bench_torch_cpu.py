"""torch CPU tensors against NumPy arrays: the products of a fit, and whole fits (issue 27).

    python benchmarks/bench_torch_cpu.py            # 160,000 x 512, 10 classes (about two minutes)
    python benchmarks/bench_torch_cpu.py --quick    # 20,000 x 64: a smoke run

Part 1 times the matrix products a fit asks for (``X.T @ R``, ``X @ W`` and the
features-by-examples layouts xlogreg keeps internally) on the same data as NumPy
arrays and as torch tensors sharing their memory (``torch.from_numpy``), float32
and float64. Part 2 fits ``xlogreg.LogisticRegression(C=C)`` at its defaults on
the embeddings of ``bench_workloads.py`` given as NumPy, torch float32 and torch
float64. Best of the repeats after a warm-up. It prints the BLAS each library
uses (torch's CPU wheels bring MKL, NumPy's OpenBLAS): where they differ, the
products differ by CPU vendor.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_core import machine  # noqa: E402
from bench_workloads import gaussian_clusters  # noqa: E402

import xlogreg  # noqa: E402


def best(f, repeats):
    f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def products(m, n, K, repeats):
    import torch

    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        X = rng.standard_normal((m, n)).astype(dtype)
        R = rng.standard_normal((m, K)).astype(dtype)
        W = rng.standard_normal((n, K)).astype(dtype)
        XT, RT = np.ascontiguousarray(X.T), np.ascontiguousarray(R.T)
        t = {name: torch.from_numpy(a) for name, a in dict(X=X, R=R, W=W, XT=XT, RT=RT).items()}
        cases = {
            "X.T @ R": (lambda: X.T @ R, lambda: t["X"].T @ t["R"]),
            "X @ W": (lambda: X @ W, lambda: t["X"] @ t["W"]),
            "XT @ R   (features x examples)": (lambda: XT @ R, lambda: t["XT"] @ t["R"]),
            "W.T @ XT (features x examples)": (lambda: W.T @ XT, lambda: t["W"].T @ t["XT"]),
            "XT @ RT.T (features x examples)": (lambda: XT @ RT.T, lambda: t["XT"] @ t["RT"].T),
        }
        for name, (ours, theirs) in cases.items():
            a, b = best(ours, repeats), best(theirs, repeats)
            print(f"{np.dtype(dtype).name:8s} {name:34s} numpy {a * 1e3:8.1f} ms  torch {b * 1e3:8.1f} ms  "
                  f"torch / numpy {b / a:5.2f}", flush=True)


def fits(m, n, K, repeats):
    import torch

    X, y = gaussian_clusters(m, n, K, 0)
    inputs = {"numpy float32": (X, y), "torch float32": (torch.from_numpy(X), torch.from_numpy(y)),
              "torch float64": (torch.from_numpy(X).double(), torch.from_numpy(y))}
    for C in (1.0, 0.1):
        for name, (A, b) in inputs.items():
            est = xlogreg.LogisticRegression(C=C)
            seconds = best(lambda: est.fit(A, b), repeats)
            print(f"fit C={C:<4g} {name:14s} {seconds:7.2f} s  n_iter {int(est.n_iter_[0])}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import torch

    m, n, K = (20_000, 64, 10) if args.quick else (160_000, 512, 10)
    info = machine()
    print(f"# python {' '.join(['benchmarks/bench_torch_cpu.py', *sys.argv[1:]])}   ({info['date']})")
    print(f"# machine: {info['cpu']}, {info['cores']} cores; numpy BLAS {info['blas']}; torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, MKL {torch.backends.mkl.is_available()}")
    products(m, n, K, args.repeats)
    fits(m, n, K, 1 if args.quick else 2)


if __name__ == "__main__":
    main()
