"""Newton-CG: a truncated Newton method on the loss object, written once on the Array API.

Each iteration solves the Newton system ``H p = -g`` approximately by
conjugate gradients, where every product ``H v`` is one
:meth:`xlogreg._loss.LogisticLoss.hessian_operator` product (two products
over X, the probabilities at the iterate computed once per Newton step; no
Hessian ever formed), then takes the step ``t p`` with ``t`` from a
backtracking (Armijo) line search on the objective. Convergence is quadratic
near the optimum, so a fit to a tight tolerance takes tens of iterations where
gradient descent takes thousands.

Everything stays on the device of the data: the parameters ``(W, b)`` and the
CG vectors are arrays of X's namespace, the CG coefficients are 0-d arrays
used without leaving the device, and the host reads only a few scalars per
iteration (the gradient's norm for the stopping rule, the residual's norm in
CG, the objective values of the line search).

The stopping rule is :func:`xlogreg.train`'s: the Euclidean norm of the full
gradient (W and b together) at most `tol`, and, since Newton computes its
step anyway, Newton's decrement ``-<g, p> / 2`` (the gap to the optimum its
model predicts) at most ``tol**2``, the gap a gradient of norm `tol` leaves
with unit curvature: on ill-conditioned data the gradient alone stops early
(benchopt's weakly regularised 1,000 x 10 problem: gradient norm 7e-5, gap
1.5e-5; one more step, 9e-9). That costs one more step computed at the
last iterate, and taken where the decrement is larger. And, where the decrease Newton's
model predicts is within the objective's rounding, a full step that no longer
shrinks the gradient (the dtype's precision reached: float32 with a `tol`
below its reach stops there, converged, instead of running to `max_iter`).
Multinomial iterates are kept centred over the classes (:func:`_centre`). CG stops at the relative residual
``min(0.5, sqrt(||g||)) ||g||`` (the forcing sequence of Eisenstat and
Walker, as scikit-learn's newton-cg), after ``max_cg`` products, or on a
direction of non-positive curvature (possible only without L2).
"""

from __future__ import annotations

import math

from array_api_compat import device as get_device, is_dask_array

from .. import _loss, _warnings
from .._warnings import ConvergenceWarning
from ..data import dask as dask_data
from . import _loop
from ._loop import (OptimizeResult, TrainingDiverged, TrainingInterrupted, _default_loss, _matrix_params,
                    _shaped_interrupt, _sum_sq)
from .._namespace import array_namespace

__all__ = ["newton_cg", "newton_cholesky", "newton_loop", "ConvergenceWarning"]


#: The rounding of the objective J, in units of its dtype's eps times ``|J|``: a change of J within it is
#: noise (J sums m terms, each rounded).
ROUNDING = 64


def _dot(a, b):
    """``<a, b>`` over the pairs ``(W, b)``, a 0-d array."""
    xp = array_namespace(a[0])
    return xp.sum(a[0] * b[0]) + xp.sum(a[1] * b[1])


def _axpy(t, x, y):
    """``y + t x`` over the pairs."""
    return (y[0] + t * x[0], y[1] + t * x[1])


class _Primal:
    """The problem in the coordinates (W, b) themselves: the loss object and the Euclidean inner product."""

    def __init__(self, loss, settle=None):
        self.loss = loss
        self.settle = settle
        self.value_and_gradient = loss.value_and_gradient
        self.dot = _dot

    def hessian_operator(self, W, b):
        return self.loss.hessian_operator(W, b, self.settle)

    def start(self, W, b):
        return W, b

    def finish(self, A, b, GA, db):
        return A, b, GA, db

    def centre(self, W, b):
        return _centre(self.loss, W, b)


