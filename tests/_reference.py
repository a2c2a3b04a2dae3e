"""Plain-NumPy float64 references for the tests: the course's formulas, written out again.

Nothing here imports xlogreg (``tests/test_reference.py`` checks that, and checks
these functions against the course's published values), so a test that compares
the library with them compares it with a computation the library did not do.
The sigmoid is SciPy's ``expit`` and the cost is written with ``numpy.logaddexp``,
both independent of xlogreg's own stable forms.

Shapes follow the course: X (n_x, m), Y (1, m), w (n_x, 1), b a number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit


def _f64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def sigmoid(z):
    """SciPy's sigmoid, in float64."""
    return expit(np.asarray(z, dtype=np.float64))


def cost(w, b, X, Y):
    """The course's cross-entropy ``-mean(Y log A + (1 - Y) log(1 - A))``, as ``mean(log(1 + e^z) - Y z)``."""
    w, X, Y = _f64(w, X, Y)
    z = w.T @ X + b
    return float(np.mean(np.logaddexp(0.0, z) - Y * z))


def propagate(w, b, X, Y):
    """``(dw, db, cost)`` of the course's ``propagate``: dw = X (A - Y).T / m, db = mean(A - Y)."""
    w, X, Y = _f64(w, X, Y)
    m = X.shape[1]
    A = sigmoid(w.T @ X + b)
    return X @ (A - Y).T / m, float(np.sum(A - Y) / m), cost(w, b, X, Y)


@dataclass
class Run:
    """What :func:`course_loop` returns: final w, b; dw, db of the last iteration; recorded costs."""

    w: np.ndarray
    b: float
    dw: np.ndarray
    db: float
    costs: list
    cost_iterations: list


def course_loop(X, Y, num_iterations, learning_rate, record_every=100, w=None, b=0.0):
    """The course's ``optimize``: batch gradient descent from zeros (or w, b), float64.

    The cost is recorded before the update of iterations 0, record_every, ...;
    dw, db are the gradient of the last iteration (at the iterate before its step).
    """
    X, Y = _f64(X, Y)
    Y = Y.reshape(1, -1)
    w = np.zeros((X.shape[0], 1)) if w is None else np.asarray(w, dtype=np.float64)
    b = float(b)
    costs, cost_iterations = [], []
    dw, db = None, None
    for i in range(num_iterations):
        dw, db, c = propagate(w, b, X, Y)
        if i % record_every == 0:
            costs.append(c)
            cost_iterations.append(i)
        w = w - learning_rate * dw
        b = b - learning_rate * db
    return Run(w, b, dw, db, costs, cost_iterations)


def predict(w, b, X):
    """Labels 0.0 / 1.0: 1 where the probability is above 0.5 (the course's ``A > 0.5``)."""
    w, X = _f64(w, X)
    return (sigmoid(w.T @ X + b) > 0.5).astype(np.float64)


def accuracy(Y_prediction, Y):
    """Percentage of labels predicted right."""
    Y_prediction, Y = _f64(Y_prediction, Y)
    return 100.0 * float(np.mean(Y_prediction.reshape(-1) == Y.reshape(-1)))


def sklearn_objective(coef, intercept, X, y, C, l1_ratio, sample_weight=None):
    """scikit-learn 1.8+'s ``C sum_i s_i L_i + (1 - r) / 2 ||W||^2 + r ||W||_1``, from scratch in float64.

    ``coef`` (k, n_features) and ``intercept`` (k,) as scikit-learn stores
    them (k = 1 for two classes: the logit of the second class), X
    ``(n_samples, n_features)``, y labels ``0 .. K-1``; the cross-entropy with
    ``numpy.logaddexp``.
    """
    coef, intercept, X = _f64(coef, intercept, X)
    y = np.asarray(y).astype(int)
    Z = X @ coef.T + intercept
    if coef.shape[0] == 1:
        z = Z[:, 0]
        L = np.logaddexp(0.0, z) - y * z
    else:
        L = np.logaddexp.reduce(Z, axis=1) - Z[np.arange(y.shape[0]), y]
    s = np.ones_like(L) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return float(C * np.sum(s * L) + (1 - l1_ratio) / 2 * np.sum(coef * coef) + l1_ratio * np.sum(np.abs(coef)))


def sklearn_gradient(coef, intercept, X, y, C, sample_weight=None):
    """The gradient of the data term ``C sum_i s_i L_i`` in (coef, intercept), float64."""
    coef, intercept, X = _f64(coef, intercept, X)
    y = np.asarray(y).astype(int)
    Z = X @ coef.T + intercept
    if coef.shape[0] == 1:
        R = expit(Z) - y[:, None]
    else:
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        R = E / E.sum(axis=1, keepdims=True) - np.eye(coef.shape[0])[y]
    s = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    R = C * R * s[:, None]
    return R.T @ X, R.sum(axis=0)


def l1_problems():
    """``{name: (X (n_samples, n_features), y)}``, float64, labels 0 .. K-1."""
    from sklearn.datasets import load_breast_cancer, load_digits, make_classification

    X, y = load_breast_cancer(return_X_y=True)
    out = {"breast_cancer": ((X - X.mean(0)) / X.std(0), y)}
    X, y = load_digits(return_X_y=True)
    out["digits"] = (X / 16.0, y)
    for name, (m, n, seed) in {"tall": (300, 40, 0), "wide": (80, 400, 1)}.items():
        X, y = make_classification(n_samples=m, n_features=n, n_informative=4, n_redundant=0, n_repeated=0,
                                   shuffle=False, random_state=seed)
        out[name] = ((X - X.mean(0)) / X.std(0), y)
    return out
