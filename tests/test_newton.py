"""Newton-CG (xlogreg/newton.py, ``train(solver="newton-cg")``) against scikit-learn's optimum.

scikit-learn's ``LogisticRegression(C=c)`` minimises the same objective as
``train(l2=1/c)``; its ``newton-cholesky`` solver at ``tol=1e-12`` is the
reference optimum (independent code: an explicit Hessian and a Cholesky solve).
"""

from __future__ import annotations

import types

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import xlogreg
from xlogreg import _backends


def reference(X, y, C, sample_weight=None):
    sk = LogisticRegression(C=C, tol=1e-12, max_iter=1000, solver="newton-cholesky")
    sk.fit(X, y, sample_weight=sample_weight)
    return sk.coef_, sk.intercept_


def fitted(model):
    w, b = _backends.to_numpy(model.w), model.b
    b = _backends.to_numpy(b).ravel() if model.n_classes > 2 else np.array([b])
    return w.T, b


def assert_optimum(model, coef, intercept, rtol):
    W, b = fitted(model)
    if model.n_classes > 2:  # scikit-learn centres softmax's coefficients over the classes; so is our optimum
        assert np.abs(W.sum(axis=0)).max() <= rtol * np.abs(W).max()
    scale = max(np.abs(coef).max(), np.abs(intercept).max())
    np.testing.assert_allclose(W, coef, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(b, intercept, rtol=0, atol=rtol * scale)


SOLVERS = ["newton-cg", "newton-cholesky"]


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("C", [1.0, 0.1])
@pytest.mark.parametrize("name", ["breast_cancer", "wine", "iris"])
def test_reaches_scikit_learns_optimum(name, C, solver):
    loader = {"breast_cancer": load_breast_cancer, "wine": load_wine, "iris": load_iris}[name]
    X, y = loader(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    coef, intercept = reference(X, y, C)
    model = xlogreg.train(X.T, y, solver=solver, l2=1 / C, tol=1e-10, num_iterations=100)
    assert model.converged and model.iterations < 30 and model.solver == solver
    assert_optimum(model, coef, intercept, 1e-7)


@pytest.mark.parametrize("solver", SOLVERS)
def test_integer_sample_weights_and_digits(solver):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    s = np.random.default_rng(0).integers(0, 3, len(y)).astype(float)
    coef, intercept = reference(X, y, 1.0, s)
    model = xlogreg.train(X.T, y, sample_weight=s, solver=solver, l2=1.0, tol=1e-9, num_iterations=100)
    assert model.converged
    assert_optimum(model, coef, intercept, 1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_every_backend_reaches_the_optimum(case, solver):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 5))
    y = np.argmax(X[:, :3] + 0.8 * rng.standard_normal((60, 3)), axis=1)
    s = rng.random(60) + 0.5
    coef, intercept = reference(X, y, 0.5, s)
    tol = 1e-4 if case.dtype_name == "float32" else 1e-10
    model = xlogreg.train(case.asarray(X.T), case.asarray(y, dtype=None), sample_weight=case.asarray(s),
                          solver=solver, l2=2.0, tol=tol, num_iterations=60)
    assert model.converged and model.backend == case.backend
    assert_optimum(model, coef, intercept, 1e-3 if case.dtype_name == "float32" else 1e-7)


@pytest.mark.parametrize("solver", SOLVERS)
def test_separable_data_without_l2_warn_and_stay_finite(solver):
    X = np.array([[-2.0, -1.0, 1.0, 2.0]])
    with pytest.warns(xlogreg.ConvergenceWarning, match="linearly separable"):
        model = xlogreg.train(X, [0, 0, 1, 1], solver=solver, num_iterations=50)
    assert np.all(np.isfinite(model.w)) and np.isfinite(model.b)
    assert model.costs == sorted(model.costs, reverse=True)  # the line search only ever descends
    assert model.train_accuracy == 100.0


def test_iteration_limit_warns_and_stopping_matches_a_shorter_run():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X).T
    with pytest.warns(xlogreg.ConvergenceWarning, match="2 iterations ended before"):
        short = xlogreg.train(X, y, solver="newton-cg", l2=1.0, tol=1e-12, num_iterations=2)
    assert short.converged is False and short.iterations == 2
    full = xlogreg.train(X, y, solver="newton-cg", l2=1.0, tol=1e-8, num_iterations=100, record_every=1)
    assert full.converged and full.costs[-1] < short.costs[-1]


