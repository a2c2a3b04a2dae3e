"""The optional compiled kernels (xlogreg.data.compiled, xlogreg.data._kernels) against plain NumPy, and their use
by the primal and dual loops."""

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import xlogreg
from xlogreg import solvers
from xlogreg.data.compiled import choose_fused
from xlogreg.solvers import dual, gd
from xlogreg.data import compiled as data_compiled


def _reference(wh, bh, X, C):
    """(H, g, s) in plain NumPy: the independent reference."""
    H = wh.T @ X + bh
    Q = np.tanh(H) + C
    return H, X @ Q.T, np.sum(Q)


def _data(n_x, m, dtype, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    X = np.asfortranarray(rng.standard_normal((n_x, m))).astype(dtype, order="F")
    wh = (rng.standard_normal((n_x, 1)) * scale).astype(dtype)
    C = (1 - 2 * (rng.random((1, m)) < 0.4)).astype(dtype)
    return wh, np.asarray(0.25, dtype=dtype), X, C


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-13), (np.float32, 2e-5)])
@pytest.mark.parametrize("n_x, m", [(1, 1), (3, 2), (5, 4), (7, 9), (2, 64), (64, 257), (300, 1003)])
@pytest.mark.parametrize("loop", ["tiles", "interleaved"])
def test_half_gradient_matches_numpy(numba_kernel, monkeypatch, n_x, m, dtype, tol, loop):
    """Every remainder of m modulo 4 (and m < 4), whole and partial tiles, one feature, a thousand
    examples; tiles, and the interleaved loop of long examples (here forced for every length)."""
    if loop == "interleaved":
        monkeypatch.setattr(numba_kernel, "TILE_MAX_EXAMPLE_BYTES", 0)
    wh, bh, X, C = _data(n_x, m, dtype, scale=0.3)
    H, g, s = numba_kernel.half_gradient(wh, bh, X, C)
    H_ref, g_ref, s_ref = _reference(wh.astype(np.float64), float(bh), X.astype(np.float64), C.astype(np.float64))
    assert H.shape == (1, m) and g.shape == (n_x, 1) and s.shape == ()
    assert H.dtype == g.dtype == s.dtype == dtype
    scale = np.max(np.abs(X)) * m
    np.testing.assert_allclose(H, H_ref, rtol=0, atol=tol * np.max(np.abs(X)) * n_x)
    np.testing.assert_allclose(g, g_ref, rtol=0, atol=tol * scale)
    assert float(s) == pytest.approx(float(s_ref), abs=tol * m)


def test_tile_sizes(monkeypatch):
    """On the recorded machine's L1d (32 KiB): tiles of 16 KiB, interleaved above 4 KiB (tests/test_machine.py)."""
    from xlogreg.data import compiled as data_compiled

    monkeypatch.setenv("XLOGREG_MACHINE", "l1d=32K")
    assert data_compiled.tile_examples(100, 4) == 40 and data_compiled.tile_examples(100, 8) == 20
    assert data_compiled.tile_examples(1, 8) == 64 and data_compiled.tile_examples(512, 8) == 4
    assert data_compiled.tile_examples(1000, 4) == 4 and data_compiled.tile_examples(1000, 8) == 0  # 8000 bytes: interleaved


@pytest.mark.parametrize("loop", ["tiles", "interleaved"])
def test_half_gradient_is_the_same_for_any_thread_count(numba_kernel, monkeypatch, loop):
    """Examples are split per thread; each split gives the reference, and a split is reproducible."""
    import numba

    if loop == "interleaved":
        monkeypatch.setattr(numba_kernel, "TILE_MAX_EXAMPLE_BYTES", 0)
    wh, bh, X, C = _data(50, 999, np.float64, seed=2)
    H_ref, g_ref, s_ref = _reference(wh, bh, X, C)
    before = numba.get_num_threads()
    try:
        for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
            numba.set_num_threads(threads)
            first = numba_kernel.half_gradient(wh, bh, X, C)
            again = numba_kernel.half_gradient(wh, bh, X, C)
            for a, b in zip(first, again):
                np.testing.assert_array_equal(a, b)
            np.testing.assert_allclose(first[1], g_ref, rtol=0, atol=1e-12 * np.max(np.abs(g_ref)))
            assert float(first[2]) == pytest.approx(float(s_ref), abs=1e-12 * X.shape[1])
    finally:
        numba.set_num_threads(before)


def test_half_gradient_saturates_without_nan(numba_kernel):
    """Logits of +-1e6 and +-inf give residuals of exactly +-1 + C, never NaN."""
    X = np.asfortranarray([[1.0, -1.0, 1.0, -1.0, 1.0, -1.0]])
    C = np.asarray([[1.0, 1.0, -1.0, -1.0, 1.0, -1.0]])
    for w in (1e6, np.inf):
        H, g, s = numba_kernel.half_gradient(np.asarray([[w]]), np.asarray(0.0), X, C)
        Q = np.sign(H) + C
        assert np.all(np.isfinite(g)) and np.isfinite(s)
        np.testing.assert_array_equal(g, X @ Q.T)
        assert float(s) == float(np.sum(Q))


@pytest.mark.parametrize("dtype, limit", [(np.float32, 87.0), (np.float64, 708.0)])
def test_exp_is_within_one_and_a_half_ulp(numba_kernel, dtype, limit):
    """The kernels' own exp (vectorisable, unlike libm's) against NumPy's exp in float64 (for float32)
    and against exp computed in long double where the platform has one (for float64)."""
    kernels = numba_kernel._kernels()
    x = np.random.default_rng(0).uniform(-limit, limit, 200_000).astype(dtype)
    x = np.concatenate([x, np.asarray([0.0, 1.0, -1.0, 1e-8, -1e-8, 0.5, -0.5, limit, -limit], dtype)])
    out = np.empty_like(x)
    kernels.exp_array(x, out)
    wide = np.longdouble if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps else np.float64
    exact = np.exp(x.astype(wide))
    ulps = np.abs(out.astype(wide) - exact) / exact / np.finfo(dtype).eps
    assert ulps.max() <= 1.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_keeps_nan_and_clamps_infinities_to_finite_values(numba_kernel, dtype):
    """Overflow is clamped (the residual needs only that exp(-2h) is huge or tiny), NaN stays NaN."""
    kernels = numba_kernel._kernels()
    x = np.asarray([np.inf, 1e30, -np.inf, -1e30, np.nan], dtype)
    out = np.empty_like(x)
    kernels.exp_array(x, out)
    big, tiny = (1e38, 1e-37) if dtype == np.float32 else (1e307, 1e-307)
    assert np.all(out[:2] > big) and np.all(np.isfinite(out[:2]))
    assert np.all(out[2:4] > 0) and np.all(out[2:4] < tiny)
    assert np.isnan(out[4])


