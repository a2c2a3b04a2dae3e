"""The one-pass gradient of a NumPy X, block of examples by block (the data interface, :mod:`xlogreg.data`).

The plain pass reads X from memory twice (``W.T X``, then ``X Q.T``). Over
blocks of examples ``Xb = X[:, j:j+B]`` the second product finds ``Xb`` still
in cache, so X is read once. Where it pays was measured
(benchmarks/README.md); :func:`choose_block` says where, from the machine's
caches (:mod:`xlogreg._machine`).
"""

from __future__ import annotations

from array_api_compat import is_numpy_array

from .. import _machine
from . import dense
from .._namespace import array_namespace

__all__ = ["choose_block", "example_blocks", "blocked_pass", "BLOCK_ELEMENTS", "BLOCK_MIN_BYTES",
           "BLOCK_MIN_EXAMPLES"]

# Where each tuning value comes from: the table in xlogreg/_machine.py. A value of None
# below means "from the machine" (its function beside it); an int set here overrides it.

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


def _block_elements():
    """:data:`BLOCK_ELEMENTS`, or as many as the L2 cache has bytes, at most L3 / 64 (both 2**19 as recorded)."""
    if BLOCK_ELEMENTS is not None:
        return BLOCK_ELEMENTS
    return min(_machine.cache_bytes("l2"), _machine.cache_bytes("l3") // 64)


def _block_min_bytes():
    """:data:`BLOCK_MIN_BYTES`, or twice the L3 cache (:mod:`xlogreg._machine`)."""
    return 2 * _machine.cache_bytes("l3") if BLOCK_MIN_BYTES is None else BLOCK_MIN_BYTES


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


def example_blocks(X, aligned, block):
    """Views ``(X[:, j:j+block], [a[:, j:j+block] for a in aligned])`` covering all examples, or None.

    `aligned` holds arrays of one column per example (targets, weights), or
    None for an absent one; `block` is a number of examples, None (no blocks)
    or ``"auto"`` (:func:`choose_block`).
    """
    if block == "auto":
        block = choose_block(X)
    if block is None:
        return None
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"block must be a number of examples >= 1, None or 'auto'; got {block!r}")
    m = X.shape[1]
    starts = range(0, m, block)
    ends = [min(j + block, m) for j in starts]  # the Array API leaves slice stops past m undefined
    return [(X[:, j:end], [None if a is None else a[:, j:end] for a in aligned]) for j, end in zip(starts, ends)]


def blocked_pass(W, b, blocks, terms, *options, with_z=True):
    """:func:`xlogreg.data.dense.one_pass` block of examples by block: ``(Z or None, G, s)``.

    `blocks` comes from :func:`example_blocks`; each block's ``terms(Zb,
    *aligned_b, *options)`` gives its residual (its second value is ignored).
    The gradient product ``Xb Qb.T`` comes right after the forward product
    ``W.T Xb`` of the same block, which is then still in cache, so X is read
    from memory once instead of twice. Sums run over the blocks in order, so
    the result is deterministic; it equals the plain pass up to rounding.
    """
    xp = array_namespace(W)
    G = s = None
    Z_blocks = []
    for Xb, aligned in blocks:
        Zb, Gb, s_b, _ = dense.one_pass(W, b, Xb, terms, *aligned, *options)
        G, s = (Gb, s_b) if G is None else (G + Gb, s + s_b)
        if with_z:
            Z_blocks.append(Zb)
    return (xp.concat(Z_blocks, axis=1) if with_z else None), G, s
