"""Solvers: primal, blocked primal and dual loops against an independent NumPy loop, on every backend."""

import sys
import warnings

import numpy as np
import pytest
from array_api_compat import array_namespace, device as get_device

import _reference as ref
import xlogreg
from conftest import import_backend
from xlogreg import _loss, solvers
from xlogreg.core import optimize
from xlogreg.data.blocks import choose_block
from xlogreg.solvers import choose_solver, dual, gd, _loop
from xlogreg.data import blocks as data_blocks, compiled as data_compiled, dask as data_dask
from xlogreg import _backends
from xlogreg import _machine


def _problem(n_x, m, seed=0):
    """A learnable problem: labels drawn from a logistic model of the first features."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m))
    w_true = np.zeros((n_x, 1))
    w_true[: min(n_x, 4)] = [[2.0], [-1.0], [0.5], [1.0]][: min(n_x, 4)]
    Y = (rng.random((1, m)) < 1 / (1 + np.exp(-(w_true.T @ X + 0.3)))).astype(np.float64)
    return X, Y


def _numpy_loop(X, Y, num_iterations, learning_rate, record_every):
    """The course loop, plain NumPy float64: the independent reference."""
    m = X.shape[1]
    w, b, costs = np.zeros((X.shape[0], 1)), 0.0, []
    for i in range(num_iterations):
        A = 1 / (1 + np.exp(-(w.T @ X + b)))
        if i % record_every == 0:
            costs.append(float(-np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A))))
        dZ = A - Y
        w, b = w - learning_rate * (X @ dZ.T) / m, b - learning_rate * np.sum(dZ) / m
    return w, b, costs


def _tol(case, float64, float32):
    return float64 if case.dtype_name == "float64" else float32


def _run(case, X, Y, solver, num_iterations=30, learning_rate=0.1, record_every=5, **kwargs):
    w, b = xlogreg.initialize_with_zeros(X.shape[0], xp=case.xp, device=case.device, dtype=case.dtype)
    if kwargs:  # the loop itself, for its keyword-only options
        Xc, Yc = case.asarray(X), case.asarray(Y)
        b = case.xp.asarray(0.0, dtype=case.dtype, device=case.device)
        result = gd.primal_loop(w, b, Xc, Yc, num_iterations, learning_rate, record_every, **kwargs)
        return result.w, result.b, [c for _, c in result.costs]
    params, grads, costs = optimize(w, b, case.asarray(X), case.asarray(Y), num_iterations, learning_rate,
                                    solver=solver, record_every=record_every)
    return params["w"], params["b"], costs


def _assert_close(case, w, b, costs, w_ref, b_ref, costs_ref, rtol):
    """w, b relative to the scale of w (b is a sum of steps of the same size), costs relative.

    The scale is a Python float: pytest >= 9.2 refuses a NumPy float32 as ``approx``'s tolerance.
    """
    scale = float(np.max(np.abs(w_ref)))
    np.testing.assert_allclose(case.to_numpy(w), w_ref, rtol=0, atol=rtol * scale)
    assert float(b) == pytest.approx(float(b_ref), abs=float(rtol * scale))
    np.testing.assert_allclose(costs, costs_ref, rtol=rtol)


@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_solver_matches_numpy_reference(case, solver):
    """(The two solvers on 40 features and 12 examples: test_primal_and_dual_give_the_same_curve.)"""
    X, Y = _problem(6, 40)
    w_ref, b_ref, costs_ref = _numpy_loop(X, Y, 30, 0.1, 5)
    w, b, costs = _run(case, X, Y, solver)
    _assert_close(case, w, b, costs, w_ref, b_ref, costs_ref, _tol(case, 1e-11, 2e-5))


@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_the_iteration_is_compiled_on_jax_and_nowhere_else(case, solver, monkeypatch):
    """On JAX each iteration goes through ``jax.jit`` (one XLA program instead of an eager dispatch per
    operation); every other backend runs the same function as written. The results on every backend
    are checked against NumPy by the test above."""
    compiled = []
    jit = _backends._jax_jit

    def spy(function):
        compiled.append(function.__name__)
        return jit(function)

    monkeypatch.setattr(_backends, "_jax_jit", spy)
    X, Y = _problem(6, 40)
    w, b, costs = _run(case, X, Y, solver)
    expected = {"primal": "_one_pass", "dual": "_dual_step"}[solver]
    assert compiled == ([expected] if case.backend == "jax" else [])
    assert array_namespace(w) is case.xp and get_device(w) == case.device


def test_primal_and_dual_give_the_same_curve(case):
    """The issue's contract: same costs and weights, 1e-9 relative in float64."""
    X, Y = _problem(40, 12, seed=3)  # shapes shared between tests: JAX compiles once per shape
    w_p, b_p, costs_p = _run(case, X, Y, "primal", num_iterations=60, learning_rate=0.5, record_every=10)
    w_d, b_d, costs_d = _run(case, X, Y, "dual", num_iterations=60, learning_rate=0.5, record_every=10)
    _assert_close(case, w_d, b_d, costs_d, case.to_numpy(w_p), case.to_numpy(b_p), costs_p,
                  _tol(case, 1e-9, 1e-4))


def test_blocked_primal_matches_plain(case):
    """Blocks of 7 examples (the last one partial) change only rounding, on every backend."""
    X, Y = _problem(6, 40, seed=1)
    w0, b0, costs0 = _run(case, X, Y, "primal", block=None)
    w1, b1, costs1 = _run(case, X, Y, "primal", block=7)
    _assert_close(case, w1, b1, costs1, case.to_numpy(w0), case.to_numpy(b0), costs0, _tol(case, 1e-12, 1e-5))
    _assert_close(case, w1, b1, costs1, *_numpy_loop(X, Y, 30, 0.1, 5), _tol(case, 1e-11, 2e-5))  # independent


@pytest.mark.parametrize("block", [1, 39, 40, 1000])
def test_blocked_primal_edge_blocks(block):
    """One example per block, a last block of one, a single block, a block wider than X."""
    X, Y = _problem(6, 40, seed=1)
    plain = gd.primal_loop(np.zeros((6, 1)), np.asarray(0.0), X, Y, 30, 0.1, 5, block=None)
    blocked = gd.primal_loop(np.zeros((6, 1)), np.asarray(0.0), X, Y, 30, 0.1, 5, block=block)
    np.testing.assert_allclose(blocked.w, plain.w, rtol=0, atol=1e-12 * np.max(np.abs(plain.w)))
    np.testing.assert_allclose([c for _, c in blocked.costs], [c for _, c in plain.costs], rtol=1e-12)
    np.testing.assert_allclose(blocked.dw, plain.dw, rtol=0, atol=1e-12 * np.max(np.abs(plain.dw)))
    run = ref.course_loop(X, Y, 30, 0.1, 5)  # and the plain-NumPy loop, which xlogreg does not run
    np.testing.assert_allclose(blocked.w, run.w, rtol=0, atol=1e-12 * np.max(np.abs(run.w)))
    np.testing.assert_allclose(blocked.dw, run.dw, rtol=0, atol=1e-12 * np.max(np.abs(run.dw)))
    np.testing.assert_allclose([c for _, c in blocked.costs], run.costs, rtol=1e-12)


def test_blocked_primal_on_course_data(course_data):
    """The course data (Fortran-ordered X, as flatten_images gives it), blocked vs plain, 300 iterations."""
    X, Y, *_ = course_data
    assert choose_block(X) is None  # 20 MB stays in cache: the plain loop is used
    w, b = xlogreg.initialize_with_zeros(X.shape[0])
    b = np.asarray(0.0)
    plain = gd.primal_loop(w, b, X, Y, 300, 0.005, 50, block=None)
    blocked = gd.primal_loop(w, b, X, Y, 300, 0.005, 50, block=30)  # 6 blocks of 30, one of 29
    np.testing.assert_allclose(blocked.w, plain.w, rtol=0, atol=1e-12 * np.max(np.abs(plain.w)))
    np.testing.assert_allclose([c for _, c in blocked.costs], [c for _, c in plain.costs], rtol=1e-12)


@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_solvers_on_course_data_agree(course_data, solver):
    """Both solvers against the independent course loop (100 iterations, to keep the test fast)."""
    X, Y, *_ = course_data
    w_ref, b_ref, costs_ref = _numpy_loop(X, Y, 100, 0.005, 20)
    w, b = xlogreg.initialize_with_zeros(X.shape[0])
    params, _, costs = optimize(w, b, X, Y, 100, 0.005, solver=solver, record_every=20)
    np.testing.assert_allclose(costs, costs_ref, rtol=1e-12)
    np.testing.assert_allclose(params["w"], w_ref, rtol=0, atol=1e-11 * np.max(np.abs(w_ref)))


@pytest.mark.parametrize("solver, block", [("primal", None), ("primal", 5), ("dual", None)])
def test_no_mutation_and_dtype_device_kept(case, solver, block):
    X, Y = _problem(6, 40)
    Xc, Yc = case.asarray(X), case.asarray(Y)
    w = case.asarray(np.full((6, 1), 0.1))
    b = case.xp.asarray(0.2, dtype=case.dtype, device=case.device)
    before = [case.to_numpy(a).copy() for a in (Xc, Yc, w, b)]
    loop = dual.dual_loop if solver == "dual" else gd.primal_loop
    kwargs = {} if solver == "dual" else {"block": block}
    result = loop(w, b, Xc, Yc, 20, 0.1, 5, **kwargs)
    for arr, old in zip((Xc, Yc, w, b), before):
        np.testing.assert_array_equal(case.to_numpy(arr), old)
    for arr in (result.w, result.b, result.dw, result.db):
        assert array_namespace(arr) is case.xp
        assert str(get_device(arr)) == str(case.device)
        assert arr.dtype == case.dtype
    assert result.w.shape == (6, 1) and result.dw.shape == (6, 1) and result.b.shape == ()
    assert result.solver == solver and result.iterations == 20


