"""Batch gradient descent loops: the course's ``optimize``, in primal and dual form.

Both loops run the same iterates (up to rounding):

* **primal** works on X, ``O(n_x m)`` per iteration: ``Z = w.T X + b``,
  ``dw = X (A - Y).T / m``.
* **dual** uses that gradient descent started at ``w0`` keeps
  ``w = w0 + X a`` for a vector ``a`` of one weight per example, since every
  ``dw`` is X times a vector. With the Gram matrix ``K = X.T X`` (m x m,
  computed once) the logits move by ``Z -= learning_rate / m (A - Y) (K + 1)``
  (the ``+ 1`` is the bias): ``O(m^2)`` per iteration instead of
  ``O(n_x m)``, much cheaper when there are more features than examples (the
  cat data: 12288 features, 209 examples).

Both compute the residual ``A - Y`` as ``(tanh(Z / 2) + 1 - 2 Y) / 2``, and
keep ``Z / 2`` (the dual) or ``w / 2, b / 2`` (the primal) so that the halving
costs nothing: two operations per example instead of the eight of a stable
sigmoid followed by a subtraction, and never an overflow (``tanh`` is bounded
for every input, infinities included). Its absolute error is a rounding of
numbers in [-1, 1], as that of ``sigmoid(Z) - Y``; the cost is still computed
from Z by the stable :func:`xlogreg.core.cost_from_z`.

Inside the loops there is no host synchronisation except where a cost is
recorded (every ``record_every`` iterations), which is also where divergence
is detected; the cost itself is only computed on those iterations. On JAX an
iteration (:func:`_one_pass`, :func:`_dual_step`) runs under ``jax.jit``
(:func:`xlogreg._backends.compiled`).

The primal iteration reads X twice (``w.T X`` and ``X dZ.T``), so it runs at
about twice the time of one pass over X once X is larger than the cache.
Where it was measured to pay (NumPy with one BLAS thread, see
:func:`choose_block`), the loop runs over blocks of examples instead: each
block's gradient product reuses the block while it is still in cache, so X
comes from memory once per iteration. The iterates are the same up to
rounding (the gradient is summed block by block, in a fixed order, so runs
are reproducible).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from array_api_compat import array_namespace, device as get_device, is_dask_array, is_numpy_array

from . import _backends, _fused
from . import _validation as v
from .core import check_problem, cost_from_z, forward_backward

__all__ = ["optimize", "choose_solver", "choose_block", "choose_fused", "TrainingDiverged", "TrainingInterrupted",
           "SOLVERS"]

SOLVERS = ("auto", "primal", "dual")

#: The dual solver is not chosen automatically when its Gram matrix would
#: exceed this many bytes.
GRAM_LIMIT_BYTES = 2 * 2**30

#: Elements of X per block of examples in the blocked primal loop: 4 MiB of
#: float64, 2 MiB of float32. Measured best (of 2**16 ... 2**20) on an AMD
#: EPYC with 512 KiB of L2 per core and 32 MiB of L3 (benchmarks/README.md).
BLOCK_ELEMENTS = 2**19

#: The blocked loop is only used for X at least this large: smaller X stays
#: in the L3 cache between the two products of the plain loop anyway.
BLOCK_MIN_BYTES = 64 * 2**20

#: ... and only when a block holds at least this many examples, so that the
#: ~20 microseconds of Python per block stay small against its products.
BLOCK_MIN_EXAMPLES = 128

#: The compiled one-pass primal iteration (:mod:`xlogreg._fused`) is chosen
#: automatically for X of at least this many bytes, the L3 cache of the machine
#: it was measured on. Smaller X stays in L3 between BLAS's two products, and
#: the compiled pass was sometimes faster, sometimes slower there; above, it
#: won clearly (2 vCPUs, 20 iterations, best of 7, compiled / BLAS: 0.42 for
#: 100 x 50,000 float64, 0.61 for 1000 x 5,000 float64, both 40 MB; 0.89 and
#: 1.25 for the float32 halves, 20 MB; 1.34 for the course data, 20 MB).
FUSED_MIN_BYTES = 32 * 2**20

#: Seconds it takes a new process to load the compiled kernels (import numba,
#: then numba's on-disk cache): 0.7 s measured on the 2-vCPU machine of
#: benchmarks/README.md, rounded up. ``fused="auto"`` uses them only where they
#: are predicted to save more than this.
FUSED_LOAD_S = 1.0

#: For that prediction: the primal pass saves about one read of X per
#: iteration, at this many bytes per second (one core streams 18-24 GB/s) ...
FUSED_READ_BYTES_PER_S = 20e9

#: ... and the compiled dual loop the Python and dispatch of five NumPy calls
#: per iteration, this many seconds (course data, 2 vCPUs: ~10 microseconds
#: per iteration between `train` with and without ``fused=True`` over 2000
#: iterations; 22-28 against 5-8 for the bare iteration, min / median).
FUSED_DUAL_SAVES_S = 1e-5

#: The compiled dual loop runs at most this many multiply-adds (iterations
#: times m^2) per call, so that Ctrl-C and the callback come back within
#: about 10 ms of work; on the course data (m = 209) a call stops at the next
#: recorded cost first (every 100 iterations by default).
DUAL_CHUNK_WORK = 2**25


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


def choose_solver(n_x, m, num_iterations, itemsize=8, *, lazy=False):
    """Pick ``"primal"`` or ``"dual"`` from the problem's shape.

    The dual solver costs one Gram product (``n_x m^2``) plus ``m^2`` per
    iteration; the primal one ``2 n_x m`` per iteration. Dual is chosen when
    it is cheaper by that count and its m x m Gram matrix fits in
    :data:`GRAM_LIMIT_BYTES` (on lazy backends, also at most as big as X).
    """
    gram_bytes = m * m * itemsize
    if gram_bytes > GRAM_LIMIT_BYTES or (lazy and m > n_x):
        return "primal"
    dual_work = n_x * m * m + num_iterations * m * m
    primal_work = 2 * num_iterations * n_x * m
    return "dual" if dual_work < primal_work else "primal"


def _blas_threads():
    """Threads NumPy's BLAS runs on: the usual environment variables, else the usable cores."""
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def choose_block(X):
    """Examples per block for the blocked primal loop, or None for the plain one.

    The plain primal iteration reads X from memory twice (``w.T X``, then
    ``X dZ.T``). Over blocks of examples ``Xb = X[:, j:j+B]`` the gradient
    product ``Xb dZb.T`` finds ``Xb`` still in cache, so X is read once. That
    pays only where it was measured to (benchmarks/README.md), so a block size
    is returned only when all of these hold:

    * X is a NumPy array whose columns (examples) are contiguous, as
      :func:`xlogreg.flatten_images` makes them (Fortran order). A block of a
      C-ordered X is ``n_x`` short strided runs, slower to read than the
      second pass saves. On PyTorch (CPU) blocks were no faster with one
      thread and up to 10 times slower with two (per-call overhead, thread
      pool wake-ups); JAX copies slices; Dask has its own chunked pass; on
      GPUs, not measured here, blocks would only add kernel launches.
    * X has at least :data:`BLOCK_MIN_BYTES`.
    * A block of :data:`BLOCK_ELEMENTS` holds at least
      :data:`BLOCK_MIN_EXAMPLES` examples (and fewer than m).
    * BLAS runs on one thread (``OPENBLAS_NUM_THREADS=1`` or the like, or
      one usable core). With two threads on two cores the plain loop's
      products read X at nearly twice the rate of one core, and won by up to
      40%; with one, the blocks won by 5 to 25%.

    Parameters
    ----------
    X : array of shape (n_x, m)

    Returns
    -------
    int or None
        Examples per block, or None to run the plain (two-pass) loop.
    """
    if not is_numpy_array(X):
        return None
    n_x, m = X.shape
    columns_contiguous = X.strides[0] == X.itemsize
    block = BLOCK_ELEMENTS // n_x
    if (not columns_contiguous or X.nbytes < BLOCK_MIN_BYTES or block < BLOCK_MIN_EXAMPLES
            or block >= m or _blas_threads() != 1):
        return None
    return block


