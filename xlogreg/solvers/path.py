"""The regularisation path of cross-validation, with the folds of one C fitted as one batched problem.

Choosing C by k-fold cross-validation fits ``k x len(Cs)`` models. Along
each fold's path the fits go from the largest penalty (smallest C) to the
smallest, each warm-started from the previous one: a few Newton iterations
per C. What this module adds is that **the folds of one C share X**: fold f
is the whole X with its held-out examples weighted 0, so the folds are one
problem with ``F k`` rows of logits,

    Z = [W_1 ... W_F].T X + b        shape (F k, m)

one product with X for every fold (and one ``X R.T`` for every fold's
gradient), instead of F passes over F training subsets. Each fold keeps its
own weights (its row of `fold_weights`), its own total weight ``S_f``, its own
penalty ``l2 / S_f``, its own Newton step, line search and convergence: the
folds are independent problems that happen to be computed together. The
held-out examples are scored from the same logits (their weight in the
fold's *test* row), with no other pass.

The iterates, the Hessians and the scores stay on X's device; the host reads
a few numbers per fold per iteration (the objectives and gradient norms
for the stopping rule and the line search; in Newton-CG one pair per CG
iteration).

:func:`cross_validation_path` runs the whole search, batched (every fold
at once) or one fold at a time on its training subset (the same solver with
``F = 1``), so that the gain of batching can be measured
(``benchmarks/bench_cv.py``), by Newton's method (:func:`fold_newton`) or
by L-BFGS on the same :class:`FoldLoss` (:mod:`xlogreg.solvers.path_lbfgs`:
per-fold memory, line search and stopping, one evaluation for all folds). :func:`elastic_net_path` is the same search
with an L1 term (an l1_ratio > 0), fold by fold by proximal Newton
(:mod:`xlogreg.solvers.prox_newton`), whose working sets differ between folds.

X may be any X of the data interface: a sparse X
(:class:`~xlogreg.data.sparse.SparseMatrix`) forms its folds' Hessians
through weighted Gram products, and is never split into columns (a fold
fitted alone weights the other examples 0).

Shapes: X ``(n_x, m)`` (the engine's layout, one column per example);
the parameters of F folds ``W`` ``(n_x, F k)`` (fold f's classes in columns
``f k .. f k + k - 1``) and ``b`` ``(F k, 1)``; per-fold numbers ``(F,)``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from array_api_compat import device as get_device, is_dask_array

from .. import _backends, _loss, _warnings, data
from . import prox_newton
from ._loop import TrainingDiverged
from .path_lbfgs import fold_lbfgs
from .._namespace import array_namespace

__all__ = ["FoldLoss", "fold_newton", "held_out_scores", "cross_validation_path", "elastic_net_path", "SCORINGS",
           "METHODS", "PATH_METHODS"]

#: The scorings computed on the device from the path's own logits (others are the caller's).
SCORINGS = ("neg_log_loss", "accuracy")

#: The Newton methods of :func:`fold_newton`.
METHODS = ("newton-cholesky", "newton-cg")

#: Newton-CG along the path is preconditioned by the Gram ``Xa Xa.T`` (:func:`_cg_direction`; dense or sparse X,
#: not Dask) up to this many rows of Xa (features and intercept); above, by the Hessian's diagonal. The Gram costs ``m n1^2`` once per
#: path (about ``n1 / (2 F k)`` Hessian products) and its eigenvectors two ``(n1, n1)`` products per CG iteration.
#: Measured (session 12, ``python benchmarks/bench_cv_preconditioner.py``, ``benchmarks/results/
#: bench_cv_preconditioner.txt``; 2-vCPU VM, ``solver="newton-cg"``, 10 Cs, 5 folds): 1.12-1.66x faster than
#: Jacobi's diagonal on 7 of 8 problems (digits 1.66x: 365 Hessian products against 713, its correlated pixels;
#: 31 to 201 rows, 2 to 10 classes), 0.65x on breast_cancer (673 products against 423: its Hessian's weights
#: gather on a few examples, which the unweighted Gram does not see; ``"auto"`` solves that one by Cholesky).
#: No problem above 201 rows was measured; the limit keeps the Gram's ``n1^2`` memory and ``n1^3`` eigh small.
GRAM_PRECONDITIONER_MAX_FEATURES = 256

#: The methods of :func:`cross_validation_path`: Newton's (:func:`fold_newton`) and L-BFGS
#: (:func:`xlogreg.solvers.path_lbfgs.fold_lbfgs`, the same batched folds).
PATH_METHODS = METHODS + ("lbfgs",)


def _host(x):
    """A small device array (a few numbers per fold) as NumPy float64: the one host read of a step."""
    return np.asarray(_backends.to_numpy(x), dtype=np.float64)


def _log_probabilities(Z3, multinomial):
    """``log P`` of the logits Z3 ``(F, k, m)``: ``(F, K, m)`` (binary: ``[log(1 - a); log a]``), stable."""
    xp = array_namespace(Z3)
    if not multinomial:
        return xp.concat([-_loss.softplus(Z3), -_loss.softplus(-Z3)], axis=1)
    shifted = Z3 - xp.max(Z3, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


class FoldLoss:
    """The objectives of F folds that share X: fold f weights example i by ``fold_weights[f, i]``.

    Fold f's objective is :class:`xlogreg._loss.LogisticLoss`'s with the
    sample weights of its row (0 on its held-out examples):
    ``J_f = sum_i s_fi L_fi / S_f + l2 / (2 S_f) ||W_f||^2``, ``S_f = sum_i s_fi``
    (scikit-learn's ``C = 1 / l2`` on fold f's training set).

    Parameters
    ----------
    X : array of shape (n_x, m)
    labels : array of shape (1, m)
        Labels 0 .. K-1, in X's dtype and device.
    n_classes : int
        K (two: the binary loss, ``k = 1``; more: softmax, ``k = K``).
    fold_weights : array of shape (F, m)
        Non-negative, each row with a positive sum, in X's dtype and device.
    l2 : float
        ``1 / C`` (0: no penalty); :meth:`with_l2` gives the same folds at another C.
    fit_intercept : bool
        False keeps b at 0 (its gradient and Newton step are 0).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg.solvers.path import FoldLoss
    >>> X = xp.asarray([[0.0, 1.0, 2.0, 3.0]])
    >>> folds = xp.asarray([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 1.0]])  # two folds, one held-out each
    >>> loss = FoldLoss(X, xp.asarray([[0.0, 1.0, 0.0, 1.0]]), 2, folds, l2=1.0)
    >>> J, dW, db, Z = loss.value_and_gradient(*loss.zeros())
    >>> J.shape, dW.shape, Z.shape
    ((2,), (1, 2), (2, 4))
    """

    def __init__(self, X, labels, n_classes, fold_weights, *, l2=0.0, fit_intercept=True):
        xp = array_namespace(X)
        self.X = X
        self.n_x, self.m = X.shape
        self.multinomial = n_classes > 2
        self.k = n_classes if self.multinomial else 1
        self.n_classes = n_classes
        self.labels = labels
        self.targets = _loss.one_hot(labels, n_classes) if self.multinomial else labels  # (k, m)
        self.n_folds = fold_weights.shape[0]
        totals = xp.sum(fold_weights, axis=1, keepdims=True)  # (F, 1)
        self.s = xp.reshape(fold_weights / totals, (self.n_folds, 1, self.m))  # s_fi / S_f
        self.totals = xp.reshape(totals, (self.n_folds,))
        self.fit_intercept = bool(fit_intercept)
        self.ops = data.operations(X)
        self._shared = {}  # computed once for every C (with_l2 copies share it): [X; 1], the Gram's eigenvectors
        self._set_l2(l2)

    def _set_l2(self, l2):
        self.l2 = float(l2)
        self.alpha = self.l2 / self.totals  # (F,): each fold's l2 / S_f
        self.alpha_columns = self.columns(self.alpha)

    def with_l2(self, l2):
        """The same folds at another ``l2 = 1 / C`` (nothing recomputed but the penalties)."""
        other = object.__new__(FoldLoss)
        other.__dict__.update(self.__dict__)
        other._set_l2(l2)
        return other

    # ---------------------------------------------------------------- per-fold numbers to the parameters' shapes

    def columns(self, v):
        """Per-fold numbers ``(F,)`` as a row ``(1, F k)`` over W's columns."""
        xp = array_namespace(v)
        return xp.reshape(xp.broadcast_to(xp.reshape(v, (self.n_folds, 1)), (self.n_folds, self.k)),
                          (1, self.n_folds * self.k))

    def rows(self, v):
        """Per-fold numbers ``(F,)`` as a column ``(F k, 1)`` over b's rows."""
        xp = array_namespace(v)
        return xp.reshape(self.columns(v), (self.n_folds * self.k, 1))

    def add_scaled(self, a, v, c):
        """``a_f + v_f c_f`` of every fold for pairs ``(W, b)`` and per-fold numbers v ``(F,)``."""
        xp = array_namespace(v)
        v_columns = self.columns(v)
        return a[0] + v_columns * c[0], a[1] + xp.reshape(v_columns, (self.n_folds * self.k, 1)) * c[1]

    def fold_dot(self, a, c):
        """``<a_f, c_f>`` of each fold for pairs ``(W, b)``: shape ``(F,)``."""
        xp = array_namespace(a[0])
        F, k = self.n_folds, self.k
        return (xp.sum(xp.reshape(a[0] * c[0], (self.n_x, F, k)), axis=(0, 2))
                + xp.sum(xp.reshape(a[1] * c[1], (F, k)), axis=1))

    def zeros(self):
        """Zero ``(W, b)``: ``(n_x, F k)`` and ``(F k, 1)``, X's dtype and device."""
        xp, dev = array_namespace(self.X), get_device(self.X)
        F, k = self.n_folds, self.k
        return (xp.zeros((self.n_x, F * k), dtype=self.X.dtype, device=dev),
                xp.zeros((F * k, 1), dtype=self.X.dtype, device=dev))

    # ---------------------------------------------------------------- value, gradient, curvature

    def _probabilities(self, Z3):
        xp = array_namespace(Z3)
        if not self.multinomial:
            return _loss.sigmoid(Z3)
        E = xp.exp(Z3 - xp.max(Z3, axis=1, keepdims=True))
        return E / xp.sum(E, axis=1, keepdims=True)

    def value_and_gradient(self, W, b):
        """``(J, dW, db, Z)``: J ``(F,)``, the gradients of every fold, and the logits ``(F k, m)``.

        One product ``W.T X`` and one ``X R.T`` for every fold.
        """
        xp = array_namespace(W)
        F, k, m = self.n_folds, self.k, self.m
        Z = self.ops.forward(W, b, self.X)  # (F k, m)
        Z3 = xp.reshape(Z, (F, k, m))
        if self.multinomial:  # one exponential for the losses and the probabilities (one-hot targets)
            shifted = Z3 - xp.max(Z3, axis=1, keepdims=True)
            E = xp.exp(shifted)
            total = xp.sum(E, axis=1, keepdims=True)
            L = xp.log(total) - xp.sum(self.targets * shifted, axis=1, keepdims=True)
            P = E / total
        else:
            L = _loss.softplus(xp.where(self.targets > 0.5, -Z3, Z3))
            P = _loss.sigmoid(Z3)
        R3 = (P - self.targets) * self.s
        J = xp.sum(L * self.s, axis=(1, 2))
        if self.l2:
            J = J + self.alpha / 2 * xp.sum(xp.reshape(W * W, (self.n_x, F, k)), axis=(0, 2))
        R = xp.reshape(R3, (F * k, m))
        dW = self.ops.backward(self.X, R)
        if self.l2:
            dW = dW + self.alpha_columns * W
        db = xp.sum(R, axis=1, keepdims=True) if self.fit_intercept else b * 0
        return J, dW, db, Z

    def _curvature(self, W, b):
        """``(P, Ps)`` at (W, b), each ``(F, k, m)``: the probabilities and ``P s_f / S_f`` (binary: ``s a (1 - a)``)."""
        xp = array_namespace(W)
        Z3 = xp.reshape(self.ops.forward(W, b, self.X), (self.n_folds, self.k, self.m))
        P = self._probabilities(Z3)
        if not self.multinomial:
            P = P * (1 - P)
        return P, P * self.s

    def augmented(self):
        """``Xa = [X; 1]`` ``(n_x + 1, m)`` (X itself without intercept), made once for every C of the folds."""
        if not self.fit_intercept:
            return self.X
        if "Xa" not in self._shared:
            xp, dev = array_namespace(self.X), get_device(self.X)
            self._shared["Xa"] = xp.concat([self.X, xp.ones((1, self.m), dtype=self.X.dtype, device=dev)], axis=0)
        return self._shared["Xa"]

    def gram_eigen(self):
        """``(Q, lam)``: the eigenvectors ``(n1, n1)`` and eigenvalues ``(n1,)`` (negatives rounded to 0) of
        ``Xa Xa.T``, ``Xa = [X; 1]`` (X without intercept), the first time for every C: ``X X.T`` through the
        data interface (``weighted_gram``: a sparse X is never densified), its row sums, and one ``eigh``."""
        if "gram_eigen" not in self._shared:
            xp, dev = array_namespace(self.s), get_device(self.s)
            lam, Q = xp.linalg.eigh(self._augmented_gram(xp.ones((1, self.m), dtype=self.s.dtype, device=dev), True))
            self._shared["gram_eigen"] = (Q, xp.where(lam > 0, lam, xp.zeros_like(lam)))
        return self._shared["gram_eigen"]

    def hessian_operator(self, W, b):
        """``(V, vb) -> (HV, Hvb)``, every fold's Hessian at (W, b) applied to its part of (V, vb).

        The probabilities are computed here once; each product is then one
        ``V.T X`` and one ``X D.T`` for every fold. ``.diagonal()`` gives the
        Hessians' diagonals (Jacobi preconditioning).
        """
        xp = array_namespace(W)
        P, Ps = self._curvature(W, b)
        F, k, m = self.n_folds, self.k, self.m
        loss = self

        class _Operator:
            def __call__(self, V, vb):
                U = xp.reshape(loss.ops.forward(V, vb, loss.X), (F, k, m))
                D3 = Ps * U if not loss.multinomial else Ps * (U - xp.sum(P * U, axis=1, keepdims=True))
                D = xp.reshape(D3, (F * k, m))
                HV = loss.ops.backward(loss.X, D)
                if loss.l2:
                    HV = HV + loss.alpha_columns * V
                return HV, (xp.sum(D, axis=1, keepdims=True) if loss.fit_intercept else vb * 0)

            def weight_sums(self):
                """``(F,)``: each fold's example weights of its Hessian's diagonal blocks, summed, mean over classes."""
                return xp.mean(xp.sum(Ps * (1 - P) if loss.multinomial else Ps, axis=2), axis=1)

            def diagonal(self):
                d = xp.reshape(Ps * (1 - P) if loss.multinomial else Ps, (F * k, m))
                dW = loss.ops.squares_backward(loss.X, d)
                if loss.l2:
                    dW = dW + loss.alpha_columns
                return dW, xp.sum(d, axis=1, keepdims=True)

        return _Operator()

    def hessian_matrices(self, W, b):
        """Every fold's Hessian, shape ``(F, q, q)`` with ``q = (n_x + 1) k`` (``n_x k`` without intercept).

        Parameters are ordered as in
        :meth:`xlogreg._loss.LogisticLoss.hessian_matrix`, class by class
        ``[W[:, c]; b[c]]``. Binary: ``Xa diag(s_f a (1 - a) / S_f) Xa.T`` with
        ``Xa = [X; 1]``; softmax: the block diagonal ``Xa diag(s_f p_c / S_f) Xa.T``
        minus ``U_f U_f.T``, ``U_f`` the rows ``Xa * p_c sqrt(s_f / S_f)`` of every
        class: two batched products for all folds. Plus ``l2 / S_f`` on the W
        part of the diagonal, and a ridge of ``1e-12`` times the largest entry
        where the Hessian is singular (softmax: "the same change for every
        class"; no penalty).

        A dense X forms every fold's Hessian in two batched products; any
        other X (a :class:`~xlogreg.data.sparse.SparseMatrix`) fold by fold
        and class pair by class pair through the data interface
        (``weighted_gram``, ``backward``), as
        :meth:`xlogreg._loss.LogisticLoss.hessian_matrix`, never densifying X.
        """
        xp, dev = array_namespace(self.X), get_device(self.X)
        F, k, m = self.n_folds, self.k, self.m
        if self.ops is not data.dense:
            return self._with_diagonal(self._hessians_by_fold(W, b))
        Xa = self.augmented()
        n1 = Xa.shape[0]
        q = n1 * k
        Xa_t = xp.permute_dims(Xa, (1, 0))
        Z3 = xp.reshape(self.ops.forward(W, b, self.X), (F, k, m))
        P = self._probabilities(Z3)
        if not self.multinomial:
            Rt = xp.reshape(Xa, (1, n1, m)) * xp.sqrt(P * (1 - P) * self.s)  # (F, n1, m)
            H = Rt @ xp.permute_dims(Rt, (0, 2, 1))
        else:
            Xa4 = xp.reshape(Xa, (1, 1, n1, m))
            blocks = (Xa4 * xp.reshape(P * self.s, (F, k, 1, m))) @ Xa_t  # (F, k, n1, n1)
            eye_k = xp.reshape(xp.eye(k, dtype=self.X.dtype, device=dev), (1, k, 1, k, 1))
            diagonal_blocks = xp.reshape(xp.reshape(blocks, (F, k, n1, 1, n1)) * eye_k, (F, q, q))
            U = xp.reshape(Xa4 * xp.reshape(P * xp.sqrt(self.s), (F, k, 1, m)), (F, q, m))
            H = diagonal_blocks - U @ xp.permute_dims(U, (0, 2, 1))
        return self._with_diagonal(H)

    def _hessians_by_fold(self, W, b):
        """The data part of :meth:`hessian_matrices` through the data interface: ``F k (k + 1) / 2`` weighted Grams."""
        xp = array_namespace(self.X)
        F, k, m = self.n_folds, self.k, self.m
        Z3 = xp.reshape(self.ops.forward(W, b, self.X), (F, k, m))
        P = self._probabilities(Z3)
        per_fold = []
        for f in range(F):
            blocks = [[None] * k for _ in range(k)]
            for c in range(k):
                for e in range(c, k):
                    p_c = P[f, c:c + 1, :]
                    if self.multinomial:
                        D = p_c * ((1.0 if c == e else 0.0) - P[f, e:e + 1, :]) * self.s[f, ...]
                    else:
                        D = p_c * (1 - p_c) * self.s[f, ...]
                    block = self._augmented_gram(D, nonnegative=c == e)
                    blocks[c][e] = block
                    blocks[e][c] = block if c == e else xp.permute_dims(block, (1, 0))
            per_fold.append(xp.concat([xp.concat(row, axis=1) for row in blocks], axis=0))
        return xp.stack(per_fold, axis=0)

    def _augmented_gram(self, D, nonnegative=False):
        """``Xa diag(D) Xa.T`` for D of shape ``(1, m)``, ``Xa = [X; 1]`` (X without intercept), through the data
        interface (a sparse X is never densified): ``weighted_gram``, bordered by ``X D.T`` and ``sum(D)``."""
        xp = array_namespace(D)
        G = self.ops.weighted_gram(self.X, D, nonnegative=nonnegative)  # (n_x, n_x)
        if not self.fit_intercept:
            return G
        XD = self.ops.backward(self.X, D)  # (n_x, 1): the W-b entries
        return xp.concat([xp.concat([G, XD], axis=1),
                          xp.concat([xp.permute_dims(XD, (1, 0)), xp.reshape(xp.sum(D), (1, 1))], axis=1)], axis=0)

    def _with_diagonal(self, H):
        """The Hessians' data part ``H`` ``(F, q, q)`` plus ``l2 / S_f`` on W's diagonal, and the ridge where singular."""
        xp, dev = array_namespace(H), get_device(H)
        F, n_x = self.n_folds, self.n_x
        q = H.shape[1]
        n1 = q // self.k
        in_w = xp.astype(xp.arange(q, device=dev) % n1 < n_x, self.X.dtype)  # (q,): 1 on W's entries
        diagonal = xp.reshape(self.alpha, (F, 1)) * xp.reshape(in_w, (1, q))
        if self.multinomial or not self.l2:
            diagonal = diagonal + 1e-12 * xp.reshape(xp.max(xp.abs(H), axis=(1, 2)), (F, 1))
        return H + xp.reshape(xp.eye(q, dtype=self.X.dtype, device=dev), (1, q, q)) * xp.reshape(diagonal, (F, 1, q))

    # ---------------------------------------------------------------- Newton directions

    def to_blocks(self, V, vb):
        """``(V, vb)`` as ``(F, k, n1)``: each fold's classes, each ``[V[:, c]; vb[c]]``."""
        xp = array_namespace(V)
        F, k = self.n_folds, self.k
        V3 = xp.permute_dims(xp.reshape(V, (self.n_x, F, k)), (1, 2, 0))  # (F, k, n_x)
        if not self.fit_intercept:
            return V3
        return xp.concat([V3, xp.reshape(vb, (F, k, 1))], axis=2)

    def from_blocks(self, B):
        """The inverse of :meth:`to_blocks`."""
        xp = array_namespace(B)
        F, k, n_x = self.n_folds, self.k, self.n_x
        V = xp.reshape(xp.permute_dims(B[:, :, :n_x], (2, 0, 1)), (n_x, F * k))
        if not self.fit_intercept:
            return V, xp.zeros((F * k, 1), dtype=B.dtype, device=get_device(B))
        return V, xp.reshape(B[:, :, n_x], (F * k, 1))


