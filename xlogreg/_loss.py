"""The objective of logistic and softmax regression, in one place, on the Array API.

With X of shape ``(n_x, m)`` (one column per example), weights ``W`` of shape
``(n_x, k)`` and biases ``b`` of shape ``(k, 1)``, the logits are
``Z = W.T X + b``, of shape ``(k, m)``:

* **binary** (two classes, ``k = 1``): the course's sigmoid neuron,
  ``A = sigmoid(Z)``, labels ``Y`` of shape ``(1, m)`` holding 0 / 1, and the
  per-example loss ``L_i = -y_i log a_i - (1 - y_i) log(1 - a_i)``;
* **multinomial** (``K > 2`` classes, ``k = K``): softmax regression,
  ``A = softmax(Z)`` over the class axis (axis 0), one-hot targets ``T`` of
  shape ``(K, m)``, and ``L_i = -sum_k t_ki log a_ki``.

With sample weights ``s`` (all ones by default, so that ``S = sum(s) = m``)
and the L2 strength ``l2`` (the course's lambda; the biases are not
penalised), the objective and its gradient are::

    J  = sum_i s_i L_i / S + l2 / (2 S) ||W||^2
    dW = X R.T + (l2 / S) W        R = (A - T) * s / S      (k, m)
    db = sum_i R_i

(scikit-learn's ``LogisticRegression(C=c)`` minimises the same J with
``l2 = 1 / c``.) The solvers need the residual R in one more form: the loss
hands out ``Q`` and a Python number ``scale`` with ``R = scale * Q``, so that
a solver can fold ``scale`` into its step. For the binary loss ``Q`` is
``(tanh(Z / 2) + 1 - 2 Y) * s`` (``= 2 (A - Y) s``, ``scale = 1 / (2 S)``):
two operations per example instead of the eight of a stable sigmoid and a
subtraction, and never an overflow (``tanh`` is bounded for every input,
infinities included).

Everything here is plain Array API on the arrays it is given, with no host
synchronisation: the gradient-descent loops (:mod:`xlogreg.solvers.gd`, :mod:`xlogreg.solvers.dual`) call
:func:`raw_pass` (on whole arrays, or on each chunk of a Dask array) and
:func:`residual`, and :class:`LogisticLoss` bundles the data with the value,
gradient and Hessian-vector product for solvers that want an object.
"""

from __future__ import annotations

import math

from array_api_compat import device as get_device, is_dask_array

from . import data, penalties
from .data import compiled
from .data import dask as dask_data
from ._namespace import array_namespace

__all__ = ["LogisticLoss", "Line", "LINE_MAX_BYTES", "residual", "residual_scale", "raw_pass", "example_terms",
           "label_terms", "loss_sum", "curvature_terms", "losses", "one_hot", "softplus", "sigmoid"]


#: A :meth:`LogisticLoss.line` keeps four ``(k, m)`` arrays (the logits, the direction's, a trial's logits
#: and residual); L-BFGS uses lines (``line_ready``) only where one of them is at most this many bytes,
#: 128 MiB (16 million examples of the binary loss in float64); above, it evaluates each trial with both
#: products over X.
LINE_MAX_BYTES = 2**27


def sigmoid(z):
    """``1 / (1 + exp(-z))`` that never overflows: ``exp`` only sees ``-|z|``."""
    xp = array_namespace(z)
    e = xp.exp(-xp.abs(z))  # in (0, 1]
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))


def softplus(z):
    """``log(1 + exp(z))``, stable for every z (no overflow, no log(0))."""
    xp = array_namespace(z)
    return xp.maximum(z, 0.0) + xp.log1p(xp.exp(-xp.abs(z)))


def one_hot(labels, n_classes):
    """One-hot targets ``(K, m)`` of labels ``(1, m)`` holding 0 .. K-1, in the labels' dtype and device."""
    xp = array_namespace(labels)
    classes = xp.arange(n_classes, dtype=labels.dtype, device=get_device(labels))
    return xp.astype(labels == xp.reshape(classes, (n_classes, 1)), labels.dtype)


