"""L-BFGS: a limited-memory quasi-Newton method on the loss object, written once on the Array API.

Each iteration moves the parameters ``x = (W, b)`` along ``p = -H g``, where
``g`` is J's gradient and ``H`` the L-BFGS approximation of the inverse
Hessian, built from the last ``memory`` pairs

    s_j = x_{j+1} - x_j,     y_j = g_{j+1} - g_j,     rho_j = 1 / <s_j, y_j>

by the two-loop recursion (Nocedal and Wright, *Numerical Optimization*,
Algorithm 7.4)::

    q = g
    for j = newest .. oldest:   a_j = rho_j <s_j, q>;  q = q - a_j y_j
    r = gamma q                 gamma = <s, y> / <y, y> of the newest pair
    for j = oldest .. newest:   c = rho_j <y_j, r>;    r = r + (a_j - c) s_j
    p = -r

The inner product is the Euclidean one over the pair ``(W, b)``; nothing is
flattened or concatenated, so ``W`` keeps its shape ``(n_x, k)`` (``k = 1``
binary, ``k = K`` softmax) and ``b`` its ``(k, 1)``. One iteration costs one
:meth:`~xlogreg._loss.LogisticLoss.value_and_gradient` (two products over X)
per trial step of the line search, usually one, and ``4 memory`` inner
products of the size of ``(W, b)``: no Hessian product, which is why it beats
Newton-CG where X is large and the problem well conditioned, and Newton's
methods win where curvature matters (tight `tol`, badly scaled data).

**The line search** is a strong Wolfe search (Nocedal and Wright, Algorithms
3.5 and 3.6: bracketing, then zoom by safeguarded cubic interpolation, as
``torch.optim.LBFGS``'s ``strong_wolfe`` and SciPy's L-BFGS-B), with ``c1 =
1e-4``, ``c2 = 0.9``, first trial ``t = 1`` (``min(1, 1 / ||g||)`` on a
steepest-descent step, without memory). Chosen over backtracking Armijo
because the curvature condition guarantees ``<s, y> > 0``, so every pair
keeps ``H`` positive definite and none is thrown away; and the unit step of a
quasi-Newton direction is accepted at the first trial on most iterations, so
the search costs what backtracking costs. Two changes make it hold in
float32:

* Once the objective along the line is within rounding of its start
  (``|J(t) - J(0)| <= 64 eps |J(0)|``, eps the dtype's), function values no
  longer rank the trials; the step is then accepted on the *approximate
  Wolfe* conditions of Hager and Zhang (2005),
  ``c2 J'(0) <= J'(t) <= (1 - 2 c1) |J'(0)|``, and the bracket is narrowed by
  the sign of the directional derivative ``J'(t) = <g(t), p>`` (J is convex
  along every line, so that sign says on which side the minimum lies) and
  secant steps on it. The derivative keeps its accuracy far below the
  rounding of J: without this, a float32 fit stops at a gradient norm near
  ``sqrt(eps |J|)``, ten times above the estimator's default `tol`.
* The search ends after ``max_line_search`` evaluations; a failed search with
  memory is retried once along ``-g`` with the memory cleared, and a failed
  steepest-descent search ends the run (``stop = "rounding"``).

**Trials from the logits.** Where the loss says so (``line_ready``: the
binary loss, not on Dask, nor where the logits exceed
:data:`xlogreg._loss.LINE_MAX_BYTES`), the trials go through
:meth:`~xlogreg._loss.LogisticLoss.line`: the logits along a direction are
``Z + t D`` with ``D = pW.T X + pb``, so each iteration computes D (one
product) and, at the step accepted, the gradient (one product), and every
trial in between is elementwise work on the logits. A first trial accepted
costs what an evaluation costs; each further trial saves both products. The
binary loss's trials are a few operations per example, so the search then
asks for a closer minimum along the line: :data:`C2_LINES` (0.3) instead of
:data:`C2`, fewer iterations for a few more cheap trials
(``benchmarks/bench_lines.py``: a 100,000 x 100 problem 45 to 33
iterations, 0.80 of the time; the course's cat data 160 to 123, 0.76;
benchopt's 100,000 x 400 18 to 14, 0.82). The softmax evaluates each trial
in full: a trial's softmax is most of an evaluation's cost, and with lines
(measured with a compiled pass on the 1,000-class probe, and on digits) no
time was saved at C2, nor at 0.3 (two iterations fewer, eight trials more).
A search at C2_LINES that fails (near J's floor the closer minimum can be
out of reach where the usual one is not) is run again at C2; one that fails
on the line is run again along the same direction on full evaluations (then
steepest descent). Once a search fails on a line, or an iteration leaves J
within its rounding, the run goes on without lines: the rules of the stop
at J's floor (below) compare each trial's J' with ``<g, p>`` and ``<s, y>``
from full gradients, and a line's J' (``Q D``) rounds differently there
(float32 iris at ``tol=1e-12`` stopped short of its reach with lines to the
end). The logits
handed from line to line are recomputed from the iterate every
:data:`LINE_REFRESH` iterations, so that their rounding does not drift.

**Stopping.** As :func:`xlogreg.solvers.newton.newton_cg`: the Euclidean
norm of the gradient (W and b together) at most `tol` (``converged`` True,
``stop = "tol"``); or `max_iter` iterations (a :class:`ConvergenceWarning`,
``stop = "max_iter"``); or no step decreases the objective beyond its
rounding (the line search fails along ``-g``, or :data:`STALLS` iterations
in a row leave J within rounding without shrinking the gradient, or :data:`FLAT` without halving it
once it is within ``64 eps`` of the start's):
``stop = "rounding"``, with ``converged`` True only where the L-BFGS model's
own predicted decrease ``-<g, p> / 2`` is within that rounding too (the
dtype's precision reached, as Newton's stop: float32 with a `tol` below its
reach), else False.

**On the device.** The iterate, the gradient, the memory and the two-loop
coefficients (0-d arrays) stay arrays of X's namespace, device and dtype.
The host reads three scalars per evaluation of J, in one transfer
(:func:`_host`): J, the directional derivative ``<g(t), p>`` and
``||g(t)||^2`` (the first trial of an L-BFGS direction also reads
``<g, p>``, to check it descends). ``<s, y>`` for the pair test is
``t (J'(t) - J'(0))``, from those. With lines, each trial reads J and J'
(one transfer), and the step accepted ``||g||^2`` and ``<s, y>`` (one more:
the line's J' is ``Q D``, whose rounding differs from ``<g(t), p>``'s at
J's floor, and the pair's test must see the ``<s, y>`` the memory holds).
With `settle` (Dask), each evaluated point and each new pair is computed as
it is made, so the graph stays one iteration deep.

**Softmax.** J does not change when the same number is added to every
class's bias (and, without L2, the same vector to every class's weights);
the start and each direction are centred over the classes along those
directions, so the iterates stay centred as scikit-learn's optimum is, and
the rounding does not drift along a direction J does not see.
"""

