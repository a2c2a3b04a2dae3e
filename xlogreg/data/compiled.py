"""Optional compiled kernels for NumPy: the primal pass in one read of X, and the dual loop.

**Primal.**
The primal iteration needs two products over X, ``Z = W.T X + b`` and
``G = X Q.T``, and the residual ``Q`` (the binary ``tanh(Z / 2) + 1 - 2 Y``
or the softmax ``softmax(Z) - T``, times the sample weights) sits between
them. With NumPy and BLAS they are two passes over X: about 2.2 reads of X
per iteration for the binary loss, and 3 to 4.5 for softmax with K = 10,
whose products and residual passes over K x m numbers add their own cost
(benchmarks/README.md). :class:`PrimalPass` does both products in one read of
X, for the binary and the softmax loss, with or without sample weights, in
either layout:

* **Fortran order** (contiguous examples, as :func:`xlogreg.flatten_images`
  makes X): the examples in tiles of about :data:`TILE_BYTES`; the tile's dot
  products (reading it from memory), its residuals, then its contribution to
  ``G``, from L1, four examples per pass over ``G``. Binary examples longer
  than :data:`TILE_MAX_EXAMPLE_BYTES` go four at a time through one loop over
  the features that computes their dot products while it adds the four
  previous ones (now weighted by their residuals, still in L1/L2) into ``G``.
* **C order** (contiguous features, what ``np.array`` gives for a matrix
  built row by row): blocks of :func:`rows_block` examples, about
  :data:`ROWS_BLOCK_BYTES` of X; the block's logits a few rows at a time
  (each feature's run of the block read from memory), its residuals, then its
  gradient, the same rows again from L2, a few dot products per pass.

Either way memory traffic is one read of X; the second read comes from
cache. :func:`xlogreg.solvers.gd.primal_loop` uses it for NumPy float32/float64
X in C or Fortran order when numba is installed (``pip install
"xlogreg[fast]"``); a strided view, and every other backend, run the Array
API code, which this module matches up to rounding (tests/test_data_compiled.py). The
examples are split into one contiguous range per numba thread, each with its
own partial ``G``; the partial sums are added in thread order, so a run is
reproducible for a given number of threads.

**The loss object's softmax.** L-BFGS and Newton evaluate J and its gradient
through :meth:`LogisticLoss.value_and_gradient
<xlogreg._loss.LogisticLoss.value_and_gradient>`; for the softmax loss on a
NumPy X, ``LogisticLoss(..., fused=True)`` computes it compiled, the losses
summed in float64 in the same pass: :class:`PrimalPass` (one read of X) where
the classes times the features are at most :data:`FUSED_SOFTMAX_MAX_WORK`,
:class:`SoftmaxPass` (BLAS's two products around one compiled softmax) above.
The estimator asks for it where :func:`choose_fused_softmax` predicts it pays,
for L-BFGS (``solver="lbfgs"``, and ``"auto"``'s L-BFGS start). Whole fits
took half the time (benchmarks/bench_fused_softmax.py): the 160,000 x 512
embeddings in 10 classes 0.64 s against 1.28 s, the 1,000-class probe 2.13 s
against 4.49 s.

**Dual.** An iteration of the dual loop (``Q = tanh(H) + C; H -= Q G;
S += Q``) is an m x m matrix-vector product and a few operations on m
numbers; with m in the hundreds (the course data: 209) it takes microseconds,
and the ~1 microsecond of Python and dispatch per NumPy call is half of it.
:func:`dual_steps` runs several iterations in one compiled call (rows of the
product four at a time, over several numba threads from
:data:`DUAL_PARALLEL_MIN` examples on, where the product is big enough to pay
for waking them).

The kernels themselves are in :mod:`xlogreg.data._kernels`, imported on first use:
a new process spends ~0.7 s importing numba and loading them from numba's
disk cache (compiling them the first time, ~5 s), which is why
:mod:`xlogreg.solvers` uses them automatically only where they are predicted
to save more than that.

The binary residual is computed as ``2 / (1 + exp(-2 h)) - 1 + c`` (h the
half logit), which equals ``tanh(h) + c`` and never gives NaN for a finite
or infinite h, in X's precision (float32 in float32, as NumPy's ``tanh``). ``exp`` is the kernels'
own (:func:`xlogreg.data._kernels.exp`, Cephes' polynomial, within 1.5 ulp): libm's
is a call per value, which keeps the loop scalar, while this one lets the
residuals of a tile or of a dual iteration compile to vector instructions.
The softmax is shifted by each example's largest logit before ``exp``, so
it never overflows either.
With 100 float32 features that took the primal pass from ~1.6 to ~1.4 reads
of X per iteration (benchmarks/README.md).
"""