@pytest.mark.parametrize("dtype, vector", [(np.float32, "float"), (np.float64, "double")])
def test_residual_loops_are_vectorised(numba_kernel, dtype, vector):
    """The residuals of a tile (primal) and of an iteration (dual) compile to vector instructions:
    what makes the compiled pass memory-bound with short examples (benchmarks/README.md). A raising
    division (numba's default error model) or a call to libm's exp would make them scalar again."""
    import numba

    kernels = numba_kernel._kernels()
    z = np.zeros(64, dtype)
    for kernel, args in ((kernels.columns, (z, dtype(0), np.zeros((64, 64), dtype), z, z.copy(), z.copy(),
                                            z.copy(), 0, 64, 16, True, dtype(0), dtype(1))),
                         (kernels.rows_binary, (z, dtype(0), np.zeros((64, 64), dtype), z, z.copy(), z.copy(),
                                                z.copy(), 0, 64, 64, dtype(0), dtype(1))),
                         (kernels.rows_multinomial, (np.zeros((64, 3), dtype), z[:3], np.zeros((64, 64), dtype),
                                                     np.zeros((3, 64), dtype), z, np.zeros((64, 3), dtype),
                                                     np.zeros((3, 64), dtype), z[:3].copy(), 0, 64, 64,
                                                     dtype(0), dtype(1))),
                         (kernels.dual_serial, (np.zeros((64, 64), dtype), z.copy(), z, z.copy(), z.copy(), 1,
                                                dtype(0), dtype(1)))):
        fresh = numba.njit(**{**kernels.JIT, "cache": False})(kernel.py_func)  # cached code cannot be inspected
        fresh(*args)
        ir = fresh.inspect_llvm(fresh.signatures[0])
        assert re.search(rf"fdiv [a-z ]*<\d+ x {vector}>", ir), f"{kernel.__name__}: no vector division"


def test_inputs_are_not_mutated(numba_kernel):
    wh, bh, X, C = _data(20, 41, np.float64)
    before = [a.copy() for a in (wh, bh, X, C)]
    numba_kernel.half_gradient(wh, bh, X, C)
    for a, old in zip((wh, bh, X, C), before):
        np.testing.assert_array_equal(a, old)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_fused_primal_loop_matches_course_loop(numba_kernel, dtype, tol):
    """primal_loop(fused=True) against the course loop in plain NumPy float64 (not the Array API path)."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((30, 203))
    Y = (rng.random((1, 203)) < 1 / (1 + np.exp(-(X[:1] - X[1:2])))).astype(np.float64)
    w, b, costs = np.zeros((30, 1)), 0.0, []
    for i in range(40):
        A = 1 / (1 + np.exp(-(w.T @ X + b)))
        if i % 10 == 0:
            costs.append(float(-np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A))))
        w, b = w - 0.2 * X @ (A - Y).T / 203, b - 0.2 * np.mean(A - Y)
    Xd = np.asfortranarray(X.astype(dtype))
    result = gd.primal_loop(np.zeros((30, 1), dtype), np.asarray(0.0, dtype), Xd, Y.astype(dtype),
                                 40, 0.2, 10, fused=True)
    assert result.w.dtype == result.b.dtype == result.dw.dtype == dtype
    np.testing.assert_allclose(result.w, w, rtol=0, atol=tol * np.max(np.abs(w)))
    assert float(result.b) == pytest.approx(b, abs=tol * np.max(np.abs(w)))
    np.testing.assert_allclose([c for _, c in result.costs], costs, rtol=tol)


def test_fused_primal_loop_on_course_data(numba_kernel, course_data):
    """The course data, 300 iterations: compiled pass vs the Array API loop, and the final gradient."""
    X, Y, *_ = course_data
    assert X.flags.f_contiguous and X.nbytes == 12288 * 209 * 8  # 20.5 MB, columns contiguous
    w, b = np.zeros((X.shape[0], 1)), np.asarray(0.0)
    plain = gd.primal_loop(w, b, X, Y, 300, 0.005, 50, fused=False, block=None)
    fused = gd.primal_loop(w, b, X, Y, 300, 0.005, 50, fused=True)
    for got, want in ((fused.w, plain.w), (fused.dw, plain.dw)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.max(np.abs(want)))
    np.testing.assert_allclose([c for _, c in fused.costs], [c for _, c in plain.costs], rtol=1e-12)


def test_choose_fused_only_for_big_contiguous_numpy(numba_kernel, monkeypatch):
    monkeypatch.setattr(numba_kernel, "loaded", lambda: False)  # as in a new process
    X = np.asfortranarray(np.ones((10, 20)))  # 1600 bytes
    monkeypatch.setattr(data_compiled, "FUSED_MIN_BYTES", 1600)
    assert choose_fused(X)
    assert choose_fused(np.ascontiguousarray(X))  # rows contiguous: the C-order pass
    monkeypatch.setattr(data_compiled, "FUSED_MIN_BYTES", 1601)
    assert not choose_fused(X)
    monkeypatch.setattr(data_compiled, "FUSED_MIN_BYTES", 1000)
    # given the iterations: only if the reads it saves take longer than loading the kernels.
    # By hand, for a load of 2 s and reads at 1 GB/s: 2 s x 1e9 B/s / 1600 B = 1,250,000 iterations.
    monkeypatch.setattr(data_compiled, "FUSED_LOAD_S", 2.0)
    monkeypatch.setattr(data_compiled, "FUSED_READ_BYTES_PER_S", 1e9)
    assert choose_fused(X, 1_250_000) and choose_fused(X, 1_250_001) and not choose_fused(X, 1_249_999)
    assert not choose_fused(X.astype(np.float32, order="F")[:, :5])  # 400 bytes: too small
    monkeypatch.setattr(data_compiled, "FUSED_MIN_BYTES", 0)
    assert not choose_fused(np.ones((10, 40))[:, ::2])  # a strided view: neither order
    monkeypatch.setattr(numba_kernel, "loaded", lambda: True)  # loaded already: no load to pay for
    assert choose_fused(X, 1) and data_compiled.choose_fused_dual(np.ones((3, 3)), 1)


def test_loaded_says_whether_this_process_has_loaded_the_kernels(numba_kernel):
    """Checked in a new process: False before the first use, True after."""
    code = ("import numpy as np; from xlogreg.data import compiled as data_compiled; a = data_compiled.loaded(); "
            "data_compiled.PrimalPass(np.ones((2, 3)), np.zeros((1, 3)), None, False)(np.zeros((2, 1)), np.zeros((1, 1))); "
            "print(a, data_compiled.loaded())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).resolve().parents[1])})
    assert out.stdout.split() == ["False", "True"]
    assert not choose_fused(np.asfortranarray(np.ones((10, 20), dtype=np.float16)))


def test_fused_true_is_refused_where_it_cannot_run(numba_kernel):
    X, Y = np.ones((4, 20))[:, ::2], np.zeros((1, 10))
    with pytest.raises(ValueError, match="fused=True cannot run here: .*C or Fortran order"):
        gd.primal_loop(np.zeros((4, 1)), np.asarray(0.0), X, Y, 1, 0.1, 1, fused=True)
    with pytest.raises(ValueError, match="fused must be True, False or 'auto'; got 'yes'"):
        gd.primal_loop(np.zeros((4, 1)), np.asarray(0.0), np.ones((4, 10)), Y, 1, 0.1, 1, fused="yes")


def test_fused_true_without_numba_names_the_fix(monkeypatch):
    """Runs everywhere: numba reported missing."""
    from xlogreg.data import compiled as data_compiled

    monkeypatch.setattr(data_compiled, "available", lambda: False)
    X, Y = np.asfortranarray(np.ones((4, 10))), np.zeros((1, 10))
    assert not choose_fused(X)
    with pytest.raises(ValueError, match=r"needs numba \(pip install numba\)"):
        gd.primal_loop(np.zeros((4, 1)), np.asarray(0.0), X, Y, 1, 0.1, 1, fused=True)


def test_train_uses_the_fused_pass_where_chosen(numba_kernel, monkeypatch):
    """xlogreg.train(solver="primal") goes through the compiled pass for a big Fortran-ordered X."""
    from xlogreg.data import compiled as data_compiled

    monkeypatch.setattr(data_compiled, "loaded", lambda: False)  # as in a new process
    calls = []
    real = data_compiled.PrimalPass.__call__
    monkeypatch.setattr(data_compiled.PrimalPass, "__call__", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(data_compiled, "FUSED_MIN_BYTES", 0)
    wh, bh, X, C = _data(8, 50, np.float64)
    Y = (C < 0).astype(np.float64)
    xlogreg.train(X, Y, num_iterations=7, learning_rate=0.1, solver="primal")
    assert calls == []  # 7 reads of 3 KB save less than loading the kernels would cost
    monkeypatch.setattr(data_compiled, "FUSED_LOAD_S", 0.0)
    model = xlogreg.train(X, Y, num_iterations=7, learning_rate=0.1, solver="primal")
    assert len(calls) == 7
    monkeypatch.setattr(data_compiled, "FUSED_MIN_BYTES", 2**62)
    again = xlogreg.train(X, Y, num_iterations=7, learning_rate=0.1, solver="primal")
    assert len(calls) == 7
    np.testing.assert_allclose(model.w, again.w, rtol=0, atol=1e-13 * np.max(np.abs(again.w)))


def test_concurrent_calls_from_threads(numba_kernel):
    """Training runs in several Python threads at once: each gets its own right answer."""
    from concurrent.futures import ThreadPoolExecutor

    problems = [_data(12, 401 + k, np.float64, seed=k) for k in range(6)]
    expected = [_reference(*p) for p in problems]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda p: numba_kernel.half_gradient(*p), problems * 3))
    for (H, g, s), (H_ref, g_ref, s_ref) in zip(results, expected * 3):
        np.testing.assert_allclose(g, g_ref, rtol=0, atol=1e-12 * np.max(np.abs(g_ref)))
        assert float(s) == pytest.approx(float(s_ref), abs=1e-12 * H.shape[1])


# The compiled dual loop (xlogreg.data.compiled.dual_steps) ----------------------------------------------


def _gram_problem(m, dtype, seed=0):
    """A scaled Gram matrix G (symmetric, as X.T X is), half logits H, C = 1 - 2 Y and sums S."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((max(2 * m, 8), m))
    G = ((X.T @ X + 1) * (0.5 / (4 * m))).astype(dtype)
    H = (rng.standard_normal((1, m)) * 0.5).astype(dtype)
    C = (1 - 2 * (rng.random((1, m)) < 0.4)).astype(dtype)
    S = rng.standard_normal((1, m)).astype(dtype)
    return G, H, C, S