from __future__ import annotations

import math
import numbers
from collections import deque
from dataclasses import dataclass

from array_api_compat import is_dask_array

from .. import _backends, _warnings
from .._warnings import ConvergenceWarning
from ..data import dask as dask_data
from ._loop import (OptimizeResult, TrainingDiverged, TrainingInterrupted, _default_loss, _matrix_params,
                    _shaped_interrupt, _sum_sq)
from .._namespace import array_namespace

__all__ = ["LBFGSResult", "lbfgs", "lbfgs_loop", "ConvergenceWarning"]

#: Sufficient decrease (Armijo) and curvature constants of the Wolfe conditions.
C1, C2 = 1e-4, 0.9

#: The curvature constant of the binary loss's line searches where its trials are cheap (lines, module
#: notes): a closer minimum along each direction, for more trials at the cost of elementwise work, and fewer
#: iterations, each two products over X. Measured with C2_LINES at 0.9, 0.5, 0.3 and 0.1 (AMD EPYC, 2 vCPUs;
#: solver="lbfgs", iterations, best of two): 0.3 had the fewest iterations or tied on every problem tried
#: (benchopt 100,000 x 400 18/16/14/14, 0.58/0.52/0.51/0.55 s; 100,000 x 100 45/44/33/39; breast cancer
#: 21/19/18/18; benchopt 200 x 500 12/12/10/13 and 1,000 x 10 17/16/14/14; and, for the softmax, the
#: 1,000-class probe 13/12/11/11 and digits 119/113/106/102), the least time on the large binary ones, and
#: none saved on the softmax's (benchmarks/results/bench_lines.txt), which keeps :data:`C2`.
C2_LINES = 0.3

