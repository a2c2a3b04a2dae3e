"""Optional compiled kernels for NumPy: the primal pass in one read of X, and the dual loop.

**Primal.**
The primal iteration needs two products over X, ``H = wh.T X + bh`` and
``g = X Q.T`` with ``Q = tanh(H) + 1 - 2 Y``, and ``Q`` sits between them.
With NumPy and BLAS they are two passes over X (or, blocked, a second pass
from cache: 1.9-2.2 reads of X per iteration, benchmarks/README.md). This
module does both in one: with X's columns (examples) contiguous, one loop
over the features computes the dot products of four columns while it adds
the four previous columns, whose ``Q`` is now known and which are still in
L1/L2, into ``g``. Memory traffic is one read of X; the second read comes
from cache, overlapped with the first.

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
for a finite or infinite h (``exp`` overflowing to inf gives ``-1 + c``).
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
    def residual(h, c):
        return 2 / (1 + math.exp(-2 * h)) - 1 + c

    @numba.njit(fastmath=fast, cache=True)
    def columns(wh, bh, XT, C, g, H, j0, j1, zero):
        """Examples j0 <= j < j1: H[j], g += Q[j] X[:, j]; returns sum(Q[j0:j1])."""
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
            qa, qb = residual(ha, C[j]), residual(hb, C[j + 1])
            qc, qd = residual(hc, C[j + 2]), residual(hd, C[j + 3])
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
            q = residual(h, C[j])
            s += q
            for k in range(n):
                g[k] += q * x[k]
            j += 1
        return s

    @numba.njit(fastmath=fast, parallel=True, cache=True)
    def half_gradient_kernel(wh, bh, XT, C, H, parts, zero):
        m, n = XT.shape
        G = np.zeros((parts, n), XT.dtype)
        S = np.zeros(parts, XT.dtype)
        per = ((m + parts - 1) // parts + 3) // 4 * 4  # a multiple of 4 examples per part
        for t in numba.prange(parts):
            j0 = min(m, t * per)
            j1 = min(m, j0 + per)
            if j0 < j1:
                S[t] = columns(wh, bh, XT, C, G[t], H, j0, j1, zero)
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
    def residuals(H, C, S, Q):
        for j in range(H.shape[0]):
            q = residual(H[j], C[j])
            Q[j] = q
            S[j] += q

    @numba.njit(fastmath=fast, cache=True)
    def dual_serial(R, H, C, S, Q, k, zero):
        for _ in range(k):
            residuals(H, C, S, Q)
            product_rows(R, Q, H, 0, H.shape[0], zero)

    @numba.njit(fastmath=fast, parallel=True, cache=True)
    def dual_parallel(R, H, C, S, Q, k, parts, zero):
        m = H.shape[0]
        per = ((m + parts - 1) // parts + 3) // 4 * 4
        for _ in range(k):
            residuals(H, C, S, Q)
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
                      np.ascontiguousarray(C, dtype=dtype).reshape(m), H, threads(), dtype.type(0))
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
            parallel(R, H, C, S, Q, k, parts, dtype.type(0))
        else:
            serial(R, H, C, S, Q, k, dtype.type(0))
    return H.reshape(1, m), S.reshape(1, m), Q.reshape(1, m)
