"""The data interface (:mod:`xlogreg.data`) on a sparse X: SciPy, torch and CuPy sparse matrices, never densified.

A sparse X reaches the solvers as a :class:`SparseMatrix`, made once at the
public entry point (:func:`as_matrix`). It holds the matrix twice over in the
formats that make both products of an iteration a native sparse-times-dense
kernel, and nothing else: memory grows with the stored values, never with
``n_x * m``.

* SciPy (``scipy.sparse`` CSR, CSC and COO, matrices and arrays): the matrix in
  CSR or CSC and its transpose as a view (CSC or CSR), so no copy beyond the
  one that turns COO (or entries stored twice) into CSR;
  ``forward`` and ``backward`` are SciPy's ``csr_matvecs`` and ``csc_matvecs``.
* torch (``torch.sparse_csr_tensor``, and CSC / COO tensors, on any device):
  CSR of X and CSR of X.T (one conversion at the start), since torch
  multiplies CSR natively and turns other layouts into CSR per product.
* CuPy (``cupyx.scipy.sparse`` CSR, CSC, COO): CSR of X and of X.T, as torch,
  so that every product is a non-transposed cuSPARSE SpMM.

The dense results (logits, gradients, Gram matrices) are arrays of the
library's dense namespace on the matrix's device: NumPy for SciPy, torch for
torch, CuPy for CuPy. :class:`SparseMatrix` reports that namespace
(``__array_namespace__``), its device and its values' dtype, so that the
solvers' ``array_namespace(X)`` / ``device(X)`` / ``X.dtype`` / ``X.shape``
work unchanged; it multiplies with dense arrays (``X @ D``, ``D @ X``), and
refuses everything else (``numpy.asarray(X)``, ``X * D``, ...) with a
``TypeError``, so that no code path can densify it by accident.

Recognising sparse input imports nothing: a SciPy, CuPy or torch object can
only exist once its library is imported, so :func:`is_sparse` asks the
modules already in ``sys.modules`` (as ``array_api_compat`` does).

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from xlogreg.data import sparse
>>> X = sparse.as_matrix(sp.csr_array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))  # (n_x, m) = (2, 3)
>>> sparse.forward(np.array([[1.0], [1.0]]), 0.5, X)
array([[1.5, 3.5, 2.5]])
>>> sparse.backward(X, np.array([[1.0, 1.0, 1.0]]))
array([[3.],
       [3.]])
"""

from __future__ import annotations

import contextlib
import sys
import warnings

from array_api_compat import device as get_device

from .. import _backends
from .._namespace import array_namespace

__all__ = ["SparseMatrix", "as_matrix", "is_sparse", "is_scipy_sparse", "forward", "backward", "one_pass",
           "gram", "weighted_gram", "squares_backward", "take_rows", "product_work", "gram_work"]

#: The formats accepted, per library (others are refused by name: convert them first).
FORMATS = {"scipy": ("csr", "csc", "coo"), "torch": ("sparse_csr", "sparse_csc", "sparse_coo"),
           "cupy": ("csr", "csc", "coo")}


# --------------------------------------------------------------------------- recognising sparse input

def is_scipy_sparse(x):
    """True for a ``scipy.sparse`` matrix or array (any format); never imports SciPy to ask."""
    module = sys.modules.get("scipy.sparse")
    return module is not None and module.issparse(x)


def _is_cupy_sparse(x):
    module = sys.modules.get("cupyx.scipy.sparse")
    return module is not None and module.issparse(x)


def _is_torch_sparse(x):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor) and x.layout != torch.strided


def is_sparse(x):
    """True for a :class:`SparseMatrix`, or a SciPy, CuPy or torch sparse matrix of any format."""
    return isinstance(x, SparseMatrix) or is_scipy_sparse(x) or _is_torch_sparse(x) or _is_cupy_sparse(x)


# --------------------------------------------------------------------------- one small adapter per library

