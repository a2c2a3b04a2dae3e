"""The loss object's softmax value and gradient: the compiled one-read pass against the Array API one.

    python benchmarks/bench_fused_softmax.py                 # ~4 minutes on 2 cores
    python benchmarks/bench_fused_softmax.py --json out.json

The evidence behind ``xlogreg.data.compiled.FUSED_SOFTMAX_MAX_WORK`` (which
compiled pass ``LogisticLoss(..., fused=True)`` runs). For each shape (float32
Gaussian X of 8, 64 or 256 MB, ``n`` features, ``K`` classes, labels uniform)
it times one ``value_and_gradient`` of the Array API loss, one
``PrimalPass`` (one read of X, numba's products) and one ``SoftmaxPass``
(BLAS's products around a compiled softmax), interleaved after a warm-up
(``bench_core.side_by_side``: each timing after a quarter second idle, so that
numba's threads are asleep when BLAS starts), best of ``--repeats``, and
prints their ratios over the Array API pass (below 1: faster) and which pass
the rule runs. The shapes under "derived"
are those the rule was read from; "checked" were measured after it was
written (float64 among them). Then whole fits: ``LogisticRegression()`` (L-BFGS)
with the choice as the rule makes it and with the compiled pass turned off.
Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

sys.path[:0] = [str(pathlib.Path(__file__).resolve().parents[1]), str(pathlib.Path(__file__).resolve().parent)]

import xlogreg  # noqa: E402
from bench_core import machine, side_by_side  # noqa: E402
from bench_workloads import gaussian_clusters  # noqa: E402
from xlogreg import _loss  # noqa: E402
from xlogreg.data import compiled  # noqa: E402

#: (features, classes, megabytes of X, dtype)
DERIVED = [(n, K, mb, "float32") for n in (64, 256, 1024) for mb in (8, 64, 256) for K in (3, 10, 30, 100, 300)]
CHECKED = [(128, 50, 64, "float32"), (512, 20, 128, "float32"), (2048, 5, 128, "float32"), (32, 500, 64, "float32"),
           (256, 10, 64, "float64"), (64, 100, 64, "float64"), (1024, 30, 128, "float64")]
#: whole fits: (examples, features, classes)
FITS = [(160_000, 512, 10), (50_000, 256, 10), (100_000, 64, 100), (20_000, 256, 1000)]


def one_shape(n, K, mb, dtype, repeats, rng):
    m = mb * 2**20 // (np.dtype(dtype).itemsize * n)
    X = rng.standard_normal((m, n)).astype(dtype).T  # (n, m): the estimator's view of a C-ordered X
    labels = rng.integers(0, K, (1, m)).astype(dtype)
    W = (rng.standard_normal((n, K)) * 0.05).astype(dtype)
    b = np.zeros((K, 1), dtype)
    plain = _loss.LogisticLoss(X, labels, K, l2=1.0)
    one_read = compiled.PrimalPass(X, plain.targets, None, True)
    softmax = compiled.SoftmaxPass(X, labels, K, None)
    times = side_by_side({"one_read": lambda: one_read(W, b, with_z=False)[1], "softmax": lambda: softmax(W, b)[1],
                          "plain": lambda: plain.value_and_gradient(W, b)[1]}, repeats)
    best = {name: min(t) for name, t in times.items()}
    rule = type(compiled.softmax_pass(X, labels, plain.targets, K, None)).__name__
    return {"features": n, "classes": K, "megabytes": mb, "dtype": dtype, "examples": m,
            "plain_ms": best["plain"] * 1e3, "one_read_ms": best["one_read"] * 1e3, "softmax_ms": best["softmax"] * 1e3,
            "one_read_ratio": best["one_read"] / best["plain"], "softmax_ratio": best["softmax"] / best["plain"],
            "rule": rule}


def one_fit(m, n, K, repeats):
    X, y = gaussian_clusters(m, n, K, seed=0)
    real = compiled.choose_fused_softmax
    fitted = {}

    def fit(name, choose):
        def run():
            compiled.choose_fused_softmax = choose
            try:
                fitted[name] = xlogreg.LogisticRegression().fit(X, y)
            finally:
                compiled.choose_fused_softmax = real
            return fitted[name].coef_
        return run

    times = side_by_side({"rule": fit("rule", real), "off": fit("off", lambda *a: False)}, repeats)
    best = {name: min(t) for name, t in times.items()}
    chosen = ("plain" if not real(X.T, K, 100)
              else "PrimalPass" if K * n <= compiled.FUSED_SOFTMAX_MAX_WORK else "SoftmaxPass")
    return {"examples": m, "features": n, "classes": K, "rule_s": best["rule"], "off_s": best["off"],
            "ratio": best["rule"] / best["off"], "rule_chooses": chosen,
            "iterations": [int(fitted[k].n_iter_[0]) for k in ("rule", "off")],
            "coef_difference": float(np.max(np.abs(fitted["rule"].coef_ - fitted["off"].coef_)))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fit-repeats", type=int, default=2)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    if not compiled.available():
        sys.exit("numba is not installed: pip install numba")
    rng = np.random.default_rng(0)
    rows = []
    print("one value_and_gradient: the Array API pass (plain), PrimalPass (one read of X, numba's products) and")
    print("SoftmaxPass (BLAS's products, compiled softmax); ratios over plain (below 1: faster); the rule's choice")
    print(f"{'':8} {'n':>5} {'K':>4} {'MB':>4} {'dtype':>8} {'plain ms':>9} {'one-read':>9} {'softmax':>9} "
          f"{'ratio':>6} {'ratio':>6}  rule")
    for group, shapes in (("derived", DERIVED), ("checked", CHECKED)):
        for n, K, mb, dtype in shapes:
            row = one_shape(n, K, mb, dtype, args.repeats, rng)
            row["group"] = group
            rows.append(row)
            print(f"{group:8} {n:5d} {K:4d} {mb:4d} {dtype:>8} {row['plain_ms']:9.2f} {row['one_read_ms']:9.2f} "
                  f"{row['softmax_ms']:9.2f} {row['one_read_ratio']:6.2f} {row['softmax_ratio']:6.2f}  {row['rule']}",
                  flush=True)
    print("\nLogisticRegression().fit, float32; ratio = as the rule chooses / compiled passes off")
    fits = []
    for m, n, K in FITS:
        row = one_fit(m, n, K, args.fit_repeats)
        fits.append(row)
        print(f"  {m:7d} x {n:4d}, {K:4d} classes: rule {row['rule_s']:.3f} s, off {row['off_s']:.3f} s, "
              f"ratio {row['ratio']:.2f} (rule: {row['rule_chooses']}; iterations "
              f"{row['iterations']}; coef differ by {row['coef_difference']:.1e})", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "command": " ".join(["python"] + sys.argv),
                                         "passes": rows, "fits": fits}, indent=2))


if __name__ == "__main__":
    main()
