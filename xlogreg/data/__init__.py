"""How the solvers see X: the data interface, and its implementations.

The solvers and the loss object (:mod:`xlogreg._loss`) never multiply X
themselves: they ask the module that :func:`operations` returns for X, which
implements these functions (X of shape ``(n_x, m)``, one column per example):

=================================  =============================================  ===================
function                           computes                                       shape
=================================  =============================================  ===================
``forward(W, b, X)``               ``W.T X + b``, the logits (b may be None)      ``(k, m)``
``backward(X, R)``                 ``X R.T``, a gradient's data term              ``(n_x, k)``
``one_pass(W, b, X, terms, *a)``   both, with ``terms(Z, *a) -> (Q, extra)``      ``Z``, ``X Q.T``,
                                   between them (one read of X where the          ``sum(Q)``, extra
                                   storage allows it)
``gram(X)``                        ``X.T X``                                      ``(m, m)``
``weighted_gram(X, D)``            ``X diag(D) X.T``                              ``(n_x, n_x)``
``squares_backward(X, d)``         ``(X * X) d.T``, column statistics             ``(n_x, k)``
``take_rows(X, index)``            the rows (features) `index` of X, in X's kind  ``(len(index), m)``
``product_work(X)``                multiply-adds of ``forward`` per row of W      int
                                   (``n_x m``; the stored entries of a sparse X)
``gram_work(X)``                   multiply-adds of ``gram(X)``                   float
=================================  =============================================  ===================

Implementations today:

* :mod:`xlogreg.data.dense`: any Array API array (NumPy, CuPy, torch, JAX,
  array-api-strict, and Dask, whose products are lazy);
* :mod:`xlogreg.data.dask`: the one-pass gradient of a Dask X as one task per
  chunk of examples (each chunk read once per iteration; the loss object runs
  its value and gradient and its Hessian-vector products on a Dask X through
  it), and the helpers that keep a Dask loop's graph one iteration deep;
* :mod:`xlogreg.data.blocks`: the one-pass gradient of a NumPy X block of
  examples by block, each block's two products sharing the cache;
* :mod:`xlogreg.data.compiled`: the same pass as one compiled (numba) read of a
  NumPy X, and the compiled dual loop;
* :mod:`xlogreg.data.sparse`: a SciPy, torch or CuPy sparse X, held as a
  :class:`~xlogreg.data.sparse.SparseMatrix` (made once by
  :func:`xlogreg.data.sparse.as_matrix` at the public entry points), never densified.

A new kind of data is one more module implementing the table above, chosen in
:func:`operations`; the solvers do not change.
"""

from __future__ import annotations

from . import dense, sparse

__all__ = ["operations"]


def operations(X):
    """The module implementing the data interface for X (see the table above).

    Parameters
    ----------
    X : array of shape (n_x, m)

    Returns
    -------
    module
        :mod:`xlogreg.data.sparse` for a :class:`~xlogreg.data.sparse.SparseMatrix`,
        :mod:`xlogreg.data.dense` for every Array API array (Dask included).

    Raises
    ------
    TypeError
        For a SciPy, CuPy or torch sparse matrix not made a
        :class:`~xlogreg.data.sparse.SparseMatrix` first: the dense code would densify it.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from xlogreg import data
    >>> X = xp.asarray([[1.0, 2.0], [3.0, 4.0]])
    >>> ops = data.operations(X)
    >>> ops.forward(xp.asarray([[1.0], [0.0]]), 0.5, X)
    Array([[1.5, 2.5]], dtype=array_api_strict.float64)
    """
    if isinstance(X, sparse.SparseMatrix):
        return sparse
    if sparse.is_sparse(X):
        raise TypeError(f"X is a sparse {type(X).__module__}.{type(X).__name__}: pass it through "
                        "xlogreg.data.sparse.as_matrix(X) first (xlogreg.train and LogisticRegression do)")
    return dense