class _SciPy:
    """``scipy.sparse``: the matrix in CSR or CSC, its transpose a view (CSC or CSR)."""

    name = "scipy"

    @staticmethod
    def format(x):
        return x.format

    @staticmethod
    def pair(x):
        """``(a, at)``: X in CSR or CSC with each entry stored once, and X.T as a view of it."""
        if x.format == "coo":
            x = x.tocsr()  # adds up entries stored twice
        elif not x.has_canonical_format:
            x = x.copy()  # never sort or merge the caller's matrix in place
            x.sum_duplicates()
        return x, x.T

    @staticmethod
    def values(a):
        return a.data

    @staticmethod
    def with_values(a, values):
        """The same pattern (index arrays shared, not copied) with other values."""
        return type(a)((values, a.indices, a.indptr), shape=a.shape)

    @staticmethod
    def transpose(a):
        return a.T

    @staticmethod
    def times(a, D):
        return a @ D

    @staticmethod
    def sparse_times(a, b):
        """``a @ b`` of two sparse matrices, as a dense array (a Gram matrix: small by the caller's choice)."""
        return (a @ b).toarray()

    @staticmethod
    def scale_rows(a, d):
        """``diag(d) a`` for a 1-D d, the pattern shared."""
        import numpy as np

        per_entry = np.repeat(d, np.diff(a.indptr)) if a.format == "csr" else d[a.indices]
        return _SciPy.with_values(a, a.data * per_entry)

    @staticmethod
    def row_counts(a):
        """Stored entries per row."""
        import numpy as np

        return np.diff(a.indptr) if a.format == "csr" else np.bincount(a.indices, minlength=a.shape[0])

    @classmethod
    def take_rows(cls, a, index):
        """Rows `index` of a, as a new ``(a, at)`` pair (one pass over the stored entries, no dense copy)."""
        return cls.pair(a[index, :])


class _CuPy(_SciPy):
    """``cupyx.scipy.sparse``: CSR of X and of X.T (no transposed SpMM on the GPU)."""

    name = "cupy"

    @staticmethod
    def pair(x):
        a = x.tocsr()
        if not a.has_canonical_format:
            a = a.copy()
            a.sum_duplicates()
        return a, a.T.tocsr()

    @staticmethod
    def transpose(a):
        return a.T.tocsr()

    @staticmethod
    def scale_rows(a, d):
        import cupy

        entries = cupy.arange(a.data.shape[0], dtype=a.indptr.dtype)
        rows = cupy.searchsorted(a.indptr, entries, side="right") - 1  # the row of each stored entry
        return _SciPy.with_values(a, a.data * d[rows])

    @staticmethod
    def row_counts(a):
        import cupy

        return cupy.diff(a.indptr)

    @classmethod
    def take_rows(cls, a, index):
        return cls.pair(a[index, :])  # a is CSR here: a gather of whole rows


class _Torch:
    """torch sparse tensors: CSR of X and of X.T (torch multiplies CSR natively, on CPU and CUDA)."""

    name = "torch"

    @staticmethod
    def format(x):
        return str(x.layout).removeprefix("torch.")

    @staticmethod
    def pair(x):
        torch = sys.modules["torch"]
        if x.dense_dim() != 0:
            raise TypeError(f"a torch sparse X must hold scalar values; got {x.dense_dim()} dense dimensions "
                            "per stored entry (a hybrid tensor)")
        with _torch_quiet():
            if x.layout == torch.sparse_csr:
                return x, x.to_sparse_csc().t()
            if x.layout == torch.sparse_csc:
                return x.to_sparse_csr(), x.t()  # the transpose of CSC is CSR: no copy
            return x.to_sparse_csr(), x.t().to_sparse_csr()  # COO: adds up entries stored twice

    @staticmethod
    def values(a):
        return a.values()

    @staticmethod
    def with_values(a, values):
        torch = sys.modules["torch"]
        with _torch_quiet():
            return torch.sparse_csr_tensor(a.crow_indices(), a.col_indices(), values, size=a.shape,
                                           check_invariants=False)

    @staticmethod
    def transpose(a):
        with _torch_quiet():
            return a.to_sparse_csc().t()

    @staticmethod
    def times(a, D):
        return a @ D

    @staticmethod
    def sparse_times(a, b):
        with _torch_quiet():
            return (a @ b).to_dense()

    @staticmethod
    def scale_rows(a, d):
        torch = sys.modules["torch"]
        counts = a.crow_indices().diff()
        return _Torch.with_values(a, a.values() * torch.repeat_interleave(d, counts))

    @staticmethod
    def row_counts(a):
        return a.crow_indices().diff()

    @staticmethod
    def take_rows(a, index):
        """Rows `index` of a CSR a, as a new pair: through COO, whose ``index_select`` torch implements."""
        with _torch_quiet():
            return _Torch.pair(a.to_sparse_coo().index_select(0, index).coalesce())


