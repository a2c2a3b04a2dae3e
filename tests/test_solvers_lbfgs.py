"""L-BFGS (xlogreg/solvers/lbfgs.py; ``train(solver="lbfgs")``, ``LogisticRegression(solver="lbfgs")``).

The references are independent code: scikit-learn's ``LogisticRegression``
(its lbfgs at ``tol=1e-12``, which is SciPy's L-BFGS-B on scikit-learn's own
loss, and its newton-cholesky where a tighter optimum is wanted), and, without
intercept, SciPy's ``minimize(method="L-BFGS-B")`` on the objective written
out below in NumPy (benchopt's ``sum log(1 + exp(-y x.beta)) + lambda/2
||beta||^2``, and its softmax counterpart).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from array_api_compat import array_namespace, device as get_device
from scipy.optimize import minimize
from scipy.special import logsumexp
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

import xlogreg
from xlogreg import _backends, _loss
from xlogreg.solvers import lbfgs as lbfgs_module
from xlogreg.solvers.lbfgs import lbfgs, lbfgs_loop

from conftest import import_backend
from test_solvers import _no_host_sync_class


def sk_reference(X, y, C, sample_weight=None, solver="lbfgs", fit_intercept=True):
    sk = SkLogisticRegression(C=C, tol=1e-12, max_iter=20_000, solver=solver, fit_intercept=fit_intercept)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs at 1e-12 may stop on its ftol and warn
        sk.fit(X, y, sample_weight=sample_weight)
    return sk.coef_, sk.intercept_


def objective(X, y, coef, intercept, C, s=None):
    """scikit-learn's objective ``C sum_i s_i L_i + ||W||^2 / 2``, float64 NumPy; X (m, n), coef (k, n)."""
    X = np.asarray(X, np.float64)
    s = np.ones(len(y)) if s is None else s
    Z = X @ np.asarray(coef, np.float64).T + np.asarray(intercept, np.float64)
    if Z.shape[1] == 1:
        L = np.logaddexp(0, np.where(y == 1, -Z[:, 0], Z[:, 0]))
    else:
        L = logsumexp(Z, axis=1) - Z[np.arange(len(y)), y]
    return C * np.sum(s * L) + np.sum(np.asarray(coef, np.float64) ** 2) / 2


def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def weighted_problem(seed=0, m=300, n=6, K=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n)) * np.linspace(0.5, 3, n) + 0.5
    y = np.argmax(X[:, :K] + rng.standard_normal((m, K)), axis=1) if K > 2 else \
        (X[:, 0] - X[:, 1] + rng.standard_normal(m) > 0).astype(int)
    return X, y, rng.random(m) * 2 + 0.1


def gradient_norm(result):
    return float(np.sqrt(np.sum(np.asarray(result.dw, np.float64) ** 2) + np.sum(np.asarray(result.db, np.float64) ** 2)))


# --- against scikit-learn's optimum -------------------------------------------------------------------


@pytest.mark.parametrize("C", [1.0, 0.1])
@pytest.mark.parametrize("name", ["breast_cancer", "digits"])
def test_train_reaches_scikit_learns_optimum(name, C):
    X, y = {"breast_cancer": breast_cancer, "digits": digits}[name]()
    coef, intercept = sk_reference(X, y, C)
    nc_coef, nc_intercept = sk_reference(X, y, C, solver="newton-cholesky")
    model = xlogreg.train(X.T, y, solver="lbfgs", l2=1 / C, tol=1e-10, num_iterations=3000)
    assert model.converged and model.solver == "lbfgs"
    W = np.asarray(model.w).T
    b = np.asarray(model.b).ravel() if model.n_classes > 2 else np.array([model.b])
    # the objective: at least as low as scikit-learn's lbfgs at tol=1e-12, within rounding
    ours, theirs = objective(X, y, W, b, C), objective(X, y, coef, intercept, C)
    assert ours <= theirs + 1e-12 * abs(theirs)
    # the coefficients: scikit-learn's lbfgs stops ~1e-6 from the optimum (its ftol); newton-cholesky is tighter
    scale = max(np.abs(nc_coef).max(), np.abs(nc_intercept).max())
    np.testing.assert_allclose(W, coef, rtol=0, atol=1e-4 * scale)
    np.testing.assert_allclose(W, nc_coef, rtol=0, atol=1e-7 * scale)
    np.testing.assert_allclose(b, nc_intercept, rtol=0, atol=1e-7 * scale)
    if model.n_classes > 2:  # centred over the classes, as scikit-learn's
        assert np.abs(W.sum(axis=0)).max() <= 1e-9 * np.abs(W).max()
        assert abs(b.sum()) <= 1e-9 * np.abs(b).max()