class _Gram:
    """The problem in the coordinates of the examples: ``W = X A``, for more features than examples.

    From ``W = 0`` every Newton step stays in the span of the examples (the
    gradient ``X (R.T + alpha A)`` and the Hessian's image are in it), so the
    iteration can run on ``A`` of shape ``(m, k)`` with the Gram matrix
    ``K = X.T X``, computed once: ``Z = A.T K + b``, inner products
    ``<X U1, X U2> = <U1, K U2>``, and ``O(k m^2)`` instead of ``O(k n_x m)``
    per Hessian-vector product. The iterates, the gradient norms and the
    stopping rule are those of the primal problem.
    """

    def __init__(self, loss):
        self.loss = loss
        self.K = loss.ops.gram(loss.X)

    def start(self, W, b):
        xp = array_namespace(W)
        return xp.zeros((self.K.shape[0], W.shape[1]), dtype=W.dtype, device=get_device(W)), b

    def finish(self, A, b, GA, db):
        """(W, b, dW, db) in the primal coordinates: one product over X."""
        xp = array_namespace(A)
        k = A.shape[1]
        P = self.loss.ops.backward(self.loss.X, xp.permute_dims(xp.concat([A, GA], axis=1), (1, 0)))
        return P[:, :k], b, P[:, k:], db

    def value_and_gradient(self, A, b):
        loss = self.loss
        xp = array_namespace(A)
        Z = A.T @ self.K + b
        J = loss.data_value(Z)
        Q = _loss.residual(Z, loss.targets, loss.weights, loss.multinomial)
        R = Q * loss.scale
        GA = R.T
        if loss.alpha:
            J = J + loss.alpha / 2 * xp.sum(A * (self.K @ A))
            GA = GA + loss.alpha * A
        return J, GA, xp.sum(R, axis=1, keepdims=True)

    def hessian_operator(self, A, b):
        loss = self.loss
        P, Ps = _loss.curvature(A.T @ self.K + b, loss.weights, loss.total_weight, loss.multinomial)

        def product(U, vb):
            xp = array_namespace(U)
            D = _loss.curvature_apply(P, Ps, U.T @ self.K + vb, loss.multinomial)
            HU = D.T + loss.alpha * U if loss.alpha else D.T
            return HU, xp.sum(D, axis=1, keepdims=True)

        return product

    def dot(self, a, c):
        xp = array_namespace(a[0])
        return xp.sum(a[0] * (self.K @ c[0])) + xp.sum(a[1] * c[1])

    def centre(self, A, b):
        """Centred A gives centred ``W = X A``."""
        return _centre(self.loss, A, b)


class _NoIntercept:
    """`problem` with the biases held where they start (``fit_intercept=False``): no gradient, no step in b.

    The gradient's and every Hessian-vector product's b part are zero, so
    conjugate gradients (from ``p = 0``) never moves b, and the Newton step
    solves the system of W alone.
    """

    def __init__(self, problem):
        self.problem = problem
        self.loss = problem.loss
        self.dot, self.start, self.finish = problem.dot, problem.start, problem.finish

    def value_and_gradient(self, W, b):
        J, dW, db = self.problem.value_and_gradient(W, b)
        return J, dW, db * 0

    def hessian_operator(self, W, b):
        return _NoInterceptOperator(self.problem.hessian_operator(W, b))

    def centre(self, W, b):
        return _centre(self.loss, W, b, fit_intercept=False)


class _NoInterceptOperator:
    """A Hessian operator with its b part zeroed (see :class:`_NoIntercept`)."""

    def __init__(self, product):
        self.product = product

    def __call__(self, V, vb):
        HV, Hb = self.product(V, vb)
        return HV, Hb * 0

    def diagonal(self):
        return self.product.diagonal()


def _centre(loss, W, b, fit_intercept=True):
    """``(W, b)`` less their mean over the classes (multinomial loss; the binary one is returned as is).

    Subtracting the same from every class changes no probability, and never
    increases the L2 penalty: the objective is at most what it was, and the
    optimum (L2) or the minimiser scikit-learn reports (no penalty) is the
    centred one. Applied to every iterate, not only to the steps, so that
    rounding cannot accumulate along that direction (float32).
    """
    if not loss.multinomial:
        return W, b
    xp = array_namespace(W)
    W = W - xp.mean(W, axis=1, keepdims=True)
    return W, (b - xp.mean(b, axis=0, keepdims=True) if fit_intercept else b)