#: Pairs ``(s, y)`` kept by default (SciPy's ``maxcor``).
MEMORY = 10

#: Evaluations of J per line search at most (SciPy's ``maxls`` is 20, scikit-learn passes 50).
MAX_LINE_SEARCH = 30

#: J is "within rounding" of J0 when ``|J - J0| <= ROUNDING * eps * |J0|`` (as newton.py, and
#: scikit-learn's ``ftol = 64 eps``), eps the dtype's.
ROUNDING = 64

#: With lines (:meth:`xlogreg._loss.LogisticLoss.line`), the logits handed from line to line are
#: recomputed from the iterate every this many iterations: each hand-over adds its rounding (about an eps
#: of the logits), and this bounds the drift to that of a few products. One product per 16 iterations.
LINE_REFRESH = 16

#: Iterations in a row that leave J within rounding and do not shrink the gradient's norm: the run stops.
STALLS = 5

#: Iterations in a row that leave J within rounding, with the gradient's norm at the dtype's reach
#: (at most ``64 eps`` times the start's) and not brought below :data:`STALL_SHRINK` times where that
#: run began: the run stops too. In float32 the norm jitters at its floor, and :data:`STALLS` alone is
#: reset by every downward jitter (scikit-learn's float32 tests at tol=1e-12 ran to ``max_iter``).
#: The floor keeps the rule out of float64 fits that still converge: on ill-conditioned data (digits)
#: L-BFGS may take tens of iterations within rounding of J before the norm halves.
FLAT = 10
STALL_SHRINK = 0.5


@dataclass
class LBFGSResult(OptimizeResult):
    """:class:`xlogreg.solvers.OptimizeResult`, and why the run stopped.

    ``stop`` is ``"tol"`` (the gradient's norm at most `tol`; ``converged``
    True), ``"max_iter"``, or ``"rounding"`` (no step decreases J beyond the
    rounding of the dtype; ``converged`` True only where the model predicts no decrease beyond it either).
    """

    stop: str = "max_iter"


def _dot(a, c, xp=None):
    """``<a, c>`` over the pairs ``(W, b)``, a 0-d array; `xp` the arrays' namespace, if the caller has it.

    The loop passes it: some 40 inner products per iteration, and on small
    problems (200 x 500) looking the namespace up each time was a tenth of the fit.
    """
    xp = array_namespace(a[0]) if xp is None else xp
    return xp.sum(a[0] * c[0]) + xp.sum(a[1] * c[1])


def _host(*scalars):
    """0-d arrays to Python floats in one transfer: the loop's only host synchronisation."""
    xp = array_namespace(scalars[0])
    return [float(v) for v in _backends.to_numpy(xp.stack(scalars)).tolist()]


def _two_loop(g, pairs, xp=None):
    """``-H g`` by the two-loop recursion over `pairs` ``(s, y, rho, yy)``, oldest first (module notes)."""
    xp = array_namespace(g[0]) if xp is None else xp
    q = g
    coefficients = []
    for s, y, rho, _ in reversed(pairs):
        a = rho * _dot(s, q, xp)
        q = (q[0] - a * y[0], q[1] - a * y[1])
        coefficients.append(a)
    s, y, rho, yy = pairs[-1]
    gamma = 1 / (rho * yy)  # <s, y> / <y, y>: the scale of the newest curvature
    r = (gamma * q[0], gamma * q[1])
    for (s, y, rho, _), a in zip(pairs, reversed(coefficients)):
        c = rho * _dot(y, r, xp)
        r = (r[0] + (a - c) * s[0], r[1] + (a - c) * s[1])
    return -r[0], -r[1]


