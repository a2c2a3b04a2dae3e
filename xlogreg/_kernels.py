"""The numba kernels behind :mod:`xlogreg._fused` (imported by it on first use only).

They live at module level, not inside a function, so that numba's on-disk
cache (``cache=True``, in ``__pycache__`` or numba's user-wide fallback) finds
them again in the next process (~0.7 s with numba's import). Defined inside a
function, as they first were, they missed the cache and the primal pass was
compiled again in every process (5-6 s). See
:mod:`xlogreg._fused` for what they compute; the tests are in
tests/test_fused.py.
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
def columns(wh, bh, XT, C, g, H, j0, j1, tile, dots4, zero, one):
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
        Ht, Ct = H[j:j + t1], C[j:j + t1]
        for t in range(t1):  # vectorised (tests/test_fused.py checks the IR for it)
            h = q[t]
            Ht[t] = h
            q[t] = residual(h, Ct[t], one)
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


@numba.njit(parallel=True, **JIT)
def half_gradient_kernel(wh, bh, XT, C, H, parts, tile, dots4, zero, one):
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
                S[t] = columns(wh, bh, XT, C, G[t], H, j0, j1, tile, dots4, zero, one)
            else:
                S[t] = columns_interleaved(wh, bh, XT, C, G[t], H, j0, j1, zero, one)
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
