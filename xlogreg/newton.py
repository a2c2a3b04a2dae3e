"""Newton-CG: a truncated Newton method on the loss object, written once on the Array API.

Each iteration solves the Newton system ``H p = -g`` approximately by
conjugate gradients, where every product ``H v`` is one
:meth:`xlogreg._loss.LogisticLoss.hessian_product` (two products over X, no
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
gradient (W and b together) at most `tol`. CG stops at the relative residual
``min(0.5, sqrt(||g||)) ||g||`` (the forcing sequence of Eisenstat and
Walker, as scikit-learn's newton-cg), after ``max_cg`` products, or on a
direction of non-positive curvature (possible only without L2).
"""

from __future__ import annotations

import math
import warnings

from array_api_compat import array_namespace

from .solvers import OptimizeResult, TrainingDiverged

__all__ = ["newton_cg", "newton_cholesky", "ConvergenceWarning"]


class ConvergenceWarning(UserWarning):
    """The solver stopped at its iteration limit before its tolerance was met."""


def _dot(a, b):
    """``<a, b>`` over the pairs ``(W, b)``, a 0-d array."""
    xp = array_namespace(a[0])
    return xp.sum(a[0] * b[0]) + xp.sum(a[1] * b[1])


def _axpy(t, x, y):
    """``y + t x`` over the pairs."""
    return (y[0] + t * x[0], y[1] + t * x[1])


def _conjugate_gradient(loss, W, b, g, g_norm, max_cg):
    """An approximate solution p of ``H p = -g``."""
    eta = min(0.5, math.sqrt(g_norm)) * g_norm
    p = (g[0] * 0, g[1] * 0)
    r = (-g[0], -g[1])  # residual -g - H p
    d = r
    rr = _dot(r, r)
    for j in range(max_cg):
        Hd = loss.hessian_product(W, b, *d)
        curvature = _dot(d, Hd)
        if not float(curvature) > 0:  # flat or negative: H is singular along d (no L2)
            return p if j else (-g[0], -g[1])
        step = rr / curvature
        p = _axpy(step, d, p)
        r = _axpy(-step, Hd, r)
        rr_new = _dot(r, r)
        if math.sqrt(float(rr_new)) <= eta:
            return p
        d = _axpy(rr_new / rr, d, r)
        rr = rr_new
    return p


def newton_cg(loss, W, b, *, tol=1e-4, max_iter=100, max_cg=None, record=None, settle=None):
    """Minimise `loss` from ``(W, b)`` by Newton-CG; returns a :class:`xlogreg.solvers.OptimizeResult`.

    The direction of each iteration solves ``H p = -g`` by conjugate
    gradients on Hessian-vector products (no Hessian is formed).

    Parameters
    ----------
    loss : xlogreg._loss.LogisticLoss
    W : array of shape (n_x, k)
    b : array of shape (k, 1)
    tol : float >= 0
        Stop when the gradient's Euclidean norm (W and b together) is at most this.
    max_iter : int >= 0
        Newton iterations at most; a :class:`ConvergenceWarning` when they end before `tol`.
    max_cg : int, optional
        Hessian-vector products per iteration at most (default: the number of
        parameters, capped at 200).
    record : callable, optional
        ``record(i, cost, W, b)`` once the objective of iterate i is known
        (i = 0 is the start).
    settle : callable, optional
        ``settle(W, b, J, dW, db)`` returns them computed (Dask: the new
        iterate as data, so that the graph does not grow with the iterations).

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

    def direction(W, b, g, g_norm):
        return _conjugate_gradient(loss, W, b, g, g_norm, max_cg)

    return _newton(loss, W, b, direction, "newton-cg", tol, max_iter, record, settle)


def newton_cholesky(loss, W, b, *, tol=1e-4, max_iter=100, record=None, settle=None):
    """Minimise `loss` from ``(W, b)`` by Newton's method with the Hessian formed and solved.

    For problems with few parameters (``(n_x + 1) k`` up to a few thousand):
    each iteration forms the Hessian (``k (k + 1) / 2`` products of the data
    with itself, :meth:`xlogreg._loss.LogisticLoss.hessian_matrix`) and solves
    ``H p = -g`` with the backend's ``linalg.solve`` (the Array API's linalg
    extension; NumPy's for a Dask state, which is small). Same parameters and
    result as :func:`newton_cg`; one solve per iteration instead of tens of
    Hessian-vector products.
    """
    xp = array_namespace(W)
    n_x, k = W.shape

    def direction(W, b, g, g_norm):
        H = loss.hessian_matrix(W, b)
        G = xp.concat([g[0], xp.reshape(g[1], (1, k))], axis=0)  # (n_x + 1, k): class by class
        rhs = xp.reshape(-xp.permute_dims(G, (1, 0)), (-1,))  # class-major, as H's blocks
        try:
            step = _solve(H, rhs)
        except Exception as exc:  # a singular system (NumPy's LinAlgError, torch's, ...): the gradient step
            if "singular" not in str(exc).lower():
                raise
            return (-g[0], -g[1])
        P = xp.permute_dims(xp.reshape(step, (k, n_x + 1)), (1, 0))
        if loss.multinomial:  # no step along what changes no probability: keeps the iterates centred
            centred = P - xp.mean(P, axis=1, keepdims=True)
            P = centred if not loss.alpha else xp.concat([P[:n_x, :], centred[n_x:, :]], axis=0)
        return P[:n_x, :], xp.reshape(P[n_x, :], (k, 1))

    return _newton(loss, W, b, direction, "newton-cholesky", tol, max_iter, record, settle)


def _solve(H, rhs):
    """``H^-1 rhs`` by the namespace's ``linalg.solve``; a lazy (Dask) system, small, is solved by NumPy."""
    from array_api_compat import is_dask_array

    if is_dask_array(H):
        import dask.array as da
        import numpy as np

        return da.from_array(np.linalg.solve(*(np.asarray(a) for a in (H.compute(), rhs.compute()))))
    xp = array_namespace(H)
    return xp.linalg.solve(H, rhs[:, None])[:, 0]


