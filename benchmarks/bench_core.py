"""xlogreg performance benchmarks: ratios measured side by side in one run.

    python benchmarks/bench_core.py                  # everything, ~8 minutes on 2 cores
    python benchmarks/bench_core.py --only a c       # some of them
    python benchmarks/bench_core.py --json out.json  # also write the results as JSON

(a) ``xlogreg.train`` on the course data, 2000 iterations at 0.005, against a
    plain NumPy transcription of the course loop. Target: >= 20x faster, same
    costs.
(b) Seconds per iteration of the primal loop against one matrix-vector product
    ``w.T @ X`` over the same X (one read of X from memory: the limit), for X
    of a few hundred MB in float32 and float64. Target: <= 1.5x. Timed: what
    ``solver="primal"`` picks (the compiled one-pass iteration of
    ``xlogreg.data.compiled`` where numba is installed), the Array API loop, and the
    plain two-pass loop where the Array API loop uses blocks.
(c) Time to reach the course's final training cost (0.140872) against
    scikit-learn's ``LogisticRegression`` without penalty (lbfgs) on the same
    data, each running the fewest iterations that reach it. Target: faster.
(blocks) The evidence behind ``xlogreg.solvers.choose_block``: the primal
    loop with blocks of 2**16 ... 2**20 elements of X, and without blocks, on
    Fortran- and C-ordered X (``--only blocks``; not part of the default run).

Each comparison runs its contenders interleaved (A, B, A, B, ...) after a
warm-up, so that a slow spell of the machine hits both, and reports the
minimum and the median of the repeats. This is not a test: nothing here
asserts; it prints what it measured, with the machine, so that
benchmarks/README.md can record it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shlex
import statistics
import sys
import time
import warnings

import numpy as np

import xlogreg
from xlogreg import _backends, _machine, solvers
from xlogreg.core import zeros_like_params
from xlogreg.solvers import gd
from xlogreg.data import blocks as data_blocks, compiled as data_compiled

DATA_DIR = pathlib.Path(os.environ.get("XLOGREG_DATA_DIR",
                                       pathlib.Path(__file__).resolve().parents[2] / "shared" / "datasets"))
COURSE_FINAL_COST = 0.140872  # the course's printed cost at iteration 1900


# --- machine -------------------------------------------------------------------------------------

def machine():
    """CPU, cores, memory, caches, BLAS and library versions: what the numbers depend on.

    The CPU, cores, memory and caches are what the tuning reads (xlogreg._machine).
    """
    readings = _machine.describe()
    versions = {"python": platform.python_version(), "xlogreg": xlogreg.__version__}
    for name in ("numpy", "torch", "jax", "dask", "sklearn", "array_api_compat", "array_api_strict"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    blas = []
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{i['internal_api']} {i.get('version') or ''} ({i['num_threads']} threads)".replace("  ", " ")
                for i in threadpool_info()]
    except ImportError:
        pass
    env = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                      "NUMBA_NUM_THREADS") if k in os.environ}
    return {
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "other_busy_processes": busy_processes(),
        "cpu": readings["cpu"],
        "cores": readings["cores"]["value"],
        "ram_gib": round(readings["memory_bytes"]["value"] / 2**30, 1),
        "tuning_readings": readings,
        "os": platform.platform(),
        "blas": blas,
        "thread_env": env,
        "versions": versions,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(shlex.quote(a) for a in ["python", *sys.argv]),
    }


def busy_processes(interval=0.5, threshold=10.0):
    """Other processes using more than `threshold` % of a core: they would skew the timings."""
    try:
        import psutil
    except ImportError:
        return ["unknown (psutil not installed)"]
    me = os.getpid()
    procs = [p for p in psutil.process_iter(["pid", "name"]) if p.info["pid"] != me]
    for p in procs:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(interval)
    busy = []
    for p in procs:
        try:
            use = p.cpu_percent(None)
            if use > threshold:
                busy.append(f"{p.info['name']} (pid {p.info['pid']}, {use:.0f}%)")
        except psutil.Error:
            pass
    return busy


# --- timing --------------------------------------------------------------------------------------

#: Idle seconds before each timing: OpenBLAS keeps its idle threads spinning for about 0.1 s
#: after a call, which takes a core from whatever runs next (measured: the compiled primal pass
#: on two threads ran 1.5-2.5x slower right after a threaded w.T @ X than 0.2 s later).
SETTLE_S = 0.25


def side_by_side(contenders, repeats, warmup=1):
    """Time each callable `repeats` times, interleaved; returns {name: [seconds, ...]}.

    Each callable returns an array (or None); it is synchronised before the
    clock stops, so that asynchronous backends are timed doing the work. Each
    timing starts after :data:`SETTLE_S` idle seconds.
    """
    for f in contenders.values():
        for _ in range(warmup):
            _sync(f())
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, f in contenders.items():
            time.sleep(SETTLE_S)
            start = time.perf_counter()
            _sync(f())
            times[name].append(time.perf_counter() - start)
    return times


def _sync(x):
    if x is not None and not isinstance(x, (float, int, list, tuple, dict)):
        _backends.synchronize(x)


def summary(times, per=1):
    """min and median of a list of seconds, divided by `per` (iterations)."""
    return {"min": min(times) / per, "median": statistics.median(times) / per, "repeats": len(times)}


def ratio(a, b):
    return {"min": a["min"] / b["min"], "median": a["median"] / b["median"]}


# --- (a) the course run vs the plain NumPy course loop -------------------------------------------

def course_loop(X, Y, num_iterations=2000, learning_rate=0.005):
    """The course's optimize(), transcribed in plain NumPy (float64, explicit formulas)."""
    m = X.shape[1]
    w, b, costs = np.zeros((X.shape[0], 1)), 0.0, []
    for i in range(num_iterations):
        A = 1 / (1 + np.exp(-(w.T @ X + b)))
        cost = -1 / m * np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A))
        dw = 1 / m * X @ (A - Y).T
        db = 1 / m * np.sum(A - Y)
        w = w - learning_rate * dw
        b = b - learning_rate * db
        if i % 100 == 0:
            costs.append(float(cost))
    return w, b, costs