def _softmax_columns(Z):
    """Softmax over axis 0 (the classes), and ``log(sum(exp(Z)))`` per column, shift-stable."""
    xp = array_namespace(Z)
    top = xp.max(Z, axis=0, keepdims=True)
    E = xp.exp(Z - top)
    total = xp.sum(E, axis=0, keepdims=True)
    return E / total, top + xp.log(total)


def losses(Z, targets, multinomial):
    """Per-example losses ``L_i`` of the logits Z, shape ``(1, m)``.

    Binary: ``softplus(-z)`` where y is 1 and ``softplus(z)`` where y is 0
    (``-log a`` and ``-log(1 - a)``), finite when a saturates at exactly 0 or
    1 and exactly 0 for a confident right answer even at ``z = inf``.
    Multinomial: ``logsumexp(z) - sum(t z)``.
    """
    xp = array_namespace(Z)
    if not multinomial:
        # the sign flip first, then one softplus: half the passes of two softplus and a choice
        return softplus(xp.where(targets > 0.5, -Z, Z))
    _, log_total = _softmax_columns(Z)
    return log_total - xp.sum(targets * Z, axis=0, keepdims=True)


def loss_sum(Z, targets, weights, multinomial):
    """``sum_i s_i L_i`` (a 0-d array); ``weights`` None means all ones."""
    xp = array_namespace(Z)
    L = losses(Z, targets, multinomial)
    return xp.sum(L) if weights is None else xp.sum(L * weights)


def residual(Z, targets, weights, multinomial):
    """``Q`` with ``R = (A - T) s / S = scale * Q`` (see :func:`residual_scale`), shape ``(k, m)``.

    Binary: ``(tanh(Z / 2) + 1 - 2 Y) s``; multinomial: ``(softmax(Z) - T) s``.
    """
    xp = array_namespace(Z)
    if multinomial:
        Q = _softmax_columns(Z)[0] - targets
    else:
        Q = xp.tanh(Z * 0.5) + (1 - 2 * targets)
    return Q if weights is None else Q * weights


def residual_scale(total_weight, multinomial):
    """The Python number ``scale`` of :func:`residual`: ``1 / S`` (``1 / (2 S)`` for the binary loss)."""
    return 1 / total_weight if multinomial else 1 / (2 * total_weight)


def raw_pass(W, b, X, targets, weights, multinomial, with_loss=True):
    """One pass over X: ``(Z, G, s, loss)`` with ``G = X Q.T``, ``s = sum(Q, axis=1)``.

    ``Q`` is :func:`residual`; the data term of the gradient is
    ``dW = scale G``, ``db = scale s``. ``loss`` is ``sum_i s_i L_i`` (a 0-d
    array), or None without `with_loss`. This is the only place the solvers
    read X during an iteration.
    """
    return data.operations(X).one_pass(W, b, X, example_terms, targets, weights, multinomial, with_loss)


def example_terms(Z, targets, weights, multinomial, with_loss=True):
    """What one pass needs of the logits Z between its two products over X: ``(Q, loss or None)``.

    ``Q`` is :func:`residual`, ``loss`` is ``sum_i s_i L_i`` (a 0-d array).
    The ``terms`` of :func:`xlogreg.data.dense.one_pass`.
    """
    if not (multinomial and with_loss):
        return residual(Z, targets, weights, multinomial), (loss_sum(Z, targets, weights, multinomial) if with_loss
                                                            else None)
    # softmax: one exponential of Z serves both the residual and the losses (each alone would take its own)
    xp = array_namespace(Z)
    P, log_total = _softmax_columns(Z)
    Q, L = P - targets, log_total - xp.sum(targets * Z, axis=0, keepdims=True)
    return (Q, xp.sum(L)) if weights is None else (Q * weights, xp.sum(L * weights))