def _cubic_minimum(t1, f1, d1, t2, f2, d2, low, high):
    """The minimiser of the cubic through ``(t, f, f')`` at t1 and t2, clipped to [low, high]; None if none."""
    try:
        e = d1 + d2 - 3 * (f1 - f2) / (t1 - t2)
        square = e * e - d1 * d2
        if not square >= 0:
            return None
        root = math.sqrt(square)
        if t1 <= t2:
            t = t2 - (t2 - t1) * (d2 + root - e) / (d2 - d1 + 2 * root)
        else:
            t = t1 - (t1 - t2) * (d1 + root - e) / (d1 - d2 + 2 * root)
    except (ZeroDivisionError, OverflowError, ValueError):
        return None
    return min(max(t, low), high) if math.isfinite(t) else None


@dataclass
class _Trial:
    """One point of the line search: step, J, J' along p, ``||g||^2``, and its arrays (W, b, J, dW, db)."""

    t: float
    phi: float
    dphi: float
    gg: float
    state: tuple = None
    extra: float = None


def _at_precision(g_norm, tol, predicted, rounding):
    """Whether a run stopped on rounding has converged as far as its dtype allows.

    True where `tol` is met, or where the L-BFGS model's predicted decrease at its minimiser
    (``-<g, p> / 2``, the last one computed) is itself within the rounding of J: no step can then
    lower J measurably, as for Newton's stop at the dtype's precision (:mod:`xlogreg.solvers.newton`).
    A stop where a decrease beyond rounding was predicted (or none was: steepest descent only)
    is not converged.
    """
    return g_norm <= tol or (predicted is not None and predicted <= rounding)


def _line_search(trial, phi0, dphi0, t, rounding, max_evals, first=None, c2=C2):
    """A step satisfying the strong (or, within rounding, approximate) Wolfe conditions; ``(trial, evals)``.

    ``trial(t)`` evaluates J at step t and returns a :class:`_Trial`; `first`
    is the trial at `t` if already evaluated. On failure the trial returned
    is the best point found with a decrease beyond `rounding`, or None.
    """
    return _drive(_line_search_steps(phi0, dphi0, t, rounding, max_evals, first, c2), trial)


def _drive(steps, trial):
    """Run the generator `steps` (it yields a step t, is sent ``trial(t)``) to its return value."""
    try:
        t = next(steps)
        while True:
            t = steps.send(trial(t))
    except StopIteration as stop:
        return stop.value