def load_course():
    train, test = DATA_DIR / "train_catvnoncat.h5", DATA_DIR / "test_catvnoncat.h5"
    if not (train.is_file() and test.is_file()):
        raise SystemExit(f"course data not found in {DATA_DIR} (set XLOGREG_DATA_DIR)")
    train_x, train_y, test_x, test_y, _ = xlogreg.load_dataset(train, test)
    return xlogreg.flatten_images(train_x), train_y, xlogreg.flatten_images(test_x), test_y


def bench_course(repeats):
    X, Y, X_test, Y_test = load_course()
    out = {}
    models = {}

    def train(solver, fused="auto"):
        def run():
            models[solver, fused] = xlogreg.train(X, Y, X_test, Y_test, num_iterations=2000, learning_rate=0.005,
                                                  solver=solver, fused=fused)
        return run

    reference = {}

    def numpy_loop():
        reference["result"] = course_loop(X, Y)

    # warm-up 0 for the course loop; train(fused=True) is warmed up below, so that its kernels are
    # loaded (once per process, ~0.7 s) before it is timed
    train("auto", True)()
    contenders = {"numpy course loop": numpy_loop, "xlogreg auto": train("auto"),
                  "xlogreg auto, fused=True": train("auto", True), "xlogreg primal": train("primal")}
    times = side_by_side(contenders, repeats, warmup=0)
    ref_costs = reference["result"][2]
    base = summary(times["numpy course loop"])
    out["numpy course loop"] = {"seconds": base}
    for name, key in (("xlogreg auto", ("auto", "auto")), ("xlogreg auto, fused=True", ("auto", True)),
                      ("xlogreg primal", ("primal", "auto"))):
        model = models[key]
        diff = max(abs(a - b) / abs(b) for a, b in zip(model.costs, ref_costs))
        s = summary(times[name])
        out[name] = {"seconds": s, "solver": model.solver, "speedup": ratio(base, s),
                     "max_rel_cost_diff": diff, "final_cost": model.costs[-1],
                     "train_accuracy": model.train_accuracy, "test_accuracy": model.test_accuracy}
    return {"shape": list(X.shape), "dtype": str(X.dtype), "results": out}


# --- (b) primal seconds per iteration vs one product over X --------------------------------------