from __future__ import annotations

import importlib.util
import sys
import threading

import numpy as np

from .. import _machine

__all__ = ["available", "loaded", "usable", "why_unusable", "half_gradient", "PrimalPass", "SoftmaxPass",
           "softmax_block", "rows_block", "dual_rows", "dual_steps", "choose_fused", "choose_fused_softmax",
           "softmax_pass", "choose_fused_dual", "check_fused_option"]

#: The dual kernel splits the rows of its product between the numba threads
#: from this many examples on. Below, one thread is faster: waking the others
#: costs more than they save (2 vCPUs: m = 209, 8.2 vs 11.3 microseconds per
#: iteration with one vs two threads; m = 512, 41.9 vs 32.2). A measured
#: constant: the cost of waking numba's threads is not read (xlogreg/_machine.py).
DUAL_PARALLEL_MIN = 512

#: Bytes of X per tile of the primal pass: the tile's dot products, then its
#: residuals, then its contribution to the gradient, read again from L1.
#: None: half the L1 data cache as read (:mod:`xlogreg._machine`), 16 KiB of
#: the recorded machine's 32 KiB; an int overrides it.
TILE_BYTES = None

#: Examples longer than this many bytes use the interleaved loop instead of
#: tiles: a tile of four would fill L1. 2 vCPUs, X of 419 MB, one thread,
#: time of the tiled pass over the interleaved one (median of 11 pairs):
#: 0.73 (100 float64 features), 0.91 (100 float32), 0.86 (1000 float32),
#: 1.21 (1000 float64). None: an eighth of the L1 data cache as read, 4 KiB of
#: the recorded machine's 32 KiB (a tile of four is half of L1); an int overrides it.
TILE_MAX_EXAMPLE_BYTES = None


#: Dtypes whose tile dot products are computed four examples per loop over w.
#: One thread, X of 419 MB, tiled pass over one ``w.T @ X`` (min / median of
#: 15, /tmp harness): 100 float32 features 1.36 / 1.40 with, 1.43 / 1.42
#: without; 1000 float32 1.23 / 1.16 with, 1.29 / 1.23 without; but 100
#: float64 1.43 / 1.41 with, 0.99 / 1.00 without.
FOUR_DOTS_DTYPES = (np.float32,)