def test_hessian_matrix_against_hessian_vector_products():
    """Every column of the formed Hessian is a Hessian-vector product with a unit vector (independent code)."""
    from xlogreg import _loss

    rng = np.random.default_rng(3)
    X = rng.standard_normal((4, 30))
    for n_classes, l2 in ((2, 0.5), (3, 0.5), (3, 0.0)):
        k = 1 if n_classes == 2 else n_classes
        loss = _loss.LogisticLoss(X, rng.integers(0, n_classes, (1, 30)).astype(float), n_classes,
                                  sample_weight=rng.random((1, 30)), l2=l2)
        W, b = rng.standard_normal((4, k)), rng.standard_normal((k, 1))
        H = loss.hessian_matrix(W, b)
        assert H.shape == (5 * k, 5 * k)
        np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-15)
        for j in range(5 * k):
            e = np.zeros(5 * k)
            e[j] = 1
            E = e.reshape(k, 5).T
            HV, Hvb = loss.hessian_product(W, b, E[:4], E[4:].T.reshape(k, 1))
            column = np.concatenate([HV, Hvb.T], axis=0).T.reshape(-1)
            np.testing.assert_allclose(H[:, j], column, rtol=1e-12, atol=1e-12)


def test_fused_true_is_refused():
    with pytest.raises(ValueError, match="newton-cg runs on the Array API"):
        xlogreg.train([[0.0, 1.0]], [0, 1], solver="newton-cg", fused=True)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_more_features_than_examples_iterate_on_the_gram_matrix(case, n_classes, monkeypatch):
    """n_x > m: Newton-CG runs in the coordinates of the examples (W = X A), to the same optimum."""
    from xlogreg import newton

    made = []
    real = newton._Gram.__init__
    monkeypatch.setattr(newton._Gram, "__init__", lambda self, loss: made.append(1) or real(self, loss))
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 120))  # 40 examples, 120 features
    y = rng.integers(0, n_classes, 40)
    s = rng.random(40) + 0.5
    coef, intercept = reference(X, y, 0.5, s)
    tol = 1e-4 if case.dtype_name == "float32" else 1e-10
    model = xlogreg.train(case.asarray(X.T), case.asarray(y, dtype=None), sample_weight=case.asarray(s),
                          solver="newton-cg", l2=2.0, tol=tol, num_iterations=60)
    assert model.converged
    assert made == ([] if case.backend == "dask" else [1])  # Dask (lazy) iterates on X
    assert_optimum(model, coef, intercept, 1e-3 if case.dtype_name == "float32" else 1e-7)


