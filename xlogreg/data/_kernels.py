"""The numba kernels behind :mod:`xlogreg.data.compiled` (imported by it on first use only).

They live at module level, not inside a function, so that numba's on-disk
cache (``cache=True``, in ``__pycache__`` or numba's user-wide fallback) finds
them again in the next process (~0.7 s with numba's import). Defined inside a
function, as they first were, they missed the cache and the primal pass was
compiled again in every process (5-6 s). See
:mod:`xlogreg.data.compiled` for what they compute; the tests are in
tests/test_data_compiled.py.
"""

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

get_num_threads = numba.get_num_threads

# "reassoc" lets the dot products be vectorised (summed in several lanes);
# "contract" allows fused multiply-adds. Infinities and NaN keep their meaning.
FAST = {"reassoc", "contract"}

# error_model="numpy": a float division never raises (the residual's divisor is
# >= 1 anyway), so the loops that compute residuals have no branch and vectorise.
JIT = {"fastmath": FAST, "error_model": "numpy", "cache": True}


@intrinsic
def pow2(typingctx, n):
    """``2.0 ** n`` for an integral float n in the normal exponent range, from its bits.

    ``n + 1.5 * 2**p`` (p: mantissa bits) holds n in the low bits of its
    mantissa; shifted into the exponent field with the bias, that is 2**n. No
    float-to-integer conversion, which AVX2 has no vector form of for float64.
    """
    if n not in (types.float32, types.float64):
        return None

    def codegen(context, builder, sig, args):
        (x,) = args
        if sig.args[0] == types.float32:
            ity, magic, bias, shift = ir.IntType(32), 1.5 * 2.0**23, 127, 23
        else:
            ity, magic, bias, shift = ir.IntType(64), 1.5 * 2.0**52, 1023, 52
        bits = builder.bitcast(builder.fadd(x, ir.Constant(x.type, magic)), ity)
        bits = builder.shl(builder.add(bits, ir.Constant(ity, bias)), ir.Constant(ity, shift))
        return builder.bitcast(bits, x.type)

    return n(n), codegen


def exp(x):
    """``exp(x)`` in x's precision, in arithmetic a compiler can vectorise (numba only)."""
    raise NotImplementedError("numba only")


@overload(exp, fastmath=FAST)
def _exp(x):
    # Cephes expf / exp: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two
    # for the exact product), a polynomial (float32) or Pade form (float64)
    # for exp(r), times 2**n. Within 1.5 ulp of the exact value (tests). x is
    # clamped first, to where 2**n is a normal number: +-inf give finite
    # values (all the residual needs), NaN stays NaN.
    if x == types.float32:
        f = np.float32

        def impl(x):
            x = f(88.0) if x > f(88.0) else x
            x = f(-87.0) if x < f(-87.0) else x
            n = np.floor(f(1.44269504088896341) * x + f(0.5))
            r = x - n * f(0.693359375) - n * f(-2.12194440e-4)
            p = ((((f(1.9875691500e-4) * r + f(1.3981999507e-3)) * r + f(8.3334519073e-3)) * r
                  + f(4.1665795894e-2)) * r + f(1.6666665459e-1)) * r + f(5.0000001201e-1)
            return (p * (r * r) + r + f(1.0)) * pow2(n)

        return impl
    if x == types.float64:
        def impl(x):
            x = 708.0 if x > 708.0 else x
            x = -708.0 if x < -708.0 else x
            n = np.floor(1.4426950408889634073599 * x + 0.5)
            r = x - n * 6.93145751953125e-1 - n * 1.42860682030941723212e-6
            rr = r * r
            p = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr
                     + 9.99999999999999999910e-1)
            q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr
                 + 2.27265548208155028766e-1) * rr + 2.00000000000000000009e0
            return (1.0 + 2.0 * (p / (q - p))) * pow2(n)

        return impl
    return None


@numba.njit(inline="always", **JIT)
def residual(h, c, one):
    # tanh(h) + c, in h's own precision: with integer constants, float32 would be computed in float64
    return (one + one) / (one + exp(-(h + h))) - one + c