def _example_blocks(X, C, block):
    """Views ``(X[:, j:j+block], C[:, j:j+block])`` covering all examples, or None."""
    if block == "auto":
        block = choose_block(X)
    if block is None:
        return None
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"block must be a number of examples >= 1, None or 'auto'; got {block!r}")
    m = X.shape[1]
    starts = range(0, m, block)
    ends = [min(j + block, m) for j in starts]  # the Array API leaves slice stops past m undefined
    return [(X[:, j:end], C[:, j:end]) for j, end in zip(starts, ends)]


def _half_gradient(wh, bh, X, C, blocks, with_h=True):
    """One pass of the primal loop on the half parameters: (H or None, g, s).

    ``H = wh.T X + bh`` (= Z / 2), ``Q = tanh(H) + C`` (= 2 (A - Y)),
    ``g = X Q.T`` and ``s = sum(Q)``: the gradient is ``dw = g / (2 m)``,
    ``db = s / (2 m)``. With `blocks`, block of examples by block: the
    gradient product ``Xb Qb.T`` comes right after the forward product
    ``wh.T Xb`` of the same block, which is then still in cache, so X is read
    from memory once instead of twice. Sums run over the blocks in order, so
    the result is deterministic; it equals the plain pass up to rounding.
    """
    if blocks is None:
        return _one_pass(wh, bh, X, C)
    xp = array_namespace(X)
    g = s = None
    H_blocks = []
    for Xb, Cb in blocks:
        Hb = wh.T @ Xb + bh
        Qb = xp.tanh(Hb) + Cb
        gb, sb = Xb @ Qb.T, xp.sum(Qb)
        g, s = (gb, sb) if g is None else (g + gb, s + sb)
        if with_h:
            H_blocks.append(Hb)
    return (xp.concat(H_blocks, axis=1) if with_h else None), g, s


