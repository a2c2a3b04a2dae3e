"""Batch gradient descent on X, the course's ``optimize``: the primal loop.

Every loop minimises the objective of :mod:`xlogreg._loss` (binary or
softmax, sample weights, L2) and reads the data only through the data
interface (:mod:`xlogreg.data`). One iteration is one pass over X
(``Z = W.T X + b``, ``G = X Q.T``: :func:`xlogreg._loss.raw_pass`), then
``W -= learning_rate dW``; ``O(k n_x m)`` per iteration.

Inside the loop there is no host synchronisation except where a cost is
recorded (every ``record_every`` iterations), which is also where divergence
is detected and where the stopping rule (``tol``: the gradient's norm) is
checked; the cost itself is only computed on those iterations. On JAX an
iteration (:func:`_pass_function`) runs under ``jax.jit``
(:func:`xlogreg._backends.compiled`).

The pass itself comes from the kind of X: the Array API code (two reads of
X), blocks of examples (:mod:`xlogreg.data.blocks`: one read, where it was
measured to pay), the compiled pass (:mod:`xlogreg.data.compiled`: one read,
NumPy with numba, ``fused=``), or one task per chunk on Dask
(:mod:`xlogreg.data.dask`). The iterates are the same up to rounding. The
dual form of the same iterates is :mod:`xlogreg.solvers.dual`.
"""

from __future__ import annotations

import functools

from array_api_compat import is_dask_array

from .. import _backends, _loss
from .. import _validation as v
from ..data import blocks, compiled
from ..data import dask as dask_data
from ._loop import (OptimizeResult, TrainingInterrupted, _converged, _default_loss, _matrix_params, _notify,
                    _record, _shaped_interrupt, _sum_sq)
from .._namespace import array_namespace

__all__ = ["primal_loop", "chunked_pass"]


@functools.cache
def _pass_function(multinomial, weighted):
    """The iteration's pass over X, ``(W, b, X, targets[, weights]) -> (Z, G, s)``, one function per kind.

    Module-level and cached, so that ``jax.jit`` (:func:`xlogreg._backends.compiled`)
    traces it once per shape and dtype for the whole process.
    """
    def _one_pass(W, b, X, targets, *weights):
        Z, G, s, _ = _loss.raw_pass(W, b, X, targets, weights[0] if weighted else None, multinomial,
                                    with_loss=False)
        return Z, G, s

    return _one_pass


def primal_loop(w, b, X, Y, num_iterations, learning_rate, record_every, print_cost=False, callback=None,
                *, block="auto", fused="auto", loss=None, tol=None, check_x=None):
    """Gradient descent on X. Arguments are checked; b is a 0-d or a ``(k, 1)`` array.

    One iteration is one :func:`xlogreg._loss.raw_pass`, then
    ``W = W - learning_rate dW`` and ``b = b - learning_rate db``. `loss`
    (:class:`xlogreg._loss.LogisticLoss`) holds the targets, the sample
    weights and the L2 term; without it, Y's unweighted binary loss.
    `fused` is True to run each iteration as one compiled pass over X
    (:mod:`xlogreg.data.compiled`: NumPy X in C or Fortran order),
    False for the Array API code, or ``"auto"`` to ask :func:`xlogreg.data.compiled.choose_fused`.
    Without it, `block` is the number of examples per block of the blocked
    iteration, None for the plain one, or ``"auto"`` to ask
    :func:`xlogreg.data.blocks.choose_block`. With `tol`, training stops at the first recorded
    iteration whose gradient norm is at most `tol` (:func:`xlogreg.solvers.run`). `check_x`
    is None where X is known to be finite, else X's name: see :func:`xlogreg.solvers.run`.
    """
    loss = _default_loss(X, Y, loss)
    W, b, back = _matrix_params(w, b)
    with _shaped_interrupt(back):
        if is_dask_array(X):
            if fused != "auto":
                compiled._check_fused(fused, X)  # True is refused, with the reason
            if check_x is not None:
                v.check_finite(X, check_x)
            return back(_chunked_primal_loop(W, b, loss, num_iterations, learning_rate, record_every, print_cost,
                                             callback, tol))
        return back(_eager_primal_loop(W, b, loss, num_iterations, learning_rate, record_every, print_cost,
                                       callback, block, fused, tol, check_x))


def _check_x_by_pass(X, G, s, name):
    """Check X through the gradient ``(G, s)`` of a compiled pass over it, without reading X again.

    The compiled pass multiplies every entry of X by a finite residual (zero
    for a zero weight) and adds the products up: a NaN or an infinity in X
    makes G not finite (``inf * 0`` is NaN, ``inf - inf`` too), whatever W
    is. So a finite G proves X finite; a G that is not finite is either X's
    fault (named by the exact check) or an overflow from finite values, left
    to the divergence checks as before.
    """
    xp = array_namespace(G)
    if not bool(xp.all(xp.isfinite(G)) and xp.all(xp.isfinite(s))):
        v.check_finite(X, name)


