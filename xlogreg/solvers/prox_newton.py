"""L1 and elastic-net logistic regression by a proximal Newton method with working sets, on the Array API.

The objective is ``F(W, b) + l1_alpha ||W||_1`` with ``F`` the smooth part:
the loss object's J (:class:`xlogreg._loss.LogisticLoss`, with its own L2)
plus the penalty's smooth part (:class:`xlogreg.penalties.ElasticNet`'s
``l2_alpha / 2 ||W||^2``); the biases are never penalised. scikit-learn's
``LogisticRegression(C=c, l1_ratio=r)`` is ``ElasticNet(1 / (c S), r)`` on the
unpenalised loss (:func:`fit_l1`).

**The algorithm.** Each outer iteration, at ``(W, b)``:

1. **Optimality.** The minimum-norm subgradient of the objective
   (:meth:`~xlogreg.penalties.ElasticNet.min_norm_subgradient` for W, the
   gradient for b); its Euclidean norm is the stopping rule (``<= tol``): it
   is zero exactly at the optimum, and, like the gradient's norm of a smooth
   J, it bounds the distance to the optimum on a strongly convex problem.
2. **Working set** (after celer and skglm): the features (rows of W) with a
   non-zero weight, plus the features closest to entering (largest
   ``|gradient| / l1_alpha``), ``max(10, 2 * support)`` rows in all. Only
   their rows of X are gathered (``take``). A feature left out keeps ``w = 0``
   this iteration; one that violates its optimality condition is picked at
   the next one, and the stopping rule is always checked on every feature,
   so the working set never stops the method early.
3. **Direction.** The proximal Newton step on the working set: ``D``
   minimising the local quadratic model of F plus the L1 term,
   ``g.D + D.H D / 2 + l1_alpha ||W + D||_1``, with the Hessian formed on the
   working set (:meth:`~xlogreg._loss.LogisticLoss.hessian_matrix`, up to
   :data:`FORM_LIMIT` parameters; Hessian-vector products above). The model
   is solved by FISTA with the adaptive (gradient) restart, in the diagonal
   metric ``L diag(H)`` (Jacobi: features of different scales take steps of
   their own size; ``L`` the largest eigenvalue of the scaled H), whose prox
   is the soft threshold (:func:`xlogreg.penalties.soft_threshold`) with one
   threshold per entry: exact zeros. The model is solved to
   ``min(0.1, sqrt(opt)) * opt`` (a forcing sequence, as Newton-CG's): loose
   far from the optimum, tight near it, so the outer convergence is
   superlinear. With the Hessian formed, FISTA is finished on a face: the
   model restricted to the signs and zeros of ``w + D`` is a linear system on
   the moving entries (:meth:`_Model.face_minimiser`, one solve of the size of
   the support, entries whose solution crosses zero pruned), tried before the
   first inner iteration (the current support: near the optimum the exact
   step, with no FISTA iteration at all) and wherever FISTA settles on a new
   face; its result is kept only if it passes the model's optimality check, so
   the inner solve's accuracy, and the optimum, do not change.
4. **Line search** on the true objective: backtracking from ``t = 1`` until
   ``obj(W + t D) <= obj(W) + 1e-4 t Delta`` with ``Delta = g.D +
   l1(W + D) - l1(W)`` (Tseng and Yun's sufficient decrease); near the
   optimum ``t = 1`` is taken, and the zeros of the prox are the iterate's.

**Why this method.** It is what glmnet and scikit-learn's ``newton-cd`` do
(a quadratic model per outer iteration, few outer iterations to a tight
tolerance, a handful of passes over X each), with the inner coordinate descent
replaced by an accelerated proximal gradient on the small formed model:
coordinate descent is a sequential loop over coordinates, one kernel launch
per coordinate on a GPU, while FISTA on ``H`` is one matrix-vector product and
a few element-wise kernels per iteration, for all coordinates at once.
Against the alternatives: FISTA on the whole problem reads X twice per
iteration and needs thousands of iterations to a tight tolerance on
ill-conditioned data (large C); OWL-QN (cuML's choice) reads X once or twice
per iteration too, but its orthant projections make it stall short of a tight
tolerance, with no proof of convergence in general; working sets (celer,
skglm) make the formed model small, ``(support + 1) k`` parameters instead of
``(n_x + 1) k``, which is what lets it be formed at all when ``n_x`` is large.

**Host synchronisation.** Per outer iteration: the objective and the
optimality norm (two scalars), the support's size (one), one scalar per
line-search trial, the Jacobi-scaled model's largest eigenvalue (only where
FISTA runs), one scalar per :data:`CHECK_EVERY` inner iterations (the model's
own optimality, and whether its face changed), and per face solve its size and
an optimality check.
Everything else stays on the device of X: the iterates, the working set's
indices, the gathered rows, the Hessian.

A sparse X (:mod:`xlogreg.data.sparse`) runs the same code: the working
set's rows are gathered by the data interface's ``take_rows``, the model's
Hessian formed by its sparse ``weighted_gram``; X is never densified.

Dask arrays are refused: the working set's gather of rows of X, and the many
small inner iterations, do not suit a lazy graph (use NumPy, or a GPU library,
for L1).
"""

