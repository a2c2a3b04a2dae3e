"""What every training loop shares: its result, its recorded costs, its stopping and divergence checks.

A loop (:mod:`xlogreg.solvers.gd`, :mod:`~xlogreg.solvers.dual`,
:mod:`~xlogreg.solvers.newton`) returns an :class:`OptimizeResult`; it records
the cost every ``record_every`` iterations (:func:`_record`, the one host
synchronisation, where divergence is detected), stops where the gradient's norm
is at most ``tol`` (:func:`_converged`), and gives the caller back its own
shapes of b (:func:`_matrix_params`), also when Ctrl-C raises
:class:`TrainingInterrupted`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field


from .. import _loss, _machine
from .._namespace import array_namespace

__all__ = ["OptimizeResult", "TrainingDiverged", "TrainingInterrupted", "check_not_diverged", "GRAM_LIMIT_BYTES"]

#: The dual solver is not chosen automatically when its Gram matrix would
#: exceed this many bytes, nor an eighth of the memory this process may use
#: (:func:`_gram_limit_bytes`). Not a measurement: room for the Gram matrix
#: beside X on the recorded machine (23.5 GiB), and on smaller ones.
GRAM_LIMIT_BYTES = 2 * 2**30


def _gram_limit_bytes():
    """:data:`GRAM_LIMIT_BYTES`, at most an eighth of the memory (:func:`xlogreg._machine.memory_bytes`)."""
    return min(GRAM_LIMIT_BYTES, _machine.memory_bytes() // 8)


class TrainingDiverged(FloatingPointError):
    """The cost or the parameters stopped being finite during training."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; carries the state reached.

    Attributes
    ----------
    result : OptimizeResult
        Parameters and costs after the last completed iteration.
    model : xlogreg.Model or None
        Set by :func:`xlogreg.train`: the model trained so far, marked
        ``interrupted=True``.
    """

    def __init__(self, result):
        super().__init__(f"training interrupted after {result.iterations} iterations")
        self.result = result
        self.model = None


@dataclass
class OptimizeResult:
    w: object
    b: object
    dw: object
    db: object
    costs: list = field(default_factory=list)
    iterations: int = 0
    solver: str = "primal"
    converged: bool = False
    #: ``(W, b) -> W.T X + b`` where the loop has a faster way than the loss's (the compiled pass), else None.
    logits: object = None


def _record(costs, i, cost, print_cost):
    value = float(cost)  # the one host sync, every record_every iterations
    if not math.isfinite(value):
        last = f" (last finite cost {costs[-1][1]:.6f} at iteration {costs[-1][0]})" if costs else ""
        raise TrainingDiverged(
            f"training diverged: the cost is {value} at iteration {i}{last}; "
            "the learning rate is probably too large, try a smaller one"
        )
    costs.append((i, value))
    if print_cost:
        print("Cost after iteration %i: %f" % (i, value))


def _converged(gradient_sq, tol):
    """The stopping rule: the gradient's Euclidean norm (W and b together) at most `tol`."""
    return tol is not None and math.sqrt(max(float(gradient_sq), 0.0)) <= tol


def _sum_sq(*arrays):
    xp = array_namespace(arrays[0])
    return sum(xp.sum(a * a) for a in arrays)


def _notify(callback, i, costs, recorded):
    if callback is not None:
        callback(i, costs[-1][1] if recorded else None)


def _check_final(w, b, iterations):
    xp = array_namespace(w)
    if not (bool(xp.all(xp.isfinite(w))) and bool(xp.all(xp.isfinite(b)))):
        raise TrainingDiverged(
            f"training diverged: the parameters are not finite after {iterations} iterations; "
            "the learning rate is probably too large, try a smaller one"
        )


#: :func:`check_not_diverged`: a run that ends at more than this many times
#: the cost it started from has blown up.
DIVERGED_FACTOR = 10.0


def check_not_diverged(start_cost, final_cost, iterations):
    """Raise :class:`TrainingDiverged` when training ended far above the cost it started from.

    Gradient descent with a step that converges never ends above its start;
    a step that is too large can blow the cost up by orders of magnitude
    while every number stays finite (0.69 to 5e4 at a learning rate of 1e6).
    The rule: ``final_cost > DIVERGED_FACTOR * start_cost + 1e-7`` (from zero,
    the start is log 2, or log K for K classes: a final cost above ten times
    that is a model far worse than predicting nothing). A run that oscillates
    for a while and then settles (the course data at learning rates up to 50)
    ends far below its start and passes; so does a short run stopped during
    the first overshoots (the course data's cost rises from 0.693 to 0.75
    within its first 10 iterations at 0.005, then falls).
    """
    if final_cost > DIVERGED_FACTOR * start_cost + 1e-7:
        raise TrainingDiverged(
            f"training diverged: the cost rose from {start_cost:.6g} at the start to {final_cost:.6g} after "
            f"{iterations} iterations, although every number stayed finite; the learning rate is too large "
            "for this data, try a smaller one (for example a tenth of it)"
        )


def _matrix_params(w, b):
    """``(W, b)`` as ``(n_x, k)`` and ``(k, 1)``, and a function giving a result back in the caller's shapes.

    The course passes b as a number (a 0-d array here); the result's b and db are then 0-d too.
    """
    xp = array_namespace(w)
    k = w.shape[1]
    if b.ndim == 2:
        return w, b, _identity
    b = xp.reshape(b, (k, 1))

    def back(result):
        result.b = xp.reshape(result.b, ())
        result.db = None if result.db is None else xp.reshape(result.db, ())
        return result

    return w, b, back


def _identity(a):
    return a


@contextlib.contextmanager
def _shaped_interrupt(back):
    """Give a :class:`TrainingInterrupted`'s result the caller's shapes too (see :func:`_matrix_params`)."""
    try:
        yield
    except TrainingInterrupted as exc:
        back(exc.result)
        raise


def _default_loss(X, Y, loss):
    return loss if loss is not None else _loss.LogisticLoss(X, Y)