@numba.njit(**JIT)
def exp_array(x, out):
    """out[i] = exp(x[i]): :func:`exp` over an array, for the tests."""
    for i in range(x.shape[0]):
        out[i] = exp(x[i])


@numba.njit(inline="always", **JIT)
def four_dots(v, xa, xb, xc, xd, zero):
    """``(v . xa, v . xb, v . xc, v . xd)`` in one loop over v, which is read once for the four."""
    a = b = c = d = zero
    for k in range(v.shape[0]):
        vk = v[k]
        a += vk * xa[k]
        b += vk * xb[k]
        c += vk * xc[k]
        d += vk * xd[k]
    return a, b, c, d


@numba.njit(**JIT)
def columns(wh, bh, XT, C, sw, g, H, j0, j1, tile, dots4, zero, one):
    """Examples j0 <= j < j1: H[j], g += Q[j] X[:, j]; returns sum(Q[j0:j1]).

    With `dots4`, the dot products of four examples share one loop over w.
    """
    n = XT.shape[1]
    s = zero
    q = np.empty(tile, XT.dtype)
    j = j0
    while j < j1:
        t1 = min(tile, j1 - j)
        t = 0  # the tile's dot products: X read from memory
        while dots4 and t + 4 <= t1:
            ha, hb, hc, hd = four_dots(wh, XT[j + t], XT[j + t + 1], XT[j + t + 2], XT[j + t + 3], zero)
            q[t], q[t + 1], q[t + 2], q[t + 3] = ha + bh, hb + bh, hc + bh, hd + bh
            t += 4
        while t < t1:
            x = XT[j + t]
            h = zero
            for k in range(n):
                h += wh[k] * x[k]
            q[t] = h + bh
            t += 1
        Ht, Ct, St = H[j:j + t1], C[j:j + t1], sw[j:j + t1]
        for t in range(t1):  # vectorised (tests/test_data_compiled.py checks the IR for it)
            h = q[t]
            Ht[t] = h
            q[t] = residual(h, Ct[t], one) * St[t]
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


@numba.njit(**JIT)
def columns_interleaved(wh, bh, XT, C, sw, g, H, j0, j1, zero, one):
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
        qa, qb = residual(ha, C[j], one) * sw[j], residual(hb, C[j + 1], one) * sw[j + 1]
        qc, qd = residual(hc, C[j + 2], one) * sw[j + 2], residual(hd, C[j + 3], one) * sw[j + 3]
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
        q = residual(h, C[j], one) * sw[j]
        s += q
        for k in range(n):
            g[k] += q * x[k]
        j += 1
    return s


@numba.njit(parallel=True, **JIT)
def half_gradient_kernel(wh, bh, XT, C, sw, H, parts, tile, dots4, zero, one):
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
                S[t] = columns(wh, bh, XT, C, sw, G[t], H, j0, j1, tile, dots4, zero, one)
            else:
                S[t] = columns_interleaved(wh, bh, XT, C, sw, G[t], H, j0, j1, zero, one)
    g = G[0].copy()
    s = S[0]
    for t in range(1, parts):
        g += G[t]
        s += S[t]
    return g, s


@numba.njit(inline="always", **JIT)
def product_rows(R, Q, H, i0, i1, zero):
    """H[i] -= R[i] . Q for i0 <= i < i1, four rows per pass over Q."""
    m = Q.shape[0]
    i = i0
    while i + 4 <= i1:
        a, b, c, d = four_dots(Q, R[i], R[i + 1], R[i + 2], R[i + 3], zero)
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


@numba.njit(inline="always", **JIT)
def residuals(H, C, S, Q, one):
    for j in range(H.shape[0]):
        q = residual(H[j], C[j], one)
        Q[j] = q
        S[j] += q


@numba.njit(**JIT)
def dual_serial(R, H, C, S, Q, k, zero, one):
    for _ in range(k):
        residuals(H, C, S, Q, one)
        product_rows(R, Q, H, 0, H.shape[0], zero)