from __future__ import annotations

import math

from array_api_compat import device as get_device, is_dask_array

from .. import _loss, _warnings, penalties
from .._warnings import ConvergenceWarning
from ._loop import OptimizeResult, TrainingDiverged
from .._namespace import array_namespace

__all__ = ["prox_newton", "prox_newton_loop", "fit_l1", "l1_path", "min_c", "intercept_only"]

#: The model's Hessian is formed (and its Jacobi-scaled largest eigenvalue taken) up to this many
#: parameters ``(|working set| + 1) k``; above, Hessian-vector products (two products over the
#: working set's rows of X each) and a power iteration.
FORM_LIMIT = 2000

#: Up to this many parameters the scaled model's largest eigenvalue is computed (``eigvalsh``); above,
#: estimated by a power iteration (:func:`_lipschitz_power`): an eigendecomposition costs ``P^3``, the
#: power iteration 30 products with the model.
EIGH_LIMIT = 300

#: Inner (FISTA) iterations between two checks of the model's optimality (one host synchronisation).
CHECK_EVERY = 10

#: Features in the first working set (the support's double after it).
FIRST_WORKING_SET = 10


def intercept_only(loss):
    """The optimal biases for ``W = 0``, shape ``(k, 1)``: the weighted log-odds or the centred log class frequencies.

    Binary: ``log(p / (1 - p))`` with ``p = sum_i s_i y_i / S``; softmax:
    ``log(pi_c)`` minus their mean, ``pi_c`` the weighted frequency of class c
    (floored at the dtype's smallest normal number where a class has no weight).
    """
    T = loss.targets
    xp = array_namespace(T)
    freq = (xp.sum(T, axis=1, keepdims=True) if loss.weights is None
            else xp.sum(T * loss.weights, axis=1, keepdims=True)) / loss.total_weight
    tiny = xp.finfo(T.dtype).smallest_normal
    if not loss.multinomial:
        p = xp.clip(freq, tiny, 1 - xp.finfo(T.dtype).eps)
        return xp.log(p) - xp.log1p(-p)
    log_freq = xp.log(xp.maximum(freq, tiny))
    return log_freq - xp.mean(log_freq)


def _stack(W, b):
    """``(W, b)`` as one vector, class by class ``[W[:, c]; b[c]]`` (the order of ``hessian_matrix``)."""
    xp = array_namespace(W)
    k = W.shape[1]
    return xp.reshape(xp.permute_dims(xp.concat([W, xp.reshape(b, (1, k))], axis=0), (1, 0)), (-1,))


def _unstack(v, n_x, k):
    xp = array_namespace(v)
    P = xp.permute_dims(xp.reshape(v, (k, n_x + 1)), (1, 0))
    return P[:n_x, :], xp.reshape(P[n_x, :], (k, 1))