@pytest.mark.parametrize("K", [2, 3])
def test_estimator_with_sample_weights_reaches_scikit_learns_optimum(K):
    X, y, s = weighted_problem(1, K=K)
    coef, intercept = sk_reference(X, y, 0.5, s)
    est = xlogreg.LogisticRegression(solver="lbfgs", C=0.5, tol=1e-9, max_iter=1000).fit(X, y, sample_weight=s)
    assert objective(X, y, est.coef_, est.intercept_, 0.5, s) <= objective(X, y, coef, intercept, 0.5, s) + 1e-10
    scale = max(np.abs(coef).max(), np.abs(intercept).max())
    np.testing.assert_allclose(est.coef_, coef, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(est.intercept_, intercept, rtol=0, atol=1e-5 * scale)
    # integer weights fit as repeated rows
    counts = np.random.default_rng(2).integers(0, 3, len(y))
    repeated = xlogreg.LogisticRegression(solver="lbfgs", tol=1e-10, max_iter=1000).fit(
        np.repeat(X, counts, axis=0), np.repeat(y, counts))
    weighted = xlogreg.LogisticRegression(solver="lbfgs", tol=1e-10, max_iter=1000).fit(X, y, sample_weight=counts)
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=0, atol=1e-7)


# --- without intercept, against SciPy's L-BFGS-B on a NumPy objective ---------------------------------


def scipy_no_intercept(X, y, lam, K, s):
    """argmin of ``sum_i s_i L_i(W.T x_i) + lam / 2 ||W||^2`` by SciPy, no intercept; W (n, k)."""
    m, n = X.shape
    if K == 2:
        sign = np.where(y == 1, 1.0, -1.0)

        def f(beta):
            margin = sign * (X @ beta)
            value = np.sum(s * np.logaddexp(0, -margin)) + lam / 2 * beta @ beta
            grad = -X.T @ (s * sign * np.exp(-np.logaddexp(0, margin))) + lam * beta
            return value, grad

        x = minimize(f, np.zeros(n), jac=True, method="L-BFGS-B", options=dict(gtol=1e-12, ftol=0, maxiter=10_000)).x
        return x.reshape(n, 1)
    T = np.eye(K)[y]

    def f(flat):
        W = flat.reshape(n, K)
        Z = X @ W
        P = np.exp(Z - logsumexp(Z, axis=1, keepdims=True))
        value = np.sum(s * (logsumexp(Z, axis=1) - np.sum(T * Z, axis=1))) + lam / 2 * np.sum(W * W)
        return value, (X.T @ ((P - T) * s[:, None]) + lam * W).ravel()

    x = minimize(f, np.zeros(n * K), jac=True, method="L-BFGS-B", options=dict(gtol=1e-12, ftol=0, maxiter=10_000)).x
    return x.reshape(n, K)


@pytest.mark.parametrize("K", [2, 4])
def test_no_intercept_against_scipy(K):
    X, y, s = weighted_problem(3, m=200, n=5, K=K)
    lam = 0.3
    reference = scipy_no_intercept(X, y, lam, K, s)
    est = xlogreg.LogisticRegression(solver="lbfgs", C=1 / lam, fit_intercept=False, tol=1e-10,
                                     max_iter=1000).fit(X, y, sample_weight=s)
    np.testing.assert_array_equal(est.intercept_, np.zeros(est.intercept_.shape))
    np.testing.assert_allclose(est.coef_, reference.T, rtol=0, atol=1e-6 * np.abs(reference).max())