def _cholesky_direction(loss, W, b, g, g_norm, active):
    """Every fold's Newton step: its Hessian formed and solved (one batched ``linalg.solve``)."""
    xp = array_namespace(W)
    F, k = loss.n_folds, loss.k
    H = loss.hessian_matrices(W, b)
    G = loss.to_blocks(*g)
    n1 = G.shape[2]
    try:
        step = xp.linalg.solve(H, -xp.reshape(G, (F, n1 * k, 1)))
    except Exception as exc:  # a singular system (NumPy's LinAlgError, torch's, ...): the gradient steps
        if "singular" not in str(exc).lower():
            raise
        return -g[0], -g[1]
    B = xp.reshape(step, (F, k, n1))
    if loss.multinomial:  # no step along what changes no probability: the iterates stay centred
        centred = B - xp.mean(B, axis=1, keepdims=True)
        if not loss.l2:
            B = centred
        elif loss.fit_intercept:
            B = xp.concat([B[:, :, :loss.n_x], centred[:, :, loss.n_x:]], axis=2)
    return loss.from_blocks(B)


def _cg_direction(loss, W, b, g, g_norm, active, max_cg, precondition=True, tol=0.0):
    """Every fold's Newton-CG step: conjugate gradients with per-fold scalars and per-fold stopping.

    `precondition`: with an L2 penalty on an X of at most
    :data:`GRAM_PRECONDITIONER_MAX_FEATURES` rows (the intercept's
    included), dense or sparse, not Dask (no ``eigh`` there), each fold's Hessian is approximated by ``(c_f / m) Xa Xa.T +
    (l2 / S_f) I`` on every class (``c_f`` the fold's example weights in its
    Hessian's diagonal blocks, summed, mean over classes), inverted in the Gram's eigenvectors
    (:meth:`FoldLoss.gram_eigen`, once per path); else by its diagonal (Jacobi,
    one scale per feature for softmax).

    Each fold stops at its residual ``max(min(0.5, sqrt(|g_f|)) |g_f|, tol / 2)``
    (scikit-learn's newton-cg's forcing term, no finer than the stopping rule
    asks: :func:`xlogreg.solvers.newton._conjugate_gradient`), on a direction of non-positive curvature
    (the gradient step if that is the first), or after `max_cg` products;
    one host read per CG iteration (each fold's curvature and residual).
    """
    xp, dev = array_namespace(W), get_device(W)
    hessian_times = loss.hessian_operator(W, b)
    n1 = loss.n_x + (1 if loss.fit_intercept else 0)
    if precondition and loss.l2 and n1 <= GRAM_PRECONDITIONER_MAX_FEATURES and not is_dask_array(loss.X):
        # H_f ~ (c_f / m) Xa Xa.T + alpha_f I on every class of fold f (c_f its example weights summed: c_f / m
        # their mean over all of X, whose Gram is m / m_f times the fold's), applied in the Gram's eigenvectors
        # (computed once for the whole path); one scale for all classes of a fold
        Q, lam = loss.gram_eigen()
        Qt = xp.permute_dims(Q, (1, 0))
        c = loss.columns(hessian_times.weight_sums())  # (1, F k)
        inverse_scale = 1 / (xp.reshape(lam, (n1, 1)) * (c / loss.m) + loss.alpha_columns)  # (n1, F k)
        n_x = loss.n_x

        def scaled(r):
            Ra = xp.concat([r[0], xp.permute_dims(r[1], (1, 0))], axis=0) if loss.fit_intercept else r[0]
            Za = Q @ ((Qt @ Ra) * inverse_scale)
            return (Za[:n_x, :], xp.permute_dims(Za[n_x:, :], (1, 0))) if loss.fit_intercept else (Za, r[1] * 0)
    elif precondition:
        dW, db = hessian_times.diagonal()
        if loss.multinomial:  # one scale per feature and fold: see newton._conjugate_gradient
            F, k = loss.n_folds, loss.k
            dW = xp.reshape(xp.broadcast_to(xp.mean(xp.reshape(dW, (loss.n_x, F, k)), axis=2, keepdims=True),
                                            (loss.n_x, F, k)), (loss.n_x, F * k))
            db = xp.reshape(xp.broadcast_to(xp.mean(xp.reshape(db, (F, k)), axis=1, keepdims=True), (F, k)),
                            (F * k, 1))
        inverse = tuple(1 / xp.where(h > 0, h, xp.ones_like(h)) for h in (dW, db))

        def scaled(r):
            return r[0] * inverse[0], r[1] * inverse[1]
    else:
        def scaled(r):
            return r

    def on_device(mask):
        return xp.asarray(np.asarray(mask, dtype=np.float64), dtype=W.dtype, device=dev)

    eta = np.maximum(np.minimum(0.5, np.sqrt(g_norm)) * g_norm, tol / 2)
    p = (g[0] * 0, g[1] * 0)
    r = (-g[0], -g[1])
    z = scaled(r)
    d = z
    rz = loss.fold_dot(r, z)
    live = np.asarray(active, dtype=bool).copy()
    first_flat = np.zeros_like(live)
    for j in range(max_cg):
        if not live.any():
            break
        Hd = hessian_times(*d)
        curvature = loss.fold_dot(d, Hd)
        positive = curvature > 0
        step = xp.where(positive, rz / xp.where(positive, curvature, xp.ones_like(curvature)),
                        xp.zeros_like(curvature)) * on_device(live)
        p = loss.add_scaled(p, step, d)
        r = loss.add_scaled(r, -step, Hd)
        read = _host(xp.stack([curvature, loss.fold_dot(r, r)]))
        flat = live & ~(read[0] > 0)
        if j == 0:
            first_flat = flat
        live = live & ~flat & (np.sqrt(np.maximum(read[1], 0.0)) > eta)
        if not live.any():
            break
        z = scaled(r)
        rz_new = loss.fold_dot(r, z)
        beta = rz_new / xp.where(rz != 0, rz, xp.ones_like(rz))
        d = loss.add_scaled(z, beta, d)
        rz = rz_new
    if first_flat.any():  # flat from the start: the gradient step there
        flat_f = on_device(first_flat)
        p = (p[0] - loss.columns(flat_f) * (p[0] + g[0]), p[1] - loss.rows(flat_f) * (p[1] + g[1]))
    return p