def _norm(*arrays):
    """The Euclidean norm over all the arrays, as a Python float (one host synchronisation)."""
    xp = array_namespace(arrays[0])
    total = sum(xp.sum(a * a) for a in arrays)
    return math.sqrt(max(float(total), 0.0))


class _Model:
    """The local quadratic model on a working set, as flat vectors: ``q(D) = g.D + D.H D / 2 + l1 ||w + D||_1``.

    ``w`` is the stacked point (biases zero), ``g`` the stacked gradient of
    the smooth part, ``threshold`` the L1 coefficient per entry (0 on the
    biases), ``free`` 1 where an entry may move (0 on fixed biases). ``H`` the
    formed Hessian, or None (then only ``hvp``). ``lipschitz()`` gives the
    largest eigenvalue of the Jacobi-scaled H, asked for (one host
    synchronisation, an ``eigvalsh`` or a power iteration) only if FISTA runs.
    """

    def __init__(self, hvp, H, diagonal, g, w, threshold, free, lipschitz):
        self.hvp, self.H, self.g, self.w, self.threshold, self.free = hvp, H, g, w, threshold, free
        self.diagonal, self.lipschitz, self._metric = diagonal, lipschitz, None

    @property
    def metric(self):
        """The diagonal metric ``M = L diag(H) >= H`` of the prox steps (its ``L`` computed on first use)."""
        if self._metric is None:
            self._metric = self.lipschitz() * self.diagonal
        return self._metric

    def gradient(self, D):
        return (self.g + self.hvp(D)) * self.free

    def prox_step(self, Y, gY):
        """``argmin_D gY.(D - Y) + |D - Y|_M^2 / 2 + l1 ||w + D||_1``: the soft threshold in the metric M."""
        M = self.metric
        return penalties.soft_threshold(self.w + Y - gY / M, self.threshold / M) - self.w

    def optimality(self, D):
        """The model's minimum-norm subgradient at D, flat."""
        xp = array_namespace(D)
        G = self.gradient(D)
        U = self.w + D
        return xp.where((U != 0) & (self.threshold > 0), G + self.threshold * xp.sign(U),
                        penalties.soft_threshold(G, self.threshold))

    def face(self, D):
        """The entries that move on D's face, as a boolean mask: free, and non-zero in ``w + D`` or unpenalised."""
        U = self.w + D
        return ((U != 0) | (self.threshold == 0)) & (self.free != 0)

    def signs(self, D):
        """D's face with its signs: ``sign(w + D)`` on penalised entries, 2 on unpenalised ones, 0 on fixed ones."""
        xp = array_namespace(D)
        return xp.where(self.threshold > 0, xp.sign(self.w + D), 2 * xp.ones_like(D)) * self.free

    def face_minimiser(self, D, rounds=4):
        """The model's minimiser on D's face (signs of ``w + D`` kept, its zeros kept), or None; formed H only.

        On the face, ``|w + D|_1`` is linear: the minimiser solves ``H_AA D_A =
        -(g + l1 sign(w + D) + H z)_A`` on the moving entries A, with the others
        at ``z`` (``D = -w``: zero in ``w + D``). One ``|A|``-sized solve, on the
        gathered rows and columns of H. FISTA's iterates approach the model's
        minimiser with a few spurious small entries, whose face solution then
        crosses zero: those are set to zero and the smaller face solved again,
        up to `rounds` times. Where D's face holds the minimiser's, the result
        is the minimiser to rounding, and FISTA's remaining iterations are
        saved; the caller keeps it only if it passes the model's optimality
        check.
        """
        if self.H is None:
            return None
        xp = array_namespace(D)
        candidate = None
        for _ in range(rounds):
            active = self.face(D)
            index = xp.nonzero(active)[0]  # one host synchronisation (the face's size)
            if index.shape[0] == 0:
                return candidate
            sign = xp.sign(self.w + D)
            moving = xp.astype(active, D.dtype)
            fixed = -self.w * (1 - moving)
            rhs = -(self.g + self.threshold * sign + self.H @ fixed)
            H_AA = xp.take(xp.take(self.H, index, axis=0), index, axis=1)
            D_A = xp.linalg.solve(H_AA, xp.reshape(xp.take(rhs, index), (-1, 1)))
            candidate = fixed + xp.reshape(_WorkingSet(index, D.shape[0]).put(D_A), (-1,))
            crossed = active & (self.threshold > 0) & (xp.sign(self.w + candidate) != sign)
            if not bool(xp.any(crossed)):
                return candidate
            D = xp.where(crossed, -self.w, candidate)  # those entries to zero: the smaller face
        return candidate