@pytest.mark.parametrize(("m", "n", "lam"), [(1000, 10, 0.01), (200, 50, 0.01)])
def test_benchopt_l2_problems_without_intercept(m, n, lam):
    """benchopt's L2 logistic regression (y = sign(X beta), no intercept), smaller: lbfgs against SciPy."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((m, n))
    y = (X @ rng.standard_normal(n) > 0).astype(int)
    reference = scipy_no_intercept(X, y, lam, 2, np.ones(m))
    loss = _loss.LogisticLoss(X.T, y[None].astype(float), 2, l2=lam)
    result = lbfgs(loss, *loss.zeros(), tol=1e-10, max_iter=5000, fit_intercept=False)
    assert result.converged and result.stop == "tol"
    assert float(result.b[0, 0]) == 0.0 and float(result.db[0, 0]) == 0.0
    np.testing.assert_allclose(result.w, reference, rtol=0, atol=1e-5 * np.abs(reference).max())


# --- every backend, device and dtype ------------------------------------------------------------------


def same_place(a, case):
    return (_backends.backend_name(array_namespace(a)) == case.backend and str(get_device(a)) == str(case.device)
            and a.dtype == case.dtype)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("K", [2, 3])
def test_every_backend_stays_in_place_and_reaches_the_optimum(case, K, fit_intercept):
    X, y, s = weighted_problem(5, m=80, n=4, K=K)
    C = 0.5
    if fit_intercept:
        coef, intercept = sk_reference(X, y, C, s)
    else:
        coef, intercept = scipy_no_intercept(X, y, 1 / C, K, s).T, np.zeros(1 if K == 2 else K)
    Xc, yc, sc = case.asarray(X.T), case.asarray(y[None]), case.asarray(s[None])
    loss = _loss.LogisticLoss(Xc, yc, K, sample_weight=sc, l2=1 / C)
    float32 = case.dtype_name == "float32"
    result = lbfgs(loss, *loss.zeros(), tol=1e-4 if float32 else 1e-10, max_iter=500, fit_intercept=fit_intercept)
    assert result.converged and result.stop == "tol"
    for a in (result.w, result.b, result.dw, result.db):
        assert same_place(a, case), (type(a), get_device(a), a.dtype)
    W, b = case.to_numpy(result.w).T, case.to_numpy(result.b).ravel()
    scale = max(np.abs(coef).max(), np.abs(intercept).max())
    atol = (1e-3 if float32 else 1e-7) * scale
    np.testing.assert_allclose(W, coef, rtol=0, atol=atol)
    np.testing.assert_allclose(b, intercept, rtol=0, atol=atol)


def test_every_backend_through_train_and_the_estimator(case):
    X, y, s = weighted_problem(6, m=60, n=3, K=3)
    coef, intercept = sk_reference(X, y, 1.0, s)
    tol = 1e-4 if case.dtype_name == "float32" else 1e-9
    model = xlogreg.train(case.asarray(X.T), case.asarray(y, dtype=None), sample_weight=case.asarray(s),
                          solver="lbfgs", l2=1.0, tol=tol, num_iterations=300)
    assert model.converged and model.backend == case.backend and same_place(model.w, case)
    est = xlogreg.LogisticRegression(solver="lbfgs", tol=tol).fit(case.asarray(X), case.asarray(y, dtype=None),
                                                                  sample_weight=case.asarray(s))
    assert same_place(est.coef_, case) and same_place(est.intercept_, case)
    atol = (1e-3 if case.dtype_name == "float32" else 1e-6) * np.abs(coef).max()
    for W in (case.to_numpy(model.w).T, case.to_numpy(est.coef_)):
        np.testing.assert_allclose(W, coef, rtol=0, atol=atol)


def test_dask_graph_stays_one_iteration_deep():
    import_backend("dask")
    import dask.array

    X, y, s = weighted_problem(7, m=120, n=4, K=3)
    Xd = dask.array.from_array(X.T, chunks=(4, 40))
    loss = _loss.LogisticLoss(Xd, dask.array.from_array(y[None].astype(float), chunks=(1, 40)), 3, l2=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xlogreg.ConvergenceWarning)
        long = lbfgs(loss, *loss.zeros(), tol=0.0, max_iter=3, settle=lbfgs_module.dask_data.materialize)
        longer = lbfgs(loss, *loss.zeros(), tol=0.0, max_iter=12, settle=lbfgs_module.dask_data.materialize)
    # settled: the graph of the result does not grow with the iterations
    assert len(dict(longer.w.__dask_graph__())) == len(dict(long.w.__dask_graph__()))
    assert len(dict(longer.dw.__dask_graph__())) == len(dict(long.dw.__dask_graph__()))


# --- trials from the logits (lines) --------------------------------------------------------------------


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_binary_trials_go_through_lines_and_reach_the_same_optimum(monkeypatch, fit_intercept):
    """The binary loss's L-BFGS evaluates J and its gradient in full once (the start), then every trial on a
    line (two products per iteration, none per extra trial); with lines and without, scikit-learn's optimum."""
    X, y = breast_cancer()
    C = 0.5
    coef, intercept = sk_reference(X, y, C, fit_intercept=fit_intercept)
    fits = {}
    for lines in (True, False):
        loss = _loss.LogisticLoss(X.T, y[None].astype(float), 2, l2=1 / C)
        assert loss.line_ready
        loss.line_ready = lines
        full, trials = [], []
        real, real_line = loss.value_and_gradient, loss.line
        monkeypatch.setattr(loss, "value_and_gradient", lambda W, b, real=real: full.append(1) or real(W, b))

        def counted(*args, real_line=real_line, trials=trials):
            line = real_line(*args)
            trial = line.value_and_slope
            line.value_and_slope = lambda t: trials.append(t) or trial(t)
            return line

        monkeypatch.setattr(loss, "line", counted)
        result = lbfgs(loss, *loss.zeros(), tol=1e-10, max_iter=500, fit_intercept=fit_intercept)
        assert result.converged and result.stop == "tol"
        if lines:  # lines until J is within its rounding, full evaluations from there (module notes)
            floor = next(i for i, (_, cost) in enumerate(result.costs[1:])
                         if cost > result.costs[i][1] - 64 * np.finfo(float).eps * abs(result.costs[i][1]))
            assert floor > 5 and len(trials) >= floor and 1 < len(full) <= 1 + 2 * (result.iterations - floor)
        else:
            assert trials == [] and len(full) >= result.iterations + 1
        fits[lines] = result
        scale = max(np.abs(coef).max(), np.abs(intercept).max())
        np.testing.assert_allclose(np.asarray(result.w).T, coef, rtol=0, atol=1e-5 * scale)
        if fit_intercept:
            np.testing.assert_allclose(float(result.b[0, 0]), intercept[0], rtol=0, atol=1e-5 * scale)
        else:
            assert float(result.b[0, 0]) == 0.0
    assert fits[True].iterations <= fits[False].iterations  # the closer searches (C2_LINES) on cheap trials



