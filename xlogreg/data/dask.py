"""Dask X in the data interface (:mod:`xlogreg.data`): the one-pass gradient per chunk, and a loop's state.

:func:`chunked_pass` reads each chunk of examples once per iteration, in one
task (the forward and the backward product share it, in cache), and builds a
graph of one task per chunk: what a lazy X (an HDF5 file read chunk by chunk)
needs. The loss object (:mod:`xlogreg._loss`) runs its gradient and its
Hessian-vector products on a Dask X through it (one read of each chunk per
product), and :func:`squares_backward` is the Hessian's diagonal in one task
per chunk. :func:`materialize` keeps a loop's graph one iteration deep.
"""

from __future__ import annotations

from array_api_compat import device as get_device, is_dask_array

from . import dense
from .._namespace import array_namespace

__all__ = ["chunked_pass", "squares_backward", "materialize", "as_data", "dask_run"]

#: Dask state up to this size is carried from one iteration to the next as data in the
#: graph (well below distributed's 10 MB "large graph" warning); bigger state is persisted.
_EMBED_BYTES = 4 * 2**20


def materialize(*arrays):
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
    return as_data(*arrays)


def as_data(*arrays):
    """:func:`materialize`'s work (the loops' setup calls it directly, the iterations through it)."""
    if any(is_dask_array(a) for a in arrays):
        import dask
        import dask.array as da

        small = [i for i, a in enumerate(arrays) if is_dask_array(a) and a.nbytes <= _EMBED_BYTES]
        if len(small) < sum(is_dask_array(a) for a in arrays):
            arrays = dask_run(dask.persist, *arrays)  # one pass over X for all of them
        values = dict(zip(small, dask_run(dask.compute, *(arrays[i] for i in small))))
        return tuple(da.from_array(values[i], chunks=a.chunks) if i in values else a
                     for i, a in enumerate(arrays))
    return arrays


def dask_run(function, *arrays):
    """``dask.compute`` or ``dask.persist`` of `arrays`, with clearer errors for lost workers."""
    from .._backends import dask_task_threads, explain_dask_failure

    try:
        with dask_task_threads():
            return function(*arrays)
    except Exception as exc:
        clearer = explain_dask_failure(exc)
        if clearer is None:
            raise
        raise clearer from exc


def chunked_pass(W, b, X, terms, aligned, *, with_extra=True, **options):
    """:func:`xlogreg.data.dense.one_pass` on a Dask X, one task per chunk of examples: ``(G, s, extra)``.

    Each task runs that very function on its chunk of examples (NumPy arrays),
    with ``terms(Z, *aligned_chunks, with_extra=..., **options)``, which must
    return ``(Q, extra)`` with `extra` a 0-d array (or None without
    `with_extra`); the chunks' sums are added in a tree. This reads each chunk
    of X once per iteration and keeps it for one task only. Per-example data
    that does not line up with X's chunks as one row per example (one-hot
    targets of K rows, say) should be made in `terms` from what does (labels).

    Parameters
    ----------
    W : dask array of shape (n_x, k)
    b : dask array of shape (k, 1)
    X : dask array of shape (n_x, m), chunked along m (the examples)
    terms : callable
        Module-level (it is sent to the workers).
    aligned : list of dask arrays of shape (r, m)
        Cut where X is before the tasks run (per-example rows: labels,
        weights, the curvature of a Hessian-vector product).
    with_extra : bool
    **options
        Passed on to `terms`.

    Returns
    -------
    G : dask array of shape (n_x, k)
        ``X Q.T``.
    s : dask array of shape (k, 1)
    extra : 0-d dask array, the sum of the chunks' extras, or None without `with_extra`
    """
    n_x, m = X.shape
    k = W.shape[1]
    X = _whole_examples(X)
    W, b = _lazy(W), _lazy(b)
    W = W.rechunk(-1) if W.npartitions > 1 else W
    # columns of shape (n_x, 1) and (1, 1): they broadcast against X's blocks, k columns would not
    columns = [W[:, j:j + 1] for j in range(k)] + [b.reshape((k, 1))[j:j + 1, :] for j in range(k)]
    rows = (n_x + 1 + (1 if with_extra else 0)) * k
    parts = X.map_blocks(_chunk_sums, *[_along(a, X) for a in aligned], *columns, k=k, n_aligned=len(aligned),
                         terms=terms, with_extra=with_extra, options=options,
                         chunks=((rows,), (1,) * X.numblocks[1]), dtype=X.dtype)
    sums = parts.sum(axis=1).reshape((rows // k, k))
    return sums[:n_x], sums[n_x:n_x + 1].T, (sums[n_x + 1, 0] if with_extra else None)


def squares_backward(X, d):
    """:func:`xlogreg.data.dense.squares_backward` on a Dask X, one task per chunk: ``(X * X) d.T``.

    Each task squares its chunk of X and multiplies it by its chunk of d, so
    ``X * X`` is never a Dask array of its own (one read of each chunk).

    Parameters
    ----------
    X : dask array of shape (n_x, m)
    d : dask array of shape (k, m)

    Returns
    -------
    dask array of shape (n_x, k)
    """
    n_x, k = X.shape[0], d.shape[0]
    X = _whole_examples(X)
    parts = X.map_blocks(_chunk_squares, _along(d, X), chunks=((n_x * k,), (1,) * X.numblocks[1]), dtype=X.dtype)
    return parts.sum(axis=1).reshape((n_x, k))


def _chunk_squares(X, d):
    """One task of :func:`squares_backward`: the chunk's ``(X * X) d.T`` as one column."""
    return array_namespace(X).reshape(dense.squares_backward(X, d), (-1, 1))


def _whole_examples(X):
    """X in one chunk along the features: each task sees whole examples."""
    return X.rechunk({0: -1}) if X.numblocks[0] > 1 else X


def _lazy(a):
    """`a` as a Dask array (a NumPy label array given beside a Dask X, say)."""
    if is_dask_array(a):
        return a
    import dask.array as da

    return da.from_array(a, chunks=-1)


def _along(a, X):
    """`a` of shape (rows, m) cut where X is: map_blocks pairs blocks by index, and broadcasts a single block."""
    a = _lazy(a)
    return a.rechunk({0: -1, 1: X.chunks[1]}) if a.chunks[1] != X.chunks[1] or a.numblocks[0] > 1 else a


def _chunk_sums(X, *rest, k, n_aligned, terms, with_extra, options):
    """One task of :func:`chunked_pass`: ``G``, ``s`` (and the extra) of a chunk, as one column."""
    xp = array_namespace(X)
    aligned, rest = rest[:n_aligned], rest[n_aligned:]
    # concat makes W a new contiguous array: Dask makes zeros as a broadcast view of one element
    # (stride 0), which BLAS cannot take (W.T @ X would fall back to a loop several times slower).
    W = xp.concat(rest[:k], axis=1)
    b = xp.concat(rest[k:], axis=0)
    _, G, s, total = dense.one_pass(W, b, X, terms, *aligned, with_extra=with_extra, **options)
    sums = [G, s.T]
    if with_extra:
        sums.append(xp.zeros((1, k), dtype=X.dtype, device=get_device(X)) + total)
    return xp.reshape(xp.concat(sums, axis=0), (-1, 1))