@pytest.mark.parametrize("n_classes, weighted", [(2, False), (2, True), (4, False), (4, True)])
def test_hessian_diagonal_against_plain_numpy(n_classes, weighted):
    """The Jacobi preconditioner's diagonal, from the formula written out here in NumPy."""
    from xlogreg._loss import LogisticLoss

    rng = np.random.default_rng(21)
    X = rng.standard_normal((6, 40)) * np.arange(1, 7)[:, None]
    y = rng.integers(0, n_classes, 40)
    s = rng.random(40) + 0.2 if weighted else np.ones(40)
    k = 1 if n_classes == 2 else n_classes
    W, b = rng.standard_normal((6, k)) * 0.3, rng.standard_normal((k, 1))
    loss = LogisticLoss(X, y.reshape(1, 40).astype(float), n_classes,
                        sample_weight=s.reshape(1, 40) if weighted else None, l2=0.7)
    dW, db = loss.hessian_operator(W, b).diagonal()
    Z = W.T @ X + b
    if k == 1:
        A = 1 / (1 + np.exp(-Z))
    else:
        E = np.exp(Z - Z.max(axis=0))
        A = E / E.sum(axis=0)
    d = A * (1 - A) * s / s.sum()  # (k, m): the curvature of each logit in itself
    np.testing.assert_allclose(dW, (X ** 2) @ d.T + 0.7 / s.sum(), rtol=1e-13)
    np.testing.assert_allclose(db, d.sum(axis=1, keepdims=True), rtol=1e-13)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_preconditioned_cg_reaches_the_same_optimum_in_fewer_products(n_classes, monkeypatch):
    """Features on scales from 1 to 1000: Jacobi scaling gives the optimum of the unscaled CG (and of
    scikit-learn) with fewer Hessian-vector products."""
    from xlogreg import _loss, newton

    rng = np.random.default_rng(22)
    X = rng.standard_normal((400, 8)) * np.logspace(0, 3, 8)
    y = np.argmax(X[:, :n_classes] / np.logspace(0, 3, 8)[:n_classes] + rng.standard_normal((400, n_classes)),
                  axis=1) if n_classes > 2 else (X[:, 0] + X[:, 1] / 10 + rng.standard_normal(400) > 0).astype(int)
    coef, intercept = reference(X, y, 1.0)
    loss = _loss.LogisticLoss(X.T, y.reshape(1, -1).astype(float), n_classes, l2=1.0)
    products = []
    real = _loss._HessianOperator.__call__
    monkeypatch.setattr(_loss._HessianOperator, "__call__", lambda self, *a: products.append(1) or real(self, *a))
    counts = {}
    for precondition in (False, True):
        products.clear()
        result = newton.newton_cg(loss, *loss.zeros(), tol=1e-9, max_iter=200, precondition=precondition)
        counts[precondition] = len(products)
        assert result.converged
        W, b = result.w.T, result.b.ravel()
        if n_classes > 2:
            assert np.abs(W.sum(axis=0)).max() <= 1e-9 * np.abs(W).max()  # centred as scikit-learn's
        scale = max(np.abs(coef).max(), np.abs(intercept).max())
        np.testing.assert_allclose(W, coef, rtol=0, atol=1e-6 * scale)
        np.testing.assert_allclose(b, intercept, rtol=0, atol=1e-6 * scale)
    assert counts[True] < counts[False] / 2, counts


# ---------------------------------------------------------------------------------------------------
# The pieces of xlogreg/newton.py one by one, from the survivors of mutation testing
# (docs/mutation-testing.md).


class _DiagonalProblem:
    """A stand-in for newton's problem objects: H = diag(h_W) on W and diag(h_b) on b."""

    def __init__(self, h_W, h_b):
        from xlogreg import newton

        self.h_W, self.h_b = np.asarray(h_W, float), np.asarray(h_b, float)
        self.dot = newton._dot

        self.loss = types.SimpleNamespace(multinomial=False)
        self.products = 0

    def hessian_operator(self, W, b):
        def product(V, vb):
            self.products += 1
            return self.h_W * V, self.h_b * vb

        product.diagonal = lambda: (self.h_W, self.h_b)
        return product


def _cg(h_W, h_b, g_W, g_b, max_cg=10, precondition=False, problem=None):
    from xlogreg import newton

    g = (np.asarray(g_W, float), np.asarray(g_b, float))
    g_norm = float(np.sqrt((g[0] ** 2).sum() + (g[1] ** 2).sum()))
    problem = problem or _DiagonalProblem(h_W, h_b)
    return newton._conjugate_gradient(problem, None, None, g, g_norm, max_cg, precondition)


def test_jacobi_preconditioned_conjugate_gradient_solves_a_diagonal_system_in_one_product():
    """H = diag(1, 0.01, 1) is its own diagonal: the preconditioned system is the identity, so the first
    product gives p = -H^-1 g = (-2, -200, -2) exactly (the plain CG needs two: the test below)."""
    problem = _DiagonalProblem([[1.0], [0.01]], [[1.0]])
    p_W, p_b = _cg(None, None, [[2.0], [2.0]], [[2.0]], precondition=True, problem=problem)
    np.testing.assert_allclose(p_W, [[-2.0], [-200.0]], rtol=1e-12)
    np.testing.assert_allclose(p_b, [[-2.0]], rtol=1e-12)
    assert problem.products == 1