def _binary_loss(C=0.5):
    X, y = breast_cancer()
    return _loss.LogisticLoss(X.T, y[None].astype(float), 2, l2=1 / C), X, y


def test_a_search_that_fails_on_lines_runs_again_on_full_evaluations(monkeypatch):
    """Near J's floor a line's J and J' round otherwise than full evaluations: where a search on lines
    fails (here every line from the fifth on returns NaN), the same direction is searched again on full
    evaluations and the run goes on without lines, to scikit-learn's optimum (it stopped "rounding", not
    converged, when the failure ended the run)."""
    C = 0.5
    loss, X, y = _binary_loss(C)
    coef, intercept = sk_reference(X, y, C, fit_intercept=True)
    real_line, made = loss.line, []

    def failing(*args):
        line = real_line(*args)
        made.append(line)
        if len(made) >= 5:
            nan = loss.X[0, 0] * float("nan")
            line.value_and_slope = lambda t: (nan, nan)
        return line

    monkeypatch.setattr(loss, "line", failing)
    result = lbfgs(loss, *loss.zeros(), tol=1e-8, max_iter=500)
    assert result.converged and result.stop == "tol"
    assert len(made) == 5  # lines off after the failed one
    scale = max(np.abs(coef).max(), np.abs(intercept).max())
    np.testing.assert_allclose(np.asarray(result.w).T, coef, rtol=0, atol=1e-4 * scale)


def test_a_failed_search_at_c2_lines_is_run_again_at_c2(monkeypatch):
    """The closer search (C2_LINES) can be out of reach at J's floor where the usual one is not: each
    search at C2_LINES that fails (here: made to fail) is run again at C2 on the same line, and the fit
    converges with lines."""
    loss, _, _ = _binary_loss()
    real, asked = lbfgs_module._line_search, []

    def failing_at_c2_lines(*args, **kwargs):
        c2 = args[7] if len(args) > 7 else kwargs.get("c2", lbfgs_module.C2)
        asked.append(c2)
        if c2 == lbfgs_module.C2_LINES and len(asked) % 3 == 1:
            return None, 0
        return real(*args, **kwargs)

    monkeypatch.setattr(lbfgs_module, "_line_search", failing_at_c2_lines)
    real_line, made = loss.line, []
    monkeypatch.setattr(loss, "line", lambda *args: made.append(1) or real_line(*args))
    result = lbfgs(loss, *loss.zeros(), tol=1e-8, max_iter=500)
    assert result.converged and result.stop == "tol"
    assert len(made) > 10  # the retries at C2 ran on the same lines (a search failed on lines ends them)
    retried = [i for i, c2 in enumerate(asked[:-1]) if c2 == lbfgs_module.C2_LINES and i % 3 == 0]
    assert retried and all(asked[i + 1] == lbfgs_module.C2 for i in retried)