def _reference_steps(G, H, C, S, k):
    """k dual iterations in plain NumPy float64: the independent reference."""
    G, H, C, S = (a.astype(np.float64) for a in (G, H, C, S))
    for _ in range(k):
        Q = np.tanh(H) + C
        H, S = H - Q @ G, S + Q
    return H, S, Q


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-13), (np.float32, 2e-5)])
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 7, 209])
@pytest.mark.parametrize("parallel_from", [None, 1])
def test_dual_steps_match_numpy(numba_kernel, monkeypatch, m, dtype, tol, parallel_from):
    """Every remainder of m modulo 4, float32/64, the one-thread and the threaded kernel."""
    if parallel_from is not None:
        monkeypatch.setattr(numba_kernel, "DUAL_PARALLEL_MIN", parallel_from)
    G, H, C, S = _gram_problem(m, dtype)
    before = [a.copy() for a in (G, H, C, S)]
    got = numba_kernel.dual_steps(numba_kernel.dual_rows(G), H, C, S, 9)
    for a, old in zip((G, H, C, S), before):  # inputs untouched
        np.testing.assert_array_equal(a, old)
    for a, ref in zip(got, _reference_steps(G, H, C, S, 9)):
        assert a.shape == (1, m) and a.dtype == dtype
        np.testing.assert_allclose(a, ref, rtol=0, atol=tol * max(1.0, np.max(np.abs(ref))))


def test_dual_steps_for_every_thread_count(numba_kernel, monkeypatch):
    """Rows are split between the threads (uneven shares, 4-row groups); each split gives the
    reference, and the same split gives the same bits twice."""
    import numba

    monkeypatch.setattr(numba_kernel, "DUAL_PARALLEL_MIN", 1)
    G, H, C, S = _gram_problem(23, np.float64, seed=3)
    ref = _reference_steps(G, H, C, S, 15)
    R = numba_kernel.dual_rows(G)
    before = numba.get_num_threads()
    try:
        for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
            numba.set_num_threads(threads)
            first = numba_kernel.dual_steps(R, H, C, S, 15)
            for a, b, r in zip(first, numba_kernel.dual_steps(R, H, C, S, 15), ref):
                np.testing.assert_array_equal(a, b)
                np.testing.assert_allclose(a, r, rtol=0, atol=1e-13 * np.max(np.abs(r)))
    finally:
        numba.set_num_threads(before)


def test_dual_steps_saturate_without_nan(numba_kernel):
    """Half logits of +-1e6 and +-inf give residuals of exactly +-1 + C, never NaN."""
    G = np.zeros((4, 4))
    C = np.asarray([[1.0, -1.0, 1.0, -1.0]])
    for big in (1e6, np.inf):
        H = np.asarray([[big, big, -big, -big]])
        H2, S, Q = numba_kernel.dual_steps(G, H, C, np.zeros((1, 4)), 3)
        np.testing.assert_array_equal(Q, np.sign(H) + C)
        np.testing.assert_array_equal(S, 3 * (np.sign(H) + C))
        np.testing.assert_array_equal(H2, H)