def _one_pass(wh, bh, X, C):
    """:func:`_half_gradient` without blocks; compiled on JAX by the loop (:func:`xlogreg._backends.compiled`)."""
    xp = array_namespace(X)
    H = wh.T @ X + bh
    Q = xp.tanh(H) + C
    return H, X @ Q.T, xp.sum(Q)


def _dual_step(H, S, G, C):
    """One iteration of the dual loop: ``Q = tanh(H) + C``; returns ``(H - Q G, S + Q, Q)``."""
    xp = array_namespace(H)
    Q = xp.tanh(H) + C
    return H - Q @ G, S + Q, Q


def _materialize(*arrays):
    """Compute the small per-iteration state of lazy backends (Dask).

    Without this, every iteration would stack its task graph on the previous
    one; with it, w and b are concrete after each step and the graph stays the
    size of one iteration. Small arrays (w, b, the cost: up to
    :data:`_EMBED_BYTES`) are brought back and wrapped again as dask arrays
    holding their values: on a ``dask.distributed`` cluster, a persisted w
    would keep its whole history (every earlier iteration) alive on the
    scheduler, so a lost worker would replay the run from the start and the
    trained w would vanish with the client. Bigger ones (the dual's Gram
    matrix, whose history is one pass over X) stay persisted where they are.
    Eager backends get their arrays back untouched.
    """
    if any(is_dask_array(a) for a in arrays):
        import dask
        import dask.array as da

        small = [i for i, a in enumerate(arrays) if is_dask_array(a) and a.nbytes <= _EMBED_BYTES]
        if len(small) < sum(is_dask_array(a) for a in arrays):
            arrays = _dask_run(dask.persist, *arrays)  # one pass over X for all of them
        values = dict(zip(small, _dask_run(dask.compute, *(arrays[i] for i in small))))
        return tuple(da.from_array(values[i], chunks=a.chunks) if i in values else a
                     for i, a in enumerate(arrays))
    return arrays


def _dask_run(function, *arrays):
    """``dask.compute`` or ``dask.persist`` of `arrays`, with clearer errors for lost workers."""
    from ._backends import dask_task_threads, explain_dask_failure

    try:
        with dask_task_threads():
            return function(*arrays)
    except Exception as exc:
        clearer = explain_dask_failure(exc)
        if clearer is None:
            raise
        raise clearer from exc


#: Dask state up to this size is carried from one iteration to the next as data in the
#: graph (well below distributed's 10 MB "large graph" warning); bigger state is persisted.
_EMBED_BYTES = 4 * 2**20


