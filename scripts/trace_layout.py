"""Follow X through a fit: which xlogreg modules call which, and how often a call climbs a level.

Traces every call into an xlogreg module during ``xlogreg.train`` (3 iterations) and
``LogisticRegression().fit`` on a small random problem, and prints: the cross-module calls,
the distinct caller -> callee module pairs, the modules entered, and the calls that go from a
module to one on a higher level of the layout (docs/architecture.md, the levels of
tests/test_layout.py), with the pair. Usage (from the repository root)::

    python scripts/trace_layout.py
"""

import collections
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import xlogreg  # noqa: E402
from test_layout import _level  # noqa: E402


def trace(fn):
    """``[(caller module, callee module)]`` of every call that crosses modules inside xlogreg."""
    edges = []

    def tracer(frame, event, arg):
        if event != "call":
            return tracer
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("xlogreg"):
            return tracer
        caller = frame.f_back
        while caller is not None and not caller.f_globals.get("__name__", "").startswith("xlogreg"):
            caller = caller.f_back
        if caller is not None and caller.f_globals["__name__"] != module:
            edges.append((caller.f_globals["__name__"], module))
        return tracer

    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(None)
    return edges


def _short(module):
    return module[len("xlogreg."):] if module.startswith("xlogreg.") else ""


def main():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 200))
    Y = (rng.random((1, 200)) < 0.5).astype(float)
    for name, fn in [("xlogreg.train", lambda: xlogreg.train(X, Y, num_iterations=3)),
                     ("LogisticRegression.fit", lambda: xlogreg.LogisticRegression().fit(X.T, Y[0]))]:
        edges = trace(fn)
        modules = sorted({m for edge in edges for m in edge})
        climbs = collections.Counter((a, b) for a, b in edges if _level(_short(b)) > _level(_short(a)))
        print(f"{name}: {len(edges)} cross-module calls, {len(set(edges))} distinct pairs, "
              f"{len(modules)} modules ({', '.join(_short(m) or 'xlogreg' for m in modules)})")
        print(f"  calls to a higher level: {sum(climbs.values())}"
              + "".join(f"\n    {n} x {a} -> {b}" for (a, b), n in climbs.items()))


if __name__ == "__main__":
    main()
