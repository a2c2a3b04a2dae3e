"""Newton-CG (xlogreg/newton.py, ``train(solver="newton-cg")``) against scikit-learn's optimum.

scikit-learn's ``LogisticRegression(C=c)`` minimises the same objective as
``train(l2=1/c)``; its ``newton-cholesky`` solver at ``tol=1e-12`` is the
reference optimum (independent code: an explicit Hessian and a Cholesky solve).
"""

from __future__ import annotations

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