@contextlib.contextmanager
def _torch_quiet():
    """torch announces once per process that sparse CSR is in beta: a note for torch's users, not xlogreg's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled",
                                category=UserWarning)
        yield


def _library(x):
    if is_scipy_sparse(x):
        return _SciPy
    if _is_torch_sparse(x):
        return _Torch
    if _is_cupy_sparse(x):
        return _CuPy
    return None


# --------------------------------------------------------------------------- the matrix the solvers see

class SparseMatrix:
    """A sparse matrix as the solvers see it: products with dense arrays, and nothing that densifies it.

    Made by :func:`as_matrix`. ``X.T`` is the transpose, without a copy (the
    two stored orientations swap roles).

    Attributes
    ----------
    shape : tuple of int
    ndim : int
        2.
    dtype
        The dtype of the stored values (a dtype of the dense namespace).
    device
        Where the values live.
    nnz : int
        Stored entries.
    stored_values : array of shape (nnz,)
        The stored values themselves (what :func:`xlogreg._validation.check_finite` checks).
    """

    __array_ufunc__ = None  # NumPy hands ``D @ X`` to __rmatmul__ instead of converting X
    ndim = 2

    def __init__(self, a, at, library):
        self._a, self._at, self._library = a, at, library
        self._squares = None

    @property
    def shape(self):
        return tuple(int(n) for n in self._a.shape)

    @property
    def stored_values(self):
        return self._library.values(self._a)

    @property
    def dtype(self):
        return self.stored_values.dtype

    @property
    def device(self):
        return get_device(self.stored_values)

    @property
    def nnz(self):
        return int(self.stored_values.shape[0])

    @property
    def format(self):
        """The library and format it came in, for messages: ``"scipy csr"``, ``"torch sparse_csr"``, ..."""
        return f"{self._library.name} {self._library.format(self._a)}"

    @property
    def T(self):
        return SparseMatrix(self._at, self._a, self._library)

    def __array_namespace__(self, api_version=None):
        """The namespace of the dense arrays that go with this matrix (NumPy for SciPy)."""
        return array_namespace(self.stored_values)

    def __matmul__(self, other):
        """``X @ D`` for a dense D of shape (n, k): a dense (r, k) array."""
        if is_sparse(other):
            return NotImplemented
        return self._library.times(self._a, other)

    def __rmatmul__(self, other):
        """``D @ X`` for a dense D of shape (k, r): a dense (k, n) array, as ``(X.T @ D.T).T``."""
        if is_sparse(other):
            return NotImplemented
        return self._library.times(self._at, other.T).T

    def __array__(self, *args, **kwargs):
        raise TypeError(f"a sparse X ({self.format}, shape {self.shape}) is never turned into a dense array "
                        "by xlogreg: its products go through xlogreg.data.sparse")

    def astype(self, dtype):
        """The same matrix with its values in `dtype` (the pattern shared)."""
        xp = array_namespace(self)
        if self.dtype == dtype:
            return self
        a = self._library.with_values(self._a, xp.astype(self.stored_values, dtype))
        return SparseMatrix(a, self._library.transpose(a), self._library)

    def squared(self):
        """The matrix of the squared entries, same pattern (computed once, then kept)."""
        if self._squares is None:
            values = self.stored_values
            self._squares = self._library.with_values(self._a, values * values)
        return self._squares

    def __repr__(self):
        return f"SparseMatrix({self.format}, shape={self.shape}, nnz={self.nnz}, dtype={self.dtype})"


def as_matrix(X, name="X", *, dtype=None, xp=None, device=None, finite=True):
    """A checked :class:`SparseMatrix` of a sparse `X`, in its own orientation; never a dense copy.

    Parameters
    ----------
    X : SciPy / CuPy sparse matrix or array (CSR, CSC, COO), torch sparse tensor (CSR, CSC, COO), or SparseMatrix
    name : str
        The argument's name, for messages.
    dtype : None, "float32", "float64" or a dtype
        None keeps float32 and float64 (narrower floats become float32;
        integers and booleans the device's default floating dtype).
    xp, device : optional
        The namespace and device X must already use (the fitted model's, or
        those asked for): sparse data is not moved between libraries or devices.
    finite : bool
        Check that the stored values are finite (one pass over them).

    Raises
    ------
    TypeError
        For a format not in :data:`FORMATS`, complex values, or X in another namespace than `xp`.
    ValueError
        For an empty X, values that are not finite, or X on another device.
    """
    if not isinstance(X, SparseMatrix):
        library = _library(X)
        if library is None:
            raise TypeError(f"{name} must be a SciPy, CuPy or torch sparse matrix here; got "
                            f"{type(X).__module__}.{type(X).__name__}")
        fmt = library.format(X)
        if fmt not in FORMATS[library.name]:
            raise TypeError(f"{name} is a {library.name} sparse matrix in the {fmt!r} format; xlogreg takes "
                            f"{', '.join(FORMATS[library.name])} (convert it once, e.g. {name}.tocsr() or "
                            f"{name}.to_sparse_csr())")
        if len(X.shape) != 2:
            raise ValueError(f"{name} must be a 2-D sparse matrix; got shape {tuple(X.shape)}")
        X = SparseMatrix(*library.pair(X), library)
    if min(X.shape) < 1:
        raise ValueError(f"{name} must have at least one row and one column; got a sparse matrix of shape "
                         f"{X.shape}")
    own = array_namespace(X)
    if xp is not None and own is not xp:
        raise TypeError(f"{name} is a {X.format} sparse matrix, whose dense arrays are "
                        f"{_backends.backend_name(own)}, but the data must be {_backends.backend_name(xp)} here; "
                        f"sparse data is not moved between libraries: pass {name} in that library")
    if device is not None and str(X.device) != str(device):
        raise ValueError(f"{name} is on device {_backends.device_name(X.device)} but must be on "
                         f"{_backends.device_name(device)}; sparse data is not moved between devices: move it first")
    if not (own.isdtype(X.dtype, ("real floating", "integral", "bool"))):
        raise TypeError(f"{name} must hold real numbers (floating, integer or boolean); got dtype {X.dtype}")
    X = X.astype(_backends.floating_dtype(own, X.device, dtype, like=X.stored_values))
    if finite and not bool(own.all(own.isfinite(X.stored_values))):
        raise ValueError(f"{name} must hold only finite values; it contains NaN or infinity")
    return X


# --------------------------------------------------------------------------- the data interface

def forward(W, b, X):
    """The logits ``Z = W.T X + b``, shape ``(k, m)``: ``(X.T W).T``, one sparse product."""
    Z = X._library.times(X._at, W).T
    return Z if b is None else Z + b


def backward(X, R):
    """``X R.T``, shape ``(n_x, k)``, for R of shape ``(k, m)``: one sparse product."""
    return X._library.times(X._a, R.T)


def one_pass(W, b, X, terms, *args, **options):
    """``forward``, then ``terms``, then ``backward``: ``(Z, G, s, extra)`` (see :func:`xlogreg.data.dense.one_pass`)."""
    xp = array_namespace(W)
    Z = forward(W, b, X)
    Q, extra = terms(Z, *args, **options)
    return Z, backward(X, Q), xp.sum(Q, axis=1, keepdims=True), extra


def gram(X):
    """``X.T X``, a dense ``(m, m)`` array, from a sparse product (the caller decides that m x m fits)."""
    return X._library.sparse_times(X._at, X._a)


def weighted_gram(X, D, nonnegative=False):
    """``X diag(D) X.T``, a dense ``(n_x, n_x)`` array, for D of shape ``(1, m)``: one sparse product.

    `nonnegative` is accepted for the interface and not needed: the product is sparse either way.
    """
    xp = array_namespace(D)
    return X._library.sparse_times(X._a, X._library.scale_rows(X._at, xp.reshape(D, (-1,))))


def squares_backward(X, d):
    """``(X * X) d.T``, shape ``(n_x, k)``: the squared entries kept once per matrix (same pattern)."""
    return X._library.times(X.squared(), d.T)


def take_rows(X, index):
    """Rows `index` of X (features) as a :class:`SparseMatrix` ``(len(index), m)``: never densified."""
    return SparseMatrix(*X._library.take_rows(X._a, index), X._library)


def product_work(X):
    """Multiply-adds of ``forward`` or ``backward`` per row of W: the stored entries."""
    return X.nnz


def gram_work(X):
    """Multiply-adds of :func:`gram`: ``sum_i c_i^2`` over the features i, c_i their stored entries."""
    xp = array_namespace(X)
    counts = xp.astype(X._library.row_counts(X._a), xp.float64)  # float: c_i^2 summed may pass 2**63
    return float(xp.sum(counts * counts))