def _conjugate_gradient(problem, W, b, g, g_norm, max_cg, precondition=False, settle=None, tol=0.0):
    """An approximate solution p of ``H p = -g``, in `problem`'s inner product.

    With `precondition`, conjugate gradients on the system scaled by the
    Hessian's diagonal (Jacobi): one more product over X per call, fewer
    Hessian-vector products where the diagonal varies (classes of different
    sizes, features of different scales, the intercepts).

    With `settle` (Dask), the diagonal, each product ``H d`` (with
    ``<d, H d>``) and the CG vectors ``p, r, d`` (with ``<r, r>`` and
    ``<r, z>``) are computed as they are made: one read of X per product and
    one small computation beside it, and a graph that never holds an earlier
    CG iteration (without it, every scalar read would compute the whole chain
    of products again).

    Stops when the residual's norm is at most ``min(0.5, sqrt(|g|)) |g|``
    (scikit-learn's forcing term), or at most ``tol / 2``: the residual
    ``-g - H p`` is the quadratic model's gradient after the step, and a
    residual below the stopping rule's `tol` asks nothing more of the next
    iteration but its check (counted in ``benchmarks/count_products.py``).
    """
    if settle is None:
        def settle(*arrays):
            return arrays
    dot = problem.dot
    hessian_times = problem.hessian_operator(W, b)  # the curvature at (W, b), once for all CG iterations
    if precondition:
        xp = array_namespace(g[0])
        dW, db = hessian_times.diagonal()
        if problem.loss.multinomial:
            # one scale per feature (and one for the intercepts), the mean over the classes: a scaling
            # that differs between classes would move the iterate along "the same change for every
            # class", which changes no probability and along which the optimum is centred
            dW, db = xp.mean(dW, axis=1, keepdims=True), xp.mean(db, axis=0, keepdims=True)
        inverse = settle(*(1 / xp.where(h > 0, h, xp.ones_like(h)) for h in (dW, db)))  # 1 where h is 0: no 1 / 0

        def scaled(r):
            return r[0] * inverse[0], r[1] * inverse[1]
    else:
        def scaled(r):
            return r
    eta = max(min(0.5, math.sqrt(g_norm)) * g_norm, tol / 2)
    p = (g[0] * 0, g[1] * 0)
    r = (-g[0], -g[1])  # residual -g - H p
    z = scaled(r)
    d = z
    rz = dot(r, z)
    for j in range(max_cg):
        Hd = hessian_times(*d)
        *Hd, curvature = settle(*Hd, dot(d, Hd))
        if not float(curvature) > 0:  # flat or negative: H is singular along d (no L2)
            return p if j else (-g[0], -g[1])
        step = rz / curvature
        p = _axpy(step, d, p)
        r = _axpy(-step, Hd, r)
        z = scaled(r)
        rz_new = dot(r, z)
        d = _axpy(rz_new / rz, d, z)  # the next direction, made before the test so that one settle covers all
        p0, p1, r0, r1, d0, d1, rr, rz = settle(*p, *r, *d, dot(r, r), rz_new)
        p, r, d = (p0, p1), (r0, r1), (d0, d1)
        if math.sqrt(float(rr)) <= eta:
            return p
    return p


