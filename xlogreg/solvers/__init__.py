"""The solvers: each family in its own module, all talking to the loss object and the data interface.

=====================  ===============================================================
module                 what it holds
=====================  ===============================================================
:mod:`._dispatch`      :func:`run` (every loop's entry point) and :func:`choose_solver`
:mod:`.gd`             gradient descent on X, the course's loop (``"primal"``)
:mod:`.dual`           the same iterates on the Gram matrix (``"dual"``)
:mod:`.newton`         Newton-CG and Newton-Cholesky (``"newton-cg"``, ``"newton-cholesky"``)
:mod:`.lbfgs`          L-BFGS with a strong Wolfe line search (``"lbfgs"``)
:mod:`.agd`            accelerated gradient descent (the estimator's ``"agd"``)
:mod:`._loop`          what every loop shares: :class:`OptimizeResult`, recorded costs,
                       the stopping rule, the divergence checks
=====================  ===============================================================

A solver asks the loss object (:class:`xlogreg._loss.LogisticLoss`) for values,
gradients and Hessian products, and the data interface (:mod:`xlogreg.data`) for
passes over X; it never multiplies X itself. A new solver is one new module here,
and one line in :func:`run`'s choice (and the estimator's, if it offers it).
"""

from __future__ import annotations

from ._dispatch import SOLVERS, choose_solver, run
from ._loop import OptimizeResult, TrainingDiverged, TrainingInterrupted

__all__ = ["SOLVERS", "OptimizeResult", "TrainingDiverged", "TrainingInterrupted", "choose_solver", "run"]