def test_conjugate_gradient_solves_a_two_eigenvalue_system_in_two_products():
    """H = diag(1, 0.01, 1), g = (2, 2, 2): CG is exact after as many products as H has distinct eigenvalues.

    After the first product the residual (2.41) is above the forcing term 0.5 |g| = 1.73, so CG goes on,
    to p = -H^-1 g = (-2, -200, -2).
    """
    p_W, p_b = _cg([[1.0], [0.01]], [[1.0]], [[2.0], [2.0]], [[2.0]])
    np.testing.assert_allclose(p_W, [[-2.0], [-200.0]], rtol=1e-12)
    np.testing.assert_allclose(p_b, [[-2.0]], rtol=1e-12)


def test_conjugate_gradient_on_flat_directions():
    """H = diag(1, 0, 1) (no L2, singular), g = (1, 1, 1), worked by hand.

    Product 1: d = -g, Hd = (-1, 0, -1), curvature 2, step 3/2: p = (-1.5, -1.5, -1.5), r = (0.5, -1, 0.5),
    |r| = 1.22 > 0.5 |g| = 0.87. Product 2: d = r + (1.5 / 3) d = (0, -1.5, 0), Hd = 0: flat, so CG returns p.
    With H = 0 the very first direction is flat: the answer is the gradient step -g.
    """
    p_W, p_b = _cg([[1.0], [0.0]], [[1.0]], [[1.0], [1.0]], [[1.0]])
    np.testing.assert_allclose(p_W, [[-1.5], [-1.5]], rtol=1e-15)
    np.testing.assert_allclose(p_b, [[-1.5]], rtol=1e-15)
    p_W, p_b = _cg([[0.0], [0.0]], [[0.0]], [[1.0], [-2.0]], [[3.0]])
    np.testing.assert_array_equal(p_W, [[-1.0], [2.0]])
    np.testing.assert_array_equal(p_b, [[-3.0]])


@pytest.mark.parametrize("n_classes", [2, 3])
def test_gram_coordinates_against_numpy(n_classes):
    """_Gram (W = X A) against plain NumPy at W = X A: J, X times its gradient, X times its Hessian product."""
    from test_loss import finite_difference_gradient, numpy_hessian, numpy_objective, problem

    from xlogreg import _loss, newton

    X, labels, _, b, s = problem(11, n_x=9, m=6, n_classes=n_classes)
    k = b.shape[0]
    rng = np.random.default_rng(12)
    A, U, vb = 0.1 * rng.standard_normal((6, k)), rng.standard_normal((6, k)), rng.standard_normal((k, 1))
    gram = newton._Gram(_loss.LogisticLoss(X, labels, n_classes, sample_weight=s, l2=0.8))
    W = X @ A
    J, GA, db = gram.value_and_gradient(A, b)
    assert float(J) == pytest.approx(numpy_objective(W, b, X, labels, n_classes, s, 0.8), rel=1e-13)
    num_dW, num_db = finite_difference_gradient(lambda: numpy_objective(W, b, X, labels, n_classes, s, 0.8), W, b)
    np.testing.assert_allclose(X @ GA, num_dW, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, num_db, rtol=1e-6, atol=1e-8)
    H = numpy_hessian(W, b, X, labels, n_classes, s, 0.8)
    direction = np.concatenate([X @ U, vb.T], axis=0).T.reshape(-1)  # class by class, [V[:, c]; vb[c]]
    HV = (H @ direction).reshape(k, -1).T
    HU, Hvb = gram.hessian_operator(A, b)(U, vb)
    scale = np.abs(HV).max()
    np.testing.assert_allclose(X @ HU, HV[:-1], rtol=0, atol=1e-11 * scale)
    np.testing.assert_allclose(Hvb, HV[-1:].T, rtol=0, atol=1e-11 * scale)