def _fista(model, D, tol, max_inner):
    """Minimise the model from D by FISTA with gradient restart; ``(D, inner iterations)``.

    Stops where the model's optimality norm is at most `tol` (checked every
    :data:`CHECK_EVERY` iterations) or after `max_inner` iterations. Before
    the first iteration, and at each check where the face (signs and zeros of
    ``w + D``) is the one of the previous check, the model's minimiser on that
    face (:meth:`_Model.face_minimiser`) is tried, and returned if it passes.
    """
    xp = array_namespace(D)

    def on_face(D):
        candidate = model.face_minimiser(D)
        return candidate is not None and _norm(model.optimality(candidate)) <= tol, candidate

    def same(A, B):
        return B is not None and bool(xp.all(A == B))  # one host synchronisation

    done, candidate = on_face(D)
    if done:
        return candidate, 0
    last_face = tried = model.signs(D)
    t = xp.ones((), dtype=D.dtype, device=get_device(D))
    X_old, Y = D, D
    for i in range(1, max_inner + 1):
        X_new = model.prox_step(Y, model.gradient(Y))
        t_new = (1 + xp.sqrt(1 + 4 * t * t)) / 2
        uphill = xp.sum((Y - X_new) * (X_new - X_old)) > 0  # O'Donoghue and Candes' gradient restart
        beta = xp.where(uphill, xp.zeros_like(t), (t - 1) / t_new)
        t = xp.where(uphill, xp.ones_like(t), t_new)
        Y = X_new + beta * (X_new - X_old)
        X_old = X_new
        if i % CHECK_EVERY == 0:
            if _norm(model.optimality(X_new)) <= tol:
                return X_new, i
            if model.H is None:
                continue
            face = model.signs(X_new)
            if same(face, last_face) and not same(face, tried):  # settled on a face not tried yet
                done, candidate = on_face(X_new)
                if done:
                    return candidate, i
                tried = face
            last_face = face
    return X_old, max_inner


def _lipschitz_formed(H, scale):
    """The largest eigenvalue of ``S H S`` with ``S = diag(scale)``, raised by 0.1 % (rounding), a Python float."""
    xp = array_namespace(H)
    scaled = H * xp.reshape(scale, (-1, 1)) * xp.reshape(scale, (1, -1))
    scaled = (scaled + xp.permute_dims(scaled, (1, 0))) / 2
    return 1.001 * float(xp.max(xp.linalg.eigvalsh(scaled)))


def _lipschitz_power(hvp, scale, iterations=30, safety=1.25):
    """A power-iteration estimate of the largest eigenvalue of ``S H S``, raised by `safety` (it bounds from below)."""
    xp = array_namespace(scale)
    v = xp.cos(xp.arange(scale.shape[0], dtype=scale.dtype, device=get_device(scale)) * 1.7) + 1.5
    rho = xp.zeros((), dtype=scale.dtype, device=get_device(scale))
    for _ in range(iterations):
        v = v / xp.sqrt(xp.sum(v * v))
        w = scale * hvp(scale * v)
        rho = xp.sum(v * w)
        v = w
    return safety * float(rho)


class _WorkingSet:
    """Rows ``index`` (sorted, on the device) of X chosen for one outer iteration, and the way back to all rows."""

    def __init__(self, index, n_x):
        xp = array_namespace(index)
        self.index = index
        rows = xp.arange(n_x, dtype=index.dtype, device=get_device(index))
        pos = xp.searchsorted(index, rows)
        self.pos = xp.clip(pos, 0, index.shape[0] - 1)
        self.member = xp.take(index, self.pos) == rows

    def take(self, A):
        return array_namespace(A).take(A, self.index, axis=0)

    def put(self, A):
        """``(n_x, k)`` with A's rows at the working set's rows, zeros elsewhere (a gather: no in-place write)."""
        xp = array_namespace(A)
        return xp.where(xp.reshape(self.member, (-1, 1)), xp.take(A, self.pos, axis=0), xp.zeros_like(A[:1, :]))