def test_dual_rows_is_the_transpose_without_copies_where_possible(numba_kernel):
    G, *_ = _gram_problem(6, np.float64)
    assert np.array_equal(G, G.T)  # NumPy's X.T @ X is exactly symmetric
    for layout in (G, np.asfortranarray(G)):
        R = numba_kernel.dual_rows(layout)
        assert R.flags.c_contiguous and np.shares_memory(R, layout) and np.array_equal(R, layout.T)
    skew = G.copy()
    skew[0, 1] += 1e-9  # not symmetric: the rows of G would not be its columns
    R = numba_kernel.dual_rows(skew)
    assert R.flags.c_contiguous and not np.shares_memory(R, skew) and np.array_equal(R, skew.T)


def test_fused_dual_loop_matches_the_array_api_loop_on_course_data(numba_kernel, course_data):
    """The course run (2000 iterations at 0.005) compiled vs the Array API dual loop, and vs the primal."""
    X, Y, *_ = course_data
    w, b = np.zeros((X.shape[0], 1)), np.asarray(0.0)
    plain = dual.dual_loop(w, b, X, Y, 2000, 0.005, 100, fused=False)
    fused = dual.dual_loop(w, b, X, Y, 2000, 0.005, 100, fused=True)
    for got, want in ((fused.w, plain.w), (fused.dw, plain.dw)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.max(np.abs(want)))
    assert float(fused.b) == pytest.approx(float(plain.b), rel=1e-12)
    np.testing.assert_allclose([c for _, c in fused.costs], [c for _, c in plain.costs], rtol=1e-12)
    assert fused.iterations == 2000 and len(fused.costs) == 20
    primal = gd.primal_loop(w, b, X, Y, 300, 0.005, 100, fused=False)
    short = dual.dual_loop(w, b, X, Y, 300, 0.005, 100, fused=True)
    np.testing.assert_allclose(short.w, primal.w, rtol=0, atol=1e-9 * np.max(np.abs(primal.w)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_dual_loop_records_and_calls_back_like_the_array_api_loop(numba_kernel, monkeypatch, dtype):
    """Calls of 3 iterations (a small chunk) that must stop at every 7th, recorded, iteration:
    the same costs at the same iterations, one callback per iteration in order, the same result."""
    monkeypatch.setattr(dual, "DUAL_CHUNK_WORK", 3 * 20 * 20)
    calls = []
    monkeypatch.setattr(numba_kernel, "loaded", lambda: False)  # as in a new process
    real = numba_kernel.dual_steps
    monkeypatch.setattr(numba_kernel, "dual_steps", lambda *a: calls.append(a[-1]) or real(*a))
    rng = np.random.default_rng(5)
    X = rng.standard_normal((50, 20)).astype(dtype)
    Y = (rng.random((1, 20)) < 0.5).astype(dtype)
    runs = {}
    for fused in (False, True):
        seen = []
        result = dual.dual_loop(np.zeros((50, 1), dtype), np.asarray(0.0, dtype), X, Y, 30, 0.1, 7,
                                   callback=lambda i, c: seen.append((i, c)), fused=fused)
        runs[fused] = result, seen
    assert calls == [3, 3, 1, 3, 3, 1, 3, 3, 1, 3, 3, 1, 2]  # 30 iterations, never past 0, 7, 14, 21, 28
    (plain, plain_seen), (fused, fused_seen) = runs[False], runs[True]
    assert [i for i, _ in fused_seen] == list(range(30))
    assert [i for i, c in fused_seen if c is not None] == [0, 7, 14, 21, 28]
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose([c for _, c in fused_seen if c is not None],
                               [c for _, c in plain_seen if c is not None], rtol=tol)
    assert fused.w.dtype == fused.dw.dtype == dtype
    np.testing.assert_allclose(fused.w, plain.w, rtol=0, atol=tol * np.max(np.abs(plain.w)))


def test_interrupted_fused_dual_loop_reports_the_iterations_it_completed(numba_kernel):
    """A KeyboardInterrupt from the callback of iteration 7 arrives after the compiled call that ran
    iterations 0-9 (record_every=10): the partial result is that of exactly 10 iterations."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((30, 12))
    Y = (rng.random((1, 12)) < 0.5).astype(np.float64)

    def stop_at_7(i, cost):
        if i == 7:
            raise KeyboardInterrupt

    w, b = np.zeros((30, 1)), np.asarray(0.0)
    with pytest.raises(solvers.TrainingInterrupted) as info:
        dual.dual_loop(w, b, X, Y, 100, 0.1, 10, callback=stop_at_7, fused=True)
    partial = info.value.result
    assert partial.iterations == 10
    reference = gd.primal_loop(w, b, X, Y, 10, 0.1, 10, fused=False)
    np.testing.assert_allclose(partial.w, reference.w, rtol=0, atol=1e-12 * np.max(np.abs(reference.w)))


def test_fused_dual_is_refused_where_it_cannot_run(numba_kernel):
    import array_api_strict as xps

    X, Y = xps.ones((4, 10), dtype=xps.float64), xps.zeros((1, 10), dtype=xps.float64)
    with pytest.raises(ValueError, match="fused=True cannot run here: it needs a 2-D NumPy array"):
        dual.dual_loop(xps.zeros((4, 1), dtype=xps.float64), xps.asarray(0.0, dtype=xps.float64), X, Y, 1, 0.1, 1,
                          fused=True)
    with pytest.raises(ValueError, match="fused must be True, False or 'auto'; got 1"):
        dual.dual_loop(np.zeros((4, 1)), np.asarray(0.0), np.ones((4, 10)), np.zeros((1, 10)), 1, 0.1, 1, fused=1)


def test_train_uses_the_compiled_dual_loop_where_asked_or_long(numba_kernel, monkeypatch):
    """xlogreg.train(solver="dual", fused=True) on NumPy goes through dual_steps, once per 100
    iterations; "auto" only for runs long enough to pay for loading the kernels."""
    calls = []
    monkeypatch.setattr(numba_kernel, "loaded", lambda: False)  # as in a new process
    real = numba_kernel.dual_steps
    monkeypatch.setattr(numba_kernel, "dual_steps", lambda *a: calls.append(a[-1]) or real(*a))
    wh, bh, X, C = _data(80, 30, np.float64)
    Y = (C < 0).astype(np.float64)
    xlogreg.train(X, Y, num_iterations=250, learning_rate=0.1, solver="dual")
    assert calls == []  # auto: 250 iterations save ~2 ms, loading costs ~1 s
    model = xlogreg.train(X, Y, num_iterations=250, learning_rate=0.1, solver="dual", fused=True)
    assert calls == [100, 100, 50]
    # By hand, for a load of 0.5 s and 2e-5 s saved per iteration: 25,000 iterations pay for it.
    monkeypatch.setattr(data_compiled, "FUSED_LOAD_S", 0.5)
    monkeypatch.setattr(data_compiled, "FUSED_DUAL_SAVES_S", 2e-5)
    assert data_compiled.choose_fused_dual(np.ones((3, 3)), 25_001)
    assert not data_compiled.choose_fused_dual(np.ones((3, 3)), 24_999)
    with pytest.raises(ValueError, match="fused must be True, False or 'auto'; got 'yes'"):
        xlogreg.train(X, Y, num_iterations=5, fused="yes")
    with pytest.raises(ValueError, match="fused must be True, False or 'auto'; got None"):
        xlogreg.optimize(np.zeros((80, 1)), 0.0, X, Y, fused=None)
    reference = xlogreg.train(X, Y, num_iterations=250, learning_rate=0.1, solver="primal")
    np.testing.assert_allclose(model.w, reference.w, rtol=0, atol=1e-10 * np.max(np.abs(reference.w)))


def test_a_new_process_loads_the_kernels_from_numbas_cache(numba_kernel, tmp_path):
    """Compiled once, then loaded: in a second process numba's disk cache has every kernel (defined
    inside a function, as they first were, they were compiled again in every process, 5-6 s)."""
    code = """if True:
        import numpy as np
        from xlogreg.data import compiled as data_compiled
        X = np.asfortranarray(np.ones((5, 9)))
        data_compiled.half_gradient(np.zeros((5, 1)), np.asarray(0.0), X, np.ones((1, 9)))
        data_compiled.dual_steps(data_compiled.dual_rows(X.T @ X), np.zeros((1, 9)), np.ones((1, 9)), np.zeros((1, 9)), 2)
    """
    root = pathlib.Path(__file__).resolve().parents[1]
    env = dict(os.environ, NUMBA_DEBUG_CACHE="1", NUMBA_CACHE_DIR=str(tmp_path),
               PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                           check=True) for _ in range(2)]
    first, second = (r.stdout + r.stderr for r in runs)
    for kernel in ("half_gradient_kernel", "dual_serial"):
        assert re.search(rf"data saved to '{re.escape(str(tmp_path))}[^']*{kernel}", first), first
        assert re.search(rf"data loaded from '{re.escape(str(tmp_path))}[^']*{kernel}", second), second
    assert "data saved" not in second, second


def _plain_pass(W, b, X, T, sw, multinomial):
    """(Z, G, s) of one primal pass in float64 NumPy, written out here: the independent reference."""
    X, W, b, T, sw = (np.asarray(a, dtype=np.float64) for a in (X, W, b, T, sw))
    Z = W.T @ X + b
    if multinomial:
        E = np.exp(Z - Z.max(axis=0))
        Q = (E / E.sum(axis=0) - T) * sw
    else:
        Q = (np.tanh(Z / 2) + 1 - 2 * T) * sw  # = 2 sigmoid(z) - 2y
    return Z, X @ Q.T, Q.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("k", [1, 2, 3, 10])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 3e-5)])
@pytest.mark.parametrize("n_x, m", [(1, 1), (3, 2), (5, 17), (7, 130), (300, 1003), (4099, 37)])
def test_primal_pass_matches_numpy(numba_kernel, order, k, dtype, tol, n_x, m):
    """PrimalPass for C- and Fortran-ordered X, the binary (k = 1) and the softmax (k >= 2) pass, with
    weights: every remainder of the 4-row, 2-row and 4-example loops, partial blocks, one feature, and
    examples too long for tiles (4099 features)."""
    rng = np.random.default_rng(n_x * 1000 + m + k)
    X = np.asarray(rng.standard_normal((n_x, m)), dtype=dtype, order=order)
    W = (rng.standard_normal((n_x, k)) / np.sqrt(n_x)).astype(dtype)
    b = rng.standard_normal((k, 1)).astype(dtype)
    labels = rng.integers(0, max(k, 2), (1, m))
    T = labels.astype(dtype) if k == 1 else (labels == np.arange(k)[:, None]).astype(dtype)
    sw = (rng.random((1, m)) * 2).astype(dtype)
    for weights in (None, sw):
        Z, G, s = numba_kernel.PrimalPass(X, T, weights, k > 1)(W, b)
        Z_ref, G_ref, s_ref = _plain_pass(W, b, X, T, np.ones((1, m)) if weights is None else sw, k > 1)
        assert (Z.shape, G.shape, s.shape) == (Z_ref.shape, G_ref.shape, s_ref.shape)
        assert Z.dtype == G.dtype == s.dtype == dtype
        size = np.max(np.abs(X))
        np.testing.assert_allclose(Z, Z_ref, rtol=0, atol=tol * size * (n_x + np.max(np.abs(b))))
        np.testing.assert_allclose(G, G_ref, rtol=0, atol=tol * size * 4 * m)
        np.testing.assert_allclose(s, s_ref, rtol=0, atol=tol * 4 * m)
        one_pass = numba_kernel.PrimalPass(X, T, weights, k > 1)
        one_pass(W, b)
        if k == 1:
            assert one_pass.loss_sum is None
        else:  # the examples' weighted cross-entropies, by hand: logsumexp(z) - z[label]
            w = np.ones(m) if weights is None else sw[0].astype(np.float64)
            top = Z_ref.max(axis=0)
            L_ref = top + np.log(np.exp(Z_ref - top).sum(axis=0)) - Z_ref[labels[0], np.arange(m)]
            assert isinstance(one_pass.loss_sum, float)
            assert one_pass.loss_sum == pytest.approx(np.sum(w * L_ref), rel=tol, abs=float(tol * size * n_x * m))


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("k", [1, 5])
def test_primal_pass_is_the_same_for_any_thread_count(numba_kernel, order, k):
    """Examples are split per thread; each split gives the reference, a split is reproducible, and
    the inputs are not changed."""
    import numba

    rng = np.random.default_rng(9)
    X = np.asarray(rng.standard_normal((37, 2001)), order=order)
    W, b = rng.standard_normal((37, k)) * 0.2, rng.standard_normal((k, 1))
    labels = rng.integers(0, max(k, 2), (1, 2001))
    T = labels.astype(float) if k == 1 else (labels == np.arange(k)[:, None]).astype(float)
    _, G_ref, s_ref = _plain_pass(W, b, X, T, np.ones((1, 2001)), k > 1)
    inputs = [a.copy() for a in (X, W, b, T)]
    before = numba.get_num_threads()
    try:
        for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
            numba.set_num_threads(threads)
            one_pass = numba_kernel.PrimalPass(X, T, None, k > 1)
            first, again = one_pass(W, b), one_pass(W, b)
            for x, y in zip(first, again):
                np.testing.assert_array_equal(x, y)
            np.testing.assert_allclose(first[1], G_ref, rtol=0, atol=1e-12 * np.max(np.abs(G_ref)))
            np.testing.assert_allclose(first[2], s_ref, rtol=0, atol=1e-10)
    finally:
        numba.set_num_threads(before)
    for a, old in zip((X, W, b, T), inputs):
        np.testing.assert_array_equal(a, old)


def test_primal_pass_saturates_without_nan(numba_kernel):
    """Logits of +-1e4 (and the softmax of such logits): residuals at their limits, nothing NaN."""
    X = np.ascontiguousarray(np.full((2, 64), 100.0))
    X[:, 1::2] = -100.0
    for k in (1, 3):
        labels = np.arange(64).reshape(1, 64) % max(k, 2)
        T = labels.astype(float) if k == 1 else (labels == np.arange(k)[:, None]).astype(float)
        W = np.full((2, k), 50.0)
        W[:, 0] = -50.0
        Z, G, s = numba_kernel.PrimalPass(X, T, None, k > 1)(W, np.zeros((k, 1)))
        Z_ref, G_ref, s_ref = _plain_pass(W, np.zeros((k, 1)), X, T, np.ones((1, 64)), k > 1)
        assert np.all(np.isfinite(G)) and np.all(np.isfinite(s))
        np.testing.assert_allclose(G, G_ref, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(s, s_ref, rtol=1e-12, atol=1e-9)
    # softmax's loss, by hand: even examples have logits (-1e4, 1e4, 1e4), odd ones (1e4, -1e4, -1e4); labels
    # t % 3. Even with label 0 (t = 0, 6, .., 60: 11) lose 2e4 + ln 2, the other 21 even ones ln 2; odd with
    # label 0 (11) lose 0, the other 21 odd ones 2e4: in all 32 (2e4 + ln 2)
    one_pass = numba_kernel.PrimalPass(X, T, None, True)
    one_pass(W, np.zeros((3, 1)))
    assert one_pass.loss_sum == pytest.approx(32 * (20_000 + np.log(2)), rel=1e-12)


def test_rows_block_sizes(monkeypatch):
    """Worked by hand: 512 KiB of X per block (a quarter of a 2 MiB L2; 16 KiB of logits for k > 1), a
    multiple of 16, 64 to 4096 examples (16 for k > 1)."""
    from xlogreg.data import compiled as data_compiled

    monkeypatch.setenv("XLOGREG_MACHINE", "l2=2M")

    assert data_compiled.rows_block(200, 1, 8) == 320  # 524288 / 1600 = 327.7
    assert data_compiled.rows_block(100, 1, 4) == 1296  # 524288 / 400 = 1310.7
    assert data_compiled.rows_block(1, 1, 8) == 4096 and data_compiled.rows_block(12288, 1, 4) == 64
    assert data_compiled.rows_block(200, 10, 8) == 192  # 16384 / 80 = 204.8
    assert data_compiled.rows_block(200, 10, 4) == 400  # 16384 / 40 = 409.6; 524288 / 800 = 655
    assert data_compiled.rows_block(5000, 10, 8) == 16  # 524288 / 40000 = 13.1


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_x, m", [(7, 130), (300, 1003), (4099, 37)])
def test_a_non_finite_entry_anywhere_makes_the_pass_gradient_non_finite(numba_kernel, order, k, dtype, n_x, m):
    """What ``gd._check_x_by_pass`` rests on: one NaN or infinity anywhere in X (the first and last
    entries, the remainder rows of the unrolled loops, a random spot), even at an example of weight 0 and
    from W = 0, makes G or s of the compiled pass not finite."""
    rng = np.random.default_rng(n_x + m + k)
    X0 = np.asarray(rng.standard_normal((n_x, m)), dtype=dtype, order=order)
    labels = rng.integers(0, max(k, 2), (1, m))
    T = labels.astype(dtype) if k == 1 else (labels == np.arange(k)[:, None]).astype(dtype)
    spots = [(0, 0), (n_x - 1, m - 1), (n_x - 1, 0), (0, m - 1),
             (int(rng.integers(n_x)), int(rng.integers(m)))]
    for bad in (np.nan, np.inf, -np.inf):
        for row, col in spots:
            X = X0.copy(order=order)
            X[row, col] = bad
            sw = np.ones((1, m), dtype)
            sw[0, col] = 0
            for W in (np.zeros((n_x, k), dtype), (rng.standard_normal((n_x, k)) / n_x).astype(dtype)):
                for weights in (None, sw):
                    _, G, s = numba_kernel.PrimalPass(X, T, weights, k > 1)(W, np.zeros((k, 1), dtype))
                    assert not (np.all(np.isfinite(G)) and np.all(np.isfinite(s))), (bad, row, col)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_train_on_the_compiled_pass_refuses_non_finite_X_without_a_separate_read(numba_kernel, monkeypatch,
                                                                                  order, classes, bad):
    """train leaves the finiteness check of X to the first compiled pass: finite X is not read by
    ``check_finite`` at all (a read of X saved); X with a NaN or an infinity, even at an example of
    weight 0, is refused with the message of the check, before any cost is recorded."""
    from xlogreg import _validation

    calls = []
    real = _validation.check_finite
    monkeypatch.setattr(_validation, "check_finite", lambda x, name: calls.append(name) or real(x, name))
    rng = np.random.default_rng(classes)
    X = np.asarray(rng.standard_normal((5, 40)), order=order)
    y = np.arange(40) % classes
    xlogreg.train(X, y, num_iterations=3, learning_rate=0.1, solver="primal", fused=True)
    assert "X" not in calls
    xlogreg.train(X, y, num_iterations=3, learning_rate=0.1, solver="primal", fused=False)
    assert calls.count("X") == 1  # the Array API loop checks X first, as before
    X[4, 39] = bad
    weights = np.ones(40)
    weights[39] = 0.0
    for iterations in (3, 0):
        calls.clear()
        with pytest.raises(ValueError, match="^X must hold only finite values; it contains NaN or infinity$"):
            xlogreg.train(X, y, num_iterations=iterations, learning_rate=0.1, solver="primal", fused=True,
                          sample_weight=weights)
        assert calls.count("X") == 1


def test_train_on_the_compiled_pass_keeps_finite_X_whose_gradient_overflows(numba_kernel):
    """Finite X whose first gradient overflows is not called non-finite: the exact check clears it, and the
    run ends as the Array API loop's run does."""
    X = np.array([[1e308, 1e308, 1e308, -1e308]])
    outcomes = []
    for fused in (True, False):
        with pytest.raises(xlogreg.TrainingDiverged) as info:
            xlogreg.train(X, [1, 1, 1, 0], num_iterations=3, learning_rate=1.0, solver="primal", fused=fused)
        outcomes.append(str(info.value))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("k", [1, 2, 3, 10])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-13), (np.float32, 3e-6)])