def newton_cg(loss, W, b, *, tol=1e-4, max_iter=100, max_cg=None, record=None, settle=None, gram=False,
              precondition=True, fit_intercept=True, iterations_name="max_iter"):
    """Minimise `loss` from ``(W, b)`` by Newton-CG; returns a :class:`xlogreg.solvers.OptimizeResult`.

    The direction of each iteration solves ``H p = -g`` by conjugate
    gradients on Hessian-vector products (no Hessian is formed).

    Parameters
    ----------
    loss : xlogreg._loss.LogisticLoss
    W : array of shape (n_x, k)
    b : array of shape (k, 1)
    tol : float >= 0
        Stop when the gradient's Euclidean norm (W and b together) is at most
        this and Newton's decrement (the predicted gap) at most its square.
    max_iter : int >= 0
        Newton iterations at most; a :class:`ConvergenceWarning` when they end before `tol`.
    max_cg : int, optional
        Hessian-vector products per iteration at most (default: the number of
        parameters, capped at 200).
    record : callable, optional
        ``record(i, cost, state)`` once the objective of iterate i is known
        (i = 0 is the start); ``state()`` gives its ``(W, b)``.
    settle : callable, optional
        ``settle(*arrays)`` returns them computed (Dask: the new iterate as
        data, so that the graph does not grow with the iterations). Default:
        :func:`xlogreg.data.dask.materialize` where X is a Dask array, none
        elsewhere. On Dask each Hessian-vector product is then one task per
        chunk of X (one read of X), the curvature at the iterate is computed
        once per Newton iteration and kept (``k m`` numbers, not X), and each
        trial point of the line search is one more read.
    gram : bool
        Iterate in the coordinates of the examples (:class:`_Gram`): for more
        features than examples. W must be zero (the start of ``train``).
        Not on Dask.
    precondition : bool
        Scale conjugate gradients by the Hessian's diagonal (Jacobi; not on
        the Gram matrix): one more product over X per Newton iteration.
        Counted at tol 1e-4 (``python benchmarks/count_products.py``,
        benchmarks/results/count_products.txt): Hessian-vector products
        42 -> 17 on make_classification(100_000, 100), 126 -> 24 on the
        10-class 50,000 x 256 problem, 32 -> 34 on breast_cancer, but
        80 -> 107 on digits (the estimator solves that one by Cholesky).
    fit_intercept : bool
        False holds b where it starts (give zeros for a model without
        intercepts): the gradient, the steps and the stopping rule are those of W alone.
    iterations_name : str
        What the caller's user calls `max_iter`, for the warning (``train()``: num_iterations).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg._loss import LogisticLoss
    >>> X = xp.asarray([[0.0, 1.0, 2.0, 3.0]])
    >>> loss = LogisticLoss(X, xp.asarray([[0.0, 1.0, 0.0, 1.0]]), l2=1.0)
    >>> result = newton_cg(loss, *loss.zeros(), tol=1e-10)
    >>> result.converged, result.iterations < 10
    (True, True)
    """
    n_params = W.shape[0] * W.shape[1] + b.shape[0]
    max_cg = min(n_params, 200) if max_cg is None else max_cg
    settle = _default_settle(loss, settle)

    problem = _Gram(loss) if gram else _Primal(loss, settle)
    if gram:
        max_cg = min(max_cg, (problem.K.shape[0] + 1) * W.shape[1])
    if not fit_intercept:
        problem = _NoIntercept(problem)

    def direction(W, b, g, g_norm):
        return _conjugate_gradient(problem, W, b, g, g_norm, max_cg, precondition and not gram,
                                   None if gram else settle, tol)

    return _newton(problem, W, b, direction, "newton-cg", tol, max_iter, record, settle, iterations_name)


