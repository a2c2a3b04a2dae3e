"""Accelerated gradient descent (Nesterov / FISTA with adaptive restart) on a :class:`~xlogreg._loss.LogisticLoss`.

The converging default of :class:`xlogreg.LogisticRegression` until the
Newton-type solvers exist. The objective J of :mod:`xlogreg._loss` has a
Lipschitz-continuous gradient: its Hessian is at most
``c A A.T + (l2 / S) I`` with ``A = [X; 1] diag(sqrt(s / S))`` (the data
with a row of ones for the biases, each example scaled by its weight) and
``c = 1/4`` for the sigmoid (``a (1 - a) <= 1/4``), ``1/2`` for the softmax
(``diag(p) - p p.T <= I / 2``). So with

    L = c ||A||_2^2 + l2 / S

the step ``1 / L`` makes gradient descent converge, and Nesterov's
extrapolation with that same step converges in ``O(sqrt(L / mu))``
iterations instead of ``O(L / mu)`` on a ``mu``-strongly convex J. Each
iteration reads X twice (one :meth:`~xlogreg._loss.LogisticLoss.gradient`)::

    x_new = y - step grad J(y)
    t_new = (1 + sqrt(1 + 4 t^2)) / 2
    y     = x_new + (t - 1) / t_new (x_new - x)

with the gradient restart of O'Donoghue and Candes (2015): where
``grad J(y) . (x_new - x) > 0`` (the momentum points uphill), t is reset to
1, which removes the oscillations of plain acceleration on strongly convex
problems. The restart is decided on the device (``where`` on a 0-d array),
so the loop has no host synchronisation except the stopping rule, checked
every ``check_every`` iterations: the Euclidean norm of ``grad J(y)`` (W and
b together) at most ``tol``, and then ``y`` is returned, the point that
gradient belongs to.

**Preconditioning.** On data that is not centred (a feature of mean 100
next to the row of ones) or not scaled, ``L / mu`` is huge and even the
accelerated method crawls. The iterates therefore live in the coordinates
``W = d * V``, ``b = c - W.T mu`` (:func:`preconditioner`: ``mu`` the
weighted feature means, ``d`` the Jacobi scaling ``1 / sqrt(var + l2 / (c S))``),
an exact reparametrisation when the biases are fitted (they absorb the
shift, and the penalty still sees W): the same minimiser, reached in a few
hundred iterations on scikit-learn's bundled data sets, scaled or not. The
gradient in those coordinates is ``(d * (dW - mu db.T), db)`` (the chain
rule), and the step is ``1 / L`` of the reparametrised problem. The
iterations never form a centred copy of X (the centring is folded into the
products); the variances cost one pass over ``X * X`` at the start.

``||A||_2`` is estimated by power iteration on ``A A.T`` (two products with X
each), from a fixed start; the Rayleigh quotient it gives is a lower bound
of ``||A||_2^2``, approached quickly from below, so it is raised by
:data:`STEP_SAFETY` and capped by the Frobenius norm (always an upper bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from array_api_compat import device as get_device, is_dask_array

from .. import _backends, data
from ..data.dask import materialize as _materialize
from ._loop import TrainingDiverged
from .._namespace import array_namespace

__all__ = ["AGDResult", "lipschitz_constant", "accelerated_gradient"]

#: Power iterations for the spectral norm of the data (two products with X each).
POWER_ITERATIONS = 20

#: The power-iteration estimate of ``||A||_2^2`` is a lower bound: it is raised by this factor.
STEP_SAFETY = 1.1


@dataclass
class AGDResult:
    """``W`` (n_x, k), ``b`` (k, 1), iterations run, whether `tol` was met, the final gradient norm, the step."""

    W: object
    b: object
    iterations: int
    converged: bool
    gradient_norm: float
    step: float


def preconditioner(loss, fit_intercept=True):
    """``(d, mu)``, both ``(n_x, 1)``: the diagonal scaling and the centre of the reparametrisation.

    ``mu`` is the weighted mean of the features (zeros without `fit_intercept`:
    the biases cannot absorb a shift then), ``d_i = 1 / sqrt(var_i + l2 / (c S))``
    (Jacobi: the diagonal of J's Hessian bound in the centred coordinates is
    then ``c`` for every feature), with a floor on the variance so that
    constant features (no penalty) get a finite scale.
    """
    X = loss.X
    xp = array_namespace(X)
    m = X.shape[1]
    if loss.weights is None:
        sw = xp.ones((m, 1), dtype=X.dtype, device=get_device(X)) / loss.total_weight
    else:
        sw = xp.reshape(loss.weights, (m, 1)) / loss.total_weight
    ops = data.operations(X)
    mean = ops.backward(X, sw.T)
    mean_sq = ops.squares_backward(X, sw.T)
    c = 0.5 if loss.multinomial else 0.25
    mu = mean if fit_intercept else xp.zeros_like(mean)
    variance = xp.maximum(mean_sq - mu * mu, 0.0) + loss.alpha / c
    floor = xp.max(variance) * 1e-10
    variance = xp.where(variance > floor, variance, xp.max(variance))
    variance = xp.where(variance > 0, variance, xp.ones_like(variance))
    d = 1 / xp.sqrt(variance)
    if is_dask_array(X):
        d, mu = _materialize(d, mu)
    return d, mu


def lipschitz_constant(loss, fit_intercept=True, iterations=POWER_ITERATIONS, d=None, mu=None):
    """An upper bound of the Lipschitz constant of J's gradient, as a Python float.

    In the coordinates ``W = d * V``, ``b = c - W.T mu`` when `d` and `mu`
    (:func:`preconditioner`) are given, in J's own without.

    Parameters
    ----------
    loss : xlogreg._loss.LogisticLoss
    fit_intercept : bool
        False leaves the row of ones out of A (the biases stay fixed).
    iterations : int
        Power iterations on ``A A.T``.
    d, mu : arrays of shape (n_x, 1), optional

    Returns
    -------
    float
        ``c min(STEP_SAFETY rho, ||A||_F^2) + (l2 / S) max(d)^2`` with the power
        iteration's Rayleigh quotient ``rho`` (see the module notes).
    """
    X = loss.X
    xp = array_namespace(X)
    dev = get_device(X)
    n_x = X.shape[0]
    if d is None:
        d = xp.ones((n_x, 1), dtype=X.dtype, device=dev)
        mu = xp.zeros((n_x, 1), dtype=X.dtype, device=dev)
    # s / S per example: A A.T v = [D (X - mu); 1] (s / S * ([D (X - mu); 1].T v))
    sw = (1 / loss.total_weight if loss.weights is None else loss.weights / loss.total_weight)
    # A fixed, generic start (not orthogonal to any particular direction in practice).
    v = xp.cos(xp.arange(n_x, dtype=X.dtype, device=dev) * 1.7) + 1.5
    v = xp.reshape(v, (n_x, 1))
    v1 = xp.ones((1, 1), dtype=X.dtype, device=dev)
    if not fit_intercept:
        v1 = v1 * 0

    ops = data.operations(X)

    def gram_times(v, v1):
        dv = d * v
        u = (ops.forward(dv, None, X) - dv.T @ mu + v1) * sw  # (1, m)
        w1 = xp.sum(u, axis=1, keepdims=True) if fit_intercept else v1 * 0
        return d * (ops.backward(X, u) - mu * xp.sum(u)), w1

    for _ in range(iterations):
        scale = 1 / xp.sqrt(xp.sum(v * v) + xp.sum(v1 * v1))
        v, v1 = v * scale, v1 * scale
        w, w1 = gram_times(v, v1)
        rho = xp.sum(v * w) + xp.sum(v1 * w1)  # the Rayleigh quotient of a unit v
        v, v1 = w, w1
        if is_dask_array(X):
            v, v1, rho = _materialize(v, v1, rho)
    # ||d (X - mu) sqrt(s / S)||_F^2 from two products over X, without forming X - mu (dense even for a sparse X)
    sw_row = sw * xp.ones((1, X.shape[1]), dtype=X.dtype, device=dev)
    total = xp.sum(sw_row)
    centred_sq = ops.squares_backward(X, sw_row) - 2 * mu * ops.backward(X, sw_row) + mu * mu * total
    frobenius_sq = xp.sum(d * d * xp.maximum(centred_sq, 0.0)) + (total if fit_intercept else 0)
    rho, frobenius_sq, d_max = float(rho), float(frobenius_sq), float(xp.max(d))  # the host synchronisation
    c = 0.5 if loss.multinomial else 0.25
    return c * min(STEP_SAFETY * rho, frobenius_sq) + loss.alpha * d_max * d_max


def accelerated_gradient(loss, W, b, *, max_iter, tol, step=None, fit_intercept=True, momentum=True,
                         check_every=10, precondition=True):
    """Minimise ``loss`` from ``(W, b)`` by accelerated (or plain) gradient descent.

    Parameters
    ----------
    loss : xlogreg._loss.LogisticLoss
    W : array of shape (n_x, k)
    b : array of shape (k, 1)
        The start, in the namespace, device and dtype of ``loss.X``.
    max_iter : int >= 0
        The most gradient steps.
    tol : float >= 0
        Stop where the gradient's Euclidean norm (of J, in its own
        coordinates) is at most `tol`, checked every `check_every`
        iterations and after the last; 0 runs all `max_iter` steps.
    step : float, optional
        The step; default ``1 / L`` (:func:`lipschitz_constant`).
    fit_intercept : bool
        False keeps b as given (its gradient is ignored, also in the norm).
    momentum : bool
        False is plain gradient descent with the same step.
    check_every : int
        Iterations between two checks of the stopping rule (host syncs).
    precondition : bool
        Iterate in centred and scaled coordinates (:func:`preconditioner`):
        the same minimiser, reached in far fewer iterations on data that is
        not standardised. False iterates on (W, b) themselves.

    Returns
    -------
    AGDResult

    Raises
    ------
    xlogreg.TrainingDiverged
        The parameters stopped being finite (a `step` too large).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg._loss import LogisticLoss
    >>> from xlogreg.solvers.agd import accelerated_gradient
    >>> X = xp.asarray([[0.0, 1.0, 2.0, 3.0]])
    >>> loss = LogisticLoss(X, xp.asarray([[0.0, 1.0, 0.0, 1.0]]), l2=1.0)
    >>> result = accelerated_gradient(loss, *loss.zeros(), max_iter=1000, tol=1e-10)
    >>> result.converged, result.gradient_norm <= 1e-10
    (True, True)
    """
    xp = array_namespace(loss.X)
    lazy = is_dask_array(loss.X)
    if precondition:
        d, mu = preconditioner(loss, fit_intercept)
    else:
        d = xp.ones((loss.X.shape[0], 1), dtype=loss.X.dtype, device=get_device(loss.X))
        mu = xp.zeros_like(d)
    if step is None:
        step = 1 / lipschitz_constant(loss, fit_intercept, d=d, mu=mu)

    # (V, c) are the coordinates iterated on: W = d V, b = c - W.T mu.
    def params(V, c):
        W = d * V
        return W, c - W.T @ mu

    t = xp.ones((), dtype=loss.X.dtype, device=get_device(loss.X))
    x_V, x_c = W / d, b + W.T @ mu
    y_V, y_c = x_V, x_c
    gradient_norm = math.inf
    with _backends.floating_point_errors_ignored(xp):
        for i in range(max_iter + 1):
            y_W, y_b = params(y_V, y_c)
            dW, db = loss.gradient(y_W, y_b)
            if not fit_intercept:
                db = db * 0
            if i == max_iter or (tol > 0 and i % check_every == 0):
                gradient_norm = math.sqrt(max(float(xp.sum(dW * dW) + xp.sum(db * db)), 0.0))
                if not math.isfinite(gradient_norm):
                    raise TrainingDiverged(
                        f"training diverged: the gradient is not finite after {i} iterations; the step "
                        f"{step:.3g} is too large for this data, use a smaller learning_rate"
                    )
                if gradient_norm <= tol or i == max_iter:
                    return AGDResult(y_W, y_b, i, gradient_norm <= tol, gradient_norm, step)
            gV = d * (dW - mu @ db.T)  # the chain rule through W = d V, b = c - W.T mu
            new_V = y_V - step * gV
            new_c = y_c - step * db
            if momentum:
                t_new = (1 + xp.sqrt(1 + 4 * t * t)) / 2
                uphill = (xp.sum(gV * (new_V - x_V)) + xp.sum(db * (new_c - x_c))) > 0
                beta = xp.where(uphill, xp.zeros_like(t), (t - 1) / t_new)
                t = xp.where(uphill, xp.ones_like(t), t_new)
                y_V = new_V + beta * (new_V - x_V)
                y_c = new_c + beta * (new_c - x_c)
            else:
                y_V, y_c = new_V, new_c
            x_V, x_c = new_V, new_c
            if lazy:
                x_V, x_c, y_V, y_c, t = _materialize(x_V, x_c, y_V, y_c, t)
    raise AssertionError("unreachable")  # pragma: no cover
