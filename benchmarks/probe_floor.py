"""The 1,000-class probe on this CPU: where its time goes, and the floor that sets for a fit to ``tol``.

    python benchmarks/probe_floor.py                 # ~2 minutes on 2 cores
    python benchmarks/probe_floor.py --json out.json

Issue 27 asks xlogreg's default to fit ``bench_workloads``' probe (20,000 x 256 float32 embeddings in
1,000 classes, C = 1) 3x faster than scikit-learn's default, at least as close to the optimum. This
script measures the three numbers that bound what any L-BFGS-like method can do here:

1. **The products.** Each evaluation of J and its gradient is two products over X,
   ``X W`` (20,000 x 256 times 256 x 1,000) and ``X.T R`` (256 x 20,000 times 20,000 x 1,000), 10.24
   GFLOP each; they are timed alone in NumPy (best of 7, each after ``bench_core.SETTLE_S`` idle),
   beside a square 2,048 product as the BLAS's peak on this machine.
2. **The iterations.** xlogreg's default fitted with ``max_iter = 1, 2, ...`` up to its own stop, and
   scikit-learn's with ``max_iter = 1, 2, ...`` up to its own (each fit from the start, best of
   ``--repeats``): the objective gap after each iteration, the evaluations of J xlogreg made (counted),
   and the time.
3. **The floor.** The evaluations of xlogreg's default fit times the two products' time: what the fit
   would cost if everything but the BLAS were free, against a third of scikit-learn's time.

The gap is ``J - J*`` with J as ``bench_workloads.objective`` (float64 NumPy) and ``J*`` from a fit of
xlogreg's L-BFGS in float64 at ``tol=1e-9``. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_core import machine, side_by_side  # noqa: E402
from bench_workloads import SIZES, gaussian_clusters, objective  # noqa: E402

import xlogreg  # noqa: E402
from xlogreg import _loss  # noqa: E402


def best_of(f, repeats):
    """The least of `repeats` timings of f after one warm-up call (bench_core.side_by_side: each after a
    settle)."""
    return min(side_by_side({"f": f}, repeats)["f"])


def products(m, n, K, repeats=7):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((m, n), dtype=np.float32)
    W = rng.standard_normal((n, K), dtype=np.float32)
    R = rng.standard_normal((m, K), dtype=np.float32)
    A = rng.standard_normal((2048, 2048), dtype=np.float32)
    flop = 2 * m * n * K
    rows = {"X W": (best_of(lambda: X @ W, repeats), flop), "X.T R": (best_of(lambda: X.T @ R, repeats), flop),
            "square 2048": (best_of(lambda: A @ A, repeats), 2 * 2048 ** 3)}
    return {k: {"seconds": s, "gflop_per_s": f / s / 1e9} for k, (s, f) in rows.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    warnings.simplefilter("ignore")
    m, n, K = SIZES["probe_1000"][0]
    X, y = gaussian_clusters(m, n, K, seed=2)
    blas = products(m, n, K)
    for name, row in blas.items():
        print(f"{name:12s} {row['seconds'] * 1e3:7.1f} ms  {row['gflop_per_s']:6.1f} GFLOP/s", flush=True)
    two_products = blas["X W"]["seconds"] + blas["X.T R"]["seconds"]

    ref = xlogreg.LogisticRegression(solver="lbfgs", tol=1e-9, max_iter=5000).fit(X.astype(np.float64), y)
    J_star = objective(X, y, ref.coef_, ref.intercept_, 1.0)
    print(f"J* = {J_star:.12g} (xlogreg lbfgs, float64, tol=1e-9)", flush=True)

    calls = [0]
    real = _loss.LogisticLoss.value_and_gradient

    def counted(self, *a, **k):
        calls[0] += 1
        return real(self, *a, **k)

    _loss.LogisticLoss.value_and_gradient = counted
    xlogreg.LogisticRegression().fit(X, y)  # warm-up: the compiled kernels loaded, as in bench_workloads
    rows = {"xlogreg": [], "sklearn": []}
    for library, make in (("xlogreg", xlogreg.LogisticRegression), ("sklearn", SkLogisticRegression)):
        i, last = 0, None
        while True:
            i += 1
            fitted = {}

            def fit(i=i):
                calls[0] = 0
                fitted["est"] = make(max_iter=i).fit(X, y)
                fitted["evals"] = calls[0]

            seconds = best_of(fit, args.repeats) if i > 0 else 0.0
            est = fitted["est"]
            iterations = int(np.max(est.n_iter_))
            if iterations == last:  # stopped on its own before max_iter
                break
            gap = objective(X, y, est.coef_, est.intercept_, 1.0) - J_star
            row = {"max_iter": i, "iterations": iterations, "seconds": seconds, "gap": gap}
            if library == "xlogreg":
                row["evaluations"] = fitted["evals"]
            rows[library].append(row)
            print(f"{library:8s} iterations {iterations:3d}  {seconds:6.2f} s  gap {gap:.2e}"
                  + (f"  evaluations {row['evaluations']}" if library == "xlogreg" else ""), flush=True)
            last = iterations
    _loss.LogisticLoss.value_and_gradient = real
    ours, theirs = rows["xlogreg"][-1], rows["sklearn"][-1]
    floor = ours["evaluations"] * two_products
    to_their_gap = next(r for r in rows["xlogreg"] if r["gap"] <= theirs["gap"])
    summary = {
        "two_products_s": two_products, "xlogreg_default_s": ours["seconds"], "xlogreg_evaluations": ours["evaluations"],
        "xlogreg_gap": ours["gap"], "sklearn_default_s": theirs["seconds"], "sklearn_gap": theirs["gap"],
        "floor_s": floor, "three_x_target_s": theirs["seconds"] / 3,
        "xlogreg_to_sklearn_gap": to_their_gap,
    }
    print(f"\nxlogreg's default: {ours['iterations']} iterations, {ours['evaluations']} evaluations, "
          f"{ours['seconds']:.2f} s, gap {ours['gap']:.1e}; scikit-learn's: {theirs['iterations']} iterations, "
          f"{theirs['seconds']:.2f} s, gap {theirs['gap']:.1e}")
    print(f"floor of xlogreg's fit (its evaluations x the two products, {two_products * 1e3:.0f} ms): {floor:.2f} s; "
          f"3x scikit-learn's time: {theirs['seconds'] / 3:.2f} s")
    print(f"xlogreg to scikit-learn's gap: {to_their_gap['iterations']} iterations, "
          f"{to_their_gap['evaluations']} evaluations, {to_their_gap['seconds']:.2f} s "
          f"({theirs['seconds'] / to_their_gap['seconds']:.2f}x)")
    if args.json:
        command = " ".join(["python", "benchmarks/probe_floor.py", *(argv if argv is not None else sys.argv[1:])])
        args.json.write_text(json.dumps({"machine": machine(), "command": command, "blas": blas, "rows": rows,
                                         "summary": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
