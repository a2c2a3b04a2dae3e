"""L-BFGS for the folds of one C at once: per-fold memory, steps and stopping, one product with X for all.

This is the ``solver="lbfgs"`` of :class:`xlogreg.LogisticRegressionCV`: the
L-BFGS of :mod:`xlogreg.solvers.lbfgs` (two-loop recursion, strong Wolfe
line search, the same constants and stopping rules) run on a
:class:`xlogreg.solvers.path.FoldLoss`, whose F folds are F independent
problems that share X.

**Why batched, and not the single-fit solver once per fold.** Two designs
reach the same optimum: (a) the existing :func:`~xlogreg.solvers.lbfgs.lbfgs`
fold after fold, on a ``LogisticLoss`` with the fold's sample weights;
(b) every fold at once on :class:`FoldLoss`. (b) is taken, for the reason the
batched Newton path exists: an evaluation of J and its gradient is one
``W.T X`` and one ``X R.T`` for *every* fold (``(n_x, F k)`` columns instead
of ``k``), so a fit costs the passes over X of its slowest fold rather than
the sum of all folds' passes, and on a GPU one product of F k columns fills
the device where k columns do not. L-BFGS needs only value-and-gradient
evaluations (no Hessian to form, which is what made batched Newton-Cholesky
slower on the CPU), so every pass is shared. The price is the bookkeeping
below; (a) would have been a loop around an existing function.

**Each fold is its own L-BFGS.** Nothing couples the folds but the product:

* the *memory* is a deque of pairs ``(s, y)`` of the batched shapes with a
  per-fold ``rho = 1 / <s_f, y_f>`` (``(F,)``); a fold that took no step, or
  whose pair fails the curvature test ``<s_f, y_f> > 0``, has ``rho_f = 0``
  in that pair, which removes the pair from its recursion exactly (its
  coefficients ``a`` and ``c`` are 0). The two-loop recursion runs with
  per-fold inner products (:meth:`FoldLoss.fold_dot`) and a per-fold scale
  ``gamma_f`` (of its newest valid pair). A fold whose memory is empty, or
  cleared after a failed search, takes ``-g_f``.
* the *line search* is the single-fit strong Wolfe search of
  :mod:`xlogreg.solvers.lbfgs`, written as a generator
  (:func:`~xlogreg.solvers.lbfgs._line_search_steps`): each fold's search
  asks for its own step ``t_f``; one batched evaluation at ``W + t p``
  (``t`` a row over the folds' columns) answers every fold's request; each
  search reads its own three numbers (``J_f``, ``<g_f(t), p_f>``,
  ``||g_f(t)||^2``) from the one host transfer of that evaluation. A fold
  whose search has ended stays at its accepted step in later evaluations,
  so the last evaluation holds every fold's new iterate (one more
  evaluation only where a search ended on an earlier point than its last
  trial, or on none). A failed search with memory retries that fold along
  ``-g_f`` with its memory cleared, the others unaffected.
* the *stopping rule* is the single fit's, per fold: ``||g_f|| <= tol``, or
  no step decreases J_f beyond rounding, or the stall rules (:data:`STALLS`,
  :data:`FLAT`); a fold that stops is frozen (step 0) while the others go on.

Along the path (:func:`xlogreg.solvers.path.cross_validation_path`) each C
starts from the previous C's iterate with an empty memory. Carrying the
memory over was tried (the data part of J does not change with C, so each
pair's ``y`` can be corrected exactly for the new penalty,
``y_W + (alpha_new - alpha_old) s_W``) and dropped: the pairs left at the end
of a fit to a tight `tol` have tiny steps whose ``y`` is mostly rounding, and
on a 300 x 8, three-class problem at ``tol=1e-10`` the carried memory took
2-5 times the iterations from C = 1 on, with one fold stopped short of `tol`.

The iterate, the gradient and the memory stay on X's device in its dtype;
the host reads ``3 F`` numbers per evaluation (``4 F`` on the first of an
iteration: the slopes ``<g_f, p_f>``), in one transfer, and runs the folds'
line-search logic on them.

Shapes as :mod:`xlogreg.solvers.path`: ``W`` ``(n_x, F k)``, ``b`` ``(F k, 1)``,
per-fold numbers ``(F,)``.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from array_api_compat import device as get_device

from .. import _backends
from ._loop import TrainingDiverged
from .lbfgs import (FLAT, MAX_LINE_SEARCH, MEMORY, ROUNDING, STALL_SHRINK, STALLS, _at_precision,
                    _line_search_steps, _Trial)
from .._namespace import array_namespace

__all__ = ["fold_lbfgs", "FoldLBFGSResult"]


def _host(x):
    """A small device array (a few numbers per fold) as NumPy float64: the one host read of an evaluation."""
    return np.asarray(_backends.to_numpy(x), dtype=np.float64)


class _FoldMemory:
    """The L-BFGS memory of F folds: pairs ``(s, y, rho)`` (``rho`` ``(F,)``, 0 where not a pair of that fold).

    ``valid`` is the host's view ``(F,)`` of which folds each pair belongs to;
    ``gamma`` ``(F,)`` the scale of each fold's newest pair.
    """

    def __init__(self, memory, gamma):
        self.pairs = deque(maxlen=memory)  # (s, y, rho, valid), oldest first
        self.gamma = gamma

    def has_pairs(self, n_folds):
        """``(F,)`` bool: which folds have at least one pair."""
        found = np.zeros(n_folds, dtype=bool)
        for *_, valid in self.pairs:
            found |= valid
        return found

    def clear(self, loss, folds):
        """Forget the pairs of the folds `folds` (``(F,)`` bool, host)."""
        xp = array_namespace(self.gamma)
        keep = xp.asarray(np.asarray(~folds, dtype=np.float64), dtype=self.gamma.dtype,
                          device=get_device(self.gamma))
        self.pairs = deque(((s, y, rho * keep, valid & ~folds) for s, y, rho, valid in self.pairs),
                           maxlen=self.pairs.maxlen)


class FoldLBFGSResult:
    """What :func:`fold_lbfgs` returns (the attributes of :class:`xlogreg.solvers.path.FoldResult`, and more).

    Attributes
    ----------
    W, b : arrays of shapes (n_x, F k) and (F k, 1)
    Z : array of shape (F k, m)
        The logits at (W, b).
    n_iter : ndarray of shape (F,), int
        L-BFGS iterations (steps taken) of each fold.
    converged : ndarray of shape (F,), bool
    gradient_norm : ndarray of shape (F,)
    stop : ndarray of shape (F,), str
        ``"tol"``, ``"rounding"`` or ``"max_iter"`` (as :class:`xlogreg.solvers.lbfgs.LBFGSResult`).
    n_evaluations : int
        Batched evaluations of J and its gradient (each one ``W.T X`` and one
        ``X R.T`` for every fold), the start's included: the passes over X.
    """

    def __init__(self, W, b, Z, n_iter, converged, gradient_norm, stop, n_evaluations):
        self.W, self.b, self.Z = W, b, Z
        self.n_iter, self.converged, self.gradient_norm = n_iter, converged, gradient_norm
        self.stop, self.n_evaluations = stop, n_evaluations


def _two_loop(loss, g, pairs, gamma):
    """Every fold's ``-H_f g_f`` by the two-loop recursion (:mod:`xlogreg.solvers.lbfgs`), per-fold scalars."""
    q = g
    coefficients = []
    for s, y, rho, _ in reversed(pairs):
        a = rho * loss.fold_dot(s, q)  # (F,)
        q = (q[0] - loss.columns(a) * y[0], q[1] - loss.rows(a) * y[1])
        coefficients.append(a)
    r = (loss.columns(gamma) * q[0], loss.rows(gamma) * q[1])
    for (s, y, rho, _), a in zip(pairs, reversed(coefficients)):
        c = rho * loss.fold_dot(y, r)
        r = (r[0] + loss.columns(a - c) * s[0], r[1] + loss.rows(a - c) * s[1])
    return -r[0], -r[1]