def _eager_primal_loop(W, b, loss, num_iterations, learning_rate, record_every, print_cost, callback, block,
                       fused, tol, check_x=None):
    X = loss.X
    xp = array_namespace(X)
    if fused == "auto":
        fused = compiled.choose_fused(X, num_iterations)
    else:
        compiled._check_fused(fused, X)
    if check_x is not None and not (fused and num_iterations > 0):
        v.check_finite(X, check_x)  # else the first compiled pass checks X (_check_x_by_pass)
        check_x = None
    T, weights = loss.targets, loss.weights
    parts = None if fused else blocks.example_blocks(X, [T, weights], block)
    if fused:
        one_pass = compiled.PrimalPass(X, T, weights, loss.multinomial)
    elif parts is None:
        pass_function = _backends.compiled(_pass_function(loss.multinomial, weights is not None), xp)
        data = (T,) if weights is None else (T, weights)

        def one_pass(W, b, with_z):
            return pass_function(W, b, X, *data)
    else:
        def one_pass(W, b, with_z):
            return blocks.blocked_pass(W, b, parts, _loss.example_terms, loss.multinomial, False, with_z=with_z)

    c = loss.penalty_term.decay(learning_rate)  # W's decay per step under L2
    step = learning_rate * loss.scale
    costs = []
    state = (W, b, 0)
    last = None  # (W, G, s) of the last pass: the gradient reported at the end
    converged = False
    try:
        for i in range(num_iterations):
            W, b, _ = state
            record = i % record_every == 0
            Z, G, s = one_pass(W, b, record)
            if check_x is not None:
                _check_x_by_pass(X, G, s, check_x)
                check_x = None
            last = (W, G, s)
            if record:
                _record(costs, i, loss.value_from_logits(Z, W), print_cost)
                if tol is not None and _converged(_sum_sq(*loss.gradient_from_raw(G, s, W)), tol):
                    converged = True
                    break
            state = ((c * W if loss.alpha else W) - step * G, b - step * s, i + 1)
            _notify(callback, i, costs, record)
    except KeyboardInterrupt:
        W, b, done = state
        dW, db = (None, None) if last is None else loss.gradient_from_raw(last[1], last[2], last[0])
        raise TrainingInterrupted(OptimizeResult(W, b, dW, db, costs, done, "primal")) from None
    W, b, done = state
    dW, db = loss.gradient(W, b) if last is None else loss.gradient_from_raw(last[1], last[2], last[0])
    return OptimizeResult(W, b, dW, db, costs, done, "primal", converged, one_pass.logits if fused else None)


def _chunked_primal_loop(W, b, loss, num_iterations, learning_rate, record_every, print_cost, callback, tol):
    """The primal loop on a Dask X: one task per chunk of examples, each chunk read once."""
    X, labels, weights = loss.X, loss.labels, loss.weights
    W, b = dask_data.as_data(W, b)  # data, not the recipes of zeros: every iteration's graph is the same
    costs = []
    state = (W, b, 0)
    dW = db = None
    converged = False
    try:
        for i in range(num_iterations):
            W, b, _ = state
            record = i % record_every == 0
            G, s, total = chunked_pass(W, b, X, labels, weights, loss.multinomial, with_loss=record)
            dW, db = loss.gradient_from_raw(G, s, W)
            new = (W - learning_rate * dW, b - learning_rate * db)
            if record:  # the new state, the cost and the gradient's norm in one computation
                cost = total / loss.total_weight + (loss.penalty(W) if loss.alpha else 0)
                *new, dW, db, cost, gradient_sq = dask_data.materialize(*new, dW, db, cost, _sum_sq(dW, db))
                _record(costs, i, cost, print_cost)
                if _converged(gradient_sq, tol):
                    converged = True
                    break
            else:
                *new, dW, db = dask_data.materialize(*new, dW, db)
            state = (*new, i + 1)
            _notify(callback, i, costs, record)
    except KeyboardInterrupt:
        W, b, done = state
        raise TrainingInterrupted(OptimizeResult(W, b, dW, db, costs, done, "primal")) from None
    W, b, done = state
    if dW is None:  # zero iterations: report the gradient at the start
        G, s, _ = chunked_pass(W, b, X, labels, weights, loss.multinomial, with_loss=False)
        dW, db = dask_data.materialize(*loss.gradient_from_raw(G, s, W))
    return OptimizeResult(W, b, dW, db, costs, done, "primal", converged)


def chunked_pass(W, b, X, labels, weights, multinomial, with_loss=True):
    """:func:`xlogreg._loss.raw_pass` on a Dask X, one task per chunk of examples: ``(G, s, loss)``.

    :func:`xlogreg.data.dask.chunked_pass` with the loss's terms made from the
    labels in each task (:func:`xlogreg._loss.label_terms`).

    Parameters
    ----------
    W : dask array of shape (n_x, k)
    b : dask array of shape (k, 1)
    X : dask array of shape (n_x, m), chunked along m (the examples)
    labels : dask array of shape (1, m)
        0 / 1, or 0 .. K-1 with ``multinomial``, in X's dtype.
    weights : dask array of shape (1, m), or None
    multinomial : bool
    with_loss : bool

    Returns
    -------
    G : dask array of shape (n_x, k)
    s : dask array of shape (k, 1)
    loss : 0-d dask array ``sum_i s_i L_i``, or None without `with_loss`
    """
    aligned = [labels] if weights is None else [labels, weights]
    return dask_data.chunked_pass(W, b, X, _loss.label_terms, aligned, with_extra=with_loss, k=W.shape[1],
                                  multinomial=multinomial)