@pytest.mark.parametrize("n_x, m", [(1, 1), (5, 17), (7, 130), (300, 1003), (4099, 37)])
def test_primal_pass_logits_match_numpy(numba_kernel, order, k, dtype, tol, n_x, m):
    """``PrimalPass.logits`` is W.T X + b in X's dtype: every remainder of the 4-row loop, partial blocks,
    one feature, and long examples, both layouts."""
    rng = np.random.default_rng(n_x * 7 + m + k)
    X = np.asarray(rng.standard_normal((n_x, m)), dtype=dtype, order=order)
    W = rng.standard_normal((n_x, k)).astype(dtype)
    b = rng.standard_normal((k, 1)).astype(dtype)
    Z = numba_kernel.PrimalPass(X, np.zeros((k, m), dtype), None, k > 1).logits(W, b)
    reference = W.astype(np.float64).T @ X.astype(np.float64) + b  # float64 NumPy
    assert Z.shape == (k, m) and Z.dtype == dtype
    np.testing.assert_allclose(Z, reference, rtol=0, atol=tol * (n_x + 1) * 8)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("classes", [2, 4])
def test_train_takes_its_final_logits_from_the_compiled_pass(numba_kernel, monkeypatch, order, classes):
    """After compiled passes, the final cost and training accuracy come from ``PrimalPass.logits`` (no BLAS
    product while numba's threads spin), and equal a plain NumPy computation from the returned model."""
    calls = []
    real = numba_kernel.PrimalPass.logits
    monkeypatch.setattr(numba_kernel.PrimalPass, "logits", lambda self, W, b: calls.append(1) or real(self, W, b))
    rng = np.random.default_rng(classes)
    X = np.asarray(rng.standard_normal((6, 300)), order=order)
    y = np.argmax(rng.standard_normal((6, classes)).T @ X + rng.standard_normal((classes, 300)), axis=0)
    for fused, expected_calls in ((True, 1), (False, 0)):
        calls.clear()
        model = xlogreg.train(X, y, num_iterations=30, learning_rate=0.5, solver="primal", fused=fused)
        assert len(calls) == expected_calls
        Z = np.asarray(model.w).T @ X + np.asarray(model.b).reshape(-1, 1)
        labels = np.argmax(Z, axis=0) if classes > 2 else (Z[0] > 0).astype(int)
        assert model.train_accuracy == pytest.approx(100 * np.mean(labels == y), abs=1e-12)