@numba.njit(parallel=True, **JIT)
def dual_parallel(R, H, C, S, Q, k, parts, zero, one):
    m = H.shape[0]
    per = ((m + parts - 1) // parts + 3) // 4 * 4
    for _ in range(k):
        residuals(H, C, S, Q, one)
        for t in numba.prange(parts):
            product_rows(R, Q, H, min(m, t * per), min(m, t * per + per), zero)


# --- one read of X in any layout, binary and multinomial ------------------------------------------
#
# X of shape (n, m) in C order has its features (rows) contiguous: the
# examples j .. j+B of one feature are one run of B numbers. The "rows" kernels
# take X a block of B examples at a time: the block's logits, a row at a time
# (X read from memory, four rows per pass over the block's logits), then its
# residuals, then its gradient, the same rows again from L2 (four dot products
# per pass over the residuals). The "columns" kernels take X in Fortran order
# (X.T in C order: one example a row), as the binary `columns` above does.
# All take `sw`, the sample weights (ones when unweighted: multiplying by 1 is
# exact), and return the sum of the residuals per row of logits.


@numba.njit(**JIT)
def rows_binary(wh, bh, X, C, sw, g, H, j0, j1, block, zero, one):
    """C-ordered X (n, m), examples j0 <= j < j1: H[j] = wh . X[:, j] + bh, g += Q[j] X[:, j]; sum(Q)."""
    n = X.shape[0]
    s = zero
    h = np.empty(block, X.dtype)
    j = j0
    while j < j1:
        t1 = min(block, j1 - j)
        for t in range(t1):
            h[t] = bh
        k = 0
        while k + 4 <= n:  # logits: four rows per pass over h, read from memory
            wa, wb, wc, wd = wh[k], wh[k + 1], wh[k + 2], wh[k + 3]
            ra, rb, rc, rd = X[k, j:j + t1], X[k + 1, j:j + t1], X[k + 2, j:j + t1], X[k + 3, j:j + t1]
            for t in range(t1):
                h[t] += wa * ra[t] + wb * rb[t] + wc * rc[t] + wd * rd[t]
            k += 4
        while k < n:
            wa = wh[k]
            ra = X[k, j:j + t1]
            for t in range(t1):
                h[t] += wa * ra[t]
            k += 1
        Ht, Ct, St = H[j:j + t1], C[j:j + t1], sw[j:j + t1]
        for t in range(t1):  # residuals
            Ht[t] = h[t]
            q = residual(h[t], Ct[t], one) * St[t]
            h[t] = q
            s += q
        k = 0
        while k + 4 <= n:  # gradient: the same rows, from L2, four dot products per pass over Q
            ra, rb, rc, rd = X[k, j:j + t1], X[k + 1, j:j + t1], X[k + 2, j:j + t1], X[k + 3, j:j + t1]
            a = b = c = d = zero
            for t in range(t1):
                q = h[t]
                a += ra[t] * q
                b += rb[t] * q
                c += rc[t] * q
                d += rd[t] * q
            g[k] += a
            g[k + 1] += b
            g[k + 2] += c
            g[k + 3] += d
            k += 4
        while k < n:
            ra = X[k, j:j + t1]
            a = zero
            for t in range(t1):
                a += ra[t] * h[t]
            g[k] += a
            k += 1
        j += t1
    return s


@numba.njit(inline="always", **JIT)
def softmax_residuals(z, T, sw, Z, s, j, t1, top, total, zero, one):
    """Block of logits z (K, >= t1) of examples j .. j+t1: Z[:, j+t] = z, then z = (softmax(z) - T) sw,
    and s[c] += the block's sum of z[c]. Returns the block's ``sum_t sw[t] L_t`` in float64, ``L_t =
    logsumexp(z[:, t]) - T[:, t] . z[:, t]`` (the examples' cross-entropies).

    Loops over the examples innermost, so that each line vectorises.
    """
    K = z.shape[0]
    for t in range(t1):
        top[t] = z[0, t]
        total[t] = zero
    for c in range(K):
        zc, Zc, Tc = z[c], Z[c, j:j + t1], T[c, j:j + t1]
        for t in range(t1):
            Zc[t] = zc[t]
            top[t] = max(top[t], zc[t])
            total[t] -= Tc[t] * zc[t]  # -T . z for now; the exponentials' sum once the loss is taken
    loss = 0.0
    for t in range(t1):
        loss += np.float64(sw[j + t] * (top[t] + total[t]))  # max(z) - T . z
        total[t] = zero
    for c in range(K):
        zc = z[c]
        for t in range(t1):
            e = exp(zc[t] - top[t])
            zc[t] = e
            total[t] += e
    for t in range(t1):
        loss += np.float64(sw[j + t]) * np.log(np.float64(total[t]))
        total[t] = one / total[t]
    for c in range(K):
        zc, Tc, St = z[c], T[c, j:j + t1], sw[j:j + t1]
        a = zero
        for t in range(t1):
            q = (zc[t] * total[t] - Tc[t]) * St[t]
            zc[t] = q
            a += q
        s[c] += a
    return loss


@numba.njit(inline="always", **JIT)
def _rows_logits(W, b, X, z, j, t1):
    """C-ordered X (n, m), W (n, K): z[c, t] = W[:, c] . X[:, j + t] + b[c] for t < t1, four rows of X
    per pass over each of the K rows of z."""
    n = X.shape[0]
    K = W.shape[1]
    for c in range(K):
        zc = z[c]
        bc = b[c]
        for t in range(t1):
            zc[t] = bc
    k = 0
    while k + 4 <= n:
        ra, rb, rc, rd = X[k, j:j + t1], X[k + 1, j:j + t1], X[k + 2, j:j + t1], X[k + 3, j:j + t1]
        for c in range(K):
            wa, wb, wc, wd = W[k, c], W[k + 1, c], W[k + 2, c], W[k + 3, c]
            zc = z[c]
            for t in range(t1):
                zc[t] += wa * ra[t] + wb * rb[t] + wc * rc[t] + wd * rd[t]
        k += 4
    while k < n:
        ra = X[k, j:j + t1]
        for c in range(K):
            wa = W[k, c]
            zc = z[c]
            for t in range(t1):
                zc[t] += wa * ra[t]
        k += 1


@numba.njit(**JIT)
def rows_multinomial(W, b, X, T, sw, G, Z, s, j0, j1, block, zero, one):
    """C-ordered X (n, m), W (n, K) in C order: Z[:, j] = W.T X[:, j] + b, G (n, K) += X[:, j] Q[:, j].T,
    s (K,) += Q[:, j], for j0 <= j < j1; returns the examples' weighted loss sum (float64)."""
    n = X.shape[0]
    K = W.shape[1]
    z = np.empty((K, block), X.dtype)
    top = np.empty(block, X.dtype)
    total = np.empty(block, X.dtype)
    loss = 0.0
    j = j0
    while j < j1:
        t1 = min(block, j1 - j)
        _rows_logits(W, b, X, z, j, t1)
        loss += softmax_residuals(z, T, sw, Z, s, j, t1, top, total, zero, one)
        k = 0
        while k + 2 <= n:  # gradient: the rows once more, from L2, two rows against two rows of Q per pass
            ra, rb = X[k, j:j + t1], X[k + 1, j:j + t1]
            c = 0
            while c + 2 <= K:
                za, zb = z[c], z[c + 1]
                aa = ab = ba = bb = zero
                for t in range(t1):
                    aa += ra[t] * za[t]
                    ab += ra[t] * zb[t]
                    ba += rb[t] * za[t]
                    bb += rb[t] * zb[t]
                G[k, c] += aa
                G[k, c + 1] += ab
                G[k + 1, c] += ba
                G[k + 1, c + 1] += bb
                c += 2
            if c < K:
                za = z[c]
                aa = ba = zero
                for t in range(t1):
                    aa += ra[t] * za[t]
                    ba += rb[t] * za[t]
                G[k, c] += aa
                G[k + 1, c] += ba
            k += 2
        if k < n:
            ra = X[k, j:j + t1]
            for c in range(K):
                zc = z[c]
                a = zero
                for t in range(t1):
                    a += ra[t] * zc[t]
                G[k, c] += a
        j += t1
    return loss


@numba.njit(inline="always", **JIT)
def _column_logits(WT, b, x, z, t, zero):
    """z[c, t] = WT[c] . x + b[c] for every class c: two classes per pass over x."""
    K, n = WT.shape
    c = 0
    while c + 2 <= K:
        wa, wb = WT[c], WT[c + 1]
        aa = ab = zero
        for k in range(n):
            aa += wa[k] * x[k]
            ab += wb[k] * x[k]
        z[c, t] = aa + b[c]
        z[c + 1, t] = ab + b[c + 1]
        c += 2
    if c < K:
        wa = WT[c]
        aa = zero
        for k in range(n):
            aa += wa[k] * x[k]
        z[c, t] = aa + b[c]


@numba.njit(**JIT)
def columns_multinomial(WT, b, XT, T, sw, GT, Z, s, j0, j1, block, zero, one):
    """Fortran-ordered X given as XT (m, n) in C order, WT (K, n): as `rows_multinomial`, with
    GT (K, n) += Q[:, j] X[:, j].T; a tile of `block` examples at a time, read again from L1. Returns the
    examples' weighted loss sum (float64)."""
    K, n = WT.shape
    z = np.empty((K, block), XT.dtype)
    top = np.empty(block, XT.dtype)
    total = np.empty(block, XT.dtype)
    loss = 0.0
    j = j0
    while j < j1:
        t1 = min(block, j1 - j)
        for t in range(t1):  # logits: K dot products per example, X read from memory
            _column_logits(WT, b, XT[j + t], z, t, zero)
        loss += softmax_residuals(z, T, sw, Z, s, j, t1, top, total, zero, one)
        t = 0
        while t + 4 <= t1:  # gradient: the tile again, from L1, four examples per pass over GT[c]
            xa, xb, xc, xd = XT[j + t], XT[j + t + 1], XT[j + t + 2], XT[j + t + 3]
            for c in range(K):
                qa, qb, qc, qd = z[c, t], z[c, t + 1], z[c, t + 2], z[c, t + 3]
                gc = GT[c]
                for k in range(n):
                    gc[k] += qa * xa[k] + qb * xb[k] + qc * xc[k] + qd * xd[k]
            t += 4
        while t < t1:
            x = XT[j + t]
            for c in range(K):
                q = z[c, t]
                gc = GT[c]
                for k in range(n):
                    gc[k] += q * x[k]
            t += 1
        j += t1
    return loss


@numba.njit(parallel=True, **JIT)
def rows_binary_kernel(wh, bh, X, C, sw, H, parts, block, zero, one):
    n, m = X.shape
    G = np.zeros((parts, n), X.dtype)
    S = np.zeros(parts, X.dtype)
    per = ((m + parts - 1) // parts + 15) // 16 * 16
    for p in numba.prange(parts):
        j0 = min(m, p * per)
        j1 = min(m, j0 + per)
        if j0 < j1:
            S[p] = rows_binary(wh, bh, X, C, sw, G[p], H, j0, j1, block, zero, one)
    g = G[0].copy()
    s = S[0]
    for p in range(1, parts):
        g += G[p]
        s += S[p]
    return g, s


@numba.njit(parallel=True, **JIT)
def multinomial_kernel(W, b, X, T, sw, Z, parts, block, rows, zero, one):
    """`rows`: X (n, m) in C order and W (n, K), G (n, K); else X given as XT (m, n), W as WT (K, n),
    G as GT (K, n). Returns (G or GT, s, the examples' weighted loss sum in float64)."""
    if rows:
        m = X.shape[1]
    else:
        m = X.shape[0]
    G = np.zeros((parts,) + W.shape, X.dtype)
    S = np.zeros((parts, b.shape[0]), X.dtype)
    L = np.zeros(parts, np.float64)
    per = ((m + parts - 1) // parts + 15) // 16 * 16
    for p in numba.prange(parts):
        j0 = min(m, p * per)
        j1 = min(m, j0 + per)
        if j0 < j1:
            if rows:
                L[p] = rows_multinomial(W, b, X, T, sw, G[p], Z, S[p], j0, j1, block, zero, one)
            else:
                L[p] = columns_multinomial(W, b, X, T, sw, G[p], Z, S[p], j0, j1, block, zero, one)
    g = G[0].copy()
    s = S[0].copy()
    loss = L[0]
    for p in range(1, parts):
        g += G[p]
        s += S[p]
        loss += L[p]
    return g, s, loss


@numba.njit(parallel=True, **JIT)
def logits_kernel(W, b, X, Z, parts, block, rows, zero):
    """Z (K, m) = W.T X + b in one read of X, without BLAS. `rows`: X (n, m) in C order and W (n, K),
    `block` examples at a time; else X given as XT (m, n) and W as WT (K, n), one example at a time."""
    if rows:
        m = X.shape[1]
    else:
        m = X.shape[0]
    K = Z.shape[0]
    per = ((m + parts - 1) // parts + 15) // 16 * 16
    for p in numba.prange(parts):
        j0 = min(m, p * per)
        j1 = min(m, j0 + per)
        if rows:
            z = np.empty((K, block), X.dtype)
            j = j0
            while j < j1:
                t1 = min(block, j1 - j)
                _rows_logits(W, b, X, z, j, t1)
                for c in range(K):
                    zc, Zc = z[c], Z[c, j:j + t1]
                    for t in range(t1):
                        Zc[t] = zc[t]
                j += t1
        else:
            for j in range(j0, j1):
                _column_logits(W, b, X[j], Z, j, zero)


@numba.njit(**JIT)
def softmax_terms(Z, b, y, sw, s, block, zero, one):
    """In place, Z (K, m) C order, the products ``W.T X`` of a BLAS: Z = (softmax(Z + b) - T) sw, T the
    one-hot of the labels y (m,); s (K,) += the sums of the rows of the new Z. Returns the examples'
    weighted cross-entropies ``sw (logsumexp(z) - z[y])`` summed in float64. A tile of `block` examples at
    a time, every pass over it from the cache. One thread: see :class:`xlogreg.data.compiled.SoftmaxPass`."""
    K, m = Z.shape
    top = np.empty(block, Z.dtype)
    total = np.empty(block, Z.dtype)
    loss = 0.0
    j = 0
    while j < m:
        t1 = min(block, m - j)
        b0 = b[0]
        Z0 = Z[0, j:j + t1]
        for t in range(t1):
            top[t] = Z0[t] + b0
        for c in range(K):
            Zc, bc = Z[c, j:j + t1], b[c]
            for t in range(t1):
                v = Zc[t] + bc
                Zc[t] = v
                top[t] = max(top[t], v)
        for t in range(t1):
            loss += np.float64(sw[j + t] * (top[t] - Z[y[j + t], j + t]))
            total[t] = zero
        for c in range(K):
            Zc = Z[c, j:j + t1]
            for t in range(t1):
                e = exp(Zc[t] - top[t])
                Zc[t] = e
                total[t] += e
        for t in range(t1):
            loss += np.float64(sw[j + t]) * np.log(np.float64(total[t]))
            total[t] = sw[j + t] / total[t]
        for c in range(K):
            Zc = Z[c, j:j + t1]
            a = zero
            for t in range(t1):
                q = Zc[t] * total[t]
                Zc[t] = q
                a += q
            s[c] += a
        for t in range(t1):
            Z[y[j + t], j + t] -= sw[j + t]
            s[y[j + t]] -= sw[j + t]
        j += t1
    return loss