def _choose_working_set(W, G_smooth, l1_alpha, size):
    """The `size` rows of W to work on: the non-zero rows first, then the largest ``|G| / l1_alpha``."""
    xp = array_namespace(W)
    ratio = xp.max(xp.abs(G_smooth), axis=1) / l1_alpha if l1_alpha else xp.max(xp.abs(G_smooth), axis=1)
    score = xp.where(xp.any(W != 0, axis=1), xp.asarray(math.inf, dtype=W.dtype, device=get_device(W)), ratio)
    top = xp.argsort(-score)[:size]
    return xp.sort(top)


def prox_newton(loss, penalty, W=None, b=None, *, tol=1e-4, max_iter=100, max_inner=10_000, fit_intercept=True,
                working_set=True, record=None):
    """Minimise ``loss(W, b) + penalty(W)`` by a proximal Newton method; an :class:`~xlogreg.solvers.OptimizeResult`.

    Parameters
    ----------
    loss : xlogreg._loss.LogisticLoss
        The datafit (with its own L2 part, ``loss.l2``, usually 0 here).
    penalty : xlogreg.penalties.ElasticNet, L1 or L2
        In J's scale; its smooth part joins the loss's, its ``l1_alpha
        ||W||_1`` is treated by the prox.
    W : array of shape (n_x, k), optional
    b : array of shape (k, 1), optional
        The start, in X's namespace, device and dtype (warm start); default
        ``W = 0`` and the biases of :func:`intercept_only`.
    tol : float >= 0
        Stop where the Euclidean norm of the minimum-norm subgradient (W and
        b together; see the module notes) is at most `tol`. 0 runs until no
        step decreases the objective, or `max_iter`.
    max_iter : int >= 0
        Outer (proximal Newton) iterations at most; a
        :class:`~xlogreg.ConvergenceWarning` when they end above `tol`.
    max_inner : int >= 1
        FISTA iterations on each quadratic model at most.
    fit_intercept : bool
        False keeps b as given.
    working_set : bool
        False works on every feature at once (the formed Hessian then has
        ``(n_x + 1) k`` rows).
    record : callable, optional
        ``record(i, cost, state)`` once the objective of iterate i is known;
        ``state()`` gives its ``(W, b)``.

    Returns
    -------
    OptimizeResult
        ``w``, ``b``; ``dw`` the minimum-norm subgradient in W and ``db`` the
        biases' gradient at it (zero where b is fixed), whose joint norm is
        the stopping rule; ``costs`` the objective per outer iteration;
        ``iterations`` outer iterations run; ``converged``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg._loss import LogisticLoss
    >>> from xlogreg.penalties import L1
    >>> X = xp.asarray([[1.0, 2.0, 3.0, 4.0], [0.5, -0.5, 0.5, -0.5]])
    >>> loss = LogisticLoss(X, xp.asarray([[0.0, 0.0, 1.0, 1.0]]))
    >>> result = prox_newton(loss, L1(0.1), tol=1e-10)
    >>> result.converged, float(result.w[1, 0])  # the second feature carries no signal: exactly zero
    (True, 0.0)
    """
    X = loss.X
    if is_dask_array(X):
        raise TypeError("prox_newton: X is a Dask array; the L1 solver gathers rows of X and runs many small "
                        "iterations, which a lazy graph does not suit: fit on NumPy, CuPy or torch instead")
    xp = array_namespace(X)
    dev = get_device(X)
    n_x, k = X.shape[0], loss.k
    if W is None:
        W = xp.zeros((n_x, k), dtype=X.dtype, device=dev)
    if b is None:
        b = intercept_only(loss) if fit_intercept else xp.zeros((k, 1), dtype=X.dtype, device=dev)
    l1_alpha = penalty.l1_alpha
    eps = float(xp.finfo(X.dtype).eps)
    name = "prox-newton"

    def evaluate(W, b):
        """``(objective, dW of the smooth part, dW of the loss, db)``."""
        F, dW_loss, db = loss.value_and_gradient(W, b)
        if not fit_intercept:
            db = db * 0
        return F + penalty.value(W), penalty.add_gradient(dW_loss, W), dW_loss, db

    J, dW, dW_loss, db = evaluate(W, b)
    grow_to = 0  # after a step that failed on a working set, the next one is at least this large
    costs = []
    opt = math.inf
    for i in range(max_iter + 1):
        G = penalty.min_norm_subgradient(W, dW_loss)
        cost = float(J)
        opt = _norm(G, db)
        if not (math.isfinite(cost) and math.isfinite(opt)):
            raise TrainingDiverged(f"{name}: the objective is {cost} (optimality {opt}) at iteration {i}; the "
                                   "data or the start give non-finite values")
        costs.append((i, cost))
        if record is not None:
            record(i, cost, lambda W=W, b=b: (W, b))
        if opt <= tol:
            return OptimizeResult(W, b, G, db, costs, i, name, True)
        if i == max_iter:
            break

        # 2. the working set
        if working_set and l1_alpha:
            support = int(xp.sum(xp.astype(xp.any(W != 0, axis=1), xp.int32)))
            size = min(n_x, max(FIRST_WORKING_SET, 2 * support, grow_to))
        else:
            size = n_x
        if size < n_x:
            ws = _WorkingSet(_choose_working_set(W, dW, l1_alpha, size), n_x)
            sub = _loss.LogisticLoss(loss.ops.take_rows(X, ws.index), loss.labels, loss.n_classes,
                                     sample_weight=loss.weights, total_weight=loss.total_weight, l2=loss.l2)
            W_ws, dW_ws = ws.take(W), ws.take(dW)
        else:
            ws, sub, W_ws, dW_ws = None, loss, W, dW
        p = W_ws.shape[0]

        # 3. the direction: the quadratic model on the working set, by FISTA
        size_flat = (p + 1) * k
        in_w = xp.astype(xp.arange(size_flat, device=dev) % (p + 1) < p, X.dtype)
        free = in_w if not fit_intercept else xp.ones_like(in_w)
        g = _stack(dW_ws, db) * free
        w_flat = _stack(W_ws, xp.zeros_like(b))
        if size_flat <= FORM_LIMIT:
            H = sub.hessian_matrix(W_ws, b)
            if penalty.l2_alpha:
                H = H + xp.eye(size_flat, dtype=X.dtype, device=dev) * (in_w * penalty.l2_alpha)

            def hvp(v, H=H):
                return H @ v

            diagonal = xp.sum(H * xp.eye(size_flat, dtype=X.dtype, device=dev), axis=1)
        else:
            operator = sub.hessian_operator(W_ws, b)

            def hvp(v, operator=operator):
                HV, hb = operator(*_unstack(v, p, k))
                return _stack(penalty.add_hessian_product(HV, _unstack(v, p, k)[0]), hb)

            dH, dHb = operator.diagonal()
            diagonal = _stack(penalty.add_hessian_diagonal(dH), dHb)
            H = None
        diagonal = diagonal * free + (1 - free)  # fixed biases: any positive metric (they do not move)
        top = xp.max(diagonal)
        diagonal = xp.where(diagonal > 1e-12 * top, diagonal, top)
        scale = 1 / xp.sqrt(diagonal)

        def lipschitz(H=H, hvp=hvp, scale=scale):
            value = (_lipschitz_formed(H, scale) if H is not None and H.shape[0] <= EIGH_LIMIT
                     else _lipschitz_power(hvp, scale))
            return max(value, eps)

        model = _Model(hvp, H, diagonal, g, w_flat, in_w * l1_alpha, free, lipschitz)
        # the forcing sequence on the working set's own optimality: where many features outside it each violate a
        # little (wide data), opt is large while the working set is nearly optimal, and a tolerance from opt would
        # accept D = 0 there
        opt_ws = _norm(model.optimality(xp.zeros_like(g)))
        inner_tol = max(min(0.1, math.sqrt(opt_ws)) * opt_ws, 0.1 * tol)
        D, _ = _fista(model, xp.zeros_like(g), inner_tol, max_inner)
        DW, Db = _unstack(D, p, k)
        if loss.multinomial and fit_intercept:
            # the objective does not change when every class's bias moves alike, and the model's Hessian is
            # singular that way: the biases stay centred (as at the start), whatever rounding puts there
            Db = Db - xp.mean(Db)
        if ws is not None:
            DW = ws.put(DW)

        # 4. the line search on the objective
        # Delta = g.D + l1(W + D) - l1(W), the L1 difference taken entry by entry (no cancellation of two sums)
        delta = float(xp.sum(dW * DW) + xp.sum(db * Db) + l1_alpha * xp.sum(xp.abs(W + DW) - xp.abs(W)))
        descent = delta < 0  # else the model's minimum is the point itself within rounding: only the rule below
        t = 1.0
        for _ in range(40 if descent else 1):
            W_new, b_new = W + t * DW, b + t * Db
            J_new, dW_new, dW_loss_new, db_new = evaluate(W_new, b_new)
            value = float(J_new)
            if descent and value <= cost + 1e-4 * t * delta:
                break
            # within the rounding of J, accept a step that brings the optimality down (as newton.py does)
            if value <= cost + 64 * eps * abs(cost) and \
                    _norm(penalty.min_norm_subgradient(W_new, dW_loss_new), db_new) < opt:
                break
            t *= 0.5
        else:
            if ws is None:
                break
            grow_to = 2 * p  # no decrease on this working set: the next takes twice as many features
            continue
        grow_to = 0
        W, b, J, dW, dW_loss, db = W_new, b_new, J_new, dW_new, dW_loss_new, db_new
    if tol > 0 and opt > tol:
        _warnings.warn(f"{name}: stopped after {costs[-1][0]} iterations with the optimality (minimum-norm "
                       f"subgradient norm) {opt:.3g} above tol={tol}; increase max_iter, or loosen tol",
                       ConvergenceWarning)
    G = penalty.min_norm_subgradient(W, dW_loss)
    return OptimizeResult(W, b, G, db, costs, costs[-1][0], name, False)