def _tagged(steps, steepest):
    """The line-search generator `steps` with each request tagged ``(steepest, t)``; returns its value."""
    try:
        t = next(steps)
        while True:
            trial = yield steepest, t
            t = steps.send(trial)
    except StopIteration as stop:
        return stop.value


def _fold_iteration(has_pairs, cost, gg, rounding, max_line_search):
    """One fold's iteration as a generator: yields ``(steepest, t)``, is sent :class:`_Trial` s.

    The first request along an L-BFGS direction is ``(False, 1.0)``, whose
    trial carries the slope ``<g, p>`` as ``extra``; ``steepest`` True asks
    for the direction ``-g`` (and the memory of the fold cleared). Returns
    ``(accepted trial or None, slope at 0, predicted decrease or None)``,
    as the iteration of :func:`xlogreg.solvers.lbfgs.lbfgs`.
    """
    predicted = None
    for steepest in ((False, True) if has_pairs else (True,)):
        if steepest:
            g_norm = math.sqrt(max(gg, 0.0))
            dphi0, first, t0 = -gg, None, (min(1.0, 1 / g_norm) if g_norm > 0 else 1.0)
        else:
            first = yield False, 1.0
            dphi0, t0 = first.extra, 1.0
            if not dphi0 < 0:  # not a descent direction (rounding in the memory): steepest descent
                continue
            predicted = -0.5 * dphi0
        accepted, _ = yield from _tagged(_line_search_steps(cost, dphi0, t0, rounding, max_line_search, first),
                                         steepest)
        if accepted is not None:
            return accepted, dphi0, predicted
    return None, None, predicted


