"""Optional compiled kernels for NumPy: the primal pass in one read of X, and the dual loop.

**Primal.**
The primal iteration needs two products over X, ``H = wh.T X + bh`` and
``g = X Q.T`` with ``Q = tanh(H) + 1 - 2 Y``, and ``Q`` sits between them.
With NumPy and BLAS they are two passes over X (or, blocked, a second pass
from cache: 1.9-2.2 reads of X per iteration, benchmarks/README.md). This
module does both in one: with X's columns (examples) contiguous, it takes
the examples in tiles of about :data:`TILE_BYTES`, computes the tile's dot
products (reading it from memory) and residuals, then adds the tile, still in
L1, into ``g``, four columns per pass over ``g``. Examples longer than
:data:`TILE_MAX_EXAMPLE_BYTES` go four at a time through one loop over the
features that computes their dot products while it adds the four previous
ones (now weighted by their residuals, and still in L1/L2) into ``g``. Either
way memory traffic is one read of X; the second read comes from cache.

It is used by :func:`xlogreg.solvers.primal_loop` for NumPy float32/float64 X
with contiguous columns (Fortran order, as :func:`xlogreg.flatten_images`
makes it) when numba is installed (``pip install "xlogreg[fast]"``); every
other case runs the Array API code, which this module matches up to rounding
(tests/test_fused.py). The examples are split into one contiguous range per
numba thread, each with its own partial ``g``; the partial sums are added in
thread order, so a run is reproducible for a given number of threads.

**Dual.** An iteration of the dual loop (``Q = tanh(H) + C; H -= Q G;
S += Q``) is an m x m matrix-vector product and a few operations on m
numbers; with m in the hundreds (the course data: 209) it takes microseconds,
and the ~1 microsecond of Python and dispatch per NumPy call is half of it.
:func:`dual_steps` runs several iterations in one compiled call (rows of the
product four at a time, over several numba threads from
:data:`DUAL_PARALLEL_MIN` examples on, where the product is big enough to pay
for waking them).

The residual is computed as ``2 / (1 + exp(-2 h)) - 1 + c``, which equals
``tanh(h) + c``, is cheaper than ``tanh`` in scalar code and never gives NaN
for a finite or infinite h (``exp`` overflowing to inf gives ``-1 + c``). It
is computed in X's precision (float32 in float32, as NumPy's ``tanh``).
"""

from __future__ import annotations

import importlib.util
import threading

import numpy as np

__all__ = ["available", "usable", "why_unusable", "half_gradient", "dual_rows", "dual_steps"]

_KERNEL = None

#: The dual kernel splits the rows of its product between the numba threads
#: from this many examples on. Below, one thread is faster: waking the others
#: costs more than they save (2 vCPUs: m = 209, 8.2 vs 11.3 microseconds per
#: iteration with one vs two threads; m = 512, 41.9 vs 32.2).
DUAL_PARALLEL_MIN = 512

#: Bytes of X per tile of the primal pass: the tile's dot products, then its
#: residuals, then its contribution to the gradient, read again from L1.
TILE_BYTES = 16 * 2**10

#: Examples longer than this many bytes use the interleaved loop instead of
#: tiles: a tile of four would fill L1. 2 vCPUs, X of 419 MB, one thread,
#: time of the tiled pass over the interleaved one (median of 11 pairs):
#: 0.73 (100 float64 features), 0.91 (100 float32), 0.86 (1000 float32),
#: 1.21 (1000 float64).
TILE_MAX_EXAMPLE_BYTES = 4096