@pytest.mark.parametrize("refresh", [1, 4, lbfgs_module.LINE_REFRESH])
def test_lines_recompute_their_logits_every_line_refresh_iterations(monkeypatch, refresh):
    """The logits handed from line to line are recomputed from the iterate (Z=None) on iterations 0,
    refresh, 2 refresh, ...; in between each line starts from the last one's."""
    loss, _, _ = _binary_loss()
    monkeypatch.setattr(lbfgs_module, "LINE_REFRESH", refresh)
    real_line, handed = loss.line, []
    monkeypatch.setattr(loss, "line", lambda *args: handed.append(args[4] is None) or real_line(*args))
    result = lbfgs(loss, *loss.zeros(), tol=1e-6, max_iter=40)
    assert result.converged and len(handed) >= min(result.iterations, 9)
    assert handed[:9] == [i % refresh == 0 for i in range(9)]  # one line per iteration this early


# --- the host synchronisations ------------------------------------------------------------------------


@pytest.mark.parametrize("lines", [False, True])
@pytest.mark.parametrize("K", [2, 3])
def test_one_host_transfer_per_evaluation_and_none_elsewhere(monkeypatch, K, lines):
    """Tensors that refuse float(), bool(), .item(), .cpu(), ... go through lbfgs(): only _host converts,
    once per evaluation of J (plus once at the start), never elsewhere; with lines, once per trial of the
    line search and once per iteration (the new gradient's norm and <s, y>)."""
    torch = import_backend("torch")
    NoHostSync = _no_host_sync_class(torch)
    host = lbfgs_module._host
    transfers, evaluations = [], []

    def allowed_host(*scalars):
        NoHostSync.allowed = True
        try:
            transfers.append(len(scalars))
            return host(*scalars)
        finally:
            NoHostSync.allowed = False

    monkeypatch.setattr(lbfgs_module, "_host", allowed_host)
    X, y, s = weighted_problem(8, m=50, n=4, K=K)
    wrap = lambda a: torch.from_numpy(np.ascontiguousarray(a)).as_subclass(NoHostSync)  # noqa: E731
    loss = _loss.LogisticLoss(wrap(X.T), wrap(y[None].astype(float)), K, sample_weight=wrap(s[None]),
                              total_weight=float(s.sum()), l2=1.0)
    real = loss.value_and_gradient
    monkeypatch.setattr(loss, "value_and_gradient", lambda W, b: evaluations.append(1) or real(W, b))
    loss.line_ready = lines
    real_line = loss.line

    points = []

    def counted_line(*args):
        line = real_line(*args)
        trial, point = line.value_and_slope, line.point
        line.value_and_slope = lambda t: evaluations.append(1) or trial(t)
        line.point = lambda t: points.append(1) or point(t)
        return line

    monkeypatch.setattr(loss, "line", counted_line)
    result = lbfgs(loss, *loss.zeros(), tol=1e-8, max_iter=200)
    assert result.converged and result.iterations > 5
    if lines:  # the start's evaluation, each trial, and one per iteration on a line (until J is within rounding)
        assert len(points) > 5
        assert len(transfers) == len(evaluations) + len(points)
    else:  # one transfer per evaluation, the start's included
        assert len(transfers) == len(evaluations)
    assert max(transfers) <= 4  # J, J', ||g||^2 (and <g, p> on an L-BFGS direction's first trial)
    with pytest.raises(AssertionError, match="host synchronisation"):  # the check itself works
        float(result.b[0, 0])


# --- stopping honestly --------------------------------------------------------------------------------