def label_terms(Z, labels, weights=None, *, with_extra=True, k, multinomial):
    """:func:`example_terms` from the labels ``(1, m)`` (one-hot made here, for K classes ``k = K``).

    The ``terms`` of :func:`xlogreg.data.dask.chunked_pass`: each chunk of
    examples makes its own targets, which then line up with its chunk of X.
    """
    targets = one_hot(labels, k) if multinomial else labels
    return example_terms(Z, targets, weights, multinomial, with_extra)


def curvature(Z, weights, total_weight, multinomial):
    """What the second derivative in the logits needs of Z, computed once per point: ``(P, Ps)``.

    ``P`` is the probabilities (``softmax(Z)``, or ``sigmoid(Z)``), ``Ps``
    ``P s / S`` for softmax and ``s a (1 - a) / S`` for the binary loss.
    :func:`curvature_apply` then applies the curvature to any U.
    """
    if multinomial:
        P = _softmax_columns(Z)[0]
    else:
        A = sigmoid(Z)
        P = A * (1 - A)
    Ps = P / total_weight if weights is None else P * (weights / total_weight)
    return P, Ps


def curvature_apply(P, Ps, U, multinomial):
    """The data term's second derivative in the logits, applied to U: ``D`` of shape (k, m).

    From :func:`curvature`'s ``(P, Ps)`` at Z. Binary: ``s a (1 - a) u / S``;
    softmax: ``(a u - a sum_k(a u)) s / S`` per column (the softmax
    Jacobian). ``H (V, vb) = (X D.T + (l2 / S) V, sum(D))`` for
    ``U = V.T X + vb``.
    """
    if not multinomial:
        return Ps * U
    xp = array_namespace(U)
    return Ps * U - Ps * xp.sum(P * U, axis=0, keepdims=True)


def curvature_terms(Z, Ps, P=None, *, with_extra=False, multinomial):
    """:func:`curvature_apply` as the ``terms`` of :func:`xlogreg.data.dask.chunked_pass`: ``(D, None)``.

    Z is ``V.T X + vb`` on a chunk of examples, ``Ps`` and ``P`` (softmax
    only) :func:`curvature`'s on the same chunk: one task per chunk then
    computes the chunk's ``X D.T`` and ``sum(D)`` of a Hessian-vector product.
    """
    return curvature_apply(P, Ps, Z, multinomial), None


class _HessianOperator:
    """The Hessian at one point as an operator: ``H(V, vb)``, and its diagonal (see LogisticLoss.hessian_operator).

    On a Dask X each product is one task per chunk of examples (``V.T X_c``,
    ``D_c``, ``X_c D_c.T`` on the chunk while it is in memory: one read of X),
    and so is the diagonal.
    """

    def __init__(self, X, P, Ps, penalty, multinomial):
        self.X, self.P, self.Ps, self.penalty, self.multinomial = X, P, Ps, penalty, multinomial
        self.ops = data.operations(X)
        self.lazy = is_dask_array(X)

    def __call__(self, V, vb):
        X = self.X
        if self.lazy:
            aligned = [self.Ps, self.P] if self.multinomial else [self.Ps]
            G, s, _ = dask_data.chunked_pass(V, vb, X, curvature_terms, aligned, with_extra=False,
                                             multinomial=self.multinomial)
            return self.penalty.add_hessian_product(G, V), s
        D = curvature_apply(self.P, self.Ps, self.ops.forward(V, vb, X), self.multinomial)
        xp = array_namespace(D)
        return self.penalty.add_hessian_product(self.ops.backward(X, D), V), xp.sum(D, axis=1, keepdims=True)

    def diagonal(self):
        """The Hessian's diagonal as a pair ``(dW, db)`` of W's and b's shapes: one more product over X.

        Entry ``(i, c)`` is ``sum_j x_ij^2 d_cj (+ l2 / S)`` and ``db_c = sum_j d_cj``,
        with ``d_c = s a_c (1 - a_c) / S`` (binary: ``Ps`` itself).
        """
        xp = array_namespace(self.X)
        d = self.Ps * (1 - self.P) if self.multinomial else self.Ps
        dW = (dask_data.squares_backward if self.lazy else self.ops.squares_backward)(self.X, d)
        return self.penalty.add_hessian_diagonal(dW), xp.sum(d, axis=1, keepdims=True)