def fit_l1(loss, C, l1_ratio=1.0, W=None, b=None, *, tol=1e-4, max_iter=100, fit_intercept=True):
    """Minimise scikit-learn's ``C sum_i s_i L_i + (1 - r) / 2 ||W||^2 + r ||W||_1`` (``r = l1_ratio``).

    The estimator's entry point: `loss` is the unpenalised datafit
    (``LogisticLoss(..., l2=0)``, its sample weights including the class
    weights), and the objective divided by ``C S`` is ``J + ElasticNet(1 /
    (C S), r)``: the same minimiser. `tol` is on that scaled objective's
    minimum-norm subgradient (as the estimator's `tol` is on its gradient).

    Parameters
    ----------
    loss : xlogreg._loss.LogisticLoss
    C : float > 0
    l1_ratio : float in [0, 1]
    W, b, tol, max_iter, fit_intercept
        As :func:`prox_newton`.

    Returns
    -------
    OptimizeResult
        See :func:`prox_newton`.

    Examples
    --------
    >>> import numpy as np
    >>> from xlogreg._loss import LogisticLoss
    >>> X = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, -0.5, 0.5, -0.5]])
    >>> result = fit_l1(LogisticLoss(X, np.array([[0.0, 0.0, 1.0, 1.0]])), C=1.0, tol=1e-10)
    >>> result.w.T.tolist()  # doctest: +ELLIPSIS
    [[0.908184262..., 0.0]]
    """
    C = float(C)
    if not C > 0:
        raise ValueError(f"C must be > 0; got {C!r}")
    penalty = penalties.ElasticNet(1 / (C * loss.total_weight), l1_ratio)
    return prox_newton(loss, penalty, W, b, tol=tol, max_iter=max_iter, fit_intercept=fit_intercept)


