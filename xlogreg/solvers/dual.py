"""Gradient descent on the Gram matrix of X: the dual loop (the same iterates as the primal one).

Gradient descent started at ``W0`` keeps ``W = c^t W0 + X A`` for a matrix
``A`` of one row per example, since every step adds X times a matrix (and,
with L2, scales W by ``c = 1 - learning_rate l2 / S``). With the Gram matrix
``X.T X`` (m x m, computed once) the logits move without touching X:
``O(k m^2)`` per iteration instead of ``O(k n_x m)``, much cheaper when there
are more features than examples (the cat data: 12288 features, 209
examples). :func:`xlogreg.solvers.choose_solver` picks it from the shapes.
"""

from __future__ import annotations

import functools

from array_api_compat import is_dask_array

from .. import _backends, _loss, data
from ..data import compiled
from ..data import dask as dask_data
from ._loop import (OptimizeResult, TrainingInterrupted, _converged, _default_loss, _identity, _matrix_params,
                    _notify, _record, _shaped_interrupt, _sum_sq)
from .._namespace import array_namespace

__all__ = ["dual_loop"]


#: The compiled dual loop runs at most this many multiply-adds (iterations
#: times m^2) per call, so that Ctrl-C and the callback come back within
#: about 10 ms of work; on the course data (m = 209) a call stops at the next
#: recorded cost first (every 100 iterations by default).
DUAL_CHUNK_WORK = 2**25


@functools.cache
def _dual_function(multinomial, weighted, decay):
    """One iteration of the dual loop, ``(Z, S, b, Gs, c, targets[, weights]) -> (Z, S, b, Q)``.

    ``Q`` is the residual at Z; the new state is ``S = c S + Q``,
    ``Z = c Z + (1 - c) b - Q Gs`` and ``b = b - sum(Q) step`` (the last
    two only with L2, ``decay``; without it ``c = 1``, b is formed at the end).
    """
    def _dual_step(Z, S, b, Gs, c, step_size, targets, *weights):
        xp = array_namespace(Z)
        Q = _loss.residual(Z, targets, weights[0] if weighted else None, multinomial)
        if not decay:
            return Z - Q @ Gs, S + Q, b, Q
        return (c * Z + (1 - c) * b - Q @ Gs, c * S + Q,
                b - step_size * xp.sum(Q, axis=1, keepdims=True), Q)

    return _dual_step


def _compiled_dual_covers(loss):
    """The compiled dual loop computes the binary loss without sample weights only."""
    return not loss.multinomial and loss.weights is None


def dual_loop(w, b, X, Y, num_iterations, learning_rate, record_every, print_cost=False, callback=None,
              *, fused="auto", loss=None, tol=None):
    """Gradient descent on the Gram matrix of X (same iterates as the primal loop).

    Every step adds ``X`` times a matrix to W (``dW = scale X Q.T + alpha W``),
    so ``W = c^t W0 + X A`` with ``A`` of shape ``(m, k)`` and
    ``c = 1 - learning_rate alpha`` (1 without L2). With the Gram matrix
    ``G1 = X.T X + 1`` (the ``+ 1`` is the bias, a constant feature), the
    logits move without touching X::

        Q = residual(Z)                  (k, m)
        Z = c Z + (1 - c) b - Q Gs       Gs = learning_rate scale G1
        S = c S + Q                      A = -learning_rate scale S.T
        b = b - learning_rate scale sum(Q)

    ``O(k m^2)`` per iteration instead of ``O(k n_x m)``. The cost (with the
    penalty ``||W||^2 = c^2t ||W0||^2 + 2 c^t <W0.T X, A.T> + <A, K A>``) and
    the gradient's norm for `tol` come from the same m x m products; W is
    formed once, at the end, in one product over X together with the last
    gradient.

    `fused` is True to run the iterations in compiled calls of up to
    :data:`DUAL_CHUNK_WORK` multiply-adds each (:func:`xlogreg.data.compiled.dual_steps`:
    the binary loss without sample weights or L2, Gs a NumPy float32/float64
    array; never past an iteration whose cost is recorded), False for the
    Array API code, or ``"auto"`` to ask :func:`xlogreg.data.compiled.choose_fused_dual`. The
    callback of each iteration of a call is called after the call.
    """
    loss = _default_loss(X, Y, loss)
    W0, b0, back_shape = _matrix_params(w, b)
    with _shaped_interrupt(back_shape):
        return back_shape(_dual_loop(W0, b0, loss, num_iterations, learning_rate, record_every, print_cost,
                                     callback, fused, tol))