def test_float32_stops_on_rounding_and_says_so():
    """tol 0 cannot be met: float32 runs until no step decreases J beyond rounding, and says it stopped there
    converged (the last L-BFGS direction's predicted decrease is within J's rounding: the dtype's reach, as
    Newton's stop), close to the float64 optimum (the approximate Wolfe steps work below J's rounding)."""
    X, y = digits()
    loss64 = _loss.LogisticLoss(X.T, y[None].astype(float), 10, l2=1.0)
    optimum = lbfgs(loss64, *loss64.zeros(), tol=1e-10, max_iter=3000)
    loss32 = _loss.LogisticLoss(X.T.astype(np.float32), y[None].astype(np.float32), 10, l2=1.0)
    result = lbfgs(loss32, *loss32.zeros(), tol=0.0, max_iter=3000)
    assert result.stop == "rounding" and result.converged is True and result.iterations < 3000
    assert result.w.dtype == np.float32
    # the gradient is far below sqrt(eps |J|) ~ 1.5e-4, where a line search on J's values alone would stop
    assert gradient_norm(result) < 2e-5
    J = float(loss64.value(np.asarray(result.w, np.float64), np.asarray(result.b, np.float64)))
    assert J - optimum.costs[-1][1] < 1e-6 * optimum.costs[-1][1]
    # and the estimator's default tol (1e-4) is met in float32
    est = xlogreg.LogisticRegression(solver="lbfgs").fit(X.astype(np.float32), y)
    assert est._converged and est.coef_.dtype == np.float32