def chunked_gradients(w, b, X, Y, with_cost=True):
    """``dw``, ``db`` (and the cost) of a Dask X in one task per chunk of examples.

    The same maths as ``forward_backward`` (and ``cost_from_z``) on the whole
    of X: each task runs those very functions on its chunk of examples (a NumPy
    array) and returns the chunk's sums ``k dw_k``, ``k db_k``, ``k cost_k``;
    the sums are added in a tree and divided by m. On Dask this reads each
    chunk of X once per iteration, keeps it for one task only (the forward and
    the backward product share it, in cache) and builds a graph of one task
    per chunk instead of about ten, which is what a lazy X (an HDF5 file read
    chunk by chunk) needs.

    Parameters
    ----------
    w : dask array of shape (n_x, 1)
    b : 0-d dask array
    X : dask array of shape (n_x, m), chunked along m (the examples)
    Y : dask array of shape (1, m)
    with_cost : bool

    Returns
    -------
    dw : dask array of shape (n_x, 1)
    db : 0-d dask array
    cost : 0-d dask array, or None without `with_cost`
    """
    n_x, m = X.shape
    # One chunk along the features: each task sees whole examples. Y must be cut where X
    # is: map_blocks pairs blocks by index, and would broadcast a Y of one block.
    X = X.rechunk({0: -1}) if X.numblocks[0] > 1 else X
    Y = Y.rechunk({0: -1, 1: X.chunks[1]}) if Y.chunks[1] != X.chunks[1] else Y
    w = w.rechunk(-1) if w.npartitions > 1 else w
    rows = n_x + (2 if with_cost else 1)
    parts = X.map_blocks(_chunk_sums, Y, w, b.reshape((1, 1)), with_cost=with_cost,
                         chunks=((rows,), (1,) * X.numblocks[1]), dtype=X.dtype)
    sums = parts.sum(axis=1, keepdims=True) / m  # (rows, 1)
    dw, db = sums[:n_x], sums[n_x, 0]
    return dw, db, (sums[n_x + 1, 0] if with_cost else None)


def _chunk_sums(X, Y, w, b, with_cost):
    """One task of :func:`chunked_gradients`: the course maths on k examples, as sums."""
    xp = array_namespace(X)
    k = X.shape[1]
    # Dask makes zeros as a broadcast view of one element (stride 0), which BLAS cannot
    # take: w.T @ X would fall back to a loop several times slower than the chunk's read.
    w = xp.asarray(w, copy=True)
    Z, dw, db, _ = forward_backward(w, xp.reshape(b, ()), X, Y)
    sums = [dw * k, xp.reshape(db * k, (1, 1))]
    if with_cost:
        sums.append(xp.reshape(cost_from_z(Z, Y) * k, (1, 1)))
    return xp.concat(sums, axis=0)


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


def _end_iteration(i, state, cost, costs, print_cost, lazy, steps=1):
    """The tail of every iteration i (or `steps` of them from i): returns ``(*state, i + steps)``.

    On lazy backends the new state (and the cost) is computed first
    (:func:`_materialize`); a cost (not None on recording iterations) is
    recorded, which checks it. The caller keeps the returned state, then calls
    :func:`_notify`, so that a Ctrl-C in the callback finds iteration i done.
    """
    if lazy:
        *state, cost = _materialize(*state, cost)
    if cost is not None:
        _record(costs, i, cost, print_cost)
    return (*state, i + steps)


def _notify(callback, i, costs, recorded):
    if callback is not None:
        callback(i, costs[-1][1] if recorded else None)


def _check_final(w, b, iterations):
    xp = array_namespace(w)
    if not (bool(xp.all(xp.isfinite(w))) and math.isfinite(float(b))):
        raise TrainingDiverged(
            f"training diverged: the parameters are not finite after {iterations} iterations; "
            "the learning rate is probably too large, try a smaller one"
        )


def choose_fused(X, num_iterations=None):
    """True where the primal loop should use the compiled pass of :mod:`xlogreg._fused`.

    That is: numba is installed, X is a NumPy float32/float64 array with
    contiguous columns (:func:`xlogreg._fused.usable`) and at least
    :data:`FUSED_MIN_BYTES`, below which X stays in cache between BLAS's two
    products anyway; and, given `num_iterations`, the reads of X it saves
    (one per iteration, at :data:`FUSED_READ_BYTES_PER_S`) take longer than
    loading the kernels in a new process (:data:`FUSED_LOAD_S`).
    """
    if not (_fused.usable(X) and X.nbytes >= FUSED_MIN_BYTES):
        return False
    return num_iterations is None or num_iterations * X.nbytes / FUSED_READ_BYTES_PER_S >= FUSED_LOAD_S