def tile_examples(n_x, itemsize):
    """Examples per tile (:data:`TILE_BYTES` of X, a multiple of 4 from 4 to 64), or 0 for the interleaved loop."""
    l1d = _machine.cache_bytes("l1d")
    tile_bytes = l1d // 2 if TILE_BYTES is None else TILE_BYTES
    if n_x * itemsize > (l1d // 8 if TILE_MAX_EXAMPLE_BYTES is None else TILE_MAX_EXAMPLE_BYTES):
        return 0
    return min(64, max(4, tile_bytes // (n_x * itemsize) // 4 * 4))


#: One compiled pass at a time: the pass already uses every numba thread, and
#: numba's fallback "workqueue" threading layer aborts the process when two
#: Python threads enter a parallel kernel together.
_LOCK = threading.Lock()


def available():
    """True if numba can be imported (without importing it)."""
    return importlib.util.find_spec("numba") is not None


def loaded():
    """True once this process has loaded the kernels: using them again costs nothing more."""
    return "xlogreg.data._kernels" in sys.modules


def why_unusable(X, contiguous_columns=True):
    """Why :class:`PrimalPass` cannot take this X, or None if it can.

    It takes a NumPy float32/float64 X in C order (contiguous features) or
    Fortran order (contiguous examples). With ``contiguous_columns=False``,
    the same for :func:`dual_rows` and :func:`dual_steps`, which take any
    layout of the Gram matrix.
    """
    if not available():
        return "it needs numba (pip install numba)"
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        return f"it needs a 2-D NumPy array; got {type(X).__module__}.{type(X).__name__}"
    if X.dtype not in (np.float32, np.float64):
        return f"it needs float32 or float64 data; got {X.dtype}"
    if contiguous_columns and not (X.flags.f_contiguous or X.flags.c_contiguous):
        return ("it needs X in C or Fortran order (one contiguous block); got a strided view "
                "(np.ascontiguousarray(X) makes a copy it can take)")
    return None


def usable(X, contiguous_columns=True):
    """True if :class:`PrimalPass` takes this X: NumPy float32/float64 in C or Fortran order, numba installed.

    With ``contiguous_columns=False``: if :func:`dual_steps` takes it as a Gram matrix (any layout).
    """
    return why_unusable(X, contiguous_columns) is None


def _kernels():
    """The numba kernels (:mod:`xlogreg.data._kernels`), imported on first use: compiled, or loaded from numba's cache."""
    from . import _kernels

    return _kernels


def half_gradient(wh, bh, X, C, sw=None):
    """``(H, g, s)`` of the binary iteration in one read of a Fortran-ordered X.

    Parameters
    ----------
    wh : ndarray (n_x, 1), bh : 0-d ndarray
        Half parameters ``w / 2``, ``b / 2``, of X's dtype.
    X : ndarray (n_x, m), Fortran order, float32 or float64
    C : ndarray (1, m)
        ``1 - 2 Y``.
    sw : ndarray (1, m), optional
        Sample weights (None: all ones).

    Returns
    -------
    H : ndarray (1, m)
        ``wh.T X + bh``.
    g : ndarray (n_x, 1)
        ``X Q.T`` with ``Q = (tanh(H) + C) sw``.
    s : 0-d ndarray
        ``sum(Q)``.
    """
    if not X.flags.f_contiguous:
        raise ValueError("half_gradient needs X in Fortran order; PrimalPass takes either order")
    n_x, m = X.shape
    dtype = X.dtype
    H = np.empty(m, dtype=dtype)
    wh = np.ascontiguousarray(wh, dtype=dtype).reshape(n_x)
    C = np.ascontiguousarray(C, dtype=dtype).reshape(m)
    sw = np.ones(m, dtype=dtype) if sw is None else np.ascontiguousarray(sw, dtype=dtype).reshape(m)
    with _LOCK:
        k = _kernels()
        g, s = k.half_gradient_kernel(wh, dtype.type(bh), X.T, C, sw, H, k.get_num_threads(),
                                      tile_examples(n_x, dtype.itemsize), dtype in FOUR_DOTS_DTYPES,
                                      dtype.type(0), dtype.type(1))
    return H.reshape(1, m), g.reshape(n_x, 1), np.asarray(s, dtype=dtype)


#: Bytes of X per block of the C-order pass (:func:`rows_block`): the block is
#: read from memory for its logits, then again for its gradient, from L2 if
#: it fits there. None: a quarter of the L2 as read (:mod:`xlogreg._machine`),
#: 512 KiB on the 2-vCPU Intel Xeon of benchmarks/README.md (2 MiB of L2),
#: where that was the best of 64 to 4096 examples per block (one thread, 200
#: and 1000 features, float32 and float64).
ROWS_BLOCK_BYTES = None

#: Bytes of the multinomial block's logits (K x block examples), kept in L1
#: while the rows of X go past them.
LOGITS_BLOCK_BYTES = 16 * 2**10


def rows_block(n_x, k, itemsize):
    """Examples per block of the C-order pass: :data:`ROWS_BLOCK_BYTES` of X (and
    :data:`LOGITS_BLOCK_BYTES` of logits for k > 1 rows of them), a multiple of 16 from 16 to 4096.

    Each feature's run of a block is ``block * itemsize`` bytes; below 64
    examples the runs get too short for the memory's prefetchers, so that is
    the least taken for the binary pass.
    """
    block_bytes = _machine.cache_bytes("l2") // 4 if ROWS_BLOCK_BYTES is None else ROWS_BLOCK_BYTES
    block = block_bytes // (n_x * itemsize)
    least = 64
    if k > 1:
        block = min(block, LOGITS_BLOCK_BYTES // (k * itemsize))
        least = 16
    return int(min(4096, max(least, block // 16 * 16)))


class PrimalPass:
    """The primal iteration's pass over X, ``(W, b) -> (Z, G, s)``, in one read of X.

    Computes what :func:`xlogreg._loss.raw_pass` does without the loss
    (``Z = W.T X + b``, ``Q`` the residual, ``G = X Q.T``, ``s = sum(Q)``),
    for the binary and the multinomial loss, with or without sample weights,
    X in C or Fortran order. What does not change between iterations
    (layout, targets, weights, block sizes) is prepared once here.

    Parameters
    ----------
    X : ndarray (n_x, m), float32 or float64, C or Fortran order
    targets : ndarray (k, m)
        Labels (binary, k = 1) or one-hot targets (multinomial), X's dtype.
    weights : ndarray (1, m) or None
    multinomial : bool

    Attributes
    ----------
    loss_sum : float or None
        Softmax only: ``sum_i s_i L_i`` (the examples' weighted
        cross-entropies) at the last call's ``(W, b)``, summed in float64 by
        the same pass (:meth:`LogisticLoss.value_and_gradient
        <xlogreg._loss.LogisticLoss.value_and_gradient>` reads it). None
        before the first call, and always for the binary loss.
    """

    def __init__(self, X, targets, weights, multinomial):
        reason = why_unusable(X)
        if reason is not None:
            raise ValueError(f"the compiled pass cannot take X: {reason}")
        self.X = X
        self.multinomial = multinomial
        self.loss_sum = None
        n_x, m = X.shape
        dtype = X.dtype
        self.dtype = dtype
        # a single column or row is both: the Fortran kernels take it
        self.rows = not X.flags.f_contiguous
        self.sw = np.ones(m, dtype=dtype) if weights is None else np.ascontiguousarray(weights, dtype=dtype).reshape(m)
        if multinomial:
            self.T = np.ascontiguousarray(targets, dtype=dtype)
            k = self.T.shape[0]
            self.block = rows_block(n_x, k, dtype.itemsize) if self.rows else max(4, tile_examples(n_x, dtype.itemsize))
        else:
            self.C = np.ascontiguousarray(1 - 2 * np.asarray(targets, dtype=dtype), dtype=dtype).reshape(m)
            self.block = rows_block(n_x, 1, dtype.itemsize) if self.rows else tile_examples(n_x, dtype.itemsize)

    def __call__(self, W, b, with_z=True):
        X, dtype = self.X, self.dtype
        n_x, m = X.shape
        zero, one = dtype.type(0), dtype.type(1)
        if not self.multinomial:
            wh = np.ascontiguousarray(np.asarray(W, dtype=dtype).reshape(n_x) * dtype.type(0.5))
            bh = dtype.type(np.asarray(b).reshape(()) * dtype.type(0.5))
            H = np.empty(m, dtype=dtype)
            with _LOCK:
                kernels = _kernels()
                parts = kernels.get_num_threads()
                if self.rows:
                    g, s = kernels.rows_binary_kernel(wh, bh, X, self.C, self.sw, H, parts, self.block, zero, one)
                else:
                    g, s = kernels.half_gradient_kernel(wh, bh, X.T, self.C, self.sw, H, parts, self.block,
                                                        dtype in FOUR_DOTS_DTYPES, zero, one)
            Z = (H + H).reshape(1, m) if with_z else None
            return Z, g.reshape(n_x, 1), np.asarray(s, dtype=dtype).reshape(1, 1)
        k = self.T.shape[0]
        bk = np.ascontiguousarray(np.asarray(b, dtype=dtype).reshape(k))
        Z = np.empty((k, m), dtype=dtype)
        with _LOCK:
            kernels = _kernels()
            parts = kernels.get_num_threads()
            if self.rows:
                Wc = np.ascontiguousarray(W, dtype=dtype)
                G, s, loss = kernels.multinomial_kernel(Wc, bk, X, self.T, self.sw, Z, parts, self.block, True,
                                                        zero, one)
            else:
                WT = np.ascontiguousarray(np.asarray(W, dtype=dtype).T)
                GT, s, loss = kernels.multinomial_kernel(WT, bk, X.T, self.T, self.sw, Z, parts, self.block, False,
                                                         zero, one)
                G = np.ascontiguousarray(GT.T)
        self.loss_sum = loss
        return (Z if with_z else None), G, s.reshape(k, 1)

    def logits(self, W, b):
        """``Z = W.T X + b``, shape ``(k, m)``, in one read of X by the compiled kernels.

        What :meth:`xlogreg._loss.LogisticLoss.logits` computes, without BLAS:
        right after a run of compiled passes, numba's threads are still
        awake (OpenMP lets them spin a while), and a BLAS product would share
        the cores with them.
        """
        X, dtype = self.X, self.dtype
        n_x, m = X.shape
        k = W.shape[1]
        bk = np.ascontiguousarray(np.asarray(b, dtype=dtype).reshape(k))
        Z = np.empty((k, m), dtype=dtype)
        with _LOCK:
            kernels = _kernels()
            parts = kernels.get_num_threads()
            if self.rows:
                kernels.logits_kernel(np.ascontiguousarray(W, dtype=dtype), bk, X, Z, parts,
                                      rows_block(n_x, k, dtype.itemsize), True, dtype.type(0))
            else:
                kernels.logits_kernel(np.ascontiguousarray(np.asarray(W, dtype=dtype).T), bk, X.T, Z, parts, 1,
                                      False, dtype.type(0))
        return Z


class SoftmaxPass:
    """The softmax loss's pass ``(W, b) -> (None, G, s)`` and its loss, BLAS's products around a compiled softmax.

    For many classes (``K n_x`` above :data:`FUSED_SOFTMAX_MAX_WORK`), where
    :class:`PrimalPass`'s loops lose to BLAS's products: ``Z = W.T X`` and
    ``G = X Q.T`` stay NumPy's (BLAS), and everything between them, the
    biases, the softmax, ``Q = (softmax(Z) - T) s``, its row sums and the
    losses, is one compiled pass over Z, tile by tile in the cache
    (:func:`xlogreg.data._kernels.softmax_terms`). NumPy makes about ten
    passes over the K x m logits there (max, shift, exp, sum, divide, the
    targets twice, the losses). The labels are read as integers, not as the
    one-hot K x m targets. The logits' buffer is kept between calls: a fresh
    K x m array per evaluation costs its page faults (on the 1,000-class probe,
    ``W.T X`` took 59 ms into the kept buffer, 132-137 ms into a new one).

    The softmax runs on one thread, between two multi-threaded BLAS products:
    on two cores, numba's OpenMP threads and BLAS's, each spinning a while
    after its work, took turns slowing the other (1,024 features, 30 classes,
    8 MB of X: 8-18 ms a call with two numba threads, 3.0 ms with one; the
    probe: 155 ms with two, 150 ms with one).

    Parameters
    ----------
    X : ndarray (n_x, m), float32 or float64
    labels : ndarray (1, m)
        The labels 0 .. K-1, any real dtype.
    n_classes : int
    weights : ndarray (1, m) or None

    Attributes
    ----------
    loss_sum : float or None
        ``sum_i s_i L_i`` at the last call's ``(W, b)``, summed in float64.
    """

    def __init__(self, X, labels, n_classes, weights):
        reason = why_unusable(X)
        if reason is not None:
            raise ValueError(f"the compiled softmax cannot take X: {reason}")
        self.X, self.dtype, self.k = X, X.dtype, int(n_classes)
        m = X.shape[1]
        self.y = np.ascontiguousarray(np.asarray(labels).reshape(m), dtype=np.intp)
        self.sw = np.ones(m, dtype=self.dtype) if weights is None else np.ascontiguousarray(
            np.asarray(weights).reshape(m), dtype=self.dtype)
        self.block = softmax_block(self.k, self.dtype.itemsize)
        self.loss_sum = None
        self._Z = None
        self._buffer_lock = threading.Lock()  # one call at a time on the kept logits

    def __call__(self, W, b, with_z=False):
        """``(None, G, s)`` at ``(W, b)``, and :attr:`loss_sum`; the logits are not kept (`with_z` must be False)."""
        if with_z:
            raise ValueError("SoftmaxPass does not return the logits (with_z=False)")
        X, dtype, k = self.X, self.dtype, self.k
        bk = np.ascontiguousarray(np.asarray(b, dtype=dtype).reshape(k))
        with self._buffer_lock:
            if self._Z is None:
                self._Z = np.empty((k, X.shape[1]), dtype=dtype)
            Z = np.matmul(np.asarray(W, dtype=dtype).T, X, out=self._Z)
            s = np.zeros(k, dtype=dtype)
            with _LOCK:
                self.loss_sum = _kernels().softmax_terms(Z, bk, self.y, self.sw, s, self.block, dtype.type(0),
                                                         dtype.type(1))
            return None, X @ Z.T, s.reshape(k, 1)


def softmax_block(k, itemsize):
    """Examples per tile of :class:`SoftmaxPass`: K x tile numbers in half the L2 cache as read, a multiple of
    16 from 16 to 1024 (256 for 1000 float32 classes and 2 MiB of L2)."""
    tile = _machine.cache_bytes("l2") // 2 // (k * itemsize)
    return int(min(1024, max(16, tile // 16 * 16)))


def dual_rows(G):
    """The matrix R with ``Q @ G == R @ Q`` row by row, in C order: G.T, without a copy where possible.

    The scaled Gram matrix is symmetric, and NumPy computes ``X.T @ X``
    exactly symmetric (one triangle, mirrored), so G itself is used when it is
    in C order and equal to its transpose; G.T when that is in C order;
    otherwise a C-ordered copy of G.T. Call once, before the loop.
    """
    if G.T.flags.c_contiguous:
        return G.T
    if G.flags.c_contiguous and np.array_equal(G, G.T):
        return G
    return np.ascontiguousarray(G.T)


def dual_steps(R, H, C, S, k):
    """`k` iterations of the dual loop in one compiled call; the inputs are not changed.

    Parameters
    ----------
    R : ndarray (m, m), C order, float32 or float64
        :func:`dual_rows` of the scaled Gram matrix G.
    H, C, S : ndarray (1, m)
        Half logits, ``1 - 2 Y``, running sum of the residuals.
    k : int >= 1

    Returns
    -------
    H, S : ndarray (1, m)
        After ``k`` times ``Q = tanh(H) + C; H = H - Q @ G; S = S + Q``.
    Q : ndarray (1, m)
        The last iteration's residual.
    """
    m = R.shape[0]
    dtype = R.dtype
    H = np.array(H, dtype=dtype).reshape(m)  # copies: the kernel works in place on these
    S = np.array(S, dtype=dtype).reshape(m)
    C = np.ascontiguousarray(C, dtype=dtype).reshape(m)
    Q = np.empty(m, dtype=dtype)
    with _LOCK:
        kernels = _kernels()
        parts = kernels.get_num_threads()
        if parts > 1 and m >= DUAL_PARALLEL_MIN:
            kernels.dual_parallel(R, H, C, S, Q, k, parts, dtype.type(0), dtype.type(1))
        else:
            kernels.dual_serial(R, H, C, S, Q, k, dtype.type(0), dtype.type(1))
    return H.reshape(1, m), S.reshape(1, m), Q.reshape(1, m)


# When the kernels pay: the choices the solvers make (measured constants, see each).

#: The compiled one-pass primal iteration (this module) is chosen
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


def _fused_min_bytes():
    """:data:`FUSED_MIN_BYTES`, or the L3 cache (:mod:`xlogreg._machine`)."""
    return _machine.cache_bytes("l3") if FUSED_MIN_BYTES is None else FUSED_MIN_BYTES


def _load_cost_s():
    """Seconds that using the compiled kernels adds for loading them: :data:`FUSED_LOAD_S`, or 0 once loaded."""
    return 0.0 if loaded() else FUSED_LOAD_S


def choose_fused(X, num_iterations=None):
    """True where the primal loop should use the compiled pass of this module.

    That is: numba is installed, X is a NumPy float32/float64 array in C or
    Fortran order (:func:`usable`) and at least
    :data:`FUSED_MIN_BYTES`, below which X stays in cache between BLAS's two
    products anyway; and, given `num_iterations`, the reads of X it saves
    (one per iteration, at :data:`FUSED_READ_BYTES_PER_S`) take longer than
    loading the kernels in a new process (:data:`FUSED_LOAD_S`; nothing once
    this process has loaded them).
    """
    if not (usable(X) and X.nbytes >= _fused_min_bytes()):
        return False
    return num_iterations is None or num_iterations * X.nbytes / FUSED_READ_BYTES_PER_S >= _load_cost_s()


#: The loss object's softmax value and gradient (:meth:`LogisticLoss.value_and_gradient
#: <xlogreg._loss.LogisticLoss.value_and_gradient>`, what every L-BFGS evaluation costs) runs in
#: :class:`PrimalPass` where the classes times the features are at most this, and in
#: :class:`SoftmaxPass` above. PrimalPass's products are numba loops, slower per multiply-add than BLAS,
#: but it reads X once and makes the softmax in the same pass; SoftmaxPass keeps BLAS's two products
#: and compiles only the softmax between them. Measured (2-vCPU AMD EPYC, float32 X of 8, 64 and 256 MB,
#: time over the Array API pass, benchmarks/bench_fused_softmax.py, results/bench_fused_softmax.txt):
#: PrimalPass with K <= 10 0.30-0.68 at every size and width; K = 30 0.50-0.99 up to 256 features
#: (K n = 7,680), 1.02-1.25 with 1024 (30,720; SoftmaxPass 0.93-0.97); K = 100 0.25-0.63 with 64
#: features (6,400), 1.02-1.68 from 256 (25,600; SoftmaxPass 0.22-0.94). SoftmaxPass is at most 0.97 on
#: every shape where it runs, but about 1.0 for few classes, where the softmax is little of the work.
#: A measured constant: BLAS's speed against the loops is not read.
FUSED_SOFTMAX_MAX_WORK = 16_384

#: For the load-cost decision of :func:`choose_fused_softmax`: the passes over the K x m logits that the
#: compiled softmax saves per evaluation (NumPy's max, shift, exp, sum, divide, the targets twice, the
#: losses; each a read or a write at :data:`FUSED_READ_BYTES_PER_S`). A model, not a timing: the
#: measured savings are larger (benchmarks/bench_fused_softmax.py).
FUSED_SOFTMAX_PASSES = 8


def softmax_pass(X, labels, targets, n_classes, weights):
    """The compiled pass of the softmax value and gradient for X: :class:`PrimalPass` (one read of X) where
    ``K n_x`` is at most :data:`FUSED_SOFTMAX_MAX_WORK`, else :class:`SoftmaxPass` (BLAS's products).
    `targets`, the one-hot ``(K, m)``, may be a callable that makes it: only PrimalPass asks."""
    if n_classes * X.shape[0] <= FUSED_SOFTMAX_MAX_WORK:
        return PrimalPass(X, targets() if callable(targets) else targets, weights, True)
    return SoftmaxPass(X, labels, n_classes, weights)


def choose_fused_softmax(X, k, num_evaluations):
    """True where the loss object should compute the softmax value and gradient compiled (:func:`softmax_pass`).

    That is: the softmax loss (``k`` classes, ``k > 2``), X usable by the
    kernels (:func:`usable`), and what it saves over `num_evaluations`
    evaluations longer than loading the kernels in a new process
    (:data:`FUSED_LOAD_S`; nothing once this process has loaded them). Saved
    per evaluation, at :data:`FUSED_READ_BYTES_PER_S`: :data:`FUSED_SOFTMAX_PASSES`
    passes over the K x m logits, and one read of X where :class:`PrimalPass` runs.
    No size floor: unlike the gradient-descent loop's, these passes also save
    the softmax's work over the logits; PrimalPass won from 8 MB of X on.
    """
    if k <= 2 or not usable(X):
        return False
    n_x, m = X.shape
    saved = FUSED_SOFTMAX_PASSES * k * m * X.itemsize + (X.nbytes if k * n_x <= FUSED_SOFTMAX_MAX_WORK else 0)
    return num_evaluations * saved / FUSED_READ_BYTES_PER_S >= _load_cost_s()


def choose_fused_dual(G, num_iterations):
    """True where the dual loop should run in compiled calls (:func:`dual_steps`).

    That is: numba is installed, the Gram matrix G is a NumPy float32/float64
    array, and the time the compiled loop saves (:data:`FUSED_DUAL_SAVES_S`
    per iteration) exceeds that of loading it in a new process
    (:data:`FUSED_LOAD_S`): about 100,000 iterations. Shorter runs, the course
    run among them (2000 iterations, ~50 ms), finish sooner without it, unless
    asked for with ``fused=True`` (in a process that trains many times, where
    the kernels load once).
    """
    return usable(G, contiguous_columns=False) and num_iterations * FUSED_DUAL_SAVES_S >= _load_cost_s()


def check_fused_option(fused):
    """Refuse a `fused` option other than ``"auto"``, True or False, naming what was given."""
    if not (isinstance(fused, bool) or (isinstance(fused, str) and fused == "auto")):
        raise ValueError(f"fused must be True, False or 'auto'; got {fused!r}")


def _check_fused(fused, A, contiguous_columns=True):
    """`fused` (True or False) as given; True where the compiled kernel cannot take A is an error."""
    if not isinstance(fused, bool):
        raise ValueError(f"fused must be True, False or 'auto'; got {fused!r}")
    if fused and not usable(A, contiguous_columns):
        raise ValueError(f"fused=True cannot run here: {why_unusable(A, contiguous_columns)}")
    return fused