def newton_cholesky(loss, W, b, *, tol=1e-4, max_iter=100, record=None, settle=None, fit_intercept=True,
                    iterations_name="max_iter"):
    """Minimise `loss` from ``(W, b)`` by Newton's method with the Hessian formed and solved.

    For problems with few parameters (``(n_x + 1) k`` up to a few thousand):
    each iteration forms the Hessian (``k (k + 1) / 2`` products of the data
    with itself, :meth:`xlogreg._loss.LogisticLoss.hessian_matrix`) and solves
    ``H p = -g`` with the backend's ``linalg.solve`` (the Array API's linalg
    extension; NumPy's for a Dask state, which is small). Same parameters and
    result as :func:`newton_cg`; one solve per iteration instead of tens of
    Hessian-vector products. Without `fit_intercept`, the rows and columns
    of b leave the system (b is held where it starts).
    """
    xp = array_namespace(W)
    n_x, k = W.shape
    settle = _default_settle(loss, settle)
    if not fit_intercept:  # the positions of W in H's order (class by class, [W[:, c]; b[c]])
        in_w = xp.asarray([c * (n_x + 1) + i for c in range(k) for i in range(n_x)], device=get_device(W))

    def direction(W, b, g, g_norm):
        H = loss.hessian_matrix(W, b)
        G = xp.concat([g[0], xp.reshape(g[1], (1, k))], axis=0)  # (n_x + 1, k): class by class
        rhs = xp.reshape(-xp.permute_dims(G, (1, 0)), (-1,))  # class-major, as H's blocks
        try:
            if fit_intercept:
                step = _solve(H, rhs)
            else:  # W's system alone, and a zero step in b
                step_w = xp.reshape(_solve(xp.take(xp.take(H, in_w, axis=0), in_w, axis=1),
                                           xp.take(rhs, in_w, axis=0)), (k, n_x))
                step = xp.reshape(xp.concat([step_w, xp.zeros((k, 1), dtype=W.dtype, device=get_device(W))],
                                            axis=1), (-1,))
        except Exception as exc:  # a singular system (NumPy's LinAlgError, torch's, ...): the gradient step
            if "singular" not in str(exc).lower():
                raise
            return (-g[0], -g[1])
        P = xp.permute_dims(xp.reshape(step, (k, n_x + 1)), (1, 0))
        if loss.multinomial:  # no step along what changes no probability: keeps the iterates centred
            centred = P - xp.mean(P, axis=1, keepdims=True)
            P = centred if not loss.alpha else xp.concat([P[:n_x, :], centred[n_x:, :]], axis=0)
        return P[:n_x, :], xp.reshape(P[n_x, :], (k, 1))

    problem = _Primal(loss) if fit_intercept else _NoIntercept(_Primal(loss))
    return _newton(problem, W, b, direction, "newton-cholesky", tol, max_iter, record, settle, iterations_name)


def _default_settle(loss, settle):
    """`settle` as given, or where X is a Dask array and none is given, :func:`xlogreg.data.dask.materialize`."""
    if settle is None and is_dask_array(loss.X):
        return dask_data.materialize
    return settle


def _solve(H, rhs):
    """``H^-1 rhs`` by the namespace's ``linalg.solve``; a lazy (Dask) system, small, is solved by NumPy."""
    from array_api_compat import is_dask_array

    if is_dask_array(H):
        import dask.array as da
        import numpy as np

        return da.from_array(np.linalg.solve(*(np.asarray(a) for a in (H.compute(), rhs.compute()))))
    xp = array_namespace(H)
    return xp.linalg.solve(H, rhs[:, None])[:, 0]