@pytest.mark.parametrize("weighted", [False, True])
def test_float32_at_a_tol_below_its_reach_stops_converged_long_before_max_iter(weighted):
    """scikit-learn's array-API tests fit iris in float32 at tol=1e-12, max_iter=500, ConvergenceWarning an error:
    the gradient's norm jitters at float32's floor (downward now and then), and the run must still end, converged,
    where the model predicts no decrease beyond J's rounding; the fit equals the float64 optimum to float32's
    precision."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    y = (y > 0).astype(float)
    s = np.random.default_rng(0).uniform(-1, 5, size=150).clip(0, None) if weighted else None
    fits = {}
    for dtype in (np.float32, np.float64):
        loss = _loss.LogisticLoss(X.T.astype(dtype), y[None].astype(dtype), 2, l2=100.0,
                                  sample_weight=None if s is None else s[None].astype(dtype))
        with warnings.catch_warnings():
            warnings.simplefilter("error", xlogreg.ConvergenceWarning)
            fits[dtype] = lbfgs(loss, *loss.zeros(), tol=1e-12 if dtype is np.float32 else 1e-13, max_iter=500)
    result = fits[np.float32]
    assert result.converged and result.stop == "rounding" and result.iterations < 100
    np.testing.assert_allclose(np.asarray(result.w, np.float64), fits[np.float64].w, rtol=0, atol=1e-5)


def test_max_iter_warns_and_a_shorter_run_is_a_prefix():
    X, y = breast_cancer()
    loss = _loss.LogisticLoss(X.T, y[None].astype(float), 2, l2=1.0)
    with pytest.warns(xlogreg.ConvergenceWarning, match="^lbfgs: 3 iterations ended before"):
        short = lbfgs(loss, *loss.zeros(), tol=1e-12, max_iter=3)
    assert (short.stop, short.converged, short.iterations) == ("max_iter", False, 3)
    full = lbfgs(loss, *loss.zeros(), tol=1e-8, max_iter=500)
    assert full.costs[:4] == short.costs  # deterministic: the same first iterates
    assert [c for _, c in full.costs] == sorted((c for _, c in full.costs), reverse=True)  # J never rises
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning, match="^lbfgs failed to converge after 2 iteration"):  # scikit-learn's words
        xlogreg.LogisticRegression(solver="lbfgs", max_iter=2).fit(X, y)


def test_converged_at_the_start_takes_no_step():
    X, y = breast_cancer()
    loss = _loss.LogisticLoss(X.T, y[None].astype(float), 2, l2=1.0)
    result = lbfgs(loss, *loss.zeros(), tol=1e3)
    assert (result.iterations, result.converged, result.stop, len(result.costs)) == (0, True, "tol", 1)


def test_separable_without_l2_warns_and_stays_finite():
    X = np.array([[-2.0, -1.0, 1.0, 2.0]])
    with pytest.warns(xlogreg.ConvergenceWarning, match="linearly separable"):
        model = xlogreg.train(X, [0, 0, 1, 1], solver="lbfgs", num_iterations=200)
    assert np.all(np.isfinite(model.w)) and np.isfinite(model.b) and model.train_accuracy == 100.0


# --- Ctrl-C ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("K", [2, 3])
def test_ctrl_c_returns_the_last_iterate_whose_cost_is_known(K):
    X, y, s = weighted_problem(9, m=60, n=3, K=K)
    loss = _loss.LogisticLoss(X.T, y[None].astype(float), K, l2=0.5)
    w0, b0 = (np.zeros((3, 1)), np.zeros(())) if K == 2 else (np.zeros((3, K)), np.zeros((K, 1)))

    def stop_after_2(i, cost):
        if i == 2:
            raise KeyboardInterrupt

    with pytest.raises(xlogreg.TrainingInterrupted) as info:
        lbfgs_loop(w0, b0, X.T, y[None].astype(float), 20, 1, callback=stop_after_2, loss=loss, tol=0.0)
    result = info.value.result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xlogreg.ConvergenceWarning)
        three = lbfgs_loop(w0, b0, X.T, y[None].astype(float), 3, 1, loss=loss, tol=0.0)
    assert (result.iterations, result.solver, result.dw, result.db) == (3, "lbfgs", None, None)
    assert [i for i, _ in result.costs] == [0, 1, 2]
    assert result.costs == three.costs[:3]
    np.testing.assert_array_equal(result.w, three.w)
    np.testing.assert_array_equal(result.b, three.b)
    assert result.b.shape == (() if K == 2 else (K, 1))


def test_ctrl_c_through_train_gives_the_model_so_far(monkeypatch):
    X, y = breast_cancer()
    calls = []

    def interrupt(i, cost):
        calls.append(i)
        if i == 4:
            raise KeyboardInterrupt

    with pytest.raises(xlogreg.TrainingInterrupted) as info:
        xlogreg.train(X.T, y, solver="lbfgs", l2=1.0, tol=0.0, num_iterations=100, callback=interrupt)
    assert info.value.model.interrupted and info.value.model.iterations == 5 and calls == [0, 1, 2, 3, 4]


# --- the pieces, against independent computations -----------------------------------------------------


def test_two_loop_is_the_bfgs_update_of_the_scaled_identity():
    """With one pair, -H g is the BFGS inverse update of gamma I (gamma = s.y / y.y), formed here as a matrix."""
    rng = np.random.default_rng(10)
    s = (rng.standard_normal((3, 2)), rng.standard_normal((2, 1)))
    y = (s[0] + 0.3 * rng.standard_normal((3, 2)), s[1] + 0.3 * rng.standard_normal((2, 1)))
    g = (rng.standard_normal((3, 2)), rng.standard_normal((2, 1)))
    flat = lambda pair: np.concatenate([pair[0].ravel(), pair[1].ravel()])  # noqa: E731
    sv, yv, gv = flat(s), flat(y), flat(g)
    rho, yy = 1 / (sv @ yv), yv @ yv
    assert sv @ yv > 0
    gamma = (sv @ yv) / yy
    V = np.eye(8) - rho * np.outer(yv, sv)
    H = V.T @ (gamma * np.eye(8)) @ V + rho * np.outer(sv, sv)
    p = lbfgs_module._two_loop(g, [(s, y, np.asarray(rho), np.asarray(yy))])
    np.testing.assert_allclose(flat(p), -H @ gv, rtol=1e-12)
    assert H @ yv == pytest.approx(sv, rel=1e-12)  # the secant equation: an independent check of the matrix


def _trials(phi, dphi):
    evaluated = []

    def trial(t):
        evaluated.append(t)
        return lbfgs_module._Trial(t, phi(t), dphi(t), 0.0)

    return trial, evaluated


def test_line_search_accepts_the_unit_step_of_a_quadratic_model():
    """phi(t) = (t - 1)^2: the unit step is the minimum; strong Wolfe holds there, one evaluation."""
    trial, evaluated = _trials(lambda t: (t - 1) ** 2, lambda t: 2 * (t - 1))
    x, evals = lbfgs_module._line_search(trial, 1.0, -2.0, 1.0, 0.0, 30)
    assert (x.t, evals, evaluated) == (1.0, 1, [1.0])


@pytest.mark.parametrize("t0", [1e-3, 50.0])
def test_line_search_brackets_and_zooms_to_a_wolfe_point(t0):
    """phi(t) = (t - 7)^2 / 10 + exp(-t): from a step far too short (it grows) and far too long (it zooms),
    the step returned satisfies the strong Wolfe conditions, checked here."""
    phi = lambda t: (t - 7) ** 2 / 10 + np.exp(-t)  # noqa: E731
    dphi = lambda t: (t - 7) / 5 - np.exp(-t)  # noqa: E731
    trial, _ = _trials(phi, dphi)
    x, evals = lbfgs_module._line_search(trial, phi(0), dphi(0), t0, 0.0, 30)
    assert x.phi <= phi(0) + 1e-4 * x.t * dphi(0) and abs(x.dphi) <= 0.9 * abs(dphi(0)) and evals < 10


def test_line_search_within_rounding_decides_by_the_derivative():
    """J's values are noise (within `rounding` above J(0), so Armijo never holds): a step is accepted on
    the approximate Wolfe conditions of the derivative, which here says the minimum is at t = 3."""
    noise = iter(np.random.default_rng(11).uniform(1e-10, 1e-9, 100))
    trial, _ = _trials(lambda t: 1.0 + next(noise), lambda t: 1e-6 * (t - 3))
    x, _ = lbfgs_module._line_search(trial, 1.0, -3e-6, 1.0, 64 * 1.2e-7, 30)
    assert x is not None and -0.9 * 3e-6 <= x.dphi <= (1 - 2e-4) * 3e-6


def test_line_search_without_any_decrease_fails():
    """phi rises (beyond rounding) at every step although J'(0) < 0 claims otherwise: no step is returned."""
    trial, evaluated = _trials(lambda t: 1.0 + t, lambda t: -1.0)
    x, evals = lbfgs_module._line_search(trial, 1.0, -1.0, 1.0, 1e-14, 12)
    assert x is None and evals == len(evaluated) <= 12