def _newton(loss, W, b, direction, name, tol, max_iter, record, settle):
    """The Newton iteration shared by both solvers: ``direction(W, b, g, |g|)`` gives the step p."""
    costs = []
    eps = float(array_namespace(W).finfo(W.dtype).eps)
    J, dW, db = loss.value_and_gradient(W, b)
    if settle is not None:
        W, b, J, dW, db = settle(W, b, J, dW, db)
    for i in range(max_iter + 1):
        cost = float(J)
        if not math.isfinite(cost):
            raise TrainingDiverged(f"{name}: the cost is {cost} at iteration {i}; the data or the "
                                   "starting point give non-finite values")
        costs.append((i, cost))
        if record is not None:
            record(i, cost, W, b)
        g = (dW, db)
        g_norm = math.sqrt(float(_dot(g, g)))
        if g_norm <= tol:
            return OptimizeResult(W, b, dW, db, costs, i, name, True)
        if i == max_iter:
            break
        p = direction(W, b, g, g_norm)
        slope = float(_dot(g, p))
        if not slope < 0:  # not a descent direction (rounding at the optimum): fall back to -g
            p, slope = (-dW, -db), -g_norm * g_norm
        t = 1.0
        for _ in range(40):  # backtracking: at most 40 halvings (t ~ 1e-12)
            W_new, b_new = W + t * p[0], b + t * p[1]
            J_new, dW_new, db_new = loss.value_and_gradient(W_new, b_new)  # the gradient is needed next anyway
            value = float(J_new)
            if value <= cost + 1e-4 * t * slope:  # Armijo
                break
            # Near the optimum the decrease falls below the rounding of J: accept a step that keeps J
            # within rounding and shrinks the gradient (as scikit-learn's Newton solvers do).
            if value <= cost + 64 * eps * abs(cost) and float(_dot((dW_new, db_new), (dW_new, db_new))) < g_norm ** 2:
                break
            t *= 0.5
        else:  # no decrease at all: the optimum within rounding
            return OptimizeResult(W, b, dW, db, costs, i, name, False)
        W, b, J, dW, db = W_new, b_new, J_new, dW_new, db_new
        if settle is not None:
            W, b, J, dW, db = settle(W, b, J, dW, db)
    warnings.warn(f"{name}: {max_iter} iterations ended before the gradient's norm fell to tol={tol} "
                  f"(it is {g_norm:.3g}); increase max_iter, or loosen tol", ConvergenceWarning, stacklevel=2)
    return OptimizeResult(W, b, dW, db, costs, max_iter, name, False)