def _newton(problem, W, b, direction, name, tol, max_iter, record, settle, iterations_name="max_iter"):
    """The Newton iteration shared by both solvers: ``direction(W, b, g, |g|)`` gives the step p.

    `problem` (:class:`_Primal` or :class:`_Gram`, maybe in :class:`_NoIntercept`) gives the objective, its
    gradient and the inner product in the coordinates it iterates on, and
    ``centre(W, b)`` the iterate projected along what changes no probability
    (:func:`_centre`); the result is in the primal coordinates.

    Stops when the gradient's norm is at most `tol` and Newton's decrement
    ``-<g, p> / 2`` (the gap to the optimum that its model predicts) at most
    ``tol**2`` (converged; the step p is then computed once more than the
    gradient test alone would ask, and taken where the decrement is larger);
    when Newton's model predicts a decrease of J within its rounding and the full step no
    longer shrinks the gradient (converged to the dtype's precision: float32
    with a tol below its reach); when no step of the line search decreases J
    where a decrease beyond rounding was predicted (not converged); or after
    `max_iter` iterations (not converged, a :class:`ConvergenceWarning`).
    """
    dot = problem.dot
    centre = getattr(problem, "centre", lambda W, b: (W, b))  # optional in the protocol: see _centre
    W, b = problem.start(W, b)
    costs = []
    eps = float(array_namespace(W).finfo(W.dtype).eps)

    def evaluate(W, b):
        """``(W, b, J, dW, db)`` at a point; with `settle`, computed at once (one read of X on Dask), so that
        the scalars the loop reads next cost no second pass."""
        J, dW, db = problem.value_and_gradient(W, b)
        return (W, b, J, dW, db) if settle is None else settle(W, b, J, dW, db)

    W, b, J, dW, db = evaluate(W, b)
    for i in range(max_iter + 1):
        cost = float(J)
        if not math.isfinite(cost):
            raise TrainingDiverged(f"{name}: the cost is {cost} at iteration {i}; the data or the "
                                   "starting point give non-finite values")
        costs.append((i, cost))
        if record is not None:
            record(i, cost, lambda W=W, b=b, dW=dW, db=db: problem.finish(W, b, dW, db)[:2])
        g = (dW, db)
        g_norm = math.sqrt(max(float(dot(g, g)), 0.0))
        p = None
        if g_norm <= tol:
            if tol == 0 or i == max_iter:
                return OptimizeResult(*problem.finish(W, b, dW, db), costs, i, name, True)
            # The gradient test passes. Newton's decrement -<g, p> / 2, the gap J - J* as its model
            # predicts, must also be at most tol^2 (what a gradient of norm tol leaves with unit curvature):
            # on ill-conditioned data a small gradient still leaves a large gap (benchopt's 1,000 x 10
            # problem: |g| 7e-5, gap 1.5e-5). Else the step just computed is taken.
            p = direction(W, b, g, g_norm)
            slope = float(dot(g, p))
            if not slope < 0 or -slope / 2 <= max(tol * tol, ROUNDING * eps * abs(cost)):
                return OptimizeResult(*problem.finish(W, b, dW, db), costs, i, name, True)
        if i == max_iter:
            break
        if p is None:
            p = direction(W, b, g, g_norm)
            slope = float(dot(g, p))
        if not slope < 0:  # not a descent direction (rounding at the optimum): fall back to -g
            p, slope = (-dW, -db), -g_norm * g_norm
        if -slope / 2 <= ROUNDING * eps * abs(cost):
            # The decrease Newton's model predicts, -slope / 2, is within the rounding of J, which can no
            # longer tell a better point from a worse one (float32 with a tight tol): take the full step if it
            # shrinks the gradient, else stop, converged to the dtype's precision (no step can improve J or g).
            W_new, b_new, J_new, dW_new, db_new = evaluate(*centre(W + p[0], b + p[1]))
            if not float(dot((dW_new, db_new), (dW_new, db_new))) < g_norm ** 2:
                return OptimizeResult(*problem.finish(W, b, dW, db), costs, i, name, True)
            W, b, J, dW, db = W_new, b_new, J_new, dW_new, db_new
            continue
        t = 1.0
        for _ in range(40):  # backtracking: at most 40 halvings (t ~ 1e-12)
            # the gradient is needed next anyway
            W_new, b_new, J_new, dW_new, db_new = evaluate(*centre(W + t * p[0], b + t * p[1]))
            value = float(J_new)
            if value <= cost + 1e-4 * t * slope:  # Armijo
                break
            # Near the optimum the decrease falls below the rounding of J: accept a step that keeps J
            # within rounding and shrinks the gradient (as scikit-learn's Newton solvers do).
            if value <= cost + ROUNDING * eps * abs(cost) and float(dot((dW_new, db_new), (dW_new, db_new))) < g_norm ** 2:
                break
            t *= 0.5
        else:  # no decrease at all, where the model predicts one beyond rounding: not converged
            return OptimizeResult(*problem.finish(W, b, dW, db), costs, i, name, False)
        W, b, J, dW, db = W_new, b_new, J_new, dW_new, db_new
    _warnings.warn(f"{name}: {max_iter} iterations ended before the gradient's norm fell to tol={tol} "
                   f"(it is {g_norm:.3g}); increase {iterations_name}, or loosen tol", ConvergenceWarning)
    return OptimizeResult(*problem.finish(W, b, dW, db), costs, max_iter, name, False)