def _line_search_steps(phi0, dphi0, t, rounding, max_evals, first=None, c2=C2):
    """:func:`_line_search` as a generator: yields each step t to evaluate, is sent its :class:`_Trial`.

    Returns (``StopIteration.value``) ``(trial, evals)`` as :func:`_line_search`.
    The caller chooses how trials are evaluated: one at a time
    (:func:`_line_search`), or the line searches of several folds in one
    batched evaluation (:mod:`xlogreg.solvers.path_lbfgs`), each fold's own
    generator asking for its own t.
    """
    def acceptable(x):
        if x.phi <= phi0 + C1 * x.t * dphi0 and abs(x.dphi) <= -c2 * dphi0:
            return True  # strong Wolfe
        return x.phi <= phi0 + rounding and c2 * dphi0 <= x.dphi <= (2 * C1 - 1) * dphi0  # approximate Wolfe

    def beyond(x, lo):
        """x is past the minimum along the line, or too high to be the low end of a bracket."""
        if not (math.isfinite(x.phi) and math.isfinite(x.dphi)) or x.dphi >= 0:
            return True
        return x.phi > max(phi0 + C1 * x.t * dphi0, phi0 + rounding) or x.phi > lo.phi + rounding

    lo = _Trial(0.0, phi0, dphi0, None)
    hi = None
    evals = 0
    while evals < max_evals:
        if hi is None:  # bracketing: t grows until it passes the minimum
            x = first if (evals == 0 and first is not None) else (yield t)
        else:  # zoom: t between lo and hi
            width = hi.t - lo.t
            if abs(width) <= 1e-12 * max(abs(hi.t), abs(lo.t)):
                break
            a, c = lo.t + 0.1 * width, hi.t - 0.1 * width
            t = None
            if math.isfinite(hi.phi) and math.isfinite(hi.dphi):
                if abs(hi.phi - lo.phi) > rounding:
                    t = _cubic_minimum(lo.t, lo.phi, lo.dphi, hi.t, hi.phi, hi.dphi, min(a, c), max(a, c))
                elif hi.dphi > lo.dphi:  # values within rounding: the secant on the derivative
                    t = min(max(lo.t - lo.dphi * width / (hi.dphi - lo.dphi), min(a, c)), max(a, c))
            if t is None:
                t = lo.t + width / 2
            x = yield t
        evals += 1
        if math.isfinite(x.phi) and acceptable(x):
            return x, evals
        if beyond(x, lo):
            hi = x
        elif hi is None:
            previous = lo
            lo = x
            t = _cubic_minimum(previous.t, previous.phi, previous.dphi, x.t, x.phi, x.dphi,
                               x.t + 0.1 * (x.t - previous.t), 10 * x.t) or 2 * x.t
        else:
            lo = x
    return (lo if lo.t > 0 and lo.phi < phi0 - rounding else None), evals