# ------------------------------------------------------------ the loss object's softmax pass


def _softmax_problem(dtype, order, m=403, n_x=23, k=7, seed=3):
    rng = np.random.default_rng(seed)
    X = np.asarray(rng.standard_normal((n_x, m)) * 2, dtype=dtype, order=order)
    labels = rng.integers(0, k, (1, m))
    W = (rng.standard_normal((n_x, k)) / 3).astype(dtype)
    b = rng.standard_normal((k, 1)).astype(dtype)
    sw = (rng.random((1, m)) * 2).astype(dtype)
    return X, labels, W, b, sw


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("max_work, kind", [(10**6, "PrimalPass"), (0, "SoftmaxPass")])
def test_fused_loss_value_and_gradient_match_numpy(numba_kernel, monkeypatch, order, dtype, tol, weighted,
                                                   max_work, kind):
    """LogisticLoss(fused=True).value_and_gradient through either compiled pass: J and its gradient against
    plain float64 NumPy written here, in X's dtype, the inputs untouched."""
    from xlogreg._loss import LogisticLoss

    monkeypatch.setattr(data_compiled, "FUSED_SOFTMAX_MAX_WORK", max_work)
    X, labels, W, b, sw = _softmax_problem(dtype, order)
    k, m = W.shape[1], X.shape[1]
    weights = sw if weighted else None
    loss = LogisticLoss(X, labels.astype(dtype), k, sample_weight=weights, l2=0.7, fused=True)
    assert type(loss.fused_pass).__name__ == kind
    before = [a.copy() for a in (X, W, b)]
    J, dW, db = loss.value_and_gradient(W, b)
    Xd, Wd, bd = (a.astype(np.float64) for a in (X, W, b))
    w = np.ones(m) if weights is None else sw[0].astype(np.float64)
    S = w.sum()
    Z = Wd.T @ Xd + bd
    top = Z.max(axis=0)
    E = np.exp(Z - top)
    L = top + np.log(E.sum(axis=0)) - Z[labels[0], np.arange(m)]
    J_ref = np.sum(w * L) / S + 0.7 / (2 * S) * np.sum(Wd * Wd)
    Q = (E / E.sum(axis=0) - (labels == np.arange(k)[:, None])) * w
    assert J.dtype == dW.dtype == db.dtype == dtype and J.shape == () and dW.shape == W.shape and db.shape == b.shape
    assert float(J) == pytest.approx(J_ref, rel=tol)
    np.testing.assert_allclose(dW, Xd @ Q.T / S + 0.7 / S * Wd, rtol=0, atol=tol * 10)
    np.testing.assert_allclose(db, Q.sum(axis=1, keepdims=True) / S, rtol=0, atol=tol * 10)
    for a, old in zip((X, W, b), before):
        np.testing.assert_array_equal(a, old)