#: :func:`_dense_hessian` reads the examples in chunks whose scaled copies hold about this many numbers each
#: (32 MiB in float64): the memory of forming the Hessian stays bounded whatever m.
HESSIAN_CHUNK = 2**22


def _dense_hessian(X, P, s, multinomial):
    """The data term of :meth:`LogisticLoss.hessian_matrix` on a dense X, in a few large products.

    With ``Xa = [X; 1]`` (``a = n_x + 1`` rows) and ``D_ce = s p_c (delta_ce - p_e)``,
    block ``(c, e)`` is ``Xa diag(D_ce) Xa.T``. The off-diagonal blocks together
    are ``-M M.T`` with ``M`` stacking ``Xa sqrt(s) p_c`` class by class
    (``(k a, m)``: one product instead of ``k (k - 1) / 2``); the diagonal blocks
    are computed directly, as ``R_c R_c.T`` with ``R_c = Xa sqrt(s p_c (1 - p_c))``
    (one batched product): ``p_c - p_c^2`` would cancel where ``p_c`` saturates
    near 1. Binary: ``R R.T`` alone. The examples are read in chunks of
    :data:`HESSIAN_CHUNK` numbers, so that neither ``Xa`` nor ``M`` is ever
    formed whole. ``s`` is ``(1, m)`` or a Python number; P is ``(k, m)``.
    """
    xp = array_namespace(X, P)
    dev = get_device(X)
    n_x, m = X.shape
    k = P.shape[0]
    a = n_x + 1
    root_s = math.sqrt(s) if isinstance(s, float) else xp.sqrt(s)
    root_d = xp.sqrt(P * (1 - P)) * root_s  # (k, m): the diagonal blocks' weights, square-rooted
    step = max(1, HESSIAN_CHUNK // (2 * k * a))
    diagonal_blocks = off = None
    for start in range(0, m, step):
        stop = min(m, start + step)
        whole = start == 0 and stop == m
        Xc = X if whole else X[:, start:stop]
        Xa = xp.concat([Xc, xp.ones((1, stop - start), dtype=X.dtype, device=dev)], axis=0)  # (a, c)
        dc = root_d if whole else root_d[:, start:stop]
        if not multinomial:
            R = Xa * dc
            term = R @ xp.permute_dims(R, (1, 0))
            diagonal_blocks = term if diagonal_blocks is None else diagonal_blocks + term
            continue
        R = xp.reshape(Xa, (1, a, stop - start)) * xp.reshape(dc, (k, 1, stop - start))  # (k, a, c)
        term = R @ xp.permute_dims(R, (0, 2, 1))  # (k, a, a)
        diagonal_blocks = term if diagonal_blocks is None else diagonal_blocks + term
        Pc = P if whole else P[:, start:stop]
        sc = root_s if isinstance(root_s, float) or whole else root_s[:, start:stop]
        M = xp.reshape(xp.reshape(Xa, (1, a, stop - start)) * xp.reshape(Pc * sc, (k, 1, stop - start)),
                       (k * a, stop - start))
        term = M @ xp.permute_dims(M, (1, 0))  # (k a, k a): one symmetric product (BLAS syrk on NumPy)
        off = term if off is None else off + term
    if not multinomial:
        return diagonal_blocks
    same = xp.reshape(xp.eye(k, dtype=X.dtype, device=dev), (k, 1, k, 1))  # 1 where block (c, e) has c == e
    placed = xp.reshape(same * xp.reshape(diagonal_blocks, (k, a, 1, a)), (k * a, k * a))
    mask = xp.reshape(xp.broadcast_to(same, (k, a, k, a)), (k * a, k * a)) != 0
    return xp.where(mask, placed, -off)


class LogisticLoss:
    """The regularised, weighted cross-entropy of a linear model on fixed data.

    Parameters
    ----------
    X : array of shape (n_x, m)
        Checked real floating data.
    labels : array of shape (1, m)
        Labels 0 .. K-1 (0 / 1 for two classes), in X's dtype, namespace and device.
    n_classes : int
        K; two classes give the binary (sigmoid) loss, more the softmax one.
    sample_weight : array of shape (1, m), optional
        Non-negative weights with a positive sum, in X's dtype; None for all ones.
    total_weight : float, optional
        ``S = sum(sample_weight)`` as a Python number; computed (one host
        synchronisation) when not given.
    l2 : float
        The L2 strength (``l2 / (2 S) ||W||^2``); the biases are not penalised.
    fused : bool
        Softmax on a NumPy X only: compute :meth:`value_and_gradient` in a
        compiled pass (:func:`xlogreg.data.compiled.softmax_pass`: one read of
        X with the softmax and the losses in the same pass, or, for many
        classes, BLAS's products around a compiled softmax; the same values up
        to rounding, the losses summed in float64).
        :func:`xlogreg.data.compiled.choose_fused_softmax` says where it pays.
        The Hessian's products and everything else stay Array API.

    Attributes
    ----------
    targets : array of shape (k, m)
        The labels (binary) or their one-hot encoding (multinomial).
    k : int
        Rows of ``Z``: 1 for the binary loss, K for the multinomial one.
    multinomial : bool
    alpha : float
        ``l2 / S``, the coefficient of W in the gradient.
    scale : float
        See :func:`residual_scale`.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg._loss import LogisticLoss
    >>> X = xp.asarray([[1.0, 2.0, -1.0], [3.0, 4.0, -3.2]])
    >>> loss = LogisticLoss(X, xp.asarray([[1.0, 0.0, 1.0]]))  # two classes
    >>> J, dW, db = loss.value_and_gradient(xp.asarray([[1.0], [2.0]]), xp.asarray([[2.0]]))
    >>> round(float(J), 10)
    5.8015453194
    """

    def __init__(self, X, labels, n_classes=2, *, sample_weight=None, total_weight=None, l2=0.0, fused=False):
        xp = array_namespace(X)
        self.X, self.labels, self.weights = X, labels, sample_weight
        self.multinomial = n_classes > 2
        self.k = n_classes if self.multinomial else 1
        self._targets = None if self.multinomial else labels  # the one-hot (K, m) made on first use (targets)
        if total_weight is None:
            total_weight = X.shape[1] if sample_weight is None else float(xp.sum(sample_weight))
        self.total_weight = float(total_weight)
        self.l2 = float(l2)
        #: The penalty on W (:mod:`xlogreg.penalties`), in J's scale: ``alpha / 2 ||W||^2``.
        self.penalty_term = penalties.L2(self.l2 / self.total_weight)
        self.alpha = self.penalty_term.alpha
        self.scale = residual_scale(self.total_weight, self.multinomial)
        self.ops = data.operations(X)
        self.lazy = is_dask_array(X)
        #: The compiled softmax pass behind value_and_gradient, or None (see `fused`).
        self.fused_pass = None
        if fused:
            reason = "it is the binary loss" if not self.multinomial else compiled.why_unusable(X)
            if reason is not None:
                raise ValueError(f"fused=True cannot run here: {reason}")
            self.fused_pass = compiled.softmax_pass(X, labels, lambda: self.targets, self.k, sample_weight)
        #: Whether L-BFGS evaluates its trials through :meth:`line`: where they were measured to pay
        #: (benchmarks/bench_lines.py), the binary loss, whose trials are a few operations per example
        #: against the two products over X that each saves. Not the softmax: a trial's softmax is most of
        #: an evaluation's cost (digits, the 1,000-class probe: no time saved, 6-12% lost); not on Dask
        #: (each evaluation is one task per chunk, nothing of ``(k, m)`` held); not beyond :data:`LINE_MAX_BYTES`.
        itemsize = xp.finfo(X.dtype).bits // 8
        self.line_ready = (not self.lazy and not self.multinomial
                           and self.k * X.shape[1] * itemsize <= LINE_MAX_BYTES)

    @property
    def targets(self):
        """The labels (binary), or their one-hot encoding ``(K, m)`` (softmax), made on first use: the
        compiled softmax passes read the labels as integers, and never ask for it (80 MB on the 1,000-class
        probe of 20,000 float32 examples)."""
        if self._targets is None:
            self._targets = one_hot(self.labels, self.k)
        return self._targets

    @property
    def n_classes(self):
        return self.k if self.multinomial else 2

    def logits(self, W, b):
        """``Z = W.T X + b``, shape ``(k, m)``."""
        return self.ops.forward(W, b, self.X)

    def penalty(self, W):
        """``l2 / (2 S) ||W||^2`` as a 0-d array (0 without L2)."""
        return self.penalty_term.value(W)

    def data_value(self, Z):
        """``sum_i s_i L_i / S`` from the logits Z (a 0-d array): J without the penalty."""
        xp = array_namespace(Z)
        if self.weights is None and not self.multinomial:
            return xp.mean(losses(Z, self.targets, False))  # the course's cost, bit for bit
        return loss_sum(Z, self.targets, self.weights, self.multinomial) / self.total_weight

    def value_from_logits(self, Z, W):
        """J from the logits Z of W (a 0-d array)."""
        data = self.data_value(Z)
        return data + self.penalty(W) if self.alpha else data

    def value(self, W, b):
        """J(W, b), a 0-d array."""
        return self.value_from_logits(self.logits(W, b), W)

    def gradient_from_raw(self, G, s, W):
        """``(dW, db)`` from :func:`raw_pass`'s ``G`` and ``s``."""
        return self.penalty_term.add_gradient(self.scale * G, W), self.scale * s

    def value_and_gradient(self, W, b):
        """``(J, dW, db)``: one forward and one backward product over X.

        On a Dask X, one task per chunk of examples computes its share of all
        three (:func:`xlogreg.data.dask.chunked_pass`): one read of X, and no
        logits of all the examples held at once.
        """
        if self.lazy:
            aligned = [self.labels] if self.weights is None else [self.labels, self.weights]
            G, s, total = dask_data.chunked_pass(W, b, self.X, label_terms, aligned, k=self.k,
                                                 multinomial=self.multinomial)
            dW, db = self.gradient_from_raw(G, s, W)
            J = total / self.total_weight
            return (J + self.penalty(W) if self.alpha else J), dW, db
        if self.fused_pass is not None:
            _, G, s = self.fused_pass(W, b, with_z=False)
            dW, db = self.gradient_from_raw(G, s, W)
            J = array_namespace(self.X).asarray(self.fused_pass.loss_sum / self.total_weight, dtype=self.X.dtype)
            return (J + self.penalty(W) if self.alpha else J), dW, db
        # softmax: the pass's one exponential gives the losses too (data_value would take another); the binary
        # value keeps data_value's own sum (the course's cost, bit for bit)
        Z, G, s, total = raw_pass(W, b, self.X, self.targets, self.weights, self.multinomial,
                                  with_loss=self.multinomial)
        dW, db = self.gradient_from_raw(G, s, W)
        if total is None:
            return self.value_from_logits(Z, W), dW, db
        J = total / self.total_weight
        return (J + self.penalty(W) if self.alpha else J), dW, db

    def gradient(self, W, b):
        """``(dW, db)``, shapes ``(n_x, k)`` and ``(k, 1)``."""
        return self.value_and_gradient(W, b)[1:]

    def line(self, W, b, pW, pb, Z=None):
        """J along ``(W, b) + t (pW, pb)`` from the logits: a :class:`Line` (``line_ready`` says where
        L-BFGS uses them).

        `Z`, the logits ``W.T X + b`` if known (a previous line's :meth:`Line.point`),
        saves a product.
        """
        if self.lazy:
            raise ValueError("a loss on a Dask array offers no line: its evaluations stay one task per chunk")
        return Line(self, W, b, pW, pb, Z)

    def hessian_product(self, W, b, V, vb):
        """The Hessian of J at (W, b) times the direction (V, vb): ``(HV, Hvb)``.

        Binary: ``H (V, vb) = (X (d u).T + (l2 / S) V, sum(d u))`` with
        ``u = V.T X + vb`` and ``d = s a (1 - a) / S``. Multinomial: the same
        with ``d u`` replaced by ``(a u - a sum_k(a u)) s / S`` per column
        (the softmax Jacobian). For many directions at one point, use
        :meth:`hessian_operator`.
        """
        return self.hessian_operator(W, b)(V, vb)

    def hessian_operator(self, W, b, settle=None):
        """``(V, vb) -> hessian_product(W, b, V, vb)``, for many directions at one point (W, b).

        The probabilities at (W, b) are computed here, once (one product
        over X); each product then costs two more (``V.T X`` and ``X D.T``):
        what conjugate gradients needs, a product per CG iteration.
        ``settle(P, Ps)``, if given, returns them computed (Dask: so that each
        product does not compute them again).
        """
        P, Ps = curvature(self.logits(W, b), self.weights, self.total_weight, self.multinomial)
        if settle is not None:
            P, Ps = settle(P, Ps)
        return _HessianOperator(self.X, P, Ps, self.penalty_term, self.multinomial)

    def hessian_matrix(self, W, b):
        """The Hessian of J at (W, b), shape ``((n_x + 1) k, (n_x + 1) k)``.

        Parameters are ordered class by class, each as ``[W[:, c]; b[c]]``.
        Block ``(c, e)`` is ``Xa diag(D_ce) Xa.T`` with ``Xa = [X; 1]`` and
        ``D_ce = s a_c (delta_ce - a_e) / S`` (binary: ``s a (1 - a) / S``),
        plus ``l2 / S`` on the diagonal of the W part. The softmax Hessian is
        singular along "add the same bias (without L2: the same weights) to
        every class", which changes no probability, and without L2 any Hessian
        nears singular as the probabilities saturate; a ridge of ``1e-12``
        times its largest entry keeps it solvable, and
        :func:`xlogreg.solvers.newton.newton_cholesky` removes that direction from
        each step.

        A dense X is read in a few large products, in chunks of examples
        (:func:`_dense_hessian`); a sparse X (and Dask's) block by block through
        the data interface, without a copy of ``[X; 1]``.
        """
        xp = array_namespace(self.X)
        dev = get_device(self.X)
        X = self.X
        n_x = X.shape[0]
        k = self.k
        s = (1 / self.total_weight) if self.weights is None else self.weights / self.total_weight
        Z = self.logits(W, b)
        P = _softmax_columns(Z)[0] if self.multinomial else sigmoid(Z)
        if self.ops is data.dense and not is_dask_array(X):
            H = _dense_hessian(X, P, s, self.multinomial)
        else:
            H = self._blockwise_hessian(P, s)
        size = (n_x + 1) * k
        diagonal = xp.zeros(size, dtype=self.X.dtype, device=dev)
        in_w = xp.reshape(xp.astype(xp.arange(size, device=dev) % (n_x + 1) < n_x, self.X.dtype), (size,))
        # without L2, saturated probabilities (separable data) leave even the binary Hessian singular
        ridge = 1e-12 * xp.max(xp.abs(H)) if self.multinomial or not self.alpha else 0.0
        diagonal = diagonal + in_w * self.alpha + ridge
        return H + xp.eye(size, dtype=self.X.dtype, device=dev) * diagonal

    def _blockwise_hessian(self, P, s):
        """The data term of :meth:`hessian_matrix` block by block through the data interface (sparse X, Dask)."""
        xp = array_namespace(self.X)
        X = self.X
        k = self.k
        blocks = [[None] * k for _ in range(k)]
        for c in range(k):
            for e in range(c, k):
                if self.multinomial:
                    D = P[c:c + 1, :] * ((1.0 if c == e else 0.0) - P[e:e + 1, :]) * s
                else:
                    D = P * (1 - P) * s
                XDX = self.ops.weighted_gram(X, D, nonnegative=c == e)  # D >= 0 on the diagonal blocks
                XD1 = self.ops.backward(X, D)  # (n_x, 1): the W-b entries, without a copy of [X; 1]
                block = xp.concat([xp.concat([XDX, XD1], axis=1),
                                   xp.concat([xp.permute_dims(XD1, (1, 0)), xp.reshape(xp.sum(D), (1, 1))],
                                             axis=1)], axis=0)
                blocks[c][e] = block
                blocks[e][c] = block if c == e else xp.permute_dims(block, (1, 0))
        return xp.concat([xp.concat(row, axis=1) for row in blocks], axis=0)

    def zeros(self):
        """Zero ``(W, b)`` of shapes ``(n_x, k)`` and ``(k, 1)``, X's dtype and device."""
        xp = array_namespace(self.X)
        dev = get_device(self.X)
        return (xp.zeros((self.X.shape[0], self.k), dtype=self.X.dtype, device=dev),
                xp.zeros((self.k, 1), dtype=self.X.dtype, device=dev))


class Line:
    """J along one line ``(W, b) + t (pW, pb)``, each trial without a product over X.

    The logits are linear in t: ``Z(t) = Z + t D`` with ``Z = W.T X + b`` and
    ``D = pW.T X + pb``. Both are computed once (Z is usually handed over from
    the previous line), so that a trial step costs only elementwise work on
    ``(k, m)`` numbers: J(t), and its slope ``J'(t) = scale sum(Q(t) * D) +
    alpha (<W, pW> + t ||pW||^2)`` (Q the residual of :func:`residual`).
    Where a line search tries several steps, each extra one saves both
    products; :meth:`point` then costs the one product of the gradient
    (``X Q.T``) at the step accepted. The logits handed on are ``Z + t D``, not
    recomputed: their rounding drifts from ``W.T X + b`` by an ``eps`` per line,
    which :func:`xlogreg.solvers.lbfgs.lbfgs` bounds by recomputing them every
    :data:`~xlogreg.solvers.lbfgs.LINE_REFRESH` iterations.

    Everything is Array API on X's namespace and device (0-d arrays, no host
    synchronisation).
    """

    def __init__(self, loss, W, b, pW, pb, Z=None):
        self.loss, self.W, self.b, self.pW, self.pb = loss, W, b, pW, pb
        self.xp = xp = array_namespace(loss.X)
        self.Z = loss.logits(W, b) if Z is None else Z
        self.D = loss.ops.forward(pW, pb, loss.X)
        if loss.alpha:  # the penalty along the line, a quadratic in t
            self._wp, self._pp = xp.sum(W * pW), xp.sum(pW * pW)
            self._penalty0 = loss.penalty(W)
        self._last = None

    def value_and_slope(self, t):
        """``(J(t), J'(t))``, 0-d arrays; the trial's logits and residual are kept for :meth:`point`."""
        loss, xp = self.loss, self.xp
        Zt = self.Z + t * self.D
        Q, total = example_terms(Zt, loss.targets, loss.weights, loss.multinomial, with_loss=True)
        J = total / loss.total_weight
        slope = loss.scale * xp.sum(Q * self.D)
        if loss.alpha:
            J = J + self._penalty0 + loss.alpha * t * (self._wp + 0.5 * t * self._pp)
            slope = slope + loss.alpha * (self._wp + t * self._pp)
        self._last = (t, Zt, Q, J)
        return J, slope

    def point(self, t):
        """``(W, b, Z, J, dW, db)`` at step t: the point, its logits, J and its gradient (one product over X)."""
        if self._last is None or self._last[0] != t:
            self.value_and_slope(t)
        _, Zt, Q, J = self._last
        loss, xp = self.loss, self.xp
        W, b = self.W + t * self.pW, self.b + t * self.pb
        dW, db = loss.gradient_from_raw(loss.ops.backward(loss.X, Q), xp.sum(Q, axis=1, keepdims=True), W)
        return W, b, Zt, J, dW, db