def _check_arguments(loss, W, b, tol, max_iter, memory, max_line_search):
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite real number >= 0; got {tol!r}")
    for value, name, least in ((max_iter, "max_iter", 0), (memory, "memory", 1),
                               (max_line_search, "max_line_search", 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}; got {value!r}")
    n_x, k = loss.X.shape[0], loss.k
    if tuple(W.shape) != (n_x, k):
        raise ValueError(f"W must have shape ({n_x}, {k}) (features, rows of logits) to match the loss; "
                         f"got shape {tuple(W.shape)}")
    if tuple(b.shape) != (k, 1):
        raise ValueError(f"b must have shape ({k}, 1) to match the loss; got shape {tuple(b.shape)}")
    xp = array_namespace(loss.X)
    for name, a in (("W", W), ("b", b)):
        if array_namespace(a) is not xp or a.dtype != loss.X.dtype:
            raise TypeError(f"{name} must be an array of X's namespace and dtype ({loss.X.dtype}); "
                            f"got {type(a).__module__}.{type(a).__name__} of dtype {a.dtype}")


def lbfgs(loss, W, b, *, tol=1e-4, max_iter=100, memory=MEMORY, fit_intercept=True,
          max_line_search=MAX_LINE_SEARCH, record=None, settle=None):
    """Minimise `loss` from ``(W, b)`` by L-BFGS; returns an :class:`LBFGSResult`.

    Minimises ``J(W, b) = sum_i s_i L_i / S + l2 / (2 S) ||W||^2`` (the
    loss's objective; the biases are not penalised) with the two-loop
    recursion on the pairs ``(W, b)`` and a strong Wolfe line search (see the
    module notes).

    Parameters
    ----------
    loss : xlogreg._loss.LogisticLoss
    W : array of shape (n_x, k)
    b : array of shape (k, 1)
        The start, in the namespace, device and dtype of ``loss.X``.
    tol : float >= 0
        Stop when the gradient's Euclidean norm (W and b together; W alone
        without `fit_intercept`) is at most this.
    max_iter : int >= 0
        Iterations at most; a :class:`ConvergenceWarning` when they end before `tol`.
    memory : int >= 1
        Pairs ``(s, y)`` kept.
    fit_intercept : bool
        False keeps b as given (its gradient is taken as zero, also in the norm).
    max_line_search : int >= 1
        Evaluations of J per line search at most.
    record : callable, optional
        ``record(i, cost, state)`` once the objective of iterate i is known
        (i = 0 is the start); ``state()`` gives its ``(W, b)``.
    settle : callable, optional
        ``settle(*arrays)`` returns them computed (Dask: so that the graph
        stays one iteration deep). Default: :func:`xlogreg.data.dask.materialize`
        where X is a Dask array (each evaluation of J is then one task per
        chunk of X, one read of it), none elsewhere.

    Returns
    -------
    LBFGSResult
        ``w``, ``b``, the gradient ``dw``, ``db`` there, the costs
        ``[(i, J)]`` of every iterate, the iterations, ``converged`` and ``stop``.

    Raises
    ------
    xlogreg.TrainingDiverged
        J is not finite at the start.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg._loss import LogisticLoss
    >>> from xlogreg.solvers.lbfgs import lbfgs
    >>> X = xp.asarray([[0.0, 1.0, 2.0, 3.0]])
    >>> loss = LogisticLoss(X, xp.asarray([[0.0, 1.0, 0.0, 1.0]]), l2=1.0)
    >>> result = lbfgs(loss, *loss.zeros(), tol=1e-10)
    >>> result.converged, result.stop, result.iterations < 20
    (True, 'tol', True)
    """
    _check_arguments(loss, W, b, tol, max_iter, memory, max_line_search)
    if settle is None and is_dask_array(loss.X):
        settle = dask_data.materialize
    xp = array_namespace(loss.X)
    eps = float(xp.finfo(loss.X.dtype).eps)
    centre_b = loss.multinomial and fit_intercept
    centre_W = loss.multinomial and not loss.alpha  # with L2 the optimum is centred and J is not flat that way

    def centred(V, vb):
        if centre_W:
            V = V - xp.mean(V, axis=1, keepdims=True)
        if centre_b:
            vb = vb - xp.mean(vb, axis=0, keepdims=True)
        return V, vb

    def evaluate(W, b):
        J, dW, db = loss.value_and_gradient(W, b)
        if not fit_intercept:
            db = xp.zeros_like(db)
        if settle is not None:
            W, b, J, dW, db = settle(W, b, J, dW, db)
        return W, b, J, dW, db

    W, b = centred(W, b)
    W, b, J, dW, db = evaluate(W, b)
    g = (dW, db)
    cost, gg = _host(J, _dot(g, g, xp))
    lines = settle is None and getattr(loss, "line_ready", False)
    Z = None  # with lines, the logits at (W, b) where the last line handed them over
    pairs = deque(maxlen=memory)
    costs = []
    stalls = flat = 0
    floor_gg = (ROUNDING * eps) ** 2 * gg  # ||g||^2 at the dtype's reach: the start's, times (64 eps)^2
    streak_gg = None  # ||g||^2 where the current run of iterations within rounding began (or last halved)
    predicted = None  # J's decrease that the L-BFGS model predicts at its minimiser, -<g, p> / 2
    for i in range(max_iter + 1):
        if not math.isfinite(cost):
            raise TrainingDiverged(f"lbfgs: the cost is {cost} at iteration {i}; the data or the starting point "
                                   "give non-finite values")
        costs.append((i, cost))
        if record is not None:
            record(i, cost, lambda W=W, b=b: (W, b))
        g_norm = math.sqrt(max(gg, 0.0))
        if g_norm <= tol:
            return LBFGSResult(W, b, dW, db, costs, i, "lbfgs", True, stop="tol")
        if i == max_iter:
            break
        rounding = ROUNDING * eps * abs(cost)
        accepted = None
        predicted = None  # no model of the curvature along -g; an L-BFGS direction of this iteration sets it
        if lines and i % LINE_REFRESH == 0:
            Z = None  # the line computes them from (W, b)
        for steepest in ((False, True) if pairs else (True,)):
            if steepest:  # keeps this iteration's L-BFGS prediction, if any: -g only searches once more
                pairs.clear()
                p, t0 = (-dW, -db), min(1.0, 1 / g_norm)
            else:
                p = centred(*_two_loop(g, list(pairs), xp))
                if settle is not None:
                    p = settle(*p)
                t0 = 1.0
            for on_lines in ((True, False) if lines else (False,)):
                first = None
                if on_lines:
                    line = loss.line(W, b, *p, Z)
                    Z = line.Z

                    def trial(t, line=line):
                        return _Trial(t, *_host(*line.value_and_slope(t)), None, state=line)
                    if not steepest:
                        phi, dphi, slope0 = _host(*line.value_and_slope(t0), _dot(g, p, xp))
                        first = _Trial(t0, phi, dphi, None, line, slope0)
                else:
                    def trial(t, p=p):
                        return _evaluate_along(evaluate, W, b, p, t, xp=xp)
                    if not steepest:
                        first = _evaluate_along(evaluate, W, b, p, t0, extra=_dot(g, p, xp), xp=xp)
                dphi0 = -gg if steepest else first.extra
                if not dphi0 < 0:  # not a descent direction (rounding in the memory): steepest descent
                    break
                if not steepest:
                    predicted = -0.5 * dphi0
                c2 = C2_LINES if on_lines and not loss.multinomial else C2
                accepted, _ = _line_search(trial, cost, dphi0, t0, rounding, max_line_search, first, c2)
                if accepted is None and c2 < C2:  # at J's floor the closer minimum may be out of
                    # reach where the usual one is not (digits at tol=1e-10 stopped early): ask for that one
                    accepted, _ = _line_search(trial, cost, dphi0, t0, rounding, max_line_search, first, C2)
                if accepted is not None:
                    break
                if on_lines:  # failed on the line's J and J' (their rounding is not the full evaluation's at
                    lines = Z = None  # J's floor): the same direction once more on full evaluations, and no
                    # lines for the rest of the run, as after an iteration within rounding (below)
            if accepted is not None:
                break
        if accepted is None:  # no step decreases J beyond rounding, even along -g
            return LBFGSResult(W, b, dW, db, costs, i, "lbfgs", _at_precision(g_norm, tol, predicted, rounding),
                               stop="rounding")
        s = (accepted.t * p[0], accepted.t * p[1])
        if lines:  # the gradient at the step accepted: one product; then its norm and <s, y> in one transfer
            W_new, b_new, Z, J, dW_new, db_new = accepted.state.point(accepted.t)
            accepted.state = line = first = trial = None  # the line's direction and trial logits: freed before
            # the next line makes its own (two lines' (k, m) arrays would otherwise be held at once)
            if not fit_intercept:
                db_new = xp.zeros_like(db_new)
            y = (dW_new - dW, db_new - db)
            sy = _dot(s, y, xp)  # J'(t) of the line is Q D, not <g(t), p>: their rounding differs at J's floor
            accepted.gg, ys = _host(_dot((dW_new, db_new), (dW_new, db_new), xp), sy)
        else:
            W_new, b_new, J, dW_new, db_new = accepted.state
            y = (dW_new - dW, db_new - db)
            sy = None
            ys = accepted.t * (accepted.dphi - dphi0)  # <s, y>, from the scalars already read
        if ys > 0:
            pair = (*s, *y, 1 / (_dot(s, y, xp) if sy is None else sy), _dot(y, y, xp))
            if settle is not None:
                pair = settle(*pair)
            pairs.append(((pair[0], pair[1]), (pair[2], pair[3]), pair[4], pair[5]))
        if accepted.phi > cost - rounding:  # J within rounding: progress is the gradient's norm shrinking
            lines = Z = None  # and the trials evaluate J and its gradient in full, the floor's tests' terms
            stalls = stalls + 1 if accepted.gg >= gg else 0
            streak_gg = gg if streak_gg is None else streak_gg
            if accepted.gg < streak_gg * STALL_SHRINK ** 2 or accepted.gg > floor_gg:
                flat, streak_gg = 0, accepted.gg
            else:
                flat += 1
        else:
            stalls, flat, streak_gg = 0, 0, None
        W, b, dW, db = W_new, b_new, dW_new, db_new
        g = (dW, db)
        cost, gg = accepted.phi, accepted.gg
        if stalls >= STALLS or flat >= FLAT:
            costs.append((i + 1, cost))
            if record is not None:
                record(i + 1, cost, lambda W=W, b=b: (W, b))
            g_norm = math.sqrt(max(gg, 0.0))
            converged = _at_precision(g_norm, tol, predicted, ROUNDING * eps * abs(cost))
            return LBFGSResult(W, b, dW, db, costs, i + 1, "lbfgs", converged,
                               stop="tol" if g_norm <= tol else "rounding")
    _warnings.warn(f"lbfgs: {max_iter} iterations ended before the gradient's norm fell to tol={tol} "
                   f"(it is {g_norm:.3g}); increase max_iter, or loosen tol", ConvergenceWarning)
    return LBFGSResult(W, b, dW, db, costs, max_iter, "lbfgs", False, stop="max_iter")


def _evaluate_along(evaluate, W, b, p, t, extra=None, xp=None):
    """The :class:`_Trial` at ``(W, b) + t p``: one value and gradient, one host transfer.

    `extra`, a 0-d array, is read in the same transfer (``trial.extra``).
    """
    state = evaluate(W + t * p[0], b + t * p[1])
    _, _, J, dW, db = state
    g = (dW, db)
    scalars = [J, _dot(g, p, xp), _dot(g, g, xp)] + ([] if extra is None else [extra])
    values = _host(*scalars)
    return _Trial(t, *values[:3], state, values[3] if extra is not None else None)


#: :func:`lbfgs_loop` warns when the cost without L2 ends below this: separable data.
SEPARABLE_COST = 1e-6


def lbfgs_loop(w, b, X, Y, num_iterations, record_every, print_cost=False, callback=None, *, loss=None,
               tol=None):
    """L-BFGS with the loops' interface (``xlogreg.train(solver="lbfgs")``); returns an :class:`LBFGSResult`.

    At most `num_iterations` iterations; `tol` None runs until no step
    decreases the cost beyond rounding. The cost of every `record_every`-th
    iterate is recorded (and printed); ``callback(i, cost)`` follows every
    iteration. Ctrl-C raises :class:`TrainingInterrupted` with the last
    iterate whose cost is known. On Dask, the iterate, the gradient and the
    memory are computed every iteration (:func:`xlogreg.data.dask.materialize`).
    """
    loss = _default_loss(X, Y, loss)
    W, b, back = _matrix_params(w, b)
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

    with _shaped_interrupt(back):
        try:
            result = lbfgs(loss, W, b, tol=0.0 if tol is None else tol, max_iter=num_iterations, record=record,
                           settle=dask_data.materialize if is_dask_array(X) else None)
        except KeyboardInterrupt:
            state, done = reached[0]
            raise TrainingInterrupted(OptimizeResult(*state(), None, None, costs, done, "lbfgs")) from None
    if result.iterations not in [i for i, _ in costs] and result.costs:
        costs.append(result.costs[-1])  # the final cost, recorded whatever record_every says
    if not loss.alpha and costs and costs[-1][1] < SEPARABLE_COST:
        norm = math.sqrt(float(_sum_sq(result.w)))
        _warnings.warn(
            f"lbfgs: the cost fell to {costs[-1][1]:.3g}: the training data look linearly separable, and "
            f"without L2 the optimum is at infinity; the weights returned are those reached after "
            f"{result.iterations} iterations (norm {norm:.3g}). Use l2 > 0 for a finite optimum",
            ConvergenceWarning)
    return back(LBFGSResult(result.w, result.b, result.dw, result.db, costs, result.iterations, "lbfgs",
                            result.converged, stop=result.stop))