def synthetic(n_x, m, dtype, seed=0):
    """Fortran-ordered X (one contiguous column per example, like flatten_images), labels from a
    logistic model. Built column block by column block to keep the peak memory near X's size."""
    rng = np.random.default_rng(seed)
    X = np.empty((n_x, m), dtype=dtype, order="F")
    step = max(1, 2**22 // n_x)
    for j in range(0, m, step):
        k = min(step, m - j)
        X[:, j:j + k] = rng.standard_normal((n_x, k), dtype=np.float32)
    w_true = rng.standard_normal((n_x, 1)).astype(dtype) / np.sqrt(n_x)
    Y = (rng.random((1, m)) < 1 / (1 + np.exp(-(w_true.T @ X)))).astype(dtype)
    return X, Y


def bench_memory_limit(repeats, megabytes, n_xs, iterations):
    """The primal loop's paths against one ``w.T @ X``: what ``auto`` picks for a training run
    (of enough iterations to pay for loading the compiled kernels: each timing here runs only a few,
    so the choice is made from X alone), the Array API loop (blocked where
    :func:`xlogreg.solvers.choose_block` says so) and, where blocks are used, the plain two-pass loop."""
    rows = []
    for dtype in (np.float32, np.float64):
        for n_x in n_xs:
            m = int(megabytes * 2**20 / (n_x * np.dtype(dtype).itemsize))
            X, Y = synthetic(n_x, m, dtype)
            w, b = zeros_like_params(X)
            fused, block = data_compiled.choose_fused(X), data_blocks.choose_block(X)

            def loop(**how):
                def run():
                    # record_every > iterations: the cost is computed at iteration 0 only, once per
                    # timing, as a default run (record_every=100) does once per 100 iterations. It is a
                    # pass over m logits (~19 ms for a million float32: NumPy's log1p is scalar), so
                    # 10 iterations per timing would charge each iteration ten times its share
                    return gd.primal_loop(w, b, X, Y, iterations, 0.01, iterations + 1, **how).w
                return run

            contenders = {"w.T @ X": lambda: w.T @ X, "primal (auto)": loop(fused=fused)}
            if fused:
                contenders["Array API loop"] = loop(fused=False)
            if block is not None:
                contenders["plain two-pass loop"] = loop(fused=False, block=None)
            times = side_by_side(contenders, repeats)
            matvec = summary(times["w.T @ X"])
            auto_path = "compiled one pass" if fused else (f"blocks of {block}" if block else "plain two passes")
            row = {"dtype": np.dtype(dtype).name, "n_x": n_x, "m": m, "MB": round(X.nbytes / 1e6),
                   "iterations": iterations,
                   "auto": auto_path, "block": block, "matvec_s": matvec, "GB_per_s": X.nbytes / matvec["min"] / 1e9}
            for name in contenders:
                if name != "w.T @ X":
                    s = summary(times[name], per=iterations)
                    row[name] = {"s_per_iter": s, "x_matvec": ratio(s, matvec)}
            rows.append(row)
            del X, Y
    return rows


# --- (c) time to the course's final cost vs scikit-learn ----------------------------------------

def bench_sklearn(repeats):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    X, Y, *_ = load_course()
    A, y = X.T, Y.ravel()  # scikit-learn wants (m, n_x): X.T is a C-contiguous view, no copy

    def cost(p):
        p = np.clip(p, 1e-300, 1 - 1e-16)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    # C=inf is "no penalty" (penalty=None is deprecated since scikit-learn 1.8); tol=0 so that
    # max_iter alone decides when lbfgs stops.
    def fit(max_iter):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return LogisticRegression(C=np.inf, max_iter=max_iter, tol=0).fit(A, y)

    needed = next((k for k in range(1, 201) if cost(fit(k).predict_proba(A)[:, 1]) <= COURSE_FINAL_COST), None)
    if needed is None:
        return {"error": "scikit-learn did not reach the target in 200 lbfgs iterations"}
    reached = cost(fit(needed).predict_proba(A)[:, 1])
    # xlogreg's smallest number of iterations to the target, from one run recording every cost
    # (costs[i] is the cost after i updates), as lbfgs's max_iter above
    costs = xlogreg.train(X, Y, num_iterations=2001, learning_rate=0.005, record_every=1).costs
    iterations = next((i for i, c in enumerate(costs) if c <= COURSE_FINAL_COST), None)
    if iterations is None:
        return {"error": "xlogreg did not reach the target in 2000 iterations"}
    models = {}

    def ours():
        models["m"] = xlogreg.train(X, Y, num_iterations=iterations, learning_rate=0.005)

    def compiled():  # the same iterations through the compiled dual loop (numba), loaded by the warm-up
        xlogreg.train(X, Y, num_iterations=iterations, learning_rate=0.005, fused=True)

    times = side_by_side({"xlogreg": ours, "sklearn": lambda: fit(needed), "compiled": compiled}, repeats)
    s_ours, s_sk, s_comp = summary(times["xlogreg"]), summary(times["sklearn"]), summary(times["compiled"])
    model = models["m"]
    ours_cost = cost(1 / (1 + np.exp(-(np.asarray(model.w).T @ X + model.b).ravel())))  # checked independently
    return {"target_cost": COURSE_FINAL_COST, "sklearn_lbfgs_iterations": needed, "sklearn_cost": reached,
            "xlogreg_iterations": iterations, "xlogreg_solver": model.solver, "xlogreg_cost": ours_cost,
            "xlogreg_s": s_ours, "sklearn_s": s_sk, "speedup": ratio(s_sk, s_ours),
            "compiled_s": s_comp, "compiled_speedup": ratio(s_sk, s_comp)}


# --- (blocks) block sizes and memory order -------------------------------------------------------

def bench_blocks(repeats, megabytes, n_x, iterations):
    rows = []
    for dtype in (np.float32, np.float64):
        m = int(megabytes * 2**20 / (n_x * np.dtype(dtype).itemsize))
        X_f, Y = synthetic(n_x, m, dtype)
        for order in ("F", "C"):
            X = X_f if order == "F" else np.ascontiguousarray(X_f)
            w, b = zeros_like_params(X)

            def loop(block):
                return lambda: gd.primal_loop(w, b, X, Y, iterations, 0.01, iterations + 1,
                                                   block=block, fused=False).w

            contenders = {"w.T @ X": lambda: w.T @ X, "plain": loop(None)}
            for e in range(16, 21):
                contenders[f"2^{e}"] = loop(max(1, 2**e // n_x))
            times = side_by_side(contenders, repeats)
            matvec = summary(times["w.T @ X"])
            row = {"dtype": np.dtype(dtype).name, "order": order, "n_x": n_x, "m": m, "matvec_s": matvec}
            for name in contenders:
                if name != "w.T @ X":
                    row[name] = ratio(summary(times[name], per=iterations), matvec)
            rows.append(row)
            del X
        del X_f
    return rows


# --- report --------------------------------------------------------------------------------------

def _fmt(s, unit=1e3):
    return f"{s['min'] * unit:.3g} / {s['median'] * unit:.3g}"


def report(results):
    info = results["machine"]
    print(f"# machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM; {info['os']}")
    print(f"# BLAS: {'; '.join(info['blas']) or 'unknown'}; thread env: {info['thread_env'] or 'default'}")
    if "tuning_readings" in info:  # runs before session 6 did not record them
        print(f"# tuning reads (xlogreg._machine): {_machine.summary(info['tuning_readings'])}")
    print("# " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    print(f"# {info['date']}; command: {info['command']}")
    print(f"# load average at start {info['load_average']}; other busy processes at start: "
          f"{', '.join(info['other_busy_processes']) or 'none'}; at end: "
          f"{', '.join(results.get('busy_at_end', [])) or 'none'}")
    print("# times: min / median of the repeats\n")
    if "a" in results:
        a = results["a"]
        print(f"(a) course data {a['shape']} {a['dtype']}, 2000 iterations, learning rate 0.005")
        print("| contender | solver | seconds (min / median) | speed-up vs NumPy loop (min / median) "
              "| max rel. cost diff | final cost |")
        print("|---|---|---|---|---|---|")
        base = a["results"]["numpy course loop"]
        print(f"| NumPy course loop | - | {_fmt(base['seconds'], 1)} | 1 | 0 | - |")
        for name in ("xlogreg auto", "xlogreg auto, fused=True", "xlogreg primal"):
            if name not in a["results"]:
                continue
            r = a["results"][name]
            print(f"| {name} | {r['solver']} | {_fmt(r['seconds'], 1)} | "
                  f"{r['speedup']['min']:.1f}x / {r['speedup']['median']:.1f}x | {r['max_rel_cost_diff']:.1e} | "
                  f"{r['final_cost']:.6f} |")
        print()
    if "b" in results:
        print(f"(b) primal loop per iteration ({results['b'][0]['iterations']} per timing, the cost at the first) "
              "vs one product w.T @ X (one read of X); each path: ms/iteration, then x one read (min / median)")
        print("| dtype | n_x | m | X MB | w.T @ X ms | GB/s | auto picks | primal (auto) | x one read "
              "| Array API loop | x one read | plain two-pass loop | x one read |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in results["b"]:
            cells = []
            for name in ("primal (auto)", "Array API loop", "plain two-pass loop"):
                c = r.get(name)
                cells.append(f"{_fmt(c['s_per_iter'])} | {c['x_matvec']['min']:.2f} / {c['x_matvec']['median']:.2f}"
                             if c else "- | -")
            print(f"| {r['dtype']} | {r['n_x']} | {r['m']} | {r['MB']} | {_fmt(r['matvec_s'])} | "
                  f"{r['GB_per_s']:.1f} | {r['auto']} | " + " | ".join(cells) + " |")
        print()
    if "blocks" in results:
        print("(blocks) primal seconds per iteration / one w.T @ X, by elements of X per block "
              "(examples per block = elements // n_x)")
        names = ["plain"] + [f"2^{e}" for e in range(16, 21)]
        print("| dtype | order | n_x | m | w.T @ X ms | " + " | ".join(names) + " |")
        print("|---|---|---|---|---|" + "---|" * len(names))
        for r in results["blocks"]:
            cells = " | ".join(f"{r[n]['min']:.2f} / {r[n]['median']:.2f}" for n in names)
            print(f"| {r['dtype']} | {r['order']} | {r['n_x']} | {r['m']} | {_fmt(r['matvec_s'])} | {cells} |")
        print()
    if "c" in results:
        c = results["c"]
        print(f"(c) time to reach the course's final training cost {COURSE_FINAL_COST}")
        if "error" in c:
            print("   ", c["error"])
        else:
            print("| contender | iterations | cost reached | seconds (min / median) |")
            print("|---|---|---|---|")
            print(f"| xlogreg.train ({c['xlogreg_solver']}) | {c['xlogreg_iterations']} | {c['xlogreg_cost']:.6f} "
                  f"| {_fmt(c['xlogreg_s'], 1)} |")
            if "compiled_s" in c:
                print(f"| xlogreg.train(fused=True) (dual, compiled) | {c['xlogreg_iterations']} | - "
                      f"| {_fmt(c['compiled_s'], 1)} |")
            print(f"| scikit-learn LogisticRegression(C=inf), lbfgs | {c['sklearn_lbfgs_iterations']} | "
                  f"{c['sklearn_cost']:.6f} | {_fmt(c['sklearn_s'], 1)} |")
            print(f"\nxlogreg is {c['speedup']['min']:.2f}x (min) / {c['speedup']['median']:.2f}x (median) "
                  "as fast as scikit-learn")
            if "compiled_s" in c:
                print(f"xlogreg.train(fused=True): {c['compiled_speedup']['min']:.2f}x / "
                      f"{c['compiled_speedup']['median']:.2f}x")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=["a", "b", "c", "blocks"], default=["a", "b", "c"])
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per contender (default 5)")
    parser.add_argument("--megabytes", type=float, default=400, help="size of X in (b), MiB (default 400)")
    parser.add_argument("--n-x", type=int, nargs="+", default=[100, 1000], help="features in (b)")
    parser.add_argument("--iterations", type=int, default=100,
                        help="primal iterations per timing in (b) (default 100: a default training run records "
                             "the cost once per 100 iterations)")
    parser.add_argument("--json", type=pathlib.Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    results = {"machine": machine()}
    if "a" in args.only:
        results["a"] = bench_course(max(1, min(args.repeats, 3)))  # the NumPy loop takes seconds
    if "b" in args.only:
        results["b"] = bench_memory_limit(args.repeats, args.megabytes, args.n_x, args.iterations)
    if "c" in args.only:
        results["c"] = bench_sklearn(args.repeats)
    if "blocks" in args.only:
        results["blocks"] = bench_blocks(args.repeats, args.megabytes, 1000, args.iterations)
    results["busy_at_end"] = busy_processes()
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