def test_fused_loss_is_refused_where_it_cannot_run(numba_kernel):
    from xlogreg._loss import LogisticLoss

    X, labels, *_ = _softmax_problem(np.float64, "C")
    with pytest.raises(ValueError, match="fused=True cannot run here: it is the binary loss"):
        LogisticLoss(X, (labels > 3).astype(float), 2, fused=True)
    with pytest.raises(ValueError, match="fused=True cannot run here: .*C or Fortran order"):
        LogisticLoss(np.ones((4, 20))[:, ::2], labels[:, :10].astype(float), 7, fused=True)
    with pytest.raises(ValueError, match="fused=True cannot run here: it needs float32 or float64"):
        LogisticLoss(X.astype(np.float16), labels.astype(np.float16), 7, fused=True)


def test_choose_fused_softmax(numba_kernel, monkeypatch):
    """Softmax only, usable X, and (in a new process) what it saves over the evaluations longer than loading
    the kernels. By hand, X of 16 x 1000 float64 (128,000 bytes), reads at 1e9 B/s, a load of 2 s, 8 passes
    over the logits: with 10 classes (K n = 160, PrimalPass) 8 x 10 x 1000 x 8 + 128,000 = 768,000 bytes
    saved per evaluation, 2e9 / 768,000 = 2604.2 evaluations; with 11 (176 > 160: SoftmaxPass, X still read
    twice) 704,000 bytes, 2840.9 evaluations."""
    from xlogreg.data.compiled import choose_fused_softmax

    monkeypatch.setattr(numba_kernel, "loaded", lambda: False)
    monkeypatch.setattr(data_compiled, "FUSED_LOAD_S", 2.0)
    monkeypatch.setattr(data_compiled, "FUSED_READ_BYTES_PER_S", 1e9)
    monkeypatch.setattr(data_compiled, "FUSED_SOFTMAX_PASSES", 8)
    monkeypatch.setattr(data_compiled, "FUSED_SOFTMAX_MAX_WORK", 160)
    X = np.ones((16, 1000))
    assert choose_fused_softmax(X, 10, 2605) and not choose_fused_softmax(X, 10, 2604)
    assert choose_fused_softmax(X, 11, 2841) and not choose_fused_softmax(X, 11, 2840)
    assert not choose_fused_softmax(X, 2, 10**9)  # the binary loss
    assert not choose_fused_softmax(np.ones((16, 2000))[:, ::2], 3, 10**9)  # neither order
    monkeypatch.setattr(numba_kernel, "loaded", lambda: True)
    assert choose_fused_softmax(X, 10, 1)
    labels = np.zeros((1, 1000))
    assert isinstance(data_compiled.softmax_pass(X, labels, np.ones((10, 1000)), 10, None), data_compiled.PrimalPass)
    assert isinstance(data_compiled.softmax_pass(X, labels, np.ones((11, 1000)), 11, None), data_compiled.SoftmaxPass)
    monkeypatch.setattr(data_compiled, "available", lambda: False)
    assert not choose_fused_softmax(X, 10, 10**9)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 3e-5)])