def test_gradient_of_last_iteration(case):
    """dw, db returned by each solver are the gradient at the iterate before the last step (finite differences)."""
    X, Y = _problem(6, 40, seed=5)
    for solver in ("primal", "dual"):
        w, b = xlogreg.initialize_with_zeros(6, xp=case.xp, device=case.device, dtype=case.dtype)
        _, grads, _ = optimize(w, b, case.asarray(X), case.asarray(Y), 1, 0.1, solver=solver)
        # after one iteration from zero, the gradient reported is the one at zero
        eps = 1e-6
        cost = lambda w, b: np.mean(np.logaddexp(0, w.T @ X + b) - Y * (w.T @ X + b))  # noqa: E731
        numeric = [(cost(np.eye(6)[:, [k]] * eps, 0) - cost(-np.eye(6)[:, [k]] * eps, 0)) / (2 * eps)
                   for k in range(6)]
        numeric_b = (cost(np.zeros((6, 1)), eps) - cost(np.zeros((6, 1)), -eps)) / (2 * eps)
        tol = _tol(case, 1e-8, 1e-5)
        np.testing.assert_allclose(case.to_numpy(grads["dw"]).ravel(), numeric, rtol=0, atol=tol)
        assert float(grads["db"]) == pytest.approx(numeric_b, abs=tol)


def test_cost_computed_only_on_recorded_iterations(monkeypatch):
    calls = []
    real = _loss.losses
    monkeypatch.setattr(_loss, "losses", lambda *args: calls.append(1) or real(*args))
    X, Y = _problem(5, 30)
    for solver in ("primal", "dual"):
        calls.clear()
        w, b = xlogreg.initialize_with_zeros(5)
        optimize(w, b, X, Y, 95, 0.1, solver=solver, record_every=10)
        assert len(calls) == 10  # iterations 0, 10, ..., 90
    calls.clear()
    gd.primal_loop(np.zeros((5, 1)), np.asarray(0.0), X, Y, 95, 0.1, 10, block=7)
    assert len(calls) == 10


def test_zero_iterations_report_the_starting_gradient():
    X, Y = _problem(5, 30)
    for kwargs in ({"block": None}, {"block": 7}):
        result = gd.primal_loop(np.zeros((5, 1)), np.asarray(0.0), X, Y, 0, 0.1, 10, **kwargs)
        assert result.iterations == 0 and result.costs == []
        np.testing.assert_allclose(result.dw, X @ (0.5 - Y).T / 30, atol=1e-15)


def test_bad_block_is_refused():
    X, Y = _problem(5, 30)
    for block in (0, -3, 2.5, True, "big"):
        with pytest.raises(ValueError, match="block must be a number of examples"):
            gd.primal_loop(np.zeros((5, 1)), np.asarray(0.0), X, Y, 1, 0.1, 1, block=block)


def test_bad_solver_is_refused():
    X, Y = _problem(5, 30)
    with pytest.raises(ValueError, match="solver must be one of auto, primal, dual, newton-cg, newton-cholesky, lbfgs, prox-newton; got 'newton'"):
        optimize(np.zeros((5, 1)), 0.0, X, Y, 1, 0.1, solver="newton")


# --- choose_solver ---------------------------------------------------------------------------------

def test_choose_solver_on_the_course_shape():
    """12288 features, 209 examples: the Gram matrix (209 x 209) makes each iteration ~100x cheaper."""
    assert choose_solver(12288, 209, 2000) == "dual"
    assert choose_solver(12288, 209, 2000, lazy=True) == "dual"  # K is smaller than X


@pytest.mark.parametrize(("n_x", "m", "iterations", "expected"), [
    (100, 1_000_000, 2000, "primal"),   # many examples: m^2 per iteration is far more than n_x m
    (1000, 1000, 2000, "dual"),         # square: 2 n_x m vs m^2 per iteration
    (1000, 1500, 1_000_000, "dual"),    # long runs: m^2 < 2 n_x m per iteration decides
    (1000, 2500, 1_000_000, "primal"),
    (12288, 209, 0, "primal"),          # no iteration: the Gram product is pure cost
    (12288, 209, 1, "primal"),          # one iteration: n_x m^2 > 2 n_x m
])
def test_choose_solver_by_work(n_x, m, iterations, expected):
    assert choose_solver(n_x, m, iterations) == expected


def test_choose_solver_falls_back_to_primal_when_the_gram_matrix_is_too_big():
    m = int((_loop._gram_limit_bytes() / 8) ** 0.5) + 1  # K of m x m float64 just over the limit
    assert choose_solver(10**6, m, 10**6) == "primal"
    assert choose_solver(10**6, m, 10**6, itemsize=4) == "dual"  # float32 K fits
    assert choose_solver(10**6, m - 1, 10**6) == "dual"


def test_choose_solver_lazy_never_builds_a_gram_bigger_than_x():
    assert choose_solver(500, 400, 10**6, lazy=True) == "dual"
    assert choose_solver(500, 600, 10**6, lazy=False) == "dual"
    assert choose_solver(500, 600, 10**6, lazy=True) == "primal"


def test_auto_solver_is_recorded(case64):
    X, Y = _problem(40, 12)
    model = xlogreg.train(case64.asarray(X), case64.asarray(Y), num_iterations=50, learning_rate=0.1)
    assert model.solver == "dual"
    model = xlogreg.train(case64.asarray(X), case64.asarray(Y), num_iterations=50, learning_rate=0.1,
                          solver="primal")
    assert model.solver == "primal"


# --- choose_block ----------------------------------------------------------------------------------

@pytest.fixture
def one_thread(monkeypatch):
    """One BLAS thread, on the recorded machine's caches (the block sizes follow them: tests/test_machine.py)."""
    monkeypatch.setattr(data_blocks, "_blas_threads", lambda: 1)
    monkeypatch.setenv("XLOGREG_MACHINE", "l1d=32K,l2=512K,l3=32M")


def _big(n_x=256, order="F", dtype=np.float64):
    """An uninitialised X of exactly the blocks' minimum size (np.empty: no page is touched)."""
    m = data_blocks._block_min_bytes() // (n_x * np.dtype(dtype).itemsize)
    return np.empty((n_x, m), dtype=dtype, order=order)