class FoldResult:
    """What :func:`fold_newton` returns.

    Attributes
    ----------
    W, b : arrays of shapes (n_x, F k) and (F k, 1)
    Z : array of shape (F k, m)
        The logits at (W, b) (the held-out examples are scored from them).
    n_iter : ndarray of shape (F,), int
        Newton iterations each fold took.
    converged : ndarray of shape (F,), bool
    gradient_norm : ndarray of shape (F,)
    """

    def __init__(self, W, b, Z, n_iter, converged, gradient_norm):
        self.W, self.b, self.Z = W, b, Z
        self.n_iter, self.converged, self.gradient_norm = n_iter, converged, gradient_norm


def fold_newton(loss, W, b, *, tol=1e-4, max_iter=100, method="newton-cholesky", max_cg=None, precondition=True):
    """Minimise every fold's objective of `loss` (a :class:`FoldLoss`) from ``(W, b)`` by Newton's method.

    Each fold has its own step, Armijo line search and stopping rule (its
    gradient's Euclidean norm at most `tol`, as :func:`xlogreg.solvers.newton.newton_cg`);
    a fold that has converged takes no more steps while the others go on.

    Parameters
    ----------
    loss : FoldLoss
    W : array of shape (n_x, F k)
    b : array of shape (F k, 1)
    tol : float >= 0
    max_iter : int >= 0
    method : {"newton-cholesky", "newton-cg"}
        Each fold's Hessian formed and solved (``((n_x + 1) k)^2`` per fold),
        or conjugate gradients on Hessian-vector products.
    max_cg : int, optional
        Newton-CG's products per iteration at most (default: the parameters per fold, capped at 200).
    precondition : bool
        Newton-CG scaled by the Hessians' diagonals (Jacobi).

    Returns
    -------
    FoldResult

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg.solvers.path import FoldLoss, fold_newton
    >>> X = xp.asarray([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
    >>> folds = xp.asarray([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]])
    >>> loss = FoldLoss(X, xp.asarray([[0.0, 1.0, 0.0, 1.0, 1.0, 0.0]]), 2, folds, l2=1.0)
    >>> result = fold_newton(loss, *loss.zeros(), tol=1e-10)
    >>> result.converged.tolist()
    [True, True]
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    xp, dev = array_namespace(W), get_device(W)
    F = loss.n_folds
    n1 = loss.n_x + (1 if loss.fit_intercept else 0)
    max_cg = min(n1 * loss.k, 200) if max_cg is None else max_cg
    eps = float(np.finfo(np.float32 if W.dtype == xp.float32 else np.float64).eps)
    n_iter = np.zeros(F, dtype=np.int64)
    stalled = np.zeros(F, dtype=bool)

    def to_device(v):
        return xp.asarray(np.asarray(v, dtype=np.float64), dtype=W.dtype, device=dev)

    J, dW, db, Z = loss.value_and_gradient(W, b)
    for i in range(max_iter + 1):
        read = _host(xp.stack([J, loss.fold_dot((dW, db), (dW, db))]))
        cost, g_norm = read[0], np.sqrt(np.maximum(read[1], 0.0))
        if not np.all(np.isfinite(cost)):
            raise TrainingDiverged(f"{method}: a fold's cost is not finite at iteration {i} ({cost.tolist()}); "
                                   "the data give non-finite values")
        converged = g_norm <= tol
        active = ~converged & ~stalled
        if i == max_iter or not active.any():
            break
        g = (dW, db)
        if method == "newton-cholesky":
            p = _cholesky_direction(loss, W, b, g, g_norm, active)
        else:
            p = _cg_direction(loss, W, b, g, g_norm, active, max_cg, precondition, tol)
        slope_dev = loss.fold_dot(g, p)
        descent = slope_dev < 0  # else (rounding at the optimum) the gradient step, fold by fold
        fallback = xp.astype(~descent, W.dtype)
        p = (p[0] - loss.columns(fallback) * (p[0] + dW), p[1] - loss.rows(fallback) * (p[1] + db))
        slope = _host(xp.where(descent, slope_dev, -loss.fold_dot(g, g)))
        t = np.where(active, 1.0, 0.0)
        for _ in range(41):  # at most 40 halvings (t ~ 1e-12); the 41st trial puts the failed folds back
            t_dev = to_device(t)
            move_W, move_b = loss.columns(t_dev) > 0, loss.rows(t_dev) > 0
            W_new = xp.where(move_W, W + loss.columns(t_dev) * p[0], W)
            b_new = xp.where(move_b, b + loss.rows(t_dev) * p[1], b)
            J_new, dW_new, db_new, Z_new = loss.value_and_gradient(W_new, b_new)
            read = _host(xp.stack([J_new, loss.fold_dot((dW_new, db_new), (dW_new, db_new))]))
            value, g2_new = read[0], read[1]
            armijo = value <= cost + 1e-4 * t * slope
            # near the optimum the decrease falls below the rounding of J: accept a step that keeps J
            # within rounding and shrinks the gradient (as newton._newton and scikit-learn's solvers)
            rounding = (value <= cost + 64 * eps * np.abs(cost)) & (g2_new < g_norm ** 2)
            ok = (t == 0) | armijo | rounding
            if ok.all():
                break
            failed = ~ok & (t < 1e-12)
            stalled |= failed  # no decrease at all: that fold's optimum within rounding
            t = np.where(ok, t, np.where(failed, 0.0, t * 0.5))
        n_iter += t > 0
        W, b, J, dW, db, Z = W_new, b_new, J_new, dW_new, db_new, Z_new
    return FoldResult(W, b, Z, n_iter, converged, g_norm)


def held_out_scores(Z, labels, n_classes, test_weights, scoring):
    """Every fold's score on its held-out examples, from the logits of all examples: shape ``(F,)``.

    Parameters
    ----------
    Z : array of shape (F k, m)
        Each fold's logits of every example (:class:`FoldResult`'s ``Z``).
    labels : array of shape (1, m)
    n_classes : int
    test_weights : array of shape (F, m)
        Fold f's weight of example i in its score: 0 outside its held-out
        examples, else the sample weight (1 without).
    scoring : {"neg_log_loss", "accuracy"}
        scikit-learn's meanings: the weighted mean log-probability of the
        true class, each probability clipped to ``[eps, 1 - eps]`` of the
        dtype (``sklearn.metrics.log_loss``), negated loss; the weighted
        fraction predicted right (a tie of the binary logit at 0 predicts class 0).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg.solvers.path import held_out_scores
    >>> Z = xp.asarray([[2.0, -1.0, 0.5]])  # one fold, binary
    >>> held_out_scores(Z, xp.asarray([[1.0, 0.0, 0.0]]), 2, xp.asarray([[1.0, 1.0, 1.0]]), "accuracy")
    Array([0.66666667], dtype=array_api_strict.float64)
    """
    xp = array_namespace(Z)
    F, m = test_weights.shape
    multinomial = n_classes > 2
    k = n_classes if multinomial else 1
    Z3 = xp.reshape(Z, (F, k, m))
    if scoring == "neg_log_loss":
        eps = float(xp.finfo(Z.dtype).eps)
        if multinomial:
            log_p = xp.clip(_log_probabilities(Z3, True), math.log(eps), math.log1p(-eps))
        else:
            # scikit-learn's arithmetic, on purpose: predict_proba's [1 - a, a], each clipped to
            # [eps, 1 - eps], then log. 1 - a loses digits where a is near 1 (up to 1e-4 in a
            # fold's score at C = 1e4 on breast_cancer, against the exact -softplus(z)), and the
            # scores are meant to be scikit-learn's.
            a = _loss.sigmoid(Z3)
            log_p = xp.log(xp.clip(xp.concat([1 - a, a], axis=1), eps, 1 - eps))
        per_example = xp.sum(_loss.one_hot(labels, n_classes) * log_p, axis=1)  # (F, m): log p of the true class
    elif scoring == "accuracy":
        if multinomial:
            predicted = xp.astype(xp.argmax(Z3, axis=1), Z.dtype)  # (F, m)
        else:
            predicted = xp.astype(Z3[:, 0, :] > 0, Z.dtype)
        per_example = xp.astype(predicted == labels, Z.dtype)
    else:
        raise ValueError(f"scoring must be one of {', '.join(map(repr, SCORINGS))}; got {scoring!r}")
    return xp.sum(per_example * test_weights, axis=1) / xp.sum(test_weights, axis=1)


def _fold_data(X, labels, train_weights, test_weights, f, train_index, test_index):
    """Fold f's ``(X, labels, weights)`` to fit, and to score: its own columns of X, or all of X weighted.

    A dense X gives its training and held-out columns (``take``); a sparse X
    (whose columns the data interface does not gather) is kept whole, fold f
    being its rows of `train_weights` and `test_weights` (0 outside the
    fold): the same objective and scores.
    """
    if data.operations(X) is not data.dense:
        return (X, labels, train_weights[f:f + 1, :], X, labels, test_weights[f:f + 1, :])
    xp, dev = array_namespace(X), get_device(X)
    train = xp.asarray(np.asarray(train_index[f]), device=dev)
    test = xp.asarray(np.asarray(test_index[f]), device=dev)
    return (xp.take(X, train, axis=1), xp.take(labels, train, axis=1),
            xp.reshape(xp.take(train_weights[f, :], train, axis=0), (1, -1)),
            xp.take(X, test, axis=1), xp.take(labels, test, axis=1),
            xp.reshape(xp.take(test_weights[f, :], test, axis=0), (1, -1)))


def _fit(loss, W, b, tol, max_iter, method):
    """One C's fit of the folds of `loss` from (W, b) by `method`."""
    if method == "lbfgs":
        return fold_lbfgs(loss, W, b, tol=tol, max_iter=max_iter)
    return fold_newton(loss, W, b, tol=tol, max_iter=max_iter, method=method)