def min_c(loss, l1_ratio=1.0):
    """The smallest C whose optimum has a non-zero weight (scikit-learn's objective, as :func:`fit_l1`).

    ``1 / (S alpha_max)`` with ``alpha_max`` from the gradient at ``W = 0``
    and the biases of :func:`intercept_only`: every ``C <= min_c`` gives
    ``W = 0`` exactly. A Python float (``inf`` where `l1_ratio` is 0).
    """
    W0 = loss.zeros()[0]
    dW0 = loss.gradient(W0, intercept_only(loss))[0]
    top = penalties.ElasticNet(1.0, l1_ratio).alpha_max(dW0)
    return math.inf if not top else 1 / (loss.total_weight * top)


def l1_path(loss, Cs, l1_ratio=1.0, *, tol=1e-4, max_iter=100, fit_intercept=True):
    """:func:`fit_l1` for each C, warm-started from the fit of the next smaller C; results in the order of `Cs`.

    The fits run from the smallest C (the strongest penalty, the sparsest
    optimum, found in a step or two from ``W = 0``) to the largest, each
    starting at the previous optimum: the cross-validation path.

    Examples
    --------
    >>> import numpy as np
    >>> from xlogreg._loss import LogisticLoss
    >>> X = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, -0.5, 0.5, -0.5]])
    >>> path = l1_path(LogisticLoss(X, np.array([[0.0, 0.0, 1.0, 1.0]])), [0.1, 1.0, 10.0])
    >>> [int(np.count_nonzero(r.w)) for r in path]
    [0, 1, 1]
    """
    order = sorted(range(len(Cs)), key=lambda j: float(Cs[j]))
    results = [None] * len(Cs)
    W = b = None
    for j in order:
        result = fit_l1(loss, Cs[j], l1_ratio, W, b, tol=tol, max_iter=max_iter, fit_intercept=fit_intercept)
        results[j] = result
        W, b = result.w, result.b
    return results