# --- bad arguments --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tol": -1.0}, "tol must be a finite real number >= 0; got -1.0"),
    ({"tol": float("nan")}, "tol must be a finite real number >= 0; got nan"),
    ({"max_iter": -1}, "max_iter must be an integer >= 0; got -1"),
    ({"max_iter": 2.5}, "max_iter must be an integer >= 0; got 2.5"),
    ({"memory": 0}, "memory must be an integer >= 1; got 0"),
    ({"max_line_search": True}, "max_line_search must be an integer >= 1; got True"),
])
def test_bad_arguments_name_themselves(kwargs, message):
    loss = _loss.LogisticLoss(np.ones((2, 3)), np.array([[0.0, 1.0, 1.0]]))
    with pytest.raises(ValueError) as info:
        lbfgs(loss, *loss.zeros(), **kwargs)
    assert str(info.value) == message


def test_bad_starting_points_are_refused():
    loss = _loss.LogisticLoss(np.ones((2, 3)), np.array([[0.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match=r"W must have shape \(2, 1\) .* got shape \(3, 1\)"):
        lbfgs(loss, np.zeros((3, 1)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match=r"b must have shape \(1, 1\) .* got shape \(1,\)"):
        lbfgs(loss, np.zeros((2, 1)), np.zeros(1))
    with pytest.raises(TypeError, match="W must be an array of X's namespace and dtype"):
        lbfgs(loss, np.zeros((2, 1), np.float32), np.zeros((1, 1)))


def test_solver_names_and_fused_are_checked():
    with pytest.raises(ValueError, match="solver must be one of .*lbfgs"):
        xlogreg.train([[0.0, 1.0]], [0, 1], solver="l-bfgs")
    with pytest.raises(ValueError, match="fused=True cannot run here: .* lbfgs runs on the Array API"):
        xlogreg.train([[0.0, 1.0]], [0, 1], solver="lbfgs", fused=True)
    with pytest.raises(ValueError, match="solver must be one of .*'lbfgs'"):
        xlogreg.LogisticRegression(solver="l-bfgs").fit([[0.0], [1.0]], [0, 1])


def test_a_rounding_stop_is_converged_only_where_the_model_predicts_no_decrease_either():
    """Hand-worked: J = 1.0 in float32 has a rounding of 64 eps ~ 7.6e-6."""
    from xlogreg.solvers.lbfgs import _at_precision

    rounding = 64 * float(np.finfo(np.float32).eps) * 1.0
    assert _at_precision(1e-3, 1e-2, None, rounding)            # tol met
    assert _at_precision(1e-3, 1e-12, 1e-7, rounding)           # predicted 1e-7 < 7.6e-6: the dtype's precision
    assert not _at_precision(1e-3, 1e-12, 1e-4, rounding)       # a decrease beyond rounding was predicted
    assert not _at_precision(1e-3, 1e-12, None, rounding)       # no model (steepest descent only): not converged