@pytest.mark.parametrize("k, n_x, m", [(3, 5, 17), (7, 13, 130), (40, 9, 1003), (1000, 3, 300)])
def test_softmax_pass_matches_numpy(numba_kernel, order, dtype, tol, k, n_x, m):
    """SoftmaxPass: G, s and the losses against plain float64 NumPy, with and without weights, partial tiles
    (tiles of 16 forced), labels never seen (a class without examples), the inputs untouched; twice in a row
    on its kept buffer gives the same."""
    rng = np.random.default_rng(k + n_x + m)
    X = np.asarray(rng.standard_normal((n_x, m)) * 2, dtype=dtype, order=order)
    W = (rng.standard_normal((n_x, k)) / np.sqrt(n_x)).astype(dtype)
    b = rng.standard_normal((k, 1)).astype(dtype)
    labels = rng.integers(0, k - 1, (1, m))  # class k - 1 has no example
    T = (labels == np.arange(k)[:, None]).astype(dtype)
    sw = (rng.random((1, m)) * 2).astype(dtype)
    before = [a.copy() for a in (X, W, b, labels, sw)]
    for weights in (None, sw):
        one_pass = numba_kernel.SoftmaxPass(X, labels.astype(dtype), k, weights)
        one_pass.block = 16
        _, G, s = one_pass(W, b)
        w = np.ones((1, m)) if weights is None else sw
        Z_ref, G_ref, s_ref = _plain_pass(W, b, X, T, w, True)
        top = Z_ref.max(axis=0)
        L_ref = np.sum(w[0] * (top + np.log(np.exp(Z_ref - top).sum(axis=0)) - Z_ref[labels[0], np.arange(m)]))
        assert G.dtype == s.dtype == dtype and G.shape == (n_x, k) and s.shape == (k, 1)
        size = float(np.max(np.abs(X)))
        np.testing.assert_allclose(G, G_ref, rtol=0, atol=tol * size * 4 * m)
        np.testing.assert_allclose(s, s_ref, rtol=0, atol=tol * 4 * m)
        assert one_pass.loss_sum == pytest.approx(L_ref, rel=tol, abs=tol * size * n_x * m)
        again = one_pass(W, b)
        np.testing.assert_array_equal(again[1], G)
        assert again[0] is None
    for a, old in zip((X, W, b, labels, sw), before):
        np.testing.assert_array_equal(a, old)
    with pytest.raises(ValueError, match="does not return the logits"):
        numba_kernel.SoftmaxPass(X, labels, k, None)(W, b, with_z=True)


def test_softmax_pass_saturates_without_nan(numba_kernel):
    """Logits of +-1e4: residuals at their limits, losses by hand (as test_primal_pass_saturates_without_nan)."""
    X = np.ascontiguousarray(np.full((2, 64), 100.0))
    X[:, 1::2] = -100.0
    labels = np.arange(64).reshape(1, 64) % 3
    T = (labels == np.arange(3)[:, None]).astype(float)
    W = np.full((2, 3), 50.0)
    W[:, 0] = -50.0
    one_pass = numba_kernel.SoftmaxPass(X, labels, 3, None)
    _, G, s = one_pass(W, np.zeros((3, 1)))
    _, G_ref, s_ref = _plain_pass(W, np.zeros((3, 1)), X, T, np.ones((1, 64)), True)
    np.testing.assert_allclose(G, G_ref, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(s, s_ref, rtol=1e-12, atol=1e-9)
    assert one_pass.loss_sum == pytest.approx(32 * (20_000 + np.log(2)), rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("max_work, kind", [(10**6, "PrimalPass"), (0, "SoftmaxPass")])
def test_estimator_fits_softmax_through_the_fused_pass_where_chosen(numba_kernel, monkeypatch, weighted,
                                                                    max_work, kind):
    """The estimator's L-BFGS goes through the compiled pass where choose_fused_softmax says so, and fits
    the same model as without it; scikit-learn's optimum is the independent check."""
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    from xlogreg.data import compiled as data_compiled

    monkeypatch.setattr(data_compiled, "FUSED_SOFTMAX_MAX_WORK", max_work)

    rng = np.random.default_rng(4)
    X = rng.standard_normal((600, 12)).astype(np.float32)
    y = np.argmax(X[:, :5] @ rng.standard_normal((5, 5)) + rng.standard_normal((600, 5)), axis=1)
    sw = rng.random(600) + 0.5 if weighted else None
    calls = []
    cls = getattr(data_compiled, kind)
    real = cls.__call__
    monkeypatch.setattr(cls, "__call__", lambda *a, **o: calls.append(1) or real(*a, **o))
    monkeypatch.setattr(data_compiled, "choose_fused_softmax", lambda *a: True)
    fused = xlogreg.LogisticRegression(solver="lbfgs", tol=1e-6).fit(X, y, sample_weight=sw)
    assert len(calls) >= fused.n_iter_[0]
    monkeypatch.setattr(data_compiled, "choose_fused_softmax", lambda *a: False)
    plain = xlogreg.LogisticRegression(solver="lbfgs", tol=1e-6).fit(X, y, sample_weight=sw)
    assert len(calls) >= fused.n_iter_[0] and plain.n_iter_[0] > 0
    reference = sklearn_linear.LogisticRegression(tol=1e-10, max_iter=10_000).fit(X.astype(np.float64), y,
                                                                                sample_weight=sw)
    for model in (fused, plain):
        np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=2e-4)
        np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=0, atol=2e-4)