def choose_fused_dual(G, num_iterations):
    """True where the dual loop should run in compiled calls (:func:`xlogreg._fused.dual_steps`).

    That is: numba is installed, the Gram matrix G is a NumPy float32/float64
    array, and the time the compiled loop saves (:data:`FUSED_DUAL_SAVES_S`
    per iteration) exceeds that of loading it in a new process
    (:data:`FUSED_LOAD_S`): about 100,000 iterations. Shorter runs, the course
    run among them (2000 iterations, ~50 ms), finish sooner without it, unless
    asked for with ``fused=True`` (in a process that trains many times, where
    the kernels load once).
    """
    return _fused.usable(G, contiguous_columns=False) and num_iterations * FUSED_DUAL_SAVES_S >= FUSED_LOAD_S


def check_fused_option(fused):
    """Refuse a `fused` option other than ``"auto"``, True or False, naming what was given."""
    if not (isinstance(fused, bool) or (isinstance(fused, str) and fused == "auto")):
        raise ValueError(f"fused must be True, False or 'auto'; got {fused!r}")


def _check_fused(fused, A, contiguous_columns=True):
    """`fused` (True or False) as given; True where the compiled kernel cannot take A is an error."""
    if not isinstance(fused, bool):
        raise ValueError(f"fused must be True, False or 'auto'; got {fused!r}")
    if fused and not _fused.usable(A, contiguous_columns):
        raise ValueError(f"fused=True cannot run here: {_fused.why_unusable(A, contiguous_columns)}")
    return fused


def primal_loop(w, b, X, Y, num_iterations, learning_rate, record_every, print_cost=False, callback=None,
                *, block="auto", fused="auto"):
    """Gradient descent on X. Arguments are checked; b is a 0-d array.

    `fused` is True to run each iteration as one compiled pass over X
    (:mod:`xlogreg._fused`), False for the Array API code, or ``"auto"`` to
    ask :func:`choose_fused`. Without it, `block` is the number of examples
    per block of the blocked iteration, None for the plain one, or ``"auto"``
    to ask :func:`choose_block`. The loop runs on the half parameters
    ``(w / 2, b / 2)`` (see the module's docstring); halving and doubling are
    exact, so the iterates are the course's up to the rounding of the sigmoid.
    """
    if is_dask_array(X):
        if fused != "auto":
            _check_fused(fused, X)  # True is refused, with the reason
        return _chunked_primal_loop(w, b, X, Y, num_iterations, learning_rate, record_every, print_cost,
                                    callback)
    fused = choose_fused(X, num_iterations) if fused == "auto" else _check_fused(fused, X)
    m = X.shape[1]
    C = 1 - 2 * Y
    blocks = None if fused else _example_blocks(X, C, block)
    one_pass = _fused.half_gradient if fused else _backends.compiled(_one_pass, array_namespace(X))
    step = learning_rate / (4 * m)  # w / 2 -= learning_rate * (g / (2 m)) / 2
    costs = []
    state = (w / 2, b / 2, 0)
    g = s = None
    try:
        for i in range(num_iterations):
            wh, bh, _ = state
            record = i % record_every == 0
            if blocks is None:
                H, g, s = one_pass(wh, bh, X, C)
            else:
                H, g, s = _half_gradient(wh, bh, X, C, blocks, with_h=record)
            cost = cost_from_z(2 * H, Y) if record else None
            state = _end_iteration(i, (wh - step * g, bh - step * s), cost, costs, print_cost, False)
            _notify(callback, i, costs, record)
    except KeyboardInterrupt:
        wh, bh, done = state
        dw, db = (None, None) if g is None else (g / (2 * m), s / (2 * m))
        raise TrainingInterrupted(OptimizeResult(2 * wh, 2 * bh, dw, db, costs, done, "primal")) from None
    wh, bh, done = state
    w, b = 2 * wh, 2 * bh
    if g is None:  # zero iterations: report the gradient at the start
        _, dw, db, _ = forward_backward(w, b, X, Y)
    else:
        dw, db = g / (2 * m), s / (2 * m)
    return OptimizeResult(w, b, dw, db, costs, done, "primal")


