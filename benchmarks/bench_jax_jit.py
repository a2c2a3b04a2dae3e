"""JAX: each iteration under ``jax.jit`` against the same code run eagerly, side by side in one run.

    python benchmarks/bench_jax_jit.py --json benchmarks/results/bench_jax_jit.json

``xlogreg.train`` on JAX arrays runs each iteration of its loops as one XLA
program (``xlogreg._backends.compiled``, ``jax.jit``). The eager contender is
the same call with ``compiled`` replaced by the identity, so every array
operation is dispatched on its own. Cases: the course data (12288 x 209,
float64, dual solver, 2000 iterations at 0.005) and synthetic data of 100
features with 5,000 and 500,000 examples (primal solver, 20 iterations, float32
and float64). Milliseconds per iteration, min / median of the repeats, after a
warm-up (which also traces the jitted iteration once per shape and dtype).
Nothing here asserts; it prints what it measured, with the machine.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_core import _fmt, busy_processes, load_course, machine, ratio, side_by_side, summary  # noqa: E402

import xlogreg  # noqa: E402
from xlogreg import _backends  # noqa: E402


def _eager(function, xp):
    return function


def _synthetic(m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((100, m)).astype(dtype)
    Y = (rng.random((1, m)) < 1 / (1 + np.exp(-X[:1]))).astype(dtype)
    return X, Y


def _cases(sizes):
    X, Y, _, _ = load_course()
    yield "course 12288 x 209", "dual", 2000, 0.005, X, Y
    for m in sizes:
        for dtype in (np.float32, np.float64):
            yield f"synthetic 100 x {m:,}", "primal", 20, 0.1, *_synthetic(m, dtype)


def bench(repeats, sizes):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    rows = []
    for name, solver, iterations, learning_rate, X, Y in _cases(sizes):
        Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

        def run():
            return xlogreg.train(Xj, Yj, num_iterations=iterations, learning_rate=learning_rate, solver=solver,
                                 record_every=iterations).w

        def run_eager():
            real = _backends.compiled
            _backends.compiled = _eager
            try:
                return run()
            finally:
                _backends.compiled = real

        times = side_by_side({"jax.jit": run, "eager": run_eager}, repeats)  # interleaved
        eager, jitted = summary(times["eager"], iterations), summary(times["jax.jit"], iterations)
        rows.append({"data": name, "solver": solver, "iterations": iterations, "dtype": str(X.dtype),
                     "eager_s": eager, "jit_s": jitted, "speedup": ratio(eager, jitted)})
        print(f"| {name}, {solver}, {iterations} iterations | {X.dtype} | {_fmt(eager)} | {_fmt(jitted)} | "
              f"{rows[-1]['speedup']['min']:.1f}x / {rows[-1]['speedup']['median']:.1f}x |", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 500000],
                        help="examples of the synthetic data (default: 5000 500000)")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    try:
        import jax  # noqa: F401
    except ImportError:
        sys.exit("jax is not installed: pip install 'xlogreg[jax]'")
    info = machine()
    print(f"# {info['cpu']}, {info['cores']} cores; {info['date']}; command: {info['command']}")
    print(f"# other busy processes at start: {', '.join(info['other_busy_processes']) or 'none'}")
    print("| JAX, data | dtype | eager, ms per iteration | `jax.jit`, ms per iteration | speed-up |")
    print("|---|---|---|---|---|")
    rows = bench(args.repeats, args.sizes)
    busy = busy_processes()
    print(f"# other busy processes at end: {', '.join(busy) or 'none'}")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": rows, "busy_at_end": busy}, indent=2))


if __name__ == "__main__":
    main()