#: :func:`newton_loop` warns when the cost without L2 ends below this: separable data.
SEPARABLE_COST = 1e-6


def newton_loop(w, b, X, Y, num_iterations, record_every, print_cost=False, callback=None, *, loss=None,
                tol=None, method="newton-cg"):
    """Newton's method with the loops' interface; returns an :class:`OptimizeResult`.

    `method` is ``"newton-cg"`` (:func:`newton_cg`) or
    ``"newton-cholesky"`` (:func:`newton_cholesky`).

    At most `num_iterations` Newton iterations; `tol` None runs until the line
    search finds no decrease (the optimum within rounding). The cost of every
    `record_every`-th iterate is recorded (and printed); ``callback(i, cost)``
    follows every iteration. Ctrl-C raises :class:`TrainingInterrupted` with
    the last iterate whose cost is known.
    """
    loss = _default_loss(X, Y, loss)
    W, b, back = _matrix_params(w, b)
    lazy = is_dask_array(X)
    costs = []
    reached = [(lambda W=W, b=b: (W, b), 0)]

    def record(i, cost, state):
        reached[0] = (state, i)
        if callback is not None and i > 0:  # iteration i - 1 is done; as the other loops, the cost it started from
            callback(i - 1, costs[-1][1] if (i - 1) % record_every == 0 else None)
        if i % record_every == 0:
            costs.append((i, cost))
            if print_cost:
                print("Cost after iteration %i: %f" % (i, cost))

    def settle(*arrays):
        return dask_data.materialize(*arrays)

    def use_gram():
        """Newton-CG on the Gram matrix: more features than examples, eager, from W = 0 (see _Gram)."""
        n_x, m = X.shape
        if lazy or loss.ops.product_work(X) <= m * m or m * m > _loop._gram_limit_bytes() // 8:
            return False
        xp = array_namespace(W)
        return not bool(xp.any(W != 0))

    with _shaped_interrupt(back):
        try:
            options = dict(tol=0.0 if tol is None else tol, max_iter=num_iterations, record=record,
                           settle=settle if lazy else None, iterations_name="num_iterations")
            if method == "newton-cg":
                result = newton_cg(loss, W, b, gram=use_gram(), **options)
            else:
                result = newton_cholesky(loss, W, b, **options)
        except KeyboardInterrupt:
            state, done = reached[0]
            raise TrainingInterrupted(OptimizeResult(*state(), None, None, costs, done, method)) from None
    if result.iterations not in [i for i, _ in costs] and result.costs:
        costs.append(result.costs[-1])  # the final cost, recorded whatever record_every says
    if not loss.alpha and costs and costs[-1][1] < SEPARABLE_COST:
        norm = math.sqrt(float(_sum_sq(result.w)))
        _warnings.warn(
            f"{method}: the cost fell to {costs[-1][1]:.3g}: the training data look linearly separable, and "
            f"without L2 the optimum is at infinity; the weights returned are those reached after "
            f"{result.iterations} iterations (norm {norm:.3g}). Use l2 > 0 for a finite optimum",
            ConvergenceWarning)
    return back(OptimizeResult(result.w, result.b, result.dw, result.db, costs, result.iterations, method,
                               result.converged))
