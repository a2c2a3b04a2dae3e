"""Choose a solver and run it: :func:`run`, the entry point of every training loop.

``"primal"`` (:mod:`xlogreg.solvers.gd`), ``"dual"``
(:mod:`xlogreg.solvers.dual`), ``"newton-cg"`` and ``"newton-cholesky"``
(:mod:`xlogreg.solvers.newton`), ``"lbfgs"`` (:mod:`xlogreg.solvers.lbfgs`), ``"prox-newton"``
(:mod:`xlogreg.solvers.prox_newton`, the one that takes an L1 `penalty`); ``"auto"`` picks primal or dual from the
shapes (:func:`choose_solver`). :func:`run` checks what every loop needs
checked, runs the loop with the backend's floating-point warnings off (a
diverging run is reported as :class:`~xlogreg.solvers.TrainingDiverged`, not as
an overflow warning), then checks the result for divergence.
"""

from __future__ import annotations

from array_api_compat import device as get_device, is_dask_array

from .. import _backends, data
from .. import _validation as v
from ..data import compiled
from . import _loop
from ._loop import _check_final, _default_loss, check_not_diverged
from .dual import dual_loop
from .gd import primal_loop
from .lbfgs import lbfgs_loop
from .newton import newton_loop
from .prox_newton import prox_newton_loop
from .._namespace import array_namespace

__all__ = ["SOLVERS", "choose_solver", "run"]


SOLVERS = ("auto", "primal", "dual", "newton-cg", "newton-cholesky", "lbfgs", "prox-newton")


def choose_solver(n_x, m, num_iterations, itemsize=8, *, lazy=False, k=1, work=None, gram_work=None):
    """Pick ``"primal"`` or ``"dual"`` from the problem's shape.

    With k rows of logits (1 for the binary loss, K classes for softmax), the
    dual solver costs one Gram product (``n_x m^2``) plus ``k m^2`` per
    iteration; the primal one ``2 k n_x m`` per iteration. Dual is chosen when
    it is cheaper by that count and its m x m Gram matrix fits in
    :func:`xlogreg.solvers._loop._gram_limit_bytes` (on lazy backends, also at most as big as X).
    For a sparse X, `work` (the stored entries) replaces ``n_x m`` and
    `gram_work` (:func:`xlogreg.data.sparse.gram_work`) the Gram product's ``n_x m^2``.
    """
    gram_bytes = m * m * itemsize
    if gram_bytes > _loop._gram_limit_bytes() or (lazy and m > n_x):
        return "primal"
    dual_work = (n_x * m * m if gram_work is None else gram_work) + num_iterations * k * m * m
    primal_work = 2 * num_iterations * k * (n_x * m if work is None else work)
    return "dual" if dual_work < primal_work else "primal"


def run(w, b, X, Y, num_iterations, learning_rate, *, solver="auto", record_every=100,
        print_cost=False, callback=None, fused="auto", loss=None, tol=None, check_x=None, penalty=None):
    """Run gradient descent on checked inputs; returns an :class:`OptimizeResult`.

    ``b`` may be a Python float; it becomes a 0-d array of X's dtype and
    device. `loss` (:class:`xlogreg._loss.LogisticLoss` on X) carries
    softmax targets, sample weights and L2; None is Y's unweighted binary
    loss. With `tol`, the loop stops at the first recorded iteration (every
    `record_every`, from 0) where the gradient's Euclidean norm, over W and b
    together, is at most `tol`; the parameters returned are those of that
    iteration, exactly those a run of that many iterations returns, and
    ``result.converged`` is True.

    `check_x` is None where X is known to hold only finite values; else
    X's name, and X is checked here (:func:`xlogreg._validation.check_finite`,
    a ValueError naming it), or, where the compiled primal pass runs, by that
    pass's first gradient (:func:`xlogreg.solvers.gd._check_x_by_pass`), which saves a read of X.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)}; got {solver!r}")
    compiled.check_fused_option(fused)
    xp = array_namespace(X)
    if not v.is_array(b):
        b = xp.asarray(b, dtype=X.dtype, device=get_device(X))
    loss = _default_loss(X, Y, loss)
    if penalty is not None and penalty.l1_alpha:
        if solver not in ("auto", "prox-newton"):
            raise ValueError(f"solver={solver!r} cannot fit an L1 penalty (l1 > 0): use solver='prox-newton' "
                             "or 'auto'")
        solver = "prox-newton"
    if solver == "auto":
        n_x, m = X.shape
        itemsize = xp.finfo(X.dtype).bits // 8
        ops = data.operations(X)
        solver = choose_solver(n_x, m, num_iterations, itemsize, lazy=is_dask_array(X), k=loss.k,
                               work=ops.product_work(X), gram_work=ops.gram_work(X))
    if check_x is not None and solver != "primal":
        v.check_finite(X, check_x)
        check_x = None
    # Overflow in a diverging run is detected where costs are recorded and at
    # the end, and raised as TrainingDiverged; the backend's own floating-point
    # warnings would only pre-empt that clear error.
    with _backends.floating_point_errors_ignored(xp):
        if solver == "prox-newton":
            if fused is True:
                raise ValueError("fused=True cannot run here: the compiled kernels are gradient-descent loops; "
                                 "prox-newton runs on the Array API")
            result = prox_newton_loop(w, b, X, Y, num_iterations, record_every, print_cost, callback, loss=loss,
                                      penalty=penalty, tol=tol)
        elif solver.startswith("newton") or solver == "lbfgs":
            if fused is True:
                raise ValueError("fused=True cannot run here: the compiled kernels are gradient-descent loops; "
                                 f"{solver} runs on the Array API")
            if solver == "lbfgs":
                result = lbfgs_loop(w, b, X, Y, num_iterations, record_every, print_cost, callback, loss=loss,
                                    tol=tol)
            else:
                result = newton_loop(w, b, X, Y, num_iterations, record_every, print_cost, callback, loss=loss,
                                     tol=tol, method=solver)
        elif solver == "dual":
            result = dual_loop(w, b, X, Y, num_iterations, learning_rate, record_every, print_cost, callback,
                               fused=fused, loss=loss, tol=tol)
        else:
            result = primal_loop(w, b, X, Y, num_iterations, learning_rate, record_every, print_cost, callback,
                                 fused=fused, loss=loss, tol=tol, check_x=check_x)
        _check_final(result.w, result.b, result.iterations)
    if len(result.costs) >= 2:
        check_not_diverged(result.costs[0][1], result.costs[-1][1], result.iterations)
    return result