def fold_lbfgs(loss, W, b, *, tol=1e-4, max_iter=100, memory=MEMORY, max_line_search=MAX_LINE_SEARCH):
    """Minimise every fold's objective of `loss` (a :class:`~xlogreg.solvers.path.FoldLoss`) by L-BFGS.

    Each fold has its own memory, line search and stopping rule (its
    gradient's Euclidean norm at most `tol`, as
    :func:`xlogreg.solvers.path.fold_newton`); every evaluation of J serves
    all folds (module notes).

    Parameters
    ----------
    loss : FoldLoss
    W : array of shape (n_x, F k)
    b : array of shape (F k, 1)
    tol : float >= 0
    max_iter : int >= 0
        Iterations per fold at most (no warning here: the caller reports).
    memory : int >= 1
        Pairs kept.
    max_line_search : int >= 1
        Evaluations per line search at most.

    Returns
    -------
    FoldLBFGSResult

    Raises
    ------
    xlogreg.TrainingDiverged
        A fold's J is not finite.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg.solvers.path import FoldLoss
    >>> from xlogreg.solvers.path_lbfgs import fold_lbfgs
    >>> X = xp.asarray([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
    >>> folds = xp.asarray([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]])
    >>> loss = FoldLoss(X, xp.asarray([[0.0, 1.0, 0.0, 1.0, 1.0, 0.0]]), 2, folds, l2=1.0)
    >>> result = fold_lbfgs(loss, *loss.zeros(), tol=1e-10)
    >>> result.converged.tolist(), result.stop.tolist()
    ([True, True], ['tol', 'tol'])
    """
    xp, dev = array_namespace(W), get_device(W)
    F, k, n_x = loss.n_folds, loss.k, loss.n_x
    eps = float(xp.finfo(W.dtype).eps)
    centre_b = loss.multinomial and loss.fit_intercept
    centre_W = loss.multinomial and not loss.l2  # with L2 the optimum is centred and J is not flat that way

    def to_device(v):  # a copy: the host arrays (the steps t) change after they are sent
        return xp.asarray(np.array(v, dtype=np.float64), dtype=W.dtype, device=dev)

    def centred(V, vb):
        """The part of (V, vb) that changes some probability, per fold (softmax; see lbfgs's notes)."""
        if centre_W:
            V3 = xp.reshape(V, (n_x, F, k))
            V = xp.reshape(V3 - xp.mean(V3, axis=2, keepdims=True), (n_x, F * k))
        if centre_b:
            vb2 = xp.reshape(vb, (F, k))
            vb = xp.reshape(vb2 - xp.mean(vb2, axis=1, keepdims=True), (F * k, 1))
        return V, vb

    state = _FoldMemory(memory, xp.ones((F,), dtype=W.dtype, device=dev))

    W, b = centred(W, b)
    J, dW, db, Z = loss.value_and_gradient(W, b)
    evaluations = 1
    read = _host(xp.stack([J, loss.fold_dot((dW, db), (dW, db))]))
    cost, gg = read[0], read[1]
    n_iter = np.zeros(F, dtype=np.int64)
    converged = np.zeros(F, dtype=bool)
    done = np.zeros(F, dtype=bool)
    stop = np.full(F, "max_iter", dtype=object)
    stalls = np.zeros(F, dtype=np.int64)
    flat = np.zeros(F, dtype=np.int64)
    streak_gg = np.full(F, np.nan)  # ||g||^2 where each fold's run of iterations within rounding began
    floor_gg = (ROUNDING * eps) ** 2 * gg  # ||g||^2 at the dtype's reach
    for i in range(max_iter + 1):
        if not np.all(np.isfinite(cost)):
            raise TrainingDiverged(f"lbfgs: a fold's cost is not finite at iteration {i} ({cost.tolist()}); "
                                   "the data give non-finite values")
        g_norm = np.sqrt(np.maximum(gg, 0.0))
        reached = ~done & (g_norm <= tol)
        converged |= reached
        stop[reached] = "tol"
        done |= reached
        if i == max_iter or done.all():
            break
        rounding = ROUNDING * eps * np.abs(cost)
        g = (dW, db)
        has_pairs = state.has_pairs(F)
        if has_pairs.any():
            p = centred(*_two_loop(loss, g, state.pairs, state.gamma))
            no_pairs = loss.columns(to_device(~has_pairs)) > 0
            p = (xp.where(no_pairs, -dW, p[0]), xp.where(loss.rows(to_device(~has_pairs)) > 0, -db, p[1]))
        else:
            p = (-dW, -db)
        steepest = ~has_pairs  # each fold's current direction is -g
        searches = [None] * F
        t = np.zeros(F)
        wants = np.zeros(F, dtype=bool)  # the folds asking for -g
        for f in np.flatnonzero(~done):
            searches[f] = _fold_iteration(bool(has_pairs[f]), float(cost[f]), float(gg[f]), float(rounding[f]),
                                          max_line_search)
            wants[f], t[f] = next(searches[f])
        outcome = [None] * F
        first_round = True
        while True:
            switch = wants & ~steepest
            if switch.any():  # a failed L-BFGS search (or an ascent direction): -g, that fold's memory cleared
                on = loss.columns(to_device(switch)) > 0
                p = (xp.where(on, -dW, p[0]), xp.where(loss.rows(to_device(switch)) > 0, -db, p[1]))
                state.clear(loss, switch)
                steepest = steepest | switch
            t_dev = to_device(t)
            W_t, b_t = W + loss.columns(t_dev) * p[0], b + loss.rows(t_dev) * p[1]
            J_t, dW_t, db_t, Z_t = loss.value_and_gradient(W_t, b_t)
            evaluations += 1
            g_t = (dW_t, db_t)
            numbers = [J_t, loss.fold_dot(g_t, p), loss.fold_dot(g_t, g_t)]
            if first_round:
                numbers.append(loss.fold_dot(g, p))  # the slopes at 0, for the L-BFGS directions' first trials
            read = _host(xp.stack(numbers))
            evaluated_t = t.copy()
            live = False
            for f in range(F):
                if searches[f] is None:
                    continue
                trial = _Trial(float(t[f]), float(read[0, f]), float(read[1, f]), float(read[2, f]),
                               extra=float(read[3, f]) if first_round else None)
                try:
                    wants[f], t[f] = searches[f].send(trial)
                    live = True
                except StopIteration as end:
                    searches[f] = None
                    outcome[f] = end.value
                    accepted = end.value[0]
                    t[f] = accepted.t if accepted is not None else 0.0
            first_round = False
            if not live:
                break
        if not np.array_equal(t, evaluated_t):  # a search ended on an earlier point than its last trial
            t_dev = to_device(t)
            W_t, b_t = W + loss.columns(t_dev) * p[0], b + loss.rows(t_dev) * p[1]
            J_t, dW_t, db_t, Z_t = loss.value_and_gradient(W_t, b_t)
            evaluations += 1
            g_t = (dW_t, db_t)
            read = _host(xp.stack([J_t, loss.fold_dot(g_t, p), loss.fold_dot(g_t, g_t)]))
        new_cost, new_dphi, new_gg = read[0], read[1], read[2]

        moved = np.zeros(F, dtype=bool)
        dphi0 = np.zeros(F)
        for f in np.flatnonzero(~done):
            accepted, slope, predicted = outcome[f]
            if accepted is None:  # no step decreases J_f beyond rounding, even along -g
                done[f] = True
                stop[f] = "rounding"
                converged[f] = _at_precision(float(g_norm[f]), tol, predicted, float(rounding[f]))
            else:
                moved[f], dphi0[f] = True, slope
        # the pairs: <s_f, y_f> = t_f (J'_f(t) - J'_f(0)) from the numbers read; 0 (no pair) where not positive
        ys_host = t * (new_dphi - dphi0)
        valid = moved & (ys_host > 0)
        if valid.any():
            valid_dev = loss.columns(to_device(valid)) > 0
            s = (loss.columns(t_dev) * p[0], loss.rows(t_dev) * p[1])
            y = (xp.where(valid_dev, dW_t - dW, xp.zeros_like(dW)),
                 xp.where(loss.rows(to_device(valid)) > 0, db_t - db, xp.zeros_like(db)))
            ys, yy = loss.fold_dot(s, y), loss.fold_dot(y, y)
            good = (to_device(valid) > 0) & (ys > 0) & (yy > 0)
            rho = xp.where(good, 1 / xp.where(good, ys, xp.ones_like(ys)), xp.zeros_like(ys))
            state.gamma = xp.where(good, ys / xp.where(good, yy, xp.ones_like(yy)), state.gamma)
            state.pairs.append((s, y, rho, valid))
        # the stall rules of lbfgs, fold by fold: J within rounding, the gradient not shrinking
        within = moved & (new_cost > cost - rounding)
        stalls = np.where(within, np.where(new_gg >= gg, stalls + 1, 0), 0)
        streak_gg = np.where(within, np.where(np.isnan(streak_gg), gg, streak_gg), np.nan)
        reset = (new_gg < streak_gg * STALL_SHRINK ** 2) | (new_gg > floor_gg)
        flat = np.where(within, np.where(reset, 0, flat + 1), 0)
        streak_gg = np.where(within & reset, new_gg, streak_gg)

        n_iter += moved
        W, b, dW, db, Z = W_t, b_t, dW_t, db_t, Z_t
        cost, gg = np.where(moved, new_cost, cost), np.where(moved, new_gg, gg)
        stalled = moved & ((stalls >= STALLS) | (flat >= FLAT))
        for f in np.flatnonzero(stalled):
            g_norm_f = math.sqrt(max(float(gg[f]), 0.0))
            done[f] = True
            stop[f] = "tol" if g_norm_f <= tol else "rounding"
            converged[f] = _at_precision(g_norm_f, tol, outcome[f][2], ROUNDING * eps * abs(float(cost[f])))
    g_norm = np.sqrt(np.maximum(gg, 0.0))
    return FoldLBFGSResult(W, b, Z, n_iter, converged, g_norm, stop, evaluations)