def _chunked_primal_loop(w, b, X, Y, num_iterations, learning_rate, record_every, print_cost, callback):
    """The primal loop on a Dask X: one task per chunk of examples, each chunk read once."""
    costs = []
    state = (w, b, 0)
    dw = db = None
    try:
        for i in range(num_iterations):
            w, b, _ = state
            record = i % record_every == 0
            dw, db, cost = chunked_gradients(w, b, X, Y, with_cost=record)
            state = _end_iteration(i, (w - learning_rate * dw, b - learning_rate * db), cost, costs,
                                   print_cost, True)
            _notify(callback, i, costs, record)
    except KeyboardInterrupt:
        w, b, done = state
        raise TrainingInterrupted(OptimizeResult(w, b, dw, db, costs, done, "primal")) from None
    w, b, done = state
    if dw is None:  # zero iterations: report the gradient at the start
        _, dw, db, _ = forward_backward(w, b, X, Y)
    return OptimizeResult(w, b, dw, db, costs, done, "primal")


def dual_loop(w, b, X, Y, num_iterations, learning_rate, record_every, print_cost=False, callback=None,
              *, fused="auto"):
    """Gradient descent on the Gram matrix of X (same iterates as the primal loop).

    With ``w = w0 + X a`` and the half logits ``H = Z / 2``, one iteration is
    ``Q = tanh(H) + 1 - 2 Y`` (= 2 (A - Y)), ``H -= Q G`` with the scaled
    Gram matrix ``G = learning_rate / (4 m) (X.T X + 1)`` (the ``+ 1`` is the
    bias, a constant feature), and ``S += Q``: four operations on m numbers
    and one m x m product. ``a = -learning_rate / (2 m) S.T`` and
    ``b = b0 - learning_rate / (2 m) sum(S)`` are formed once, at the end.

    `fused` is True to run the iterations in compiled calls of up to
    :data:`DUAL_CHUNK_WORK` multiply-adds each (:func:`xlogreg._fused.dual_steps`,
    never past an iteration whose cost is recorded; G must be a NumPy
    float32/float64 array: X on NumPy, or a small Dask state, computed), False
    for the Array API code, or ``"auto"`` to ask :func:`choose_fused_dual`.
    The callback of each iteration of a call is called after the call.
    """
    xp = array_namespace(X)
    m = X.shape[1]
    lazy = is_dask_array(X)
    # (m, m) and (1, m): the only passes over X before the end
    G, z0 = _materialize((X.T @ X + 1) * (learning_rate / (4 * m)), w.T @ X)
    H, L = (z0 + b) / 2, Y
    back = _identity
    if lazy and G.nbytes <= _EMBED_BYTES:
        # Dask would spend a scheduling round (~15 ms) on each iteration of a state this small:
        # iterate on the computed values, and hand the result back to Dask once, at the end.
        import dask
        import dask.array as da

        G, H, L = _dask_run(dask.compute, G, H, Y)
        lazy, back = False, da.from_array
    if fused == "auto":
        fused = choose_fused_dual(G, num_iterations)
    else:
        fused = _check_fused(fused, G, contiguous_columns=False)
    xl = array_namespace(G)  # the loop's namespace: X's, or NumPy's for a small Dask state
    C = 1 - 2 * L
    unscale = learning_rate / (2 * m)
    if fused:
        R = _fused.dual_rows(G)
        chunk = max(1, DUAL_CHUNK_WORK // (m * m))
    else:
        iterate = _backends.compiled(_dual_step, xl)

    def params(S):
        S = back(S)
        return w - X @ (S.T * unscale), b - xp.sum(S) * unscale

    costs = []
    state = (H, xl.zeros_like(H), 0)
    Q = None
    try:
        while state[2] < num_iterations:
            H, S, i = state
            record = i % record_every == 0
            cost = cost_from_z(2 * H, L) if record else None
            if fused:  # up to the next recorded iteration, the end, or a chunk of work
                steps = min(num_iterations, (i // record_every + 1) * record_every, i + chunk) - i
                H, S, Q = _fused.dual_steps(R, H, C, S, steps)
            else:
                steps = 1
                H, S, Q = iterate(H, S, G, C)
            state = _end_iteration(i, (H, S), cost, costs, print_cost, lazy, steps)
            for j in range(i, i + steps):
                _notify(callback, j, costs, record and j == i)
    except KeyboardInterrupt:
        _, S, done = state
        raise TrainingInterrupted(OptimizeResult(*params(S), None, None, costs, done, "dual")) from None
    _, S, done = state
    if Q is None:  # zero iterations: report the gradient at the start
        w_final, b_final = _materialize(*params(S))
        _, dw, db, _ = forward_backward(w_final, b_final, X, Y)
    else:  # w = w0 + X a and the last gradient X Q.T / (2 m) in one product over X
        S, Q = back(S), back(Q)
        P = X @ xp.concat([S.T * -unscale, Q.T / (2 * m)], axis=1)
        w_final, b_final, dw, db = _materialize(w + P[:, :1], b - xp.sum(S) * unscale, P[:, 1:],
                                                xp.sum(Q) / (2 * m))
    return OptimizeResult(w_final, b_final, dw, db, costs, done, "dual")


def _identity(a):
    return a



def run(w, b, X, Y, num_iterations, learning_rate, *, solver="auto", record_every=100,
        print_cost=False, callback=None, fused="auto"):
    """Run gradient descent on checked inputs; returns an :class:`OptimizeResult`.

    ``b`` may be a Python float; it becomes a 0-d array of X's dtype and device.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)}; got {solver!r}")
    check_fused_option(fused)
    xp = array_namespace(X)
    if not v.is_array(b):
        b = xp.asarray(b, dtype=X.dtype, device=get_device(X))
    if solver == "auto":
        n_x, m = X.shape
        itemsize = xp.finfo(X.dtype).bits // 8
        solver = choose_solver(n_x, m, num_iterations, itemsize, lazy=is_dask_array(X))
    loop = dual_loop if solver == "dual" else primal_loop
    # Overflow in a diverging run is detected where costs are recorded and at
    # the end, and raised as TrainingDiverged; the backend's own floating-point
    # warnings would only pre-empt that clear error.
    with _backends.floating_point_errors_ignored(xp):
        result = loop(w, b, X, Y, num_iterations, learning_rate, record_every, print_cost, callback, fused=fused)
        _check_final(result.w, result.b, result.iterations)
    return result


def optimize(w, b, X, Y, num_iterations=100, learning_rate=0.009, print_cost=False, *,
             solver="auto", record_every=100, callback=None, fused="auto"):
    """Learn w and b by batch gradient descent, as in the course.

    Parameters
    ----------
    w : array of shape (n_x, 1)
    b : float or 0-d array
    X : array of shape (n_x, m)
    Y : array of shape (1, m) (or (m,)) of labels 0 / 1
    num_iterations : int >= 0
    learning_rate : float > 0
    print_cost : bool
        Print ``Cost after iteration i: ...`` every `record_every` iterations.
    solver : {"auto", "primal", "dual"}
        ``"dual"`` runs the same iterates on the m x m Gram matrix; ``"auto"``
        picks the cheaper one from the shapes (:func:`choose_solver`).
    record_every : int
        Record (and print) the cost every this many iterations, from 0.
    callback : callable, optional
        ``callback(i, cost)`` after iteration i; cost is the recorded float
        on recording iterations, else None. It costs no device sync.
    fused : {"auto", True, False}
        The optional compiled kernels (numba: ``pip install "xlogreg[fast]"``;
        NumPy float32/float64 only): True wherever they apply (an error where
        they cannot), False never, ``"auto"`` where they are predicted to save
        more than the ~1 s a new process takes to load them
        (:func:`choose_fused`, :func:`choose_fused_dual`). True pays in a
        process that trains many times: the course run takes ~30 instead of
        ~50 ms once they are loaded.

    Returns
    -------
    params : dict
        ``"w"``, ``"b"`` (arrays in the namespace and on the device of X).
    grads : dict
        ``"dw"``, ``"db"`` of the last iteration.
    costs : list of float
        The cost at iterations 0, record_every, 2 record_every, ...

    Raises
    ------
    TrainingDiverged
        When the cost or the parameters stop being finite.
    TrainingInterrupted
        On Ctrl-C; it carries the parameters reached.
    """
    w, b, X, Y = check_problem(w, b, X, Y)
    num_iterations = v.check_iterations(num_iterations)
    learning_rate = v.check_learning_rate(learning_rate)
    record_every = v.check_positive_int(record_every, "record_every")
    v.check_callback(callback)
    result = run(w, b, X, Y, num_iterations, learning_rate, solver=solver, record_every=record_every,
                 print_cost=print_cost, callback=callback, fused=fused)
    params = {"w": result.w, "b": result.b}
    grads = {"dw": result.dw, "db": result.db}
    return params, grads, [c for _, c in result.costs]
