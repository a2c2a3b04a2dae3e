"""xlogreg.solvers.agd: the step bound, and the minimiser it reaches (checked with plain NumPy)."""

from __future__ import annotations

import numpy as np
import pytest

from xlogreg._loss import LogisticLoss
from xlogreg.solvers.agd import accelerated_gradient, lipschitz_constant, preconditioner


def _problem(K, weighted, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4, 80)) * np.array([[1.0], [10.0], [0.1], [3.0]]) + np.array([[50.0], [0.0], [1.0], [-2.0]])
    labels = rng.integers(0, K, size=(1, 80)).astype(float)
    s = rng.uniform(0.2, 3.0, size=(1, 80)) if weighted else None
    return X, labels, s


def _numpy_gradient(X, labels, K, s, l2, W, b):
    """J's gradient in plain NumPy (the loss module's formula, written independently)."""
    m = X.shape[1]
    s = np.ones((1, m)) if s is None else s
    S = s.sum()
    Z = W.T @ X + b
    if K == 2:
        R = (1 / (1 + np.exp(-Z)) - labels) * s / S
    else:
        E = np.exp(Z - Z.max(axis=0))
        T = (np.arange(K)[:, None] == labels).astype(float)
        R = (E / E.sum(axis=0) - T) * s / S
    return X @ R.T + l2 / S * W, R.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("K", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_step_bound_is_an_upper_bound(K, weighted):
    """c ||[X; 1] diag(sqrt(s / S))||_2^2 + l2 / S <= L <= the same with the Frobenius norm."""
    X, labels, s = _problem(K, weighted)
    loss = LogisticLoss(X, labels, K, sample_weight=s, l2=0.5)
    S = loss.total_weight
    A = np.vstack([X, np.ones((1, X.shape[1]))]) * np.sqrt((np.ones_like(labels) if s is None else s) / S)
    c = 0.25 if K == 2 else 0.5
    exact = c * np.linalg.norm(A, 2) ** 2 + 0.5 / S
    L = lipschitz_constant(loss)
    assert exact * (1 - 1e-9) <= L <= c * np.linalg.norm(A, "fro") ** 2 + 0.5 / S + 1e-12


@pytest.mark.parametrize("K", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("precondition", [True, False])
def test_reaches_a_stationary_point(K, weighted, precondition):
    X, labels, s = _problem(K, weighted)
    loss = LogisticLoss(X, labels, K, sample_weight=s, l2=2.0)
    result = accelerated_gradient(loss, *loss.zeros(), max_iter=200_000, tol=1e-9, precondition=precondition)
    assert result.converged
    dW, db = _numpy_gradient(X, labels, K, s, 2.0, result.W, result.b)
    assert np.sqrt((dW ** 2).sum() + (db ** 2).sum()) <= 1e-9 * (1 + 1e-6)


def test_preconditioning_is_exact_and_faster():
    """Centred, scaled coordinates: the same minimiser, in far fewer iterations on uncentred data."""
    X, labels, _ = _problem(2, False)
    loss = LogisticLoss(X, labels, 2, l2=1.0)
    fast = accelerated_gradient(loss, *loss.zeros(), max_iter=200_000, tol=1e-10)
    slow = accelerated_gradient(loss, *loss.zeros(), max_iter=200_000, tol=1e-10, precondition=False)
    np.testing.assert_allclose(fast.W, slow.W, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fast.b, slow.b, rtol=1e-6, atol=1e-9)
    assert fast.iterations * 3 < slow.iterations
    d, mu = preconditioner(loss)
    np.testing.assert_allclose(mu, X.mean(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(d, 1 / np.sqrt(X.var(axis=1, keepdims=True) + 1.0 / 80 / 0.25), rtol=1e-9)


def test_fixed_intercept_and_plain_descent():
    X, labels, _ = _problem(2, False)
    loss = LogisticLoss(X, labels, 2, l2=1.0)
    W0, b0 = loss.zeros()
    b0 = b0 + 0.3
    result = accelerated_gradient(loss, W0, b0, max_iter=100_000, tol=1e-9, fit_intercept=False)
    assert result.b[0, 0] == 0.3
    dW, _ = _numpy_gradient(X, labels, 2, None, 1.0, result.W, result.b)
    assert np.sqrt((dW ** 2).sum()) <= 1e-9 * (1 + 1e-6)
    # momentum=False, precondition=False, tol=0: exactly max_iter steps of w -= step * dw
    step = 1e-4
    plain = accelerated_gradient(loss, *loss.zeros(), max_iter=3, tol=0, step=step, momentum=False,
                                 precondition=False)
    W, b = loss.zeros()
    for _ in range(3):
        dW, db = _numpy_gradient(X, labels, 2, None, 1.0, W, b)
        W, b = W - step * dW, b - step * db
    assert plain.iterations == 3 and not plain.converged
    np.testing.assert_allclose(plain.W, W, rtol=1e-12)
    np.testing.assert_allclose(plain.b, b, rtol=1e-12)
