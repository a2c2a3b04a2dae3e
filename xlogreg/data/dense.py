"""The data interface (:mod:`xlogreg.data`) on a dense Array API array.

X has shape ``(n_x, m)``, one column per example; every function is plain
Array API on the arrays it is given (no host synchronisation), so it runs on
NumPy, CuPy, torch, JAX, array-api-strict and, lazily, Dask.
"""

from __future__ import annotations

from array_api_compat import is_numpy_array, is_torch_array

from .._namespace import array_namespace

__all__ = ["forward", "backward", "one_pass", "gram", "weighted_gram", "squares_backward", "take_rows",
           "product_work", "gram_work"]


def forward(W, b, X):
    """The logits ``Z = W.T X + b``, shape ``(k, m)``; W ``(n_x, k)``, b ``(k, 1)``, 0-d, a number or None."""
    Z = W.T @ X
    return Z if b is None else Z + b


def backward(X, R):
    """``X R.T``, shape ``(n_x, k)``, for R of shape ``(k, m)``: a gradient's data term.

    On torch it is computed as ``(R X.T).T``, the same product with the
    operands' roles swapped: X is usually the transpose of the user's
    ``(m, n_x)`` tensor, and torch's CPU build (MKL) multiplied two transposed
    operands with few columns very slowly on an AMD EPYC (160,000 x 512
    float32, 10 classes: 1.69 s against 0.050 s; NumPy's OpenBLAS 0.036 s
    either way, so NumPy keeps ``X R.T``; benchmarks/bench_torch_cpu.py).
    """
    if is_torch_array(X):
        return (R @ X.T).T
    return X @ R.T


def one_pass(W, b, X, terms, *args, **options):
    """``forward``, then ``terms``, then ``backward``: ``(Z, G, s, extra)``.

    ``terms(Z, *args, **options)`` returns ``(Q, extra)``: the residual Q of shape
    ``(k, m)`` and anything else it computed from Z (a loss, or None);
    ``G = X Q.T`` and ``s = sum(Q, axis=1)`` of shape ``(k, 1)``.
    """
    xp = array_namespace(X)
    Z = forward(W, b, X)
    Q, extra = terms(Z, *args, **options)
    return Z, backward(X, Q), xp.sum(Q, axis=1, keepdims=True), extra


def gram(X):
    """``X.T X``, shape ``(m, m)``: the examples' inner products."""
    return X.T @ X


def weighted_gram(X, D, nonnegative=False):
    """``X diag(D) X.T``, shape ``(n_x, n_x)``, for D of shape ``(1, m)``.

    With `nonnegative` (D >= 0 everywhere) it is formed as ``R R.T`` with
    ``R = X sqrt(D)``: half the work where the backend has a symmetric
    product (NumPy: BLAS syrk).
    """
    xp = array_namespace(X)
    if nonnegative:
        R = X * xp.sqrt(D)
        return R @ xp.permute_dims(R, (1, 0))
    return (X * D) @ xp.permute_dims(X, (1, 0))


def squares_backward(X, d):
    """``(X * X) d.T``, shape ``(n_x, k)``, for d of shape ``(k, m)``: weighted column sums of squares."""
    return (X * X) @ d.T


def take_rows(X, index):
    """Rows `index` of X (features), shape ``(len(index), m)``: a working set's X (:mod:`xlogreg.solvers.prox_newton`).

    A NumPy X that is the transpose of a C-ordered array (the estimator's
    ``X.T`` view of the user's ``(m, n_x)`` data) is gathered as columns of
    that array, one short read per example: NumPy's ``take`` on a
    non-contiguous array first copies the whole of it, on every call.
    """
    xp = array_namespace(X)
    if is_numpy_array(X) and not X.flags.c_contiguous and X.T.flags.c_contiguous:
        return xp.take(X.T, index, axis=1).T
    return xp.take(X, index, axis=0)


def product_work(X):
    """Multiply-adds of ``forward`` or ``backward`` per row of W: ``n_x m``."""
    return X.shape[0] * X.shape[1]


def gram_work(X):
    """Multiply-adds of :func:`gram`: ``n_x m^2``."""
    return X.shape[0] * X.shape[1] * X.shape[1]