def test_gram_iteration_keeps_float32_and_the_device():
    """From W = 0 in float32 (NumPy, and array_api_strict's device1), the Gram iteration stays there."""
    from xlogreg import _loss, newton

    xs = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(13)
    X, y = rng.standard_normal((30, 8)), rng.integers(0, 2, (1, 8)).astype(float)
    for to in (lambda a: np.asarray(a, np.float32), lambda a: xs.asarray(a, dtype=xs.float32,
                                                                          device=xs.Device("device1"))):
        Xc = to(X)
        loss = _loss.LogisticLoss(Xc, to(y), l2=1.0)
        result = newton.newton_cg(loss, *loss.zeros(), tol=1e-4, gram=True)
        for a in (result.w, result.b, result.dw, result.db):
            assert a.dtype == Xc.dtype and str(getattr(a, "device", "")) == str(getattr(Xc, "device", ""))
        assert result.converged and result.w.shape == (30, 1)


def _small_loss(l2=1.0, n_classes=2):
    from xlogreg import _loss

    rng = np.random.default_rng(14)
    X = rng.standard_normal((3, 20))
    y = rng.integers(0, n_classes, (1, 20)).astype(float)
    return _loss.LogisticLoss(X, y, n_classes, l2=l2), X, y


@pytest.mark.parametrize("solver", SOLVERS)
def test_direct_call_defaults_record_settle_and_start(solver):
    """newton_cg / newton_cholesky called directly: tol 1e-4 by default, its name, record and settle used,
    and the start given kept (max_iter=0 returns it)."""
    from xlogreg import newton

    loss, X, y = _small_loss()
    run = newton.newton_cg if solver == "newton-cg" else newton.newton_cholesky
    recorded, settled = [], []

    def settle(*arrays):
        settled.append(len(arrays))  # 5: the iterate (W, b, J, dW, db); 2: newton-cg's curvature (P, Ps)
        return arrays

    result = run(loss, *loss.zeros(), record=lambda i, cost, state: recorded.append((i, cost, state())),
                 settle=settle)
    g = np.concatenate([result.dw.ravel(), result.db.ravel()])
    assert result.converged and result.solver == solver and 0 < np.linalg.norm(g) <= 1e-4
    assert [i for i, _, _ in recorded] == list(range(result.iterations + 1))
    assert settled.count(5) == result.iterations + 1
    assert settled.count(2) == (result.iterations if solver == "newton-cg" else 0)
    (_, cost, (W_last, b_last)), (_, cost_0, (W_0, b_0)) = recorded[-1], recorded[0]
    np.testing.assert_array_equal(W_last, result.w)  # state() is the iterate whose cost is recorded
    np.testing.assert_array_equal(b_last, result.b)
    assert not np.any(W_0) and not np.any(b_0) and cost_0 == pytest.approx(np.log(2), rel=1e-15)
    assert cost == pytest.approx(float(loss.value(result.w, result.b)), rel=1e-15)
    W0, b0 = np.ones((3, 1)), np.full((1, 1), 0.5)
    with pytest.warns(newton.ConvergenceWarning, match="0 iterations ended"):
        start = run(loss, W0, b0, max_iter=0, tol=0.0)
    np.testing.assert_array_equal(start.w, W0)
    np.testing.assert_array_equal(start.b, b0)


def test_newton_cg_with_one_product_per_iteration_takes_the_cauchy_step():
    """max_cg=1: the direction is -t g with t = g.g / g.H g (H from plain NumPy), which the line search accepts."""
    from test_loss import numpy_hessian

    from xlogreg import newton

    loss, X, y = _small_loss()
    W0, b0 = np.zeros((3, 1)), np.zeros((1, 1))
    _, dW, db = loss.value_and_gradient(W0, b0)
    g = np.concatenate([dW, db]).ravel()
    H = numpy_hessian(W0, b0, X, y, 2, np.ones((1, 20)), 1.0)
    step = -(g @ g) / (g @ H @ g) * g
    with pytest.warns(newton.ConvergenceWarning, match="1 iterations ended"):
        result = newton.newton_cg(loss, W0, b0, max_cg=1, max_iter=1, tol=0.0, precondition=False)
    np.testing.assert_allclose(result.w.ravel(), step[:3], rtol=1e-12)
    np.testing.assert_allclose(result.b.ravel(), step[3:], rtol=1e-12)