def _dual_loop(W0, b0, loss, num_iterations, learning_rate, record_every, print_cost, callback, fused, tol):
    X = loss.X
    xp = array_namespace(X)
    lazy = is_dask_array(X)
    c = loss.penalty_term.decay(learning_rate)
    step = learning_rate * loss.scale
    # (m, m) and (k, m): the only passes over X before the end
    ops = data.operations(X)
    G1, P0 = dask_data.materialize(ops.gram(X) + 1, ops.forward(W0, None, X))
    Z, T, weights, b = P0 + b0, loss.targets, loss.weights, b0
    back = _identity
    if lazy and G1.nbytes <= dask_data._EMBED_BYTES:
        # Dask would spend a scheduling round (~15 ms) on each iteration of a state this small:
        # iterate on the computed values, and hand the result back to Dask once, at the end.
        import dask
        import dask.array as da

        G1, P0, Z, b, T, weights = dask_data.dask_run(dask.compute, G1, P0, Z, b, T, weights)
        lazy, back = False, da.from_array
    xl = array_namespace(G1)  # the loop's namespace: X's, or NumPy's for a small Dask state
    Gs = G1 * step
    simple = _compiled_dual_covers(loss) and not loss.alpha
    if fused == "auto":
        fused = simple and compiled.choose_fused_dual(Gs, num_iterations)
    elif compiled._check_fused(fused, Gs, contiguous_columns=False) and not simple:
        raise ValueError("fused=True cannot run here: the compiled dual loop computes the binary loss without "
                         "sample weights or L2 only; use fused='auto' (the Array API loop) for this problem")
    if fused:
        R, C = compiled.dual_rows(Gs * 0.5), 1 - 2 * T  # in half logits H = Z / 2: H -= Q (Gs / 2)
        chunk = max(1, DUAL_CHUNK_WORK // (X.shape[1] ** 2))
    else:
        iterate = _backends.compiled(_dual_function(loss.multinomial, weights is not None, bool(loss.alpha)), xl)
        aligned = (T,) if weights is None else (T, weights)
    w0_sq = float(_sum_sq(W0)) if loss.alpha else 0.0

    def gram_times(A):  # K A = G1 A - 1 sum(A): the Gram matrix without the bias column
        return G1 @ A - xl.sum(A, axis=0, keepdims=True)

    def record_point(i, Z, S, Q):
        """Record the cost at iteration i; True where the stopping rule holds."""
        A = S.T * -step
        cost = loss.data_value(Z)
        if loss.alpha:
            ci = c ** i
            cost = cost + loss.alpha / 2 * (ci * ci * w0_sq + 2 * ci * xl.sum(P0.T * A) + xl.sum(A * gram_times(A)))
        _record(costs, i, cost, print_cost)
        if tol is None:
            return False
        if Q is None:  # the compiled loop: Q at iteration i from Z
            Q = _loss.residual(Z, T, weights, loss.multinomial)
        D = Q.T * loss.scale + (A * loss.alpha if loss.alpha else 0)  # dW = X D + alpha c^i W0
        ci = c ** i
        dW_sq = xl.sum(D * gram_times(D))
        if loss.alpha:
            dW_sq = dW_sq + 2 * loss.alpha * ci * xl.sum(P0.T * D) + (loss.alpha * ci) ** 2 * w0_sq
        return _converged(dW_sq + _sum_sq(xl.sum(Q, axis=1) * loss.scale), tol)

    costs = []
    state = (Z, xl.zeros_like(Z), b, 0)
    last = None  # (Q, S before it, iteration) of the last step: the gradient reported at the end
    converged = False
    try:
        while state[3] < num_iterations:
            Z, S, b, i = state
            record = i % record_every == 0
            if fused:  # up to the next recorded iteration, the end, or a chunk of work
                steps = min(num_iterations, (i // record_every + 1) * record_every, i + chunk) - i
                if record and record_point(i, Z, S, None):
                    last, converged = (_loss.residual(Z, T, weights, loss.multinomial), S, i), True
                    break
                H, S_new, Q = compiled.dual_steps(R, Z * 0.5, C, S, steps)
                new = (2 * H, S_new, b)
                last = (Q, S_new - Q, i + steps - 1)
            else:
                steps = 1
                *new, Q = iterate(Z, S, b, Gs, c, step, *aligned)
                last = (Q, S, i)
                if record and record_point(i, Z, S, Q):
                    converged = True
                    break
            if lazy:
                new = dask_data.materialize(*new)
            state = (*new, i + steps)
            for j in range(i, i + steps):
                _notify(callback, j, costs, record and j == i)
    except KeyboardInterrupt:
        Z, S, b, done = state
        W, b = _dual_params(X, W0, b0, back(S), back(b), c, step, done, loss)
        raise TrainingInterrupted(OptimizeResult(W, b, None, None, costs, done, "dual")) from None
    _, S, b, done = state
    if last is None:  # zero iterations: the gradient at the start
        W, b = dask_data.materialize(*_dual_params(X, W0, b0, back(S), back(b), c, step, done, loss))
        dW, db = loss.gradient(W, b)
        return OptimizeResult(W, b, dW, db, costs, done, "dual", converged)
    Q, S_before, j = (back(a) if not isinstance(a, int) else a for a in last)
    S = back(S)
    b = b0 - xp.sum(S, axis=1, keepdims=True) * step if not loss.alpha else back(b)
    # W = c^done W0 + X A and the last gradient X D + alpha c^j W0 in one product over X
    D = Q.T * loss.scale + (S_before.T * (-step * loss.alpha) if loss.alpha else 0)
    k = W0.shape[1]
    P = ops.backward(X, xp.concat([S.T * -step, D], axis=1).T)
    W, dW = P[:, :k], P[:, k:]
    if loss.alpha:
        W, dW = W + (c ** done) * W0, dW + (loss.alpha * c ** j) * W0
    else:
        W = W + W0
    W, b, dW, db = dask_data.materialize(W, b, dW, xp.sum(Q, axis=1, keepdims=True) * loss.scale)
    return OptimizeResult(W, b, dW, db, costs, done, "dual", converged)


def _dual_params(X, W0, b0, S, b, c, step, done, loss):
    """``(W, b)`` after `done` iterations of the dual loop, from its state S (and b with L2)."""
    xp = array_namespace(X)
    W = data.operations(X).backward(X, S * -step) + (c ** done if loss.alpha else 1) * W0
    return W, (b if loss.alpha else b0 - xp.sum(S, axis=1, keepdims=True) * step)
