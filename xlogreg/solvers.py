"""Batch gradient descent loops: the course's ``optimize``, in primal and dual form.

Every loop minimises the objective of :mod:`xlogreg._loss` (binary or
softmax, sample weights, L2) and reads the data only through it; they run
the same iterates (up to rounding):

* **primal** works on X, ``O(k n_x m)`` per iteration: one
  :func:`xlogreg._loss.raw_pass` (``Z = W.T X + b``, ``G = X Q.T``), then
  ``W -= learning_rate dW``.
* **dual** uses that gradient descent started at ``W0`` keeps
  ``W = c^t W0 + X A`` for a matrix ``A`` of one row per example, since
  every step adds X times a matrix (and, with L2, scales W by
  ``c = 1 - learning_rate l2 / S``). With the Gram matrix ``X.T X``
  (m x m, computed once) the logits move without touching X: ``O(k m^2)``
  per iteration instead of ``O(k n_x m)``, much cheaper when there are more
  features than examples (the cat data: 12288 features, 209 examples).

Inside the loops there is no host synchronisation except where a cost is
recorded (every ``record_every`` iterations), which is also where divergence
is detected and where the stopping rule (``tol``: the gradient's norm) is
checked; the cost itself is only computed on those iterations. On JAX an
iteration (:func:`_pass_function`, :func:`_dual_function`) runs under
``jax.jit`` (:func:`xlogreg._backends.compiled`).

The primal iteration reads X twice (``W.T X`` and ``X Q.T``), so it runs at
about twice the time of one pass over X once X is larger than the cache.
Where it was measured to pay (NumPy with one BLAS thread, see
:func:`choose_block`), the loop runs over blocks of examples instead: each
block's gradient product reuses the block while it is still in cache, so X
comes from memory once per iteration. The iterates are the same up to
rounding (the gradient is summed block by block, in a fixed order, so runs
are reproducible). On NumPy with numba installed, the compiled pass of
:mod:`xlogreg._fused` does the same in one read of X in C or Fortran order
(``fused=``), for the binary and the softmax loss, with or without sample
weights; it covers L2 too (the decay is applied outside the pass), and every
other case runs the Array API code.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass, field

from array_api_compat import array_namespace, device as get_device, is_dask_array, is_numpy_array

from . import _backends, _fused, _loss, _machine
from . import _validation as v
from .core import check_problem

__all__ = ["optimize", "choose_solver", "choose_block", "choose_fused", "TrainingDiverged", "TrainingInterrupted",
           "SOLVERS"]

SOLVERS = ("auto", "primal", "dual", "newton-cg", "newton-cholesky")

# Where each tuning value comes from: the table in xlogreg/_machine.py. A value of None
# below means "from the machine" (its function beside it); an int set here overrides it.

#: The dual solver is not chosen automatically when its Gram matrix would
#: exceed this many bytes, nor an eighth of the memory this process may use
#: (:func:`_gram_limit_bytes`). Not a measurement: room for the Gram matrix
#: beside X on the recorded machine (23.5 GiB), and on smaller ones.
GRAM_LIMIT_BYTES = 2 * 2**30

#: Elements of X per block of examples in the blocked primal loop; None: as
#: many as the L2 cache has bytes, at most an L3 / 64 (:func:`_block_elements`).
#: Measured best (of 2**16 ... 2**20) on the recorded machine, an AMD EPYC with
#: 512 KiB of L2 per core and 32 MiB of L3 (benchmarks/README.md): 2**19, that
#: is 4 MiB of float64 (8 x L2, L3 / 8) and 2 MiB of float32.
BLOCK_ELEMENTS = None

#: The blocked loop is only used for X at least this large; None: twice the
#: L3 cache (64 MiB on the recorded machine; :func:`_block_min_bytes`). Smaller
#: X stays in the L3 cache between the two products of the plain loop anyway.
BLOCK_MIN_BYTES = None

#: ... and only when a block holds at least this many examples, so that the
#: ~20 microseconds of Python per block stay small against its products.
#: A measured constant (recorded machine): Python's cost per block is not read.
BLOCK_MIN_EXAMPLES = 128

#: The compiled one-pass primal iteration (:mod:`xlogreg._fused`) is chosen
#: automatically for X of at least this many bytes; None: the L3 cache as read
#: (:func:`_fused_min_bytes`), 32 MiB on the recorded machine, where it was
#: measured. Smaller X stays in L3 between BLAS's two products, and
#: the compiled pass was sometimes faster, sometimes slower there; above, it
#: won clearly (2 vCPUs, 20 iterations, best of 7, compiled / BLAS: 0.42 for
#: 100 x 50,000 float64, 0.61 for 1000 x 5,000 float64, both 40 MB; 0.89 and
#: 1.25 for the float32 halves, 20 MB; 1.34 for the course data, 20 MB).
FUSED_MIN_BYTES = None

#: Seconds it takes a new process to load the compiled kernels (import numba,
#: then numba's on-disk cache): 0.7 s measured on the 2-vCPU machine of
#: benchmarks/README.md, rounded up. ``fused="auto"`` uses them only where they
#: are predicted to save more than this. A measured constant: it cannot be read
#: without loading them.
FUSED_LOAD_S = 1.0

#: For that prediction: the primal pass saves about one read of X per
#: iteration, at this many bytes per second (one core of the recorded machine
#: streams 18-24 GB/s). A measured constant: memory bandwidth cannot be read
#: without timing ...
FUSED_READ_BYTES_PER_S = 20e9

#: ... and the compiled dual loop the Python and dispatch of five NumPy calls
#: per iteration, this many seconds (course data, 2 vCPUs: ~10 microseconds
#: per iteration between `train` with and without ``fused=True`` over 2000
#: iterations; 22-28 against 5-8 for the bare iteration, min / median). A
#: measured constant, as the two above.
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
    converged: bool = False
    #: ``(W, b) -> W.T X + b`` where the loop has a faster way than the loss's (the compiled pass), else None.
    logits: object = None


def choose_solver(n_x, m, num_iterations, itemsize=8, *, lazy=False, k=1):
    """Pick ``"primal"`` or ``"dual"`` from the problem's shape.

    With k rows of logits (1 for the binary loss, K classes for softmax), the
    dual solver costs one Gram product (``n_x m^2``) plus ``k m^2`` per
    iteration; the primal one ``2 k n_x m`` per iteration. Dual is chosen when
    it is cheaper by that count and its m x m Gram matrix fits in
    :func:`_gram_limit_bytes` (on lazy backends, also at most as big as X).
    """
    gram_bytes = m * m * itemsize
    if gram_bytes > _gram_limit_bytes() or (lazy and m > n_x):
        return "primal"
    dual_work = n_x * m * m + num_iterations * k * m * m
    primal_work = 2 * num_iterations * k * n_x * m
    return "dual" if dual_work < primal_work else "primal"


def _gram_limit_bytes():
    """:data:`GRAM_LIMIT_BYTES`, at most an eighth of the memory (:func:`xlogreg._machine.memory_bytes`)."""
    return min(GRAM_LIMIT_BYTES, _machine.memory_bytes() // 8)


def _block_elements():
    """:data:`BLOCK_ELEMENTS`, or as many as the L2 cache has bytes, at most L3 / 64 (both 2**19 as recorded)."""
    if BLOCK_ELEMENTS is not None:
        return BLOCK_ELEMENTS
    return min(_machine.cache_bytes("l2"), _machine.cache_bytes("l3") // 64)


def _block_min_bytes():
    """:data:`BLOCK_MIN_BYTES`, or twice the L3 cache (:mod:`xlogreg._machine`)."""
    return 2 * _machine.cache_bytes("l3") if BLOCK_MIN_BYTES is None else BLOCK_MIN_BYTES


def _fused_min_bytes():
    """:data:`FUSED_MIN_BYTES`, or the L3 cache (:mod:`xlogreg._machine`)."""
    return _machine.cache_bytes("l3") if FUSED_MIN_BYTES is None else FUSED_MIN_BYTES


def _blas_threads():
    """Threads NumPy's BLAS runs on now (:func:`xlogreg._machine.blas_threads`: threadpoolctl, else the
    usual environment variables, else the usable cores)."""
    return _machine.blas_threads()


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
    block = _block_elements() // n_x
    if (not columns_contiguous or X.nbytes < _block_min_bytes() or block < BLOCK_MIN_EXAMPLES
            or block >= m or _blas_threads() != 1):
        return None
    return block


def _example_blocks(X, targets, weights, block):
    """Views ``(X[:, j:j+block], targets[:, j:j+block], weights[...])`` covering all examples, or None."""
    if block == "auto":
        block = choose_block(X)
    if block is None:
        return None
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"block must be a number of examples >= 1, None or 'auto'; got {block!r}")
    m = X.shape[1]
    starts = range(0, m, block)
    ends = [min(j + block, m) for j in starts]  # the Array API leaves slice stops past m undefined
    return [(X[:, j:end], targets[:, j:end], None if weights is None else weights[:, j:end])
            for j, end in zip(starts, ends)]


def _blocked_pass(W, b, blocks, multinomial, with_z=True):
    """:func:`xlogreg._loss.raw_pass` block of examples by block: ``(Z or None, G, s)``.

    The gradient product ``Xb Qb.T`` comes right after the forward product
    ``W.T Xb`` of the same block, which is then still in cache, so X is read
    from memory once instead of twice. Sums run over the blocks in order, so
    the result is deterministic; it equals the plain pass up to rounding.
    """
    xp = array_namespace(W)
    G = s = None
    Z_blocks = []
    for Xb, Tb, sb in blocks:
        Zb, Gb, s_b, _ = _loss.raw_pass(W, b, Xb, Tb, sb, multinomial, with_loss=False)
        G, s = (Gb, s_b) if G is None else (G + Gb, s + s_b)
        if with_z:
            Z_blocks.append(Zb)
    return (xp.concat(Z_blocks, axis=1) if with_z else None), G, s


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


@functools.cache
def _dual_function(multinomial, weighted, decay):
    """One iteration of the dual loop, ``(Z, S, b, Gs, c, targets[, weights]) -> (Z, S, b, Q)``.

    ``Q`` is the residual at Z; the new state is ``S = c S + Q``,
    ``Z = c Z + (1 - c) b - Q Gs`` and ``b = b - sum(Q) step`` (the last
    two only with L2, ``decay``; without it ``c = 1``, b is formed at the end).
    """
    def _dual_step(Z, S, b, Gs, c, step_size, targets, *weights):
        xp = array_namespace(Z)
        Q = _loss.residual(Z, targets, weights[0] if weighted else None, multinomial)
        if not decay:
            return Z - Q @ Gs, S + Q, b, Q
        return (c * Z + (1 - c) * b - Q @ Gs, c * S + Q,
                b - step_size * xp.sum(Q, axis=1, keepdims=True), Q)

    return _dual_step


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
    return _as_data(*arrays)


def _as_data(*arrays):
    """:func:`_materialize`'s work (the loops' setup calls it directly, the iterations through it)."""
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



def chunked_pass(W, b, X, labels, weights, multinomial, with_loss=True):
    """:func:`xlogreg._loss.raw_pass` on a Dask X, one task per chunk of examples: ``(G, s, loss)``.

    Each task runs that very function on its chunk of examples (NumPy arrays)
    and returns the chunk's sums; the sums are added in a tree. This reads
    each chunk of X once per iteration, keeps it for one task only (the
    forward and the backward product share it, in cache) and builds a graph
    of one task per chunk, which is what a lazy X (an HDF5 file read chunk by
    chunk) needs. The multinomial targets are made in each task from the
    labels (one-hot of K rows would not line up with X's chunks).

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
        ``X Q.T`` (:func:`xlogreg._loss.residual`).
    s : dask array of shape (k, 1)
    loss : 0-d dask array ``sum_i s_i L_i``, or None without `with_loss`
    """
    n_x, m = X.shape
    k = W.shape[1]
    # One chunk along the features: each task sees whole examples. The labels (and weights)
    # must be cut where X is: map_blocks pairs blocks by index, and broadcasts a single block.
    X = X.rechunk({0: -1}) if X.numblocks[0] > 1 else X

    def along_x(a):
        return a.rechunk({0: -1, 1: X.chunks[1]}) if a.chunks[1] != X.chunks[1] else a

    extra = [] if weights is None else [along_x(weights)]
    W = W.rechunk(-1) if W.npartitions > 1 else W
    # columns of shape (n_x, 1) and (1, 1): they broadcast against X's blocks, k columns would not
    columns = [W[:, j:j + 1] for j in range(k)] + [b.reshape((k, 1))[j:j + 1, :] for j in range(k)]
    rows = (n_x + 1 + (1 if with_loss else 0)) * k
    parts = X.map_blocks(_chunk_sums, along_x(labels), *extra, *columns, k=k, weighted=weights is not None,
                         multinomial=multinomial, with_loss=with_loss,
                         chunks=((rows,), (1,) * X.numblocks[1]), dtype=X.dtype)
    sums = parts.sum(axis=1).reshape((rows // k, k))
    return sums[:n_x], sums[n_x:n_x + 1].T, (sums[n_x + 1, 0] if with_loss else None)


def _chunk_sums(X, labels, *rest, k, weighted, multinomial, with_loss):
    """One task of :func:`chunked_pass`: ``G``, ``s`` (and the loss) of a chunk, as one column."""
    xp = array_namespace(X)
    weights, rest = (rest[0], rest[1:]) if weighted else (None, rest)
    # concat makes W a new contiguous array: Dask makes zeros as a broadcast view of one element
    # (stride 0), which BLAS cannot take (W.T @ X would fall back to a loop several times slower).
    W = xp.concat(rest[:k], axis=1)
    b = xp.concat(rest[k:], axis=0)
    targets = _loss.one_hot(labels, k) if multinomial else labels
    _, G, s, total = _loss.raw_pass(W, b, X, targets, weights, multinomial, with_loss=with_loss)
    sums = [G, s.T]
    if with_loss:
        sums.append(xp.zeros((1, k), dtype=X.dtype, device=get_device(X)) + total)
    return xp.reshape(xp.concat(sums, axis=0), (-1, 1))


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


def _load_cost_s():
    """Seconds that using the compiled kernels adds for loading them: :data:`FUSED_LOAD_S`, or 0 once loaded."""
    return 0.0 if _fused.loaded() else FUSED_LOAD_S


def choose_fused(X, num_iterations=None):
    """True where the primal loop should use the compiled pass of :mod:`xlogreg._fused`.

    That is: numba is installed, X is a NumPy float32/float64 array in C or
    Fortran order (:func:`xlogreg._fused.usable`) and at least
    :data:`FUSED_MIN_BYTES`, below which X stays in cache between BLAS's two
    products anyway; and, given `num_iterations`, the reads of X it saves
    (one per iteration, at :data:`FUSED_READ_BYTES_PER_S`) take longer than
    loading the kernels in a new process (:data:`FUSED_LOAD_S`; nothing once
    this process has loaded them).
    """
    if not (_fused.usable(X) and X.nbytes >= _fused_min_bytes()):
        return False
    return num_iterations is None or num_iterations * X.nbytes / FUSED_READ_BYTES_PER_S >= _load_cost_s()


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
    return _fused.usable(G, contiguous_columns=False) and num_iterations * FUSED_DUAL_SAVES_S >= _load_cost_s()


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


def _default_loss(X, Y, loss):
    return loss if loss is not None else _loss.LogisticLoss(X, Y)


def primal_loop(w, b, X, Y, num_iterations, learning_rate, record_every, print_cost=False, callback=None,
                *, block="auto", fused="auto", loss=None, tol=None, check_x=None):
    """Gradient descent on X. Arguments are checked; b is a 0-d or a ``(k, 1)`` array.

    One iteration is one :func:`xlogreg._loss.raw_pass`, then
    ``W = W - learning_rate dW`` and ``b = b - learning_rate db``. `loss`
    (:class:`xlogreg._loss.LogisticLoss`) holds the targets, the sample
    weights and the L2 term; without it, Y's unweighted binary loss.
    `fused` is True to run each iteration as one compiled pass over X
    (:mod:`xlogreg._fused`: NumPy X in C or Fortran order),
    False for the Array API code, or ``"auto"`` to ask :func:`choose_fused`.
    Without it, `block` is the number of examples per block of the blocked
    iteration, None for the plain one, or ``"auto"`` to ask
    :func:`choose_block`. With `tol`, training stops at the first recorded
    iteration whose gradient norm is at most `tol` (:func:`run`). `check_x`
    is None where X is known to be finite, else X's name: see :func:`run`.
    """
    loss = _default_loss(X, Y, loss)
    W, b, back = _matrix_params(w, b)
    with _shaped_interrupt(back):
        if is_dask_array(X):
            if fused != "auto":
                _check_fused(fused, X)  # True is refused, with the reason
            if check_x is not None:
                v.check_finite(X, check_x)
            return back(_chunked_primal_loop(W, b, loss, num_iterations, learning_rate, record_every, print_cost,
                                             callback, tol))
        return back(_eager_primal_loop(W, b, loss, num_iterations, learning_rate, record_every, print_cost,
                                       callback, block, fused, tol, check_x))


@contextlib.contextmanager
def _shaped_interrupt(back):
    """Give a :class:`TrainingInterrupted`'s result the caller's shapes too (see :func:`_matrix_params`)."""
    try:
        yield
    except TrainingInterrupted as exc:
        back(exc.result)
        raise


def _compiled_dual_covers(loss):
    """The compiled dual loop computes the binary loss without sample weights only."""
    return not loss.multinomial and loss.weights is None


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
        fused = choose_fused(X, num_iterations)
    else:
        _check_fused(fused, X)
    if check_x is not None and not (fused and num_iterations > 0):
        v.check_finite(X, check_x)  # else the first compiled pass checks X (_check_x_by_pass)
        check_x = None
    T, weights = loss.targets, loss.weights
    blocks = None if fused else _example_blocks(X, T, weights, block)
    if fused:
        one_pass = _fused.PrimalPass(X, T, weights, loss.multinomial)
    elif blocks is None:
        compiled = _backends.compiled(_pass_function(loss.multinomial, weights is not None), xp)
        data = (T,) if weights is None else (T, weights)

        def one_pass(W, b, with_z):
            return compiled(W, b, X, *data)
    else:
        def one_pass(W, b, with_z):
            return _blocked_pass(W, b, blocks, loss.multinomial, with_z)

    c = 1 - learning_rate * loss.alpha  # W's decay per step under L2
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
    W, b = _as_data(W, b)  # data, not the recipes of zeros: every iteration's graph is the same
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
                *new, dW, db, cost, gradient_sq = _materialize(*new, dW, db, cost, _sum_sq(dW, db))
                _record(costs, i, cost, print_cost)
                if _converged(gradient_sq, tol):
                    converged = True
                    break
            else:
                *new, dW, db = _materialize(*new, dW, db)
            state = (*new, i + 1)
            _notify(callback, i, costs, record)
    except KeyboardInterrupt:
        W, b, done = state
        raise TrainingInterrupted(OptimizeResult(W, b, dW, db, costs, done, "primal")) from None
    W, b, done = state
    if dW is None:  # zero iterations: report the gradient at the start
        G, s, _ = chunked_pass(W, b, X, labels, weights, loss.multinomial, with_loss=False)
        dW, db = _materialize(*loss.gradient_from_raw(G, s, W))
    return OptimizeResult(W, b, dW, db, costs, done, "primal", converged)


def dual_loop(w, b, X, Y, num_iterations, learning_rate, record_every, print_cost=False, callback=None,
              *, fused="auto", loss=None, tol=None):
    """Gradient descent on the Gram matrix of X (same iterates as the primal loop).

    Every step adds ``X`` times a matrix to W (``dW = scale X Q.T + alpha W``),
    so ``W = c^t W0 + X A`` with ``A`` of shape ``(m, k)`` and
    ``c = 1 - learning_rate alpha`` (1 without L2). With the Gram matrix
    ``G1 = X.T X + 1`` (the ``+ 1`` is the bias, a constant feature), the
    logits move without touching X::

        Q = residual(Z)                  (k, m)
        Z = c Z + (1 - c) b - Q Gs       Gs = learning_rate scale G1
        S = c S + Q                      A = -learning_rate scale S.T
        b = b - learning_rate scale sum(Q)

    ``O(k m^2)`` per iteration instead of ``O(k n_x m)``. The cost (with the
    penalty ``||W||^2 = c^2t ||W0||^2 + 2 c^t <W0.T X, A.T> + <A, K A>``) and
    the gradient's norm for `tol` come from the same m x m products; W is
    formed once, at the end, in one product over X together with the last
    gradient.

    `fused` is True to run the iterations in compiled calls of up to
    :data:`DUAL_CHUNK_WORK` multiply-adds each (:func:`xlogreg._fused.dual_steps`:
    the binary loss without sample weights or L2, Gs a NumPy float32/float64
    array; never past an iteration whose cost is recorded), False for the
    Array API code, or ``"auto"`` to ask :func:`choose_fused_dual`. The
    callback of each iteration of a call is called after the call.
    """
    loss = _default_loss(X, Y, loss)
    W0, b0, back_shape = _matrix_params(w, b)
    with _shaped_interrupt(back_shape):
        return back_shape(_dual_loop(W0, b0, loss, num_iterations, learning_rate, record_every, print_cost,
                                     callback, fused, tol))


def _dual_loop(W0, b0, loss, num_iterations, learning_rate, record_every, print_cost, callback, fused, tol):
    X = loss.X
    xp = array_namespace(X)
    lazy = is_dask_array(X)
    c = 1 - learning_rate * loss.alpha
    step = learning_rate * loss.scale
    # (m, m) and (k, m): the only passes over X before the end
    G1, P0 = _materialize(X.T @ X + 1, W0.T @ X)
    Z, T, weights, b = P0 + b0, loss.targets, loss.weights, b0
    back = _identity
    if lazy and G1.nbytes <= _EMBED_BYTES:
        # Dask would spend a scheduling round (~15 ms) on each iteration of a state this small:
        # iterate on the computed values, and hand the result back to Dask once, at the end.
        import dask
        import dask.array as da

        G1, P0, Z, b, T, weights = _dask_run(dask.compute, G1, P0, Z, b, T, weights)
        lazy, back = False, da.from_array
    xl = array_namespace(G1)  # the loop's namespace: X's, or NumPy's for a small Dask state
    Gs = G1 * step
    simple = _compiled_dual_covers(loss) and not loss.alpha
    if fused == "auto":
        fused = simple and choose_fused_dual(Gs, num_iterations)
    elif _check_fused(fused, Gs, contiguous_columns=False) and not simple:
        raise ValueError("fused=True cannot run here: the compiled dual loop computes the binary loss without "
                         "sample weights or L2 only; use fused='auto' (the Array API loop) for this problem")
    if fused:
        R, C = _fused.dual_rows(Gs * 0.5), 1 - 2 * T  # in half logits H = Z / 2: H -= Q (Gs / 2)
        chunk = max(1, DUAL_CHUNK_WORK // (X.shape[1] ** 2))
    else:
        iterate = _backends.compiled(_dual_function(loss.multinomial, weights is not None, bool(loss.alpha)), xl)
        data = (T,) if weights is None else (T, weights)
    w0_sq = float(_sum_sq(W0)) if loss.alpha else 0.0

    def gram_times(A):  # K A = G1 A - 1 sum(A): the Gram matrix without the bias column
        return G1 @ A - xl.sum(A, axis=0, keepdims=True)

    def record_point(i, Z, S, Q):
        """Record the cost at iteration i; True where the stopping rule holds."""
        A = S.T * -step
        cost = loss.data_value(Z)
        if loss.alpha:
            ci = c ** i
            cost = cost + loss.alpha / 2 * (ci * ci * w0_sq + 2 * ci * xl.sum(P0.T * A) + xl.sum(A * gram_times(A)))
        _record(costs, i, cost, print_cost)
        if tol is None:
            return False
        if Q is None:  # the compiled loop: Q at iteration i from Z
            Q = _loss.residual(Z, T, weights, loss.multinomial)
        D = Q.T * loss.scale + (A * loss.alpha if loss.alpha else 0)  # dW = X D + alpha c^i W0
        ci = c ** i
        dW_sq = xl.sum(D * gram_times(D))
        if loss.alpha:
            dW_sq = dW_sq + 2 * loss.alpha * ci * xl.sum(P0.T * D) + (loss.alpha * ci) ** 2 * w0_sq
        return _converged(dW_sq + _sum_sq(xl.sum(Q, axis=1) * loss.scale), tol)

    costs = []
    state = (Z, xl.zeros_like(Z), b, 0)
    last = None  # (Q, S before it, iteration) of the last step: the gradient reported at the end
    converged = False
    try:
        while state[3] < num_iterations:
            Z, S, b, i = state
            record = i % record_every == 0
            if fused:  # up to the next recorded iteration, the end, or a chunk of work
                steps = min(num_iterations, (i // record_every + 1) * record_every, i + chunk) - i
                if record and record_point(i, Z, S, None):
                    last, converged = (_loss.residual(Z, T, weights, loss.multinomial), S, i), True
                    break
                H, S_new, Q = _fused.dual_steps(R, Z * 0.5, C, S, steps)
                new = (2 * H, S_new, b)
                last = (Q, S_new - Q, i + steps - 1)
            else:
                steps = 1
                *new, Q = iterate(Z, S, b, Gs, c, step, *data)
                last = (Q, S, i)
                if record and record_point(i, Z, S, Q):
                    converged = True
                    break
            if lazy:
                new = _materialize(*new)
            state = (*new, i + steps)
            for j in range(i, i + steps):
                _notify(callback, j, costs, record and j == i)
    except KeyboardInterrupt:
        Z, S, b, done = state
        W, b = _dual_params(X, W0, b0, back(S), back(b), c, step, done, loss)
        raise TrainingInterrupted(OptimizeResult(W, b, None, None, costs, done, "dual")) from None
    _, S, b, done = state
    if last is None:  # zero iterations: the gradient at the start
        W, b = _materialize(*_dual_params(X, W0, b0, back(S), back(b), c, step, done, loss))
        dW, db = loss.gradient(W, b)
        return OptimizeResult(W, b, dW, db, costs, done, "dual", converged)
    Q, S_before, j = (back(a) if not isinstance(a, int) else a for a in last)
    S = back(S)
    b = b0 - xp.sum(S, axis=1, keepdims=True) * step if not loss.alpha else back(b)
    # W = c^done W0 + X A and the last gradient X D + alpha c^j W0 in one product over X
    D = Q.T * loss.scale + (S_before.T * (-step * loss.alpha) if loss.alpha else 0)
    k = W0.shape[1]
    P = X @ xp.concat([S.T * -step, D], axis=1)
    W, dW = P[:, :k], P[:, k:]
    if loss.alpha:
        W, dW = W + (c ** done) * W0, dW + (loss.alpha * c ** j) * W0
    else:
        W = W + W0
    W, b, dW, db = _materialize(W, b, dW, xp.sum(Q, axis=1, keepdims=True) * loss.scale)
    return OptimizeResult(W, b, dW, db, costs, done, "dual", converged)


def _dual_params(X, W0, b0, S, b, c, step, done, loss):
    """``(W, b)`` after `done` iterations of the dual loop, from its state S (and b with L2)."""
    xp = array_namespace(X)
    W = X @ (S.T * -step) + (c ** done if loss.alpha else 1) * W0
    return W, (b if loss.alpha else b0 - xp.sum(S, axis=1, keepdims=True) * step)


def _identity(a):
    return a


#: :func:`newton_loop` warns when the cost without L2 ends below this: separable data.
SEPARABLE_COST = 1e-6


def newton_loop(w, b, X, Y, num_iterations, record_every, print_cost=False, callback=None, *, loss=None,
                tol=None, method="newton-cg"):
    """Newton's method with the loops' interface; returns an :class:`OptimizeResult`.

    `method` is ``"newton-cg"`` (:func:`xlogreg.newton.newton_cg`) or
    ``"newton-cholesky"`` (:func:`xlogreg.newton.newton_cholesky`).

    At most `num_iterations` Newton iterations; `tol` None runs until the line
    search finds no decrease (the optimum within rounding). The cost of every
    `record_every`-th iterate is recorded (and printed); ``callback(i, cost)``
    follows every iteration. Ctrl-C raises :class:`TrainingInterrupted` with
    the last iterate whose cost is known.
    """
    from . import newton

    loss = _default_loss(X, Y, loss)
    W, b, back = _matrix_params(w, b)
    lazy = is_dask_array(X)
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

    def settle(*arrays):
        return _materialize(*arrays)

    def use_gram():
        """Newton-CG on the Gram matrix: more features than examples, eager, from W = 0 (see newton._Gram)."""
        n_x, m = X.shape
        if lazy or n_x <= m or m * m > _gram_limit_bytes() // 8:
            return False
        xp = array_namespace(W)
        return not bool(xp.any(W != 0))

    with _shaped_interrupt(back):
        try:
            options = dict(tol=0.0 if tol is None else tol, max_iter=num_iterations, record=record,
                           settle=settle if lazy else None, iterations_name="num_iterations")
            if method == "newton-cg":
                result = newton.newton_cg(loss, W, b, gram=use_gram(), **options)
            else:
                result = newton.newton_cholesky(loss, W, b, **options)
        except KeyboardInterrupt:
            state, done = reached[0]
            raise TrainingInterrupted(OptimizeResult(*state(), None, None, costs, done, method)) from None
    if result.iterations not in [i for i, _ in costs] and result.costs:
        costs.append(result.costs[-1])  # the final cost, recorded whatever record_every says
    if not loss.alpha and costs and costs[-1][1] < SEPARABLE_COST:
        from . import _warnings

        norm = math.sqrt(float(_sum_sq(result.w)))
        _warnings.warn(
            f"{method}: the cost fell to {costs[-1][1]:.3g}: the training data look linearly separable, and "
            f"without L2 the optimum is at infinity; the weights returned are those reached after "
            f"{result.iterations} iterations (norm {norm:.3g}). Use l2 > 0 for a finite optimum",
            newton.ConvergenceWarning)
    return back(OptimizeResult(result.w, result.b, result.dw, result.db, costs, result.iterations, method,
                               result.converged))


def run(w, b, X, Y, num_iterations, learning_rate, *, solver="auto", record_every=100,
        print_cost=False, callback=None, fused="auto", loss=None, tol=None, check_x=None):
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
    pass's first gradient (:func:`_check_x_by_pass`), which saves a read of X.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)}; got {solver!r}")
    check_fused_option(fused)
    xp = array_namespace(X)
    if not v.is_array(b):
        b = xp.asarray(b, dtype=X.dtype, device=get_device(X))
    loss = _default_loss(X, Y, loss)
    if solver == "auto":
        n_x, m = X.shape
        itemsize = xp.finfo(X.dtype).bits // 8
        solver = choose_solver(n_x, m, num_iterations, itemsize, lazy=is_dask_array(X), k=loss.k)
    if check_x is not None and solver != "primal":
        v.check_finite(X, check_x)
        check_x = None
    # Overflow in a diverging run is detected where costs are recorded and at
    # the end, and raised as TrainingDiverged; the backend's own floating-point
    # warnings would only pre-empt that clear error.
    with _backends.floating_point_errors_ignored(xp):
        if solver.startswith("newton"):
            if fused is True:
                raise ValueError("fused=True cannot run here: the compiled kernels are gradient-descent loops; "
                                 f"{solver} runs on the Array API")
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
    solver : {"auto", "primal", "dual", "newton-cg", "newton-cholesky"}
        ``"dual"`` runs the same iterates on the m x m Gram matrix; ``"auto"``
        picks the cheaper one from the shapes (:func:`choose_solver`). The
        Newton solvers (:mod:`xlogreg.newton`) take `num_iterations` as their
        most iterations and set each step by a line search (`learning_rate`
        is not used).
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
    if _backends.backend_name(array_namespace(result.w)) == "numpy":  # the course's types: NumPy scalars
        params["b"], grads["db"] = (array_namespace(a).reshape(a, ())[()] for a in (result.b, result.db))
    return params, grads, [c for _, c in result.costs]