def _order(Cs):
    """The indices of Cs from the largest penalty (smallest C) to the smallest: the path's order."""
    return sorted(range(len(Cs)), key=lambda j: Cs[j])


def cross_validation_path(X, labels, n_classes, train_weights, test_weights, Cs, *, fit_intercept=True,
                          tol=1e-4, max_iter=100, method="newton-cholesky", scoring="neg_log_loss",
                          batched=True, train_index=None, test_index=None, verbose=0):
    """Every fold's fit at every C of `Cs`, and its held-out score: the path of cross-validation.

    Each fold's fits go from the smallest C (the largest penalty) to the
    largest, each warm-started from the previous one (the first from zero).

    Parameters
    ----------
    X : array of shape (n_x, m)
    labels : array of shape (1, m)
        0 .. K-1 in X's dtype and device.
    n_classes : int
    train_weights, test_weights : arrays of shape (F, m)
        Fold f's weight of each example in its fit (0 outside its training
        set) and in its score (0 outside its held-out set).
    Cs : sequence of float > 0
        ``inf`` is no penalty.
    fit_intercept, tol, max_iter
        As :func:`fold_newton`.
    method : {"newton-cholesky", "newton-cg", "lbfgs"}
        :func:`fold_newton`'s methods, or L-BFGS
        (:func:`xlogreg.solvers.path_lbfgs.fold_lbfgs`, each C from the
        previous C's coefficients).
    scoring : {"neg_log_loss", "accuracy"} or None
        None: no scores (the caller scores the returned coefficients).
    batched : bool
        True: every fold at once (:class:`FoldLoss` on the whole X). False:
        one fold at a time, on its own training and held-out columns of X
        (`train_index`, `test_index`: NumPy integer arrays, one per fold), with
        the same solver: what batching saves is measured against this.
    verbose : int
        1 prints one line per C.

    Returns
    -------
    coefs : list of arrays of shape (F, k, n_x + 1) (``n_x`` without intercept), one per C, in Cs' order
        Each fold's ``[W[:, c]; b[c]]`` by class, on X's device.
    scores : array of shape (F, len(Cs)) or None
        On X's device.
    n_iter : ndarray of shape (F, len(Cs)), int
    converged : ndarray of shape (F, len(Cs)), bool
    """
    if method not in PATH_METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, PATH_METHODS))}; got {method!r}")
    xp = array_namespace(X)
    F = train_weights.shape[0]
    nC = len(Cs)
    coefs = [None] * nC
    scores = [None] * nC
    n_iter = np.zeros((F, nC), dtype=np.int64)
    converged = np.zeros((F, nC), dtype=bool)
    order = _order(Cs)

    def l2_of(C):
        return 0.0 if math.isinf(C) else 1.0 / C

    if batched:
        loss = FoldLoss(X, labels, n_classes, train_weights, fit_intercept=fit_intercept)
        W, b = loss.zeros()
        for j in order:
            loss_C = loss.with_l2(l2_of(Cs[j]))
            result = _fit(loss_C, W, b, tol, max_iter, method)
            W, b = result.W, result.b
            coefs[j] = loss_C.to_blocks(W, b)
            if scoring is not None:
                scores[j] = held_out_scores(result.Z, labels, n_classes, test_weights, scoring)
            n_iter[:, j], converged[:, j] = result.n_iter, result.converged
            if verbose:
                print(f"C={Cs[j]:.4g}: {F} folds at once, iterations {result.n_iter.tolist()}")
    else:
        if train_index is None or test_index is None:
            raise ValueError("cross_validation_path(batched=False) needs train_index and test_index, one "
                             "integer array per fold; got None")
        per_fold = [[None] * nC for _ in range(F)]
        per_fold_scores = [[None] * nC for _ in range(F)]
        for f in range(F):
            X_train, labels_train, sw_train, X_test, labels_test, sw_test = _fold_data(
                X, labels, train_weights, test_weights, f, train_index, test_index)
            loss = FoldLoss(X_train, labels_train, n_classes, sw_train, fit_intercept=fit_intercept)
            W, b = loss.zeros()
            for j in order:
                loss_C = loss.with_l2(l2_of(Cs[j]))
                result = _fit(loss_C, W, b, tol, max_iter, method)
                W, b = result.W, result.b
                per_fold[f][j] = loss_C.to_blocks(W, b)
                if scoring is not None:
                    Z_test = data.operations(X_test).forward(W, b, X_test)
                    per_fold_scores[f][j] = held_out_scores(Z_test, labels_test, n_classes, sw_test, scoring)
                n_iter[f, j], converged[f, j] = result.n_iter[0], result.converged[0]
            if verbose:
                print(f"fold {f + 1}/{F}: iterations {n_iter[f].tolist()}")
        coefs = [xp.concat([per_fold[f][j] for f in range(F)], axis=0) for j in range(nC)]
        if scoring is not None:
            scores = [xp.concat([per_fold_scores[f][j] for f in range(F)], axis=0) for j in range(nC)]
    score_table = xp.stack(scores, axis=1) if scoring is not None else None
    return coefs, score_table, n_iter, converged


