"""Optional compiled primal pass for NumPy: X read from memory once per iteration.

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

The residual is computed as ``2 / (1 + exp(-2 h)) - 1 + c``, which equals
``tanh(h) + c``, is cheaper than ``tanh`` in scalar code and never gives NaN
for a finite or infinite h (``exp`` overflowing to inf gives ``-1 + c``).
"""

from __future__ import annotations

import importlib.util
import threading

import numpy as np

__all__ = ["available", "usable", "why_unusable", "half_gradient"]

_KERNEL = None

#: One compiled pass at a time: the pass already uses every numba thread, and
#: numba's fallback "workqueue" threading layer aborts the process when two
#: Python threads enter a parallel kernel together.
_LOCK = threading.Lock()


def available():
    """True if numba can be imported (without importing it)."""
    return importlib.util.find_spec("numba") is not None


def why_unusable(X):
    """Why :func:`half_gradient` cannot take this X, or None if it can."""
    if not available():
        return "it needs numba (pip install 'xlogreg[fast]')"
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        return f"it needs a 2-D NumPy array; got {type(X).__module__}.{type(X).__name__}"
    if X.dtype not in (np.float32, np.float64):
        return f"it needs float32 or float64 data; got {X.dtype}"
    if not X.flags.f_contiguous:
        return "it needs X with contiguous columns (Fortran order, as flatten_images gives); got another layout"
    return None


def usable(X):
    """True if :func:`half_gradient` takes this X: NumPy float32/float64, columns contiguous, numba installed."""
    return why_unusable(X) is None


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

    _KERNEL = (half_gradient_kernel, numba.get_num_threads)
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
        kernel, threads = _compile()
        g, s = kernel(np.ascontiguousarray(wh, dtype=dtype).reshape(n_x), dtype.type(bh), X.T,
                      np.ascontiguousarray(C, dtype=dtype).reshape(m), H, threads(), dtype.type(0))
    return H.reshape(1, m), g.reshape(n_x, 1), np.asarray(s, dtype=dtype)