def test_choose_block_for_large_fortran_numpy(one_thread):
    X = _big()
    assert choose_block(X) == data_blocks._block_elements() // 256
    assert choose_block(_big(dtype=np.float32)) == data_blocks._block_elements() // 256
    assert choose_block(X[:, : X.shape[1] // 2]) is None  # a view of half: under the minimum size


def test_choose_block_declines_where_blocks_do_not_pay(one_thread, monkeypatch):
    assert choose_block(_big(order="C")) is None  # examples are strided in a C-ordered X
    assert choose_block(np.empty((256, 1000), order="F")) is None  # fits in cache
    n_x = data_blocks._block_elements() // data_blocks.BLOCK_MIN_EXAMPLES + 1
    assert choose_block(_big(n_x=n_x)) is None  # too few examples per block
    monkeypatch.setattr(data_blocks, "_blas_threads", lambda: 2)
    assert choose_block(_big()) is None  # threaded BLAS reads all of X faster than one core


def test_choose_block_at_its_edges(one_thread, monkeypatch):
    """Hand-worked: a block is BLOCK_ELEMENTS // n_x examples (an int), used where BLOCK_MIN_EXAMPLES <= block < m."""
    monkeypatch.setattr(data_blocks, "BLOCK_MIN_BYTES", 0)
    monkeypatch.setattr(data_blocks, "BLOCK_MIN_EXAMPLES", 4)
    X = np.zeros((3, 10), order="F")
    for elements, expected in [(14, 4),      # 14 // 3 = 4: exactly the minimum
                               (11, None),   # 3 examples: too few
                               (29, 9),      # 9 < m = 10
                               (30, None),   # 10 = m: a single block is the plain loop
                               (300, None)]:  # wider than X
        monkeypatch.setattr(data_blocks, "BLOCK_ELEMENTS", elements)
        block = choose_block(X)
        assert block == expected and type(block) is type(expected), elements


def test_choose_block_only_for_numpy(case, one_thread, monkeypatch):
    """With the thresholds lowered so that a tiny X qualifies, only NumPy gets blocks."""
    monkeypatch.setattr(data_blocks, "BLOCK_MIN_BYTES", 0)
    monkeypatch.setattr(data_blocks, "BLOCK_ELEMENTS", 8)
    monkeypatch.setattr(data_blocks, "BLOCK_MIN_EXAMPLES", 1)
    X = case.asarray(np.asfortranarray(np.zeros((4, 10))))
    expected = 2 if case.backend == "numpy" else None
    assert choose_block(X) == expected


# data_blocks._blas_threads reads xlogreg._machine.blas_threads: tests/test_machine.py



def _no_host_sync_class(torch):
    """A torch.Tensor subclass that refuses every conversion to a host value (a GPU sync)."""
    syncs = {torch.Tensor.__float__, torch.Tensor.__bool__, torch.Tensor.__int__, torch.Tensor.__index__,
             torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.numpy, torch.Tensor.cpu}

    class NoHostSync(torch.Tensor):
        allowed = False

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func in syncs and not NoHostSync.allowed:
                raise AssertionError(f"host synchronisation inside the loop: {func.__name__}")
            return super().__torch_function__(func, types, args, kwargs or {})

    return NoHostSync


@pytest.mark.parametrize(("loop", "kwargs"), [(gd.primal_loop, {"block": None}),
                                               (gd.primal_loop, {"block": 7}),
                                               (dual.dual_loop, {})])
def test_no_host_sync_except_where_a_cost_is_recorded(monkeypatch, loop, kwargs):
    """Tensors that refuse float(), bool(), .item(), ... go through the loops: only _record converts."""
    torch = import_backend("torch")
    NoHostSync = _no_host_sync_class(torch)
    record = _loop._record

    def allowed_record(*args):
        NoHostSync.allowed = True
        try:
            record(*args)
        finally:
            NoHostSync.allowed = False

    monkeypatch.setattr(sys.modules[loop.__module__], "_record", allowed_record)  # where the loop reads it
    X, Y = (torch.from_numpy(a).as_subclass(NoHostSync) for a in _problem(6, 40))
    w, b = torch.zeros((6, 1), dtype=X.dtype).as_subclass(NoHostSync), torch.tensor(0.0, dtype=X.dtype)
    result = loop(w, b.as_subclass(NoHostSync), X, Y, 25, 0.1, 10, **kwargs)
    assert [i for i, _ in result.costs] == [0, 10, 20]
    with pytest.raises(AssertionError, match="host synchronisation"):  # the check itself works
        float(result.b)


# --- the safety checks, called directly (mutation testing, docs/mutation-testing.md) ---------------

_SMALLER = "the learning rate is probably too large, try a smaller one"


@pytest.mark.parametrize(("w", "b"), [
    ([[1.0], [np.nan]], 0.0),       # w alone not finite
    ([[1.0], [2.0]], np.inf),       # b alone not finite
    ([[-np.inf], [2.0]], -np.inf),  # both
])
def test_check_final_refuses_parameters_that_are_not_finite(w, b):
    message = f"training diverged: the parameters are not finite after 7 iterations; {_SMALLER}"
    with pytest.raises(xlogreg.TrainingDiverged) as info:
        _loop._check_final(np.asarray(w), np.asarray(b), 7)
    assert str(info.value) == message


def test_check_final_passes_finite_parameters():
    assert _loop._check_final(np.asarray([[1e300], [-2.0]]), np.asarray(-1e300), 3) is None


def test_check_not_diverged_at_and_just_over_its_bound():
    """The rule ``final > 10 * start + 1e-7``, worked by hand at its edges."""
    for start, final in ((2.0, 20.0), (2.0, 20.0 + 1e-7), (0.0, 1e-7), (0.693147, 0.7), (0.5, 0.0)):
        assert _loop.check_not_diverged(start, final, 3) is None
    for start, final in ((2.0, 20.0 + 1e-6), (0.0, 2e-7), (1.0, 10.5), (0.5, 6.0)):
        with pytest.raises(xlogreg.TrainingDiverged):
            _loop.check_not_diverged(start, final, 3)


def test_check_not_diverged_message():
    with pytest.raises(xlogreg.TrainingDiverged) as info:
        _loop.check_not_diverged(0.693147, 50000.0, 12)
    assert str(info.value) == (
        "training diverged: the cost rose from 0.693147 at the start to 50000 after 12 iterations, although "
        "every number stayed finite; the learning rate is too large for this data, try a smaller one "
        "(for example a tenth of it)")


@pytest.mark.parametrize(("gradient_sq", "tol", "expected"), [
    (4.0, 2.0, True),          # norm 2 at tol 2: the rule is "at most"
    (4.0, 1.9, False),
    (0.25, 0.5, True),         # norm 0.5
    (0.25, 0.49, False),
    (0.0, 0.0, True),
    (-1e-30, 0.0, True),       # a sum of squares rounded below 0 counts as 0
    (0.0, None, False),        # no tol: never converged
    (np.float64(9.0), 3.0, True),
])
def test_converged_by_hand(gradient_sq, tol, expected):
    assert _loop._converged(gradient_sq, tol) is expected


def test_sum_sq_by_hand():
    assert float(_loop._sum_sq(np.asarray([[1.0, -2.0]]), np.asarray([[3.0]]))) == 14.0
    assert float(_loop._sum_sq(np.asarray([[0.5], [0.0]]))) == 0.25


def test_choose_solver_at_its_edges(monkeypatch):
    # n_x = m = 2, 2 iterations: dual 2*2*2 + 2*1*2*2 = 16, primal 2*2*1*2*2 = 16: a tie stays primal
    assert choose_solver(2, 2, 2) == "primal"
    assert choose_solver(2, 2, 2, k=1) == "primal"
    assert choose_solver(2, 2, 2, k=3) == "dual"  # dual 8 + 24 = 32, primal 48
    assert choose_solver(2, 2, 3, k=1) == "dual"  # dual 8 + 12 = 20, primal 24
    assert choose_solver(10, 10, 10, k=2) == "dual"    # dual 1000 + 2000 = 3000, primal 4000
    assert choose_solver(10, 15, 10, k=2) == "primal"  # dual 2250 + 4500 = 6750, primal 6000
    # m == n_x on a lazy backend: K (m x m) is as big as X, allowed
    assert choose_solver(500, 500, 10**6, lazy=True) == "dual"
    # a Gram matrix of exactly the limit fits; default itemsize 8
    monkeypatch.setattr(_loop, "_gram_limit_bytes", lambda: 800)
    assert choose_solver(10**6, 10, 10**6) == "dual"               # 10 * 10 * 8 = 800
    assert choose_solver(10**6, 10, 10**6, itemsize=9) == "primal"  # 900
    assert choose_solver(10**6, 11, 10**6, itemsize=4) == "dual"    # 484


def test_record_appends_and_prints(capsys):
    costs = [(0, 0.75)]
    assert _loop._record(costs, 100, np.float64(0.5), True) is None
    assert _loop._record(costs, 200, np.asarray(0.25), False) is None
    assert costs == [(0, 0.75), (100, 0.5), (200, 0.25)]
    assert all(type(c) is float for _, c in costs[1:])
    assert capsys.readouterr().out == "Cost after iteration 100: 0.500000\n"


@pytest.mark.parametrize(("costs", "cost", "tail"), [
    ([], np.nan, ""),
    ([(0, 0.69), (100, 0.25)], np.inf, " (last finite cost 0.250000 at iteration 100)"),
])
def test_record_refuses_a_cost_that_is_not_finite(costs, cost, tail, capsys):
    before = list(costs)
    with pytest.raises(xlogreg.TrainingDiverged) as info:
        _loop._record(costs, 300, np.float64(cost), True)
    assert str(info.value) == f"training diverged: the cost is {float(cost)} at iteration 300{tail}; {_SMALLER}"
    assert costs == before and capsys.readouterr().out == ""


def _numpy_gd(X, labels, K, sw, l2, num_iterations, learning_rate, record_every, tol=None, W0=None, b0=None):
    """Weighted, L2-regularised gradient descent in plain NumPy (softmax for K > 2, sigmoid for 2).

    Starts at W0, b0 (zeros if None). Returns W, b, the gradient at the last iterate before the
    last step, the recorded costs, the iterations done and whether the gradient norm reached
    `tol` at a recorded iteration.
    """
    n_x, m = X.shape
    k = K if K > 2 else 1
    T = (np.arange(K)[:, None] == labels).astype(float) if K > 2 else labels
    S = sw.sum()
    W = np.zeros((n_x, k)) if W0 is None else np.array(W0, dtype=float)
    b = np.zeros((k, 1)) if b0 is None else np.array(b0, dtype=float).reshape(k, 1)
    costs, grad = [], None
    for i in range(num_iterations):
        Z = W.T @ X + b
        if K > 2:
            P = np.exp(Z - Z.max(axis=0)) / np.exp(Z - Z.max(axis=0)).sum(axis=0)
            ce = -(T * np.log(P)).sum(axis=0)
        else:
            P = 1 / (1 + np.exp(-Z))
            ce = -(T * np.log(P) + (1 - T) * np.log(1 - P))[0]
        grad = (X @ (sw * (P - T)).T / S + l2 / S * W, (sw * (P - T)).sum(axis=1, keepdims=True) / S)
        if i % record_every == 0:
            costs.append((i, float((sw * ce).sum() / S + l2 / (2 * S) * (W * W).sum())))
            if tol is not None and np.sqrt((grad[0] ** 2).sum() + (grad[1] ** 2).sum()) <= tol:
                return W, b, grad, costs, i, True
        W, b = W - learning_rate * grad[0], b - learning_rate * grad[1]
    return W, b, grad, costs, num_iterations, False


def _weighted_problem(K, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((4, 15))
    labels = rng.integers(0, K, (1, 15)).astype(np.float64)
    return X, labels, rng.uniform(0.5, 2.0, (1, 15))


@pytest.mark.parametrize("block", [None, 7])
@pytest.mark.parametrize("K", [2, 3])
def test_primal_loop_weighted_l2_against_numpy(K, block):
    X, labels, sw = _weighted_problem(K)
    k = K if K > 2 else 1
    loss = _loss.LogisticLoss(X, labels, K, sample_weight=sw, l2=0.3)
    result = gd.primal_loop(np.zeros((4, k)), np.zeros((k, 1)), X, labels, 7, 0.5, 2, loss=loss,
                                 block=block, fused=False)
    W, b, (dW, db), costs, done, _ = _numpy_gd(X, labels, K, sw, 0.3, 7, 0.5, 2)
    np.testing.assert_allclose(result.w, W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.b, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.dw, dW, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.db, db, rtol=1e-12, atol=1e-14)
    assert [i for i, _ in result.costs] == [i for i, _ in costs] == [0, 2, 4, 6]
    np.testing.assert_allclose([c for _, c in result.costs], [c for _, c in costs], rtol=1e-12)
    assert result.iterations == 7 and result.converged is False and result.solver == "primal"


@pytest.mark.parametrize("block", [None, 7])
def test_primal_loop_stops_at_tol_like_numpy(block):
    X, labels, sw = _weighted_problem(2)
    norms = [np.sqrt(sum((g ** 2).sum() for g in _numpy_gd(X, labels, 2, sw, 0.3, i + 1, 0.5, 2)[2]))
             for i in (0, 2, 4, 6, 8)]
    assert norms[1] > norms[2] > norms[3]  # the norm falls: a tol between two recorded ones stops at the second
    tol = (norms[1] + norms[2]) / 2
    W, b, (dW, db), costs, done, converged = _numpy_gd(X, labels, 2, sw, 0.3, 9, 0.5, 2, tol=tol)
    assert (done, converged) == (4, True)
    loss = _loss.LogisticLoss(X, labels, 2, sample_weight=sw, l2=0.3)
    result = gd.primal_loop(np.zeros((4, 1)), np.asarray(0.0), X, labels, 9, 0.5, 2, loss=loss,
                                 block=block, fused=False, tol=tol)
    assert result.converged is True and result.iterations == 4 and [i for i, _ in result.costs] == [0, 2, 4]
    np.testing.assert_allclose(result.w, W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.dw, dW, rtol=1e-12, atol=1e-14)
    assert float(result.db) == pytest.approx(float(db[0, 0]), rel=1e-12)


@pytest.mark.parametrize("block", [None, 7])
@pytest.mark.parametrize("K", [2, 3])
def test_primal_loop_interrupted_result_against_numpy(K, block):
    X, labels, sw = _weighted_problem(K)
    k = K if K > 2 else 1
    loss = _loss.LogisticLoss(X, labels, K, sample_weight=sw, l2=0.3)

    def stop_at_3(i, cost):
        if i == 3:
            raise KeyboardInterrupt

    with pytest.raises(xlogreg.TrainingInterrupted) as info:
        gd.primal_loop(np.zeros((4, k)), np.zeros((k, 1)), X, labels, 9, 0.5, 2, callback=stop_at_3,
                            loss=loss, block=block, fused=False)
    result = info.value.result
    W, b, (dW, db), costs, done, _ = _numpy_gd(X, labels, K, sw, 0.3, 4, 0.5, 2)  # 4 steps; gradient at W_3
    assert result.iterations == 4 and result.solver == "primal"
    np.testing.assert_allclose(result.w, W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.dw, dW, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.db, db, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("K", [2, 3])
def test_compiled_primal_loop_weighted_l2_against_numpy(numba_kernel, K):
    X, labels, sw = _weighted_problem(K)
    k = K if K > 2 else 1
    loss = _loss.LogisticLoss(X, labels, K, sample_weight=sw, l2=0.3)
    result = gd.primal_loop(np.zeros((4, k)), np.zeros((k, 1)), X, labels, 7, 0.5, 2, loss=loss, fused=True)
    W, b, (dW, db), costs, done, _ = _numpy_gd(X, labels, K, sw, 0.3, 7, 0.5, 2)
    np.testing.assert_allclose(result.w, W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.dw, dW, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose([c for _, c in result.costs], [c for _, c in costs], rtol=1e-12)


def test_fused_auto_asks_choose_fused_with_x_and_the_iterations(monkeypatch):
    X, Y = _problem(5, 30)
    X = np.ascontiguousarray(X)
    seen = []
    monkeypatch.setattr(data_compiled, "choose_fused", lambda *args: seen.append(args) or False)
    gd.primal_loop(np.zeros((5, 1)), np.asarray(0.0), X, Y, 3, 0.1, 1, block=None)
    assert len(seen) == 1 and seen[0][0] is X and seen[0][1:] == (3,)
    monkeypatch.setattr(data_compiled, "choose_fused", lambda *args: True)
    used = []
    real = data_compiled.PrimalPass
    monkeypatch.setattr(data_compiled, "PrimalPass", lambda *args: used.append(1) or real(*args))
    if data_compiled.available():
        gd.primal_loop(np.zeros((5, 1)), np.asarray(0.0), X, Y, 3, 0.1, 1, block=None)
        assert used == [1]


def test_interrupt_during_the_first_pass_reports_no_gradient(monkeypatch):
    """Ctrl-C before any pass finished: the start, no iteration, no gradient (dW and db None)."""
    X, Y = _problem(5, 30)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data_blocks, "blocked_pass", interrupted)
    with pytest.raises(xlogreg.TrainingInterrupted) as info:
        gd.primal_loop(np.ones((5, 1)), np.asarray(0.5), X, Y, 3, 0.1, 1, block=7, fused=False)
    result = info.value.result
    assert result.iterations == 0 and result.dw is None and result.db is None and result.costs == []
    np.testing.assert_array_equal(result.w, np.ones((5, 1)))
    assert float(result.b) == 0.5 and result.solver == "primal"


# The dual loop against the same plain-NumPy gradient descent -----------------------------------------

def _start(K, seed=4):
    """A start away from zero (W0, b0), so that the dual's c^t W0 and W0.T X terms count."""
    rng = np.random.default_rng(seed)
    k = K if K > 2 else 1
    return rng.standard_normal((4, k)) * 0.3, rng.standard_normal((k, 1)) * 0.2


def _dual_close(result, W, b, dW=None, db=None):
    np.testing.assert_allclose(result.w, W, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.reshape(result.b, np.shape(b)), b, rtol=1e-12, atol=1e-13)
    if dW is not None:
        np.testing.assert_allclose(result.dw, dW, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(np.reshape(result.db, np.shape(db)), db, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("l2", [0.0, 0.3])
@pytest.mark.parametrize("K", [2, 3])
def test_dual_loop_weighted_from_a_start_against_numpy(K, l2):
    X, labels, sw = _weighted_problem(K)
    W0, b0 = _start(K)
    loss = _loss.LogisticLoss(X, labels, K, sample_weight=sw, l2=l2)
    result = dual.dual_loop(W0, b0, X, labels, 7, 0.5, 2, loss=loss, fused=False)
    W, b, (dW, db), costs, done, _ = _numpy_gd(X, labels, K, sw, l2, 7, 0.5, 2, W0=W0, b0=b0)
    _dual_close(result, W, b, dW, db)
    assert [i for i, _ in result.costs] == [i for i, _ in costs] == [0, 2, 4, 6]
    np.testing.assert_allclose([c for _, c in result.costs], [c for _, c in costs], rtol=1e-12)
    assert result.iterations == 7 and result.converged is False and result.solver == "dual"


@pytest.mark.parametrize("l2", [0.0, 0.3])
@pytest.mark.parametrize("K", [2, 3])
def test_dual_loop_stops_at_tol_like_numpy(K, l2):
    X, labels, sw = _weighted_problem(K)
    W0, b0 = _start(K)
    norms = [np.sqrt(sum((g ** 2).sum() for g in _numpy_gd(X, labels, K, sw, l2, i + 1, 0.5, 2, W0=W0, b0=b0)[2]))
             for i in (0, 2, 4, 6)]
    assert norms[1] > norms[2] > norms[3]  # a tol between the norms at 2 and 4 stops at 4
    tol = (norms[1] + norms[2]) / 2
    W, b, (dW, db), costs, done, converged = _numpy_gd(X, labels, K, sw, l2, 9, 0.5, 2, tol=tol, W0=W0, b0=b0)
    assert (done, converged) == (4, True)
    loss = _loss.LogisticLoss(X, labels, K, sample_weight=sw, l2=l2)
    result = dual.dual_loop(W0, b0, X, labels, 9, 0.5, 2, loss=loss, fused=False, tol=tol)
    assert result.converged is True and result.iterations == 4 and [i for i, _ in result.costs] == [0, 2, 4]
    _dual_close(result, W, b, dW, db)
    # just above the norm at 4 stops there; just below it, one recorded iteration later
    above = dual.dual_loop(W0, b0, X, labels, 9, 0.5, 2, loss=loss, fused=False, tol=norms[2] * (1 + 1e-9))
    below = dual.dual_loop(W0, b0, X, labels, 9, 0.5, 2, loss=loss, fused=False, tol=norms[2] * (1 - 1e-9))
    assert (above.iterations, below.iterations) == (4, 6) and above.converged is below.converged is True


@pytest.mark.parametrize("l2", [0.0, 0.3])
@pytest.mark.parametrize("K", [2, 3])
def test_dual_loop_interrupted_result_against_numpy(K, l2):
    X, labels, sw = _weighted_problem(K)
    W0, b0 = _start(K)
    loss = _loss.LogisticLoss(X, labels, K, sample_weight=sw, l2=l2)
    seen = []

    def stop_at_3(i, cost):
        seen.append((i, cost))
        if i == 3:
            raise KeyboardInterrupt

    with pytest.raises(xlogreg.TrainingInterrupted) as info:
        dual.dual_loop(W0, b0, X, labels, 9, 0.5, 2, callback=stop_at_3, loss=loss, fused=False)
    result = info.value.result
    W, b, _, costs, _, _ = _numpy_gd(X, labels, K, sw, l2, 4, 0.5, 2, W0=W0, b0=b0)  # 4 steps done
    assert result.iterations == 4 and result.solver == "dual" and result.dw is None and result.db is None
    _dual_close(result, W, b)
    assert [i for i, _ in result.costs] == [i for i, _ in costs] == [0, 2]
    np.testing.assert_allclose([c for _, c in result.costs], [c for _, c in costs], rtol=1e-12)
    assert [i for i, _ in seen] == [0, 1, 2, 3] and seen[1][1] is None and seen[3][1] is None
    np.testing.assert_allclose([seen[0][1], seen[2][1]], [c for _, c in costs], rtol=1e-12)


@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_dual_loop_zero_iterations_gives_the_start_and_its_gradient(l2):
    X, labels, sw = _weighted_problem(3)
    W0, b0 = _start(3)
    loss = _loss.LogisticLoss(X, labels, 3, sample_weight=sw, l2=l2)
    result = dual.dual_loop(W0, b0, X, labels, 0, 0.5, 2, loss=loss, fused=False)
    _, _, (dW, db), _, _, _ = _numpy_gd(X, labels, 3, sw, l2, 1, 0.5, 2, W0=W0, b0=b0)  # gradient at the start
    _dual_close(result, W0, b0, dW, db)
    assert result.iterations == 0 and result.costs == [] and result.solver == "dual" and result.converged is False


def test_dual_loop_with_a_scalar_b_gives_0d_b_and_db():
    X, labels, sw = _weighted_problem(2)
    W0, b0 = _start(2)
    result = dual.dual_loop(W0, np.asarray(b0[0, 0]), X, labels, 5, 0.5, 2, fused=False)
    W, b, (dW, db), _, _, _ = _numpy_gd(X, labels, 2, np.ones((1, 15)), 0.0, 5, 0.5, 2, W0=W0, b0=b0)
    assert result.b.shape == () and result.db.shape == ()
    _dual_close(result, W, b, dW, db)


@pytest.mark.parametrize("tol", [None, "between"])
def test_compiled_dual_loop_from_a_start_against_numpy(numba_kernel, monkeypatch, tol):
    """Calls of 3 iterations (a chunk of 3 m^2 multiply-adds), cut at the recorded iterations (every 5)."""
    X, labels, _ = _weighted_problem(2)
    W0, b0 = _start(2)
    ones = np.ones((1, 15))
    monkeypatch.setattr(dual, "DUAL_CHUNK_WORK", 3 * 15 * 15 + 1)
    calls = []
    real = numba_kernel.dual_steps
    monkeypatch.setattr(numba_kernel, "dual_steps", lambda *a: calls.append(a[-1]) or real(*a))
    if tol is not None:
        norms = [np.sqrt(sum((g ** 2).sum() for g in _numpy_gd(X, labels, 2, ones, 0.0, i + 1, 0.5, 5,
                                                                 W0=W0, b0=b0)[2])) for i in (0, 5, 10)]
        assert norms[0] > norms[1] > norms[2]
        tol = (norms[0] + norms[1]) / 2
    seen = []
    result = dual.dual_loop(W0, b0, X, labels, 11, 0.5, 5, callback=lambda i, c: seen.append((i, c)),
                               fused=True, tol=tol)
    W, b, (dW, db), costs, done, converged = _numpy_gd(X, labels, 2, ones, 0.0, 11, 0.5, 5, tol=tol, W0=W0, b0=b0)
    assert (result.iterations, result.converged) == (done, converged) == ((11, False) if tol is None else (5, True))
    _dual_close(result, W, b, dW, db)
    assert [i for i, _ in result.costs] == [i for i, _ in costs]
    np.testing.assert_allclose([c for _, c in result.costs], [c for _, c in costs], rtol=1e-12)
    assert calls == ([3, 2, 3, 2, 1] if tol is None else [3, 2])
    assert [i for i, _ in seen] == list(range(done))
    assert [c for _, c in seen if c is not None] == [c for i, c in result.costs if i < done]
    assert all((c is None) == (i % 5 != 0) for i, c in seen)


@pytest.mark.parametrize("m", [15, 800])
def test_dual_loop_on_dask_against_numpy(m, monkeypatch):
    """A Gram matrix of 1.8 KB (the state is iterated off Dask, handed back at the end) and one of
    5.1 MB (above _EMBED_BYTES: the iterations stay on Dask), weighted, with L2, from a start."""
    import_backend("dask")
    import dask.array as da

    if m == 15:
        monkeypatch.setattr(data_dask, "_EMBED_BYTES", 15 * 15 * 8)  # the Gram matrix's size exactly: still small
    materialized, iterated_on = [], []
    real_materialize, real_residual = data_dask.materialize, _loss.residual
    monkeypatch.setattr(data_dask, "materialize", lambda *a: materialized.append(len(a)) or real_materialize(*a))
    monkeypatch.setattr(_loss, "residual", lambda Z, *a: iterated_on.append(type(Z)) or real_residual(Z, *a))

    rng = np.random.default_rng(m)
    X = rng.standard_normal((3, m))
    labels = (rng.random((1, m)) < 1 / (1 + np.exp(-X[:1]))).astype(np.float64)
    sw = rng.uniform(0.5, 2.0, (1, m))
    W0, b0 = rng.standard_normal((3, 1)) * 0.3, np.full((1, 1), 0.2)
    Xd, Yd, swd = (da.from_array(a, chunks=(a.shape[0], 5 if m == 15 else 400)) for a in (X, labels, sw))
    loss = _loss.LogisticLoss(Xd, Yd, 2, sample_weight=swd, l2=0.3)
    result = dual.dual_loop(da.from_array(W0), da.from_array(b0), Xd, Yd, 4, 0.5, 2, loss=loss, fused=False)
    W, b, (dW, db), costs, _, _ = _numpy_gd(X, labels, 2, sw, 0.3, 4, 0.5, 2, W0=W0, b0=b0)
    assert all(isinstance(a, da.Array) for a in (result.w, result.b, result.dw, result.db))
    np.testing.assert_allclose(result.w.compute(), W, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(result.b.compute(), b, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(result.dw.compute(), dW, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(result.db.compute(), db, rtol=1e-12, atol=1e-13)
    assert [i for i, _ in result.costs] == [0, 2] and result.iterations == 4
    np.testing.assert_allclose([c for _, c in result.costs], [c for _, c in costs], rtol=1e-12)
    # small: computed once, iterated on NumPy, the result made Dask again at the end (2 materializations:
    # the Gram matrix with W0.T X, the result); large: each of the 4 iterations' state too, on Dask
    assert materialized == ([2, 4] if m == 15 else [2, 3, 3, 3, 3, 4])
    assert set(iterated_on) == {np.ndarray if m == 15 else da.Array}


def test_dual_loop_prints_only_when_asked(capsys):
    X, labels, _ = _weighted_problem(2)
    _, _, _, costs, _, _ = _numpy_gd(X, labels, 2, np.ones((1, 15)), 0.0, 5, 0.5, 2)
    dual.dual_loop(np.zeros((4, 1)), np.asarray(0.0), X, labels, 5, 0.5, 2, fused=False)
    assert capsys.readouterr().out == ""
    dual.dual_loop(np.zeros((4, 1)), np.asarray(0.0), X, labels, 5, 0.5, 2, print_cost=True, fused=False)
    assert capsys.readouterr().out == "".join(f"Cost after iteration {i}: {c:f}\n" for i, c in costs)


def test_choose_fused_dual_at_its_bound_and_on_any_layout(numba_kernel, monkeypatch):
    """The saving must reach the load cost (equal is enough); the dual kernels take a Gram matrix in
    any layout, a strided view too (neither C nor Fortran order), but not integers."""
    strided = np.ones((6, 6))[::2, ::2]
    assert not (strided.flags.c_contiguous or strided.flags.f_contiguous)
    monkeypatch.setattr(data_compiled, "_load_cost_s", lambda: 1.0)
    monkeypatch.setattr(data_compiled, "FUSED_DUAL_SAVES_S", 0.25)
    assert data_compiled.choose_fused_dual(strided, 4)  # 4 x 0.25 = 1.0: exactly the load cost
    assert not data_compiled.choose_fused_dual(strided, 3)
    assert not data_compiled.choose_fused_dual(np.ones((3, 3), dtype=np.int64), 4)


def test_fused_auto_dual_asks_choose_fused_dual_with_the_step_gram_and_the_iterations(numba_kernel, monkeypatch):
    X, labels, sw = _weighted_problem(2)
    seen, calls = [], []
    monkeypatch.setattr(data_compiled, "choose_fused_dual", lambda G, n: seen.append((G, n)) or True)
    real = numba_kernel.dual_steps
    monkeypatch.setattr(numba_kernel, "dual_steps", lambda *a: calls.append(a[-1]) or real(*a))
    result = dual.dual_loop(np.zeros((4, 1)), np.asarray(0.0), X, labels, 5, 0.5, 2)
    assert len(seen) == 1 and seen[0][1] == 5 and calls == [2, 2, 1]
    # learning_rate scale (X.T X + 1), scale = 1 / (2 m) for the binary loss (its residual is 2 (A - Y))
    np.testing.assert_allclose(seen[0][0], (X.T @ X + 1) * 0.5 / 30, rtol=1e-14)
    W, b, _, _, _, _ = _numpy_gd(X, labels, 2, np.ones((1, 15)), 0.0, 5, 0.5, 2)
    _dual_close(result, W, b)
    # sample weights or L2: the compiled loop does not compute them, and is not asked
    seen.clear()
    for loss in (_loss.LogisticLoss(X, labels, 2, sample_weight=sw), _loss.LogisticLoss(X, labels, 2, l2=0.3)):
        dual.dual_loop(np.zeros((4, 1)), np.asarray(0.0), X, labels, 5, 0.5, 2, loss=loss)
    assert seen == [] and calls == [2, 2, 1]


def test_fused_true_dual_refused_with_its_whole_message(numba_kernel):
    X, labels, sw = _weighted_problem(2)
    with pytest.raises(ValueError) as info:
        dual.dual_loop(np.zeros((4, 1)), np.asarray(0.0), X, labels, 5, 0.5, 2, fused=True,
                          loss=_loss.LogisticLoss(X, labels, 2, sample_weight=sw))
    assert str(info.value) == ("fused=True cannot run here: the compiled dual loop computes the binary loss without "
                               "sample weights or L2 only; use fused='auto' (the Array API loop) for this problem")


def test_compiled_dual_loop_takes_one_iteration_per_call_below_one_iteration_of_work(numba_kernel, monkeypatch):
    X, labels, _ = _weighted_problem(2)
    monkeypatch.setattr(dual, "DUAL_CHUNK_WORK", 1)  # less than the m^2 = 225 of one iteration
    calls = []
    real = numba_kernel.dual_steps
    monkeypatch.setattr(numba_kernel, "dual_steps", lambda *a: calls.append(a[-1]) or real(*a))
    result = dual.dual_loop(np.zeros((4, 1)), np.asarray(0.0), X, labels, 4, 0.5, 10, fused=True)
    assert calls == [1, 1, 1, 1]
    W, b, (dW, db), _, _, _ = _numpy_gd(X, labels, 2, np.ones((1, 15)), 0.0, 4, 0.5, 10)
    _dual_close(result, W, b, dW, db)


# --- the blocked pass, the fused options --------------------------------------------------------------

def test_example_blocks_auto_asks_choose_block(one_thread, monkeypatch):
    monkeypatch.setattr(data_blocks, "BLOCK_MIN_BYTES", 0)
    monkeypatch.setattr(data_blocks, "BLOCK_MIN_EXAMPLES", 4)
    monkeypatch.setattr(data_blocks, "BLOCK_ELEMENTS", 12)  # 12 // 3 = 4 examples per block
    X, T, sw = np.zeros((3, 10), order="F"), np.zeros((1, 10)), np.ones((1, 10))
    blocks = data_blocks.example_blocks(X, [T, sw], "auto")
    assert [b[0].shape[1] for b in blocks] == [4, 4, 2]
    assert all(b[1][1].shape == (1, b[0].shape[1]) for b in blocks)


@pytest.mark.parametrize("K", [2, 3])
def test_blocked_pass_by_default_returns_the_logits_too(K):
    """Z = W.T X + b, G = X Q.T and s = sum(Q) (Q: the residual of _loss, 2 (A - T) for the sigmoid)."""
    X, labels, sw = _weighted_problem(K)
    k = K if K > 2 else 1
    W, b = _start(K)
    T = (np.arange(K)[:, None] == labels).astype(float) if K > 2 else labels
    blocks = data_blocks.example_blocks(X, [T, sw], 4)
    Z, G, s = data_blocks.blocked_pass(W, b, blocks, _loss.example_terms, K > 2, False)
    Z_ref = W.T @ X + b
    if K > 2:
        Q = (np.exp(Z_ref) / np.exp(Z_ref).sum(axis=0) - T) * sw
    else:
        Q = 2 * (1 / (1 + np.exp(-Z_ref)) - T) * sw
    np.testing.assert_allclose(Z, Z_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(G, X @ Q.T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s, Q.sum(axis=1, keepdims=True), rtol=1e-12, atol=1e-14)
    assert Z.shape == (k, 15)


def test_check_fused_option_takes_auto_true_false_only():
    for fused in ("auto", True, False):
        data_compiled.check_fused_option(fused)
    for fused in ("yes", "Auto", 1, None):
        with pytest.raises(ValueError) as info:
            data_compiled.check_fused_option(fused)
        assert str(info.value) == f"fused must be True, False or 'auto'; got {fused!r}"


def test_check_fused_takes_a_strided_gram_matrix_for_the_dual(numba_kernel):
    strided = np.ones((6, 6))[::2, ::2]
    assert data_compiled._check_fused(True, strided, contiguous_columns=False) is True
    with pytest.raises(ValueError, match="^fused=True cannot run here: it needs X in C or Fortran order"):
        data_compiled._check_fused(True, strided)


def test_gram_limit_and_block_elements_are_whole_numbers_from_the_machine(monkeypatch):
    """Hand-worked: an eighth of the memory (rounded down) below GRAM_LIMIT_BYTES; L2 or L3 / 64."""
    monkeypatch.setattr(_machine, "memory_bytes", lambda: 8 * 2**20 + 7)
    assert _loop._gram_limit_bytes() == 2**20 and type(_loop._gram_limit_bytes()) is int
    monkeypatch.setattr(_machine, "memory_bytes", lambda: 2**40)
    assert _loop._gram_limit_bytes() == _loop.GRAM_LIMIT_BYTES
    monkeypatch.setattr(data_blocks, "BLOCK_ELEMENTS", None)
    monkeypatch.setenv("XLOGREG_MACHINE", "l1d=32K,l2=512K,l3=1M")  # L3 / 64 = 16384 < L2
    assert data_blocks._block_elements() == 16384 and type(data_blocks._block_elements()) is int
    monkeypatch.setenv("XLOGREG_MACHINE", "l1d=32K,l2=64K,l3=32M")  # L2 = 65536 < L3 / 64
    assert data_blocks._block_elements() == 65536


# --- optimize, TrainingInterrupted, _dask_run ----------------------------------------------------------

def test_optimize_defaults_and_options_against_numpy(capsys):
    """The course's defaults (100 iterations at 0.009, a cost every 100, nothing printed), and the options
    passed on: print_cost, record_every, callback; against the plain-NumPy course loop."""
    X, Y = _problem(5, 30)
    params, _, costs = optimize(np.zeros((5, 1)), 0.0, X, Y, solver="primal")
    w_ref, b_ref, costs_ref = _numpy_loop(X, Y, 100, 0.009, 100)
    np.testing.assert_allclose(params["w"], w_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(costs, costs_ref, rtol=1e-12)
    _, _, costs = optimize(np.zeros((5, 1)), 0.0, X, Y, 102, solver="primal")
    np.testing.assert_allclose(costs, _numpy_loop(X, Y, 102, 0.009, 100)[2], rtol=1e-12)  # at 0 and 100
    assert len(costs) == 2 and capsys.readouterr().out == ""
    seen = []
    optimize(np.zeros((5, 1)), 0.0, X, Y, 3, 0.1, True, solver="primal", record_every=2,
             callback=lambda i, cost: seen.append(i))
    expected = _numpy_loop(X, Y, 3, 0.1, 2)[2]
    assert capsys.readouterr().out == f"Cost after iteration 0: {expected[0]:f}\nCost after iteration 2: {expected[1]:f}\n"
    assert seen == [0, 1, 2]


def test_optimize_checks_record_every_and_callback_by_name():
    X, Y = _problem(5, 30)
    with pytest.raises(ValueError, match=r"(^|[^\w])record_every([^\w]|$)"):
        optimize(np.zeros((5, 1)), 0.0, X, Y, 3, 0.1, record_every=0)
    with pytest.raises(TypeError, match="callback"):
        optimize(np.zeros((5, 1)), 0.0, X, Y, 3, 0.1, callback=5)


def test_training_interrupted_carries_its_result():
    result = _loop.OptimizeResult(None, None, None, None, iterations=7)
    exc = solvers.TrainingInterrupted(result)
    assert str(exc) == "training interrupted after 7 iterations" and exc.result is result and exc.model is None


def test_dask_run_explains_the_failures_it_knows_and_reraises_the_others(monkeypatch):
    import_backend("dask")

    def lost(*arrays):
        raise OSError("worker lost")

    def other(*arrays):
        raise ValueError("other")

    monkeypatch.setattr(_backends, "explain_dask_failure",
                        lambda exc: RuntimeError("clearer") if "lost" in str(exc) else None)
    with pytest.raises(RuntimeError, match="^clearer$") as info:
        data_dask.dask_run(lost)
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(ValueError, match="^other$"):
        data_dask.dask_run(other)
    assert data_dask.dask_run(lambda *a: a, 1, 2) == (1, 2)


def test_optimize_passes_fused_on():
    xps = import_backend("array_api_strict")
    X, Y = _problem(5, 30)
    Xs, Ys = xps.asarray(X), xps.asarray(Y)
    with pytest.raises(ValueError, match="^fused=True cannot run here: it needs "):
        optimize(xps.zeros((5, 1), dtype=xps.float64), 0.0, Xs, Ys, 3, 0.1, solver="primal", fused=True)


# --- run called directly, and the compiled pass's check of X (session 7) -------------------------------

@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_run_defaults_against_numpy(capsys, dtype, tol):
    """``solvers.run`` with its positional arguments only: a Python float b becomes a 0-d array of X's dtype,
    the solver is chosen (primal or dual: the same iterates), a cost every 100 iterations, nothing printed,
    no tol (every iteration done, converged False); against the plain-NumPy course loop."""
    X, Y = _problem(5, 30)
    result = solvers.run(np.zeros((5, 1), dtype), 0.0, X.astype(dtype), Y.astype(dtype), 250, 0.05)
    w_ref, b_ref, costs_ref = _numpy_loop(X, Y, 250, 0.05, 100)
    assert result.b.shape == () and result.b.dtype == dtype and result.w.dtype == dtype
    assert [i for i, _ in result.costs] == [0, 100, 200]
    np.testing.assert_allclose([c for _, c in result.costs], costs_ref, rtol=tol)
    np.testing.assert_allclose(result.w, w_ref, rtol=tol * 10, atol=tol)
    assert float(result.b) == pytest.approx(b_ref, rel=tol * 10, abs=tol)
    assert result.iterations == 250 and result.converged is False and result.solver in ("primal", "dual")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_run_sizes_the_gram_matrix_in_xs_item_size(monkeypatch, dtype):
    """The automatic choice takes the dual when its m x m Gram matrix fits the limit, counted in X's own item
    size: one byte short of m * m * itemsize gives primal, exactly that gives dual (here the dual's work,
    50 * 10^2 + 100 * 10^2, is far below the primal's 2 * 100 * 50 * 10)."""
    X, Y = _problem(50, 10)
    size = 10 * 10 * np.dtype(dtype).itemsize
    for limit, expected in ((size - 1, "primal"), (size, "dual")):
        monkeypatch.setattr(_loop, "_gram_limit_bytes", lambda: limit)
        result = solvers.run(np.zeros((50, 1), dtype), 0.0, X.astype(dtype), Y.astype(dtype), 100, 0.05)
        assert result.solver == expected


def test_the_compiled_pass_checks_x_by_its_gradient_not_only_its_bias_sum(numba_kernel):
    """From a start with w > 0, +inf in X makes that example's logit +inf: its residual saturates (finite)
    and so does the sum s, but the gradient is not finite; the check must look at G as well as s and name
    X, not let the run go on to a diverged cost or NaN weights."""
    X, Y = _problem(4, 40)
    X = np.asfortranarray(X)
    X[1, 7] = np.inf
    with pytest.raises(ValueError, match="^X must hold only finite values; it contains NaN or infinity$"):
        gd.primal_loop(np.full((4, 1), 0.5), np.zeros(()), X, Y, 3, 0.1, 100, fused=True, check_x="X")
    with pytest.raises(ValueError, match="^X must hold only finite values; it contains NaN or infinity$"):
        solvers.run(np.full((4, 1), 0.5), 0.0, X, Y, 3, 0.1, solver="primal", fused=True, check_x="X")


def test_run_reports_a_cost_that_ends_ten_times_above_its_start_with_two_records():
    """With exactly two recorded costs (iterations 0 and 1), the second far above ten times the first but
    finite, run itself raises TrainingDiverged (train checks again; optimize and direct calls rely on run).
    The costs come from the plain-NumPy course loop."""
    X = np.array([[1.0, 2.0, -1.0, -2.0]])
    Y = np.array([[0.0, 1.0, 1.0, 0.0]])
    costs = _numpy_loop(X, Y, 2, 70.0, 1)[2]
    assert np.isfinite(costs[1]) and costs[1] > 10 * costs[0] + 1e-7  # the premise, by NumPy
    with pytest.raises(solvers.TrainingDiverged, match="after 2 iterations"):
        solvers.run(np.zeros((1, 1)), 0.0, X, Y, 2, 70.0, solver="primal", record_every=1)


@pytest.mark.parametrize("solver", ["newton-cg", "newton-cholesky"])
def test_run_refuses_fused_true_for_newton_with_the_whole_message(solver):
    X, Y = _problem(3, 20)
    with pytest.raises(ValueError, match=r"^fused=True cannot run here: the compiled kernels are gradient-descent "
                                         rf"loops; {solver} runs on the Array API$"):
        solvers.run(np.zeros((3, 1)), 0.0, X, Y, 5, 0.1, solver=solver, fused=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xlogreg.ConvergenceWarning)  # 5 iterations to tol 0
        result = solvers.run(np.zeros((3, 1)), 0.0, X, Y, 5, 0.1, solver=solver, fused=False)  # False is accepted
    assert result.solver == solver


# --- run passes its options on to every loop (session 8) -----------------------------------------------

@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_run_passes_print_cost_callback_record_every_and_the_loss_on(solver, capsys):
    """run(solver=..., print_cost=True, callback, record_every=2, loss with weights and L2, tol): the loop
    named prints the costs the plain-NumPy weighted loop records, calls back after every iteration, and
    stops where NumPy's gradient norm first reaches tol."""
    X, labels, sw = _weighted_problem(3)
    loss = _loss.LogisticLoss(X, labels, 3, sample_weight=sw, l2=0.3)
    W, b, _, costs, done, converged = _numpy_gd(X, labels, 3, sw, 0.3, 40, 0.5, 2, tol=0.1)
    assert converged and 4 < done < 40  # the premise: tol stops the NumPy loop early, at a record
    calls = []
    result = solvers.run(np.zeros((4, 3)), np.zeros((3, 1)), X, labels, 40, 0.5, solver=solver, record_every=2,
                         print_cost=True, callback=lambda i, cost: calls.append((i, cost)), fused=False,
                         loss=loss, tol=0.1)
    assert (result.solver, result.iterations, result.converged) == (solver, done, True)
    np.testing.assert_allclose([c for _, c in result.costs], [c for _, c in costs], rtol=1e-12)
    np.testing.assert_allclose(result.w, W, rtol=1e-10, atol=1e-13)
    out = capsys.readouterr().out
    assert out == "".join(f"Cost after iteration {i}: {c:f}\n" for i, c in result.costs)
    assert [i for i, _ in calls] == list(range(done))
    assert [c for i, c in calls if i % 2 == 0] == [c for i, c in result.costs[:-1]]


def test_run_checks_the_last_recorded_cost_against_the_first():
    """Three recorded costs (plain-NumPy course loop, learning rate 68): J0 = log 2, J1 = 3.67 (below ten
    times J0), J2 = 7.17 (above it). run raises: the comparison is first against last, not first against the
    second, nor second against last."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 6))
    Y = (rng.random((1, 6)) > 0.5).astype(float)
    J = _numpy_loop(X, Y, 3, 68.0, 1)[2]
    assert np.all(np.isfinite(J)) and J[2] > 10 * J[0] + 1e-7 and J[2] / 10 < J[1] < 10 * J[0] - 1  # premise
    with pytest.raises(solvers.TrainingDiverged, match=rf"rose from {J[0]:.6g} at the start to {J[2]:.6g} after 3 "):
        solvers.run(np.zeros((2, 1)), 0.0, X, Y, 3, 68.0, solver="primal", record_every=1, fused=False)


# --- the primal loop on Dask: one task per chunk of examples (session 8) --------------------------------

def _dask_problem(K, weighted, seed=11, m=23):
    """X of 5 features and 23 examples cut into 2 x 4 chunks; labels and weights cut elsewhere (3 chunks):
    the loop must line them up with X's chunks. A start W0 in 2 chunks, b0 away from zero."""
    import_backend("dask")
    import dask.array as da

    rng = np.random.default_rng(seed)
    k = K if K > 2 else 1
    X = rng.standard_normal((5, m))
    labels = rng.integers(0, K, (1, m)).astype(np.float64)
    sw = rng.uniform(0.5, 2.0, (1, m)) if weighted else np.ones((1, m))
    W0, b0 = rng.standard_normal((5, k)) * 0.3, np.full((k, 1), 0.2)
    dask = (da.from_array(X, chunks=(3, 6)), da.from_array(labels, chunks=(1, 8)),
            da.from_array(sw, chunks=(1, 8)) if weighted else None, da.from_array(W0, chunks=(3, k)),
            da.from_array(b0, chunks=(k, 1)))
    return (X, labels, sw, W0, b0), dask


@pytest.mark.parametrize("l2", [0.0, 0.3])
@pytest.mark.parametrize("K, weighted", [(2, False), (2, True), (3, False), (3, True)])
def test_chunked_primal_loop_against_numpy(K, weighted, l2):
    """The Dask primal loop from a start, 7 iterations, a cost every 2: W, b, the last gradient (at the
    iterate before the last step), the costs, 7 iterations, not converged; everything Dask, w data in its 2 chunks."""
    import dask.array as da

    (X, labels, sw, W0, b0), (Xd, Ld, swd, W0d, b0d) = _dask_problem(K, weighted)
    loss = _loss.LogisticLoss(Xd, Ld, K, sample_weight=swd, l2=l2)
    result = gd.primal_loop(W0d, b0d, Xd, Ld, 7, 0.5, 2, loss=loss)
    W, b, (dW, db), costs, done, _ = _numpy_gd(X, labels, K, sw, l2, 7, 0.5, 2, W0=W0, b0=b0)
    assert all(isinstance(a, da.Array) for a in (result.w, result.b, result.dw, result.db))
    assert (result.iterations, result.converged, result.solver) == (7, False, "primal")
    assert len(result.w.__dask_graph__()) == result.w.npartitions == 2  # data (a task per chunk), not 7 steps
    for got, expected in ((result.w, W), (result.b, b), (result.dw, dW), (result.db, db)):
        np.testing.assert_allclose(got.compute(), expected, rtol=1e-12, atol=1e-13)
    assert [i for i, _ in result.costs] == [0, 2, 4, 6]
    np.testing.assert_allclose([c for _, c in result.costs], [c for _, c in costs], rtol=1e-12)


@pytest.mark.parametrize("K", [2, 3])
def test_chunked_primal_loop_stops_at_tol_prints_and_calls_back(K, capsys):
    """tol on Dask: the loop stops at the first recorded iteration where NumPy's gradient norm is at most tol,
    converged; every printed line is a recorded cost; callback(i, cost or None) after each iteration done."""
    (X, labels, sw, W0, b0), (Xd, Ld, swd, W0d, b0d) = _dask_problem(K, True)
    W, b, _, costs, done, converged = _numpy_gd(X, labels, K, sw, 0.3, 60, 0.5, 3, tol=0.05, W0=W0, b0=b0)
    assert converged and 3 <= done < 60  # the premise, from NumPy
    calls = []
    loss = _loss.LogisticLoss(Xd, Ld, K, sample_weight=swd, l2=0.3)
    result = gd.primal_loop(W0d, b0d, Xd, Ld, 60, 0.5, 3, print_cost=True, loss=loss, tol=0.05,
                                 callback=lambda i, cost: calls.append((i, cost)))
    assert (result.iterations, result.converged) == (done, True)
    np.testing.assert_allclose(result.w.compute(), W, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose([c for _, c in result.costs], [c for _, c in costs], rtol=1e-12)
    assert capsys.readouterr().out == "".join(f"Cost after iteration {i}: {c:f}\n" for i, c in result.costs)
    assert [i for i, _ in calls] == list(range(done))
    assert [(i, c) for i, c in calls if c is not None] == result.costs[:-1]
    assert all(c is None for i, c in calls if i % 3)
    assert capsys.readouterr().out == ""
    gd.primal_loop(W0d, b0d, Xd, Ld, 2, 0.5, 1, loss=loss)  # print_cost is off by default
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("K", [2, 3])
def test_chunked_primal_loop_zero_iterations_and_ctrl_c(K):
    """Zero iterations: the start, its gradient (NumPy's), nothing recorded. Ctrl-C in the callback after
    iteration 3: the parameters after 4 steps, the gradient the last step took (at iterate 3), the costs
    recorded so far (0 and 2)."""
    import dask.array as da

    (X, labels, sw, W0, b0), (Xd, Ld, swd, W0d, b0d) = _dask_problem(K, True)
    loss = _loss.LogisticLoss(Xd, Ld, K, sample_weight=swd, l2=0.3)
    start = gd.primal_loop(W0d, b0d, Xd, Ld, 0, 0.5, 2, loss=loss)
    _, _, (dW0, db0), _, _, _ = _numpy_gd(X, labels, K, sw, 0.3, 1, 0.5, 2, W0=W0, b0=b0)
    assert (start.iterations, start.costs, start.converged) == (0, [], False)
    assert isinstance(start.dw, da.Array) and isinstance(start.db, da.Array)
    np.testing.assert_array_equal(start.w.compute(), W0)
    np.testing.assert_allclose(start.dw.compute(), dW0, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(start.db.compute(), db0, rtol=1e-12, atol=1e-13)

    def stop_after_3(i, cost):
        if i == 3:
            raise KeyboardInterrupt

    with pytest.raises(xlogreg.TrainingInterrupted) as info:
        gd.primal_loop(W0d, b0d, Xd, Ld, 9, 0.5, 2, callback=stop_after_3, loss=loss)
    result = info.value.result
    W, b, (dW, db), costs, _, _ = _numpy_gd(X, labels, K, sw, 0.3, 4, 0.5, 2, W0=W0, b0=b0)
    assert (result.iterations, result.solver) == (4, "primal")
    np.testing.assert_allclose([c for _, c in result.costs], [c for _, c in costs], rtol=1e-12)
    for got, expected in ((result.w, W), (result.b, b), (result.dw, dW), (result.db, db)):
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-13)


def test_as_data_embeds_small_dask_arrays_persists_big_ones_and_leaves_the_rest(monkeypatch):
    """_as_data: Dask arrays of at most _EMBED_BYTES (exactly that size included) come back as data (one task
    per chunk, same chunks and values), bigger ones persisted (one persist for all, before the compute of
    the small ones); NumPy arrays and numbers among them come back as the very same objects; without any
    Dask array nothing is computed."""
    import_backend("dask")
    import dask.array as da

    monkeypatch.setattr(data_dask, "_EMBED_BYTES", 80)
    runs = []
    real_run = data_dask.dask_run
    monkeypatch.setattr(data_dask, "dask_run", lambda f, *a: runs.append((f.__name__, len(a))) or real_run(f, *a))
    rng = np.random.default_rng(2)
    exact, big, plain = rng.standard_normal((10, 1)), rng.standard_normal((11, 1)), rng.standard_normal((3, 1))
    exact_d = da.from_array(exact, chunks=5) * 2  # 80 bytes, a recipe of two steps over two chunks
    big_d = da.from_array(big, chunks=6) + 1  # 88 bytes
    out = data_dask.as_data(exact_d, plain, big_d, 3.5)
    assert runs == [("persist", 4), ("compute", 1)]
    assert out[1] is plain and out[3] == 3.5
    assert isinstance(out[0], da.Array) and out[0].chunks == exact_d.chunks
    assert len(out[0].__dask_graph__()) == out[0].npartitions == 2  # data: one task per chunk
    np.testing.assert_array_equal(out[0].compute(), exact * 2)
    assert isinstance(out[2], da.Array) and out[2].chunks == big_d.chunks
    np.testing.assert_array_equal(out[2].compute(), big + 1)
    runs.clear()
    small_only = data_dask.as_data(exact_d, plain)
    assert runs == [("compute", 1)] and small_only[1] is plain
    runs.clear()
    assert data_dask.as_data(plain, 3.5) == (plain, 3.5) and runs == []


@pytest.mark.parametrize("K", [2, 3])
def test_chunked_primal_loop_keeps_float32(K):
    """float32 Dask data: the loop's chunk sums (gradient, bias sums, loss) stay float32, so the weights,
    the gradient and the costs come back float32, close to the float64 NumPy loop."""
    (X, labels, sw, W0, b0), _ = _dask_problem(K, True)
    import dask.array as da

    f32 = [da.from_array(a.astype(np.float32), chunks=c) for a, c in
           ((X, (3, 6)), (labels, (1, 8)), (sw, (1, 8)), (W0, (3, W0.shape[1])), (b0, (b0.shape[0], 1)))]
    Xd, Ld, swd, W0d, b0d = f32
    loss = _loss.LogisticLoss(Xd, Ld, K, sample_weight=swd, l2=0.3)
    result = gd.primal_loop(W0d, b0d, Xd, Ld, 5, 0.5, 2, loss=loss)
    W, b, (dW, db), costs, _, _ = _numpy_gd(X, labels, K, sw, 0.3, 5, 0.5, 2, W0=W0, b0=b0)
    for got, expected in ((result.w, W), (result.b, b), (result.dw, dW), (result.db, db)):
        value = got.compute()
        assert value.dtype == np.float32
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([c for _, c in result.costs], [c for _, c in costs], rtol=1e-5)


def test_run_counts_the_softmax_rows_when_it_chooses_the_solver():
    """50 features, 10 examples, 5 iterations. Binary (k = 1): dual work 50 * 100 + 5 * 100 = 5,500 against
    primal 2 * 5 * 50 * 10 = 5,000: primal. Three classes (k = 3): 5,000 + 1,500 = 6,500 against 15,000:
    dual."""
    X, Y = _problem(50, 10)
    labels = np.arange(10, dtype=np.float64).reshape(1, 10) % 3
    binary = solvers.run(np.zeros((50, 1)), 0.0, X, Y, 5, 0.1)
    softmax = solvers.run(np.zeros((50, 3)), np.zeros((3, 1)), X, labels, 5, 0.1,
                          loss=_loss.LogisticLoss(X, labels, 3))
    assert (binary.solver, softmax.solver) == ("primal", "dual")


def test_chunked_pass_against_numpy_at_its_defaults():
    """chunked_pass called with its defaults returns the loss too: G = X Q.T, s = sum(Q) and sum_i s_i L_i
    (plain NumPy), softmax with weights, X cut along the features only (one chunk of examples: the
    features are joined before the tasks), in float32 (declared and computed dtype) and float64."""
    import_backend("dask")
    import dask.array as da

    rng = np.random.default_rng(21)
    X = rng.standard_normal((5, 17))
    labels = rng.integers(0, 3, (1, 17)).astype(np.float64)
    sw = rng.uniform(0.5, 2.0, (1, 17))
    W, b = rng.standard_normal((5, 3)) * 0.4, rng.standard_normal((3, 1)) * 0.2
    Z = W.T @ X + b
    P = np.exp(Z - Z.max(axis=0)) / np.exp(Z - Z.max(axis=0)).sum(axis=0)
    T = (np.arange(3)[:, None] == labels).astype(float)
    Q = (P - T) * sw
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        Xd = da.from_array(X.astype(dtype), chunks=(2, 17))
        G, s, loss = gd.chunked_pass(da.from_array(W.astype(dtype)), da.from_array(b.astype(dtype)), Xd,
                                          da.from_array(labels.astype(dtype)), da.from_array(sw.astype(dtype)),
                                          True)
        assert (G.shape, s.shape, loss.shape) == ((5, 3), (3, 1), ())
        assert G.dtype == s.dtype == loss.dtype == dtype
        G, s, loss = G.compute(), s.compute(), loss.compute()
        assert G.dtype == s.dtype == np.dtype(dtype)
        np.testing.assert_allclose(G, X @ Q.T, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(s, Q.sum(axis=1, keepdims=True), rtol=rtol, atol=rtol)
        assert float(loss) == pytest.approx(float((sw * -(T * np.log(P)).sum(axis=0)).sum()), rel=rtol)


def test_primal_loop_on_dask_checks_fused_and_x():
    """On Dask: fused=True refused with the reason (X is not a NumPy array), an unknown fused value refused by
    name, False accepted; X with a NaN refused by its name where check_x names it."""
    (X, labels, sw, W0, b0), (Xd, Ld, swd, W0d, b0d) = _dask_problem(2, False)
    with pytest.raises(ValueError, match=r"^fused=True cannot run here: it needs a 2-D NumPy array; got "
                                         r"dask\.array\.core\.Array$"):
        gd.primal_loop(W0d, b0d, Xd, Ld, 2, 0.5, 1, fused=True)
    with pytest.raises(ValueError, match=r"^fused must be True, False or 'auto'; got 'yes'$"):
        gd.primal_loop(W0d, b0d, Xd, Ld, 2, 0.5, 1, fused="yes")
    assert gd.primal_loop(W0d, b0d, Xd, Ld, 2, 0.5, 1, fused=False).iterations == 2
    X_nan = X.copy()
    X_nan[2, 9] = np.nan
    import dask.array as da

    with pytest.raises(ValueError, match="^X must hold only finite values; it contains NaN or infinity$"):
        gd.primal_loop(W0d, b0d, da.from_array(X_nan, chunks=(3, 6)), Ld, 2, 0.5, 1, check_x="X")


def test_run_keeps_dask_on_the_primal_where_the_gram_matrix_would_outgrow_x():
    """10 features, 12 examples, 100 iterations: dual work 10 * 144 + 100 * 144 = 15,840 against primal
    2 * 100 * 10 * 12 = 24,000, so NumPy takes the dual; on Dask (lazy) a Gram matrix bigger than X
    (m > n_x) is not formed, and run takes the primal."""
    import_backend("dask")
    import dask.array as da

    X, Y = _problem(10, 12)
    eager = solvers.run(np.zeros((10, 1)), 0.0, X, Y, 100, 0.1)
    lazy = solvers.run(da.zeros((10, 1)), 0.0, da.from_array(X, chunks=(10, 6)), da.from_array(Y, chunks=(1, 6)),
                       100, 0.1)
    assert (eager.solver, lazy.solver) == ("dual", "primal")