def elastic_net_path(X, labels, n_classes, train_weights, test_weights, Cs, l1_ratio, *, fit_intercept=True,
                     tol=1e-4, max_iter=100, scoring="neg_log_loss", train_index=None, test_index=None, verbose=0):
    """:func:`cross_validation_path` with the elastic-net penalty: one fold at a time, by proximal Newton.

    Fold f minimises scikit-learn's ``C sum_i s_fi L_i + (1 - r) / 2 ||W||^2 +
    r ||W||_1`` (``r = l1_ratio``) at each C, along its path from the smallest
    C to the largest, each fit warm-started from the previous one
    (:func:`xlogreg.solvers.prox_newton.l1_path`; the first from ``W = 0``
    and the intercept-only biases). `tol` is on the minimum-norm subgradient
    of the mean objective (:func:`~xlogreg.solvers.prox_newton.fit_l1`), as
    :func:`fold_newton`'s is on the gradient. The folds are not batched: the
    working sets of the L1 solver differ from fold to fold.

    Parameters
    ----------
    X, labels, n_classes, train_weights, test_weights, Cs, fit_intercept, tol, max_iter, scoring, verbose
        As :func:`cross_validation_path`.
    l1_ratio : float in [0, 1]
    train_index, test_index : sequences of NumPy integer arrays, one per fold
        The training and held-out examples of each fold: a dense X is fitted
        on its own training columns; a sparse one whole, weighted.

    Returns
    -------
    coefs, scores, n_iter, converged
        As :func:`cross_validation_path`; ``n_iter`` counts proximal Newton iterations.

    Examples
    --------
    >>> import numpy as np
    >>> from xlogreg.solvers.path import elastic_net_path
    >>> X = np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [1.0, -1.0, 1.0, -1.0, 1.0, -1.0]])
    >>> labels = np.array([[0.0, 0.0, 1.0, 0.0, 1.0, 1.0]])
    >>> train = np.array([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]])
    >>> coefs, scores, n_iter, converged = elastic_net_path(
    ...     X, labels, 2, train, 1 - train, [0.1, 10.0], 1.0, tol=1e-8,
    ...     train_index=[np.arange(4), np.arange(2, 6)], test_index=[np.arange(4, 6), np.arange(2)])
    >>> coefs[0].shape, scores.shape, bool(converged.all())
    ((2, 1, 3), (2, 2), True)
    >>> float(coefs[0][0, 0, 1])  # the second feature, at C = 0.1: exactly zero
    0.0
    """
    xp = array_namespace(X)
    F = train_weights.shape[0]
    nC = len(Cs)
    per_fold = [[None] * nC for _ in range(F)]
    per_fold_scores = [[None] * nC for _ in range(F)]
    n_iter = np.zeros((F, nC), dtype=np.int64)
    converged = np.zeros((F, nC), dtype=bool)
    for f in range(F):
        X_train, labels_train, sw_train, X_test, labels_test, sw_test = _fold_data(
            X, labels, train_weights, test_weights, f, train_index, test_index)
        loss = _loss.LogisticLoss(X_train, labels_train, n_classes, sample_weight=sw_train)
        with warnings.catch_warnings():  # the caller reports the fits that did not converge, all together
            warnings.simplefilter("ignore", _warnings.ConvergenceWarning)
            results = prox_newton.l1_path(loss, Cs, l1_ratio, tol=tol, max_iter=max_iter,
                                          fit_intercept=fit_intercept)
        for j, result in enumerate(results):
            block = xp.permute_dims(result.w, (1, 0))  # (k, n_x)
            if fit_intercept:
                block = xp.concat([block, result.b], axis=1)
            per_fold[f][j] = xp.reshape(block, (1,) + tuple(block.shape))
            if scoring is not None:
                Z_test = data.operations(X_test).forward(result.w, result.b, X_test)
                per_fold_scores[f][j] = held_out_scores(Z_test, labels_test, n_classes, sw_test, scoring)
            n_iter[f, j], converged[f, j] = result.iterations, result.converged
        if verbose:
            print(f"l1_ratio={l1_ratio:g}, fold {f + 1}/{F}: iterations {n_iter[f].tolist()}")
    coefs = [xp.concat([per_fold[f][j] for f in range(F)], axis=0) for j in range(nC)]
    scores = (xp.stack([xp.concat([per_fold_scores[f][j] for f in range(F)], axis=0) for j in range(nC)], axis=1)
              if scoring is not None else None)
    return coefs, scores, n_iter, converged