def prox_newton_loop(w, b, X, Y, num_iterations, record_every, print_cost=False, callback=None, *, loss=None,
                     penalty=None, tol=None):
    """:func:`prox_newton` with the loops' interface (:func:`xlogreg.solvers.run`); an :class:`OptimizeResult`.

    At most `num_iterations` outer iterations from ``(w, b)``; `tol` None
    runs until no step decreases the objective. The objective (with the L1
    term) of every `record_every`-th iterate is recorded and printed;
    ``callback(i, cost)`` follows every iteration. Ctrl-C raises
    :class:`~xlogreg.solvers.TrainingInterrupted` with the last iterate reached.
    """
    from ._loop import TrainingInterrupted, _default_loss, _matrix_params, _shaped_interrupt

    loss = _default_loss(X, Y, loss)
    penalty = penalties.L1(0.0) if penalty is None else penalty
    W, b, back = _matrix_params(w, b)
    costs = []
    reached = [(W, b, 0)]

    def record(i, cost, state):
        reached[0] = (*state(), i)
        if callback is not None and i > 0:
            callback(i - 1, costs[-1][1] if (i - 1) % record_every == 0 else None)
        if i % record_every == 0:
            costs.append((i, cost))
            if print_cost:
                print("Cost after iteration %i: %f" % (i, cost))

    with _shaped_interrupt(back):
        try:
            result = prox_newton(loss, penalty, W, b, tol=0.0 if tol is None else tol, max_iter=num_iterations,
                                 record=record)
        except KeyboardInterrupt:
            W, b, done = reached[0]
            raise TrainingInterrupted(OptimizeResult(W, b, None, None, costs, done, "prox-newton")) from None
    if result.iterations not in [i for i, _ in costs] and result.costs:
        costs.append(result.costs[-1])
    return back(OptimizeResult(result.w, result.b, result.dw, result.db, costs, result.iterations, result.solver,
                               result.converged))