def tile_examples(n_x, itemsize):
    """Examples per tile (:data:`TILE_BYTES` of X, a multiple of 4 from 4 to 64), or 0 for the interleaved loop."""
    if n_x * itemsize > TILE_MAX_EXAMPLE_BYTES:
        return 0
    return min(64, max(4, TILE_BYTES // (n_x * itemsize) // 4 * 4))

#: One compiled pass at a time: the pass already uses every numba thread, and
#: numba's fallback "workqueue" threading layer aborts the process when two
#: Python threads enter a parallel kernel together.
_LOCK = threading.Lock()


def available():
    """True if numba can be imported (without importing it)."""
    return importlib.util.find_spec("numba") is not None


def why_unusable(X, contiguous_columns=True):
    """Why :func:`half_gradient` cannot take this X, or None if it can.

    With ``contiguous_columns=False``, the same for :func:`dual_rows` and
    :func:`dual_steps`, which take any layout of the Gram matrix.
    """
    if not available():
        return "it needs numba (pip install 'xlogreg[fast]')"
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        return f"it needs a 2-D NumPy array; got {type(X).__module__}.{type(X).__name__}"
    if X.dtype not in (np.float32, np.float64):
        return f"it needs float32 or float64 data; got {X.dtype}"
    if contiguous_columns and not X.flags.f_contiguous:
        return "it needs X with contiguous columns (Fortran order, as flatten_images gives); got another layout"
    return None


def usable(X, contiguous_columns=True):
    """True if :func:`half_gradient` takes this X: NumPy float32/float64, columns contiguous, numba installed.

    With ``contiguous_columns=False``: if :func:`dual_steps` takes it as a Gram matrix (any layout).
    """
    return why_unusable(X, contiguous_columns) is None


def _compile():
    """Build the numba kernels once (cached on disk by numba)."""
    global _KERNEL
    if _KERNEL is not None:
        return _KERNEL
    import math

    import numba

    # "reassoc" lets the dot products be vectorised (summed in several lanes);
    # "contract" allows fused multiply-adds. Infinities and NaN keep their meaning.
    fast = {"reassoc", "contract"}

    @numba.njit(fastmath=fast, inline="always", cache=True)
    def residual(h, c, one):
        # in h's own precision: with integer constants, float32 would be computed in float64
        return (one + one) / (one + math.exp(-(h + h))) - one + c

    @numba.njit(fastmath=fast, cache=True)
    def columns(wh, bh, XT, C, g, H, j0, j1, tile, zero, one):
        """Examples j0 <= j < j1: H[j], g += Q[j] X[:, j]; returns sum(Q[j0:j1])."""
        n = XT.shape[1]
        s = zero
        q = np.empty(tile, XT.dtype)
        j = j0
        while j < j1:
            t1 = min(tile, j1 - j)
            for t in range(t1):  # the tile's dot products: X read from memory
                x = XT[j + t]
                h = zero
                for k in range(n):
                    h += wh[k] * x[k]
                q[t] = h + bh
            for t in range(t1):
                H[j + t] = q[t]
                q[t] = residual(q[t], C[j + t], one)
                s += q[t]
            t = 0
            while t + 4 <= t1:  # the same examples again, from L1: four per pass over g
                xa, xb, xc, xd = XT[j + t], XT[j + t + 1], XT[j + t + 2], XT[j + t + 3]
                qa, qb, qc, qd = q[t], q[t + 1], q[t + 2], q[t + 3]
                for k in range(n):
                    g[k] += qa * xa[k] + qb * xb[k] + qc * xc[k] + qd * xd[k]
                t += 4
            while t < t1:
                x = XT[j + t]
                qt = q[t]
                for k in range(n):
                    g[k] += qt * x[k]
                t += 1
            j += t1
        return s

    @numba.njit(fastmath=fast, cache=True)
    def columns_interleaved(wh, bh, XT, C, g, H, j0, j1, zero, one):
        """As `columns`, for long examples: the dot products of four examples in one loop over the
        features, which also adds the four previous ones (still in L1/L2) into g."""
        n = XT.shape[1]
        s = zero
        qa = qb = qc = qd = zero
        pa = pb = pc = pd = XT[j0]  # the previous four columns (weights 0 at first)
        j = j0
        while j + 4 <= j1:
            xa, xb, xc, xd = XT[j], XT[j + 1], XT[j + 2], XT[j + 3]
            ha = hb = hc = hd = zero
            for k in range(n):
                wk = wh[k]
                ha += wk * xa[k]
                hb += wk * xb[k]
                hc += wk * xc[k]
                hd += wk * xd[k]
                g[k] += qa * pa[k] + qb * pb[k] + qc * pc[k] + qd * pd[k]
            ha += bh
            hb += bh
            hc += bh
            hd += bh
            H[j], H[j + 1], H[j + 2], H[j + 3] = ha, hb, hc, hd
            qa, qb = residual(ha, C[j], one), residual(hb, C[j + 1], one)
            qc, qd = residual(hc, C[j + 2], one), residual(hd, C[j + 3], one)
            s += (qa + qb) + (qc + qd)
            pa, pb, pc, pd = xa, xb, xc, xd
            j += 4
        for k in range(n):
            g[k] += qa * pa[k] + qb * pb[k] + qc * pc[k] + qd * pd[k]
        while j < j1:  # the last 0 to 3 examples
            x = XT[j]
            h = zero
            for k in range(n):
                h += wh[k] * x[k]
            h += bh
            H[j] = h
            q = residual(h, C[j], one)
            s += q
            for k in range(n):
                g[k] += q * x[k]
            j += 1
        return s

    @numba.njit(fastmath=fast, parallel=True, cache=True)
    def half_gradient_kernel(wh, bh, XT, C, H, parts, tile, zero, one):
        m, n = XT.shape
        G = np.zeros((parts, n), XT.dtype)
        S = np.zeros(parts, XT.dtype)
        unit = max(tile, 4)
        per = ((m + parts - 1) // parts + unit - 1) // unit * unit  # whole tiles per part
        for t in numba.prange(parts):
            j0 = min(m, t * per)
            j1 = min(m, j0 + per)
            if j0 < j1:
                if tile:
                    S[t] = columns(wh, bh, XT, C, G[t], H, j0, j1, tile, zero, one)
                else:
                    S[t] = columns_interleaved(wh, bh, XT, C, G[t], H, j0, j1, zero, one)
        g = G[0].copy()
        s = S[0]
        for t in range(1, parts):
            g += G[t]
            s += S[t]
        return g, s

    @numba.njit(fastmath=fast, inline="always", cache=True)
    def product_rows(R, Q, H, i0, i1, zero):
        """H[i] -= R[i] . Q for i0 <= i < i1, four rows per pass over Q."""
        m = Q.shape[0]
        i = i0
        while i + 4 <= i1:
            ra, rb, rc, rd = R[i], R[i + 1], R[i + 2], R[i + 3]
            a = b = c = d = zero
            for j in range(m):
                q = Q[j]
                a += ra[j] * q
                b += rb[j] * q
                c += rc[j] * q
                d += rd[j] * q
            H[i] -= a
            H[i + 1] -= b
            H[i + 2] -= c
            H[i + 3] -= d
            i += 4
        while i < i1:
            r = R[i]
            a = zero
            for j in range(m):
                a += r[j] * Q[j]
            H[i] -= a
            i += 1

    @numba.njit(fastmath=fast, inline="always", cache=True)
    def residuals(H, C, S, Q, one):
        for j in range(H.shape[0]):
            q = residual(H[j], C[j], one)
            Q[j] = q
            S[j] += q

    @numba.njit(fastmath=fast, cache=True)
    def dual_serial(R, H, C, S, Q, k, zero, one):
        for _ in range(k):
            residuals(H, C, S, Q, one)
            product_rows(R, Q, H, 0, H.shape[0], zero)

    @numba.njit(fastmath=fast, parallel=True, cache=True)
    def dual_parallel(R, H, C, S, Q, k, parts, zero, one):
        m = H.shape[0]
        per = ((m + parts - 1) // parts + 3) // 4 * 4
        for _ in range(k):
            residuals(H, C, S, Q, one)
            for t in numba.prange(parts):
                product_rows(R, Q, H, min(m, t * per), min(m, t * per + per), zero)

    _KERNEL = (half_gradient_kernel, dual_serial, dual_parallel, numba.get_num_threads)
    return _KERNEL


def half_gradient(wh, bh, X, C):
    """``(H, g, s)`` of ``xlogreg.solvers._half_gradient`` in one read of X.

    Parameters
    ----------
    wh : ndarray (n_x, 1), bh : 0-d ndarray
        Half parameters ``w / 2``, ``b / 2``, of X's dtype.
    X : ndarray (n_x, m), Fortran order, float32 or float64
    C : ndarray (1, m)
        ``1 - 2 Y``.

    Returns
    -------
    H : ndarray (1, m)
        ``wh.T X + bh``.
    g : ndarray (n_x, 1)
        ``X Q.T`` with ``Q = tanh(H) + C``.
    s : 0-d ndarray
        ``sum(Q)``.
    """
    n_x, m = X.shape
    dtype = X.dtype
    H = np.empty(m, dtype=dtype)
    with _LOCK:
        kernel, _, _, threads = _compile()
        g, s = kernel(np.ascontiguousarray(wh, dtype=dtype).reshape(n_x), dtype.type(bh), X.T,
                      np.ascontiguousarray(C, dtype=dtype).reshape(m), H, threads(), tile_examples(n_x, dtype.itemsize),
                      dtype.type(0), dtype.type(1))
    return H.reshape(1, m), g.reshape(n_x, 1), np.asarray(s, dtype=dtype)


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
        _, serial, parallel, threads = _compile()
        parts = threads()
        if parts > 1 and m >= DUAL_PARALLEL_MIN:
            parallel(R, H, C, S, Q, k, parts, dtype.type(0), dtype.type(1))
        else:
            serial(R, H, C, S, Q, k, dtype.type(0), dtype.type(1))
    return H.reshape(1, m), S.reshape(1, m), Q.reshape(1, m)