def test_newton_cholesky_falls_back_to_the_gradient_on_a_singular_system_only(monkeypatch):
    from xlogreg import newton

    loss, X, y = _small_loss()

    def singular(H, rhs):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(newton, "_solve", singular)
    with pytest.warns(newton.ConvergenceWarning, match="3 iterations ended"):
        result = newton.newton_cholesky(loss, *loss.zeros(), max_iter=3, tol=0.0)
    assert result.iterations == 3 and result.costs[-1][1] < result.costs[0][1]

    def broken(H, rhs):
        raise np.linalg.LinAlgError("Array must not contain infs or NaNs")

    monkeypatch.setattr(newton, "_solve", broken)
    with pytest.raises(np.linalg.LinAlgError, match="infs or NaNs"):
        newton.newton_cholesky(loss, *loss.zeros(), max_iter=3, tol=0.0)


def test_an_ascent_direction_is_replaced_by_the_gradient_step():
    """Given a direction that climbs (here +g, with |g|^2 < 1), the iteration falls back to -g and descends."""
    from xlogreg import newton

    loss, X, y = _small_loss()
    with pytest.warns(newton.ConvergenceWarning, match="1 iterations ended"):
        result = newton._newton(newton._Primal(loss), *loss.zeros(), lambda W, b, g, g_norm: g, "test", 0.0, 1,
                                None, None)
    assert result.costs[0][1] == pytest.approx(np.log(2), rel=1e-15)
    assert result.costs[-1][0] == 1 and result.costs[-1][1] < np.log(2) - 1e-3


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_non_finite_start_is_named(solver):
    from xlogreg import newton

    loss, X, y = _small_loss()
    run = newton.newton_cg if solver == "newton-cg" else newton.newton_cholesky
    with pytest.raises(xlogreg.TrainingDiverged, match=rf"^{solver}: the cost is nan at iteration 0; the data or "
                                                       r"the starting point give non-finite values$"):
        run(loss, np.full((3, 1), np.nan), np.zeros((1, 1)))


class _OneDimensional:
    """A stand-in problem in one weight (b is held at 0): J(w) = f(w), J' by hand, the Euclidean product."""

    def __init__(self, f, df):
        from xlogreg import newton

        self.f, self.df, self.dot = f, df, newton._dot

    def start(self, W, b):
        return W, b

    def finish(self, W, b, dW, db):
        return W, b, dW, db

    def value_and_gradient(self, W, b):
        w = float(W[0, 0])
        return np.asarray(self.f(w)), np.array([[self.df(w)]]), np.zeros((1, 1))


def test_backtracking_halves_the_step_until_armijo_holds():
    """J(w) = (w - 1)^2 from w = 0 (J = 1, J' = -2) along p = 4: t = 1 gives J(4) = 9, t = 1/2 gives J(2) = 1
    (no decrease, gradient no smaller), t = 1/4 gives J(1) = 0, the minimum; the next iteration has J' = 0."""
    from xlogreg import newton

    problem = _OneDimensional(lambda w: (w - 1) ** 2, lambda w: 2 * (w - 1))
    result = newton._newton(problem, np.zeros((1, 1)), np.zeros((1, 1)), lambda W, b, g, g_norm: (
        np.array([[4.0]]), np.zeros((1, 1))), "test", 1e-12, 5, None, None)
    assert result.converged and result.iterations == 1 and result.w[0, 0] == 1.0
    assert result.costs == [(0, 1.0), (1, 0.0)]


def test_no_decrease_along_the_direction_returns_the_start_unconverged():
    """J = 1 at w = 0 and 2 everywhere else, J' = -1: 40 halvings find no decrease, so the start comes back."""
    from xlogreg import newton

    problem = _OneDimensional(lambda w: 1.0 if w == 0 else 2.0, lambda w: -1.0)
    result = newton._newton(problem, np.zeros((1, 1)), np.zeros((1, 1)), lambda W, b, g, g_norm: (
        np.array([[1.0]]), np.zeros((1, 1))), "test", 1e-12, 5, None, None)
    assert (result.converged, result.iterations, result.solver, result.costs) == (False, 0, "test", [(0, 1.0)])
    assert result.w[0, 0] == 0.0 and result.b[0, 0] == 0.0 and result.dw[0, 0] == -1.0 and result.db[0, 0] == 0.0
